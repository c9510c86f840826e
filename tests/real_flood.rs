//! A flood of HELLOs from fresh identities and many source networks against a running ztcd,
//! while a real client (libzt) comes online: the validation gate bounds the work, memory stays
//! flat, and the legitimate client is served.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::real::{
    Daemon, NetPair, TempDir, available, cpu_seconds, finish_client, rss_kib, spawn_client, stat,
};

#[test]
fn identity_flood_does_not_starve_a_real_client() {
    if !available() {
        return;
    }
    let net = NetPair::new(21);
    let sources = net.add_client_sources(40);
    let dir = TempDir::new("flood");
    let home = dir.path("home");
    let endpoint = format!("{}/9993", net.server_ip());
    let daemon = Daemon::start(&net.server, &home, &["--endpoint", &endpoint]);
    let pid = daemon.pid();
    let rss_before = rss_kib(pid);
    let cpu_before = cpu_seconds(pid);

    let flood_seconds = 20.0;
    let target = format!("{}:9993", net.server_ip());
    let root = home.join("identity.public");
    let mut args: Vec<String> = [
        "flood",
        "--target",
        &target,
        "--root",
        root.to_str().unwrap(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.extend([
        "--seconds".into(),
        flood_seconds.to_string(),
        "--rate".into(),
        "1500".into(),
    ]);
    args.extend(["--valid-every".into(), "3000".into()]);
    for s in &sources {
        args.extend(["--source".into(), s.clone()]);
    }
    let started = Instant::now();
    let flood = Command::new("ip")
        .args([
            "netns",
            "exec",
            &net.clients,
            env!("CARGO_BIN_EXE_ztcd-loadgen"),
        ])
        .args(&args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the flood");

    // A real client joins once the flood is under way.
    std::thread::sleep(Duration::from_secs(3));
    let rss_during = rss_kib(pid);
    let planet = home.join("planet");
    let storage = dir.path("client");
    let args = [
        "--online-timeout",
        "60",
        "--wait",
        "none",
        "--deadline",
        "90",
    ];
    let (_, c) = finish_client(spawn_client(&net.clients, &planet, &storage, &args));
    let flood_out = flood.wait_with_output().expect("flood");
    let elapsed = started.elapsed().as_secs_f64();
    let flood_report: serde_json::Value =
        serde_json::from_slice(&flood_out.stdout).expect("flood report");
    let rss_after = rss_kib(pid);
    let cpu = cpu_seconds(pid) - cpu_before;
    let log = daemon.stop();

    eprintln!(
        "flood: {flood_report}; ztcd cpu {cpu:.2}s over {elapsed:.1}s, rss {rss_before} → {rss_during} → {rss_after} KiB; \
         validations {} agreements {} agreement-gated {} rate-limited {} invalid {}; client online after {}",
        stat(&log, "validations"),
        stat(&log, "agreements"),
        stat(&log, "dropped_agreement_gate"),
        stat(&log, "dropped_rate_limited"),
        stat(&log, "dropped_invalid_identity"),
        c["online_after_s"]
    );
    assert_eq!(
        c["online"], true,
        "the real client never came online during the flood: {c}\n{log}"
    );
    let sent = flood_report["sent"].as_u64().unwrap();
    assert!(
        sent > 10_000,
        "the flood was too small to mean anything: {flood_report}"
    );
    // The gate admits at most VALIDATIONS_PER_SECOND validations per second.
    let bound = (elapsed.ceil() as u64 + 1) * u64::from(ztcd::limits::VALIDATIONS_PER_SECOND);
    assert!(
        stat(&log, "validations") <= bound,
        "validations beyond the gate: {log}"
    );
    // Refused by the agreement gate (before any key agreement) or the validation gate.
    let refused = stat(&log, "dropped_rate_limited") + stat(&log, "dropped_agreement_gate");
    assert!(refused > sent / 2, "{log}");
    assert!(
        rss_after < rss_during.max(rss_before) + 1024,
        "RSS grew during the flood: {rss_before} KiB idle, {rss_during} KiB 3 s in, {rss_after} KiB at the end"
    );
}
