//! Every verb parser, selected by the first byte; canonical parses must re-emit identically.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ztcd::wire::verbs::*;
use ztcd::wire::Writer;

fn emit_same(len: usize, input: &[u8], emit: impl FnOnce(&mut Writer<'_>) -> ztcd::wire::Result<()>) {
    let mut out = vec![0u8; len];
    let mut w = Writer::new(&mut out);
    emit(&mut w).expect("emit of a parsed value");
    assert_eq!(w.position(), len);
    assert_eq!(&out[..], &input[..len.min(input.len())]);
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else { return };
    match sel % 10 {
        0 => {
            if let Ok(Some(off)) = HelloRepr::tail_offset(body) {
                assert!(off <= body.len());
            }
            if let Ok(h) = HelloRepr::parse(body) {
                let mut out = vec![0u8; h.buffer_len()];
                h.emit(&mut Writer::new(&mut out)).unwrap();
                assert_eq!(HelloRepr::parse(&out).unwrap(), h);
            }
        }
        1 => {
            if let Ok(ok) = OkHelloRepr::parse(body) {
                let mut out = vec![0u8; ok.buffer_len()];
                ok.emit(&mut Writer::new(&mut out)).unwrap();
                assert_eq!(OkHelloRepr::parse(&out).unwrap(), ok);
            }
        }
        2 => {
            if let Ok(e) = ErrorRepr::parse(body) {
                let mut out = vec![0u8; e.buffer_len()];
                e.emit(&mut Writer::new(&mut out)).unwrap();
            }
            let _ = OkHeader::parse(body);
        }
        3 => {
            if let Ok(w) = WhoisRepr::parse_request(body) {
                assert_eq!(w.addresses().count() * 5, body.len());
            }
            for id in WhoisRepr::parse_identities(body) {
                if id.is_err() {
                    break;
                }
            }
        }
        4 => {
            if let Ok(r) = RendezvousRepr::parse(body) {
                emit_same(r.buffer_len(), body, |w| r.emit(w));
            }
        }
        5 => {
            if let Ok(l) = LikeRepr::parse(body) {
                assert_eq!(l.subscriptions().count() * 18, body.len());
            }
        }
        6 => {
            if let Ok(g) = GatherRepr::parse(body) {
                let mut out = vec![0u8; g.buffer_len()];
                g.emit(&mut Writer::new(&mut out)).unwrap();
                assert_eq!(GatherRepr::parse(&out).unwrap(), g);
            }
        }
        7 => {
            if let Ok(g) = OkGatherRepr::parse(body) {
                emit_same(g.buffer_len(), body, |w| g.emit(w));
            }
        }
        8 => {
            if let Ok(r) = ConfigRequest::parse(body) {
                let mut out = vec![0u8; r.buffer_len()];
                r.emit(&mut Writer::new(&mut out)).unwrap();
            }
        }
        _ => {
            if let Ok(c) = ConfigChunk::parse(body) {
                emit_same(c.buffer_len(), body, |w| c.emit(w));
            }
        }
    }
});
