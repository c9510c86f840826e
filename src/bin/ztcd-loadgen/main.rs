//! `ztcd-loadgen`: drives a ZeroTier root or controller over real UDP with the real protocol,
//! to measure it and to test it under load. It works against any ZeroTier node: it needs only
//! the target's address and public identity.
//!
//! ```text
//! ztcd-loadgen flood --target IP:PORT --root IDENTITY [--source IP ...] [--seconds S]
//!                    [--rate N] [--valid-every K]
//!     HELLOs from fresh identities (most with a failing proof of work, every K-th a valid
//!     one), spread over the source addresses; prints what was sent. `--protocol 13` sends
//!     them with extended armor, as protocol-13 clients do (an X25519 each for the target).
//! ztcd-loadgen flood ... --cheap
//!     The same HELLOs made without key agreement (random keys, wrong MACs): as fast as a
//!     flood can be made, to measure what the root spends refusing them.
//! ztcd-loadgen amplify --target IP:PORT --root IDENTITY --source IP --victim IP --helper IP
//!                      [--planet-id ID] [--network NWID]
//!     Bytes a forged source (the victim) receives per request verb sent and replayed with a
//!     joined member's identity, and whether relayed traffic still reaches the member.
//! ztcd-loadgen likes --target IP:PORT --root IDENTITY --source IP --identity SECRET
//!                    --network NWID [--seconds S] [--rate N]
//!     An authorized member joins the network, then floods MULTICAST_LIKEs of random groups.
//! ztcd-loadgen relay --target IP:PORT --root IDENTITY [--seconds S] [--size BYTES]
//!     Two members HELLO the root, then A streams packets to B through it; prints the rate
//!     B receives at.
//! ztcd-loadgen echo-server|echo ...
//!     The floor under a server's cost per answer on a bed (see `echo.rs`).
//! ```
//! IDENTITY is a public identity string or a file holding one (e.g. the target's
//! `identity.public`). Output is one JSON object on stdout.

use std::collections::HashMap;
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

mod attack;
mod echo;
mod identities;
mod probe;
mod scenario;
mod sim;

/// Options that take no value.
const FLAGS: &[&str] = &["authorize", "cheap", "async"];

/// Command-line options: `--name value` pairs (repeatable) after the mode.
struct Args {
    mode: String,
    values: HashMap<String, Vec<String>>,
}

impl Args {
    fn parse() -> Result<Self, String> {
        let mut p = lexopt::Parser::from_env();
        let mode = match p.next().map_err(|e| e.to_string())? {
            Some(Value(v)) => v.string().map_err(|e| e.to_string())?,
            _ => return Err(USAGE.into()),
        };
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        while let Some(arg) = p.next().map_err(|e| e.to_string())? {
            match arg {
                Long(name) => {
                    let name = name.to_string();
                    if FLAGS.contains(&name.as_str()) {
                        values.entry(name).or_default().push("true".into());
                        continue;
                    }
                    let v = p.value().map_err(|e| format!("--{name}: {e}"))?;
                    let v = v.string().map_err(|e| format!("--{name}: {e:?}"))?;
                    values.entry(name).or_default().push(v);
                }
                other => return Err(other.unexpected().to_string()),
            }
        }
        Ok(Self { mode, values })
    }

    /// The last value of `--name`, parsed; `None` when absent.
    fn opt<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, String> {
        match self.values.get(name).and_then(|v| v.last()) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| format!("--{name}: cannot use {v:?}")),
        }
    }

    /// `--name`, or `default` when absent.
    fn or<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        Ok(self.opt(name)?.unwrap_or(default))
    }

    /// `--name`, which must be given.
    fn req<T: std::str::FromStr>(&self, name: &str) -> Result<T, String> {
        self.opt(name)?
            .ok_or_else(|| format!("--{name} is required"))
    }

    /// Every value of `--name`.
    fn all(&self, name: &str) -> &[String] {
        self.values.get(name).map_or(&[], |v| v.as_slice())
    }

    /// `--protocol`: the version members' HELLOs announce (11 unless given: zerotier-one then
    /// answers with Salsa20/12-Poly1305; 13 adds extended armor).
    fn protocol(&self) -> Result<u8, String> {
        self.or("protocol", 11)
    }

    /// `--name` as a public identity given inline or as a file holding one.
    fn identity(&self, name: &str) -> Result<Identity, String> {
        let v: String = self.req(name)?;
        let text = std::fs::read_to_string(&v).unwrap_or(v);
        text.trim()
            .parse::<Identity>()
            .map_err(|e| format!("--{name}: {e}"))
    }
}

/// The options of the flood and relay modes.
struct FloodOptions {
    target: SocketAddr,
    root: Identity,
    sources: Vec<IpAddr>,
    seconds: f64,
    rate: u64,
    valid_every: u64,
    /// HELLOs without key agreement (random keys, wrong MACs).
    cheap: bool,
    /// Protocol version the HELLOs announce (13: with extended armor).
    protocol: u8,
}

impl FloodOptions {
    fn from_args(a: &Args) -> Result<Self, String> {
        let sources = a
            .all("source")
            .iter()
            .map(|s| s.parse().map_err(|_| format!("--source: cannot use {s:?}")))
            .collect::<Result<_, String>>()?;
        Ok(Self {
            target: a.req("target")?,
            root: a.identity("root")?,
            sources,
            seconds: a.or("seconds", 5.0)?,
            rate: a.or("rate", 1000)?,
            valid_every: a.or("valid-every", 0)?,
            cheap: a.values.contains_key("cheap"),
            protocol: a.protocol()?,
        })
    }
}

const USAGE: &str = "usage: ztcd-loadgen identities|config|flood|relay|amplify|likes|echo-server|echo [--option value ...] (see the crate docs)";

fn main() -> ExitCode {
    let result = Args::parse().and_then(|a| match a.mode.as_str() {
        "identities" => identities::generate(
            &a.req::<std::path::PathBuf>("file")?,
            a.req("count")?,
            a.or("threads", 2)?,
        ),
        "config" => scenario::run(&a),
        "flood" => flood_run(&FloodOptions::from_args(&a)?).map(|v| v.to_string()),
        "amplify" => attack::amplify(&a).map(|v| v.to_string()),
        "likes" => attack::likes(&a).map(|v| v.to_string()),
        "echo-server" => echo::server(&a),
        "echo" => echo::client(&a),
        "relay" => relay(
            &FloodOptions::from_args(&a)?,
            a.or("size", 100usize)?.clamp(29, 1400),
        ),
        other => Err(format!("unknown mode {other:?}; {USAGE}")),
    });
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

/// A HELLO from a random identity made from `template` without key agreement: new packet
/// ID, address and public key (so the MAC is wrong, which only the agreement would show).
fn cheap_hello(template: &[u8], rng: &mut impl Entropy) -> Vec<u8> {
    let mut h = template.to_vec();
    rng.fill(&mut h[0..8]);
    let address = (0x10_0000_0000 | (rng.next_u64() % 0xef_ffff_ffff)).to_be_bytes();
    // The address is the header's source (13..18) and the identity's first field (41..46).
    h[13..18].copy_from_slice(&address[3..]);
    h[41..46].copy_from_slice(&address[3..]);
    rng.fill(&mut h[47..111]);
    h
}

/// Sends fresh-identity HELLOs as `o` says; returns the report.
fn flood_run(o: &FloodOptions) -> Result<serde_json::Value, String> {
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
    let template = bogus_identity(&mut rng);
    let (_, template) = ClientSession::new(template, o.root, 1)
        .hello(1, sent_to, (0, 0))
        .map_err(|e| e.to_string())?;
    while start.elapsed().as_secs_f64() < o.seconds {
        if o.cheap {
            let hello = cheap_hello(&template, &mut rng);
            let sock = &sockets[(sent as usize) % sockets.len()];
            let _ = sock.send_to(&hello, o.target);
            sent += 1;
            if sent % 64 == 0 {
                let due = interval * sent as u32;
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            continue;
        }
        let id = if o.valid_every > 0 && sent % o.valid_every == o.valid_every - 1 {
            valid += 1;
            IdentitySecret::generate(&mut rng, &mut scratch)
        } else {
            bogus_identity(&mut rng)
        };
        let mut session = ClientSession::new(id, o.root, rng.next_u64());
        session.set_protocol(o.protocol);
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
    Ok(serde_json::json!({
        "mode": "flood",
        "sent": sent,
        "valid_identities": valid,
        "sources": sockets.len(),
        "seconds": (secs * 1000.0).round() / 1000.0,
        "rate": (sent as f64 / secs * 10.0).round() / 10.0,
    }))
}

/// HELLOs the root until it answers, and answers the root's path probe (an ECHO) as clients
/// do so the root uses this path; returns the session.
pub(crate) fn join(
    root: Identity,
    sock: &UdpSocket,
    target: SocketAddr,
    id: IdentitySecret,
) -> Result<ClientSession, String> {
    let mut session = ClientSession::new(id, root, ztcd::runtime::unix_millis() << 20);
    let sent_to = InetAddress::from_socket(target);
    let mut buf = [0u8; 2048];
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|e| e.to_string())?;
    let (mut answered, mut probed) = (false, false);
    for _ in 0..20 {
        let (pid, hello) = session
            .hello(1, sent_to, (0, 0))
            .map_err(|e| e.to_string())?;
        sock.send_to(&hello, target).map_err(|e| e.to_string())?;
        while let Ok((n, _)) = sock.recv_from(&mut buf) {
            let Some((h, payload)) = session.open(buf[..n].to_vec()) else {
                continue;
            };
            if h.verb == Verb::Echo {
                let d = session
                    .answer_echo(&h, &payload)
                    .map_err(|e| e.to_string())?;
                for x in d {
                    sock.send_to(&x, target).map_err(|e| e.to_string())?;
                }
                probed = true;
            }
            answered |= h.verb == Verb::Ok
                && OkHeader::parse(&payload).is_ok_and(|(ok, _)| ok.in_re_packet_id == pid);
            if answered && probed {
                return Ok(session);
            }
        }
        if answered {
            // Answered without a probe: the path was confirmed before.
            return Ok(session);
        }
    }
    Err("the root never answered HELLO".into())
}

fn relay(o: &FloodOptions, size: usize) -> Result<String, String> {
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
    let payload = vec![0x42u8; size - 28];
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
        size,
        sent as f64 / secs,
        got as f64 / secs
    ))
}
