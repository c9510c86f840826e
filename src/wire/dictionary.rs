//! ZeroTier's Dictionary: `key=value` entries separated by LF, values escaped so the whole is a
//! NUL-free text (`Dictionary.hpp`).
//!
//! Escapes: NUL → `\0`, CR → `\r`, LF → `\n`, `\` → `\\`, `=` → `\e`; other bytes raw. A reader
//! ends a value at LF or CR and maps `\` + any other byte to that byte. Lookup returns the first
//! entry whose key matches exactly. Integers are lowercase hex (any length on read; a leading
//! `-` for negative values).

use super::{Error, Result};

/// A dictionary being built, bounded by a capacity fixed at creation.
#[derive(Clone, Debug)]
pub struct DictWriter {
    buf: Vec<u8>,
    cap: usize,
}

impl DictWriter {
    /// An empty dictionary that refuses to grow beyond `cap` bytes.
    pub fn new(cap: usize) -> Self {
        Self {
            buf: Vec::with_capacity(cap.min(4096)),
            cap,
        }
    }

    /// A dictionary that starts with `entries` (a dictionary's bytes, e.g. another writer's)
    /// and refuses to grow beyond `cap` bytes.
    pub fn with_entries(entries: &[u8], cap: usize) -> Result<Self> {
        if entries.len() > cap {
            return Err(Error::BadLength);
        }
        let mut buf = Vec::with_capacity(cap.min(entries.len() + 1024));
        buf.extend_from_slice(entries);
        Ok(Self { buf, cap })
    }

    /// Adds an entry with a raw (binary or text) value, escaping it.
    pub fn add_bytes(&mut self, key: &str, value: &[u8]) -> Result<()> {
        if key.is_empty() || key.bytes().any(|c| matches!(c, b'=' | b'\n' | b'\r' | 0)) {
            return Err(Error::Malformed("dictionary key"));
        }
        let start = self.buf.len();
        if !self.buf.is_empty() {
            self.buf.push(b'\n');
        }
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.push(b'=');
        // Copy runs that need no escape whole (most bytes of a binary value).
        let mut rest = value;
        while let Some(i) = rest
            .iter()
            .position(|b| matches!(b, 0 | b'\r' | b'\n' | b'\\' | b'='))
        {
            self.buf.extend_from_slice(&rest[..i]);
            self.buf.extend_from_slice(match rest[i] {
                0 => b"\\0",
                b'\r' => b"\\r",
                b'\n' => b"\\n",
                b'\\' => b"\\\\",
                _ => b"\\e",
            });
            rest = &rest[i + 1..];
        }
        self.buf.extend_from_slice(rest);
        if self.buf.len() > self.cap {
            self.buf.truncate(start);
            return Err(Error::BadLength);
        }
        Ok(())
    }

    /// Adds a text entry.
    pub fn add_str(&mut self, key: &str, value: &str) -> Result<()> {
        self.add_bytes(key, value.as_bytes())
    }

    /// Adds an unsigned integer as 16 lowercase hex digits (as ZeroTier writes them).
    pub fn add_u64(&mut self, key: &str, value: u64) -> Result<()> {
        self.add_str(key, &format!("{value:016x}"))
    }

    /// Adds a boolean as `1` or `0`.
    pub fn add_bool(&mut self, key: &str, value: bool) -> Result<()> {
        self.add_str(key, if value { "1" } else { "0" })
    }

    /// The serialized dictionary (no terminating NUL).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Consumes the writer, returning the serialized dictionary.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// A read-only view of a serialized dictionary. Nothing is copied until a value is unescaped.
#[derive(Clone, Copy, Debug)]
pub struct Dictionary<'a> {
    text: &'a [u8],
}

impl<'a> Dictionary<'a> {
    /// Wraps serialized bytes (stops at the first NUL, as the C string would).
    pub fn new(text: &'a [u8], cap: usize) -> Result<Self> {
        let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
        if end > cap {
            return Err(Error::BadLength);
        }
        Ok(Self { text: &text[..end] })
    }

    /// The entries as (key, escaped value) pairs, in order. Lines without `=` are skipped.
    pub fn entries(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        self.text.split(|&b| b == b'\n').filter_map(|line| {
            let eq = line.iter().position(|&b| b == b'=')?;
            let value = &line[eq + 1..];
            let end = value
                .iter()
                .position(|&b| b == b'\r')
                .unwrap_or(value.len());
            Some((&line[..eq], &value[..end]))
        })
    }

    /// The escaped value of the first entry named `key`.
    pub fn raw(&self, key: &str) -> Option<&'a [u8]> {
        self.entries()
            .find(|(k, _)| *k == key.as_bytes())
            .map(|(_, v)| v)
    }

    /// The unescaped value of `key`.
    pub fn bytes(&self, key: &str) -> Option<Vec<u8>> {
        self.raw(key).map(unescape)
    }

    /// The value of `key` as text (invalid UTF-8 is replaced).
    pub fn string(&self, key: &str) -> Option<String> {
        self.bytes(key)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// The value of `key` as a hex integer (`None` if absent or not hex).
    pub fn u64(&self, key: &str) -> Option<u64> {
        let v = self.raw(key)?;
        if v.is_empty() || v.len() > 16 {
            return None;
        }
        v.iter().try_fold(0u64, |acc, &c| {
            Some((acc << 4) | u64::from((c as char).to_digit(16)?))
        })
    }

    /// The value of `key` as a boolean (`1`, `t` or `T` first means true).
    pub fn bool(&self, key: &str) -> Option<bool> {
        self.raw(key)
            .map(|v| matches!(v.first(), Some(b'1' | b't' | b'T')))
    }
}

/// Unescapes a raw dictionary value.
pub fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut it = raw.iter();
    while let Some(&b) = it.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match it.next() {
            Some(b'0') => out.push(0),
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b'e') => out.push(b'='),
            Some(&other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_round_trip() {
        let binary: Vec<u8> = (0..=255u8).collect();
        let mut w = DictWriter::new(2048);
        w.add_u64("v", 7).unwrap();
        w.add_bytes("R", &[1, 0]).unwrap();
        w.add_bytes("bin", &binary).unwrap();
        w.add_str("n", "a=b\\c").unwrap();
        w.add_bool("b", true).unwrap();
        let bytes = w.into_bytes();
        assert!(!bytes.contains(&0));
        assert!(bytes.starts_with(b"v=0000000000000007\nR=\x01\\0\n"));
        let d = Dictionary::new(&bytes, 2048).unwrap();
        assert_eq!(d.u64("v"), Some(7));
        assert_eq!(d.bytes("R"), Some(vec![1, 0]));
        assert_eq!(d.bytes("bin"), Some(binary));
        assert_eq!(d.string("n").as_deref(), Some("a=b\\c"));
        assert_eq!(d.bool("b"), Some(true));
        assert_eq!(d.raw("missing"), None);
    }

    #[test]
    fn reader_rules() {
        let d = Dictionary::new(b"a=1\r\nx\na=2\nb=\\q\nh=zz\x00c=3", 100).unwrap();
        assert_eq!(d.u64("a"), Some(1));
        assert_eq!(d.bytes("b"), Some(b"q".to_vec()));
        assert_eq!(d.u64("h"), None);
        assert_eq!(d.raw("c"), None);
        assert!(Dictionary::new(&[b'a'; 10], 5).is_err());
    }

    #[test]
    fn bounds_and_bad_keys() {
        let mut w = DictWriter::new(8);
        assert!(w.add_str("k=", "v").is_err());
        w.add_str("a", "1").unwrap();
        assert_eq!(w.add_str("b", "too long"), Err(Error::BadLength));
        assert_eq!(w.as_bytes(), b"a=1");
    }
}
