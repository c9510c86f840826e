//! Peers: identities the node shares a session key with, and the physical paths they were
//! heard on. Bounded by [`MAX_PEERS`] and [`MAX_PATHS_PER_PEER`].

use std::collections::HashMap;
use std::net::SocketAddr;

use heapless::Vec as HVec;

use crate::crypto::SymmetricKey;
use crate::identity::Identity;
use crate::limits::{
    LATENCY_PROBE_INTERVAL_MS, MAX_PATHS_PER_PEER, PATH_TIMEOUT_MS, PEER_TIMEOUT_MS,
    PROBE_ANSWER_TIMEOUT_MS, PROBE_INTERVAL_MS, REPLAY_WINDOW,
};
use crate::wire::Address;

/// Which of the runtime's sockets a datagram came in on or goes out of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct LocalSocket(pub u16);

impl LocalSocket {
    /// Any socket of the destination's address family (the runtime picks one): for
    /// addresses that were never heard from, such as the endpoints a planet lists.
    pub const ANY: Self = Self(u16::MAX);
}

/// A physical path to a peer.
///
/// A path is *confirmed* once the peer answered on it (an OK to the ECHO probe ztcd sent
/// there with a fresh packet ID), which a replayed or forged packet cannot do. Until then the
/// path carries only OK(HELLO), OK(ECHO) and probes, and never more bytes than were received
/// on it (`credit`): a forged source address cannot turn the node into an amplifier, and a
/// replayed packet cannot move a peer's traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Path {
    /// Our socket.
    pub local: LocalSocket,
    /// The peer's address and port as seen by us.
    pub remote: SocketAddr,
    /// When we last heard an authenticated packet on it (ms, monotonic).
    pub last_receive: u64,
    /// Whether the peer answered our probe on this path.
    pub confirmed: bool,
    /// While unconfirmed: bytes received on the path not yet matched by bytes sent to it.
    pub credit: u32,
    /// Our last probe on this path not yet answered: its packet ID and when it was sent.
    pub probe: Option<(u64, u64)>,
    /// When we last sent on it (ms, monotonic; 0 if never).
    pub last_send: u64,
    /// The round trip last measured on it (ms): from a probe to the peer's answer.
    pub latency: Option<u32>,
    /// When `latency` was measured (ms, monotonic).
    pub measured: u64,
}

impl Path {
    /// A path first heard now, with `len` bytes of credit.
    pub fn new(local: LocalSocket, remote: SocketAddr, now: u64, len: usize) -> Self {
        Self {
            local,
            remote,
            last_receive: now,
            confirmed: false,
            credit: u32::try_from(len).unwrap_or(u32::MAX),
            probe: None,
            last_send: 0,
            latency: None,
            measured: 0,
        }
    }

    /// Whether to probe it now: an unconfirmed path every [`PROBE_INTERVAL_MS`] until it
    /// answers, a confirmed one every [`LATENCY_PROBE_INTERVAL_MS`] to keep its round trip
    /// current (counted from the last probe or answer, so a peer that stops answering costs
    /// no more).
    pub fn probe_due(&self, now: u64) -> bool {
        let since = |t: u64| now.saturating_sub(t);
        match (self.confirmed, self.probe) {
            (false, Some((_, at))) => since(at) >= PROBE_INTERVAL_MS,
            (false, None) => true,
            (true, Some((_, at))) => since(at) >= LATENCY_PROBE_INTERVAL_MS,
            (true, None) => since(self.measured) >= LATENCY_PROBE_INTERVAL_MS,
        }
    }

    /// Whether the path was heard recently enough to use.
    pub fn is_alive(&self, now: u64) -> bool {
        now.saturating_sub(self.last_receive) < PATH_TIMEOUT_MS
    }

    /// Whether our probe on it went unanswered for [`PROBE_ANSWER_TIMEOUT_MS`] with nothing
    /// heard since: the peer (or we) may have moved, and another root may still reach it.
    pub fn is_unanswered(&self, now: u64) -> bool {
        self.probe.is_some_and(|(_, at)| {
            now.saturating_sub(at) >= PROBE_ANSWER_TIMEOUT_MS && self.last_receive <= at
        })
    }
}

/// The packet IDs a peer sent most recently ([`REPLAY_WINDOW`] of them): a packet whose ID
/// is among them is a replay. IDs are compared exactly, with no assumption about their order
/// (clients mix a per-path counter into an ID's low bits). An older packet replayed later
/// passes this window, but it cannot move a path or draw a reply to a new address: paths are
/// confirmed by probe answers only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    ids: [u64; REPLAY_WINDOW],
    next: u8,
    len: u8,
}

impl ReplayWindow {
    /// Records `id`; `false` when it is among the recent ones (a replay).
    pub fn accept(&mut self, id: u64) -> bool {
        if self.ids[..usize::from(self.len)].contains(&id) {
            return false;
        }
        self.ids[usize::from(self.next)] = id;
        self.next = ((usize::from(self.next) + 1) % REPLAY_WINDOW) as u8;
        self.len = (usize::from(self.len) + 1).min(REPLAY_WINDOW) as u8;
        true
    }
}

/// A token bucket: `rate` tokens per second, at most `burst`, in thousandths of a token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    milli: u64,
    at: u64,
}

impl Bucket {
    /// Takes one token if there is one (a new bucket starts full).
    pub fn take(&mut self, now: u64, rate: u32, burst: u32) -> bool {
        self.take_n(now, rate, burst, 1)
    }

    /// Takes `n` tokens if there are that many.
    pub fn take_n(&mut self, now: u64, rate: u32, burst: u32, n: u32) -> bool {
        let cap = u64::from(burst) * 1000;
        let level = if self.at == 0 && self.milli == 0 {
            cap
        } else {
            let refill = now.saturating_sub(self.at).saturating_mul(u64::from(rate));
            self.milli.saturating_add(refill).min(cap)
        };
        self.at = now.max(1);
        let need = u64::from(n) * 1000;
        if level < need {
            self.milli = level;
            return false;
        }
        self.milli = level - need;
        true
    }
}

/// A peer's per-verb request quotas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quotas {
    /// WHOIS.
    pub whois: Bucket,
    /// MULTICAST_GATHER.
    pub gather: Bucket,
    /// ECHO.
    pub echo: Bucket,
    /// NETWORK_CONFIG_REQUEST.
    pub config: Bucket,
}

/// An OK(HELLO) owed a peer with the worlds it lacks, sent once its path is confirmed (the
/// first answer on an unconfirmed path goes without them: they are larger than the HELLO).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeferredHello {
    /// The HELLO's packet ID.
    pub packet_id: u64,
    /// The HELLO's timestamp (echoed).
    pub timestamp: u64,
    /// Its protocol version.
    pub protocol_version: u8,
    /// Whether it needs our planet.
    pub planet: bool,
    /// Whether it needs our moon.
    pub moon: bool,
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
    /// Packet IDs seen (replays are dropped).
    pub window: ReplayWindow,
    /// Request quotas.
    pub quotas: Quotas,
    /// Worlds to send once a path is confirmed.
    pub deferred: Option<DeferredHello>,
}

impl Peer {
    /// A peer with no paths, last heard `now`.
    pub fn new(identity: Identity, key: SymmetricKey, now: u64) -> Self {
        Self {
            identity,
            key,
            paths: HVec::new(),
            last_receive: now,
            protocol_version: 0,
            version: (0, 0, 0),
            window: ReplayWindow::default(),
            quotas: Quotas::default(),
            deferred: None,
        }
    }

    /// Records `len` bytes heard on a path (direct packets only: hops = 0) and returns the
    /// path as it now stands. A confirmed path moves to the front; a new path is tracked
    /// unconfirmed in place of the oldest unconfirmed one (or of a dead one), never in place
    /// of a live confirmed path: `None` then.
    pub fn heard_on(
        &mut self,
        now: u64,
        local: LocalSocket,
        remote: SocketAddr,
        len: usize,
    ) -> Option<Path> {
        self.last_receive = now;
        if let Some(i) = self.path_index(local, remote) {
            let p = &mut self.paths[i];
            p.last_receive = now;
            if !p.confirmed {
                p.credit = p
                    .credit
                    .saturating_add(u32::try_from(len).unwrap_or(u32::MAX));
                return Some(*p);
            }
            let p = self.paths.remove(i);
            // A slot was freed on the line above.
            let _ = self.paths.insert(0, p);
            return Some(p);
        }
        if self.paths.is_full() {
            // An unconfirmed or dead path goes first; else the confirmed one heard from least
            // recently. Only the peer's own fresh packets get here (replays are dropped
            // before), so a peer that changed its port four times within the path timeout (a
            // restart, NAT rebinding) is not locked out until its old paths expire.
            let victim = (0..self.paths.len())
                .rev()
                .find(|&i| !self.paths[i].confirmed || !self.paths[i].is_alive(now))
                .or_else(|| (0..self.paths.len()).min_by_key(|&i| self.paths[i].last_receive))?;
            self.paths.remove(victim);
        }
        let p = Path::new(local, remote, now, len);
        // A slot is free here.
        let _ = self.paths.insert(0, p);
        Some(p)
    }

    fn path_index(&self, local: LocalSocket, remote: SocketAddr) -> Option<usize> {
        self.paths
            .iter()
            .position(|p| p.local == local && p.remote == remote)
    }

    /// The path `(local, remote)` as it stands.
    pub fn path(&self, local: LocalSocket, remote: SocketAddr) -> Option<Path> {
        self.path_index(local, remote).map(|i| self.paths[i])
    }

    /// The path `(local, remote)`, writable.
    pub fn path_mut(&mut self, local: LocalSocket, remote: SocketAddr) -> Option<&mut Path> {
        let i = self.path_index(local, remote)?;
        self.paths.get_mut(i)
    }

    /// An OK to our probe `probe_id` arrived on `(local, remote)` at `now`: confirms that path
    /// (and moves it to the front) and records its round trip. `None` when it answers no probe
    /// of that path, else whether the path was newly confirmed.
    pub fn confirm(
        &mut self,
        now: u64,
        local: LocalSocket,
        remote: SocketAddr,
        probe_id: u64,
    ) -> Option<bool> {
        let i = self.path_index(local, remote)?;
        let (id, sent) = self.paths[i].probe?;
        if id != probe_id {
            return None;
        }
        let mut p = self.paths.remove(i);
        let new = !p.confirmed;
        p.confirmed = true;
        p.probe = None;
        p.credit = 0;
        p.latency = Some(u32::try_from(now.saturating_sub(sent)).unwrap_or(u32::MAX));
        p.measured = now;
        let _ = self.paths.insert(0, p);
        Some(new)
    }

    /// An OK answering our HELLO sent at `sent` arrived on `(local, remote)` (known: the
    /// packet was just heard there): confirms that path and records its round trip. Whether
    /// the path was newly confirmed.
    pub fn answered(
        &mut self,
        now: u64,
        local: LocalSocket,
        remote: SocketAddr,
        sent: u64,
    ) -> bool {
        let Some(i) = self.path_index(local, remote) else {
            return false;
        };
        let mut p = self.paths.remove(i);
        let new = !p.confirmed;
        p.confirmed = true;
        p.credit = 0;
        p.latency = Some(u32::try_from(now.saturating_sub(sent)).unwrap_or(u32::MAX));
        p.measured = now;
        // A slot was freed on the line above.
        let _ = self.paths.insert(0, p);
        new
    }

    /// The round trip of the best live confirmed path, ms: what `/peer` reports as latency
    /// (none without a direct path).
    pub fn latency(&self, now: u64) -> Option<u32> {
        self.best_path(now, None).and_then(|p| p.latency)
    }

    /// Takes `bytes` from an unconfirmed path's credit; `false` (nothing taken) when it has
    /// less. Confirmed paths are not metered.
    pub fn spend(&mut self, local: LocalSocket, remote: SocketAddr, bytes: usize) -> bool {
        let Some(p) = self.path_mut(local, remote) else {
            return false;
        };
        if p.confirmed {
            return true;
        }
        match p
            .credit
            .checked_sub(u32::try_from(bytes).unwrap_or(u32::MAX))
        {
            Some(left) => {
                p.credit = left;
                true
            }
            None => false,
        }
    }

    /// The most recently heard live confirmed path, preferring the address family
    /// `family_v4` if given.
    pub fn best_path(&self, now: u64, family_v4: Option<bool>) -> Option<Path> {
        let usable = |p: &&Path| p.confirmed && p.is_alive(now);
        let mut alive = self.paths.iter().filter(usable);
        match family_v4 {
            Some(v4) => {
                let mut same = self
                    .paths
                    .iter()
                    .filter(|p| usable(p) && p.remote.is_ipv4() == v4);
                same.next().or_else(|| alive.next()).copied()
            }
            None => alive.next().copied(),
        }
    }
}

/// The peer table, bounded by its `max` (from the memory budget).
#[derive(Debug)]
pub struct PeerTable {
    peers: HashMap<Address, Peer>,
    max: usize,
    evicted: u64,
}

impl PeerTable {
    /// An empty table holding at most `max` peers.
    pub fn new(max: usize) -> Self {
        Self {
            peers: HashMap::new(),
            max: max.max(1),
            evicted: 0,
        }
    }

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

    /// Adds (or replaces) a peer, evicting the least recently heard eighth when full.
    pub fn insert(&mut self, peer: Peer) -> &mut Peer {
        let a = peer.identity.address();
        if !self.peers.contains_key(&a) && self.peers.len() >= self.max {
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
        Peer::new(
            Identity::new(Address::new(0x10_0000_0000 + i), [0; 64]),
            SymmetricKey::from_bytes([0; 48]),
            i,
        )
    }

    fn at(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_recent_packet_ids_are_refused_in_any_order() {
        let mut w = ReplayWindow::default();
        let base = 1_700_000_000u64 << 33;
        assert!(w.accept(base + 10));
        assert!(!w.accept(base + 10), "the same packet again");
        assert!(w.accept(base + 12) && w.accept(base + 3), "any order");
        assert!(!w.accept(base + 3));
        for i in 0..REPLAY_WINDOW as u64 {
            assert!(w.accept(base + 100 + i));
        }
        assert!(w.accept(base + 10), "forgotten once out of the window");
    }

    #[test]
    fn only_an_answered_probe_confirms_and_forged_paths_never_displace_live_ones() {
        let mut p = peer(1);
        let (home, forged) = (at("10.0.0.2:9993"), at("192.0.2.1:1"));
        let seen = p.heard_on(5, LocalSocket(0), home, 150).unwrap();
        assert!(!seen.confirmed && seen.credit == 150);
        assert_eq!(
            p.best_path(5, None),
            None,
            "unconfirmed paths carry no traffic"
        );
        assert!(p.spend(LocalSocket(0), home, 100));
        assert!(
            !p.spend(LocalSocket(0), home, 51),
            "never more than came from it"
        );
        assert_eq!(
            p.confirm(6, LocalSocket(0), home, 7),
            None,
            "no probe was sent"
        );
        assert!(p.path(LocalSocket(0), home).unwrap().probe_due(5));
        p.path_mut(LocalSocket(0), home).unwrap().probe = Some((7, 5));
        assert!(
            !p.path(LocalSocket(0), home)
                .unwrap()
                .probe_due(5 + PROBE_INTERVAL_MS - 1)
        );
        assert_eq!(p.confirm(6, LocalSocket(0), forged, 7), None);
        assert_eq!(p.latency(6), None, "no direct path yet");
        assert_eq!(p.confirm(6, LocalSocket(0), home, 7), Some(true));
        assert_eq!(p.best_path(6, None).unwrap().remote, home);
        assert_eq!(p.latency(6), Some(1), "sent at 5, answered at 6");
        for port in 1..10 {
            let f = SocketAddr::new(forged.ip(), port);
            p.heard_on(7, LocalSocket(0), f, 40);
        }
        assert_eq!(
            p.best_path(8, None).unwrap().remote,
            home,
            "replays move nothing"
        );
        assert_eq!(p.paths.len(), MAX_PATHS_PER_PEER);
        assert!(p.paths.iter().any(|x| x.remote == home));
        // A peer whose every path is confirmed and alive moves to a fifth port (a restart
        // or NAT rebinding within the path timeout): the new path is taken, replacing the
        // confirmed path heard from least recently; the live one stays.
        let mut q = Peer::new(p.identity, p.key.clone(), 0);
        for port in 1..=MAX_PATHS_PER_PEER as u16 {
            let at = SocketAddr::new(home.ip(), port);
            q.heard_on(u64::from(port), LocalSocket(0), at, 40);
            q.path_mut(LocalSocket(0), at).unwrap().confirmed = true;
        }
        let live = SocketAddr::new(home.ip(), 1);
        q.heard_on(10, LocalSocket(0), live, 40);
        let fifth = SocketAddr::new(home.ip(), 99);
        assert!(q.heard_on(11, LocalSocket(0), fifth, 40).is_some());
        assert!(q.path(LocalSocket(0), fifth).is_some());
        assert!(
            q.path(LocalSocket(0), live).is_some(),
            "the live path stays"
        );
        assert!(
            q.path(LocalSocket(0), SocketAddr::new(home.ip(), 2))
                .is_none()
        );
        // A confirmed path is probed again a while later (while the peer's traffic keeps it
        // alive), and the answer updates its round trip without confirming it anew.
        let later = 6 + LATENCY_PROBE_INTERVAL_MS;
        p.heard_on(later, LocalSocket(0), home, 40);
        assert!(!p.path(LocalSocket(0), home).unwrap().probe_due(later - 1));
        assert!(p.path(LocalSocket(0), home).unwrap().probe_due(later));
        p.path_mut(LocalSocket(0), home).unwrap().probe = Some((8, later));
        assert!(
            !p.path(LocalSocket(0), home)
                .unwrap()
                .probe_due(later + PROBE_INTERVAL_MS)
        );
        assert_eq!(p.confirm(later + 42, LocalSocket(0), home, 8), Some(false));
        assert_eq!(p.latency(later + 42), Some(42));
    }

    #[test]
    fn buckets_refill_at_their_rate_up_to_the_burst() {
        let mut b = Bucket::default();
        assert!((0..5).all(|_| b.take(1000, 2, 5)));
        assert!(!b.take(1000, 2, 5));
        assert!(b.take(1500, 2, 5), "2 per second: one after 500 ms");
        assert!(!b.take(1500, 2, 5));
        assert!(b.take_n(100_000, 2, 5, 5) && !b.take(100_000, 2, 5));
    }

    #[test]
    fn an_entry_fits_its_budgeted_size() {
        // hashbrown keeps at most 7 entries per 8 slots, plus a control byte each.
        let slot = std::mem::size_of::<(Address, Peer)>() + 1;
        assert!(slot * 8 / 7 <= crate::limits::PEER_ENTRY_BYTES, "{slot}");
    }

    #[test]
    fn a_full_table_evicts_the_least_recently_heard_eighth_at_once() {
        const MAX_PEERS: usize = 4096;
        let mut t = PeerTable::new(MAX_PEERS);
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
