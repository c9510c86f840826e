//! The backup file format: a small archive of named files, LZ4-compressed, sealed with
//! XChaCha20-Poly1305.
//!
//! ```text
//! "ZTCDBK01" (8) ‖ nonce (24) ‖ ciphertext ‖ tag (16)      AAD = the first 32 bytes
//! plaintext = u32-LE uncompressed length ‖ LZ4 block of the archive
//! archive   = { u16 name length ‖ name ‖ u32 data length ‖ data }*
//! ```
//! Nothing of a file is trusted before its tag verifies; names are checked against an
//! allow-list before anything is written.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// File magic and format version.
pub const MAGIC: &[u8; 8] = b"ZTCDBK01";
/// Bytes before the ciphertext.
pub const HEADER_LEN: usize = 8 + 24;
/// Largest archive accepted when opening (uncompressed bytes).
pub const MAX_ARCHIVE_LEN: usize = 1 << 30;

/// Why a backup could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// Not a ztcd backup (wrong magic, too short).
    NotABackup,
    /// The tag did not verify: wrong key, or the file was changed or truncated.
    Inauthentic,
    /// Authentic but malformed inside (a ztcd bug, never an attacker).
    Corrupt(&'static str),
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotABackup => f.write_str("not a ztcd backup file"),
            Self::Inauthentic => f.write_str(
                "authentication failed: wrong key, or the file was modified or truncated",
            ),
            Self::Corrupt(what) => write!(f, "backup content is malformed: {what}"),
        }
    }
}

/// One file of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative path (see [`allowed_name`]).
    pub name: String,
    /// Contents.
    pub data: Vec<u8>,
}

/// Whether a restore may write a file of this name: the home's fixed files and moons.
pub fn allowed_name(name: &str) -> bool {
    const FIXED: &[&str] = &[
        "manifest.json",
        "controller.db",
        "identity.secret",
        "identity.public",
        "planet",
        "planet.c25519",
        "moon.c25519",
        "authtoken.secret",
    ];
    if FIXED.contains(&name) {
        return true;
    }
    name.strip_prefix("moons.d/")
        .and_then(|f| f.strip_suffix(".moon"))
        .is_some_and(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Packs and seals `entries` under `key` with `nonce` (random, never reused with a key).
pub fn seal(key: &[u8; 32], nonce: &[u8; 24], entries: &[Entry]) -> Vec<u8> {
    let mut archive = Vec::new();
    for e in entries {
        archive.extend_from_slice(&(e.name.len() as u16).to_be_bytes());
        archive.extend_from_slice(e.name.as_bytes());
        archive.extend_from_slice(&(e.data.len() as u32).to_be_bytes());
        archive.extend_from_slice(&e.data);
    }
    let mut plain = vec![0u8; 4 + lz4_flex::block::get_maximum_output_size(archive.len())];
    plain[..4].copy_from_slice(&(archive.len() as u32).to_le_bytes());
    // unwrap safety: the buffer has the block format's worst-case size.
    let n = lz4_flex::block::compress_into(&archive, &mut plain[4..]).unwrap_or(0);
    plain.truncate(4 + n);
    let mut out = Vec::with_capacity(HEADER_LEN + plain.len() + 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(nonce);
    let cipher = XChaCha20Poly1305::new(key.into());
    let payload = Payload {
        msg: &plain,
        aad: &out[..HEADER_LEN],
    };
    // unwrap safety: encryption fails only for messages over 256 GiB.
    let sealed = cipher
        .encrypt(&XNonce::from(*nonce), payload)
        .unwrap_or_default();
    out.extend_from_slice(&sealed);
    out
}

/// Verifies and unpacks a backup.
pub fn open(key: &[u8; 32], file: &[u8]) -> Result<Vec<Entry>, FormatError> {
    if file.len() < HEADER_LEN + 16 || &file[..8] != MAGIC {
        return Err(FormatError::NotABackup);
    }
    let nonce: [u8; 24] = file[8..HEADER_LEN]
        .try_into()
        .map_err(|_| FormatError::NotABackup)?;
    let cipher = XChaCha20Poly1305::new(key.into());
    let payload = Payload {
        msg: &file[HEADER_LEN..],
        aad: &file[..HEADER_LEN],
    };
    let plain = cipher
        .decrypt(&XNonce::from(nonce), payload)
        .map_err(|_| FormatError::Inauthentic)?;
    let declared = plain
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or(FormatError::Corrupt("no length"))?;
    if declared > MAX_ARCHIVE_LEN {
        return Err(FormatError::Corrupt("archive too large"));
    }
    let mut archive = vec![0u8; declared];
    match lz4_flex::block::decompress_into(&plain[4..], &mut archive) {
        Ok(n) if n == declared => {}
        _ => return Err(FormatError::Corrupt("compression")),
    }
    let mut entries = Vec::new();
    let mut rest = &archive[..];
    while !rest.is_empty() {
        let take = |rest: &mut &[u8], n: usize| -> Result<Vec<u8>, FormatError> {
            if rest.len() < n {
                return Err(FormatError::Corrupt("truncated entry"));
            }
            let (a, b) = rest.split_at(n);
            *rest = b;
            Ok(a.to_vec())
        };
        let n = take(&mut rest, 2)?;
        let name = String::from_utf8(take(
            &mut rest,
            usize::from(u16::from_be_bytes([n[0], n[1]])),
        )?)
        .map_err(|_| FormatError::Corrupt("name"))?;
        let l = take(&mut rest, 4)?;
        let data = take(
            &mut rest,
            u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize,
        )?;
        if !allowed_name(&name) {
            return Err(FormatError::Corrupt("unexpected file name"));
        }
        entries.push(Entry { name, data });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_opens_and_refuses_any_change() {
        let key = [7u8; 32];
        let entries = vec![
            Entry {
                name: "controller.db".into(),
                data: vec![1; 5000],
            },
            Entry {
                name: "moons.d/00000012345678ab.moon".into(),
                data: b"moon".to_vec(),
            },
        ];
        let file = seal(&key, &[3; 24], &entries);
        assert!(file.len() < 200, "compressed: {}", file.len());
        assert_eq!(open(&key, &file).unwrap(), entries);
        for i in [0, 9, 40, file.len() - 1] {
            let mut bad = file.clone();
            bad[i] ^= 1;
            let e = open(&key, &bad).unwrap_err();
            assert!(
                matches!(e, FormatError::Inauthentic | FormatError::NotABackup),
                "{i}"
            );
        }
        assert_eq!(
            open(&key, &file[..file.len() - 1]),
            Err(FormatError::Inauthentic)
        );
        assert_eq!(open(&[8; 32], &file), Err(FormatError::Inauthentic));
        assert_eq!(open(&key, b"hello"), Err(FormatError::NotABackup));
        assert!(!allowed_name("../identity.secret"));
        assert!(!allowed_name("moons.d/../../x.moon"));
    }
}
