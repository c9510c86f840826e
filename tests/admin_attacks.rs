//! Hostile LAN clients against the admin HTTP API while it keeps serving its owner.
//!
//! ztcd runs in the server namespace with the admin API also on its LAN address and four
//! client addresses allowed (`--admin-allow …/32`): one used only by a probe, and one for each
//! group of attacks, so that under a per-source connection limit the attacks do not crowd out
//! each other (stalled heads would otherwise be refused at accept, never held). From the
//! clients' namespace `tests/libzt/http_attack.py` then runs every attack at once, from
//! allowed and unallowed addresses:
//!
//! - huge Content-Length values (2^64-1 and 99999999999), from an address not allowed;
//! - 100 request heads that are never finished;
//! - 3000 pipelined requests on one connection that never reads an answer;
//! - a 200 MiB header;
//! - 2000 connections that send nothing;
//! - authenticated POSTs whose 1000-byte body comes one byte per second.
//!
//! Meanwhile a real client (libzt) comes online, `GET /status` is probed every 0.5 s over
//! loopback in the server namespace and from the probe's LAN address, and the daemon's RSS
//! is sampled every 0.5 s. Asserted: every probe is answered 200 within 1 s, the RSS stays
//! under 16 MiB, the client comes online, the daemon is alive at the end and idles on at most
//! 4 threads, the server closed the stalled heads (by 15 s), the trickled bodies and the idle
//! connections (by 45 s), and the 200 MiB header was cut off after a few MiB at most.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::real::{Daemon, NetPair, TempDir, available, finish_client, rss_kib, spawn_client};

/// The namespace pair's subnet (10.77.37.0/24), unused by the other real-client tests.
const SUBNET: u8 = 37;
/// The admin API's port (the UDP port's number).
const PORT: u16 = 9993;
/// Every probe must be answered 200 within this.
const PROBE_LIMIT: Duration = Duration::from_secs(1);
const PROBE_EVERY: Duration = Duration::from_millis(500);
const RSS_LIMIT_KIB: u64 = 16 * 1024;
const IDLE_THREADS_LIMIT: u64 = 4;
/// Stalled heads must be closed within this many seconds of their connect.
const STALL_CLOSED_BY_S: f64 = 15.0;
/// Trickled bodies and idle connections must be closed within this many seconds.
const SLOW_CLOSED_BY_S: f64 = 45.0;
/// The most of the 200 MiB header the server may take before it cuts the connection.
const BIG_HEADER_MAX_BYTES: u64 = 4 * 1024 * 1024;

/// The client namespace's addresses and what each is used for. Each group of attacks from an
/// allowed address has that address to itself.
struct Sources {
    /// Allowed; used only by the LAN probe.
    probe: String,
    /// Allowed; trickle, pipeline and big header (6 connections).
    slow: String,
    /// Allowed; stalled heads.
    stall: String,
    /// Allowed; idle connections.
    idle: String,
    /// Not allowed; stalled heads, idle connections, huge Content-Length values.
    stall_refused: String,
    idle_refused: String,
    huge: String,
}

impl Sources {
    fn new(net: &NetPair) -> Self {
        let extra = net.add_client_sources(5);
        Self {
            probe: format!("10.77.{}.2", net.subnet),
            slow: format!("10.77.{}.3", net.subnet),
            stall: extra[0].clone(),
            idle: extra[1].clone(),
            stall_refused: extra[2].clone(),
            idle_refused: extra[3].clone(),
            huge: extra[4].clone(),
        }
    }

    /// `--admin-allow` arguments for the allowed sources.
    fn allow_args(&self) -> Vec<String> {
        [&self.probe, &self.slow, &self.stall, &self.idle]
            .iter()
            .flat_map(|a| ["--admin-allow".to_owned(), format!("{a}/32")])
            .collect()
    }
}

/// One answered (or failed) probe: seconds since the attacks started, HTTP status (0 when
/// curl got none), latency.
#[derive(Clone, Copy)]
struct Probe {
    at: f64,
    code: u16,
    latency: f64,
}

impl Probe {
    /// Answered 200 within [`PROBE_LIMIT`] (a probe without a latency was not).
    fn in_time(&self) -> bool {
        self.code == 200 && self.latency <= PROBE_LIMIT.as_secs_f64()
    }
}

/// Where a probe goes: namespace, URL host and source address.
struct ProbeTarget<'a> {
    ns: &'a str,
    host: &'a str,
    from: Option<&'a str>,
    token: &'a str,
}

/// What the run observed.
struct Observed {
    loopback: Vec<Probe>,
    lan: Vec<Probe>,
    rss_kib: Vec<u64>,
    reports: Vec<(&'static str, Value)>,
    client: Value,
}

/// Readings around the attacks, for the summary.
struct Around {
    threads_before: u64,
    threads_after: u64,
    rss_before_kib: u64,
    attack_seconds: f64,
    /// `ListenOverflows` and `ListenDrops` of the server namespace.
    listen_overflows: Vec<u64>,
}

#[test]
fn admin_api_serves_its_owner_under_hostile_lan_clients() {
    if !available() {
        return;
    }
    let started = Instant::now();
    let net = NetPair::new(SUBNET);
    let sources = Sources::new(&net);
    let dir = TempDir::new("attacks");
    let home = dir.path("home");
    let daemon = start_daemon(&net, &home, &sources);
    let pid = daemon.pid();
    let token = daemon.ready().token.clone();
    let server = net.server_ip();
    let loopback = ProbeTarget {
        ns: &net.server,
        host: "127.0.0.1",
        from: None,
        token: token.trim(),
    };
    let lan = ProbeTarget {
        ns: &net.clients,
        host: &server,
        from: Some(&sources.probe),
        token: token.trim(),
    };
    wait_until_answering(&[&loopback, &lan]);
    let (threads_before, rss_before_kib) = (threads(pid), rss_kib(pid));

    let attack_start = Instant::now();
    let attackers: Vec<_> = attacks(&server, &sources, token.trim())
        .into_iter()
        .map(|(name, args)| (name, spawn_attack(&net.clients, &args)))
        .collect();
    let client_args = [
        "--online-timeout",
        "60",
        "--wait",
        "none",
        "--deadline",
        "70",
    ];
    let client = spawn_client(
        &net.clients,
        &home.join("planet"),
        &dir.path("client"),
        &client_args,
    );
    let seen = observe(pid, attack_start, [&loopback, &lan], attackers, client);
    let around = Around {
        threads_before,
        threads_after: threads_once_idle(pid),
        rss_before_kib,
        attack_seconds: attack_start.elapsed().as_secs_f64(),
        listen_overflows: tcp_ext(&net.server, &["ListenOverflows", "ListenDrops"]),
    };
    let alive_at_end = alive(pid);
    let log = daemon.stop();

    let mut failures = Vec::new();
    check_service(&seen, &mut failures);
    check_reports(&seen.reports, &mut failures);
    check_daemon(alive_at_end, around.threads_after, &mut failures);
    print_summary(&seen, &around);
    eprintln!("whole test: {:.1} s", started.elapsed().as_secs_f64());
    let tail: Vec<&str> = log.lines().rev().take(15).collect();
    assert!(
        failures.is_empty(),
        "{} failed:\n- {}\ndaemon log (last lines, newest first):\n{}",
        failures.len(),
        failures.join("\n- "),
        tail.join("\n")
    );
}

/// Starts ztcd in the server namespace with the admin API also on the LAN address; returns
/// once the LAN listener is up.
fn start_daemon(net: &NetPair, home: &Path, sources: &Sources) -> Daemon {
    let server = net.server_ip();
    let endpoint = format!("{server}/{PORT}");
    let mut args = vec![
        "--endpoint".to_owned(),
        endpoint,
        "--admin-bind".to_owned(),
        server.clone(),
    ];
    args.extend(sources.allow_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // With SYN cookies a connection completed while the listen queue is full is forgotten by
    // the server's kernel yet stays open on the attacker's side, where it would look like one
    // the server holds. Without them the server's kernel keeps it until it is accepted.
    let out = Command::new("ip")
        .args(["netns", "exec", &net.server, "sysctl", "-qw"])
        .arg("net.ipv4.tcp_syncookies=0")
        .output()
        .expect("run sysctl");
    assert!(out.status.success(), "sysctl: {out:?}");
    let daemon = Daemon::start(&net.server, home, &args);
    // Daemon::start returns once UDP listens; the admin listeners come after it.
    daemon.wait_for_log(
        &format!("admin API on http://{server}:{PORT}/"),
        Duration::from_secs(10),
    );
    daemon
}

/// Waits until every probe target answers 200 (the API is up on loopback and the LAN).
fn wait_until_answering(targets: &[&ProbeTarget<'_>]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for t in targets {
        loop {
            let p = probe(t, Instant::now());
            if p.code == 200 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the admin API never answered {} from {:?}: {}",
                t.host,
                t.from,
                p.code
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Each attack's name and `http_attack.py` arguments. Every attack is bounded by its
/// `--seconds`, which exceed the deadlines asserted on so that an open connection shows.
fn attacks(server: &str, s: &Sources, token: &str) -> Vec<(&'static str, Vec<String>)> {
    let target = format!("{server}:{PORT}");
    let plan: [(&'static str, &[&str], &str); 6] = [
        ("huge-length", &[&s.huge], "--repeat 20 --seconds 30"),
        (
            "stall-headers",
            &[&s.stall, &s.stall_refused],
            "--count 100 --seconds 25",
        ),
        ("pipeline", &[&s.slow], "--requests 3000 --seconds 45"),
        ("big-header", &[&s.slow], "--mib 200 --seconds 20"),
        (
            "idle",
            &[&s.idle, &s.idle_refused],
            "--count 2000 --seconds 50",
        ),
        ("trickle", &[&s.slow], "--count 4 --seconds 50"),
    ];
    plan.iter()
        .map(|(name, from, rest)| {
            let mut args = vec![(*name).to_owned(), "--target".to_owned(), target.clone()];
            for src in *from {
                args.extend(["--source".to_owned(), (*src).to_owned()]);
            }
            args.extend(rest.split_whitespace().map(str::to_owned));
            if *name == "trickle" {
                args.extend(["--token".to_owned(), token.to_owned()]);
            }
            (*name, args)
        })
        .collect()
}

/// Starts `http_attack.py ARGS` in namespace `ns` (report on stdout, errors to the test's).
fn spawn_attack(ns: &str, args: &[String]) -> Child {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/libzt/http_attack.py");
    Command::new("ip")
        .args(["netns", "exec", ns, "python3"])
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start http_attack.py")
}

/// The report an attacker printed (`null` when it printed none).
fn finish_attack(child: Child) -> Value {
    let out = child.wait_with_output().expect("http_attack.py");
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// Probes both targets and samples the RSS every 0.5 s until every attacker and the client
/// are done.
fn observe(
    pid: u32,
    start: Instant,
    targets: [&ProbeTarget<'_>; 2],
    attackers: Vec<(&'static str, Child)>,
    client: Child,
) -> Observed {
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let probes = targets.map(|t| {
            let stop = &stop;
            s.spawn(move || every_tick(start, stop, || probe(t, start)))
        });
        let rss = s.spawn(|| every_tick(start, &stop, || rss_kib(pid)));
        let reports = attackers
            .into_iter()
            .map(|(name, child)| (name, finish_attack(child)))
            .collect();
        let (_, client) = finish_client(client);
        stop.store(true, Ordering::Relaxed);
        let [loopback, lan] = probes.map(|h| h.join().expect("prober"));
        Observed {
            loopback,
            lan,
            rss_kib: rss.join().expect("RSS sampler"),
            reports,
            client,
        }
    })
}

/// Calls `f` every [`PROBE_EVERY`] (counted from `start`) until `stop`; the results.
fn every_tick<T>(start: Instant, stop: &AtomicBool, mut f: impl FnMut() -> T) -> Vec<T> {
    let mut out = Vec::new();
    for n in 0u32.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        out.push(f());
        let next = start + PROBE_EVERY * (n + 1);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
    }
    out
}

/// An authenticated `GET /status` with curl (5 s at most); its latency as curl measured it.
fn probe(t: &ProbeTarget<'_>, start: Instant) -> Probe {
    let at = start.elapsed().as_secs_f64();
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        t.ns,
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-m",
        "5",
    ])
    .args(["-w", "%{http_code} %{time_total}"])
    .args(["-H", &format!("X-ZT1-Auth: {}", t.token)]);
    if let Some(from) = t.from {
        cmd.args(["--interface", from]);
    }
    let url = format!("http://{}:{PORT}/status", t.host);
    let out = cmd.arg(url).output().expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.split_whitespace();
    let code = fields.next().and_then(|c| c.parse().ok()).unwrap_or(0);
    let latency = fields
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN);
    Probe { at, code, latency }
}

/// The daemon's thread count (`Threads:` in /proc/PID/status; 0 when it is gone).
fn threads(pid: u32) -> u64 {
    ztcd::testkit::status_field(&pid.to_string(), "Threads").unwrap_or(0)
}

/// The thread count once it has come down to the limit, or after 5 s.
fn threads_once_idle(pid: u32) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let n = threads(pid);
        if n <= IDLE_THREADS_LIMIT || Instant::now() >= deadline {
            return n;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// TCP counters of namespace `ns` (`TcpExt` in /proc/net/netstat), by name.
fn tcp_ext(ns: &str, names: &[&str]) -> Vec<u64> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "cat", "/proc/net/netstat"])
        .output()
        .expect("read /proc/net/netstat");
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter_map(|l| l.strip_prefix("TcpExt:"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    let value = |name: &str| {
        let (keys, values) = (rows.first()?, rows.get(1)?);
        let i = keys.iter().position(|k| *k == name)?;
        values.get(i)?.parse().ok()
    };
    names.iter().map(|n| value(n).unwrap_or(0)).collect()
}

/// Whether the process exists and has not exited (a zombie has).
fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
    state.is_some_and(|s| !s.starts_with('Z') && !s.starts_with('X'))
}

fn check(failures: &mut Vec<String>, ok: bool, what: &str) {
    if !ok {
        failures.push(what.to_owned());
    }
}

/// The daemon survived and let its threads go.
fn check_daemon(alive_at_end: bool, threads_after: u64, failures: &mut Vec<String>) {
    check(
        failures,
        alive_at_end,
        "the daemon was not alive at the end",
    );
    check(
        failures,
        threads_after <= IDLE_THREADS_LIMIT,
        &format!("{threads_after} threads after the attacks (at most {IDLE_THREADS_LIMIT})"),
    );
}

/// The owner was served throughout: probes, memory, the real client.
fn check_service(seen: &Observed, failures: &mut Vec<String>) {
    for (name, probes) in [("loopback", &seen.loopback), ("LAN", &seen.lan)] {
        let bad: Vec<String> = probes
            .iter()
            .filter(|p| !p.in_time())
            .map(|p| format!("{:.1}s: {} in {:.3}s", p.at, p.code, p.latency))
            .collect();
        check(
            failures,
            !probes.is_empty() && bad.is_empty(),
            &format!(
                "{} of {} {name} probes not answered 200 within {PROBE_LIMIT:?}: {}",
                bad.len(),
                probes.len(),
                bad.join(", ")
            ),
        );
    }
    let max_rss = seen.rss_kib.iter().copied().max().unwrap_or(0);
    check(
        failures,
        max_rss < RSS_LIMIT_KIB,
        &format!("RSS reached {max_rss} KiB (limit {RSS_LIMIT_KIB} KiB)"),
    );
    check(
        failures,
        seen.client.get("online") == Some(&Value::Bool(true)),
        &format!("the real client did not come online: {}", seen.client),
    );
}

/// The server closed what the attackers held open, in time.
fn check_reports(reports: &[(&'static str, Value)], failures: &mut Vec<String>) {
    let report = |name: &str| {
        reports
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(&Value::Null, |(_, r)| r)
    };
    for (name, _) in reports {
        check(
            failures,
            report(name).is_object(),
            &format!("{name}: the attacker printed no report"),
        );
    }
    for (name, by) in [
        ("stall-headers", STALL_CLOSED_BY_S),
        ("trickle", SLOW_CLOSED_BY_S),
        ("idle", SLOW_CLOSED_BY_S),
    ] {
        let r = report(name);
        let latest = r["close_after_s"]["max"].as_f64();
        let held = r["connected"].as_u64().unwrap_or(0);
        let closed = held > 0 && r["still_open"] == 0 && latest.is_some_and(|s| s <= by);
        check(
            failures,
            closed,
            &format!(
                "{name}: {held} connections made, {} still open at the end, closed after {} s (limit {by} s)",
                r["still_open"], r["close_after_s"]
            ),
        );
    }
    let big = report("big-header");
    let pushed = big["bytes_sent"].as_u64().unwrap_or(u64::MAX);
    check(
        failures,
        big["closed_by_server"] == true && pushed <= BIG_HEADER_MAX_BYTES,
        &format!(
            "big-header: {pushed} bytes sent, closed by the server: {} (limit {BIG_HEADER_MAX_BYTES} bytes)",
            big["closed_by_server"]
        ),
    );
}

fn print_summary(seen: &Observed, around: &Around) {
    eprintln!("attacks ran {:.1} s", around.attack_seconds);
    for (name, r) in &seen.reports {
        eprintln!("attack {name}: {r}");
    }
    for (name, probes) in [("loopback", &seen.loopback), ("LAN", &seen.lan)] {
        let worst = probes.iter().map(|p| p.latency).fold(0.0, f64::max);
        let all: Vec<String> = probes
            .iter()
            .map(|p| format!("{:.1}s:{}/{:.0}ms", p.at, p.code, p.latency * 1000.0))
            .collect();
        eprintln!(
            "{name} probes ({}, worst {:.0} ms): {}",
            probes.len(),
            worst * 1000.0,
            all.join(" ")
        );
    }
    let max_rss = seen.rss_kib.iter().copied().max().unwrap_or(0);
    eprintln!(
        "ztcd RSS {} KiB before, max {max_rss} KiB over {} samples; threads {} before, {} after",
        around.rss_before_kib,
        seen.rss_kib.len(),
        around.threads_before,
        around.threads_after
    );
    eprintln!(
        "server namespace listen queue overflows/drops: {:?}",
        around.listen_overflows
    );
    eprintln!(
        "real client: online {} after {} s",
        seen.client["online"], seen.client["online_after_s"]
    );
}
