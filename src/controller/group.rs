//! Group commit of configuration requests: the first request that writes (a new member, an
//! address assigned) opens a transaction that stays open for up to [`GROUP_COMMIT_MS`] or
//! [`GROUP_COMMIT_MAX`] answers, across wake-ups, so new members arriving close together
//! share one fsync. No answer decided inside it is released before it commits: nothing is
//! acknowledged that is not durable. Requests answered while no transaction is open (cache
//! hits, refusals) are released at once.

use super::store::StoreError;
use super::{Batch, ConfigRequest, Controller, Now, Reply};
use crate::wire::{Address, NetworkId};

/// Longest time (ms) a group transaction stays open: the most a new member's first answer
/// waits for the commit it shares.
pub const GROUP_COMMIT_MS: u64 = 4;
/// Most answers held in one group transaction: it commits once this many wait.
pub const GROUP_COMMIT_MAX: usize = 128;

/// An answer to a configuration request, for the runtime to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The member that asked.
    pub to: Address,
    /// The network.
    pub network_id: NetworkId,
    /// The request's packet ID.
    pub packet_id: u64,
    /// What it gets.
    pub reply: Reply,
}

impl Controller {
    /// Starts taking the requests of one wake-up: their first write opens the group
    /// transaction unless one is open already. Opening it is tried once per wake-up: while
    /// another process holds the database, the other requests fail at once instead of each
    /// waiting for the lock.
    pub fn begin_requests(&mut self) {
        if !matches!(self.batch, Batch::Open(_)) {
            self.batch = Batch::Armed;
        }
    }

    /// Decides one request and queues its answer: held if the group transaction is open,
    /// ready otherwise ([`Controller::take_answers`]). Commits the group once it holds
    /// [`GROUP_COMMIT_MAX`] answers.
    pub fn request(&mut self, now: Now, req: &ConfigRequest<'_>, packet_id: u64) {
        let reply = self.handle_request(now.mono, now.unix, req);
        if matches!(self.batch, Batch::Open(_)) {
            // Even when the request that opened it is not answered: the deadline bounds how
            // long the write lock is held.
            self.group_opened.get_or_insert(now.mono);
        }
        if reply == Reply::Ignore {
            return;
        }
        let answer = Answer {
            to: req.from.address(),
            network_id: req.network_id,
            packet_id,
            reply,
        };
        if !matches!(self.batch, Batch::Open(_)) {
            return self.ready.push(answer);
        }
        self.held.push(answer);
        if self.held.len() >= GROUP_COMMIT_MAX {
            let _ = self.end_requests();
        }
    }

    /// Ends taking the requests of one wake-up: unless their writes opened the group
    /// transaction (which commits at its deadline), later writes (pushes, timers) are not
    /// part of a group and commit on their own.
    pub fn end_wake(&mut self) {
        if !matches!(self.batch, Batch::Open(_)) {
            self.batch = Batch::Off;
        }
    }

    /// Commits the group transaction, if one is open, and releases its answers. On failure
    /// nothing of it was kept: the cache is emptied and its answers are dropped (the clients
    /// ask again).
    pub fn end_requests(&mut self) -> Result<(), StoreError> {
        self.group_opened = None;
        let Batch::Open(nested) = std::mem::replace(&mut self.batch, Batch::Off) else {
            return Ok(());
        };
        match self.store.close(nested) {
            Ok(()) => {
                self.ready.append(&mut self.held);
                Ok(())
            }
            Err(e) => {
                self.stats.store_errors += 1;
                crate::warn!(
                    "cannot record members: {e}; {} answers withheld",
                    self.held.len()
                );
                self.held.clear();
                self.cache.clear();
                Err(e)
            }
        }
    }

    /// When (monotonic ms) the open group transaction must commit, if one is open.
    pub(super) fn group_deadline(&self) -> Option<u64> {
        self.group_opened.map(|t| t + GROUP_COMMIT_MS)
    }

    /// Answers ready to send, in the order they were decided.
    pub fn take_answers(&mut self) -> Vec<Answer> {
        std::mem::take(&mut self.ready)
    }
}
