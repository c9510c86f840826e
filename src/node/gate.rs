//! The identity validation queue. Validating a new identity costs a memory-hard hash, so:
//!
//! - at most [`VALIDATIONS_PER_SECOND`] start per second, evenly spaced, and at most
//!   [`MAX_VALIDATIONS_IN_FLIGHT`] run at once;
//! - a source prefix (IPv4 /24, IPv6 /48) gets at most one validation per
//!   [`VALIDATION_SOURCE_INTERVAL_MS`] and holds at most one waiting HELLO (the newest);
//! - when a slot frees, the waiting HELLO whose prefix was served longest ago goes first, so a
//!   prefix that floods cannot crowd out one that asks for the first time;
//! - at most [`MAX_PENDING_VALIDATIONS`] wait; when full, the entry whose prefix was served
//!   most recently makes room.
//!
//! Identities validated before never come here.

use std::collections::HashMap;
use std::net::IpAddr;

use super::peer::Bucket;
use crate::limits::{
    AGREEMENTS_PER_PREFIX_PER_SECOND, AGREEMENTS_PER_SECOND, KNOWN_AGREEMENTS_PER_SECOND,
    MAX_AGREEMENT_PREFIXES, MAX_PENDING_VALIDATIONS, MAX_VALIDATION_SOURCES,
    MAX_VALIDATIONS_IN_FLIGHT, VALIDATION_SOURCE_INTERVAL_MS, VALIDATION_WAIT_MS,
    VALIDATIONS_PER_SECOND,
};
use crate::wire::Address;

/// The prefix a source address is rate-limited by.
pub(super) fn prefix(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => u64::from(u32::from(v4) >> 8),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u64::from(u32::from(v4) >> 8),
            None => (1 << 63) | (u128::from(v6) >> 80) as u64,
        },
    }
}

#[derive(Debug)]
struct Entry<T> {
    address: Address,
    prefix: u64,
    received: u64,
    running: bool,
    item: T,
}

/// What happened to an offered item.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Offer {
    /// Queued (possibly replacing an older one from the same prefix).
    Queued,
    /// Refused: this identity is already queued or being validated, or no room.
    Refused,
}

/// Waiting and running validations, each carrying an item of type `T` (the parked HELLO).
#[derive(Debug)]
pub(super) struct ValidationQueue<T> {
    entries: Vec<Entry<T>>,
    served: HashMap<u64, u64>,
    next_slot: u64,
    /// Items dropped to make room or superseded (counted by the node as rate-limited).
    pub(super) displaced: u64,
}

impl<T> Default for ValidationQueue<T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            served: HashMap::new(),
            next_slot: 0,
            displaced: 0,
        }
    }
}

impl<T> ValidationQueue<T> {
    fn last_served(&self, prefix: u64) -> u64 {
        self.served.get(&prefix).copied().unwrap_or(0)
    }

    /// Offers a HELLO from `address` (arriving from `ip`) for validation.
    pub(super) fn offer(&mut self, now: u64, address: Address, ip: IpAddr, item: T) -> Offer {
        let prefix = prefix(ip);
        if let Some(i) = self.entries.iter().position(|e| e.address == address) {
            // A client reachable from several networks: wait in the line of the one served
            // least recently.
            let e = &self.entries[i];
            if e.running || self.last_served(prefix) >= self.last_served(e.prefix) {
                return Offer::Refused;
            }
            self.entries.swap_remove(i);
        }
        if let Some(i) = self
            .entries
            .iter()
            .position(|e| e.prefix == prefix && !e.running)
        {
            self.entries.swap_remove(i);
            self.displaced += 1;
        } else if self.entries.len() >= MAX_PENDING_VALIDATIONS {
            let mine = self.last_served(prefix);
            let victim = (0..self.entries.len())
                .filter(|&i| !self.entries[i].running)
                .max_by_key(|&i| self.last_served(self.entries[i].prefix));
            match victim {
                Some(i) if self.last_served(self.entries[i].prefix) >= mine => {
                    self.entries.swap_remove(i);
                    self.displaced += 1;
                }
                _ => return Offer::Refused,
            }
        }
        self.entries.push(Entry {
            address,
            prefix,
            received: now,
            running: false,
            item,
        });
        Offer::Queued
    }

    /// Starts the next validation if a slot is free; returns the address to validate.
    pub(super) fn start_next(&mut self, now: u64) -> Option<Address> {
        let running = self.entries.iter().filter(|e| e.running).count();
        if now < self.next_slot || running >= MAX_VALIDATIONS_IN_FLIGHT {
            return None;
        }
        let i = (0..self.entries.len())
            .filter(|&i| {
                let e = &self.entries[i];
                let waited = now.saturating_sub(self.last_served(e.prefix));
                !e.running
                    && (waited >= VALIDATION_SOURCE_INTERVAL_MS
                        || !self.served.contains_key(&e.prefix))
            })
            .min_by_key(|&i| {
                (
                    self.last_served(self.entries[i].prefix),
                    self.entries[i].received,
                )
            })?;
        let e = &mut self.entries[i];
        e.running = true;
        let (prefix, address) = (e.prefix, e.address);
        if self.served.len() >= MAX_VALIDATION_SOURCES {
            self.served
                .retain(|_, &mut t| now.saturating_sub(t) < VALIDATION_SOURCE_INTERVAL_MS);
            if self.served.len() >= MAX_VALIDATION_SOURCES {
                self.served.clear();
            }
        }
        self.served.insert(prefix, now);
        self.next_slot = now + 1000 / u64::from(VALIDATIONS_PER_SECOND.max(1));
        Some(address)
    }

    /// The item queued for `address`.
    pub(super) fn item(&self, address: Address) -> Option<&T> {
        self.entries
            .iter()
            .find(|e| e.address == address)
            .map(|e| &e.item)
    }

    /// Takes the item of a finished validation.
    pub(super) fn finish(&mut self, address: Address) -> Option<T> {
        let i = self
            .entries
            .iter()
            .position(|e| e.address == address && e.running)?;
        Some(self.entries.swap_remove(i).item)
    }

    /// When a waiting entry could next start: the next slot, or later if every waiting
    /// entry's prefix was served too recently; `None` if none waits or every slot is running
    /// (a finished validation starts the next one). Never a time at which `start_next` would
    /// still refuse, so the caller's timer does not spin.
    pub(super) fn next_deadline(&self) -> Option<u64> {
        let running = self.entries.iter().filter(|e| e.running).count();
        if running >= MAX_VALIDATIONS_IN_FLIGHT {
            return None;
        }
        let eligible = self
            .entries
            .iter()
            .filter(|e| !e.running)
            .map(|e| match self.served.get(&e.prefix) {
                Some(t) => t + VALIDATION_SOURCE_INTERVAL_MS,
                None => 0,
            })
            .min()?;
        Some(eligible.max(self.next_slot))
    }

    /// Drops entries older than [`VALIDATION_WAIT_MS`]; returns how many.
    pub(super) fn expire(&mut self, now: u64) -> usize {
        let before = self.entries.len();
        self.entries
            .retain(|e| now.saturating_sub(e.received) < VALIDATION_WAIT_MS);
        before - self.entries.len()
    }

    /// Entries waiting or running.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// The gate in front of key agreement for HELLOs from identities without a cached key: a
/// token bucket per source prefix and one for everyone, checked before any X25519 or SHA-512
/// work, so a flood of random-key HELLOs costs a hash-map lookup each.
/// Identities validated before (the persisted set: members coming back after a restart) draw
/// on a bucket of their own, so a flood of unknown identities cannot delay them.
#[derive(Debug, Default)]
pub(super) struct AgreementGate {
    global: Bucket,
    known: Bucket,
    prefixes: HashMap<u64, Bucket>,
}

impl AgreementGate {
    /// Whether a HELLO from `ip` may cost a key agreement now; `known` when its identity was
    /// validated before.
    pub(super) fn allow(&mut self, now: u64, ip: IpAddr, known: bool) -> bool {
        if known {
            let rate = KNOWN_AGREEMENTS_PER_SECOND;
            return self.known.take(now, rate, rate);
        }
        let key = prefix(ip);
        if self.prefixes.len() >= MAX_AGREEMENT_PREFIXES && !self.prefixes.contains_key(&key) {
            // Bounded: forgetting every prefix at once only forgives a burst.
            self.prefixes.clear();
        }
        let per = AGREEMENTS_PER_PREFIX_PER_SECOND;
        self.prefixes
            .entry(key)
            .or_default()
            .take(now, per, 2 * per)
            && self
                .global
                .take(now, AGREEMENTS_PER_SECOND, AGREEMENTS_PER_SECOND)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn spacing_prefix_interval_and_fairness() {
        let mut q = ValidationQueue::default();
        assert_eq!(
            q.offer(0, Address::new(1), ip("10.0.0.1"), ()),
            Offer::Queued
        );
        assert_eq!(
            q.offer(0, Address::new(1), ip("10.0.0.1"), ()),
            Offer::Refused
        );
        // The same identity seen from a prefix served less recently moves to that line.
        q.served.insert(prefix(ip("10.0.0.1")), 0);
        q.served.insert(prefix(ip("10.5.0.1")), 0);
        assert_eq!(
            q.offer(0, Address::new(1), ip("10.5.0.1"), ()),
            Offer::Refused
        );
        q.served.clear();
        assert_eq!(q.start_next(0), Some(Address::new(1)));
        // Same /24 again: queued, but not before the prefix interval.
        assert_eq!(
            q.offer(1, Address::new(2), ip("10.0.0.9"), ()),
            Offer::Queued
        );
        // A newer HELLO from that /24 supersedes the waiting one.
        assert_eq!(
            q.offer(2, Address::new(3), ip("10.0.0.7"), ()),
            Offer::Queued
        );
        assert_eq!(q.displaced, 1);
        assert_eq!(q.start_next(500), None);
        // A never-served prefix goes first.
        q.offer(600, Address::new(4), ip("10.9.9.9"), ());
        assert_eq!(q.start_next(600), Some(Address::new(4)));
        // Two run at once at most.
        assert_eq!(q.start_next(2000), None);
        assert!(q.finish(Address::new(1)).is_some());
        assert!(q.finish(Address::new(1)).is_none());
        assert_eq!(q.start_next(2000), Some(Address::new(3)));
    }

    #[test]
    fn deadline_is_when_something_can_start() {
        let mut q = ValidationQueue::default();
        assert_eq!(q.next_deadline(), None);
        q.offer(0, Address::new(1), ip("10.0.0.1"), ());
        assert_eq!(q.next_deadline(), Some(0));
        assert_eq!(q.start_next(0), Some(Address::new(1)));
        // A waiting HELLO from the /24 just served: not before the prefix interval, although
        // the next slot (100 ms) comes sooner.
        q.offer(5, Address::new(2), ip("10.0.0.2"), ());
        let at = q.next_deadline().unwrap();
        assert_eq!(at, VALIDATION_SOURCE_INTERVAL_MS);
        assert_eq!(q.start_next(at - 1), None);
        // Another prefix can go at the next slot.
        q.offer(6, Address::new(3), ip("10.1.0.2"), ());
        assert_eq!(q.next_deadline(), Some(100));
        assert_eq!(q.start_next(100), Some(Address::new(3)));
        // Every slot running: no deadline (a finished validation starts the next).
        assert_eq!(q.next_deadline(), None);
        q.finish(Address::new(1));
        assert_eq!(q.next_deadline(), Some(at));
        assert_eq!(q.start_next(at), Some(Address::new(2)));
    }

    #[test]
    fn bounded_and_new_prefixes_win_room() {
        let mut q = ValidationQueue::default();
        for i in 0..MAX_PENDING_VALIDATIONS as u64 {
            q.offer(
                0,
                Address::new(100 + i),
                ip(&format!("10.{}.{}.1", i / 250, i % 250)),
                (),
            );
            q.served
                .insert(prefix(ip(&format!("10.{}.{}.1", i / 250, i % 250))), 5);
        }
        assert_eq!(q.len(), MAX_PENDING_VALIDATIONS);
        assert_eq!(
            q.offer(10, Address::new(9), ip("192.168.7.1"), ()),
            Offer::Queued
        );
        assert_eq!(q.len(), MAX_PENDING_VALIDATIONS);
        assert_eq!(
            q.start_next(VALIDATION_SOURCE_INTERVAL_MS),
            Some(Address::new(9))
        );
        q.expire(VALIDATION_WAIT_MS + 10);
        assert_eq!(q.len(), 0);
    }
}
