//! ztcd under `ztcd-loadgen` over real UDP, at size: the four configuration scenarios with one
//! source address per simulated member, in network namespaces (root needed).
//!
//! `cargo bench --bench loadgen` (identities come from `target/loadgen/identities.txt`, made
//! once with `ztcd-loadgen identities`; `LOADGEN_MEMBERS` sets how many are used, default
//! 10,000; missing ones are generated first, about 0.15 s each on 2 cores).

#[path = "../tests/common/loadbed.rs"]
mod loadbed;

use std::path::Path;

use loadbed::{Bed, FLOOD_SOURCES, MEMBER_SOURCES};
use serde_json::Value;

const CACHE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/loadgen/identities.txt");
const NETWORKS: usize = 10;

fn line(name: &str, r: &Value) {
    let m = &r["measured"];
    let t = &m["target"];
    println!(
        "{name}: {} answered ({} lost, {} invalid) at {}/s; latency p50 {} µs p99 {} µs max {} µs; \
         ztcd CPU {} s per 1,000 ({} µs each); ztcd RSS {} -> {} KiB (anon {} -> {}); \
         loadgen busy {} late {}; saturated: {}",
        m["answered"],
        m["lost"],
        m["invalid"],
        m["per_second"],
        m["latency_us"]["p50"],
        m["latency_us"]["p99"],
        m["latency_us"]["max"],
        t["cpu_s_per_1000"],
        t["cpu_us_each"],
        t["rss_kib"]["start"],
        t["rss_kib"]["end"],
        t["rss_anon_kib"]["start"],
        t["rss_anon_kib"]["end"],
        m["loadgen"]["busy"],
        m["loadgen"]["late_ticks"],
        m["saturated"]
    );
}

fn args<'a>(first: &'a str, members: &'a str, count: &'a str, nets: &'a [String]) -> Vec<&'a str> {
    let mut a = vec![
        "--identities",
        CACHE,
        "--members",
        members,
        "--first",
        first,
        "--source-range",
        MEMBER_SOURCES,
        "--source-count",
        count,
    ];
    for n in nets {
        a.extend(["--network", n.as_str()]);
    }
    a
}

/// Field `field` of `/proc/PID/status` in KiB (0 when gone).
fn status_kib(pid: u32, field: &str) -> u64 {
    ztcd::testkit::status_field(&pid.to_string(), field).unwrap_or(0)
}

fn main() {
    if !loadbed::available() {
        return;
    }
    let n: usize = std::env::var("LOADGEN_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let validated = loadbed::cached_identities(Path::new(CACHE), n);
    let bed = Bed::new("b", n, 1000, NETWORKS, &validated);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let pid = bed.pid();
    println!(
        "idle: VmRSS {} KiB, RssAnon {} KiB",
        status_kib(pid, "VmRSS"),
        status_kib(pid, "RssAnon")
    );
    let count = n.to_string();
    let steady_members = (n / 2).min(4000);
    let sm = steady_members.to_string();
    let nets = bed.private.clone();

    // Steady state: members in 10 private networks re-ask as fast as the repeat filter allows.
    let mut a = args("0", &sm, &count, &nets);
    a.extend(["--scenario", "steady", "--authorize", "--seconds", "20"]);
    let r = bed.loadgen(&a);
    line(
        &format!("steady ({steady_members} members x {NETWORKS} networks)"),
        &r,
    );
    let rss_anon = r["measured"]["target"]["rss_anon_kib"]["end"]
        .as_u64()
        .unwrap_or(0);
    let memberships = steady_members * NETWORKS;
    let anon_before = r["hello"]["target"]["rss_anon_kib"]["start"]
        .as_u64()
        .unwrap_or(0);
    println!(
        "steady: {memberships} memberships cached: RssAnon {anon_before} -> {rss_anon} KiB, {:.0} bytes per membership",
        rss_anon.saturating_sub(anon_before) as f64 * 1024.0 / memberships as f64
    );
    println!("steady JSON: {r}");

    // Cold start: members new to the controller ask a public network for the first time.
    let cold = (n - steady_members).min(4000);
    let (cf, cm) = (steady_members.to_string(), cold.to_string());
    let public = [bed.public.clone()];
    let mut a = args(&cf, &cm, &count, &public);
    a.extend(["--scenario", "cold", "--rate", "2000"]);
    let r = bed.loadgen(&a);
    line(&format!("cold ({cold} new members, 2,000/s offered)"), &r);
    println!("cold JSON: {r}");

    // Change storm: every member online in one private network; the network is renamed.
    let storm_nets = [nets[0].clone()];
    let mut a = args("0", &count, &count, &storm_nets);
    a.extend(["--scenario", "storm", "--authorize", "--seconds", "30"]);
    let r = bed.loadgen(&a);
    line(&format!("storm ({n} members online, one edit)"), &r);
    println!(
        "storm: first push {} µs, edit answered {} µs after the edit was sent",
        r["measured"]["first_push_us"], r["measured"]["edit_answered_us"]
    );
    println!("storm JSON: {r}");

    // Identity flood: 2,000 fresh-identity HELLOs per second from 1,000 addresses while 2,000
    // members in 10 networks keep re-asking.
    let mut a = args("0", "2000", &count, &nets);
    a.extend([
        "--scenario",
        "flood",
        "--seconds",
        "20",
        "--flood-rate",
        "2000",
    ]);
    a.extend([
        "--flood-source-range",
        FLOOD_SOURCES,
        "--flood-source-count",
        "1000",
    ]);
    let r = bed.loadgen(&a);
    line(
        "flood (2,000 members x 10 networks, 2,000 fresh HELLOs/s)",
        &r,
    );
    println!("flood JSON: {r}");
    let trace = &r["measured"]["target"]["rss_anon_kib_each_second"];
    println!("flood: ztcd RssAnon each second (KiB): {trace}");

    drop(bed);

    // Memory at scale, on a fresh ztcd: every member in all 10 networks (100,000 memberships
    // with 10,000 members), asking at a rate the machine sustains; RSS over the idle daemon.
    let bed = Bed::new("s", n, 0, NETWORKS, &validated);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let anon0 = status_kib(bed.pid(), "RssAnon");
    let nets = bed.private.clone();
    let mut a = args("0", &count, &count, &nets);
    a.extend(["--scenario", "steady", "--authorize", "--seconds", "5"]);
    a.extend(["--rate", "8000"]);
    let r = bed.loadgen(&a);
    let anon1 = r["measured"]["target"]["rss_anon_kib"]["end"]
        .as_u64()
        .unwrap_or(0);
    let memberships = n * NETWORKS;
    println!(
        "scale: {memberships} memberships configured ({} with addresses): ztcd RssAnon {anon0} -> {anon1} KiB, {:.0} bytes per membership; VmRSS {} KiB",
        r["configured_with_ips"],
        anon1.saturating_sub(anon0) as f64 * 1024.0 / memberships as f64,
        r["measured"]["target"]["rss_kib"]["end"]
    );
    line("scale (steady at 8,000/s)", &r);
}
