//! Tag and Capability credentials, as a controller issues them in a member's configuration
//! (dictionary keys `TAG` and `CAP`, each the credentials concatenated) and members pass on
//! to each other. Layouts as ZeroTier 1.x defines them (`node/Tag.hpp`, `node/Capability.hpp`):
//!
//! - Tag: u64 network ID, u64 timestamp, u32 id, u32 value, issued-to address, signer
//!   address, u8 1 (Ed25519), u16 96, the signature, u16 0 (no further fields).
//! - Capability: u64 network ID, u64 timestamp, u32 id, u16 rule count, the rules (as in a
//!   configuration), u8 custody chain length allowed, then custody entries (to, from, u8 1,
//!   u16 96, signature) ended by a zero address, u16 0.
//!
//! The signed message is the same fields without the signatures (and without the custody
//! chain), between two u64 `0x7f7f7f7f7f7f7f7f` markers.

use super::rules::{Rule, emit_rules, rules_len};
use super::{Address, NetworkId, Result, Writer};

/// Marks both ends of a credential's signed message.
const SIGNING_MARKER: u64 = 0x7f7f_7f7f_7f7f_7f7f;
/// Signature type byte: Ed25519 (ZeroTier's C25519 signature).
const SIGNATURE_ED25519: u8 = 1;
/// Signature length.
const SIGNATURE_LEN: usize = 96;

/// A tag: `id` = `value` for the member it was issued to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    /// The network.
    pub network_id: NetworkId,
    /// Issue time (ms), the member's COM timestamp.
    pub timestamp: u64,
    /// Tag ID.
    pub id: u32,
    /// Tag value.
    pub value: u32,
    /// The member.
    pub issued_to: Address,
    /// The controller.
    pub signed_by: Address,
    /// The controller's signature over [`Tag::signing_message`].
    pub signature: [u8; SIGNATURE_LEN],
}

impl Tag {
    fn fields(&self, w: &mut Writer<'_>) -> Result<()> {
        w.u64(self.network_id.0)?;
        w.u64(self.timestamp)?;
        w.u32(self.id)?;
        w.u32(self.value)?;
        self.issued_to.emit(w)?;
        self.signed_by.emit(w)
    }

    /// The message the signature covers.
    pub fn signing_message(&self) -> Vec<u8> {
        let mut m = vec![0u8; 8 + 8 + 8 + 4 + 4 + 5 + 5 + 2 + 8];
        let mut w = Writer::new(&mut m);
        // The buffer is sized for exactly these fields.
        let _ = w
            .u64(SIGNING_MARKER)
            .and_then(|()| self.fields(&mut w))
            .and_then(|()| w.u16(0))
            .and_then(|()| w.u64(SIGNING_MARKER));
        m
    }

    /// Bytes `emit` writes.
    pub const fn buffer_len(&self) -> usize {
        8 + 8 + 4 + 4 + 5 + 5 + 1 + 2 + SIGNATURE_LEN + 2
    }

    /// Writes the tag.
    pub fn emit(&self, w: &mut Writer<'_>) -> Result<()> {
        self.fields(w)?;
        w.u8(SIGNATURE_ED25519)?;
        w.u16(SIGNATURE_LEN as u16)?;
        w.bytes(&self.signature)?;
        w.u16(0)
    }
}

/// A capability: rules a member may apply, signed over to it by the controller (a custody
/// chain of one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capability {
    /// The network.
    pub network_id: NetworkId,
    /// Issue time (ms), the member's COM timestamp.
    pub timestamp: u64,
    /// Capability ID.
    pub id: u32,
    /// Its rules.
    pub rules: Vec<Rule>,
    /// The member it was signed over to.
    pub issued_to: Address,
    /// The controller.
    pub signed_by: Address,
    /// The controller's signature over [`Capability::signing_message`].
    pub signature: [u8; SIGNATURE_LEN],
}

impl Capability {
    /// Custody chain length a controller's capability allows: one hop, to the member.
    pub const MAX_CUSTODY: u8 = 1;

    fn head(&self, w: &mut Writer<'_>) -> Result<()> {
        w.u64(self.network_id.0)?;
        w.u64(self.timestamp)?;
        w.u32(self.id)?;
        w.u16(u16::try_from(self.rules.len()).map_err(|_| super::Error::BadLength)?)?;
        emit_rules(&self.rules, w)?;
        w.u8(Self::MAX_CUSTODY)
    }

    /// The message the signature covers.
    pub fn signing_message(&self) -> Vec<u8> {
        let mut m = vec![0u8; 8 + 8 + 8 + 4 + 2 + rules_len(&self.rules) + 1 + 2 + 8];
        let mut w = Writer::new(&mut m);
        // The buffer is sized for exactly these fields.
        let _ = w
            .u64(SIGNING_MARKER)
            .and_then(|()| self.head(&mut w))
            .and_then(|()| w.u16(0))
            .and_then(|()| w.u64(SIGNING_MARKER));
        m
    }

    /// Bytes `emit` writes.
    pub fn buffer_len(&self) -> usize {
        8 + 8 + 4 + 2 + rules_len(&self.rules) + 1 + (5 + 5 + 1 + 2 + SIGNATURE_LEN) + 5 + 2
    }

    /// Writes the capability.
    pub fn emit(&self, w: &mut Writer<'_>) -> Result<()> {
        self.head(w)?;
        self.issued_to.emit(w)?;
        self.signed_by.emit(w)?;
        w.u8(SIGNATURE_ED25519)?;
        w.u16(SIGNATURE_LEN as u16)?;
        w.bytes(&self.signature)?;
        Address::new(0).emit(w)?;
        w.u16(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_its_fields_then_the_signature_block() {
        let t = Tag {
            network_id: NetworkId(0x1122_3344_5566_7788),
            timestamp: 0x0102_0304_0506_0708,
            id: 1000,
            value: 7,
            issued_to: Address::new(0xaa_bbcc_ddee),
            signed_by: Address::new(0x11_2233_4455),
            signature: [9; 96],
        };
        let mut out = vec![0u8; t.buffer_len()];
        t.emit(&mut Writer::new(&mut out)).unwrap();
        assert_eq!(&out[..8], &0x1122_3344_5566_7788u64.to_be_bytes());
        assert_eq!(&out[16..24], &[0, 0, 0x03, 0xe8, 0, 0, 0, 7]);
        assert_eq!(
            &out[24..34],
            &[0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x11, 0x22, 0x33, 0x44, 0x55]
        );
        assert_eq!(&out[34..37], &[1, 0, 96]);
        assert_eq!(&out[out.len() - 2..], &[0, 0]);
        let m = t.signing_message();
        assert_eq!(&m[..8], &[0x7f; 8]);
        assert_eq!(&m[8..42], &out[..34]);
        assert_eq!(
            &m[42..],
            &[0, 0, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f]
        );
    }

    #[test]
    fn a_capability_ends_its_custody_chain_with_a_zero_address() {
        let c = Capability {
            network_id: NetworkId(1),
            timestamp: 2,
            id: 3,
            rules: vec![Rule::ACCEPT],
            issued_to: Address::new(0xaa_bbcc_ddee),
            signed_by: Address::new(0x11_2233_4455),
            signature: [5; 96],
        };
        let mut out = vec![0u8; c.buffer_len()];
        c.emit(&mut Writer::new(&mut out)).unwrap();
        // id, rule count 1, the rule (type, length 0), custody length 1.
        assert_eq!(&out[16..26], &[0, 0, 0, 3, 0, 1, 1, 0, 1, 0xaa]);
        assert_eq!(&out[out.len() - 7..], &[0, 0, 0, 0, 0, 0, 0]);
        let m = c.signing_message();
        assert_eq!(&m[8..33], &out[..25]);
        assert_eq!(m.len(), 8 + 25 + 2 + 8);
    }
}
