//! ztcd: a ZeroTier-compatible network controller and root node for routers and small boards.
//!
//! The library is layered (see the README's architecture section):
//! - [`wire`]: sans-IO codecs for the ZeroTier packet formats (no crypto, no time, no sockets);
//! - [`crypto`]: thin wrappers over audited primitives (X25519, Ed25519, Salsa20, Poly1305);
//! - [`identity`]: ZeroTier identities (generation, proof-of-work validation, text forms);
//! - [`world`]: signed planet and moon files;
//! - [`node`]: sans-IO node state (fragment reassembly so far);
//! - [`runtime`]: the only code that touches the file system, clocks and OS randomness.

pub mod admin;
pub mod backup;
pub mod cli;
pub mod client;
pub mod controller;
pub mod crypto;
pub mod hex;
pub mod identity;
pub mod limits;
pub mod node;
pub mod runtime;
pub mod wire;
pub mod world;
