//! What the admin API renders from the owner loop's plain snapshots: zerotier-one's `/status`
//! and `/peer` JSON and the Prometheus text of `/metrics`. The owner loop only gathers the
//! values; their wire form lives here.

use std::fmt::Write as _;
use std::net::SocketAddr;

use serde_json::{Value, json};

use crate::controller::ControllerStats;
use crate::controller::cache::CacheStats;

/// What `/status` reports.
#[derive(Debug, Clone, Default)]
pub struct StatusView {
    /// This node's address (10 hex digits).
    pub address: String,
    /// Wall clock, ms since the epoch.
    pub clock: u64,
    /// Public identity text.
    pub public_identity: String,
    /// UDP port.
    pub port: u16,
    /// Planet world ID and timestamp.
    pub planet: (u64, u64),
    /// Admin listening addresses.
    pub listening: Vec<SocketAddr>,
    /// Allowed management sources (CIDR text).
    pub allow: Vec<String>,
    /// The protocol-level version ztcd announces (major, minor, revision).
    pub version: (u8, u8, u16),
    /// Whether this node serves a moon (`ztcdMoon`, ztcd's addition).
    pub moon: bool,
    /// The planet's roots (`ztcdRoots`, ztcd's addition).
    pub roots: Vec<RootView>,
}

/// One root of the planet as `/status` shows it.
#[derive(Debug, Clone)]
pub struct RootView {
    /// Its address.
    pub address: String,
    /// The endpoints the planet lists for it.
    pub endpoints: Vec<String>,
    /// Whether it is this node.
    pub me: bool,
    /// When it was last heard from, ms since the epoch (another root only).
    pub last_heard: Option<u64>,
    /// Where it was heard from directly, if anywhere.
    pub path: Option<String>,
    /// Round trip of its confirmed path, ms.
    pub latency: Option<u32>,
}

/// `GET /status`, as zerotier-one answers it.
pub fn status(s: &StatusView) -> Value {
    let (maj, min, rev) = s.version;
    let listening: Vec<String> = s.listening.iter().map(ToString::to_string).collect();
    json!({
        "address": s.address,
        "clock": s.clock,
        "config": {"settings": {
            "allowManagementFrom": s.allow,
            "allowTcpFallbackRelay": false,
            "listeningOn": listening,
            "portMappingEnabled": false,
            "primaryPort": s.port,
            "softwareUpdate": "disable",
        }},
        "online": true,
        "planetWorldId": s.planet.0,
        "planetWorldTimestamp": s.planet.1,
        "publicIdentity": s.public_identity,
        "tcpFallbackActive": false,
        "version": format!("{maj}.{min}.{rev}"),
        "versionBuild": 0,
        "versionMajor": maj,
        "versionMinor": min,
        "versionRev": rev,
        "ztcdMoon": s.moon,
        "ztcdRoots": s.roots.iter().map(|r| json!({
            "address": r.address,
            "endpoints": r.endpoints,
            "self": r.me,
            "lastHeard": r.last_heard,
            "path": r.path,
            "latency": r.latency,
        })).collect::<Vec<_>>(),
        "ztcdVersion": env!("CARGO_PKG_VERSION"),
    })
}

/// One physical path of a peer.
#[derive(Debug, Clone)]
pub struct PathView {
    /// Remote address.
    pub remote: SocketAddr,
    /// Whether it was heard recently enough to use.
    pub alive: bool,
    /// Whether the peer answered our probe on it (only such paths carry traffic).
    pub confirmed: bool,
    /// Whether it is the path traffic to the peer takes now.
    pub preferred: bool,
    /// Last packet heard on it, ms since the epoch.
    pub last_receive: u64,
    /// Last packet sent on it, ms since the epoch (0 if none).
    pub last_send: u64,
    /// Which local socket it was heard on.
    pub local_socket: u16,
}

/// One peer, as `/peer` lists it.
#[derive(Debug, Clone)]
pub struct PeerView {
    /// Address (10 hex digits).
    pub address: String,
    /// Last packet heard, ms since the epoch.
    pub last_receive: u64,
    /// Software version the peer announced, if it did.
    pub version: Option<(u8, u8, u16)>,
    /// Round trip of its direct path, ms (`None` without one).
    pub latency: Option<u32>,
    /// Paths, best first.
    pub paths: Vec<PathView>,
}

/// `GET /peer/{address}` (and each element of `GET /peer`), with zerotier-one's fields:
/// `latency` is the measured round trip of the direct path (-1 without one), a path is
/// `active` once confirmed and alive, `preferred` when traffic takes it, and the version is
/// -1 until the peer announced one.
pub fn peer(p: &PeerView) -> Value {
    let paths: Vec<Value> = p
        .paths
        .iter()
        .map(|path| {
            json!({
                "active": path.alive && path.confirmed,
                "address": format!("{}/{}", path.remote.ip(), path.remote.port()),
                "expired": !path.alive,
                "lastReceive": path.last_receive,
                "lastSend": path.last_send,
                "localSocket": path.local_socket,
                "preferred": path.preferred,
                "trustedPathId": 0,
            })
        })
        .collect();
    let (maj, min, rev) = p.version.map_or((-1, -1, -1), |(a, b, c)| {
        (i32::from(a), i32::from(b), i32::from(c))
    });
    json!({
        "address": p.address,
        "isBonded": false,
        "lastReceive": p.last_receive,
        "latency": p.latency.map_or(-1, i64::from),
        "paths": paths,
        "role": "LEAF",
        "tunneled": false,
        "version": format!("{maj}.{min}.{rev}"),
        "versionMajor": maj,
        "versionMinor": min,
        "versionRev": rev,
    })
}

/// Everything `/metrics` exports.
#[derive(Debug, Clone, Default)]
pub struct MetricsView {
    /// Networks, members and authorized members, or `None` when the database could not be
    /// read for this scrape (then the gauges are left out, never reported as zeros).
    pub totals: Option<(u64, u64, u64)>,
    /// Scrapes whose database read failed.
    pub totals_errors: u64,
    /// The controller's counters.
    pub controller: ControllerStats,
    /// The response cache's counters.
    pub cache: CacheStats,
    /// Admin request batches carried out.
    pub admin_batches: u64,
    /// The node's counters and gauges, by name (`dropped_*` become one labelled counter).
    pub node: Vec<(&'static str, u64)>,
    /// Which of the node's values are gauges.
    pub node_gauges: &'static [&'static str],
    /// The admin server's counters, by name.
    pub admin: Vec<(&'static str, u64)>,
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = write!(
        out,
        "# HELP ztcd_{name} {help}\n# TYPE ztcd_{name} {kind}\nztcd_{name} {value}\n"
    );
}

/// `GET /metrics` in the Prometheus text format (0.0.4).
pub fn metrics(m: &MetricsView) -> String {
    let mut out = String::new();
    database_metrics(&mut out, m);
    counter_metrics(&mut out, m);
    node_metrics(&mut out, m);
    out
}

/// The database gauges (when the scrape could read them) and the count of failed reads.
fn database_metrics(o: &mut String, m: &MetricsView) {
    if let Some((networks, members, authorized)) = m.totals {
        metric(
            o,
            "networks",
            "gauge",
            "Networks in the database.",
            networks,
        );
        let help = "Members in the database (deleted ones excluded).";
        metric(o, "members", "gauge", help, members);
        metric(
            o,
            "members_authorized",
            "gauge",
            "Authorized members.",
            authorized,
        );
    }
    let help = "Scrapes whose database read failed (the database gauges were left out).";
    metric(
        o,
        "metrics_store_errors_total",
        "counter",
        help,
        m.totals_errors,
    );
}

/// The controller's, the configuration cache's and the admin server's counters.
fn counter_metrics(o: &mut String, m: &MetricsView) {
    let c = &m.controller;
    let k = &m.cache;
    let counters = [
        (
            "config_requests_total",
            "Network configuration requests handled.",
            c.requests,
        ),
        (
            "config_repeats_total",
            "Requests ignored as repeats within 1 s.",
            c.repeats,
        ),
        ("configs_sent_total", "Configurations sent.", c.configs),
        (
            "config_refusals_total",
            "Refusals (not found, access denied).",
            c.refusals,
        ),
        ("store_errors_total", "Database failures.", c.store_errors),
        (
            "cache_hits_total",
            "Configuration requests answered from the cache.",
            k.hits,
        ),
        (
            "cache_misses_total",
            "Configuration requests that needed the database.",
            k.misses,
        ),
        (
            "cache_evictions_total",
            "Cache entries evicted for room.",
            k.evictions,
        ),
        (
            "cache_invalidations_total",
            "Cache invalidations by writes.",
            k.invalidations,
        ),
        (
            "admin_batches_total",
            "Admin request batches carried out.",
            m.admin_batches,
        ),
    ];
    for (name, help, value) in counters {
        metric(o, name, "counter", help, value);
    }
    for (name, value) in &m.admin {
        let help = "Admin server events (see the admin server's limits).";
        metric(o, &format!("admin_{name}_total"), "counter", help, *value);
    }
}

/// The node's dropped packets (one counter labelled by reason), then its other counters and
/// gauges.
fn node_metrics(o: &mut String, m: &MetricsView) {
    let _ = writeln!(
        o,
        "# HELP ztcd_packets_dropped_total Packets dropped, by reason."
    );
    let _ = writeln!(o, "# TYPE ztcd_packets_dropped_total counter");
    for (name, value) in &m.node {
        if let Some(reason) = name.strip_prefix("dropped_") {
            let _ = writeln!(
                o,
                "ztcd_packets_dropped_total{{reason=\"{reason}\"}} {value}"
            );
        }
    }
    for (name, value) in &m.node {
        if name.starts_with("dropped_") {
            continue;
        }
        let (kind, suffix) = if m.node_gauges.contains(name) {
            ("gauge", "")
        } else {
            ("counter", "_total")
        };
        let _ = write!(
            o,
            "# TYPE ztcd_node_{name}{suffix} {kind}\nztcd_node_{name}{suffix} {value}\n"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_reports_its_measured_latency_and_which_path_is_direct() {
        let path = |port: u16, confirmed: bool, preferred: bool| PathView {
            remote: SocketAddr::from(([10, 0, 0, 2], port)),
            alive: true,
            confirmed,
            preferred,
            last_receive: 1_000,
            last_send: 900,
            local_socket: 0,
        };
        let direct = peer(&PeerView {
            address: "0123456789".into(),
            last_receive: 1_000,
            version: Some((1, 8, 4)),
            latency: Some(3),
            paths: vec![path(9993, true, true), path(4444, false, false)],
        });
        assert_eq!(direct["latency"], 3);
        assert_eq!(direct["version"], "1.8.4");
        let p = &direct["paths"];
        assert_eq!(
            (
                p[0]["active"].clone(),
                p[0]["preferred"].clone(),
                p[0]["lastSend"].clone()
            ),
            (json!(true), json!(true), json!(900))
        );
        assert_eq!(
            (p[1]["active"].clone(), p[1]["preferred"].clone()),
            (json!(false), json!(false))
        );
        let unknown = peer(&PeerView {
            address: "0123456789".into(),
            last_receive: 1_000,
            version: None,
            latency: None,
            paths: vec![path(4444, false, false)],
        });
        assert_eq!(
            (
                unknown["latency"].clone(),
                unknown["version"].clone(),
                unknown["versionMajor"].clone()
            ),
            (json!(-1), json!("-1.-1.-1"), json!(-1))
        );
    }

    #[test]
    fn gauges_are_gauges_and_a_failed_read_is_not_zero() {
        let m = MetricsView {
            totals: None,
            totals_errors: 3,
            node: vec![("multicast_subscriptions", 7), ("hellos_answered", 2)],
            node_gauges: &["multicast_subscriptions"],
            admin: vec![("timeouts", 1)],
            ..MetricsView::default()
        };
        let text = metrics(&m);
        assert!(
            text.contains("# TYPE ztcd_node_multicast_subscriptions gauge\n"),
            "{text}"
        );
        assert!(
            text.contains("ztcd_node_hellos_answered_total 2\n"),
            "{text}"
        );
        assert!(!text.contains("ztcd_members "), "{text}");
        assert!(
            text.contains("ztcd_metrics_store_errors_total 3\n"),
            "{text}"
        );
        assert!(text.contains("ztcd_admin_timeouts_total 1\n"), "{text}");
        let m = MetricsView {
            totals: Some((1, 2, 3)),
            ..m
        };
        assert!(metrics(&m).contains("ztcd_members_authorized 3\n"));
    }
}
