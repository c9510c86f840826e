//! The sans-IO ZeroTier node. So far: fragment reassembly.

pub mod reassembly;
