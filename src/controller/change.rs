//! Typed administrative changes: what the admin API, the `ztcd` command line and the importer
//! ask the controller to do, parsed and validated once at the edge. A [`Change`] that exists is
//! well-formed; [`super::Controller::apply_all`] carries changes out, all in one transaction.
//!
//! JSON bodies follow zerotier-one's objects: a POST is a shallow merge, so a patch holds only
//! the fields the body named; read-only and unknown keys are ignored, as zerotier-one does.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::api::parse_address;
use super::api_json::{
    FieldError, MAX_CREDENTIALS, MAX_IP_ASSIGNMENTS, MAX_RELAYS, MAX_RULES, array_of, bool_of,
    capability_ids_of, dns_of, int_of, ip_of, object_of, pools_of, routes_of, string_of,
    tag_pairs_of,
};
use super::credentials::MAX_CAPABILITY_RULES;
use super::model::{Dns, Member, Network, Pool, Route};
use super::window::WindowSpec;
use crate::wire::{Address, NetworkId};

/// One change to the controller's configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Create a network under a random free ID and apply the patch.
    CreateNetwork(NetworkPatch),
    /// Create or update the network (shallow merge).
    PutNetwork(NetworkId, NetworkPatch),
    /// Delete the network and its members.
    DeleteNetwork(NetworkId),
    /// Create (pre-authorize) or update the member (shallow merge).
    PutMember(NetworkId, Address, MemberPatch),
    /// Delete the member: cut off at once; a later request is a new join request.
    DeleteMember(NetworkId, Address),
    /// Open the network's approval window.
    OpenWindow(NetworkId, WindowSpec),
    /// Close the network's approval window now.
    CloseWindow(NetworkId),
}

/// A patch parsed from the fields of a JSON object (a shallow merge: only the fields named).
pub trait Patch: Sized {
    /// Parses the fields of an object; errors name the field.
    fn from_map(body: &Map<String, Value>) -> Result<Self, FieldError>;

    /// Parses a body, which must be a JSON object; errors name the field.
    fn from_json(body: &Value) -> Result<Self, FieldError> {
        Self::from_map(object_of(body)?)
    }
}

/// The writable network fields a body named (`None`: left as it is).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkPatch {
    /// `name`.
    pub name: Option<String>,
    /// `private`.
    pub private: Option<bool>,
    /// `enableBroadcast`.
    pub enable_broadcast: Option<bool>,
    /// `mtu` (1280–10000).
    pub mtu: Option<u32>,
    /// `multicastLimit` (0–1000000).
    pub multicast_limit: Option<u32>,
    /// `v4AssignMode.zt`.
    pub v4_assign_zt: Option<bool>,
    /// `v6AssignMode`: (zt, rfc4193, 6plane).
    pub v6_assign: Option<(bool, bool, bool)>,
    /// `routes`.
    pub routes: Option<Vec<Route>>,
    /// `ipAssignmentPools`.
    pub pools: Option<Vec<Pool>>,
    /// `rules`, checked to compile.
    pub rules: Option<Value>,
    /// `capabilities`, each an object whose rules compile.
    pub capabilities: Option<Value>,
    /// `tags`, each an object.
    pub tags: Option<Value>,
    /// `dns` (`Some(None)` clears it).
    pub dns: Option<Option<Dns>>,
    /// `relays` (`null` clears them).
    pub relays: Option<Vec<Address>>,
    /// `rulesSource`, kept as given.
    pub rules_source: Option<String>,
}

/// The writable member fields a body named (`None`: left as it is).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberPatch {
    /// `authorized`.
    pub authorized: Option<bool>,
    /// `banned` (ztcd's block; wins over `authorized`).
    pub banned: Option<bool>,
    /// `activeBridge`.
    pub active_bridge: Option<bool>,
    /// `noAutoAssignIps`.
    pub no_auto_assign_ips: Option<bool>,
    /// `name`.
    pub name: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `ipAssignments`, without duplicates.
    pub ip_assignments: Option<Vec<IpAddr>>,
    /// `capabilities`: capability IDs.
    pub capabilities: Option<Vec<u32>>,
    /// `tags`: (tag ID, value) pairs.
    pub tags: Option<Vec<(u32, u32)>>,
    /// `expiresAt` (0 or `null`: never).
    pub expires_at: Option<u64>,
}

/// An assignment mode given as an object of flags (`{"zt": true}`) or, as old UIs send it, a
/// comma-separated string (`"zt,rfc4193"`).
fn mode_flag(field: &str, v: &Value, name: &str) -> Result<bool, FieldError> {
    match v {
        Value::String(s) => Ok(s.split(',').any(|m| m.trim() == name)),
        Value::Object(o) => Ok(o
            .get(name)
            .map(|z| bool_of(&format!("{field}.{name}"), z))
            .transpose()?
            .unwrap_or(false)),
        other => Err(format!(
            "{field}: expected an object of assignment flags, got {other}"
        )),
    }
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

/// Rules as the API's JSON array, checked to compile.
fn rules_of(field: &str, v: &Value) -> Result<Value, FieldError> {
    array_of(field, v, MAX_RULES)?;
    super::rules_json::from_json(v).map_err(|e| format!("{field}: {e}"))?;
    Ok(v.clone())
}

/// Capability definitions: objects whose rules (at most [`MAX_CAPABILITY_RULES`]) compile.
fn capabilities_of(v: &Value) -> Result<Value, FieldError> {
    let list = array_of("capabilities", v, MAX_CREDENTIALS)?;
    for (i, c) in list.iter().enumerate() {
        if !c.is_object() {
            return Err(format!("capabilities[{i}]: expected an object"));
        }
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
            rules_of(&format!("capabilities[{i}].rules"), rules)?;
        }
    }
    Ok(v.clone())
}

/// Tag definitions: a list of objects.
fn tags_of(v: &Value) -> Result<Value, FieldError> {
    let list = array_of("tags", v, MAX_CREDENTIALS)?;
    if let Some(i) = list.iter().position(|c| !c.is_object()) {
        return Err(format!("tags[{i}]: expected an object"));
    }
    Ok(v.clone())
}

impl Patch for NetworkPatch {
    /// Parses the fields of a network object.
    fn from_map(body: &Map<String, Value>) -> Result<Self, FieldError> {
        let mut p = Self::default();
        for (key, v) in body {
            let k = key.as_str();
            match k {
                "name" => p.name = Some(string_of(k, v)?),
                "private" => p.private = Some(bool_of(k, v)?),
                "enableBroadcast" => p.enable_broadcast = Some(bool_of(k, v)?),
                "mtu" => p.mtu = Some(u32_of(k, v, 1280, 10_000)?),
                "multicastLimit" => p.multicast_limit = Some(u32_of(k, v, 0, 1_000_000)?),
                "v4AssignMode" => p.v4_assign_zt = Some(mode_flag(k, v, "zt")?),
                "v6AssignMode" => {
                    let f = |name| mode_flag(k, v, name);
                    p.v6_assign = Some((f("zt")?, f("rfc4193")?, f("6plane")?));
                }
                "routes" => p.routes = Some(routes_of(v)?),
                "ipAssignmentPools" => p.pools = Some(pools_of(v)?),
                "rules" => p.rules = Some(rules_of(k, v)?),
                "capabilities" => p.capabilities = Some(capabilities_of(v)?),
                "tags" => p.tags = Some(tags_of(v)?),
                "dns" => p.dns = Some(dns_of(v)?),
                "relays" => p.relays = Some(relays_of(v)?),
                "rulesSource" => {
                    let text = v.as_str().ok_or("rulesSource: expected a string")?;
                    if text.len() > super::rules_lang::MAX_SOURCE_LEN {
                        return Err("rulesSource: too long".into());
                    }
                    p.rules_source = Some(text.to_owned());
                }
                _ => {}
            }
        }
        Ok(p)
    }
}

impl NetworkPatch {
    /// Applies the patch to `n`.
    pub fn apply(&self, n: &mut Network) {
        set(&mut n.name, &self.name);
        set(&mut n.private, &self.private);
        set(&mut n.enable_broadcast, &self.enable_broadcast);
        set(&mut n.mtu, &self.mtu);
        set(&mut n.multicast_limit, &self.multicast_limit);
        set(&mut n.v4_assign_zt, &self.v4_assign_zt);
        if let Some((zt, rfc, plane)) = self.v6_assign {
            (n.v6_assign_zt, n.v6_assign_rfc4193, n.v6_assign_6plane) = (zt, rfc, plane);
        }
        set(&mut n.routes, &self.routes);
        set(&mut n.ip_assignment_pools, &self.pools);
        set(&mut n.rules, &self.rules);
        set(&mut n.capabilities, &self.capabilities);
        set(&mut n.tags, &self.tags);
        set(&mut n.dns, &self.dns);
        set(&mut n.relays, &self.relays);
        set(&mut n.rules_source, &self.rules_source);
    }
}

impl Patch for MemberPatch {
    /// Parses the fields of a member object.
    fn from_map(body: &Map<String, Value>) -> Result<Self, FieldError> {
        let mut p = Self::default();
        for (key, v) in body {
            let k = key.as_str();
            match k {
                "authorized" => p.authorized = Some(bool_of(k, v)?),
                "banned" => p.banned = Some(bool_of(k, v)?),
                "activeBridge" => p.active_bridge = Some(bool_of(k, v)?),
                "noAutoAssignIps" => p.no_auto_assign_ips = Some(bool_of(k, v)?),
                "name" => p.name = Some(string_of(k, v)?),
                "description" => p.description = Some(string_of(k, v)?),
                "ipAssignments" => {
                    let mut ips: Vec<IpAddr> = Vec::new();
                    for (i, ip) in array_of(k, v, MAX_IP_ASSIGNMENTS)?.iter().enumerate() {
                        let ip = ip_of(&format!("ipAssignments[{i}]"), ip)?;
                        if !ips.contains(&ip) {
                            ips.push(ip);
                        }
                    }
                    p.ip_assignments = Some(ips);
                }
                "capabilities" => p.capabilities = Some(capability_ids_of(v)?),
                "tags" => p.tags = Some(tag_pairs_of(v)?),
                "expiresAt" => {
                    p.expires_at = Some(match v {
                        Value::Null => 0,
                        v => u64::try_from(int_of(k, v, 0, i64::MAX)?).unwrap_or(0),
                    })
                }
                _ => {}
            }
        }
        Ok(p)
    }
}

impl MemberPatch {
    /// Applies the patch to `m` at `unix`. `banned` wins over `authorized`; an authorization
    /// without it lifts a ban. Authorizing a member whose time ran out starts it afresh,
    /// unless a new end is given. A blocked member is refused, cut off and its addresses are
    /// free for others.
    pub fn apply(&self, m: &mut Member, unix: u64) {
        if let Some(yes) = self.authorized {
            if yes && m.expired(unix) && self.expires_at.is_none() {
                m.expires_at = 0;
            }
            set_authorized(m, yes, unix);
            if yes && self.banned.is_none() {
                m.banned = false;
            }
        }
        set(&mut m.banned, &self.banned);
        set(&mut m.active_bridge, &self.active_bridge);
        set(&mut m.no_auto_assign_ips, &self.no_auto_assign_ips);
        set(&mut m.name, &self.name);
        set(&mut m.description, &self.description);
        set(&mut m.ip_assignments, &self.ip_assignments);
        set(&mut m.capabilities, &self.capabilities);
        set(&mut m.tags, &self.tags);
        set(&mut m.expires_at, &self.expires_at);
        if m.banned {
            set_authorized(m, false, unix);
            m.ip_assignments.clear();
            m.active_bridge = false;
        }
    }
}

/// Sets `authorized`, stamping the time of a change.
pub(super) fn set_authorized(m: &mut Member, yes: bool, unix: u64) {
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

/// Overwrites `field` with the patch's value, if it has one.
fn set<T: Clone>(field: &mut T, value: &Option<T>) {
    if let Some(v) = value {
        field.clone_from(v);
    }
}

/// An integer field that fits `u32` within `min..=max`.
fn u32_of(field: &str, v: &Value, min: u32, max: u32) -> Result<u32, FieldError> {
    let n = int_of(field, v, i64::from(min), i64::from(max))?;
    u32::try_from(n).map_err(|_| format!("{field}: out of range"))
}
