//! The sans-IO ZeroTier node: ztcd's root duties (HELLO, ECHO, WHOIS, relaying, RENDEZVOUS,
//! multicast LIKE/GATHER) and the entry point for configuration requests.
//!
//! Contract (after quinn-proto): the runtime feeds datagrams with
//! [`Node::handle_datagram`] and wake-ups with [`Node::handle_timeout`], passing the monotonic
//! time in milliseconds; it then drains [`Node::poll_transmit`] and [`Node::poll_event`], and
//! sleeps until [`Node::next_deadline`]. Nothing here reads a clock, touches a socket or asks
//! the OS for randomness. Malformed or unauthenticated input is dropped and counted in
//! [`Stats`]; no input can make the node panic.

pub mod config;
mod gate;
mod handlers;
pub mod multicast;
pub mod peer;
pub mod reassembly;
mod relay;
mod replies;
mod roots;
mod stats;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

pub use peer::{LocalSocket, Path, Peer};
pub use roots::RootStatus;
pub use stats::Stats;

use self::gate::{AgreementGate, ValidationQueue};
use self::multicast::MulticastTable;
use self::peer::{Bucket, PeerTable};
use self::reassembly::Reassembler;
use crate::crypto::armor::{self, Cipher};
use crate::crypto::{Entropy, SeededEntropy, SymmetricKey};
use crate::identity::{Identity, IdentitySecret};
use crate::limits::{
    HOUSEKEEPING_INTERVAL_MS, MAX_CACHED_KEYS, MAX_INVALID_IDENTITIES, MAX_QUEUED_EVENTS,
    MAX_QUEUED_TRANSMITS, MAX_VALIDATED_IDENTITIES, PHYSICAL_MTU,
};
use crate::wire::fragment::{self, Fragment};
use crate::wire::packet::{FLAG_FRAGMENTED, HEADER_LEN};
use crate::wire::world::World;
use crate::wire::{Address, Header, NetworkId, PacketView, Verb};

/// Protocol version ztcd announces: 11 keeps every 1.8–1.14 client on Salsa20/12-Poly1305.
pub const PROTOCOL_VERSION: u8 = 11;
/// Software version ztcd announces (informational for clients; never 1.1.0).
pub const SOFTWARE_VERSION: (u8, u8, u16) = (1, 14, 1);

/// How the node is set up.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Our identity.
    pub identity: IdentitySecret,
    /// The planet we serve (sent to clients holding an older version of it).
    pub planet: Option<World>,
    /// A moon we serve, if any.
    pub moon: Option<World>,
    /// Seed of the node's random generator (packet IDs, gather offsets).
    pub rng_seed: u64,
    /// Bounds of the peer and multicast tables (from the memory budget).
    pub limits: crate::limits::TableLimits,
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Socket to send from.
    pub local: LocalSocket,
    /// Destination.
    pub to: SocketAddr,
    /// The datagram.
    pub data: Vec<u8>,
}

/// A NETWORK_CONFIG_REQUEST for the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRequestEvent {
    /// The member asking.
    pub from: Identity,
    /// The request's packet ID (the reply names it).
    pub packet_id: u64,
    /// The network asked for.
    pub network_id: NetworkId,
    /// The member's metadata dictionary.
    pub metadata: Vec<u8>,
    /// The physical address it came from, when it came directly (hops = 0).
    pub physical: Option<SocketAddr>,
}

/// Something for the runtime to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Check this identity's proof of work (off the packet path) and report back with
    /// [`Node::identity_checked`].
    ValidateIdentity(Identity),
    /// This identity was validated; persist it so a restart need not validate it again.
    IdentityValidated(Identity),
    /// A member asks for a network configuration.
    ConfigRequest(ConfigRequestEvent),
    /// Another root sent a newer version of our planet (verified under the replacement
    /// rule); it is served from now on: store it.
    PlanetAdopted(Box<World>),
}

/// A HELLO waiting for its sender's identity to be validated.
#[derive(Debug)]
struct PendingHello {
    local: LocalSocket,
    from: SocketAddr,
    key: SymmetricKey,
    identity: Identity,
    packet: Vec<u8>,
}

/// The node.
#[derive(Debug)]
pub struct Node {
    identity: IdentitySecret,
    address: Address,
    planet: Option<(World, Vec<u8>)>,
    moon: Option<(World, Vec<u8>)>,
    rng: SeededEntropy,
    peers: PeerTable,
    validated: HashMap<Address, [u8; 64]>,
    invalid: HashMap<Address, [u8; 64]>,
    pending: ValidationQueue<PendingHello>,
    /// Gate in front of key agreement for identities without a cached key.
    agreement_gate: AgreementGate,
    /// Keys agreed with identities (address → public key, key), bounded.
    keys: HashMap<Address, ([u8; 64], SymmetricKey)>,
    /// Bytes of OK replies per second, all peers together.
    reply_budget: Bucket,
    reassembly: Reassembler,
    multicast: MulticastTable,
    rendezvous: HashMap<(Address, Address), u64>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    next_housekeeping: u64,
    /// When the other roots of our planet are next said HELLO to.
    next_root_hello: u64,
    /// When a HELLO may next be sent to fetch a newer planet a peer announced.
    next_planet_fetch: u64,
    /// HELLOs we sent, by packet ID (bounded by [`crate::limits::MAX_SENT_HELLOS`]).
    sent_hellos: HashMap<u64, roots::SentHello>,
    stats: Stats,
}

impl Node {
    /// A node with no peers.
    pub fn new(config: NodeConfig) -> Self {
        let encode = |w: World| w.to_bytes().ok().map(|b| (w, b));
        Self {
            address: config.identity.address(),
            identity: config.identity,
            planet: config.planet.and_then(encode),
            moon: config.moon.and_then(encode),
            rng: SeededEntropy::new(config.rng_seed),
            peers: PeerTable::new(config.limits.peers),
            validated: HashMap::new(),
            invalid: HashMap::new(),
            pending: ValidationQueue::default(),
            agreement_gate: AgreementGate::default(),
            keys: HashMap::new(),
            reply_budget: Bucket::default(),
            reassembly: Reassembler::new(),
            multicast: MulticastTable::new(config.limits.subscriptions),
            rendezvous: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_housekeeping: 0,
            next_root_hello: 0,
            next_planet_fetch: 0,
            sent_hellos: HashMap::new(),
            stats: Stats::default(),
        }
    }

    /// Our address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.peers = self.peers.len() as u64;
        s.peers_evicted = self.peers.evicted();
        s.multicast_subscriptions = self.multicast.len() as u64;
        s.dropped_rate_limited += self.pending.displaced;
        s.validations_queued = self.pending.len() as u64;
        s.multicast_refused = self.multicast.refused();
        let r = self.reassembly.stats();
        s.fragments_evicted = r.evicted;
        s.fragments_expired = r.expired;
        s
    }

    /// Datagrams refused so far before any work was spent on them (gates, replays, bad MACs,
    /// unknown sources, malformed): the runtime batches its wake-ups while these dominate.
    pub fn shed(&self) -> u64 {
        let s = &self.stats;
        s.dropped_agreement_gate
            + s.dropped_rate_limited
            + s.dropped_replayed
            + s.dropped_bad_mac
            + s.dropped_unknown_source
            + s.dropped_too_short
            + s.dropped_malformed
    }

    /// Whether `network` belongs to this node's controller (its ID starts with our address).
    pub fn owns(&self, network: NetworkId) -> bool {
        network.0 >> 24 == self.address.to_u64()
    }

    /// `member` was issued a configuration for our `network`: it may subscribe and gather
    /// there (LIKE and GATHER for our networks are accepted only from such members).
    pub fn admit_member(&mut self, now: u64, network: NetworkId, member: Address) {
        self.multicast.admit(now, network, member);
    }

    /// `member` was refused or deauthorized on `network`: its subscriptions there end.
    pub fn revoke_member(&mut self, network: NetworkId, member: Address) {
        self.multicast.revoke(network, member);
    }

    /// A known peer.
    pub fn peer(&self, address: Address) -> Option<&Peer> {
        self.peers.get(address)
    }

    /// Every known peer.
    pub fn peers(&self) -> impl Iterator<Item = &Peer> {
        self.peers.iter()
    }

    /// Marks identities as already validated (loaded from the runtime's cache at start).
    pub fn trust_validated(&mut self, identities: impl IntoIterator<Item = Identity>) {
        for id in identities {
            if self.validated.len() >= MAX_VALIDATED_IDENTITIES {
                break;
            }
            self.validated.insert(id.address(), *id.public_key());
        }
    }

    /// Identities validated so far (what the runtime persists).
    pub fn validated_identities(&self) -> impl Iterator<Item = Identity> + '_ {
        self.validated.iter().map(|(a, k)| Identity::new(*a, *k))
    }

    /// The next datagram to send, if any. Call after every `handle_*` until it returns `None`.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the runtime, if any. Call after every `handle_*`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Node::handle_timeout`] must next be called.
    #[must_use]
    pub fn next_deadline(&self) -> u64 {
        let frag = self.reassembly.next_deadline().unwrap_or(u64::MAX);
        let validation = self.pending.next_deadline().unwrap_or(u64::MAX);
        self.next_housekeeping
            .min(frag)
            .min(validation)
            .min(self.root_deadline())
    }

    /// Runs timers: expires fragments, paths, peers, subscriptions and stale validations.
    pub fn handle_timeout(&mut self, now: u64) {
        self.reassembly.expire(now);
        self.stats.validations_abandoned += self.pending.expire(now) as u64;
        self.start_validations(now);
        self.hello_roots(now);
        if now < self.next_housekeeping {
            return;
        }
        self.next_housekeeping = now + HOUSEKEEPING_INTERVAL_MS;
        self.peers.expire(now);
        self.multicast.expire(now);
        self.sent_hellos
            .retain(|_, s| now.saturating_sub(s.at) < crate::limits::ROOT_HELLO_INTERVAL_MS);
        self.rendezvous
            .retain(|_, t| now.saturating_sub(*t) < crate::limits::RENDEZVOUS_INTERVAL_MS);
    }

    /// Asks the runtime to validate the next parked identities the queue lets through.
    fn start_validations(&mut self, now: u64) {
        while let Some(address) = self.pending.start_next(now) {
            if let Some(id) = self.pending.item(address).map(|p| p.identity) {
                self.push_event(Event::ValidateIdentity(id));
            }
        }
    }

    /// Handles one received datagram.
    pub fn handle_datagram(&mut self, now: u64, local: LocalSocket, from: SocketAddr, data: &[u8]) {
        self.stats.datagrams_received += 1;
        if data.len() < 16 {
            self.stats.dropped_too_short += 1;
            return;
        }
        if fragment::is_fragment(data) {
            let Ok(f) = Fragment::new_checked(data) else {
                self.stats.dropped_malformed += 1;
                return;
            };
            if f.destination() != self.address {
                self.relay(now, data, None, f.destination(), f.hops());
            } else if let Some(packet) = self.reassembly.on_fragment(now, &f) {
                self.handle_packet(now, local, from, packet);
            }
            return;
        }
        let Ok(view) = PacketView::new_checked(data) else {
            self.stats.dropped_too_short += 1;
            return;
        };
        if view.destination() != self.address {
            self.relay(
                now,
                data,
                Some(view.source()),
                view.destination(),
                view.hops(),
            );
        } else if view.is_fragmented() {
            if let Some(packet) = self.reassembly.on_head(now, view.packet_id(), data) {
                self.handle_packet(now, local, from, packet);
            }
        } else {
            self.handle_packet(now, local, from, data.to_vec());
        }
    }

    /// Reports the outcome of an identity validation requested by
    /// [`Event::ValidateIdentity`].
    pub fn identity_checked(&mut self, now: u64, identity: Identity, valid: bool) {
        self.stats.validations += 1;
        let pending = self
            .pending
            .finish(identity.address())
            .filter(|p| p.identity == identity);
        self.start_validations(now);
        if !valid {
            self.stats.dropped_invalid_identity += 1;
            if self.invalid.len() >= MAX_INVALID_IDENTITIES {
                self.invalid.clear();
            }
            self.invalid
                .insert(identity.address(), *identity.public_key());
            return;
        }
        if self.validated.len() >= MAX_VALIDATED_IDENTITIES {
            self.validated.clear();
        }
        self.validated
            .insert(identity.address(), *identity.public_key());
        self.push_event(Event::IdentityValidated(identity));
        if let Some(p) = pending {
            self.learn(now, p.identity, p.key);
            self.handle_authenticated(now, p.local, p.from, p.packet);
        }
    }

    /// Sends an ERROR answering a request of `to`.
    pub fn send_error(
        &mut self,
        now: u64,
        to: Address,
        in_re: (Verb, u64),
        code: crate::wire::verbs::ErrorCode,
        network_id: Option<NetworkId>,
    ) {
        let repr = crate::wire::verbs::ErrorRepr {
            in_re_verb: in_re.0,
            in_re_packet_id: in_re.1,
            code,
            network_id,
        };
        let mut payload = vec![0u8; repr.buffer_len()];
        if repr
            .emit(&mut crate::wire::Writer::new(&mut payload))
            .is_ok()
        {
            self.send(now, to, Verb::Error, &payload, None);
        }
    }

    /// Sends `payload` under `verb` to a known peer over `path` or its best live path.
    /// Returns whether anything was queued.
    pub fn send(
        &mut self,
        now: u64,
        to: Address,
        verb: Verb,
        payload: &[u8],
        path: Option<Path>,
    ) -> bool {
        let Some(peer) = self.peers.get(to) else {
            self.stats.send_no_peer += 1;
            return false;
        };
        let best = peer.best_path(now, None);
        let Some(path) = path.or_else(|| self.route(now, to, best)) else {
            self.stats.send_no_path += 1;
            return false;
        };
        let key = peer.key.clone();
        let via_root = peer.path(path.local, path.remote).is_none();
        let sent = self.send_with_key(to, &key, path, verb, payload).is_some();
        if sent {
            self.sent_on(now, to, path);
        }
        // Sent through another root because the direct path's probe went unanswered (one lost
        // probe can do that): the direct path gets it too; the peer drops the duplicate.
        if let Some(direct) = best.filter(|_| via_root) {
            let _ = self.send_with_key(to, &key, direct, verb, payload);
        }
        sent
    }

    /// Notes when a path was last sent on (`/peer` shows it).
    fn sent_on(&mut self, now: u64, to: Address, path: Path) {
        if let Some(p) = self
            .peers
            .get_mut(to)
            .and_then(|p| p.path_mut(path.local, path.remote))
        {
            p.last_send = now;
        }
    }

    /// Sends to a peer over one of its paths even if unconfirmed, metered by the path's
    /// credit (never more bytes than came from it). Returns the packet ID sent.
    fn send_metered(
        &mut self,
        now: u64,
        to: Address,
        path: Path,
        verb: Verb,
        payload: &[u8],
    ) -> Option<u64> {
        let peer = self.peers.get_mut(to)?;
        if !peer.spend(path.local, path.remote, HEADER_LEN + payload.len()) {
            self.stats.dropped_unconfirmed_path += 1;
            return None;
        }
        let key = peer.key.clone();
        let id = self.send_with_key(to, &key, path, verb, payload)?;
        self.sent_on(now, to, path);
        Some(id)
    }

    /// Builds, armors (cipher 1) and fragments a packet to `to` under `key` over `path`;
    /// returns its packet ID.
    fn send_with_key(
        &mut self,
        to: Address,
        key: &SymmetricKey,
        path: Path,
        verb: Verb,
        payload: &[u8],
    ) -> Option<u64> {
        let mut packet = vec![0u8; HEADER_LEN + payload.len()];
        let packet_id = self.rng.next_u64();
        let header = Header {
            packet_id,
            destination: to,
            source: self.address,
            verb,
        };
        if header.emit(&mut packet).is_err() {
            return None;
        }
        packet[HEADER_LEN..].copy_from_slice(payload);
        if packet.len() > PHYSICAL_MTU {
            packet[crate::wire::packet::FLAGS_OFFSET] |= FLAG_FRAGMENTED;
        }
        if armor::armor(&mut packet, key, Cipher::Salsa2012Poly1305).is_err() {
            return None;
        }
        let mut out = Vec::new();
        if fragment::split(&packet, PHYSICAL_MTU, |d| out.push(d.to_vec())).is_err() {
            self.stats.send_too_large += 1;
            return None;
        }
        for data in out {
            self.push_transmit(Transmit {
                local: path.local,
                to: path.remote,
                data,
            });
        }
        Some(packet_id)
    }

    fn push_transmit(&mut self, t: Transmit) {
        if self.transmits.len() >= MAX_QUEUED_TRANSMITS {
            self.transmits.pop_front();
            self.stats.transmits_dropped += 1;
        }
        self.transmits.push_back(t);
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() >= MAX_QUEUED_EVENTS {
            self.stats.events_dropped += 1;
            return;
        }
        self.events.push_back(e);
    }

    fn learn(&mut self, now: u64, identity: Identity, key: SymmetricKey) {
        self.remember_key(identity, &key);
        self.peers.insert(Peer::new(identity, key, now));
    }

    /// Caches the key agreed with `identity` (bounded: the cache restarts when full).
    fn remember_key(&mut self, identity: Identity, key: &SymmetricKey) {
        if self.keys.len() >= MAX_CACHED_KEYS && !self.keys.contains_key(&identity.address()) {
            self.keys.clear();
        }
        self.keys
            .insert(identity.address(), (*identity.public_key(), key.clone()));
    }

    /// The key for `identity`: cached, or agreed now if the agreement gate lets a HELLO from
    /// `from` pay for it (`None` otherwise, counted).
    fn key_for(&mut self, now: u64, identity: &Identity, from: SocketAddr) -> Option<SymmetricKey> {
        if let Some((public, key)) = self.keys.get(&identity.address())
            && public == identity.public_key()
        {
            return Some(key.clone());
        }
        let known = self.validated.get(&identity.address()) == Some(identity.public_key());
        if !self.agreement_gate.allow(now, from.ip(), known) {
            self.stats.dropped_agreement_gate += 1;
            return None;
        }
        self.stats.agreements += 1;
        Some(self.identity.agree(identity))
    }
}
