//! What `ztcd run` does before its loop starts, in the order that keeps a failed start from
//! changing anything: own the home, check the database, bind the sockets and the admin
//! listeners, and only then write the planet and moon.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use smol::channel::{Receiver, Sender};
use smol::{Async, LocalExecutor};

use super::OsEntropy;
use super::daemon::{CONTROLLER_DB, RunConfig};
use super::unix_millis;
use crate::admin::msg::AdminRequest;
use crate::controller::store::Store;
use crate::crypto::c25519::KeyPair;
use crate::crypto::hashcash::Scratch;
use crate::home::lock::{HomeLock, Locked};
use crate::home::{Home, PlanetUpdate};
use crate::identity::{Identity, IdentitySecret};
use crate::wire::world::World;
use crate::wire::{Address, InetAddress};
use crate::{info, warn};

/// Databases up to this size are checked with `PRAGMA quick_check` at start (a few MB on a
/// router take milliseconds; larger ones would delay the root's start).
const QUICK_CHECK_MAX_BYTES: u64 = 64 << 20;

/// `--require-mount`: the home must exist on a file system other than the root one, so an
/// unmounted USB stick never gets a fresh identity written to the flash under its mount point.
pub(super) fn check_mounted(home: &std::path::Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(home).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "{}: {e} (--require-mount: is the USB stick mounted?)",
                home.display()
            ),
        )
    })?;
    if meta.dev() == std::fs::metadata("/")?.dev() {
        return Err(io::Error::other(format!(
            "{} is on the root file system, not a mounted one of its own (--require-mount): \
             is the USB stick mounted?",
            home.display()
        )));
    }
    Ok(())
}

/// Takes the home's lock (one daemon per home) and checks no restore into it was cut short.
pub(super) fn own_home(home: &Home, cfg: &RunConfig) -> io::Result<HomeLock> {
    match crate::home::lock::lock(home)? {
        Locked::Mine(_) if home.path(crate::backup::restore::MARKER).exists() => {
            Err(io::Error::other(format!(
                "{}: a restore into this home was interrupted: run `ztcd restore` again",
                cfg.home.display()
            )))
        }
        Locked::Mine(lock) => Ok(lock),
        Locked::Theirs(owner) => {
            let pid = owner.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
            Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "{} is in use by another ztcd{pid}: one daemon per home",
                    cfg.home.display()
                ),
            ))
        }
    }
}

/// The endpoints to serve first: `--endpoint` resolved now; else (none given, or none
/// resolves yet: the WAN may still be down at boot) those the current planet lists for us.
pub(super) fn endpoints(
    cfg: &RunConfig,
    home: &Home,
    ours: Address,
) -> io::Result<Vec<InetAddress>> {
    let listed = home
        .planet()
        .and_then(|p| crate::world::root_endpoints(&p, ours));
    let (found, problems) = super::follow::resolve(&cfg.endpoints);
    for p in &problems {
        crate::warn!("endpoint {p}");
    }
    match (found.is_empty(), listed) {
        (false, _) => Ok(found),
        (true, Some(eps)) => {
            if !cfg.endpoints.is_empty() {
                crate::warn!("no endpoint resolves now: serving the planet's until one does");
            }
            Ok(eps)
        }
        (true, None) if cfg.endpoints.is_empty() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no planet lists this node yet: give its public address with --endpoint IP/PORT",
        )),
        (true, None) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "no planet lists this node yet and no endpoint resolves now ({})",
                problems.join("; ")
            ),
        )),
    }
}

/// Writes the planet (and the moon, if this node has one) for `endpoints`; returns both.
pub(super) fn worlds(
    cfg: &RunConfig,
    home: &Home,
    identity: &IdentitySecret,
    key: &KeyPair,
    endpoints: &[InetAddress],
) -> io::Result<(World, Option<World>)> {
    let (planet, outcome) = home.update_planet(
        identity,
        key,
        endpoints,
        &cfg.roots,
        unix_millis(),
        &mut OsEntropy,
    )?;
    let what = match outcome {
        PlanetUpdate::Created => "created",
        PlanetUpdate::Updated => "re-issued with new endpoints",
        PlanetUpdate::Unchanged => "unchanged",
    };
    let eps: Vec<String> = endpoints.iter().map(ToString::to_string).collect();
    info!(
        "planet {} (world {}, timestamp {}, endpoints {})",
        what,
        planet.id,
        planet.timestamp,
        eps.join(" ")
    );

    let moon = match home.moon(identity) {
        Some(_) if !cfg.endpoints.is_empty() => {
            let key = home.load_or_create_moon_key(&mut OsEntropy)?;
            Some(
                home.update_moon(identity, &key, endpoints, unix_millis())?
                    .0,
            )
        }
        other => other,
    };
    if let Some(m) = &moon {
        info!("serving moon {:010x} (timestamp {})", m.id, m.timestamp);
    }
    Ok((planet, moon))
}

/// Opens the controller database after the start-up checks: a schema this version knows
/// (`Store::open`), a sound file (`quick_check`, up to [`QUICK_CHECK_MAX_BYTES`]), and only
/// networks of this home's identity, so a mixed home never serves another controller's
/// networks under a new identity.
pub(super) fn open_store(home: &Home, ours: crate::wire::Address) -> io::Result<Store> {
    let path = home.path(CONTROLLER_DB);
    let fail = |e: crate::controller::store::StoreError| {
        io::Error::other(format!("{}: {e}", path.display()))
    };
    let store = Store::open(&path).map_err(fail)?;
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    if size <= QUICK_CHECK_MAX_BYTES {
        store.quick_check().map_err(fail)?;
    } else {
        info!("database of {size} bytes: quick_check skipped at start");
    }
    let ids = store.network_ids().map_err(fail)?;
    if let Some(n) = ids.iter().find(|n| n.controller() != ours) {
        return Err(io::Error::other(format!(
            "{}: holds network {n} of controller {}, but this home's identity is {ours}: \
             the database and identity.secret do not belong together (a partial restore?); \
             restore both from one backup, or move controller.db away to start empty",
            path.display(),
            n.controller()
        )));
    }
    let busy = Duration::from_millis(crate::limits::OWNER_BUSY_TIMEOUT_MS);
    store.set_busy_timeout(busy).map_err(fail)?;
    Ok(store)
}

/// Starts the admin server on loopback and `--admin-bind` at the admin port (`None` when the
/// port is 0: the API is off).
pub(super) fn start_admin(
    cfg: &RunConfig,
    home: &Home,
    ex: &Rc<LocalExecutor<'static>>,
    tx: Sender<AdminRequest>,
    address: crate::wire::Address,
) -> io::Result<Option<crate::admin::AdminHandle>> {
    let admin_port = cfg.admin.port.unwrap_or(cfg.port);
    if admin_port == 0 {
        info!("admin API off");
        return Ok(None);
    }
    let token = home.load_or_create_authtoken(&mut OsEntropy)?;
    let mut listen = vec![
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), admin_port),
        SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), admin_port),
    ];
    listen.extend(
        cfg.admin
            .bind
            .iter()
            .map(|ip| SocketAddr::new(*ip, admin_port)),
    );
    listen.dedup();
    let admin_cfg = crate::admin::AdminConfig {
        listen,
        allow: cfg.admin.allow.clone(),
        hosts: cfg.admin.hosts.clone(),
        token,
        address,
        reply_timeout: crate::admin::REPLY_TIMEOUT,
    };
    crate::admin::start(ex, admin_cfg, tx).map(Some)
}

/// Binds the UDP sockets `--bind` names (by default one dual-stack wildcard socket).
pub(super) fn bind(cfg: &RunConfig) -> io::Result<Vec<Async<UdpSocket>>> {
    if cfg.bind.is_empty() {
        // One dual-stack socket takes IPv4 (as mapped addresses) and IPv6; hosts without IPv6
        // fall back to the IPv4 wildcard.
        let s = UdpSocket::bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), cfg.port))
            .or_else(|e| {
                warn!("no IPv6 socket ({e}); serving IPv4 only");
                UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), cfg.port))
            })
            .map_err(|e| io::Error::new(e.kind(), format!("bind port {}: {e}", cfg.port)))?;
        return Ok(vec![Async::new(s)?]);
    }
    let mut out = Vec::new();
    for &ip in &cfg.bind {
        let s = UdpSocket::bind(SocketAddr::new(ip, cfg.port))
            .map_err(|e| io::Error::new(e.kind(), format!("bind {ip} port {}: {e}", cfg.port)))?;
        out.push(Async::new(s)?);
    }
    Ok(out)
}

/// Which signals arrived since the loop last looked (the pipe only wakes it).
pub(super) struct SignalFlags {
    /// SIGTERM or SIGINT: stop.
    pub(super) stop: Arc<AtomicBool>,
    /// SIGHUP: write pending state and report, never stop (procd and init scripts send it
    /// for a reload).
    pub(super) hangup: Arc<AtomicBool>,
    _ids: Vec<signal_hook::SigId>,
}

/// A pipe that wakes the loop on SIGTERM, SIGINT and SIGHUP, and the flags that say which.
pub(super) fn signal_pipe() -> io::Result<(Async<UnixStream>, SignalFlags)> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let (read, write) = UnixStream::pair()?;
    let (stop, hangup) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let mut ids = Vec::new();
    for (sig, flag) in [(SIGTERM, &stop), (SIGINT, &stop), (SIGHUP, &hangup)] {
        ids.push(signal_hook::flag::register(sig, flag.clone())?);
        ids.push(signal_hook::low_level::pipe::register(
            sig,
            write.try_clone()?,
        )?);
    }
    let flags = SignalFlags {
        stop,
        hangup,
        _ids: ids,
    };
    Ok((Async::new(read)?, flags))
}

/// Checks new identities' proof of work off the owner thread.
pub(super) fn validation_thread(requests: Receiver<Identity>, results: Sender<(Identity, bool)>) {
    while let Ok(first) = requests.recv_blocking() {
        // The 2 MiB scratch lives only while there is work, so an idle daemon stays small.
        let mut scratch = Scratch::new();
        let mut next = Some(first);
        while let Some(id) = next {
            let ok = id.validate(&mut scratch).is_ok();
            if results.send_blocking((id, ok)).is_err() {
                return;
            }
            next = requests.try_recv().ok();
        }
    }
}
