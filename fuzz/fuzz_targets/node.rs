//! The node's datagram entry point: any sequence of datagrams from any sources, with time
//! moving on, never panics. (Fuzzing builds accept any MAC, so the verb handlers are reached.)
#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use ztcd::identity::IdentitySecret;
use ztcd::node::{Event, LocalSocket, Node, NodeConfig};

const IDENTITIES: &str = include_str!("../../tests/vectors/identities.txt");

fn root() -> Option<IdentitySecret> {
    let line = IDENTITIES.lines().find_map(|l| l.strip_prefix("known_good="))?;
    IdentitySecret::parse(line).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some(identity) = root() else { return };
    let mut node = Node::new(NodeConfig {
        identity,
        planet: None,
        moon: None,
        rng_seed: 1,
        limits: ztcd::limits::TableLimits::default(),
    });
    let mut now = 0u64;
    let mut rest = data;
    while rest.len() >= 3 {
        let n = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 3);
        let src = rest[2];
        let d = &rest[3..3 + n];
        rest = &rest[3 + n..];
        now += u64::from(src) * 37;
        let from: SocketAddr = SocketAddr::from(([10, 0, src >> 4, src], 9993));
        node.handle_datagram(now, LocalSocket(0), from, d);
        while node.poll_transmit().is_some() {}
        while let Some(e) = node.poll_event() {
            if let Event::ValidateIdentity(id) = e {
                node.identity_checked(now, id, src % 2 == 0);
            }
        }
        node.handle_timeout(now);
    }
});
