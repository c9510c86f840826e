//! `ztcd-loadgen`: drives a ZeroTier root or controller over real UDP with the real protocol,
//! to measure it and to test it under load. It works against any ZeroTier node: it needs only
//! the target's address and public identity.
//!
//! ```text
//! ztcd-loadgen flood --target IP:PORT --root IDENTITY [--source IP ...] [--seconds S]
//!                    [--rate N] [--valid-every K]
//!     HELLOs from fresh identities (most with a failing proof of work, every K-th a valid
//!     one), spread over the source addresses; prints what was sent.
//! ztcd-loadgen relay --target IP:PORT --root IDENTITY [--seconds S] [--size BYTES]
//!     Two members HELLO the root, then A streams packets to B through it; prints the rate
//!     B receives at.
//! ```
//! IDENTITY is a public identity string or a file holding one (e.g. the target's
//! `identity.public`). Output is one JSON object on stdout.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lexopt::prelude::*;
use ztcd::client::ClientSession;
use ztcd::crypto::c25519::KeyPair;
use ztcd::crypto::hashcash::Scratch;
use ztcd::crypto::{Entropy, SeededEntropy};
use ztcd::identity::{Identity, IdentitySecret};
use ztcd::runtime::OsEntropy;
use ztcd::wire::verbs::OkHeader;
use ztcd::wire::{Address, InetAddress, Verb};

struct Options {
    mode: String,
    target: SocketAddr,
    root: Identity,
    sources: Vec<IpAddr>,
    seconds: f64,
    rate: u64,
    valid_every: u64,
    size: usize,
}

fn parse() -> Result<Options, String> {
    let mut p = lexopt::Parser::from_env();
    let mode = match p.next().map_err(|e| e.to_string())? {
        Some(Value(v)) => v.string().map_err(|e| e.to_string())?,
        _ => {
            return Err(
                "usage: ztcd-loadgen flood|relay --target IP:PORT --root IDENTITY ...".into(),
            );
        }
    };
    let (mut target, mut root, mut sources) = (None, None, Vec::new());
    let (mut seconds, mut rate, mut valid_every, mut size) = (5.0, 1000, 0, 100);
    let val = |p: &mut lexopt::Parser| -> Result<String, String> {
        p.value()
            .map_err(|e| e.to_string())?
            .string()
            .map_err(|e| e.to_string())
    };
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Long("target") => target = Some(val(&mut p)?.parse().map_err(|_| "--target IP:PORT")?),
            Long("root") => {
                let v = val(&mut p)?;
                let text = std::fs::read_to_string(&v).unwrap_or(v);
                root = Some(
                    text.trim()
                        .parse::<Identity>()
                        .map_err(|e| format!("--root: {e}"))?,
                );
            }
            Long("source") => sources.push(val(&mut p)?.parse().map_err(|_| "--source IP")?),
            Long("seconds") => seconds = val(&mut p)?.parse().map_err(|_| "--seconds S")?,
            Long("rate") => rate = val(&mut p)?.parse().map_err(|_| "--rate N")?,
            Long("valid-every") => {
                valid_every = val(&mut p)?.parse().map_err(|_| "--valid-every K")?
            }
            Long("size") => size = val(&mut p)?.parse().map_err(|_| "--size BYTES")?,
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok(Options {
        mode,
        target: target.ok_or("--target is required")?,
        root: root.ok_or("--root is required")?,
        sources,
        seconds,
        rate,
        valid_every,
        size: size.clamp(29, 1400),
    })
}

fn main() -> ExitCode {
    let opts = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ztcd-loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match opts.mode.as_str() {
        "flood" => flood(&opts),
        "relay" => relay(&opts),
        other => Err(format!("unknown mode {other:?}")),
    };
    match result {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ztcd-loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bind(ip: Option<IpAddr>, target: SocketAddr) -> Result<UdpSocket, String> {
    let any = if target.is_ipv4() {
        IpAddr::from([0, 0, 0, 0])
    } else {
        IpAddr::from([0u16; 8])
    };
    let ip = ip.unwrap_or(any);
    UdpSocket::bind(SocketAddr::new(ip, 0)).map_err(|e| format!("bind {ip}: {e}"))
}

/// An identity whose address does not match its key (fails the proof of work), made cheaply.
fn bogus_identity(rng: &mut impl Entropy) -> IdentitySecret {
    let keys = KeyPair::generate(rng);
    let address =
        Address::new(0x10_0000_0000 | ((rng.next_u64() & 0xff_ffff_ffff) % 0xef_ffff_ffff));
    let text = format!(
        "{address}:0:{}:{}",
        ztcd::hex::encode(keys.public()),
        ztcd::hex::encode(keys.secret().as_bytes())
    );
    // unwrap safety: the text is built from a matching key pair.
    IdentitySecret::parse(&text).expect("well-formed identity")
}

fn flood(o: &Options) -> Result<String, String> {
    let sockets: Vec<UdpSocket> = if o.sources.is_empty() {
        vec![bind(None, o.target)?]
    } else {
        o.sources
            .iter()
            .map(|ip| bind(Some(*ip), o.target))
            .collect::<Result<_, _>>()?
    };
    let mut rng = SeededEntropy::new(OsEntropy.next_u64());
    let mut scratch = Scratch::new();
    let sent_to = InetAddress::from_socket(o.target);
    let start = Instant::now();
    let (mut sent, mut valid) = (0u64, 0u64);
    let interval = Duration::from_secs_f64(1.0 / o.rate.max(1) as f64);
    while start.elapsed().as_secs_f64() < o.seconds {
        let id = if o.valid_every > 0 && sent % o.valid_every == o.valid_every - 1 {
            valid += 1;
            IdentitySecret::generate(&mut rng, &mut scratch)
        } else {
            bogus_identity(&mut rng)
        };
        let mut session = ClientSession::new(id, o.root, rng.next_u64());
        let (_, hello) = session
            .hello(1, sent_to, (0, 0))
            .map_err(|e| e.to_string())?;
        let sock = &sockets[(sent as usize) % sockets.len()];
        let _ = sock.send_to(&hello, o.target);
        sent += 1;
        let due = interval * sent as u32;
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(format!(
        "{{\"mode\":\"flood\",\"sent\":{sent},\"valid_identities\":{valid},\"sources\":{},\"seconds\":{secs:.3},\"rate\":{:.1}}}",
        sockets.len(),
        sent as f64 / secs
    ))
}

/// HELLOs the root until it answers; returns the session.
fn join(
    root: Identity,
    sock: &UdpSocket,
    target: SocketAddr,
    id: IdentitySecret,
) -> Result<ClientSession, String> {
    let mut session = ClientSession::new(id, root, 0x5000);
    let sent_to = InetAddress::from_socket(target);
    let mut buf = [0u8; 2048];
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|e| e.to_string())?;
    for _ in 0..20 {
        let (pid, hello) = session
            .hello(1, sent_to, (0, 0))
            .map_err(|e| e.to_string())?;
        sock.send_to(&hello, target).map_err(|e| e.to_string())?;
        while let Ok((n, _)) = sock.recv_from(&mut buf) {
            if let Some((h, payload)) = session.open(buf[..n].to_vec())
                && h.verb == Verb::Ok
                && OkHeader::parse(&payload).is_ok_and(|(ok, _)| ok.in_re_packet_id == pid)
            {
                return Ok(session);
            }
        }
    }
    Err("the root never answered HELLO".into())
}

fn relay(o: &Options) -> Result<String, String> {
    let mut rng = SeededEntropy::new(OsEntropy.next_u64());
    let mut scratch = Scratch::new();
    let (id_a, id_b) = (
        IdentitySecret::generate(&mut rng, &mut scratch),
        IdentitySecret::generate(&mut rng, &mut scratch),
    );
    let sock_a = bind(o.sources.first().copied(), o.target)?;
    let sock_b = bind(o.sources.get(1).copied(), o.target)?;
    join(o.root, &sock_a, o.target, id_a.clone())?;
    // The root validates at most one new identity per /24 every 2 s.
    std::thread::sleep(Duration::from_millis(2100));
    let b_session = join(o.root, &sock_b, o.target, id_b.clone())?;
    let _ = b_session;
    let mut a_to_b = ClientSession::new(id_a, *id_b.identity(), 1);
    let received = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let receiver = {
        let (received, done) = (received.clone(), done.clone());
        let sock = sock_b.try_clone().map_err(|e| e.to_string())?;
        let from_a = ClientSession::new(id_b, *a_to_b.identity().identity(), 0);
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
            while !done.load(Ordering::Relaxed) {
                if let Ok((n, _)) = sock.recv_from(&mut buf)
                    && from_a.open(buf[..n].to_vec()).is_some()
                {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let payload = vec![0x42u8; o.size - 28];
    let packets: Vec<Vec<u8>> = (0..1024)
        .map(|_| {
            a_to_b
                .packet(Verb::Frame, &payload, false)
                .map(|(_, mut d)| d.remove(0))
        })
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed().as_secs_f64() < o.seconds {
        for p in packets.iter().take(64) {
            if sock_a.send_to(p, o.target).is_ok() {
                sent += 1;
            }
        }
        // Pace so the kernel's socket buffers, not the root, are the limit only rarely.
        std::thread::yield_now();
    }
    let secs = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(300));
    done.store(true, Ordering::Relaxed);
    let _ = receiver.join();
    let got = received.load(Ordering::Relaxed);
    Ok(format!(
        "{{\"mode\":\"relay\",\"size\":{},\"sent\":{sent},\"received\":{got},\"seconds\":{secs:.3},\"sent_per_s\":{:.0},\"received_per_s\":{:.0}}}",
        o.size,
        sent as f64 / secs,
        got as f64 / secs
    ))
}
