//! The 28-byte packet header (ZeroTier `Packet`), the verb codes, and LZ4 payload handling.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | packet ID (Salsa20 nonce) |
//! | 8 | 5 | destination address |
//! | 13 | 5 | source address |
//! | 18 | 1 | flags: 0x80 legacy encrypted, 0x40 fragmented, bits 3..6 cipher, bits 0..3 hops |
//! | 19 | 8 | MAC |
//! | 27 | 1 | verb (low 5 bits) and 0x80 = payload LZ4-compressed |
//! | 28 | … | payload |

use super::{Address, Error, Result};
use crate::limits::MAX_PACKET_LEN;

/// Length of the header including the verb byte.
pub const HEADER_LEN: usize = 28;
/// Offset of the flags byte.
pub const FLAGS_OFFSET: usize = 18;
/// Offset of the verb byte.
pub const VERB_OFFSET: usize = 27;
/// Flags bit: the packet continues in fragments.
pub const FLAG_FRAGMENTED: u8 = 0x40;
/// Verb bit: the payload is LZ4-compressed.
pub const VERB_FLAG_COMPRESSED: u8 = 0x80;
/// Mask of the verb code in the verb byte.
pub const VERB_MASK: u8 = 0x1f;
/// Largest hop count; packets at it are not relayed further (`ZT_RELAY_MAX_HOPS`).
pub const MAX_HOPS: u8 = 3;

/// ZeroTier verbs, in protocol order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Verb {
    /// No operation.
    Nop = 0x00,
    /// Announce identity and open a session.
    Hello = 0x01,
    /// Error response.
    Error = 0x02,
    /// Success response.
    Ok = 0x03,
    /// Ask for identities by address.
    Whois = 0x04,
    /// Introduce two peers (root → peer).
    Rendezvous = 0x05,
    /// Ethernet frame.
    Frame = 0x06,
    /// Extended Ethernet frame.
    ExtFrame = 0x07,
    /// Echo request (keepalive).
    Echo = 0x08,
    /// Subscribe to multicast groups.
    MulticastLike = 0x09,
    /// Push credentials (COMs, tags, capabilities, revocations).
    NetworkCredentials = 0x0a,
    /// Ask a controller for a network configuration.
    NetworkConfigRequest = 0x0b,
    /// Controller pushes a configuration.
    NetworkConfig = 0x0c,
    /// Ask for members of a multicast group.
    MulticastGather = 0x0d,
    /// Multicast frame.
    MulticastFrame = 0x0e,
    /// Announce physical paths.
    PushDirectPaths = 0x10,
    /// Deprecated verb 0x11.
    Deprecated11 = 0x11,
    /// Path ACK.
    Ack = 0x12,
    /// Path quality measurement.
    QosMeasurement = 0x13,
    /// Application message.
    UserMessage = 0x14,
    /// Remote trace report.
    RemoteTrace = 0x15,
    /// Path negotiation.
    PathNegotiationRequest = 0x16,
}

impl TryFrom<u8> for Verb {
    type Error = Error;

    fn try_from(v: u8) -> Result<Self> {
        Ok(match v & VERB_MASK {
            0x00 => Self::Nop,
            0x01 => Self::Hello,
            0x02 => Self::Error,
            0x03 => Self::Ok,
            0x04 => Self::Whois,
            0x05 => Self::Rendezvous,
            0x06 => Self::Frame,
            0x07 => Self::ExtFrame,
            0x08 => Self::Echo,
            0x09 => Self::MulticastLike,
            0x0a => Self::NetworkCredentials,
            0x0b => Self::NetworkConfigRequest,
            0x0c => Self::NetworkConfig,
            0x0d => Self::MulticastGather,
            0x0e => Self::MulticastFrame,
            0x10 => Self::PushDirectPaths,
            0x11 => Self::Deprecated11,
            0x12 => Self::Ack,
            0x13 => Self::QosMeasurement,
            0x14 => Self::UserMessage,
            0x15 => Self::RemoteTrace,
            0x16 => Self::PathNegotiationRequest,
            other => return Err(Error::UnknownVerb(other)),
        })
    }
}

/// A zero-copy view of a packet. Construct with [`Packet::new_checked`]; after that no
/// accessor panics.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer of at least [`HEADER_LEN`] and at most `MAX_PACKET_LEN` bytes.
    pub fn new_checked(buf: T) -> Result<Self> {
        let len = buf.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if len > MAX_PACKET_LEN {
            return Err(Error::BadLength);
        }
        Ok(Self { buf })
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buf
    }

    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }

    /// Packet ID, also the Salsa20 nonce; replies name the request by it.
    pub fn packet_id(&self) -> u64 {
        let mut id = [0u8; 8];
        id.copy_from_slice(&self.b()[..8]);
        u64::from_be_bytes(id)
    }

    /// Destination address.
    pub fn destination(&self) -> Address {
        Address::from_bytes(self.b()[8..13].try_into().unwrap_or(&[0; 5]))
    }

    /// Source address.
    pub fn source(&self) -> Address {
        Address::from_bytes(self.b()[13..18].try_into().unwrap_or(&[0; 5]))
    }

    /// The flags byte.
    pub fn flags(&self) -> u8 {
        self.b()[FLAGS_OFFSET]
    }

    /// Hop count.
    pub fn hops(&self) -> u8 {
        self.flags() & 0x07
    }

    /// Cipher suite number.
    pub fn cipher(&self) -> u8 {
        (self.flags() >> 3) & 0x07
    }

    /// Whether fragments follow.
    pub fn is_fragmented(&self) -> bool {
        self.flags() & FLAG_FRAGMENTED != 0
    }

    /// The raw verb byte (encrypted until dearmored).
    pub fn verb_byte(&self) -> u8 {
        self.b()[VERB_OFFSET]
    }

    /// The verb (meaningful only after dearmor).
    pub fn verb(&self) -> Result<Verb> {
        Verb::try_from(self.verb_byte())
    }

    /// Whether the payload is LZ4-compressed (meaningful only after dearmor).
    pub fn is_compressed(&self) -> bool {
        self.verb_byte() & VERB_FLAG_COMPRESSED != 0
    }

    /// The payload after the verb byte.
    pub fn payload(&self) -> &[u8] {
        &self.b()[HEADER_LEN..]
    }

    /// The whole packet.
    pub fn as_bytes(&self) -> &[u8] {
        self.b()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn m(&mut self) -> &mut [u8] {
        self.buf.as_mut()
    }

    /// Sets the hop count, keeping the other flag bits.
    pub fn set_hops(&mut self, hops: u8) {
        let f = &mut self.m()[FLAGS_OFFSET];
        *f = (*f & 0xf8) | (hops & 0x07);
    }

    /// Sets or clears the fragmented flag.
    pub fn set_fragmented(&mut self, on: bool) {
        let f = &mut self.m()[FLAGS_OFFSET];
        *f = if on {
            *f | FLAG_FRAGMENTED
        } else {
            *f & !FLAG_FRAGMENTED
        };
    }
}

/// The header fields a sender chooses (flags and MAC are set by armor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Packet ID: random, never repeated under one key.
    pub packet_id: u64,
    /// Destination address.
    pub destination: Address,
    /// Source address.
    pub source: Address,
    /// Verb.
    pub verb: Verb,
}

impl Header {
    /// Writes the header into `buf[..HEADER_LEN]` with flags and MAC zeroed.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let h = buf.get_mut(..HEADER_LEN).ok_or(Error::Truncated)?;
        h[..8].copy_from_slice(&self.packet_id.to_be_bytes());
        h[8..13].copy_from_slice(&self.destination.to_bytes());
        h[13..18].copy_from_slice(&self.source.to_bytes());
        h[18..27].fill(0);
        h[27] = self.verb as u8;
        Ok(())
    }

    /// Reads the header of a dearmored packet.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self> {
        Ok(Self {
            packet_id: p.packet_id(),
            destination: p.destination(),
            source: p.source(),
            verb: p.verb()?,
        })
    }
}

/// Decompresses the LZ4 raw-block payload of a dearmored packet into `out` and returns the
/// decompressed payload length. Fails on corrupt data or if it would exceed `out` or
/// `MAX_PACKET_LEN − HEADER_LEN`.
pub fn decompress_payload(compressed: &[u8], out: &mut [u8]) -> Result<usize> {
    let cap = out.len().min(MAX_PACKET_LEN - HEADER_LEN);
    lz4_flex::block::decompress_into(compressed, &mut out[..cap])
        .map_err(|_| Error::Malformed("LZ4 payload"))
}

/// Compresses `payload` as an LZ4 raw block into `out`, returning the compressed length, or
/// `None` if compression would not shrink it (then send it uncompressed).
pub fn compress_payload(payload: &[u8], out: &mut [u8]) -> Option<usize> {
    match lz4_flex::block::compress_into(payload, out) {
        Ok(n) if n < payload.len() => Some(n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = Header {
            packet_id: 0x0102_0304_0506_0708,
            destination: Address::new(0x11_2233_4455),
            source: Address::new(0x66_7788_99aa),
            verb: Verb::Echo,
        };
        let mut buf = [0xffu8; 30];
        h.emit(&mut buf).unwrap();
        let mut p = Packet::new_checked(&mut buf[..]).unwrap();
        assert_eq!(Header::parse(&p), Ok(h));
        assert_eq!(p.hops(), 0);
        p.set_hops(2);
        p.set_fragmented(true);
        assert_eq!((p.hops(), p.is_fragmented(), p.cipher()), (2, true, 0));
        assert_eq!(p.payload(), &[0xff, 0xff]);
        assert!(Packet::new_checked(&buf[..27]).is_err());
        assert!(Packet::new_checked(&[0u8; MAX_PACKET_LEN + 1][..]).is_err());
    }

    #[test]
    fn verbs() {
        assert_eq!(Verb::try_from(0x8b), Ok(Verb::NetworkConfigRequest));
        assert_eq!(Verb::try_from(0x0f), Err(Error::UnknownVerb(0x0f)));
        for v in 0..=0x16u8 {
            if let Ok(verb) = Verb::try_from(v) {
                assert_eq!(verb as u8, v);
            }
        }
    }

    #[test]
    fn lz4_round_trip_and_garbage() {
        let payload: Vec<u8> = (0..600).map(|i| (i % 7) as u8).collect();
        let mut c = [0u8; 1200];
        let n = compress_payload(&payload, &mut c).unwrap();
        let mut d = [0u8; 2000];
        let m = decompress_payload(&c[..n], &mut d).unwrap();
        assert_eq!(&d[..m], &payload[..]);
        assert!(decompress_payload(&[0xff, 0xff, 0xff], &mut d).is_err());
        assert!(compress_payload(&[1, 2, 3], &mut c).is_none());
    }
}
