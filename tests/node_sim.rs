//! Deterministic simulation of the sans-IO node as a root: virtual clock, seeded identities,
//! packets built the way ZeroTier clients build them.

mod common;

use std::sync::OnceLock;

use common::client::{SimPeer, drain, packets_to};
use common::hex;
use ztcd::crypto::c25519::KeyPair;
use ztcd::crypto::hashcash::Scratch;
use ztcd::crypto::{Entropy, SeededEntropy};
use ztcd::identity::{Identity, IdentitySecret};
use ztcd::limits::{
    HOUSEKEEPING_INTERVAL_MS, MAX_PENDING_VALIDATIONS, PATH_TIMEOUT_MS, RENDEZVOUS_INTERVAL_MS,
};
use ztcd::node::{Event, LocalSocket, Node, NodeConfig};
use ztcd::wire::verbs::{
    ErrorCode, ErrorRepr, OkGatherRepr, OkHeader, OkHelloRepr, RendezvousRepr, WhoisRepr,
};
use ztcd::wire::world::{World, WorldKind};
use ztcd::wire::{Address, InetAddress, Mac, NetworkId, Reader, Verb, Writer};

/// Root, A, B identities (generated once per test binary).
fn identities() -> &'static [IdentitySecret; 3] {
    static IDS: OnceLock<[IdentitySecret; 3]> = OnceLock::new();
    IDS.get_or_init(|| {
        let mut scratch = Scratch::new();
        let mut rng = SeededEntropy::new(1234);
        [(); 3].map(|()| IdentitySecret::generate(&mut rng, &mut scratch))
    })
}

fn planet(root: &IdentitySecret, ts: u64) -> World {
    let key = KeyPair::generate(&mut SeededEntropy::new(99));
    let ep: InetAddress = "10.0.0.1/9993".parse().unwrap();
    ztcd::world::make(
        WorldKind::Planet,
        77,
        ts,
        &[(*root.identity(), vec![ep])],
        &key,
    )
    .unwrap()
}

struct Sim {
    node: Node,
    root: Identity,
    a: SimPeer,
    b: SimPeer,
    now: u64,
}

impl Sim {
    fn new() -> Self {
        let [root, a, b] = identities().clone();
        let node = Node::new(NodeConfig {
            planet: Some(planet(&root, 5000)),
            moon: None,
            identity: root.clone(),
            rng_seed: 1,
            limits: ztcd::limits::TableLimits::default(),
        });
        Self {
            node,
            root: *root.identity(),
            a: SimPeer::new(a, "10.0.0.2:9993"),
            b: SimPeer::new(b, "10.0.1.3:40000"),
            now: 1000,
        }
    }

    /// Validates every requested identity for real, as the runtime's validation thread does.
    fn run_validations(&mut self) -> usize {
        let mut n = 0;
        let mut scratch = Scratch::new();
        while let Some(e) = self.node.poll_event() {
            if let Event::ValidateIdentity(id) = e {
                let ok = id.validate(&mut scratch).is_ok();
                self.node.identity_checked(self.now, id, ok);
                n += 1;
            }
        }
        n
    }

    /// Runs validations, letting virtual time pass while the queue spaces them out.
    fn settle_validations(&mut self) {
        for _ in 0..1000 {
            self.run_validations();
            if self.node.stats().validations_queued == 0 {
                return;
            }
            self.now = self.now.max(self.node.next_deadline());
            self.node.handle_timeout(self.now);
        }
    }

    /// Delivers what the node sent peer `which`, answering its path probes (ECHO with OK, as
    /// clients do) until nothing more comes; returns the other packets, opened.
    fn exchange(&mut self, which: usize) -> Vec<(ztcd::wire::Header, Vec<u8>)> {
        let root = self.root;
        let mut out = Vec::new();
        loop {
            let tx = drain(&mut self.node);
            let peer = if which == 0 { &mut self.a } else { &mut self.b };
            let packets = packets_to(&tx, peer.addr);
            if packets.is_empty() {
                return out;
            }
            for p in packets {
                let (h, payload) = peer
                    .open(&root, p)
                    .expect("packets from the root authenticate");
                if h.verb != Verb::Echo {
                    out.push((h, payload));
                    continue;
                }
                let d = peer.answer_echo(&root, &h, &payload);
                peer.deliver(&mut self.node, self.now, &d);
            }
        }
    }

    /// Completes a HELLO exchange for peer `which` (0 = A, 1 = B), answering the path probe;
    /// returns the last OK(HELLO) body (the one with worlds, when some were owed).
    fn hello(&mut self, which: usize) -> Vec<u8> {
        let root = self.root;
        let peer = if which == 0 { &mut self.a } else { &mut self.b };
        let (id, d) = peer.hello(&root, (77, 1000));
        peer.deliver(&mut self.node, self.now, &[d]);
        self.settle_validations();
        let got = self.exchange(which);
        assert!(!got.is_empty(), "an OK(HELLO)");
        let mut last = None;
        for (h, payload) in got {
            assert_eq!(h.verb, Verb::Ok);
            let (ok, body) = OkHeader::parse(&payload).unwrap();
            assert_eq!((ok.in_re_verb, ok.in_re_packet_id), (Verb::Hello, id));
            last = Some(body.to_vec());
        }
        last.unwrap()
    }
}

#[test]
fn hello_handshake_and_planet_update() {
    let mut sim = Sim::new();
    let body = sim.hello(0);
    let ok = OkHelloRepr::parse(&body).unwrap();
    assert_eq!(ok.timestamp, 0x1234);
    assert_eq!(ok.protocol_version, 11);
    assert_eq!(ok.observed, InetAddress::from_socket(sim.a.addr));
    let mut r = Reader::new(ok.worlds);
    let w = World::parse(&mut r).unwrap();
    assert_eq!(
        (w.id, w.timestamp),
        (77, 5000),
        "older planet held → newer one sent"
    );
    assert_eq!(sim.node.stats().validations, 1);

    // A second HELLO from a known identity needs no validation.
    let body = sim.hello(0);
    assert_eq!(sim.node.stats().validations, 1);
    assert_eq!(sim.node.stats().hellos_answered, 2);
    assert!(OkHelloRepr::parse(&body).is_ok());
}

#[test]
fn echo_and_whois() {
    let mut sim = Sim::new();
    sim.hello(0);
    sim.hello(1);
    let root = sim.root;
    let (id, d) = sim.a.packet(&root, Verb::Echo, b"ping");
    sim.a.deliver(&mut sim.node, sim.now, &d);
    let tx = drain(&mut sim.node);
    let (_, payload) = sim
        .a
        .open(&root, packets_to(&tx, sim.a.addr)[0].clone())
        .unwrap();
    let (ok, body) = OkHeader::parse(&payload).unwrap();
    assert_eq!(
        (ok.in_re_verb, ok.in_re_packet_id, body),
        (Verb::Echo, id, &b"ping"[..])
    );

    let mut q = vec![0u8; 15];
    WhoisRepr::emit_request(
        &[
            sim.b.address(),
            Address::new(0x11_2233_4455),
            root.address(),
        ],
        &mut Writer::new(&mut q),
    )
    .unwrap();
    let (_, d) = sim.a.packet(&root, Verb::Whois, &q);
    sim.a.deliver(&mut sim.node, sim.now, &d);
    let tx = drain(&mut sim.node);
    let (_, payload) = sim
        .a
        .open(&root, packets_to(&tx, sim.a.addr)[0].clone())
        .unwrap();
    let (ok, body) = OkHeader::parse(&payload).unwrap();
    assert_eq!(ok.in_re_verb, Verb::Whois);
    let ids: Vec<Identity> = WhoisRepr::parse_identities(body)
        .map(|r| Identity::from(r.unwrap()))
        .collect();
    assert_eq!(ids, vec![*sim.b.id.identity(), root]);
    assert_eq!(sim.node.stats().whois_unknown, 1);
}

#[test]
fn relay_rendezvous_and_path_expiry() {
    let mut sim = Sim::new();
    sim.hello(0);
    sim.hello(1);
    let b_id = *sim.b.id.identity();
    let (_, d) = sim.a.packet(&b_id, Verb::Echo, b"to b via root");
    sim.a.deliver(&mut sim.node, sim.now, &d);
    let tx = drain(&mut sim.node);
    let to_b = packets_to(&tx, sim.b.addr);
    // B gets the relayed packet (hops 1, still authentic end to end) and a RENDEZVOUS.
    let mut relayed = None;
    let mut rendezvous_b = None;
    for p in to_b {
        if let Some((h, payload)) = sim.b.open(sim.a.id.identity(), p.clone()) {
            assert_eq!(p[18] & 0x07, 1);
            relayed = Some((h, payload));
        } else {
            rendezvous_b = sim.b.open(&sim.root, p);
        }
    }
    assert_eq!(relayed.unwrap().1, b"to b via root");
    let (h, payload) = rendezvous_b.expect("rendezvous to B");
    assert_eq!(h.verb, Verb::Rendezvous);
    let rv = RendezvousRepr::parse(&payload).unwrap();
    assert_eq!((rv.with, rv.at), (sim.a.address(), sim.a.addr));
    let to_a = packets_to(&tx, sim.a.addr);
    let (_, payload) = sim.a.open(&sim.root, to_a[0].clone()).unwrap();
    let rv = RendezvousRepr::parse(&payload).unwrap();
    assert_eq!((rv.with, rv.at), (sim.b.address(), sim.b.addr));

    // Within 30 s: relayed again, no new rendezvous.
    sim.now += 1000;
    let (_, d) = sim.a.packet(&b_id, Verb::Echo, b"again");
    sim.a.deliver(&mut sim.node, sim.now, &d);
    assert_eq!(drain(&mut sim.node).len(), 1);
    sim.now += RENDEZVOUS_INTERVAL_MS;
    sim.node.handle_timeout(sim.now);
    let (_, d) = sim.a.packet(&b_id, Verb::Echo, b"later");
    sim.a.deliver(&mut sim.node, sim.now, &d);
    assert_eq!(
        drain(&mut sim.node).len(),
        3,
        "relay + two rendezvous after the interval"
    );
    assert_eq!(sim.node.stats().rendezvous_sent, 4);

    // Hop limit.
    let (_, mut d) = sim.a.packet(&b_id, Verb::Echo, b"hops");
    d[0][18] |= 3;
    sim.a.deliver(&mut sim.node, sim.now, &d);
    assert_eq!(sim.node.stats().relay_dropped_hops, 1);

    // B goes silent: its path outlives 5 minutes, then expires.
    sim.now += 5 * 60_000;
    sim.node.handle_timeout(sim.now);
    assert!(
        sim.node
            .peer(sim.b.address())
            .unwrap()
            .best_path(sim.now, None)
            .is_some()
    );
    sim.now += PATH_TIMEOUT_MS + HOUSEKEEPING_INTERVAL_MS;
    sim.node.handle_timeout(sim.now);
    sim.hello(0);
    let (_, d) = sim.a.packet(&b_id, Verb::Echo, b"gone");
    sim.a.deliver(&mut sim.node, sim.now, &d);
    assert!(packets_to(&drain(&mut sim.node), sim.b.addr).is_empty());
    assert_eq!(sim.node.stats().relay_dropped_no_path, 1);
}

#[test]
fn fragmented_requests_and_replies_with_loss_and_reordering() {
    let mut sim = Sim::new();
    sim.hello(0);
    let root = sim.root;
    let big: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
    let mut rng = SeededEntropy::new(5);
    for round in 0..20 {
        // ECHO is rate-limited per peer (ECHO_PER_SECOND): one per second of virtual time.
        sim.now += 1000;
        let (id, mut d) = sim.a.packet(&root, Verb::Echo, &big);
        assert!(d.len() >= 4);
        for i in (1..d.len()).rev() {
            d.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
        if round % 4 == 3 {
            d.remove(0); // lost: nothing comes back
            sim.a.deliver(&mut sim.node, sim.now, &d);
            assert!(drain(&mut sim.node).is_empty());
            continue;
        }
        sim.a.deliver(&mut sim.node, sim.now, &d);
        let packets = packets_to(&drain(&mut sim.node), sim.a.addr);
        let (_, payload) = sim.a.open(&root, packets[0].clone()).unwrap();
        let (ok, body) = OkHeader::parse(&payload).unwrap();
        assert_eq!((ok.in_re_packet_id, body), (id, &big[..]));
    }
    sim.node.handle_timeout(sim.now + 6000);
    assert_eq!(sim.node.stats().fragments_expired, 5);
}

#[test]
fn multicast_like_and_gather() {
    let mut sim = Sim::new();
    sim.hello(0);
    sim.hello(1);
    let root = sim.root;
    let nwid = 0x1122_3344_5500_0001u64;
    let mut like = Vec::new();
    like.extend_from_slice(&nwid.to_be_bytes());
    like.extend_from_slice(&[0xff; 6]);
    like.extend_from_slice(&0x0a00_0003u32.to_be_bytes());
    let (_, d) = sim.b.packet(&root, Verb::MulticastLike, &like);
    sim.b.deliver(&mut sim.node, sim.now, &d);
    let mut gather = Vec::new();
    gather.extend_from_slice(&nwid.to_be_bytes());
    gather.push(0);
    gather.extend_from_slice(&[0xff; 6]);
    gather.extend_from_slice(&0x0a00_0003u32.to_be_bytes());
    gather.extend_from_slice(&32u32.to_be_bytes());
    let (id, d) = sim.a.packet(&root, Verb::MulticastGather, &gather);
    sim.a.deliver(&mut sim.node, sim.now, &d);
    let packets = packets_to(&drain(&mut sim.node), sim.a.addr);
    let (_, payload) = sim.a.open(&root, packets[0].clone()).unwrap();
    let (ok, body) = OkHeader::parse(&payload).unwrap();
    assert_eq!(
        (ok.in_re_verb, ok.in_re_packet_id),
        (Verb::MulticastGather, id)
    );
    let g = OkGatherRepr::parse(body).unwrap();
    assert_eq!(g.group.network_id, NetworkId(nwid));
    assert_eq!(g.group.mac, Mac::BROADCAST);
    assert_eq!(g.addresses().collect::<Vec<_>>(), vec![sim.b.address()]);
}

/// On a network of this controller, an outsider can neither subscribe nor learn the members
/// by GATHER; a member holding a configuration can.
#[test]
fn our_networks_multicast_is_for_members_only() {
    let mut sim = Sim::new();
    sim.hello(0);
    sim.hello(1);
    let root = sim.root;
    let nwid = (root.address().to_u64() << 24) | 0x00_0001;
    let group = |limit: Option<u32>| {
        let mut p = Vec::new();
        p.extend_from_slice(&nwid.to_be_bytes());
        if limit.is_some() {
            p.push(0);
        }
        p.extend_from_slice(&[0xff; 6]);
        p.extend_from_slice(&0x0a00_0003u32.to_be_bytes());
        if let Some(l) = limit {
            p.extend_from_slice(&l.to_be_bytes());
        }
        p
    };
    // B holds a configuration for the network; A does not.
    sim.node
        .admit_member(sim.now, NetworkId(nwid), sim.b.address());
    let (_, d) = sim.b.packet(&root, Verb::MulticastLike, &group(None));
    sim.b.deliver(&mut sim.node, sim.now, &d);
    let (_, d) = sim.a.packet(&root, Verb::MulticastLike, &group(None));
    sim.a.deliver(&mut sim.node, sim.now, &d);
    assert_eq!(
        sim.node.stats().multicast_subscriptions,
        1,
        "only the member's LIKE"
    );
    let (_, d) = sim.a.packet(&root, Verb::MulticastGather, &group(Some(32)));
    sim.a.deliver(&mut sim.node, sim.now, &d);
    assert!(
        packets_to(&drain(&mut sim.node), sim.a.addr).is_empty(),
        "an outsider learns nobody"
    );
    assert_eq!(sim.node.stats().dropped_not_member, 2);
    // Once A is admitted its GATHER names B.
    sim.node
        .admit_member(sim.now, NetworkId(nwid), sim.a.address());
    let (_, d) = sim.a.packet(&root, Verb::MulticastGather, &group(Some(32)));
    sim.a.deliver(&mut sim.node, sim.now, &d);
    let packets = packets_to(&drain(&mut sim.node), sim.a.addr);
    let (_, payload) = sim.a.open(&root, packets[0].clone()).unwrap();
    let (_, body) = OkHeader::parse(&payload).unwrap();
    let g = OkGatherRepr::parse(body).unwrap();
    assert_eq!(g.addresses().collect::<Vec<_>>(), vec![sim.b.address()]);
    // A refusal (deauthorization) ends B's subscription there; A's (its GATHER subscribed
    // it) stays.
    sim.node.revoke_member(NetworkId(nwid), sim.b.address());
    assert_eq!(sim.node.stats().multicast_subscriptions, 1);
}

#[test]
fn identity_collision_and_unknown_sources() {
    let mut sim = Sim::new();
    sim.hello(0);
    // Someone else claims A's address with another key: MAC checks under that key, so ztcd
    // answers IDENTITY_COLLISION and keeps the original A.
    let mut rng = SeededEntropy::new(77);
    let impostor_keys = KeyPair::generate(&mut rng);
    let mut text = format!(
        "{}:0:{}",
        sim.a.address(),
        ztcd::hex::encode(impostor_keys.public())
    );
    text.push(':');
    text.push_str(&ztcd::hex::encode(impostor_keys.secret().as_bytes()));
    let mut impostor = SimPeer::new(IdentitySecret::parse(&text).unwrap(), "10.0.9.9:1");
    let (_, d) = impostor.hello(&sim.root, (77, 5000));
    impostor.deliver(&mut sim.node, sim.now, &[d]);
    let packets = packets_to(&drain(&mut sim.node), impostor.addr);
    let (_, payload) = impostor.open(&sim.root, packets[0].clone()).unwrap();
    let e = ErrorRepr::parse(&payload).unwrap();
    assert_eq!(
        (e.in_re_verb, e.code),
        (Verb::Hello, ErrorCode::IdentityCollision)
    );
    assert_eq!(
        sim.node.peer(sim.a.address()).unwrap().identity,
        *sim.a.id.identity()
    );
    assert_eq!(sim.node.stats().identity_collisions, 1);

    // A packet from an unknown source that is not a HELLO is dropped and counted.
    let root = sim.root;
    let (_, d) = sim.b.packet(&root, Verb::Echo, b"who am i");
    sim.b.deliver(&mut sim.node, sim.now, &d);
    assert!(drain(&mut sim.node).is_empty());
    assert_eq!(sim.node.stats().dropped_unknown_source, 1);
}

/// Peer `i` of a flood: a fresh key with a made-up address (its proof of work fails), from
/// its own /24.
fn random_key_peer(rng: &mut SeededEntropy, base: u64, i: u32) -> SimPeer {
    let keys = KeyPair::generate(rng);
    let text = format!(
        "{}:0:{}:{}",
        Address::new(base + u64::from(i)),
        ztcd::hex::encode(keys.public()),
        ztcd::hex::encode(keys.secret().as_bytes())
    );
    let ip = format!("10.{}.{}.7:9993", i % 250, (i / 250) % 250 + 1);
    SimPeer::new(IdentitySecret::parse(&text).unwrap(), &ip)
}

#[test]
fn identity_flood_is_gated_and_bounded() {
    let mut sim = Sim::new();
    let root = sim.root;
    let mut rng = SeededEntropy::new(3);
    let mut requested = 0;
    // 3000 HELLOs from fresh (invalid: random address) identities, from 300 /24s, over 3 s.
    for i in 0..3000u32 {
        let mut p = random_key_peer(&mut rng, 0x10_0000_0000, i);
        let (_, d) = p.hello(&root, (77, 5000));
        sim.now += 1;
        p.deliver(&mut sim.node, sim.now, &[d]);
        requested += sim.run_validations();
    }
    let s = sim.node.stats();
    // At most VALIDATIONS_PER_SECOND per second of simulated time.
    assert!(
        requested <= 4 * ztcd::limits::VALIDATIONS_PER_SECOND as usize,
        "{requested}"
    );
    assert_eq!(s.dropped_invalid_identity as usize, requested);
    // Refused before any key agreement (the agreement gate) or before validation (the
    // validation gate).
    assert!(
        s.dropped_rate_limited + s.dropped_agreement_gate >= 2900,
        "{s:?}"
    );
    assert!(sim.node.stats().peers == 0);
    // A legitimate client still gets through right after the flood.
    sim.now += 1000;
    sim.hello(0);
    assert_eq!(sim.node.stats().peers, 1);
    let _ = MAX_PENDING_VALIDATIONS;
}

#[test]
fn malformed_datagrams_never_panic() {
    let mut sim = Sim::new();
    sim.hello(0);
    let mut rng = SeededEntropy::new(11);
    let root = sim.root;
    let (_, valid) = sim.a.packet(&root, Verb::Echo, &[7u8; 3000]);
    let before = sim.node.stats().datagrams_received;
    for i in 0..20_000usize {
        let mut d = if i % 2 == 0 {
            valid[i % valid.len()].clone()
        } else {
            vec![0u8; (rng.next_u64() % 1500) as usize]
        };
        if i % 2 == 1 {
            rng.fill(&mut d);
        }
        let n = d.len();
        if n > 0 {
            for _ in 0..1 + (rng.next_u64() % 4) {
                let at = (rng.next_u64() as usize) % n;
                d[at] ^= 1 << (rng.next_u64() % 8);
            }
        }
        sim.node
            .handle_datagram(sim.now, LocalSocket(0), sim.a.addr, &d);
        let _ = drain(&mut sim.node);
        while sim.node.poll_event().is_some() {}
    }
    let s = sim.node.stats();
    assert_eq!(s.datagrams_received, before + 20_000);
    assert!(
        s.dropped_bad_mac + s.dropped_unknown_source + s.dropped_too_short + s.dropped_malformed
            > 0
    );
}

/// Bytes the node queued for `to`.
fn bytes_to(tx: &[ztcd::node::Transmit], to: std::net::SocketAddr) -> usize {
    tx.iter().filter(|t| t.to == to).map(|t| t.data.len()).sum()
}

/// Every request verb, sent with A's identity from a forged source address and replayed
/// there: the forged address (the victim) never gets more bytes than were sent from it, A's
/// traffic keeps going to A, and the replays are dropped.
#[test]
fn forged_sources_are_not_amplified_and_replays_move_nothing() {
    let mut sim = Sim::new();
    sim.hello(0);
    sim.hello(1);
    let root = sim.root;
    let victim: std::net::SocketAddr = "192.0.2.77:5555".parse().unwrap();
    let whois_root_64: Vec<u8> = (0..64).flat_map(|_| root.address().to_bytes()).collect();
    let group = ztcd::wire::verbs::MulticastSub {
        network_id: NetworkId(0x1122_3344_5566_7788),
        mac: Mac::BROADCAST,
        adi: 7,
    };
    let mut gather = vec![0u8; 23];
    ztcd::wire::verbs::GatherRepr {
        group,
        flags: 0,
        limit: 256,
        com: None,
    }
    .emit(&mut Writer::new(&mut gather))
    .unwrap();
    let mut like = vec![0u8; 18];
    ztcd::wire::verbs::LikeRepr::emit(&[group], &mut Writer::new(&mut like)).unwrap();
    let (_, d) = sim.b.packet(&root, Verb::MulticastLike, &like);
    sim.b.deliver(&mut sim.node, sim.now, &d);
    let attacks: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "WHOIS ×64, LZ4",
            sim.a
                .packet_compressed(&root, Verb::Whois, &whois_root_64)
                .1,
        ),
        ("ECHO", sim.a.packet(&root, Verb::Echo, b"x").1),
        (
            "GATHER",
            sim.a.packet(&root, Verb::MulticastGather, &gather).1,
        ),
        ("HELLO, old planet", vec![sim.a.hello(&root, (77, 1)).1]),
    ];
    let mut report = Vec::new();
    for (name, datagrams) in attacks {
        let (mut sent, mut got) = (0, 0);
        for round in 0..5 {
            sim.now += 1000;
            for d in &datagrams {
                sim.node.handle_datagram(sim.now, LocalSocket(0), victim, d);
                sent += d.len();
            }
            let tx = drain(&mut sim.node);
            got += bytes_to(&tx, victim);
            if round == 0 {
                // The real A gets the answer (or nothing): the path did not move.
                assert_eq!(
                    tx.iter()
                        .filter(|t| t.to != victim && t.to != sim.a.addr)
                        .count(),
                    0
                );
            }
        }
        report.push(format!("{name}: {sent} B sent, {got} B to the victim"));
        assert!(got <= sent, "{name}: {got} bytes to the victim for {sent}");
    }
    eprintln!("{}", report.join("; "));
    let s = sim.node.stats();
    assert!(s.dropped_replayed >= 16, "{s:?}");
    // B's packets for A still reach A's real address.
    let a_id = *sim.a.id.identity();
    let (_, d) = sim.b.packet(&a_id, Verb::Echo, b"for a");
    sim.b.deliver(&mut sim.node, sim.now, &d);
    let tx = drain(&mut sim.node);
    assert!(bytes_to(&tx, sim.a.addr) > 0 && bytes_to(&tx, victim) == 0);
}

/// A packet of A captured and replayed later from another address is dropped as a replay;
/// a fresh packet of A from a new address (A moved) gets the path only once A answers the
/// probe there.
#[test]
fn a_new_path_is_used_only_after_the_peer_answers_on_it() {
    let mut sim = Sim::new();
    sim.hello(0);
    sim.hello(1);
    let root = sim.root;
    let (_, captured) = sim.a.packet(&root, Verb::Echo, b"captured");
    sim.a.deliver(&mut sim.node, sim.now, &captured);
    let _ = drain(&mut sim.node);
    let forged: std::net::SocketAddr = "198.51.100.9:9993".parse().unwrap();
    for d in &captured {
        sim.node
            .handle_datagram(sim.now + 5, LocalSocket(0), forged, d);
    }
    assert!(
        drain(&mut sim.node).is_empty(),
        "a replay gets nothing, not even a probe"
    );
    assert_eq!(
        sim.node
            .peer(sim.a.address())
            .unwrap()
            .best_path(sim.now, None)
            .unwrap()
            .remote,
        sim.a.addr
    );

    // A really moves: its fresh ECHO from the new address is answered on the old path
    // until the probe on the new one is answered.
    let old = sim.a.addr;
    sim.a.addr = "198.51.100.10:4000".parse().unwrap();
    sim.now += 1000;
    let (_, d) = sim.a.packet(&root, Verb::Echo, b"moved");
    sim.a.deliver(&mut sim.node, sim.now, &d);
    let tx = drain(&mut sim.node);
    assert!(
        bytes_to(&tx, old) > 0,
        "the answer goes to the confirmed path"
    );
    let probe = packets_to(&tx, sim.a.addr);
    assert_eq!(probe.len(), 1, "one probe on the new path");
    let (h, payload) = sim.a.open(&root, probe[0].clone()).unwrap();
    assert_eq!(h.verb, Verb::Echo);
    let d = sim.a.answer_echo(&root, &h, &payload);
    sim.a.deliver(&mut sim.node, sim.now, &d);
    let peer = sim.node.peer(sim.a.address()).unwrap();
    assert_eq!(peer.best_path(sim.now, None).unwrap().remote, sim.a.addr);
    assert_eq!(sim.node.stats().paths_confirmed, 3);
}

/// A flood of HELLOs with fresh random keys is refused by the agreement gate before any key
/// agreement: at most the gate's rate of agreements is computed.
#[test]
fn random_key_hellos_are_refused_before_key_agreement() {
    let mut sim = Sim::new();
    let root = sim.root;
    let mut rng = SeededEntropy::new(77);
    let mut hellos = Vec::new();
    for i in 0..2000u32 {
        let mut p = random_key_peer(&mut rng, 0x20_0000_0000, i);
        hellos.push((p.addr, p.hello(&root, (77, 5000)).1));
    }
    // 2,000 HELLOs within one virtual second.
    for (i, (from, d)) in hellos.iter().enumerate() {
        sim.node
            .handle_datagram(sim.now + i as u64 / 2, LocalSocket(0), *from, d);
    }
    let s = sim.node.stats();
    let rate = ztcd::limits::AGREEMENTS_PER_SECOND as u64;
    // A full bucket (one second's worth) plus one second of refill.
    assert!(s.agreements <= 2 * rate, "{s:?}");
    assert_eq!(s.agreements + s.dropped_agreement_gate, 2000, "{s:?}");
}

/// Protocol 13 clients armor HELLOs with an ephemeral key for the root's identity: the root
/// opens them (after the agreement gate), answers with a plain OK(HELLO), and drops tampered,
/// truncated or mis-addressed ones; a flood of them costs no more agreements than the gate lets
/// through.
#[test]
fn protocol_13_hellos_with_extended_armor() {
    let mut sim = Sim::new();
    let root = sim.root;
    sim.a.protocol = 13;
    let body = sim.hello(0);
    let ok = OkHelloRepr::parse(&body).unwrap();
    assert_eq!(ok.observed, InetAddress::from_socket(sim.a.addr));
    let s = sim.node.stats();
    assert_eq!(
        (s.extended_armor_opened, s.hellos_answered),
        (1, 1),
        "{s:?}"
    );
    // Known now: the next one is answered without validation.
    sim.hello(0);
    let s = sim.node.stats();
    assert_eq!(
        (s.extended_armor_opened, s.hellos_answered, s.validations),
        (2, 2, 1)
    );

    // One bit flipped anywhere after the header, or the ephemeral key changed: no answer.
    let (_, good) = sim.a.hello(&root, (77, 5000));
    for at in [19, 27, 40, good.len() - 40, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 1;
        sim.a.deliver(&mut sim.node, sim.now, &[bad]);
        assert!(
            packets_to(&drain(&mut sim.node), sim.a.addr).is_empty(),
            "byte {at}"
        );
    }
    // Shorter than header, verb and key: dropped before any key agreement.
    let before = sim.node.stats().extended_armor_opened;
    sim.a
        .deliver(&mut sim.node, sim.now, &[good[..59].to_vec()]);
    let s = sim.node.stats();
    assert_eq!(
        (s.extended_armor_opened, s.dropped_extended_armor),
        (before, 1)
    );
    assert_eq!(s.hellos_answered, 2, "{s:?}");

    // 2,000 protocol-13 HELLOs of fresh identities within one virtual second.
    let mut rng = SeededEntropy::new(78);
    let mut hellos = Vec::new();
    for i in 0..2000u32 {
        let mut p = random_key_peer(&mut rng, 0x30_0000_0000, i);
        p.protocol = 13;
        hellos.push((p.addr, p.hello(&root, (77, 5000)).1));
    }
    let before = sim.node.stats();
    for (i, (from, d)) in hellos.iter().enumerate() {
        sim.node
            .handle_datagram(sim.now + i as u64 / 2, LocalSocket(0), *from, d);
    }
    let s = sim.node.stats();
    let rate = ztcd::limits::AGREEMENTS_PER_SECOND as u64;
    let opened = s.extended_armor_opened - before.extended_armor_opened;
    let agreed = s.agreements - before.agreements;
    // Opening one and agreeing on its sender's key each draw on the same gate.
    assert!(opened + agreed <= 2 * rate, "{s:?}");
    assert!(opened > 0 && s.dropped_agreement_gate > before.dropped_agreement_gate);
}

/// Known answer: HELLOs a protocol-13 client (zerotier-one 1.15.0 built from ZeroTierOne's
/// `hello-encryption` branch) sent to a ztcd root, captured on the wire with the identities
/// involved (tests/vectors/p13). The root opens each one, validates the client and answers it
/// with an OK(HELLO) the client can open.
#[test]
fn captured_protocol_13_hellos_are_opened_and_answered() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/p13/");
    let read = |f: &str| std::fs::read_to_string(format!("{dir}{f}")).unwrap();
    let root = IdentitySecret::parse(read("ztcd-identity.secret").trim()).unwrap();
    let client = IdentitySecret::parse(read("client-identity.secret").trim()).unwrap();
    let planet_bytes = std::fs::read(format!("{dir}planet")).unwrap();
    let planet = World::parse(&mut Reader::new(&planet_bytes)).unwrap();
    let mut node = Node::new(NodeConfig {
        planet: Some(planet),
        moon: None,
        identity: root.clone(),
        rng_seed: 1,
        limits: ztcd::limits::TableLimits::default(),
    });
    let from: std::net::SocketAddr = "10.213.1.2:9994".parse().unwrap();
    let mut now = 1000;
    let mut scratch = Scratch::new();
    let hellos: Vec<Vec<u8>> = read("hellos.hex").lines().map(hex).collect();
    assert_eq!(hellos.len(), 4);
    for (i, d) in hellos.iter().enumerate() {
        assert_eq!((d.len(), d[18]), (169, 0x80), "extended armor on cipher 0");
        node.handle_datagram(now, LocalSocket(0), from, d);
        // The first one brings a new identity: validate it as the runtime's thread does.
        for _ in 0..100 {
            while let Some(e) = node.poll_event() {
                if let Event::ValidateIdentity(id) = e {
                    let ok = id.validate(&mut scratch).is_ok();
                    node.identity_checked(now, id, ok);
                }
            }
            if node.stats().validations_queued == 0 {
                break;
            }
            now = now.max(node.next_deadline());
            node.handle_timeout(now);
        }
        let packet_id = u64::from_be_bytes(d[..8].try_into().unwrap());
        let answered = packets_to(&drain(&mut node), from).into_iter().any(|p| {
            let peer = SimPeer::new(client.clone(), "10.213.1.2:9994");
            let Some((h, payload)) = peer.open(root.identity(), p) else {
                return false;
            };
            let Ok((ok, body)) = OkHeader::parse(&payload) else {
                return false;
            };
            h.verb == Verb::Ok
                && (ok.in_re_verb, ok.in_re_packet_id) == (Verb::Hello, packet_id)
                && OkHelloRepr::parse(body)
                    .is_ok_and(|r| r.observed == InetAddress::from_socket(from))
        });
        assert!(answered, "HELLO {i} answered: {:?}", node.stats());
        now += 5000;
    }
    let s = node.stats();
    assert_eq!(
        (s.extended_armor_opened, s.hellos_answered, s.validations),
        (4, 4, 1),
        "{s:?}"
    );
    assert_eq!(
        s.dropped_bad_mac + s.dropped_malformed + s.dropped_unknown_source,
        0,
        "{s:?}"
    );
}
