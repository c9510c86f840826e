//! A minimal ZeroTier peer built from the library's codecs, to drive a `Node` in tests the way
//! a real client would.

use std::net::SocketAddr;

use ztcd::client::ClientSession;
use ztcd::identity::{Identity, IdentitySecret};
use ztcd::node::{LocalSocket, Node, Transmit};
use ztcd::wire::fragment::{self, Fragment};
use ztcd::wire::packet::{FLAG_FRAGMENTED, FLAGS_OFFSET};
use ztcd::wire::{Address, Header, InetAddress, Verb};

/// A simulated peer at a physical address.
pub(crate) struct SimPeer {
    pub(crate) id: IdentitySecret,
    pub(crate) addr: SocketAddr,
    pub(crate) next_packet_id: u64,
    /// The protocol version its HELLOs announce (13: with extended armor).
    pub(crate) protocol: u8,
}

impl SimPeer {
    pub(crate) fn new(id: IdentitySecret, addr: &str) -> Self {
        Self {
            id,
            addr: addr.parse().unwrap(),
            next_packet_id: 0x1000,
            protocol: 12,
        }
    }

    pub(crate) fn address(&self) -> Address {
        self.id.address()
    }

    fn session(&mut self, to: &Identity) -> ClientSession {
        self.next_packet_id += 0x1000;
        let mut s = ClientSession::new(self.id.clone(), *to, self.next_packet_id);
        s.set_protocol(self.protocol);
        s
    }

    /// A HELLO to `to` (cipher 0, encrypted tail), announcing `planet`.
    pub(crate) fn hello(&mut self, to: &Identity, planet: (u64, u64)) -> (u64, Vec<u8>) {
        let sent_to = InetAddress::from_socket("10.0.0.1:9993".parse().unwrap());
        self.session(to).hello(0x1234, sent_to, planet).unwrap()
    }

    /// A cipher-1 packet to `to` (armored with the key shared with `to`), as datagrams.
    pub(crate) fn packet(
        &mut self,
        to: &Identity,
        verb: Verb,
        payload: &[u8],
    ) -> (u64, Vec<Vec<u8>>) {
        self.session(to).packet(verb, payload, false).unwrap()
    }

    /// The OK(ECHO) answering an ECHO from `to` (a root's path probe), as datagrams.
    pub(crate) fn answer_echo(
        &mut self,
        to: &Identity,
        echo: &Header,
        payload: &[u8],
    ) -> Vec<Vec<u8>> {
        self.session(to).answer_echo(echo, payload).unwrap()
    }

    /// Like [`SimPeer::packet`], LZ4-compressing the payload as clients do.
    pub(crate) fn packet_compressed(
        &mut self,
        to: &Identity,
        verb: Verb,
        payload: &[u8],
    ) -> (u64, Vec<Vec<u8>>) {
        self.session(to).packet(verb, payload, true).unwrap()
    }

    /// Dearmors a whole packet from `from`; returns its header and payload.
    pub(crate) fn open(&self, from: &Identity, packet: Vec<u8>) -> Option<(Header, Vec<u8>)> {
        ClientSession::new(self.id.clone(), *from, 0).open(packet)
    }

    /// Feeds datagrams from this peer into the node.
    pub(crate) fn deliver(&self, node: &mut Node, now: u64, datagrams: &[Vec<u8>]) {
        for d in datagrams {
            node.handle_datagram(now, LocalSocket(0), self.addr, d);
        }
    }
}

/// Drains every transmit the node queued.
pub(crate) fn drain(node: &mut Node) -> Vec<Transmit> {
    std::iter::from_fn(|| node.poll_transmit()).collect()
}

/// Reassembles the transmits sent to `to` into whole packets (in order of completion).
pub(crate) fn packets_to(transmits: &[Transmit], to: SocketAddr) -> Vec<Vec<u8>> {
    let mut r = ztcd::node::reassembly::Reassembler::new();
    let mut out = Vec::new();
    for t in transmits.iter().filter(|t| t.to == to) {
        if fragment::is_fragment(&t.data) {
            if let Some(p) = r.on_fragment(0, &Fragment::new_checked(&t.data[..]).unwrap()) {
                out.push(p);
            }
        } else if t.data[FLAGS_OFFSET] & FLAG_FRAGMENTED != 0 {
            let id = u64::from_be_bytes(t.data[..8].try_into().unwrap());
            if let Some(p) = r.on_head(0, id, &t.data) {
                out.push(p);
            }
        } else {
            out.push(t.data.clone());
        }
    }
    out
}
