//! The controller's write side: typed [`Change`]s carried out in one transaction, and the
//! controller's own timers (changes made by other writers, expired authorizations, batched
//! last-seen times). The runtime only passes the time in and sends what
//! [`Controller::take_pushes`] hands out.

use serde_json::Value;

use super::api::{ApiError, ApiResult};
use super::change::{Change, set_authorized};
use super::store::StoreError;
use super::{Controller, Now};
use crate::crypto::Entropy;

/// How often (ms) the controller looks for changes by another writer and for members whose
/// authorization ran out.
pub const CHANGE_POLL_MS: u64 = 1_000;
/// How often (ms) batched last-seen times are written to the store.
pub const SEEN_FLUSH_MS: u64 = 30_000;
/// Most expired members deauthorized per change poll (a backlog clears over a few seconds
/// without holding the owner loop).
const EXPIRY_BATCH: usize = 256;

/// When (monotonic ms) each of the controller's timers is next due; 0 is due at once.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Timers {
    change_poll: u64,
    seen_flush: u64,
}

impl Controller {
    /// Carries out `changes` in order, all in one transaction, and returns each one's result
    /// once all are durable; answer none of them before this returns. A change that fails
    /// leaves nothing behind and the others stand. `Err` means nothing was written (the
    /// transaction could not start or commit: another process holds the database, the disk
    /// is full or read-only): every change failed with it.
    pub fn apply_all(
        &mut self,
        now: Now,
        entropy: &mut dyn Entropy,
        changes: &[Change],
    ) -> ApiResult<Vec<ApiResult<Value>>> {
        self.atomically(|c| {
            Ok(changes
                .iter()
                .map(|change| c.atomically(|c| c.apply(now, entropy, change)))
                .collect())
        })
    }

    /// Carries out one change in its own transaction (the command line, tests).
    pub fn apply_one(
        &mut self,
        now: Now,
        entropy: &mut dyn Entropy,
        change: &Change,
    ) -> ApiResult<Value> {
        self.atomically(|c| c.apply(now, entropy, change))
    }

    /// Dispatches one change to the code that carries it out.
    fn apply(&mut self, now: Now, entropy: &mut dyn Entropy, change: &Change) -> ApiResult<Value> {
        match change {
            Change::CreateNetwork(patch) => self.create_network(now, entropy, patch),
            Change::PutNetwork(id, patch) => self.put_network(now, *id, patch),
            Change::DeleteNetwork(id) => self.delete_network(now, *id),
            Change::PutMember(id, address, patch) => {
                self.put_member_patch(now, *id, *address, patch)
            }
            Change::DeleteMember(id, address) => self.delete_member(now, *id, *address),
            Change::OpenWindow(id, spec) => self.open_window(now.unix, *id, *spec),
            Change::CloseWindow(id) => self.close_window(now.unix, *id),
        }
    }

    /// Runs `f` in a transaction (or a savepoint inside the one open): its writes land, or
    /// none of them. On failure what it queued or cached goes too: the configurations it
    /// rendered and the pushes and revocations it queued describe writes that did not land.
    pub fn atomically<T>(&mut self, f: impl FnOnce(&mut Self) -> ApiResult<T>) -> ApiResult<T> {
        // Requests' writes are committed apart (their answers are released): a change is
        // answered when its own transaction commits, not the group's.
        if matches!(self.batch, super::Batch::Open(_)) {
            let _ = self.end_requests();
        }
        let (queued, clock, nested) = (self.outbox.len(), self.com_clock, self.store.begin()?);
        let pending = self.pending.len();
        // The revocations are copied only if this transaction makes one (see `revoke`).
        let outer_undo = self.revoked_undo.take();
        self.atomic_depth += 1;
        let result = f(self);
        self.atomic_depth -= 1;
        let ended = match &result {
            Ok(_) => self.store.close(nested),
            Err(_) => {
                self.store.abort(nested);
                Ok(())
            }
        };
        let undo = self.revoked_undo.take();
        if result.is_err() || ended.is_err() {
            self.cache.clear();
            self.outbox.truncate(queued);
            self.pending.truncate(pending);
            if let Some(before) = undo {
                self.revoked = before;
            }
            self.com_clock = clock;
            self.revoked_undo = outer_undo;
        } else {
            // Kept: an enclosing transaction that fails must still undo these.
            self.revoked_undo = outer_undo.or(undo);
        }
        let value = result?;
        ended?;
        Ok(value)
    }

    /// When (monotonic ms) [`Controller::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> u64 {
        self.timers.change_poll.min(self.timers.seen_flush)
    }

    /// Runs the timers that are due at `now`: every [`CHANGE_POLL_MS`], members whose
    /// authorization ran out are deauthorized and, if another writer changed the database,
    /// members that asked recently are re-decided (pushes queued for
    /// [`Controller::take_pushes`]); every [`SEEN_FLUSH_MS`], last-seen times are written.
    /// A store failure is logged and retried at the next due time.
    pub fn handle_timeout(&mut self, now: Now) {
        if now.mono >= self.timers.change_poll {
            self.timers.change_poll = now.mono + CHANGE_POLL_MS;
            match self.atomically(|c| Ok(c.expire_members(now)?)) {
                Ok(0) => {}
                Ok(n) => crate::info!("{n} members' authorization ran out: deauthorized"),
                // A foreign lock is reported by the API's answers; retried next poll.
                Err(ApiError::Store(e)) if e.is_locked() => {}
                Err(e) => crate::warn!("cannot deauthorize expired members: {e}"),
            }
            self.pushes_after_change(now);
        }
        if now.mono >= self.timers.seen_flush {
            self.timers.seen_flush = now.mono + SEEN_FLUSH_MS;
            if let Err(e) = self.flush_seen() {
                crate::warn!("last-seen times not written (kept for the next try): {e}");
            }
        }
    }

    /// Deauthorizes the members whose authorization ran out by `now`, exactly as an
    /// administrator's deauthorization (COM revoked at the other members, configurations
    /// pushed); at most [`EXPIRY_BATCH`] per call. Returns how many.
    pub(super) fn expire_members(&mut self, now: Now) -> Result<usize, StoreError> {
        let due = self.store.expired_members(now.unix, EXPIRY_BATCH)?;
        for old in &due {
            let mut m = old.clone();
            set_authorized(&mut m, false, now.unix);
            m.revision += 1;
            self.store.put_member(&m)?;
            self.changed_member(now.mono, now.unix, Some(old), &m);
        }
        Ok(due.len())
    }
}
