//! Replies and paths: per-peer quotas, the probe that confirms a new path, the OK that
//! answers it, and where (and how much) a reply may be sent: to confirmed paths, or within
//! the credit of the path a HELLO or ECHO came on.

use super::Node;
use super::handlers::Request;
use crate::limits::{
    CONFIG_REQUESTS_PER_SECOND, ECHO_PER_SECOND, GATHER_PER_SECOND, REPLY_BYTES_PER_SECOND,
    WHOIS_PER_SECOND,
};
use crate::node::peer::Path;
use crate::wire::packet::HEADER_LEN;
use crate::wire::verbs::OkHeader;
use crate::wire::{Address, Verb, Writer};

impl Node {
    /// Takes a token from `source`'s quota for `verb`; counts a refusal.
    pub(super) fn quota(&mut self, now: u64, source: Address, verb: Verb) -> bool {
        let Some(peer) = self.peers.get_mut(source) else {
            return false;
        };
        let q = &mut peer.quotas;
        let (bucket, rate) = match verb {
            Verb::Whois => (&mut q.whois, WHOIS_PER_SECOND),
            Verb::MulticastGather => (&mut q.gather, GATHER_PER_SECOND),
            Verb::Echo => (&mut q.echo, ECHO_PER_SECOND),
            _ => (&mut q.config, CONFIG_REQUESTS_PER_SECOND),
        };
        let ok = bucket.take(now, rate, 2 * rate);
        if !ok {
            self.stats.dropped_peer_quota += 1;
        }
        ok
    }

    /// Sends an ECHO with a fresh packet ID on a path when one is due ([`Path::probe_due`]):
    /// on an unconfirmed path within its credit, the peer's OK confirms the path; on a
    /// confirmed one it measures the round trip again.
    pub(super) fn probe(&mut self, now: u64, to: Address, path: Path) {
        let current = self
            .peers
            .get(to)
            .and_then(|p| p.path(path.local, path.remote));
        if let Some(path) = current.filter(|p| p.probe_due(now)) {
            self.send_probe(now, to, path);
        }
    }

    /// Sends the probe (an ECHO with a fresh packet ID) on `path` now.
    pub(super) fn send_probe(&mut self, now: u64, to: Address, path: Path) {
        // An empty ECHO (a bare header, the smallest packet there is): its OK is matched by
        // the packet ID alone.
        let Some(id) = self.send_metered(now, to, path, Verb::Echo, &[]) else {
            return;
        };
        self.stats.probes_sent += 1;
        if let Some(p) = self
            .peers
            .get_mut(to)
            .and_then(|p| p.path_mut(path.local, path.remote))
        {
            p.probe = Some((id, now));
        }
    }

    /// An OK from a peer: one answering a probe confirms the path it came on (and sends the
    /// worlds an earlier OK(HELLO) on it had to leave out).
    pub(super) fn on_ok(&mut self, now: u64, rq: Request, payload: &[u8]) {
        let Ok((ok, _)) = OkHeader::parse(payload) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        if ok.in_re_verb == Verb::Hello {
            self.on_ok_hello(now, rq, ok.in_re_packet_id, &payload[OkHeader::LEN..]);
            return;
        }
        let Some(path) = rq.arrival else {
            self.stats.ignored_verbs += 1;
            return;
        };
        let Some(peer) = self.peers.get_mut(rq.source) else {
            return;
        };
        let confirmed = (ok.in_re_verb == Verb::Echo)
            .then(|| peer.confirm(now, path.local, path.remote, ok.in_re_packet_id))
            .flatten();
        match confirmed {
            None => {
                self.stats.ignored_verbs += 1;
                return;
            }
            Some(false) => return,
            Some(true) => self.stats.paths_confirmed += 1,
        }
        if let Some(d) = peer.deferred.take() {
            let confirmed = peer.best_path(now, None);
            self.answer_hello(now, rq.source, d, confirmed);
        }
    }

    /// Sends OK(in re `verb`, `rq.packet_id`) with `body`: on the arrival path if confirmed,
    /// else on the peer's best confirmed path, else (OK(HELLO) and OK(ECHO) only) on the
    /// arrival path within its credit. Counted against the global reply budget.
    pub(super) fn reply(&mut self, now: u64, rq: Request, verb: Verb, body: &[u8]) {
        let mut payload = vec![0u8; OkHeader::LEN + body.len()];
        let header = OkHeader {
            in_re_verb: verb,
            in_re_packet_id: rq.packet_id,
        };
        if header.emit(&mut Writer::new(&mut payload)).is_err() {
            return;
        }
        payload[OkHeader::LEN..].copy_from_slice(body);
        let size = HEADER_LEN + payload.len();
        let rate = REPLY_BYTES_PER_SECOND;
        if !self
            .reply_budget
            .take_n(now, rate, rate, u32::try_from(size).unwrap_or(u32::MAX))
        {
            self.stats.dropped_reply_budget += 1;
            return;
        }
        let Some(peer) = self.peers.get(rq.source) else {
            self.stats.dropped_unconfirmed_path += 1;
            return;
        };
        // The arrival path as it stands now (the probe or an earlier reply may have used
        // some of its credit).
        let arrival = rq.arrival.and_then(|a| peer.path(a.local, a.remote));
        let best = peer.best_path(now, None);
        let path = match (arrival, best) {
            (Some(a), _) if a.confirmed => Some(a),
            // The answer to a HELLO or ECHO may go where it came from, within that path's
            // credit; anything else only to a confirmed path.
            (Some(a), _)
                if matches!(verb, Verb::Hello | Verb::Echo) && a.credit as usize >= size =>
            {
                self.send_metered(now, rq.source, a, Verb::Ok, &payload);
                return;
            }
            (_, b) => self.route(now, rq.source, b),
        };
        match path {
            Some(p) => {
                self.send(now, rq.source, Verb::Ok, &payload, Some(p));
            }
            None => self.stats.dropped_unconfirmed_path += 1,
        }
    }
}
