//! `ztcd run`: the owner loop. One thread runs a single-threaded smol executor that owns the
//! UDP sockets, the sans-IO [`Node`] and the controller, and also runs the admin server's
//! connection tasks; a validation thread checks new identities' proof of work so a slow board
//! never stalls the packet path.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use smol::channel::{Receiver, Sender};
use smol::{Async, LocalExecutor};

use super::OsEntropy;
use super::admin_exec::StatusInfo;
use super::follow::{EndpointSpec, Follow};
use super::startup::{
    bind, endpoints, open_store, own_home, signal_pipe, start_admin, validation_thread, worlds,
};
use super::validated::{append_validated, load_validated, rewrite_validated};
use crate::admin::msg::AdminRequest;
use crate::controller::Controller;
use crate::crypto::Entropy;
use crate::home::Home;
use crate::identity::{Identity, IdentitySecret};
use crate::node::{Event, LocalSocket, Node, NodeConfig, Transmit};
use crate::wire::world::World;
use crate::{info, warn};

/// Settings of `ztcd run`.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Home directory.
    pub home: PathBuf,
    /// UDP port.
    pub port: u16,
    /// Addresses to bind (empty = the IPv4 and IPv6 wildcards).
    pub bind: Vec<IpAddr>,
    /// Public endpoints for the planet as given (empty = keep the planet's current ones).
    pub endpoints: Vec<EndpointSpec>,
    /// Other roots the planet must list (added when missing).
    pub roots: Vec<crate::home::RootEntry>,
    /// Time between two resolutions of host-name and device endpoints.
    pub resolve_interval: Duration,
    /// Admin API settings.
    pub admin: AdminSettings,
    /// Where `POST /ztcd/backup` writes (`--backup-to`), and how many to keep.
    pub backup: Option<(PathBuf, usize)>,
    /// The memory budget (MiB) every large table's bound derives from.
    pub memory_budget_mib: u32,
    /// Refuse unless the home is on a mounted file system of its own.
    pub require_mount: bool,
}

/// Where the admin API listens and who may use it.
#[derive(Debug, Clone, Default)]
pub struct AdminSettings {
    /// TCP port (None = the UDP port's number, Some(0) = no admin API).
    pub port: Option<u16>,
    /// Addresses to listen on besides 127.0.0.1 and ::1.
    pub bind: Vec<IpAddr>,
    /// Source networks allowed besides loopback.
    pub allow: Vec<(IpAddr, u8)>,
    /// Host names the admin API answers to besides IP literals and `localhost`.
    pub hosts: Vec<String>,
}

/// The controller's database in the home.
pub const CONTROLLER_DB: &str = "controller.db";
/// Validated identities kept across restarts (one public identity per line).
const VALIDATED_CACHE: &str = "peers.validated";
/// Identities the validation thread may have queued.
const VALIDATION_QUEUE: usize = 64;

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(cfg: RunConfig) -> io::Result<()> {
    // First of all: a SIGHUP (a reload sent by a hotplug event while we start) must never
    // kill the daemon; it is acted on once the loop runs.
    let (signal_rx, signal_flags) = signal_pipe()?;
    let (home, mut lock, identity) = open_home(&cfg)?;
    // The database is checked before anything is written or bound.
    let store = open_store(&home, identity.address())?;
    let key = home.load_or_create_planet_key(&mut OsEntropy)?;
    let endpoints = endpoints(&cfg, &home, identity.address())?;
    // Sockets and listeners first: a start that fails (a port in use) writes nothing.
    let sockets = bind(&cfg)?;
    let (admin_tx, admin_rx) = smol::channel::bounded::<AdminRequest>(crate::limits::ADMIN_QUEUE);
    // One executor on this thread runs the owner loop and the admin server's connections.
    let ex = Rc::new(LocalExecutor::new());
    let admin = start_admin(&cfg, &home, &ex, admin_tx, identity.address())?;
    let listening: Vec<SocketAddr> = admin
        .iter()
        .flat_map(|h| h.listening.iter().copied())
        .collect();
    let loopback = listening.iter().copied().find(|a| a.ip().is_loopback());
    lock.announce(loopback.or_else(|| listening.first().copied()))?;
    let (planet, moon) = worlds(&cfg, &home, &identity, &key, &endpoints)?;
    for a in &listening {
        info!("admin API on http://{a}/");
    }
    let status_info = status_info(&cfg, &identity, &planet, moon.as_ref(), listening);
    let limits = crate::limits::TableLimits::for_budget(cfg.memory_budget_mib);
    let controller = Controller::with_limits(identity.clone(), store, limits);
    let follow = Follow::new(
        home.clone(),
        identity.clone(),
        key,
        cfg.roots.clone(),
        cfg.endpoints.clone(),
        endpoints,
        cfg.resolve_interval,
    );
    let (node, cache_path, cached_len) = build_node(&cfg, &home, identity, planet, moon, limits);

    let socket_is_v6 = socket_families(&sockets)?;
    let (validate_tx, result_rx, validator) = start_validation()?;

    let started = Instant::now();
    let mut owner = Owner {
        node,
        controller,
        sockets,
        socket_is_v6,
        validate_tx,
        cache_path,
        cache_lines: cached_len,
        started,
        status_info,
        follow,
        admin_requests: 0,
        admin_stats: None,
        metrics_store_errors: 0,
        backup: backup_options(&cfg),
    };
    owner.admin_stats = admin.as_ref().map(|h| h.stats.clone());
    crate::home::crash_point("started");
    let inputs = super::owner_loop::Inputs {
        signals: signal_rx,
        flags: &signal_flags,
        results: result_rx,
        admin: admin_rx,
    };
    smol::block_on(ex.run(owner.run(inputs)))?;
    drop(admin);
    drop(ex);
    owner.finish();
    let _ = validator.join();
    Ok(())
}

/// Opens and owns the home (after finishing or undoing a restore cut short: never replaced by
/// a fresh home) and loads its identity, creating one only in a new home.
fn open_home(cfg: &RunConfig) -> io::Result<(Home, crate::home::lock::HomeLock, IdentitySecret)> {
    if cfg.require_mount {
        super::startup::check_mounted(&cfg.home)?;
    }
    crate::backup::restore::recover(&cfg.home).map_err(io::Error::other)?;
    let home = Home::open(&cfg.home)?;
    let lock = own_home(&home, cfg)?;
    info!("home {}", cfg.home.display());
    let (identity, created) = home.load_or_create_identity(&mut OsEntropy)?;
    info!(
        "identity {} ({})",
        identity.address(),
        if created { "created" } else { "loaded" }
    );
    Ok((home, lock, identity))
}

/// Whether each socket is IPv6 (logging where each listens).
fn socket_families(sockets: &[Async<UdpSocket>]) -> io::Result<Vec<bool>> {
    sockets
        .iter()
        .map(|s| {
            let local = s.get_ref().local_addr()?;
            info!("listening on udp {local}");
            Ok(local.is_ipv6())
        })
        .collect()
}

/// The validation thread: the queue to it, the queue of its results, and its handle.
type Validation = (
    Sender<Identity>,
    Receiver<(Identity, bool)>,
    std::thread::JoinHandle<()>,
);

/// Starts the thread that checks new identities' proof of work: the queue to it, the queue
/// of its results, and its handle.
fn start_validation() -> io::Result<Validation> {
    let (validate_tx, validate_rx) = smol::channel::bounded::<Identity>(VALIDATION_QUEUE);
    let (result_tx, result_rx) = smol::channel::bounded::<(Identity, bool)>(VALIDATION_QUEUE);
    let validator = std::thread::Builder::new()
        .name("ztcd-validate".into())
        .spawn(move || validation_thread(validate_rx, result_tx))?;
    Ok((validate_tx, result_rx, validator))
}

/// Where `POST /ztcd/backup` writes (`--backup-to`), if anywhere.
fn backup_options(cfg: &RunConfig) -> Option<crate::backup::BackupOptions> {
    cfg.backup
        .clone()
        .map(|(to, keep)| crate::backup::BackupOptions {
            home: cfg.home.clone(),
            to,
            keep,
            key: None,
            require_mount: false,
        })
}

/// The node, its tables bounded by the memory budget, trusting the identities validated in
/// earlier runs; returns it with that cache file's path and length.
fn build_node(
    cfg: &RunConfig,
    home: &Home,
    identity: crate::identity::IdentitySecret,
    planet: crate::wire::world::World,
    moon: Option<crate::wire::world::World>,
    limits: crate::limits::TableLimits,
) -> (Node, std::path::PathBuf, usize) {
    info!(
        "memory budget {} MiB: tables at most {} KiB when full ({} peers, {} multicast \
         subscriptions, {} recent requests, {} KiB of cached configurations)",
        cfg.memory_budget_mib,
        limits.worst_case_total() / 1024,
        limits.peers,
        limits.subscriptions,
        limits.recent_requests,
        limits.cache_bytes / 1024
    );
    let mut node = Node::new(NodeConfig {
        identity,
        planet: Some(planet),
        moon,
        rng_seed: OsEntropy.next_u64(),
        limits,
    });
    let cache_path = home.path(VALIDATED_CACHE);
    let cached = load_validated(&cache_path);
    let cached_len = cached.len();
    info!("{cached_len} validated identities loaded from cache");
    node.trust_validated(cached);
    (node, cache_path, cached_len)
}

/// `/status`'s fixed part.
fn status_info(
    cfg: &RunConfig,
    identity: &crate::identity::IdentitySecret,
    planet: &World,
    moon: Option<&World>,
    listening: Vec<SocketAddr>,
) -> StatusInfo {
    StatusInfo {
        public_identity: identity.identity().to_string(),
        port: cfg.port,
        planet: (planet.id, planet.timestamp),
        planet_file: planet.to_bytes().unwrap_or_default(),
        moon_file: moon.and_then(|m| m.to_bytes().ok()),
        listening,
        allow: cfg
            .admin
            .allow
            .iter()
            .map(|(ip, bits)| format!("{ip}/{bits}"))
            .collect(),
    }
}

/// Everything the loop owns.
pub(super) struct Owner {
    pub(super) node: Node,
    pub(super) controller: Controller,
    pub(super) sockets: Vec<Async<UdpSocket>>,
    /// Per socket: IPv6 (IPv4 destinations are sent as mapped addresses). Read once at bind.
    pub(super) socket_is_v6: Vec<bool>,
    validate_tx: Sender<Identity>,
    cache_path: PathBuf,
    /// Lines in the cache file; it is rewritten from the node's bounded set when it doubles.
    cache_lines: usize,
    pub(super) started: Instant,
    /// What `/status` reports.
    pub(super) status_info: StatusInfo,
    /// Our endpoints, followed as they change, and the worlds that list them.
    pub(super) follow: Follow,
    /// Admin request batches carried out.
    pub(super) admin_requests: u64,
    /// The admin server's counters (for `/metrics`).
    pub(super) admin_stats: Option<Rc<crate::admin::AdminStats>>,
    /// `/metrics` scrapes whose database read failed.
    pub(super) metrics_store_errors: u64,
    /// Backups the admin API may take.
    pub(super) backup: Option<crate::backup::BackupOptions>,
}

impl Owner {
    pub(super) fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// After the loop: writes what is pending and logs the counters.
    fn finish(mut self) {
        info!("stopping; stats: {}", self.node.stats());
        // New members decided in the last few ms are recorded (their answers are not sent:
        // the clients ask again and are answered from the record).
        let _ = self.controller.end_requests();
        if let Err(e) = self.controller.flush_seen() {
            warn!("cannot record last-seen times: {e}");
        }
        info!(
            "controller: {:?} {:?}",
            self.controller.stats(),
            self.controller.cache_stats()
        );
    }

    /// Serves re-issued or adopted worlds: the node sends them to clients that hold older
    /// versions, `/status` and `/planet` show them.
    pub(super) fn serve_worlds(&mut self, now: u64, planet: World, moon: Option<World>) {
        self.status_info.planet = (planet.id, planet.timestamp);
        self.status_info.planet_file = planet.to_bytes().unwrap_or_default();
        self.status_info.moon_file = moon.as_ref().and_then(|m| m.to_bytes().ok());
        self.node.set_worlds(now, Some(planet), moon);
    }

    /// SIGHUP: writes the pending last-seen times, logs the counters and resolves the
    /// endpoints again; keeps running.
    pub(super) fn hangup(&mut self) {
        self.follow.now();
        match self.controller.flush_seen() {
            Ok(n) => info!(
                "SIGHUP: {n} last-seen times written; stats: {}",
                self.node.stats()
            ),
            Err(e) => warn!("SIGHUP: cannot record last-seen times: {e}"),
        }
    }

    /// Sends queued datagrams and acts on events.
    pub(super) fn drain(&mut self, now: u64) {
        let mut requests = Vec::new();
        loop {
            while let Some(t) = self.node.poll_transmit() {
                self.transmit(&t);
            }
            let Some(event) = self.node.poll_event() else {
                if requests.is_empty() {
                    break;
                }
                self.answer(now, std::mem::take(&mut requests));
                continue;
            };
            match event {
                Event::ValidateIdentity(id) => {
                    crate::debug!("validating {} at {now}", id.address());
                    if self.validate_tx.try_send(id).is_err() {
                        // The queue is bounded; the client will HELLO again.
                        self.node.identity_checked(now, id, false);
                    }
                }
                Event::IdentityValidated(id) => {
                    self.cache_lines += 1;
                    if self.cache_lines > 2 * crate::limits::MAX_VALIDATED_IDENTITIES {
                        self.cache_lines =
                            rewrite_validated(&self.cache_path, self.node.validated_identities());
                    } else {
                        append_validated(&self.cache_path, &id);
                    }
                }
                Event::ConfigRequest(req) => requests.push(req),
                Event::PlanetAdopted(world) => {
                    self.status_info.planet = (world.id, world.timestamp);
                    self.status_info.planet_file = world.to_bytes().unwrap_or_default();
                    if let Some((planet, moon)) = self.follow.adopted(&world) {
                        self.serve_worlds(now, planet, moon);
                    }
                }
            }
        }
    }

    pub(super) fn transmit(&self, t: &Transmit) {
        transmit_on(&self.sockets, &self.socket_is_v6, t);
    }
}

/// Sends `t` from the socket it names, or for [`LocalSocket::ANY`] from one of the right
/// family (an IPv6 socket sends IPv4 mapped).
pub(super) fn transmit_on(sockets: &[Async<UdpSocket>], socket_is_v6: &[bool], t: &Transmit) {
    let index = if t.local == LocalSocket::ANY {
        // An IPv4 socket for an IPv4 destination if there is one, else an IPv6 socket
        // (IPv4 goes out of it mapped).
        let want_v6 = t.to.is_ipv6();
        let found = socket_is_v6.iter().position(|v6| *v6 == want_v6);
        match found.or_else(|| socket_is_v6.iter().position(|v6| *v6)) {
            Some(i) => i,
            None => return,
        }
    } else {
        usize::from(t.local.0)
    };
    let Some(sock) = sockets.get(index) else {
        return;
    };
    let v6 = socket_is_v6.get(index).copied().unwrap_or(false);
    let to = match (v6, t.to) {
        (true, SocketAddr::V4(v4)) => {
            SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
        }
        _ => t.to,
    };
    if let Err(e) = sock.get_ref().send_to(&t.data, to) {
        crate::debug!("send to {to} failed: {e}");
    }
}

/// IPv4-mapped IPv6 source addresses are reported as IPv4.
pub(super) fn unmap(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => a,
        },
        SocketAddr::V4(_) => a,
    }
}
