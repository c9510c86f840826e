//! Deciding what one configuration request gets: the cached answer while it is valid, else
//! admission (network, pinned identity, block, authorization, addresses) and a freshly
//! rendered configuration with a new COM, which the cache then keeps.
//!
//! A decision is made either for the member's own request or for a push after an admin change
//! ([`Origin`]). Only the first counts as the member having been seen (its `lastSeen` must
//! not move when an admin renames the network), and a push never creates a member: one that
//! was deleted since it asked is told it has no access.

use std::net::IpAddr;

use super::cache::{COM_REUSE_MS, CachedCom, NetPart, OwnedInput, StaticIps};
use super::credentials::{self, MemberCredentials};
use super::model::{Member, Network};
use super::netconf::{
    DEFAULT_CREDENTIAL_WINDOW_MS, DnsConfig, FLAG_ENABLE_BROADCAST, FLAG_IPV6_NDP_EMULATION,
    MAX_SPECIALISTS, SPECIALIST_ACTIVE_BRIDGE, SPECIALIST_NETWORK_RELAY, issue_com,
    member_dictionary, unsigned_com,
};
use super::store::StoreError;
use super::{ConfigRequest, Controller, Reply, rules_json};
use crate::limits::MAX_METADATA_DICT_LEN;
use crate::wire::com::Com;
use crate::wire::dictionary::Dictionary;
use crate::wire::rules::Rule;
use crate::wire::verbs::ErrorCode;
use crate::wire::{Address, NetworkId};

/// Why a decision is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// The member asked (a NETWORK_CONFIG_REQUEST): it was seen.
    Request,
    /// An admin change is pushed to a member that asked recently.
    Push,
}

/// The outcome of admission: refused with a reply, or admitted with what the configuration
/// needs of the stored member.
enum Admission {
    Refused(Reply),
    Admitted(Grant),
}

/// What an admitted member's configuration carries of its record.
struct Grant {
    /// The member asked for no automatic addresses (no NDP emulation flag then).
    no_auto_assign_ips: bool,
    /// The addresses its configuration carries.
    static_ips: Vec<(IpAddr, u8)>,
    /// Its capability IDs.
    capabilities: Vec<u32>,
    /// Its tags (id, value).
    tags: Vec<(u32, u32)>,
}

impl Controller {
    /// Decides the answer to `req`.
    pub(super) fn decide(
        &mut self,
        unix: u64,
        req: &ConfigRequest<'_>,
        origin: Origin,
    ) -> Result<Reply, StoreError> {
        let key = (req.network_id, req.from.address());
        let meta = Dictionary::new(req.metadata, MAX_METADATA_DICT_LEN + 1).ok();
        let rules_engine = meta.as_ref().and_then(|m| m.u64("revr")).unwrap_or(1) != 0;
        if let Some(reply) = self.answer_from_cache(key, req, unix, rules_engine) {
            if origin == Origin::Request {
                self.note_seen(key, unix);
            }
            return Ok(reply);
        }
        let store = &self.store;
        let network = self
            .cache
            .network(req.network_id, || store.network(req.network_id))?;
        let Some(network) = network else {
            return Ok(Reply::Error(ErrorCode::ObjNotFound));
        };
        match self.admit(unix, req, &network, meta.as_ref(), origin)? {
            Admission::Refused(reply) => Ok(reply),
            Admission::Admitted(grant) => self.render(unix, req, &network, grant, rules_engine),
        }
    }

    /// Answers from the cache: restamped dictionary, COM reused while young.
    fn answer_from_cache(
        &mut self,
        key: (NetworkId, Address),
        req: &ConfigRequest<'_>,
        unix: u64,
        rules_engine: bool,
    ) -> Option<Reply> {
        let stamp = self.com_clock.max(unix);
        let identity = &self.identity;
        let entry = self.cache.get(key, &req.from, rules_engine, unix)?;
        let window = entry.input.net.credential_window;
        let refresh = stamp.saturating_sub(entry.com.timestamp) >= COM_REUSE_MS;
        let com = if refresh {
            let com = issue_com(key.0, &req.from, stamp, window, identity);
            entry.com = cached_com(&com, stamp);
            // Capabilities and tags carry the COM's timestamp: signed again with it.
            let member = req.from.address();
            if let Some(c) = entry.input.credentials.as_mut() {
                c.sign(key.0, member, stamp, identity);
            }
            com
        } else {
            let t = entry.com.timestamp;
            let mut com = unsigned_com(key.0, &req.from, t, window, identity.address());
            com.signature = Some(entry.com.signature);
            com
        };
        let input = &entry.input;
        let (common, ips) = (&input.net.common, input.static_ips.as_slice());
        let dict = member_dictionary(common, &req.from, unix, &com, ips, input.credentials());
        let dict = dict.ok();
        if refresh {
            self.cache.stats.com_refreshes += 1;
            self.com_stamp(stamp);
        }
        dict.map(Reply::Config)
    }

    /// The member record for `req` after the policy: pinned identity, block, authorization
    /// (automatic on public networks), client version (join requests' too) and addresses. A
    /// first request creates the record (a join request on a private network); changes are
    /// stored.
    fn admit(
        &mut self,
        unix: u64,
        req: &ConfigRequest<'_>,
        network: &Network,
        meta: Option<&Dictionary<'_>>,
        origin: Origin,
    ) -> Result<Admission, StoreError> {
        let denied = Admission::Refused(Reply::Error(ErrorCode::NetworkAccessDenied));
        let key = (req.network_id, req.from.address());
        let existing = self.store.member(req.network_id, key.1)?;
        if existing.is_none() && origin == Origin::Push {
            return Ok(denied);
        }
        let mut member = existing
            .clone()
            .unwrap_or_else(|| Member::new(req.network_id, key.1, unix));
        // Blocked, or its time ran out (the runtime's expiry sweep, once a second, makes that
        // durable, revokes its credentials and drops its cached configuration).
        if member.banned || member.expired(unix) {
            return Ok(denied);
        }
        match member.identity {
            Some(pinned) if pinned != req.from => return Ok(denied),
            _ => member.identity = Some(req.from),
        }
        if !network.private && !member.authorized {
            member.authorized = true;
            member.last_authorized_time = unix;
        }
        if origin == Origin::Request {
            self.admit_through_window(unix, network, &mut member, req.physical)?;
        }
        if existing.is_none() {
            // A new member gets the network's default capabilities, as zerotier-one does.
            member.capabilities = credentials::default_capabilities(&network.capabilities);
            member.last_seen = unix;
            member.physical_address = req.physical.map(|p| p.to_string());
        } else if origin == Origin::Request {
            self.note_seen(key, unix);
        }
        // Recorded for join requests too: the administrator sees what is asking.
        if let Some(m) = meta.filter(|m| m.u64("majv").is_some()) {
            let v = |k: &str| m.u64(k).unwrap_or(0);
            member.version = Some((
                v("majv") as u8,
                v("minv") as u8,
                v("revv") as u16,
                v("pv") as u8,
            ));
        }
        if !member.authorized {
            if existing.as_ref() != Some(&member) {
                self.put_member(&member)?;
            }
            return Ok(denied);
        }
        let routes = network.route_entries();
        let static_ips = self.addresses(network, &mut member, &routes)?;
        if existing.as_ref() != Some(&member) {
            if existing.is_some() {
                member.revision += 1;
            }
            self.put_member(&member)?;
        }
        Ok(Admission::Admitted(Grant {
            no_auto_assign_ips: member.no_auto_assign_ips,
            static_ips,
            capabilities: member.capabilities,
            tags: member.tags,
        }))
    }

    /// Renders an admitted member's configuration with a fresh COM and fills the cache.
    fn render(
        &mut self,
        unix: u64,
        req: &ConfigRequest<'_>,
        network: &Network,
        grant: Grant,
        rules_engine: bool,
    ) -> Result<Reply, StoreError> {
        let specialists = specialists(&self.store.active_bridges(req.network_id)?, &network.relays);
        let auto_assign = !grant.no_auto_assign_ips;
        let part = net_part(network, specialists, auto_assign, rules_engine).render();
        let Ok(part) = part else {
            return Ok(Reply::Error(ErrorCode::ObjNotFound));
        };
        let net = self.cache.share(part);
        let window = DEFAULT_CREDENTIAL_WINDOW_MS;
        let stamp = self.com_stamp(unix);
        // Clients without a rules engine get neither capabilities nor tags.
        let mut creds = if rules_engine {
            MemberCredentials::new(
                &grant.capabilities,
                &grant.tags,
                &net.capabilities,
                &net.tag_defaults,
            )
        } else {
            MemberCredentials::default()
        };
        creds.sign(network.id, req.from.address(), stamp, &self.identity);
        let input = OwnedInput {
            net,
            static_ips: StaticIps::new(grant.static_ips),
            credentials: (!creds.is_empty()).then(|| Box::new(creds)),
        };
        let com = issue_com(network.id, &req.from, stamp, window, &self.identity);
        let (common, ips) = (&input.net.common, input.static_ips.as_slice());
        let dict = member_dictionary(common, &req.from, unix, &com, ips, input.credentials());
        let Ok(dict) = dict else {
            return Ok(Reply::Error(ErrorCode::ObjNotFound));
        };
        let key = (req.network_id, req.from.address());
        let cached = cached_com(&com, stamp);
        self.cache
            .insert(key, req.from, rules_engine, input, cached, unix);
        Ok(Reply::Config(dict))
    }
}

/// The part of a network's configuration every member gets: flags, rules (only `accept`
/// for a client without a rules engine, or when the network's rules do not convert),
/// routes, DNS, specialists, and capabilities and tag defaults for a rules engine.
fn net_part(
    network: &Network,
    specialists: Vec<u64>,
    auto_assign: bool,
    rules_engine: bool,
) -> NetPart {
    let rules = if !rules_engine {
        vec![Rule::ACCEPT]
    } else {
        rules_json::from_json(&network.rules).unwrap_or_else(|_| vec![Rule::ACCEPT])
    };
    let mut flags = 0;
    if network.enable_broadcast {
        flags |= FLAG_ENABLE_BROADCAST;
    }
    if (network.v6_assign_rfc4193 || network.v6_assign_6plane) && auto_assign {
        flags |= FLAG_IPV6_NDP_EMULATION;
    }
    // An empty DNS object (how the UIs clear it) sends no DNS entry.
    let dns = network.dns.as_ref().filter(|d| !d.is_empty());
    let dns = dns.map(|d| DnsConfig {
        domain: d.domain.clone(),
        servers: d.servers.clone(),
    });
    NetPart {
        network_id: network.id,
        revision: network.revision,
        name: network.name.chars().take(127).collect(),
        private: network.private,
        flags,
        multicast_limit: u64::from(network.multicast_limit),
        mtu: u64::from(network.mtu.clamp(1280, 10_000)),
        credential_window: DEFAULT_CREDENTIAL_WINDOW_MS,
        routes: network.route_entries(),
        rules,
        dns,
        specialists,
        capabilities: if rules_engine {
            credentials::capability_rules(&network.capabilities)
        } else {
            Vec::new()
        },
        tag_defaults: if rules_engine {
            credentials::tag_defaults(&network.tags)
        } else {
            Vec::new()
        },
        rules_engine,
        auto_assign,
        common: Vec::new(),
    }
}

/// Whether `new` differs from `old` only in what every member's configuration shares (name,
/// rules, DNS, MTU, broadcast, multicast limit): each member's addresses, credentials and
/// COM stay valid, and only the shared part of their configurations is made again.
pub(super) fn shared_change_only(old: &Network, new: &Network) -> bool {
    let mut same = old.clone();
    same.name.clone_from(&new.name);
    same.rules.clone_from(&new.rules);
    same.rules_source.clone_from(&new.rules_source);
    same.dns.clone_from(&new.dns);
    same.mtu = new.mtu;
    same.enable_broadcast = new.enable_broadcast;
    same.multicast_limit = new.multicast_limit;
    same.revision = new.revision;
    same == *new
}

impl Controller {
    /// After a change of `network` that [`shared_change_only`] accepts: the cached
    /// configurations of its members get the network's new shared part.
    pub(super) fn restyle_network(&mut self, network: &Network) {
        self.cache.restyle_network(network.clone(), |old| {
            let specialists = old.specialists.clone();
            net_part(network, specialists, old.auto_assign, old.rules_engine)
                .render()
                .ok()
        });
    }
}

/// The parts of a signed COM the cache keeps.
fn cached_com(com: &Com, issued: u64) -> CachedCom {
    CachedCom {
        timestamp: issued,
        // A COM issued here is always signed.
        signature: com.signature.unwrap_or([0; 96]),
    }
}

/// The specialists list: relays first (members keep at most 256 entries), one entry per node
/// with its roles ORed, active bridges after, at most [`MAX_SPECIALISTS`].
fn specialists(bridges: &[Address], relays: &[Address]) -> Vec<u64> {
    let mut out: Vec<u64> = relays
        .iter()
        .map(|a| a.to_u64() | SPECIALIST_NETWORK_RELAY)
        .collect();
    for b in bridges {
        match out.iter_mut().find(|s| **s & 0xff_ffff_ffff == b.to_u64()) {
            Some(s) => *s |= SPECIALIST_ACTIVE_BRIDGE,
            None => out.push(b.to_u64() | SPECIALIST_ACTIVE_BRIDGE),
        }
    }
    out.truncate(MAX_SPECIALISTS);
    out
}
