//! HELLO and OK(HELLO) (ZeroTier `Peer::sendHELLO`, `IncomingPacket::_doHELLO`).
//!
//! HELLO payload: u8 protocol, u8 major, u8 minor, u16 revision, u64 timestamp, identity,
//! then optionally: InetAddress the packet was sent to, u64 planet ID, u64 planet timestamp, and
//! the *encrypted* tail: u16 moon count, per moon u8 type, u64 ID, u64 timestamp.

use heapless::Vec as HVec;

use crate::wire::{Error, IdentityRepr, InetAddress, Reader, Result, Writer};

/// Most moons a HELLO may list that ztcd reads (more is refused as malformed).
pub const MAX_HELLO_MOONS: usize = 8;

/// A World a peer holds, by ID and timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorldRef {
    /// World type (127 for moons).
    pub kind: u8,
    /// World ID.
    pub id: u64,
    /// Timestamp of the copy held (0 = "please send it").
    pub timestamp: u64,
}

/// A HELLO packet's payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelloRepr {
    /// Protocol version of the sender.
    pub protocol_version: u8,
    /// Software major version.
    pub major: u8,
    /// Software minor version.
    pub minor: u8,
    /// Software revision.
    pub revision: u16,
    /// Sender's clock (echoed back in OK).
    pub timestamp: u64,
    /// Sender's identity.
    pub identity: IdentityRepr,
    /// The physical address the sender sent this packet to, if given.
    pub destination: Option<InetAddress>,
    /// The planet the sender holds (ID, timestamp), if given.
    pub planet: Option<(u64, u64)>,
    /// The moons the sender holds (from the encrypted tail).
    pub moons: HVec<WorldRef, MAX_HELLO_MOONS>,
}

impl HelloRepr {
    /// Offset within the payload where the encrypted tail begins, or `None` if the payload
    /// ends before it. Call on the payload before decrypting the tail.
    pub fn tail_offset(payload: &[u8]) -> Result<Option<usize>> {
        let mut r = Reader::new(payload);
        r.bytes(13)?;
        IdentityRepr::parse(&mut r)?;
        if r.is_empty() {
            return Ok(None);
        }
        InetAddress::parse(&mut r)?;
        if r.remaining() < 16 {
            return Ok(None);
        }
        r.bytes(16)?;
        Ok((!r.is_empty()).then_some(r.position()))
    }

    /// Parses a payload whose tail (if any) has been decrypted already.
    pub fn parse(payload: &[u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        let mut hello = Self {
            protocol_version: r.u8()?,
            major: r.u8()?,
            minor: r.u8()?,
            revision: r.u16()?,
            timestamp: r.u64()?,
            identity: IdentityRepr::parse(&mut r)?,
            destination: None,
            planet: None,
            moons: HVec::new(),
        };
        if r.is_empty() {
            return Ok(hello);
        }
        hello.destination = Some(InetAddress::parse(&mut r)?);
        if r.remaining() < 16 {
            return Ok(hello);
        }
        hello.planet = Some((r.u64()?, r.u64()?));
        if r.is_empty() {
            return Ok(hello);
        }
        for _ in 0..r.u16()? {
            let moon = WorldRef {
                kind: r.u8()?,
                id: r.u64()?,
                timestamp: r.u64()?,
            };
            hello.moons.push(moon).map_err(|_| Error::BadLength)?;
        }
        // Newer senders may append fields; ignore them.
        Ok(hello)
    }

    /// Offset within the payload where `emit` puts the encrypted tail, if it writes one.
    pub fn emitted_tail_offset(&self) -> Option<usize> {
        let dest = self.destination?;
        self.planet?;
        Some(13 + self.identity.buffer_len() + dest.buffer_len() + 16)
    }

    /// Bytes `emit` writes.
    pub fn buffer_len(&self) -> usize {
        match self.emitted_tail_offset() {
            Some(off) => off + 2 + self.moons.len() * 17,
            None => {
                13 + self.identity.buffer_len() + self.destination.map_or(0, |d| d.buffer_len())
            }
        }
    }

    /// Writes the payload with the tail in the clear (the sender then encrypts it).
    pub fn emit(&self, w: &mut Writer<'_>) -> Result<()> {
        w.u8(self.protocol_version)?;
        w.u8(self.major)?;
        w.u8(self.minor)?;
        w.u16(self.revision)?;
        w.u64(self.timestamp)?;
        self.identity.emit(w)?;
        let Some(dest) = self.destination else {
            return Ok(());
        };
        dest.emit(w)?;
        let Some((id, ts)) = self.planet else {
            return Ok(());
        };
        w.u64(id)?;
        w.u64(ts)?;
        w.u16(self.moons.len() as u16)?;
        for m in &self.moons {
            w.u8(m.kind)?;
            w.u64(m.id)?;
            w.u64(m.timestamp)?;
        }
        Ok(())
    }
}

/// The body of OK(HELLO), after the OK header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OkHelloRepr<'a> {
    /// The HELLO's timestamp, echoed.
    pub timestamp: u64,
    /// Responder's protocol version.
    pub protocol_version: u8,
    /// Responder's software major version.
    pub major: u8,
    /// Responder's software minor version.
    pub minor: u8,
    /// Responder's software revision.
    pub revision: u16,
    /// The address the HELLO was seen coming from.
    pub observed: InetAddress,
    /// Serialized World updates, concatenated (may be empty).
    pub worlds: &'a [u8],
}

impl<'a> OkHelloRepr<'a> {
    /// Parses the body (fields after `observed` are optional for old senders).
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let mut ok = Self {
            timestamp: r.u64()?,
            protocol_version: r.u8()?,
            major: r.u8()?,
            minor: r.u8()?,
            revision: r.u16()?,
            observed: InetAddress::Nil,
            worlds: &[],
        };
        if r.is_empty() {
            return Ok(ok);
        }
        ok.observed = InetAddress::parse(&mut r)?;
        if r.remaining() >= 2 {
            let n = r.u16()?;
            ok.worlds = r.bytes(usize::from(n))?;
        }
        Ok(ok)
    }

    /// Bytes `emit` writes.
    pub fn buffer_len(&self) -> usize {
        13 + self.observed.buffer_len() + 2 + self.worlds.len()
    }

    /// Writes the body.
    pub fn emit(&self, w: &mut Writer<'_>) -> Result<()> {
        w.u64(self.timestamp)?;
        w.u8(self.protocol_version)?;
        w.u8(self.major)?;
        w.u8(self.minor)?;
        w.u16(self.revision)?;
        self.observed.emit(w)?;
        let n = u16::try_from(self.worlds.len()).map_err(|_| Error::BadLength)?;
        w.u16(n)?;
        w.bytes(self.worlds)
    }
}
