//! ztcd with 100,000 members in 10,000 networks (plus one network of 100,000 members): database
//! size, start-up time and RSS of the release daemon, admin list times, and `ztcd backup`,
//! `backup verify` and `restore` times and sizes.
//!
//! `cargo bench --bench scale`

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use ztcd::admin::client;
use ztcd::controller::model::{Member, Network, Pool, Route};
use ztcd::controller::store::Store;
use ztcd::testkit::{self, Ready};
use ztcd::wire::{Address, NetworkId};

const BIN: &str = env!("CARGO_BIN_EXE_ztcd");

/// `GET path` with the token: the status and the body's size.
fn get(addr: SocketAddr, token: &str, path: &str) -> Option<(u16, usize)> {
    let a = client::call(addr, token, "GET", path, None).ok()?;
    Some((a.status, a.body.len()))
}

/// VmRSS of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    testkit::status_field(&pid.to_string(), "VmRSS").unwrap_or(0)
}

/// Waits until `child`, the daemon of `home`, is ready.
fn ready(home: &Path, child: &mut Child) -> Ready {
    testkit::wait_ready(home, testkit::answers_here, || testkit::running(child))
        .expect("ztcd ready")
}

fn run(args: &[&str]) -> (f64, String) {
    let t = Instant::now();
    let out = Command::new(BIN).args(args).output().expect("run ztcd");
    assert!(
        out.status.success(),
        "ztcd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        t.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}

fn member(nwid: NetworkId, i: u64, ip: String) -> Member {
    let mut m = Member::new(nwid, Address::new(0x10_0000_0000 + i), 1_700_000_000_000);
    m.authorized = true;
    m.ip_assignments.push(ip.parse().unwrap());
    m.name = format!("device {i}");
    m
}

/// Starts the daemon on `home`; returns it, the admin address and token, start-up seconds
/// (to its first admin answer) and RSS.
fn start(home: &Path, port: u16) -> (Child, Ready, f64, u64) {
    let t = Instant::now();
    let mut child = Command::new(BIN)
        .args([
            "run",
            "--home",
            home.to_str().unwrap(),
            "--port",
            &port.to_string(),
        ])
        .args([
            "--endpoint",
            &format!("127.0.0.1/{port}"),
            "--log-level",
            "warn",
        ])
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ztcd");
    let ready = ready(home, &mut child);
    let secs = t.elapsed().as_secs_f64();
    // RSS once start-up's transient allocations have settled.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let rss = rss_kib(child.id());
    (child, ready, secs, rss)
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn median_ms(mut f: impl FnMut() -> usize) -> (f64, usize) {
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..5 {
        let t = Instant::now();
        size = f();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    (times[2], size)
}

fn main() {
    let dir = std::env::temp_dir().join(format!("ztcd-scale-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (home, usb, restored) = (dir.join("home"), dir.join("usb"), dir.join("restored"));
    std::fs::create_dir_all(&usb).unwrap();
    let h = home.to_str().unwrap();
    run(&["planet", "--home", h, "--endpoint", "127.0.0.1/9993"]);
    let address = std::fs::read_to_string(home.join("identity.public")).unwrap()[..10].to_owned();
    let base = u64::from_str_radix(&address, 16).unwrap() << 24;

    // An empty controller first: the idle baseline.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (child, empty, empty_start, empty_rss) = {
        // The identity and the token are created at the first start: the figures are those
        // of a second start.
        let mut c = Command::new(BIN)
            .args(["run", "--home", h, "--port", &port.to_string()])
            .args(["--log-level", "warn"])
            .spawn()
            .unwrap();
        ready(&home, &mut c);
        stop(c);
        start(&home, port)
    };
    stop(child);
    let token = empty.token;

    let t = Instant::now();
    let mut store = Store::open(&home.join("controller.db")).unwrap();
    store
        .transaction(|s| {
            for n in 1..=10_000u64 {
                let nwid = NetworkId(base | n);
                let mut net = Network::new(nwid, 1_700_000_000_000);
                net.name = format!("net {n}");
                net.v4_assign_zt = true;
                net.routes.push(Route {
                    target: ztcd::controller::cidr("10.0.0.0/16").unwrap(),
                    via: None,
                });
                net.ip_assignment_pools.push(Pool {
                    ip_range_start: "10.0.0.1".parse().unwrap(),
                    ip_range_end: "10.0.255.254".parse().unwrap(),
                });
                s.put_network(&net)?;
                for k in 0..10u64 {
                    s.put_member(&member(nwid, n * 10 + k, format!("10.0.0.{}", k + 1)))?;
                }
            }
            Ok(())
        })
        .unwrap();
    drop(store);
    let fill = t.elapsed().as_secs_f64();
    let db_size = std::fs::metadata(home.join("controller.db")).unwrap().len();
    println!(
        "scale: 10,000 networks x 10 members written in {fill:.1} s; controller.db {:.1} MiB",
        db_size as f64 / 1048576.0
    );

    let (child, ready, secs, rss) = start(&home, port);
    let addr = ready.admin;
    println!(
        "scale: start-up to first admin answer: empty {:.0} ms (RSS {empty_rss} KiB), 100k members {:.0} ms; RSS at 100k members {rss} KiB ({:+.2} KiB per member over empty)",
        empty_start * 1e3,
        secs * 1e3,
        (rss as f64 - empty_rss as f64) / 100_000.0
    );
    let nwid = format!("{:016x}", base | 5000);
    let (ms, _) = median_ms(|| {
        get(
            addr,
            &token,
            &format!("/controller/network/{nwid}/member?details=1"),
        )
        .unwrap()
        .1
    });
    println!(
        "scale: list one 10-member network with details among 100k members: median {ms:.2} ms"
    );
    let (ms, size) = median_ms(|| get(addr, &token, "/controller/network").unwrap().1);
    println!(
        "scale: list 10,000 network IDs: median {ms:.1} ms ({} KiB)",
        size / 1024
    );
    stop(child);

    let (s, out) = run(&["backup", "--home", h, "--to", usb.to_str().unwrap()]);
    let file = out.split(':').next().unwrap().to_owned();
    let size = std::fs::metadata(&file).unwrap().len();
    println!(
        "scale: ztcd backup of 100k members: {s:.2} s, file {:.1} MiB ({out})",
        size as f64 / 1048576.0
    );
    let key = home.join("backup.key");
    let (s, _) = run(&["backup", "verify", &file, "--key", key.to_str().unwrap()]);
    println!("scale: ztcd backup verify: {s:.2} s");
    let (s, _) = run(&[
        "restore",
        &file,
        "--home",
        restored.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    println!("scale: ztcd restore into an empty home: {s:.2} s");

    // One network of 100,000 members.
    let big = NetworkId(base | 0xff_fff0);
    let mut store = Store::open(&home.join("controller.db")).unwrap();
    store
        .transaction(|s| {
            let mut net = Network::new(big, 1_700_000_000_000);
            net.name = "big".into();
            s.put_network(&net)?;
            for i in 0..100_000u64 {
                s.put_member(&member(
                    big,
                    1_000_000 + i,
                    format!("10.{}.{}.{}", 1 + i / 65536, i / 256 % 256, i % 256),
                ))?;
            }
            Ok(())
        })
        .unwrap();
    drop(store);
    let (child, ready, secs, rss) = start(&home, port);
    let addr = ready.admin;
    println!(
        "scale: with 200k members (one network of 100k): start-up {:.0} ms, RSS {rss} KiB",
        secs * 1e3
    );
    let path = format!("/controller/network/{}/member?details=1", big);
    let (ms, size) = median_ms(|| get(addr, &token, &path).unwrap().1);
    println!(
        "scale: list 100,000 members with details: median {ms:.0} ms ({:.1} MiB JSON)",
        size as f64 / 1048576.0
    );
    let path = format!("/controller/network/{}/member", big);
    let (ms, _) = median_ms(|| get(addr, &token, &path).unwrap().1);
    println!("scale: list 100,000 members as the zerotier-one map: median {ms:.0} ms");
    stop(child);
    let _ = std::fs::remove_dir_all(&dir);
}
