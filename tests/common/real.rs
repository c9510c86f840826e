//! Real ZeroTier clients (libzt 1.8.4 driven by `tests/libzt/zt.py`) and ztcd processes in
//! network namespaces the tests create and remove themselves. ZeroTier never uses loopback
//! paths, so every real-client test runs across a veth pair.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
pub(crate) use ztcd::testkit::ip;
use ztcd::testkit::{self, Ready};

/// Where the libzt harness lives in the repository.
fn harness_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/libzt")
}

/// The path of the `ztcd` binary under test.
pub(crate) fn ztcd_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ztcd")
}

/// Checks once that the real-client prerequisites are present (root, iproute2, python3, the
/// libzt harness). Returns `false` (after printing why) when a test should be skipped; under
/// CI (`CI=true`) a missing prerequisite fails the test instead.
pub(crate) fn available() -> bool {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    let result = CHECK.get_or_init(|| {
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| format!("id: {e}"))?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("not root: network namespaces need root".into());
        }
        Command::new("ip")
            .arg("-V")
            .output()
            .map_err(|e| format!("iproute2 missing: {e}"))?;
        let setup = Command::new(harness_dir().join("setup.sh"))
            .output()
            .map_err(|e| format!("tests/libzt/setup.sh: {e}"))?;
        if !setup.status.success() {
            return Err(format!(
                "tests/libzt/setup.sh failed: {}",
                String::from_utf8_lossy(&setup.stderr)
            ));
        }
        Ok(())
    });
    match result {
        Ok(()) => true,
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("real-client prerequisites missing under CI: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED (real-client test): {why}");
            false
        }
    }
}

/// Runs `zt.py` with `args` (optionally inside namespace `ns`) and parses its JSON output.
pub(crate) fn zt(ns: Option<&str>, args: &[&str]) -> (bool, Value) {
    let out = zt_command(ns, args).output().expect("run zt.py");
    parse_zt(&out)
}

/// The command for `zt.py args`, inside `ns` if given.
pub(crate) fn zt_command(ns: Option<&str>, args: &[&str]) -> Command {
    let script = harness_dir().join("zt.py");
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "python3"]);
            c
        }
        None => Command::new("python3"),
    };
    cmd.arg(script).args(args).stdin(Stdio::null());
    cmd
}

/// Starts `zt.py client --planet PLANET --storage STORAGE ARGS` in namespace `ns` in the
/// background (stdout captured for [`finish_client`]).
pub(crate) fn spawn_client(ns: &str, planet: &Path, storage: &Path, args: &[&str]) -> Child {
    let (p, s) = (
        planet.to_str().expect("utf-8 path"),
        storage.to_str().expect("utf-8 path"),
    );
    let mut all = vec!["client", "--planet", p, "--storage", s];
    all.extend_from_slice(args);
    zt_command(Some(ns), &all)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a libzt client")
}

/// Waits for a client started with [`spawn_client`] and parses its report.
pub(crate) fn finish_client(child: Child) -> (bool, Value) {
    parse_zt(&child.wait_with_output().expect("libzt client"))
}

/// Runs `ztcd ARGS`, asserting success; returns its trimmed standard output.
pub(crate) fn ztcd_ok(args: &[&str]) -> String {
    ztcd_ok_in(None, args)
}

/// Runs `ztcd ARGS` in network namespace `ns` (that of a daemon whose home the command
/// changes: it sends the change to the daemon's loopback API), asserting success; returns its
/// trimmed standard output.
pub(crate) fn ztcd_ok_in(ns: Option<&str>, args: &[&str]) -> String {
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, ztcd_bin()]);
            c
        }
        None => Command::new(ztcd_bin()),
    };
    let out = cmd.args(args).output().expect("run ztcd");
    assert!(
        out.status.success(),
        "ztcd {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `ztcd member set --home HOME --network NWID --address ADDRESS ARGS…` in the daemon's
/// namespace `ns` (the daemon owns the home, so the change goes through its API); returns
/// what it printed.
pub(crate) fn member_set(ns: &str, home: &str, nwid: &str, address: &str, args: &[&str]) -> String {
    let mut all = vec![
        "member",
        "set",
        "--home",
        home,
        "--network",
        nwid,
        "--address",
        address,
    ];
    all.extend_from_slice(args);
    ztcd_ok_in(Some(ns), &all)
}

/// Parses a finished `zt.py` run.
pub(crate) fn parse_zt(out: &Output) -> (bool, Value) {
    let text = String::from_utf8_lossy(&out.stdout);
    let value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "zt.py printed no JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), value)
}

/// A temporary directory removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("ztcd-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        Self(p)
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `cmd` to its end and returns its output, failing the test (after killing it) if it is
/// still running after `limit`: a command expected to refuse must not hang the suite when it
/// starts instead.
pub(crate) fn output_within(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!(
                "{cmd:?} still running after {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// The one backup file (`*.ztb`) in `dir`; the folder also holds the backup lock file, and
/// the order `read_dir` lists them in depends on the file system.
pub(crate) fn backup_in(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("backup folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "ztb"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.into_iter().next().unwrap()
}

/// Two namespaces joined by a veth pair: `server` holds 10.77.N.1, `clients` holds
/// 10.77.N.2 and 10.77.N.3. Removed on drop, also when the test fails.
pub(crate) struct NetPair {
    pub(crate) server: String,
    pub(crate) clients: String,
    pub(crate) subnet: u8,
}

impl NetPair {
    pub(crate) fn new(subnet: u8) -> Self {
        let tag = format!("zt{}x{subnet}", std::process::id() % 100_000);
        let pair = Self {
            server: format!("{tag}s"),
            clients: format!("{tag}c"),
            subnet,
        };
        // libzt skips interfaces named lo*, zt*, tun* and tap*: the veth names avoid those.
        let short = format!("{}x{subnet}", std::process::id() % 100_000);
        let (vs, vc) = (format!("ve{short}s"), format!("ve{short}c"));
        ip(&["netns", "add", &pair.server]);
        ip(&["netns", "add", &pair.clients]);
        ip(&["link", "add", &vs, "type", "veth", "peer", "name", &vc]);
        ip(&["link", "set", &vs, "netns", &pair.server]);
        ip(&["link", "set", &vc, "netns", &pair.clients]);
        ip(&[
            "-n",
            &pair.server,
            "addr",
            "add",
            &format!("10.77.{subnet}.1/24"),
            "dev",
            &vs,
        ]);
        ip(&[
            "-n",
            &pair.clients,
            "addr",
            "add",
            &format!("10.77.{subnet}.2/24"),
            "dev",
            &vc,
        ]);
        ip(&[
            "-n",
            &pair.clients,
            "addr",
            "add",
            &format!("10.77.{subnet}.3/24"),
            "dev",
            &vc,
        ]);
        for (ns, dev) in [(&pair.server, &vs), (&pair.clients, &vc)] {
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        // libzt binds only interfaces that are up when it starts (it rescans every 30 s), so
        // wait until both ends report UP, then a little more.
        let start = Instant::now();
        for (ns, dev) in [(&pair.server, &vs), (&pair.clients, &vc)] {
            loop {
                let out = Command::new("ip")
                    .args(["-n", ns, "-br", "link", "show", dev])
                    .output();
                let up = out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(" UP "));
                if up || start.elapsed() > Duration::from_secs(10) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        std::thread::sleep(Duration::from_secs(1));
        pair
    }

    /// Adds `count` extra client addresses, each in its own /24 (10.78.i.2), routed from the
    /// server; returns them.
    pub(crate) fn add_client_sources(&self, count: u8) -> Vec<String> {
        let short = format!("{}x{}", std::process::id() % 100_000, self.subnet);
        let (vs, vc) = (format!("ve{short}s"), format!("ve{short}c"));
        ip(&[
            "-n",
            &self.server,
            "route",
            "add",
            "10.78.0.0/16",
            "dev",
            &vs,
        ]);
        ip(&[
            "-n",
            &self.clients,
            "route",
            "add",
            &format!("10.77.{}.0/24", self.subnet),
            "dev",
            &vc,
            "metric",
            "50",
        ]);
        (0..count)
            .map(|i| {
                let addr = format!("10.78.{i}.2");
                ip(&[
                    "-n",
                    &self.clients,
                    "addr",
                    "add",
                    &format!("{addr}/32"),
                    "dev",
                    &vc,
                ]);
                addr
            })
            .collect()
    }

    /// Adds another address (10.77.N.`host`) to the server's side.
    pub(crate) fn add_server_address(&self, host: u8) -> String {
        let short = format!("{}x{}", std::process::id() % 100_000, self.subnet);
        let addr = format!("10.77.{}.{host}", self.subnet);
        ip(&[
            "-n",
            &self.server,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            &format!("ve{short}s"),
        ]);
        addr
    }

    /// The server's address.
    pub(crate) fn server_ip(&self) -> String {
        format!("10.77.{}.1", self.subnet)
    }
}

impl Drop for NetPair {
    fn drop(&mut self) {
        for ns in [&self.server, &self.clients] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// A namespace with only loopback up: nothing started in it can reach any other address.
pub(crate) struct Isolated(pub(crate) String);

impl Isolated {
    pub(crate) fn new(tag: &str) -> Self {
        let name = format!("zt{}{tag}", std::process::id() % 100_000);
        ip(&["netns", "add", &name]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        Self(name)
    }
}

impl Drop for Isolated {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// A `ztcd run` process in a namespace; stopped with SIGTERM on drop.
pub(crate) struct Daemon {
    child: Option<Child>,
    log: PathBuf,
    ready: Ready,
}

impl Daemon {
    /// `ztcd run` in namespace `ns`; returns once it is ready ([`testkit::wait_ready`]).
    pub(crate) fn start(ns: &str, home: &Path, args: &[&str]) -> Self {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, ztcd_bin()]);
        Self::spawn(cmd, home, args, |r| testkit::answers_in(ns, r))
    }

    /// `ztcd run` in this host's own network namespace (loopback-only tests).
    pub(crate) fn start_local(home: &Path, args: &[&str]) -> Self {
        Self::spawn(Command::new(ztcd_bin()), home, args, testkit::answers_here)
    }

    /// `ztcd run` on this host with at most `nofile` open file descriptors (`prlimit`).
    pub(crate) fn start_local_with_nofile(home: &Path, args: &[&str], nofile: u32) -> Self {
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--nofile={nofile}:{nofile}"))
            .arg(ztcd_bin());
        Self::spawn(cmd, home, args, testkit::answers_here)
    }

    /// Starts `cmd run --home HOME ARGS` and waits until it is ready, its admin API answering
    /// `answers`; fails the test with the log if it exits or is not ready in time.
    fn spawn(
        mut cmd: Command,
        home: &Path,
        args: &[&str],
        answers: impl FnMut(&Ready) -> bool,
    ) -> Self {
        let log = home.with_extension("log");
        let file = std::fs::File::create(&log).expect("daemon log");
        let child = cmd
            .args(["run", "--home"])
            .arg(home)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start ztcd");
        let mut child = Some(child);
        let alive = || child.as_mut().map_or(Ok(()), testkit::running);
        let ready = testkit::wait_ready(home, answers, alive).unwrap_or_else(|e| {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("{e}:\n{text}")
        });
        Self { child, log, ready }
    }

    /// The admin address and token the daemon announced once ready.
    pub(crate) fn ready(&self) -> &Ready {
        &self.ready
    }

    /// A client of the daemon's admin API (for daemons in this host's namespace).
    pub(crate) fn api(&self) -> super::http::Api {
        super::http::Api {
            addr: self.ready.admin,
            token: self.ready.token.clone(),
        }
    }

    /// The daemon's process ID (`ip netns exec` execs the command in place).
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Waits until the log contains `needle`.
    pub(crate) fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if text.contains(needle) {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "ztcd never logged {needle:?}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the daemon (SIGTERM) and returns its log.
    pub(crate) fn stop(mut self) -> String {
        self.terminate();
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .output();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// The value of counter `name` in the last `stats:` line of a daemon log.
pub(crate) fn stat(log: &str, name: &str) -> u64 {
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("stats: "))
        .expect("a stats line in the log");
    line.split_whitespace()
        .find_map(|kv| {
            kv.strip_prefix(&format!("{name}="))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or_else(|| panic!("counter {name} not in {line}"))
}

/// Resident set size of a process in KiB (0 when it is gone).
pub(crate) fn rss_kib(pid: u32) -> u64 {
    testkit::status_field(&pid.to_string(), "VmRSS").unwrap_or(0)
}

/// User + system CPU time of a process in seconds, exited threads included (0 when it is
/// gone).
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    testkit::cpu_ticks_seconds(&pid.to_string()).unwrap_or(0.0)
}

/// An admin API request from inside namespace `ns` (curl) to `http://HOST:9993PATH` with the
/// token of `home` (`from` picks the source address); returns the status and the JSON body.
pub(crate) fn admin(
    home: &Path,
    ns: &str,
    host: &str,
    from: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let token = std::fs::read_to_string(home.join("authtoken.secret")).expect("token");
    let url = format!("http://{host}:9993{path}");
    let body = body.map(|b| b.to_string());
    let (code, body) = testkit::curl_in(ns, method, &url, &token, body.as_deref(), from)
        .unwrap_or_else(|e| panic!("{e}"));
    (code, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// An admin API request from the daemon's namespace over loopback that must answer 200.
pub(crate) fn admin_ok(
    home: &Path,
    ns: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Value {
    let (code, v) = admin(home, ns, "127.0.0.1", None, method, path, body);
    assert_eq!(code, 200, "{method} {path}: {v}");
    v
}

/// A private network on the daemon of `home` (in `ns`) with routes and a pool in
/// `prefix`.0/24, and one member authorized at `prefix`.10 under a fresh libzt identity:
/// returns the network ID, the member's secret identity and its API path.
pub(crate) fn network_with_member(
    home: &Path,
    ns: &str,
    name: &str,
    prefix: &str,
) -> (String, String, String) {
    let ours = admin_ok(home, ns, "GET", "/status", None)["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = serde_json::json!({"name": name, "private": true, "v4AssignMode": {"zt": true},
        "routes": [{"target": format!("{prefix}.0/24")}],
        "ipAssignmentPools": [{"ipRangeStart": format!("{prefix}.1"), "ipRangeEnd": format!("{prefix}.254")}]});
    let n = admin_ok(
        home,
        ns,
        "POST",
        &format!("/controller/network/{ours}______"),
        Some(body),
    );
    let nwid = n["id"].as_str().unwrap().to_owned();
    let (_, v) = zt(None, &["id-new"]);
    let secret = v["identity"].as_str().unwrap().to_owned();
    let member = format!("/controller/network/{nwid}/member/{}", &secret[..10]);
    admin_ok(
        home,
        ns,
        "POST",
        &member,
        Some(serde_json::json!({"authorized": true, "ipAssignments": [format!("{prefix}.10")]})),
    );
    (nwid, secret, member)
}

/// The usual real-client setup: a namespace pair on 10.77.`subnet`.0/24 and `ztcd run` in the
/// server namespace with its planet listing 10.77.`subnet`.1/9993. `None` (after printing why)
/// when the prerequisites are missing outside CI.
pub(crate) struct Scene {
    pub(crate) net: NetPair,
    pub(crate) dir: TempDir,
    pub(crate) home: PathBuf,
    pub(crate) planet: PathBuf,
    pub(crate) daemon: Daemon,
}

impl Scene {
    pub(crate) fn start(subnet: u8, tag: &str) -> Option<Self> {
        Self::start_with(subnet, tag, &[])
    }

    /// Like [`Scene::start`], with extra `ztcd run` arguments.
    pub(crate) fn start_with(subnet: u8, tag: &str, extra: &[&str]) -> Option<Self> {
        if !available() {
            return None;
        }
        let net = NetPair::new(subnet);
        let dir = TempDir::new(tag);
        let home = dir.path("home");
        let endpoint = format!("{}/9993", net.server_ip());
        let mut args = vec!["--endpoint", &endpoint];
        args.extend_from_slice(extra);
        let daemon = Daemon::start(&net.server, &home, &args);
        let planet = home.join("planet");
        Some(Self {
            net,
            dir,
            home,
            planet,
            daemon,
        })
    }

    /// The home directory as text (for `ztcd … --home`).
    pub(crate) fn home_str(&self) -> &str {
        self.home.to_str().expect("utf-8 path")
    }
}

/// Mounts a small tmpfs at `path` (root only); unmounted on drop.
pub(crate) struct Tmpfs(pub(crate) PathBuf);

impl Tmpfs {
    pub(crate) fn mount(path: &Path, options: &str) -> Option<Self> {
        std::fs::create_dir_all(path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(path)
            .status()
            .is_ok_and(|st| st.success());
        ok.then(|| Self(path.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}
