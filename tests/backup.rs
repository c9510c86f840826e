//! Backups, restores and imports through the `ztcd` command: tamper and target refusals,
//! backups taken during a write storm that restore every acknowledged write, and an import
//! of a zerotier-one `controller.d`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::http::{Api, free_port};
use common::real::{Daemon, TempDir, Tmpfs, ztcd_bin, ztcd_ok};
use serde_json::json;
use ztcd::controller::store::Store;
use ztcd::wire::NetworkId;

/// Runs `ztcd ARGS`; returns (success, stdout + stderr).
fn ztcd(args: &[&str]) -> (bool, String) {
    let out = Command::new(ztcd_bin())
        .args(args)
        .output()
        .expect("run ztcd");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn backups(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "ztb"))
        .collect();
    v.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    v
}

#[test]
fn tampered_or_foreign_files_are_refused_and_the_home_stays_untouched() {
    let dir = TempDir::new("bk-tamper");
    let (home, usb) = (dir.path("home"), dir.path("usb"));
    std::fs::create_dir_all(&usb).unwrap();
    let nwid = ztcd_ok(&["network", "create", "--home", s(&home), "--name", "t"]);
    ztcd_ok(&[
        "member",
        "set",
        "--home",
        s(&home),
        "--network",
        &nwid,
        "--address",
        "1122334455",
        "--authorize",
    ]);
    for _ in 0..4 {
        ztcd_ok(&["backup", "--home", s(&home), "--to", s(&usb), "--keep", "2"]);
    }
    let files = backups(&usb);
    assert_eq!(files.len(), 2, "rotation keeps the newest 2: {files:?}");
    let key = home.join("backup.key");
    let good = files[1].clone();
    let (ok, out) = ztcd(&["backup", "verify", s(&good), "--key", s(&key)]);
    assert!(ok && out.contains("1 networks, 1 members"), "{out}");

    let bytes = std::fs::read(&good).unwrap();
    let variants: Vec<(&str, Vec<u8>)> = vec![
        ("flipped byte", {
            let mut b = bytes.clone();
            b[bytes.len() / 2] ^= 0x40;
            b
        }),
        ("truncated", bytes[..bytes.len() - 100].to_vec()),
        ("not a backup", b"SQLite format 3\0 hello".to_vec()),
    ];
    let fresh = dir.path("fresh");
    for (what, data) in variants {
        let f = dir.path("bad.ztb");
        std::fs::write(&f, data).unwrap();
        let (ok, out) = ztcd(&["restore", s(&f), "--home", s(&fresh), "--key", s(&key)]);
        assert!(!ok, "{what} restored: {out}");
        let want = if what == "not a backup" {
            "not a ztcd backup"
        } else {
            "authentication failed"
        };
        assert!(out.contains(want), "{what}: {out}");
        assert!(
            !fresh.join("identity.secret").exists(),
            "{what} wrote into the home"
        );
    }
    let wrong = dir.path("wrong.key");
    std::fs::write(&wrong, format!("{}\n", "ab".repeat(32))).unwrap();
    let (ok, out) = ztcd(&["restore", s(&good), "--home", s(&fresh), "--key", s(&wrong)]);
    assert!(!ok && out.contains("authentication failed"), "{out}");
    // The good one restores; a second restore into the now non-empty home needs --force.
    let (ok, out) = ztcd(&["restore", s(&good), "--home", s(&fresh), "--key", s(&key)]);
    assert!(ok, "{out}");
    assert_eq!(
        std::fs::read(fresh.join("identity.secret")).unwrap(),
        std::fs::read(home.join("identity.secret")).unwrap()
    );
    let (ok, out) = ztcd(&["restore", s(&good), "--home", s(&fresh), "--key", s(&key)]);
    assert!(!ok && out.contains("not empty"), "{out}");
    // Targets: missing, not a mount with --require-mount.
    let (ok, out) = ztcd(&[
        "backup",
        "--home",
        s(&home),
        "--to",
        s(&dir.path("unplugged")),
    ]);
    assert!(!ok && out.contains("does not exist"), "{out}");
    let (ok, out) = ztcd(&[
        "backup",
        "--home",
        s(&home),
        "--to",
        s(&usb),
        "--require-mount",
    ]);
    use std::os::unix::fs::MetadataExt;
    let on_root = std::fs::metadata(&usb).unwrap().dev() == std::fs::metadata("/").unwrap().dev();
    if on_root {
        assert!(!ok && out.contains("not on a mounted file system"), "{out}");
    } else {
        eprintln!(
            "{} is on its own file system here: --require-mount accepts it",
            usb.display()
        );
    }
}

#[test]
fn full_and_read_only_sticks_are_refused_without_leaving_a_backup_behind() {
    let dir = TempDir::new("bk-stick");
    let home = dir.path("home");
    ztcd_ok(&["network", "create", "--home", s(&home), "--name", "t"]);
    let Some(full) = Tmpfs::mount(&dir.path("full"), "size=8k") else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("cannot mount tmpfs under CI (root is required)");
        }
        eprintln!("skipping: mounting a tmpfs needs root");
        return;
    };
    // Fill the stick, leaving less room than a backup needs.
    let _ = std::fs::write(full.0.join("filler"), vec![0u8; 16 * 1024]);
    let (ok, out) = ztcd(&[
        "backup",
        "--home",
        s(&home),
        "--to",
        s(&full.0),
        "--require-mount",
    ]);
    assert!(!ok && out.contains("the target is full"), "{out}");
    assert!(backups(&full.0).is_empty(), "a partial backup was left");
    let left: Vec<String> = std::fs::read_dir(&full.0)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".ztcd-backup.lock")
        .collect();
    assert_eq!(left, ["filler"], "temporary files were left");
    let ro = Tmpfs::mount(&dir.path("ro"), "size=1m,ro").unwrap();
    let (ok, out) = ztcd(&[
        "backup",
        "--home",
        s(&home),
        "--to",
        s(&ro.0),
        "--require-mount",
    ]);
    assert!(!ok && out.contains("read-only"), "{out}");
    let stick = Tmpfs::mount(&dir.path("stick"), "size=1m").unwrap();
    let (ok, out) = ztcd(&[
        "backup",
        "--home",
        s(&home),
        "--to",
        s(&stick.0),
        "--require-mount",
    ]);
    assert!(ok, "a mounted stick with room is accepted: {out}");
}

#[test]
fn backups_during_a_write_storm_restore_every_acknowledged_write() {
    let dir = TempDir::new("bk-storm");
    let (home, usb) = (dir.path("home"), dir.path("usb"));
    std::fs::create_dir_all(&usb).unwrap();
    let port = free_port();
    let daemon = Daemon::start_local(
        &home,
        &[
            "--port",
            &port.to_string(),
            "--endpoint",
            &format!("127.0.0.1/{port}"),
        ],
    );
    let api = daemon.api();
    let ours = api.ok("GET", "/status", None)["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let n = api.ok(
        "POST",
        &format!("/controller/network/{ours}______"),
        Some(json!({"name": "storm"})),
    );
    let nwid = n["id"].as_str().unwrap().to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    // Each writer acknowledges writes in order; `done[t]` counts its acknowledged writes.
    let done: Arc<Vec<AtomicUsize>> = Arc::new((0..4).map(|_| AtomicUsize::new(0)).collect());
    let writers: Vec<_> = (0..4usize)
        .map(|t| {
            let (api, nwid, stop, done) = (
                Api {
                    addr: api.addr,
                    token: api.token.clone(),
                },
                nwid.clone(),
                stop.clone(),
                done.clone(),
            );
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let path = format!(
                        "/controller/network/{nwid}/member/{:010x}",
                        0x20_0000_0000 + t * 1_000_000 + i
                    );
                    let r = api.call("POST", &path, Some(json!({"authorized": true})));
                    assert_eq!(r.status, 200);
                    i += 1;
                    done[t].store(i, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let mut taken = Vec::new();
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(300));
        let before: Vec<usize> = done.iter().map(|d| d.load(Ordering::SeqCst)).collect();
        let (ok, out) = ztcd(&[
            "backup",
            "--home",
            s(&home),
            "--to",
            s(&usb),
            "--keep",
            "10",
        ]);
        assert!(ok, "{out}");
        taken.push(before);
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    drop(daemon);
    let files = backups(&usb);
    assert_eq!(files.len(), 5);
    let key = home.join("backup.key");
    for f in &files {
        let (ok, out) = ztcd(&["backup", "verify", s(f), "--key", s(&key)]);
        assert!(ok, "{out}");
    }
    let restored = dir.path("restored");
    ztcd_ok(&[
        "restore",
        s(&files[4]),
        "--home",
        s(&restored),
        "--key",
        s(&key),
    ]);
    let store = Store::open(&restored.join("controller.db")).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let id = NetworkId(u64::from_str_radix(&nwid, 16).unwrap());
    let present: std::collections::HashSet<u64> = store
        .members(id)
        .unwrap()
        .iter()
        .map(|m| m.address.to_u64())
        .collect();
    let before = &taken[4];
    assert!(
        before.iter().sum::<usize>() > 100,
        "too few writes: {before:?}"
    );
    for (t, n) in before.iter().enumerate() {
        for i in 0..*n {
            let a = 0x20_0000_0000 + (t as u64) * 1_000_000 + i as u64;
            assert!(
                present.contains(&a),
                "write {t}/{i} acknowledged before the backup started is missing"
            );
        }
    }
}

#[test]
fn a_zerotier_one_controller_is_imported() {
    let dir = TempDir::new("bk-import");
    let zt = dir.path("zerotier-one");
    let nd = zt.join("controller.d/network");
    std::fs::create_dir_all(&nd).unwrap();
    ztcd_ok(&["identity", "new", "--out", s(&zt.join("identity.secret"))]);
    std::fs::write(zt.join("authtoken.secret"), "tokentokentoken\n").unwrap();
    let address = std::fs::read_to_string(zt.join("identity.secret")).unwrap()[..10].to_owned();
    let nwid = format!("{address}abcdef");
    let member_id = ztcd_ok(&["identity", "new"]);
    let member_public = member_id.rsplit_once(":").unwrap().0.to_owned();
    let member = &member_id[..10];
    std::fs::write(
        nd.join(format!("{nwid}.json")),
        json!({
            "id": nwid, "nwid": nwid, "objtype": "network", "name": "office", "private": true,
            "creationTime": 1_600_000_000_000u64, "revision": 9, "mtu": 2800, "multicastLimit": 32,
            "enableBroadcast": true, "v4AssignMode": {"zt": true}, "v6AssignMode": {"zt": false, "rfc4193": false, "6plane": false},
            "routes": [{"target": "10.55.0.0/24", "via": null}],
            "ipAssignmentPools": [{"ipRangeStart": "10.55.0.1", "ipRangeEnd": "10.55.0.254"}],
            "rules": [{"type": "ACTION_ACCEPT"}], "capabilities": [], "tags": [], "dns": [],
            "authTokens": [{}], "remoteTraceTarget": null, "remoteTraceLevel": 0
        })
        .to_string(),
    )
    .unwrap();
    let md = nd.join(&nwid).join("member");
    std::fs::create_dir_all(&md).unwrap();
    std::fs::write(
        md.join(format!("{member}.json")),
        json!({
            "id": member, "address": member, "nwid": nwid, "objtype": "member", "authorized": true,
            "activeBridge": false, "noAutoAssignIps": false, "ipAssignments": ["10.55.0.77"],
            "identity": member_public, "creationTime": 1_600_000_000_001u64, "revision": 4,
            "lastAuthorizedTime": 1_600_000_000_002u64, "vMajor": 1, "vMinor": 14, "vRev": 1, "vProto": 12,
            "capabilities": [], "tags": [], "name": "laptop"
        })
        .to_string(),
    )
    .unwrap();
    std::fs::write(md.join("badjson.json"), "{not json").unwrap();
    let home = dir.path("home");
    let (ok, out) = ztcd(&["import-zerotier", "--from", s(&zt), "--home", s(&home)]);
    assert!(ok, "{out}");
    assert!(out.contains("imported 1 networks and 1 members"), "{out}");
    assert!(
        out.contains("not imported: ") && out.contains("badjson.json"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(home.join("authtoken.secret")).unwrap(),
        "tokentokentoken"
    );
    let store = Store::open(&home.join("controller.db")).unwrap();
    let id = NetworkId(u64::from_str_radix(&nwid, 16).unwrap());
    let n = store.network(id).unwrap().unwrap();
    assert_eq!(
        (n.name.as_str(), n.revision, n.creation_time),
        ("office", 9, 1_600_000_000_000)
    );
    let m = store.member(id, member.parse().unwrap()).unwrap().unwrap();
    assert!(m.authorized && m.name == "laptop");
    assert_eq!(
        m.ip_assignments,
        vec!["10.55.0.77".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(m.identity.unwrap().to_string(), member_public);
    assert_eq!(m.version, Some((1, 14, 1, 12)));
    // Importing again into a home with another identity is refused.
    let other = dir.path("other");
    ztcd_ok(&["network", "create", "--home", s(&other), "--name", "x"]);
    let (ok, out) = ztcd(&["import-zerotier", "--from", s(&zt), "--home", s(&other)]);
    assert!(!ok && out.contains("another identity"), "{out}");
}

/// Four `POST /ztcd/backup` at once (a double click, a retry after a 504) and a `ztcd backup`
/// from cron into the same stick: all succeed, one after the other. Scratch files and
/// half-written backups of interrupted runs are removed, nothing is staged in the home, and
/// rotation follows the order backups were taken, so one made under a wrong clock (named
/// far in the future) does not pin a slot.
#[test]
fn concurrent_backups_all_succeed_and_rotate_in_the_order_taken() {
    let dir = TempDir::new("bk-many");
    let (home, usb) = (dir.path("home"), dir.path("usb"));
    std::fs::create_dir_all(&usb).unwrap();
    for planted in [
        ".ztcd-scratch-snapshot-1-0",
        ".ztcd-backup-20260101T000000Z-3.ztb.tmp",
        "ztcd-backup-20991231T235959Z.ztb",
    ] {
        std::fs::write(usb.join(planted), b"left by an interrupted run").unwrap();
    }
    let port = free_port();
    let daemon = Daemon::start_local(
        &home,
        &[
            "--port",
            &port.to_string(),
            "--endpoint",
            &format!("127.0.0.1/{port}"),
        ]
        .into_iter()
        .chain(["--backup-to", s(&usb), "--backup-keep", "4"])
        .collect::<Vec<_>>(),
    );
    let api = daemon.api();
    let posts: Vec<_> = (0..4)
        .map(|_| {
            let api = api.clone();
            std::thread::spawn(move || api.call("POST", "/ztcd/backup", None))
        })
        .collect();
    let (ok, out) = ztcd(&["backup", "--home", s(&home), "--to", s(&usb), "--keep", "4"]);
    assert!(ok, "{out}");
    for p in posts {
        let r = p.join().unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    drop(daemon);
    let names: Vec<String> = std::fs::read_dir(&usb)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let kept = backups(&usb);
    assert_eq!(kept.len(), 4, "{names:?}");
    assert!(
        !names.iter().any(|n| n.contains("20991231")),
        "the wrong-clock backup pinned a slot: {names:?}"
    );
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("ztcd-backup-") || n == ".ztcd-backup.lock"),
        "scratch or partial files left: {names:?}"
    );
    let staged: Vec<String> = std::fs::read_dir(&home)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("backup") && n.ends_with(".tmp"))
        .collect();
    assert!(staged.is_empty(), "{staged:?}");
    // One key sealed them all (concurrent first backups once made two keys, one lost).
    let key = home.join("backup.key");
    for f in &kept {
        let (ok, out) = ztcd(&["backup", "verify", s(f), "--key", s(&key)]);
        assert!(ok, "{out}");
    }
    // The newest is the last taken: the API lists it last.
    let newest = ztcd::backup::list(&usb).pop().unwrap();
    let seqs: Vec<u64> = kept
        .iter()
        .map(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.trim_end_matches(".ztb")
                .rsplit('-')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs.iter().max(), Some(&5), "{names:?}");
    assert!(
        newest.to_string_lossy().ends_with("-5.ztb"),
        "{}",
        newest.display()
    );
}

/// The planet signing key leaves a home only through `planet export-key` (0600, never over an
/// existing file, never printed) or inside an encrypted backup, which brings it back whole;
/// `import-key` refuses a key that does not sign the planet given with it.
#[test]
fn the_planet_key_leaves_only_by_export_or_encrypted_backup() {
    let dir = TempDir::new("bk-planet-key");
    let (home, usb, other) = (dir.path("home"), dir.path("usb"), dir.path("other"));
    std::fs::create_dir_all(&usb).unwrap();
    ztcd_ok(&["planet", "--home", s(&home), "--endpoint", "10.0.0.1/9993"]);
    let key = std::fs::read(home.join("planet.c25519")).unwrap();
    assert_eq!(key.len(), 128);
    let out_file = dir.path("exported.key");
    let printed = ztcd_ok(&[
        "planet",
        "export-key",
        "--home",
        s(&home),
        "--out",
        s(&out_file),
    ]);
    assert_eq!(std::fs::read(&out_file).unwrap(), key);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&out_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!printed.contains(&hex[128..160]), "the key was printed");
    let (ok, out) = ztcd(&[
        "planet",
        "export-key",
        "--home",
        s(&home),
        "--out",
        s(&out_file),
    ]);
    assert!(!ok && out.contains("exists"), "{out}");
    // A key that does not sign the planet is refused; the right pair is installed.
    ztcd_ok(&["planet", "--home", s(&other), "--endpoint", "10.0.0.2/9993"]);
    let (ok, out) = ztcd(&[
        "planet",
        "import-key",
        s(&other.join("planet.c25519")),
        "--planet",
        s(&home.join("planet")),
        "--home",
        s(&dir.path("third")),
    ]);
    assert!(!ok && out.contains("does not sign that planet"), "{out}");
    let (ok, out) = ztcd(&[
        "planet",
        "import-key",
        s(&out_file),
        "--planet",
        s(&home.join("planet")),
        "--home",
        s(&other),
    ]);
    assert!(
        !ok && out.contains("--force"),
        "another planet is served there: {out}"
    );
    // Backups carry it sealed: the file holds no copy of the key, a restore brings it back.
    ztcd_ok(&["backup", "--home", s(&home), "--to", s(&usb)]);
    let file = &backups(&usb)[0];
    let sealed = std::fs::read(file).unwrap();
    assert!(
        !sealed.windows(32).any(|w| w == &key[64..96]),
        "the backup holds the key in the clear"
    );
    let restored = dir.path("restored");
    ztcd_ok(&[
        "restore",
        s(file),
        "--home",
        s(&restored),
        "--key",
        s(&home.join("backup.key")),
    ]);
    assert_eq!(std::fs::read(restored.join("planet.c25519")).unwrap(), key);
}

/// `planet add-root` and `remove-root` re-issue the planet (same ID, newer, same key) with the
/// root list changed; the daemon's home lock keeps them from racing a running root.
#[test]
fn planet_roots_are_added_and_removed_by_hand() {
    use ztcd::wire::world::World;
    let dir = TempDir::new("bk-roots");
    let (home, other) = (dir.path("home"), dir.path("other"));
    ztcd_ok(&["planet", "--home", s(&home), "--endpoint", "10.0.0.1/9993"]);
    ztcd_ok(&["planet", "--home", s(&other), "--endpoint", "10.0.0.2/9993"]);
    let read = |h: &Path| World::from_bytes(&std::fs::read(h.join("planet")).unwrap()).unwrap();
    let before = read(&home);
    let public = other.join("identity.public");
    let spec = format!("{}@10.0.0.2/9993,10.0.0.3/9993", s(&public));
    let out = ztcd_ok(&["planet", "add-root", &spec, "--home", s(&home)]);
    assert!(out.contains("re-issued"), "{out}");
    let added = read(&home);
    assert_eq!((added.id, added.roots.len()), (before.id, 2));
    assert!(added.timestamp > before.timestamp);
    assert!(ztcd::world::should_replace(Some(&before), &added));
    assert_eq!(added.roots[1].endpoints.len(), 2);
    let address = &std::fs::read_to_string(&public).unwrap()[..10];
    let (ok, out) = ztcd(&["planet", "remove-root", "0000000001", "--home", s(&home)]);
    assert!(!ok && out.contains("lists no root"), "{out}");
    ztcd_ok(&["planet", "remove-root", address, "--home", s(&home)]);
    let removed = read(&home);
    assert_eq!(removed.roots.len(), 1);
    assert!(ztcd::world::should_replace(Some(&added), &removed));
}
