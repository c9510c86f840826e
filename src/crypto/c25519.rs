//! ZeroTier's "C25519" key pair: an X25519 key for agreement and an Ed25519 key for
//! signatures, each 32 bytes of the 64-byte public and secret keys.
//!
//! - Agreement: `SHA-512(X25519(secret[0..32], public[0..32]))`, first 48 bytes.
//! - Signature (96 bytes): `m = SHA-512(message)[0..32]`, then `Ed25519(seed = secret[32..64], m)`
//!   followed by `m` itself. Verification checks `m` in constant time, then the Ed25519 part.

use core::fmt;

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use x25519_dalek::StaticSecret;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{Entropy, SYMMETRIC_KEY_LEN, SymmetricKey, ct_eq, sha512};

/// Length of a C25519 public key (X25519 ‖ Ed25519).
pub const PUBLIC_KEY_LEN: usize = 64;
/// Length of a C25519 secret key (X25519 scalar ‖ Ed25519 seed).
pub const SECRET_KEY_LEN: usize = 64;
/// Length of a C25519 signature (Ed25519 R ‖ S ‖ the 32-byte digest prefix that was signed).
pub const SIGNATURE_LEN: usize = 96;

/// A 64-byte secret key. Zeroed on drop; `Debug` is redacted.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; SECRET_KEY_LEN]);

impl SecretKey {
    /// Wraps raw secret bytes.
    pub fn from_bytes(bytes: [u8; SECRET_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw secret bytes.
    pub fn as_bytes(&self) -> &[u8; SECRET_KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(&self.0, &other.0)
    }
}

impl Eq for SecretKey {}

/// A key pair with the derived dalek keys kept ready for signing and agreement.
#[derive(Clone)]
pub struct KeyPair {
    public: [u8; PUBLIC_KEY_LEN],
    secret: SecretKey,
    dh: StaticSecret,
    signing: SigningKey,
}

impl KeyPair {
    /// Builds the pair from a secret key, deriving the public key.
    pub fn from_secret(secret: SecretKey) -> Self {
        let mut dh_bytes = [0u8; 32];
        dh_bytes.copy_from_slice(&secret.0[..32]);
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&secret.0[32..]);
        let dh = StaticSecret::from(dh_bytes);
        let signing = SigningKey::from_bytes(&seed);
        dh_bytes.zeroize();
        seed.zeroize();
        let mut public = [0u8; PUBLIC_KEY_LEN];
        public[..32].copy_from_slice(x25519_dalek::PublicKey::from(&dh).as_bytes());
        public[32..].copy_from_slice(signing.verifying_key().as_bytes());
        Self {
            public,
            secret,
            dh,
            signing,
        }
    }

    /// A fresh random key pair.
    pub fn generate(entropy: &mut impl Entropy) -> Self {
        let mut bytes = [0u8; SECRET_KEY_LEN];
        entropy.fill(&mut bytes);
        let pair = Self::from_secret(SecretKey(bytes));
        bytes.zeroize();
        pair
    }

    /// Replaces the X25519 half with new random bytes, keeping the Ed25519 half (identity
    /// generation searches over the agreement key only).
    pub fn regenerate_agreement_key(&mut self, entropy: &mut impl Entropy) {
        let mut secret = self.secret.clone();
        entropy.fill(&mut secret.0[..32]);
        *self = Self::from_secret(secret);
    }

    /// The 64-byte public key.
    pub fn public(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.public
    }

    /// The 64-byte secret key.
    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }

    /// Derives the 48-byte symmetric key shared with the owner of `their_public`.
    pub fn agree(&self, their_public: &[u8; PUBLIC_KEY_LEN]) -> SymmetricKey {
        let mut theirs = [0u8; 32];
        theirs.copy_from_slice(&their_public[..32]);
        self.agree_x25519(&theirs)
    }

    /// `SHA-512(X25519(ours, theirs))[0..48]` for a bare X25519 public key (an ephemeral one).
    pub fn agree_x25519(&self, theirs: &[u8; 32]) -> SymmetricKey {
        let theirs = *theirs;
        let shared = self
            .dh
            .diffie_hellman(&x25519_dalek::PublicKey::from(theirs));
        let mut digest = sha512(shared.as_bytes());
        let mut key = [0u8; SYMMETRIC_KEY_LEN];
        key.copy_from_slice(&digest[..SYMMETRIC_KEY_LEN]);
        digest.zeroize();
        SymmetricKey(key)
    }

    /// Signs `message` with the ZeroTier 96-byte signature scheme.
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        let digest = sha512(message);
        let signature = self.signing.sign(&digest[..32]);
        let mut out = [0u8; SIGNATURE_LEN];
        out[..64].copy_from_slice(&signature.to_bytes());
        out[64..].copy_from_slice(&digest[..32]);
        out
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &crate::hex::Hex(&self.public))
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Verifies a 96-byte ZeroTier signature of `message` by the owner of `public`.
pub fn verify(public: &[u8; PUBLIC_KEY_LEN], message: &[u8], signature: &[u8]) -> bool {
    if signature.len() != SIGNATURE_LEN {
        return false;
    }
    let digest = sha512(message);
    if !ct_eq(&signature[64..], &digest[..32]) {
        return false;
    }
    let mut ed = [0u8; 32];
    ed.copy_from_slice(&public[32..]);
    let Ok(key) = VerifyingKey::from_bytes(&ed) else {
        return false;
    };
    let mut sig = [0u8; 64];
    sig.copy_from_slice(&signature[..64]);
    key.verify(&digest[..32], &ed25519_dalek::Signature::from_bytes(&sig))
        .is_ok()
}
