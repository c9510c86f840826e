//! ztcd as root and controller for real clients (libzt 1.8.4) in network namespaces: a
//! private network refuses a member until it is authorized, hands out pool addresses, and two
//! members talk TCP over IPv4 (which needs valid COMs, ARP through multicast gather, and
//! rendezvous); a member is authorized through the HTTP API and deauthorized with `ztcd member
//! set` (which the running daemon carries out); rfc4193 and 6plane addresses arrive, and a
//! client whose identity differs from the member's is refused.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::real::{
    Scene, admin, admin_ok, finish_client, member_set, spawn_client, stat, zt, ztcd_ok_in,
};
use serde_json::Value;
use serde_json::json;
use ztcd::controller::ip_assign::{Pool4, assign_v4, rfc4193, sixplane};
use ztcd::controller::model::Member;
use ztcd::controller::store::Store;
use ztcd::identity::Identity;
use ztcd::wire::{Address, NetworkId};

/// Creates a network with the pool `PREFIX.1-PREFIX.254` and the route `PREFIX.0/24`.
/// The command runs in the daemon's namespace `ns`: the daemon owns the home, so the change
/// goes through its API.
fn create_network(ns: &str, home: &str, name: &str, prefix: &str) -> String {
    let (pool, route) = (format!("{prefix}.1-{prefix}.254"), format!("{prefix}.0/24"));
    ztcd_ok_in(
        Some(ns),
        &[
            "network", "create", "--home", home, "--name", name, "--pool", &pool, "--route", &route,
        ],
    )
}

/// A new identity made by libzt (secret form).
fn new_identity() -> String {
    let (_, v) = zt(None, &["id-new"]);
    v["identity"].as_str().expect("identity").to_owned()
}

/// Authorizes member `address` of `nwid` with `ztcd member set` in the daemon's namespace
/// `ns`; returns what it printed.
fn authorize(ns: &str, home: &str, nwid: &str, address: &str) -> String {
    member_set(ns, home, nwid, address, &["--authorize"])
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
    let nwid = create_network(&net.server, h, "office", "10.99.0");
    let (a_id, b_id) = (new_identity(), new_identity());
    let (a_addr, b_addr) = (&a_id[..10], &b_id[..10]);
    authorize(&net.server, h, &nwid, a_addr);
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
    // B's first request created its (unauthorized) member record, which the API lists as a
    // join request: authorize it through the HTTP API.
    let member = format!("/controller/network/{nwid}/member/{b_addr}");
    let pending = admin_ok(&home, &net.server, "GET", &member, None);
    assert_eq!(pending["authorized"], false, "{pending}");
    assert_eq!(
        pending["identity"].as_str().map(|i| &i[..10]),
        Some(b_addr),
        "{pending}"
    );
    let shown = admin_ok(
        &home,
        &net.server,
        "POST",
        &member,
        Some(json!({"authorized": true})),
    );
    assert_eq!(shown["authorized"], true, "{shown}");

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

/// Polls `GET path` until `done` holds for its answer (deadline 40 s); returns that answer.
fn wait_until(
    home: &std::path::Path,
    ns: &str,
    path: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = std::time::Instant::now();
    loop {
        let v = admin_ok(home, ns, "GET", path, None);
        if done(&v) || start.elapsed() > Duration::from_secs(40) {
            return v;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
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
    let nwid = create_network(&net.server, h, "", "10.98.0");
    let (a_id, b_id) = (new_identity(), new_identity());
    authorize(&net.server, h, &nwid, &a_id[..10]);
    // B was authorized, then deleted before it ever asked: as with zerotier-one, its request
    // is a new join request (ztncui tells its users to undo a deletion that way).
    authorize(&net.server, h, &nwid, &b_id[..10]);
    let member_b = format!("/controller/network/{nwid}/member/{}", &b_id[..10]);
    admin_ok(&home, &net.server, "DELETE", &member_b, None);
    let client = |name: &str, id: &str, extra: &[&str]| {
        let mut args = vec!["--identity", id, "--join", &nwid];
        args.extend_from_slice(extra);
        spawn_client(&net.clients, &planet, &dir.path(name), &args)
    };
    let client_a = client(
        "a",
        &a_id,
        &["--wait", "ipv4", "--hold", "14", "--deadline", "90"],
    );
    let client_b = client(
        "b",
        &b_id,
        &[
            "--wait",
            "status",
            "--net-timeout",
            "20",
            "--deadline",
            "60",
        ],
    );
    // Once A has its configuration, the administrator moves it. Members re-ask only every
    // 60 s, so within the 14 s hold only a push can deliver the change.
    let member_a = format!("/controller/network/{nwid}/member/{}", &a_id[..10]);
    wait_until(&home, &net.server, &member_a, |m| {
        m["online"] == true && m["vMajor"] != -1
    });
    member_set(&net.server, h, &nwid, &a_id[..10], &["--ip", "10.98.0.77"]);
    // The root measured A's round trip on its direct path: what the UIs show as online/direct.
    let peer = wait_until(&home, &net.server, &format!("/peer/{}", &a_id[..10]), |p| {
        p["latency"].as_i64().is_some_and(|l| l >= 0)
    });
    let b = wait_until(
        &home,
        &net.server,
        &format!("/controller/network/{nwid}/member"),
        |l| l.get(&b_id[..10]).is_some(),
    );
    let join_request = admin_ok(&home, &net.server, "GET", &member_b, None);
    let (_, a) = finish_client(client_a);
    let (_, _) = finish_client(client_b);
    let log = daemon.stop();
    let net_a = &a["networks"][&nwid];
    assert_eq!(net_a["status_name"], "OK", "{a}\n{log}");
    assert_eq!(
        net_a["ipv4"], "10.98.0.77",
        "the new address was not pushed: {a}\n{log}"
    );
    eprintln!("A as /peer shows it: {peer}");
    assert!(peer["latency"].as_i64().unwrap() >= 0, "no latency: {peer}");
    let path = &peer["paths"][0];
    assert_eq!(
        (path["active"].clone(), path["preferred"].clone()),
        (json!(true), json!(true)),
        "{peer}"
    );
    assert!(
        b.get(&b_id[..10]).is_some(),
        "the deleted member's new request is not listed: {b}\n{log}"
    );
    assert_eq!(join_request["authorized"], false, "{join_request}");
}

#[test]
fn a_deauthorized_member_is_cut_off_at_once_by_the_com_revocation() {
    // From a shell, as a router owner would: the daemon owns the home, so the command sends
    // the change to its API and the revocation goes out at once.
    cut_off_test(33, "deauth", |scene, nwid, b| {
        let home = scene.home.to_str().unwrap();
        let out = member_set(&scene.net.server, home, nwid, b, &["--deauthorize"]);
        assert!(out.ends_with("authorized=false"), "{out}");
    });
}

#[test]
fn a_member_whose_access_ends_is_cut_off_by_itself() {
    // Access that ends 2 s from now: nobody acts when it does.
    cut_off_test(51, "expiry", |scene, nwid, b| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let path = format!("/controller/network/{nwid}/member/{b}");
        let body = json!({"expiresAt": now + 2_000});
        admin_ok(&scene.home, &scene.net.server, "POST", &path, Some(body));
        let start = std::time::Instant::now();
        while admin_ok(&scene.home, &scene.net.server, "GET", &path, None)["authorized"] == true {
            assert!(start.elapsed() < Duration::from_secs(30), "never expired");
            std::thread::sleep(Duration::from_millis(200));
        }
    });
}

/// Members A (listening), B and D on one network: once B is online, `cut` (given the scene,
/// the network and B's address) ends B's access; B then cannot reach A over TCP, while D can.
fn cut_off_test(subnet: u8, tag: &str, cut: impl FnOnce(&Scene, &str, &str)) {
    let Some(scene) = Scene::start(subnet, tag) else {
        return;
    };
    let Scene {
        ref net,
        ref dir,
        ref home,
        ref planet,
        ..
    } = scene;
    let ours = admin_ok(home, &net.server, "GET", "/status", None)["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"name": "cut", "private": true, "routes": [{"target": "10.97.0.0/24"}]});
    let n = admin_ok(
        home,
        &net.server,
        "POST",
        &format!("/controller/network/{ours}______"),
        Some(body),
    );
    let nwid = n["id"].as_str().unwrap().to_owned();
    // Three members with fixed addresses: A listens, B loses its access before it connects, D
    // connects later as the control (A is reachable, only B is cut off).
    let ids: Vec<String> = (0..3).map(|_| new_identity()).collect();
    for (id, ip) in ids.iter().zip(["10.97.0.10", "10.97.0.11", "10.97.0.12"]) {
        let path = format!("/controller/network/{nwid}/member/{}", &id[..10]);
        admin_ok(
            home,
            &net.server,
            "POST",
            &path,
            Some(json!({"authorized": true, "ipAssignments": [ip]})),
        );
    }
    let client = |name: &str, id: &str, extra: &[&str]| {
        let mut args = vec!["--identity", id, "--join", &nwid, "--wait", "ipv4"];
        args.extend_from_slice(extra);
        spawn_client(&net.clients, planet, &dir.path(name), &args)
    };
    let a = client("a", &ids[0], &["--tcp-listen", "7600", "--deadline", "90"]);
    let b = client(
        "b",
        &ids[1],
        &[
            "--tcp-delay",
            "10",
            "--tcp-connect",
            "10.97.0.10:7600",
            "--tcp-timeout",
            "12",
            "--deadline",
            "90",
        ],
    );
    let d = client(
        "d",
        &ids[2],
        &[
            "--tcp-delay",
            "28",
            "--tcp-connect",
            "10.97.0.10:7600",
            "--tcp-timeout",
            "20",
            "--deadline",
            "90",
        ],
    );
    // Once B has its configuration (and so a valid COM), its access ends.
    let member_b = format!("/controller/network/{nwid}/member/{}", &ids[1][..10]);
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(40) {
        let m = admin_ok(home, &net.server, "GET", &member_b, None);
        if m["online"] == true && m["vMajor"] != -1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    cut(&scene, &nwid, &ids[1][..10]);
    let (_, b) = finish_client(b);
    let (_, d) = finish_client(d);
    let (_, a) = finish_client(a);
    let log = scene.daemon.stop();
    assert_eq!(
        b["networks"][&nwid]["ipv4"], "10.97.0.11",
        "B never joined: {b}"
    );
    assert_ne!(
        b["tcp"]["ok"], true,
        "B still reached A after its deauthorization: {b}\n{log}"
    );
    assert_eq!(
        d["tcp"]["ok"], true,
        "the control member could not reach A: {d}\n{a}\n{log}"
    );
    assert_eq!(
        a["tcp"]["peer"]
            .as_str()
            .map(|p| p.starts_with("10.97.0.12")),
        Some(true),
        "A: {a}"
    );
}

#[test]
fn ipv6_modes_identity_pinning_and_admin_sources() {
    let Some(scene) = Scene::start_with(
        34,
        "v6pin",
        &[
            "--admin-bind",
            "10.77.34.1",
            "--admin-allow",
            "10.77.34.2/32",
        ],
    ) else {
        return;
    };
    let Scene {
        net,
        dir,
        home,
        planet,
        daemon,
    } = scene;
    let server = net.server_ip();
    // The admin API answers an allowed LAN source and refuses any other (401, JSON).
    let (code, status) = admin(
        &home,
        &net.clients,
        &server,
        Some("10.77.34.2"),
        "GET",
        "/status",
        None,
    );
    assert_eq!(code, 200, "{status}");
    let (code, refused) = admin(
        &home,
        &net.clients,
        &server,
        Some("10.77.34.3"),
        "GET",
        "/status",
        None,
    );
    assert_eq!(code, 401, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not allowed"),
        "{refused}"
    );
    let ours = status["address"].as_str().unwrap().to_owned();

    let create = |v6: Value| {
        let body = json!({"name": "v6", "private": true, "v6AssignMode": v6});
        let n = admin_ok(
            &home,
            &net.server,
            "POST",
            &format!("/controller/network/{ours}______"),
            Some(body),
        );
        n["id"].as_str().unwrap().to_owned()
    };
    let (n1, n2) = (
        create(json!({"rfc4193": true})),
        create(json!({"6plane": true})),
    );
    let (a_id, c_id) = (new_identity(), new_identity());
    let (a_addr, c_addr) = (&a_id[..10], &c_id[..10]);
    for n in [&n1, &n2] {
        let path = format!("/controller/network/{n}/member/{a_addr}");
        admin_ok(
            &home,
            &net.server,
            "POST",
            &path,
            Some(json!({"authorized": true})),
        );
    }
    // C's address is an authorized member already, pinned to another key: a client with that
    // address but a different identity must get nothing.
    let nwid1 = NetworkId(u64::from_str_radix(&n1, 16).unwrap());
    let c_address: Address = c_addr.parse().unwrap();
    let mut pinned = Member::new(nwid1, c_address, 1);
    pinned.identity = Some(Identity::new(c_address, [7; 64]));
    pinned.authorized = true;
    Store::open(&home.join("controller.db"))
        .unwrap()
        .put_member(&pinned)
        .unwrap();

    let a = spawn_client(
        &net.clients,
        &planet,
        &dir.path("a"),
        &[
            "--identity",
            &a_id,
            "--join",
            &n1,
            "--join",
            &n2,
            "--wait",
            "ip",
            "--deadline",
            "60",
        ],
    );
    let c = spawn_client(
        &net.clients,
        &planet,
        &dir.path("c"),
        &[
            "--identity",
            &c_id,
            "--join",
            &n1,
            "--wait",
            "status",
            "--net-timeout",
            "20",
            "--deadline",
            "60",
        ],
    );
    let (_, a) = finish_client(a);
    let (_, c) = finish_client(c);
    let c_member = admin_ok(
        &home,
        &net.server,
        "GET",
        &format!("/controller/network/{n1}/member/{c_addr}"),
        None,
    );
    let log = daemon.stop();

    let a_address: Address = a_addr.parse().unwrap();
    let rfc = rfc4193(nwid1, a_address).0;
    let six = sixplane(NetworkId(u64::from_str_radix(&n2, 16).unwrap()), a_address).0;
    let v6 = |v: &Value| v.as_str().unwrap_or_default().to_ascii_lowercase();
    assert_eq!(a["networks"][&n1]["status_name"], "OK", "A: {a}\n{log}");
    assert_eq!(
        v6(&a["networks"][&n1]["ipv6"]),
        rfc.to_string(),
        "no rfc4193 address: {a}"
    );
    assert_eq!(a["networks"][&n2]["status_name"], "OK", "A: {a}\n{log}");
    assert_eq!(
        v6(&a["networks"][&n2]["ipv6"]),
        six.to_string(),
        "no 6plane address: {a}"
    );
    let c1 = &c["networks"][&n1];
    assert!(
        c1["status_name"] != "OK" && c1["ipv4"].is_null() && c1["ipv6"].is_null(),
        "C: {c}"
    );
    assert_eq!(
        c_member["identity"],
        Identity::new(c_address, [7; 64]).to_string(),
        "the pin moved: {c_member}"
    );
    assert!(!log.contains("refusals: 0,"), "C was never refused: {log}");
}

/// A tag-based rule: members whose `department` tags (ID 1000) differ cannot talk. A and B
/// share a department, C is in another: B reaches A over TCP, C does not. The tags reach the
/// clients as signed Tag credentials in their configurations, and the members exchange them.
#[test]
fn a_tag_rule_lets_one_department_talk_and_keeps_another_out() {
    let Some(scene) = Scene::start(49, "tags") else {
        return;
    };
    let Scene {
        net,
        dir,
        home,
        planet,
        daemon,
    } = scene;
    let ours = admin_ok(&home, &net.server, "GET", "/status", None)["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({
        "name": "departments", "private": true, "routes": [{"target": "10.95.0.0/24"}],
        "tags": [{"id": 1000, "default": null}],
        "rules": [
            {"type": "MATCH_TAGS_DIFFERENCE", "not": true, "or": false, "id": 1000, "value": 0},
            {"type": "ACTION_DROP"},
            {"type": "ACTION_ACCEPT"}
        ]
    });
    let n = admin_ok(
        &home,
        &net.server,
        "POST",
        &format!("/controller/network/{ours}______"),
        Some(body),
    );
    let nwid = n["id"].as_str().unwrap().to_owned();
    let ids: Vec<String> = (0..3).map(|_| new_identity()).collect();
    let members = ids
        .iter()
        .zip([("10.95.0.10", 1), ("10.95.0.11", 1), ("10.95.0.12", 2)]);
    for (id, (ip, department)) in members {
        let path = format!("/controller/network/{nwid}/member/{}", &id[..10]);
        let body = json!({"authorized": true, "ipAssignments": [ip], "tags": [[1000, department]]});
        admin_ok(&home, &net.server, "POST", &path, Some(body));
    }
    let client = |name: &str, id: &str, extra: &[&str]| {
        let mut args = vec!["--identity", id, "--join", &nwid, "--wait", "ipv4"];
        args.extend_from_slice(extra);
        spawn_client(&net.clients, &planet, &dir.path(name), &args)
    };
    // A accepts one connection: C (the other department) tries first and must fail, then B.
    let a = client("a", &ids[0], &["--tcp-listen", "7600", "--deadline", "110"]);
    let connect = |delay: &'static str, timeout: &'static str| {
        [
            "--tcp-delay",
            delay,
            "--tcp-connect",
            "10.95.0.10:7600",
            "--tcp-timeout",
            timeout,
            "--deadline",
            "110",
        ]
    };
    let c = client("c", &ids[2], &connect("10", "15"));
    let b = client("b", &ids[1], &connect("30", "40"));
    let (_, c) = finish_client(c);
    let (_, b) = finish_client(b);
    let (_, a) = finish_client(a);
    let log = daemon.stop();
    assert_eq!(
        c["networks"][&nwid]["ipv4"], "10.95.0.12",
        "C never joined: {c}"
    );
    assert_ne!(
        c["tcp"]["ok"], true,
        "C reached A across departments: {c}\n{a}\n{log}"
    );
    assert_eq!(
        b["tcp"]["ok"], true,
        "B could not reach A in its own department: {b}\n{a}\n{log}"
    );
    assert_eq!(
        a["tcp"]["peer"]
            .as_str()
            .map(|p| p.starts_with("10.95.0.11")),
        Some(true),
        "A: {a}"
    );
}

/// An approval window opened from the shell lets the first new device in by itself (it gets
/// its address without anyone authorizing it, and is recorded with where it asked from); the
/// window then is full, and the next new device stays a join request.
#[test]
fn an_approval_window_lets_one_new_device_in_and_then_closes() {
    let Some(scene) = Scene::start(50, "window") else {
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
    let nwid = create_network(&net.server, h, "lobby", "10.94.0");
    let out = ztcd_ok_in(
        Some(&net.server),
        &[
            "network",
            "window",
            "--home",
            h,
            "--network",
            &nwid,
            "--minutes",
            "10",
            "--max-devices",
            "1",
        ],
    );
    assert!(out.starts_with("window open until"), "{out}");
    let join = |name: &str, id: &str, wait: &str| {
        let args = [
            "--identity",
            id,
            "--join",
            &nwid,
            "--wait",
            wait,
            "--net-timeout",
            "40",
        ];
        spawn_client(&net.clients, &planet, &dir.path(name), &args)
    };
    let (a_id, b_id) = (new_identity(), new_identity());
    let (_, a) = finish_client(join("a", &a_id, "ipv4"));
    assert_eq!(a["networks"][&nwid]["status_name"], "OK", "{a}");
    assert!(
        a["networks"][&nwid]["ipv4"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("10.94.0."))
    );
    let w = admin_ok(
        &home,
        &net.server,
        "GET",
        &format!("/ztcd/network/{nwid}/window"),
        None,
    );
    assert_eq!(w["open"], false, "full after one device: {w}");
    assert_eq!(w["admitted"][0]["address"], &a_id[..10], "{w}");
    assert!(
        w["admitted"][0]["physicalAddress"]
            .as_str()
            .is_some_and(|p| p.starts_with("10.77.50.")),
        "{w}"
    );
    // The window is full: the next new device is refused and listed as a join request.
    let (_, b) = finish_client(join("b", &b_id, "ip"));
    let log = daemon.stop();
    assert_ne!(b["networks"][&nwid]["status_name"], "OK", "{b}\n{log}");
    assert!(b["networks"][&nwid]["ipv4"].is_null(), "{b}");
    let store = Store::open(&home.join("controller.db")).unwrap();
    let id = NetworkId(u64::from_str_radix(&nwid, 16).unwrap());
    let pending = store
        .member(id, b_id[..10].parse().unwrap())
        .unwrap()
        .unwrap();
    assert!(!pending.authorized, "{pending:?}");
}
