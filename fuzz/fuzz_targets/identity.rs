//! Identity text and binary forms.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ztcd::identity::{Identity, IdentitySecret};
use ztcd::wire::{IdentityRepr, InetAddress, Reader, Writer};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(id) = text.parse::<Identity>() {
            assert_eq!(id.to_string().parse::<Identity>().unwrap(), id);
        }
        let _ = IdentitySecret::parse(text);
        let _ = text.parse::<InetAddress>();
    }
    let mut r = Reader::new(data);
    if let Ok(id) = IdentityRepr::parse(&mut r) {
        let mut out = [0u8; 71];
        id.emit(&mut Writer::new(&mut out)).unwrap();
        assert_eq!(&out[..], &data[..71]);
    }
    let mut r = Reader::new(data);
    if let Ok(a) = InetAddress::parse(&mut r) {
        let mut out = [0u8; 19];
        a.emit(&mut Writer::new(&mut out)).unwrap();
    }
});
