//! ERROR (ZeroTier `IncomingPacket::_doERROR`): u8 in-re verb, u64 in-re packet ID, u8 code,
//! then for configuration requests the u64 network ID (and, for SSO, a dictionary ztcd neither
//! sends nor needs).

use crate::wire::{NetworkId, Reader, Result, Verb, Writer};

/// ERROR codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// 0x00
    None,
    /// 0x01
    InvalidRequest,
    /// 0x02
    BadProtocolVersion,
    /// 0x03: e.g. unknown network.
    ObjNotFound,
    /// 0x04: a different identity already holds this address.
    IdentityCollision,
    /// 0x05
    UnsupportedOperation,
    /// 0x06
    NeedMembershipCertificate,
    /// 0x07: not authorized on the network.
    NetworkAccessDenied,
    /// 0x08
    UnwantedMulticast,
    /// 0x09
    NetworkAuthenticationRequired,
    /// Any other code.
    Other(u8),
}

impl From<u8> for ErrorCode {
    fn from(c: u8) -> Self {
        match c {
            0 => Self::None,
            1 => Self::InvalidRequest,
            2 => Self::BadProtocolVersion,
            3 => Self::ObjNotFound,
            4 => Self::IdentityCollision,
            5 => Self::UnsupportedOperation,
            6 => Self::NeedMembershipCertificate,
            7 => Self::NetworkAccessDenied,
            8 => Self::UnwantedMulticast,
            9 => Self::NetworkAuthenticationRequired,
            other => Self::Other(other),
        }
    }
}

impl From<ErrorCode> for u8 {
    fn from(c: ErrorCode) -> Self {
        match c {
            ErrorCode::None => 0,
            ErrorCode::InvalidRequest => 1,
            ErrorCode::BadProtocolVersion => 2,
            ErrorCode::ObjNotFound => 3,
            ErrorCode::IdentityCollision => 4,
            ErrorCode::UnsupportedOperation => 5,
            ErrorCode::NeedMembershipCertificate => 6,
            ErrorCode::NetworkAccessDenied => 7,
            ErrorCode::UnwantedMulticast => 8,
            ErrorCode::NetworkAuthenticationRequired => 9,
            ErrorCode::Other(c) => c,
        }
    }
}

/// An ERROR payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorRepr {
    /// The verb of the failed request.
    pub in_re_verb: Verb,
    /// The packet ID of the failed request.
    pub in_re_packet_id: u64,
    /// What went wrong.
    pub code: ErrorCode,
    /// The network concerned, for configuration and certificate errors.
    pub network_id: Option<NetworkId>,
}

impl ErrorRepr {
    /// Parses an ERROR payload (trailing data after the network ID is ignored).
    pub fn parse(payload: &[u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        let in_re_verb = Verb::try_from(r.u8()?)?;
        let in_re_packet_id = r.u64()?;
        let code = ErrorCode::from(r.u8()?);
        let network_id = if r.remaining() >= 8 {
            Some(NetworkId(r.u64()?))
        } else {
            None
        };
        Ok(Self {
            in_re_verb,
            in_re_packet_id,
            code,
            network_id,
        })
    }

    /// Bytes `emit` writes.
    pub fn buffer_len(&self) -> usize {
        10 + if self.network_id.is_some() { 8 } else { 0 }
    }

    /// Writes the payload.
    pub fn emit(&self, w: &mut Writer<'_>) -> Result<()> {
        w.u8(self.in_re_verb as u8)?;
        w.u64(self.in_re_packet_id)?;
        w.u8(self.code.into())?;
        if let Some(n) = self.network_id {
            w.u64(n.0)?;
        }
        Ok(())
    }
}
