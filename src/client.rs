//! The client side of the protocol, minimal: build HELLOs and armored packets as ZeroTier
//! clients do, and open what comes back. Used by the load generator, the benchmarks and the
//! tests to speak to a root or controller over the real wire format.

use crate::crypto::SymmetricKey;
use crate::crypto::armor::{self, Cipher};
use crate::identity::{Identity, IdentitySecret};
use crate::wire::fragment;
use crate::wire::packet::{FLAG_FRAGMENTED, FLAGS_OFFSET, HEADER_LEN, VERB_FLAG_COMPRESSED};
use crate::wire::verbs::HelloRepr;
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
        }
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
            protocol_version: 12,
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
        armor::armor(&mut p, &self.key, Cipher::Poly1305None)
            .map_err(|_| crate::wire::Error::Truncated)?;
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
