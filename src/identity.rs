//! ZeroTier identities: a 40-bit address bound to a C25519 public key by a memory-hard proof
//! of work, and their text form `address:0:public[:secret]` (hex).
//!
//! Generation keeps a random Ed25519 half and draws new X25519 secrets until the memory-hard
//! hash of the public key starts with a byte below 17; the address is the hash's last 5 bytes.

use core::fmt;
use core::str::FromStr;

use crate::crypto::c25519::{self, KeyPair, SecretKey};
use crate::crypto::hashcash::{FIRST_BYTE_LESS_THAN, Scratch, memory_hard_hash};
use crate::crypto::{Entropy, SymmetricKey, sha384};
use crate::hex;
use crate::wire::{Address, IdentityRepr};

/// Why an identity is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentityError {
    /// The text does not have 3 or 4 `:`-separated fields.
    FieldCount(usize),
    /// The type field is not `0`.
    UnknownType(String),
    /// A field has the wrong number of hex digits.
    WrongLength {
        /// Which field.
        field: &'static str,
        /// Digits found.
        found: usize,
        /// Digits required.
        expected: usize,
    },
    /// A field has a non-hex character.
    BadHex(&'static str),
    /// The address is reserved (zero or starting with ff).
    ReservedAddress(Address),
    /// The address is not the one the public key hashes to.
    AddressMismatch {
        /// Address claimed.
        claimed: Address,
        /// Address the key derives.
        derived: Address,
    },
    /// The memory-hard hash does not meet the proof-of-work criterion.
    ProofOfWork(u8),
    /// The secret key does not produce the public key.
    SecretMismatch,
    /// A secret key was required but the text has none.
    MissingSecret,
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FieldCount(n) => write!(
                f,
                "expected address:0:public[:secret] (3 or 4 fields separated by ':'), found {n}"
            ),
            Self::UnknownType(t) => write!(f, "unknown identity type {t:?} (only 0 exists)"),
            Self::WrongLength {
                field,
                found,
                expected,
            } => {
                write!(f, "{field} has {found} hex digits, expected {expected}")
            }
            Self::BadHex(field) => write!(f, "{field} is not hexadecimal"),
            Self::ReservedAddress(a) => write!(f, "address {a} is reserved"),
            Self::AddressMismatch { claimed, derived } => write!(
                f,
                "address {claimed} does not match the public key (the key derives {derived})"
            ),
            Self::ProofOfWork(b) => write!(
                f,
                "proof of work failed: memory-hard hash starts with 0x{b:02x}, must be below 0x{FIRST_BYTE_LESS_THAN:02x}"
            ),
            Self::SecretMismatch => f.write_str("secret key does not match the public key"),
            Self::MissingSecret => f.write_str("no secret key (need address:0:public:secret)"),
        }
    }
}

impl std::error::Error for IdentityError {}

/// A public identity.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identity {
    address: Address,
    public: [u8; c25519::PUBLIC_KEY_LEN],
}

impl Identity {
    /// An identity from its parts, not yet validated.
    pub fn new(address: Address, public: [u8; c25519::PUBLIC_KEY_LEN]) -> Self {
        Self { address, public }
    }

    /// The address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The 64-byte public key.
    pub fn public_key(&self) -> &[u8; c25519::PUBLIC_KEY_LEN] {
        &self.public
    }

    /// Checks the proof of work: the address is not reserved and is the one the public key
    /// hashes to, and the hash meets the difficulty. Costs one memory-hard hash (~2 MiB, tens
    /// of milliseconds).
    pub fn validate(&self, scratch: &mut Scratch) -> Result<(), IdentityError> {
        if self.address.is_reserved() {
            return Err(IdentityError::ReservedAddress(self.address));
        }
        let digest = memory_hard_hash(&self.public, scratch);
        let derived = derived_address(&digest);
        if derived != self.address {
            return Err(IdentityError::AddressMismatch {
                claimed: self.address,
                derived,
            });
        }
        if digest[0] >= FIRST_BYTE_LESS_THAN {
            return Err(IdentityError::ProofOfWork(digest[0]));
        }
        Ok(())
    }

    /// SHA-384(address ‖ public key), used by certificates of membership.
    pub fn public_key_hash(&self) -> [u8; 48] {
        sha384(&[&self.address.to_bytes(), &self.public])
    }

    /// Verifies a 96-byte signature by this identity.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        c25519::verify(&self.public, message, signature)
    }

    /// The wire form.
    pub fn to_repr(&self) -> IdentityRepr {
        IdentityRepr {
            address: self.address,
            public_key: self.public,
        }
    }
}

impl From<IdentityRepr> for Identity {
    fn from(r: IdentityRepr) -> Self {
        Self {
            address: r.address,
            public: r.public_key,
        }
    }
}

impl fmt::Display for Identity {
    /// The public text form `address:0:public`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:0:{}", self.address, hex::Hex(&self.public))
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({self})")
    }
}

impl FromStr for Identity {
    type Err = IdentityError;

    /// Parses `address:0:public` or `address:0:public:secret` (the secret is checked for
    /// format, then dropped).
    fn from_str(s: &str) -> Result<Self, IdentityError> {
        parse_text(s).map(|(id, _)| id)
    }
}

/// An identity with its secret key. `Debug` is redacted; the secret text form is only produced
/// by [`IdentitySecret::to_secret_string`].
#[derive(Clone)]
pub struct IdentitySecret {
    identity: Identity,
    keys: KeyPair,
}

impl IdentitySecret {
    /// Generates a new identity (about 15 memory-hard hashes on average).
    pub fn generate(entropy: &mut impl Entropy, scratch: &mut Scratch) -> Self {
        let mut keys = KeyPair::generate(entropy);
        loop {
            let digest = memory_hard_hash(keys.public(), scratch);
            let address = derived_address(&digest);
            if digest[0] < FIRST_BYTE_LESS_THAN && !address.is_reserved() {
                let identity = Identity {
                    address,
                    public: *keys.public(),
                };
                return Self { identity, keys };
            }
            keys.regenerate_agreement_key(entropy);
        }
    }

    /// Builds from a parsed identity and secret, checking they belong together.
    pub fn from_parts(identity: Identity, secret: SecretKey) -> Result<Self, IdentityError> {
        let keys = KeyPair::from_secret(secret);
        if keys.public() != identity.public_key() {
            return Err(IdentityError::SecretMismatch);
        }
        Ok(Self { identity, keys })
    }

    /// Parses the secret text form `address:0:public:secret`.
    pub fn parse(s: &str) -> Result<Self, IdentityError> {
        match parse_text(s)? {
            (identity, Some(secret)) => Self::from_parts(identity, secret),
            (_, None) => Err(IdentityError::MissingSecret),
        }
    }

    /// The public identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The address.
    pub fn address(&self) -> Address {
        self.identity.address
    }

    /// The key pair.
    pub fn keys(&self) -> &KeyPair {
        &self.keys
    }

    /// The 48-byte key shared with `peer`.
    pub fn agree(&self, peer: &Identity) -> SymmetricKey {
        self.keys.agree(peer.public_key())
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; c25519::SIGNATURE_LEN] {
        self.keys.sign(message)
    }

    /// The secret text form `address:0:public:secret` (as in `identity.secret`).
    pub fn to_secret_string(&self) -> String {
        format!(
            "{}:{}",
            self.identity,
            hex::Hex(self.keys.secret().as_bytes())
        )
    }
}

impl fmt::Debug for IdentitySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentitySecret({}, <redacted>)", self.identity.address)
    }
}

fn derived_address(digest: &[u8; 64]) -> Address {
    let mut a = [0u8; 5];
    a.copy_from_slice(&digest[59..]);
    Address::from_bytes(&a)
}

fn hex_field<const N: usize>(field: &'static str, text: &str) -> Result<[u8; N], IdentityError> {
    if text.len() != N * 2 {
        return Err(IdentityError::WrongLength {
            field,
            found: text.len(),
            expected: N * 2,
        });
    }
    let mut out = [0u8; N];
    if !hex::decode_into(text, &mut out) {
        return Err(IdentityError::BadHex(field));
    }
    Ok(out)
}

fn parse_text(s: &str) -> Result<(Identity, Option<SecretKey>), IdentityError> {
    let fields: Vec<&str> = s.trim().split(':').collect();
    if !(3..=4).contains(&fields.len()) {
        return Err(IdentityError::FieldCount(fields.len()));
    }
    let address = Address::from_bytes(&hex_field::<5>("address", fields[0])?);
    if fields[1] != "0" {
        return Err(IdentityError::UnknownType(fields[1].to_owned()));
    }
    let public = hex_field::<64>("public key", fields[2])?;
    let secret = match fields.get(3) {
        Some(text) => Some(SecretKey::from_bytes(hex_field::<64>("secret key", text)?)),
        None => None,
    };
    Ok((Identity { address, public }, secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SeededEntropy;

    #[test]
    fn text_errors_are_specific() {
        let e = |s: &str| s.parse::<Identity>().unwrap_err();
        assert_eq!(e("abc"), IdentityError::FieldCount(1));
        assert_eq!(e("0123456789:1:00"), IdentityError::UnknownType("1".into()));
        assert!(matches!(
            e("012345678:0:00"),
            IdentityError::WrongLength {
                field: "address",
                ..
            }
        ));
        let bad_hex = format!("0123456789:0:{}", "g".repeat(128));
        assert_eq!(e(&bad_hex), IdentityError::BadHex("public key"));
        assert!(matches!(
            e(&format!("0123456789:0:{}", "0".repeat(127))),
            IdentityError::WrongLength {
                field: "public key",
                found: 127,
                expected: 128
            }
        ));
    }

    #[test]
    fn generate_validate_round_trip() {
        let mut scratch = Scratch::new();
        let id = IdentitySecret::generate(&mut SeededEntropy::new(1), &mut scratch);
        id.identity().validate(&mut scratch).unwrap();
        let text = id.to_secret_string();
        let back = IdentitySecret::parse(&text).unwrap();
        assert_eq!(back.identity(), id.identity());
        assert_eq!(back.to_secret_string(), text);
        let public: Identity = id.identity().to_string().parse().unwrap();
        assert_eq!(&public, id.identity());
        assert!(!format!("{id:?}").contains(&text[80..]));
        let other = IdentitySecret::generate(&mut SeededEntropy::new(2), &mut scratch);
        assert_eq!(id.agree(other.identity()), other.agree(id.identity()));
        let sig = id.sign(b"hello");
        assert!(id.identity().verify(b"hello", &sig));
        assert!(!other.identity().verify(b"hello", &sig));
    }
}
