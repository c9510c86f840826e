//! Benchmarks of the wire/crypto core. Run: `cargo bench --bench core`.
//!
//! Prints one line per measurement; nothing is asserted. Timings are medians of several
//! batches so a noisy neighbour skews them less.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ztcd::crypto::armor::{self, Cipher};
use ztcd::crypto::hashcash::Scratch;
use ztcd::crypto::{Entropy, SeededEntropy, SymmetricKey};
use ztcd::identity::IdentitySecret;
use ztcd::wire::dictionary::{DictWriter, Dictionary};

/// Runs `f` in `batches` batches of `iters` calls and returns the median time per call.
fn median_per_call(batches: usize, iters: u32, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..batches)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed() / iters
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn report(name: &str, per_call: Duration, bytes: Option<usize>) {
    let ns = per_call.as_nanos() as f64;
    match bytes {
        Some(b) => println!(
            "{name:<44} {:>12.3} µs/op {:>10.0} ops/s {:>9.1} MB/s",
            ns / 1e3,
            1e9 / ns,
            b as f64 * 1e3 / ns
        ),
        None => println!(
            "{name:<44} {:>12.3} µs/op {:>10.0} ops/s",
            ns / 1e3,
            1e9 / ns
        ),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let mut rng = SeededEntropy::new(42);
    let mut scratch = Scratch::new();

    let t = Instant::now();
    let n = 8;
    let ids: Vec<IdentitySecret> = (0..n)
        .map(|_| IdentitySecret::generate(&mut rng, &mut scratch))
        .collect();
    report("identity generation (mean of 8)", t.elapsed() / n, None);

    let mut i = 0;
    let per = median_per_call(5, 10, || {
        let id = ids[i % ids.len()].identity();
        i += 1;
        black_box(id.validate(&mut scratch)).unwrap();
    });
    report("identity validation", per, None);

    let a = &ids[0];
    let b = ids[1].identity();
    report(
        "key agreement (X25519 + SHA-512)",
        median_per_call(5, 200, || {
            black_box(a.agree(black_box(b)));
        }),
        None,
    );
    let msg = [7u8; 256];
    report(
        "signature (96-byte C25519, 256-byte message)",
        median_per_call(5, 200, || {
            black_box(a.sign(black_box(&msg)));
        }),
        None,
    );
    let sig = a.sign(&msg);
    report(
        "signature verification",
        median_per_call(5, 200, || {
            assert!(a.identity().verify(black_box(&msg), &sig));
        }),
        None,
    );

    let key = SymmetricKey::from_bytes([9; 48]);
    for size in [100usize, 1400] {
        let mut packet = vec![0u8; size];
        rng.fill(&mut packet);
        let template = packet.clone();
        let per = median_per_call(7, 20_000, || {
            armor::armor(black_box(&mut packet), &key, Cipher::Salsa2012Poly1305).unwrap();
        });
        report(
            &format!("armor cipher 1, {size}-byte packet"),
            per,
            Some(size),
        );
        let mut armored = template.clone();
        armor::armor(&mut armored, &key, Cipher::Salsa2012Poly1305).unwrap();
        let per = median_per_call(7, 20_000, || {
            packet.copy_from_slice(&armored);
            armor::dearmor(black_box(&mut packet), &key).unwrap();
        });
        report(
            &format!("dearmor cipher 1, {size}-byte packet (+copy)"),
            per,
            Some(size),
        );
    }

    // A ~1 KB configuration dictionary with the keys and value shapes a controller sends.
    let com = vec![0x5au8; 272];
    let build = || {
        let mut d = DictWriter::new(64 * 1024);
        for (k, v) in [
            ("v", 7u64),
            ("nwid", 0x8e4d_f28b_7200_0001),
            ("ts", 0x18b_cfe5_6800),
        ] {
            d.add_u64(k, v).unwrap();
        }
        for (k, v) in [
            ("ctmd", 0x1b_7740u64),
            ("r", 1),
            ("id", 0x28_63f8_5472),
            ("tt", 0),
            ("tl", 0),
        ] {
            d.add_u64(k, v).unwrap();
        }
        for (k, v) in [("f", 2u64), ("ml", 0x20), ("t", 0), ("mtu", 2800)] {
            d.add_u64(k, v).unwrap();
        }
        d.add_str("n", "office network").unwrap();
        d.add_bytes("C", &com).unwrap();
        d.add_bytes("COO", &com[..200]).unwrap();
        d.add_bytes("RT", &[4, 10, 147, 17, 0, 0, 24, 0, 0, 0, 0, 0])
            .unwrap();
        d.add_bytes("I", &[4, 10, 147, 17, 5, 0, 24]).unwrap();
        d.add_bytes("R", &[1, 0]).unwrap();
        d.add_bytes("DNS", &[0u8; 132]).unwrap();
        d.into_bytes()
    };
    let dict = build();
    report(
        &format!("dictionary build ({} bytes)", dict.len()),
        median_per_call(7, 20_000, || {
            black_box(build());
        }),
        Some(dict.len()),
    );
    report(
        &format!("dictionary parse, 8 lookups ({} bytes)", dict.len()),
        median_per_call(7, 20_000, || {
            let d = Dictionary::new(black_box(&dict), 64 * 1024).unwrap();
            for k in ["v", "nwid", "ts", "id", "ml", "mtu"] {
                black_box(d.u64(k));
            }
            black_box(d.bytes("C"));
            black_box(d.bytes("R"));
        }),
        Some(dict.len()),
    );
}
