//! A peer's paths, replay window and quotas under any sequence of events: packets heard on
//! a few addresses, probe answers (right or wrong), sends against a path's credit, time
//! moving on. Invariants: at most MAX_PATHS_PER_PEER paths; only confirmed, live paths are
//! ever chosen; an unconfirmed path never lets out more than came in; a live confirmed path
//! is never displaced by an unconfirmed one; no packet ID is accepted twice while among the
//! last REPLAY_WINDOW accepted.
#![no_main]

use std::collections::HashMap;
use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use ztcd::crypto::SymmetricKey;
use ztcd::identity::Identity;
use ztcd::limits::{MAX_PATHS_PER_PEER, REPLAY_WINDOW};
use ztcd::node::peer::{Bucket, ReplayWindow};
use ztcd::node::{LocalSocket, Peer};
use ztcd::wire::Address;

fuzz_target!(|data: &[u8]| {
    let mut peer = Peer::new(
        Identity::new(Address::new(0x11_2233_4455), [0; 64]),
        SymmetricKey::from_bytes([0; 48]),
        0,
    );
    let mut window = ReplayWindow::default();
    let mut recent: Vec<u64> = Vec::new();
    let mut bucket = Bucket::default();
    let (mut received, mut sent): (HashMap<SocketAddr, u64>, HashMap<SocketAddr, u64>) =
        (HashMap::new(), HashMap::new());
    let mut now = 1u64;
    for op in data.chunks(4) {
        let [kind, a, b, c] = [op[0], *op.get(1).unwrap_or(&0), *op.get(2).unwrap_or(&0), *op.get(3).unwrap_or(&0)];
        let addr = SocketAddr::from(([10, 0, 0, a % 8], 9993));
        now += u64::from(c) * 97;
        match kind % 6 {
            0 => {
                let before = peer.best_path(now, None);
                peer.heard_on(now, LocalSocket(0), addr, usize::from(b));
                if !peer.paths.iter().any(|p| p.remote == addr && p.confirmed) {
                    *received.entry(addr).or_default() += u64::from(b);
                }
                if let Some(live) = before {
                    assert!(peer.paths.iter().any(|p| p.remote == live.remote && p.confirmed));
                }
            }
            1 => {
                if let Some(p) = peer.path_mut(LocalSocket(0), addr) {
                    p.probe = Some((u64::from(b), now));
                }
            }
            2 => {
                if peer.confirm(now, LocalSocket(0), addr, u64::from(b)).is_some() {
                    received.remove(&addr);
                    sent.remove(&addr);
                }
            }
            3 => {
                let unconfirmed = peer.paths.iter().any(|p| p.remote == addr && !p.confirmed);
                if peer.spend(LocalSocket(0), addr, usize::from(b)) && unconfirmed {
                    *sent.entry(addr).or_default() += u64::from(b);
                }
            }
            4 => {
                // Within the last REPLAY_WINDOW accepted IDs, none is accepted twice.
                let id = u64::from_be_bytes([0, 0, 0, 0, 0, a % 32, b % 4, 0]);
                let accepted_now = window.accept(id);
                if accepted_now {
                    assert!(!recent.contains(&id), "packet ID {id} accepted twice");
                    recent.push(id);
                    if recent.len() > REPLAY_WINDOW {
                        recent.remove(0);
                    }
                } else {
                    assert!(recent.contains(&id));
                }
            }
            _ => {
                let _ = bucket.take_n(now, u32::from(a) + 1, u32::from(b) + 1, u32::from(c % 4));
            }
        }
        assert!(peer.paths.len() <= MAX_PATHS_PER_PEER);
        if let Some(p) = peer.best_path(now, None) {
            assert!(p.confirmed && p.is_alive(now));
        }
        for (addr, out) in &sent {
            assert!(out <= received.get(addr).unwrap_or(&0), "{addr}: {out} bytes out");
        }
    }
});
