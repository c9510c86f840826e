//! `ztcd backup`, `ztcd backup verify` and `ztcd restore`: encrypted, verified, rotated copies
//! of a home (the database snapshot plus the identity, World keys, planet, moons and token),
//! safe to take while the daemon runs and safe against a pulled USB stick or a power cut.

pub mod format;
pub mod import;
pub mod restore;

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

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
            crate::runtime::home::write_atomic(path, text.as_bytes(), 0o600)
                .map_err(|e| io_context("cannot create key", path, &e))?;
            Ok(key)
        }
        Err(e) => Err(format!(
            "{}: {e} (give the key the backup was made with: --key FILE)",
            path.display()
        )),
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

/// Writes `data` to `dir/name` so that a crash never leaves a complete-looking partial file:
/// a temporary name, fsync, rename, fsync of the directory.
fn write_durably(dir: &Path, name: &str, data: &[u8]) -> Result<PathBuf, String> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    let result = (|| -> io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        fs::File::open(dir)?.sync_all()
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_context("cannot write backup to", dir, &e)
    })?;
    Ok(path)
}

/// Backup files in `dir`, oldest first.
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect();
    // By time stamp, then by the `-N` added when two backups share a second.
    out.sort_by_key(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let core = name.trim_start_matches(PREFIX).trim_end_matches(SUFFIX);
        let (stamp, seq) = core.split_once('-').unwrap_or((core, "0"));
        (stamp.to_owned(), seq.parse::<u32>().unwrap_or(0))
    });
    out
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

    // A consistent snapshot of the live database, taken next to it (same file system).
    let snap = opts
        .home
        .join(format!(".{DB}.backup-{}.tmp", std::process::id()));
    let _ = fs::remove_file(&snap);
    let mut entries = Vec::new();
    let db = opts.home.join(DB);
    let (networks, members) = if db.exists() {
        let r =
            Store::snapshot(&db, &snap).map_err(|e| format!("snapshot of {}: {e}", db.display()));
        let data =
            r.and_then(|()| fs::read(&snap).map_err(|e| io_context("cannot read", &snap, &e)));
        let _ = fs::remove_file(&snap);
        let data = data?;
        let counts = count(&data)?;
        entries.push(Entry {
            name: DB.into(),
            data,
        });
        counts
    } else {
        (0, 0)
    };
    for name in HOME_FILES {
        if let Ok(data) = fs::read(opts.home.join(name)) {
            entries.push(Entry {
                name: (*name).into(),
                data,
            });
        }
    }
    for moon in fs::read_dir(opts.home.join("moons.d"))
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

    // Leftovers of an interrupted run never look like backups; remove them.
    for e in fs::read_dir(&opts.to).into_iter().flatten().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with(&format!(".{PREFIX}")) && n.ends_with(".tmp") {
            let _ = fs::remove_file(e.path());
        }
    }
    // Two backups within a second get `-1`, `-2`, ... after the newest of that second.
    let stamp = utc_stamp(unix);
    let same: Vec<u32> = list(&opts.to)
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .filter_map(|n| {
            let core = n.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?.to_owned();
            let (s, seq) = core.split_once('-').unwrap_or((&core, "0"));
            (s == stamp).then(|| seq.parse().unwrap_or(0))
        })
        .collect();
    let name = match same.iter().max() {
        None => format!("{PREFIX}{stamp}{SUFFIX}"),
        Some(m) => format!("{PREFIX}{stamp}-{}{SUFFIX}", m + 1),
    };
    let path = write_durably(&opts.to, &name, &sealed)?;
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

/// (networks, members) of a database image, after an integrity check.
fn count(db_image: &[u8]) -> Result<(usize, usize), String> {
    let tmp = std::env::temp_dir().join(format!(
        "ztcd-verify-{}-{}.db",
        std::process::id(),
        db_image.len()
    ));
    fs::write(&tmp, db_image).map_err(|e| io_context("cannot write", &tmp, &e))?;
    let result = (|| {
        let store = Store::open(&tmp).map_err(|e| format!("database: {e}"))?;
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
    })();
    for suffix in ["", "-wal", "-shm"] {
        let _ = fs::remove_file(format!("{}{suffix}", tmp.display()));
    }
    result
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
        Some(db) => count(&db.data)?,
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
        DB | "controller.db-wal" | "controller.db-shm" | crate::runtime::lock::LOCK_FILE
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
        .filter(|n| n != crate::runtime::lock::LOCK_FILE)
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
