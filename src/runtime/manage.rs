//! Management commands (`ztcd network create`, `ztcd member set`): one path for every change.
//!
//! Each command builds the request the admin API takes. While a daemon owns the home (its
//! lock, [`crate::home::lock`]) the request goes to that daemon over its loopback API with the
//! home's token, so the daemon validates it, pushes it to members and revokes credentials
//! exactly as for a UI. While none runs, the command takes the home's lock, parses the request
//! with the admin API's own routes into the same typed change and applies it through
//! [`Controller::apply_one`]. Either way the rules are the API's: authorizing lifts a block,
//! a manual address held by another member is refused, a deauthorization is revoked at once.

use std::net::SocketAddr;
use std::path::Path;

use serde_json::{Value, json};

use super::daemon::CONTROLLER_DB;
use super::{OsEntropy, unix_millis};
use crate::admin::client;
use crate::admin::msg::{AdminCommand, AdminReply};
use crate::admin::routes::route;
use crate::controller::api::{parse_address, parse_network_id};
use crate::controller::store::Store;
use crate::controller::{Controller, Now};
use crate::home::lock::{HomeLock, Locked, lock};
use crate::home::{AUTHTOKEN, Home};

/// Where a change goes.
enum Target {
    /// The daemon that owns the home, through its admin API.
    Daemon { admin: SocketAddr, token: String },
    /// No daemon runs: the controller code on the database, under the home's lock.
    Offline {
        controller: Box<Controller>,
        _lock: HomeLock,
    },
}

fn target(home: &Path) -> Result<Target, String> {
    crate::backup::restore::recover(home)?;
    let h = Home::open(home).map_err(|e| format!("{}: {e}", home.display()))?;
    match lock(&h).map_err(|e| e.to_string())? {
        Locked::Theirs(owner) => {
            let pid = owner.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
            let admin = owner.admin.ok_or_else(|| {
                format!(
                    "{} is owned by a running ztcd{pid} whose admin API is off: turn it on or \
                     stop the daemon to make changes",
                    home.display()
                )
            })?;
            let token = std::fs::read_to_string(h.path(AUTHTOKEN))
                .map_err(|e| format!("{}: {e}", h.path(AUTHTOKEN).display()))?;
            Ok(Target::Daemon { admin, token })
        }
        Locked::Mine(lock) => {
            let (id, _) = h
                .load_or_create_identity(&mut OsEntropy)
                .map_err(|e| e.to_string())?;
            let path = h.path(CONTROLLER_DB);
            let store = Store::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(Target::Offline {
                controller: Box::new(Controller::new(id, store)),
                _lock: lock,
            })
        }
    }
}

/// Carries out `method` with `body` on the admin API's `path`: through the daemon's API, or
/// when none runs, parsed by the same routes into the same typed change and carried out by
/// the same controller code.
fn send(home: &Path, method: &str, path: &str, body: &Value) -> Result<Value, String> {
    let body = body.to_string();
    match target(home)? {
        Target::Daemon { admin, token } => {
            let a = client::call(admin, &token, method, path, Some(&body))?;
            if a.status != 200 {
                return Err(format!("{} ({})", a.message(), a.status));
            }
            serde_json::from_slice(&a.body).map_err(|e| format!("admin API answer: {e}"))
        }
        Target::Offline {
            mut controller,
            _lock,
        } => {
            let ours = controller.address();
            let change = match route(method, path, "", body.as_bytes(), ours) {
                Ok(AdminCommand::Change(change)) => change,
                Ok(_) => return Err(format!("{method} {path} is not a change")),
                Err(reply) => return Err(refusal(&reply)),
            };
            let now = Now {
                mono: 0,
                unix: unix_millis(),
            };
            controller
                .apply_one(now, &mut OsEntropy, &change)
                .map_err(|e| format!("{e} ({})", e.status()))
        }
    }
}

/// The message and status of a refused request, as the daemon's answer would show them.
fn refusal(reply: &AdminReply) -> String {
    let v: Value = serde_json::from_slice(&reply.body).unwrap_or_default();
    let message = v["message"].as_str().unwrap_or("refused");
    format!("{message} ({})", reply.status)
}

/// Creates a network; returns it as the API does.
pub fn network_create(
    home: &Path,
    name: &str,
    public: bool,
    pools: &[(String, String)],
    routes: &[String],
    v6: &[String],
) -> Result<Value, String> {
    let body = network_body(name, public, pools, routes, v6)?;
    send(home, "POST", "/controller/network", &body)
}

/// The API body of `network create`.
fn network_body(
    name: &str,
    public: bool,
    pools: &[(String, String)],
    routes: &[String],
    v6: &[String],
) -> Result<Value, String> {
    let v4 = |a: &str| a.parse::<std::net::Ipv4Addr>().is_ok();
    let mut modes =
        json!({"zt": pools.iter().any(|(a, _)| !v4(a)), "rfc4193": false, "6plane": false});
    for mode in v6 {
        match mode.as_str() {
            "rfc4193" | "6plane" => modes[mode.as_str()] = json!(true),
            other => return Err(format!("--v6 {other:?}: expected rfc4193 or 6plane")),
        }
    }
    Ok(json!({
        "name": name,
        "private": !public,
        "ipAssignmentPools": pools.iter().map(|(a, b)| json!({"ipRangeStart": a, "ipRangeEnd": b})).collect::<Vec<_>>(),
        "routes": routes.iter().map(|r| json!({"target": r, "via": null})).collect::<Vec<_>>(),
        "v4AssignMode": {"zt": pools.iter().any(|(a, _)| v4(a))},
        "v6AssignMode": modes,
    }))
}

/// Creates or changes a member; returns it as the API does.
pub fn member_set(
    home: &Path,
    network: &str,
    address: &str,
    authorize: Option<bool>,
    ips: &[String],
    name: Option<&str>,
    expires: Option<Option<u64>>,
) -> Result<Value, String> {
    let nwid = parse_network_id(network)
        .ok_or_else(|| format!("--network {network:?}: expected 16 hex digits"))?;
    let addr = parse_address(address)
        .ok_or_else(|| format!("--address {address:?}: expected 10 hex digits"))?;
    let mut body = serde_json::Map::new();
    if let Some(a) = authorize {
        body.insert("authorized".into(), json!(a));
    }
    if !ips.is_empty() {
        body.insert("ipAssignments".into(), json!(ips));
    }
    if let Some(n) = name {
        body.insert("name".into(), json!(n));
    }
    if let Some(e) = expires {
        let at = e.map(|ms| unix_millis().saturating_add(ms));
        body.insert("expiresAt".into(), json!(at));
    }
    let body = Value::Object(body);
    let path = format!("/controller/network/{nwid}/member/{addr}");
    send(home, "POST", &path, &body)
}

/// Opens a network's approval window for `open` = (minutes, most devices), or closes it
/// (`None`); returns the window as the API does.
pub fn network_window(
    home: &Path,
    network: &str,
    open: Option<(u64, u64)>,
) -> Result<Value, String> {
    let nwid = parse_network_id(network)
        .ok_or_else(|| format!("--network {network:?}: expected 16 hex digits"))?;
    let path = format!("/ztcd/network/{nwid}/window");
    match open {
        Some((minutes, max)) => {
            let body = json!({"minutes": minutes, "maxDevices": max});
            send(home, "POST", &path, &body)
        }
        None => send(home, "DELETE", &path, &json!({})),
    }
}
