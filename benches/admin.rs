//! Admin API throughput against a running release `ztcd` on loopback: member create+authorize
//! writes per second over HTTP (keep-alive connections from several threads, every write
//! durable before its answer), and the time to list 10,000 members with details.
//!
//! `cargo bench --bench admin` (optional env: `MEMBERS`, `THREADS`).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use ztcd::admin::client::{self, Request};
use ztcd::testkit;

/// One keep-alive connection of the library's client with the token.
struct Conn {
    conn: client::Conn,
    token: String,
}

impl Conn {
    fn new(addr: std::net::SocketAddr, token: &str) -> Self {
        Self {
            conn: client::Conn::open(addr, client::TIMEOUT).expect("connect"),
            token: token.to_owned(),
        }
    }

    fn call(&mut self, method: &str, path: &str, body: &str) -> (u16, Vec<u8>) {
        let req = Request {
            method,
            path,
            headers: &[("X-ZT1-Auth", &self.token)],
            body: body.as_bytes(),
        };
        let a = self.conn.send(&req).expect("admin answer");
        (a.status, a.body)
    }
}

/// User + system CPU seconds of `pid`.
fn cpu_seconds(pid: u32) -> f64 {
    testkit::cpu_ticks_seconds(&pid.to_string()).unwrap_or(f64::NAN)
}

fn main() {
    let members: u64 = std::env::var("MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let threads: u64 = std::env::var("THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let home = std::env::temp_dir().join(format!("ztcd-admin-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child: Child = Command::new(env!("CARGO_BIN_EXE_ztcd"))
        .args(["run", "--home"])
        .arg(&home)
        .args([
            "--port",
            &port.to_string(),
            "--endpoint",
            &format!("127.0.0.1/{port}"),
            "--log-level",
            "warn",
        ])
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ztcd");
    let ready = testkit::wait_ready(&home, testkit::answers_here, || {
        testkit::running(&mut child)
    })
    .expect("ztcd ready");
    let (addr, token) = (ready.admin, ready.token);
    let mut c = Conn::new(addr, &token);
    let (_, status) = c.call("GET", "/status", "");
    let status: serde_json::Value = serde_json::from_slice(&status).unwrap();
    let ours = status["address"].as_str().unwrap().to_owned();
    let pid = child.id();
    // Three rounds of writes into fresh networks: the figure is the median round (the two
    // cores are shared with this client, so single rounds vary).
    let mut rounds = Vec::new();
    let mut nwid = String::new();
    for _ in 0..3 {
        let create = format!("/controller/network/{ours}______");
        let (_, n) = c.call("POST", &create, r#"{"name":"bench"}"#);
        let n: serde_json::Value = serde_json::from_slice(&n).unwrap();
        nwid = n["id"].as_str().unwrap().to_owned();
        let cpu0 = cpu_seconds(pid);
        let t0 = Instant::now();
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (token, nwid) = (token.clone(), nwid.clone());
                std::thread::spawn(move || {
                    let mut c = Conn::new(addr, &token);
                    let mut i = t;
                    while i < members {
                        let path = format!(
                            "/controller/network/{nwid}/member/{:010x}",
                            0x10_0000_0000 + i
                        );
                        let body = format!(r#"{{"authorized":true,"name":"m{i}"}}"#);
                        let (code, body) = c.call("POST", &path, &body);
                        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
                        i += threads;
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let secs = t0.elapsed().as_secs_f64();
        rounds.push((
            members as f64 / secs,
            (cpu_seconds(pid) - cpu0) * 1e6 / members as f64,
        ));
    }
    rounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let shown: Vec<String> = rounds.iter().map(|r| format!("{:.0}", r.0)).collect();
    println!(
        "admin writes: {members} member create+authorize over HTTP ({threads} connections): median {:.0} writes/s (rounds {}); ztcd CPU {:.0} µs per write; RSS {} KiB",
        rounds[1].0,
        shown.join(", "),
        rounds[1].1,
        testkit::status_field(&pid.to_string(), "VmRSS").unwrap_or(0)
    );

    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..7 {
        let t = Instant::now();
        let (code, body) = c.call(
            "GET",
            &format!("/controller/network/{nwid}/member?details=1"),
            "",
        );
        times.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(code, 200);
        size = body.len();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v.as_array().unwrap().len() as u64, members);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "admin list: {members} members with details ({} KiB JSON) median {:.1} ms, best {:.1} ms",
        size / 1024,
        times[times.len() / 2],
        times[0]
    );
    let mut times = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let (code, _) = c.call("GET", &format!("/controller/network/{nwid}/member"), "");
        times.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(code, 200);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "admin list: {members} members as the zerotier-one map median {:.1} ms",
        times[times.len() / 2]
    );

    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&home);
}
