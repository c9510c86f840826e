//! Fragments: how packets longer than one datagram travel (ZeroTier `Packet::Fragment`).
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | packet ID of the head |
//! | 8 | 5 | destination address |
//! | 13 | 1 | 0xff indicator (no real source address starts with it) |
//! | 14 | 1 | total fragments (head included) << 4 ‖ this fragment's number (1..) |
//! | 15 | 1 | hop count (low 3 bits) |
//! | 16 | … | data |
//!
//! The head datagram is the first `mtu` bytes of the armored packet (with the fragmented flag
//! set before armor); the rest is cut into pieces of at most `mtu − 16` bytes.

use super::{Address, Error, Result};
use crate::limits::{MAX_PACKET_FRAGMENTS, MAX_PACKET_LEN};

/// Length of a fragment's header.
pub const HEADER_LEN: usize = 16;
/// Byte 13 of a fragment.
pub const INDICATOR: u8 = 0xff;
/// Offset of the indicator byte.
pub const INDICATOR_OFFSET: usize = 13;

/// Whether a datagram is a fragment rather than a packet head.
pub fn is_fragment(datagram: &[u8]) -> bool {
    datagram.len() > HEADER_LEN && datagram[INDICATOR_OFFSET] == INDICATOR
}

/// A zero-copy view of a fragment datagram.
#[derive(Clone, Copy, Debug)]
pub struct Fragment<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> Fragment<T> {
    /// Wraps a datagram after checking the indicator, the length and the number/total ranges
    /// (1 ≤ number < total ≤ 7).
    pub fn new_checked(buf: T) -> Result<Self> {
        let b = buf.as_ref();
        if b.len() <= HEADER_LEN {
            return Err(Error::Truncated);
        }
        if b[INDICATOR_OFFSET] != INDICATOR {
            return Err(Error::Malformed("fragment indicator"));
        }
        let f = Self { buf };
        let (n, t) = (f.number(), f.total());
        if n == 0 || usize::from(t) > MAX_PACKET_FRAGMENTS || n >= t {
            return Err(Error::Malformed("fragment number"));
        }
        Ok(f)
    }

    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }

    /// Packet ID of the packet this belongs to.
    pub fn packet_id(&self) -> u64 {
        let mut id = [0u8; 8];
        id.copy_from_slice(&self.b()[..8]);
        u64::from_be_bytes(id)
    }

    /// Destination address.
    pub fn destination(&self) -> Address {
        Address::from_bytes(self.b()[8..13].try_into().unwrap_or(&[0; 5]))
    }

    /// Total number of datagrams of the packet, head included.
    pub fn total(&self) -> u8 {
        self.b()[14] >> 4
    }

    /// This fragment's number (1 = the first after the head).
    pub fn number(&self) -> u8 {
        self.b()[14] & 0x0f
    }

    /// Hop count.
    pub fn hops(&self) -> u8 {
        self.b()[15] & 0x07
    }

    /// The data carried.
    pub fn data(&self) -> &[u8] {
        &self.b()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Fragment<T> {
    /// Sets the hop count.
    pub fn set_hops(&mut self, hops: u8) {
        self.buf.as_mut()[15] = hops & 0x07;
    }
}

/// How many datagrams a packet of `len` bytes takes at `mtu`.
pub fn datagram_count(len: usize, mtu: usize) -> usize {
    if len <= mtu {
        1
    } else {
        1 + (len - mtu).div_ceil(mtu - HEADER_LEN)
    }
}

/// Splits an armored packet into datagrams of at most `mtu` bytes, calling `send` with each.
///
/// The packet must already carry the fragmented flag if it needs more than one datagram
/// (the flag is bound into the MAC). Fails if it needs more than `MAX_PACKET_FRAGMENTS`.
pub fn split(packet: &[u8], mtu: usize, mut send: impl FnMut(&[u8])) -> Result<()> {
    if packet.len() > MAX_PACKET_LEN || mtu <= HEADER_LEN + 1 || packet.len() < 18 {
        return Err(Error::BadLength);
    }
    let total = datagram_count(packet.len(), mtu);
    if total > MAX_PACKET_FRAGMENTS {
        return Err(Error::BadLength);
    }
    send(&packet[..packet.len().min(mtu)]);
    let mut buf = [0u8; crate::limits::PHYSICAL_MTU];
    let chunk = (mtu - HEADER_LEN).min(buf.len() - HEADER_LEN);
    if total > 1 && chunk != mtu - HEADER_LEN {
        return Err(Error::BadLength);
    }
    for (i, piece) in packet[mtu.min(packet.len())..].chunks(chunk).enumerate() {
        buf[..8].copy_from_slice(&packet[..8]);
        buf[8..13].copy_from_slice(&packet[8..13]);
        buf[13] = INDICATOR;
        buf[14] = ((total as u8) << 4) | (i as u8 + 1);
        buf[15] = 0;
        buf[HEADER_LEN..HEADER_LEN + piece.len()].copy_from_slice(piece);
        send(&buf[..HEADER_LEN + piece.len()]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_layout() {
        let packet: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        let mut out = Vec::new();
        split(&packet, 1432, |d| out.push(d.to_vec())).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0], packet[..1432]);
        let f1 = Fragment::new_checked(&out[1][..]).unwrap();
        assert_eq!((f1.total(), f1.number(), f1.data().len()), (3, 1, 1416));
        let f2 = Fragment::new_checked(&out[2][..]).unwrap();
        assert_eq!((f2.number(), f2.data().len()), (2, 3000 - 1432 - 1416));
        let mut joined = out[0].clone();
        joined.extend_from_slice(f1.data());
        joined.extend_from_slice(f2.data());
        assert_eq!(joined, packet);
        assert!(split(&vec![0; MAX_PACKET_LEN + 1], 1432, |_| ()).is_err());
        assert!(split(&packet, 100, |_| ()).is_err());
    }

    #[test]
    fn bad_fragments() {
        let mut d = [0u8; 20];
        d[13] = 0xff;
        d[14] = 0x20;
        assert!(Fragment::new_checked(&d[..]).is_err());
        d[14] = 0x22;
        assert!(Fragment::new_checked(&d[..]).is_err());
        d[14] = 0x81;
        assert!(Fragment::new_checked(&d[..]).is_err());
        d[14] = 0x21;
        assert!(Fragment::new_checked(&d[..]).is_ok());
        assert!(Fragment::new_checked(&d[..16]).is_err());
    }
}
