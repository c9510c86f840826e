//! Offline management commands (`ztcd network create`, `ztcd member set`): they write the
//! controller database directly, which is safe while the daemon runs (SQLite WAL, busy timeout);
//! the daemon reads members and networks at every request.

use std::net::IpAddr;
use std::path::Path;

use super::daemon::CONTROLLER_DB;
use super::home::Home;
use super::{OsEntropy, unix_millis};
use crate::controller::Controller;
use crate::controller::model::{Member, Network, Pool, Route, parse_cidr};
use crate::controller::store::Store;
use crate::crypto::Entropy;
use crate::wire::{Address, NetworkId};

fn open(home: &Path) -> Result<Controller, String> {
    let h = Home::open(home).map_err(|e| format!("{}: {e}", home.display()))?;
    let (id, _) = h
        .load_or_create_identity(&mut OsEntropy)
        .map_err(|e| e.to_string())?;
    let path = h.path(CONTROLLER_DB);
    let store = Store::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Controller::new(id, store))
}

/// Creates a network; returns its ID.
pub fn network_create(
    home: &Path,
    name: &str,
    public: bool,
    pools: &[(String, String)],
    routes: &[String],
    v6: &[String],
) -> Result<NetworkId, String> {
    let mut c = open(home)?;
    let mut network = None;
    for _ in 0..1000 {
        let id = c.network_id((OsEntropy.next_u64() & 0xff_ffff).max(1) as u32);
        if c.store().network(id).map_err(|e| e.to_string())?.is_none() {
            network = Some(Network::new(id, unix_millis()));
            break;
        }
    }
    let mut n = network.ok_or("no free network ID")?;
    n.name = name.to_owned();
    n.private = !public;
    for (a, b) in pools {
        let (x, y) = (a.parse::<IpAddr>(), b.parse::<IpAddr>());
        match (x, y) {
            (Ok(x), Ok(y)) if x.is_ipv4() == y.is_ipv4() => {
                n.ip_assignment_pools.push(Pool {
                    ip_range_start: x.to_string(),
                    ip_range_end: y.to_string(),
                });
                n.v4_assign_zt |= x.is_ipv4();
                n.v6_assign_zt |= x.is_ipv6();
            }
            _ => {
                return Err(format!(
                    "--pool {a}-{b}: expected two addresses of one family"
                ));
            }
        }
    }
    for r in routes {
        parse_cidr(r).ok_or_else(|| format!("--route {r:?}: expected ADDRESS/BITS"))?;
        n.routes.push(Route {
            target: r.clone(),
            via: None,
        });
    }
    for mode in v6 {
        match mode.as_str() {
            "rfc4193" => n.v6_assign_rfc4193 = true,
            "6plane" => n.v6_assign_6plane = true,
            other => return Err(format!("--v6 {other:?}: expected rfc4193 or 6plane")),
        }
    }
    c.store().put_network(&n).map_err(|e| e.to_string())?;
    Ok(n.id)
}

/// Creates or changes a member.
pub fn member_set(
    home: &Path,
    network: &str,
    address: &str,
    authorize: Option<bool>,
    ips: &[String],
    name: Option<&str>,
) -> Result<Member, String> {
    let nwid: NetworkId = network
        .to_lowercase()
        .parse()
        .map_err(|_| format!("--network {network:?}: expected 16 hex digits"))?;
    let addr: Address = address
        .to_lowercase()
        .parse()
        .map_err(|_| format!("--address {address:?}: expected 10 hex digits"))?;
    let mut c = open(home)?;
    let now = unix_millis();
    let store = c.store();
    store
        .network(nwid)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("network {nwid} does not exist"))?;
    let existing = store.member(nwid, addr).map_err(|e| e.to_string())?;
    let mut m = existing
        .clone()
        .unwrap_or_else(|| Member::new(nwid, addr, now));
    if let Some(a) = authorize {
        if a != m.authorized {
            if a {
                m.last_authorized_time = now;
            } else {
                m.last_deauthorized_time = now;
            }
        }
        m.authorized = a;
    }
    if !ips.is_empty() {
        m.ip_assignments = ips
            .iter()
            .map(|s| {
                s.parse()
                    .map_err(|_| format!("--ip {s:?}: expected an address"))
            })
            .collect::<Result<_, _>>()?;
    }
    if let Some(n) = name {
        m.name = n.to_owned();
    }
    if existing.is_some() {
        m.revision += 1;
    }
    store.put_member(&m).map_err(|e| e.to_string())?;
    Ok(m)
}
