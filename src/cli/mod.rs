//! Command-line parsing: argv → [`Command`]. Parsing only; `main` carries commands out.

use std::ffi::OsString;
use std::path::PathBuf;

use lexopt::prelude::*;

mod planet;
mod run;

pub use planet::PlanetCommand;
pub use run::root;

use crate::home::RootEntry;
use crate::runtime::follow::EndpointSpec;
use crate::wire::InetAddress;

/// Default home directory on a board.
pub const DEFAULT_HOME: &str = "/var/lib/ztcd";

/// Usage text.
pub const USAGE: &str = "\
ztcd — ZeroTier-compatible network controller and root node

USAGE:
  ztcd run [--home DIR] [--port N] [--bind IP ...] [--endpoint IP/PORT|HOST/PORT ...]
           [--endpoint-from-interface DEV] [--resolve-interval SECS] [--root ID@IP/PORT ...]
           [--log-level L]
           [--admin-port N] [--admin-bind IP ...] [--admin-allow CIDR ...]
           [--admin-host NAME ...] [--memory-budget MIB] [--backup-to DIR [--backup-keep N]]
           [--require-mount]
      Run the root node and network controller until SIGTERM/SIGINT. The first start
      creates the identity, the planet signing key and the planet, which lists this node at
      the --endpoint addresses (required then: the public address clients reach it at). Later
      starts reuse them; new --endpoint values re-issue the planet with a newer timestamp,
      which clients holding the old one accept in-band. Host names (a DDNS name) and
      --endpoint-from-interface DEV (that device's current addresses) are resolved again
      every --resolve-interval seconds (default 60) and on SIGHUP: when the addresses change,
      the planet is re-issued without a restart. --root adds another root to the planet
      (kept as the planet lists it once there).
      One daemon per home. --require-mount refuses a home that is not on a mounted file
      system of its own (a USB stick not plugged in never gets a new identity on the flash).
  ztcd identity new [--out FILE]
      Generate an identity; print its secret form, or write FILE (0600) and FILE.public.
  ztcd identity validate <IDENTITY | FILE>
      Check an identity string or file (address, key, proof of work, secret key).
      Exit status 0 if valid, 1 with the reason if not.
  ztcd planet [--home DIR] --endpoint IP/PORT [--endpoint IP/PORT ...] [--out FILE]
      Create or update DIR/planet listing this node at the given endpoints (creating the
      identity and the planet signing key first in a new home). An update keeps the world ID,
      gets a newer timestamp and is signed by the kept key, so clients accept it in-band.
  ztcd planet export-key [--home DIR] --out FILE
      Write the planet signing key to FILE (0600; never printed), to make another ztcd a
      second root of this planet with `planet import-key`. Anyone holding it can re-issue the
      planet: guard it like identity.secret.
  ztcd planet import-key KEYFILE --planet PLANETFILE [--home DIR] [--force]
      Make this home one more root of that planet (the daemon stopped): its next `run` adds
      this node to the planet, and the roots pass the newer planet on to each other and to
      clients. --force replaces a planet this home served before.
  ztcd planet add-root IDENTITY.public@IP/PORT[,IP/PORT...] [--home DIR]
  ztcd planet remove-root ADDRESS [--home DIR]
      Re-issue the planet with another root added or removed (the daemon stopped).
  ztcd moon [--home DIR] [--endpoint IP/PORT ...]
      Create or update DIR/moons.d/<id>.moon, a moon listing this node (endpoints default to
      the planet's), for clients that keep ZeroTier's roots and orbit ztcd as an extra root
      (zerotier-cli orbit <id> <id>). `ztcd run` serves it to orbiting clients.
  ztcd network create [--home DIR] [--name NAME] [--public] [--pool FIRST-LAST ...]
                      [--route CIDR ...] [--v6 rfc4193|6plane ...]
      Create a network under this controller; prints its ID. Works while `ztcd run` runs.
  ztcd network window [--home DIR] --network NWID (--minutes M [--max-devices K] | --close)
      Let new devices join a private network by themselves for the next M minutes, at most
      K of them (default 10): each is authorized when it first asks, and recorded. The window
      closes when the time is up or K came in; --close closes it now.
  ztcd rules compile FILE
      Compile a rules source (ZeroTier's rules language; - reads standard input) and print
      the rules, capabilities and tags as the API takes them, or the line and column of the
      first error (exit status 1).
  ztcd member set [--home DIR] --network NWID --address ADDR [--authorize | --deauthorize]
                  [--ip IP ...] [--name NAME] [--expires 30m|12h|7d|never]
      Create or change a member (pre-authorize a device by its address). --expires ends its
      authorization that long from now: it is then deauthorized and cut off by itself.
  ztcd backup [--home DIR] --to DIR [--keep N] [--key FILE] [--require-mount]
      Write an encrypted, verified backup of the home (a consistent snapshot of the running
      database, the identity, planet and moon keys and files, the admin token) to DIR as
      ztcd-backup-<UTC time>.ztb, keeping the newest N (default 7). The key file (default
      HOME/backup.key) is created on first use: keep a copy off the device, a restore needs
      it. Refuses when DIR is missing, read-only, full, or with --require-mount not a mount.
  ztcd backup verify FILE [--key FILE | --home DIR]
      Check a backup: authenticity, contents and database integrity.
  ztcd restore FILE --home DIR [--key FILE] [--force]
      Restore a verified backup into DIR (empty, or replaced with --force).
  ztcd import-zerotier --from ZT_HOME [--home DIR]
      Import a zerotier-one controller: its identity, token and controller.d networks and
      members.
  ztcd --version | --help

OPTIONS:
  --home DIR        home directory (default /var/lib/ztcd)
  --port N          UDP port (default 9993)
  --bind IP         address to listen on, repeatable (default: every address, IPv4 and IPv6)
  --endpoint E      public endpoint IP/PORT or HOST/PORT, repeatable
  --log-level L     error, warn, info (default) or debug
  --admin-port N    TCP port of the admin API and LAN page (default: the UDP port; 0 = off).
                    It listens on 127.0.0.1 and ::1, and on each --admin-bind address; requests
                    need the token in HOME/authtoken.secret (created on first start).
  --admin-bind IP   also listen on this address (e.g. the router's LAN address), repeatable
  --admin-allow C   also accept requests from this network (CIDR), repeatable; loopback is
                    always allowed, every other source is refused (401)
  --admin-host NAME the admin API also answers requests for this host name (e.g. router.lan),
                    repeatable; IP addresses and localhost always work, other names get 421
                    (a DNS-rebinding page cannot reach the API through a LAN browser)
  --memory-budget M the RAM (MiB) ztcd may plan for (default 128, a small router): its tables
                    together stay under a quarter of it when full (peers, multicast groups,
                    recent requests, cached configurations); raise it on a larger machine
                    serving thousands of online members
  --backup-to DIR   where the admin API's backup button (POST /ztcd/backup) writes, keeping
                    the newest --backup-keep N (default 7); key: HOME/backup.key
";

/// The options of `ztcd run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunArgs {
    /// Home directory.
    pub home: PathBuf,
    /// UDP port.
    pub port: u16,
    /// Addresses to bind.
    pub bind: Vec<std::net::IpAddr>,
    /// Public endpoints as given (host names and devices are resolved by the daemon).
    pub endpoints: Vec<EndpointSpec>,
    /// Other roots the planet must list.
    pub roots: Vec<RootEntry>,
    /// Time between two resolutions of the endpoints.
    pub resolve_interval: std::time::Duration,
    /// Log level name.
    pub log_level: String,
    /// Admin API TCP port (None = the UDP port, 0 = off).
    pub admin_port: Option<u16>,
    /// Admin API addresses besides loopback.
    pub admin_bind: Vec<std::net::IpAddr>,
    /// Admin API source networks besides loopback.
    pub admin_allow: Vec<(std::net::IpAddr, u8)>,
    /// Host names the admin API answers to besides IP literals and `localhost`.
    pub admin_hosts: Vec<String>,
    /// Memory budget, MiB.
    pub memory_budget: u32,
    /// Refuse unless the home is on a mounted file system of its own (a USB stick).
    pub require_mount: bool,
    /// Backup directory for the admin API's backup button, and how many to keep.
    pub backup_to: Option<PathBuf>,
    /// Backups to keep there.
    pub backup_keep: usize,
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Print usage.
    Help,
    /// Print the version.
    Version,
    /// Generate an identity.
    IdentityNew {
        /// Where to write it (stdout if absent).
        out: Option<PathBuf>,
    },
    /// Validate an identity string or file.
    IdentityValidate {
        /// The identity text or a path to a file holding it.
        input: String,
    },
    /// Run the daemon.
    Run(RunArgs),
    /// Open or close a network's approval window.
    NetworkWindow {
        /// Home directory.
        home: PathBuf,
        /// Network ID (16 hex digits).
        network: String,
        /// Open it for this long, with at most this many devices (`None`: close it).
        open: Option<(u64, u64)>,
    },
    /// Create a network.
    NetworkCreate {
        /// Home directory.
        home: PathBuf,
        /// Name.
        name: String,
        /// Public (no authorization needed).
        public: bool,
        /// IPv4 pools (first, last).
        pools: Vec<(String, String)>,
        /// Routes (CIDR).
        routes: Vec<String>,
        /// IPv6 modes: rfc4193, 6plane.
        v6: Vec<String>,
    },
    /// Create or change a member.
    MemberSet {
        /// Home directory.
        home: PathBuf,
        /// Network ID (16 hex digits).
        network: String,
        /// Member address (10 hex digits).
        address: String,
        /// Set authorization.
        authorize: Option<bool>,
        /// Replace assigned IPs.
        ips: Vec<String>,
        /// Set the name.
        name: Option<String>,
        /// End the authorization this many ms from now (`Some(None)`: never).
        expires: Option<Option<u64>>,
    },
    /// Take an encrypted backup of a home.
    Backup {
        /// Home directory.
        home: PathBuf,
        /// Target directory.
        to: PathBuf,
        /// Backups to keep.
        keep: usize,
        /// Key file.
        key: Option<PathBuf>,
        /// Refuse unless the target is a mount point.
        require_mount: bool,
    },
    /// Check a backup file.
    BackupVerify {
        /// The file.
        file: PathBuf,
        /// Key file (default: HOME/backup.key).
        key: Option<PathBuf>,
        /// Home whose key to use by default.
        home: PathBuf,
    },
    /// Restore a backup into a home.
    Restore {
        /// The file.
        file: PathBuf,
        /// Home directory.
        home: PathBuf,
        /// Key file.
        key: Option<PathBuf>,
        /// Replace a non-empty home.
        force: bool,
    },
    /// Import a zerotier-one controller.
    ImportZerotier {
        /// The zerotier-one home.
        from: PathBuf,
        /// The ztcd home.
        home: PathBuf,
    },
    /// Create or update this node's moon.
    Moon {
        /// Home directory.
        home: PathBuf,
        /// Public endpoints (empty = the planet's).
        endpoints: Vec<InetAddress>,
    },
    /// Compile a rules source file and print the JSON.
    RulesCompile {
        /// The source file (`-` = standard input).
        file: PathBuf,
    },
    /// Share the planet with other roots: its key, its list of roots.
    PlanetRoots(PlanetCommand),
    /// Create or update the planet.
    Planet {
        /// Home directory.
        home: PathBuf,
        /// Public endpoints to list.
        endpoints: Vec<InetAddress>,
        /// Also copy the planet here.
        out: Option<PathBuf>,
    },
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut p = lexopt::Parser::from_args(args);
    let first = match p.next().map_err(|e| e.to_string())? {
        None => return Ok(Command::Help),
        Some(Long("help") | Short('h')) => return Ok(Command::Help),
        Some(Long("version") | Short('V')) => return Ok(Command::Version),
        Some(Value(v)) => v.string().map_err(|e| e.to_string())?,
        Some(other) => return Err(other.unexpected().to_string()),
    };
    match first.as_str() {
        "run" => run::parse_run(&mut p),
        "identity" => parse_identity(&mut p),
        "planet" => match planet::sub(&mut p) {
            Some(sub) => planet::parse(&mut p, &sub).map(Command::PlanetRoots),
            None => parse_planet(&mut p),
        },
        "moon" => parse_moon(&mut p),
        "network" => parse_network(&mut p),
        "rules" => {
            subcommand(&mut p, "compile").map_err(|e| format!("rules: {e}"))?;
            match p.next().map_err(|e| e.to_string())? {
                Some(Value(v)) => Ok(Command::RulesCompile { file: v.into() }),
                _ => Err("rules compile: missing FILE".into()),
            }
        }
        "member" => parse_member(&mut p),
        "backup" => parse_backup(&mut p),
        "restore" => parse_restore(&mut p),
        "import-zerotier" => parse_import(&mut p),
        "help" => Ok(Command::Help),
        "version" => Ok(Command::Version),
        other => Err(format!("unknown command {other:?} (try --help)")),
    }
}

fn parse_identity(p: &mut lexopt::Parser) -> Result<Command, String> {
    let sub = match p.next().map_err(|e| e.to_string())? {
        Some(Value(v)) => v.string().map_err(|e| e.to_string())?,
        _ => return Err("identity: expected 'new' or 'validate'".into()),
    };
    match sub.as_str() {
        "new" => {
            let mut out = None;
            while let Some(arg) = p.next().map_err(|e| e.to_string())? {
                match arg {
                    Long("out") | Short('o') => out = Some(value(p)?.into()),
                    other => return Err(other.unexpected().to_string()),
                }
            }
            Ok(Command::IdentityNew { out })
        }
        "validate" => {
            let mut input = None;
            while let Some(arg) = p.next().map_err(|e| e.to_string())? {
                match arg {
                    Value(v) if input.is_none() => {
                        input = Some(v.string().map_err(|e| e.to_string())?)
                    }
                    other => return Err(other.unexpected().to_string()),
                }
            }
            let input = input.ok_or("identity validate: missing identity string or file")?;
            Ok(Command::IdentityValidate { input })
        }
        other => Err(format!("identity: unknown subcommand {other:?}")),
    }
}

/// Parses `IP/PORT`, `IP:PORT`, or `HOST/PORT` (resolved now, every address kept); each must
/// be an address clients can send to.
fn endpoint(text: &str) -> Result<Vec<InetAddress>, String> {
    let eps = resolve_endpoint(text)?;
    for ep in &eps {
        let Some(sa) = ep.to_socket() else {
            return Err(format!("--endpoint {text:?}: no address"));
        };
        let ip = sa.ip();
        let broadcast = matches!(ip, std::net::IpAddr::V4(v4) if v4.is_broadcast());
        if ip.is_unspecified() || ip.is_multicast() || broadcast || sa.port() == 0 {
            return Err(format!(
                "--endpoint {text:?}: {sa} is not an address clients can reach (give the \
                 public unicast address and port)"
            ));
        }
    }
    Ok(eps)
}

fn resolve_endpoint(text: &str) -> Result<Vec<InetAddress>, String> {
    if let Ok(ep) = text.parse::<InetAddress>() {
        return Ok(vec![ep]);
    }
    let bad =
        || format!("--endpoint {text:?}: expected IP/PORT or HOST/PORT, e.g. 203.0.113.7/9993");
    let (host, port) = text.rsplit_once('/').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    use std::net::ToSocketAddrs;
    let addrs: Vec<InetAddress> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("--endpoint {text:?}: cannot resolve {host}: {e}"))?
        .map(InetAddress::from_socket)
        .collect();
    if addrs.is_empty() {
        return Err(format!("--endpoint {text:?}: {host} has no address"));
    }
    Ok(addrs)
}

fn subcommand(p: &mut lexopt::Parser, want: &str) -> Result<(), String> {
    match p.next().map_err(|e| e.to_string())? {
        Some(Value(v)) if v == want => Ok(()),
        _ => Err(format!("expected '{want}'")),
    }
}

fn parse_network(p: &mut lexopt::Parser) -> Result<Command, String> {
    match p.next().map_err(|e| e.to_string())? {
        Some(Value(v)) if v == "create" => {}
        Some(Value(v)) if v == "window" => return parse_window(p),
        _ => return Err("network: expected 'create' or 'window'".into()),
    }
    let (mut home, mut name, mut public) = (PathBuf::from(DEFAULT_HOME), String::new(), false);
    let (mut pools, mut routes, mut v6) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Long("home") => home = value(p)?.into(),
            Long("name") => name = value(p)?,
            Long("public") => public = true,
            Long("pool") => {
                let v = value(p)?;
                let (a, b) = v
                    .split_once('-')
                    .ok_or_else(|| format!("--pool {v:?}: expected FIRST-LAST"))?;
                pools.push((a.to_owned(), b.to_owned()));
            }
            Long("route") => routes.push(value(p)?),
            Long("v6") => v6.push(value(p)?),
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok(Command::NetworkCreate {
        home,
        name,
        public,
        pools,
        routes,
        v6,
    })
}

/// `network window --network NWID (--minutes M [--max-devices K] | --close)`.
fn parse_window(p: &mut lexopt::Parser) -> Result<Command, String> {
    let (mut home, mut network) = (PathBuf::from(DEFAULT_HOME), None);
    let (mut minutes, mut max, mut close) = (None, 10, false);
    let number = |p: &mut lexopt::Parser, flag: &str| -> Result<u64, String> {
        let v = value(p)?;
        v.parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{flag} {v:?}: expected a positive number"))
    };
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Long("home") => home = value(p)?.into(),
            Long("network") => network = Some(value(p)?),
            Long("minutes") => minutes = Some(number(p, "--minutes")?),
            Long("max-devices") => max = number(p, "--max-devices")?,
            Long("close") => close = true,
            other => return Err(other.unexpected().to_string()),
        }
    }
    let open = match (minutes, close) {
        (Some(m), false) => Some((m, max)),
        (None, true) => None,
        _ => return Err("network window: give --minutes M (to open) or --close".into()),
    };
    Ok(Command::NetworkWindow {
        home,
        network: network.ok_or("network window: missing --network NWID")?,
        open,
    })
}

fn parse_member(p: &mut lexopt::Parser) -> Result<Command, String> {
    subcommand(p, "set").map_err(|e| format!("member: {e}"))?;
    let mut home = PathBuf::from(DEFAULT_HOME);
    let (mut network, mut address, mut authorize, mut ips, mut name) =
        (None, None, None, Vec::new(), None);
    let mut expires = None;
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Long("home") => home = value(p)?.into(),
            Long("network") => network = Some(value(p)?),
            Long("address") => address = Some(value(p)?),
            Long("authorize") => authorize = Some(true),
            Long("deauthorize") => authorize = Some(false),
            Long("ip") => ips.push(value(p)?),
            Long("name") => name = Some(value(p)?),
            Long("expires") => expires = Some(duration(&value(p)?)?),
            other => return Err(other.unexpected().to_string()),
        }
    }
    let network = network.ok_or("member set: --network is required")?;
    let address = address.ok_or("member set: --address is required")?;
    Ok(Command::MemberSet {
        home,
        network,
        address,
        authorize,
        ips,
        name,
        expires,
    })
}

/// `--expires`: `never`, or a number with `m`, `h` or `d` (minutes, hours, days), in ms.
fn duration(text: &str) -> Result<Option<u64>, String> {
    if text == "never" {
        return Ok(None);
    }
    let bad = || format!("--expires {text:?}: expected e.g. 30m, 12h, 7d or never");
    let (n, unit) = text.split_at(text.len().saturating_sub(1));
    let n: u64 = n.parse().map_err(|_| bad())?;
    let ms = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    n.checked_mul(ms)
        .filter(|&d| d > 0)
        .map(Some)
        .ok_or_else(bad)
}

fn parse_moon(p: &mut lexopt::Parser) -> Result<Command, String> {
    let mut home = PathBuf::from(DEFAULT_HOME);
    let mut endpoints = Vec::new();
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Long("home") => home = value(p)?.into(),
            Long("endpoint") => endpoints.extend(endpoint(&value(p)?)?),
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok(Command::Moon { home, endpoints })
}

fn parse_planet(p: &mut lexopt::Parser) -> Result<Command, String> {
    let mut home = PathBuf::from(DEFAULT_HOME);
    let mut endpoints = Vec::new();
    let mut out = None;
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Long("home") => home = value(p)?.into(),
            Long("out") => out = Some(value(p)?.into()),
            Long("endpoint") => {
                let text = value(p)?;
                let ep: InetAddress = text.parse().map_err(|_| {
                    format!("--endpoint {text:?}: expected IP/PORT, e.g. 203.0.113.7/9993")
                })?;
                endpoints.push(ep);
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    if endpoints.is_empty() {
        return Err("planet: at least one --endpoint IP/PORT is required".into());
    }
    Ok(Command::Planet {
        home,
        endpoints,
        out,
    })
}

fn parse_backup(p: &mut lexopt::Parser) -> Result<Command, String> {
    let (mut home, mut to, mut keep, mut key) = (PathBuf::from(DEFAULT_HOME), None, 7, None);
    let (mut require_mount, mut verify) = (false, None);
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Value(v) if v == "verify" && verify.is_none() => {
                let file = p.value().map_err(|_| "backup verify: missing FILE")?;
                verify = Some(PathBuf::from(file));
            }
            Long("home") => home = value(p)?.into(),
            Long("to") => to = Some(PathBuf::from(value(p)?)),
            Long("keep") => {
                let v = value(p)?;
                keep = v
                    .parse()
                    .ok()
                    .filter(|k| *k >= 1)
                    .ok_or_else(|| format!("--keep {v:?}: expected a number of at least 1"))?;
            }
            Long("key") => key = Some(PathBuf::from(value(p)?)),
            Long("require-mount") => require_mount = true,
            other => return Err(other.unexpected().to_string()),
        }
    }
    if let Some(file) = verify {
        return Ok(Command::BackupVerify { file, key, home });
    }
    let to = to.ok_or("backup: missing --to DIR (where to write the backup)")?;
    Ok(Command::Backup {
        home,
        to,
        keep,
        key,
        require_mount,
    })
}

fn parse_restore(p: &mut lexopt::Parser) -> Result<Command, String> {
    let (mut file, mut home, mut key, mut force) = (None, None, None, false);
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Value(v) if file.is_none() => file = Some(PathBuf::from(v)),
            Long("home") => home = Some(PathBuf::from(value(p)?)),
            Long("key") => key = Some(PathBuf::from(value(p)?)),
            Long("force") => force = true,
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok(Command::Restore {
        file: file.ok_or("restore: missing FILE")?,
        home: home.ok_or("restore: missing --home DIR")?,
        key,
        force,
    })
}

fn parse_import(p: &mut lexopt::Parser) -> Result<Command, String> {
    let (mut from, mut home) = (None, PathBuf::from(DEFAULT_HOME));
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Long("from") => from = Some(PathBuf::from(value(p)?)),
            Long("home") => home = value(p)?.into(),
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok(Command::ImportZerotier {
        from: from.ok_or("import-zerotier: missing --from ZT_HOME")?,
        home,
    })
}

fn value(p: &mut lexopt::Parser) -> Result<String, String> {
    p.value()
        .map_err(|e| e.to_string())?
        .string()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn parses_commands() {
        assert_eq!(parse(args("")), Ok(Command::Help));
        assert_eq!(parse(args("--version")), Ok(Command::Version));
        assert_eq!(
            parse(args("identity new")),
            Ok(Command::IdentityNew { out: None })
        );
        assert_eq!(
            parse(args("identity validate abc")),
            Ok(Command::IdentityValidate {
                input: "abc".into()
            })
        );
        let cmd = parse(args(
            "planet --home /tmp/h --endpoint 10.0.0.1/9993 --endpoint [::1]:9",
        ));
        let Ok(Command::Planet {
            home,
            endpoints,
            out: None,
        }) = cmd
        else {
            panic!("{cmd:?}")
        };
        assert_eq!(home, PathBuf::from("/tmp/h"));
        assert_eq!(endpoints.len(), 2);
        assert!(parse(args("planet --home /tmp/h")).is_err());
        assert!(parse(args("planet --endpoint nonsense")).is_err());
        assert!(parse(args("frobnicate")).is_err());
        let cmd = parse(args(
            "run --port 9994 --bind 10.0.0.1 --endpoint 10.0.0.1/9994",
        ))
        .unwrap();
        let Command::Run(RunArgs {
            port,
            bind,
            endpoints,
            ..
        }) = cmd
        else {
            panic!()
        };
        assert_eq!((port, bind.len(), endpoints.len()), (9994, 1, 1));
        assert!(parse(args("run --port 70000")).is_err());
        assert!(parse(args("run --bind nope")).is_err());
    }

    #[test]
    fn endpoints_must_be_reachable_and_port_zero_needs_an_admin_port() {
        for bad in [
            "0.0.0.0/9993",
            "224.0.0.1/9993",
            "255.255.255.255/9993",
            "1.2.3.4/0",
            "[::]:9993",
        ] {
            let e = parse(args(&format!("run --endpoint {bad}"))).unwrap_err();
            assert!(e.contains("not an address clients can reach"), "{bad}: {e}");
        }
        let Ok(Command::Run(RunArgs { endpoints, .. })) = parse(args(
            "run --endpoint 10.0.0.1/9993 --endpoint 10.0.0.1:9993",
        )) else {
            panic!("run");
        };
        assert_eq!(endpoints.len(), 1, "duplicates collapse");
        let e = parse(args("run --port 0")).unwrap_err();
        assert!(e.contains("--admin-port"), "{e}");
        assert!(parse(args("run --port 0 --admin-port 0")).is_ok());
        assert_eq!(duration("7d"), Ok(Some(7 * 86_400_000)));
        assert_eq!(duration("30m"), Ok(Some(1_800_000)));
        assert_eq!(duration("never"), Ok(None));
        for bad in ["", "7", "0d", "3w", "-1h", "99999999999999999d"] {
            assert!(duration(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            parse(args("run --require-mount")),
            Ok(Command::Run(RunArgs {
                require_mount: true,
                ..
            }))
        ));
    }

    #[test]
    fn names_and_devices_are_kept_for_the_daemon_to_resolve() {
        let Ok(Command::Run(RunArgs {
            endpoints,
            resolve_interval,
            ..
        })) = parse(args(
            "run --port 9995 --endpoint home.example.net/9993 --endpoint-from-interface eth1 \
             --resolve-interval 30",
        ))
        else {
            panic!("run");
        };
        assert_eq!(
            endpoints,
            [
                EndpointSpec::Name("home.example.net".into(), 9993),
                EndpointSpec::Interface("eth1".into(), 9995)
            ]
        );
        assert_eq!(resolve_interval.as_secs(), 30);
        assert!(parse(args("run --resolve-interval 1")).is_err());
        assert!(parse(args("run --endpoint-from-interface a/b")).is_err());
        assert!(parse(args("run --endpoint bad_name/9993")).is_err());
        assert!(parse(args("run --root nothing@10.0.0.1/9993")).is_err());
    }

    #[test]
    fn planet_sharing_subcommands() {
        assert_eq!(
            parse(args("planet export-key --home /h --out /k")),
            Ok(Command::PlanetRoots(PlanetCommand::ExportKey {
                home: "/h".into(),
                out: "/k".into()
            }))
        );
        assert_eq!(
            parse(args("planet import-key /k --planet /p --home /h")),
            Ok(Command::PlanetRoots(PlanetCommand::ImportKey {
                home: "/h".into(),
                key: "/k".into(),
                planet: "/p".into(),
                force: false
            }))
        );
        assert!(parse(args("planet import-key /k")).is_err());
        assert!(parse(args("planet export-key")).is_err());
        assert!(matches!(
            parse(args("planet remove-root 0123456789")),
            Ok(Command::PlanetRoots(PlanetCommand::RemoveRoot { .. }))
        ));
        // The planet command itself is unchanged.
        assert!(matches!(
            parse(args("planet --endpoint 10.0.0.1/9993")),
            Ok(Command::Planet { .. })
        ));
    }
}
