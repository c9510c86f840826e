//! The binary form of a ZeroTier identity: address(5) ‖ type 0 ‖ public key(64) ‖
//! secret length (0 or 64) ‖ secret key.

use super::{Address, Error, Reader, Result, Writer};

/// Length of a public key.
pub const PUBLIC_KEY_LEN: usize = 64;
/// Length of the public binary form.
pub const PUBLIC_LEN: usize = 5 + 1 + PUBLIC_KEY_LEN + 1;

/// An identity as carried in packets and World files (public form; a secret key, if present on
/// the wire, is rejected: ztcd never sends or accepts one in a packet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IdentityRepr {
    /// The node address claimed by the identity.
    pub address: Address,
    /// X25519 public key ‖ Ed25519 public key.
    pub public_key: [u8; PUBLIC_KEY_LEN],
}

impl IdentityRepr {
    /// Reads the public binary form.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let address = Address::parse(r)?;
        if r.u8()? != 0 {
            return Err(Error::Malformed("identity type"));
        }
        let public_key = r.array()?;
        if r.u8()? != 0 {
            return Err(Error::Malformed("identity: secret key in public form"));
        }
        Ok(Self {
            address,
            public_key,
        })
    }

    /// Bytes `emit` writes.
    pub const fn buffer_len(&self) -> usize {
        PUBLIC_LEN
    }

    /// Writes the public binary form.
    pub fn emit(&self, w: &mut Writer<'_>) -> Result<()> {
        self.address.emit(w)?;
        w.u8(0)?;
        w.bytes(&self.public_key)?;
        w.u8(0)
    }
}
