//! The floor under a UDP server's cost per answer on a bed: a server that does no work at
//! all (it answers every datagram with a fixed-size reply) and a client that sends at a fixed
//! rate and measures the server's CPU per answer. What a real server spends above this floor
//! at the same rate and sizes is its own work; the floor itself is the wake-up, the receive
//! and the send (on a namespace bed the sender also pays the delivery into the receiving
//! socket and the wake-up of its reader).
//!
//! ```text
//! ztcd-loadgen echo-server --listen IP:PORT [--reply-size BYTES] [--async]
//!     Answers each datagram with BYTES bytes (1,024 unless given), blocking in recvfrom, or
//!     with `--async` through smol's reactor as the daemon waits (epoll, one-shot interest).
//! ztcd-loadgen echo --target IP:PORT --pid PID [--rate N] [--seconds S] [--size BYTES]
//!     Sends BYTES-byte datagrams (256) at N/s (1,000) for S seconds (10); prints the answers
//!     and the server's CPU per answer.
//! ```

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::Args;

/// Largest datagram the server reads.
const MAX_DATAGRAM: usize = 65_536;
/// How long the client waits for the server to answer a first datagram.
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// `echo-server`: runs until killed.
pub(crate) fn server(a: &Args) -> Result<String, String> {
    let listen: SocketAddr = a.req("listen")?;
    let reply = vec![0x5a; a.or("reply-size", 1024usize)?.clamp(1, 1400)];
    let socket = UdpSocket::bind(listen).map_err(|e| format!("bind {listen}: {e}"))?;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    if a.values.contains_key("async") {
        let socket = smol::Async::new(socket).map_err(|e| e.to_string())?;
        smol::block_on(async {
            loop {
                if let Ok((_, from)) = socket.recv_from(&mut buf).await {
                    let _ = socket.send_to(&reply, from).await;
                }
            }
        })
    } else {
        loop {
            if let Ok((_, from)) = socket.recv_from(&mut buf) {
                let _ = socket.send_to(&reply, from);
            }
        }
    }
}

/// `echo`: the client; returns its JSON report.
pub(crate) fn client(a: &Args) -> Result<String, String> {
    let target: SocketAddr = a.req("target")?;
    let pid: u32 = a.req("pid")?;
    let rate: f64 = a.or("rate", 1000.0f64)?.clamp(1.0, 100_000.0);
    let seconds: f64 = a.or("seconds", 10.0f64)?.clamp(1.0, 600.0);
    let request = vec![0xa5; a.or("size", 256usize)?.clamp(1, 1400)];
    let socket = super::bind(None, target)?;
    socket.connect(target).map_err(|e| e.to_string())?;
    wait_answering(&socket, &request)?;
    let answered = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (socket, answered, done) = (
            socket.try_clone().map_err(|e| e.to_string())?,
            answered.clone(),
            done.clone(),
        );
        std::thread::spawn(move || {
            let _ = socket.set_read_timeout(Some(Duration::from_millis(100)));
            let mut buf = vec![0u8; MAX_DATAGRAM];
            while !done.load(Ordering::Relaxed) {
                match socket.recv(&mut buf) {
                    Ok(_) => {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => refused_pause(&e),
                }
            }
        })
    };
    let cpu = || ztcd::testkit::cpu_seconds(&pid.to_string()).unwrap_or(f64::NAN);
    let (cpu0, start) = (cpu(), Instant::now());
    let total = (rate * seconds) as u64;
    let mut sent = 0u64;
    while sent < total {
        // Paced by absolute deadlines, so a late wake-up does not lower the rate.
        let due = start + Duration::from_secs_f64(sent as f64 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let _ = socket.send(&request);
        sent += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    // The last answers' round trip (a measurement tail, not a readiness wait).
    std::thread::sleep(Duration::from_millis(200));
    let cpu_s = cpu() - cpu0;
    done.store(true, Ordering::Relaxed);
    let _ = reader.join();
    let answered = answered.load(Ordering::Relaxed);
    Ok(json!({
        "mode": "echo",
        "sent": sent,
        "answered": answered,
        "per_second": answered as f64 / elapsed,
        "target": {
            "cpu_s": cpu_s,
            "cpu_us_each": cpu_s * 1e6 / answered.max(1) as f64,
        },
    })
    .to_string())
}

/// Sends until the server answers once (it may still be starting), within [`READY_DEADLINE`].
fn wait_answering(socket: &UdpSocket, request: &[u8]) -> Result<(), String> {
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + READY_DEADLINE;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while Instant::now() < deadline {
        let _ = socket.send(request);
        match socket.recv(&mut buf) {
            Ok(_) => {
                // Answers to the other probes still in flight are drained by the timeout.
                while socket.recv(&mut buf).is_ok() {}
                return Ok(());
            }
            Err(e) => refused_pause(&e),
        }
    }
    Err(format!(
        "the echo server did not answer within {READY_DEADLINE:?}"
    ))
}

/// A connected UDP socket reports a refused datagram (no server on the port) at once, not
/// after the read timeout: pause briefly instead of spinning.
fn refused_pause(e: &std::io::Error) {
    if e.kind() == std::io::ErrorKind::ConnectionRefused {
        std::thread::sleep(Duration::from_millis(10));
    }
}
