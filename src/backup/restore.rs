//! Putting a verified backup in place, all or nothing: the new home is written next to the
//! old one and the two are swapped by rename, so a kill, a power cut or a full disk leaves
//! the old home or the new one, never a mix of two identities and databases.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::format::Entry;
use super::{DB, io_context, kept_on_restore};

/// Left in a home that is a mount point of its own while its files are moved in one by one;
/// `ztcd run` refuses to start while it exists.
pub const MARKER: &str = ".restore-incomplete";

/// Written into a staged home once all of it is on disk: only such a stage may become the
/// home when a restore was cut short between the two renames.
const STAGED: &str = ".staged";

/// Finishes or undoes a restore that was cut short, and removes its leftovers: when `home` is
/// missing, a completely staged home (or else the old one) is moved back in place. Called by
/// `ztcd run` and `ztcd restore` before they use the home, so an interrupted restore never
/// turns into a fresh identity.
pub fn recover(home: &Path) -> Result<(), String> {
    let Some((parent, name)) = split(home) else {
        return Ok(());
    };
    let leftovers = |kind: &str| -> Vec<PathBuf> {
        let prefix = format!(".{name}.{kind}-");
        fs::read_dir(parent)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path())
            .collect()
    };
    let (stages, replaced) = (leftovers("restore"), leftovers("replaced"));
    if !home.exists() {
        let staged = stages.iter().find(|s| s.join(STAGED).exists());
        if let Some(back) = staged.or_else(|| replaced.first()) {
            fs::rename(back, home)
                .and_then(|()| sync_dir(parent))
                .map_err(|e| io_context("cannot recover the interrupted restore of", home, &e))?;
        }
    }
    for p in stages.iter().chain(&replaced).filter(|p| p.exists()) {
        let _ = fs::remove_dir_all(p);
    }
    let _ = fs::remove_file(home.join(STAGED));
    Ok(())
}

fn split(home: &Path) -> Option<(&Path, String)> {
    let parent = home
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    Some((parent, home.file_name()?.to_string_lossy().into_owned()))
}

/// Puts `entries` in place as `home`; `present` names the files the home holds now.
pub(super) fn swap_in(home: &Path, entries: &[Entry], present: &[String]) -> Result<(), String> {
    recover(home)?;
    let (parent, name) =
        split(home).ok_or_else(|| format!("{}: not a directory name", home.display()))?;
    let tag = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    if is_mount_point(home, parent) {
        return in_place(home, entries, &tag)
            .map_err(|e| io_context("cannot restore into", home, &e));
    }
    let stage = parent.join(format!(".{name}.restore-{tag}"));
    let result = fs::create_dir(&stage)
        .and_then(|()| fs::set_permissions(&stage, fs::Permissions::from_mode(0o700)))
        .and_then(|()| fill(&stage, entries))
        .and_then(|()| carry_over(home, &stage, entries, present))
        .and_then(|()| sync_dir(&stage))
        .and_then(|()| fs::File::create(stage.join(STAGED))?.sync_all())
        .and_then(|()| sync_dir(&stage))
        .and_then(|()| {
            crate::home::crash_point("restore-staged");
            swap(
                home,
                &stage,
                &parent.join(format!(".{name}.replaced-{tag}")),
            )
        })
        .and_then(|()| sync_dir(parent));
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&stage);
        return Err(io_context("cannot restore into", home, &e));
    }
    let _ = fs::remove_file(home.join(STAGED));
    Ok(())
}

fn is_mount_point(home: &Path, parent: &Path) -> bool {
    match (fs::metadata(home), fs::metadata(parent)) {
        (Ok(h), Ok(p)) => h.dev() != p.dev(),
        _ => false,
    }
}

/// Writes every entry under `dir`, each fsynced, with its mode.
fn fill(dir: &Path, entries: &[Entry]) -> io::Result<()> {
    fs::create_dir_all(dir.join("moons.d"))?;
    for e in entries.iter().filter(|e| e.name != "manifest.json") {
        let public = e.name == "identity.public" || e.name == "planet" || e.name.ends_with(".moon");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if public { 0o644 } else { 0o600 })
            .open(dir.join(&e.name))?;
        f.write_all(&e.data)?;
        f.sync_all()?;
    }
    sync_dir(&dir.join("moons.d"))
}

/// Copies the old home's files the backup does not provide (the backup key) into the stage.
fn carry_over(home: &Path, stage: &Path, entries: &[Entry], present: &[String]) -> io::Result<()> {
    for name in present {
        let from = home.join(name);
        if !kept_on_restore(name) || entries.iter().any(|e| e.name == *name) || !from.is_file() {
            continue;
        }
        fs::copy(&from, stage.join(name))?;
        fs::File::open(stage.join(name))?.sync_all()?;
    }
    Ok(())
}

/// Replaces `home` by `stage` (the old home is moved to `old`, then removed).
fn swap(home: &Path, stage: &Path, old: &Path) -> io::Result<()> {
    if !home.exists() {
        return fs::rename(stage, home);
    }
    fs::rename(home, old)?;
    crate::home::crash_point("restore-between-renames");
    if let Err(e) = fs::rename(stage, home) {
        let _ = fs::rename(old, home);
        return Err(e);
    }
    let _ = fs::remove_dir_all(old);
    Ok(())
}

/// A home that is a mount point cannot be renamed: stage inside it, then move each file in
/// under [`MARKER`].
fn in_place(home: &Path, entries: &[Entry], tag: &str) -> io::Result<()> {
    // Stages of runs cut short are dropped; their marker stays until this run completes.
    for e in fs::read_dir(home)?.flatten() {
        if e.file_name().to_string_lossy().starts_with(".restore-") && e.path().is_dir() {
            let _ = fs::remove_dir_all(e.path());
        }
    }
    let stage = home.join(format!(".restore-{tag}"));
    fs::create_dir(&stage)?;
    if let Err(e) = fill(&stage, entries).and_then(|()| sync_dir(&stage)) {
        let _ = fs::remove_dir_all(&stage);
        return Err(e);
    }
    let marker = home.join(MARKER);
    fs::File::create(&marker)?.sync_all()?;
    sync_dir(home)?;
    for suffix in ["-wal", "-shm"] {
        let _ = fs::remove_file(home.join(format!("{DB}{suffix}")));
    }
    fs::create_dir_all(home.join("moons.d"))?;
    let staged: Vec<PathBuf> = entries
        .iter()
        .filter(|e| e.name != "manifest.json")
        .map(|e| PathBuf::from(&e.name))
        .collect();
    for name in &staged {
        fs::rename(stage.join(name), home.join(name))?;
        crate::home::crash_point("restore-in-place");
    }
    sync_dir(&home.join("moons.d"))?;
    sync_dir(home)?;
    fs::remove_file(&marker)?;
    sync_dir(home)?;
    let _ = fs::remove_dir_all(&stage);
    Ok(())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}
