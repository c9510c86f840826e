//! The in-process management API: list, read, create, update and delete networks and members
//! with zerotier-one's semantics (zt-api §1.2–1.5: POST is a shallow merge that creates the
//! object if missing, DELETE answers with the deleted object) and validation errors that name
//! the field. The admin HTTP server and the tests call it; every write lands in one SQLite
//! transaction or not at all, invalidates exactly the cached configurations it affects and
//! queues pushes to the members that asked recently ([`Controller::take_pushes`]).
//!
//! ztcd's own behaviour beyond zerotier-one, all additive: a member can be blocked with
//! `"banned": true` (its requests are refused, its addresses released; it stays listed until
//! `"banned": false` or `"authorized": true`); a manual IP assignment that another member of
//! the network holds is refused; a network ID outside this controller's range is refused (its
//! members could never be served). DELETE removes a member as zerotier-one does: a later
//! request from it is a new join request.

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::IpAddr;

use serde_json::{Map, Value};

use super::api_json::{
    FieldError, MAX_CREDENTIALS, MAX_IP_ASSIGNMENTS, MAX_RELAYS, MAX_RULES, MemberJson, array_of,
    bool_of, capability_ids_of, dns_of, int_of, ip_of, network_json, object_of, pools_of,
    routes_of, string_of, tag_pairs_of,
};
use super::credentials::MAX_CAPABILITY_RULES;
use super::model::{Member, Network};
use super::netconf::revoke_com;
use super::store::StoreError;
use super::{Controller, PUSH_WINDOW_MS, Push};
use crate::crypto::Entropy;
use crate::wire::{Address, NetworkId};

/// Most expired members deauthorized per call of [`Controller::expire_members`] (once a
/// second: a backlog clears over a few seconds without holding the owner loop).
const EXPIRY_BATCH: usize = 256;

/// Tries at finding a free random network ID.
const RANDOM_ID_TRIES: usize = 1000;

/// Why an API call failed.
#[derive(Debug)]
pub enum ApiError {
    /// The request is wrong: the text names the field and why (HTTP 400).
    BadRequest(String),
    /// No such network or member (HTTP 404).
    NotFound(String),
    /// No free network ID (HTTP 503).
    Exhausted(String),
    /// The database failed (HTTP 500, or 503 while another process holds its lock); nothing
    /// was written.
    Store(StoreError),
}

impl ApiError {
    /// The HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::NotFound(_) => 404,
            Self::Exhausted(_) => 503,
            Self::Store(e) if e.is_locked() => 503,
            Self::Store(_) => 500,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadRequest(m) | Self::NotFound(m) | Self::Exhausted(m) => f.write_str(m),
            Self::Store(e) => write!(f, "{e}"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        Self::BadRequest(e)
    }
}

/// API results.
pub type ApiResult<T> = Result<T, ApiError>;

/// Parses a network ID as the API takes it (16 hex digits, either case).
pub fn parse_network_id(text: &str) -> Option<NetworkId> {
    (text.len() == 16 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u64::from_str_radix(text, 16).ok().map(NetworkId))
        .flatten()
}

/// Parses a member address (10 hex digits, either case, not reserved).
pub fn parse_address(text: &str) -> Option<Address> {
    (text.len() == 10 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u64::from_str_radix(text, 16).ok().map(Address::new))
        .flatten()
        .filter(|a| !a.is_reserved())
}

/// Network-specific relays: a list of node addresses (10 hex digits), at most
/// [`MAX_RELAYS`]; `null` clears it.
fn relays_of(v: &Value) -> Result<Vec<Address>, FieldError> {
    if v.is_null() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (i, a) in array_of("relays", v, MAX_RELAYS)?.iter().enumerate() {
        let a = a.as_str().and_then(parse_address).ok_or_else(|| {
            format!("relays[{i}]: expected a node address (10 hex digits), got {a}")
        })?;
        if !out.contains(&a) {
            out.push(a);
        }
    }
    Ok(out)
}

/// Applies the writable network fields present in `body` (a shallow merge).
fn merge_network(n: &mut Network, body: &Map<String, Value>) -> Result<(), FieldError> {
    for (key, v) in body {
        match key.as_str() {
            "name" => n.name = string_of(key, v)?,
            "private" => n.private = bool_of(key, v)?,
            "enableBroadcast" => n.enable_broadcast = bool_of(key, v)?,
            "mtu" => n.mtu = int_of(key, v, 1280, 10_000)? as u32,
            "multicastLimit" => n.multicast_limit = int_of(key, v, 0, 1_000_000)? as u32,
            "v4AssignMode" => {
                n.v4_assign_zt = match v {
                    Value::String(s) => s.split(',').any(|m| m.trim() == "zt"),
                    Value::Object(o) => o
                        .get("zt")
                        .map(|z| bool_of("v4AssignMode.zt", z))
                        .transpose()?
                        .unwrap_or(false),
                    other => {
                        return Err(format!(
                            "v4AssignMode: expected an object {{zt}}, got {other}"
                        ));
                    }
                }
            }
            "v6AssignMode" => {
                let flag = |name: &str| -> Result<bool, FieldError> {
                    match v {
                        Value::String(s) => Ok(s.split(',').any(|m| m.trim() == name)),
                        Value::Object(o) => Ok(o
                            .get(name)
                            .map(|z| bool_of(&format!("v6AssignMode.{name}"), z))
                            .transpose()?
                            .unwrap_or(false)),
                        other => Err(format!(
                            "v6AssignMode: expected an object {{zt, rfc4193, 6plane}}, got {other}"
                        )),
                    }
                };
                (n.v6_assign_zt, n.v6_assign_rfc4193, n.v6_assign_6plane) =
                    (flag("zt")?, flag("rfc4193")?, flag("6plane")?);
            }
            "routes" => n.routes = routes_of(v)?,
            "ipAssignmentPools" => n.ip_assignment_pools = pools_of(v)?,
            "rules" => {
                array_of(key, v, MAX_RULES)?;
                super::rules_json::from_json(v).map_err(|e| format!("rules: {e}"))?;
                n.rules = v.clone();
            }
            "capabilities" | "tags" => {
                let list = array_of(key, v, MAX_CREDENTIALS)?;
                if let Some(i) = list.iter().position(|c| !c.is_object()) {
                    return Err(format!("{key}[{i}]: expected an object"));
                }
                if key == "tags" {
                    n.tags = v.clone();
                } else {
                    for (i, c) in list.iter().enumerate() {
                        let rules = &c["rules"];
                        if rules
                            .as_array()
                            .is_some_and(|r| r.len() > MAX_CAPABILITY_RULES)
                        {
                            return Err(format!(
                                "capabilities[{i}].rules: at most {MAX_CAPABILITY_RULES} rules"
                            ));
                        }
                        if !rules.is_null() {
                            super::rules_json::from_json(rules)
                                .map_err(|e| format!("capabilities[{i}].rules: {e}"))?;
                        }
                    }
                    n.capabilities = v.clone();
                }
            }
            "dns" => n.dns = dns_of(v)?,
            "relays" => n.relays = relays_of(v)?,
            "rulesSource" => {
                let text = v.as_str().ok_or("rulesSource: expected a string")?;
                if text.len() > crate::controller::rules_lang::MAX_SOURCE_LEN {
                    return Err("rulesSource: too long".into());
                }
                n.rules_source = text.to_owned();
            }
            // Read-only and unknown keys are ignored, as zerotier-one does.
            _ => {}
        }
    }
    Ok(())
}

/// Applies the writable member fields present in `body`. `banned` (ztcd's extension) wins over
/// `authorized`; an authorization without it lifts a ban, as an un-delete did before.
fn merge_member(m: &mut Member, body: &Map<String, Value>, unix: u64) -> Result<(), FieldError> {
    for (key, v) in body {
        match key.as_str() {
            "authorized" => {
                let yes = bool_of(key, v)?;
                set_authorized(m, yes, unix);
                if yes && !body.contains_key("banned") {
                    m.banned = false;
                }
            }
            "banned" => m.banned = bool_of(key, v)?,
            "activeBridge" => m.active_bridge = bool_of(key, v)?,
            "noAutoAssignIps" => m.no_auto_assign_ips = bool_of(key, v)?,
            "name" => m.name = string_of(key, v)?,
            "description" => m.description = string_of(key, v)?,
            "ipAssignments" => {
                let mut ips: Vec<IpAddr> = Vec::new();
                for (i, ip) in array_of(key, v, MAX_IP_ASSIGNMENTS)?.iter().enumerate() {
                    let ip = ip_of(&format!("ipAssignments[{i}]"), ip)?;
                    if !ips.contains(&ip) {
                        ips.push(ip);
                    }
                }
                m.ip_assignments = ips;
            }
            "capabilities" => m.capabilities = capability_ids_of(v)?,
            "tags" => m.tags = tag_pairs_of(v)?,
            "expiresAt" => {
                m.expires_at = match v {
                    Value::Null => 0,
                    v => int_of(key, v, 0, i64::MAX)? as u64,
                }
            }
            _ => {}
        }
    }
    // Authorizing a member whose time ran out starts it afresh, unless a new end is given.
    let authorizing = body
        .get("authorized")
        .is_some_and(|v| bool_of("authorized", v) == Ok(true));
    if authorizing && m.expired(unix) && !body.contains_key("expiresAt") {
        m.expires_at = 0;
    }
    if m.banned {
        // Blocked: refused, cut off and its addresses free for others.
        set_authorized(m, false, unix);
        m.ip_assignments.clear();
        m.active_bridge = false;
    }
    Ok(())
}

/// Sets `authorized`, stamping the time of a change.
fn set_authorized(m: &mut Member, yes: bool, unix: u64) {
    if yes != m.authorized {
        if yes {
            m.last_authorized_time = unix;
        } else {
            m.last_deauthorized_time = unix;
        }
    } else if !yes && m.last_deauthorized_time == 0 {
        // A join request refused outright: recorded, so no approval window lets it in.
        m.last_deauthorized_time = unix;
    }
    m.authorized = yes;
}

impl Controller {
    fn network_or_404(&self, id: NetworkId) -> ApiResult<Network> {
        self.store
            .network(id)?
            .ok_or_else(|| ApiError::NotFound(format!("network {id} does not exist")))
    }

    fn require_network(&self, id: NetworkId) -> ApiResult<()> {
        if self.store.network_exists(id)? {
            Ok(())
        } else {
            Err(ApiError::NotFound(format!("network {id} does not exist")))
        }
    }

    /// IDs of all networks.
    pub fn api_network_ids(&self) -> ApiResult<Vec<NetworkId>> {
        Ok(self.store.network_ids()?)
    }

    /// A network object.
    pub fn api_network(&self, id: NetworkId) -> ApiResult<Value> {
        Ok(network_json(&self.network_or_404(id)?))
    }

    /// Creates a network with a random free ID under this controller's address and applies
    /// `body` (`POST /controller/network/{address}______`).
    pub fn api_create_network(
        &mut self,
        mono: u64,
        unix: u64,
        entropy: &mut impl Entropy,
        body: &Value,
    ) -> ApiResult<Value> {
        for _ in 0..RANDOM_ID_TRIES {
            let low = (entropy.next_u64() & 0xff_ffff) as u32;
            let id = self.network_id(low);
            if low != 0 && self.store.network(id)?.is_none() {
                return self.api_post_network(mono, unix, id, body);
            }
        }
        Err(ApiError::Exhausted("no free network ID found".into()))
    }

    /// Creates or updates a network (shallow merge); returns the stored object.
    pub fn api_post_network(
        &mut self,
        mono: u64,
        unix: u64,
        id: NetworkId,
        body: &Value,
    ) -> ApiResult<Value> {
        let body = object_of(body)?;
        if id.controller() != self.identity.address() || id.0 & 0xff_ffff == 0 {
            return Err(ApiError::BadRequest(format!(
                "id: network {id} is not served by this controller (IDs start with {} and do not end in 000000)",
                self.identity.address()
            )));
        }
        let old = self.store.network(id)?;
        let mut n = old.clone().unwrap_or_else(|| Network::new(id, unix));
        merge_network(&mut n, body)?;
        if old.as_ref() != Some(&n) {
            if old.is_some() {
                n.revision += 1;
            }
            self.store.put_network(&n)?;
            self.changed_network(mono, unix, id);
        }
        Ok(network_json(&n))
    }

    /// Deletes a network and its members; returns the deleted object. Members that asked
    /// recently are told it no longer exists.
    pub fn api_delete_network(&mut self, mono: u64, unix: u64, id: NetworkId) -> ApiResult<Value> {
        let n = self.network_or_404(id)?;
        self.store.delete_network(id)?;
        self.changed_network(mono, unix, id);
        Ok(network_json(&n))
    }

    /// The member list as zerotier-one answers it: `{address: revision}` (blocked members
    /// included: they exist, and authorizing them in any UI lifts the block).
    pub fn api_member_revisions(&self, id: NetworkId) -> ApiResult<Value> {
        self.require_network(id)?;
        let map: Map<String, Value> = self
            .store
            .member_revisions(id)?
            .into_iter()
            .map(|(a, rev)| (a.to_string(), Value::from(rev)))
            .collect();
        Ok(Value::Object(map))
    }

    /// Every member with full details in one answer, serialized to JSON text (blocked
    /// members included, marked `"banned": true`).
    pub fn api_members_detailed(&self, mono: u64, id: NetworkId) -> ApiResult<String> {
        let (objects, _) = self.api_members_page(mono, id, None, usize::MAX)?;
        Ok(format!("[{objects}]"))
    }

    /// One page of the detailed member list: the JSON objects of up to `limit` members above
    /// `after`, joined by commas, and the address to continue after (`None` on the last page).
    /// The admin server streams a large network's list page by page, so neither the owner loop
    /// nor memory holds all of it at once.
    pub fn api_members_page(
        &self,
        mono: u64,
        id: NetworkId,
        after: Option<Address>,
        limit: usize,
    ) -> ApiResult<(String, Option<Address>)> {
        self.require_network(id)?;
        let members = self.store.members_after(id, after, limit)?;
        let mut text = String::new();
        for m in &members {
            if !text.is_empty() {
                text.push(',');
            }
            let json = serde_json::to_string(&self.member_view(mono, m))
                .map_err(|e| ApiError::Store(StoreError::Corrupt(e.to_string())))?;
            text.push_str(&json);
        }
        let next = members
            .last()
            .map(|m| m.address)
            .filter(|_| members.len() == limit);
        Ok((text, next))
    }

    fn member_view<'a>(&'a self, mono: u64, m: &'a Member) -> MemberJson<'a> {
        let key = (m.network_id, m.address);
        let pending = self
            .recent
            .get(&key)
            .and_then(|r| r.seen.map(|t| (t, r.physical)));
        let (seen, physical) = match &pending {
            Some((when, p)) if *when > m.last_seen => (
                *when,
                p.map(|p| Cow::Owned(p.to_string()))
                    .or_else(|| m.physical_address.as_deref().map(Cow::Borrowed)),
            ),
            _ => (
                m.last_seen,
                m.physical_address.as_deref().map(Cow::Borrowed),
            ),
        };
        let online = self
            .recent
            .get(&key)
            .is_some_and(|r| mono.saturating_sub(r.mono) < PUSH_WINDOW_MS);
        MemberJson::new(m, seen, physical, online)
    }

    fn member_or_404(&self, id: NetworkId, address: Address) -> ApiResult<Member> {
        self.require_network(id)?;
        self.store.member(id, address)?.ok_or_else(|| {
            ApiError::NotFound(format!("member {address} of network {id} does not exist"))
        })
    }

    /// A member object.
    pub fn api_member(&self, mono: u64, id: NetworkId, address: Address) -> ApiResult<Value> {
        let m = self.member_or_404(id, address)?;
        Ok(serde_json::to_value(self.member_view(mono, &m)).unwrap_or(Value::Null))
    }

    /// Creates or updates a member (shallow merge; creating one pre-authorizes by address);
    /// returns the stored object.
    pub fn api_post_member(
        &mut self,
        mono: u64,
        unix: u64,
        id: NetworkId,
        address: Address,
        body: &Value,
    ) -> ApiResult<Value> {
        let body = object_of(body)?;
        self.require_network(id)?;
        let old = self.store.member(id, address)?;
        let mut m = old
            .clone()
            .unwrap_or_else(|| Member::new(id, address, unix));
        merge_member(&mut m, body, unix)?;
        if body.contains_key("ipAssignments") && !m.ip_assignments.is_empty() {
            let mine: HashSet<IpAddr> = old.iter().flat_map(|o| o.ip_assignments.clone()).collect();
            let wanted: Vec<IpAddr> = m
                .ip_assignments
                .iter()
                .copied()
                .filter(|ip| !mine.contains(ip))
                .collect();
            if !wanted.is_empty() {
                let taken: HashSet<IpAddr> = self.store.assigned_ips(id)?.into_iter().collect();
                if let Some((i, ip)) = m
                    .ip_assignments
                    .iter()
                    .enumerate()
                    .find(|(_, ip)| wanted.contains(ip) && taken.contains(ip))
                {
                    return Err(ApiError::BadRequest(format!(
                        "ipAssignments[{i}]: {ip} is already assigned to another member of this network"
                    )));
                }
            }
        }
        if old.as_ref() != Some(&m) {
            if old.is_some() {
                m.revision += 1;
            }
            self.store.put_member(&m)?;
            self.changed_member(mono, unix, old.as_ref(), &m);
        }
        Ok(serde_json::to_value(self.member_view(mono, &m)).unwrap_or(Value::Null))
    }

    /// Deletes a member as zerotier-one does: its row is removed (addresses and pinned
    /// identity with it), it is cut off at once (COM revoked at the other members, its own
    /// configuration withdrawn), and a later request from it is a new join request. Returns
    /// the object as it was.
    pub fn api_delete_member(
        &mut self,
        mono: u64,
        unix: u64,
        id: NetworkId,
        address: Address,
    ) -> ApiResult<Value> {
        let old = self.member_or_404(id, address)?;
        let shown = serde_json::to_value(self.member_view(mono, &old)).unwrap_or(Value::Null);
        self.store.delete_member(id, address)?;
        let mut gone = old.clone();
        gone.authorized = false;
        gone.active_bridge = false;
        self.changed_member(mono, unix, Some(&old), &gone);
        self.forget_recent(id, address);
        Ok(shown)
    }

    /// Deauthorizes the members whose authorization ran out by `unix`, exactly as an
    /// administrator's deauthorization (COM revoked at the other members, configurations
    /// pushed); at most [`EXPIRY_BATCH`] per call. Returns how many.
    pub fn expire_members(&mut self, mono: u64, unix: u64) -> Result<usize, StoreError> {
        let due = self.store.expired_members(unix, EXPIRY_BATCH)?;
        for old in &due {
            let mut m = old.clone();
            set_authorized(&mut m, false, unix);
            m.revision += 1;
            self.store.put_member(&m)?;
            self.changed_member(mono, unix, Some(old), &m);
        }
        Ok(due.len())
    }

    /// Stores a network exported by zerotier-one (its JSON object): the writable fields as a
    /// POST would take them, plus its creation time and revision.
    pub fn api_import_network(&mut self, unix: u64, id: NetworkId, body: &Value) -> ApiResult<()> {
        let fields = object_of(body)?;
        if id.controller() != self.identity.address() {
            return Err(ApiError::BadRequest(format!(
                "id: network {id} belongs to controller {}, not {}",
                id.controller(),
                self.identity.address()
            )));
        }
        let mut n = Network::new(id, unix);
        merge_network(&mut n, fields)?;
        n.creation_time = body["creationTime"].as_u64().unwrap_or(unix);
        n.revision = body["revision"].as_u64().unwrap_or(1).max(1);
        self.store.put_network(&n)?;
        self.cache.invalidate_network(id);
        Ok(())
    }

    /// Stores a member exported by zerotier-one, keeping its pinned identity, times, revision
    /// and client version.
    pub fn api_import_member(
        &mut self,
        unix: u64,
        id: NetworkId,
        address: Address,
        body: &Value,
    ) -> ApiResult<()> {
        let fields = object_of(body)?;
        self.require_network(id)?;
        let mut m = Member::new(id, address, unix);
        merge_member(&mut m, fields, unix)?;
        let num = |k: &str| body[k].as_u64();
        m.creation_time = num("creationTime").unwrap_or(unix);
        m.revision = num("revision").unwrap_or(1).max(1);
        m.last_authorized_time = num("lastAuthorizedTime").unwrap_or(m.last_authorized_time);
        m.last_deauthorized_time = num("lastDeauthorizedTime").unwrap_or(0);
        if let Some(text) = body["identity"].as_str().filter(|t| !t.is_empty()) {
            let identity: crate::identity::Identity = text.parse().map_err(|_| {
                ApiError::BadRequest(format!("identity: {text:?} is not an identity"))
            })?;
            if identity.address() != address {
                return Err(ApiError::BadRequest(
                    "identity: belongs to another address".into(),
                ));
            }
            m.identity = Some(identity);
        }
        if let (Some(a), Some(b), Some(c), Some(p)) = (
            body["vMajor"].as_i64(),
            body["vMinor"].as_i64(),
            body["vRev"].as_i64(),
            body["vProto"].as_i64(),
        ) && a >= 0
        {
            m.version = Some((a as u8, b as u8, c as u16, p as u8));
        }
        self.store.put_member(&m)?;
        self.cache.invalidate((id, address));
        Ok(())
    }

    /// Starts a batch of API calls that [`Controller::commit_batch`] makes durable at once
    /// (one fsync for many writes; answer none of them before the commit).
    pub fn begin_batch(&mut self) -> ApiResult<()> {
        Ok(self.store.begin()?)
    }

    /// Commits the batch. On failure nothing of it was written: the cache and queued pushes
    /// are dropped and every call of the batch must be answered as failed.
    pub fn commit_batch(&mut self) -> ApiResult<()> {
        self.store.commit().map_err(|e| {
            self.cache.clear();
            self.outbox.clear();
            ApiError::Store(e)
        })
    }

    /// Networks with their member counts (not banned, authorized), for `/unstable` lists.
    pub fn api_networks_detailed(&self) -> ApiResult<Value> {
        let mut data = Vec::new();
        for (id, total, authorized) in self.store.member_counts()? {
            if let Some(n) = self.store.network(id)? {
                let mut v = network_json(&n);
                v["meta"] = serde_json::json!({"totalMemberCount": total, "authorizedMemberCount": authorized});
                data.push(v);
            }
        }
        let count = data.len();
        Ok(serde_json::json!({"data": data, "meta": {"networkCount": count}}))
    }

    /// Totals for metrics: networks, members (not banned), authorized members.
    pub fn api_totals(&self) -> ApiResult<(u64, u64, u64)> {
        let counts = self.store.member_counts()?;
        Ok(counts
            .iter()
            .fold((0, 0, 0), |(n, m, a), (_, t, au)| (n + 1, m + t, a + au)))
    }

    /// Pushes queued by API writes: new configurations, refusals and revocations.
    pub fn take_pushes(&mut self) -> Vec<Push> {
        std::mem::take(&mut self.outbox)
    }

    /// After a network changed: drop its cached configurations and re-decide for its members
    /// that asked recently.
    fn changed_network(&mut self, mono: u64, unix: u64, id: NetworkId) {
        self.cache.invalidate_network(id);
        let pushes = self.push_where(mono, unix, |k| k.0 == id);
        self.outbox.extend(pushes);
    }

    /// After a member changed: re-decide for it (for its whole network if it is or was an
    /// active bridge, which every member's configuration lists), and revoke its COM at the
    /// other members if it lost its authorization.
    fn changed_member(&mut self, mono: u64, unix: u64, old: Option<&Member>, m: &Member) {
        let bridge = m.active_bridge || old.is_some_and(|o| o.active_bridge);
        if bridge {
            return self.changed_network(mono, unix, m.network_id);
        }
        let key = (m.network_id, m.address);
        self.cache.invalidate(key);
        let pushes = self.push_where(mono, unix, |k| *k == key);
        self.outbox.extend(pushes);
        if old.is_some_and(|o| o.authorized) && !m.authorized {
            let threshold = self.revocation_threshold(unix);
            let payload = revoke_com(m.network_id, m.address, threshold, &self.identity);
            self.revoke(mono, m.network_id, m.address, payload);
        }
    }
}
