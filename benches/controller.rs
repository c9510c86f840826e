//! Benchmarks of the controller in-process. Run: `cargo bench --bench controller`.
//!
//! µs per configuration request: a cache hit (restamp, no SQLite, no signature), a cache miss
//! (database reads, a COM signature, rendering), and the first request of a new member
//! (record created, address assigned, written with fsync), on a database file in /tmp.

use std::hint::black_box;
use std::time::Instant;

use ztcd::controller::model::{Member, Network, Pool, Route};
use ztcd::controller::store::Store;
use ztcd::controller::{ConfigRequest, Controller, Reply};
use ztcd::crypto::c25519::KeyPair;
use ztcd::crypto::hashcash::Scratch;
use ztcd::crypto::{Entropy, SeededEntropy};
use ztcd::identity::{Identity, IdentitySecret};
use ztcd::wire::{Address, NetworkId};

const META: &[u8] =
    b"v=7\nvend=1\npv=c\nmajv=1\nminv=8\nrevv=4\nmr=400\nmc=80\nmcr=40\nmt=80\nf=0\nrevr=1";

fn member_identity(rng: &mut SeededEntropy) -> Identity {
    // The controller trusts the node to have validated identities; any key will do here.
    let keys = KeyPair::generate(rng);
    Identity::new(
        Address::new(0x10_0000_0000 | ((rng.next_u64() & 0xff_ffff_ffff) % 0xef_ffff_ffff)),
        *keys.public(),
    )
}

/// A request as a member with the usual 1.8 metadata sends it.
fn request(id: &Identity, network_id: NetworkId) -> ConfigRequest<'static> {
    ConfigRequest {
        from: *id,
        network_id,
        metadata: META,
        physical: None,
    }
}

fn report(name: &str, n: u32, elapsed: std::time::Duration) {
    let per = elapsed / n;
    println!(
        "{name:<52} {:>9.2} µs/op {:>10.0} ops/s",
        per.as_nanos() as f64 / 1e3,
        1e9 / per.as_nanos() as f64
    );
}

fn main() {
    let mut rng = SeededEntropy::new(9);
    let controller_id = IdentitySecret::generate(&mut rng, &mut Scratch::new());
    let path = std::env::temp_dir().join(format!("ztcd-bench-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut c = Controller::new(controller_id, Store::open(&path).unwrap());
    let nwid = c.network_id(1);
    let mut n = Network::new(nwid, 0);
    n.private = true;
    n.v4_assign_zt = true;
    n.ip_assignment_pools.push(Pool {
        ip_range_start: "10.0.0.1".parse().unwrap(),
        ip_range_end: "10.0.255.254".parse().unwrap(),
    });
    n.routes.push(Route {
        target: ztcd::controller::cidr("10.0.0.0/16").unwrap(),
        via: None,
    });
    c.store().put_network(&n).unwrap();

    // First requests of new (pre-authorized) members.
    let members: Vec<Identity> = (0..2000).map(|_| member_identity(&mut rng)).collect();
    for id in &members {
        let mut m = Member::new(nwid, id.address(), 0);
        m.authorized = true;
        c.store().put_member(&m).unwrap();
    }
    let mut mono = 0u64;
    let t = Instant::now();
    for id in &members {
        let req = request(id, nwid);
        assert!(matches!(
            c.handle_request(mono, 1_700_000_000_000, &req),
            Reply::Config(_)
        ));
    }
    report(
        "first request of a new member (assign + fsync)",
        members.len() as u32,
        t.elapsed(),
    );

    // Cache hits: members re-asking.
    let rounds = 50u32;
    let t = Instant::now();
    for round in 0..rounds {
        mono += 1001;
        for id in &members {
            let req = request(id, nwid);
            let r = c.handle_request(mono, 1_700_000_000_000 + u64::from(round), &req);
            black_box(&r);
        }
    }
    report(
        "steady state: cache hit",
        rounds * members.len() as u32,
        t.elapsed(),
    );
    let s = c.cache_stats();
    println!(
        "cache: hits={} misses={} com_refreshes={}",
        s.hits, s.misses, s.com_refreshes
    );

    // Cache misses: the cache emptied before every request.
    let t = Instant::now();
    for id in members.iter().take(1000) {
        mono += 1001;
        c.store();
        let req = request(id, nwid);
        black_box(c.handle_request(mono, 1_700_000_100_000, &req));
    }
    report("cache miss (database + COM signature)", 1000, t.elapsed());
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("db-wal"));
    let _ = std::fs::remove_file(path.with_extension("db-shm"));
}
