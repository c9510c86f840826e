//! Shared machinery of the integration tests, the benchmarks and the load generator (not
//! used by the daemon): CPU time and memory of a process from `/proc`, the wait for a started
//! `ztcd run` to be ready, and admin requests and `ip` commands for daemons in network
//! namespaces. It lives in the library because that is the one crate all three reach (a
//! module of the load generator's or of `tests/common` is not); it reads files, runs commands
//! and opens sockets only when called.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::admin::client;
use crate::home::AUTHTOKEN;
use crate::home::lock::LOCK_FILE;

/// CPU time in seconds used so far by process `pid` ("self" for this one): the scheduler's
/// nanosecond count summed over its threads (`/proc/PID/task/*/schedstat`), precise enough
/// for a router's few answers a second; threads that exited meanwhile are not counted. Falls
/// back to [`cpu_ticks_seconds`] where the kernel keeps no schedstat.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut ns = 0u64;
    for t in tasks.flatten() {
        let text = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
        match text
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
        {
            Some(v) => ns += v,
            None => return cpu_ticks_seconds(pid),
        }
    }
    Some(ns as f64 / 1e9)
}

/// CPU time in seconds of process `pid`, exited threads included (`/proc/PID/stat` user +
/// system time, in 1/100 s ticks).
pub fn cpu_ticks_seconds(pid: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let rest = text.get(text.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// The number in field `name` (such as `VmRSS`, `RssAnon` or `Threads`) of
/// `/proc/PID/status`; `None` when the process or the field is gone.
pub fn status_field(pid: &str, name: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// (VmRSS, RssAnon) of `pid` in KiB.
pub fn rss_kib(pid: &str) -> Option<(u64, u64)> {
    Some((status_field(pid, "VmRSS")?, status_field(pid, "RssAnon")?))
}

/// How long a started daemon may take to become ready: generous, for loaded machines and
/// emulated boards (a ready daemon is seen at the next poll, so it costs nothing).
pub const READY_DEADLINE: Duration = Duration::from_secs(120);

/// How often readiness is looked at.
const READY_POLL: Duration = Duration::from_millis(5);

/// What a ready daemon announced: where its admin API listens on loopback and its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// The admin API's loopback address (from the home's lock file).
    pub admin: SocketAddr,
    /// The admin token (`authtoken.secret`, trimmed).
    pub token: String,
}

/// Waits, polling until [`READY_DEADLINE`], for the daemon that owns `home` to be ready: it
/// has announced its admin address in the lock file (written after its token and its admin
/// listeners) and `answers(&ready)` says its admin API answers. `alive` is asked at each poll
/// and ends the wait early with its reason when the daemon has gone.
pub fn wait_ready(
    home: &Path,
    mut answers: impl FnMut(&Ready) -> bool,
    mut alive: impl FnMut() -> Result<(), String>,
) -> Result<Ready, String> {
    let start = Instant::now();
    loop {
        alive()?;
        if let Some(ready) = announced(home)
            && answers(&ready)
        {
            return Ok(ready);
        }
        if start.elapsed() > READY_DEADLINE {
            return Err(format!(
                "ztcd on {} not ready after {READY_DEADLINE:?}",
                home.display()
            ));
        }
        std::thread::sleep(READY_POLL);
    }
}

/// The admin address the owner of `home` announced and its token, once both are written.
fn announced(home: &Path) -> Option<Ready> {
    let lock = std::fs::read_to_string(home.join(LOCK_FILE)).ok()?;
    let admin = lock
        .lines()
        .find_map(|l| l.strip_prefix("admin "))?
        .trim()
        .parse()
        .ok()?;
    let token = std::fs::read_to_string(home.join(AUTHTOKEN)).ok()?;
    let token = token.trim();
    (!token.is_empty()).then(|| Ready {
        admin,
        token: token.to_owned(),
    })
}

/// Whether the admin API at `ready.admin` answers `GET /status` with 200 (reachable from
/// this process: the daemon runs in this network namespace).
pub fn answers_here(ready: &Ready) -> bool {
    let req = client::Request {
        method: "GET",
        path: "/status",
        headers: &[("X-ZT1-Auth", &ready.token)],
        body: b"",
    };
    client::request(ready.admin, &req, Duration::from_secs(5)).is_ok_and(|a| a.status == 200)
}

/// Whether the admin API at `ready.admin` answers `GET /status` with 200 from inside network
/// namespace `ns` (where the daemon runs: its loopback is not this process's).
pub fn answers_in(ns: &str, ready: &Ready) -> bool {
    let url = format!("http://{}/status", ready.admin);
    curl_in(ns, "GET", &url, &ready.token, None, None).is_ok_and(|(status, _)| status == 200)
}

/// An admin API request from inside network namespace `ns` with `ip netns exec NS curl`: `url`
/// with `token`, an optional JSON `body`, from source address `from` if given; returns the
/// status and the body, or curl's error when no answer came.
pub fn curl_in(
    ns: &str,
    method: &str,
    url: &str,
    token: &str,
    body: Option<&str>,
    from: Option<&str>,
) -> Result<(u16, Vec<u8>), String> {
    let mut cmd = std::process::Command::new("ip");
    cmd.args(["netns", "exec", ns, "curl", "-sS", "-m", "20"])
        .args(["-w", "\n%{http_code}", "-X", method, "-H"])
        .arg(format!("X-ZT1-Auth: {}", token.trim()));
    if let Some(ip) = from {
        cmd.args(["--interface", ip]);
    }
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "--data", b]);
    }
    let out = cmd.arg(url).output().map_err(|e| format!("curl: {e}"))?;
    let mut text = out.stdout;
    let split = text.iter().rposition(|&b| b == b'\n').unwrap_or(0);
    let status = std::str::from_utf8(&text[split..]).ok();
    match status.and_then(|s| s.trim().parse::<u16>().ok()) {
        Some(code) if code != 0 => {
            text.truncate(split);
            Ok((code, text))
        }
        _ => Err(format!(
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// Runs `ip ARGS` (iproute2: the tests' network namespaces, links and addresses), panicking
/// with its error output when it fails.
pub fn ip(args: &[&str]) {
    match std::process::Command::new("ip").args(args).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("run ip: {e}"),
    }
}

/// `Ok` while `child` (a started daemon) runs; its exit status once it has ended (the
/// `alive` of [`wait_ready`]).
pub fn running(child: &mut std::process::Child) -> Result<(), String> {
    match child.try_wait() {
        Ok(None) => Ok(()),
        Ok(Some(status)) => Err(format!("ztcd exited ({status})")),
        Err(e) => Err(format!("ztcd: {e}")),
    }
}
