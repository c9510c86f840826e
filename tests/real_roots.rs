//! Roots that follow a changing address, with a real client (libzt 1.8.4) in network
//! namespaces:
//! - two roots A and B share one planet; A (also the network's controller) moves to an
//!   address the client cannot reach; the client learns A's new planet through B, and its
//!   controller's answers reach it relayed by B;
//! - a root listed by a host name follows the name's new address without a restart.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::real::{
    Daemon, NetPair, TempDir, admin_ok, available, finish_client, ip, network_with_member,
    spawn_client, ztcd_ok,
};
use serde_json::json;
use ztcd::wire::world::World;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Four namespaces: roots A and B and the client K, each linked to a router R.
/// A: 10.77.44.1 (later 10.77.47.5), B: 10.77.45.1, K: 10.77.46.1; R is .2 on each link.
struct Routed {
    a: String,
    b: String,
    k: String,
    r: String,
    /// A's device (what `--endpoint-from-interface` follows).
    a_dev: String,
    r_a_dev: String,
}

impl Routed {
    fn new() -> Self {
        let tag = format!("{}", std::process::id() % 100_000);
        let ns = |x: &str| format!("zt{tag}r{x}");
        let n = Self {
            a: ns("a"),
            b: ns("b"),
            k: ns("k"),
            r: ns("r"),
            a_dev: format!("va{tag}"),
            r_a_dev: format!("ra{tag}"),
        };
        for name in [&n.a, &n.b, &n.k, &n.r] {
            ip(&["netns", "add", name]);
            ip(&["-n", name, "link", "set", "lo", "up"]);
        }
        // libzt skips interfaces named lo*, zt*, tun* and tap*: these names avoid them.
        for (host, dev, rdev, subnet) in [
            (&n.a, n.a_dev.clone(), n.r_a_dev.clone(), 44),
            (&n.b, format!("vb{tag}"), format!("rb{tag}"), 45),
            (&n.k, format!("vk{tag}"), format!("rk{tag}"), 46),
        ] {
            ip(&["link", "add", &dev, "type", "veth", "peer", "name", &rdev]);
            ip(&["link", "set", &dev, "netns", host]);
            ip(&["link", "set", &rdev, "netns", &n.r]);
            let (mine, router) = (format!("10.77.{subnet}.1"), format!("10.77.{subnet}.2"));
            ip(&[
                "-n",
                host,
                "addr",
                "add",
                &format!("{mine}/24"),
                "dev",
                &dev,
            ]);
            ip(&[
                "-n",
                &n.r,
                "addr",
                "add",
                &format!("{router}/24"),
                "dev",
                &rdev,
            ]);
            ip(&["-n", host, "link", "set", &dev, "up"]);
            ip(&["-n", &n.r, "link", "set", &rdev, "up"]);
        }
        ip(&["-n", &n.a, "route", "add", "default", "via", "10.77.44.2"]);
        ip(&["-n", &n.b, "route", "add", "default", "via", "10.77.45.2"]);
        // The client reaches A's and B's first links, and nothing else.
        for to in ["10.77.44.0/24", "10.77.45.0/24"] {
            ip(&["-n", &n.k, "route", "add", to, "via", "10.77.46.2"]);
        }
        let fwd = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                &n.r,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ])
            .status()
            .expect("sysctl");
        assert!(fwd.success());
        n.wait_up();
        n
    }

    /// libzt binds only interfaces that are up when it starts.
    fn wait_up(&self) {
        let start = Instant::now();
        loop {
            let out = std::process::Command::new("ip")
                .args(["-n", &self.k, "-br", "link"])
                .output()
                .expect("ip");
            if String::from_utf8_lossy(&out.stdout).contains(" UP ") {
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "link never up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A's link moves to 10.77.47.5: the client has no route there and A keeps a route to
    /// B only, so from now on A and the client can reach each other only through B.
    fn move_a(&self) {
        ip(&[
            "-n",
            &self.a,
            "addr",
            "del",
            "10.77.44.1/24",
            "dev",
            &self.a_dev,
        ]);
        ip(&[
            "-n",
            &self.a,
            "addr",
            "add",
            "10.77.47.5/24",
            "dev",
            &self.a_dev,
        ]);
        ip(&[
            "-n",
            &self.r,
            "addr",
            "add",
            "10.77.47.2/24",
            "dev",
            &self.r_a_dev,
        ]);
        ip(&[
            "-n",
            &self.a,
            "route",
            "add",
            "10.77.45.0/24",
            "via",
            "10.77.47.2",
        ]);
    }
}

impl Drop for Routed {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b, &self.k, &self.r] {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", ns])
                .output();
        }
    }
}

fn planet_of(home: &Path) -> World {
    World::from_bytes(&std::fs::read(home.join("planet")).unwrap()).unwrap()
}

fn endpoints(w: &World) -> Vec<String> {
    w.roots
        .iter()
        .flat_map(|r| r.endpoints.iter().map(ToString::to_string))
        .collect()
}

/// Waits until `cond` holds; returns how long it took.
fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    start.elapsed()
}

/// The planet a libzt client cached (`STORAGE/roots`), if any.
fn client_planet(storage: &Path) -> Option<World> {
    World::from_bytes(&std::fs::read(storage.join("roots")).ok()?).ok()
}

#[test]
fn a_moved_root_is_followed_through_the_other_root() {
    if !available() {
        return;
    }
    let net = Routed::new();
    let dir = TempDir::new("two-roots");
    let (home_a, home_b) = (dir.path("a"), dir.path("b"));
    let a = Daemon::start(&net.a, &home_a, &["--endpoint-from-interface", &net.a_dev]);
    assert_eq!(endpoints(&planet_of(&home_a)), ["10.77.44.1/9993"]);

    // B becomes the second root of A's planet: the key and the planet go over, and B adds
    // itself when it starts; A adopts that planet from B.
    let key = dir.path("planet.key");
    ztcd_ok(&[
        "planet",
        "export-key",
        "--home",
        s(&home_a),
        "--out",
        s(&key),
    ]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let copy: PathBuf = dir.path("planet.copy");
    std::fs::copy(home_a.join("planet"), &copy).unwrap();
    ztcd_ok(&[
        "planet",
        "import-key",
        s(&key),
        "--planet",
        s(&copy),
        "--home",
        s(&home_b),
    ]);
    std::fs::remove_file(&key).unwrap();
    let b = Daemon::start(&net.b, &home_b, &["--endpoint", "10.77.45.1/9993"]);
    a.wait_for_log("adopted from another root", Duration::from_secs(90));
    let both = planet_of(&home_a);
    assert_eq!(both.roots.len(), 2);
    assert_eq!(endpoints(&both), ["10.77.44.1/9993", "10.77.45.1/9993"]);

    // A network of A's, with a member that is online through A.
    let (nwid, secret, member) = network_with_member(&home_a, &net.a, "roam", "10.57.0");
    let storage = dir.path("client");
    let client = spawn_client(
        &net.k,
        &home_a.join("planet"),
        &storage,
        &[
            "--identity",
            &secret,
            "--join",
            &nwid,
            "--wait",
            "ipv4",
            "--hold",
            "150",
            "--deadline",
            "300",
        ],
    );
    wait_until("the member online at A", Duration::from_secs(120), || {
        admin_ok(&home_a, &net.a, "GET", &member, None)["online"] == true
    });

    // A's address changes; it is told (SIGHUP) and re-issues the planet.
    net.move_a();
    let moved = Instant::now();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &a.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    a.wait_for_log("re-issued", Duration::from_secs(30));
    let moved_planet = planet_of(&home_a);
    assert!(moved_planet.timestamp > both.timestamp);
    assert_eq!(
        endpoints(&moved_planet),
        ["10.77.47.5/9993", "10.77.45.1/9993"]
    );
    wait_until("B serves A's new planet", Duration::from_secs(60), || {
        admin_ok(&home_b, &net.b, "GET", "/status", None)["planetWorldTimestamp"]
            == moved_planet.timestamp
    });
    let at_b = moved.elapsed();
    // The client cannot reach A any more: the planet can only come from B.
    wait_until(
        "the client holds A's new planet",
        Duration::from_secs(140),
        || client_planet(&storage).is_some_and(|w| w.timestamp == moved_planet.timestamp),
    );
    let at_client = moved.elapsed();
    // Once A's probe of the client's old path went unanswered, A's answers go through B.
    std::thread::sleep(Duration::from_millis(
        ztcd::limits::PROBE_ANSWER_TIMEOUT_MS + 1000,
    ));
    admin_ok(
        &home_a,
        &net.a,
        "POST",
        &member,
        Some(json!({"ipAssignments": ["10.57.0.11"]})),
    );
    let (_, r) = finish_client(client);
    let log_a = a.stop();
    let log_b = b.stop();
    println!(
        "A moved: B served the new planet after {:.1} s, the client held it after {:.1} s \
         (measured from the move)",
        at_b.as_secs_f64(),
        at_client.as_secs_f64()
    );
    let net_state = &r["networks"][&nwid];
    assert_eq!(
        net_state["ipv4"], "10.57.0.11",
        "the controller's change never reached the client through B: {r}\nA:\n{log_a}\nB:\n{log_b}"
    );
    assert_eq!(r["online"], true, "{r}");
}

/// A root listed by a host name, re-resolved every 5 s: when the name points elsewhere the
/// planet is re-issued without a restart, and a client holding the old one gets it.
#[test]
fn a_host_name_endpoint_is_followed_without_a_restart() {
    if !available() {
        return;
    }
    let net = NetPair::new(48);
    // `ip netns exec` puts /etc/netns/NS/hosts in place of /etc/hosts for what it starts.
    let etc = Path::new("/etc/netns").join(&net.server);
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    std::fs::create_dir_all(&etc).unwrap();
    let _etc = Remove(etc.clone());
    std::fs::write(etc.join("hosts"), "10.77.48.1 root.ztcd.test\n").unwrap();
    let dir = TempDir::new("ddns");
    let home = dir.path("home");
    let d = Daemon::start(
        &net.server,
        &home,
        &[
            "--endpoint",
            "root.ztcd.test/9993",
            "--resolve-interval",
            "5",
        ],
    );
    let first = planet_of(&home);
    assert_eq!(endpoints(&first), ["10.77.48.1/9993"]);
    let storage = dir.path("client");
    let client = spawn_client(
        &net.clients,
        &home.join("planet"),
        &storage,
        &["--wait", "none", "--hold", "100", "--deadline", "200"],
    );
    wait_until("the client online", Duration::from_secs(60), || {
        client_planet(&storage).is_some()
    });
    // The name now points at another address of the router (the DDNS record was updated);
    // written in place, as the bind mount requires.
    let new = net.add_server_address(4);
    std::fs::write(etc.join("hosts"), format!("{new} root.ztcd.test\n")).unwrap();
    d.wait_for_log("re-issued", Duration::from_secs(30));
    let second = planet_of(&home);
    assert!(second.timestamp > first.timestamp && second.id == first.id);
    assert_eq!(endpoints(&second), [format!("{new}/9993")]);
    let status = admin_ok(&home, &net.server, "GET", "/status", None);
    assert_eq!(status["planetWorldTimestamp"], second.timestamp);
    let took = wait_until(
        "the client holds the new planet",
        Duration::from_secs(95),
        || client_planet(&storage).is_some_and(|w| w.timestamp == second.timestamp),
    );
    println!(
        "the client held the re-issued planet {:.1} s after it was issued",
        took.as_secs_f64()
    );
    let _ = finish_client(client);
    d.stop();
}
