//! The LAN page in a real browser: headless Chromium (driven by playwright-core) logs in to the
//! page a running ztcd serves, takes a backup, creates a network, authorizes a member and sees
//! it listed. The
//! screenshot is kept in `target/test-artifacts/admin-page.png`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::http::free_port;
use common::real::{Daemon, TempDir};

/// node_modules with playwright-core, or why not.
fn browser_setup() -> Result<String, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/setup.sh");
    let out = Command::new(script)
        .output()
        .map_err(|e| format!("{script}: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// node_modules for the browser scripts; `None` (after saying why) when the prerequisites
/// are missing outside CI.
fn modules() -> Option<String> {
    match browser_setup() {
        Ok(m) => Some(m),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("browser prerequisites missing under CI: {why}")
        }
        Err(why) => {
            eprintln!("skipping the browser test: {why}");
            None
        }
    }
}

#[test]
fn the_page_creates_a_network_and_authorizes_a_member_in_chromium() {
    let Some(modules) = modules() else {
        return;
    };
    let dir = TempDir::new("page");
    let home = dir.path("home");
    let port = free_port();
    let endpoint = format!("127.0.0.1/{port}");
    let usb = dir.path("usb");
    std::fs::create_dir_all(&usb).unwrap();
    let backup_to = usb.to_str().unwrap();
    let args = [
        "--port",
        &port.to_string(),
        "--endpoint",
        &endpoint,
        "--backup-to",
        backup_to,
    ];
    let daemon = Daemon::start_local(&home, &args);
    let token = daemon.ready().token.clone();
    let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("admin-page.png");
    let _ = std::fs::remove_file(&shot);
    let member = "0badc0ffee";
    let out = Command::new("node")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/browser/page.cjs"
        ))
        .args([&format!("http://127.0.0.1:{port}"), &token, member])
        .arg(&shot)
        .env("NODE_PATH", &modules)
        .output()
        .expect("run node");
    let text = String::from_utf8_lossy(&out.stdout);
    let log = daemon.stop();
    assert!(
        out.status.success(),
        "browser run failed: {text}\n{}\n{log}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_str(text.trim()).expect("JSON result");
    assert_eq!(result["listed_authorized"], true, "{result}");
    assert_eq!(result["listed_blocked"], true, "{result}");
    assert!(
        result["window_open"]
            .as_str()
            .is_some_and(|t| t.starts_with("Open until")),
        "{result}"
    );
    assert!(
        result["rules_error"]
            .as_str()
            .is_some_and(|t| t.contains("line 2 column 17") && t.contains("Invalid numeric value")),
        "{result}"
    );
    assert_eq!(result["rules_invalid"], "true", "{result}");
    assert!(
        result["refused_note"]
            .as_str()
            .is_some_and(|t| t.contains("300.1.2.3")),
        "{result}"
    );
    assert_eq!(result["rules_saved"], "Saved: 6 rules.", "{result}");
    assert!(
        result["downloaded"]
            .as_str()
            .is_some_and(|n| n.starts_with("ztcd-backup-") && n.ends_with(".ztb")),
        "{result}"
    );
    assert_eq!(
        result["sorted"],
        serde_json::json!(["0badc0ffe2", "0badc0ffee"]),
        "{result}"
    );
    assert!(
        result["pool_note"]
            .as_str()
            .is_some_and(|t| t.contains("outside the routes")),
        "{result}"
    );
    let roots = result["roots"].as_str().unwrap_or_default();
    assert!(
        roots.contains(&endpoint) && roots.contains("this router"),
        "{result}"
    );
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "screenshot too small"
    );
    // The page's changes reached the database (the daemon is stopped: read it directly).
    let nwid = result["nwid"].as_str().unwrap();
    let store = ztcd::controller::store::Store::open(&home.join("controller.db")).unwrap();
    let id = ztcd::wire::NetworkId(u64::from_str_radix(nwid, 16).unwrap());
    let m = store
        .member(id, member.parse().unwrap())
        .unwrap()
        .expect("member");
    // Authorized, then blocked and unblocked on the page: unauthorized, not blocked.
    assert!(
        !m.authorized && !m.banned && m.last_authorized_time > 0 && m.name == "phone",
        "{m:?}"
    );
    let net = store.network(id).unwrap().unwrap();
    assert_eq!(net.name, "browser-net");
    assert!(net.rules_source.starts_with("tag team id 5"), "{net:?}");
    assert_eq!(net.tags, serde_json::json!([{"id": 5, "default": null}]));
    // The page's backup button wrote a backup that verifies.
    let file = common::real::backup_in(&usb);
    common::real::ztcd_ok(&[
        "backup",
        "verify",
        file.to_str().unwrap(),
        "--home",
        home.to_str().unwrap(),
    ]);
}

/// The page on a phone (390×844) and a desktop, light and dark: axe-core finds no serious or
/// critical accessibility violation on the network list or a network's screen, nothing
/// scrolls sideways on the phone, and "Authorize all" lets every waiting device in.
/// Screenshots of both screens at both sizes go to `target/test-artifacts/`.
#[test]
fn the_page_works_on_a_phone_and_passes_an_accessibility_check() {
    let Some(modules) = modules() else {
        return;
    };
    let dir = TempDir::new("phone");
    let home = dir.path("home");
    let port = free_port();
    let endpoint = format!("127.0.0.1/{port}");
    let daemon = Daemon::start_local(
        &home,
        &["--port", &port.to_string(), "--endpoint", &endpoint],
    );
    let client = daemon.api();
    let api =
        |method: &str, path: &str, body: serde_json::Value| client.ok(method, path, Some(body));
    let ours = api("GET", "/status", serde_json::json!({}))["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let n = api(
        "POST",
        &format!("/controller/network/{ours}______"),
        serde_json::json!({"name": "home", "ipAssignmentPools": [{"ipRangeStart": "10.60.0.1", "ipRangeEnd": "10.60.0.99"}],
                           "routes": [{"target": "10.60.0.0/24"}], "v4AssignMode": {"zt": true}}),
    );
    let nwid = n["id"].as_str().unwrap().to_owned();
    // One member, and three devices waiting (as join requests appear: unauthorized).
    let member = format!("/controller/network/{nwid}/member/");
    api(
        "POST",
        &format!("{member}aaaaaaaaaa"),
        serde_json::json!({"authorized": true, "name": "laptop with a long name"}),
    );
    for a in ["bbbbbbbbbb", "cccccccccc", "dddddddddd"] {
        api(
            "POST",
            &format!("{member}{a}"),
            serde_json::json!({"authorized": false}),
        );
    }
    let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let out = Command::new("node")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/browser/phone.cjs"
        ))
        .args([
            &format!("http://127.0.0.1:{port}"),
            &client.token,
            &nwid,
            "3",
        ])
        .arg(&artifacts)
        .env("NODE_PATH", &modules)
        .output()
        .expect("run node");
    let text = String::from_utf8_lossy(&out.stdout);
    let log = daemon.stop();
    assert!(
        out.status.success(),
        "browser run failed: {text}\n{}\n{log}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in [
        "networks-phone",
        "network-phone",
        "networks-desktop",
        "network-desktop",
    ] {
        let png = std::fs::read(artifacts.join(format!("{name}.png"))).expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "{name}");
    }
}
