//! The client side of the protocol, minimal: build HELLOs and armored packets as ZeroTier
//! clients do, and open what comes back. Used by the load generator, the benchmarks and the
//! tests to speak to a root or controller over the real wire format.

use crate::crypto::SymmetricKey;
use crate::crypto::armor::{self, Cipher};
use crate::crypto::extended;
use crate::identity::{Identity, IdentitySecret};
use crate::wire::fragment;
use crate::wire::packet::{FLAG_FRAGMENTED, FLAGS_OFFSET, HEADER_LEN, VERB_FLAG_COMPRESSED};
use crate::wire::verbs::{HelloRepr, OkHeader, OkHelloRepr};
use crate::wire::{Header, InetAddress, PacketView, Result, Verb, Writer};

/// Largest datagram the client sends.
pub const MTU: usize = crate::limits::PHYSICAL_MTU;

/// A client identity talking to one remote node (root or controller).
#[derive(Debug, Clone)]
pub struct ClientSession {
    identity: IdentitySecret,
    remote: Identity,
    key: SymmetricKey,
    next_id: u64,
    protocol: u8,
}

impl ClientSession {
    /// A session of `identity` with `remote` (computes the shared key once).
    pub fn new(identity: IdentitySecret, remote: Identity, first_packet_id: u64) -> Self {
        let key = identity.agree(&remote);
        Self {
            identity,
            remote,
            key,
            next_id: first_packet_id,
            protocol: 12,
        }
    }

    /// The protocol version HELLOs announce (12 unless set). From 13 on, HELLOs carry
    /// extended armor as protocol-13 clients send them; the ephemeral key is derived from the
    /// packet ID and timestamp (a test and load tool needs no secrecy, only the format).
    pub fn set_protocol(&mut self, version: u8) {
        self.protocol = version;
    }

    /// Our identity.
    pub fn identity(&self) -> &IdentitySecret {
        &self.identity
    }

    /// The remote node's identity.
    pub fn remote(&self) -> &Identity {
        &self.remote
    }

    fn packet_id(&mut self) -> u64 {
        self.next_id = self.next_id.wrapping_add(0x100);
        self.next_id
    }

    /// A HELLO (cipher 0 with encrypted tail) announcing `planet` (ID, timestamp) and saying
    /// it was sent to `sent_to`. Returns its packet ID and the datagram.
    pub fn hello(
        &mut self,
        timestamp: u64,
        sent_to: InetAddress,
        planet: (u64, u64),
    ) -> Result<(u64, Vec<u8>)> {
        let hello = HelloRepr {
            protocol_version: self.protocol,
            major: 1,
            minor: 8,
            revision: 4,
            timestamp,
            identity: self.identity.identity().to_repr(),
            destination: Some(sent_to),
            planet: Some(planet),
            moons: heapless::Vec::new(),
        };
        let id = self.packet_id();
        let mut p = vec![0u8; HEADER_LEN + hello.buffer_len()];
        self.header(id, Verb::Hello).emit(&mut p)?;
        hello.emit(&mut Writer::new(&mut p[HEADER_LEN..]))?;
        if let Some(off) = hello.emitted_tail_offset() {
            armor::crypt_field(&self.key, id.to_be_bytes(), &mut p[HEADER_LEN + off..]);
        }
        if self.protocol >= 13 {
            armor::armor_extended(&mut p, &self.key).map_err(|_| crate::wire::Error::Truncated)?;
            let mut entropy = crate::crypto::SeededEntropy::new(id ^ timestamp);
            extended::add(&mut p, self.remote.public_key(), &mut entropy);
        } else {
            armor::armor(&mut p, &self.key, Cipher::Poly1305None)
                .map_err(|_| crate::wire::Error::Truncated)?;
        }
        Ok((id, p))
    }

    fn header(&self, packet_id: u64, verb: Verb) -> Header {
        Header {
            packet_id,
            destination: self.remote.address(),
            source: self.identity.address(),
            verb,
        }
    }

    /// A cipher-1 packet to the remote node, LZ4-compressed when that helps and `compress` is
    /// set (as clients send configuration requests), split into datagrams.
    pub fn packet(
        &mut self,
        verb: Verb,
        payload: &[u8],
        compress: bool,
    ) -> Result<(u64, Vec<Vec<u8>>)> {
        let id = self.packet_id();
        let mut p = vec![0u8; HEADER_LEN + payload.len()];
        self.header(id, verb).emit(&mut p)?;
        let mut body = payload;
        let mut compressed = vec![0u8; payload.len() + 64];
        if let Some(n) = compress
            .then(|| crate::wire::packet::compress_payload(payload, &mut compressed))
            .flatten()
        {
            body = &compressed[..n];
            p[27] |= VERB_FLAG_COMPRESSED;
        }
        p.truncate(HEADER_LEN);
        p.extend_from_slice(body);
        if p.len() > MTU {
            p[FLAGS_OFFSET] |= FLAG_FRAGMENTED;
        }
        armor::armor(&mut p, &self.key, Cipher::Salsa2012Poly1305)
            .map_err(|_| crate::wire::Error::Truncated)?;
        let mut out = Vec::new();
        fragment::split(&p, MTU, |d| out.push(d.to_vec()))?;
        Ok((id, out))
    }

    /// The OK(ECHO) a client sends back for an ECHO it received (`echo` and `payload` as
    /// [`ClientSession::open`] gave them): how a root's probe of a new path is answered.
    pub fn answer_echo(&mut self, echo: &Header, payload: &[u8]) -> Result<Vec<Vec<u8>>> {
        let mut ok = vec![0u8; OkHeader::LEN];
        let in_re = OkHeader {
            in_re_verb: Verb::Echo,
            in_re_packet_id: echo.packet_id,
        };
        in_re.emit(&mut Writer::new(&mut ok))?;
        ok.extend_from_slice(payload);
        Ok(self.packet(Verb::Ok, &ok, false)?.1)
    }

    /// The OK(HELLO) a node sends back for a HELLO it received from the remote node (`hello`
    /// and `payload` as [`ClientSession::open`] gave them), saying it saw it come from
    /// `observed`: zerotier-one sends a new path nothing else until its HELLO there was
    /// answered.
    pub fn answer_hello(
        &mut self,
        hello: &Header,
        payload: &[u8],
        observed: InetAddress,
    ) -> Result<Vec<Vec<u8>>> {
        // Protocol version, major, minor, revision (5 bytes), then the timestamp to echo.
        let mut r = crate::wire::Reader::new(payload);
        r.bytes(5)?;
        let ok = OkHelloRepr {
            timestamp: r.u64()?,
            protocol_version: self.protocol,
            major: 1,
            minor: 8,
            revision: 4,
            observed,
            worlds: &[],
        };
        let mut body = vec![0u8; OkHeader::LEN + ok.buffer_len()];
        let in_re = OkHeader {
            in_re_verb: Verb::Hello,
            in_re_packet_id: hello.packet_id,
        };
        in_re.emit(&mut Writer::new(&mut body[..OkHeader::LEN]))?;
        ok.emit(&mut Writer::new(&mut body[OkHeader::LEN..]))?;
        Ok(self.packet(Verb::Ok, &body, false)?.1)
    }

    /// Authenticates and decrypts a whole packet from the remote node; returns its header and
    /// (decompressed) payload.
    pub fn open(&self, mut packet: Vec<u8>) -> Option<(Header, Vec<u8>)> {
        armor::dearmor(&mut packet, &self.key).ok()?;
        let view = PacketView::new_checked(&packet[..]).ok()?;
        let header = Header::parse(&view).ok()?;
        if !view.is_compressed() {
            return Some((header, view.payload().to_vec()));
        }
        let mut out = vec![0u8; crate::limits::MAX_PACKET_LEN];
        let n = crate::wire::packet::decompress_payload(view.payload(), &mut out).ok()?;
        out.truncate(n);
        Some((header, out))
    }
}

/// The metadata dictionary a 1.12 client sends with its configuration requests (versions,
/// rules engine revision, capacity hints).
pub fn request_metadata() -> Vec<u8> {
    let mut d = crate::wire::dictionary::DictWriter::new(crate::limits::MAX_METADATA_DICT_LEN);
    let keys = [
        ("v", 7),
        ("vend", 1),
        ("pv", 12),
        ("majv", 1),
        ("minv", 12),
        ("revv", 2),
        ("revr", 1),
        ("mr", 1024),
        ("mc", 128),
        ("mcr", 64),
        ("mt", 128),
        ("f", 0),
    ];
    for (k, v) in keys {
        // unwrap safety: a dozen short keys fit the metadata bound many times over.
        d.add_u64(k, v).expect("metadata fits");
    }
    d.into_bytes()
}

/// The payload of a NETWORK_CONFIG_REQUEST for `network_id` as a client first sends it:
/// [`request_metadata`], no revision known yet.
pub fn config_request(network_id: crate::wire::NetworkId) -> Vec<u8> {
    let metadata = request_metadata();
    let req = crate::wire::verbs::ConfigRequest {
        network_id,
        metadata: &metadata,
        revision: None,
        timestamp: None,
    };
    let mut payload = vec![0u8; req.buffer_len()];
    // unwrap safety: the buffer is sized by the request itself.
    req.emit(&mut crate::wire::Writer::new(&mut payload))
        .expect("sized by the request");
    payload
}

/// What a client checks and keeps from a configuration dictionary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigSummary {
    /// The network's revision (`r`).
    pub revision: u64,
    /// The network's name (`n`).
    pub name: String,
    /// The member's managed addresses (`I`), as address/prefix text.
    pub ips: Vec<String>,
    /// Whether the network is private (a COM is then required and checked).
    pub private: bool,
}

/// Checks that `dict` is a valid configuration of `network_id` for `member`, issued by
/// `controller`: the version, network and member fields, and for a private network a
/// certificate of membership issued to this member (address and key hash) for this network,
/// signed by the controller. `verified_com` holds the last COM whose signature checked out, so
/// an unchanged COM is not verified again (the signature check costs ~45 µs).
pub fn check_config(
    dict: &[u8],
    network_id: crate::wire::NetworkId,
    member: &Identity,
    controller: &Identity,
    verified_com: &mut Vec<u8>,
) -> std::result::Result<ConfigSummary, String> {
    use crate::wire::com::{Com, qualifier};
    use crate::wire::dictionary::Dictionary;
    let d = Dictionary::new(dict, crate::limits::MAX_NETCONF_DICT_LEN)
        .map_err(|e| format!("dictionary: {e:?}"))?;
    let field = |k: &str| d.u64(k).ok_or_else(|| format!("no {k:?} field"));
    if field("v")? < 6 {
        return Err("netconf version below 6".into());
    }
    if field("nwid")? != network_id.0 {
        return Err(format!("nwid is not {network_id}"));
    }
    if d.string("id").as_deref() != Some(member.address().to_string().as_str()) {
        return Err("issued to another member".into());
    }
    let private = d.u64("t").unwrap_or(0) == 0;
    if private {
        let bytes = d.bytes("C").ok_or("private network without a COM")?;
        let com =
            Com::parse(&mut crate::wire::Reader::new(&bytes)).map_err(|e| format!("COM: {e:?}"))?;
        let hash = member.public_key_hash();
        let key_ok = (0..4).all(|i| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&hash[i * 8..i * 8 + 8]);
            com.value(qualifier::PUBLIC_KEY_HASH_0 + i as u64) == Some(u64::from_be_bytes(w))
        });
        if com.value(qualifier::NETWORK_ID) != Some(network_id.0)
            || com.value(qualifier::ISSUED_TO) != Some(member.address().to_u64())
            || !key_ok
        {
            return Err("COM issued for another member or network".into());
        }
        if com.signed_by != controller.address() {
            return Err("COM not signed by the controller".into());
        }
        if *verified_com != bytes {
            let sig = com.signature.ok_or("unsigned COM")?;
            if !controller.verify(&com.signing_message(), &sig) {
                return Err("COM signature does not verify".into());
            }
            *verified_com = bytes;
        }
    }
    let mut ips = Vec::new();
    if let Some(raw) = d.bytes("I") {
        let mut r = crate::wire::Reader::new(&raw);
        while !r.is_empty() {
            match InetAddress::parse(&mut r).map_err(|e| format!("I: {e:?}"))? {
                InetAddress::V4(ip, bits) => ips.push(format!("{ip}/{bits}")),
                InetAddress::V6(ip, bits) => ips.push(format!("{ip}/{bits}")),
                _ => return Err("I: not an IP address".into()),
            }
        }
    }
    Ok(ConfigSummary {
        revision: field("r")?,
        name: d.string("n").unwrap_or_default(),
        ips,
        private,
    })
}
