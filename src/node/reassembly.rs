//! Reassembly of fragmented packets, bounded by [`REASSEMBLY_SLOTS`] packets in flight.
//!
//! Fragments may arrive before their head and in any order. A slot completes when the head and
//! every fragment `1..total` are present; it expires [`FRAGMENT_TIMEOUT_MS`] after its first
//! piece. When all slots are busy the oldest is evicted. Nothing here authenticates: the caller
//! dearmors the assembled packet.

use crate::limits::{FRAGMENT_TIMEOUT_MS, MAX_PACKET_FRAGMENTS, MAX_PACKET_LEN, REASSEMBLY_SLOTS};
use crate::wire::fragment::Fragment;

/// Counters of what reassembly dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    /// Packets completed.
    pub completed: u64,
    /// Slots evicted because all were busy.
    pub evicted: u64,
    /// Slots dropped because they timed out.
    pub expired: u64,
    /// Slots dropped because their pieces disagreed (total count, size).
    pub inconsistent: u64,
}

#[derive(Debug)]
struct Slot {
    packet_id: u64,
    started: u64,
    total: Option<u8>,
    pieces: [Option<Vec<u8>>; MAX_PACKET_FRAGMENTS],
}

impl Slot {
    fn is_complete(&self) -> bool {
        self.total
            .is_some_and(|t| self.pieces[..usize::from(t)].iter().all(Option::is_some))
    }

    fn size(&self) -> usize {
        self.pieces.iter().flatten().map(Vec::len).sum()
    }
}

/// Bounded fragment reassembly state.
#[derive(Debug, Default)]
pub struct Reassembler {
    slots: Vec<Slot>,
    stats: ReassemblyStats,
}

impl Reassembler {
    /// An empty reassembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// What was completed or dropped so far.
    pub fn stats(&self) -> ReassemblyStats {
        self.stats
    }

    /// Packets currently waiting for pieces.
    pub fn pending(&self) -> usize {
        self.slots.len()
    }

    /// Offers the head datagram of a fragmented packet; returns the packet if now complete.
    pub fn on_head(&mut self, now: u64, packet_id: u64, head: &[u8]) -> Option<Vec<u8>> {
        self.insert(now, packet_id, None, 0, head)
    }

    /// Offers a fragment; returns the assembled packet if now complete.
    pub fn on_fragment<T: AsRef<[u8]>>(&mut self, now: u64, f: &Fragment<T>) -> Option<Vec<u8>> {
        self.insert(
            now,
            f.packet_id(),
            Some(f.total()),
            usize::from(f.number()),
            f.data(),
        )
    }

    /// Drops slots older than the timeout.
    pub fn expire(&mut self, now: u64) {
        let before = self.slots.len();
        self.slots
            .retain(|s| now.saturating_sub(s.started) < FRAGMENT_TIMEOUT_MS);
        self.stats.expired += (before - self.slots.len()) as u64;
    }

    /// When the oldest slot expires, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        self.slots
            .iter()
            .map(|s| s.started + FRAGMENT_TIMEOUT_MS)
            .min()
    }

    fn insert(
        &mut self,
        now: u64,
        packet_id: u64,
        total: Option<u8>,
        number: usize,
        data: &[u8],
    ) -> Option<Vec<u8>> {
        self.expire(now);
        let idx = match self.slots.iter().position(|s| s.packet_id == packet_id) {
            Some(i) => i,
            None => {
                if self.slots.len() >= REASSEMBLY_SLOTS {
                    let oldest = (0..self.slots.len()).min_by_key(|&i| self.slots[i].started)?;
                    self.slots.swap_remove(oldest);
                    self.stats.evicted += 1;
                }
                self.slots.push(Slot {
                    packet_id,
                    started: now,
                    total: None,
                    pieces: Default::default(),
                });
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[idx];
        let consistent = match (slot.total, total) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        } && number < MAX_PACKET_FRAGMENTS
            && slot.size() + data.len() <= MAX_PACKET_LEN;
        if !consistent {
            self.slots.swap_remove(idx);
            self.stats.inconsistent += 1;
            return None;
        }
        if total.is_some() {
            slot.total = total;
        }
        if slot.pieces[number].is_none() {
            slot.pieces[number] = Some(data.to_vec());
        }
        if !slot.is_complete() {
            return None;
        }
        let slot = self.slots.swap_remove(idx);
        self.stats.completed += 1;
        let mut out = Vec::with_capacity(slot.size());
        for piece in slot.pieces.into_iter().flatten() {
            out.extend_from_slice(&piece);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Entropy, SeededEntropy};
    use crate::wire::fragment::split;

    fn datagrams(id: u8, len: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
        let mut packet: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
        packet[..8].fill(id);
        let mut out = Vec::new();
        split(&packet, 1432, |d| out.push(d.to_vec())).unwrap();
        (packet, out)
    }

    fn offer(r: &mut Reassembler, now: u64, d: &[u8]) -> Option<Vec<u8>> {
        match Fragment::new_checked(d) {
            Ok(f) => r.on_fragment(now, &f),
            Err(_) => r.on_head(now, u64::from_be_bytes(d[..8].try_into().unwrap()), d),
        }
    }

    #[test]
    fn any_order_with_duplicates() {
        let mut rng = SeededEntropy::new(3);
        for round in 0..50u8 {
            let (packet, mut ds) = datagrams(round, 3000 + usize::from(round) * 97);
            let dup = ds[1].clone();
            ds.push(dup);
            for i in (1..ds.len()).rev() {
                let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                ds.swap(i, j);
            }
            let mut r = Reassembler::new();
            let done: Vec<_> = ds.iter().filter_map(|d| offer(&mut r, 0, d)).collect();
            assert_eq!(done, vec![packet]);
        }
    }

    #[test]
    fn loss_expires_and_slots_are_bounded() {
        let mut r = Reassembler::new();
        let (_, ds) = datagrams(1, 5000);
        for d in &ds[..ds.len() - 1] {
            assert!(offer(&mut r, 0, d).is_none());
        }
        assert_eq!(r.pending(), 1);
        r.expire(FRAGMENT_TIMEOUT_MS);
        assert_eq!((r.pending(), r.stats().expired), (0, 1));
        for id in 0..(REASSEMBLY_SLOTS as u64 + 10) {
            r.on_head(id, id, &[0; 100]);
        }
        assert_eq!(r.pending(), REASSEMBLY_SLOTS);
        assert_eq!(r.stats().evicted, 10);
    }

    #[test]
    fn inconsistent_totals_drop_the_slot() {
        let mut r = Reassembler::new();
        let (_, a) = datagrams(9, 3000);
        let (_, b) = datagrams(9, 5000);
        assert!(offer(&mut r, 0, &a[1]).is_none());
        assert!(offer(&mut r, 0, &b[1]).is_none());
        assert_eq!((r.pending(), r.stats().inconsistent), (0, 1));
    }
}
