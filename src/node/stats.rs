//! The node's counters: every drop has a reason.

macro_rules! counters {
    ($($(#[doc = $doc:expr])* $name:ident,)*) => {
        /// Counters since start. `peers*`, `multicast_*` and `fragments_*` are filled in by
        /// [`super::Node::stats`].
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct Stats {
            $($(#[doc = $doc])* pub $name: u64,)*
        }

        impl Stats {
            /// Every counter with its name, in declaration order.
            pub fn fields(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name),)*]
            }
        }
    };
}

counters! {
    /// Datagrams handed to the node.
    datagrams_received,
    /// Dropped: shorter than a fragment or packet header.
    dropped_too_short,
    /// Dropped: not a valid encoding.
    dropped_malformed,
    /// Dropped: MAC did not verify.
    dropped_bad_mac,
    /// Dropped: a cipher suite ztcd does not speak.
    dropped_unsupported_cipher,
    /// Dropped: from an unknown peer and not a HELLO (a root has nobody to ask).
    dropped_unknown_source,
    /// Dropped: claims to come from ourselves.
    dropped_own_source,
    /// Dropped: HELLO from a new identity refused by the validation gate.
    dropped_rate_limited,
    /// Dropped: the identity failed validation.
    dropped_invalid_identity,
    /// Dropped: unknown verb code.
    dropped_unknown_verb,
    /// Dropped: a packet ID already seen from that peer, or older than its window.
    dropped_replayed,
    /// Dropped: a HELLO from an identity without a cached key, refused by the agreement gate
    /// before any key agreement.
    dropped_agreement_gate,
    /// Dropped: over the peer's quota for its verb (WHOIS, GATHER, ECHO, config requests).
    dropped_peer_quota,
    /// Dropped: a LIKE or GATHER for one of our networks from a peer that holds no current
    /// configuration for it.
    dropped_not_member,
    /// Dropped: extended armor (protocol 13's encrypted HELLO) too short to hold its key.
    dropped_extended_armor,
    /// Dropped: the global reply budget per second was spent.
    dropped_reply_budget,
    /// Replies not sent to an unconfirmed path: larger than what came from it, or not a
    /// HELLO/ECHO answer.
    dropped_unconfirmed_path,
    /// HELLOs with an identity different from the one we know at that address.
    identity_collisions,
    /// Identity validations completed.
    validations,
    /// HELLOs parked for validation now (waiting or running).
    validations_queued,
    /// Parked HELLOs given up because validation took too long.
    validations_abandoned,
    /// Key agreements computed for HELLOs of identities without a cached key.
    agreements,
    /// Packets with extended armor opened (one ephemeral key agreement each).
    extended_armor_opened,
    /// Probes (ECHO) sent to confirm new paths.
    probes_sent,
    /// Paths confirmed by an answered probe.
    paths_confirmed,
    /// HELLOs answered.
    hellos_answered,
    /// ECHOs answered.
    echos_answered,
    /// WHOIS requests answered with at least one identity.
    whois_answered,
    /// Addresses asked for by WHOIS that we did not know.
    whois_unknown,
    /// MULTICAST_LIKE subscriptions received.
    multicast_likes,
    /// MULTICAST_GATHER requests answered.
    multicast_gathers,
    /// NETWORK_CONFIG_REQUESTs passed to the controller.
    config_requests,
    /// Authenticated packets of verbs a root ignores (OK, FRAME, …).
    ignored_verbs,
    /// Packets relayed.
    relayed_packets,
    /// Fragments relayed.
    relayed_fragments,
    /// Relay dropped: hop limit reached.
    relay_dropped_hops,
    /// Relay dropped: destination has no live path.
    relay_dropped_no_path,
    /// RENDEZVOUS messages sent.
    rendezvous_sent,
    /// Sends that failed: unknown peer.
    send_no_peer,
    /// Sends that failed: peer has no live path.
    send_no_path,
    /// Sends that failed: packet too large to fragment.
    send_too_large,
    /// Transmits dropped because the queue was full.
    transmits_dropped,
    /// Events dropped because the queue was full.
    events_dropped,
    /// Peers known.
    peers,
    /// Peers evicted to make room.
    peers_evicted,
    /// Multicast subscriptions stored.
    multicast_subscriptions,
    /// Multicast subscriptions refused (table full).
    multicast_refused,
    /// Partly received packets evicted (reassembly table full).
    fragments_evicted,
    /// Partly received packets that timed out.
    fragments_expired,
    /// HELLOs sent to the other roots of our planet (or to fetch a newer planet).
    root_hellos_sent,
    /// Newer versions of our planet adopted from another root.
    planets_adopted,
}

impl Stats {
    /// The values that are levels rather than running totals (exported as gauges).
    pub const GAUGES: &'static [&'static str] =
        &["peers", "validations_queued", "multicast_subscriptions"];
}

impl core::fmt::Display for Stats {
    /// `name=value` pairs separated by spaces, for logs.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, (name, value)) in self.fields().into_iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{name}={value}")?;
        }
        Ok(())
    }
}
