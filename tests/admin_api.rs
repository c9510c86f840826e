//! The admin HTTP API against a running `ztcd` on loopback: the request sequences ztncui,
//! ZeroUI and ztnet issue (zt-api §2), authentication, errors and limits.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::http::{Api, free_port, request};
use common::real::{Daemon, TempDir, ztcd_ok};
use common::udp_member::{Answer, UdpMember};
use serde_json::{Value, json};
use ztcd::identity::Identity;
use ztcd::wire::NetworkId;
use ztcd::wire::verbs::ErrorCode;

struct Local {
    api: Api,
    address: String,
    _daemon: Daemon,
    dir: TempDir,
}

fn start(tag: &str) -> Local {
    let dir = TempDir::new(tag);
    let home = dir.path("home");
    let port = free_port();
    let endpoint = format!("127.0.0.1/{port}");
    let daemon = Daemon::start_local(
        &home,
        &["--port", &port.to_string(), "--endpoint", &endpoint],
    );
    let api = daemon.api();
    let address = api.ok("GET", "/status", None)["address"]
        .as_str()
        .expect("address")
        .to_owned();
    Local {
        api,
        address,
        _daemon: daemon,
        dir,
    }
}

/// The daemon's public identity (its `identity.public`).
fn root_identity(l: &Local) -> Identity {
    std::fs::read_to_string(l.dir.path("home").join("identity.public"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn token_file_and_every_auth_form() {
    let l = start("auth");
    let path = l.dir.path("home").join("authtoken.secret");
    let token = std::fs::read_to_string(&path).unwrap();
    assert_eq!(token.len(), 24, "24 characters, no newline: {token:?}");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let get = |headers: &[(&str, &str)], query: &str| {
        request(
            l.api.addr,
            "GET",
            &format!("/controller/network{query}"),
            headers,
            b"",
        )
    };
    let none = get(&[], "");
    assert_eq!(none.status, 401);
    assert!(none.json()["message"].as_str().unwrap().contains("token"));
    assert_eq!(get(&[("X-ZT1-Auth", "wrong")], "").status, 401);
    assert_eq!(get(&[("X-ZT1-Auth", &token)], "").status, 200);
    assert_eq!(get(&[], &format!("?auth={token}")).status, 200);
    assert_eq!(
        get(&[("Authorization", &format!("Bearer {token}"))], "").status,
        200
    );
    assert_eq!(
        get(&[("Authorization", &format!("Basic {token}"))], "").status,
        401
    );
    // A wrong X-ZT1-Auth is final, as in zerotier-one.
    assert_eq!(
        get(&[("X-ZT1-Auth", "wrong")], &format!("?auth={token}")).status,
        401
    );
    // A refused request changes nothing.
    let r = request(
        l.api.addr,
        "POST",
        &format!("/controller/network/{}______", l.address),
        &[],
        b"{}",
    );
    assert_eq!(r.status, 401);
    assert_eq!(l.api.ok("GET", "/controller/network", None), json!([]));
    // The page itself needs no token and is served with strict headers.
    let page = request(l.api.addr, "GET", "/", &[], b"");
    assert_eq!(page.status, 200);
    assert!(
        page.header("Content-Security-Policy")
            .unwrap()
            .contains("default-src 'none'")
    );
    assert_eq!(page.header("X-Frame-Options"), Some("DENY"));
    assert!(String::from_utf8_lossy(&page.body).contains("<title>ztcd</title>"));
}

#[test]
fn ztncui_sequence() {
    let l = start("ztncui");
    let api = &l.api;
    let status = api.ok("GET", "/status", None);
    assert!(status["version"].is_string() && status["online"].is_boolean());
    let c = api.ok("GET", "/controller", None);
    assert_eq!(
        (c["controller"].clone(), c["apiVersion"].clone()),
        (json!(true), json!(4))
    );
    // Create with only a name; the answer's nwid names the new network.
    let n = api.ok(
        "POST",
        &format!("/controller/network/{}______", l.address),
        Some(json!({"name": "office"})),
    );
    let nwid = n["nwid"].as_str().unwrap().to_owned();
    assert!(nwid.starts_with(&l.address) && nwid.len() == 16);
    assert_eq!(n["id"], n["nwid"]);
    let net = format!("/controller/network/{nwid}");
    // One field per POST, booleans as form strings.
    assert_eq!(
        api.ok("POST", &net, Some(json!({"private": "false"})))["private"],
        false
    );
    assert_eq!(
        api.ok("POST", &net, Some(json!({"v4AssignMode": {"zt": "true"}})))["v4AssignMode"],
        json!({"zt": true})
    );
    let v6 = api.ok(
        "POST",
        &net,
        Some(json!({"v6AssignMode": {"6plane": "false", "rfc4193": "true", "zt": "false"}})),
    );
    assert_eq!(
        v6["v6AssignMode"],
        json!({"6plane": false, "rfc4193": true, "zt": false})
    );
    let pools = json!([{"ipRangeStart": "10.147.20.1", "ipRangeEnd": "10.147.20.254"}]);
    assert_eq!(
        api.ok("POST", &net, Some(json!({"ipAssignmentPools": pools})))["ipAssignmentPools"],
        pools
    );
    let routes = json!([{"target": "10.147.20.0/24", "via": null}]);
    assert_eq!(
        api.ok("POST", &net, Some(json!({"routes": routes})))["routes"],
        routes
    );
    let dns = json!({"domain": "office.lan", "servers": ["10.147.20.1"]});
    assert_eq!(api.ok("POST", &net, Some(json!({"dns": dns})))["dns"], dns);
    let n = api.ok("GET", &net, None);
    assert_eq!(n["name"], "office");
    assert_eq!(n["revision"], 7, "one revision per change");
    assert_eq!(api.ok("GET", "/controller/network", None), json!([nwid]));
    // Members: authorize by address, list as a map, edit IPs, delete.
    let m = api.ok(
        "POST",
        &format!("{net}/member/abcdef0123"),
        Some(json!({"authorized": "true"})),
    );
    for k in [
        "id",
        "address",
        "nwid",
        "authorized",
        "activeBridge",
        "ipAssignments",
    ] {
        assert!(m.get(k).is_some(), "member lacks {k}: {m}");
    }
    let list = api.ok("GET", &format!("{net}/member"), None);
    assert_eq!(list, json!({"abcdef0123": 1}));
    let m = api.ok(
        "POST",
        &format!("{net}/member/abcdef0123"),
        Some(json!({"ipAssignments": ["10.147.20.9"]})),
    );
    assert_eq!(m["ipAssignments"], json!(["10.147.20.9"]));
    assert_eq!(
        api.ok(
            "POST",
            &format!("{net}/member/abcdef0123"),
            Some(json!({"activeBridge": "true"}))
        )["activeBridge"],
        true
    );
    let gone = api.ok("DELETE", &format!("{net}/member/abcdef0123"), None);
    assert_eq!(
        gone["address"], "abcdef0123",
        "DELETE answers with the object"
    );
    assert_eq!(
        api.call("GET", &format!("{net}/member/abcdef0123"), None)
            .status,
        404
    );
    assert_eq!(api.ok("GET", "/peer", None), json!([]));
    assert_eq!(api.ok("GET", "/peer/abcdef0123", None), json!({}));
    assert_eq!(api.ok("DELETE", &net, None)["nwid"], json!(nwid));
    assert_eq!(api.call("GET", &net, None).status, 404);
}

#[test]
fn zeroui_sequence() {
    let l = start("zeroui");
    let api = &l.api;
    let create = json!({
        "name": "zu", "private": true, "v4AssignMode": {"zt": true},
        "v6AssignMode": {"6plane": false, "rfc4193": false, "zt": false},
        "routes": [{"target": "172.30.4.0/24", "via": null, "flags": 0, "metric": 0}],
        "ipAssignmentPools": [{"ipRangeStart": "172.30.4.1", "ipRangeEnd": "172.30.4.254"}],
        "enableBroadcast": true,
        "rules": [
            {"type": "MATCH_ETHERTYPE", "not": true, "or": false, "etherType": 2048},
            {"type": "MATCH_ETHERTYPE", "not": true, "or": false, "etherType": 2054},
            {"type": "MATCH_ETHERTYPE", "not": true, "or": false, "etherType": 34525},
            {"type": "ACTION_DROP"},
            {"type": "ACTION_ACCEPT"}
        ]
    });
    let n = api.ok(
        "POST",
        &format!("/controller/network/{}______", l.address),
        Some(create),
    );
    let id = n["id"].as_str().unwrap().to_owned();
    assert_eq!(
        n["routes"],
        json!([{"target": "172.30.4.0/24", "via": null}]),
        "extra route keys are dropped"
    );
    assert_eq!(n["rules"].as_array().unwrap().len(), 5);
    for k in [
        "id",
        "name",
        "private",
        "routes",
        "ipAssignmentPools",
        "multicastLimit",
        "enableBroadcast",
        "rules",
        "capabilities",
        "tags",
        "objtype",
        "revision",
        "rulesSource",
        "remoteTraceLevel",
        "remoteTraceTarget",
    ] {
        assert!(n.get(k).is_some(), "network lacks {k}");
    }
    let net = format!("/controller/network/{id}");
    api.ok(
        "POST",
        &format!("{net}/member/1122334455"),
        Some(json!({"authorized": true, "name": "pc"})),
    );
    let list = api.ok("GET", &format!("{net}/member"), None);
    assert!(list.is_object(), "ZeroUI needs a map: {list}");
    let m = api.ok("GET", &format!("{net}/member/1122334455"), None);
    for k in [
        "id",
        "address",
        "nwid",
        "authorized",
        "activeBridge",
        "noAutoAssignIps",
        "ipAssignments",
        "capabilities",
        "tags",
        "vMajor",
        "vMinor",
        "vRev",
        "name",
    ] {
        assert!(m.get(k).is_some(), "member lacks {k}");
    }
    // ZeroUI deletes, then posts a stub to the same member: as with zerotier-one, the stub
    // re-creates it as an unauthorized member (not blocked, its address released).
    api.ok("DELETE", &format!("{net}/member/1122334455"), None);
    assert_eq!(api.ok("GET", &format!("{net}/member"), None), json!({}));
    let stub = api.ok(
        "POST",
        &format!("{net}/member/1122334455"),
        Some(json!({"authorized": false, "ipAssignments": [], "capabilities": [], "tags": []})),
    );
    assert_eq!(
        (
            stub["banned"].clone(),
            stub["authorized"].clone(),
            stub["name"].clone()
        ),
        (json!(false), json!(false), json!(""))
    );
    assert_eq!(
        keys(&api.ok("GET", &format!("{net}/member"), None)),
        vec!["1122334455"]
    );
}

#[test]
fn ztnet_sequence_and_extensions() {
    let l = start("ztnet");
    let api = &l.api;
    let n = api.ok(
        "POST",
        &format!("/controller/network/{}______", l.address),
        Some(json!({
            "name": "zn", "private": true,
            "ipAssignmentPools": [{"ipRangeStart": "10.121.15.1", "ipRangeEnd": "10.121.15.254"}],
            "routes": [{"target": "10.121.15.0/24"}], "v4AssignMode": {"zt": true}
        })),
    );
    let net = format!("/controller/network/{}", n["id"].as_str().unwrap());
    api.ok("POST", &net, Some(json!({"mtu": 1400, "multicastLimit": 64, "enableBroadcast": false, "dns": {"domain": "", "servers": []}})));
    let n = api.ok("POST", &net, Some(json!({"rules": [{"type": "ACTION_ACCEPT"}], "capabilities": [], "tags": [], "capabilitiesByName": {}, "tagsByName": {}, "rulesSource": "#", "description": "x"})));
    assert_eq!(
        (
            n["mtu"].clone(),
            n["multicastLimit"].clone(),
            n["dns"].clone()
        ),
        (json!(1400), json!(64), json!({"domain": "", "servers": []}))
    );
    // POST /controller/network (1.12+) creates too.
    let other = api.ok(
        "POST",
        "/controller/network",
        Some(json!({"name": "second"})),
    );
    assert_ne!(other["id"], n["id"]);
    let m = api.ok(
        "POST",
        &format!("{net}/member/0a0b0c0d0e"),
        Some(json!({
            "name": "nas", "authorized": true, "activeBridge": false, "noAutoAssignIps": false,
            "ipAssignments": ["10.121.15.20"], "capabilities": [2, 1], "tags": [[7, 3]]
        })),
    );
    assert_eq!(
        (m["capabilities"].clone(), m["tags"].clone()),
        (json!([1, 2]), json!([[7, 3]]))
    );
    // ztcd's additions: details in one request, last seen, online, physical address.
    let detailed = api.ok("GET", &format!("{net}/member?details=1"), None);
    let first = &detailed.as_array().unwrap()[0];
    assert_eq!(first["address"], "0a0b0c0d0e");
    assert_eq!(
        (first["online"].clone(), first["lastSeen"].clone()),
        (json!(false), json!(0))
    );
    let unstable = api.ok("GET", "/unstable/controller/network", None);
    assert_eq!(unstable["meta"]["networkCount"], 2);
    let metrics = api.call("GET", "/metrics", None);
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8_lossy(&metrics.body);
    for line in [
        "ztcd_networks 2",
        "ztcd_members 1",
        "ztcd_cache_hits_total 0",
        "ztcd_packets_dropped_total{reason=\"bad_mac\"} 0",
        "ztcd_node_validations_total 0",
    ] {
        assert!(text.contains(line), "metrics lack {line:?}:\n{text}");
    }
    let planet = api.call("GET", "/ztcd/planet", None);
    assert_eq!(planet.status, 200);
    assert_eq!(
        planet.body,
        std::fs::read(l.dir.path("home").join("planet")).unwrap()
    );
    // The planet needs no token (a device fetches it with curl); everything else does.
    let anon = Api {
        token: String::new(),
        ..api.clone()
    };
    assert_eq!(anon.call("GET", "/ztcd/planet", None).body, planet.body);
    assert_eq!(anon.call("GET", "/ztcd/moon", None).status, 401);
    assert_eq!(anon.call("GET", "/status", None).status, 401);
    assert_eq!(api.call("GET", "/ztcd/moon", None).status, 404);
    // Without --backup-to the backup endpoints say what is missing.
    let r = api.call("POST", "/ztcd/backup", None);
    assert_eq!(r.status, 404);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("--backup-to")
    );
}

#[test]
fn errors_name_the_field_and_write_nothing() {
    let l = start("errors");
    let api = &l.api;
    let n = api.ok(
        "POST",
        &format!("/controller/network/{}______", l.address),
        Some(json!({"name": "e"})),
    );
    let net = format!("/controller/network/{}", n["id"].as_str().unwrap());
    let bad = |body: &str, want: &str| {
        let r = request(
            api.addr,
            "POST",
            &net,
            &[("X-ZT1-Auth", &api.token)],
            body.as_bytes(),
        );
        assert_eq!(r.status, 400, "{body}");
        let msg = r.json()["message"].as_str().unwrap().to_owned();
        assert!(msg.starts_with(want), "{body}: {msg}");
    };
    bad("{\"name\": ", "body: invalid JSON");
    bad("[1, 2]", "body: expected a JSON object");
    bad("{\"mtu\": \"big\"}", "mtu: expected an integer");
    bad("{\"private\": [true]}", "private: expected a boolean");
    bad(
        "{\"routes\": [{\"target\": \"10.0.0.0/99\"}]}",
        "routes[0].target",
    );
    bad(
        "{\"ipAssignmentPools\": [{\"ipRangeStart\": \"10.0.0.1\"}]}",
        "ipAssignmentPools[0].ipRangeEnd: missing",
    );
    bad(
        "{\"dns\": {\"servers\": [\"not-an-ip\"]}}",
        "dns.servers[0]",
    );
    bad("{\"name\": \"ok\", \"mtu\": 1}", "mtu:");
    assert_eq!(
        api.ok("GET", &net, None)["name"],
        "e",
        "a refused POST writes nothing"
    );
    assert_eq!(api.ok("GET", &net, None)["revision"], 1);
    let m = api.call(
        "POST",
        &format!("{net}/member/0102030405"),
        Some(json!({"ipAssignments": [7]})),
    );
    assert_eq!(m.status, 400);
    assert!(
        m.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("ipAssignments[0]")
    );
    assert_eq!(
        api.call("GET", "/controller/network/00000000000000ff", None)
            .status,
        404
    );
    assert_eq!(
        api.call("GET", &format!("{net}/member/0102030405"), None)
            .status,
        404
    );
    assert_eq!(
        api.call("GET", "/controller/network/nothex", None).status,
        404
    );
    assert_eq!(api.call("GET", "/no/such/path", None).status, 404);
    let foreign = api.call(
        "POST",
        "/controller/network/1234567890______",
        Some(json!({})),
    );
    assert_eq!(foreign.status, 400);
    // Bodies over the cap are refused with 413 before they reach the controller.
    let big = vec![b' '; 2 * 1024 * 1024];
    let r = request(api.addr, "POST", &net, &[("X-ZT1-Auth", &api.token)], &big);
    assert_eq!(r.status, 413);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("larger than")
    );
}

#[test]
fn killed_mid_write_storm_keeps_every_acknowledged_write() {
    let l = start("storm");
    let n = l.api.ok(
        "POST",
        &format!("/controller/network/{}______", l.address),
        Some(json!({"name": "storm"})),
    );
    let nwid = n["id"].as_str().unwrap().to_owned();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..8u64)
        .map(|t| {
            let (addr, token, nwid, stop) =
                (l.api.addr, l.api.token.clone(), nwid.clone(), stop.clone());
            std::thread::spawn(move || {
                let api = Api { addr, token };
                let mut acked = Vec::new();
                for i in 0u64.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let address = format!("{:010x}", 0x10_0000_0000 + t * 1_000_000 + i);
                    let body = json!({"authorized": true, "name": format!("w{t}-{i}")});
                    let ok = std::panic::catch_unwind(|| {
                        api.call(
                            "POST",
                            &format!("/controller/network/{nwid}/member/{address}"),
                            Some(body),
                        )
                        .status
                    });
                    match ok {
                        Ok(200) => acked.push(address),
                        _ => break,
                    }
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let pid = l._daemon.pid();
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acked: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        acked.len() > 100,
        "only {} writes acknowledged",
        acked.len()
    );
    let store =
        ztcd::controller::store::Store::open(&l.dir.path("home").join("controller.db")).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let id = ztcd::wire::NetworkId(u64::from_str_radix(&nwid, 16).unwrap());
    let stored: std::collections::HashMap<String, ztcd::controller::model::Member> = store
        .members(id)
        .unwrap()
        .into_iter()
        .map(|m| (m.address.to_string(), m))
        .collect();
    let lost: Vec<&String> = acked
        .iter()
        .filter(|a| !stored.get(*a).is_some_and(|m| m.authorized))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost, e.g. {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
    eprintln!(
        "{} acknowledged writes before the kill, all present",
        acked.len()
    );
}

/// Out of file descriptors, the admin listener keeps going: failed accepts (EMFILE) are
/// counted and retried after a pause, nothing aborts, and once the connections holding the
/// descriptors are gone the API answers again.
#[test]
fn out_of_file_descriptors_the_admin_listener_recovers() {
    use std::net::TcpStream;
    use std::time::{Duration, Instant};
    const NOFILE: u32 = 48;
    let dir = TempDir::new("nofile");
    let home = dir.path("home");
    let port = free_port();
    let endpoint = format!("127.0.0.1/{port}");
    let daemon = Daemon::start_local_with_nofile(
        &home,
        &[
            "--port",
            &port.to_string(),
            "--endpoint",
            &endpoint,
            "--log-level",
            "debug",
        ],
        NOFILE,
    );
    let api = daemon.api();
    let addr = api.addr;
    let open_fds =
        || std::fs::read_dir(format!("/proc/{}/fd", daemon.pid())).map_or(0, |d| d.count());
    // Idle connections until the daemon has no descriptor left (the kernel queues the rest).
    let mut held = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while open_fds() < NOFILE as usize && Instant::now() < deadline {
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            held.push(s);
        }
    }
    assert!(
        open_fds() >= NOFILE as usize,
        "the descriptors never ran out"
    );
    // More connections: the daemon's accepts now fail (logged at debug level).
    for _ in 0..16 {
        held.extend(TcpStream::connect_timeout(&addr, Duration::from_secs(2)));
    }
    daemon.wait_for_log("admin accept:", Duration::from_secs(10));
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        if let Some(r) = api.try_call("GET", "/metrics", None)
            && r.status == 200
        {
            break String::from_utf8_lossy(&r.body).into_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the admin API never answered again"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let accept_errors: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ztcd_admin_accept_errors_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("accept errors counted");
    assert!(accept_errors > 0, "no failed accept was seen: {metrics}");
    assert_eq!(api.ok("GET", "/status", None)["online"], true);
}

/// What ztncui, ZeroUI and ztnet show after a device really asked must be true: the requests
/// below are the ones those UIs send, the device is a member over real UDP.
#[test]
fn what_the_uis_show_of_a_real_device_is_true() {
    let l = start("truth");
    let api = &l.api;
    let root = root_identity(&l);
    // ztnet's create with a route through its "lan" gateway (its schema allows it): stored
    // with via null, as zerotier-one stores it. ZeroUI's DNS reset answers the object form.
    let n = api.ok(
        "POST",
        &format!("/controller/network/{}______", l.address),
        Some(json!({
            "name": "truth", "private": true, "v4AssignMode": {"zt": true},
            "ipAssignmentPools": [{"ipRangeStart": "10.121.16.1", "ipRangeEnd": "10.121.16.254"}],
            "routes": [{"target": "10.121.16.0/24", "via": null},
                       {"target": "192.168.77.0/24", "via": "lan"}]
        })),
    );
    assert_eq!(
        n["routes"][1],
        json!({"target": "192.168.77.0/24", "via": null})
    );
    let nwid_text = n["id"].as_str().unwrap().to_owned();
    let nwid = NetworkId(u64::from_str_radix(&nwid_text, 16).unwrap());
    let net = format!("/controller/network/{nwid_text}");
    let cleared = json!({"domain": "", "servers": []});
    assert_eq!(
        api.ok("POST", &net, Some(json!({"dns": cleared})))["dns"],
        cleared
    );
    // A device asks to join: listed as an unauthorized member (a join request in all three).
    let mut dev = UdpMember::new(77, root, api.addr);
    let member = format!("{net}/member/{}", dev.address());
    dev.hello();
    assert_eq!(
        dev.request(nwid),
        Answer::Refused(ErrorCode::NetworkAccessDenied)
    );
    assert_eq!(api.ok("GET", &member, None)["authorized"], false);
    api.ok("POST", &member, Some(json!({"authorized": true})));
    assert_eq!(dev.request(nwid), Answer::Config);
    // /peer: a measured latency and an active, preferred direct path (ztncui shows ONLINE,
    // ZeroUI and ztnet DIRECT, instead of offline or RELAYED).
    let p = api.ok("GET", &format!("/peer/{}", dev.address()), None);
    assert!(p["latency"].as_i64().unwrap() >= 0, "{p}");
    let path = &p["paths"][0];
    assert_eq!(
        (path["active"].clone(), path["preferred"].clone()),
        (json!(true), json!(true)),
        "{p}"
    );
    assert!(path["lastSend"].as_u64().unwrap() > 0, "{p}");
    assert_eq!(p["versionMajor"], 1);
    // Renaming the network pushes to the device but is no sighting of it.
    let seen = api.ok("GET", &member, None)["lastSeen"].clone();
    let later = std::time::Instant::now();
    while later.elapsed() < std::time::Duration::from_millis(20) {
        std::thread::yield_now();
    }
    api.ok("POST", &net, Some(json!({"name": "renamed"})));
    assert_eq!(api.ok("GET", &member, None)["lastSeen"], seen);
    // ztncui's and ztnet's delete: gone, and the device's next request is a new join request.
    api.ok("DELETE", &member, None);
    assert_eq!(api.call("GET", &member, None).status, 404);
    assert_eq!(
        dev.request(nwid),
        Answer::Refused(ErrorCode::NetworkAccessDenied)
    );
    let again = api.ok("GET", &member, None);
    assert_eq!(
        (
            again["authorized"].clone(),
            again["banned"].clone(),
            again["ipAssignments"].clone()
        ),
        (json!(false), json!(false), json!([]))
    );
    assert!(api.ok("GET", &format!("{net}/member"), None)[dev.address().to_string()].is_u64());
    // ztcd's block: refused and listed as blocked until unblocked.
    api.ok(
        "POST",
        &member,
        Some(json!({"authorized": true, "banned": true})),
    );
    assert_eq!(
        dev.request(nwid),
        Answer::Refused(ErrorCode::NetworkAccessDenied)
    );
    let blocked = api.ok("GET", &format!("{net}/member?details=1"), None);
    assert_eq!(
        (
            blocked[0]["banned"].clone(),
            blocked[0]["authorized"].clone()
        ),
        (json!(true), json!(false))
    );
    api.ok(
        "POST",
        &member,
        Some(json!({"banned": false, "authorized": true})),
    );
    assert_eq!(dev.request(nwid), Answer::Config);
}

/// One daemon per home, and the management commands go through the daemon that owns it: a
/// second `ztcd run` is refused before it writes anything, `restore` into a running home is
/// refused, and `ztcd member set` gets the API's rules (unblock, unique addresses) while the
/// daemon runs and after it stopped.
#[test]
fn one_owner_per_home_and_the_cli_follows_the_api_rules() {
    let l = start("owner");
    let api = &l.api;
    let home = l.dir.path("home");
    let h = home.to_str().unwrap();
    let planet = std::fs::read(home.join("planet")).unwrap();
    let port = free_port();
    let second = common::real::output_within(
        Command::new(common::real::ztcd_bin())
            .args(["run", "--home", h, "--port", &port.to_string()])
            .args(["--endpoint", &format!("127.0.0.1/{port}")]),
        std::time::Duration::from_secs(60),
    );
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        !second.status.success() && err.contains("in use by another ztcd"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(home.join("planet")).unwrap(),
        planet,
        "planet rewritten"
    );
    let restore = Command::new(common::real::ztcd_bin())
        .args(["restore", "/nonexistent.ztb", "--home", h, "--force"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&restore.stderr);
    assert!(!restore.status.success() && err.contains("in use"), "{err}");
    // While the daemon runs, the CLI's changes are the API's.
    let nwid = ztcd_ok(&[
        "network",
        "create",
        "--home",
        h,
        "--name",
        "cli",
        "--pool",
        "10.5.0.1-10.5.0.9",
    ]);
    assert_eq!(
        api.ok("GET", &format!("/controller/network/{nwid}"), None)["name"],
        "cli"
    );
    let member = |a: &str| format!("/controller/network/{nwid}/member/{a}");
    api.ok("POST", &member("aaaaaaaaaa"), Some(json!({"banned": true})));
    let set = |args: &[&str]| {
        let mut all = vec!["member", "set", "--home", h, "--network", &nwid];
        all.extend_from_slice(args);
        Command::new(common::real::ztcd_bin())
            .args(&all)
            .output()
            .unwrap()
    };
    assert!(
        set(&["--address", "aaaaaaaaaa", "--authorize"])
            .status
            .success()
    );
    let m = api.ok("GET", &member("aaaaaaaaaa"), None);
    assert_eq!(
        (m["banned"].clone(), m["authorized"].clone()),
        (json!(false), json!(true))
    );
    assert!(
        set(&["--address", "aaaaaaaaaa", "--ip", "10.5.0.5"])
            .status
            .success()
    );
    let dup = set(&["--address", "bbbbbbbbbb", "--ip", "10.5.0.5"]);
    let err = String::from_utf8_lossy(&dup.stderr);
    assert!(
        !dup.status.success() && err.contains("already assigned"),
        "{err}"
    );
    // With the daemon stopped, the same rules apply offline.
    let Local { _daemon, dir, .. } = l;
    drop(_daemon);
    let dup = set(&["--address", "bbbbbbbbbb", "--ip", "10.5.0.5"]);
    let err = String::from_utf8_lossy(&dup.stderr);
    assert!(
        !dup.status.success() && err.contains("already assigned"),
        "{err}"
    );
    let ok = set(&["--address", "bbbbbbbbbb", "--ip", "10.5.0.6", "--authorize"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    drop(dir);
}

/// Another process holding the database's write lock (a `sqlite3` shell left in a
/// transaction) for 12 s: the root keeps answering HELLOs and cached configurations at once,
/// `/status` answers, an API write is refused with 503 naming the lock and is not applied, a
/// new member's request is left unanswered (it asks again) rather than refused, and all of it
/// works once the lock is gone.
#[test]
fn a_foreign_database_lock_never_stalls_the_root() {
    use std::time::{Duration, Instant};
    let l = start("dblock");
    let api = &l.api;
    let home = l.dir.path("home");
    let root = root_identity(&l);
    let n = api.ok(
        "POST",
        &format!("/controller/network/{}______", l.address),
        Some(json!({"name": "locked", "private": true})),
    );
    let nwid_text = n["id"].as_str().unwrap().to_owned();
    let nwid = NetworkId(u64::from_str_radix(&nwid_text, 16).unwrap());
    let member = |a: String| format!("/controller/network/{nwid_text}/member/{a}");
    let mut known = UdpMember::new(91, root, api.addr);
    known.hello();
    api.ok(
        "POST",
        &member(known.address().to_string()),
        Some(json!({"authorized": true})),
    );
    assert_eq!(known.request(nwid), Answer::Config);
    let mut last_request = Instant::now();
    let mut newcomer = UdpMember::new(92, root, api.addr);
    newcomer.hello();

    let foreign = rusqlite::Connection::open(home.join("controller.db")).unwrap();
    foreign.execute_batch("BEGIN IMMEDIATE").unwrap();
    let locked = Instant::now();
    let (mut hellos, mut configs) = (Vec::new(), Vec::new());
    let t = Instant::now();
    let status = api.call("GET", "/status", None);
    assert_eq!(status.status, 200);
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "/status took {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    let refused = api.call(
        "POST",
        &member("aaaaaaaaaa".into()),
        Some(json!({"authorized": true})),
    );
    assert_eq!(
        refused.status,
        503,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("locked by another process")
    );
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "the write took {:?}",
        t.elapsed()
    );
    assert_eq!(
        newcomer.try_request(nwid, Duration::from_secs(2)),
        None,
        "an undecided request is not answered"
    );
    while locked.elapsed() < Duration::from_secs(12) {
        let t = Instant::now();
        known.hello();
        hellos.push(t.elapsed());
        // The controller ignores a member's repeat within 1 s.
        while last_request.elapsed() < Duration::from_millis(1100) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let t = Instant::now();
        assert_eq!(
            known.try_request(nwid, Duration::from_secs(2)),
            Some(Answer::Config)
        );
        configs.push(t.elapsed());
        last_request = Instant::now();
    }
    foreign.execute_batch("ROLLBACK").unwrap();
    hellos.sort();
    configs.sort();
    eprintln!("during the lock: OK(HELLO) {hellos:?}, cached configs {configs:?}");
    assert!(
        hellos[hellos.len() / 2] < Duration::from_millis(100),
        "{hellos:?}"
    );
    assert!(
        configs[configs.len() / 2] < Duration::from_millis(100),
        "{configs:?}"
    );
    assert!(
        hellos
            .iter()
            .chain(&configs)
            .all(|d| *d < Duration::from_secs(1))
    );
    // Nothing refused was applied; after the lock everything goes through.
    assert_eq!(
        api.call("GET", &member("aaaaaaaaaa".into()), None).status,
        404
    );
    api.ok(
        "POST",
        &member("aaaaaaaaaa".into()),
        Some(json!({"authorized": true})),
    );
    assert_eq!(
        newcomer.request(nwid),
        Answer::Refused(ErrorCode::NetworkAccessDenied)
    );
    assert_eq!(
        api.ok("GET", &member(newcomer.address().to_string()), None)["authorized"],
        false
    );
    // A reload signal (SIGHUP, as procd sends) writes what is pending and never stops it.
    let kill = Command::new("kill")
        .args(["-HUP", &l._daemon.pid().to_string()])
        .output()
        .unwrap();
    assert!(kill.status.success());
    l._daemon
        .wait_for_log("last-seen times written", Duration::from_secs(10));
    assert_eq!(api.call("GET", "/status", None).status, 200);
}

/// `GET …/member?details=1` for 50,000 members is streamed page by page: the whole list
/// arrives, in order, while the daemon's memory grows by a page rather than the list and
/// `/status` keeps answering at once.
#[test]
fn a_large_member_list_is_streamed_without_holding_the_owner() {
    use std::time::{Duration, Instant};
    use ztcd::controller::model::Member;
    use ztcd::wire::Address;
    const MEMBERS: u64 = 50_000;
    let l = start("bigl");
    let api = &l.api;
    let n = api.ok(
        "POST",
        &format!("/controller/network/{}______", l.address),
        Some(json!({"name": "big"})),
    );
    let nwid_text = n["id"].as_str().unwrap().to_owned();
    let nwid = NetworkId(u64::from_str_radix(&nwid_text, 16).unwrap());
    let mut store =
        ztcd::controller::store::Store::open(&l.dir.path("home").join("controller.db")).unwrap();
    store
        .transaction(|s| {
            for i in 0..MEMBERS {
                let mut m = Member::new(nwid, Address::new(0x10_0000_0000 + i), 0);
                m.name = format!("device {i}");
                s.put_member(&m)?;
            }
            Ok(())
        })
        .unwrap();
    drop(store);
    let pid = l._daemon.pid().to_string();
    let hwm = |what: &str| ztcd::testkit::status_field(&pid, what).expect("a /proc status field");
    api.ok("GET", "/status", None);
    let before = hwm("VmHWM");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let prober = {
        let (api, done) = (api.clone(), done.clone());
        std::thread::spawn(move || {
            let mut worst = Duration::ZERO;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                assert_eq!(api.call("GET", "/status", None).status, 200);
                worst = worst.max(t.elapsed());
                std::thread::sleep(Duration::from_millis(10));
            }
            worst
        })
    };
    let t = Instant::now();
    let list = api.ok(
        "GET",
        &format!("/controller/network/{nwid_text}/member?details=1"),
        None,
    );
    let took = t.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let worst = prober.join().unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len() as u64, MEMBERS);
    assert_eq!(list[0]["address"], "1000000000");
    assert_eq!(
        list[list.len() - 1]["name"],
        format!("device {}", MEMBERS - 1)
    );
    let grown = hwm("VmHWM").saturating_sub(before);
    eprintln!(
        "50,000 members with details in {took:?}: peak RSS +{grown} KiB, /status at worst {worst:?}"
    );
    assert!(grown < 16 * 1024, "peak RSS grew {grown} KiB");
    assert!(
        worst < Duration::from_millis(500),
        "/status waited {worst:?}"
    );
}

/// A member whose authorization ends (`expiresAt`, ztcd's extension; `ztcd member set
/// --expires`) is cut off by itself, exactly as by a deauthorization, and can be authorized
/// again.
#[test]
fn an_authorization_that_runs_out_cuts_the_device_off() {
    use std::time::{Duration, Instant};
    let l = start("expiry");
    let api = &l.api;
    let root = root_identity(&l);
    let n = api.ok(
        "POST",
        &format!("/controller/network/{}______", l.address),
        Some(json!({"name": "expiry", "private": true})),
    );
    let nwid_text = n["id"].as_str().unwrap().to_owned();
    let nwid = NetworkId(u64::from_str_radix(&nwid_text, 16).unwrap());
    let mut dev = UdpMember::new(93, root, api.addr);
    let member = format!("/controller/network/{nwid_text}/member/{}", dev.address());
    dev.hello();
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    };
    let ends = now_ms() + 3_000;
    let m = api.ok(
        "POST",
        &member,
        Some(json!({"authorized": true, "expiresAt": ends})),
    );
    assert_eq!(m["expiresAt"], ends);
    assert_eq!(dev.request(nwid), Answer::Config);
    // Asked again after the end, it is refused (within the sweep's second).
    let start = Instant::now();
    let mut refused = false;
    while start.elapsed() < Duration::from_secs(20) && !refused {
        std::thread::sleep(Duration::from_millis(1100));
        refused = now_ms() > ends + 1_000
            && dev.try_request(nwid, Duration::from_secs(2))
                == Some(Answer::Refused(ErrorCode::NetworkAccessDenied));
    }
    assert!(refused, "still served after its authorization ran out");
    let m = api.ok("GET", &member, None);
    assert_eq!(m["authorized"], false);
    assert!(m["lastDeauthorizedTime"].as_u64().unwrap() >= ends);
    // Authorized again (its old end no longer applies) it is served again.
    let m = api.ok("POST", &member, Some(json!({"authorized": true})));
    assert_eq!(m["expiresAt"], 0);
    assert_eq!(dev.request(nwid), Answer::Config);
    // The CLI sets an end too (through the running daemon).
    let out = ztcd_ok(&[
        "member",
        "set",
        "--home",
        l.dir.path("home").to_str().unwrap(),
        "--network",
        &nwid_text,
        "--address",
        &dev.address().to_string(),
        "--expires",
        "7d",
    ]);
    assert!(out.ends_with("authorized=true"), "{out}");
    let left = api.ok("GET", &member, None)["expiresAt"].as_u64().unwrap() - now_ms();
    assert!((6 * 86_400_000..=7 * 86_400_000).contains(&left), "{left}");
}
