//! `ztcd run`'s options: ports, binds, endpoints (addresses, host names, devices), other
//! roots, the admin API, backups and the memory budget.

use std::path::PathBuf;

use lexopt::prelude::*;

use super::{Command, DEFAULT_HOME, RunArgs, value};
use crate::home::RootEntry;
use crate::runtime::follow::{DEFAULT_RESOLVE_INTERVAL, EndpointSpec};

/// Parses `ztcd run`'s options into a [`Command::Run`].
pub(super) fn parse_run(p: &mut lexopt::Parser) -> Result<Command, String> {
    let mut home = PathBuf::from(DEFAULT_HOME);
    let mut port = 9993;
    let mut bind = Vec::new();
    let mut endpoints = Vec::new();
    let mut log_level = "info".to_owned();
    let (mut admin_port, mut admin_bind, mut admin_allow) = (None, Vec::new(), Vec::new());
    let (mut backup_to, mut backup_keep) = (None, 7);
    let mut admin_hosts = Vec::new();
    let mut memory_budget = crate::limits::DEFAULT_MEMORY_BUDGET_MIB;
    let mut require_mount = false;
    let (mut devices, mut roots) = (Vec::new(), Vec::new());
    let mut resolve_interval = DEFAULT_RESOLVE_INTERVAL;
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Long("home") => home = value(p)?.into(),
            Long("endpoint-from-interface") => devices.push(device(&value(p)?)?),
            Long("root") => roots.push(root(&value(p)?)?),
            Long("resolve-interval") => resolve_interval = seconds_between_lookups(&value(p)?)?,
            Long("port") => port = parse_as("port", &value(p)?, "a number 1-65535")?,
            Long("bind") => bind.push(parse_as("bind", &value(p)?, "an IP address")?),
            Long("endpoint") => {
                let ep = EndpointSpec::parse(&value(p)?)?;
                if !endpoints.contains(&ep) {
                    endpoints.push(ep);
                }
            }
            Long("log-level") => log_level = value(p)?,
            Long("require-mount") => require_mount = true,
            Long("admin-port") => {
                admin_port = Some(parse_as("admin-port", &value(p)?, "a number 0-65535")?);
            }
            Long("admin-bind") => {
                admin_bind.push(parse_as("admin-bind", &value(p)?, "an IP address")?);
            }
            Long("backup-to") => backup_to = Some(PathBuf::from(value(p)?)),
            Long("backup-keep") => backup_keep = backups_kept(&value(p)?)?,
            Long("admin-allow") => admin_allow.push(allowed_network(&value(p)?)?),
            Long("memory-budget") => memory_budget = memory_budget_mib(&value(p)?)?,
            Long("admin-host") => admin_hosts.push(host_name(value(p)?)?),
            other => return Err(other.unexpected().to_string()),
        }
    }
    if port == 0 && admin_port.is_none() {
        return Err(
            "--port 0 takes a random UDP port and would leave the admin API nowhere: give \
             --admin-port N (or --admin-port 0 to turn the API off)"
                .into(),
        );
    }
    endpoints.extend(
        devices
            .into_iter()
            .map(|d| EndpointSpec::Interface(d, port)),
    );
    Ok(Command::Run(RunArgs {
        require_mount,
        home,
        port,
        bind,
        endpoints,
        roots,
        resolve_interval,
        log_level,
        admin_port,
        admin_bind,
        admin_allow,
        admin_hosts,
        memory_budget,
        backup_to,
        backup_keep,
    }))
}

/// The value `v` of `--option` parsed as `T`, or an error saying what was `expected`.
fn parse_as<T: std::str::FromStr>(option: &str, v: &str, expected: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("--{option} {v:?}: expected {expected}"))
}

/// `--resolve-interval`: seconds between host name look-ups, 5 to 86400.
fn seconds_between_lookups(v: &str) -> Result<std::time::Duration, String> {
    v.parse()
        .ok()
        .filter(|s| (5..=86_400).contains(s))
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("--resolve-interval {v:?}: expected seconds, 5-86400"))
}

/// `--backup-keep`: how many backups to keep, at least 1.
fn backups_kept(v: &str) -> Result<usize, String> {
    v.parse()
        .ok()
        .filter(|k| *k >= 1)
        .ok_or_else(|| format!("--backup-keep {v:?}: expected a number of at least 1"))
}

/// `--admin-allow`: a network (address/bits) allowed to reach the admin API.
fn allowed_network(v: &str) -> Result<(std::net::IpAddr, u8), String> {
    crate::controller::cidr(v)
        .ok_or_else(|| format!("--admin-allow {v:?}: expected a network such as 192.168.1.0/24"))
}

/// `--memory-budget`: MiB of RAM, 16 up to 1 TiB.
fn memory_budget_mib(v: &str) -> Result<u32, String> {
    v.parse()
        .ok()
        .filter(|m| (16..=1 << 20).contains(m))
        .ok_or_else(|| format!("--memory-budget {v:?}: expected MiB of RAM, 16 or more"))
}

/// `--admin-host`: a host name the admin API answers to (letters, digits, `-` and `.`).
fn host_name(v: String) -> Result<String, String> {
    let ok = !v.is_empty()
        && v.len() <= 253
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !ok {
        return Err(format!("--admin-host {v:?}: expected a host name"));
    }
    Ok(v)
}

/// `--endpoint-from-interface`: a network device name.
fn device(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() < 16
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
    if ok {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "--endpoint-from-interface {text:?}: expected a network device name such as eth1"
        ))
    }
}

/// `IDENTITY@IP/PORT[,IP/PORT...]`: another root's public identity (the text, or a file
/// holding it) and its endpoints.
pub fn root(text: &str) -> Result<RootEntry, String> {
    let bad = || format!("{text:?}: expected IDENTITY.public@IP/PORT[,IP/PORT...]");
    let (id, eps) = text.rsplit_once('@').ok_or_else(bad)?;
    let id_text = match std::fs::read_to_string(id) {
        Ok(s) => s,
        Err(_) => id.to_owned(),
    };
    let identity: crate::identity::Identity = id_text
        .trim()
        .parse()
        .map_err(|e| format!("{text:?}: not a public identity or a file holding one: {e}"))?;
    let mut endpoints = Vec::new();
    for ep in eps.split(',') {
        match EndpointSpec::parse(ep)? {
            EndpointSpec::Fixed(a) => endpoints.push(a),
            _ => return Err(format!("{text:?}: {ep:?} is not an IP/PORT")),
        }
    }
    Ok((identity, endpoints))
}
