//! The admin server's request handling over arbitrary bytes: head parsing, the Host check,
//! chunked bodies fed in arbitrary pieces, the token check and the router. Nothing may panic,
//! and every bound holds (heads and bodies never exceed their caps).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ztcd::admin::http::{Chunked, host_allowed, parse_head};
use ztcd::admin::{routes, token_ok};
use ztcd::limits::{ADMIN_MAX_BODY, ADMIN_MAX_HEAD};
use ztcd::wire::Address;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let Ok(Some((head, len))) = parse_head(rest) else {
        // A body-only run: the chunked decoder in pieces of `split` bytes.
        let mut c = Chunked::default();
        let mut out = Vec::new();
        let mut pending = Vec::new();
        for piece in rest.chunks(usize::from(split).max(1)) {
            pending.extend_from_slice(piece);
            match c.feed(&pending, &mut out) {
                Ok((used, _)) => {
                    assert!(used <= pending.len());
                    pending.drain(..used);
                }
                Err(_) => break,
            }
            assert!(out.len() <= ADMIN_MAX_BODY);
            assert!(pending.len() <= ADMIN_MAX_HEAD + rest.len());
        }
        return;
    };
    assert!(len <= ADMIN_MAX_HEAD && len <= rest.len());
    if let Some(h) = head.header("Host") {
        let _ = host_allowed(h, &["router.lan".to_owned()]);
    }
    let _ = token_ok(&head.headers, &head.query, "token");
    let body = &rest[len..];
    let _ = routes::route(&head.method, &head.path, &head.query, body, Address::new(0x11_2233_4455));
});
