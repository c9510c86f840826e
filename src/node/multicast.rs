//! Multicast subscriptions (MULTICAST_LIKE) and answers to MULTICAST_GATHER. Members of a
//! network find each other for ARP and broadcast through this table.

use std::collections::HashMap;

use crate::limits::{
    ADMISSION_TIMEOUT_MS, MAX_SUBSCRIPTIONS_PER_MEMBER, MAX_SUBSCRIPTIONS_PER_NETWORK,
    MULTICAST_LIKE_TIMEOUT_MS,
};
use crate::wire::verbs::MulticastSub;
use crate::wire::{Address, NetworkId};

/// Subscribers per group, with the time each last renewed. One member holds at most
/// [`MAX_SUBSCRIPTIONS_PER_MEMBER`], one network [`MAX_SUBSCRIPTIONS_PER_NETWORK`], all
/// together the table's `max` (from the memory budget): one peer cannot fill the table for
/// the others.
#[derive(Debug)]
pub struct MulticastTable {
    groups: HashMap<MulticastSub, Vec<(Address, u64)>>,
    per_member: HashMap<Address, usize>,
    per_network: HashMap<NetworkId, usize>,
    total: usize,
    max: usize,
    refused: u64,
    /// Members of this controller's own networks holding a configuration (and so a COM),
    /// with when it was last issued: only they may subscribe or gather there.
    admitted: HashMap<(NetworkId, Address), u64>,
}

impl MulticastTable {
    /// An empty table holding at most `max` subscriptions.
    pub fn new(max: usize) -> Self {
        Self {
            groups: HashMap::new(),
            per_member: HashMap::new(),
            per_network: HashMap::new(),
            total: 0,
            max,
            refused: 0,
            admitted: HashMap::new(),
        }
    }

    /// Records that `member` was just issued a configuration (with a COM) for `network`.
    pub fn admit(&mut self, now: u64, network: NetworkId, member: Address) {
        if self.admitted.len() >= self.max && !self.admitted.contains_key(&(network, member)) {
            self.admitted
                .retain(|_, t| now.saturating_sub(*t) < ADMISSION_TIMEOUT_MS / 2);
            if self.admitted.len() >= self.max {
                // Members are admitted again with their next configuration.
                self.admitted.clear();
            }
        }
        self.admitted.insert((network, member), now);
    }

    /// `member` lost `network` (refused or deauthorized): its admission and subscriptions
    /// there end.
    pub fn revoke(&mut self, network: NetworkId, member: Address) {
        if self.admitted.remove(&(network, member)).is_none() {
            return;
        }
        let mut dropped = 0;
        for (group, list) in self.groups.iter_mut() {
            if group.network_id == network {
                let before = list.len();
                list.retain(|(a, _)| *a != member);
                dropped += before - list.len();
            }
        }
        self.groups.retain(|_, list| !list.is_empty());
        self.total -= dropped;
        if let Some(n) = self.per_member.get_mut(&member) {
            *n = n.saturating_sub(dropped);
        }
        if let Some(n) = self.per_network.get_mut(&network) {
            *n = n.saturating_sub(dropped);
        }
    }

    /// Whether `member` holds a current configuration for `network`.
    pub fn is_admitted(&self, network: NetworkId, member: Address) -> bool {
        self.admitted.contains_key(&(network, member))
    }

    /// Subscriptions stored.
    pub fn len(&self) -> usize {
        self.total
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Subscriptions refused because the table was full.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Records or renews `member`'s subscription to `group`.
    pub fn like(&mut self, now: u64, group: MulticastSub, member: Address) {
        if let Some(list) = self.groups.get_mut(&group)
            && let Some(entry) = list.iter_mut().find(|(a, _)| *a == member)
        {
            entry.1 = now;
            return;
        }
        let mine = self.per_member.get(&member).copied().unwrap_or(0);
        let network = self
            .per_network
            .get(&group.network_id)
            .copied()
            .unwrap_or(0);
        if self.total >= self.max
            || mine >= MAX_SUBSCRIPTIONS_PER_MEMBER
            || network >= MAX_SUBSCRIPTIONS_PER_NETWORK
        {
            self.refused += 1;
            return;
        }
        self.groups.entry(group).or_default().push((member, now));
        self.per_member.insert(member, mine + 1);
        self.per_network.insert(group.network_id, network + 1);
        self.total += 1;
    }

    /// Up to `limit` subscribers of `group` other than `asker`, starting at `offset` (callers
    /// pass a random offset so repeated gathers see different subsets), and the total known.
    pub fn gather(
        &self,
        group: &MulticastSub,
        asker: Address,
        limit: usize,
        offset: usize,
    ) -> (Vec<Address>, u32) {
        let Some(list) = self.groups.get(group) else {
            return (Vec::new(), 0);
        };
        let others: Vec<Address> = list
            .iter()
            .map(|(a, _)| *a)
            .filter(|a| *a != asker)
            .collect();
        let total = others.len() as u32;
        if others.is_empty() {
            return (others, 0);
        }
        let start = offset % others.len();
        let picked = others
            .iter()
            .cycle()
            .skip(start)
            .take(limit.min(others.len()))
            .copied()
            .collect();
        (picked, total)
    }

    /// Drops subscriptions not renewed within [`MULTICAST_LIKE_TIMEOUT_MS`].
    pub fn expire(&mut self, now: u64) {
        self.admitted
            .retain(|_, t| now.saturating_sub(*t) < ADMISSION_TIMEOUT_MS);
        let mut total = 0;
        self.per_member.clear();
        self.per_network.clear();
        for (group, list) in self.groups.iter_mut() {
            list.retain(|(_, t)| now.saturating_sub(*t) < MULTICAST_LIKE_TIMEOUT_MS);
            total += list.len();
            for (a, _) in list.iter() {
                *self.per_member.entry(*a).or_default() += 1;
            }
            if !list.is_empty() {
                *self.per_network.entry(group.network_id).or_default() += list.len();
            }
        }
        self.groups.retain(|_, list| !list.is_empty());
        self.total = total;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Mac;

    #[test]
    fn like_gather_expire() {
        let g = MulticastSub {
            network_id: NetworkId(1),
            mac: Mac::BROADCAST,
            adi: 0x0a00_0001,
        };
        let mut t = MulticastTable::new(65_536);
        for a in 1..=5 {
            t.like(0, g, Address::new(a));
        }
        t.like(100, g, Address::new(1));
        assert_eq!(t.len(), 5);
        let (got, total) = t.gather(&g, Address::new(1), 3, 7);
        assert_eq!((got.len(), total), (3, 4));
        assert!(!got.contains(&Address::new(1)));
        t.expire(MULTICAST_LIKE_TIMEOUT_MS + 50);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn admission_is_given_by_a_configuration_and_ends_with_a_refusal() {
        let mut t = MulticastTable::new(1024);
        let (n, a) = (NetworkId(0x1122_3344_5500_0001), Address::new(7));
        assert!(!t.is_admitted(n, a));
        t.admit(10, n, a);
        assert!(t.is_admitted(n, a));
        let sub = MulticastSub {
            network_id: n,
            mac: Mac::BROADCAST,
            adi: 1,
        };
        t.like(10, sub, a);
        t.like(10, sub, Address::new(8));
        assert_eq!(t.len(), 2);
        t.revoke(n, a);
        assert!(!t.is_admitted(n, a));
        assert_eq!(t.len(), 1, "its subscriptions there end");
        t.admit(20, n, a);
        t.expire(20 + ADMISSION_TIMEOUT_MS);
        assert!(
            !t.is_admitted(n, a),
            "admission lapses without a new configuration"
        );
    }

    #[test]
    fn one_member_cannot_fill_the_table() {
        let mut t = MulticastTable::new(65_536);
        let sub = |adi: u32| MulticastSub {
            network_id: NetworkId(1),
            mac: Mac::BROADCAST,
            adi,
        };
        for adi in 0..10_000 {
            t.like(0, sub(adi), Address::new(7));
        }
        assert_eq!(t.len(), MAX_SUBSCRIPTIONS_PER_MEMBER);
        t.like(0, sub(1), Address::new(8));
        let (got, _) = t.gather(&sub(1), Address::new(9), 10, 0);
        assert_eq!(got.len(), 2, "another member still subscribes");
        t.expire(MULTICAST_LIKE_TIMEOUT_MS - 1);
        t.like(1, sub(20_000), Address::new(7));
        assert_eq!(
            t.len(),
            MAX_SUBSCRIPTIONS_PER_MEMBER + 1,
            "counts survive expiry"
        );
    }
}
