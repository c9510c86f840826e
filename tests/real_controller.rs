//! ztcd as root and controller for real clients (libzt 1.8.4) in network namespaces: a
//! private network refuses a member until it is authorized, hands out pool addresses, and two
//! members talk TCP over IPv4 (which needs valid COMs, ARP through multicast gather, and
//! rendezvous).

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::real::{Scene, finish_client, spawn_client, stat, zt, ztcd_ok};
use ztcd::controller::ip_assign::{Pool4, assign_v4};
use ztcd::wire::Address;

/// Creates a network with the pool `PREFIX.1-PREFIX.254` and the route `PREFIX.0/24`.
fn create_network(home: &str, name: &str, prefix: &str) -> String {
    let (pool, route) = (format!("{prefix}.1-{prefix}.254"), format!("{prefix}.0/24"));
    ztcd_ok(&[
        "network", "create", "--home", home, "--name", name, "--pool", &pool, "--route", &route,
    ])
}

/// A new identity made by libzt (secret form).
fn new_identity() -> String {
    let (_, v) = zt(None, &["id-new"]);
    v["identity"].as_str().expect("identity").to_owned()
}

/// Authorizes member `address` of `nwid`; returns what `ztcd member set` printed.
fn authorize(home: &str, nwid: &str, address: &str) -> String {
    ztcd_ok(&[
        "member",
        "set",
        "--home",
        home,
        "--network",
        nwid,
        "--address",
        address,
        "--authorize",
    ])
}

#[test]
fn members_join_a_private_network_and_talk_over_ipv4() {
    let Some(scene) = Scene::start(31, "controller") else {
        return;
    };
    let Scene {
        net,
        dir,
        home,
        planet,
        daemon,
    } = scene;
    let h = home.to_str().unwrap();
    let nwid = create_network(h, "office", "10.99.0");
    let (a_id, b_id) = (new_identity(), new_identity());
    let (a_addr, b_addr) = (&a_id[..10], &b_id[..10]);
    authorize(h, &nwid, a_addr);
    // Where the pool walk puts A (the first member to get an address).
    let pools = [Pool4 {
        start: "10.99.0.1".parse().unwrap(),
        end: "10.99.0.254".parse().unwrap(),
    }];
    let routes = [("10.99.0.0".parse().unwrap(), 24)];
    let a_ip = assign_v4(
        a_addr.parse::<Address>().unwrap(),
        &pools,
        &routes,
        &HashSet::new(),
    )
    .unwrap()
    .0;

    let (sa, sb) = (dir.path("a"), dir.path("b"));
    let listener = spawn_client(
        &net.clients,
        &planet,
        &sa,
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
    // B is not authorized yet: it asks, is refused, and keeps asking every 5 s.
    std::thread::sleep(Duration::from_secs(3));
    let target = format!("{a_ip}:7600");
    let connector = spawn_client(
        &net.clients,
        &planet,
        &sb,
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
            &target,
            "--deadline",
            "110",
        ],
    );
    std::thread::sleep(Duration::from_secs(12));
    // B's first request created its (unauthorized) member record: authorize it now.
    let shown = authorize(h, &nwid, b_addr);
    assert!(shown.contains("authorized=true"), "{shown}");

    let (b_ok, b) = finish_client(connector);
    let (a_ok, a) = finish_client(listener);
    let log = daemon.stop();
    let a_net = &a["networks"][&nwid];
    let b_net = &b["networks"][&nwid];
    assert_eq!(a_net["status_name"], "OK", "A: {a}\n{log}");
    assert_eq!(
        a_net["ipv4"],
        a_ip.to_string(),
        "A did not get its pool address: {a}"
    );
    assert_eq!(b_net["status_name"], "OK", "B: {b}\n{log}");
    let b_ip = b_net["ipv4"].as_str().unwrap_or_default();
    assert!(
        b_ip.starts_with("10.99.0.") && b_ip != a_ip.to_string(),
        "B: {b}"
    );
    assert!(
        b_ok && b["tcp"]["ok"] == true,
        "B could not reach A over IPv4: {b}\n{log}"
    );
    assert!(a_ok && a["tcp"]["received"] == b["tcp"]["sent"], "A: {a}");
    assert!(
        log.contains("refusals: ") && !log.contains("refusals: 0,"),
        "B was never refused: {log}"
    );
    assert!(
        stat(&log, "multicast_gathers") >= 1,
        "no ARP through multicast gather: {log}"
    );
}

#[test]
fn a_changed_member_gets_its_new_config_by_push() {
    let Some(scene) = Scene::start(32, "push") else {
        return;
    };
    let Scene {
        net,
        dir,
        home,
        planet,
        daemon,
    } = scene;
    let h = home.to_str().unwrap();
    let nwid = create_network(h, "", "10.98.0");
    let a_id = new_identity();
    authorize(h, &nwid, &a_id[..10]);
    let storage = dir.path("a");
    let client = spawn_client(
        &net.clients,
        &planet,
        &storage,
        &[
            "--identity",
            &a_id,
            "--join",
            &nwid,
            "--wait",
            "ipv4",
            "--hold",
            "14",
            "--deadline",
            "90",
        ],
    );
    // Online after ~5 s, configured ~5 s later; then the administrator moves it. Members
    // re-ask only every 60 s, so within the 14 s hold only a push can deliver the change.
    std::thread::sleep(Duration::from_secs(13));
    ztcd_ok(&[
        "member",
        "set",
        "--home",
        h,
        "--network",
        &nwid,
        "--address",
        &a_id[..10],
        "--ip",
        "10.98.0.77",
    ]);
    let (_, a) = finish_client(client);
    let log = daemon.stop();
    let net_a = &a["networks"][&nwid];
    assert_eq!(net_a["status_name"], "OK", "{a}\n{log}");
    assert_eq!(
        net_a["ipv4"], "10.98.0.77",
        "the new address was not pushed: {a}\n{log}"
    );
}
