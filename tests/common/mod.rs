//! Shared helpers for the integration tests.
#![allow(dead_code)]

pub(crate) mod client;
pub(crate) mod http;
pub(crate) mod real;
pub(crate) mod udp_member;

use std::collections::HashMap;
use std::path::PathBuf;

/// Path of a file under `tests/vectors/`.
pub(crate) fn vector_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name)
}

/// Non-comment lines of a vectors file.
pub(crate) fn vector_lines(name: &str) -> Vec<String> {
    std::fs::read_to_string(vector_path(name))
        .expect("vector file")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// `key=value` lines of a vectors file.
pub(crate) fn vector_map(name: &str) -> HashMap<String, String> {
    vector_lines(name)
        .into_iter()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

/// Decodes hex, panicking on bad test data.
pub(crate) fn hex(s: &str) -> Vec<u8> {
    ztcd::hex::decode(&s.replace([' ', '\n'], "")).expect("hex test data")
}

/// Decodes hex into a fixed array.
pub(crate) fn arr<const N: usize>(s: &str) -> [u8; N] {
    hex(s).try_into().expect("length of test data")
}
