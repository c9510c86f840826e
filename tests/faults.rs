//! Start-up faults a router's life brings: a database written by a newer ztcd (a downgrade),
//! a damaged database file, and a database that belongs to another identity (a half-done
//! restore, a stick from another router). Each is refused before anything is written, with a
//! message that says what to do; a write by this version never resets columns it does not
//! know.

mod common;

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::http::free_port;
use common::real::{TempDir, Tmpfs, backup_in, output_within, ztcd_bin, ztcd_ok};
use ztcd::controller::model::Member;
use ztcd::controller::store::Store;
use ztcd::wire::{Address, NetworkId};

/// `ztcd run` on `home`, expected to refuse: returns its error output.
fn refused_start(home: &Path) -> String {
    let port = free_port().to_string();
    // A refusal comes before anything is bound: a daemon that starts fails the test.
    let out = output_within(
        Command::new(ztcd_bin())
            .args(["run", "--home", home.to_str().unwrap(), "--port", &port])
            .args(["--endpoint", &format!("127.0.0.1/{port}")]),
        Duration::from_secs(60),
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "ztcd exited with success: {err}");
    err
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
    db.execute_batch("ALTER TABLE members ADD COLUMN added_later INTEGER")
        .unwrap();
    db.execute("UPDATE members SET added_later = 1234", [])
        .unwrap();
    let mut m = store.member(nwid, address).unwrap().unwrap();
    m.name = "renamed".into();
    store.put_member(&m).unwrap();
    let kept: i64 = db
        .query_row("SELECT added_later FROM members", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, 1234);
}

/// The address in a home's `identity.secret` and the controller of each of its networks.
fn identity_and_networks(home: &Path) -> (String, Vec<String>) {
    let id = std::fs::read_to_string(home.join("identity.secret")).unwrap();
    let store = Store::open(&home.join("controller.db")).unwrap();
    let nets = store.network_ids().unwrap();
    (
        id[..10].to_owned(),
        nets.iter().map(|n| n.controller().to_string()).collect(),
    )
}

/// Home `a` with a network, backed up once to `usb`: returns the backup file and its key.
fn backed_up(a: &Path, usb: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    std::fs::create_dir_all(usb).unwrap();
    home_with_network(a);
    ztcd_ok(&[
        "backup",
        "--home",
        a.to_str().unwrap(),
        "--to",
        usb.to_str().unwrap(),
    ]);
    (backup_in(usb), a.join("backup.key"))
}

/// `ztcd restore FILE --home HOME --force`, asserted to succeed, or to be killed at `crash`.
fn restore_into(file: &Path, key: &Path, home: &Path, crash: Option<&str>) {
    let mut cmd = Command::new(ztcd_bin());
    cmd.args([
        "restore",
        file.to_str().unwrap(),
        "--home",
        home.to_str().unwrap(),
    ])
    .args(["--key", key.to_str().unwrap(), "--force"]);
    if let Some(point) = crash {
        cmd.env("ZTCD_CRASH_AT", point);
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // A crash point aborts the process there; failing any other way means the point was
    // never reached, and what the test checks next would prove nothing.
    use std::os::unix::process::ExitStatusExt;
    match crash {
        Some(point) => assert_eq!(out.status.signal(), Some(6), "{point} not reached: {err}"),
        None => assert!(out.status.success(), "restore failed: {err}"),
    }
}

#[test]
fn a_restore_cut_short_leaves_the_old_home_or_the_new_one() {
    let dir = TempDir::new("restore");
    let (a, b, usb) = (dir.path("a"), dir.path("b"), dir.path("usb"));
    let (file, key) = backed_up(&a, &usb);
    home_with_network(&b);
    std::fs::write(b.join("backup.key"), b"the key of b's other backups").unwrap();
    let (id_a, _) = identity_and_networks(&a);
    let (id_b, _) = identity_and_networks(&b);
    let restore = |crash: Option<&str>| restore_into(&file, &key, &b, crash);
    // Killed with the new home staged: the old home stands, whole.
    restore(Some("restore-staged"));
    ztcd::backup::restore::recover(&b).unwrap();
    let (id, nets) = identity_and_networks(&b);
    assert_eq!(id, id_b);
    assert!(nets.iter().all(|n| *n == id_b), "{nets:?}");
    // Killed between the two renames: no home at all on disk, until the next command puts
    // the staged one in place (never a fresh identity).
    restore(Some("restore-between-renames"));
    assert!(!b.exists());
    ztcd::backup::restore::recover(&b).unwrap();
    let (id, nets) = identity_and_networks(&b);
    assert_eq!(id, id_a);
    assert!(nets.iter().all(|n| *n == id_a), "{nets:?}");
    // Uninterrupted: the backup's home, with the key of the other backups kept.
    restore(None);
    assert_eq!(identity_and_networks(&b).0, id_a);
    assert_eq!(
        std::fs::read(b.join("backup.key")).unwrap(),
        b"the key of b's other backups"
    );
    let leftovers: Vec<String> = std::fs::read_dir(dir.path(""))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".b."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A home that is a mount point of its own (a USB stick) cannot be swapped by rename: its
/// files are moved in under a marker, and a restore cut short there keeps `ztcd run` from
/// starting on the mixed home until a restore completes.
#[test]
fn a_restore_into_a_mounted_home_cut_short_is_refused_at_start() {
    let dir = TempDir::new("mounted");
    let (a, b, usb) = (dir.path("a"), dir.path("b"), dir.path("usb"));
    let (file, key) = backed_up(&a, &usb);
    let Some(_mount) = Tmpfs::mount(&b, "size=8m") else {
        eprintln!("cannot mount a tmpfs here: skipped");
        return;
    };
    home_with_network(&b);
    let restore = |crash: Option<&str>| restore_into(&file, &key, &b, crash);
    restore(Some("restore-in-place"));
    let err = refused_start(&b);
    assert!(
        err.contains("a restore into this home was interrupted"),
        "{err}"
    );
    restore(None);
    let (id_a, _) = identity_and_networks(&a);
    let (id, nets) = identity_and_networks(&b);
    assert_eq!(id, id_a);
    assert!(nets.iter().all(|n| *n == id_a), "{nets:?}");
    assert!(!b.join(ztcd::backup::restore::MARKER).exists());
    let hidden: Vec<String> = std::fs::read_dir(&b)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".restore"))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

/// A home whose identity was lost (a partial copy) is refused rather than given a new
/// identity; a lost `identity.public` is written again from the secret; with `--require-mount`
/// a home on the root file system (an unmounted stick's mount point) is refused.
#[test]
fn a_home_never_gets_a_new_identity_by_accident() {
    let dir = TempDir::new("identity");
    let home = dir.path("home");
    home_with_network(&home);
    let secret = std::fs::read(home.join("identity.secret")).unwrap();
    let public = std::fs::read(home.join("identity.public")).unwrap();
    std::fs::remove_file(home.join("identity.public")).unwrap();
    ztcd_ok(&["network", "create", "--home", home.to_str().unwrap()]);
    assert_eq!(std::fs::read(home.join("identity.public")).unwrap(), public);
    std::fs::remove_file(home.join("identity.secret")).unwrap();
    let err = refused_start(&home);
    assert!(
        err.contains("identity.secret is missing but controller.db is here"),
        "{err}"
    );
    assert!(!home.join("identity.secret").exists());
    std::fs::write(home.join("identity.secret"), &secret).unwrap();
    use std::os::unix::fs::MetadataExt;
    let on_root = std::fs::metadata(&home).unwrap().dev() == std::fs::metadata("/").unwrap().dev();
    let port = free_port().to_string();
    let unplugged = dir.path("unplugged");
    for (home, refused) in [(&unplugged, true), (&home, on_root)] {
        let out = Command::new(ztcd_bin())
            .args(["run", "--require-mount", "--home", home.to_str().unwrap()])
            .args(["--port", &port, "--endpoint", &format!("127.0.0.1/{port}")])
            .args(["--admin-port", "0"])
            .env("ZTCD_CRASH_AT", "started")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        if refused {
            assert!(err.contains("--require-mount"), "{err}");
        }
        assert!(
            !unplugged.exists(),
            "a home was created under the mount point"
        );
    }
}
