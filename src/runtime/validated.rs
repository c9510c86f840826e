//! The cache of validated identities (`peers.validated`): one public identity per line,
//! appended as identities are validated and rewritten from the node's bounded set when it has
//! doubled, so a restart does not redo the proof-of-work checks.

use crate::identity::Identity;
use crate::warn;

/// The newest `MAX_VALIDATED_IDENTITIES` identities of the cache file.
pub(super) fn load_validated(path: &std::path::Path) -> Vec<Identity> {
    let mut ids: Vec<Identity> = std::fs::read_to_string(path)
        .map(|t| t.lines().filter_map(|l| l.parse().ok()).collect())
        .unwrap_or_default();
    let excess = ids
        .len()
        .saturating_sub(crate::limits::MAX_VALIDATED_IDENTITIES);
    ids.drain(..excess);
    ids
}

/// Replaces the cache file with `ids`; returns how many lines it now has.
pub(super) fn rewrite_validated(
    path: &std::path::Path,
    ids: impl Iterator<Item = Identity>,
) -> usize {
    let lines: Vec<String> = ids.map(|id| id.to_string()).collect();
    let mut text = lines.join("\n");
    text.push('\n');
    if let Err(e) = crate::home::write_atomic(path, text.as_bytes(), 0o644) {
        warn!("cannot rewrite {}: {e}", path.display());
    }
    lines.len()
}

pub(super) fn append_validated(path: &std::path::Path, id: &Identity) {
    use std::io::Write;
    let result = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| writeln!(f, "{id}"));
    if let Err(e) = result {
        warn!(
            "cannot record validated identity in {}: {e}",
            path.display()
        );
    }
}
