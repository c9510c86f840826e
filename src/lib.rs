//! ztcd: a ZeroTier-compatible network controller and root node for routers and small boards.
//!
//! The library is layered; `tests/layering.rs` checks that imports only point down:
//! - [`wire`]: sans-IO codecs for the ZeroTier packet formats (no crypto, no time, no sockets);
//! - [`crypto`]: thin wrappers over audited primitives (X25519, Ed25519, Salsa20, Poly1305);
//! - [`identity`], [`world`]: ZeroTier identities and signed planet and moon files;
//! - [`node`]: the sans-IO root node (peers, paths, relaying, multicast), time passed in;
//! - [`controller`]: the network controller over its SQLite [`controller::store`] (policy,
//!   configuration rendering, the zerotier-one API), time passed in; every write is a typed
//!   [`controller::change::Change`] carried out in one transaction, and the controller runs
//!   its own timers behind `poll_timeout`/`handle_timeout`;
//! - [`home`]: the home directory's files and its owner lock;
//! - [`admin`]: the admin HTTP server on the owner's executor (framing, limits, routes);
//! - [`backup`]: backups, restore and the zerotier-one import;
//! - [`serve`]: the node and the controller joined without I/O (answers after one commit,
//!   pushes delivered), used by the runtime and by the simulation tests alike;
//! - [`runtime`]: `ztcd run` (sockets, signals, threads, the owner loop) and the management
//!   commands, the only code that drives the others with real time, sockets and randomness.

pub mod admin;
pub mod backup;
pub mod cli;
pub mod client;
pub mod controller;
pub mod crypto;
pub mod hex;
pub mod home;
pub mod identity;
pub mod limits;
pub mod node;
pub mod runtime;
pub mod serve;
#[doc(hidden)]
pub mod testkit;
pub mod wire;
pub mod world;
