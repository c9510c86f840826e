//! The other roots of our planet. A planet may list several roots (each a ztcd, all signing
//! with one shared planet key). Each root says HELLO to the others every
//! [`ROOT_HELLO_INTERVAL_MS`], and at once when its planet changes, so that
//! - the roots hold confirmed paths to one another: a client that reaches only one root
//!   still reaches a controller behind another one, relayed;
//! - a newer planet (a root re-issued it because its address changed) reaches every root in
//!   the OK(HELLO) answering such a HELLO, and from there every client at its next HELLO.
//!
//! A HELLO from any peer announcing a newer version of our planet is answered with a HELLO
//! of our own, so that its OK brings that version (a root that just joined the planet
//! announces itself this way). Only the OK answering a HELLO we sent is read for worlds, and
//! a world is adopted only under the replacement rule (same ID, newer, signed by the key the
//! current version names).

use std::net::SocketAddr;

use super::handlers::Request;
use super::peer::LocalSocket;
use super::{Event, Node, PROTOCOL_VERSION, Peer, SOFTWARE_VERSION, Transmit};
use crate::crypto::Entropy;
use crate::crypto::armor::{self, Cipher};
use crate::identity::Identity;
use crate::limits::{MAX_SENT_HELLOS, PLANET_FETCH_INTERVAL_MS, ROOT_HELLO_INTERVAL_MS};
use crate::wire::packet::HEADER_LEN;
use crate::wire::verbs::{HelloRepr, OkHelloRepr};
use crate::wire::world::{World, WorldKind};
use crate::wire::{Address, Header, InetAddress, Reader, Verb, Writer};

/// A HELLO we sent: only the OK answering one of these is read for worlds, and it confirms
/// only the path the HELLO went out on.
#[derive(Clone, Copy, Debug)]
pub(super) struct SentHello {
    to: Address,
    local: LocalSocket,
    remote: SocketAddr,
    pub(super) at: u64,
}

/// One other root of our planet as `/status` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootStatus {
    /// Its address.
    pub address: Address,
    /// The endpoints the planet lists for it.
    pub endpoints: Vec<InetAddress>,
    /// Where it was last heard from directly, if anywhere.
    pub path: Option<SocketAddr>,
    /// How long ago anything was heard from it, ms (`None`: never).
    pub heard_ago: Option<u64>,
    /// Round trip of its best confirmed path, ms.
    pub latency: Option<u32>,
}

impl Node {
    /// The planet we serve.
    pub fn planet(&self) -> Option<&World> {
        self.planet.as_ref().map(|(w, _)| w)
    }

    /// Serves `planet` and `moon` from now on (re-issued with new endpoints, or adopted) and
    /// tells the other roots at once. When our own endpoints changed, every confirmed path is
    /// probed at once: those that died with our old address go unanswered, and packets for
    /// those peers then go through another root ([`Node::route`]).
    pub fn set_worlds(&mut self, now: u64, planet: Option<World>, moon: Option<World>) {
        let ours =
            |p: Option<&World>| p.and_then(|w| crate::world::root_endpoints(w, self.address));
        let moved = ours(self.planet()) != ours(planet.as_ref());
        let encode = |w: World| w.to_bytes().ok().map(|b| (w, b));
        self.planet = planet.and_then(encode);
        self.moon = moon.and_then(encode);
        self.next_root_hello = now;
        if moved {
            let paths: Vec<(Address, super::Path)> = self
                .peers
                .iter()
                .filter_map(|p| Some((p.identity.address(), p.best_path(now, None)?)))
                .collect();
            for (to, path) in paths {
                self.send_probe(now, to, path);
            }
        }
    }

    /// Where to send a packet for `to` whose best direct path is `best`: that path, unless
    /// it is missing or its probe went unanswered and another root of our planet has a
    /// confirmed path (the packet is then sent there, addressed to `to`, and relayed).
    pub(super) fn route(
        &self,
        now: u64,
        to: Address,
        best: Option<super::Path>,
    ) -> Option<super::Path> {
        if best.is_some_and(|p| !p.is_unanswered(now)) {
            return best;
        }
        let Some((planet, _)) = &self.planet else {
            return best;
        };
        let via = planet
            .roots
            .iter()
            .map(|r| r.identity.address)
            .filter(|a| *a != self.address && *a != to)
            .find_map(|a| {
                let p = self.peers.get(a)?.best_path(now, None)?;
                (!p.is_unanswered(now)).then_some(p)
            });
        via.or(best)
    }

    /// The other roots of our planet, with what we know of them.
    pub fn roots(&self, now: u64) -> Vec<RootStatus> {
        self.other_roots()
            .into_iter()
            .map(|(identity, endpoints)| {
                let peer = self.peers.get(identity.address());
                RootStatus {
                    address: identity.address(),
                    endpoints,
                    path: peer.and_then(|p| p.best_path(now, None)).map(|p| p.remote),
                    heard_ago: peer
                        .filter(|p| !p.paths.is_empty())
                        .map(|p| now.saturating_sub(p.last_receive)),
                    latency: peer.and_then(|p| p.latency(now)),
                }
            })
            .collect()
    }

    fn other_roots(&self) -> Vec<(Identity, Vec<InetAddress>)> {
        let Some((planet, _)) = &self.planet else {
            return Vec::new();
        };
        planet
            .roots
            .iter()
            .filter(|r| r.identity.address != self.address)
            .map(|r| (Identity::from(r.identity), r.endpoints.to_vec()))
            .collect()
    }

    /// When the next round of HELLOs to the other roots is due.
    /// (Asked on every wake-up of the loop: looks at the planet without copying anything.)
    pub(super) fn root_deadline(&self) -> u64 {
        let others = self
            .planet
            .as_ref()
            .is_some_and(|(p, _)| p.roots.iter().any(|r| r.identity.address != self.address));
        if others {
            self.next_root_hello
        } else {
            u64::MAX
        }
    }

    /// Says HELLO to every other root: at each endpoint the planet lists and on its best
    /// confirmed path (it may have moved before a planet saying so reached us).
    pub(super) fn hello_roots(&mut self, now: u64) {
        if now < self.next_root_hello {
            return;
        }
        self.next_root_hello = now + ROOT_HELLO_INTERVAL_MS;
        for (identity, endpoints) in self.other_roots() {
            self.know_root(now, identity);
            let address = identity.address();
            let mut targets: Vec<(LocalSocket, SocketAddr)> = endpoints
                .iter()
                .filter_map(|e| e.to_socket())
                .map(|s| (LocalSocket::ANY, s))
                .collect();
            let best = self.peers.get(address).and_then(|p| p.best_path(now, None));
            if let Some(p) = best.filter(|p| !targets.iter().any(|t| t.1 == p.remote)) {
                targets.push((p.local, p.remote));
            }
            for (local, to) in targets {
                self.send_hello(now, address, local, to);
            }
        }
    }

    /// A root listed in our own signed planet is trusted without a proof-of-work check, and
    /// gets a peer entry (with the agreed key) before it ever said anything.
    fn know_root(&mut self, now: u64, identity: Identity) {
        let address = identity.address();
        self.validated.insert(address, *identity.public_key());
        if self
            .peers
            .get(address)
            .is_some_and(|p| p.identity == identity)
        {
            return;
        }
        let key = match self.keys.get(&address) {
            Some((public, key)) if public == identity.public_key() => key.clone(),
            _ => {
                self.stats.agreements += 1;
                self.identity.agree(&identity)
            }
        };
        self.remember_key(identity, &key);
        self.peers.insert(Peer::new(identity, key, now));
    }

    /// A HELLO from `rq.source` announced a newer version of our planet: says HELLO back on
    /// the path it came on, so its OK brings that version. At most one per
    /// [`PLANET_FETCH_INTERVAL_MS`]; to a peer that is not one of our roots only within the
    /// credit of an unconfirmed path (never more than came from it).
    pub(super) fn fetch_planet(&mut self, now: u64, rq: Request) {
        let Some(path) = rq.arrival else { return };
        if now < self.next_planet_fetch {
            return;
        }
        let root = self
            .other_roots()
            .iter()
            .any(|(id, _)| id.address() == rq.source);
        let hello_len = HEADER_LEN + self.our_hello(now, InetAddress::Nil).buffer_len();
        if !root && !path.confirmed {
            let Some(peer) = self.peers.get_mut(rq.source) else {
                return;
            };
            if !peer.spend(path.local, path.remote, hello_len) {
                self.stats.dropped_unconfirmed_path += 1;
                return;
            }
        }
        self.next_planet_fetch = now + PLANET_FETCH_INTERVAL_MS;
        self.send_hello(now, rq.source, path.local, path.remote);
    }

    fn our_hello(&self, now: u64, sent_to: InetAddress) -> HelloRepr {
        let (major, minor, revision) = SOFTWARE_VERSION;
        HelloRepr {
            protocol_version: PROTOCOL_VERSION,
            major,
            minor,
            revision,
            timestamp: now,
            identity: self.identity.identity().to_repr(),
            destination: Some(sent_to),
            planet: self.planet.as_ref().map(|(p, _)| (p.id, p.timestamp)),
            moons: heapless::Vec::new(),
        }
    }

    /// Sends a HELLO (authenticated, not encrypted, as every HELLO) to `to` at `remote`, and
    /// remembers it so its OK is recognized.
    fn send_hello(&mut self, now: u64, to: Address, local: LocalSocket, remote: SocketAddr) {
        if self.sent_hellos.len() >= MAX_SENT_HELLOS {
            self.sent_hellos
                .retain(|_, s| now.saturating_sub(s.at) < ROOT_HELLO_INTERVAL_MS);
            if self.sent_hellos.len() >= MAX_SENT_HELLOS {
                return;
            }
        }
        let Some(key) = self.peers.get(to).map(|p| p.key.clone()) else {
            return;
        };
        let hello = self.our_hello(now, InetAddress::from_socket(remote));
        let packet_id = self.rng.next_u64();
        let mut packet = vec![0u8; HEADER_LEN + hello.buffer_len()];
        let header = Header {
            packet_id,
            destination: to,
            source: self.address,
            verb: Verb::Hello,
        };
        if header.emit(&mut packet).is_err()
            || hello
                .emit(&mut Writer::new(&mut packet[HEADER_LEN..]))
                .is_err()
        {
            return;
        }
        if let Some(off) = hello.emitted_tail_offset() {
            armor::crypt_field(
                &key,
                packet_id.to_be_bytes(),
                &mut packet[HEADER_LEN + off..],
            );
        }
        if armor::armor(&mut packet, &key, Cipher::Poly1305None).is_err() {
            return;
        }
        let sent = SentHello {
            to,
            local,
            remote,
            at: now,
        };
        self.sent_hellos.insert(packet_id, sent);
        self.stats.root_hellos_sent += 1;
        if let Some(p) = self
            .peers
            .get_mut(to)
            .and_then(|p| p.path_mut(local, remote))
        {
            p.last_send = now;
        }
        self.push_transmit(Transmit {
            local,
            to: remote,
            data: packet,
        });
    }

    /// An OK(HELLO): read only when it answers a HELLO we sent. Coming back from where that
    /// HELLO went, it confirms that path (with its round trip); it may carry a newer planet.
    /// The first answer that carries worlds uses the HELLO up (the one before it may have had
    /// to leave them out), so one HELLO costs at most one signature check.
    pub(super) fn on_ok_hello(&mut self, now: u64, rq: Request, in_re: u64, body: &[u8]) {
        let Some(sent) = self
            .sent_hellos
            .get(&in_re)
            .copied()
            .filter(|s| s.to == rq.source)
        else {
            self.stats.ignored_verbs += 1;
            return;
        };
        let Ok(ok) = OkHelloRepr::parse(body) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let same_way = |p: &super::Path| {
            p.remote == sent.remote && (p.local == sent.local || sent.local == LocalSocket::ANY)
        };
        if let (Some(path), Some(peer)) = (rq.arrival, self.peers.get_mut(rq.source))
            && same_way(&path)
        {
            peer.protocol_version = ok.protocol_version;
            peer.version = (ok.major, ok.minor, ok.revision);
            if peer.answered(now, path.local, path.remote, sent.at) {
                self.stats.paths_confirmed += 1;
            }
        }
        if ok.worlds.is_empty() {
            return;
        }
        self.sent_hellos.remove(&in_re);
        // Only the first planet an answer carries is looked at.
        let mut r = Reader::new(ok.worlds);
        while !r.is_empty() {
            let Ok(world) = World::parse(&mut r) else {
                self.stats.dropped_malformed += 1;
                return;
            };
            if world.kind == WorldKind::Planet {
                self.offer_planet(now, world);
                return;
            }
        }
    }

    /// Adopts `world` if it replaces our planet (and reports it, for the runtime to store).
    fn offer_planet(&mut self, now: u64, world: World) {
        let Some((current, _)) = &self.planet else {
            return;
        };
        if current.id == 0 || !crate::world::should_replace(Some(current), &world) {
            return;
        }
        let Ok(bytes) = world.to_bytes() else { return };
        self.planet = Some((world.clone(), bytes));
        self.stats.planets_adopted += 1;
        self.next_root_hello = now;
        self.push_event(Event::PlanetAdopted(Box::new(world)));
    }
}
