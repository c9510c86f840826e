//! Sans-IO codecs for the ZeroTier wire formats.
//!
//! Contract (after smoltcp's `wire`): every `parse` takes untrusted bytes and returns
//! `Err(Error)` on anything malformed; no accessor panics on any input. `emit` writes into a
//! caller-provided buffer and fails with [`Error::Truncated`] rather than overrun it.
//! `buffer_len()` says how many bytes `emit` needs. Parse → emit is byte-exact for every
//! canonical encoding. Nothing here does cryptography, reads a clock or allocates on a
//! datagram's parse path (the `Vec`s in credential and World types are for ztcd's own objects).
//!
//! All multi-byte integers are big-endian.

pub mod address;
pub mod codec;
pub mod com;
pub mod credential;
pub mod dictionary;
pub mod fragment;
pub mod identity;
pub mod packet;
pub mod revocation;
pub mod rules;
pub mod verbs;
pub mod world;

use core::fmt;

pub use address::{Address, InetAddress, Mac, NetworkId};
pub use codec::{Reader, Writer};
pub use identity::IdentityRepr;
pub use packet::{Header, Packet as PacketView, Verb};

/// Errors of the wire layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The input ended before the structure did, or an output buffer is too small.
    Truncated,
    /// A length or count field is out of its allowed range.
    BadLength,
    /// A verb code ztcd does not know.
    UnknownVerb(u8),
    /// Anything else that is not a valid encoding; the text names the field.
    Malformed(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("truncated"),
            Self::BadLength => f.write_str("length out of range"),
            Self::UnknownVerb(v) => write!(f, "unknown verb 0x{v:02x}"),
            Self::Malformed(what) => write!(f, "malformed {what}"),
        }
    }
}

impl std::error::Error for Error {}

/// The result type of the wire layer.
pub type Result<T> = core::result::Result<T, Error>;
