//! Match conditions: `not`, `or`, and each condition with its arguments, as API rule objects.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{CompileError, Compiled, Node, err, num, reserved};

/// Named bits of `chr` (bit 0 = least significant of the 64-bit mask).
const CHARACTERISTICS: [(&str, u32); 17] = [
    ("inbound", 63),
    ("multicast", 62),
    ("broadcast", 61),
    ("ipauth", 60),
    ("macauth", 59),
    ("tcp_fin", 0),
    ("tcp_syn", 1),
    ("tcp_rst", 2),
    ("tcp_psh", 3),
    ("tcp_ack", 4),
    ("tcp_urg", 5),
    ("tcp_ece", 6),
    ("tcp_cwr", 7),
    ("tcp_ns", 8),
    ("tcp_rs2", 9),
    ("tcp_rs1", 10),
    ("tcp_rs0", 11),
];

const ETHERTYPES: [(&str, i128); 9] = [
    ("ipv4", 0x0800),
    ("arp", 0x0806),
    ("wol", 0x0842),
    ("rarp", 0x8035),
    ("ipv6", 0x86dd),
    ("atalk", 0x809b),
    ("aarp", 0x80f3),
    ("ipx_a", 0x8137),
    ("ipx_b", 0x8138),
];

const IP_PROTOCOLS: [(&str, i128); 17] = [
    ("icmp", 0x01),
    ("icmp4", 0x01),
    ("icmpv4", 0x01),
    ("igmp", 0x02),
    ("ipip", 0x04),
    ("tcp", 0x06),
    ("egp", 0x08),
    ("igp", 0x09),
    ("udp", 0x11),
    ("rdp", 0x1b),
    ("esp", 0x32),
    ("ah", 0x33),
    ("icmp6", 0x3a),
    ("icmpv6", 0x3a),
    ("l2tp", 0x73),
    ("sctp", 0x84),
    ("udplite", 0x88),
];

/// Each condition's API type and how many arguments it takes.
fn condition(keyword: &str) -> Option<(&'static str, usize)> {
    Some(match keyword {
        "ztsrc" => ("MATCH_SOURCE_ZEROTIER_ADDRESS", 1),
        "ztdest" => ("MATCH_DEST_ZEROTIER_ADDRESS", 1),
        "vlan" => ("MATCH_VLAN_ID", 1),
        "vlanpcp" => ("MATCH_VLAN_PCP", 1),
        "vlandei" => ("MATCH_VLAN_DEI", 1),
        "ethertype" => ("MATCH_ETHERTYPE", 1),
        "macsrc" => ("MATCH_MAC_SOURCE", 1),
        "macdest" => ("MATCH_MAC_DEST", 1),
        "ipsrc" | "ipdest" => ("", 1),
        "iptos" => ("MATCH_IP_TOS", 2),
        "ipprotocol" => ("MATCH_IP_PROTOCOL", 1),
        "icmp" => ("MATCH_ICMP", 2),
        "sport" => ("MATCH_IP_SOURCE_PORT_RANGE", 1),
        "dport" => ("MATCH_IP_DEST_PORT_RANGE", 1),
        "chr" => ("MATCH_CHARACTERISTICS", 1),
        "framesize" => ("MATCH_FRAME_SIZE_RANGE", 1),
        "random" => ("MATCH_RANDOM", 1),
        "tand" => ("MATCH_TAGS_BITWISE_AND", 2),
        "tor" => ("MATCH_TAGS_BITWISE_OR", 2),
        "txor" => ("MATCH_TAGS_BITWISE_XOR", 2),
        "tdiff" => ("MATCH_TAGS_DIFFERENCE", 2),
        "teq" => ("MATCH_TAGS_EQUAL", 2),
        "tseq" => ("MATCH_TAG_SENDER", 2),
        "treq" => ("MATCH_TAG_RECEIVER", 2),
        _ => return None,
    })
}

/// An argument's text and where it was written.
struct Arg {
    text: String,
    at: (u32, u32),
}

impl Arg {
    fn fail(&self, message: &str) -> CompileError {
        err(self.at, message.to_owned())
    }
}

/// Renders the conditions in `tree` (one block of a rule set) into `rules`.
pub(super) fn render_matches(
    tree: &[Node],
    rules: &mut Vec<Value>,
    out: &Compiled,
    params: &BTreeMap<String, String>,
) -> Result<(), CompileError> {
    let (mut not, mut or) = (false, false);
    let mut k = 0;
    while k < tree.len() {
        let Some(word) = tree[k].word() else {
            k += 1;
            continue;
        };
        let keyword = word.text.to_lowercase();
        match keyword.as_str() {
            "" | "and" => {}
            "not" => not = true,
            "or" => or = true,
            _ => {
                let Some((api, count)) = condition(&keyword) else {
                    let message = format!("Unrecognized match type \"{keyword}\".");
                    return Err(err(tree[k].at(), message));
                };
                let mut args = Vec::with_capacity(count);
                for _ in 0..count {
                    k += 1;
                    args.push(argument(tree, k, params)?);
                }
                let mut rule = condition_rule(&keyword, api, &args, out)?;
                rule["not"] = json!(not);
                rule["or"] = json!(or);
                rules.push(rule);
                (not, or) = (false, false);
            }
        }
        k += 1;
    }
    Ok(())
}

/// Argument `k` of a condition (a `$name` is a macro parameter).
fn argument(
    tree: &[Node],
    k: usize,
    params: &BTreeMap<String, String>,
) -> Result<Arg, CompileError> {
    let Some(node) = tree.get(k) else {
        return Err(err(tree[k - 1].at(), "Missing argument(s) to match."));
    };
    let word = match node.word() {
        Some(w) if !w.text.is_empty() && !reserved(&w.text) => w,
        _ => {
            let message =
                "Missing argument(s) to match (invalid argument or argument is reserved word).";
            return Err(err(tree[k - 1].at(), message));
        }
    };
    let at = (word.line, word.column);
    if word.text.starts_with('$') {
        let value = params
            .get(&word.text)
            .ok_or_else(|| err(at, "Undefined variable name."))?;
        return Ok(Arg {
            text: value.clone(),
            at,
        });
    }
    Ok(Arg {
        text: word.text.clone(),
        at,
    })
}

/// `a-b` or `a`, each within `0..=max`, `a <= b`.
fn range(arg: &Arg, max: i128, message: &str) -> Result<(i128, i128), CompileError> {
    let (a, b) = match arg.text.find('-') {
        Some(p) if p > 0 => {
            let parts: Vec<&str> = arg.text.split('-').collect();
            if parts.len() != 2 {
                return Err(arg.fail(message));
            }
            (num(parts[0]), num(parts[1]))
        }
        _ => (num(&arg.text), num(&arg.text)),
    };
    if a < 0 || a > max || b < 0 || b > max || b < a {
        return Err(arg.fail(message));
    }
    Ok((a, b))
}

/// The API rule object of match condition `keyword` (API type `api`) with its arguments.
fn condition_rule(
    keyword: &str,
    api: &str,
    args: &[Arg],
    out: &Compiled,
) -> Result<Value, CompileError> {
    let a = &args[0];
    Ok(match keyword {
        "ztsrc" | "ztdest" => {
            let zt: String = a
                .text
                .to_lowercase()
                .chars()
                .filter(char::is_ascii_hexdigit)
                .collect();
            if zt.len() != 10 {
                return Err(a.fail("Invalid ZeroTier address."));
            }
            json!({"type": api, "zt": zt})
        }
        "vlan" | "vlanpcp" | "vlandei" | "ethertype" | "ipprotocol" => {
            number_rule(keyword, api, a)?
        }
        "random" => {
            let p = float_prefix(&a.text).clamp(0.0, 1.0);
            json!({"type": api, "probability": (4_294_967_295.0 * p).floor() as u64})
        }
        "macsrc" | "macdest" => json!({"type": api, "mac": mac(a)?}),
        "ipsrc" | "ipdest" => ip_rule(keyword, a)?,
        "icmp" => icmp_rule(api, args)?,
        "sport" | "dport" | "framesize" => {
            let (s, e) = range(a, 0xffff, "Invalid numeric range.")?;
            json!({"type": api, "start": s as u64, "end": e as u64})
        }
        "iptos" => {
            let mask = num(&a.text);
            if !(0..=0xff).contains(&mask) {
                return Err(a.fail("Invalid mask."));
            }
            let (s, e) = range(&args[1], 0xff, "Invalid value range.")?;
            json!({"type": api, "mask": mask as u64, "start": s as u64, "end": e as u64})
        }
        "chr" => characteristics_rule(api, a)?,
        _ => tag_rule(api, args, out)?,
    })
}

/// `vlan|vlanpcp|vlandei|ethertype|ipprotocol N`: one number (ethertypes and IP protocols
/// may also be named).
fn number_rule(keyword: &str, api: &str, a: &Arg) -> Result<Value, CompileError> {
    let named = match keyword {
        "ethertype" => ETHERTYPES.iter().find(|e| e.0 == a.text).map(|e| e.1),
        "ipprotocol" => IP_PROTOCOLS.iter().find(|e| e.0 == a.text).map(|e| e.1),
        _ => None,
    };
    let n = named.unwrap_or_else(|| num(&a.text));
    if !(0..=0xffff_ffff).contains(&n) {
        return Err(a.fail("Invalid numeric value."));
    }
    let field = match keyword {
        "vlan" => "vlanId",
        "vlanpcp" => "vlanPcp",
        "vlandei" => "vlanDei",
        "ethertype" => "etherType",
        _ => "ipProtocol",
    };
    let mut r = json!({"type": api});
    r[field] = json!(n as u64);
    Ok(r)
}

/// `icmp TYPE CODE`: the type 0-255 and the code, -1 for none.
fn icmp_rule(api: &str, args: &[Arg]) -> Result<Value, CompileError> {
    let a = &args[0];
    let t = num(&a.text);
    if !(0..=0xff).contains(&t) {
        return Err(a.fail("Missing or invalid ICMP type."));
    }
    let c = num(&args[1].text);
    if c > 0xff {
        return Err(args[1].fail("Invalid ICMP code (use -1 for none)."));
    }
    Ok(json!({"type": api, "icmpType": t as u64, "icmpCode": (c >= 0).then_some(c as u64)}))
}

/// `chr BITS`: characteristics bits, by name or index 0-63, separated by commas.
fn characteristics_rule(api: &str, a: &Arg) -> Result<Value, CompileError> {
    let mut mask = 0u64;
    for b in a.text.split(',').filter(|b| !b.is_empty()) {
        let bit = CHARACTERISTICS
            .iter()
            .find(|c| c.0 == b)
            .map_or_else(|| num(b), |c| i128::from(c.1));
        if !(0..=63).contains(&bit) {
            return Err(a.fail("Invalid bit index (range 0-63) or unrecognized name."));
        }
        mask |= 1 << bit;
    }
    Ok(json!({"type": api, "mask": format!("{mask:016x}")}))
}

/// `tand|tor|txor|tdiff|teq|tseq|treq TAG VALUE`: a defined tag's name (its flags and enums
/// name values), or numbers.
fn tag_rule(api: &str, args: &[Arg], out: &Compiled) -> Result<Value, CompileError> {
    let (a, b) = (&args[0], &args[1]);
    let (id, value) = match out.tag(&a.text) {
        Some(t) => {
            let named = t.flags.get(&b.text).or_else(|| t.enums.get(&b.text));
            (
                i128::from(t.id),
                named.map_or_else(|| num(&b.text), |v| i128::from(*v)),
            )
        }
        None => (num(&a.text), num(&b.text)),
    };
    if !(0..=0xffff_ffff).contains(&id) {
        return Err(a.fail("Undefined tag name and invalid tag value."));
    }
    if !(0..=0xffff_ffff).contains(&value) {
        return Err(b.fail("Invalid tag value or unrecognized flag/enum name."));
    }
    Ok(json!({"type": api, "id": id as u64, "value": value as u64}))
}

/// The hex digits of a MAC address, lower case and colon-separated.
fn mac(a: &Arg) -> Result<String, CompileError> {
    let hex: Vec<char> = a
        .text
        .to_lowercase()
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(12)
        .collect();
    if hex.len() != 12 {
        return Err(a.fail("Invalid MAC address."));
    }
    let pairs: Vec<String> = hex.chunks(2).map(|p| p.iter().collect()).collect();
    Ok(pairs.join(":"))
}

fn ip_rule(keyword: &str, a: &Arg) -> Result<Value, CompileError> {
    let Some(slash) = a.text.find('/').filter(|s| *s > 0) else {
        return Err(a.fail("Missing /bits netmask length designation in IP."));
    };
    let ip = &a.text[..slash];
    let src = keyword == "ipsrc";
    let api = if ip.contains(':') && ip.parse::<std::net::Ipv6Addr>().is_ok() {
        if src {
            "MATCH_IPV6_SOURCE"
        } else {
            "MATCH_IPV6_DEST"
        }
    } else if ip.parse::<std::net::Ipv4Addr>().is_ok() {
        if src {
            "MATCH_IPV4_SOURCE"
        } else {
            "MATCH_IPV4_DEST"
        }
    } else {
        return Err(a.fail("Invalid IP address (not valid IPv4 or IPv6)."));
    };
    Ok(json!({"type": api, "ip": a.text}))
}

/// The number at the start of `text` (`0.25x` is 0.25), 0 when there is none.
fn float_prefix(text: &str) -> f64 {
    let mut end = 0;
    let mut seen_dot = false;
    for (i, c) in text.char_indices() {
        let ok =
            c.is_ascii_digit() || (c == '.' && !seen_dot) || (i == 0 && (c == '-' || c == '+'));
        if !ok {
            break;
        }
        seen_dot |= c == '.';
        end = i + c.len_utf8();
    }
    text[..end].parse().unwrap_or(0.0)
}
