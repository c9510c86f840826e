//! The identity validation gate: validating a new identity costs a memory-hard hash, so a
//! source prefix (IPv4 /24, IPv6 /48) gets one validation per
//! [`VALIDATION_SOURCE_INTERVAL_MS`], and all sources together at most
//! [`VALIDATIONS_PER_SECOND`]. Known identities never pass through here.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::limits::{
    MAX_VALIDATION_SOURCES, VALIDATION_SOURCE_INTERVAL_MS, VALIDATIONS_PER_SECOND,
};

/// The rate gate.
#[derive(Debug, Default)]
pub(super) struct ValidationGate {
    last_by_prefix: HashMap<u64, u64>,
    window_start: u64,
    in_window: u32,
}

/// The prefix a source address is rate-limited by.
fn prefix(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => u64::from(u32::from(v4) >> 8),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u64::from(u32::from(v4) >> 8),
            None => (1 << 63) | (u128::from(v6) >> 80) as u64,
        },
    }
}

impl ValidationGate {
    /// Whether a validation for a packet from `ip` may start now; records it if so.
    pub(super) fn admit(&mut self, now: u64, ip: IpAddr) -> bool {
        if now.saturating_sub(self.window_start) >= 1000 {
            self.window_start = now;
            self.in_window = 0;
        }
        if self.in_window >= VALIDATIONS_PER_SECOND {
            return false;
        }
        let key = prefix(ip);
        if let Some(&last) = self.last_by_prefix.get(&key)
            && now.saturating_sub(last) < VALIDATION_SOURCE_INTERVAL_MS
        {
            return false;
        }
        if self.last_by_prefix.len() >= MAX_VALIDATION_SOURCES {
            self.last_by_prefix
                .retain(|_, &mut t| now.saturating_sub(t) < VALIDATION_SOURCE_INTERVAL_MS);
            if self.last_by_prefix.len() >= MAX_VALIDATION_SOURCES {
                return false;
            }
        }
        self.last_by_prefix.insert(key, now);
        self.in_window += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_prefix_and_global_limits() {
        let mut g = ValidationGate::default();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(g.admit(0, ip("10.0.0.1")));
        assert!(!g.admit(10, ip("10.0.0.200")), "same /24");
        assert!(g.admit(10, ip("10.0.1.1")), "other /24");
        assert!(g.admit(VALIDATION_SOURCE_INTERVAL_MS, ip("10.0.0.7")));
        let mut g = ValidationGate::default();
        let admitted = (0..100)
            .filter(|i| g.admit(5, ip(&format!("10.{i}.0.1"))))
            .count();
        assert_eq!(admitted, VALIDATIONS_PER_SECOND as usize);
        assert!(g.admit(1005, ip("10.200.0.1")));
    }
}
