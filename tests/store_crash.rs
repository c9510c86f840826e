//! Crash safety of the controller store: a child process writes members as fast as it can and
//! reports each write once SQLite acknowledged it; it is killed with SIGKILL mid-storm; the
//! reopened database holds every acknowledged write and passes `PRAGMA integrity_check`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ztcd::controller::model::{Member, Network};
use ztcd::controller::store::Store;
use ztcd::wire::{Address, NetworkId};

const NWID: NetworkId = NetworkId(0x8e4d_f28b_7200_0001);

/// The child's side: runs when the test binary is started with `ZTCD_STORM_DB` set.
fn storm(path: &str) -> ! {
    let mut store = Store::open(path.as_ref()).expect("open");
    store.put_network(&Network::new(NWID, 0)).expect("network");
    let mut out = std::io::stdout().lock();
    for i in 1u64.. {
        // Two rows per transaction: both or neither must survive.
        store
            .transaction(|s| {
                let mut m = Member::new(NWID, Address::new(i * 2), i);
                m.authorized = true;
                s.put_member(&m)?;
                s.put_member(&Member::new(NWID, Address::new(i * 2 + 1), i))
            })
            .expect("write");
        let _ = writeln!(out, "{i}");
        let _ = out.flush();
    }
    unreachable!()
}

#[test]
fn killed_mid_storm_loses_no_acknowledged_write() {
    if let Ok(path) = std::env::var("ZTCD_STORM_DB") {
        storm(&path);
    }
    let dir = std::env::temp_dir().join(format!("ztcd-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("controller.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "killed_mid_storm_loses_no_acknowledged_write",
            "--nocapture",
        ])
        .env("ZTCD_STORM_DB", &db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the writer");
    let reader = BufReader::new(child.stdout.take().unwrap());
    let start = Instant::now();
    let mut acknowledged = 0u64;
    for line in reader.lines() {
        let Ok(line) = line else { break };
        if let Ok(n) = line.trim().parse::<u64>() {
            acknowledged = n;
        }
        if acknowledged >= 2000 || start.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait();
    assert!(acknowledged > 0, "the writer never acknowledged a write");
    eprintln!("killed the writer after {acknowledged} acknowledged transactions");

    let store = Store::open(&db).expect("reopen after the crash");
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let members = store.members(NWID).unwrap();
    for i in 1..=acknowledged {
        let a = members.iter().find(|m| m.address == Address::new(i * 2));
        let b = members
            .iter()
            .find(|m| m.address == Address::new(i * 2 + 1));
        assert!(
            a.is_some_and(|m| m.authorized) && b.is_some(),
            "acknowledged write {i} lost"
        );
    }
    assert_eq!(members.len() % 2, 0, "a transaction was torn");
    let _ = std::fs::remove_dir_all(&dir);
}
