//! Backups and imports with real clients (libzt 1.8.4 in network namespaces): a member of a
//! network imported from zerotier-one gets its old address from ztcd, and a member follows its
//! controller when a backup is restored on another address.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::real::{
    Daemon, NetPair, TempDir, admin_ok, available, finish_client, network_with_member,
    spawn_client, zt, ztcd_ok,
};
use serde_json::json;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn an_imported_member_keeps_its_address() {
    if !available() {
        return;
    }
    let net = NetPair::new(35);
    let dir = TempDir::new("import-real");
    let zt_home = dir.path("zerotier-one");
    std::fs::create_dir_all(&zt_home).unwrap();
    ztcd_ok(&[
        "identity",
        "new",
        "--out",
        s(&zt_home.join("identity.secret")),
    ]);
    let address =
        std::fs::read_to_string(zt_home.join("identity.secret")).unwrap()[..10].to_owned();
    let nwid = format!("{address}00beef");
    let (_, v) = zt(None, &["id-new"]);
    let member_secret = v["identity"].as_str().unwrap().to_owned();
    let member_public = member_secret.rsplit_once(":").unwrap().0.to_owned();
    let member = &member_secret[..10];
    let nd = zt_home.join("controller.d/network");
    std::fs::create_dir_all(nd.join(&nwid).join("member")).unwrap();
    let network = json!({
        "id": nwid, "nwid": nwid, "name": "moved", "private": true, "v4AssignMode": {"zt": true},
        "routes": [{"target": "10.55.0.0/24", "via": null}],
        "ipAssignmentPools": [{"ipRangeStart": "10.55.0.1", "ipRangeEnd": "10.55.0.254"}],
        "creationTime": 1_600_000_000_000u64, "revision": 3
    });
    std::fs::write(nd.join(format!("{nwid}.json")), network.to_string()).unwrap();
    let m = json!({"id": member, "address": member, "nwid": nwid, "authorized": true,
                   "ipAssignments": ["10.55.0.77"], "identity": member_public, "revision": 2});
    std::fs::write(
        nd.join(&nwid).join("member").join(format!("{member}.json")),
        m.to_string(),
    )
    .unwrap();

    let home = dir.path("home");
    let out = ztcd_ok(&["import-zerotier", "--from", s(&zt_home), "--home", s(&home)]);
    assert!(out.contains("imported 1 networks and 1 members"), "{out}");
    let daemon = Daemon::start(
        &net.server,
        &home,
        &["--endpoint", &format!("{}/9993", net.server_ip())],
    );
    let client = spawn_client(
        &net.clients,
        &home.join("planet"),
        &dir.path("m"),
        &[
            "--identity",
            &member_secret,
            "--join",
            &nwid,
            "--wait",
            "ipv4",
            "--deadline",
            "60",
        ],
    );
    let (_, r) = finish_client(client);
    let log = daemon.stop();
    let n = &r["networks"][&nwid];
    assert_eq!(n["status_name"], "OK", "{r}\n{log}");
    assert_eq!(
        n["ipv4"], "10.55.0.77",
        "the imported address was not kept: {r}"
    );
}

#[test]
fn a_member_follows_its_controller_restored_on_another_address() {
    if !available() {
        return;
    }
    let net = NetPair::new(36);
    let standby = net.add_server_address(4);
    let dir = TempDir::new("failover");
    let (home_a, home_b, usb) = (dir.path("a"), dir.path("b"), dir.path("usb"));
    std::fs::create_dir_all(&usb).unwrap();
    // The planet lists the primary and the standby address from the start.
    let primary = net.server_ip();
    let eps = [format!("{primary}/9993"), format!("{standby}/9993")];
    let a = Daemon::start(
        &net.server,
        &home_a,
        &[
            "--bind",
            &primary,
            "--endpoint",
            &eps[0],
            "--endpoint",
            &eps[1],
        ],
    );
    let (nwid, secret, member) = network_with_member(&home_a, &net.server, "ha", "10.56.0");
    let client = spawn_client(
        &net.clients,
        &home_a.join("planet"),
        &dir.path("m"),
        &[
            "--identity",
            &secret,
            "--join",
            &nwid,
            "--wait",
            "ipv4",
            "--hold",
            "150",
            "--deadline",
            "200",
        ],
    );
    let start = Instant::now();
    // A loaded machine can take a while: libzt starts, validates, joins and asks.
    while admin_ok(&home_a, &net.server, "GET", &member, None)["online"] != true {
        if start.elapsed() > Duration::from_secs(90) {
            let mut client = client;
            let _ = client.kill();
            let out = client
                .wait_with_output()
                .map(|o| o.stdout)
                .unwrap_or_default();
            let log_a = a.stop();
            panic!(
                "the member never asked A: {}\n{log_a}",
                String::from_utf8_lossy(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    // A is backed up while it runs, then dies; B restores the backup on the standby address.
    ztcd_ok(&["backup", "--home", s(&home_a), "--to", s(&usb)]);
    let log_a = a.stop();
    let file = common::real::backup_in(&usb);
    let key = home_a.join("backup.key");
    ztcd_ok(&["restore", s(&file), "--home", s(&home_b), "--key", s(&key)]);
    let b = Daemon::start(&net.server, &home_b, &["--bind", &standby]);
    let failed_over = Instant::now();
    // The administrator moves the member on B; only B can deliver that.
    admin_ok(
        &home_b,
        &net.server,
        "POST",
        &member,
        Some(json!({"ipAssignments": ["10.56.0.20"]})),
    );
    let mut reached = None;
    while failed_over.elapsed() < Duration::from_secs(140) {
        if admin_ok(&home_b, &net.server, "GET", &member, None)["online"] == true {
            reached = Some(failed_over.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let (_, r) = finish_client(client);
    let log_b = b.stop();
    let reached =
        reached.unwrap_or_else(|| panic!("the member never reached B: {r}\n{log_a}\n{log_b}"));
    eprintln!(
        "the member asked B {:.1} s after the fail-over",
        reached.as_secs_f64()
    );
    assert_eq!(r["networks"][&nwid]["status_name"], "OK", "{r}");
    assert_eq!(
        r["networks"][&nwid]["ipv4"], "10.56.0.20",
        "B's configuration did not reach the member: {r}\n{log_b}"
    );
}
