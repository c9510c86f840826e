//! `ztcd-loadgen`'s four configuration scenarios, small, against a running ztcd in network
//! namespaces: every reply must be a valid configuration for its member (authenticated,
//! decrypted, COM issued to it and signed by the controller) and every request answered. A
//! correctness check of the tool and of ztcd under it; the timings it prints are not asserted
//! (the full-size runs are `cargo bench --bench loadgen`).

#[path = "common/loadbed.rs"]
mod loadbed;

use loadbed::{Bed, FLOOD_SOURCES, MEMBER_SOURCES, available, public_identities};
use serde_json::Value;

const IDENTITIES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/vectors/loadgen-identities.txt"
);

fn common<'a>(bed: &'a Bed, first: &'a str, nets: &'a [String]) -> Vec<&'a str> {
    let mut a = vec![
        "--identities",
        IDENTITIES,
        "--members",
        "24",
        "--first",
        first,
        "--source-range",
        MEMBER_SOURCES,
        "--source-count",
        "48",
        "--threads",
        "2",
    ];
    for n in nets {
        a.extend(["--network", n.as_str()]);
    }
    let _ = bed;
    a
}

/// No invalid reply, no refusal and (except in a warm-up, which asks again when a request
/// fell within the controller's 1 s repeat filter of the previous run) no request lost.
fn assert_clean(r: &Value, phase: &str) {
    let m = &r[phase];
    assert_eq!(m["invalid"], 0, "{phase}: {r}");
    assert_eq!(m["refused"], 0, "{phase}: {r}");
    if phase != "warm_up" {
        assert_eq!(m["lost"], 0, "{phase}: {r}");
    }
    assert!(m["answered"].as_u64().unwrap() > 0, "{phase}: {r}");
    assert!(m["target"]["cpu_s"].as_f64().is_some(), "{phase}: {r}");
    assert!(
        m["target"]["rss_kib"]["max"].as_u64().unwrap() > 0,
        "{phase}: {r}"
    );
}

#[test]
fn loadgen_scenarios_against_ztcd() {
    if !available() {
        return;
    }
    let validated = public_identities(std::path::Path::new(IDENTITIES), 48);
    let bed = Bed::new("t", 48, 16, 2, &validated);
    let nets = bed.private.clone();

    // Steady state: 24 members in 2 private networks, authorized through the API.
    let mut args = common(&bed, "0", &nets);
    args.extend(["--scenario", "steady", "--authorize", "--seconds", "3"]);
    let r = bed.loadgen(&args);
    eprintln!("steady: {r}");
    assert_eq!(r["hello"]["online"], 24, "{r}");
    assert_clean(&r, "warm_up");
    assert_clean(&r, "measured");
    assert_eq!(r["warm_up"]["answered"], 48, "{r}");
    // Each membership re-asks about once per 1.05 s for 3 s.
    assert!(r["measured"]["answered"].as_u64().unwrap() >= 48 * 2, "{r}");
    assert_eq!(
        r["configured_with_ips"], 48,
        "every membership got a pool address: {r}"
    );

    // Change storm: the same members; the networks are renamed; every member gets the push.
    let mut args = common(&bed, "0", &nets);
    args.extend(["--scenario", "storm", "--seconds", "10"]);
    let r = bed.loadgen(&args);
    eprintln!("storm: {r}");
    assert_clean(&r, "warm_up");
    assert_eq!(r["warm_up"]["answered"], 48, "{r}");
    assert_eq!(r["measured"]["pushed"], 48, "{r}");
    assert_eq!(r["measured"]["invalid"], 0, "{r}");

    // Cold start: 24 members new to the controller ask a public network for the first time,
    // as protocol-13 clients (HELLOs with extended armor).
    let public = [bed.public.clone()];
    let mut args = common(&bed, "24", &public);
    args.extend(["--scenario", "cold", "--protocol", "13"]);
    let r = bed.loadgen(&args);
    eprintln!("cold: {r}");
    assert_clean(&r, "measured");
    assert_eq!(r["measured"]["answered"], 24, "{r}");
    assert_eq!(r["configured_with_ips"], 24, "{r}");

    // Identity flood: fresh identities from 16 other addresses while the members re-ask.
    let mut args = common(&bed, "0", &nets);
    args.extend([
        "--scenario",
        "flood",
        "--seconds",
        "3",
        "--flood-rate",
        "300",
    ]);
    args.extend([
        "--flood-source-range",
        FLOOD_SOURCES,
        "--flood-source-count",
        "16",
    ]);
    let r = bed.loadgen(&args);
    eprintln!("flood: {r}");
    assert_clean(&r, "measured");
    assert!(r["flood"]["sent"].as_u64().unwrap() > 100, "{r}");
    assert!(r["measured"]["answered"].as_u64().unwrap() >= 48 * 2, "{r}");
}
