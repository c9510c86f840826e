//! The network controller: decides what each configuration request gets. Policy only: it
//! reads and writes the [`store::Store`], takes time as arguments and never touches sockets.
//!
//! For a NETWORK_CONFIG_REQUEST (zt-protocol §5.7): networks not prefixed by our address are
//! ignored; a member's repeat within 1 s is ignored; an unknown network gets OBJ_NOT_FOUND; a
//! blocked member, an identity that differs from the one pinned for that address, or
//! an unauthorized member of a private network gets NETWORK_ACCESS_DENIED (the member record is
//! created on first contact, as a join request); otherwise the member gets its configuration.

pub mod api;
pub mod api_json;
pub mod apply;
pub mod cache;
pub mod change;
pub mod credentials;
mod decide;
mod group;
pub mod ip_assign;
pub mod model;
pub mod netconf;
mod pushes;
pub mod rules_json;
pub mod rules_lang;
pub mod store;
pub mod window;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use self::cache::{COM_REUSE_MS, CacheStats, ConfigCache};
use self::decide::Origin;
pub use self::group::{Answer, GROUP_COMMIT_MAX};
use self::model::{Member, parse_cidr};
use self::netconf::DEFAULT_CREDENTIAL_WINDOW_MS;
use self::store::{Store, StoreError};
use crate::identity::{Identity, IdentitySecret};
use crate::wire::verbs::ErrorCode;
use crate::wire::{Address, NetworkId};

/// Repeats from one member for one network within this many ms are ignored
/// (`ZT_NETCONF_MIN_REQUEST_PERIOD`).
pub const MIN_REQUEST_INTERVAL_MS: u64 = 1000;
/// Most distinct client metadata dictionaries kept for sharing.
pub const MAX_METADATA_VARIANTS: usize = 256;
/// Members that asked within this many ms get changes pushed (zerotier-one uses 120 s).
pub const PUSH_WINDOW_MS: u64 = 120_000;
/// Revocations kept for members that ask later (each lives for a credential window).
pub const MAX_REVOCATIONS: usize = 1024;

/// A COM revocation still worth delivering: until the revoked COMs could no longer agree
/// with anyone's, every member that asks gets it once.
#[derive(Debug, Clone)]
struct Revoked {
    network_id: NetworkId,
    target: Address,
    payload: Vec<u8>,
    until_mono: u64,
    sent_to: HashSet<Address>,
}

/// The last request of a member, kept so a change can be pushed to it.
#[derive(Debug, Clone)]
struct Recent {
    mono: u64,
    identity: Identity,
    /// Shared with every request that sent the same bytes (clients of one version send the
    /// same metadata to every network).
    metadata: Arc<[u8]>,
    physical: Option<SocketAddr>,
    /// When it was last seen (Unix ms), if not yet written to the store: last-seen times go
    /// to the store in batches ([`Controller::flush_seen`]), not as a write per request.
    seen: Option<u64>,
}

/// A configuration change to push to a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// The member.
    pub to: Address,
    /// The network.
    pub network_id: NetworkId,
    /// Its new configuration, or the refusal it now gets.
    pub reply: Reply,
}

/// The time of one step, as the runtime passes it in: monotonic ms (the repeat filter, the
/// push window, timers) and wall-clock ms since the epoch (stamps in records and
/// configurations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic ms.
    pub mono: u64,
    /// Unix ms.
    pub unix: u64,
}

/// Where a group of requests stands ([`Controller::begin_requests`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Batch {
    /// No group: writes commit one by one.
    Off,
    /// A group without writes so far: the first write opens its transaction.
    Armed,
    /// The group's transaction is open (or a savepoint, if `true`): its answers are held
    /// until it commits.
    Open(bool),
    /// Opening the transaction failed: the writes of this wake-up's requests fail at once.
    Unavailable,
}

/// A configuration request, as the node hands it over.
#[derive(Debug, Clone)]
pub struct ConfigRequest<'a> {
    /// The member asking (its identity was validated by the node).
    pub from: Identity,
    /// The network.
    pub network_id: NetworkId,
    /// The member's metadata dictionary.
    pub metadata: &'a [u8],
    /// Where it came from, if directly.
    pub physical: Option<SocketAddr>,
}

/// What to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Send nothing.
    Ignore,
    /// Send ERROR with this code.
    Error(ErrorCode),
    /// Send this configuration dictionary.
    Config(Vec<u8>),
    /// Send NETWORK_CREDENTIALS with this payload (a revocation; only in pushes).
    Credentials(Vec<u8>),
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ControllerStats {
    /// Requests handled.
    pub requests: u64,
    /// Requests ignored as repeats within 1 s.
    pub repeats: u64,
    /// Configurations sent.
    pub configs: u64,
    /// Refusals (not found, access denied).
    pub refusals: u64,
    /// Store failures (answered as not found, as zerotier-one does).
    pub store_errors: u64,
}

/// The controller.
#[derive(Debug)]
pub struct Controller {
    identity: IdentitySecret,
    store: Store,
    recent: HashMap<(NetworkId, Address), Recent>,
    cache: ConfigCache,
    data_version: i64,
    /// Pushes queued by API writes and revocations owed to members; drained by the runtime
    /// after every request or write ([`Controller::take_pushes`]).
    outbox: Vec<Push>,
    /// Revocations of deauthorized members' COMs, bounded by [`MAX_REVOCATIONS`].
    revoked: Vec<Revoked>,
    stats: ControllerStats,
    /// The state of the current request batch.
    batch: Batch,
    /// Distinct metadata dictionaries of recent requests, bounded by [`MAX_METADATA_VARIANTS`].
    metadata: HashSet<Arc<[u8]>>,
    /// Most recent requests remembered (from the memory budget).
    max_recent: usize,
    /// The newest COM timestamp issued (Unix ms), persisted: stamps never go below it, so a
    /// clock corrected backwards cannot split members beyond the agreement window.
    com_clock: u64,
    /// `com_clock` as last written to the store.
    com_clock_stored: u64,
    /// When (monotonic ms) the controller's timers are next due.
    timers: apply::Timers,
    /// Answers decided in the open request transaction, sent once it commits.
    held: Vec<Answer>,
    /// Answers ready to send ([`Controller::take_answers`]).
    ready: Vec<Answer>,
    /// How many [`Controller::atomically`] sections are running.
    atomic_depth: u32,
    /// The revocations as they were before the running sections' first revocation.
    revoked_undo: Option<Vec<Revoked>>,
    /// Members a network change is still to be pushed to.
    pending: pushes::PendingPushes,
}

/// The store setting that keeps [`Controller::com_stamp`]'s clock across restarts.
const COM_CLOCK_SETTING: &str = "com_clock";

impl Controller {
    /// A controller signing as `identity`, keeping state in `store`, with the table bounds of
    /// the default memory budget.
    pub fn new(identity: IdentitySecret, store: Store) -> Self {
        Self::with_limits(identity, store, crate::limits::TableLimits::default())
    }

    /// A controller whose recent-request table and configuration cache are bounded by
    /// `limits`.
    pub fn with_limits(
        identity: IdentitySecret,
        store: Store,
        limits: crate::limits::TableLimits,
    ) -> Self {
        let data_version = store.data_version().unwrap_or(0);
        let com_clock = store
            .setting(COM_CLOCK_SETTING)
            .ok()
            .flatten()
            .map_or(0, |v| u64::try_from(v).unwrap_or(0));
        Self {
            com_clock,
            com_clock_stored: com_clock,
            identity,
            store,
            recent: HashMap::new(),
            cache: ConfigCache::with_limits(limits.cache_entries, limits.cache_bytes),
            data_version,
            outbox: Vec::new(),
            revoked: Vec::new(),
            stats: ControllerStats::default(),
            batch: Batch::Off,
            metadata: HashSet::new(),
            max_recent: limits.recent_requests.max(1),
            timers: apply::Timers::default(),
            held: Vec::new(),
            ready: Vec::new(),
            atomic_depth: 0,
            revoked_undo: None,
            pending: pushes::PendingPushes::default(),
        }
    }

    fn intern_metadata(&mut self, bytes: &[u8]) -> Arc<[u8]> {
        if let Some(m) = self.metadata.get(bytes) {
            return m.clone();
        }
        if self.metadata.len() >= MAX_METADATA_VARIANTS {
            self.metadata.clear();
        }
        let m: Arc<[u8]> = Arc::from(bytes);
        self.metadata.insert(m.clone());
        m
    }

    fn put_member(&mut self, m: &Member) -> Result<(), StoreError> {
        match self.batch {
            Batch::Armed => {
                // Tried once per batch: while another process holds the database, the other
                // requests of the batch fail at once instead of each waiting for the lock.
                self.batch = Batch::Unavailable;
                self.batch = Batch::Open(self.store.begin()?);
            }
            Batch::Unavailable => return Err(StoreError::Unavailable),
            Batch::Off | Batch::Open(_) => {}
        }
        self.store.put_member(m)
    }

    /// The store, for writes (the in-process API): empties the response cache.
    pub fn store(&mut self) -> &mut Store {
        self.cache.clear();
        &mut self.store
    }

    /// Cache counters.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats
    }

    /// Notes when a member was seen (its address is the request's), for the next batch.
    fn note_seen(&mut self, key: (NetworkId, Address), unix: u64) {
        if let Some(r) = self.recent.get_mut(&key) {
            r.seen = Some(unix);
        }
    }

    /// The timestamp for a COM issued now: the wall clock, but never below a stamp issued
    /// before (a clock corrected backwards keeps the newest stamp until it catches up).
    fn com_stamp(&mut self, unix: u64) -> u64 {
        self.com_clock = self.com_clock.max(unix);
        self.com_clock
    }

    /// The threshold of a revocation issued now: it covers every COM issued so far, and COMs
    /// issued later are stamped above it (a member authorized again is not revoked).
    fn revocation_threshold(&mut self, unix: u64) -> u64 {
        let threshold = self.com_stamp(unix);
        self.com_clock = threshold + 1;
        threshold
    }

    /// Forgets a deleted member's recent request: no more pushes to it, no pending last-seen.
    fn forget_recent(&mut self, network_id: NetworkId, address: Address) {
        self.recent.remove(&(network_id, address));
    }

    /// Writes batched last-seen times and addresses, and the COM clock, to the store (call
    /// every few tens of seconds and at shutdown). Returns how many members were updated.
    /// On failure (the database locked by another process, a full disk) they stay pending for
    /// the next call.
    pub fn flush_seen(&mut self) -> Result<usize, StoreError> {
        // Written in a transaction of their own: inside an open group they would count as
        // written before the group commits.
        if matches!(self.batch, Batch::Open(_)) {
            let _ = self.end_requests();
        }
        let batch: Vec<_> = self
            .recent
            .iter()
            .filter_map(|(k, r)| r.seen.map(|t| (*k, t, r.physical)))
            .collect();
        let clock = (self.com_clock != self.com_clock_stored).then_some(self.com_clock);
        if batch.is_empty() && clock.is_none() {
            return Ok(0);
        }
        self.store.transaction(|s| {
            for ((nwid, addr), when, physical) in &batch {
                let physical = physical.map(|p| p.to_string());
                s.touch_member(*nwid, *addr, *when, physical.as_deref())?;
            }
            if let Some(c) = clock {
                s.set_setting(COM_CLOCK_SETTING, i64::try_from(c).unwrap_or(i64::MAX))?;
            }
            Ok(())
        })?;
        if let Some(c) = clock {
            self.com_clock_stored = c;
        }
        for (key, when, _) in &batch {
            // A later sighting noted meanwhile stays pending.
            if let Some(r) = self.recent.get_mut(key).filter(|r| r.seen == Some(*when)) {
                r.seen = None;
            }
        }
        Ok(batch.len())
    }

    /// Counters.
    pub fn stats(&self) -> ControllerStats {
        self.stats
    }

    /// This controller's node address (the first 40 bits of its networks' IDs).
    pub fn address(&self) -> Address {
        self.identity.address()
    }

    /// A new network ID under our address with the given low 24 bits.
    pub fn network_id(&self, low: u32) -> NetworkId {
        NetworkId((self.identity.address().to_u64() << 24) | u64::from(low & 0xff_ffff))
    }

    /// Answers one request. `mono` is monotonic ms (repeat filter), `unix` wall-clock ms
    /// (timestamps in configs and records).
    pub fn handle_request(&mut self, mono: u64, unix: u64, req: &ConfigRequest<'_>) -> Reply {
        if req.network_id.controller() != self.identity.address() {
            return Reply::Ignore;
        }
        let key = (req.network_id, req.from.address());
        if self
            .recent
            .get(&key)
            .is_some_and(|r| mono.saturating_sub(r.mono) < MIN_REQUEST_INTERVAL_MS)
        {
            self.stats.repeats += 1;
            return Reply::Ignore;
        }
        if self.recent.len() >= self.max_recent {
            // Entries about to go may hold last-seen times not yet written. Writing them
            // commits an open group; the requests that follow start the next one (and do not
            // each commit on their own).
            let grouping = self.batch != Batch::Off;
            if self.flush_seen().is_err() {
                self.stats.store_errors += 1;
            }
            if grouping && self.batch == Batch::Off {
                self.batch = Batch::Armed;
            }
            self.recent
                .retain(|_, r| mono.saturating_sub(r.mono) < PUSH_WINDOW_MS);
            if self.recent.len() >= self.max_recent {
                self.recent.clear();
            }
        }
        let recent = Recent {
            mono,
            identity: req.from,
            metadata: self.intern_metadata(req.metadata),
            physical: req.physical,
            seen: self.recent.get(&key).and_then(|r| r.seen),
        };
        self.recent.insert(key, recent);
        self.stats.requests += 1;
        match self.decide(unix, req, Origin::Request) {
            Ok(reply) => {
                match &reply {
                    Reply::Config(_) => {
                        self.stats.configs += 1;
                        self.owe_revocations(mono, key);
                    }
                    Reply::Error(_) => self.stats.refusals += 1,
                    Reply::Ignore | Reply::Credentials(_) => {}
                }
                reply
            }
            // Undecided (the database locked by another process, a full disk): no answer, so
            // the member asks again rather than being told the network does not exist.
            Err(_) => {
                self.stats.store_errors += 1;
                self.recent.remove(&key);
                Reply::Ignore
            }
        }
    }

    /// If the database was changed by another writer (a `ztcd` command applying a change
    /// while no daemon ran, a restored file) since the last call, queues a push to every
    /// member that asked within [`PUSH_WINDOW_MS`].
    pub(crate) fn pushes_after_change(&mut self, now: Now) {
        match self.store.data_version() {
            Ok(v) if v != self.data_version => self.data_version = v,
            _ => return,
        }
        self.cache.clear();
        self.queue_pushes(now, None);
    }

    /// Records a revocation of `target`'s COMs and queues it for the network's members that
    /// asked recently; members that ask later get it with their configuration.
    fn revoke(&mut self, mono: u64, network_id: NetworkId, target: Address, payload: Vec<u8>) {
        if self.atomic_depth > 0 && self.revoked_undo.is_none() {
            // The list as it was before this transaction's first revocation, restored if it
            // fails ([`Controller::atomically`]).
            self.revoked_undo = Some(self.revoked.clone());
        }
        self.revoked
            .retain(|r| r.until_mono > mono && !(r.network_id == network_id && r.target == target));
        if self.revoked.len() >= MAX_REVOCATIONS {
            self.revoked.remove(0);
        }
        self.revoked.push(Revoked {
            network_id,
            target,
            payload,
            until_mono: mono + DEFAULT_CREDENTIAL_WINDOW_MS + COM_REUSE_MS,
            sent_to: HashSet::new(),
        });
        let recent: Vec<(NetworkId, Address)> = self
            .recent
            .iter()
            .filter(|(k, r)| k.0 == network_id && mono.saturating_sub(r.mono) < PUSH_WINDOW_MS)
            .map(|(k, _)| *k)
            .collect();
        for key in recent {
            self.owe_revocations(mono, key);
        }
    }

    /// Queues the live revocations of `key`'s network that member has not been sent yet.
    fn owe_revocations(&mut self, mono: u64, (network_id, to): (NetworkId, Address)) {
        for r in &mut self.revoked {
            if r.network_id == network_id
                && r.target != to
                && r.until_mono > mono
                && r.sent_to.insert(to)
            {
                self.outbox.push(Push {
                    to,
                    network_id,
                    reply: Reply::Credentials(r.payload.clone()),
                });
            }
        }
    }
}

/// Parses `ip/bits` (re-exported for the CLI and the admin API).
pub fn cidr(text: &str) -> Option<(IpAddr, u8)> {
    parse_cidr(text)
}

#[cfg(test)]
mod api_tests;
#[cfg(test)]
mod apply_tests;
#[cfg(test)]
mod tests;
