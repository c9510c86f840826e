//! The network controller: policy and configuration, no sockets.

pub mod ip_assign;
pub mod model;
pub mod netconf;
pub mod store;
