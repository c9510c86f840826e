//! Start-up faults a router's life brings: a database written by a newer ztcd (a downgrade),
//! a damaged database file, and a database that belongs to another identity (a half-done
//! restore, a stick from another router). Each is refused before anything is written, with a
//! message that says what to do; a write by this version never resets columns it does not
//! know.

mod common;

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;

use common::http::free_port;
use common::real::{TempDir, ztcd_bin, ztcd_ok};
use ztcd::controller::model::Member;
use ztcd::controller::store::Store;
use ztcd::wire::{Address, NetworkId};

/// `ztcd run` on `home`, expected to refuse: returns its error output.
fn refused_start(home: &Path) -> String {
    let port = free_port().to_string();
    let out = Command::new(ztcd_bin())
        .args(["run", "--home", home.to_str().unwrap(), "--port", &port])
        .args(["--endpoint", &format!("127.0.0.1/{port}")])
        .output()
        .unwrap();
    assert!(!out.status.success(), "ztcd started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A home with one network created offline; returns the network ID.
fn home_with_network(home: &Path) -> NetworkId {
    let nwid = ztcd_ok(&[
        "network",
        "create",
        "--home",
        home.to_str().unwrap(),
        "--name",
        "x",
    ]);
    NetworkId(u64::from_str_radix(&nwid, 16).unwrap())
}

#[test]
fn a_database_from_a_newer_ztcd_is_refused() {
    let dir = TempDir::new("newer");
    let home = dir.path("home");
    home_with_network(&home);
    let db = rusqlite::Connection::open(home.join("controller.db")).unwrap();
    db.pragma_update(None, "user_version", 99).unwrap();
    drop(db);
    let err = refused_start(&home);
    assert!(
        err.contains("schema version 99, newer than this ztcd knows"),
        "{err}"
    );
    assert!(
        !home.join("planet").exists(),
        "nothing written before the refusal"
    );
}

#[test]
fn a_damaged_database_is_refused() {
    let dir = TempDir::new("garbage");
    let home = dir.path("home");
    let nwid = home_with_network(&home);
    {
        let store = Store::open(&home.join("controller.db")).unwrap();
        for i in 1..=3000u64 {
            let mut m = Member::new(nwid, Address::new(0x10_0000_0000 + i), 0);
            m.name = format!("device {i} with a name long enough to fill pages");
            store.put_member(&m).unwrap();
        }
    }
    let path = home.join("controller.db");
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 64 * 1024, "{len}");
    let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.seek(SeekFrom::Start(len / 2 / 4096 * 4096)).unwrap();
    f.write_all(&[0xa5; 4096]).unwrap();
    drop(f);
    let err = refused_start(&home);
    assert!(
        err.contains("corrupt") && err.contains("restore a backup"),
        "{err}"
    );
    assert!(
        !home.join("planet").exists(),
        "nothing written before the refusal"
    );
}

#[test]
fn a_database_of_another_identity_is_refused() {
    let dir = TempDir::new("foreign");
    let (a, b) = (dir.path("a"), dir.path("b"));
    let nwid = home_with_network(&a);
    home_with_network(&b);
    std::fs::remove_file(b.join("controller.db")).unwrap();
    std::fs::copy(a.join("controller.db"), b.join("controller.db")).unwrap();
    let err = refused_start(&b);
    assert!(
        err.contains(&format!("holds network {nwid}")) && err.contains("do not belong together"),
        "{err}"
    );
}

#[test]
fn a_write_keeps_the_columns_a_newer_version_added() {
    let dir = TempDir::new("columns");
    let home = dir.path("home");
    let nwid = home_with_network(&home);
    let path = home.join("controller.db");
    let store = Store::open(&path).unwrap();
    let address = Address::new(0x11_2233_4455);
    store.put_member(&Member::new(nwid, address, 0)).unwrap();
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch("ALTER TABLE members ADD COLUMN expires_at INTEGER")
        .unwrap();
    db.execute("UPDATE members SET expires_at = 1234", [])
        .unwrap();
    let mut m = store.member(nwid, address).unwrap().unwrap();
    m.name = "renamed".into();
    store.put_member(&m).unwrap();
    let kept: i64 = db
        .query_row("SELECT expires_at FROM members", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, 1234);
}
