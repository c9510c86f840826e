//! The OK and ERROR header shared by all replies: u8 in-re verb, u64 in-re packet ID.

use crate::wire::{Reader, Result, Verb, Writer};

/// The start of an OK payload; the verb-specific body follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OkHeader {
    /// The verb of the request being answered.
    pub in_re_verb: Verb,
    /// The packet ID of the request being answered, exactly as received.
    pub in_re_packet_id: u64,
}

impl OkHeader {
    /// Length of the header.
    pub const LEN: usize = 9;

    /// Reads the header and returns it with the body that follows.
    pub fn parse(payload: &[u8]) -> Result<(Self, &[u8])> {
        let mut r = Reader::new(payload);
        let h = Self {
            in_re_verb: Verb::try_from(r.u8()?)?,
            in_re_packet_id: r.u64()?,
        };
        Ok((h, r.rest()))
    }

    /// Writes the header.
    pub fn emit(&self, w: &mut Writer<'_>) -> Result<()> {
        w.u8(self.in_re_verb as u8)?;
        w.u64(self.in_re_packet_id)
    }
}
