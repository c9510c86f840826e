//! Dictionary reading, and escape round trips for arbitrary values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ztcd::wire::dictionary::{DictWriter, Dictionary};

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = Dictionary::new(data, 1 << 16) {
        for (k, _) in d.entries() {
            let key = String::from_utf8_lossy(k);
            let _ = (d.bytes(&key), d.u64(&key), d.bool(&key), d.string(&key));
        }
    }
    let mut w = DictWriter::new(1 << 17);
    if w.add_bytes("k", data).is_ok() {
        let bytes = w.into_bytes();
        assert!(!bytes.contains(&0));
        let d = Dictionary::new(&bytes, 1 << 17).unwrap();
        assert_eq!(d.bytes("k").unwrap(), data);
    }
});
