//! The in-process management API: list and read networks and members, and carry out the
//! typed [`super::change::Change`]s (create, update and delete networks and members) with
//! zerotier-one's semantics (zt-api §1.2–1.5: POST is a shallow merge that creates the object
//! if missing, DELETE answers with the deleted object). The admin HTTP server, the command
//! line and the importer all go through [`Controller::apply_all`]: every write lands in one
//! SQLite transaction or not at all, invalidates exactly the cached configurations it affects
//! and queues pushes to the members that asked recently ([`Controller::take_pushes`]).
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

use super::api_json::{FieldError, MemberJson, network_json, object_of};
use super::change::{MemberPatch, NetworkPatch, Patch};
use super::model::{Member, Network};
use super::netconf::revoke_com;
use super::store::StoreError;
use super::{Controller, Now, PUSH_WINDOW_MS};
use crate::crypto::Entropy;
use crate::wire::{Address, NetworkId};

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
    /// `patch`.
    pub(super) fn create_network(
        &mut self,
        now: Now,
        entropy: &mut dyn Entropy,
        patch: &NetworkPatch,
    ) -> ApiResult<Value> {
        for _ in 0..RANDOM_ID_TRIES {
            let low = (entropy.next_u64() & 0xff_ffff) as u32;
            let id = self.network_id(low);
            if low != 0 && self.store.network(id)?.is_none() {
                return self.put_network(now, id, patch);
            }
        }
        Err(ApiError::Exhausted("no free network ID found".into()))
    }

    /// Creates or updates a network (shallow merge); returns the stored object.
    pub(super) fn put_network(
        &mut self,
        now: Now,
        id: NetworkId,
        patch: &NetworkPatch,
    ) -> ApiResult<Value> {
        if id.controller() != self.identity.address() || id.0 & 0xff_ffff == 0 {
            return Err(ApiError::BadRequest(format!(
                "id: network {id} is not served by this controller (IDs start with {} and do not end in 000000)",
                self.identity.address()
            )));
        }
        let old = self.store.network(id)?;
        let mut n = old.clone().unwrap_or_else(|| Network::new(id, now.unix));
        patch.apply(&mut n);
        if old.as_ref() != Some(&n) {
            if old.is_some() {
                n.revision += 1;
            }
            self.store.put_network(&n)?;
            match &old {
                Some(old) if super::decide::shared_change_only(old, &n) => {
                    self.restyle_network(&n);
                }
                _ => self.cache.invalidate_network(id),
            }
            self.queue_pushes(now, Some(id));
        }
        Ok(network_json(&n))
    }

    /// Deletes a network and its members; returns the deleted object. Members that asked
    /// recently are told it no longer exists.
    pub(super) fn delete_network(&mut self, now: Now, id: NetworkId) -> ApiResult<Value> {
        let n = self.network_or_404(id)?;
        self.store.delete_network(id)?;
        self.changed_network(now.mono, now.unix, id);
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
    /// returns the stored object. A manual address another member holds is refused.
    pub(super) fn put_member_patch(
        &mut self,
        now: Now,
        id: NetworkId,
        address: Address,
        patch: &MemberPatch,
    ) -> ApiResult<Value> {
        self.require_network(id)?;
        let old = self.store.member(id, address)?;
        let mut m = old
            .clone()
            .unwrap_or_else(|| Member::new(id, address, now.unix));
        patch.apply(&mut m, now.unix);
        if patch.ip_assignments.is_some() {
            self.refuse_taken_ips(old.as_ref(), &m)?;
        }
        if old.as_ref() != Some(&m) {
            if old.is_some() {
                m.revision += 1;
            }
            self.store.put_member(&m)?;
            self.changed_member(now.mono, now.unix, old.as_ref(), &m);
        }
        Ok(serde_json::to_value(self.member_view(now.mono, &m)).unwrap_or(Value::Null))
    }

    /// Refuses addresses `m` asks for that another member of its network holds (those it held
    /// before are its own).
    fn refuse_taken_ips(&self, old: Option<&Member>, m: &Member) -> ApiResult<()> {
        let mine: HashSet<IpAddr> = old.iter().flat_map(|o| o.ip_assignments.clone()).collect();
        let wanted: Vec<IpAddr> = m
            .ip_assignments
            .iter()
            .copied()
            .filter(|ip| !mine.contains(ip))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let taken: HashSet<IpAddr> = self.store.assigned_ips(m.network_id)?.into_iter().collect();
        match m
            .ip_assignments
            .iter()
            .enumerate()
            .find(|(_, ip)| wanted.contains(ip) && taken.contains(ip))
        {
            Some((i, ip)) => Err(ApiError::BadRequest(format!(
                "ipAssignments[{i}]: {ip} is already assigned to another member of this network"
            ))),
            None => Ok(()),
        }
    }

    /// Deletes a member as zerotier-one does: its row is removed (addresses and pinned
    /// identity with it), it is cut off at once (COM revoked at the other members, its own
    /// configuration withdrawn), and a later request from it is a new join request. Returns
    /// the object as it was.
    pub(super) fn delete_member(
        &mut self,
        now: Now,
        id: NetworkId,
        address: Address,
    ) -> ApiResult<Value> {
        let old = self.member_or_404(id, address)?;
        let shown = serde_json::to_value(self.member_view(now.mono, &old)).unwrap_or(Value::Null);
        self.store.delete_member(id, address)?;
        let mut gone = old.clone();
        gone.authorized = false;
        gone.active_bridge = false;
        self.changed_member(now.mono, now.unix, Some(&old), &gone);
        self.forget_recent(id, address);
        Ok(shown)
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
        NetworkPatch::from_map(fields)?.apply(&mut n);
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
        MemberPatch::from_map(fields)?.apply(&mut m, unix);
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

    /// After a network changed: drop its cached configurations and queue a push to its
    /// members that asked recently (rendered after the change commits).
    fn changed_network(&mut self, mono: u64, unix: u64, id: NetworkId) {
        self.cache.invalidate_network(id);
        self.queue_pushes(Now { mono, unix }, Some(id));
    }

    /// After a member changed: re-decide for it at once (and queue its whole network if it
    /// is or was an active bridge, which every member's configuration lists), and revoke its
    /// COM at the other members if it lost its authorization.
    pub(super) fn changed_member(
        &mut self,
        mono: u64,
        unix: u64,
        old: Option<&Member>,
        m: &Member,
    ) {
        let key = (m.network_id, m.address);
        let bridge = m.active_bridge || old.is_some_and(|o| o.active_bridge);
        if bridge {
            self.changed_network(mono, unix, m.network_id);
            // Decided below, now: a deleted member is forgotten right after this.
            self.pending.remove(key);
        } else {
            self.cache.invalidate(key);
        }
        let (pushes, _) = self.decide_pushes(Now { mono, unix }, &[key]);
        self.outbox.extend(pushes);
        if old.is_some_and(|o| o.authorized) && !m.authorized {
            let threshold = self.revocation_threshold(unix);
            let payload = revoke_com(m.network_id, m.address, threshold, &self.identity);
            self.revoke(mono, m.network_id, m.address, payload);
        }
    }
}
