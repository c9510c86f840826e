//! One owner per home. `ztcd run`, and every command that writes a home while no daemon runs,
//! holds an exclusive `flock` on `HOME/ztcd.lock` for its whole life; the kernel drops it when
//! the process ends, however it ends (a SIGKILL or a power cut leaves no stale lock). The
//! daemon writes its PID and its admin address into the file, so a management command that
//! finds the home owned sends its change to that daemon instead of writing behind its back.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::Home;

/// The lock file's name in the home.
pub const LOCK_FILE: &str = "ztcd.lock";

/// How long a command waits for a daemon that holds the lock to write where its API is (it
/// does so right after binding its sockets).
const ANNOUNCE_WAIT: Duration = Duration::from_secs(5);

/// The exclusive lock on a home, held until dropped.
#[derive(Debug)]
pub struct HomeLock {
    file: File,
}

/// The process that owns a home we could not lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Its process ID, if it wrote one yet.
    pub pid: Option<u32>,
    /// Where its admin API listens on loopback (`None`: the API is off or not announced).
    pub admin: Option<SocketAddr>,
}

/// The outcome of [`lock`].
#[derive(Debug)]
pub enum Locked {
    /// This process owns the home now.
    Mine(HomeLock),
    /// Another process does.
    Theirs(Owner),
}

/// Tries to take `home`'s lock without waiting.
pub fn lock(home: &Home) -> io::Result<Locked> {
    let path = home.path(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(Locked::Mine(HomeLock { file })),
        Err(TryLockError::WouldBlock) => Ok(Locked::Theirs(read_owner(&path))),
        Err(TryLockError::Error(e)) => Err(io::Error::new(
            e.kind(),
            format!("{}: cannot lock: {e}", path.display()),
        )),
    }
}

/// Takes `home`'s lock for a command that writes it, or says who holds it.
pub fn lock_exclusive(home: &Home, what: &str) -> Result<HomeLock, String> {
    match lock(home).map_err(|e| e.to_string())? {
        Locked::Mine(l) => Ok(l),
        Locked::Theirs(owner) => Err(format!(
            "{what}: {} is in use by a running ztcd{}: stop it first",
            home.dir().display(),
            owner.pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
        )),
    }
}

impl HomeLock {
    /// Records this process and its admin API address (`None`: the API is off) for commands
    /// that find the home owned.
    pub fn announce(&mut self, admin: Option<SocketAddr>) -> io::Result<()> {
        let mut text = format!("pid {}\n", std::process::id());
        if let Some(a) = admin {
            text.push_str(&format!("admin {a}\n"));
        }
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(text.as_bytes())?;
        self.file.sync_data()
    }
}

impl Owner {
    /// Parses the lock file's text (`pid N`, `admin IP:PORT` lines).
    fn parse(text: &str) -> Self {
        let mut owner = Self {
            pid: None,
            admin: None,
        };
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("pid", v)) => owner.pid = v.trim().parse().ok(),
                Some(("admin", v)) => owner.admin = v.trim().parse().ok(),
                _ => {}
            }
        }
        owner
    }
}

/// Reads who owns the lock, waiting briefly for a daemon that is still starting to say so.
fn read_owner(path: &Path) -> Owner {
    let start = Instant::now();
    loop {
        let owner = Owner::parse(&std::fs::read_to_string(path).unwrap_or_default());
        if owner.pid.is_some() || start.elapsed() > ANNOUNCE_WAIT {
            return owner;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_owner_at_a_time_and_others_learn_where_it_listens() {
        let dir = std::env::temp_dir().join(format!("ztcd-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let home = Home::open(&dir).unwrap();
        let Locked::Mine(mut mine) = lock(&home).unwrap() else {
            panic!("a fresh home is free");
        };
        let admin: SocketAddr = "127.0.0.1:9993".parse().unwrap();
        mine.announce(Some(admin)).unwrap();
        match lock(&home).unwrap() {
            Locked::Theirs(o) => assert_eq!(
                o,
                Owner {
                    pid: Some(std::process::id()),
                    admin: Some(admin)
                }
            ),
            Locked::Mine(_) => panic!("a second lock was granted"),
        }
        assert!(
            lock_exclusive(&home, "restore")
                .unwrap_err()
                .contains("in use")
        );
        drop(mine);
        assert!(matches!(lock(&home).unwrap(), Locked::Mine(_)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
