//! Thin wrappers over audited primitives: X25519 + Ed25519 ("C25519"), Salsa20, Poly1305,
//! AES-CTR (extended armor) and SHA-512. No protocol state lives here.
//!
//! Secrets are kept in types whose `Debug` prints `<redacted>` and whose memory is zeroed on
//! drop; secrets are compared in constant time only.

pub mod armor;
pub mod c25519;
pub mod extended;
pub mod hashcash;

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of the symmetric key two peers share (`ZT_SYMMETRIC_KEY_SIZE`).
pub const SYMMETRIC_KEY_LEN: usize = 48;

/// Errors of the crypto layer. They never carry key material.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The packet's MAC did not verify under the key.
    BadMac,
    /// A key was not a valid curve point or had the wrong length.
    BadKey,
    /// The packet uses a cipher suite ztcd does not speak.
    UnsupportedCipher(u8),
    /// The buffer is too short to hold a packet header.
    Truncated,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMac => f.write_str("message authentication failed"),
            Self::BadKey => f.write_str("invalid key"),
            Self::UnsupportedCipher(c) => write!(f, "unsupported cipher suite {c}"),
            Self::Truncated => f.write_str("packet too short"),
        }
    }
}

impl std::error::Error for Error {}

/// The 48-byte key two peers derive by key agreement; Salsa20/Poly1305 use its first 32 bytes.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SymmetricKey(pub(crate) [u8; SYMMETRIC_KEY_LEN]);

impl SymmetricKey {
    /// Wraps raw key bytes (used by tests and known-answer vectors).
    pub fn from_bytes(bytes: [u8; SYMMETRIC_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; SYMMETRIC_KEY_LEN] {
        &self.0
    }

    /// The 32-byte key of the Salsa20 cipher and Poly1305 MAC.
    pub(crate) fn salsa_key(&self) -> &[u8; 32] {
        self.0[..32].try_into().unwrap_or(&[0; 32])
    }
}

impl fmt::Debug for SymmetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SymmetricKey(<redacted>)")
    }
}

impl PartialEq for SymmetricKey {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(&self.0, &other.0)
    }
}

impl Eq for SymmetricKey {}

/// Compares two byte strings in time independent of their contents (lengths may leak).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// SHA-512 of `data`.
pub fn sha512(data: &[u8]) -> [u8; 64] {
    use sha2::Digest;
    sha2::Sha512::digest(data).into()
}

/// SHA-384 of the concatenation of `parts`.
pub fn sha384(parts: &[&[u8]]) -> [u8; 48] {
    use sha2::Digest;
    let mut h = sha2::Sha384::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// A source of randomness, injected into every function that needs one so that tests can be
/// deterministic. The runtime implements it with the operating system's generator.
pub trait Entropy {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);

    /// A random `u64`.
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill(&mut b);
        u64::from_le_bytes(b)
    }
}

/// A deterministic generator for tests and simulations: the Salsa20/12 keystream of a seed.
pub struct SeededEntropy(salsa20::Salsa12);

impl SeededEntropy {
    /// A generator whose output is fully determined by `seed`.
    pub fn new(seed: u64) -> Self {
        use salsa20::cipher::KeyIvInit;
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        Self(salsa20::Salsa12::new(&key.into(), &[0u8; 8].into()))
    }
}

impl Entropy for SeededEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        use salsa20::cipher::StreamCipher;
        buf.fill(0);
        self.0.apply_keystream(buf);
    }
}

impl fmt::Debug for SeededEntropy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SeededEntropy")
    }
}
