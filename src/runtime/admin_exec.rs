//! The owner loop's side of the admin API: carries out [`AdminCommand`]s against the
//! controller and the node and renders zerotier-one's JSON (status, peers) and Prometheus
//! metrics. A wake-up's batch of writes is committed once before any of them is answered.

use std::fmt::Write as _;
use std::net::SocketAddr;

use serde_json::{Value, json};

use super::daemon::Owner;
use super::{OsEntropy, unix_millis};
use crate::admin::msg::{AdminCommand, AdminReply, AdminRequest};
use crate::controller::api::{ApiError, ApiResult};
use crate::node::SOFTWARE_VERSION;

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
    /// Carries out a batch of admin requests and answers them. A backup runs on its own
    /// thread (it reads the database through its own connection) and answers from there.
    pub(super) fn handle_admin(&mut self, mut batch: Vec<AdminRequest>) {
        batch.retain_mut(|r| {
            if r.cmd != AdminCommand::Backup {
                return true;
            }
            let reply = r.reply.clone();
            match self.backup.clone() {
                None => {
                    let _ = reply.try_send(AdminReply::error(404, "no backup target: start ztcd with --backup-to DIR"));
                }
                Some(opts) => {
                    let spawned = std::thread::Builder::new().name("ztcd-backup".into()).spawn(move || {
                        let answer = match crate::backup::backup(&opts, unix_millis(), &mut OsEntropy) {
                            Ok((path, summary)) => AdminReply::json(
                                json!({"file": path.display().to_string(), "summary": summary.to_string()}).to_string(),
                            ),
                            Err(e) => AdminReply::error(500, &e),
                        };
                        let _ = reply.try_send(answer);
                    });
                    if spawned.is_err() {
                        let _ = r.reply.try_send(AdminReply::error(503, "cannot start the backup"));
                    }
                }
            }
            false
        });
        let writes = batch.iter().any(|r| r.cmd.writes());
        let began = !writes || self.controller.begin_batch().is_ok();
        let mut replies: Vec<AdminReply> = batch
            .iter()
            .map(|r| {
                if began {
                    self.admin_command(&r.cmd)
                } else {
                    AdminReply::error(500, "database: cannot start a transaction")
                }
            })
            .collect();
        if writes
            && began
            && let Err(e) = self.controller.commit_batch()
        {
            let failed = api_error(&e);
            for (r, reply) in batch.iter().zip(replies.iter_mut()) {
                if r.cmd.writes() {
                    *reply = failed.clone();
                }
            }
        }
        for (r, reply) in batch.into_iter().zip(replies) {
            // The worker may have given up (504); nothing to do then.
            let _ = r.reply.try_send(reply);
        }
        self.admin_requests += 1;
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
            C::CreateNetwork(body) => {
                api_reply(c.api_create_network(mono, unix, &mut OsEntropy, body))
            }
            C::GetNetwork(id) => api_reply(c.api_network(*id)),
            C::PostNetwork(id, body) => api_reply(c.api_post_network(mono, unix, *id, body)),
            C::DeleteNetwork(id) => api_reply(c.api_delete_network(mono, unix, *id)),
            C::ListMembers(id) => api_reply(c.api_member_revisions(*id)),
            C::ListMembersDetailed(id, banned) => {
                match c.api_members_detailed(mono, *id, *banned) {
                    Ok(text) => AdminReply::json(text),
                    Err(e) => api_error(&e),
                }
            }
            C::GetMember(id, a) => api_reply(c.api_member(mono, *id, *a)),
            C::PostMember(id, a, body) => api_reply(c.api_post_member(mono, unix, *id, *a, body)),
            C::DeleteMember(id, a) => api_reply(c.api_delete_member(mono, unix, *id, *a)),
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
            C::Backup => AdminReply::error(500, "backup requests are handled apart"),
        }
    }

    fn status(&self, unix: u64) -> Value {
        let s = &self.status_info;
        let (maj, min, rev) = SOFTWARE_VERSION;
        let listening: Vec<String> = s.listening.iter().map(ToString::to_string).collect();
        json!({
            "address": self.node.address().to_string(),
            "clock": unix,
            "config": {"settings": {
                "allowManagementFrom": s.allow,
                "allowTcpFallbackRelay": false,
                "listeningOn": listening,
                "portMappingEnabled": false,
                "primaryPort": s.port,
                "softwareUpdate": "disable",
            }},
            "online": true,
            "planetWorldId": s.planet.0,
            "planetWorldTimestamp": s.planet.1,
            "publicIdentity": s.public_identity,
            "tcpFallbackActive": false,
            "version": format!("{maj}.{min}.{rev}"),
            "versionBuild": 0,
            "versionMajor": maj,
            "versionMinor": min,
            "versionRev": rev,
            "ztcdVersion": env!("CARGO_PKG_VERSION"),
        })
    }

    fn peer_json(&self, p: &crate::node::peer::Peer, mono: u64, unix: u64) -> Value {
        let at = |t: u64| unix.saturating_sub(mono.saturating_sub(t));
        let paths: Vec<Value> = p
            .paths
            .iter()
            .enumerate()
            .map(|(i, path)| {
                let alive = path.is_alive(mono);
                json!({
                    "active": alive,
                    "address": format!("{}/{}", path.remote.ip(), path.remote.port()),
                    "expired": !alive,
                    "lastReceive": at(path.last_receive),
                    "lastSend": 0,
                    "localSocket": path.local.0,
                    "preferred": i == 0 && alive,
                    "trustedPathId": 0,
                })
            })
            .collect();
        let (maj, min, rev) = p.version;
        json!({
            "address": p.identity.address().to_string(),
            "isBonded": false,
            "lastReceive": at(p.last_receive),
            "latency": -1,
            "paths": paths,
            "role": "LEAF",
            "tunneled": false,
            "version": format!("{maj}.{min}.{rev}"),
            "versionMajor": maj,
            "versionMinor": min,
            "versionRev": rev,
        })
    }

    fn metrics(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = write!(
                out,
                "# HELP ztcd_{name} {help}\n# TYPE ztcd_{name} {kind}\nztcd_{name} {value}\n"
            );
        };
        let (networks, members, authorized) = self.controller.api_totals().unwrap_or_default();
        metric("networks", "gauge", "Networks in the database.", networks);
        metric(
            "members",
            "gauge",
            "Members in the database (deleted ones excluded).",
            members,
        );
        metric(
            "members_authorized",
            "gauge",
            "Authorized members.",
            authorized,
        );
        let c = self.controller.stats();
        metric(
            "config_requests_total",
            "counter",
            "Network configuration requests handled.",
            c.requests,
        );
        metric(
            "config_repeats_total",
            "counter",
            "Requests ignored as repeats within 1 s.",
            c.repeats,
        );
        metric(
            "configs_sent_total",
            "counter",
            "Configurations sent.",
            c.configs,
        );
        metric(
            "config_refusals_total",
            "counter",
            "Refusals (not found, access denied).",
            c.refusals,
        );
        metric(
            "store_errors_total",
            "counter",
            "Database failures.",
            c.store_errors,
        );
        let k = self.controller.cache_stats();
        metric(
            "cache_hits_total",
            "counter",
            "Configuration requests answered from the cache.",
            k.hits,
        );
        metric(
            "cache_misses_total",
            "counter",
            "Configuration requests that needed the database.",
            k.misses,
        );
        metric(
            "cache_evictions_total",
            "counter",
            "Cache entries evicted for room.",
            k.evictions,
        );
        metric(
            "cache_invalidations_total",
            "counter",
            "Cache invalidations by writes.",
            k.invalidations,
        );
        metric(
            "admin_batches_total",
            "counter",
            "Admin request batches carried out.",
            self.admin_requests,
        );
        let _ = writeln!(
            out,
            "# HELP ztcd_packets_dropped_total Packets dropped, by reason."
        );
        let _ = writeln!(out, "# TYPE ztcd_packets_dropped_total counter");
        let fields = self.node.stats().fields();
        for (name, value) in &fields {
            if let Some(reason) = name.strip_prefix("dropped_") {
                let _ = writeln!(
                    out,
                    "ztcd_packets_dropped_total{{reason=\"{reason}\"}} {value}"
                );
            }
        }
        for (name, value) in fields {
            if name.starts_with("dropped_") {
                continue;
            }
            let gauge = matches!(name, "peers" | "validations_queued")
                || name.starts_with("multicast_groups");
            let (kind, suffix) = if gauge {
                ("gauge", "")
            } else {
                ("counter", "_total")
            };
            let _ = write!(
                out,
                "# TYPE ztcd_node_{name}{suffix} {kind}\nztcd_node_{name}{suffix} {value}\n"
            );
        }
        out
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
