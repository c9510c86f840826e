//! ztcd and zerotier-one's embedded controller on the same namespace bed, driven by the same
//! `ztcd-loadgen` runs with the same networks made through the same JSON API, one after the
//! other; prints one table of ratios.
//!
//! `ZT_ONE=/path/to/zerotier-one cargo bench --bench side_by_side` (a zerotier-one built by
//! hand from its public source; BENCHMARKS.md says how). Without `ZT_ONE` only ztcd runs.
//! `SIDE_MEMBERS` (default 1,000) members, each from its own /24; identities come from
//! `target/loadgen/identities.txt` (made by `ztcd-loadgen identities` when missing).
//! `SIDE_PERF=/folder` records each target's steady phases with `perf record -g`.

#[path = "../tests/common/loadbed.rs"]
mod loadbed;

use std::path::{Path, PathBuf};
use std::process::Command;

use loadbed::{Bed, SPREAD_SOURCES, Target};
use serde_json::Value;

const CACHE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/loadgen/identities.txt");
const NETWORKS: usize = 10;

/// One target's figures: row name and value, in the order measured.
#[derive(Default)]
struct Figures(Vec<(String, f64)>);

impl Figures {
    fn insert(&mut self, row: impl Into<String>, value: f64) {
        self.0.push((row.into(), value));
    }

    fn get(&self, row: &str) -> f64 {
        self.0
            .iter()
            .find(|(r, _)| r == row)
            .map_or(f64::NAN, |(_, v)| *v)
    }
}

/// The generator's arguments for `members` members from `first` in `nets`.
fn args(n: usize, first: usize, members: usize, nets: &[String]) -> Vec<String> {
    let mut a: Vec<String> = [
        "--identities",
        CACHE,
        "--source-range",
        SPREAD_SOURCES,
        "--source-step",
        "256",
        "--hello-timeout",
        "300",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    a.extend(["--source-count".into(), n.to_string()]);
    a.extend([
        "--first".into(),
        first.to_string(),
        "--members".into(),
        members.to_string(),
    ]);
    for net in nets {
        a.extend(["--network".into(), net.clone()]);
    }
    a
}

fn run(bed: &Bed, mut a: Vec<String>, extra: &[&str]) -> Value {
    a.extend(extra.iter().map(ToString::to_string));
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    let r = bed.loadgen(&refs);
    eprintln!("{extra:?}: {r}");
    r
}

/// [`run`] under `perf record -g` of the target when `SIDE_PERF` names a folder: the profile
/// is written there as `<tag>-<phase>.data` (read it with `perf report -i FILE --no-children`).
fn run_profiled(bed: &Bed, tag: &str, phase: &str, a: Vec<String>, extra: &[&str]) -> Value {
    let Some(dir) = std::env::var_os("SIDE_PERF").map(PathBuf::from) else {
        return run(bed, a, extra);
    };
    std::fs::create_dir_all(&dir).expect("SIDE_PERF folder");
    let out = dir.join(format!("{tag}-{phase}.data"));
    let perf = Command::new("perf")
        .args([
            "record",
            "-q",
            "-g",
            "-F",
            "4000",
            "-p",
            &bed.pid().to_string(),
            "-o",
        ])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .spawn();
    let r = run(bed, a, extra);
    if let Ok(mut perf) = perf {
        // perf writes its file on SIGINT.
        let _ = Command::new("kill")
            .args(["-INT", &perf.id().to_string()])
            .status();
        let _ = perf.wait();
        eprintln!("profile: {}", out.display());
    }
    r
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// Runs every scenario against `target`; returns its figures.
fn measure(tag: &str, target: &Target, n: usize, validated: &[String]) -> Figures {
    let bed = Bed::with_target(tag, target, n, NETWORKS, validated);
    let mut f = Figures::default();
    let half = n / 2;
    let nets = bed.private.clone();
    // Steady: half the members in every private network, as fast as the target answers.
    let r = run_profiled(
        &bed,
        tag,
        "steady",
        args(n, 0, half, &nets),
        &["--scenario", "steady", "--authorize", "--seconds", "10"],
    );
    let m = &r["measured"];
    f.insert(
        "steady: CPU µs per answer",
        num(&m["target"]["cpu_us_each"]),
    );
    f.insert("steady: answers/s", num(&m["per_second"]));
    let anon = |v: &Value, k: &str| num(&v["target"]["rss_anon_kib"][k]);
    let grown = anon(m, "end") - anon(&r["hello"], "start");
    f.insert(
        "memory: RssAnon bytes per membership",
        grown * 1024.0 / (half * NETWORKS) as f64,
    );
    // The same members at a router's rate.
    let r = run_profiled(
        &bed,
        tag,
        "steady1000",
        args(n, 0, half, &nets),
        &["--scenario", "steady", "--seconds", "10", "--rate", "1000"],
    );
    f.insert(
        "steady at 1,000/s: CPU µs per answer",
        num(&r["measured"]["target"]["cpu_us_each"]),
    );
    // First requests: the other half, new to the controller, on the public network.
    let public = [bed.public.clone()];
    let r = run(
        &bed,
        args(n, half, n - half, &public),
        &["--scenario", "cold", "--rate", "500"],
    );
    f.insert(
        "first request: CPU µs each",
        num(&r["measured"]["target"]["cpu_us_each"]),
    );
    f.insert(
        "first request: p99 ms",
        num(&r["measured"]["latency_us"]["p99"]) / 1000.0,
    );
    // Change storm: every member online in one network, the network renamed.
    let storm = [nets[0].clone()];
    let r = run(
        &bed,
        args(n, 0, n, &storm),
        &["--scenario", "storm", "--authorize", "--seconds", "30"],
    );
    f.insert(
        "storm: share of members pushed",
        num(&r["measured"]["pushed"]) / n as f64,
    );
    f.insert(
        "storm: push p50 ms",
        num(&r["measured"]["latency_us"]["p50"]) / 1000.0,
    );
    sizes(&bed, n, &mut f);
    if matches!(target, Target::Ztcd) {
        floor(&bed, &mut f);
    }
    f
}

/// The floor under any server's CPU per answer at 1,000 answers/s on this bed: a UDP echo
/// that does no work (`ztcd-loadgen echo-server`, 1,000-byte replies to 300-byte requests,
/// about a configuration's sizes), blocking in `recvfrom`, and waiting in smol's reactor as
/// ztcd does. Measured in the ztcd bed; it does not depend on the target.
fn floor(bed: &Bed, f: &mut Figures) {
    for (how, extra) in [("blocking", None), ("smol reactor", Some("--async"))] {
        let mut server = Command::new("ip");
        server.args([
            "netns",
            "exec",
            &bed.server,
            loadbed::LOADGEN,
            "echo-server",
        ]);
        server.args(["--listen", "10.203.0.1:9995", "--reply-size", "1000"]);
        server.args(extra);
        let mut server = server.spawn().expect("start the echo server");
        let out = Command::new("ip")
            .args(["netns", "exec", &bed.clients, loadbed::LOADGEN, "echo"])
            .args([
                "--target",
                "10.203.0.1:9995",
                "--size",
                "300",
                "--rate",
                "1000",
            ])
            .args(["--pid", &server.id().to_string()])
            .output()
            .expect("run the echo client");
        let _ = server.kill();
        let _ = server.wait();
        let r: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        eprintln!("echo floor, {how}: {r}");
        f.insert(
            format!("floor: UDP echo at 1,000/s, {how}: CPU µs per answer"),
            num(&r["target"]["cpu_us_each"]),
        );
    }
}

/// CPU per answer in networks of 10, 100 and 1,000 members at the same offered rate (90
/// requests/s: ten networks of 10, one of 100, one of 1,000), with the target's idle CPU
/// per second beside it: how the cost of one request grows with the network's size.
fn sizes(bed: &Bed, n: usize, f: &mut Figures) {
    let me = bed.api("GET", "/status", None).expect("status")["address"]
        .as_str()
        .expect("address")
        .to_owned();
    let idle = idle_cpu_ms_per_second(bed.pid());
    f.insert("idle: CPU ms per second", idle);
    // Sizes the bed has members for.
    for size in [10, 100, 1000].into_iter().filter(|&s| s <= n) {
        let count = if size == 10 { 10 } else { 1 };
        let nets: Vec<String> = (0..count)
            .map(|i| bed.create_network(&me, &format!("size{size}-{i}"), true))
            .collect();
        let extra = [
            "--scenario",
            "steady",
            "--authorize",
            "--seconds",
            "10",
            "--rate",
            "90",
        ];
        let r = run(bed, args(n, 0, size, &nets), &extra);
        let row = format!("network of {size}, 90 requests/s: CPU µs per answer");
        f.insert(row, num(&r["measured"]["target"]["cpu_us_each"]));
    }
}

/// How long the target's idle CPU is measured: a measurement window (CPU per second needs
/// seconds to pass), not a wait for the target to become ready.
const IDLE_WINDOW: std::time::Duration = std::time::Duration::from_secs(5);

/// The target's CPU over [`IDLE_WINDOW`] without traffic, in ms per second (its timers and
/// housekeeping).
fn idle_cpu_ms_per_second(pid: u32) -> f64 {
    let cpu = || ztcd::testkit::cpu_seconds(&pid.to_string()).unwrap_or(f64::NAN);
    let (before, start) = (cpu(), std::time::Instant::now());
    std::thread::sleep(IDLE_WINDOW);
    (cpu() - before) * 1e3 / start.elapsed().as_secs_f64()
}

fn main() {
    if !loadbed::available() {
        return;
    }
    let n: usize = std::env::var("SIDE_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let validated = loadbed::cached_identities(Path::new(CACHE), n);
    let mut results = vec![("ztcd", measure("sz", &Target::Ztcd, n, &validated))];
    if let Some(one) = std::env::var_os("ZT_ONE").map(PathBuf::from) {
        let v = Command::new(&one)
            .arg("-v")
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default();
        println!(
            "zerotier-one: {} {}",
            one.display(),
            String::from_utf8_lossy(&v).trim()
        );
        results.push((
            "zerotier-one",
            measure("so", &Target::ZeroTierOne(one), n, &validated),
        ));
    }
    println!(
        "\n{n} members, each from its own /24; {NETWORKS} private networks and a public one\n"
    );
    print!("| figure |");
    for (name, _) in &results {
        print!(" {name} |");
    }
    println!(
        "{}",
        if results.len() > 1 {
            " zerotier-one / ztcd |"
        } else {
            ""
        }
    );
    println!(
        "|---|{}",
        "---|".repeat(results.len() + usize::from(results.len() > 1))
    );
    for (row, _) in &results[0].1.0 {
        print!("| {row} |");
        for (_, f) in &results {
            match f.get(row) {
                v if v.is_nan() => print!(" – |"),
                v => print!(" {v:.1} |"),
            }
        }
        if let [(_, a), (_, b)] = &results[..] {
            match b.get(row) / a.get(row) {
                v if v.is_nan() => print!(" – |"),
                v => print!(" {v:.1}× |"),
            }
        }
        println!();
    }
}
