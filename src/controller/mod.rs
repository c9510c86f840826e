//! The network controller: policy and configuration, no sockets.

pub mod ip_assign;
pub mod netconf;
