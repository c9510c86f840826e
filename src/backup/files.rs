//! The backup target's files: one backup at a time (a lock file in the target), private
//! scratch files created there (O_EXCL, 0600; never in /tmp, never in the home on flash),
//! leftovers of interrupted runs removed, and backup names that carry a sequence number, so
//! rotation and "newest" follow the order backups were taken, not a clock that may be wrong.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{PREFIX, SUFFIX};

/// The lock file in a backup target.
const LOCK: &str = ".ztcd-backup.lock";
/// Scratch files in a target start with this.
const SCRATCH: &str = ".ztcd-scratch-";

/// Holds a target's lock: other backups into it wait until this one is done.
#[derive(Debug)]
pub(super) struct TargetLock(#[allow(dead_code)] File);

impl TargetLock {
    /// Waits for the target's lock, then removes what interrupted runs left there.
    pub(super) fn acquire(dir: &Path) -> io::Result<Self> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(dir.join(LOCK))?;
        f.lock()?;
        remove_leftovers(dir);
        Ok(Self(f))
    }
}

/// Removes scratch and half-written files of interrupted runs (only while holding the lock).
fn remove_leftovers(dir: &Path) {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let half_written = n.starts_with(&format!(".{PREFIX}")) && n.ends_with(".tmp");
        if n.starts_with(SCRATCH) || half_written {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// A new, empty scratch file in `dir` (O_EXCL, 0600), removed with its SQLite companions
/// when dropped.
pub(super) struct Scratch(PathBuf);

impl Scratch {
    pub(super) fn create(dir: &Path, what: &str) -> io::Result<Self> {
        let mut n = 0u32;
        loop {
            let path = dir.join(format!("{SCRATCH}{what}-{}-{n}", std::process::id()));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(_) => return Ok(Self(path)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(e),
            }
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// A new directory only this user can enter (mode 0700, made by `mkdir`, which fails rather
/// than follow anything planted at its name), removed with its contents when dropped: where
/// `verify` opens a backup's database.
pub(super) struct PrivateDir(PathBuf);

impl PrivateDir {
    pub(super) fn create(parent: &Path) -> io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let mut n = 0u32;
        loop {
            let path = parent.join(format!("ztcd-verify-{}-{n}", std::process::id()));
            match fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(Self(path)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(e),
            }
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A backup file's sequence number (0 for names without one).
fn sequence(path: &Path) -> u64 {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let core = name.trim_start_matches(PREFIX).trim_end_matches(SUFFIX);
    core.split_once('-')
        .and_then(|(_, seq)| seq.parse().ok())
        .unwrap_or(0)
}

/// Backup files in `dir`, oldest first: by sequence number, then by modification time.
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<(u64, SystemTime, PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .map(|p| {
            let mtime = fs::metadata(&p).and_then(|m| m.modified());
            (sequence(&p), mtime.unwrap_or(SystemTime::UNIX_EPOCH), p)
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, _, p)| p).collect()
}

/// The name of the next backup in `dir`: `ztcd-backup-STAMP-SEQ.ztb`, SEQ one above the
/// highest there.
pub(super) fn next_name(dir: &Path, stamp: &str) -> String {
    let seq = list(dir).iter().map(|p| sequence(p)).max().unwrap_or(0) + 1;
    format!("{PREFIX}{stamp}-{seq}{SUFFIX}")
}

/// Writes `data` to `dir/name` so that a crash never leaves a complete-looking partial file:
/// a new temporary name, fsync, rename, fsync of the directory.
pub(super) fn write_durably(dir: &Path, name: &str, data: &[u8]) -> io::Result<PathBuf> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    let result = (|| -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| path)
}
