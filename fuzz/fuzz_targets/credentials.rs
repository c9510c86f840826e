//! Worlds, certificates of membership and rules blobs: parse, and re-emit byte-exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ztcd::wire::com::Com;
use ztcd::wire::rules::{emit_rules, parse_rules, rules_len};
use ztcd::wire::world::World;
use ztcd::wire::{Reader, Writer};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else { return };
    match sel % 3 {
        0 => {
            if let Ok(w) = World::from_bytes(body) {
                let _ = ztcd::world::verify(&w, &w.update_key);
                let _ = w.to_bytes().unwrap();
            }
        }
        1 => {
            let mut r = Reader::new(body);
            if let Ok(c) = Com::parse(&mut r) {
                let mut out = vec![0u8; c.buffer_len()];
                c.emit(&mut Writer::new(&mut out)).unwrap();
                assert_eq!(&out[..], &body[..r.position()]);
            }
        }
        _ => {
            if let Ok(rules) = parse_rules(body) {
                let mut out = vec![0u8; rules_len(&rules)];
                emit_rules(&rules, &mut Writer::new(&mut out)).unwrap();
                assert_eq!(parse_rules(&out).unwrap(), rules);
            }
        }
    }
});
