//! `ztcd-loadgen amplify`: what a root sends to a forged source address. Member A joins from
//! `--source` (its real path); then every request verb is sent with A's identity from
//! `--victim`, an address the attacker owns here and which stands for the forged source (the
//! root sees exactly what a raw-socket forgery would show it). Each packet is sent once and
//! then replayed; the bytes arriving at the victim are counted per verb. Finally B joins and
//! sends a packet to A through the root: it must arrive at A's real path, not at the victim.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use ztcd::client::ClientSession;
use ztcd::crypto::hashcash::Scratch;
use ztcd::crypto::{Entropy, SeededEntropy};
use ztcd::identity::{Identity, IdentitySecret};
use ztcd::runtime::OsEntropy;
use ztcd::wire::verbs::{GatherRepr, MulticastSub};
use ztcd::wire::{InetAddress, Mac, NetworkId, Verb, Writer};

use super::{Args, bind, join};

/// Sends each attack this many times (the first is fresh, the rest replays).
const ROUNDS: usize = 5;

/// Bytes (and datagrams) that arrive on `sock` within `wait`.
fn drain(sock: &UdpSocket, wait: Duration) -> (usize, usize) {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 16384];
    let (mut bytes, mut datagrams) = (0, 0);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let _ = sock.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => {
                bytes += n;
                datagrams += 1;
            }
            Err(_) => break,
        }
    }
    (bytes, datagrams)
}

/// A named attack: the datagrams of one packet.
type Attack = (&'static str, Vec<Vec<u8>>);

/// The attack packets, each as datagrams, with their names.
fn attacks(
    a: &mut ClientSession,
    root: Identity,
    target: SocketAddr,
    planet: Option<u64>,
    network: Option<NetworkId>,
) -> Result<Vec<Attack>, String> {
    let e = |e: ztcd::wire::Error| e.to_string();
    let whois: Vec<u8> = (0..64).flat_map(|_| root.address().to_bytes()).collect();
    let group = MulticastSub {
        network_id: network.unwrap_or(NetworkId(0x1122_3344_5566_7788)),
        mac: Mac::BROADCAST,
        adi: 0x0a00_0001,
    };
    let gather_repr = GatherRepr {
        group,
        flags: 0,
        limit: 256,
        com: None,
    };
    let mut gather = vec![0u8; 23];
    gather_repr.emit(&mut Writer::new(&mut gather)).map_err(e)?;
    let mut out = vec![
        (
            "whois_x64_lz4",
            a.packet(Verb::Whois, &whois, true).map_err(e)?.1,
        ),
        ("echo", a.packet(Verb::Echo, b"x", false).map_err(e)?.1),
        (
            "gather",
            a.packet(Verb::MulticastGather, &gather, false)
                .map_err(e)?
                .1,
        ),
    ];
    let sent_to = InetAddress::from_socket(target);
    let old_planet = (planet.unwrap_or(0), 1);
    out.push((
        "hello_old_planet",
        vec![a.hello(1, sent_to, old_planet).map_err(e)?.1],
    ));
    if let Some(nwid) = network {
        let req = ztcd::wire::verbs::ConfigRequest {
            network_id: nwid,
            metadata: &ztcd::client::request_metadata(),
            revision: None,
            timestamp: None,
        };
        let mut payload = vec![0u8; req.buffer_len()];
        req.emit(&mut Writer::new(&mut payload)).map_err(e)?;
        let d = a
            .packet(Verb::NetworkConfigRequest, &payload, true)
            .map_err(e)?
            .1;
        out.push(("config_request", d));
    }
    Ok(out)
}

/// Runs the amplification and path-hijack checks; returns the report.
pub(crate) fn amplify(args: &Args) -> Result<Value, String> {
    let target: SocketAddr = args.req("target")?;
    let root = args.identity("root")?;
    let source = args.req("source")?;
    let victim = args.req("victim")?;
    let helper = args.req("helper")?;
    let planet: Option<u64> = args.opt("planet-id")?;
    let network = args
        .opt::<String>("network")?
        .map(|n| u64::from_str_radix(&n, 16).map(NetworkId))
        .transpose()
        .map_err(|_| "--network: expected 16 hex digits".to_owned())?;
    let mut rng = SeededEntropy::new(OsEntropy.next_u64());
    let mut scratch = Scratch::new();
    let id_a = IdentitySecret::generate(&mut rng, &mut scratch);
    let id_b = IdentitySecret::generate(&mut rng, &mut scratch);
    let (sock_a, sock_v) = (bind(Some(source), target)?, bind(Some(victim), target)?);
    let mut a = join(root, &sock_a, target, id_a.clone())?;
    let mut report = serde_json::Map::new();
    for (name, datagrams) in attacks(&mut a, root, target, planet, network)? {
        let mut sent = 0;
        let (mut to_victim, mut to_real) = (0, 0);
        for _ in 0..ROUNDS {
            for d in &datagrams {
                sent += sock_v.send_to(d, target).map_err(|e| e.to_string())?;
            }
            to_victim += drain(&sock_v, Duration::from_millis(150)).0;
            to_real += drain(&sock_a, Duration::from_millis(50)).0;
        }
        report.insert(
            name.into(),
            json!({"sent": sent, "to_victim": to_victim, "to_real_path": to_real,
                   "ratio": to_victim as f64 / sent as f64}),
        );
    }
    // The root validates one new identity per source /24 every 2 s.
    std::thread::sleep(Duration::from_millis(2100));
    let sock_b = bind(Some(helper), target)?;
    join(root, &sock_b, target, id_b.clone())?;
    let mut b_to_a = ClientSession::new(id_b, *id_a.identity(), 0x7000);
    let (_, d) = b_to_a
        .packet(Verb::Echo, b"for a", false)
        .map_err(|e| e.to_string())?;
    let mut relayed = (0, 0);
    for _ in 0..3 {
        for x in &d {
            sock_b.send_to(x, target).map_err(|e| e.to_string())?;
        }
        let got_a = drain(&sock_a, Duration::from_millis(200)).1;
        let got_v = drain(&sock_v, Duration::from_millis(50)).1;
        relayed = (relayed.0 + got_a, relayed.1 + got_v);
    }
    report.insert(
        "relay_to_a".into(),
        json!({"at_real_path": relayed.0, "at_victim": relayed.1}),
    );
    Ok(Value::Object(report))
}

/// `ztcd-loadgen likes`: an authorized member (`--identity`, a secret identity) joins
/// `--network` through the root, then floods MULTICAST_LIKEs of random groups in that network
/// for `--seconds` at `--rate` packets per second (60 groups each); prints what was sent.
pub(crate) fn likes(args: &Args) -> Result<Value, String> {
    let target: SocketAddr = args.req("target")?;
    let root = args.identity("root")?;
    let source = args.req("source")?;
    let secret: String = args.req("identity")?;
    let id = IdentitySecret::parse(secret.trim()).map_err(|e| format!("--identity: {e}"))?;
    let nwid: String = args.req("network")?;
    let network = u64::from_str_radix(&nwid, 16)
        .map(NetworkId)
        .map_err(|_| "--network: expected 16 hex digits".to_owned())?;
    let seconds: f64 = args.or("seconds", 10.0)?;
    let rate: u64 = args.or("rate", 200)?;
    let sock = bind(Some(source), target)?;
    let mut session = join(root, &sock, target, id)?;
    let configured = ask_config(&mut session, &sock, target, network)?;
    let mut rng = SeededEntropy::new(OsEntropy.next_u64());
    let start = Instant::now();
    let (mut packets, mut groups) = (0u64, 0u64);
    while start.elapsed().as_secs_f64() < seconds {
        let subs: Vec<MulticastSub> = (0..60)
            .map(|_| MulticastSub {
                network_id: network,
                mac: Mac::BROADCAST,
                adi: rng.next_u64() as u32,
            })
            .collect();
        let mut payload = vec![0u8; 18 * subs.len()];
        ztcd::wire::verbs::LikeRepr::emit(&subs, &mut Writer::new(&mut payload))
            .map_err(|e| e.to_string())?;
        let (_, d) = session
            .packet(Verb::MulticastLike, &payload, false)
            .map_err(|e| e.to_string())?;
        for x in d {
            let _ = sock.send_to(&x, target);
        }
        packets += 1;
        groups += subs.len() as u64;
        let due = Duration::from_secs_f64(packets as f64 / rate.max(1) as f64);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    Ok(
        json!({"mode": "likes", "configured": configured, "packets": packets, "groups": groups,
              "seconds": start.elapsed().as_secs_f64()}),
    )
}

/// Asks `network`'s configuration until an answer (a configuration chunk) or a refusal comes;
/// returns whether it was a configuration.
fn ask_config(
    session: &mut ClientSession,
    sock: &UdpSocket,
    target: SocketAddr,
    network: NetworkId,
) -> Result<bool, String> {
    let e = |e: ztcd::wire::Error| e.to_string();
    let metadata = ztcd::client::request_metadata();
    let req = ztcd::wire::verbs::ConfigRequest {
        network_id: network,
        metadata: &metadata,
        revision: None,
        timestamp: None,
    };
    let mut payload = vec![0u8; req.buffer_len()];
    req.emit(&mut Writer::new(&mut payload)).map_err(e)?;
    let mut buf = [0u8; 16384];
    for _ in 0..20 {
        let (_, d) = session
            .packet(Verb::NetworkConfigRequest, &payload, true)
            .map_err(e)?;
        for x in d {
            sock.send_to(&x, target).map_err(|e| e.to_string())?;
        }
        let deadline = Instant::now() + Duration::from_millis(1000);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let _ = sock.set_read_timeout(Some(left.max(Duration::from_millis(1))));
            let Ok((n, _)) = sock.recv_from(&mut buf) else {
                break;
            };
            // A configuration may come fragmented: any datagram that is not a whole packet
            // the session can open, after a request, is counted as its start.
            match session.open(buf[..n].to_vec()) {
                Some((h, _)) if h.verb == Verb::Error => return Ok(false),
                Some((h, _)) if h.verb == Verb::Ok => return Ok(true),
                None if n > 200 => return Ok(true),
                _ => {}
            }
        }
    }
    Err("no answer to the configuration request".into())
}
