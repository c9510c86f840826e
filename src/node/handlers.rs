//! Handling of packets addressed to us: authentication, HELLO from new identities, and one
//! handler per verb a root or controller answers.

use std::net::SocketAddr;

use super::gate::Offer;
use super::peer::DeferredHello;
use super::{ConfigRequestEvent, Event, Node, PROTOCOL_VERSION, PendingHello, SOFTWARE_VERSION};
use crate::crypto::{armor, extended};
use crate::identity::Identity;
use crate::limits::{MAX_GATHER_RESULTS, MAX_PACKET_LEN, MAX_WHOIS_IDENTITIES};
use crate::node::peer::{LocalSocket, Path};
use crate::wire::packet::{HEADER_LEN, VERB_FLAG_COMPRESSED, decompress_payload};
use crate::wire::verbs::{
    ConfigRequest, ErrorCode, ErrorRepr, GatherRepr, HelloRepr, LikeRepr, OkGatherRepr,
    OkHelloRepr, WhoisRepr,
};
use crate::wire::{Address, IdentityRepr, InetAddress, PacketView, Reader, Verb, Writer};

/// Who asked, which packet, and the path it came on (direct packets only).
#[derive(Clone, Copy, Debug)]
pub(super) struct Request {
    pub(super) source: Address,
    pub(super) packet_id: u64,
    pub(super) arrival: Option<Path>,
}

impl Node {
    /// A complete packet addressed to us (reassembled if it was fragmented).
    pub(super) fn handle_packet(
        &mut self,
        now: u64,
        local: LocalSocket,
        from: SocketAddr,
        mut packet: Vec<u8>,
    ) {
        let Ok(view) = PacketView::new_checked(&packet[..]) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let source = view.source();
        if source == self.address {
            self.stats.dropped_own_source += 1;
            return;
        }
        if extended::present(&packet) && !self.open_extended(now, from, source, &mut packet) {
            return;
        }
        let Ok(view) = PacketView::new_checked(&packet[..]) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let cleartext_hello = view.cipher() == 0
            && view.verb_byte() & crate::wire::packet::VERB_MASK == Verb::Hello as u8;
        if let Some(peer) = self.peers.get(source) {
            let key = peer.key.clone();
            match armor::dearmor(&mut packet, &key) {
                Ok(_) => self.handle_authenticated(now, local, from, packet),
                Err(crate::crypto::Error::UnsupportedCipher(_)) => {
                    self.stats.dropped_unsupported_cipher += 1
                }
                Err(_) if cleartext_hello => {
                    self.hello_from_new_identity(now, local, from, packet, true)
                }
                Err(_) => self.stats.dropped_bad_mac += 1,
            }
        } else if cleartext_hello {
            self.hello_from_new_identity(now, local, from, packet, false);
        } else {
            self.stats.dropped_unknown_source += 1;
        }
    }

    /// Removes extended armor (protocol 13's encrypted HELLO) before anything looks at the
    /// verb or the identity. Each packet costs an X25519 with its ephemeral key, so it passes
    /// the agreement gate first, as a HELLO from a new identity does; `false` when dropped
    /// (counted).
    fn open_extended(
        &mut self,
        now: u64,
        from: SocketAddr,
        source: Address,
        packet: &mut Vec<u8>,
    ) -> bool {
        if packet.len() < extended::MIN_LEN {
            self.stats.dropped_extended_armor += 1;
            return false;
        }
        let known = self.peers.get(source).is_some() || self.validated.contains_key(&source);
        if !self.agreement_gate.allow(now, from.ip(), known) {
            self.stats.dropped_agreement_gate += 1;
            return false;
        }
        if extended::remove(packet, self.identity.keys()).is_err() {
            self.stats.dropped_extended_armor += 1;
            return false;
        }
        self.stats.extended_armor_opened += 1;
        true
    }

    /// A HELLO whose sender we do not know (or whose identity differs from the one we know
    /// at that address: `collision`). Check the MAC first, then the proof of work, which runs
    /// off the packet path behind the validation gate.
    fn hello_from_new_identity(
        &mut self,
        now: u64,
        local: LocalSocket,
        from: SocketAddr,
        mut packet: Vec<u8>,
        collision: bool,
    ) {
        let mut r = Reader::new(packet.get(HEADER_LEN + 13..).unwrap_or(&[]));
        let Ok(repr) = IdentityRepr::parse(&mut r) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let identity = Identity::from(repr);
        if PacketView::new_checked(&packet[..]).map(|v| v.source()) != Ok(identity.address())
            || identity.address().is_reserved()
        {
            self.stats.dropped_malformed += 1;
            return;
        }
        if self.invalid.get(&identity.address()) == Some(identity.public_key()) {
            self.stats.dropped_invalid_identity += 1;
            return;
        }
        // Cheap checks first: a cached key, or the agreement gate, before any X25519 work.
        let Some(key) = self.key_for(now, &identity, from) else {
            return;
        };
        if armor::dearmor(&mut packet, &key).is_err() {
            self.stats.dropped_bad_mac += 1;
            return;
        }
        // The key is cached once the identity is known good (`learn`), so a flood of fresh
        // identities cannot churn the cache.
        if collision {
            self.stats.identity_collisions += 1;
            let packet_id = u64::from_be_bytes(packet[..8].try_into().unwrap_or_default());
            self.send_collision_error(local, from, identity, key, packet_id);
            return;
        }
        if self.validated.get(&identity.address()) == Some(identity.public_key()) {
            self.learn(now, identity, key);
            self.handle_authenticated(now, local, from, packet);
            return;
        }
        let hello = PendingHello {
            local,
            from,
            key,
            identity,
            packet,
        };
        match self
            .pending
            .offer(now, identity.address(), from.ip(), hello)
        {
            Offer::Queued => self.start_validations(now),
            Offer::Refused => self.stats.dropped_rate_limited += 1,
        }
    }

    /// ERROR(IDENTITY_COLLISION), sent under the key of the identity that collided, straight
    /// to where it came from (it is not our peer).
    fn send_collision_error(
        &mut self,
        local: LocalSocket,
        from: SocketAddr,
        identity: Identity,
        key: crate::crypto::SymmetricKey,
        packet_id: u64,
    ) {
        let repr = ErrorRepr {
            in_re_verb: Verb::Hello,
            in_re_packet_id: packet_id,
            code: ErrorCode::IdentityCollision,
            network_id: None,
        };
        let mut payload = vec![0u8; repr.buffer_len()];
        if repr.emit(&mut Writer::new(&mut payload)).is_ok() {
            let path = Path::new(local, from, 0, 0);
            self.send_with_key(identity.address(), &key, path, Verb::Error, &payload);
        }
    }

    /// A dearmored packet from a known peer. Replays are dropped; a direct packet records
    /// its path (unconfirmed if new, and probed), and answers go to confirmed paths only, or
    /// within the credit of the path they came on.
    pub(super) fn handle_authenticated(
        &mut self,
        now: u64,
        local: LocalSocket,
        from: SocketAddr,
        packet: Vec<u8>,
    ) {
        let Ok(view) = PacketView::new_checked(&packet[..]) else {
            return;
        };
        let source = view.source();
        let hops = view.hops();
        let packet_id = view.packet_id();
        let verb = view.verb();
        let Some(peer) = self.peers.get_mut(source) else {
            return;
        };
        if !peer.window.accept(packet_id) {
            self.stats.dropped_replayed += 1;
            return;
        }
        let arrival = if hops == 0 {
            peer.heard_on(now, local, from, packet.len())
        } else {
            peer.last_receive = now;
            None
        };
        let Ok(verb) = verb else {
            self.stats.dropped_unknown_verb += 1;
            return;
        };
        let mut decompressed;
        let mut payload = view.payload();
        if view.verb_byte() & VERB_FLAG_COMPRESSED != 0 {
            decompressed = vec![0u8; MAX_PACKET_LEN - HEADER_LEN];
            match decompress_payload(payload, &mut decompressed) {
                Ok(n) => {
                    decompressed.truncate(n);
                    payload = &decompressed;
                }
                Err(_) => {
                    self.stats.dropped_malformed += 1;
                    return;
                }
            }
        }
        let rq = Request {
            source,
            packet_id,
            arrival,
        };
        self.dispatch(now, rq, verb, payload, (hops == 0).then_some(from));
        if let Some(path) = arrival {
            self.probe(now, source, path);
        }
    }

    /// Hands an authenticated request to its verb's handler, within the peer's quotas.
    fn dispatch(
        &mut self,
        now: u64,
        rq: Request,
        verb: Verb,
        payload: &[u8],
        physical: Option<SocketAddr>,
    ) {
        let source = rq.source;
        if matches!(
            verb,
            Verb::Echo | Verb::Whois | Verb::MulticastGather | Verb::NetworkConfigRequest
        ) && !self.quota(now, source, verb)
        {
            return;
        }
        match verb {
            Verb::Hello => self.on_hello(now, rq, payload, physical),
            Verb::Echo => {
                self.stats.echos_answered += 1;
                self.reply(now, rq, Verb::Echo, payload);
            }
            Verb::Whois => self.on_whois(now, rq, payload),
            Verb::MulticastLike => self.on_like(now, source, payload),
            Verb::MulticastGather => self.on_gather(now, rq, payload),
            Verb::NetworkConfigRequest => {
                self.on_config_request(source, rq.packet_id, payload, physical)
            }
            Verb::Ok => self.on_ok(now, rq, payload),
            _ => self.stats.ignored_verbs += 1,
        }
    }

    fn on_hello(&mut self, now: u64, rq: Request, payload: &[u8], physical: Option<SocketAddr>) {
        let mut plain = payload.to_vec();
        match HelloRepr::tail_offset(&plain) {
            Ok(Some(off)) => {
                let Some(peer) = self.peers.get(rq.source) else {
                    return;
                };
                let id = rq.packet_id.to_be_bytes();
                armor::crypt_field(&peer.key, id, &mut plain[off..]);
            }
            Ok(None) => {}
            Err(_) => {
                self.stats.dropped_malformed += 1;
                return;
            }
        }
        let Ok(hello) = HelloRepr::parse(&plain) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        if hello.protocol_version < 4 {
            self.stats.dropped_malformed += 1;
            return;
        }
        let planet = matches!((&self.planet, hello.planet),
            (Some((p, _)), Some((id, ts))) if p.id == id && p.timestamp > ts);
        let newer = matches!((&self.planet, hello.planet),
            (Some((p, _)), Some((id, ts))) if p.id == id && p.timestamp < ts);
        let moon = self.moon.as_ref().is_some_and(|(m, _)| {
            hello
                .moons
                .iter()
                .any(|h| h.id == m.id && h.timestamp < m.timestamp)
        });
        let mut owed = DeferredHello {
            packet_id: rq.packet_id,
            timestamp: hello.timestamp,
            protocol_version: hello.protocol_version,
            planet,
            moon,
        };
        let Some(peer) = self.peers.get_mut(rq.source) else {
            return;
        };
        peer.protocol_version = hello.protocol_version;
        peer.version = (hello.major, hello.minor, hello.revision);
        // Worlds are larger than a HELLO: they go only to a confirmed path, so an unconfirmed
        // one gets the short answer now and the worlds once the probe is answered.
        if (planet || moon) && rq.arrival.is_some_and(|a| !a.confirmed) {
            peer.deferred = Some(owed);
            owed.planet = false;
            owed.moon = false;
        }
        let Some(observed) = physical.or_else(|| peer.best_path(now, None).map(|p| p.remote))
        else {
            return;
        };
        let body = self.hello_body(owed, observed);
        self.stats.hellos_answered += 1;
        self.reply(now, rq, Verb::Hello, &body);
        // After the answer, which the path's credit must pay for first.
        if newer {
            self.fetch_planet(now, rq);
        }
    }

    /// The body of OK(HELLO): the echoed timestamp, our versions, the address the HELLO came
    /// from, and the worlds the peer lacks.
    fn hello_body(&self, h: DeferredHello, from: SocketAddr) -> Vec<u8> {
        let mut worlds = Vec::new();
        if let (true, Some((_, bytes))) = (h.planet, &self.planet) {
            worlds.extend_from_slice(bytes);
        }
        if let (true, Some((_, bytes))) = (h.moon, &self.moon) {
            worlds.extend_from_slice(bytes);
        }
        let mut observed = InetAddress::from_socket(from);
        if h.protocol_version < 5 {
            observed = match observed {
                InetAddress::V4(ip, _) => InetAddress::V4(ip, 0),
                InetAddress::V6(ip, _) => InetAddress::V6(ip, 0),
                InetAddress::Nil => InetAddress::Nil,
            };
        }
        let (major, minor, revision) = SOFTWARE_VERSION;
        let ok = OkHelloRepr {
            timestamp: h.timestamp,
            protocol_version: PROTOCOL_VERSION,
            major,
            minor,
            revision,
            observed,
            worlds: &worlds,
        };
        let mut body = vec![0u8; ok.buffer_len()];
        match ok.emit(&mut Writer::new(&mut body)) {
            Ok(_) => body,
            Err(_) => Vec::new(),
        }
    }

    /// Sends the OK(HELLO) with worlds that was owed until a path was confirmed (clients
    /// accept a second OK for a HELLO they sent moments ago).
    pub(super) fn answer_hello(
        &mut self,
        now: u64,
        to: Address,
        h: DeferredHello,
        path: Option<Path>,
    ) {
        let Some(path) = path else { return };
        let body = self.hello_body(h, path.remote);
        let rq = Request {
            source: to,
            packet_id: h.packet_id,
            arrival: Some(path),
        };
        self.reply(now, rq, Verb::Hello, &body);
    }

    fn on_whois(&mut self, now: u64, rq: Request, payload: &[u8]) {
        let Ok(req) = WhoisRepr::parse_request(payload) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        // Each address answered once, however often it is asked for.
        let mut asked: Vec<Address> = Vec::new();
        for a in req.addresses() {
            if asked.len() >= MAX_WHOIS_IDENTITIES {
                break;
            }
            if !asked.contains(&a) {
                asked.push(a);
            }
        }
        let mut body = Vec::new();
        for a in asked {
            let id = if a == self.address {
                Some(*self.identity.identity())
            } else {
                self.peers.get(a).map(|p| p.identity)
            };
            match id {
                Some(id) => {
                    let repr = id.to_repr();
                    let start = body.len();
                    body.resize(start + repr.buffer_len(), 0);
                    let _ = repr.emit(&mut Writer::new(&mut body[start..]));
                }
                None => self.stats.whois_unknown += 1,
            }
        }
        if !body.is_empty() {
            self.stats.whois_answered += 1;
            self.reply(now, rq, Verb::Whois, &body);
        }
    }

    fn on_like(&mut self, now: u64, source: Address, payload: &[u8]) {
        let Ok(like) = LikeRepr::parse(payload) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        for sub in like.subscriptions() {
            if self.owns(sub.network_id) && !self.multicast.is_admitted(sub.network_id, source) {
                self.stats.dropped_not_member += 1;
                continue;
            }
            self.stats.multicast_likes += 1;
            self.multicast.like(now, sub, source);
        }
    }

    fn on_gather(&mut self, now: u64, rq: Request, payload: &[u8]) {
        let source = rq.source;
        let Ok(gather) = GatherRepr::parse(payload) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        // Who is in one of our networks is told only to its members.
        let network = gather.group.network_id;
        if self.owns(network) && !self.multicast.is_admitted(network, source) {
            self.stats.dropped_not_member += 1;
            return;
        }
        self.multicast.like(now, gather.group, source);
        let limit = (gather.limit as usize).min(MAX_GATHER_RESULTS);
        let offset = self.rng_offset();
        let (found, total) = self.multicast.gather(&gather.group, source, limit, offset);
        if found.is_empty() {
            return;
        }
        let addresses: Vec<u8> = found.iter().flat_map(|a| a.to_bytes()).collect();
        let Ok(ok) = OkGatherRepr::new(gather.group, total, &addresses) else {
            return;
        };
        let mut body = vec![0u8; ok.buffer_len()];
        if ok.emit(&mut Writer::new(&mut body)).is_ok() {
            self.stats.multicast_gathers += 1;
            self.reply(now, rq, Verb::MulticastGather, &body);
        }
    }

    fn on_config_request(
        &mut self,
        source: Address,
        packet_id: u64,
        payload: &[u8],
        physical: Option<SocketAddr>,
    ) {
        let Ok(req) = ConfigRequest::parse(payload) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let Some(from) = self.peers.get(source).map(|p| p.identity) else {
            return;
        };
        self.stats.config_requests += 1;
        self.push_event(Event::ConfigRequest(ConfigRequestEvent {
            from,
            packet_id,
            network_id: req.network_id,
            metadata: req.metadata.to_vec(),
            physical,
        }));
    }

    fn rng_offset(&mut self) -> usize {
        use crate::crypto::Entropy;
        (self.rng.next_u64() % 1_000_003) as usize
    }
}
