//! Peers: identities the node shares a session key with, and the physical paths they were
//! heard on. Bounded by [`MAX_PEERS`] and [`MAX_PATHS_PER_PEER`].

use std::collections::HashMap;
use std::net::SocketAddr;

use heapless::Vec as HVec;

use crate::crypto::SymmetricKey;
use crate::identity::Identity;
use crate::limits::{MAX_PATHS_PER_PEER, MAX_PEERS, PATH_TIMEOUT_MS, PEER_TIMEOUT_MS};
use crate::wire::Address;

/// Which of the runtime's sockets a datagram came in on or goes out of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct LocalSocket(pub u16);

/// A physical path to a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Path {
    /// Our socket.
    pub local: LocalSocket,
    /// The peer's address and port as seen by us.
    pub remote: SocketAddr,
    /// When we last heard an authenticated packet on it (ms, monotonic).
    pub last_receive: u64,
}

impl Path {
    /// Whether the path was heard recently enough to use.
    pub fn is_alive(&self, now: u64) -> bool {
        now.saturating_sub(self.last_receive) < PATH_TIMEOUT_MS
    }
}

/// A peer.
#[derive(Clone, Debug)]
pub struct Peer {
    /// Its identity (validated).
    pub identity: Identity,
    /// The key shared with it.
    pub key: SymmetricKey,
    /// Paths it was heard on, most recent first.
    pub paths: HVec<Path, MAX_PATHS_PER_PEER>,
    /// When anything authenticated was last heard from it.
    pub last_receive: u64,
    /// Protocol version from its HELLO (0 if unknown).
    pub protocol_version: u8,
    /// Software version from its HELLO.
    pub version: (u8, u8, u16),
}

impl Peer {
    /// Records a packet heard on a path (direct packets only: hops = 0).
    pub fn heard_on(&mut self, now: u64, local: LocalSocket, remote: SocketAddr) {
        self.last_receive = now;
        if let Some(i) = self
            .paths
            .iter()
            .position(|p| p.local == local && p.remote == remote)
        {
            self.paths.remove(i);
        } else if self.paths.is_full() {
            self.paths.pop();
        }
        // unwrap safety: a slot was freed above when the vector was full.
        let _ = self.paths.insert(
            0,
            Path {
                local,
                remote,
                last_receive: now,
            },
        );
    }

    /// The most recently heard live path, preferring the address family `family_v4` if given.
    pub fn best_path(&self, now: u64, family_v4: Option<bool>) -> Option<Path> {
        let mut alive = self.paths.iter().filter(|p| p.is_alive(now));
        match family_v4 {
            Some(v4) => {
                let mut same = self
                    .paths
                    .iter()
                    .filter(|p| p.is_alive(now) && p.remote.is_ipv4() == v4);
                same.next().or_else(|| alive.next()).copied()
            }
            None => alive.next().copied(),
        }
    }
}

/// The peer table.
#[derive(Debug, Default)]
pub struct PeerTable {
    peers: HashMap<Address, Peer>,
    evicted: u64,
}

impl PeerTable {
    /// Number of peers.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether there are no peers.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Peers evicted to make room so far.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// A peer by address.
    pub fn get(&self, a: Address) -> Option<&Peer> {
        self.peers.get(&a)
    }

    /// A peer by address, writable.
    pub fn get_mut(&mut self, a: Address) -> Option<&mut Peer> {
        self.peers.get_mut(&a)
    }

    /// All peers.
    pub fn iter(&self) -> impl Iterator<Item = &Peer> {
        self.peers.values()
    }

    /// Evicts the least recently heard eighth of the peers in one pass, so adding to a full
    /// table costs amortized O(1) instead of a scan per new peer.
    fn evict_oldest(&mut self) {
        let mut ages: Vec<u64> = self.peers.values().map(|p| p.last_receive).collect();
        let n = (ages.len() / 8).max(1);
        let (_, cut, _) = ages.select_nth_unstable(n - 1);
        let cut = *cut;
        let mut evicted = 0;
        self.peers.retain(|_, p| {
            let keep = p.last_receive > cut || evicted >= n;
            evicted += usize::from(!keep);
            keep
        });
        self.evicted += evicted as u64;
    }

    /// Adds (or replaces) a peer, evicting the least recently heard ones when full.
    pub fn insert(&mut self, peer: Peer) -> &mut Peer {
        let a = peer.identity.address();
        if !self.peers.contains_key(&a) && self.peers.len() >= MAX_PEERS {
            self.evict_oldest();
        }
        self.peers.insert(a, peer);
        // unwrap safety: inserted on the line above.
        self.peers.get_mut(&a).expect("peer just inserted")
    }

    /// Drops dead paths, and peers with none that were silent for [`PEER_TIMEOUT_MS`].
    pub fn expire(&mut self, now: u64) {
        for p in self.peers.values_mut() {
            p.paths.retain(|path| path.is_alive(now));
        }
        self.peers.retain(|_, p| {
            !p.paths.is_empty() || now.saturating_sub(p.last_receive) < PEER_TIMEOUT_MS
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SymmetricKey;

    fn peer(i: u64) -> Peer {
        Peer {
            identity: Identity::new(Address::new(0x10_0000_0000 + i), [0; 64]),
            key: SymmetricKey::from_bytes([0; 48]),
            paths: HVec::new(),
            last_receive: i,
            protocol_version: 12,
            version: (1, 12, 0),
        }
    }

    #[test]
    fn a_full_table_evicts_the_least_recently_heard_eighth_at_once() {
        let mut t = PeerTable::default();
        for i in 0..MAX_PEERS as u64 {
            t.insert(peer(i));
        }
        assert_eq!((t.len(), t.evicted()), (MAX_PEERS, 0));
        t.insert(peer(MAX_PEERS as u64));
        let n = MAX_PEERS / 8;
        assert_eq!(t.evicted(), n as u64);
        assert_eq!(t.len(), MAX_PEERS - n + 1);
        assert!(t.get(Address::new(0x10_0000_0000)).is_none());
        assert!(t.get(Address::new(0x10_0000_0000 + n as u64)).is_some());
        assert!(
            t.get(Address::new(0x10_0000_0000 + MAX_PEERS as u64))
                .is_some()
        );
    }
}
