//! The root attacked over real UDP, from a network namespace, by `ztcd-loadgen`:
//!
//! - amplification and reflection: every request verb sent with a joined member's identity
//!   from another address (the victim: what a forged source address would be), once and then
//!   replayed; the victim must never receive more bytes than were sent from it, and relayed
//!   traffic for the member must keep reaching its real address;
//! - a flood of HELLOs with random keys (20,000 per second for 5 s from 40 source networks):
//!   refused before any key agreement, at a few microseconds of ztcd CPU each.

mod common;

use std::process::Command;

use common::real::{
    Daemon, NetPair, TempDir, admin_ok, available, cpu_seconds, member_set, stat, zt, ztcd_ok_in,
};
use serde_json::{Value, json};

const LOADGEN: &str = env!("CARGO_BIN_EXE_ztcd-loadgen");

/// Runs the load generator inside `ns`; returns its JSON report.
fn loadgen(ns: &str, args: &[String]) -> Value {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, LOADGEN])
        .args(args)
        .output()
        .expect("run ztcd-loadgen");
    assert!(
        out.status.success(),
        "ztcd-loadgen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("loadgen report")
}

#[test]
fn forged_sources_get_no_more_than_they_sent_and_replays_move_no_path() {
    if !available() {
        return;
    }
    let net = NetPair::new(41);
    let helper = net.add_client_sources(1).remove(0);
    let dir = TempDir::new("amplify");
    let home = dir.path("home");
    let endpoint = format!("{}/9993", net.server_ip());
    let daemon = Daemon::start(&net.server, &home, &["--endpoint", &endpoint]);
    let ours = admin_ok(&home, &net.server, "GET", "/status", None)["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let public = admin_ok(
        &home,
        &net.server,
        "POST",
        &format!("/controller/network/{ours}______"),
        Some(json!({"name": "open", "private": false})),
    );
    let planet =
        ztcd::wire::world::World::from_bytes(&std::fs::read(home.join("planet")).unwrap()).unwrap();
    let args: Vec<String> = [
        "amplify",
        "--target",
        &format!("{}:9993", net.server_ip()),
        "--root",
        home.join("identity.public").to_str().unwrap(),
        "--source",
        "10.77.41.2",
        "--victim",
        "10.77.41.3",
        "--helper",
        &helper,
        "--planet-id",
        &planet.id.to_string(),
        "--network",
        public["id"].as_str().unwrap(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let report = loadgen(&net.clients, &args);
    let log = daemon.stop();
    eprintln!("amplify: {report}");
    let verbs = [
        "whois_x64_lz4",
        "echo",
        "gather",
        "hello_old_planet",
        "config_request",
    ];
    for verb in verbs {
        let r = &report[verb];
        let (sent, got) = (
            r["sent"].as_u64().unwrap(),
            r["to_victim"].as_u64().unwrap(),
        );
        assert!(sent > 0, "{verb}: nothing sent: {report}");
        assert!(
            got <= sent,
            "{verb}: the victim got {got} bytes for {sent} sent: {report}\n{log}"
        );
    }
    let relay = &report["relay_to_a"];
    assert!(
        relay["at_real_path"].as_u64().unwrap() >= 1,
        "the member's relayed traffic did not reach it: {report}\n{log}"
    );
    assert_eq!(
        relay["at_victim"], 0,
        "traffic followed the forgery: {report}"
    );
    assert!(
        // Each packet is replayed 4 times (a lost datagram can make a replay the first).
        stat(&log, "dropped_replayed") >= 3 * verbs.len() as u64,
        "{log}"
    );
}

#[test]
fn random_key_hellos_are_shed_before_key_agreement() {
    if !available() {
        return;
    }
    let net = NetPair::new(42);
    let sources = net.add_client_sources(40);
    let dir = TempDir::new("shed");
    let home = dir.path("home");
    let endpoint = format!("{}/9993", net.server_ip());
    let daemon = Daemon::start(&net.server, &home, &["--endpoint", &endpoint]);
    let pid = daemon.pid();
    let cpu_before = cpu_seconds(pid);
    let mut args: Vec<String> = [
        "flood",
        "--cheap",
        "--target",
        &format!("{}:9993", net.server_ip()),
        "--root",
        home.join("identity.public").to_str().unwrap(),
        "--rate",
        "20000",
        "--seconds",
        "5",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for s in &sources {
        args.extend(["--source".into(), s.clone()]);
    }
    let report = loadgen(&net.clients, &args);
    // Wait until the daemon has read everything the flood sent (its queue drains).
    let sent = report["sent"].as_u64().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut last = -1.0;
    loop {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let now = cpu_seconds(pid);
        if now == last || std::time::Instant::now() > deadline {
            break;
        }
        last = now;
    }
    let cpu = cpu_seconds(pid) - cpu_before;
    let log = daemon.stop();
    let agreements = stat(&log, "agreements");
    let gated = stat(&log, "dropped_agreement_gate");
    let each_us = cpu * 1e6 / sent as f64;
    eprintln!(
        "shed: {report}; ztcd CPU {cpu:.3} s = {each_us:.2} µs per HELLO; agreements {agreements}, \
         refused before agreement {gated}"
    );
    assert!(sent >= 50_000, "the flood was too small: {report}");
    let seconds = report["seconds"].as_f64().unwrap().ceil() as u64 + 1;
    let rate = u64::from(ztcd::limits::AGREEMENTS_PER_SECOND);
    assert!(agreements <= rate * (seconds + 1), "{log}");
    assert!(gated + agreements >= sent * 9 / 10, "{log}");
    // 3 µs is the goal (BENCHMARKS.md has the release figure); the test binaries are built
    // with less optimization and share a loaded machine, so the bound here has a margin.
    assert!(
        each_us <= 6.0,
        "{each_us:.2} µs of ztcd CPU per shed HELLO\n{log}"
    );
}

/// Runs the load generator inside `ns` in the background.
fn spawn_loadgen(ns: &str, args: &[String]) -> std::process::Child {
    Command::new("ip")
        .args(["netns", "exec", ns, LOADGEN])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start ztcd-loadgen")
}

/// A member of a private network floods MULTICAST_LIKEs of random groups (and an outsider
/// does the same) while two real clients on that network find each other by ARP (multicast
/// gather through the root) and talk TCP: the flooding member is held to its quota, the
/// outsider is refused outright, and the others' address resolution keeps working.
#[test]
fn a_members_like_flood_leaves_the_others_arp_working() {
    use ztcd::controller::ip_assign::{Pool4, assign_v4};
    if !available() {
        return;
    }
    let net = NetPair::new(43);
    let flooders = net.add_client_sources(2);
    let dir = TempDir::new("likes");
    let home = dir.path("home");
    let h = home.to_str().unwrap();
    let endpoint = format!("{}/9993", net.server_ip());
    let daemon = Daemon::start(&net.server, &home, &["--endpoint", &endpoint]);
    let nwid = ztcd_ok_in(
        Some(&net.server),
        &[
            "network",
            "create",
            "--home",
            h,
            "--name",
            "lan",
            "--pool",
            "10.98.0.1-10.98.0.254",
            "--route",
            "10.98.0.0/24",
        ],
    );
    let identity = || {
        zt(None, &["id-new"]).1["identity"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (a_id, b_id, m_id, x_id) = (identity(), identity(), identity(), identity());
    for id in [&a_id, &b_id, &m_id] {
        member_set(&net.server, h, &nwid, &id[..10], &["--authorize"]);
    }
    let pools = [Pool4 {
        start: "10.98.0.1".parse().unwrap(),
        end: "10.98.0.254".parse().unwrap(),
    }];
    let routes = [("10.98.0.0".parse().unwrap(), 24)];
    let a_address: ztcd::wire::Address = a_id[..10].parse().unwrap();
    let a_ip = assign_v4(a_address, &pools, &routes, &Default::default())
        .unwrap()
        .0;
    let planet = home.join("planet");
    let root = home.join("identity.public");
    let target = format!("{}:9993", net.server_ip());
    let flood = |source: &str, secret: &str| -> std::process::Child {
        let args: Vec<String> = [
            "likes",
            "--target",
            &target,
            "--root",
            root.to_str().unwrap(),
            "--source",
            source,
            "--identity",
            secret,
            "--network",
            &nwid,
            "--seconds",
            "25",
            "--rate",
            "200",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        spawn_loadgen(&net.clients, &args)
    };
    let listener = common::real::spawn_client(
        &net.clients,
        &planet,
        &dir.path("a"),
        &[
            "--identity",
            &a_id,
            "--join",
            &nwid,
            "--wait",
            "ipv4",
            "--tcp-listen",
            "7600",
            "--deadline",
            "120",
        ],
    );
    let floods = [flood(&flooders[0], &m_id), flood(&flooders[1], &x_id)];
    let to_a = format!("{a_ip}:7600");
    let connector = common::real::spawn_client(
        &net.clients,
        &planet,
        &dir.path("b"),
        &[
            "--identity",
            &b_id,
            "--join",
            &nwid,
            "--wait",
            "ipv4",
            "--net-timeout",
            "60",
            "--tcp-connect",
            &to_a,
            "--deadline",
            "110",
        ],
    );
    let (b_ok, b) = common::real::finish_client(connector);
    let (_, a) = common::real::finish_client(listener);
    let reports: Vec<Value> = floods
        .into_iter()
        .map(|f| {
            serde_json::from_slice(&f.wait_with_output().unwrap().stdout).unwrap_or(Value::Null)
        })
        .collect();
    let log = daemon.stop();
    eprintln!(
        "likes: member {}, outsider {}; refused {} not-member {} subscriptions {}; B: {}",
        reports[0],
        reports[1],
        stat(&log, "multicast_refused"),
        stat(&log, "dropped_not_member"),
        stat(&log, "multicast_subscriptions"),
        b["tcp"]
    );
    assert_eq!(
        reports[0]["configured"], true,
        "the flooding member was not admitted: {log}"
    );
    assert!(
        reports[0]["groups"].as_u64().unwrap_or(0) > 10_000,
        "{}",
        reports[0]
    );
    assert!(
        b_ok && b["tcp"]["ok"] == true,
        "B could not reach A during the flood: {b}\n{log}"
    );
    assert!(a["tcp"]["received"] == b["tcp"]["sent"], "A: {a}");
    assert!(
        stat(&log, "multicast_refused") > 1000,
        "the member's flood was not capped: {log}"
    );
    assert!(
        stat(&log, "dropped_not_member") > 1000,
        "the outsider's flood was not refused: {log}"
    );
    assert!(
        stat(&log, "multicast_gathers") >= 1,
        "no ARP through gather: {log}"
    );
}
