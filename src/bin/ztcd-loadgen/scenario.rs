//! The configuration scenarios (`ztcd-loadgen config --scenario ...`): simulated members HELLO
//! the controller, then
//!
//! - `steady`: every membership asks once (warm-up), then they re-ask in turn for `--seconds`
//!   at `--rate` (default: as fast as the 1 s repeat filter allows);
//! - `cold`: every membership asks for the first time (IP assignment and database write);
//! - `storm`: every membership asks once, then the network is edited through the API and every
//!   member must receive the pushed configuration;
//! - `flood`: `steady` while fresh identities HELLO from other source addresses;
//! - `hello`: only the HELLO exchange (members coming online).
//!
//! Members behave as nodes do: they answer the target's path probes (ECHO) and its HELLOs
//! (zerotier-one confirms a path with a HELLO before it sends anything else there).
//!
//! Members announce protocol 11 unless `--protocol N` says otherwise (11 keeps zerotier-one
//! on Salsa20/12-Poly1305; 13 adds extended armor to their HELLOs).
//!
//! Each prints one JSON object: throughput, latency percentiles, the target's CPU seconds per
//! 1,000 requests and RSS (with `--pid`), the load generator's own CPU, and which side was
//! saturated.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use ztcd::client::ClientSession;
use ztcd::identity::Identity;
use ztcd::testkit::{cpu_seconds, rss_kib};
use ztcd::wire::NetworkId;

use crate::probe::Api;
use crate::sim::{MIN_REPEAT, Phase, Tally, Worker};
use crate::{Args, identities};

/// One worker's source addresses and members (with the index of their address).
type Share = (Vec<IpAddr>, Vec<(ClientSession, usize)>);

/// Everything a scenario run needs, from the command line.
struct Setup {
    scenario: String,
    target: SocketAddr,
    controller: Identity,
    nets: Vec<NetworkId>,
    members: Vec<ClientSession>,
    sources: Vec<IpAddr>,
    threads: usize,
    seconds: f64,
    rate: Option<f64>,
    pid: Option<String>,
    api: Option<Api>,
    authorize: bool,
    hello_timeout: Duration,
}

/// Addresses `--source IP` (repeated) or `--source-range FIRST --source-count N` (IPv4).
pub(crate) fn sources(a: &Args, prefix: &str) -> Result<Vec<IpAddr>, String> {
    let mut out: Vec<IpAddr> = a
        .all(&format!("{prefix}source"))
        .iter()
        .map(|s| s.parse().map_err(|_| format!("--{prefix}source {s:?}")))
        .collect::<Result<_, _>>()?;
    if let Some(first) = a.opt::<std::net::Ipv4Addr>(&format!("{prefix}source-range"))? {
        let n: u32 = a.req(&format!("{prefix}source-count"))?;
        // `--source-step 256` puts each source in its own /24 (zerotier-one validates one new
        // identity per /24 every 2 s).
        let step: u32 = a.or(&format!("{prefix}source-step"), 1)?;
        let at = |i: u32| u32::from(first).checked_add(i.checked_mul(step)?);
        for i in 0..n {
            let ip =
                at(i).ok_or_else(|| format!("--{prefix}source-range: past the last address"))?;
            out.push(IpAddr::from(std::net::Ipv4Addr::from(ip)));
        }
    }
    Ok(out)
}

impl Setup {
    fn from_args(a: &Args) -> Result<Self, String> {
        let controller = a.identity("controller")?;
        let nets = a
            .all("network")
            .iter()
            .map(|n| n.parse().map_err(|_| format!("--network {n:?}")))
            .collect::<Result<Vec<NetworkId>, String>>()?;
        if nets.is_empty() {
            return Err("--network is required".into());
        }
        let file: std::path::PathBuf = a.req("identities")?;
        let count: usize = a.req("members")?;
        let first: usize = a.or("first", 0)?;
        let ids = identities::load(&file, Some(first + count))?;
        let protocol = a.protocol()?;
        let members = ids
            .into_iter()
            .skip(first)
            .enumerate()
            // Each member counts its packet IDs up from its own range (2^24 IDs), and the top
            // bits come from the clock's seconds, so a later run does not repeat an earlier
            // run's recent IDs (the root drops repeated IDs as replays).
            .map(|(i, id)| {
                let epoch = (ztcd::runtime::unix_millis() / 1000) & 0xffff;
                let first_id = (epoch << 48) | ((i as u64 & 0xff_ffff) << 24);
                let mut s = ClientSession::new(id, controller, first_id);
                s.set_protocol(protocol);
                s
            })
            .collect();
        let api = match a.opt::<String>("api")? {
            Some(url) => {
                let token: String = a.req("token")?;
                let token = std::fs::read_to_string(&token).unwrap_or(token);
                Some(Api::new(&url, &token)?)
            }
            None => None,
        };
        Ok(Self {
            scenario: a.or("scenario", "steady".to_string())?,
            target: a.req("target")?,
            controller,
            nets,
            members,
            sources: sources(a, "")?,
            threads: a.or("threads", 2usize)?.max(1),
            seconds: a.or("seconds", 10.0)?,
            rate: a.opt("rate")?,
            pid: a.opt("pid")?,
            api,
            authorize: a.or("authorize", false)?,
            hello_timeout: Duration::from_secs_f64(a.or("hello-timeout", 60.0)?),
        })
    }
}

/// Measures of one phase.
struct Measured {
    tally: Tally,
    /// What throughput is over (for a storm: until the last push arrived).
    seconds: f64,
    /// How long the phase ran (what CPU use is over).
    wall: f64,
    target_cpu: Option<f64>,
    own_cpu: f64,
    rss: Option<[(u64, u64); 3]>,
    /// RssAnon of the target once a second (KiB).
    rss_trace: Vec<u64>,
}

/// Runs `phase` on every worker (its rate scaled to the worker's share of memberships) while
/// sampling the target; `during` runs on a thread of its own meanwhile (API edits, a flood).
fn measure(
    s: &Setup,
    workers: &mut [Worker],
    phase: &Phase,
    during: impl FnOnce() + Send,
) -> Measured {
    let total: usize = workers.iter().map(Worker::pairs).sum::<usize>().max(1);
    let pid = s.pid.as_deref();
    let cpu0 = pid.and_then(cpu_seconds);
    let own0 = cpu_seconds("self").unwrap_or(0.0);
    let rss0 = pid.and_then(rss_kib);
    let start = Instant::now();
    let mut rss_max = rss0;
    let mut rss_trace = Vec::new();
    let mut tally = Tally::default();
    std::thread::scope(|scope| {
        let handles: Vec<_> = workers
            .iter_mut()
            .map(|w| {
                let share = w.pairs() as f64 / total as f64;
                let phase = match phase {
                    Phase::Once {
                        rate,
                        retries,
                        timeout,
                    } => Phase::Once {
                        rate: rate * share,
                        retries: *retries,
                        timeout: *timeout,
                    },
                    Phase::Repeat { rate, seconds } => Phase::Repeat {
                        rate: rate * share,
                        seconds: *seconds,
                    },
                    Phase::Hello { rate, timeout } => Phase::Hello {
                        rate: rate * share,
                        timeout: *timeout,
                    },
                    other => other.clone(),
                };
                let target = s.target;
                scope.spawn(move || w.run(target, &phase))
            })
            .collect();
        let during = scope.spawn(during);
        let mut next_trace = Instant::now();
        while !handles.iter().all(|h| h.is_finished()) || !during.is_finished() {
            if let Some(r) = pid.and_then(rss_kib) {
                rss_max = Some(rss_max.map_or(r, |m| (m.0.max(r.0), m.1.max(r.1))));
                if Instant::now() >= next_trace && rss_trace.len() < 3600 {
                    rss_trace.push(r.1);
                    next_trace += Duration::from_secs(1);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        for h in handles {
            // A worker that panicked is a bug in the load generator: report it loudly.
            tally.merge(h.join().expect("worker thread"));
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    let rss1 = pid.and_then(rss_kib);
    Measured {
        tally,
        seconds,
        wall: seconds,
        target_cpu: cpu0.zip(pid.and_then(cpu_seconds)).map(|(a, b)| b - a),
        own_cpu: cpu_seconds("self").unwrap_or(0.0) - own0,
        rss: rss0.zip(rss_max).zip(rss1).map(|((a, b), c)| [a, b, c]),
        rss_trace,
    }
}

fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// The JSON report of a measured phase; CPU is divided by the answers (or pushes received).
fn report(s: &Setup, m: &mut Measured) -> Value {
    let count = m.tally.answered;
    m.tally.latencies_us.sort_unstable();
    let l = &m.tally.latencies_us;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    // The workers, the reactor thread and a flood thread, on at most the machine's cores.
    let flood = f64::from(u8::from(s.scenario == "flood"));
    let usable = (s.threads as f64 + 1.0 + flood).min(cores);
    let busy = m.own_cpu / (m.wall * usable);
    let late = m.tally.late_ticks as f64 / m.tally.ticks.max(1) as f64;
    let lost_share = m.tally.lost as f64 / m.tally.sent.max(1) as f64;
    // With --pid the target runs here too: together they may use every core.
    let machine = m
        .target_cpu
        .is_some_and(|t| (t + m.own_cpu) / (m.wall * cores) > 0.85);
    let saturated = if busy > 0.85 || late > 0.05 {
        "loadgen"
    } else if lost_share > 0.01 && machine {
        "machine"
    } else if lost_share > 0.01 {
        "target"
    } else {
        "none"
    };
    let mut v = json!({
        "sent": m.tally.sent,
        "answered": m.tally.answered,
        "refused": m.tally.refused,
        "invalid": m.tally.invalid,
        "lost": m.tally.lost,
        "answered_echos": m.tally.echos_answered,
        "answered_hellos": m.tally.hellos_answered,
        "seconds": round(m.seconds, 3),
        "per_second": round(count as f64 / m.seconds, 1),
        "latency_us": {"p50": percentile(l, 0.5), "p99": percentile(l, 0.99), "max": l.last().copied().unwrap_or(0)},
        "loadgen": {"threads": s.threads, "cpu_s": round(m.own_cpu, 3), "busy": round(busy, 2), "late_ticks": round(late, 3)},
        "saturated": saturated,
    });
    if let Some(e) = &m.tally.first_error {
        v["first_error"] = json!(e);
    }
    if let Some(cpu) = m.target_cpu {
        v["target"] = json!({
            "cpu_s": round(cpu, 4),
            "cpu_s_per_1000": round(cpu * 1000.0 / count.max(1) as f64, 5),
            "cpu_us_each": round(cpu * 1e6 / count.max(1) as f64, 2),
        });
    }
    if let Some([a, b, c]) = m.rss {
        v["target"]["rss_kib"] = json!({"start": a.0, "max": b.0, "end": c.0});
        v["target"]["rss_anon_kib"] = json!({"start": a.1, "max": b.1, "end": c.1});
        v["target"]["rss_anon_kib_each_second"] = json!(m.rss_trace);
    }
    v
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// Runs the scenario named by `--scenario`; returns the JSON report.
pub(crate) fn run(a: &Args) -> Result<String, String> {
    let mut s = Setup::from_args(a)?;
    let n_members = s.members.len();
    let mut workers = start_workers(&mut s)?;
    if s.authorize {
        authorize(&s, &workers)?;
    }
    let pairs = (n_members * s.nets.len()) as f64;
    let hello = Phase::Hello {
        rate: s.rate.unwrap_or(5_000.0),
        timeout: s.hello_timeout,
    };
    let mut h = measure(&s, &mut workers, &hello, || {});
    let online: usize = workers.iter().map(Worker::online).sum();
    let mut out = json!({
        "scenario": s.scenario,
        "members": n_members,
        "networks": s.nets.len(),
        "sources": s.sources.len(),
        "hello": report(&s, &mut h),
    });
    out["hello"]["online"] = json!(online);
    if online < n_members {
        return Err(format!(
            "{} of {n_members} members answered HELLO within {:?}: {}",
            online, s.hello_timeout, out
        ));
    }
    match s.scenario.as_str() {
        "steady" | "flood" => steady(a, &s, &mut workers, pairs, &mut out)?,
        "cold" => {
            let phase = Phase::Once {
                rate: s.rate.unwrap_or(5_000.0),
                retries: 2,
                timeout: Duration::from_secs(3),
            };
            let mut m = measure(&s, &mut workers, &phase, || {});
            out["measured"] = report(&s, &mut m);
        }
        "storm" => storm(&s, &mut workers, pairs, &mut out)?,
        // Only the HELLO exchange (members coming online), reported above.
        "hello" => {}
        other => {
            return Err(format!(
                "unknown scenario {other:?} (hello|steady|cold|storm|flood)"
            ));
        }
    }
    let (configured, with_ips) = workers
        .iter()
        .map(Worker::configured)
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    out["configured"] = json!(configured);
    out["configured_with_ips"] = json!(with_ips);
    Ok(out.to_string())
}

/// Shares the source addresses and members out among the worker threads (one address
/// each, the wildcard one, when none is given) and starts the workers.
fn start_workers(s: &mut Setup) -> Result<Vec<Worker>, String> {
    if s.sources.is_empty() {
        s.sources.push(if s.target.is_ipv4() {
            IpAddr::from([0, 0, 0, 0])
        } else {
            IpAddr::from([0u16; 8])
        });
    }
    let threads = s.threads.min(s.sources.len());
    s.threads = threads;
    let mut shares: Vec<Share> = vec![(Vec::new(), Vec::new()); threads];
    for (i, ip) in s.sources.iter().enumerate() {
        shares[i % threads].0.push(*ip);
    }
    for (i, m) in std::mem::take(&mut s.members).into_iter().enumerate() {
        let src = i % s.sources.len();
        shares[src % threads].1.push((m, src / threads));
    }
    shares
        .into_iter()
        .map(|(ips, ms)| Worker::new(&ips, ms, &s.nets, s.controller))
        .collect()
}

/// The warm-up of `steady`, `flood` and `storm`: every membership asks once.
fn warm_up(s: &Setup) -> Phase {
    Phase::Once {
        rate: s.rate.unwrap_or(5_000.0),
        retries: 3,
        timeout: Duration::from_secs(3),
    }
}

/// `steady` and `flood`: after the warm-up, the `pairs` memberships re-ask in turn for
/// `--seconds` (while the flood runs, for `flood`); adds to the report `out`.
fn steady(
    a: &Args,
    s: &Setup,
    workers: &mut [Worker],
    pairs: f64,
    out: &mut Value,
) -> Result<(), String> {
    // Each membership asks again after 1.1 s: above the repeat filter, with room for jitter.
    let max_rate = pairs / (MIN_REPEAT.as_secs_f64() + 0.05);
    let mut w = measure(s, workers, &warm_up(s), || {});
    out["warm_up"] = report(s, &mut w);
    let rate = s.rate.unwrap_or(max_rate).min(max_rate);
    let phase = Phase::Repeat {
        rate,
        seconds: s.seconds,
    };
    let flood = (s.scenario == "flood")
        .then(|| flood_options(a))
        .transpose()?;
    let mut flooded = None;
    let mut m = measure(s, workers, &phase, || {
        if let Some(f) = &flood {
            flooded = Some(crate::flood_run(f));
        }
    });
    // Answers in the grace period belong to requests sent within `--seconds`.
    m.seconds = s.seconds;
    out["offered_per_second"] = json!(round(rate, 1));
    out["measured"] = report(s, &mut m);
    if let Some(f) = flooded {
        out["flood"] = f?;
    }
    Ok(())
}

/// `storm`: after the warm-up, every network is renamed through the API and each of the
/// `pairs` memberships must receive the pushed configuration; adds to the report `out`.
fn storm(s: &Setup, workers: &mut [Worker], pairs: f64, out: &mut Value) -> Result<(), String> {
    let api = s
        .api
        .as_ref()
        .ok_or("the storm scenario needs --api and --token")?;
    let mut w = measure(s, workers, &warm_up(s), || {});
    out["warm_up"] = report(s, &mut w);
    let name = format!("storm-{}", ztcd::runtime::unix_millis());
    let phase = Phase::Listen {
        name: name.clone(),
        timeout: Duration::from_secs_f64(s.seconds.max(5.0)),
    };
    let mut edited = None;
    let mut answered = None;
    let mut edit_error = None;
    let mut m = measure(s, workers, &phase, || {
        edited = Some(Instant::now());
        let body = json!({ "name": name }).to_string();
        for n in &s.nets {
            if let Err(e) = api.post(&format!("/controller/network/{n}"), &body) {
                edit_error = Some(e);
            }
        }
        answered = edited.map(|t| t.elapsed());
    });
    if let Some(e) = edit_error {
        return Err(e);
    }
    // unwrap safety: set by the closure above, which `measure` always runs.
    let t0 = edited.expect("edit time");
    let mut lat: Vec<u32> = workers
        .iter()
        .flat_map(|w| w.push_times(&name))
        .flatten()
        .map(|t| t.saturating_duration_since(t0).as_micros() as u32)
        .collect();
    let pushed = lat.len() as u64;
    m.tally.answered = pushed;
    m.tally.sent = pairs as u64;
    m.tally.lost = pairs as u64 - pushed;
    lat.sort_unstable();
    m.seconds = lat.last().map_or(m.seconds, |l| f64::from(*l) / 1e6);
    m.tally.latencies_us = lat;
    out["measured"] = report(s, &mut m);
    out["measured"]["pushed"] = json!(pushed);
    // From the edit's request: the first push, and the API's answer (after the commit).
    out["measured"]["first_push_us"] = json!(m.tally.latencies_us.first());
    out["measured"]["edit_answered_us"] = json!(answered.map(|d| d.as_micros() as u64));
    Ok(())
}

/// Authorizes every membership through the API (8 connections at a time).
fn authorize(s: &Setup, workers: &[Worker]) -> Result<(), String> {
    let api = s
        .api
        .as_ref()
        .ok_or("--authorize needs --api and --token")?;
    let paths: Vec<String> = workers
        .iter()
        .flat_map(Worker::addresses)
        .flat_map(|addr| {
            s.nets
                .iter()
                .map(move |n| format!("/controller/network/{n}/member/{addr}"))
        })
        .collect();
    let chunk = paths.len().div_ceil(8).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .try_for_each(|p| api.post(p, r#"{"authorized":true}"#).map(|_| ()))
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().map_err(|_| "authorizing thread".to_string())?)
    })
}

/// The options of the flood that runs during the `flood` scenario.
fn flood_options(a: &Args) -> Result<crate::FloodOptions, String> {
    Ok(crate::FloodOptions {
        target: a.req("target")?,
        root: a.identity("controller")?,
        sources: sources(a, "flood-")?,
        seconds: a.or("seconds", 10.0)?,
        rate: a.or("flood-rate", 1000)?,
        valid_every: a.or("flood-valid-every", 0)?,
        cheap: false,
        protocol: a.protocol()?,
    })
}
