//! Requests that arrive together share one commit: the first request of a wake-up that
//! writes (a new member, an address assigned) opens a transaction that
//! [`Controller::end_requests`] commits at the end of the wake-up, or earlier once it holds
//! [`GROUP_COMMIT_MAX`] answers. No answer decided inside it is released before it commits:
//! nothing is acknowledged that is not durable. Requests answered while no transaction is
//! open (cache hits, refusals that wrote nothing) are released at once.

use super::store::StoreError;
use super::{Batch, ConfigRequest, Controller, Now, Reply};
use crate::wire::{Address, NetworkId};

/// Most answers held in one transaction: it commits once this many wait.
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
    /// Starts taking the requests of one wake-up: their first write opens the transaction.
    /// Opening it is tried once per wake-up: while another process holds the database, the
    /// other requests fail at once instead of each waiting for the lock.
    pub fn begin_requests(&mut self) {
        if !matches!(self.batch, Batch::Open(_)) {
            self.batch = Batch::Armed;
        }
    }

    /// Decides one request and queues its answer: held if the transaction is open, ready
    /// otherwise ([`Controller::take_answers`]). Commits once [`GROUP_COMMIT_MAX`] answers
    /// are held.
    pub fn request(&mut self, now: Now, req: &ConfigRequest<'_>, packet_id: u64) {
        let reply = self.handle_request(now.mono, now.unix, req);
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
            // The rest of this wake-up's requests share the next transaction: without it
            // each of their writes would commit (and fsync) on its own.
            self.batch = Batch::Armed;
        }
    }

    /// Ends the wake-up's requests: commits the transaction, if one is open, and releases
    /// its answers. Later writes (pushes, timers) commit on their own. On failure nothing of
    /// it was kept: the cache is emptied and its answers are dropped (the clients ask again).
    pub fn end_requests(&mut self) -> Result<(), StoreError> {
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

    /// Answers ready to send, in the order they were decided.
    pub fn take_answers(&mut self) -> Vec<Answer> {
        std::mem::take(&mut self.ready)
    }
}
