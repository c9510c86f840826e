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
