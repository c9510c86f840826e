//! The memoized response cache: for each (network, member) the rendered inputs of its
//! configuration and a signed COM. A hit restamps the dictionary with the current time (so no
//! two replies are byte-identical, zt-protocol §9) and reuses the COM while it is younger than
//! [`COM_REUSE_MS`] — no SQLite query and no signature. Any write through the controller, or a
//! change of the database by another writer, empties it. Bounded by [`MAX_CACHE_ENTRIES`] and
//! [`MAX_CACHE_BYTES`]; the least recently used entry is evicted.

use std::collections::HashMap;
use std::net::IpAddr;

use super::netconf::{ConfigInput, DnsConfig, RouteEntry};
use crate::identity::Identity;
use crate::wire::com::Com;
use crate::wire::rules::Rule;
use crate::wire::{Address, NetworkId};

/// Most cached members.
pub const MAX_CACHE_ENTRIES: usize = 100_000;
/// Most bytes the cached entries may take (estimated).
pub const MAX_CACHE_BYTES: usize = 64 * 1024 * 1024;
/// A cached COM is reused while younger than this (ms): well inside the 30 min credential
/// window, so members' COMs always agree with each other.
pub const COM_REUSE_MS: u64 = 5 * 60 * 1000;

/// The owned parts of a [`ConfigInput`].
#[derive(Debug, Clone)]
pub struct OwnedInput {
    pub(super) network_id: NetworkId,
    pub(super) revision: u64,
    pub(super) name: String,
    pub(super) private: bool,
    pub(super) flags: u64,
    pub(super) multicast_limit: u64,
    pub(super) mtu: u64,
    pub(super) credential_window: u64,
    pub(super) routes: Vec<RouteEntry>,
    pub(super) static_ips: Vec<(IpAddr, u8)>,
    pub(super) rules: Vec<Rule>,
    pub(super) dns: Option<DnsConfig>,
    pub(super) specialists: Vec<u64>,
}

impl OwnedInput {
    /// Borrowed view for the dictionary builder.
    pub fn as_input(&self) -> ConfigInput<'_> {
        ConfigInput {
            network_id: self.network_id,
            revision: self.revision,
            name: &self.name,
            private: self.private,
            flags: self.flags,
            multicast_limit: self.multicast_limit,
            mtu: self.mtu,
            credential_window: self.credential_window,
            routes: &self.routes,
            static_ips: &self.static_ips,
            rules: &self.rules,
            dns: self.dns.as_ref(),
            specialists: &self.specialists,
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.name.len()
            + self.routes.len() * std::mem::size_of::<RouteEntry>()
            + self.static_ips.len() * 24
            + self.rules.len() * 32
            + self.specialists.len() * 8
            + self
                .dns
                .as_ref()
                .map_or(0, |d| d.domain.len() + d.servers.len() * 24)
    }
}

/// One cached member configuration.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The identity the configuration was made for.
    pub identity: Identity,
    /// Whether it was made for a client with a rules engine.
    pub rules_engine: bool,
    /// The inputs.
    pub input: OwnedInput,
    /// The COM and when it was issued.
    pub com: (Com, u64),
    last_used: u64,
}

/// Cache counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Requests answered from the cache.
    pub hits: u64,
    /// Requests that needed the database.
    pub misses: u64,
    /// Entries evicted for room.
    pub evictions: u64,
    /// Times the cache was emptied by a write.
    pub invalidations: u64,
    /// COMs re-signed on a hit because the cached one aged out.
    pub com_refreshes: u64,
}

/// The cache.
#[derive(Debug, Default)]
pub struct ConfigCache {
    entries: HashMap<(NetworkId, Address), Entry>,
    bytes: usize,
    pub(super) stats: CacheStats,
}

impl ConfigCache {
    /// The entry for a member, if cached for this identity and rules-engine support.
    pub fn get(
        &mut self,
        key: (NetworkId, Address),
        identity: &Identity,
        rules_engine: bool,
        now: u64,
    ) -> Option<&mut Entry> {
        match self.entries.get_mut(&key) {
            Some(e) if e.identity == *identity && e.rules_engine == rules_engine => {
                e.last_used = now;
                self.stats.hits += 1;
                Some(e)
            }
            _ => {
                self.stats.misses += 1;
                None
            }
        }
    }

    /// Stores an entry, evicting the least recently used ones over the bounds.
    pub fn insert(
        &mut self,
        key: (NetworkId, Address),
        identity: Identity,
        rules_engine: bool,
        input: OwnedInput,
        com: (Com, u64),
        now: u64,
    ) {
        let size = input.size() + 300;
        if let Some(old) = self.entries.remove(&key) {
            self.bytes -= old.input.size() + 300;
        }
        while !self.entries.is_empty()
            && (self.entries.len() >= MAX_CACHE_ENTRIES || self.bytes + size > MAX_CACHE_BYTES)
        {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| *k)
            else {
                break;
            };
            if let Some(e) = self.entries.remove(&oldest) {
                self.bytes -= e.input.size() + 300;
                self.stats.evictions += 1;
            }
        }
        self.bytes += size;
        self.entries.insert(
            key,
            Entry {
                identity,
                rules_engine,
                input,
                com,
                last_used: now,
            },
        );
    }

    /// Empties the cache (after any write).
    pub fn clear(&mut self) {
        if !self.entries.is_empty() {
            self.stats.invalidations += 1;
        }
        self.entries.clear();
        self.bytes = 0;
    }

    /// Entries cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
