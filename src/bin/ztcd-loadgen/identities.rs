//! The identity cache: simulated members need real identities (the target checks their proof
//! of work, about 0.3 s of CPU to make each), so they are generated once and kept in a file,
//! one secret identity per line, appended as they are made.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ztcd::crypto::hashcash::Scratch;
use ztcd::identity::IdentitySecret;
use ztcd::runtime::OsEntropy;

/// Reads the first `count` identities of `path` (all when `count` is `None`).
pub(crate) fn load(path: &Path, count: Option<usize>) -> Result<Vec<IdentitySecret>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if count.is_some_and(|c| out.len() >= c) {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        let id = IdentitySecret::parse(line.trim())
            .map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?;
        out.push(id);
    }
    if let Some(c) = count
        && out.len() < c
    {
        return Err(format!(
            "{} holds {} identities, {c} wanted: run `ztcd-loadgen identities --file {} --count {c}`",
            path.display(),
            out.len(),
            path.display()
        ));
    }
    Ok(out)
}

/// Appends identities to `path` on `threads` threads until it holds `count`; returns the JSON
/// report line.
pub(crate) fn generate(path: &Path, count: usize, threads: usize) -> Result<String, String> {
    let have = match std::fs::read_to_string(path) {
        Ok(t) => t.lines().filter(|l| !l.trim().is_empty()).count(),
        Err(_) => 0,
    };
    let wanted = count.saturating_sub(have);
    let start = Instant::now();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let file = std::sync::Mutex::new(file);
    let made = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                let mut scratch = Scratch::new();
                while made.fetch_add(1, Ordering::Relaxed) < wanted {
                    let id = IdentitySecret::generate(&mut OsEntropy, &mut scratch);
                    let line = format!("{}\n", id.to_secret_string());
                    // A poisoned lock only means another writer panicked: keep writing.
                    let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
                    if let Err(e) = f.write_all(line.as_bytes()) {
                        eprintln!("ztcd-loadgen: {}: {e}", path.display());
                        return;
                    }
                }
            });
        }
    });
    Ok(format!(
        "{{\"mode\":\"identities\",\"had\":{have},\"generated\":{wanted},\"seconds\":{:.1}}}",
        start.elapsed().as_secs_f64()
    ))
}
