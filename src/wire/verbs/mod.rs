//! One `Repr` per verb family: `parse` from a dearmored, decompressed payload (the bytes after
//! the verb byte), `buffer_len`, and `emit`.

pub mod error;
pub mod hello;
pub mod multicast;
pub mod netconf;
pub mod ok;
pub mod peers;

pub use error::{ErrorCode, ErrorRepr};
pub use hello::{HelloRepr, OkHelloRepr};
pub use multicast::{GatherRepr, LikeRepr, MulticastSub, OkGatherRepr};
pub use netconf::{ConfigChunk, ConfigRequest};
pub use ok::OkHeader;
pub use peers::{RendezvousRepr, WhoisRepr};
