//! `ztcd-loadgen`'s four configuration scenarios, small, against a running ztcd in network
//! namespaces: every reply must be a valid configuration for its member (authenticated,
//! decrypted, COM issued to it and signed by the controller) and every request answered. A
//! correctness check of the tool and of ztcd under it; the timings it prints are not asserted
//! (the full-size runs are `cargo bench --bench loadgen`).

#[path = "common/loadbed.rs"]
mod loadbed;

use loadbed::{Bed, FLOOD_SOURCES, MEMBER_SOURCES, available, public_identities};
use serde_json::Value;

const IDENTITIES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/vectors/loadgen-identities.txt"
);

fn common<'a>(bed: &'a Bed, first: &'a str, nets: &'a [String]) -> Vec<&'a str> {
    let mut a = vec![
        "--identities",
        IDENTITIES,
        "--members",
        "24",
        "--first",
        first,
        "--source-range",
        MEMBER_SOURCES,
        "--source-count",
        "48",
        "--threads",
        "2",
    ];
    for n in nets {
        a.extend(["--network", n.as_str()]);
    }
    let _ = bed;
    a
}

/// No invalid reply, no refusal and (except in a warm-up, which asks again when a request
/// fell within the controller's 1 s repeat filter of the previous run) no request lost.
fn assert_clean(r: &Value, phase: &str) {
    let m = &r[phase];
    assert_eq!(m["invalid"], 0, "{phase}: {r}");
    assert_eq!(m["refused"], 0, "{phase}: {r}");
    if phase != "warm_up" {
        assert_eq!(m["lost"], 0, "{phase}: {r}");
    }
    assert!(m["answered"].as_u64().unwrap() > 0, "{phase}: {r}");
    assert!(m["target"]["cpu_s"].as_f64().is_some(), "{phase}: {r}");
    assert!(
        m["target"]["rss_kib"]["max"].as_u64().unwrap() > 0,
        "{phase}: {r}"
    );
}

#[test]
fn loadgen_scenarios_against_ztcd() {
    if !available() {
        return;
    }
    let validated = public_identities(std::path::Path::new(IDENTITIES), 48);
    let bed = Bed::new("t", 48, 16, 2, &validated);
    let nets = bed.private.clone();

    // Steady state: 24 members in 2 private networks, authorized through the API.
    let mut args = common(&bed, "0", &nets);
    args.extend(["--scenario", "steady", "--authorize", "--seconds", "3"]);
    let r = bed.loadgen(&args);
    eprintln!("steady: {r}");
    assert_eq!(r["hello"]["online"], 24, "{r}");
    // ztcd confirms each member's new path with a probe, which the members answer.
    assert!(r["hello"]["answered_echos"].as_u64() > Some(0), "{r}");
    assert_clean(&r, "warm_up");
    assert_clean(&r, "measured");
    assert_eq!(r["warm_up"]["answered"], 48, "{r}");
    // Each membership re-asks about once per 1.05 s for 3 s.
    assert!(r["measured"]["answered"].as_u64().unwrap() >= 48 * 2, "{r}");
    assert_eq!(
        r["configured_with_ips"], 48,
        "every membership got a pool address: {r}"
    );

    // Change storm: the same members; the networks are renamed; every member gets the push.
    let mut args = common(&bed, "0", &nets);
    args.extend(["--scenario", "storm", "--seconds", "10"]);
    let r = bed.loadgen(&args);
    eprintln!("storm: {r}");
    assert_clean(&r, "warm_up");
    assert_eq!(r["warm_up"]["answered"], 48, "{r}");
    assert_eq!(r["measured"]["pushed"], 48, "{r}");
    assert_eq!(r["measured"]["invalid"], 0, "{r}");

    // Cold start: 24 members new to the controller ask a public network for the first time,
    // as protocol-13 clients (HELLOs with extended armor).
    let public = [bed.public.clone()];
    let mut args = common(&bed, "24", &public);
    args.extend(["--scenario", "cold", "--protocol", "13"]);
    let r = bed.loadgen(&args);
    eprintln!("cold: {r}");
    assert_clean(&r, "measured");
    assert_eq!(r["measured"]["answered"], 24, "{r}");
    assert_eq!(r["configured_with_ips"], 24, "{r}");

    // Identity flood: fresh identities from 16 other addresses while the members re-ask.
    let mut args = common(&bed, "0", &nets);
    args.extend([
        "--scenario",
        "flood",
        "--seconds",
        "3",
        "--flood-rate",
        "300",
    ]);
    args.extend([
        "--flood-source-range",
        FLOOD_SOURCES,
        "--flood-source-count",
        "16",
    ]);
    let r = bed.loadgen(&args);
    eprintln!("flood: {r}");
    assert_clean(&r, "measured");
    assert!(r["flood"]["sent"].as_u64().unwrap() > 100, "{r}");
    assert!(r["measured"]["answered"].as_u64().unwrap() >= 48 * 2, "{r}");
}

/// A stand-in for zerotier-one's first contact on loopback: it answers a member's HELLO only
/// after the member answered a HELLO of its own on that path (zerotier-one sends a new path
/// nothing else before that). The generator's members must answer it and come online.
#[test]
fn members_answer_a_target_that_confirms_paths_with_its_own_hello() {
    use std::collections::HashMap;
    use std::net::UdpSocket;
    use std::time::{Duration, Instant};
    use ztcd::client::ClientSession;
    use ztcd::crypto::SeededEntropy;
    use ztcd::crypto::hashcash::Scratch;
    use ztcd::identity::{Identity, IdentitySecret};
    use ztcd::wire::packet::HEADER_LEN;
    use ztcd::wire::verbs::OkHeader;
    use ztcd::wire::{Header, IdentityRepr, InetAddress, PacketView, Reader, Verb};

    let target = IdentitySecret::generate(&mut SeededEntropy::new(5), &mut Scratch::new());
    let dir = std::env::temp_dir().join(format!("ztcd-insisting-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let public = dir.join("identity.public");
    std::fs::write(&public, target.identity().to_string()).unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let addr = sock.local_addr().unwrap();
    let nwid = format!("{}000001", target.address());
    let child = std::process::Command::new(loadbed::LOADGEN)
        .args([
            "config",
            "--scenario",
            "hello",
            "--target",
            &addr.to_string(),
        ])
        .args(["--controller", public.to_str().unwrap(), "--network", &nwid])
        .args([
            "--identities",
            IDENTITIES,
            "--members",
            "4",
            "--threads",
            "1",
        ])
        .args([
            "--source",
            "127.0.0.1",
            "--hello-timeout",
            "30",
            "--protocol",
            "11",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start ztcd-loadgen");

    // Per member: our session, its HELLO waiting for an answer, our HELLO's packet ID.
    let mut members: HashMap<u64, (ClientSession, Header, Vec<u8>, u64)> = HashMap::new();
    let (mut confirmed, mut buf) = (0, [0u8; 2048]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while confirmed < 4 && Instant::now() < deadline {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let packet = buf[..n].to_vec();
        let source = PacketView::new_checked(&packet[..]).unwrap().source();
        if let Some((session, their_hello, payload, ours)) = members.get_mut(&source.to_u64()) {
            let (h, body) = session.open(packet).expect("authenticated");
            let Ok((ok, _)) = OkHeader::parse(&body) else {
                continue;
            };
            if h.verb == Verb::Ok && ok.in_re_verb == Verb::Hello && ok.in_re_packet_id == *ours {
                // The path is confirmed: now the member's own HELLO gets its answer.
                let observed = InetAddress::from_socket(from);
                for d in session
                    .answer_hello(their_hello, payload, observed)
                    .unwrap()
                {
                    sock.send_to(&d, from).unwrap();
                }
                confirmed += 1;
            }
            continue;
        }
        let mut r = Reader::new(&packet[HEADER_LEN + 13..]);
        let identity = Identity::from(IdentityRepr::parse(&mut r).unwrap());
        let mut session = ClientSession::new(target.clone(), identity, 0x5000);
        let (h, payload) = session
            .open(packet)
            .expect("a HELLO under the member's key");
        assert_eq!(h.verb, Verb::Hello);
        let (ours, hello) = session
            .hello(1, InetAddress::from_socket(from), (0, 0))
            .unwrap();
        sock.send_to(&hello, from).unwrap();
        members.insert(source.to_u64(), (session, h, payload, ours));
    }
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let r: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(confirmed, 4, "{r}");
    assert_eq!(r["hello"]["online"], 4, "{r}");
    assert_eq!(r["hello"]["answered_hellos"], 4, "{r}");
}
