//! Multicast subscriptions (MULTICAST_LIKE) and answers to MULTICAST_GATHER. Members of a
//! network find each other for ARP and broadcast through this table.

use std::collections::HashMap;

use crate::limits::{MAX_MULTICAST_SUBSCRIPTIONS, MULTICAST_LIKE_TIMEOUT_MS};
use crate::wire::Address;
use crate::wire::verbs::MulticastSub;

/// Subscribers per group, with the time each last renewed.
#[derive(Debug, Default)]
pub struct MulticastTable {
    groups: HashMap<MulticastSub, Vec<(Address, u64)>>,
    total: usize,
    refused: u64,
}

impl MulticastTable {
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
        if self.total >= MAX_MULTICAST_SUBSCRIPTIONS {
            self.refused += 1;
            return;
        }
        self.groups.entry(group).or_default().push((member, now));
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
        let mut total = 0;
        self.groups.retain(|_, list| {
            list.retain(|(_, t)| now.saturating_sub(*t) < MULTICAST_LIKE_TIMEOUT_MS);
            total += list.len();
            !list.is_empty()
        });
        self.total = total;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Mac, NetworkId};

    #[test]
    fn like_gather_expire() {
        let g = MulticastSub {
            network_id: NetworkId(1),
            mac: Mac::BROADCAST,
            adi: 0x0a00_0001,
        };
        let mut t = MulticastTable::default();
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
}
