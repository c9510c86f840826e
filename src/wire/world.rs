//! World files: planets (type 1) and moons (type 127) (ZeroTier `World::serialize`).
//!
//! u8 type, u64 ID, u64 timestamp, 64-byte key that must sign the next update, 96-byte
//! signature, u8 root count (≤ 4), per root the public identity, u8 endpoint count (≤ 32) and
//! the endpoints; moons end with a u16-length-prefixed dictionary (empty when ztcd writes one).
//! The signed message is `0x7f×8 ‖ the same bytes without the signature ‖ 0xf7×8`.

use heapless::Vec as HVec;

use super::{Error, IdentityRepr, InetAddress, Reader, Result, Writer};
use crate::limits::{MAX_WORLD_ENDPOINTS_PER_ROOT, MAX_WORLD_LEN, MAX_WORLD_ROOTS};

/// The kind of a World.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorldKind {
    /// A planet: the roots every node uses.
    Planet = 1,
    /// A moon: extra roots a node orbits by choice.
    Moon = 127,
}

/// One root: its identity and the physical endpoints clients may reach it at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root {
    /// The root's public identity.
    pub identity: IdentityRepr,
    /// Its stable endpoints.
    pub endpoints: HVec<InetAddress, MAX_WORLD_ENDPOINTS_PER_ROOT>,
}

/// A World as serialized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct World {
    /// Planet or moon.
    pub kind: WorldKind,
    /// World ID (for moons: the seed root's address).
    pub id: u64,
    /// Milliseconds since the epoch; a newer timestamp replaces an older World.
    pub timestamp: u64,
    /// Public key whose signature the *next* update must carry.
    pub update_key: [u8; 64],
    /// Signature by the previous World's update key (or its own, when self-signed).
    pub signature: [u8; 96],
    /// The roots.
    pub roots: HVec<Root, MAX_WORLD_ROOTS>,
}

impl World {
    /// Parses one World from the reader (several may be concatenated).
    pub fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let kind = match r.u8()? {
            1 => WorldKind::Planet,
            127 => WorldKind::Moon,
            _ => return Err(Error::Malformed("world type")),
        };
        let id = r.u64()?;
        let timestamp = r.u64()?;
        let update_key = r.array()?;
        let signature = r.array()?;
        let count = usize::from(r.u8()?);
        if count > MAX_WORLD_ROOTS {
            return Err(Error::BadLength);
        }
        let mut roots = HVec::new();
        for _ in 0..count {
            let identity = IdentityRepr::parse(r)?;
            let n = usize::from(r.u8()?);
            if n > MAX_WORLD_ENDPOINTS_PER_ROOT {
                return Err(Error::BadLength);
            }
            let mut endpoints = HVec::new();
            for _ in 0..n {
                endpoints
                    .push(InetAddress::parse(r)?)
                    .map_err(|_| Error::BadLength)?;
            }
            roots
                .push(Root {
                    identity,
                    endpoints,
                })
                .map_err(|_| Error::BadLength)?;
        }
        if kind == WorldKind::Moon {
            let n = usize::from(r.u16()?);
            r.bytes(n)?;
        }
        Ok(Self {
            kind,
            id,
            timestamp,
            update_key,
            signature,
            roots,
        })
    }

    /// Parses a World that must fill `bytes` exactly (a planet or moon file).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_WORLD_LEN {
            return Err(Error::BadLength);
        }
        let mut r = Reader::new(bytes);
        let w = Self::parse(&mut r)?;
        r.finish()?;
        Ok(w)
    }

    fn body_len(&self) -> usize {
        1 + 8
            + 8
            + 64
            + 1
            + self
                .roots
                .iter()
                .map(|r| {
                    r.identity.buffer_len()
                        + 1
                        + r.endpoints
                            .iter()
                            .map(InetAddress::buffer_len)
                            .sum::<usize>()
                })
                .sum::<usize>()
            + if self.kind == WorldKind::Moon { 2 } else { 0 }
    }

    /// Bytes `emit` writes.
    pub fn buffer_len(&self) -> usize {
        self.body_len() + 96
    }

    fn emit_inner(&self, w: &mut Writer<'_>, for_signing: bool) -> Result<()> {
        if for_signing {
            w.u64(0x7f7f_7f7f_7f7f_7f7f)?;
        }
        w.u8(self.kind as u8)?;
        w.u64(self.id)?;
        w.u64(self.timestamp)?;
        w.bytes(&self.update_key)?;
        if !for_signing {
            w.bytes(&self.signature)?;
        }
        w.u8(self.roots.len() as u8)?;
        for root in &self.roots {
            root.identity.emit(w)?;
            w.u8(root.endpoints.len() as u8)?;
            for ep in &root.endpoints {
                ep.emit(w)?;
            }
        }
        if self.kind == WorldKind::Moon {
            w.u16(0)?;
        }
        if for_signing {
            w.u64(0xf7f7_f7f7_f7f7_f7f7)?;
        }
        Ok(())
    }

    /// Writes the World.
    pub fn emit(&self, w: &mut Writer<'_>) -> Result<()> {
        self.emit_inner(w, false)
    }

    /// The serialized World.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        super::codec::to_vec(self.buffer_len(), |w| self.emit(w))
    }

    /// The message its signature covers.
    pub fn signing_message(&self) -> Result<Vec<u8>> {
        super::codec::to_vec(self.body_len() + 16, |w| self.emit_inner(w, true))
    }
}
