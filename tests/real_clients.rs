//! Interoperability with a real ZeroTier implementation: libzt 1.8.4 (the ZeroTier 1.8 core)
//! from PyPI, driven through `tests/libzt/zt.py`. The network tests run in namespaces they
//! create, so no packet leaves the machine.

mod common;

use std::process::Command;

use common::real::{
    Daemon, Isolated, NetPair, Scene, TempDir, available, finish_client, spawn_client, stat, zt,
    ztcd_bin,
};
use ztcd::wire::world::World;

fn ztcd(args: &[&str]) -> std::process::Output {
    Command::new(ztcd_bin())
        .args(args)
        .output()
        .expect("run ztcd")
}

/// Flips one hex digit of the public key of an identity string.
fn corrupt(identity: &str) -> String {
    let mut chars: Vec<char> = identity.chars().collect();
    let i = 13 + 40;
    chars[i] = if chars[i] == '0' { '1' } else { '0' };
    chars.into_iter().collect()
}

#[test]
fn identities_interoperate_with_libzt() {
    if !available() {
        return;
    }
    for _ in 0..2 {
        let out = ztcd(&["identity", "new"]);
        assert!(out.status.success());
        let ours = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let (_, v) = zt(None, &["id-valid", &ours]);
        assert_eq!(v["valid"], true, "libzt rejects a ztcd identity: {v}");
        let (_, v) = zt(None, &["id-valid", &corrupt(&ours)]);
        assert_eq!(v["valid"], false, "libzt accepts a corrupted identity");
    }
    for _ in 0..2 {
        let (ok, v) = zt(None, &["id-new"]);
        assert!(ok);
        let theirs = v["identity"].as_str().unwrap().to_owned();
        let out = ztcd(&["identity", "validate", &theirs]);
        assert!(
            out.status.success(),
            "ztcd rejects a libzt identity: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let public: String = theirs.split(':').take(3).collect::<Vec<_>>().join(":");
        assert!(ztcd(&["identity", "validate", &public]).status.success());
        let out = ztcd(&["identity", "validate", &corrupt(&theirs)]);
        assert_eq!(out.status.code(), Some(1));
        let why = String::from_utf8_lossy(&out.stderr);
        assert!(why.contains("invalid:"), "{why}");
    }
}

#[test]
fn libzt_adopts_a_ztcd_planet() {
    if !available() {
        return;
    }
    let dir = TempDir::new("planet");
    let home = dir.path("home");
    let out = ztcd(&[
        "planet",
        "--home",
        home.to_str().unwrap(),
        "--endpoint",
        "10.77.250.1/9993",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Only loopback exists in this namespace: libzt cannot send anything anywhere.
    let ns = Isolated::new("iso");
    let planet = home.join("planet");
    let storage = dir.path("libzt");
    let (_, v) = zt(
        Some(&ns.0),
        &[
            "roots-check",
            planet.to_str().unwrap(),
            storage.to_str().unwrap(),
        ],
    );
    assert_eq!(v["started"], 0, "{v}");
    assert_eq!(
        v["roots_equal"], true,
        "libzt did not store ztcd's planet as its roots: {v}"
    );
}

#[test]
fn clients_come_online_and_reach_each_other_through_ztcd() {
    let Some(Scene {
        net,
        dir,
        planet,
        daemon,
        ..
    }) = Scene::start(11, "online")
    else {
        return;
    };

    // A controller-less (ad-hoc) network: members find each other only through the root
    // (WHOIS, relaying, RENDEZVOUS), so TCP between them proves ztcd does its job.
    let nwid = "ff0000ffff000000";
    let (_, id_a) = zt(None, &["id-new"]);
    let a_identity = id_a["identity"].as_str().unwrap().to_owned();
    let (_, addrs) = zt(None, &["addr", nwid, id_a["address"].as_str().unwrap()]);
    let a_ip = addrs["6plane"].as_str().unwrap().to_owned();
    let (sa, sb) = (dir.path("a"), dir.path("b"));
    let listener = spawn_client(
        &net.clients,
        &planet,
        &sa,
        &[
            "--identity",
            &a_identity,
            "--join",
            nwid,
            "--wait",
            "ip",
            "--tcp-listen",
            "7500",
            "--deadline",
            "100",
        ],
    );
    // A different /24 would not matter to the clients; the validation gate spaces new
    // identities from one /24 by 2 s, so let A be admitted first.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let target = format!("[{a_ip}]:7500");
    let (b_ok, b) = finish_client(spawn_client(
        &net.clients,
        &planet,
        &sb,
        &[
            "--join",
            nwid,
            "--wait",
            "ip",
            "--tcp-connect",
            &target,
            "--deadline",
            "90",
        ],
    ));
    let (a_ok, a) = finish_client(listener);
    let log = daemon.stop();
    assert_eq!(
        a["online"], true,
        "A never came online through ztcd: {a}\n{log}"
    );
    assert_eq!(
        b["online"], true,
        "B never came online through ztcd: {b}\n{log}"
    );
    assert!(
        b_ok && b["tcp"]["ok"] == true,
        "B could not reach A: {b}\n{log}"
    );
    assert!(a_ok && a["tcp"]["received"] == b["tcp"]["sent"], "A: {a}");
    assert!(stat(&log, "hellos_answered") >= 2, "{log}");
    assert!(
        stat(&log, "whois_answered") >= 1,
        "no WHOIS answered: {log}"
    );
    assert!(stat(&log, "relayed_packets") >= 1, "nothing relayed: {log}");
    assert!(stat(&log, "rendezvous_sent") >= 2, "no RENDEZVOUS: {log}");
}

#[test]
fn a_changed_endpoint_reissues_the_planet_and_clients_take_it_in_band() {
    if !available() {
        return;
    }
    let net = NetPair::new(12);
    let dir = TempDir::new("replanet");
    let home = dir.path("home");
    let planet = home.join("planet");
    let storage = dir.path("client");
    let first = format!("{}/9993", net.server_ip());
    let daemon = Daemon::start(&net.server, &home, &["--endpoint", &first]);
    let v1 = std::fs::read(&planet).unwrap();
    let client = |extra: &[&str]| {
        let mut args = vec![
            "--online-timeout",
            "40",
            "--wait",
            "none",
            "--deadline",
            "80",
        ];
        args.extend_from_slice(extra);
        finish_client(spawn_client(&net.clients, &planet, &storage, &args))
    };
    let (_, c1) = client(&[]);
    assert_eq!(c1["online"], true, "{c1}");
    assert_eq!(
        c1["roots_hex"],
        ztcd::hex::encode(&v1),
        "libzt did not cache the first planet"
    );
    daemon.stop();

    // The router gets a second public address: restarting with both re-issues the planet.
    let second = format!("{}/9993", net.add_server_address(4));
    let daemon = Daemon::start(
        &net.server,
        &home,
        &["--endpoint", &first, "--endpoint", &second],
    );
    daemon.wait_for_log("re-issued", std::time::Duration::from_secs(5));
    let v2 = std::fs::read(&planet).unwrap();
    let (w1, w2) = (
        World::from_bytes(&v1).unwrap(),
        World::from_bytes(&v2).unwrap(),
    );
    assert_eq!(w1.id, w2.id);
    assert!(w2.timestamp > w1.timestamp);
    assert!(ztcd::world::should_replace(Some(&w1), &w2));

    // The client starts from the planet it cached (not the new file) and gets the new one
    // from ztcd in OK(HELLO).
    let (_, c2) = client(&["--cached-roots", "--hold", "5"]);
    let log = daemon.stop();
    assert_eq!(c2["online"], true, "{c2}\n{log}");
    assert_eq!(
        c2["roots_hex"],
        ztcd::hex::encode(&v2),
        "the client did not store the re-issued planet: {c2}\n{log}"
    );
}
