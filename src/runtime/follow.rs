//! Following a changing public address. Clients never resolve names in a planet: they know
//! a root only by the addresses the planet lists. So ztcd resolves its endpoints itself,
//! again every `--resolve-interval` and on SIGHUP: host names (a DDNS name) and the current
//! addresses of a network device (`--endpoint-from-interface`). When the resolved set
//! changes, the planet (and moon) is re-issued and served from then on; clients learn it
//! from their next HELLO to any root of the planet.
//!
//! Resolving may block (DNS over a WAN that is down): it runs on smol's blocking pool, never
//! on the owner thread, and its result is applied by the owner loop.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::crypto::c25519::KeyPair;
use crate::home::{Home, PlanetUpdate, RootEntry};
use crate::identity::IdentitySecret;
use crate::limits::MAX_WORLD_ENDPOINTS_PER_ROOT;
use crate::wire::InetAddress;
use crate::wire::world::World;
use crate::{info, warn};

/// Default time between two resolutions of the endpoints.
pub const DEFAULT_RESOLVE_INTERVAL: Duration = Duration::from_secs(60);

/// One `--endpoint` (or `--endpoint-from-interface`) as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointSpec {
    /// An address and port.
    Fixed(InetAddress),
    /// A host name and port, resolved again and again.
    Name(String, u16),
    /// The current global addresses of a network device, with this port.
    Interface(String, u16),
}

impl fmt::Display for EndpointSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(a) => write!(f, "{a}"),
            Self::Name(host, port) => write!(f, "{host}/{port}"),
            Self::Interface(dev, port) => write!(f, "interface {dev}/{port}"),
        }
    }
}

impl EndpointSpec {
    /// Parses `IP/PORT`, `IP:PORT` or `HOST/PORT` (the host is not resolved here).
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Ok(ep) = text.parse::<InetAddress>() {
            return match ep.to_socket() {
                Some(sa) if reachable(sa) => Ok(Self::Fixed(ep)),
                _ => Err(format!(
                    "--endpoint {text:?}: not an address clients can reach (give the public \
                     unicast address and port)"
                )),
            };
        }
        let bad =
            || format!("--endpoint {text:?}: expected IP/PORT or HOST/PORT, e.g. 203.0.113.7/9993");
        let (host, port) = text.rsplit_once('/').ok_or_else(bad)?;
        let port: u16 = port.parse().ok().filter(|p| *p != 0).ok_or_else(bad)?;
        let name_ok = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !name_ok {
            return Err(bad());
        }
        Ok(Self::Name(host.to_owned(), port))
    }
}

/// Whether clients could send to `sa` (a unicast address with a port).
fn reachable(sa: SocketAddr) -> bool {
    let ip = sa.ip();
    let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    !(ip.is_unspecified() || ip.is_multicast() || broadcast || sa.port() == 0)
}

/// What one spec resolved to: the addresses clients can reach, or what went wrong.
pub type Resolution = Result<Vec<InetAddress>, String>;

/// Resolves each spec now (blocking).
pub fn resolve_each(specs: &[EndpointSpec]) -> Vec<Resolution> {
    specs
        .iter()
        .map(|spec| {
            let addrs: io::Result<Vec<SocketAddr>> = match spec {
                EndpointSpec::Fixed(a) => Ok(a.to_socket().into_iter().collect()),
                EndpointSpec::Name(host, port) => (host.as_str(), *port)
                    .to_socket_addrs()
                    .map(Iterator::collect),
                EndpointSpec::Interface(dev, port) => interface_addresses(dev, *port),
            };
            match addrs {
                Ok(list) if list.iter().any(|a| reachable(*a)) => Ok(list
                    .into_iter()
                    .filter(|a| reachable(*a))
                    .map(InetAddress::from_socket)
                    .collect()),
                Ok(_) => Err(format!("{spec}: no address")),
                Err(e) => Err(format!("{spec}: {e}")),
            }
        })
        .collect()
}

/// Every address of `each` once, in a canonical order (a name's records come back in any
/// order; the planet must not change for that), at most [`MAX_WORLD_ENDPOINTS_PER_ROOT`];
/// and the problems.
fn combine(each: &[Resolution]) -> (Vec<InetAddress>, Vec<String>) {
    let mut found: Vec<InetAddress> = each.iter().flatten().flatten().copied().collect();
    found.sort_by_key(|a| a.to_socket());
    found.dedup();
    found.truncate(MAX_WORLD_ENDPOINTS_PER_ROOT);
    let problems = each.iter().filter_map(|r| r.clone().err()).collect();
    (found, problems)
}

/// Resolves every spec now (blocking): see [`combine`].
pub fn resolve(specs: &[EndpointSpec]) -> (Vec<InetAddress>, Vec<String>) {
    combine(&resolve_each(specs))
}

/// The addresses of device `dev` clients elsewhere could use: not loopback, not link-local.
fn interface_addresses(dev: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let all = if_addrs::get_if_addrs()?;
    Ok(all
        .into_iter()
        .filter(|i| i.name == dev && !i.is_loopback() && !i.is_link_local())
        .map(|i| SocketAddr::new(i.ip(), port))
        .collect())
}

/// The running node's endpoints and the worlds that list them.
pub(super) struct Follow {
    home: Home,
    identity: IdentitySecret,
    key: KeyPair,
    /// Roots `--root` asks the planet to list (added when missing).
    others: Vec<RootEntry>,
    specs: Vec<EndpointSpec>,
    /// Our endpoints as the planet lists them now.
    endpoints: Vec<InetAddress>,
    interval: Duration,
    next: Instant,
    pending: Option<smol::Task<Vec<Resolution>>>,
    /// Each spec's last good resolution: a spec that fails (its DNS is down) keeps it, so a
    /// passing outage never drops addresses from the planet.
    last_good: Vec<Option<Vec<InetAddress>>>,
    /// The problems last logged (each change is logged once).
    problems: Vec<String>,
}

impl Follow {
    /// Follows `specs` (when any of them can change) from `endpoints`, the ones served now.
    pub(super) fn new(
        home: Home,
        identity: IdentitySecret,
        key: KeyPair,
        others: Vec<RootEntry>,
        specs: Vec<EndpointSpec>,
        endpoints: Vec<InetAddress>,
        interval: Duration,
    ) -> Self {
        Self {
            home,
            identity,
            key,
            others,
            specs,
            endpoints,
            interval,
            next: Instant::now() + interval,
            pending: None,
            problems: Vec::new(),
            last_good: Vec::new(),
        }
    }

    /// Whether anything given can resolve differently later.
    fn follows(&self) -> bool {
        self.specs
            .iter()
            .any(|s| !matches!(s, EndpointSpec::Fixed(_)))
    }

    /// When the next resolution is due (`None`: never, or one is under way).
    pub(super) fn next_at(&self) -> Option<Instant> {
        (self.follows() && self.pending.is_none()).then_some(self.next)
    }

    /// Resolves again now (SIGHUP).
    pub(super) fn now(&mut self) {
        self.next = Instant::now();
    }

    /// Starts a resolution on the blocking pool if one is due.
    pub(super) fn start_if_due(&mut self) {
        if self.next_at().is_some_and(|at| Instant::now() >= at) {
            let specs = self.specs.clone();
            self.pending = Some(smol::unblock(move || resolve_each(&specs)));
            self.next = Instant::now() + self.interval;
        }
    }

    /// The result of the resolution under way, once there is one.
    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<(Vec<InetAddress>, Vec<String>)> {
        let Some(task) = self.pending.as_mut() else {
            return Poll::Pending;
        };
        let Poll::Ready(mut each) = std::pin::Pin::new(task).poll(cx) else {
            return Poll::Pending;
        };
        self.pending = None;
        self.last_good.resize(each.len(), None);
        let mut problems = Vec::new();
        for (r, good) in each.iter_mut().zip(&mut self.last_good) {
            match r {
                Ok(v) => *good = Some(v.clone()),
                Err(e) => {
                    problems.push(e.clone());
                    if let Some(v) = good {
                        *r = Ok(v.clone());
                    }
                }
            }
        }
        let (found, _) = combine(&each);
        Poll::Ready((found, problems))
    }

    /// A resolution finished: re-issues the worlds when our endpoints changed and returns
    /// them (planet, moon) for the node to serve.
    pub(super) fn resolved(
        &mut self,
        found: Vec<InetAddress>,
        problems: Vec<String>,
    ) -> Option<(World, Option<World>)> {
        if problems != self.problems {
            for p in &problems {
                warn!("endpoint {p}");
            }
            self.problems = problems;
        }
        if found.is_empty() || found == self.endpoints {
            // Nothing resolved (the WAN is down): keep serving the last known endpoints.
            return None;
        }
        self.reissue(found)
    }

    /// Another root's newer planet was adopted: stores it, and re-issues it if it lists us
    /// at other endpoints than ours (both re-issued at once; ours comes later and wins).
    pub(super) fn adopted(&mut self, world: &World) -> Option<(World, Option<World>)> {
        match self.home.adopt_planet(world) {
            Ok(true) => info!(
                "planet {} adopted from another root (timestamp {})",
                world.id, world.timestamp
            ),
            Ok(false) => {}
            Err(e) => warn!("cannot store the planet another root sent: {e}"),
        }
        let ours = crate::world::root_endpoints(world, self.identity.address());
        if ours.as_deref() == Some(&self.endpoints[..]) {
            return None;
        }
        let endpoints = self.endpoints.clone();
        self.reissue(endpoints)
    }

    fn reissue(&mut self, endpoints: Vec<InetAddress>) -> Option<(World, Option<World>)> {
        let now = super::unix_millis();
        let before = self.endpoints.clone();
        let planet = match self.home.update_planet(
            &self.identity,
            &self.key,
            &endpoints,
            &self.others,
            now,
            &mut super::OsEntropy,
        ) {
            Ok((planet, PlanetUpdate::Unchanged)) => {
                self.endpoints = endpoints;
                return Some((planet, self.home.moon(&self.identity)));
            }
            Ok((planet, _)) => planet,
            Err(e) => {
                warn!("cannot re-issue the planet for new endpoints: {e}");
                return None;
            }
        };
        self.endpoints = endpoints;
        let show = |v: &[InetAddress]| {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        };
        info!(
            "planet {} re-issued (timestamp {}): endpoints {} (were {})",
            planet.id,
            planet.timestamp,
            show(&self.endpoints),
            show(&before)
        );
        let moon = self.home.moon(&self.identity).and_then(|_| {
            let key = self
                .home
                .load_or_create_moon_key(&mut super::OsEntropy)
                .ok()?;
            match self
                .home
                .update_moon(&self.identity, &key, &self.endpoints, now)
            {
                Ok((moon, _)) => Some(moon),
                Err(e) => {
                    warn!("cannot re-issue the moon: {e}");
                    self.home.moon(&self.identity)
                }
            }
        });
        Some((planet, moon))
    }
}
