//! The memoized response cache: for each (network, member) the rendered inputs of its
//! configuration and a signed COM. A hit restamps the dictionary with the current time (so no
//! two replies are byte-identical, zt-protocol §9) and reuses the COM while it is younger than
//! [`COM_REUSE_MS`] — no SQLite query and no signature. Any write through the controller, or a
//! change of the database by another writer, empties it. Bounded by [`MAX_CACHE_ENTRIES`] and
//! [`MAX_CACHE_BYTES`]; the least recently used
//! eighth is evicted in one pass when full.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use super::credentials::MemberCredentials;
use super::model::Network;
use super::netconf::{ConfigInput, DnsConfig, RouteEntry};
use crate::identity::Identity;
use crate::wire::rules::Rule;
use crate::wire::{Address, NetworkId};

/// Most cached (network, member) configurations.
pub const MAX_CACHE_ENTRIES: usize = 262_144;
/// Most bytes the cached entries may take (estimated).
pub const MAX_CACHE_BYTES: usize = 64 * 1024 * 1024;
/// A full cache evicts this fraction (1/N) of its entries, oldest first.
pub const EVICT_FRACTION: usize = 8;
/// Most addresses the index of assigned IPs holds over all networks; past it the index is
/// emptied and rebuilt network by network as addresses are assigned.
pub const MAX_INDEXED_IPS: usize = 262_144;
/// Most networks whose shared configuration part and row are kept (entries keep their parts).
pub const MAX_SHARED_PARTS: usize = 16_384;
/// Estimated bytes of one entry beyond its size: hash table slack and allocations.
const ENTRY_OVERHEAD: usize = 96;
/// A cached COM is reused while younger than this (ms): well inside the 30 min credential
/// window, so members' COMs always agree with each other.
pub const COM_REUSE_MS: u64 = 5 * 60 * 1000;

/// The parts of a configuration that every member of a network shares (for one kind of
/// client): kept once per network and referenced by each member's entry.
#[derive(Debug, Clone, PartialEq)]
pub struct NetPart {
    pub(super) network_id: NetworkId,
    pub(super) revision: u64,
    pub(super) name: String,
    pub(super) private: bool,
    pub(super) flags: u64,
    pub(super) multicast_limit: u64,
    pub(super) mtu: u64,
    pub(super) credential_window: u64,
    pub(super) routes: Vec<RouteEntry>,
    pub(super) rules: Vec<Rule>,
    pub(super) dns: Option<DnsConfig>,
    pub(super) specialists: Vec<u64>,
    /// Capabilities the network defines: (ID, rules) (none for clients without a rules
    /// engine).
    pub(super) capabilities: Vec<(u32, Vec<Rule>)>,
    /// The network's tag defaults: (ID, value).
    pub(super) tag_defaults: Vec<(u32, u32)>,
    /// Made for a client with a rules engine.
    pub(super) rules_engine: bool,
    /// Made for members whose addresses are assigned automatically.
    pub(super) auto_assign: bool,
    /// The dictionary entries these make ([`super::netconf::common_dictionary`]), rendered
    /// once; a member's configuration adds its own few entries to them.
    pub(super) common: Vec<u8>,
}

impl NetPart {
    /// The builder's view with the member's `static_ips`.
    pub fn as_input<'a>(&'a self, static_ips: &'a [(IpAddr, u8)]) -> ConfigInput<'a> {
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
            static_ips,
            rules: &self.rules,
            dns: self.dns.as_ref(),
            specialists: &self.specialists,
        }
    }

    /// Renders [`NetPart::common`].
    pub fn render(mut self) -> crate::wire::Result<Self> {
        self.common = super::netconf::common_dictionary(&self.as_input(&[]))?;
        Ok(self)
    }
}

/// A member's addresses, kept inline when it has one (most members): no allocation per
/// cached entry then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaticIps {
    /// One address.
    One((IpAddr, u8)),
    /// None, or more than one.
    Many(Box<[(IpAddr, u8)]>),
}

impl StaticIps {
    /// The addresses `ips`.
    pub fn new(ips: Vec<(IpAddr, u8)>) -> Self {
        match ips[..] {
            [one] => Self::One(one),
            _ => Self::Many(ips.into_boxed_slice()),
        }
    }

    /// As a slice.
    pub fn as_slice(&self) -> &[(IpAddr, u8)] {
        match self {
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(many) => many,
        }
    }
}

/// The owned inputs of a member's [`ConfigInput`]: the network's shared part and the
/// member's addresses.
#[derive(Debug, Clone)]
pub struct OwnedInput {
    pub(super) net: Arc<NetPart>,
    pub(super) static_ips: StaticIps,
    /// The member's capabilities and tags, signed with the cached COM's timestamp; `None`
    /// when it has none (most members: 8 bytes instead of four empty lists).
    pub(super) credentials: Option<Box<MemberCredentials>>,
}

impl OwnedInput {
    /// Borrowed view for the dictionary builder.
    pub fn as_input(&self) -> ConfigInput<'_> {
        self.net.as_input(self.static_ips.as_slice())
    }

    /// The member's credentials (none issued if it has none).
    pub fn credentials(&self) -> &MemberCredentials {
        self.credentials.as_deref().unwrap_or(&NO_CREDENTIALS)
    }
}

/// What [`OwnedInput::credentials`] lends when a member has none.
static NO_CREDENTIALS: MemberCredentials = MemberCredentials::NONE;

/// Enough of a member's public key to tell its cached configuration from another
/// identity's at the same address (which would also need the address's proof of work).
pub type KeyPrefix = [u8; 16];

/// The [`KeyPrefix`] of `identity`.
pub fn key_prefix(identity: &Identity) -> KeyPrefix {
    let mut p = [0; 16];
    p.copy_from_slice(&identity.public_key()[..16]);
    p
}

/// A cached COM: when it was issued and its signature (the rest follows from the member, the
/// network and the credential window).
#[derive(Debug, Clone)]
pub struct CachedCom {
    /// Issue time (ms), also its timestamp qualifier.
    pub timestamp: u64,
    /// The controller's signature.
    pub signature: [u8; 96],
}

/// One cached member configuration.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Whose the configuration is: the first bytes of its public key.
    pub key: KeyPrefix,
    /// Whether it was made for a client with a rules engine.
    pub rules_engine: bool,
    /// The inputs.
    pub input: OwnedInput,
    /// The COM's issue time and signature.
    pub com: CachedCom,
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
#[derive(Debug)]
pub struct ConfigCache {
    entries: HashMap<(NetworkId, Address), Entry>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
    /// Per network, the addresses assigned to its members (loaded once from the database,
    /// then kept up to date by the controller's own assignments): a new member's address is
    /// picked without reading every member. Emptied with the entries it belongs with.
    ips: HashMap<NetworkId, HashSet<IpAddr>>,
    ips_len: usize,
    /// Per network, the shared parts current entries were made with (a few variants: with
    /// and without a rules engine, with and without NDP emulation).
    parts: HashMap<NetworkId, Vec<Arc<NetPart>>>,
    /// Network rows read for configurations (bounded by [`MAX_SHARED_PARTS`] too).
    networks: HashMap<NetworkId, Arc<Network>>,
    pub(super) stats: CacheStats,
}

impl Default for ConfigCache {
    fn default() -> Self {
        Self::with_limits(MAX_CACHE_ENTRIES, MAX_CACHE_BYTES)
    }
}

impl ConfigCache {
    /// A cache bounded by `max_entries` and `max_bytes` (the defaults are
    /// [`MAX_CACHE_ENTRIES`] and [`MAX_CACHE_BYTES`]).
    pub fn with_limits(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            entries: HashMap::new(),
            bytes: 0,
            max_entries,
            max_bytes,
            ips: HashMap::new(),
            ips_len: 0,
            parts: HashMap::new(),
            networks: HashMap::new(),
            stats: CacheStats::default(),
        }
    }

    /// The entry for a member, if cached for this identity and rules-engine support.
    pub fn get(
        &mut self,
        key: (NetworkId, Address),
        identity: &Identity,
        rules_engine: bool,
        now: u64,
    ) -> Option<&mut Entry> {
        match self.entries.get_mut(&key) {
            Some(e) if e.key == key_prefix(identity) && e.rules_engine == rules_engine => {
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
        com: CachedCom,
        now: u64,
    ) {
        let size = entry_size(&input);
        if let Some(old) = self.entries.remove(&key) {
            self.bytes -= entry_size(&old.input);
        }
        if !self.entries.is_empty()
            && (self.entries.len() >= self.max_entries || self.bytes + size > self.max_bytes)
        {
            self.evict_oldest();
        }
        self.bytes += size;
        self.entries.insert(
            key,
            Entry {
                key: key_prefix(&identity),
                rules_engine,
                input,
                com,
                last_used: now,
            },
        );
    }

    /// Evicts the least recently used [`EVICT_FRACTION`]th of the entries in one pass, so an
    /// insert into a full cache costs amortized O(1) instead of a scan each time.
    fn evict_oldest(&mut self) {
        let mut ages: Vec<u64> = self.entries.values().map(|e| e.last_used).collect();
        let n = (ages.len() / EVICT_FRACTION).max(1);
        let (_, cut, _) = ages.select_nth_unstable(n - 1);
        let cut = *cut;
        let mut evicted = 0;
        let mut freed = 0;
        self.entries.retain(|_, e| {
            if e.last_used <= cut && evicted < n {
                evicted += 1;
                freed += entry_size(&e.input);
                false
            } else {
                true
            }
        });
        self.bytes -= freed;
        self.stats.evictions += evicted as u64;
    }

    /// Drops one member's entry (after a change to that member).
    pub fn invalidate(&mut self, key: (NetworkId, Address)) {
        self.drop_ips(key.0);
        if let Some(e) = self.entries.remove(&key) {
            self.bytes -= entry_size(&e.input);
            self.stats.invalidations += 1;
        }
    }

    /// Drops every entry of a network (after a change to the network or to something all
    /// of its members' configurations list, such as an active bridge).
    pub fn invalidate_network(&mut self, network: NetworkId) {
        self.drop_ips(network);
        self.parts.remove(&network);
        self.networks.remove(&network);
        let before = self.entries.len();
        let mut freed = 0;
        self.entries.retain(|k, e| {
            let keep = k.0 != network;
            if !keep {
                freed += entry_size(&e.input);
            }
            keep
        });
        self.bytes -= freed;
        if self.entries.len() != before {
            self.stats.invalidations += 1;
        }
    }

    /// After a change to `network` that leaves every member's own inputs as they were (its
    /// name, rules, DNS, MTU...): its entries keep their addresses, credentials and COM, and
    /// get the shared part `remake` makes from the one they had; an entry whose part it cannot
    /// remake (or that is no longer kept) is dropped. So the configurations pushed after such a
    /// change come from the cache: no database read and no signature per member.
    pub fn restyle_network(
        &mut self,
        network: Network,
        remake: impl Fn(&NetPart) -> Option<NetPart>,
    ) {
        let id = network.id;
        self.networks.remove(&id);
        if self.networks.len() < MAX_SHARED_PARTS {
            self.networks.insert(id, Arc::new(network));
        }
        let old = self.parts.remove(&id).unwrap_or_default();
        let remade: Vec<(Arc<NetPart>, Arc<NetPart>)> = old
            .into_iter()
            .filter_map(|p| Some((p.clone(), Arc::new(remake(&p)?))))
            .collect();
        self.parts
            .insert(id, remade.iter().map(|(_, new)| new.clone()).collect());
        let mut freed = 0;
        self.entries.retain(|k, e| {
            if k.0 != id {
                return true;
            }
            match remade
                .iter()
                .find(|(old, _)| Arc::ptr_eq(old, &e.input.net))
            {
                Some((_, new)) => {
                    e.input.net = new.clone();
                    true
                }
                None => {
                    freed += entry_size(&e.input);
                    false
                }
            }
        });
        self.bytes -= freed;
    }

    /// Empties the cache (after any write).
    pub fn clear(&mut self) {
        if !self.entries.is_empty() {
            self.stats.invalidations += 1;
        }
        self.entries.clear();
        self.bytes = 0;
        self.ips.clear();
        self.ips_len = 0;
        self.parts.clear();
        self.networks.clear();
    }

    /// The network's row, from `load` (the database) the first time; `None` if it has none.
    pub fn network<E>(
        &mut self,
        id: NetworkId,
        load: impl FnOnce() -> Result<Option<Network>, E>,
    ) -> Result<Option<Arc<Network>>, E> {
        if let Some(n) = self.networks.get(&id) {
            return Ok(Some(n.clone()));
        }
        let Some(n) = load()? else {
            return Ok(None);
        };
        if self.networks.len() >= MAX_SHARED_PARTS {
            self.networks.clear();
        }
        let n = Arc::new(n);
        self.networks.insert(id, n.clone());
        Ok(Some(n))
    }

    /// The shared part equal to `part` if one is kept, else `part` (kept from now on).
    pub fn share(&mut self, part: NetPart) -> Arc<NetPart> {
        if self.parts.len() >= MAX_SHARED_PARTS && !self.parts.contains_key(&part.network_id) {
            self.parts.clear();
        }
        let list = self.parts.entry(part.network_id).or_default();
        if let Some(p) = list.iter().find(|p| ***p == part) {
            return p.clone();
        }
        // A newer revision replaces the variants made with older ones.
        list.retain(|p| p.revision == part.revision);
        let p = Arc::new(part);
        list.push(p.clone());
        p
    }

    /// Forgets the network's address index (it is read from the database again when needed).
    pub fn forget_ips(&mut self, network: NetworkId) {
        self.drop_ips(network);
    }

    fn drop_ips(&mut self, network: NetworkId) {
        if let Some(set) = self.ips.remove(&network) {
            self.ips_len -= set.len();
        }
    }

    /// The addresses assigned in `network`, from `load` (the database) the first time.
    pub fn assigned_ips<E>(
        &mut self,
        network: NetworkId,
        load: impl FnOnce() -> Result<Vec<IpAddr>, E>,
    ) -> Result<&HashSet<IpAddr>, E> {
        if !self.ips.contains_key(&network) {
            let set: HashSet<IpAddr> = load()?.into_iter().collect();
            if self.ips_len + set.len() > MAX_INDEXED_IPS {
                self.ips.clear();
                self.ips_len = 0;
            }
            self.ips_len += set.len();
            self.ips.insert(network, set);
        }
        Ok(&self.ips[&network])
    }

    /// Records that `ip` was just assigned in `network` (if its addresses are indexed).
    pub fn note_assigned(&mut self, network: NetworkId, ip: IpAddr) {
        if let Some(set) = self.ips.get_mut(&network)
            && set.insert(ip)
        {
            self.ips_len += 1;
        }
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

/// What one entry is estimated to take (its shared network part is counted by the network).
fn entry_size(input: &OwnedInput) -> usize {
    std::mem::size_of::<Entry>()
        + match &input.static_ips {
            StaticIps::One(_) => 0,
            StaticIps::Many(ips) => ips.len() * std::mem::size_of::<(IpAddr, u8)>(),
        }
        + input.credentials.as_ref().map_or(0, |c| 96 + c.bytes())
        + ENTRY_OVERHEAD
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cache's share of a membership's memory: the entry, its key and its slot. Most
    /// members' entries allocate nothing more (one address inline, no credentials).
    #[test]
    fn an_entry_stays_small() {
        let (entry, ips) = (
            std::mem::size_of::<Entry>(),
            std::mem::size_of::<StaticIps>(),
        );
        eprintln!("entry {entry} bytes, addresses {ips} bytes");
        assert!(entry <= 176, "{entry}");
        assert!(ips <= 24, "{ips}");
        let one = ("10.0.0.1".parse().unwrap(), 24);
        assert_eq!(StaticIps::new(vec![one]).as_slice(), &[one]);
        assert!(StaticIps::new(Vec::new()).as_slice().is_empty());
        assert_eq!(StaticIps::new(vec![one, one]).as_slice().len(), 2);
    }
}
