//! `ztcd backup`, `ztcd backup verify` and `ztcd restore`: encrypted, verified, rotated copies
//! of a home (the database snapshot plus the identity, World keys, planet, moons and token),
//! safe to take while the daemon runs and safe against a pulled USB stick or a power cut.

mod files;
pub mod format;
pub mod import;
pub mod restore;

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub use self::files::list;
use self::files::{Scratch, TargetLock};
use self::format::{Entry, FormatError, allowed_name};
use crate::controller::store::Store;
use crate::crypto::Entropy;
use crate::identity::IdentitySecret;

/// The database file in a home.
const DB: &str = "controller.db";
/// Default key file name, in the home.
pub const KEY_FILE: &str = "backup.key";
/// Backup file names: `ztcd-backup-YYYYMMDDTHHMMSSZ.ztb`.
const PREFIX: &str = "ztcd-backup-";
const SUFFIX: &str = ".ztb";
/// Files of a home that go into a backup (besides the database and `moons.d/`).
const HOME_FILES: &[&str] = &[
    "identity.secret",
    "identity.public",
    "planet",
    "planet.c25519",
    "moon.c25519",
    "authtoken.secret",
];

/// What a backup holds, as `verify` and `restore` report it.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The controller's address.
    pub address: String,
    /// When the backup was taken (ms since the epoch).
    pub created: u64,
    /// Networks and members in its database.
    pub networks: usize,
    /// Members.
    pub members: usize,
    /// Files it holds.
    pub files: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "controller {}, taken {}, {} networks, {} members, {} files, database integrity ok",
            self.address,
            utc_stamp(self.created),
            self.networks,
            self.members,
            self.files
        )
    }
}

/// `YYYYMMDDTHHMMSSZ` for ms since the epoch.
pub fn utc_stamp(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn io_context(what: &str, path: &Path, e: &io::Error) -> String {
    let why = match e.raw_os_error() {
        Some(28) => "the target is full".to_owned(),
        Some(30) => "the target is read-only".to_owned(),
        _ => e.to_string(),
    };
    format!("{what} {}: {why}", path.display())
}

/// Loads a 32-byte key (64 hex digits), creating it (mode 0600) if `create` and missing.
pub fn load_key(path: &Path, create: bool, entropy: &mut impl Entropy) -> Result<[u8; 32], String> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let bytes = crate::hex::decode(text.trim())
                .filter(|b| b.len() == 32)
                .ok_or_else(|| format!("{}: not a backup key (64 hex digits)", path.display()))?;
            let mut key = [0u8; 32];
            key.copy_from_slice(&bytes);
            Ok(key)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
            let mut key = [0u8; 32];
            entropy.fill(&mut key);
            let text = format!("{}\n", crate::hex::encode(&key));
            match create_once(path, text.as_bytes()) {
                Ok(true) => Ok(key),
                // Another backup created it meanwhile: that one is the key.
                Ok(false) => load_key(path, false, entropy),
                Err(e) => Err(io_context("cannot create key", path, &e)),
            }
        }
        Err(e) => Err(format!(
            "{}: {e} (give the key the backup was made with: --key FILE)",
            path.display()
        )),
    }
}

/// Creates `path` with `data` (mode 0600) unless it exists, never replacing it: the content
/// is written and fsynced under a private name first, then linked in place (a link fails
/// rather than replace), so concurrent creators agree on one file. Returns whether this call
/// created it.
fn create_once(path: &Path, data: &[u8]) -> io::Result<bool> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}-{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let written = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()
    })();
    let linked = written.and_then(|()| fs::hard_link(&tmp, path));
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => fs::File::open(dir)?.sync_all().map(|()| true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Settings of `ztcd backup`.
#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// The home to back up.
    pub home: PathBuf,
    /// Target directory (e.g. the USB stick).
    pub to: PathBuf,
    /// Backups to keep (at least 1).
    pub keep: usize,
    /// Key file (default `HOME/backup.key`, created on first use).
    pub key: Option<PathBuf>,
    /// Refuse unless `to` is a mounted file system of its own.
    pub require_mount: bool,
}

/// Checks the target before anything is written to it.
fn check_target(opts: &BackupOptions) -> Result<(), String> {
    let meta = fs::metadata(&opts.to).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            format!(
                "backup target {} does not exist (is the USB stick plugged in and mounted?)",
                opts.to.display()
            )
        } else {
            io_context("cannot use backup target", &opts.to, &e)
        }
    })?;
    if !meta.is_dir() {
        return Err(format!(
            "backup target {} is not a directory",
            opts.to.display()
        ));
    }
    if opts.require_mount {
        // A stick that is not mounted leaves its mount point (or the directory under it) on
        // the root file system: refuse to fill the flash or SD card there.
        let root = fs::metadata("/").map_err(|e| io_context("cannot read", Path::new("/"), &e))?;
        if meta.dev() == root.dev() {
            return Err(format!(
                "backup target {} is not on a mounted file system of its own (--require-mount): \
                 refusing to fill the flash it sits on; is the USB stick mounted?",
                opts.to.display()
            ));
        }
    }
    Ok(())
}

/// Networks and members in a database.
type Counts = (usize, usize);

/// The database's entry, from a consistent snapshot of the live database staged in the target
/// (the home may be full or read-only exactly when a backup is needed), with its counts.
fn database_entry(opts: &BackupOptions) -> Result<Option<(Entry, Counts)>, String> {
    let db = opts.home.join(DB);
    if !db.exists() {
        return Ok(None);
    }
    let snap = Scratch::create(&opts.to, "snapshot")
        .map_err(|e| io_context("cannot write to", &opts.to, &e))?;
    Store::snapshot(&db, snap.path()).map_err(|e| {
        let why = if e.is_full() {
            "the target is full".to_owned()
        } else {
            e.to_string()
        };
        format!(
            "snapshot of {} into {}: {why}",
            db.display(),
            opts.to.display()
        )
    })?;
    let data = fs::read(snap.path()).map_err(|e| io_context("cannot read", snap.path(), &e))?;
    drop(snap);
    let counts = count(&data, &opts.to)?;
    let entry = Entry {
        name: DB.into(),
        data,
    };
    Ok(Some((entry, counts)))
}

/// The home's other files a backup holds: identity, keys, planet, token, moons.
fn home_entries(home: &Path) -> Vec<Entry> {
    let mut entries = Vec::new();
    for name in HOME_FILES {
        if let Ok(data) = fs::read(home.join(name)) {
            entries.push(Entry {
                name: (*name).into(),
                data,
            });
        }
    }
    for moon in fs::read_dir(home.join("moons.d"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = format!("moons.d/{}", moon.file_name().to_string_lossy());
        if allowed_name(&name)
            && let Ok(data) = fs::read(moon.path())
        {
            entries.push(Entry { name, data });
        }
    }
    entries
}

/// Takes a backup; returns its path and what it holds. `unix` is the current time (ms).
pub fn backup(
    opts: &BackupOptions,
    unix: u64,
    entropy: &mut impl Entropy,
) -> Result<(PathBuf, Summary), String> {
    check_target(opts)?;
    let identity = fs::read_to_string(opts.home.join("identity.secret"))
        .map_err(|e| io_context("no identity to back up in", &opts.home, &e))?;
    let identity = IdentitySecret::parse(&identity).map_err(|e| format!("identity.secret: {e}"))?;
    let key_path = opts.key.clone().unwrap_or_else(|| opts.home.join(KEY_FILE));
    let key = load_key(&key_path, true, entropy)?;

    // One backup into a target at a time (a double click, a retry after a 504, cron): the
    // others wait here, then find the leftovers of interrupted runs removed.
    let _lock =
        TargetLock::acquire(&opts.to).map_err(|e| io_context("cannot lock", &opts.to, &e))?;
    // Snapshots of earlier versions were staged in the home: remove any left there.
    for e in fs::read_dir(&opts.home).into_iter().flatten().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with(&format!(".{DB}.backup-")) && n.ends_with(".tmp") {
            let _ = fs::remove_file(e.path());
        }
    }
    let (mut entries, (networks, members)) = match database_entry(opts)? {
        Some((entry, counts)) => (vec![entry], counts),
        None => (Vec::new(), (0, 0)),
    };
    entries.extend(home_entries(&opts.home));
    let summary = Summary {
        address: identity.address().to_string(),
        created: unix,
        networks,
        members,
        files: entries.len() + 1,
    };
    let manifest = serde_json::json!({
        "address": summary.address, "created": unix, "networks": networks, "members": members,
        "ztcdVersion": env!("CARGO_PKG_VERSION"),
    });
    entries.insert(
        0,
        Entry {
            name: "manifest.json".into(),
            data: manifest.to_string().into_bytes(),
        },
    );
    let mut nonce = [0u8; 24];
    entropy.fill(&mut nonce);
    let sealed = format::seal(&key, &nonce, &entries);

    let name = files::next_name(&opts.to, &utc_stamp(unix));
    let path = files::write_durably(&opts.to, &name, &sealed)
        .map_err(|e| io_context("cannot write backup to", &opts.to, &e))?;
    // Read it back from the target before deleting anything older.
    let written = fs::read(&path).map_err(|e| io_context("cannot read back", &path, &e))?;
    if written != sealed {
        let _ = fs::remove_file(&path);
        return Err(format!(
            "{} did not read back as written: the target is failing",
            path.display()
        ));
    }
    let all = list(&opts.to);
    let excess = all.len().saturating_sub(opts.keep.max(1));
    for old in all.iter().take(excess).filter(|p| **p != path) {
        let _ = fs::remove_file(old);
    }
    Ok((path, summary))
}

/// (networks, members) of a database image, after an integrity check, opened from a private
/// scratch file in `scratch_dir`.
fn count(db_image: &[u8], scratch_dir: &Path) -> Result<(usize, usize), String> {
    let scratch = Scratch::create(scratch_dir, "check")
        .map_err(|e| io_context("cannot write to", scratch_dir, &e))?;
    let tmp = scratch.path();
    fs::write(tmp, db_image).map_err(|e| io_context("cannot write", tmp, &e))?;
    (|| {
        let store = Store::open(tmp).map_err(|e| format!("database: {e}"))?;
        let check = store
            .integrity_check()
            .map_err(|e| format!("database: {e}"))?;
        if check != "ok" {
            return Err(format!("database integrity check failed: {check}"));
        }
        let counts = store
            .member_counts()
            .map_err(|e| format!("database: {e}"))?;
        Ok((counts.len(), counts.iter().map(|c| c.1 as usize).sum()))
    })()
}

/// Opens and fully checks a backup: authenticity, contents, database integrity.
pub fn verify(file: &Path, key: &[u8; 32]) -> Result<(Vec<Entry>, Summary), String> {
    let bytes = fs::read(file).map_err(|e| io_context("cannot read", file, &e))?;
    let entries =
        format::open(key, &bytes).map_err(|e: FormatError| format!("{}: {e}", file.display()))?;
    let get = |n: &str| entries.iter().find(|e| e.name == n);
    let manifest: serde_json::Value = get("manifest.json")
        .and_then(|m| serde_json::from_slice(&m.data).ok())
        .ok_or_else(|| format!("{}: no manifest", file.display()))?;
    let identity = get("identity.secret")
        .and_then(|i| std::str::from_utf8(&i.data).ok())
        .and_then(|t| IdentitySecret::parse(t).ok())
        .ok_or_else(|| format!("{}: no valid identity", file.display()))?;
    let (networks, members) = match get(DB) {
        Some(db) => {
            let dir = files::PrivateDir::create(&std::env::temp_dir()).map_err(|e| {
                io_context(
                    "cannot create a private directory in",
                    &std::env::temp_dir(),
                    &e,
                )
            })?;
            count(&db.data, dir.path())?
        }
        None => (0, 0),
    };
    let summary = Summary {
        address: identity.address().to_string(),
        created: manifest["created"].as_u64().unwrap_or(0),
        networks,
        members,
        files: entries.len(),
    };
    Ok((entries, summary))
}

/// Files of a home that a restore leaves to the new home when the backup does not hold them
/// (the backup key above all: losing it would make every other backup unreadable).
fn kept_on_restore(name: &str) -> bool {
    !matches!(
        name,
        DB | "controller.db-wal" | "controller.db-shm" | crate::home::lock::LOCK_FILE
    ) && !name.starts_with('.')
}

/// Restores a backup into `home`, all or nothing: refuses a non-empty home without `force`,
/// verifies the whole backup first, writes the new home next to the old one (fsynced), and
/// swaps the two by rename, so a crash or a full disk leaves the old home or the new one,
/// never a mix. Files the backup does not hold (the backup key) are carried over. A home that
/// is a mount point of its own cannot be renamed: its files are staged inside it and moved in
/// under a marker that `ztcd run` refuses to start with until a restore completes.
pub fn restore(file: &Path, home: &Path, key: &[u8; 32], force: bool) -> Result<Summary, String> {
    let present: Vec<String> = fs::read_dir(home)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != crate::home::lock::LOCK_FILE)
        .collect();
    if !present.is_empty() && !force {
        return Err(format!(
            "{} is not empty: restoring would replace its identity and database (use --force)",
            home.display()
        ));
    }
    let (entries, summary) = verify(file, key)?;
    restore::swap_in(home, &entries, &present)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(951_782_400_000), "20000229T000000Z");
        assert_eq!(utc_stamp(1_795_474_661_936), "20261123T225741Z");
    }
}
