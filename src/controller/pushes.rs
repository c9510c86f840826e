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

/// Members waiting for a push, each once, in the order queued. Only members in the
/// recent-request table are queued, so it is bounded by that table's size
/// ([`crate::limits::TableLimits`]): at most two 16-byte keys and their slots per member.
#[derive(Debug, Default)]
pub(super) struct PendingPushes {
    queue: VecDeque<(NetworkId, Address)>,
    queued: HashSet<(NetworkId, Address)>,
    /// When the newest entry was queued ([`Controller::take_pushes`] renders with it).
    at: Option<Now>,
    /// After a chunk could not be decided or committed (the database held by another
    /// process): not before this (monotonic ms).
    retry_at: u64,
}

impl PendingPushes {
    fn push(&mut self, key: (NetworkId, Address), now: Now) {
        if self.queued.insert(key) {
            self.queue.push_back(key);
        }
        self.at = Some(now);
    }

    /// Puts `keys` back at the front, in their order (a chunk that did not land).
    fn requeue(&mut self, keys: &[(NetworkId, Address)]) {
        for &key in keys.iter().rev() {
            if self.queued.insert(key) {
                self.queue.push_front(key);
            }
        }
    }

    /// Drops `key` from the queue (its push was decided another way).
    pub(super) fn remove(&mut self, key: (NetworkId, Address)) {
        if self.queued.remove(&key) {
            self.queue.retain(|k| *k != key);
        }
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

    /// Whether [`Controller::render_pushes`] has work at `mono`: pushes wait and no failed
    /// chunk is backing off.
    pub fn pushes_due(&self, mono: u64) -> bool {
        self.pending.len() > 0 && mono >= self.pending.retry_at
    }

    /// Decides up to `max` queued pushes at `now` and queues them for
    /// [`Controller::take_rendered_pushes`]. Most write nothing (after a change to what
    /// members share they come from the cache); those that do (an address assigned) share
    /// one transaction, opened at the first write, and are released only once it commits.
    /// If a push cannot be decided or the commit fails (the database held by another
    /// process), the chunk goes back to the front of the queue and waits
    /// [`super::apply::CHANGE_POLL_MS`]. Not for use inside [`Controller::atomically`]: its
    /// pushes would leave before the enclosing transaction commits.
    pub fn render_pushes(&mut self, now: Now, max: usize) {
        debug_assert_eq!(self.atomic_depth, 0, "render_pushes inside a transaction");
        if !self.pushes_due(now.mono) {
            return;
        }
        let mut keys = Vec::with_capacity(max.min(self.pending.len()));
        while keys.len() < max {
            match self.pending.pop() {
                Some(k) => keys.push(k),
                None => break,
            }
        }
        self.begin_requests();
        let (pushes, undecided) = self.decide_pushes(now, &keys);
        let waiting = match self.end_requests() {
            // What was decided is durable and goes; the rest waits.
            Ok(()) => {
                self.outbox.extend(pushes);
                undecided
            }
            Err(_) => keys,
        };
        if !waiting.is_empty() {
            self.pending.requeue(&waiting);
            self.pending.retry_at = now.mono + super::apply::CHANGE_POLL_MS;
        }
    }

    /// Pushes ready to send: those decided so far, without rendering the queued ones (the
    /// runtime renders those a chunk per wake-up with [`Controller::render_pushes`]).
    pub fn take_rendered_pushes(&mut self) -> Vec<Push> {
        std::mem::take(&mut self.outbox)
    }

    /// Every push: the queued ones are rendered first, with the time of the change that
    /// queued them (those a failed chunk put back stay queued).
    pub fn take_pushes(&mut self) -> Vec<Push> {
        if let Some(at) = self.pending.at {
            self.render_pushes(at, usize::MAX);
        }
        self.take_rendered_pushes()
    }

    /// Re-decides for every member that asked within [`PUSH_WINDOW_MS`], at once.
    pub fn push_all(&mut self, mono: u64, unix: u64) -> Vec<Push> {
        let keys: Vec<_> = self.recent.keys().copied().collect();
        self.decide_pushes(Now { mono, unix }, &keys).0
    }

    /// Decides for the members `keys` that asked within [`PUSH_WINDOW_MS`] what they get
    /// now: a configuration or a refusal. Also returns the members whose decision failed
    /// (counted as store errors).
    pub(super) fn decide_pushes(
        &mut self,
        now: Now,
        keys: &[(NetworkId, Address)],
    ) -> (Vec<Push>, Vec<(NetworkId, Address)>) {
        let (mut out, mut undecided) = (Vec::new(), Vec::new());
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
                Err(_) => {
                    self.stats.store_errors += 1;
                    undecided.push((network_id, to));
                }
            }
        }
        (out, undecided)
    }
}
