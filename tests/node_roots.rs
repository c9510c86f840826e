//! Two roots of one planet, simulated in process with a virtual clock: they say HELLO to each
//! other, hold confirmed paths to one another, and a planet one of them re-issues (its
//! address changed) reaches the other through OK(HELLO) and from there a client that only
//! reaches the other. A forged or unsolicited planet is never adopted.

mod common;

use std::net::SocketAddr;

use common::client::SimPeer;
use ztcd::crypto::SeededEntropy;
use ztcd::crypto::c25519::KeyPair;
use ztcd::crypto::hashcash::Scratch;
use ztcd::identity::IdentitySecret;
use ztcd::limits::ROOT_HELLO_INTERVAL_MS;
use ztcd::node::{Event, LocalSocket, Node, NodeConfig, Transmit};
use ztcd::wire::verbs::OkHelloRepr;
use ztcd::wire::world::{World, WorldKind};
use ztcd::wire::{InetAddress, Reader, Verb};

const A_OLD: &str = "10.0.0.1:9993";
const A_NEW: &str = "10.0.0.9:9993";
const B: &str = "10.0.0.2:9993";

fn at(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ep(s: &str) -> InetAddress {
    InetAddress::from_socket(at(s))
}

fn planet(key: &KeyPair, ts: u64, a: &IdentitySecret, a_at: &str, b: &IdentitySecret) -> World {
    ztcd::world::make(
        WorldKind::Planet,
        4242,
        ts,
        &[
            (*a.identity(), vec![ep(a_at)]),
            (*b.identity(), vec![ep(B)]),
        ],
        key,
    )
    .unwrap()
}

struct Bed {
    a: Node,
    b: Node,
    a_at: SocketAddr,
    now: u64,
    /// Planets the nodes reported adopting: (which node, timestamp).
    adopted: Vec<(char, u64)>,
    /// Datagrams the nodes sent to anyone else: (which node, datagram).
    elsewhere: Vec<(char, Transmit)>,
}

impl Bed {
    /// Delivers every datagram between the two nodes until none is left, running timers.
    fn run(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
            for _ in 0..20 {
                let from_a: Vec<Transmit> = std::iter::from_fn(|| self.a.poll_transmit()).collect();
                let from_b: Vec<Transmit> = std::iter::from_fn(|| self.b.poll_transmit()).collect();
                if from_a.is_empty() && from_b.is_empty() {
                    break;
                }
                for t in from_a {
                    if t.to == at(B) {
                        self.b
                            .handle_datagram(self.now, LocalSocket(0), self.a_at, &t.data);
                    } else {
                        self.elsewhere.push(('a', t));
                    }
                }
                for t in from_b {
                    if t.to == self.a_at {
                        self.a
                            .handle_datagram(self.now, LocalSocket(0), at(B), &t.data);
                    } else {
                        self.elsewhere.push(('b', t));
                    }
                }
                self.events();
            }
            self.now += 500;
        }
    }

    fn events(&mut self) {
        for (name, node) in [('a', &mut self.a), ('b', &mut self.b)] {
            while let Some(e) = node.poll_event() {
                match e {
                    Event::PlanetAdopted(w) => self.adopted.push((name, w.timestamp)),
                    Event::ValidateIdentity(id) => {
                        let ok = id.validate(&mut Scratch::new()).is_ok();
                        node.identity_checked(self.now, id, ok);
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Client `c` (holding planet v1) says HELLO to root `which` and answers its probes; returns
/// the worlds the root's OK(HELLO)s carried.
fn talk(bed: &mut Bed, which: char, c: &mut SimPeer, root: &IdentitySecret) -> Vec<World> {
    let (_, hello) = c.hello(root.identity(), (4242, 1000));
    let mut worlds = Vec::new();
    let c_at = c.addr;
    let node = if which == 'a' { &mut bed.a } else { &mut bed.b };
    c.deliver(node, bed.now, &[hello]);
    for _ in 0..5 {
        while let Some(e) = node.poll_event() {
            if let Event::ValidateIdentity(id) = e {
                let ok = id.validate(&mut Scratch::new()).is_ok();
                node.identity_checked(bed.now, id, ok);
            }
        }
        let sent: Vec<Transmit> = std::iter::from_fn(|| node.poll_transmit()).collect();
        for t in sent.iter().filter(|t| t.to == c_at) {
            let (h, body) = c.open(root.identity(), t.data.clone()).unwrap();
            if h.verb == Verb::Echo {
                let answer = c.answer_echo(root.identity(), &h, &body);
                c.deliver(node, bed.now, &answer);
            } else if h.verb == Verb::Ok {
                let ok = OkHelloRepr::parse(&body[ztcd::wire::verbs::OkHeader::LEN..]).unwrap();
                let mut r = Reader::new(ok.worlds);
                while !r.is_empty() {
                    worlds.push(World::parse(&mut r).unwrap());
                }
            }
        }
    }
    worlds
}

/// Roots A and B (and a client identity) from `seed`, both serving planet v1 of a shared
/// key: the bed, the identities, the key and v1.
fn bed(seed: u64) -> (Bed, [IdentitySecret; 3], KeyPair, World) {
    let mut rng = SeededEntropy::new(seed);
    let mut scratch = Scratch::new();
    let ids = [(); 3].map(|()| IdentitySecret::generate(&mut rng, &mut scratch));
    let key = KeyPair::generate(&mut rng);
    let v1 = planet(&key, 1000, &ids[0], A_OLD, &ids[1]);
    let bed = Bed {
        a: node(&ids[0], v1.clone()),
        b: node(&ids[1], v1.clone()),
        a_at: at(A_OLD),
        now: 10_000,
        adopted: Vec::new(),
        elsewhere: Vec::new(),
    };
    (bed, ids, key, v1)
}

fn node(identity: &IdentitySecret, planet: World) -> Node {
    Node::new(NodeConfig {
        identity: identity.clone(),
        planet: Some(planet),
        moon: None,
        rng_seed: u64::from(identity.address().to_u64() as u32),
        limits: ztcd::limits::TableLimits::default(),
    })
}

#[test]
fn a_moved_root_reaches_clients_through_the_other_root() {
    let (mut bed, [ia, ib, ic], key, v1) = bed(5);
    bed.run(2_000);
    // Each holds a confirmed path to the other, found from the planet alone.
    let roots_b = bed.b.roots(bed.now);
    assert_eq!(roots_b.len(), 1);
    assert_eq!(roots_b[0].address, ia.address());
    assert_eq!(roots_b[0].path, Some(at(A_OLD)), "{roots_b:?}");
    assert!(roots_b[0].latency.is_some());
    assert_eq!(bed.a.roots(bed.now)[0].path, Some(at(B)));
    assert_eq!(bed.a.stats().validations + bed.b.stats().validations, 0);

    // A client holding v1 is online through A (a confirmed direct path), and known to B.
    let mut c = SimPeer::new(ic, "10.0.5.5:40000");
    talk(&mut bed, 'a', &mut c, &ia);
    talk(&mut bed, 'b', &mut c, &ib);
    assert!(
        bed.a
            .peer(c.address())
            .unwrap()
            .best_path(bed.now, None)
            .is_some()
    );

    // A's address changes; it re-issues the planet and serves it from its new address.
    let v2 = planet(&key, 2000, &ia, A_NEW, &ib);
    bed.a_at = at(A_NEW);
    bed.a.set_worlds(bed.now, Some(v2.clone()), None);
    bed.run(2_000);
    assert_eq!(bed.adopted, vec![('b', 2000)]);
    assert_eq!(bed.b.planet().unwrap().timestamp, 2000);
    assert_eq!(bed.b.roots(bed.now)[0].path, Some(at(A_NEW)));
    assert_eq!(bed.b.stats().planets_adopted, 1);

    // A probed its paths when it moved; the client's went unanswered (it cannot reach A's
    // new address), so what A sends it now goes through B, which relays it.
    bed.run(ztcd::limits::PROBE_ANSWER_TIMEOUT_MS);
    bed.elsewhere.clear();
    assert!(bed.a.send(bed.now, c.address(), Verb::Echo, &[], None));
    bed.run(500);
    // B relays A's packet to the client (and introduces the two with a RENDEZVOUS).
    let relayed: Vec<Verb> = bed
        .elsewhere
        .iter()
        .filter(|(who, t)| *who == 'b' && t.to == c.addr)
        .filter_map(|(_, t)| c.open(ia.identity(), t.data.clone()))
        .map(|(h, _)| h.verb)
        .collect();
    assert_eq!(relayed, [Verb::Echo], "{:?}", bed.elsewhere);
    assert_eq!(bed.b.stats().relayed_packets, 1);

    // The client (still holding v1) gets v2 in B's OK(HELLO).
    let worlds = talk(&mut bed, 'b', &mut c, &ib);
    assert!(
        worlds.iter().any(|w| w.id == 4242 && w.timestamp == 2000),
        "the client got the new planet through B"
    );
    assert!(ztcd::world::should_replace(Some(&v1), &v2));
}

#[test]
fn a_planet_signed_by_another_key_is_never_adopted() {
    let (mut bed, [ia, ib, _], _, _) = bed(6);
    bed.run(2_000);
    // A turns rogue (or its key is not the planet's): a newer planet under another key.
    let other = KeyPair::generate(&mut SeededEntropy::new(7));
    let forged = planet(&other, 9000, &ia, A_NEW, &ib);
    bed.a.set_worlds(bed.now, Some(forged), None);
    bed.run(ROOT_HELLO_INTERVAL_MS * 2);
    assert!(bed.adopted.is_empty(), "{:?}", bed.adopted);
    assert_eq!(bed.b.planet().unwrap().timestamp, 1000);
}

/// A client makes the root fetch a planet (its HELLO announces a newer one), then answers the
/// root's HELLO from a forged address: the forged address never becomes its path, and the
/// answer, once it carried worlds, cannot be used again.
#[test]
fn an_answer_from_elsewhere_confirms_no_path() {
    use ztcd::wire::verbs::OkHeader;
    let (mut bed, [_, ib, ic], _, _) = bed(8);
    bed.run(1_000);
    let mut c = SimPeer::new(ic, "10.0.5.5:40000");
    talk(&mut bed, 'b', &mut c, &ib);
    let confirmed_before = bed.b.stats().paths_confirmed;
    // A HELLO announcing a newer planet of ours: B says HELLO back to fetch it.
    bed.now += 3_000;
    let (_, hello) = c.hello(ib.identity(), (4242, 9_999_999));
    c.deliver(&mut bed.b, bed.now, &[hello]);
    let sent: Vec<Transmit> = std::iter::from_fn(|| bed.b.poll_transmit()).collect();
    let fetch = sent
        .iter()
        .filter(|t| t.to == c.addr)
        .filter_map(|t| c.open(ib.identity(), t.data.clone()))
        .find(|(h, _)| h.verb == Verb::Hello)
        .expect("B fetches the newer planet")
        .0;
    // The answer, sent from a forged address.
    let ok = OkHelloRepr {
        timestamp: 0,
        protocol_version: 11,
        major: 1,
        minor: 8,
        revision: 4,
        observed: InetAddress::from_socket(at(B)),
        worlds: &[],
    };
    let mut payload = vec![0u8; OkHeader::LEN + ok.buffer_len()];
    let head = OkHeader {
        in_re_verb: Verb::Hello,
        in_re_packet_id: fetch.packet_id,
    };
    head.emit(&mut ztcd::wire::Writer::new(&mut payload))
        .unwrap();
    ok.emit(&mut ztcd::wire::Writer::new(&mut payload[OkHeader::LEN..]))
        .unwrap();
    let (_, datagrams) = c.packet(ib.identity(), Verb::Ok, &payload);
    let forged: SocketAddr = "192.0.2.66:1234".parse().unwrap();
    for d in &datagrams {
        bed.b.handle_datagram(bed.now, LocalSocket(0), forged, d);
    }
    let peer = bed.b.peer(c.address()).unwrap();
    assert_ne!(
        peer.best_path(bed.now, None).map(|p| p.remote),
        Some(forged)
    );
    assert_eq!(bed.b.stats().paths_confirmed, confirmed_before);
}
