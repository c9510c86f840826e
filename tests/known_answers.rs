//! Known-answer tests: ZeroTierOne's selftest vectors and the end-to-end vectors of the
//! protocol notes, byte for byte.

mod common;

use common::{arr, hex, vector_lines, vector_map};
use salsa20::cipher::{KeyIvInit, StreamCipher};
use ztcd::crypto::armor::{self, Cipher};
use ztcd::crypto::c25519::{KeyPair, SecretKey, verify};
use ztcd::crypto::hashcash::{Scratch, memory_hard_hash};
use ztcd::crypto::{SymmetricKey, sha512};
use ztcd::identity::{Identity, IdentityError, IdentitySecret};
use ztcd::wire::com::Com;
use ztcd::wire::verbs::HelloRepr;
use ztcd::wire::world::{World, WorldKind};
use ztcd::wire::{Address, Header, PacketView, Reader, Verb, Writer};

const CLIENT: &str = "2863f85472:0:04478f877a214f32ee273c13461a81aef5c4deeca5e3c07e09a455422f55e529e944e020e7bb7c7e75621520a590b4f1a86baef9e35cb075e854e6aa3b4a1063:14d2b3375e44441737267351985ecd176f1449821d518d9627388326a3eec9219cf28d36f145bc523c114b51a2c6f9e1ca41cadfd08c4289b7f768bb38409b31";

fn known_good() -> IdentitySecret {
    IdentitySecret::parse(&vector_map("identities.txt")["known_good"]).unwrap()
}

#[test]
fn salsa20_poly1305_sha512() {
    let v = vector_map("salsa_poly_sha.txt");
    let mut ks = [0u8; 64];
    salsa20::Salsa20::new(
        &arr::<32>(&v["s20_key"]).into(),
        &arr::<8>(&v["s20_iv"]).into(),
    )
    .apply_keystream(&mut ks);
    assert_eq!(ks.to_vec(), hex(&v["s20_ks"]));
    let mut ks = [0u8; 64];
    salsa20::Salsa12::new(
        &arr::<32>(&v["s2012_key"]).into(),
        &arr::<8>(&v["s2012_iv"]).into(),
    )
    .apply_keystream(&mut ks);
    assert_eq!(ks.to_vec(), hex(&v["s2012_ks"]));
    for tv in ["tv0", "tv1"] {
        use poly1305::universal_hash::KeyInit;
        let key = arr::<32>(&v[&format!("poly1305_{tv}_key")]);
        let tag = poly1305::Poly1305::new(&key.into())
            .compute_unpadded(&hex(&v[&format!("poly1305_{tv}_input")]));
        assert_eq!(tag.to_vec(), hex(&v[&format!("poly1305_{tv}_tag")]));
    }
    assert_eq!(
        sha512(&hex(&v["sha512_tv0_input"])).to_vec(),
        hex(&v["sha512_tv0_digest"])
    );
}

#[test]
fn c25519_agreement_and_signatures() {
    let lines = vector_lines("c25519.txt");
    assert_eq!(lines.len(), 32);
    for line in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        let k1 = KeyPair::from_secret(SecretKey::from_bytes(arr(f[1])));
        let k2 = KeyPair::from_secret(SecretKey::from_bytes(arr(f[3])));
        assert_eq!(k1.public().to_vec(), hex(f[0]));
        assert_eq!(k2.public().to_vec(), hex(f[2]));
        let agreement = hex(f[4]);
        assert_eq!(k1.agree(k2.public()).as_bytes()[..], agreement[..48]);
        assert_eq!(k2.agree(k1.public()).as_bytes()[..], agreement[..48]);
        assert_eq!(k1.sign(&agreement).to_vec(), hex(f[5]));
        assert_eq!(k2.sign(&agreement).to_vec(), hex(f[6]));
        assert!(verify(k1.public(), &agreement, &hex(f[5])));
        assert!(!verify(k2.public(), &agreement, &hex(f[5])));
        let mut bad = hex(f[6]);
        bad[10] ^= 1;
        assert!(!verify(k2.public(), &agreement, &bad));
    }
}

#[test]
fn known_identities() {
    let v = vector_map("identities.txt");
    let good = known_good();
    let mut scratch = Scratch::new();
    good.identity().validate(&mut scratch).unwrap();
    assert_eq!(good.to_secret_string(), v["known_good"]);
    let digest = memory_hard_hash(good.identity().public_key(), &mut scratch);
    assert_eq!(
        ztcd::hex::encode(&digest),
        "10b1afd388c4c1561f184ed54cd5bd012a1c8edf5a5975200bb15608dba0b5eb\
         b9faa360a0c6bf99cf684e015bf5bda9d347a4867a5515fa48c6c58e4df28b72"
    );
    let bad: Identity = v["known_bad"].parse().unwrap();
    assert!(matches!(
        bad.validate(&mut scratch),
        Err(IdentityError::AddressMismatch { .. })
    ));
    let client = IdentitySecret::parse(CLIENT).unwrap();
    client.identity().validate(&mut scratch).unwrap();
}

#[test]
fn the_built_in_planet_parses_verifies_and_round_trips() {
    let bytes = hex(&vector_lines("earth_planet.hex")[0]);
    let world = World::from_bytes(&bytes).unwrap();
    assert_eq!(
        (world.kind, world.id, world.roots.len()),
        (WorldKind::Planet, 149_604_618, 4)
    );
    assert_eq!(world.timestamp, 1_644_592_324_813);
    assert!(ztcd::world::verify(&world, &world.update_key));
    assert_eq!(world.to_bytes().unwrap(), bytes);
    let mut tampered = bytes.clone();
    tampered[200] ^= 1;
    if let Ok(w) = World::from_bytes(&tampered) {
        assert!(!ztcd::world::verify(&w, &w.update_key));
    }
}

#[test]
fn end_to_end_key_and_hello() {
    let controller = known_good();
    let client = IdentitySecret::parse(CLIENT).unwrap();
    let key = client.agree(controller.identity());
    assert_eq!(
        ztcd::hex::encode(key.as_bytes()),
        "24b36289a4f31d9f38562ecfecb9eec86c296d20f0f0341532ba8ef14e42053c43e9d63cd9fb4a4fe85522b45780fa6f"
    );
    let wire = hex(
        "a1a2a3a4a5a6a7a88e4df28b722863f854720044d9ac429cbd5780010b010e00010000018f000000002863f854720004478f877a214f32ee273c13461a81aef5c4deeca5e3c07e09a455422f55e529e944e020e7bb7c7e75621520a590b4f1a86baef9e35cb075e854e6aa3b4a10630004c000020127090000000008eac90a0000017ee95760cd3fa5",
    );
    // Receive: MAC check, decrypt the tail, parse.
    let mut rx = wire.clone();
    assert_eq!(armor::dearmor(&mut rx, &key), Ok(Cipher::Poly1305None));
    let packet = PacketView::new_checked(&rx[..]).unwrap();
    let header = Header::parse(&packet).unwrap();
    assert_eq!(header.verb, Verb::Hello);
    assert_eq!(header.destination, controller.address());
    assert_eq!(header.source, client.address());
    let tail = HelloRepr::tail_offset(packet.payload()).unwrap().unwrap();
    let mut payload = packet.payload().to_vec();
    armor::crypt_field(&key, wire[..8].try_into().unwrap(), &mut payload[tail..]);
    let hello = HelloRepr::parse(&payload).unwrap();
    assert_eq!(hello.protocol_version, 11);
    assert_eq!((hello.major, hello.minor, hello.revision), (1, 14, 1));
    assert_eq!(hello.timestamp, 0x0000_018f_0000_0000);
    assert_eq!(Identity::from(hello.identity), *client.identity());
    assert_eq!(hello.destination, Some("192.0.2.1/9993".parse().unwrap()));
    assert_eq!(hello.planet, Some((149_604_618, 1_644_592_324_813)));
    assert!(hello.moons.is_empty());

    // Send: emit, encrypt the tail, armor — byte-identical to the vector.
    let mut tx = vec![0u8; 28 + hello.buffer_len()];
    Header {
        packet_id: 0xa1a2_a3a4_a5a6_a7a8,
        destination: controller.address(),
        source: client.address(),
        verb: Verb::Hello,
    }
    .emit(&mut tx)
    .unwrap();
    hello.emit(&mut Writer::new(&mut tx[28..])).unwrap();
    let off = 28 + hello.emitted_tail_offset().unwrap();
    armor::crypt_field(&key, tx[..8].try_into().unwrap(), &mut tx[off..]);
    armor::armor(&mut tx, &key, Cipher::Poly1305None).unwrap();
    assert_eq!(tx, wire);
}

#[test]
fn certificate_of_membership() {
    let controller = known_good();
    let client = IdentitySecret::parse(CLIENT).unwrap();
    let bytes = hex(
        "01000700000000000000000000018bcfe5680000000000001b774000000000000000018e4df28b72000001000000000000000000000000000000020000002863f85472ffffffffffffffff0000000000000003955f2cc2c9894332ffffffffffffffff0000000000000004fa8d6496f6abbda4ffffffffffffffff00000000000000057d44ded9363c3d99ffffffffffffffff00000000000000064c5796e4d2425152ffffffffffffffff8e4df28b7200edc9b639257ea0470d87649d4a78c20926b1256b922fb5786cf94646dcfcb9dddeaae0a02a69b25952fea841916e46b2d8fc37ed0ad68c12339901c826040f6222bb5eea48bb673204364883b3dd40ec53f44d35506f58d66fe0e8441e50fe",
    );
    assert_eq!(bytes.len(), 272);
    let mut r = Reader::new(&bytes);
    let com = Com::parse(&mut r).unwrap();
    r.finish().unwrap();
    assert_eq!(com.signed_by, controller.address());
    assert_eq!(com.value(2), Some(client.address().to_u64()));
    let hash = client.identity().public_key_hash();
    assert_eq!(
        com.value(3),
        Some(u64::from_be_bytes(hash[..8].try_into().unwrap()))
    );
    let message = com.signing_message();
    assert!(
        controller
            .identity()
            .verify(&message, com.signature.as_ref().unwrap())
    );
    assert_eq!(controller.sign(&message), com.signature.unwrap());
    let mut out = vec![0u8; com.buffer_len()];
    com.emit(&mut Writer::new(&mut out)).unwrap();
    assert_eq!(out, bytes);
    assert_eq!(Address::new(0x8e_4df2_8b72), com.signed_by);
    let _ = SymmetricKey::from_bytes([0; 48]);
}
