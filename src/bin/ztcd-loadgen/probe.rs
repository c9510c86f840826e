//! Outside views of the processes: CPU time and memory from `/proc` (of the target when it
//! runs on this machine, and of the load generator itself), and the zerotier-one JSON API for
//! the set-up and edits a scenario needs.

use std::net::SocketAddr;

/// CPU time in seconds used so far by process `pid` ("self" for this one): the scheduler's
/// nanosecond count summed over its threads (`/proc/PID/task/*/schedstat`), precise enough
/// for a router's few answers a second; threads that exited meanwhile are not counted. Falls
/// back to [`cpu_ticks_seconds`] where the kernel keeps no schedstat.
pub(crate) fn cpu_seconds(pid: &str) -> Option<f64> {
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
pub(crate) fn cpu_ticks_seconds(pid: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// (VmRSS, RssAnon) of `pid` in KiB.
pub(crate) fn rss_kib(pid: &str) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("RssAnon:")?))
}

/// A zerotier-one style JSON API (ztcd's admin API or zerotier-one's local service).
pub(crate) struct Api {
    addr: SocketAddr,
    token: String,
}

impl Api {
    /// The API at `http://HOST:PORT` with the token (`X-ZT1-Auth`).
    pub(crate) fn new(url: &str, token: &str) -> Result<Self, String> {
        let hostport = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let addr = hostport
            .parse()
            .map_err(|_| format!("--api: {url:?} is not http://IP:PORT"))?;
        Ok(Self {
            addr,
            token: token.trim().to_string(),
        })
    }

    /// POSTs `body` to `path`; returns the response body when the status is 200.
    pub(crate) fn post(&self, path: &str, body: &str) -> Result<String, String> {
        let a = ztcd::admin::client::call(self.addr, &self.token, "POST", path, Some(body))?;
        if a.status != 200 {
            return Err(format!("API POST {path}: {} {}", a.status, a.text()));
        }
        Ok(a.text())
    }
}
