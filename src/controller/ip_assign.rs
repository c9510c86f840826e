//! Address assignment as zerotier-one's controller does it: rfc4193 and 6plane addresses
//! derived from the network and node IDs, and IPv4 from pools by a deterministic walk.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::model::{Member, Network};
use super::netconf::RouteEntry;
use super::store::StoreError;
use crate::wire::{Address, NetworkId};

/// The rfc4193 address of a node on a network: `fd` ‖ nwid ‖ `99 93` ‖ address, /88.
pub fn rfc4193(network: NetworkId, node: Address) -> (Ipv6Addr, u8) {
    let mut b = [0u8; 16];
    b[0] = 0xfd;
    b[1..9].copy_from_slice(&network.0.to_be_bytes());
    b[9] = 0x99;
    b[10] = 0x93;
    b[11..16].copy_from_slice(&node.to_bytes());
    (Ipv6Addr::from(b), 88)
}

/// The 6plane address of a node: `fc` ‖ (nwid high 32 ⊕ low 32) ‖ address ‖ 0… ‖ `01`, /40.
pub fn sixplane(network: NetworkId, node: Address) -> (Ipv6Addr, u8) {
    let folded = ((network.0 >> 32) ^ network.0) as u32;
    let mut b = [0u8; 16];
    b[0] = 0xfc;
    b[1..5].copy_from_slice(&folded.to_be_bytes());
    b[5..10].copy_from_slice(&node.to_bytes());
    b[15] = 0x01;
    (Ipv6Addr::from(b), 40)
}

/// An IPv4 assignment pool (inclusive bounds as configured).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool4 {
    /// First address.
    pub start: Ipv4Addr,
    /// Last address (never handed out when the pool is larger than one address).
    pub end: Ipv4Addr,
}

/// Picks an IPv4 address for `node` from `pools`: the candidate is
/// `start + ((node low 32 bits + k) mod (end − start))` for k = 0, 1, …, skipping `.255`,
/// addresses outside every route, and addresses in `taken`. Returns the address and the prefix
/// length of the first route containing it.
pub fn assign_v4(
    node: Address,
    pools: &[Pool4],
    routes: &[(IpAddr, u8)],
    taken: &HashSet<IpAddr>,
) -> Option<(Ipv4Addr, u8)> {
    for pool in pools {
        let (start, end) = (u32::from(pool.start), u32::from(pool.end));
        if start == 0 || end < start {
            continue;
        }
        let len = end - start;
        let tries = (u64::from(len) + 1).min(1000);
        for k in 0..tries {
            let offset = if len == 0 {
                0
            } else {
                ((node.to_u64() as u32 as u64 + k) % u64::from(len)) as u32
            };
            let candidate = Ipv4Addr::from(start + offset);
            if candidate.octets()[3] == 255 || taken.contains(&IpAddr::V4(candidate)) {
                continue;
            }
            if let Some(bits) = route_bits(IpAddr::V4(candidate), routes) {
                return Some((candidate, bits));
            }
        }
    }
    None
}

/// The prefix length of the first route whose network contains `ip`.
pub fn route_bits(ip: IpAddr, routes: &[(IpAddr, u8)]) -> Option<u8> {
    routes
        .iter()
        .find(|(net, bits)| contains(*net, *bits, ip))
        .map(|(_, bits)| *bits)
}

/// Whether `net/bits` contains `ip`.
pub fn contains(net: IpAddr, bits: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// Picking a member's addresses needs the controller's store and address index.
impl super::Controller {
    /// The member's addresses with prefix lengths: derived IPv6, sendable assigned addresses,
    /// and a new pool address if the network auto-assigns and the member has none.
    pub(super) fn addresses(
        &mut self,
        network: &Network,
        member: &mut Member,
        routes: &[RouteEntry],
    ) -> Result<Vec<(IpAddr, u8)>, StoreError> {
        let mut out = Vec::new();
        let auto = !member.no_auto_assign_ips;
        if auto && network.v6_assign_rfc4193 {
            let (a, bits) = rfc4193(network.id, member.address);
            out.push((IpAddr::V6(a), bits));
        }
        if auto && network.v6_assign_6plane {
            let (a, bits) = sixplane(network.id, member.address);
            out.push((IpAddr::V6(a), bits));
        }
        let routes: Vec<(IpAddr, u8)> = routes.iter().map(|r| r.target).collect();
        let most_specific = |ip: IpAddr| {
            routes
                .iter()
                .filter(|(n, b)| contains(*n, *b, ip))
                .map(|(_, b)| *b)
                .max()
        };
        let mut have_v4 = false;
        for ip in &member.ip_assignments {
            if let Some(bits) = most_specific(*ip) {
                have_v4 |= ip.is_ipv4();
                out.push((*ip, bits));
            }
        }
        if auto && network.v4_assign_zt && !have_v4 {
            let pools: Vec<Pool4> = network
                .ip_assignment_pools
                .iter()
                .filter_map(|p| match (p.ip_range_start, p.ip_range_end) {
                    (IpAddr::V4(start), IpAddr::V4(end)) => Some(Pool4 { start, end }),
                    _ => None,
                })
                .collect();
            // Another writer (`ztcd member set`) may have assigned addresses since the index
            // was loaded and before the change poll noticed: read them again then.
            if self.store.data_version()? != self.data_version {
                self.cache.forget_ips(network.id);
            }
            let store = &self.store;
            let taken = self
                .cache
                .assigned_ips(network.id, || store.assigned_ips(network.id))?;
            let v4_routes: Vec<(IpAddr, u8)> = routes
                .iter()
                .copied()
                .filter(|(n, _)| n.is_ipv4())
                .collect();
            if let Some((ip, bits)) = assign_v4(member.address, &pools, &v4_routes, taken) {
                self.cache.note_assigned(network.id, IpAddr::V4(ip));
                member.ip_assignments.push(IpAddr::V4(ip));
                out.push((IpAddr::V4(ip), bits));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ipv6_addresses() {
        // Values libzt 1.8.4 computed (zts_addr_compute_rfc4193_str / _6plane_str).
        let (v6, bits) = rfc4193(
            NetworkId(0xff1b_581f_3f00_0000),
            Address::new(0x42_acfe_98f6),
        );
        assert_eq!(
            (v6.to_string().as_str(), bits),
            ("fdff:1b58:1f3f:0:99:9342:acfe:98f6", 88)
        );
        let (six, bits) = sixplane(
            NetworkId(0xff00_00ff_ff00_0000),
            Address::new(0xf0_47c1_a1ea),
        );
        assert_eq!(
            (six.to_string().as_str(), bits),
            ("fc00:0:fff0:47c1:a1ea::1", 40)
        );
    }

    #[test]
    fn pool_walk_is_deterministic_and_skips() {
        let pools = [Pool4 {
            start: "10.0.0.1".parse().unwrap(),
            end: "10.0.0.254".parse().unwrap(),
        }];
        let routes = [("10.0.0.0".parse().unwrap(), 24)];
        let node = Address::new(0x10);
        let mut taken = HashSet::new();
        let (a, bits) = assign_v4(node, &pools, &routes, &taken).unwrap();
        assert_eq!((a, bits), ("10.0.0.17".parse().unwrap(), 24));
        taken.insert(IpAddr::V4(a));
        assert_eq!(
            assign_v4(node, &pools, &routes, &taken).unwrap().0,
            "10.0.0.18".parse::<Ipv4Addr>().unwrap()
        );
        assert!(
            assign_v4(
                node,
                &pools,
                &[("192.168.0.0".parse().unwrap(), 24)],
                &HashSet::new()
            )
            .is_none()
        );
        // The end of a pool is never handed out; a full pool yields nothing.
        let tiny = [Pool4 {
            start: "10.0.0.1".parse().unwrap(),
            end: "10.0.0.2".parse().unwrap(),
        }];
        let mut taken = HashSet::new();
        taken.insert("10.0.0.1".parse().unwrap());
        assert!(assign_v4(node, &tiny, &routes, &taken).is_none());
    }
}
