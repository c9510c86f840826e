//! Handling of packets addressed to us: authentication, HELLO from new identities, and one
//! handler per verb a root or controller answers.

use std::net::SocketAddr;

use super::gate::Offer;
use super::{ConfigRequestEvent, Event, Node, PROTOCOL_VERSION, PendingHello, SOFTWARE_VERSION};
use crate::crypto::armor;
use crate::identity::Identity;
use crate::limits::{MAX_GATHER_RESULTS, MAX_PACKET_LEN, MAX_WHOIS_IDENTITIES};
use crate::node::peer::{LocalSocket, Path};
use crate::wire::packet::{HEADER_LEN, VERB_FLAG_COMPRESSED, decompress_payload};
use crate::wire::verbs::{
    ConfigRequest, ErrorCode, ErrorRepr, GatherRepr, HelloRepr, LikeRepr, OkGatherRepr, OkHeader,
    OkHelloRepr, WhoisRepr,
};
use crate::wire::{Address, IdentityRepr, InetAddress, PacketView, Reader, Verb, Writer};

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
        let cleartext_hello = view.cipher() == 0 && view.verb_byte() & 0x1f == Verb::Hello as u8;
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
        let key = self.identity.agree(&identity);
        if armor::dearmor(&mut packet, &key).is_err() {
            self.stats.dropped_bad_mac += 1;
            return;
        }
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
            let path = Path {
                local,
                remote: from,
                last_receive: 0,
            };
            self.send_with_key(identity.address(), &key, path, Verb::Error, &payload);
        }
    }

    /// A dearmored packet from a known peer.
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
        let Some(peer) = self.peers.get_mut(source) else {
            return;
        };
        if hops == 0 {
            peer.heard_on(now, local, from);
        } else {
            peer.last_receive = now;
        }
        let Ok(verb) = view.verb() else {
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
        let physical = (hops == 0).then_some(from);
        match verb {
            Verb::Hello => self.on_hello(now, source, packet_id, payload, from),
            Verb::Echo => {
                self.stats.echos_answered += 1;
                self.send_ok(now, source, Verb::Echo, packet_id, payload);
            }
            Verb::Whois => self.on_whois(now, source, packet_id, payload),
            Verb::MulticastLike => self.on_like(now, source, payload),
            Verb::MulticastGather => self.on_gather(now, source, packet_id, payload),
            Verb::NetworkConfigRequest => {
                self.on_config_request(source, packet_id, payload, physical)
            }
            _ => self.stats.ignored_verbs += 1,
        }
    }

    /// Sends OK(in re `verb`, `packet_id`) with `body`.
    fn send_ok(&mut self, now: u64, to: Address, verb: Verb, packet_id: u64, body: &[u8]) {
        let mut payload = vec![0u8; OkHeader::LEN + body.len()];
        let header = OkHeader {
            in_re_verb: verb,
            in_re_packet_id: packet_id,
        };
        if header.emit(&mut Writer::new(&mut payload)).is_ok() {
            payload[OkHeader::LEN..].copy_from_slice(body);
            self.send(now, to, Verb::Ok, &payload, None);
        }
    }

    fn on_hello(
        &mut self,
        now: u64,
        source: Address,
        packet_id: u64,
        payload: &[u8],
        from: SocketAddr,
    ) {
        let mut plain = payload.to_vec();
        match HelloRepr::tail_offset(&plain) {
            Ok(Some(off)) => {
                let Some(peer) = self.peers.get(source) else {
                    return;
                };
                let id = packet_id.to_be_bytes();
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
        if let Some(peer) = self.peers.get_mut(source) {
            peer.protocol_version = hello.protocol_version;
            peer.version = (hello.major, hello.minor, hello.revision);
        }
        let mut worlds = Vec::new();
        if let (Some((planet, bytes)), Some((id, ts))) = (&self.planet, hello.planet)
            && planet.id == id
            && planet.timestamp > ts
        {
            worlds.extend_from_slice(bytes);
        }
        if let Some((moon, bytes)) = &self.moon
            && hello
                .moons
                .iter()
                .any(|m| m.id == moon.id && m.timestamp < moon.timestamp)
        {
            worlds.extend_from_slice(bytes);
        }
        let mut observed = InetAddress::from_socket(from);
        if hello.protocol_version < 5 {
            observed = match observed {
                InetAddress::V4(ip, _) => InetAddress::V4(ip, 0),
                InetAddress::V6(ip, _) => InetAddress::V6(ip, 0),
                InetAddress::Nil => InetAddress::Nil,
            };
        }
        let (major, minor, revision) = SOFTWARE_VERSION;
        let ok = OkHelloRepr {
            timestamp: hello.timestamp,
            protocol_version: PROTOCOL_VERSION,
            major,
            minor,
            revision,
            observed,
            worlds: &worlds,
        };
        let mut body = vec![0u8; ok.buffer_len()];
        if ok.emit(&mut Writer::new(&mut body)).is_ok() {
            self.stats.hellos_answered += 1;
            self.send_ok(now, source, Verb::Hello, packet_id, &body);
        }
    }

    fn on_whois(&mut self, now: u64, source: Address, packet_id: u64, payload: &[u8]) {
        let Ok(req) = WhoisRepr::parse_request(payload) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let mut body = Vec::new();
        for a in req.addresses().take(MAX_WHOIS_IDENTITIES) {
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
            self.send_ok(now, source, Verb::Whois, packet_id, &body);
        }
    }

    fn on_like(&mut self, now: u64, source: Address, payload: &[u8]) {
        let Ok(like) = LikeRepr::parse(payload) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        for sub in like.subscriptions() {
            self.stats.multicast_likes += 1;
            self.multicast.like(now, sub, source);
        }
    }

    fn on_gather(&mut self, now: u64, source: Address, packet_id: u64, payload: &[u8]) {
        let Ok(gather) = GatherRepr::parse(payload) else {
            self.stats.dropped_malformed += 1;
            return;
        };
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
            self.send_ok(now, source, Verb::MulticastGather, packet_id, &body);
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
