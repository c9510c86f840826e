//! Pushes: configurations, refusals and revocations the controller sends without being
//! asked. One member's change is decided at once; a change to a whole network (or a database
//! changed by another writer) queues its members instead, and their configurations are
//! rendered a chunk at a time after the change commits ([`Controller::render_pushes`]). So
//! a change to a network of 10,000 members sends its first push after one chunk, not after
//! all 10,000 configurations are made, and never holds them all in memory at once; each
//! configuration is decided from the state at the time it is made, so none is stale.

use std::collections::{HashSet, VecDeque};

use super::decide::Origin;
use super::{ConfigRequest, Controller, Now, PUSH_WINDOW_MS, Push, Reply};
use crate::wire::{Address, NetworkId};

/// Members waiting for a push, each once, in the order queued.
#[derive(Debug, Default)]
pub(super) struct PendingPushes {
    queue: VecDeque<(NetworkId, Address)>,
    queued: HashSet<(NetworkId, Address)>,
    /// When the newest entry was queued ([`Controller::take_pushes`] renders with it).
    at: Option<Now>,
}

impl PendingPushes {
    fn push(&mut self, key: (NetworkId, Address), now: Now) {
        if self.queued.insert(key) {
            self.queue.push_back(key);
        }
        self.at = Some(now);
    }

    fn pop(&mut self) -> Option<(NetworkId, Address)> {
        let key = self.queue.pop_front()?;
        self.queued.remove(&key);
        Some(key)
    }

    /// How many are queued (a mark for [`PendingPushes::truncate`]).
    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Forgets the entries queued after `len` were (a change that did not land).
    pub(super) fn truncate(&mut self, len: usize) {
        while self.queue.len() > len {
            if let Some(key) = self.queue.pop_back() {
                self.queued.remove(&key);
            }
        }
    }
}

impl Controller {
    /// Queues a push to every member of `network` (every member, if `None`) that asked
    /// within [`PUSH_WINDOW_MS`].
    pub(super) fn queue_pushes(&mut self, now: Now, network: Option<NetworkId>) {
        let mut due: Vec<(NetworkId, Address)> = self
            .recent
            .iter()
            .filter(|(k, r)| {
                network.is_none_or(|n| k.0 == n) && now.mono.saturating_sub(r.mono) < PUSH_WINDOW_MS
            })
            .map(|(k, _)| *k)
            .collect();
        // Oldest request first: the order does not matter to members, but a stable one keeps
        // runs (and tests) repeatable.
        due.sort_unstable_by_key(|k| (self.recent[k].mono, *k));
        for key in due {
            self.pending.push(key, now);
        }
    }

    /// Members still waiting for a queued push.
    pub fn pending_pushes(&self) -> usize {
        self.pending.len()
    }

    /// Decides up to `max` queued pushes at `now`, in one transaction (a push may assign an
    /// address), and queues them for [`Controller::take_rendered_pushes`] once it committed.
    /// If it fails, they are dropped (the members get the change when they next ask) and
    /// counted as store errors.
    pub fn render_pushes(&mut self, now: Now, max: usize) {
        if self.pending.len() == 0 {
            return;
        }
        let mut keys = Vec::with_capacity(max.min(self.pending.len()));
        while keys.len() < max {
            match self.pending.pop() {
                Some(k) => keys.push(k),
                None => break,
            }
        }
        let done = self.atomically(|c| {
            let pushes = c.decide_pushes(now, &keys);
            c.outbox.extend(pushes);
            Ok(())
        });
        if done.is_err() {
            self.stats.store_errors += 1;
        }
    }

    /// Pushes ready to send: those decided so far, without rendering the queued ones (the
    /// runtime renders those a chunk per wake-up with [`Controller::render_pushes`]).
    pub fn take_rendered_pushes(&mut self) -> Vec<Push> {
        std::mem::take(&mut self.outbox)
    }

    /// Every push: the queued ones are rendered first, with the time of the change that
    /// queued them.
    pub fn take_pushes(&mut self) -> Vec<Push> {
        if let Some(at) = self.pending.at {
            self.render_pushes(at, usize::MAX);
        }
        self.take_rendered_pushes()
    }

    /// Re-decides for every member that asked within [`PUSH_WINDOW_MS`], at once.
    pub fn push_all(&mut self, mono: u64, unix: u64) -> Vec<Push> {
        let keys: Vec<_> = self.recent.keys().copied().collect();
        self.decide_pushes(Now { mono, unix }, &keys)
    }

    /// Decides for the members `keys` that asked within [`PUSH_WINDOW_MS`] what they get
    /// now: a configuration or a refusal.
    pub(super) fn decide_pushes(&mut self, now: Now, keys: &[(NetworkId, Address)]) -> Vec<Push> {
        let mut out = Vec::new();
        for &(network_id, to) in keys {
            let Some(r) = self.recent.get(&(network_id, to)) else {
                continue;
            };
            if now.mono.saturating_sub(r.mono) >= PUSH_WINDOW_MS {
                continue;
            }
            let r = r.clone();
            let req = ConfigRequest {
                from: r.identity,
                network_id,
                metadata: &r.metadata,
                physical: r.physical,
            };
            match self.decide(now.unix, &req, Origin::Push) {
                Ok(reply @ (Reply::Config(_) | Reply::Error(_))) => out.push(Push {
                    to,
                    network_id,
                    reply,
                }),
                Ok(_) => {}
                Err(_) => self.stats.store_errors += 1,
            }
        }
        out
    }
}
