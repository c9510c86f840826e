//! The runtime: the only code that touches sockets, the file system, clocks, threads, signals
//! and OS randomness.

pub mod admin_exec;
mod answers;
pub mod daemon;
pub mod follow;
pub mod log;
pub mod manage;
mod owner_loop;
pub mod planet;
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
