//! Benchmarks of the sans-IO node as a root. Run: `cargo bench --bench node`.
//!
//! Measures the node alone (no sockets): relaying between two known peers, and answering
//! HELLO and ECHO from a known peer on its confirmed path. Every request is a distinct packet
//! (the node drops replays) and virtual time moves on so per-peer quotas are not what is
//! measured. Prints rates.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use ztcd::client::ClientSession;
use ztcd::crypto::SeededEntropy;
use ztcd::crypto::hashcash::Scratch;
use ztcd::identity::IdentitySecret;
use ztcd::node::{Event, LocalSocket, Node, NodeConfig};
use ztcd::wire::{InetAddress, Verb};

fn pump(node: &mut Node, now: u64, from: SocketAddr, datagram: &[u8]) -> usize {
    node.handle_datagram(now, LocalSocket(0), from, datagram);
    let mut n = 0;
    while let Some(t) = node.poll_transmit() {
        black_box(&t);
        n += 1;
    }
    n
}

fn rate(name: &str, iterations: u32, mut f: impl FnMut()) {
    let t = Instant::now();
    for _ in 0..iterations {
        f();
    }
    let per = t.elapsed() / iterations;
    println!(
        "{name:<48} {:>9.3} µs/op {:>12.0} ops/s",
        per.as_nanos() as f64 / 1e3,
        1e9 / per.as_nanos() as f64
    );
}

fn main() {
    let mut rng = SeededEntropy::new(7);
    let mut scratch = Scratch::new();
    let [root, a, b] = [(); 3].map(|()| IdentitySecret::generate(&mut rng, &mut scratch));
    let mut node = Node::new(NodeConfig {
        identity: root.clone(),
        planet: None,
        moon: None,
        rng_seed: 3,
        limits: ztcd::limits::TableLimits::default(),
    });
    let (addr_a, addr_b): (SocketAddr, SocketAddr) = (
        "10.1.0.2:9993".parse().unwrap(),
        "10.2.0.2:9993".parse().unwrap(),
    );
    let sent_to = InetAddress::from_socket("10.0.0.1:9993".parse().unwrap());
    let mut to_root_a = ClientSession::new(a.clone(), *root.identity(), 1);
    let mut to_root_b = ClientSession::new(b.clone(), *root.identity(), 1);
    // Both HELLO; the validation queue spaces validations, so let virtual time pass.
    for (s, from) in [(&mut to_root_a, addr_a), (&mut to_root_b, addr_b)] {
        let (_, hello) = s.hello(1, sent_to, (0, 0)).unwrap();
        node.handle_datagram(0, LocalSocket(0), from, &hello);
    }
    for now in (0..2000).step_by(100) {
        node.handle_timeout(now);
        while let Some(e) = node.poll_event() {
            if let Event::ValidateIdentity(id) = e {
                node.identity_checked(now, id, id.validate(&mut scratch).is_ok());
            }
        }
        while node.poll_transmit().is_some() {}
    }
    assert_eq!(node.stats().peers, 2, "both members known");
    // Each answers the root's probe of its path, as clients do: the paths become usable.
    for (s, from) in [(&mut to_root_a, addr_a), (&mut to_root_b, addr_b)] {
        let (_, hello) = s.hello(1, sent_to, (0, 0)).unwrap();
        node.handle_datagram(2000, LocalSocket(0), from, &hello);
        let probes: Vec<_> = std::iter::from_fn(|| node.poll_transmit())
            .filter_map(|t| s.open(t.data))
            .filter(|(h, _)| h.verb == Verb::Echo)
            .collect();
        for (h, payload) in probes {
            let d = s.answer_echo(&h, &payload).unwrap();
            node.handle_datagram(2000, LocalSocket(0), from, &d[0]);
        }
    }
    assert_eq!(node.stats().paths_confirmed, 2, "both paths confirmed");

    // Relayed packets are not the root's to authenticate or de-duplicate: one is enough.
    let mut a_to_b = ClientSession::new(a, *b.identity(), 1);
    for size in [100usize, 1400] {
        let (_, relayed) = a_to_b
            .packet(Verb::Frame, &vec![0u8; size - 28], false)
            .unwrap();
        rate(
            &format!("relay a {size}-byte packet (A → root → B)"),
            200_000,
            || {
                assert!(pump(&mut node, 2001, addr_a, black_box(&relayed[0])) >= 1);
            },
        );
    }

    let hellos: Vec<Vec<u8>> = (0..50_000)
        .map(|_| to_root_a.hello(1, sent_to, (0, 0)).unwrap().1)
        .collect();
    let mut now = 3000;
    let mut next = hellos.iter();
    rate("HELLO from a known peer → OK(HELLO)", 50_000, || {
        now += 1;
        let hello = next.next().unwrap();
        assert_eq!(pump(&mut node, now, addr_a, black_box(hello)), 1);
    });
    let echoes: Vec<Vec<u8>> = (0..100_000)
        .map(|_| {
            to_root_a
                .packet(Verb::Echo, &[0u8; 32], false)
                .unwrap()
                .1
                .remove(0)
        })
        .collect();
    let mut next = echoes.iter();
    rate("ECHO (32 bytes) → OK(ECHO)", 100_000, || {
        // ECHO is rate-limited per peer (ECHO_PER_SECOND): one per 500 ms of virtual time.
        now += 500;
        let echo = next.next().unwrap();
        assert_eq!(pump(&mut node, now, addr_a, black_box(echo)), 1);
    });

    let s = node.stats();
    println!(
        "relayed_packets={} rendezvous_sent={} hellos_answered={}",
        s.relayed_packets, s.rendezvous_sent, s.hellos_answered
    );
}
