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

#[test]
fn the_page_creates_a_network_and_authorizes_a_member_in_chromium() {
    let modules = match browser_setup() {
        Ok(m) => m,
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("browser prerequisites missing under CI: {why}")
        }
        Err(why) => {
            eprintln!("skipping the browser test: {why}");
            return;
        }
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
    daemon.wait_for_log("admin API on", std::time::Duration::from_secs(10));
    let token = std::fs::read_to_string(home.join("authtoken.secret")).unwrap();
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
    assert_eq!(result["rules_saved"], "Saved: 6 rules.", "{result}");
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
