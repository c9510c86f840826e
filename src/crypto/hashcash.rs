//! The memory-hard hash that binds a ZeroTier address to its public key (proof of work).
//!
//! Facts (ZeroTier `Identity::_computeMemoryHardHash`): `d = SHA-512(public key)`; one
//! Salsa20/20 stream keyed by `d[0..32]` with nonce `d[32..40]` fills a 2 MiB buffer whose
//! 64-byte block `i` is the XOR of keystream blocks `0..=i`; then for each pair of consecutive
//! big-endian words `(a, b)` of the buffer, word `b mod 262144` of the buffer is swapped with word
//! `a mod 8` of `d`, and `d` is XORed with the next keystream block. The final `d` is the hash.

use salsa20::cipher::consts::U10;
use salsa20::cipher::{KeyIvInit, StreamCipher, StreamCipherCore, StreamCipherSeekCore};
use salsa20::{Salsa20, SalsaCore};

use super::sha512;

/// Size of the scratch memory the hash needs (`ZT_IDENTITY_GEN_MEMORY`).
pub const MEMORY: usize = 2 * 1024 * 1024;

/// The hash's output must start with a byte below this for the identity to be valid
/// (`ZT_IDENTITY_GEN_HASHCASH_FIRST_BYTE_LESS_THAN`).
pub const FIRST_BYTE_LESS_THAN: u8 = 17;

/// Caller-owned scratch memory for [`memory_hard_hash`], reusable across calls.
pub struct Scratch(Vec<u8>);

impl Scratch {
    /// Allocates the 2 MiB scratch buffer.
    pub fn new() -> Self {
        Self(vec![0; MEMORY])
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Scratch")
    }
}

/// Computes the memory-hard hash of a 64-byte public key.
pub fn memory_hard_hash(public: &[u8; 64], scratch: &mut Scratch) -> [u8; 64] {
    let mut digest = sha512(public);
    let mut key = [0u8; 32];
    key.copy_from_slice(&digest[..32]);
    let mut nonce = [0u8; 8];
    nonce.copy_from_slice(&digest[32..40]);
    let mut salsa = SalsaCore::<U10>::new(&key.into(), &nonce.into());

    let mem = &mut scratch.0[..];
    mem.fill(0);
    let mut bulk = Salsa20::new(&key.into(), &nonce.into());
    bulk.apply_keystream(mem);
    for i in 64..MEMORY {
        mem[i] ^= mem[i - 64];
    }
    // The single-block stream continues where the bulk fill ended.
    salsa.set_block_pos((MEMORY / 64) as u64);

    const WORDS: usize = MEMORY / 8;
    let mut w = 0;
    while w < WORDS {
        let a = u64::from_be_bytes(word(mem, w));
        let b = u64::from_be_bytes(word(mem, w + 1));
        w += 2;
        let i1 = (a % 8) as usize * 8;
        let i2 = (b % WORDS as u64) as usize * 8;
        let mut tmp = [0u8; 8];
        tmp.copy_from_slice(&mem[i2..i2 + 8]);
        mem[i2..i2 + 8].copy_from_slice(&digest[i1..i1 + 8]);
        digest[i1..i1 + 8].copy_from_slice(&tmp);
        let mut ks = Default::default();
        salsa.write_keystream_block(&mut ks);
        for (d, k) in digest.iter_mut().zip(ks.iter()) {
            *d ^= k;
        }
    }
    digest
}

fn word(mem: &[u8], index: usize) -> [u8; 8] {
    let mut w = [0u8; 8];
    w.copy_from_slice(&mem[index * 8..index * 8 + 8]);
    w
}
