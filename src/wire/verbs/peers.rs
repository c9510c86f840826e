//! WHOIS and its OK, and RENDEZVOUS.
//!
//! - WHOIS: one or more 5-byte addresses. OK(WHOIS): public identities, concatenated.
//! - RENDEZVOUS: u8 flags, 5-byte address of the other peer, u16 port, u8 IP length (4 or 16),
//!   IP bytes.

use std::net::{IpAddr, SocketAddr};

use crate::wire::{Address, Error, IdentityRepr, Reader, Result, Writer};

/// A WHOIS request or an OK(WHOIS) body, as a view over its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WhoisRepr<'a> {
    body: &'a [u8],
}

impl<'a> WhoisRepr<'a> {
    /// Checks that a WHOIS request is a non-empty whole number of addresses.
    pub fn parse_request(payload: &'a [u8]) -> Result<Self> {
        if payload.is_empty() || !payload.len().is_multiple_of(Address::LEN) {
            return Err(Error::BadLength);
        }
        Ok(Self { body: payload })
    }

    /// The addresses asked for.
    pub fn addresses(&self) -> impl Iterator<Item = Address> + 'a {
        self.body
            .chunks_exact(Address::LEN)
            .map(|c| Address::from_bytes(c.try_into().unwrap_or(&[0; 5])))
    }

    /// Parses the identities of an OK(WHOIS) body; stops at the first malformed one.
    pub fn parse_identities(body: &[u8]) -> impl Iterator<Item = Result<IdentityRepr>> + '_ {
        let mut r = Reader::new(body);
        core::iter::from_fn(move || (!r.is_empty()).then(|| IdentityRepr::parse(&mut r)))
    }

    /// Writes a WHOIS request for `addresses`.
    pub fn emit_request(addresses: &[Address], w: &mut Writer<'_>) -> Result<()> {
        addresses.iter().try_for_each(|a| a.emit(w))
    }
}

/// A RENDEZVOUS payload: "reach `with` at `at`".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RendezvousRepr {
    /// Flags (0).
    pub flags: u8,
    /// The other peer.
    pub with: Address,
    /// Its physical address.
    pub at: SocketAddr,
}

impl RendezvousRepr {
    /// Parses the payload.
    pub fn parse(payload: &[u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        let flags = r.u8()?;
        let with = Address::parse(&mut r)?;
        let port = r.u16()?;
        let ip = match r.u8()? {
            4 => IpAddr::from(r.array::<4>()?),
            16 => IpAddr::from(r.array::<16>()?),
            _ => return Err(Error::Malformed("rendezvous address length")),
        };
        Ok(Self {
            flags,
            with,
            at: SocketAddr::new(ip, port),
        })
    }

    /// Bytes `emit` writes.
    pub fn buffer_len(&self) -> usize {
        9 + if self.at.is_ipv4() { 4 } else { 16 }
    }

    /// Writes the payload.
    pub fn emit(&self, w: &mut Writer<'_>) -> Result<()> {
        w.u8(self.flags)?;
        self.with.emit(w)?;
        w.u16(self.at.port())?;
        match self.at.ip() {
            IpAddr::V4(v4) => {
                w.u8(4)?;
                w.bytes(&v4.octets())
            }
            IpAddr::V6(v6) => {
                w.u8(16)?;
                w.bytes(&v6.octets())
            }
        }
    }
}
