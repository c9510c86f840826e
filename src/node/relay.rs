//! Relaying between peers: packets and fragments forwarded with their hop count raised, and
//! RENDEZVOUS introductions so relayed pairs can talk directly.

use super::Node;
use crate::limits::MAX_RENDEZVOUS_PAIRS;
use crate::node::Transmit;
use crate::wire::packet::MAX_HOPS;
use crate::wire::{Address, Verb};

impl Node {
    /// Relays a packet or fragment addressed to someone else.
    pub(super) fn relay(
        &mut self,
        now: u64,
        data: &[u8],
        source: Option<Address>,
        dest: Address,
        hops: u8,
    ) {
        if source == Some(self.address) {
            self.stats.dropped_own_source += 1;
            return;
        }
        if hops >= MAX_HOPS {
            self.stats.relay_dropped_hops += 1;
            return;
        }
        let Some(path) = self.peers.get(dest).and_then(|p| p.best_path(now, None)) else {
            self.stats.relay_dropped_no_path += 1;
            return;
        };
        let mut out = data.to_vec();
        // Both were checked on arrival; the views cannot fail here.
        let counted = match source {
            Some(_) => {
                let p = crate::wire::packet::Packet::new_checked(&mut out[..]);
                p.map(|mut p| p.set_hops(hops + 1))
                    .map(|()| &mut self.stats.relayed_packets)
            }
            None => {
                let f = crate::wire::fragment::Fragment::new_checked(&mut out[..]);
                f.map(|mut f| f.set_hops(hops + 1))
                    .map(|()| &mut self.stats.relayed_fragments)
            }
        };
        match counted {
            Ok(counter) => *counter += 1,
            Err(_) => {
                self.stats.dropped_malformed += 1;
                return;
            }
        }
        self.push_transmit(Transmit {
            local: path.local,
            to: path.remote,
            data: out,
        });
        self.sent_on(now, dest, path);
        if let Some(src) = source {
            self.maybe_rendezvous(now, src, dest);
        }
    }

    /// Introduces two peers whose traffic we relay so they can talk directly.
    fn maybe_rendezvous(&mut self, now: u64, a: Address, b: Address) {
        let pair = (a.min(b), a.max(b));
        if self
            .rendezvous
            .get(&pair)
            .is_some_and(|&t| now.saturating_sub(t) < crate::limits::RENDEZVOUS_INTERVAL_MS)
        {
            return;
        }
        let (Some(pa), Some(pb)) = (self.peers.get(a), self.peers.get(b)) else {
            return;
        };
        let (Some(path_a), Some(path_b)) = (pa.best_path(now, None), pb.best_path(now, None))
        else {
            return;
        };
        let path_b = pb
            .best_path(now, Some(path_a.remote.is_ipv4()))
            .unwrap_or(path_b);
        if self.rendezvous.len() >= MAX_RENDEZVOUS_PAIRS {
            self.rendezvous.clear();
        }
        self.rendezvous.insert(pair, now);
        for (to, to_path, other, other_path) in [(a, path_a, b, path_b), (b, path_b, a, path_a)] {
            let repr = crate::wire::verbs::RendezvousRepr {
                flags: 0,
                with: other,
                at: other_path.remote,
            };
            let mut payload = vec![0u8; repr.buffer_len()];
            if repr
                .emit(&mut crate::wire::Writer::new(&mut payload))
                .is_ok()
                && self.send(now, to, Verb::Rendezvous, &payload, Some(to_path))
            {
                self.stats.rendezvous_sent += 1;
            }
        }
    }
}
