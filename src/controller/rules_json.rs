//! Rules in the JSON form of the zerotier-one API (`{"type": "MATCH_ETHERTYPE", "not": false,
//! "or": false, "etherType": 2048}`) → the binary rules of the wire format.

use std::net::IpAddr;

use serde_json::Value;

use super::model::parse_cidr;
use crate::wire::rules::{Rule, RuleField, code};
use crate::wire::{Address, Mac};

/// Why a rule is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// Index of the rule in the array.
    pub index: usize,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rules[{}]: {}", self.index, self.reason)
    }
}

fn int(v: &Value, key: &str) -> Result<u64, String> {
    match &v[key] {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| format!("{key}: expected a non-negative integer")),
        Value::String(s) => s
            .parse()
            .map_err(|_| format!("{key}: expected an integer, got {s:?}")),
        Value::Null => Err(format!("{key}: missing")),
        other => Err(format!("{key}: expected an integer, got {other}")),
    }
}

/// `key` as an integer that fits `T`: a value too large for its wire field is an error
/// naming the field, never truncated.
fn int_as<T: TryFrom<u64>>(v: &Value, key: &str) -> Result<T, String> {
    let n = int(v, key)?;
    T::try_from(n).map_err(|_| {
        let bits = std::mem::size_of::<T>() * 8;
        format!("{key}: {n} does not fit its {bits}-bit field")
    })
}

/// Like [`int_as`], 0 when the key is absent.
fn opt_as<T: TryFrom<u64> + Default>(v: &Value, key: &str) -> Result<T, String> {
    if v[key].is_null() {
        return Ok(T::default());
    }
    int_as(v, key)
}

fn flag(v: &Value, key: &str) -> bool {
    match &v[key] {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x > 0.0),
        Value::String(s) => matches!(s.chars().next(), Some('t' | 'T' | '1')),
        _ => false,
    }
}

fn hex_u64(v: &Value, key: &str) -> Result<u64, String> {
    match &v[key] {
        Value::String(s) => u64::from_str_radix(s.trim_start_matches("0x"), 16)
            .map_err(|_| format!("{key}: expected hex, got {s:?}")),
        _ => int(v, key),
    }
}

/// One JSON rule object → its binary rule.
fn one(v: &Value) -> Result<Rule, String> {
    let t = v["type"].as_str().ok_or("type: missing or not a string")?;
    let (c, field) = code_and_field(v, t)?;
    Ok(Rule {
        type_byte: with_not_and_or(v, c),
        field,
    })
}

/// The rule code and field of a rule whose `type` is `t`.
fn code_and_field(v: &Value, t: &str) -> Result<(u8, RuleField), String> {
    Ok(match t {
        "ACTION_DROP" => (code::DROP, RuleField::None),
        "ACTION_ACCEPT" => (code::ACCEPT, RuleField::None),
        "ACTION_BREAK" => (code::BREAK, RuleField::None),
        "ACTION_TEE" | "ACTION_WATCH" | "ACTION_REDIRECT" => forward(v, t)?,
        "MATCH_SOURCE_ZEROTIER_ADDRESS" | "MATCH_DEST_ZEROTIER_ADDRESS" => zt_address(v, t)?,
        "MATCH_VLAN_ID" => (code::VLAN_ID, RuleField::U16(int_as::<u16>(v, "vlanId")?)),
        "MATCH_VLAN_PCP" => (code::VLAN_PCP, RuleField::U8(int_as::<u8>(v, "vlanPcp")?)),
        "MATCH_VLAN_DEI" => (code::VLAN_DEI, RuleField::U8(int_as::<u8>(v, "vlanDei")?)),
        "MATCH_MAC_SOURCE" | "MATCH_MAC_DEST" => mac(v, t)?,
        "MATCH_IPV4_SOURCE" | "MATCH_IPV4_DEST" | "MATCH_IPV6_SOURCE" | "MATCH_IPV6_DEST" => {
            ip(v, t)?
        }
        "MATCH_IP_TOS" => {
            let f = [
                int_as::<u8>(v, "mask")?,
                int_as::<u8>(v, "start")?,
                int_as::<u8>(v, "end")?,
            ];
            (code::IP_TOS, RuleField::Triple(f))
        }
        "MATCH_IP_PROTOCOL" => (
            code::IP_PROTOCOL,
            RuleField::U8(int_as::<u8>(v, "ipProtocol")?),
        ),
        "MATCH_ETHERTYPE" => (
            code::ETHERTYPE,
            RuleField::U16(int_as::<u16>(v, "etherType")?),
        ),
        "MATCH_ICMP" => icmp(v)?,
        "MATCH_IP_SOURCE_PORT_RANGE" | "MATCH_IP_DEST_PORT_RANGE" | "MATCH_FRAME_SIZE_RANGE" => {
            range(v, t)?
        }
        "MATCH_CHARACTERISTICS" => (code::CHARACTERISTICS, RuleField::U64(hex_u64(v, "mask")?)),
        "MATCH_RANDOM" => (
            code::RANDOM,
            RuleField::U32(int_as::<u32>(v, "probability")?),
        ),
        "MATCH_TAGS_DIFFERENCE"
        | "MATCH_TAGS_BITWISE_AND"
        | "MATCH_TAGS_BITWISE_OR"
        | "MATCH_TAGS_BITWISE_XOR"
        | "MATCH_TAGS_EQUAL"
        | "MATCH_TAG_SENDER"
        | "MATCH_TAG_RECEIVER" => tag(v, t)?,
        other => return Err(format!("type: unknown rule type {other:?}")),
    })
}

/// The type byte: the rule code, with the `not` (0x80) and `or` (0x40) bits of a match
/// condition set from the JSON flags (actions carry neither).
fn with_not_and_or(v: &Value, c: u8) -> u8 {
    let mut type_byte = c;
    if c >= code::SOURCE_ZT_ADDRESS {
        if flag(v, "not") {
            type_byte |= 0x80;
        }
        if flag(v, "or") {
            type_byte |= 0x40;
        }
    }
    type_byte
}

/// `ACTION_TEE`, `ACTION_WATCH` or `ACTION_REDIRECT`: the address frames go to, flags and
/// how many bytes of each frame.
fn forward(v: &Value, t: &str) -> Result<(u8, RuleField), String> {
    let c = match t {
        "ACTION_TEE" => code::TEE,
        "ACTION_WATCH" => code::WATCH,
        _ => code::REDIRECT,
    };
    let address = v["address"]
        .as_str()
        .and_then(|a| a.parse::<Address>().ok())
        .ok_or("address: expected 10 hex digits")?;
    let flags = opt_as::<u32>(v, "flags")?;
    // -1 ("no limit" in the rules language) is the 16-bit field's largest value.
    let length = match v["length"].as_i64() {
        Some(-1) => u16::MAX,
        _ => opt_as::<u16>(v, "length")?,
    };
    Ok((
        c,
        RuleField::Forward {
            address,
            flags,
            length,
        },
    ))
}

/// `MATCH_SOURCE_ZEROTIER_ADDRESS` or `MATCH_DEST_ZEROTIER_ADDRESS`.
fn zt_address(v: &Value, t: &str) -> Result<(u8, RuleField), String> {
    let a = v["zt"]
        .as_str()
        .and_then(|a| a.parse::<Address>().ok())
        .ok_or("zt: expected 10 hex digits")?;
    let c = if t.contains("SOURCE") {
        code::SOURCE_ZT_ADDRESS
    } else {
        code::DEST_ZT_ADDRESS
    };
    Ok((c, RuleField::ZtAddress(a)))
}

/// `MATCH_MAC_SOURCE` or `MATCH_MAC_DEST`: six hex bytes, any separators.
fn mac(v: &Value, t: &str) -> Result<(u8, RuleField), String> {
    let text = v["mac"].as_str().ok_or("mac: expected a string")?;
    let hex: String = text.chars().filter(char::is_ascii_hexdigit).collect();
    let mac = u64::from_str_radix(&hex, 16)
        .ok()
        .filter(|_| hex.len() == 12)
        .ok_or("mac: expected 6 hex bytes")?;
    let c = if t.ends_with("SOURCE") {
        code::MAC_SOURCE
    } else {
        code::MAC_DEST
    };
    Ok((c, RuleField::Mac(Mac(mac))))
}

/// `MATCH_IPV4_*` or `MATCH_IPV6_*`: an address/bits whose family must match the type.
fn ip(v: &Value, t: &str) -> Result<(u8, RuleField), String> {
    let (ip, bits) = v["ip"]
        .as_str()
        .and_then(parse_cidr)
        .ok_or("ip: expected address/bits")?;
    let src = t.ends_with("SOURCE");
    match ip {
        IpAddr::V4(a) if t.contains("IPV4") => Ok((
            if src {
                code::IPV4_SOURCE
            } else {
                code::IPV4_DEST
            },
            RuleField::Ipv4(a, bits),
        )),
        IpAddr::V6(a) if t.contains("IPV6") => Ok((
            if src {
                code::IPV6_SOURCE
            } else {
                code::IPV6_DEST
            },
            RuleField::Ipv6(a, bits),
        )),
        _ => Err("ip: wrong address family for this rule".into()),
    }
}

/// `MATCH_ICMP`: the type, and the code when one is given (flag 0x01 says so).
fn icmp(v: &Value) -> Result<(u8, RuleField), String> {
    let ty = int_as::<u8>(v, "icmpType")?;
    let (code_v, flags) = match v["icmpCode"].is_null() {
        true => (0, 0),
        false => (int_as::<u8>(v, "icmpCode")?, 0x01),
    };
    Ok((code::ICMP, RuleField::Triple([ty, code_v, flags])))
}

/// A port or frame size range: `start` and `end`, 16 bits each.
fn range(v: &Value, t: &str) -> Result<(u8, RuleField), String> {
    let c = match t {
        "MATCH_IP_SOURCE_PORT_RANGE" => code::IP_SOURCE_PORT_RANGE,
        "MATCH_IP_DEST_PORT_RANGE" => code::IP_DEST_PORT_RANGE,
        _ => code::FRAME_SIZE_RANGE,
    };
    Ok((
        c,
        RuleField::Range(int_as::<u16>(v, "start")?, int_as::<u16>(v, "end")?),
    ))
}

/// `MATCH_TAGS_*` and `MATCH_TAG_*`: a tag id and a value, 32 bits each.
fn tag(v: &Value, t: &str) -> Result<(u8, RuleField), String> {
    let c = match t {
        "MATCH_TAGS_DIFFERENCE" => 44,
        "MATCH_TAGS_BITWISE_AND" => 45,
        "MATCH_TAGS_BITWISE_OR" => 46,
        "MATCH_TAGS_BITWISE_XOR" => 47,
        "MATCH_TAGS_EQUAL" => 48,
        "MATCH_TAG_SENDER" => 49,
        _ => 50,
    };
    Ok((
        c,
        RuleField::Tag {
            id: int_as::<u32>(v, "id")?,
            value: int_as::<u32>(v, "value")?,
        },
    ))
}

/// Converts a JSON rules array.
pub fn from_json(rules: &Value) -> Result<Vec<Rule>, RuleError> {
    let list = rules.as_array().ok_or_else(|| RuleError {
        index: 0,
        reason: "expected an array of rules".into(),
    })?;
    list.iter()
        .enumerate()
        .map(|(index, v)| one(v).map_err(|reason| RuleError { index, reason }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn zero_ui_default_rules() {
        // The ethertype rule set ZeroUI creates networks with.
        let rules = json!([
            {"type": "MATCH_ETHERTYPE", "not": true, "or": false, "etherType": 2048},
            {"type": "MATCH_ETHERTYPE", "not": true, "or": false, "etherType": 2054},
            {"type": "MATCH_ETHERTYPE", "not": true, "or": false, "etherType": 34525},
            {"type": "ACTION_DROP"},
            {"type": "ACTION_ACCEPT"}
        ]);
        let r = from_json(&rules).unwrap();
        assert_eq!(
            r[0],
            Rule {
                type_byte: code::ETHERTYPE | 0x80,
                field: RuleField::U16(0x0800)
            }
        );
        assert_eq!(r[3].code(), code::DROP);
        assert_eq!(r[4], Rule::ACCEPT);
        let bad = from_json(&json!([{"type": "ACTION_ACCEPT"}, {"type": "MATCH_ETHERTYPE"}]))
            .unwrap_err();
        assert_eq!(bad.index, 1);
        assert!(bad.reason.contains("etherType"));
        assert!(from_json(&json!([{"type": "MATCH_IPV4_SOURCE", "ip": "fd00::/8"}])).is_err());
        // Out of range for the wire field: refused with the field named, not truncated.
        let big = from_json(&json!([{"type": "MATCH_ETHERTYPE", "etherType": 67584}])).unwrap_err();
        assert_eq!(big.reason, "etherType: 67584 does not fit its 16-bit field");
        let tag = json!([{"type": "MATCH_TAGS_EQUAL", "id": 1, "value": 4_294_967_296u64}]);
        assert!(from_json(&tag).unwrap_err().reason.starts_with("value:"));
    }

    #[test]
    fn out_of_range_numbers_are_refused_naming_the_field() {
        let reason = |rule: Value| from_json(&json!([rule])).unwrap_err().reason;
        let zt = "0123456789";
        let cases = [
            (
                json!({"type": "MATCH_VLAN_ID", "vlanId": 65536}),
                "vlanId: 65536 does not fit its 16-bit field",
            ),
            (
                json!({"type": "MATCH_VLAN_PCP", "vlanPcp": 256}),
                "vlanPcp: 256 does not fit its 8-bit field",
            ),
            (
                json!({"type": "MATCH_IP_PROTOCOL", "ipProtocol": "300"}),
                "ipProtocol: 300 does not fit its 8-bit field",
            ),
            (
                json!({"type": "MATCH_ICMP", "icmpType": 8, "icmpCode": 256}),
                "icmpCode: 256 does not fit its 8-bit field",
            ),
            (
                json!({"type": "MATCH_IP_TOS", "mask": 252, "start": 0, "end": 256}),
                "end: 256 does not fit its 8-bit field",
            ),
            (
                json!({"type": "MATCH_IP_DEST_PORT_RANGE", "start": 80, "end": 65536}),
                "end: 65536 does not fit its 16-bit field",
            ),
            (
                json!({"type": "MATCH_RANDOM", "probability": 4_294_967_296u64}),
                "probability: 4294967296 does not fit its 32-bit field",
            ),
            (
                json!({"type": "ACTION_TEE", "address": zt, "length": 65536}),
                "length: 65536 does not fit its 16-bit field",
            ),
            (
                json!({"type": "ACTION_TEE", "address": zt, "flags": 4_294_967_296u64}),
                "flags: 4294967296 does not fit its 32-bit field",
            ),
            (
                json!({"type": "ACTION_TEE", "address": zt, "length": -2}),
                "length: expected a non-negative integer",
            ),
        ];
        for (rule, expected) in cases {
            assert_eq!(reason(rule), expected);
        }
        // The largest values that fit are kept exactly.
        let ok = json!([
            {"type": "MATCH_ETHERTYPE", "etherType": 65535},
            {"type": "ACTION_TEE", "address": zt, "length": -1}
        ]);
        let r = from_json(&ok).unwrap();
        assert_eq!(r[0].field, RuleField::U16(u16::MAX));
        assert!(matches!(
            r[1].field,
            RuleField::Forward {
                length: u16::MAX,
                ..
            }
        ));
    }
}
