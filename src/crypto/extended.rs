//! Extended armor, protocol 13's encrypted HELLO: a second layer over an armored packet that
//! hides everything after the addresses from anyone but the recipient.
//!
//! Layout facts (ZeroTier `Packet::armor`/`dearmor` with extended armor, protocol 13): the flags
//! byte carries `0x80` with cipher suite 0 (older peers set `0x80` only on cipher 1, so the
//! pair is unambiguous); bytes 19.. (MAC, verb, payload) are AES-256-CTR encrypted under
//! `SHA-512(X25519(ephemeral, recipient identity key))[0..32]`, counter block = packet bytes
//! 0..12 followed by a 32-bit big-endian counter from 0; the 32-byte ephemeral public key is
//! appended in the clear. The inner MAC is computed before this layer, over the plaintext,
//! with `0x80` in the flags and the length without the appended key.

use aes::Aes256;
use ctr::Ctr32BE;
use ctr::cipher::{KeyIvInit, StreamCipher};
use zeroize::Zeroize;

use super::c25519::KeyPair;
use super::{Entropy, Error, SymmetricKey};

/// The flags bit that marks extended armor (on cipher suite 0).
pub const FLAG: u8 = 0x80;
/// Length of the ephemeral X25519 public key appended to the packet.
pub const EPHEMERAL_LEN: usize = 32;
/// Smallest packet with extended armor: header, verb and the ephemeral key.
pub const MIN_LEN: usize = 28 + EPHEMERAL_LEN;
/// Offset where the encrypted range begins (the MAC).
const START: usize = 19;
/// Offset of the flags byte.
const FLAGS: usize = 18;

/// Whether `packet` carries extended armor: the flag on cipher suite 0.
pub fn present(packet: &[u8]) -> bool {
    packet
        .get(FLAGS)
        .is_some_and(|f| f & FLAG != 0 && (f >> 3) & 0x07 == 0)
}

/// AES-256-CTR over bytes 19.. of `packet` (no ephemeral key at its end).
fn apply(key: &SymmetricKey, packet: &mut [u8]) {
    let mut k = [0u8; 32];
    k.copy_from_slice(&key.as_bytes()[..32]);
    let mut iv = [0u8; 16];
    iv[..12].copy_from_slice(&packet[..12]);
    let mut cipher = Ctr32BE::<Aes256>::new(&k.into(), &iv.into());
    k.zeroize();
    cipher.apply_keystream(&mut packet[START..]);
}

/// Removes the extended layer in place with this node's key pair: decrypts and drops the
/// ephemeral key. The inner MAC is not checked here (a wrong key shows up as a bad MAC in
/// [`super::armor::dearmor`], which must follow). Costs one X25519 and one SHA-512.
pub fn remove(packet: &mut Vec<u8>, ours: &KeyPair) -> Result<(), Error> {
    if packet.len() < MIN_LEN || !present(packet) {
        return Err(Error::Truncated);
    }
    let end = packet.len() - EPHEMERAL_LEN;
    let mut ephemeral = [0u8; 32];
    ephemeral.copy_from_slice(&packet[end..]);
    let key = ours.agree_x25519(&ephemeral);
    packet.truncate(end);
    apply(&key, packet);
    Ok(())
}

/// Adds the extended layer to a packet armored with cipher 0 and [`FLAG`] already set (see
/// [`super::armor::armor_extended`]) for the owner of `recipient` (a 64-byte C25519 public
/// key): a fresh ephemeral key, encryption, the ephemeral key appended.
pub fn add(packet: &mut Vec<u8>, recipient: &[u8; 64], entropy: &mut impl Entropy) {
    let ephemeral = KeyPair::generate(entropy);
    let mut theirs = [0u8; 32];
    theirs.copy_from_slice(&recipient[..32]);
    let key = ephemeral.agree_x25519(&theirs);
    apply(&key, packet);
    packet.extend_from_slice(&ephemeral.public()[..EPHEMERAL_LEN]);
}
