//! The owner loop's side of the admin API: carries out [`AdminCommand`]s against the
//! controller and the node, gathering what `/status`, `/peer` and `/metrics` show for the
//! admin layer to render. A wake-up's batch of writes is committed once before any of them is
//! answered.

use std::net::SocketAddr;

use serde_json::{Value, json};

use super::daemon::Owner;
use super::{OsEntropy, unix_millis};
use crate::admin::msg::{AdminCommand, AdminReply, AdminRequest};
use crate::admin::render;
use crate::controller::Now;
use crate::controller::api::{ApiError, ApiResult};
use crate::controller::change::Change;
use crate::node::SOFTWARE_VERSION;
use crate::node::Stats;

/// Most admin requests carried out per wake-up (and per transaction).
pub const ADMIN_BATCH: usize = 128;

/// What `/status` reports besides live values.
#[derive(Debug, Clone, Default)]
pub struct StatusInfo {
    /// Public identity text.
    pub public_identity: String,
    /// UDP port.
    pub port: u16,
    /// Planet world ID and timestamp.
    pub planet: (u64, u64),
    /// Planet file bytes.
    pub planet_file: Vec<u8>,
    /// Moon file bytes, if this node serves a moon.
    pub moon_file: Option<Vec<u8>>,
    /// Admin listening addresses.
    pub listening: Vec<SocketAddr>,
    /// Allowed management sources (CIDR text).
    pub allow: Vec<String>,
}

fn api_reply(r: ApiResult<Value>) -> AdminReply {
    match r {
        Ok(v) => AdminReply::json(v.to_string()),
        Err(e) => api_error(&e),
    }
}

fn api_error(e: &ApiError) -> AdminReply {
    if let ApiError::Store(inner) = e {
        crate::warn!("admin request failed in the database: {inner}");
    }
    AdminReply::error(e.status(), &e.to_string())
}

impl Owner {
    /// Carries out a batch of admin requests and answers them: the batch's changes first, in
    /// one transaction, answered only once it is durable; then the reads. A backup runs on its
    /// own thread (it reads the database through its own connection) and answers from there.
    pub(super) fn handle_admin(&mut self, mut batch: Vec<AdminRequest>) {
        // A request its connection withdrew (answered 504) is never carried out.
        batch.retain(AdminRequest::start);
        let (backups, batch): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .partition(|r| r.cmd == AdminCommand::Backup);
        for r in backups {
            self.start_backup(r);
        }
        let changes: Vec<Change> = batch
            .iter()
            .filter_map(|r| match &r.cmd {
                AdminCommand::Change(c) => Some(Change::clone(c)),
                _ => None,
            })
            .collect();
        let mut applied = self.apply_changes(&changes).into_iter();
        for r in batch {
            let reply = match &r.cmd {
                AdminCommand::Change(_) => applied
                    .next()
                    .unwrap_or_else(|| AdminReply::error(500, "change not carried out")),
                cmd => self.admin_command(cmd),
            };
            // The connection may have given up (504); nothing to do then.
            let _ = r.reply.try_send(reply);
        }
        self.admin_requests += 1;
    }

    /// Carries out a wake-up's changes in one transaction: one answer per change. If the
    /// transaction cannot start or commit (another process holds the database: 503), every
    /// change is answered with the cause and none was applied.
    fn apply_changes(&mut self, changes: &[Change]) -> Vec<AdminReply> {
        if changes.is_empty() {
            return Vec::new();
        }
        let now = Now {
            mono: self.now(),
            unix: unix_millis(),
        };
        match self.controller.apply_all(now, &mut OsEntropy, changes) {
            Ok(results) => results.into_iter().map(api_reply).collect(),
            Err(e) => vec![api_error(&e); changes.len()],
        }
    }

    /// Starts a backup to the `--backup-to` directory on its own thread, which answers `r`.
    fn start_backup(&self, r: AdminRequest) {
        let Some(opts) = self.backup.clone() else {
            let _ = r.reply.try_send(AdminReply::error(
                404,
                "no backup target: start ztcd with --backup-to DIR",
            ));
            return;
        };
        let reply = r.reply.clone();
        let spawned = std::thread::Builder::new()
            .name("ztcd-backup".into())
            .spawn(move || {
                let answer = match crate::backup::backup(&opts, unix_millis(), &mut OsEntropy) {
                    Ok((path, summary)) => AdminReply::json(
                        json!({"file": path.display().to_string(), "summary": summary.to_string()})
                            .to_string(),
                    ),
                    Err(e) => AdminReply::error(500, &e),
                };
                let _ = reply.try_send(answer);
            });
        if spawned.is_err() {
            let _ = r
                .reply
                .try_send(AdminReply::error(503, "cannot start the backup"));
        }
    }

    fn admin_command(&mut self, cmd: &AdminCommand) -> AdminReply {
        use AdminCommand as C;
        let mono = self.now();
        let unix = unix_millis();
        let c = &mut self.controller;
        match cmd {
            C::Status => AdminReply::json(self.status(unix).to_string()),
            C::Controller => AdminReply::json(
                json!({"apiVersion": 4, "clock": unix, "controller": true, "databaseReady": true})
                    .to_string(),
            ),
            C::ListNetworks => {
                api_reply(c.api_network_ids().map(|ids| {
                    Value::from(ids.iter().map(ToString::to_string).collect::<Vec<_>>())
                }))
            }
            C::ListNetworksDetailed => api_reply(c.api_networks_detailed()),
            C::GetNetwork(id) => api_reply(c.api_network(*id)),
            C::ListMembers(id) => api_reply(c.api_member_revisions(*id)),
            C::ListMembersDetailed(id) => match c.api_members_detailed(mono, *id) {
                Ok(text) => AdminReply::json(text),
                Err(e) => api_error(&e),
            },
            C::MembersPage {
                network,
                after,
                limit,
            } => match c.api_members_page(mono, *network, *after, *limit) {
                Ok((text, next)) => {
                    let next = next.map(|a| a.to_string()).unwrap_or_default();
                    AdminReply::json(format!("{next}\n{text}"))
                }
                Err(e) => api_error(&e),
            },
            C::GetMember(id, a) => api_reply(c.api_member(mono, *id, *a)),
            C::Window(id) => api_reply(c.api_window(unix, *id)),
            C::Peers => {
                let peers: Vec<Value> = self
                    .node
                    .peers()
                    .map(|p| self.peer_json(p, mono, unix))
                    .collect();
                AdminReply::json(Value::from(peers).to_string())
            }
            C::Peer(a) => {
                let p = self
                    .node
                    .peer(*a)
                    .map_or_else(|| json!({}), |p| self.peer_json(p, mono, unix));
                AdminReply::json(p.to_string())
            }
            C::Metrics => AdminReply {
                status: 200,
                content_type: "text/plain; version=0.0.4",
                body: self.metrics().into_bytes(),
            },
            C::Planet => file_reply(Some(&self.status_info.planet_file), "planet"),
            C::Moon => file_reply(self.status_info.moon_file.as_ref(), "moon"),
            C::ListBackups => match &self.backup {
                None => AdminReply::error(404, "no backup target: start ztcd with --backup-to DIR"),
                Some(opts) => {
                    let files: Vec<Value> = crate::backup::list(&opts.to)
                        .iter()
                        .rev()
                        .map(|p| {
                            let size = std::fs::metadata(p).map_or(0, |m| m.len());
                            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
                            json!({"name": name, "size": size})
                        })
                        .collect();
                    AdminReply::json(
                        json!({"target": opts.to.display().to_string(), "backups": files})
                            .to_string(),
                    )
                }
            },
            C::DownloadBackup(name) => self.backup_file(name),
            C::Backup | C::Change(_) => AdminReply::error(500, "handled apart"),
        }
    }

    fn status(&self, unix: u64) -> Value {
        let s = &self.status_info;
        render::status(&render::StatusView {
            address: self.node.address().to_string(),
            clock: unix,
            public_identity: s.public_identity.clone(),
            port: s.port,
            planet: s.planet,
            listening: s.listening.clone(),
            allow: s.allow.clone(),
            version: SOFTWARE_VERSION,
            moon: s.moon_file.is_some(),
            roots: self.roots(unix),
        })
    }

    /// The planet's roots: this node, then the others with what the node knows of them.
    fn roots(&self, unix: u64) -> Vec<render::RootView> {
        let mono = self.now();
        let show = |eps: &[crate::wire::InetAddress]| eps.iter().map(ToString::to_string).collect();
        let ours = self.node.address();
        let mine = self
            .node
            .planet()
            .and_then(|p| crate::world::root_endpoints(p, ours));
        let mut views: Vec<render::RootView> = mine
            .map(|eps| render::RootView {
                address: ours.to_string(),
                endpoints: show(&eps),
                me: true,
                last_heard: None,
                path: None,
                latency: None,
            })
            .into_iter()
            .collect();
        views.extend(self.node.roots(mono).into_iter().map(|r| render::RootView {
            address: r.address.to_string(),
            endpoints: show(&r.endpoints),
            me: false,
            last_heard: r.heard_ago.map(|ago| unix.saturating_sub(ago)),
            path: r.path.map(|p| p.to_string()),
            latency: r.latency,
        }));
        views
    }

    fn peer_json(&self, p: &crate::node::peer::Peer, mono: u64, unix: u64) -> Value {
        let at = |t: u64| unix.saturating_sub(mono.saturating_sub(t));
        let best = p.best_path(mono, None);
        render::peer(&render::PeerView {
            address: p.identity.address().to_string(),
            last_receive: at(p.last_receive),
            version: (p.protocol_version != 0).then_some(p.version),
            latency: p.latency(mono),
            paths: p
                .paths
                .iter()
                .map(|path| render::PathView {
                    remote: path.remote,
                    alive: path.is_alive(mono),
                    confirmed: path.confirmed,
                    preferred: best
                        .is_some_and(|b| b.remote == path.remote && b.local == path.local),
                    last_receive: at(path.last_receive),
                    last_send: if path.last_send == 0 {
                        0
                    } else {
                        at(path.last_send)
                    },
                    local_socket: path.local.0,
                })
                .collect(),
        })
    }

    fn metrics(&mut self) -> String {
        let totals = match self.controller.api_totals() {
            Ok(t) => Some(t),
            Err(e) => {
                crate::warn!("metrics: cannot read the database totals: {e}");
                self.metrics_store_errors += 1;
                None
            }
        };
        render::metrics(&render::MetricsView {
            totals,
            totals_errors: self.metrics_store_errors,
            controller: self.controller.stats(),
            cache: self.controller.cache_stats(),
            admin_batches: self.admin_requests,
            node: self.node.stats().fields(),
            node_gauges: Stats::GAUGES,
            admin: self
                .admin_stats
                .as_ref()
                .map(|s| s.fields().to_vec())
                .unwrap_or_default(),
        })
    }
}

impl Owner {
    /// A backup in the `--backup-to` directory, whole (encrypted: useless without the key).
    fn backup_file(&self, name: &str) -> AdminReply {
        let Some(opts) = &self.backup else {
            return AdminReply::error(404, "no backup target: start ztcd with --backup-to DIR");
        };
        let listed = crate::backup::list(&opts.to)
            .into_iter()
            .find(|p| p.file_name().is_some_and(|n| n == name));
        let Some(path) = listed else {
            return AdminReply::error(404, &format!("no backup {name}"));
        };
        // Never through a link: only a file that is itself in the backup folder.
        match std::fs::symlink_metadata(&path) {
            Ok(m) if !m.is_file() => AdminReply::error(404, &format!("no backup {name}")),
            Ok(m) if m.len() > crate::limits::MAX_BACKUP_DOWNLOAD_BYTES => AdminReply::error(
                413,
                &format!("{name} is larger than a download may be: copy it from the stick"),
            ),
            _ => match std::fs::read(&path) {
                Ok(body) => AdminReply {
                    status: 200,
                    content_type: "application/octet-stream",
                    body,
                },
                Err(e) => AdminReply::error(500, &format!("{name}: {e}")),
            },
        }
    }
}

fn file_reply(file: Option<&Vec<u8>>, what: &str) -> AdminReply {
    match file {
        Some(bytes) => AdminReply {
            status: 200,
            content_type: "application/octet-stream",
            body: bytes.clone(),
        },
        None => AdminReply::error(404, &format!("this node serves no {what}")),
    }
}
