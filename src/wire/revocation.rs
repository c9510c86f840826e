//! Credential revocation (zt-protocol §7.6) and the NETWORK_CREDENTIALS payload that carries
//! one. A controller revokes a deauthorized member's COM so the other members drop it at once
//! instead of when it expires.

use super::codec::{Reader, Writer};
use super::{Address, Error, NetworkId, Result};

/// Credential types a revocation can name.
pub mod credential {
    /// Certificate of membership.
    pub const COM: u8 = 1;
}
/// Flag: receivers forward the revocation to the network's other members.
pub const FLAG_FAST_PROPAGATE: u64 = 1;
/// Bytes of an emitted revocation.
pub const REVOCATION_LEN: usize = 4 + 4 + 8 + 4 + 4 + 8 + 8 + 5 + 5 + 1 + 1 + 2 + 96 + 2;
/// Bytes of the message a revocation's signature covers.
pub const SIGNING_LEN: usize = 8 + REVOCATION_LEN - (1 + 2 + 96) + 8;
const SIGN_MARKER: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// A signed revocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// Revocation ID (any value; distinguishes revocations).
    pub id: u32,
    /// The network.
    pub network_id: NetworkId,
    /// ID of the revoked credential (0 for a COM).
    pub credential_id: u32,
    /// Credentials of the target with a timestamp up to this (ms) are revoked.
    pub threshold: u64,
    /// [`FLAG_FAST_PROPAGATE`] or 0.
    pub flags: u64,
    /// The member whose credential is revoked.
    pub target: Address,
    /// The controller.
    pub signed_by: Address,
    /// One of [`credential`].
    pub credential_type: u8,
    /// C25519 signature over [`Revocation::signing_message`].
    pub signature: [u8; 96],
}

impl Revocation {
    fn body(&self, w: &mut Writer<'_>) -> Result<()> {
        w.u32(0)?;
        w.u32(self.id)?;
        w.u64(self.network_id.0)?;
        w.u32(0)?;
        w.u32(self.credential_id)?;
        w.u64(self.threshold)?;
        w.u64(self.flags)?;
        self.target.emit(w)?;
        self.signed_by.emit(w)?;
        w.u8(self.credential_type)
    }

    /// The bytes the controller signs (the body between two marker words, without the
    /// signature fields).
    pub fn signing_message(&self) -> [u8; SIGNING_LEN] {
        let mut out = [0u8; SIGNING_LEN];
        let mut w = Writer::new(&mut out);
        // unwrap safety: the buffer is exactly SIGNING_LEN bytes.
        let r = w
            .u64(SIGN_MARKER)
            .and_then(|()| self.body(&mut w))
            .and_then(|()| w.u16(0))
            .and_then(|()| w.u64(SIGN_MARKER));
        debug_assert!(r.is_ok());
        out
    }

    /// Writes the revocation.
    pub fn emit(&self, w: &mut Writer<'_>) -> Result<()> {
        self.body(w)?;
        w.u8(1)?;
        w.u16(96)?;
        w.bytes(&self.signature)?;
        w.u16(0)
    }

    /// Reads a revocation.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self> {
        r.u32()?;
        let id = r.u32()?;
        let network_id = NetworkId(r.u64()?);
        r.u32()?;
        let credential_id = r.u32()?;
        let threshold = r.u64()?;
        let flags = r.u64()?;
        let target = Address::parse(r)?;
        let signed_by = Address::parse(r)?;
        let credential_type = r.u8()?;
        if r.u8()? != 1 || r.u16()? != 96 {
            return Err(Error::Malformed("revocation signature"));
        }
        let signature = r.array()?;
        let extra = usize::from(r.u16()?);
        r.bytes(extra)?;
        Ok(Self {
            id,
            network_id,
            credential_id,
            threshold,
            flags,
            target,
            signed_by,
            credential_type,
            signature,
        })
    }
}

/// The NETWORK_CREDENTIALS payload carrying one revocation and nothing else: no COM (a 0
/// byte), no capabilities, no tags, one revocation, no certificates of ownership.
pub fn credentials_with_revocation(rev: &Revocation) -> Result<Vec<u8>> {
    super::codec::to_vec(1 + 2 + 2 + 2 + REVOCATION_LEN + 2, |w| {
        w.u8(0)?;
        w.u16(0)?;
        w.u16(0)?;
        w.u16(1)?;
        rev.emit(w)?;
        w.u16(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_frames_the_signed_part() {
        let rev = Revocation {
            id: 7,
            network_id: NetworkId(0x8e4d_f28b_7200_0001),
            credential_id: 0,
            threshold: 1_700_000_000_000,
            flags: FLAG_FAST_PROPAGATE,
            target: Address::new(0x12_3456_789a),
            signed_by: Address::new(0x8e_4df2_8b72),
            credential_type: credential::COM,
            signature: [9; 96],
        };
        let payload = credentials_with_revocation(&rev).unwrap();
        assert_eq!(payload.len(), 7 + REVOCATION_LEN + 2);
        assert_eq!(&payload[..7], &[0, 0, 0, 0, 0, 0, 1]);
        let mut r = Reader::new(&payload[7..]);
        assert_eq!(Revocation::parse(&mut r).unwrap(), rev);
        assert_eq!(r.remaining(), 2);
        let m = rev.signing_message();
        assert_eq!(&m[..8], &[0x7f; 8]);
        assert_eq!(
            &m[SIGNING_LEN - 10..],
            &[0, 0, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f]
        );
        assert_eq!(m[8 + 4 + 4 + 8 + 4 + 4 + 8 + 8 + 10], credential::COM);
    }
}
