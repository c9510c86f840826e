//! JSON shapes of the zerotier-one controller API: lenient reading of posted fields (the
//! coercions the management UIs rely on, zt-api §1.5) with errors that name the field, and the
//! network and member objects as zerotier-one 1.14 renders them plus ztcd's additive fields.

use std::net::IpAddr;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::model::{Dns, Member, Network, Pool, Route, parse_cidr};

/// Longest accepted network or member name, in bytes.
pub const MAX_NAME_LEN: usize = 1024;
/// Most routes a network may list: what a configuration carries (more would be accepted and
/// silently never sent).
pub const MAX_ROUTES: usize = super::netconf::MAX_ROUTES;
/// Most address pools a network may list.
pub const MAX_POOLS: usize = 128;
/// Most rules a network may list (the wire limit).
pub const MAX_RULES: usize = 1024;
/// Most DNS servers (zerotier-one sends up to 4).
pub const MAX_DNS_SERVERS: usize = 4;
/// Most addresses a member may be assigned: what a configuration carries.
pub const MAX_IP_ASSIGNMENTS: usize = super::netconf::MAX_STATIC_IPS;
/// Relays a network may name (`relays`): a few nodes are all a network needs, and they come
/// first in a member's 256 specialists.
pub const MAX_RELAYS: usize = 16;
/// Most capabilities or tags per member or network.
pub const MAX_CREDENTIALS: usize = 128;

/// A field that could not be accepted: `field: why`.
pub type FieldError = String;

fn expected(field: &str, what: &str, got: &Value) -> FieldError {
    let shown = match got {
        Value::String(s) => format!("the string {s:?}"),
        Value::Null => "null".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
        other => other.to_string(),
    };
    format!("{field}: expected {what}, got {shown}")
}

/// A boolean as zerotier-one reads it: a bool, a number (> 0 is true) or a string whose first
/// character is `t`, `T` or `1`.
pub fn bool_of(field: &str, v: &Value) -> Result<bool, FieldError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => Ok(n.as_f64().is_some_and(|f| f > 0.0)),
        Value::String(s) => Ok(matches!(s.chars().next(), Some('t' | 'T' | '1'))),
        other => Err(expected(field, "a boolean", other)),
    }
}

/// An integer in `min..=max`: a JSON number or a numeric string.
pub fn int_of(field: &str, v: &Value, min: i64, max: i64) -> Result<i64, FieldError> {
    let n = match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        Some(n) => Err(format!("{field}: {n} is out of range {min}..{max}")),
        None => Err(expected(field, "an integer", v)),
    }
}

/// A string (numbers and booleans are accepted as their text), at most [`MAX_NAME_LEN`] bytes.
pub fn string_of(field: &str, v: &Value) -> Result<String, FieldError> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
        other => return Err(expected(field, "a string", other)),
    };
    if s.len() > MAX_NAME_LEN {
        return Err(format!("{field}: longer than {MAX_NAME_LEN} bytes"));
    }
    Ok(s)
}

/// An array of at most `max` entries.
pub fn array_of<'a>(field: &str, v: &'a Value, max: usize) -> Result<&'a [Value], FieldError> {
    match v {
        Value::Array(a) if a.len() <= max => Ok(a),
        Value::Array(a) => Err(format!(
            "{field}: {} entries, at most {max} allowed",
            a.len()
        )),
        other => Err(expected(field, "an array", other)),
    }
}

/// An IP address; a `/bits` suffix is ignored (as zerotier-one does for assignments).
pub fn ip_of(field: &str, v: &Value) -> Result<IpAddr, FieldError> {
    let Value::String(s) = v else {
        return Err(expected(field, "an IP address string", v));
    };
    let text = s.split_once('/').map_or(s.as_str(), |(ip, _)| ip);
    text.trim()
        .parse()
        .map_err(|_| format!("{field}: {s:?} is not an IP address"))
}

/// Routes: `[{target: "ip/bits", via: "ip" | null}]`. A `via` that is not an address of the
/// target's family (ztnet's `"lan"`, a number, the other family) is stored as null, as
/// zerotier-one stores it; unknown keys are dropped.
pub fn routes_of(v: &Value) -> Result<Vec<Route>, FieldError> {
    let mut out = Vec::new();
    for (i, r) in array_of("routes", v, MAX_ROUTES)?.iter().enumerate() {
        let field = format!("routes[{i}]");
        let target = r
            .get("target")
            .ok_or_else(|| format!("{field}.target: missing"))?;
        let Some((net, bits)) = target.as_str().and_then(parse_cidr) else {
            return Err(expected(
                &format!("{field}.target"),
                "an address/prefix such as \"10.0.0.0/24\"",
                target,
            ));
        };
        let via = r.get("via").and_then(|v| ip_of("via", v).ok());
        out.push(Route {
            target: (net, bits),
            via: via.filter(|v| v.is_ipv4() == net.is_ipv4()),
        });
    }
    Ok(out)
}

/// Pools: `[{ipRangeStart, ipRangeEnd}]`, both ends of one family, start ≤ end.
pub fn pools_of(v: &Value) -> Result<Vec<Pool>, FieldError> {
    let mut out = Vec::new();
    for (i, p) in array_of("ipAssignmentPools", v, MAX_POOLS)?
        .iter()
        .enumerate()
    {
        let field = format!("ipAssignmentPools[{i}]");
        let end = |k: &str| -> Result<IpAddr, FieldError> {
            let v = p.get(k).ok_or_else(|| format!("{field}.{k}: missing"))?;
            ip_of(&format!("{field}.{k}"), v)
        };
        let (start, stop) = (end("ipRangeStart")?, end("ipRangeEnd")?);
        if start.is_ipv4() != stop.is_ipv4() {
            return Err(format!("{field}: both ends must be IPv4 or both IPv6"));
        }
        if stop < start {
            return Err(format!(
                "{field}: ipRangeEnd {stop} is before ipRangeStart {start}"
            ));
        }
        out.push(Pool {
            ip_range_start: start,
            ip_range_end: stop,
        });
    }
    Ok(out)
}

/// DNS: `{domain, servers: [ip]}`, kept as given even when empty (the UIs clear it with
/// `{domain: "", servers: []}` and zerotier-one then answers that object); `[]` or `null`
/// clears it to zerotier-one's never-set `[]`.
pub fn dns_of(v: &Value) -> Result<Option<Dns>, FieldError> {
    match v {
        Value::Null => Ok(None),
        Value::Array(a) if a.is_empty() => Ok(None),
        Value::Object(o) => {
            let domain = o
                .get("domain")
                .map(|d| string_of("dns.domain", d))
                .transpose()?
                .unwrap_or_default();
            let mut servers = Vec::new();
            if let Some(s) = o.get("servers") {
                for (i, ip) in array_of("dns.servers", s, MAX_DNS_SERVERS)?
                    .iter()
                    .enumerate()
                {
                    servers.push(ip_of(&format!("dns.servers[{i}]"), ip)?);
                }
            }
            Ok(Some(Dns { domain, servers }))
        }
        other => Err(expected("dns", "an object {domain, servers}", other)),
    }
}

/// Member capabilities: integer IDs, sorted and unique.
pub fn capability_ids_of(v: &Value) -> Result<Vec<u32>, FieldError> {
    let mut out = Vec::new();
    for (i, c) in array_of("capabilities", v, MAX_CREDENTIALS)?
        .iter()
        .enumerate()
    {
        out.push(int_of(&format!("capabilities[{i}]"), c, 0, u32::MAX.into())? as u32);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Member tags: `[[id, value]]`, sorted by id, one value per id (the last given wins).
pub fn tag_pairs_of(v: &Value) -> Result<Vec<(u32, u32)>, FieldError> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for (i, t) in array_of("tags", v, MAX_CREDENTIALS)?.iter().enumerate() {
        let field = format!("tags[{i}]");
        let pair = array_of(&field, t, 2)?;
        let [id, value] = pair else {
            return Err(format!("{field}: expected [id, value]"));
        };
        let id = int_of(&format!("{field}[0]"), id, 0, u32::MAX.into())? as u32;
        let value = int_of(&format!("{field}[1]"), value, 0, u32::MAX.into())? as u32;
        out.retain(|(k, _)| *k != id);
        out.push((id, value));
    }
    out.sort_unstable();
    Ok(out)
}

/// The network object as zerotier-one 1.14 renders it (keys in its alphabetical order).
pub fn network_json(n: &Network) -> Value {
    let id = n.id.to_string();
    json!({
        "authTokens": [{}],
        "capabilities": n.capabilities,
        "creationTime": n.creation_time,
        "dns": n.dns.as_ref().map_or(json!([]), |d| json!(d)),
        "enableBroadcast": n.enable_broadcast,
        "id": id,
        "ipAssignmentPools": n.ip_assignment_pools,
        "mtu": n.mtu,
        "multicastLimit": n.multicast_limit,
        "name": n.name,
        "nwid": id,
        "objtype": "network",
        "private": n.private,
        "remoteTraceLevel": 0,
        "remoteTraceTarget": Value::Null,
        "revision": n.revision,
        "routes": n.routes,
        "rules": n.rules,
        "rulesSource": n.rules_source,
        "relays": n.relays.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "ssoEnabled": false,
        "tags": n.tags,
        "v4AssignMode": {"zt": n.v4_assign_zt},
        "v6AssignMode": {"6plane": n.v6_assign_6plane, "rfc4193": n.v6_assign_rfc4193, "zt": n.v6_assign_zt},
    })
}

/// The member object: zerotier-one's fields plus `lastSeen`, `online`, `physicalAddress`,
/// `banned`, `description` and `expiresAt`. Serialized straight from the record (a list of
/// 10,000 renders in milliseconds).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberJson<'a> {
    active_bridge: bool,
    address: String,
    authentication_expiry_time: u64,
    authorized: bool,
    banned: bool,
    capabilities: &'a [u32],
    creation_time: u64,
    /// ztcd's addition: the administrator's notes.
    description: &'a str,
    /// ztcd's addition: when the authorization ends by itself (ms, 0 = never).
    expires_at: u64,
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    identity: Option<String>,
    ip_assignments: Vec<String>,
    last_authorized_credential: Option<String>,
    last_authorized_credential_type: Option<&'static str>,
    last_authorized_time: u64,
    last_deauthorized_time: u64,
    last_seen: u64,
    name: &'a str,
    no_auto_assign_ips: bool,
    nwid: String,
    objtype: &'static str,
    online: bool,
    physical_address: Option<std::borrow::Cow<'a, str>>,
    remote_trace_level: u8,
    remote_trace_target: Option<String>,
    revision: u64,
    sso_exempt: bool,
    tags: &'a [(u32, u32)],
    v_major: i32,
    v_minor: i32,
    v_proto: i32,
    v_rev: i32,
}

impl<'a> MemberJson<'a> {
    /// Renders `m`; `last_seen` and `physical` override the stored values when newer ones are
    /// pending, `online` is whether it asked within the last 120 s.
    pub fn new(
        m: &'a Member,
        last_seen: u64,
        physical: Option<std::borrow::Cow<'a, str>>,
        online: bool,
    ) -> Self {
        let v = |x: Option<i32>| x.unwrap_or(-1);
        Self {
            active_bridge: m.active_bridge,
            address: m.address.to_string(),
            authentication_expiry_time: 0,
            authorized: m.authorized,
            banned: m.banned,
            capabilities: &m.capabilities,
            creation_time: m.creation_time,
            description: &m.description,
            expires_at: m.expires_at,
            id: m.address.to_string(),
            identity: m.identity.map(|i| i.to_string()),
            ip_assignments: m.ip_assignments.iter().map(ToString::to_string).collect(),
            last_authorized_credential: None,
            last_authorized_credential_type: (m.last_authorized_time > 0).then_some("api"),
            last_authorized_time: m.last_authorized_time,
            last_deauthorized_time: m.last_deauthorized_time,
            last_seen,
            name: &m.name,
            no_auto_assign_ips: m.no_auto_assign_ips,
            nwid: m.network_id.to_string(),
            objtype: "member",
            online,
            physical_address: physical,
            remote_trace_level: 0,
            remote_trace_target: None,
            revision: m.revision,
            sso_exempt: false,
            tags: &m.tags,
            v_major: v(m.version.map(|x| x.0.into())),
            v_minor: v(m.version.map(|x| x.1.into())),
            v_proto: v(m.version.map(|x| x.3.into())),
            v_rev: v(m.version.map(|x| x.2.into())),
        }
    }
}

/// The body as an object, or why not.
pub fn object_of(body: &Value) -> Result<&Map<String, Value>, FieldError> {
    body.as_object()
        .ok_or_else(|| expected("body", "a JSON object", body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_coercions_follow_zerotier_one() {
        assert_eq!(bool_of("f", &json!("true")), Ok(true));
        assert_eq!(bool_of("f", &json!("1")), Ok(true));
        assert_eq!(bool_of("f", &json!("yes")), Ok(false));
        assert_eq!(bool_of("f", &json!(2)), Ok(true));
        assert!(
            bool_of("f", &json!([]))
                .unwrap_err()
                .starts_with("f: expected a boolean")
        );
        assert_eq!(int_of("mtu", &json!("1400"), 0, 9999), Ok(1400));
        assert_eq!(
            int_of("mtu", &json!(99_999), 1280, 10_000),
            Err("mtu: 99999 is out of range 1280..10000".into())
        );
        assert_eq!(
            int_of("mtu", &json!("big"), 0, 1),
            Err("mtu: expected an integer, got the string \"big\"".into())
        );
        assert_eq!(string_of("name", &json!(5)), Ok("5".into()));
    }

    #[test]
    fn list_fields_are_checked_entry_by_entry() {
        let r = routes_of(&json!([{"target": "10.0.0.0/24", "via": null, "flags": 0},
                                  {"target": "fd00::/8", "via": "10.0.0.1"}]))
        .unwrap();
        assert_eq!(r[0].target, ("10.0.0.0".parse().unwrap(), 24));
        assert_eq!(r[1].via, None, "a via of the other family is dropped");
        let r = routes_of(&json!([{"target": "10.0.0.0/24", "via": "lan"},
                                  {"target": "10.1.0.0/24", "via": 5},
                                  {"target": "10.2.0.0/24", "via": "10.0.0.1"}]))
        .unwrap();
        let via: Vec<_> = r.iter().map(|r| r.via.map(|v| v.to_string())).collect();
        assert_eq!(
            via,
            [None, None, Some("10.0.0.1".to_owned())],
            "non-addresses become null"
        );
        let e = routes_of(&json!([{"target": "10.0.0.0/24"}, {"target": "10.0.0.0/33"}]));
        assert!(
            e.unwrap_err()
                .starts_with("routes[1].target: expected an address/prefix")
        );
        let e = pools_of(&json!([{"ipRangeStart": "10.0.0.9", "ipRangeEnd": "10.0.0.1"}]));
        assert!(e.unwrap_err().contains("before"));
        let p = pools_of(&json!([{"ipRangeStart": "fd00:0::1", "ipRangeEnd": "fd00::ff"}]));
        assert_eq!(p.unwrap()[0].ip_range_start.to_string(), "fd00::1");
        let many: Vec<_> = (0..=MAX_ROUTES)
            .map(|i| json!({"target": format!("10.{i}.0.0/16")}))
            .collect();
        let e = routes_of(&json!(many)).unwrap_err();
        assert!(
            e.contains("at most 32 allowed"),
            "the API takes what a config carries: {e}"
        );
        assert_eq!(dns_of(&json!([])), Ok(None));
        let cleared = dns_of(&json!({"domain": "", "servers": []})).unwrap();
        assert_eq!(
            cleared,
            Some(super::Dns::default()),
            "an empty object is kept"
        );
        assert!(dns_of(&json!({"servers": ["x"]})).is_err());
        assert_eq!(
            tag_pairs_of(&json!([[2, 1], [1, 5], [2, 3]])),
            Ok(vec![(1, 5), (2, 3)])
        );
        assert_eq!(capability_ids_of(&json!([3, 1, 3])), Ok(vec![1, 3]));
        assert!(tag_pairs_of(&json!([[1]])).is_err());
    }
}
