//! Every capacity and timeout of ztcd as a named constant.
//!
//! Protocol-imposed values cite the ZeroTier constant they mirror; the others are ztcd's own
//! choices, sized for a router with tens of megabytes of RAM.

/// Largest UDP payload ZeroTier sends in one datagram (`ZT_DEFAULT_PHYSMTU`).
pub const PHYSICAL_MTU: usize = 1432;

/// Largest assembled packet accepted or built (`ZT_PROTO_MAX_PACKET_LENGTH` = 7 × 1432).
pub const MAX_PACKET_LEN: usize = 10_024;

/// Most datagrams one packet may be split into, head included (`ZT_MAX_PACKET_FRAGMENTS`).
pub const MAX_PACKET_FRAGMENTS: usize = 7;

/// How long a partially received packet waits for its missing fragments, in milliseconds
/// (`ZT_RECEIVE_QUEUE_TIMEOUT`).
pub const FRAGMENT_TIMEOUT_MS: u64 = 5_000;

/// Packets that may be in reassembly at once; the oldest is evicted when a new one arrives.
pub const REASSEMBLY_SLOTS: usize = 64;

/// Largest request-metadata dictionary a client may send, terminating NUL excluded
/// (`ZT_NETWORKCONFIG_METADATA_DICT_CAPACITY` − 1).
pub const MAX_METADATA_DICT_LEN: usize = 1023;

/// Largest network-config dictionary ztcd builds or parses. Far below what 1.8–1.14 clients
/// accept, far above a realistic configuration (a few kilobytes).
pub const MAX_NETCONF_DICT_LEN: usize = 256 * 1024;

/// Most roots in one World (`ZT_WORLD_MAX_ROOTS`).
pub const MAX_WORLD_ROOTS: usize = 4;

/// How often each root of a multi-root planet says HELLO to the others (they keep
/// confirmed paths to one another and exchange newer planets). zerotier-one pings its roots
/// every 60 s; half that keeps a moved root's new address learned within a minute.
pub const ROOT_HELLO_INTERVAL_MS: u64 = 30_000;

/// Least time between two HELLOs sent to fetch a newer planet a peer announced: a peer (or a
/// replay) announcing one costs us at most one HELLO (about 130 bytes) this often.
pub const PLANET_FETCH_INTERVAL_MS: u64 = 2_000;

/// HELLOs we remember having sent, awaiting their OK: two rounds to 3 other roots × (32
/// endpoints + 1 path), plus fetches. Worst case 256 × 64 bytes = 16 KiB.
pub const MAX_SENT_HELLOS: usize = 256;

/// How long a probe on a confirmed path may go unanswered (with nothing else heard) before
/// packets for that peer go through another root of the planet instead, if one reaches it.
pub const PROBE_ANSWER_TIMEOUT_MS: u64 = 10_000;

/// Largest backup the admin API hands out for download (read whole into memory once): 64 MiB
/// covers a controller of a few hundred thousand members.
pub const MAX_BACKUP_DOWNLOAD_BYTES: u64 = 64 * 1024 * 1024;

/// Most stable endpoints per World root (`ZT_WORLD_MAX_STABLE_ENDPOINTS_PER_ROOT`).
pub const MAX_WORLD_ENDPOINTS_PER_ROOT: usize = 32;

/// Largest serialized World accepted (`ZT_WORLD_MAX_SERIALIZED_LENGTH`).
pub const MAX_WORLD_LEN: usize = 4096;

/// Most qualifiers in a certificate of membership (`ZT_NETWORK_COM_MAX_QUALIFIERS`).
pub const MAX_COM_QUALIFIERS: usize = 8;

/// Most rules in one rules blob (`ZT_MAX_NETWORK_RULES`).
pub const MAX_RULES: usize = 1024;

/// Most identities ztcd puts into or reads from one OK(WHOIS).
pub const MAX_WHOIS_IDENTITIES: usize = 64;

/// Most addresses one OK(MULTICAST_GATHER) carries or is read with.
pub const MAX_GATHER_RESULTS: usize = 256;

/// Physical paths remembered per peer; the least recently heard is replaced.
pub const MAX_PATHS_PER_PEER: usize = 4;

/// How long a path stays usable after the last packet heard on it, in milliseconds. Clients
/// re-HELLO roots every ~224 s (1.10.3+) or ping every 14–60 s (1.8.x), so 10 minutes keeps
/// every live client reachable with margin.
pub const PATH_TIMEOUT_MS: u64 = 600_000;

/// Peers with no live path and not heard from for this long are forgotten, in milliseconds.
pub const PEER_TIMEOUT_MS: u64 = 3_600_000;

/// Identities whose proof of work was checked and found valid, remembered so they are never
/// validated twice (also persisted by the runtime).
pub const MAX_VALIDATED_IDENTITIES: usize = 16_384;

/// Identities found invalid, remembered so a replayed bad HELLO costs nothing.
pub const MAX_INVALID_IDENTITIES: usize = 4096;

/// HELLOs parked while their sender's identity waits for or undergoes validation.
pub const MAX_PENDING_VALIDATIONS: usize = 64;

/// Validations running at once (the validation thread works through them one by one).
pub const MAX_VALIDATIONS_IN_FLIGHT: usize = 2;

/// How long a parked HELLO waits for its validation before it is dropped, ms (the client
/// sends another).
pub const VALIDATION_WAIT_MS: u64 = 10_000;

/// Minimum spacing of identity validations for sources in one IPv4 /24 (or IPv6 /48), in
/// milliseconds (`ZT_IDENTITY_VALIDATION_SOURCE_RATE_LIMIT` is 2 s on x86-64).
pub const VALIDATION_SOURCE_INTERVAL_MS: u64 = 2_000;

/// Source prefixes the validation gate tracks; the stalest is forgotten.
pub const MAX_VALIDATION_SOURCES: usize = 4096;

/// Identity validations started per second across all sources, evenly spaced (each costs ~27 ms
/// on x86-64 and 0.25–0.4 s on small ARM cores, on the validation thread, which runs them one
/// at a time: on a slow board the thread, not this rate, is the limit).
pub const VALIDATIONS_PER_SECOND: u32 = 10;

/// Minimum spacing of RENDEZVOUS for one pair of peers (`ZT_MIN_UNITE_INTERVAL`), ms.
pub const RENDEZVOUS_INTERVAL_MS: u64 = 30_000;

/// Pairs remembered for RENDEZVOUS rate limiting.
pub const MAX_RENDEZVOUS_PAIRS: usize = 8192;

/// How long a multicast subscription lasts without renewal (`ZT_MULTICAST_LIKE_EXPIRE`), ms.
pub const MULTICAST_LIKE_TIMEOUT_MS: u64 = 600_000;

/// Datagrams queued for sending before the oldest are dropped.
pub const MAX_QUEUED_TRANSMITS: usize = 4096;

/// Events queued for the runtime before new ones are dropped.
pub const MAX_QUEUED_EVENTS: usize = 1024;

/// How often the node runs its housekeeping (expiry of paths, subscriptions, fragments), ms.
pub const HOUSEKEEPING_INTERVAL_MS: u64 = 10_000;

// ---- Admin HTTP server (LAN and loopback). Worst case with every limit reached:
// connections × (head buffer + read chunk) = 64 × 20 KiB = 1.25 MiB, plus request bodies in
// flight (ADMIN_BODY_BUDGET, 4 MiB), plus one response per connection being written (sized by
// the owner's answer, e.g. 5.7 MB for 10,000 members with details, to authenticated callers
// only). Unauthenticated clients can hold at most the head buffers.

/// Admin connections open at once, all listeners together; more are closed at once.
pub const ADMIN_MAX_CONNECTIONS: usize = 64;

/// Connections kept free for loopback clients (local scripts, UIs on the router itself): LAN
/// sources together hold at most `ADMIN_MAX_CONNECTIONS - ADMIN_LOOPBACK_RESERVED`.
pub const ADMIN_LOOPBACK_RESERVED: usize = 16;

/// Admin connections one non-loopback source address may hold (a browser opens at most 6).
pub const ADMIN_MAX_CONNECTIONS_PER_SOURCE: usize = 8;

/// Connections from sources outside `--admin-allow` that may linger at once while their 401
/// is delivered; past this they are closed without an answer.
pub const ADMIN_MAX_REFUSING: usize = 32;

/// How long a refused connection lingers so its 401 is delivered before the close, ms.
pub const ADMIN_REFUSE_LINGER_MS: u64 = 1_000;

/// Largest request head (request line and headers), bytes; larger → 431 and close.
pub const ADMIN_MAX_HEAD: usize = 16 * 1024;

/// Most header lines in one request head; more → 431 and close.
pub const ADMIN_MAX_HEADERS: usize = 64;

/// The whole request head must arrive within this time of the connection's start (or of the
/// request's first byte on a kept-alive connection), ms: a deadline for the head, not for
/// each read, so a client trickling bytes (slowloris) cannot hold a connection.
pub const ADMIN_HEAD_TIMEOUT_MS: u64 = 10_000;

/// Largest request body, bytes (a network with 1,024 rules in JSON is ~100 KB); a larger
/// `Content-Length` → 413 and close without reading it; chunked bodies are counted the same.
pub const ADMIN_MAX_BODY: usize = 1024 * 1024;

/// Request body bytes buffered across all connections at once; a request that does not fit
/// gets 503 (retry) instead of growing memory with the number of connections.
pub const ADMIN_BODY_BUDGET: usize = 4 * 1024 * 1024;

/// The whole request body must arrive within this time of the end of its head, ms.
pub const ADMIN_BODY_TIMEOUT_MS: u64 = 30_000;

/// How long a kept-alive connection may stay idle between requests, ms.
pub const ADMIN_IDLE_TIMEOUT_MS: u64 = 30_000;

/// Requests served on one connection; the last is answered with `Connection: close`.
pub const ADMIN_MAX_REQUESTS_PER_CONNECTION: usize = 100;

/// A response the client does not take in full within this time closes the connection, ms.
pub const ADMIN_WRITE_TIMEOUT_MS: u64 = 30_000;

/// Bytes read from a socket at a time (the head buffer grows by at most this much).
pub const ADMIN_READ_CHUNK: usize = 4096;

/// Pause after a failed accept (EMFILE, ENFILE, ECONNABORTED) before accepting again, ms:
/// the listener keeps running, without spinning on an error that persists.
pub const ADMIN_ACCEPT_BACKOFF_MS: u64 = 100;

/// Members per page when the admin server streams a detailed member list (about 600 bytes
/// each: a page is ~150 KiB and takes the owner loop about a millisecond to render).
pub const ADMIN_MEMBERS_PAGE: usize = 256;

/// Requests that may wait for the owner loop; more get 503.
pub const ADMIN_QUEUE: usize = 256;

/// How long a request may wait for the owner loop to start it, ms; then it is dropped from the
/// queue unapplied and answered 504. A request the loop has started gets its real answer.
pub const ADMIN_REPLY_TIMEOUT_MS: u64 = 10_000;

/// How long the owner thread's database statements wait for another process's lock (a
/// `sqlite3` shell in a transaction, a backup tool), ms. Short, so a foreign lock never stalls
/// the root: a write that cannot get the lock fails as "locked" and is retried (last-seen
/// times), left unanswered for the client to repeat (a new member), or answered 503 (the API).
pub const OWNER_BUSY_TIMEOUT_MS: u64 = 20;

// ---- UDP abuse: quotas and gates checked before any costly work or any reply.

/// Packet IDs remembered per peer to drop replays (8 bytes each).
pub const REPLAY_WINDOW: usize = 16;

/// Least spacing of ECHO probes on one unconfirmed path, ms.
pub const PROBE_INTERVAL_MS: u64 = 1_000;

/// Spacing of the ECHO probes that keep a confirmed path's round trip current (what `/peer`
/// reports as latency), ms: zerotier-one's ping period. One 28-byte packet per peer and
/// minute, sent only when the peer's own traffic arrives on that path.
pub const LATENCY_PROBE_INTERVAL_MS: u64 = 60_000;

/// Key agreements (X25519 + SHA-512, ~60 µs on x86-64, several ms on a MIPS router) started
/// per second for HELLOs from identities never validated here and without a cached key,
/// across all sources: a flood of random-key HELLOs is refused before it costs an agreement.
/// (Only [`VALIDATIONS_PER_SECOND`] of them can be validated anyway.)
pub const AGREEMENTS_PER_SECOND: u32 = 50;

/// Key agreements per second for identities validated before (members reconnecting, e.g.
/// all at once after a restart): a bucket of their own, which a flood of unknown identities
/// cannot drain.
pub const KNOWN_AGREEMENTS_PER_SECOND: u32 = 200;

/// Key agreements per second for one source prefix (IPv4 /24, IPv6 /48), burst twice that.
pub const AGREEMENTS_PER_PREFIX_PER_SECOND: u32 = 10;

/// Source prefixes tracked by the agreement gate; when full the table restarts (each entry
/// ~24 bytes).
pub const MAX_AGREEMENT_PREFIXES: usize = 4096;

/// Agreed keys cached per identity (address, public key → key; ~180 bytes each), so an
/// identity that left the peer table never pays the agreement twice.
pub const MAX_CACHED_KEYS: usize = 4096;

/// Per peer: WHOIS requests per second (clients retry every 500 ms), burst twice that.
pub const WHOIS_PER_SECOND: u32 = 10;

/// Per peer: MULTICAST_GATHER requests per second, burst twice that.
pub const GATHER_PER_SECOND: u32 = 10;

/// Per peer: ECHO requests per second (clients send one per path every 14–60 s), burst 4.
pub const ECHO_PER_SECOND: u32 = 2;

/// Per peer: NETWORK_CONFIG_REQUESTs per second (every network it is in asks), burst twice.
pub const CONFIG_REQUESTS_PER_SECOND: u32 = 20;

/// Bytes of OK replies (HELLO, ECHO, WHOIS, GATHER) sent per second across all peers.
pub const REPLY_BYTES_PER_SECOND: u32 = 4 * 1024 * 1024;

/// Multicast subscriptions one member may hold (a member LIKEs ~4 groups per network).
pub const MAX_SUBSCRIPTIONS_PER_MEMBER: usize = 256;

/// How long a member of this controller's own networks may subscribe and gather there after
/// it was last issued a configuration, ms (clients ask again at least every few minutes).
pub const ADMISSION_TIMEOUT_MS: u64 = 30 * 60 * 1000;

/// Multicast subscriptions one network may hold.
pub const MAX_SUBSCRIPTIONS_PER_NETWORK: usize = 16_384;

// ---- One memory budget for the large tables.

/// The default memory budget, MiB: the RAM of a small router (`--memory-budget`).
pub const DEFAULT_MEMORY_BUDGET_MIB: u32 = 128;

/// ztcd's large tables together may fill this fraction (1/N) of the budget; the rest is the
/// system's, the binary's and SQLite's (its page cache is bounded separately).
pub const BUDGET_FRACTION: usize = 4;

/// Worst-case bytes of one peer-table entry (`(Address, Peer)` in a hash map at its 7/8 load
/// factor, with four paths, its replay window and quotas; checked against `size_of` in the
/// node's tests).
pub const PEER_ENTRY_BYTES: usize = 880;

/// Worst-case bytes of one multicast subscription (each in a group of its own, plus its
/// member's and network's counters).
pub const SUBSCRIPTION_ENTRY_BYTES: usize = 128;

/// Worst-case bytes of one recent-request entry of the controller (key, identity, time,
/// physical address; the metadata is shared; checked against `size_of` in its tests).
pub const RECENT_ENTRY_BYTES: usize = 192;

/// Bytes counted per cached configuration besides its rendered bytes (the entry itself).
pub const CACHE_ENTRY_OVERHEAD: usize = 256;

/// Bytes of the tables bounded by constants alone (validated, invalid and key caches,
/// rendezvous pairs, reassembly slots, validation queue, transmit and event queues, the
/// admin server at its connection cap): all full.
pub const FIXED_TABLES_BYTES: usize = MAX_VALIDATED_IDENTITIES * 96
    + MAX_INVALID_IDENTITIES * 96
    + MAX_CACHED_KEYS * 160
    + MAX_RENDEZVOUS_PAIRS * 48
    + REASSEMBLY_SLOTS * MAX_PACKET_LEN
    + MAX_PENDING_VALIDATIONS * (MAX_PACKET_LEN + 256)
    + MAX_QUEUED_TRANSMITS * (PHYSICAL_MTU + 64)
    + ADMIN_MAX_CONNECTIONS * (ADMIN_MAX_HEAD + ADMIN_READ_CHUNK)
    + ADMIN_BODY_BUDGET;

/// The bounds of the large tables, derived from one memory budget so that all of ztcd's
/// tables full take at most `budget / BUDGET_FRACTION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableLimits {
    /// Peers the node keeps (the least recently heard eighth is evicted when full).
    pub peers: usize,
    /// Multicast subscriptions stored.
    pub subscriptions: usize,
    /// Recent configuration requests the controller remembers (repeat filter, pushes).
    pub recent_requests: usize,
    /// Configurations cached.
    pub cache_entries: usize,
    /// Bytes of cached configurations.
    pub cache_bytes: usize,
}

impl TableLimits {
    /// The bounds for a budget of `mib` MiB: after the fixed tables, 35% of ztcd's share goes
    /// to peers, 35% to the configuration cache, 20% to recent requests, 10% to multicast.
    pub fn for_budget(mib: u32) -> Self {
        // In u64, then capped: a 32-bit board's usize cannot hold every budget's bytes.
        let bytes = u64::from(mib) * 1024 * 1024 / BUDGET_FRACTION as u64;
        let share = bytes
            .saturating_sub(FIXED_TABLES_BYTES as u64)
            .min(u64::from(u32::MAX)) as usize;
        let part = |percent: usize| share / 100 * percent;
        // The cache's 35%: rendered bytes plus each entry's overhead (1 per KiB).
        let cache_bytes = part(35) / 5 * 4;
        Self {
            peers: (part(35) / PEER_ENTRY_BYTES).max(64),
            subscriptions: (part(10) / SUBSCRIPTION_ENTRY_BYTES).max(64),
            recent_requests: (part(20) / RECENT_ENTRY_BYTES).max(64),
            // A cached configuration is rarely under 1 KiB; the byte bound is the real one.
            cache_entries: (cache_bytes / 1024).max(64),
            cache_bytes,
        }
    }

    /// Each table's worst-case bytes when full, with its name.
    pub fn worst_case(&self) -> [(&'static str, usize); 5] {
        [
            ("peers", self.peers * PEER_ENTRY_BYTES),
            (
                "multicast subscriptions",
                self.subscriptions * SUBSCRIPTION_ENTRY_BYTES,
            ),
            ("recent requests", self.recent_requests * RECENT_ENTRY_BYTES),
            (
                "configuration cache",
                self.cache_bytes + self.cache_entries * CACHE_ENTRY_OVERHEAD,
            ),
            ("fixed tables", FIXED_TABLES_BYTES),
        ]
    }

    /// All tables full, bytes.
    pub fn worst_case_total(&self) -> usize {
        self.worst_case().iter().map(|(_, b)| b).sum()
    }
}

impl Default for TableLimits {
    fn default() -> Self {
        Self::for_budget(DEFAULT_MEMORY_BUDGET_MIB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_budget_fits_a_128_mb_router() {
        let l = TableLimits::default();
        let total = l.worst_case_total();
        assert!(
            total <= 32 * 1024 * 1024 + 256 * 1024,
            "{total} bytes: {l:?}"
        );
        assert!(l.peers >= 5_000, "{l:?}");
        let big = TableLimits::for_budget(1024);
        assert!(big.peers > 8 * l.peers && big.cache_bytes > 8 * l.cache_bytes);
        let tiny = TableLimits::for_budget(8);
        assert_eq!(tiny.peers, 64, "never below a working minimum");
        let huge = TableLimits::for_budget(1 << 20);
        assert!(huge.peers >= big.peers, "no overflow at the largest budget");
    }
}
