//! The runtime: the only code that touches sockets, the file system, clocks, threads, signals
//! and OS randomness.

pub mod admin_exec;
mod answers;
pub mod daemon;
pub mod home;
pub mod lock;
pub mod log;
pub mod manage;
mod startup;
mod validated;

use crate::crypto::Entropy;

/// The operating system's random generator.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        // The OS generator only fails on a broken system; continuing with predictable keys
        // would be worse than stopping.
        if let Err(e) = getrandom::fill(buf) {
            panic!("operating system random generator failed: {e}");
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Fault injection for the fault suite: a process whose `ZTCD_CRASH_AT` names `point` dies
/// there at once, as if killed, so tests can prove each such point leaves nothing half-done.
pub fn crash_point(point: &str) {
    if std::env::var_os("ZTCD_CRASH_AT").is_some_and(|v| v == point) {
        std::process::abort();
    }
}
