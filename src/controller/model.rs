//! Networks and members as the controller stores them. Field names follow the zerotier-one
//! controller objects. Addresses, prefixes and pools are typed (checked once, when the API
//! takes them); they are stored as the JSON shapes the admin API uses.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::netconf::RouteEntry;
use crate::identity::Identity;
use crate::wire::{Address, NetworkId};

/// A route as configured: `{"target": "10.0.0.0/24", "via": null}` in the API and the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Network address and prefix length (a valid length for the address's family).
    #[serde(with = "prefix_text")]
    pub target: (IpAddr, u8),
    /// Gateway, if any (always of the target's family).
    #[serde(default, deserialize_with = "lenient_ip")]
    pub via: Option<IpAddr>,
}

/// An address pool: `{"ipRangeStart": "10.0.0.1", "ipRangeEnd": "10.0.0.254"}`, both ends of
/// one family, start ≤ end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pool {
    /// First address.
    pub ip_range_start: IpAddr,
    /// Last address.
    pub ip_range_end: IpAddr,
}

/// DNS settings: `{"domain": "...", "servers": ["..."]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Dns {
    /// Search domain.
    #[serde(default)]
    pub domain: String,
    /// Servers.
    #[serde(default)]
    pub servers: Vec<IpAddr>,
}

/// A prefix as its `ip/bits` text.
mod prefix_text {
    use std::net::IpAddr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(p: &(IpAddr, u8), s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}/{}", p.0, p.1))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<(IpAddr, u8), D::Error> {
        let text = String::deserialize(d)?;
        super::parse_cidr(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not an address/prefix")))
    }
}

/// A gateway as stored by older versions, which kept whatever text a UI sent (ztnet's
/// `"lan"`): anything that is not an address is no gateway, as zerotier-one treats it.
fn lenient_ip<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    Ok(text.and_then(|t| t.parse().ok()))
}

impl Dns {
    /// No domain and no servers (how the UIs clear DNS): nothing is sent to members.
    pub fn is_empty(&self) -> bool {
        self.domain.is_empty() && self.servers.is_empty()
    }
}

/// A network.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    /// Network ID (controller address ‖ 24 bits).
    pub id: NetworkId,
    /// Name.
    pub name: String,
    /// Members need authorization (and a COM) if true.
    pub private: bool,
    /// Broadcast (and ARP) allowed.
    pub enable_broadcast: bool,
    /// Virtual MTU.
    pub mtu: u32,
    /// Multicast recipient limit.
    pub multicast_limit: u32,
    /// IPv4 auto-assignment from pools.
    pub v4_assign_zt: bool,
    /// IPv6 auto-assignment from pools.
    pub v6_assign_zt: bool,
    /// rfc4193 addresses.
    pub v6_assign_rfc4193: bool,
    /// 6plane addresses.
    pub v6_assign_6plane: bool,
    /// Managed routes.
    pub routes: Vec<Route>,
    /// Address pools.
    pub ip_assignment_pools: Vec<Pool>,
    /// Rules, as the API's JSON array.
    pub rules: serde_json::Value,
    /// Capabilities, as JSON.
    pub capabilities: serde_json::Value,
    /// Tags, as JSON.
    pub tags: serde_json::Value,
    /// DNS, if set.
    pub dns: Option<Dns>,
    /// +1 on every change.
    pub revision: u64,
    /// Creation time, ms since the epoch.
    pub creation_time: u64,
    /// The rules source the UIs edit (`rulesSource`), kept as given.
    pub rules_source: String,
    /// Network-specific relays (`relays`, ZeroTier 1.16): nodes members use in preference to
    /// roots for relayed traffic, sent as specialists with the relay role.
    pub relays: Vec<crate::wire::Address>,
}

impl Network {
    /// A network with zerotier-one's defaults.
    pub fn new(id: NetworkId, now: u64) -> Self {
        Self {
            id,
            name: String::new(),
            private: true,
            enable_broadcast: true,
            mtu: 2800,
            multicast_limit: 32,
            v4_assign_zt: false,
            v6_assign_zt: false,
            v6_assign_rfc4193: false,
            v6_assign_6plane: false,
            routes: Vec::new(),
            ip_assignment_pools: Vec::new(),
            rules: serde_json::json!([{"type": "ACTION_ACCEPT"}]),
            capabilities: serde_json::json!([]),
            tags: serde_json::json!([]),
            dns: None,
            revision: 1,
            creation_time: now,
            rules_source: String::new(),
            relays: Vec::new(),
        }
    }

    /// The routes as (network, prefix length, gateway).
    pub fn route_entries(&self) -> Vec<RouteEntry> {
        self.routes
            .iter()
            .map(|r| RouteEntry {
                target: r.target,
                via: r.via.filter(|v| v.is_ipv4() == r.target.0.is_ipv4()),
            })
            .collect()
    }
}

/// Parses `ip/bits`.
pub fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (ip, bits) = text.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((ip, bits))
}

/// A member of a network.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// The network.
    pub network_id: NetworkId,
    /// The member's address.
    pub address: Address,
    /// Its identity, pinned at its first request.
    pub identity: Option<Identity>,
    /// Name given by the administrator.
    pub name: String,
    /// Free text the administrator keeps about it (ztcd's addition: where it is, who has it).
    pub description: String,
    /// Allowed on a private network.
    pub authorized: bool,
    /// Bridges Ethernet traffic.
    pub active_bridge: bool,
    /// No pool, rfc4193 or 6plane addresses.
    pub no_auto_assign_ips: bool,
    /// Assigned addresses (sticky).
    pub ip_assignments: Vec<IpAddr>,
    /// Capability IDs granted (sorted, unique), issued in its configurations.
    pub capabilities: Vec<u32>,
    /// Tags as (id, value), sorted by id, unique ids, issued in its configurations.
    pub tags: Vec<(u32, u32)>,
    /// +1 on every change.
    pub revision: u64,
    /// Creation time, ms.
    pub creation_time: u64,
    /// When last authorized, ms.
    pub last_authorized_time: u64,
    /// When last deauthorized, ms.
    pub last_deauthorized_time: u64,
    /// Client version (major, minor, revision, protocol), once an authorized request came.
    pub version: Option<(u8, u8, u16, u8)>,
    /// Last configuration request, ms since the epoch (0 = never).
    pub last_seen: u64,
    /// Physical address of the last direct request.
    pub physical_address: Option<String>,
    /// Blocked: requests are refused until unblocked.
    pub banned: bool,
    /// When its authorization ends by itself, ms since the epoch (0 = never): it is then
    /// deauthorized exactly as by an administrator.
    pub expires_at: u64,
}

impl Member {
    /// Whether its authorization has run out at `unix` (ms).
    pub fn expired(&self, unix: u64) -> bool {
        self.expires_at != 0 && self.expires_at <= unix
    }

    /// A new, unauthorized member.
    pub fn new(network_id: NetworkId, address: Address, now: u64) -> Self {
        Self {
            network_id,
            address,
            identity: None,
            name: String::new(),
            description: String::new(),
            authorized: false,
            active_bridge: false,
            no_auto_assign_ips: false,
            ip_assignments: Vec::new(),
            capabilities: Vec::new(),
            tags: Vec::new(),
            revision: 1,
            creation_time: now,
            last_authorized_time: 0,
            last_deauthorized_time: 0,
            version: None,
            last_seen: 0,
            physical_address: None,
            banned: false,
            expires_at: 0,
        }
    }
}
