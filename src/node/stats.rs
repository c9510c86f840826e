//! The node's counters: every drop has a reason.

/// Counters since start. `peers*`, `multicast_*` and `fragments_*` are filled in by
/// [`super::Node::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams handed to the node.
    pub datagrams_received: u64,
    /// Dropped: shorter than a fragment or packet header.
    pub dropped_too_short: u64,
    /// Dropped: not a valid encoding.
    pub dropped_malformed: u64,
    /// Dropped: MAC did not verify.
    pub dropped_bad_mac: u64,
    /// Dropped: a cipher suite ztcd does not speak.
    pub dropped_unsupported_cipher: u64,
    /// Dropped: from an unknown peer and not a HELLO (a root has nobody to ask).
    pub dropped_unknown_source: u64,
    /// Dropped: claims to come from ourselves.
    pub dropped_own_source: u64,
    /// Dropped: HELLO from a new identity refused by the validation gate.
    pub dropped_rate_limited: u64,
    /// Dropped: the identity failed validation.
    pub dropped_invalid_identity: u64,
    /// Dropped: unknown verb code.
    pub dropped_unknown_verb: u64,
    /// Dropped: a HELLO while the same identity is already being validated.
    pub dropped_pending: u64,
    /// HELLOs with an identity different from the one we know at that address.
    pub identity_collisions: u64,
    /// Identity validations completed.
    pub validations: u64,
    /// Parked HELLOs given up because validation took too long.
    pub validations_abandoned: u64,
    /// HELLOs answered.
    pub hellos_answered: u64,
    /// ECHOs answered.
    pub echos_answered: u64,
    /// WHOIS requests answered with at least one identity.
    pub whois_answered: u64,
    /// Addresses asked for by WHOIS that we did not know.
    pub whois_unknown: u64,
    /// MULTICAST_LIKE subscriptions received.
    pub multicast_likes: u64,
    /// MULTICAST_GATHER requests answered.
    pub multicast_gathers: u64,
    /// NETWORK_CONFIG_REQUESTs passed to the controller.
    pub config_requests: u64,
    /// Authenticated packets of verbs a root ignores (OK, FRAME, …).
    pub ignored_verbs: u64,
    /// Packets relayed.
    pub relayed_packets: u64,
    /// Fragments relayed.
    pub relayed_fragments: u64,
    /// Relay dropped: hop limit reached.
    pub relay_dropped_hops: u64,
    /// Relay dropped: destination has no live path.
    pub relay_dropped_no_path: u64,
    /// RENDEZVOUS messages sent.
    pub rendezvous_sent: u64,
    /// Sends that failed: unknown peer.
    pub send_no_peer: u64,
    /// Sends that failed: peer has no live path.
    pub send_no_path: u64,
    /// Sends that failed: packet too large to fragment.
    pub send_too_large: u64,
    /// Transmits dropped because the queue was full.
    pub transmits_dropped: u64,
    /// Events dropped because the queue was full.
    pub events_dropped: u64,
    /// Peers known.
    pub peers: u64,
    /// Peers evicted to make room.
    pub peers_evicted: u64,
    /// Multicast subscriptions stored.
    pub multicast_subscriptions: u64,
    /// Multicast subscriptions refused (table full).
    pub multicast_refused: u64,
    /// Partly received packets evicted (reassembly table full).
    pub fragments_evicted: u64,
    /// Partly received packets that timed out.
    pub fragments_expired: u64,
}
