//! A test bed for `ztcd-loadgen`: two network namespaces joined by a veth pair, ztcd in one
//! (10.203.0.1:9993, admin API on the same address for the other namespace), the load generator
//! in the other with one source address per simulated member (10.204.0.0/16) and per flood
//! source (10.205.0.0/16). Shared by the loadgen test and benchmark.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ztcd::testkit::{self, ip};

/// The ztcd binary.
pub(crate) const ZTCD: &str = env!("CARGO_BIN_EXE_ztcd");
/// The load generator binary.
pub(crate) const LOADGEN: &str = env!("CARGO_BIN_EXE_ztcd-loadgen");
/// First member source address.
pub(crate) const MEMBER_SOURCES: &str = "10.204.0.1";
/// First flood source address.
pub(crate) const FLOOD_SOURCES: &str = "10.205.0.1";
const SERVER_IP: &str = "10.203.0.1";

/// Whether namespaces can be made here (root and `ip`); prints why not.
pub(crate) fn available() -> bool {
    let ok = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .is_ok_and(|o| o.status.success())
        && std::fs::read_to_string("/proc/self/status")
            .is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:\t0\t")));
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "CI: the load generator bed needs root and iproute2"
        );
        eprintln!("SKIPPED: the load generator bed needs root and iproute2 (network namespaces)");
    }
    ok
}

fn ztcd(args: &[&str]) -> String {
    let out = Command::new(ZTCD).args(args).output().expect("run ztcd");
    assert!(
        out.status.success(),
        "ztcd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn add_addresses(ns: &str, dev: &str, first: [u8; 4], count: usize) {
    add_addresses_step(ns, dev, first, count, 1);
}

/// `count` addresses from `first`, `step` apart (256: one per /24).
fn add_addresses_step(ns: &str, dev: &str, first: [u8; 4], count: usize, step: u32) {
    let base = u32::from_be_bytes(first);
    let mut batch = String::new();
    for i in 0..count as u32 {
        let a = std::net::Ipv4Addr::from(base + i * step);
        batch.push_str(&format!("addr add {a}/32 dev {dev}\n"));
    }
    let mut child = Command::new("ip")
        .args(["-n", ns, "-batch", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("ip -batch");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(batch.as_bytes())
        .expect("write batch");
    assert!(child.wait().expect("ip").success(), "adding addresses");
}

/// The two namespaces joined by a veth pair (the target's at 10.203.0.1, the generator's at
/// .2; member sources routed through .2) and an empty home; returns the namespaces, the
/// generator's device and the home.
fn namespaces(tag: &str) -> (String, String, String, PathBuf) {
    let id = std::process::id() % 100_000;
    let (server, clients) = (format!("lg{tag}s{id}"), format!("lg{tag}c{id}"));
    let (vs, vc) = (format!("vl{id}{tag}s"), format!("vl{id}{tag}c"));
    for ns in [&server, &clients] {
        let _ = Command::new("ip").args(["netns", "del", ns]).output();
        ip(&["netns", "add", ns]);
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }
    ip(&["link", "add", &vs, "type", "veth", "peer", "name", &vc]);
    ip(&["link", "set", &vs, "netns", &server]);
    ip(&["link", "set", &vc, "netns", &clients]);
    ip(&["-n", &server, "addr", "add", "10.203.0.1/24", "dev", &vs]);
    ip(&["-n", &clients, "addr", "add", "10.203.0.2/24", "dev", &vc]);
    ip(&["-n", &server, "link", "set", &vs, "up"]);
    ip(&["-n", &clients, "link", "set", &vc, "up"]);
    // Through the peer address, not the device: one neighbour entry instead of one per
    // source (the kernel's neighbour table holds 1,024 by default and drops past it).
    for net in ["10.204.0.0/15", SPREAD_SOURCES_NET] {
        ip(&["-n", &server, "route", "add", net, "via", "10.203.0.2"]);
    }
    let home = std::env::temp_dir().join(format!("ztcd-loadbed-{tag}-{id}"));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).expect("home");
    (server, clients, vc, home)
}

/// Starts ztcd in `server` on `home`, with `validated` identities already known.
fn start_ztcd(server: &str, home: &Path, validated: &[String]) -> Child {
    let h = home.to_str().expect("utf-8 path");
    let mut text = validated.join("\n");
    text.push('\n');
    std::fs::write(home.join("peers.validated"), text).expect("peers.validated");
    Command::new("ip")
        .args([
            "netns", "exec", server, ZTCD, "run", "--home", h, "--port", "9993",
        ])
        .args(["--bind", SERVER_IP, "--admin-bind", SERVER_IP])
        .args(["--admin-allow", "10.203.0.0/24"])
        // The bed serves up to 10,000 online members (100,000 memberships): the tables
        // of a 1 GiB machine, not of the 128 MB router default.
        .args(["--memory-budget", "1024"])
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(home.join("log")).expect("log"),
        ))
        .spawn()
        .expect("start ztcd")
}

/// Starts zerotier-one (`binary`, built by hand) in `server` on `home` as the bed's
/// controller: its own identity, a planet listing only itself at the bed's address (so it
/// never looks for ZeroTier's public roots), port mapping, secondary port and TCP fallback
/// off, bound to the bed's address, its API open to the generator's side.
fn start_zerotier_one(server: &str, home: &Path, binary: &Path) -> Child {
    let h = home.to_str().expect("utf-8 path");
    let bin = binary.to_str().expect("utf-8 path");
    let out = Command::new(bin)
        .args(["-i", "generate", &format!("{h}/identity.secret")])
        .arg(format!("{h}/identity.public"))
        .output()
        .expect("zerotier-one -i generate");
    assert!(out.status.success(), "zerotier-one -i generate failed");
    // The planet: ztcd makes one for a home holding this identity.
    let p = home.join("planet-home");
    std::fs::create_dir_all(&p).expect("planet home");
    for f in ["identity.secret", "identity.public"] {
        std::fs::copy(home.join(f), p.join(f)).expect("identity copy");
    }
    let ph = p.to_str().expect("utf-8 path");
    ztcd(&["planet", "--home", ph, "--endpoint", "10.203.0.1/9993"]);
    std::fs::copy(p.join("planet"), home.join("planet")).expect("planet");
    let conf = serde_json::json!({"settings": {
        "primaryPort": 9993, "portMappingEnabled": false, "allowSecondaryPort": false,
        "allowTcpFallbackRelay": false, "bind": [SERVER_IP],
        "allowManagementFrom": ["10.203.0.0/24", "127.0.0.1/32"]}});
    std::fs::write(home.join("local.conf"), conf.to_string()).expect("local.conf");
    Command::new("ip")
        .args(["netns", "exec", server, bin, "-U", "-p9993", h])
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(home.join("log")).expect("log"),
        ))
        .spawn()
        .expect("start zerotier-one")
}

/// The network a bed's [`Bed::with_target`] sources come from: one address per /24.
const SPREAD_SOURCES_NET: &str = "10.128.0.0/9";
/// The first of those sources (`--source-range`, with `--source-step 256`).
pub(crate) const SPREAD_SOURCES: &str = "10.128.0.1";

/// Which controller a bed runs.
pub(crate) enum Target {
    /// This crate's ztcd.
    Ztcd,
    /// A zerotier-one binary built by hand (its embedded controller).
    ZeroTierOne(PathBuf),
}

/// The bed: namespaces, a home, a running ztcd and its networks.
pub(crate) struct Bed {
    pub(crate) server: String,
    pub(crate) clients: String,
    pub(crate) home: PathBuf,
    pub(crate) daemon: Child,
    /// Private networks (pool and route) and one public network.
    pub(crate) private: Vec<String>,
    pub(crate) public: String,
}

impl Bed {
    /// Sets up `sources` member addresses and `flood` flood addresses, a ztcd with
    /// `networks` private networks and one public one, and starts it. `validated` public
    /// identities are written to its `peers.validated` first, as after a run in which they
    /// were validated (their proof of work is checked once per identity and remembered).
    pub(crate) fn new(
        tag: &str,
        sources: usize,
        flood: usize,
        networks: usize,
        validated: &[String],
    ) -> Self {
        let (server, clients, vc, home) = namespaces(tag);
        add_addresses(&clients, &vc, [10, 204, 0, 1], sources);
        add_addresses(&clients, &vc, [10, 205, 0, 1], flood);
        let h = home.to_str().expect("utf-8 path");
        ztcd(&["planet", "--home", h, "--endpoint", "10.203.0.1/9993"]);
        let private = (0..networks)
            .map(|i| {
                ztcd(&[
                    "network",
                    "create",
                    "--home",
                    h,
                    "--name",
                    &format!("load{i}"),
                    "--pool",
                    "10.100.0.1-10.100.255.254",
                    "--route",
                    "10.100.0.0/16",
                ])
            })
            .collect();
        let public = ztcd(&[
            "network",
            "create",
            "--home",
            h,
            "--name",
            "open",
            "--public",
            "--pool",
            "10.101.0.1-10.101.255.254",
            "--route",
            "10.101.0.0/16",
        ]);
        let daemon = start_ztcd(&server, &home, validated);
        let mut bed = Self {
            server,
            clients,
            home,
            daemon,
            private,
            public,
        };
        bed.wait_ready();
        bed
    }

    /// Waits until ztcd is ready: its files written and its admin API answering in its
    /// namespace ([`testkit::wait_ready`]); fails with its log if it exits or is late.
    fn wait_ready(&mut self) {
        let daemon = &mut self.daemon;
        let alive = || testkit::running(daemon);
        let answers = |r: &testkit::Ready| testkit::answers_in(&self.server, r);
        if let Err(e) = testkit::wait_ready(&self.home, answers, alive) {
            panic!("{e}: {}", self.log());
        }
    }

    /// A bed for a side-by-side run: `target` with `networks` private networks and one public
    /// one, all made through its JSON API (the same calls for every target), and `sources`
    /// member addresses one per /24 from [`SPREAD_SOURCES`]. `validated` identities are known
    /// to ztcd already (zerotier-one checks each on first contact).
    pub(crate) fn with_target(
        tag: &str,
        target: &Target,
        sources: usize,
        networks: usize,
        validated: &[String],
    ) -> Self {
        let (server, clients, vc, home) = namespaces(tag);
        add_addresses_step(&clients, &vc, [10, 128, 0, 1], sources, 256);
        let daemon = match target {
            Target::Ztcd => {
                let h = home.to_str().expect("utf-8 path");
                ztcd(&["planet", "--home", h, "--endpoint", "10.203.0.1/9993"]);
                start_ztcd(&server, &home, validated)
            }
            Target::ZeroTierOne(binary) => start_zerotier_one(&server, &home, binary),
        };
        let mut bed = Self {
            server,
            clients,
            home,
            daemon,
            private: Vec::new(),
            public: String::new(),
        };
        if let Target::Ztcd = target {
            bed.wait_ready();
        }
        let start = Instant::now();
        let me = loop {
            if let Some(st) = bed.api("GET", "/status", None)
                && let Some(a) = st["address"].as_str()
            {
                break a.to_owned();
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the target's API did not answer: {}",
                bed.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        for i in 0..networks {
            let id = bed.create_network(&me, &format!("load{i}"), true);
            bed.private.push(id);
        }
        bed.public = bed.create_network(&me, "open", false);
        bed
    }

    /// Creates a network of controller `me` through the JSON API (a /16 pool and its route);
    /// returns its ID.
    pub(crate) fn create_network(&self, me: &str, name: &str, private: bool) -> String {
        let pool = if private { "10.100" } else { "10.101" };
        let body = serde_json::json!({"name": name, "private": private,
            "v4AssignMode": {"zt": true},
            "ipAssignmentPools": [{"ipRangeStart": format!("{pool}.0.1"), "ipRangeEnd": format!("{pool}.255.254")}],
            "routes": [{"target": format!("{pool}.0.0/16"), "via": null}]});
        let path = format!("/controller/network/{me}______");
        let n = self
            .api("POST", &path, Some(&body.to_string()))
            .expect("network created");
        n["id"].as_str().expect("network ID").to_owned()
    }

    /// A JSON API call from the generator's namespace (curl, the home's token); `None` until
    /// the target answers with JSON.
    pub(crate) fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Option<serde_json::Value> {
        let token = std::fs::read_to_string(self.home.join("authtoken.secret")).ok()?;
        let url = format!("http://{SERVER_IP}:9993{path}");
        let (_, answer) = testkit::curl_in(&self.clients, method, &url, &token, body, None).ok()?;
        serde_json::from_slice(&answer).ok()
    }

    /// ztcd's log so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.home.join("log")).unwrap_or_default()
    }

    /// ztcd's process ID (the child is `ip netns exec`, which execs ztcd).
    pub(crate) fn pid(&self) -> u32 {
        self.daemon.id()
    }

    /// Runs `ztcd-loadgen config` in the clients namespace with the bed's target, controller,
    /// API, token and PID, plus `args`; returns its JSON report.
    pub(crate) fn loadgen(&self, args: &[&str]) -> serde_json::Value {
        let h = self.home.to_str().expect("utf-8 path");
        let out = Command::new("ip")
            .args(["netns", "exec", &self.clients, LOADGEN])
            .args(["config", "--target", "10.203.0.1:9993"])
            .args(["--controller", &format!("{h}/identity.public")])
            .args(["--api", "http://10.203.0.1:9993"])
            .args(["--token", &format!("{h}/authtoken.secret")])
            .args(["--pid", &self.pid().to_string()])
            .args(args)
            .output()
            .expect("run ztcd-loadgen");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "ztcd-loadgen {args:?} failed: {}{stdout}\nztcd log tail: {}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        );
        serde_json::from_str(stdout.trim()).expect("loadgen JSON")
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.pid().to_string()).output();
        let _ = self.daemon.wait();
        for ns in [&self.server, &self.clients] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// The public forms of the first `n` identities of the cache file `cache`, generating the
/// missing ones first with `ztcd-loadgen identities` (about 0.15 s each on 2 cores).
pub(crate) fn cached_identities(cache: &Path, n: usize) -> Vec<String> {
    std::fs::create_dir_all(cache.parent().expect("a file in a folder")).expect("cache folder");
    let out = Command::new(LOADGEN)
        .args(["identities", "--file"])
        .arg(cache)
        .args(["--count", &n.to_string()])
        .output()
        .expect("ztcd-loadgen identities");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    public_identities(cache, n)
}

/// The public forms of the first `n` identities of an identity cache file.
pub(crate) fn public_identities(file: &Path, n: usize) -> Vec<String> {
    std::fs::read_to_string(file)
        .expect("identity file")
        .lines()
        .take(n)
        .map(|l| l.splitn(4, ':').take(3).collect::<Vec<_>>().join(":"))
        .collect()
}
