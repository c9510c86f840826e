//! MULTICAST_LIKE, MULTICAST_GATHER and OK(MULTICAST_GATHER) (ZeroTier `_doMULTICAST_LIKE`,
//! `_doMULTICAST_GATHER`).
//!
//! - LIKE: repeated 18-byte (u64 network ID, 6-byte MAC, u32 ADI) subscriptions.
//! - GATHER: u64 network ID, u8 flags (0x01 = a COM follows), MAC, u32 ADI, u32 limit, [COM].
//! - OK(GATHER): u64 network ID, MAC, u32 ADI, u32 total known, u16 count, count addresses.

use crate::wire::com::Com;
use crate::wire::{Address, Error, Mac, NetworkId, Reader, Result, Writer};

/// A multicast group subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MulticastSub {
    /// Network.
    pub network_id: NetworkId,
    /// Group MAC (ff:…:ff for broadcast and ARP).
    pub mac: Mac,
    /// Additional distinguishing information (the IPv4 address for ARP groups).
    pub adi: u32,
}

impl MulticastSub {
    const LEN: usize = 18;

    fn parse(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Self {
            network_id: NetworkId(r.u64()?),
            mac: Mac::parse(r)?,
            adi: r.u32()?,
        })
    }

    fn emit(&self, w: &mut Writer<'_>) -> Result<()> {
        w.u64(self.network_id.0)?;
        self.mac.emit(w)?;
        w.u32(self.adi)
    }
}

/// A MULTICAST_LIKE payload as a view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LikeRepr<'a> {
    body: &'a [u8],
}

impl<'a> LikeRepr<'a> {
    /// Checks the payload is a whole number of subscriptions.
    pub fn parse(payload: &'a [u8]) -> Result<Self> {
        if !payload.len().is_multiple_of(MulticastSub::LEN) {
            return Err(Error::BadLength);
        }
        Ok(Self { body: payload })
    }

    /// The subscriptions.
    pub fn subscriptions(&self) -> impl Iterator<Item = MulticastSub> + 'a {
        self.body
            .chunks_exact(MulticastSub::LEN)
            .filter_map(|c| MulticastSub::parse(&mut Reader::new(c)).ok())
    }

    /// Writes a LIKE payload.
    pub fn emit(subs: &[MulticastSub], w: &mut Writer<'_>) -> Result<()> {
        subs.iter().try_for_each(|s| s.emit(w))
    }
}

/// A MULTICAST_GATHER payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatherRepr {
    /// The group asked about.
    pub group: MulticastSub,
    /// Flags (0x01 = COM attached).
    pub flags: u8,
    /// Most addresses wanted.
    pub limit: u32,
    /// The sender's certificate of membership, if attached.
    pub com: Option<Com>,
}

impl GatherRepr {
    /// Parses the payload.
    pub fn parse(payload: &[u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        let network_id = NetworkId(r.u64()?);
        let flags = r.u8()?;
        let mac = Mac::parse(&mut r)?;
        let adi = r.u32()?;
        let limit = r.u32()?;
        let com = if flags & 0x01 != 0 {
            Some(Com::parse(&mut r)?)
        } else {
            None
        };
        Ok(Self {
            group: MulticastSub {
                network_id,
                mac,
                adi,
            },
            flags,
            limit,
            com,
        })
    }

    /// Bytes `emit` writes.
    pub fn buffer_len(&self) -> usize {
        23 + self.com.as_ref().map_or(0, Com::buffer_len)
    }

    /// Writes the payload.
    pub fn emit(&self, w: &mut Writer<'_>) -> Result<()> {
        w.u64(self.group.network_id.0)?;
        w.u8(self.flags)?;
        self.group.mac.emit(w)?;
        w.u32(self.group.adi)?;
        w.u32(self.limit)?;
        self.com.as_ref().map_or(Ok(()), |c| c.emit(w))
    }
}

/// An OK(MULTICAST_GATHER) body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OkGatherRepr<'a> {
    /// The group answered about.
    pub group: MulticastSub,
    /// How many members the responder knows in total.
    pub total: u32,
    addresses: &'a [u8],
}

impl<'a> OkGatherRepr<'a> {
    /// A body listing `addresses` (5 bytes each, already encoded).
    pub fn new(group: MulticastSub, total: u32, addresses: &'a [u8]) -> Result<Self> {
        if !addresses.len().is_multiple_of(Address::LEN) || addresses.len() / Address::LEN > 0xffff
        {
            return Err(Error::BadLength);
        }
        Ok(Self {
            group,
            total,
            addresses,
        })
    }

    /// Parses a body.
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let group = MulticastSub::parse(&mut r)?;
        let total = r.u32()?;
        let count = usize::from(r.u16()?);
        let addresses = r.bytes(count * Address::LEN)?;
        Ok(Self {
            group,
            total,
            addresses,
        })
    }

    /// The addresses listed.
    pub fn addresses(&self) -> impl Iterator<Item = Address> + 'a {
        self.addresses
            .chunks_exact(Address::LEN)
            .map(|c| Address::from_bytes(c.try_into().unwrap_or(&[0; 5])))
    }

    /// Bytes `emit` writes.
    pub fn buffer_len(&self) -> usize {
        24 + self.addresses.len()
    }

    /// Writes the body.
    pub fn emit(&self, w: &mut Writer<'_>) -> Result<()> {
        self.group.emit(w)?;
        w.u32(self.total)?;
        w.u16((self.addresses.len() / Address::LEN) as u16)?;
        w.bytes(self.addresses)
    }
}
