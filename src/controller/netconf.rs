//! Building a member's network configuration: the v7 Dictionary (zt-protocol §6.2) and the
//! certificate of membership (§7) it carries. Pure: time and the signer are passed in.

use std::net::IpAddr;

use super::credentials::MemberCredentials;
use crate::identity::{Identity, IdentitySecret};
use crate::limits::MAX_NETCONF_DICT_LEN;
use crate::wire::com::{Com, Qualifier, qualifier};
use crate::wire::dictionary::DictWriter;
use crate::wire::rules::{Rule, emit_rules, rules_len};
use crate::wire::{Address, InetAddress, NetworkId, Result, Writer};

/// Netconf format version ztcd speaks (1.8–1.14 clients reject < 6).
pub const NETCONF_VERSION: u64 = 7;
/// Default credential time window (`certificateTimeoutWindowSize`), 30 minutes.
pub const DEFAULT_CREDENTIAL_WINDOW_MS: u64 = 30 * 60 * 1000;
/// Flag: broadcast enabled.
pub const FLAG_ENABLE_BROADCAST: u64 = 0x02;
/// Flag: IPv6 NDP emulation (set when rfc4193 or 6plane addresses are assigned).
pub const FLAG_IPV6_NDP_EMULATION: u64 = 0x04;
/// Most routes sent (1.8.x clients hold 32).
pub const MAX_ROUTES: usize = 32;
/// Most static IPs sent (1.8.x clients hold 16).
pub const MAX_STATIC_IPS: usize = 16;
/// Role bit of an active bridge in the specialists list.
pub const SPECIALIST_ACTIVE_BRIDGE: u64 = 0x0200_0000_0000;
/// Specialists a member keeps (`ZT_MAX_NETWORK_SPECIALISTS` up to 1.16.1; entries past it are
/// dropped by the member): 2 KiB of the configuration at most.
pub const MAX_SPECIALISTS: usize = 256;
/// Role bit of a network-specific relay (ZeroTier 1.16); older members ignore it.
pub const SPECIALIST_NETWORK_RELAY: u64 = 0x1000_0000_0000;

/// A managed route: `target` network (prefix length in the port) and optional gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteEntry {
    /// Network address and prefix length.
    pub target: (IpAddr, u8),
    /// Gateway, if any.
    pub via: Option<IpAddr>,
}

/// DNS settings pushed to members.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DnsConfig {
    /// Search domain (at most 127 bytes are sent).
    pub domain: String,
    /// Up to 4 servers.
    pub servers: Vec<IpAddr>,
}

/// Everything a member's configuration is made of, except time and signature.
#[derive(Clone, Debug)]
pub struct ConfigInput<'a> {
    /// The network.
    pub network_id: NetworkId,
    /// The network's revision.
    pub revision: u64,
    /// Network name.
    pub name: &'a str,
    /// Private (COM required) or public.
    pub private: bool,
    /// Flags (`FLAG_*`).
    pub flags: u64,
    /// Multicast recipient limit.
    pub multicast_limit: u64,
    /// Virtual MTU.
    pub mtu: u64,
    /// Credential time window, ms.
    pub credential_window: u64,
    /// Managed routes.
    pub routes: &'a [RouteEntry],
    /// The member's addresses with prefix lengths.
    pub static_ips: &'a [(IpAddr, u8)],
    /// Rules (the controller sends a single ACCEPT to clients without a rules engine).
    pub rules: &'a [Rule],
    /// DNS, if set.
    pub dns: Option<&'a DnsConfig>,
    /// Specialists: addresses with role bits (active bridges).
    pub specialists: &'a [u64],
}

/// Issues a certificate of membership for `member`, signed by the controller.
pub fn issue_com(
    network_id: NetworkId,
    member: &Identity,
    timestamp: u64,
    window: u64,
    controller: &IdentitySecret,
) -> Com {
    let mut com = unsigned_com(network_id, member, timestamp, window, controller.address());
    com.signature = Some(controller.sign(&com.signing_message()));
    com
}

/// The certificate of membership for `member` as `signer` issues it, without the signature
/// (the signed part: a cached signature completes it again).
pub fn unsigned_com(
    network_id: NetworkId,
    member: &Identity,
    timestamp: u64,
    window: u64,
    signer: Address,
) -> Com {
    let hash = member.public_key_hash();
    let mut qualifiers = heapless::Vec::new();
    let mut push = |id, value, max_delta| {
        // unwrap safety: 7 qualifiers fit in MAX_COM_QUALIFIERS (8).
        let _ = qualifiers.push(Qualifier {
            id,
            value,
            max_delta,
        });
    };
    push(qualifier::TIMESTAMP, timestamp, window);
    push(qualifier::NETWORK_ID, network_id.0, 0);
    push(qualifier::ISSUED_TO, member.address().to_u64(), u64::MAX);
    for (i, chunk) in hash[..32].chunks_exact(8).enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        push(
            qualifier::PUBLIC_KEY_HASH_0 + i as u64,
            u64::from_be_bytes(w),
            u64::MAX,
        );
    }
    Com {
        qualifiers,
        signed_by: signer,
        signature: None,
    }
}

fn inet(ip: IpAddr, port: u16) -> InetAddress {
    match ip {
        IpAddr::V4(v4) => InetAddress::V4(v4, port),
        IpAddr::V6(v6) => InetAddress::V6(v6, port),
    }
}

fn blob(len: usize, emit: impl FnOnce(&mut Writer<'_>) -> Result<()>) -> Result<Vec<u8>> {
    crate::wire::codec::to_vec(len, emit)
}

/// Renders the configuration dictionary for `member` at `timestamp` with `com`.
pub fn build_dictionary(
    input: &ConfigInput<'_>,
    member: &Identity,
    timestamp: u64,
    com: &Com,
) -> Result<Vec<u8>> {
    let common = common_dictionary(input)?;
    let none = MemberCredentials::default();
    member_dictionary(&common, member, timestamp, com, input.static_ips, &none)
}

/// Completes a network's common entries ([`common_dictionary`]) with the member's own: the
/// timestamp, its address, its COM, its addresses and its capabilities and tags. Entry order
/// does not matter to readers.
pub fn member_dictionary(
    common: &[u8],
    member: &Identity,
    timestamp: u64,
    com: &Com,
    static_ips: &[(IpAddr, u8)],
    credentials: &MemberCredentials,
) -> Result<Vec<u8>> {
    let mut d = DictWriter::with_entries(common, MAX_NETCONF_DICT_LEN)?;
    if !credentials.cap_blob.is_empty() {
        d.add_bytes("CAP", &credentials.cap_blob)?;
    }
    if !credentials.tag_blob.is_empty() {
        d.add_bytes("TAG", &credentials.tag_blob)?;
    }
    d.add_u64("ts", timestamp)?;
    d.add_str("id", &member.address().to_string())?;
    let com_bytes = blob(com.buffer_len(), |w| com.emit(w))?;
    d.add_bytes("C", &com_bytes)?;
    let ips: Vec<InetAddress> = static_ips
        .iter()
        .take(MAX_STATIC_IPS)
        .map(|(ip, bits)| inet(*ip, u16::from(*bits)))
        .collect();
    if !ips.is_empty() {
        let len = ips.iter().map(InetAddress::buffer_len).sum();
        let bytes = blob(len, |w| ips.iter().try_for_each(|a| a.emit(w)))?;
        d.add_bytes("I", &bytes)?;
    }
    Ok(d.into_bytes())
}

/// The entries every member of the network gets alike: all but `ts`, `id`, `C` and `I`
/// (rendered once per network and kept by the cache).
pub fn common_dictionary(input: &ConfigInput<'_>) -> Result<Vec<u8>> {
    let mut d = DictWriter::new(MAX_NETCONF_DICT_LEN);
    d.add_u64("v", NETCONF_VERSION)?;
    d.add_u64("nwid", input.network_id.0)?;
    d.add_u64("ctmd", input.credential_window)?;
    d.add_u64("r", input.revision)?;
    d.add_str("tt", "0000000000")?;
    d.add_u64("tl", 0)?;
    d.add_u64("f", input.flags)?;
    d.add_u64("ml", input.multicast_limit)?;
    d.add_u64("t", u64::from(!input.private))?;
    let name: String = input.name.chars().take(127).collect();
    d.add_str("n", &name)?;
    d.add_u64("mtu", input.mtu)?;
    if !input.specialists.is_empty() {
        let bytes: Vec<u8> = input
            .specialists
            .iter()
            .flat_map(|s| s.to_be_bytes())
            .collect();
        d.add_bytes("S", &bytes)?;
    }
    let routes: Vec<(InetAddress, InetAddress)> = input
        .routes
        .iter()
        .take(MAX_ROUTES)
        .map(|r| {
            (
                inet(r.target.0, u16::from(r.target.1)),
                r.via.map_or(InetAddress::Nil, |v| inet(v, 0)),
            )
        })
        .collect();
    if !routes.is_empty() {
        let len = routes
            .iter()
            .map(|(t, v)| t.buffer_len() + v.buffer_len() + 4)
            .sum();
        let bytes = blob(len, |w| {
            for (t, v) in &routes {
                t.emit(w)?;
                v.emit(w)?;
                w.u16(0)?;
                w.u16(0)?;
            }
            Ok(())
        })?;
        d.add_bytes("RT", &bytes)?;
    }
    let rules = blob(rules_len(input.rules), |w| emit_rules(input.rules, w))?;
    d.add_bytes("R", &rules)?;
    if let Some(dns) = input.dns {
        let mut bytes = vec![0u8; 128];
        let domain = dns.domain.as_bytes();
        let n = domain.len().min(127);
        bytes[..n].copy_from_slice(&domain[..n]);
        for i in 0..4 {
            let a = dns
                .servers
                .get(i)
                .map_or(InetAddress::Nil, |ip| inet(*ip, 0));
            let start = bytes.len();
            bytes.resize(start + a.buffer_len(), 0);
            a.emit(&mut Writer::new(&mut bytes[start..]))?;
        }
        d.add_bytes("DNS", &bytes)?;
    }
    d.add_bool("ssoe", false)?;
    d.add_u64("ssov", 0)?;
    Ok(d.into_bytes())
}

/// A signed revocation of `target`'s COMs issued up to `threshold` (ms), as the payload of a
/// NETWORK_CREDENTIALS packet for the network's other members.
pub fn revoke_com(
    network_id: NetworkId,
    target: Address,
    threshold: u64,
    controller: &IdentitySecret,
) -> Vec<u8> {
    use crate::wire::revocation::{
        FLAG_FAST_PROPAGATE, Revocation, credential, credentials_with_revocation,
    };
    let mut rev = Revocation {
        id: (threshold as u32) ^ (target.to_u64() as u32),
        network_id,
        credential_id: 0,
        threshold,
        flags: FLAG_FAST_PROPAGATE,
        target,
        signed_by: controller.address(),
        credential_type: credential::COM,
        signature: [0; 96],
    };
    rev.signature = controller.sign(&rev.signing_message());
    // unwrap safety: the payload has a fixed size that `credentials_with_revocation` allocates.
    credentials_with_revocation(&rev).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::dictionary::Dictionary;
    use crate::wire::rules::parse_rules;

    #[test]
    fn dictionary_carries_every_field() {
        let mut scratch = crate::crypto::hashcash::Scratch::new();
        let mut rng = crate::crypto::SeededEntropy::new(5);
        let controller = IdentitySecret::generate(&mut rng, &mut scratch);
        let member = IdentitySecret::generate(&mut rng, &mut scratch);
        let nwid = NetworkId((controller.address().to_u64() << 24) | 1);
        let routes = [RouteEntry {
            target: ("10.147.17.0".parse().unwrap(), 24),
            via: None,
        }];
        let ips = [("10.147.17.5".parse().unwrap(), 24)];
        let dns = DnsConfig {
            domain: "home.arpa".into(),
            servers: vec!["10.147.17.1".parse().unwrap()],
        };
        let input = ConfigInput {
            network_id: nwid,
            revision: 3,
            name: "office",
            private: true,
            flags: FLAG_ENABLE_BROADCAST,
            multicast_limit: 32,
            mtu: 2800,
            credential_window: DEFAULT_CREDENTIAL_WINDOW_MS,
            routes: &routes,
            static_ips: &ips,
            rules: &[Rule::ACCEPT],
            dns: Some(&dns),
            specialists: &[],
        };
        let com = issue_com(
            nwid,
            member.identity(),
            1000,
            DEFAULT_CREDENTIAL_WINDOW_MS,
            &controller,
        );
        assert!(
            controller
                .identity()
                .verify(&com.signing_message(), &com.signature.unwrap())
        );
        let bytes = build_dictionary(&input, member.identity(), 1000, &com).unwrap();
        let d = Dictionary::new(&bytes, MAX_NETCONF_DICT_LEN).unwrap();
        assert_eq!(d.u64("v"), Some(7));
        assert_eq!(d.u64("nwid"), Some(nwid.0));
        assert_eq!(d.u64("id"), Some(member.address().to_u64()));
        assert_eq!(d.u64("t"), Some(0));
        assert_eq!(d.string("n").as_deref(), Some("office"));
        assert_eq!(
            parse_rules(&d.bytes("R").unwrap()).unwrap(),
            vec![Rule::ACCEPT]
        );
        assert_eq!(d.bytes("I").unwrap(), vec![4, 10, 147, 17, 5, 0, 24]);
        assert_eq!(
            d.bytes("RT").unwrap(),
            vec![4, 10, 147, 17, 0, 0, 24, 0, 0, 0, 0, 0]
        );
        let c = Com::parse(&mut crate::wire::Reader::new(&d.bytes("C").unwrap())).unwrap();
        assert_eq!(c, com);
        assert_eq!(d.bytes("DNS").unwrap().len(), 128 + 7 + 3);
    }
}
