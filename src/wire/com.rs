//! Certificate of membership (ZeroTier `CertificateOfMembership`): u8 1, u16 qualifier count,
//! per qualifier u64 id, u64 value, u64 max delta (ids ascending), signer address, and a 96-byte
//! signature if the signer is not zero. The signed message is the qualifiers alone.

use heapless::Vec as HVec;

use super::{Address, Error, Reader, Result, Writer};
use crate::limits::MAX_COM_QUALIFIERS;

/// Qualifier IDs the controller issues.
pub mod qualifier {
    /// Issue timestamp; max delta = the network's credential time max delta.
    pub const TIMESTAMP: u64 = 0;
    /// Network ID.
    pub const NETWORK_ID: u64 = 1;
    /// The member's address.
    pub const ISSUED_TO: u64 = 2;
    /// First of the four words of SHA-384(address ‖ public key) (ids 3..=6).
    pub const PUBLIC_KEY_HASH_0: u64 = 3;
}

/// One (id, value, max delta) triple.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Qualifier {
    /// What is qualified.
    pub id: u64,
    /// Its value.
    pub value: u64,
    /// How far another member's value may differ and still agree.
    pub max_delta: u64,
}

/// A certificate of membership.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Com {
    /// Qualifiers in ascending id order.
    pub qualifiers: HVec<Qualifier, MAX_COM_QUALIFIERS>,
    /// The controller that signed it (zero if unsigned).
    pub signed_by: Address,
    /// The signature, present iff `signed_by` is not zero.
    pub signature: Option<[u8; 96]>,
}

impl Com {
    /// Parses a COM.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self> {
        if r.u8()? != 1 {
            return Err(Error::Malformed("COM version"));
        }
        let n = usize::from(r.u16()?);
        if n > MAX_COM_QUALIFIERS {
            return Err(Error::BadLength);
        }
        let mut qualifiers = HVec::new();
        let mut last = 0;
        for _ in 0..n {
            let q = Qualifier {
                id: r.u64()?,
                value: r.u64()?,
                max_delta: r.u64()?,
            };
            if q.id < last {
                return Err(Error::Malformed("COM qualifier order"));
            }
            last = q.id;
            qualifiers.push(q).map_err(|_| Error::BadLength)?;
        }
        let signed_by = Address::parse(r)?;
        let signature = if signed_by.to_u64() != 0 {
            Some(r.array()?)
        } else {
            None
        };
        Ok(Self {
            qualifiers,
            signed_by,
            signature,
        })
    }

    /// The value of qualifier `id`, if present.
    pub fn value(&self, id: u64) -> Option<u64> {
        self.qualifiers.iter().find(|q| q.id == id).map(|q| q.value)
    }

    /// Bytes `emit` writes.
    pub fn buffer_len(&self) -> usize {
        3 + self.qualifiers.len() * 24 + 5 + if self.signature.is_some() { 96 } else { 0 }
    }

    /// The message a signature covers: the qualifiers as big-endian triples.
    pub fn signing_message(&self) -> HVec<u8, { MAX_COM_QUALIFIERS * 24 }> {
        let mut m = HVec::new();
        for q in &self.qualifiers {
            for v in [q.id, q.value, q.max_delta] {
                // unwrap safety: at most MAX_COM_QUALIFIERS triples fit by construction.
                m.extend_from_slice(&v.to_be_bytes()).unwrap_or(());
            }
        }
        m
    }

    /// Writes the COM.
    pub fn emit(&self, w: &mut Writer<'_>) -> Result<()> {
        w.u8(1)?;
        w.u16(self.qualifiers.len() as u16)?;
        for q in &self.qualifiers {
            w.u64(q.id)?;
            w.u64(q.value)?;
            w.u64(q.max_delta)?;
        }
        self.signed_by.emit(w)?;
        match (&self.signature, self.signed_by.to_u64()) {
            (Some(sig), s) if s != 0 => w.bytes(sig),
            (None, 0) => Ok(()),
            _ => Err(Error::Malformed("COM signer without signature")),
        }
    }
}
