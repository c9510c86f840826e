//! Datagram entry: packet header view, fragment view and reassembly, dearmor, LZ4.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ztcd::crypto::SymmetricKey;
use ztcd::crypto::armor;
use ztcd::node::reassembly::Reassembler;
use ztcd::wire::fragment::{self, Fragment};
use ztcd::wire::packet::decompress_payload;
use ztcd::wire::{Header, PacketView};

fuzz_target!(|data: &[u8]| {
    let mut r = Reassembler::new();
    // Treat the input as a sequence of datagrams separated by a 2-byte length prefix.
    let mut rest = data;
    let mut now = 0u64;
    while rest.len() >= 2 {
        let n = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let d = &rest[2..2 + n];
        rest = &rest[2 + n..];
        now += 100;
        let assembled = if fragment::is_fragment(d) {
            Fragment::new_checked(d).ok().and_then(|f| r.on_fragment(now, &f))
        } else if d.len() >= 28 && d[18] & 0x40 != 0 {
            r.on_head(now, u64::from_be_bytes(d[..8].try_into().unwrap()), d)
        } else {
            Some(d.to_vec())
        };
        let Some(mut p) = assembled else { continue };
        if let Ok(view) = PacketView::new_checked(&p[..]) {
            let _ = Header::parse(&view);
            let mut out = vec![0u8; 10_024];
            let _ = decompress_payload(view.payload(), &mut out);
        }
        let _ = armor::dearmor(&mut p, &SymmetricKey::from_bytes([7; 48]));
    }
});
