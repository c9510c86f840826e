//! (method, path, query, body) → [`AdminCommand`], the zerotier-one routes plus ztcd's own
//! (zt-api §1.2). Path IDs are accepted in either case and normalized to lower case.

use serde_json::Value;

use super::msg::{AdminCommand, AdminReply};
use crate::controller::api::{parse_address, parse_network_id};
use crate::controller::change::{Change, MemberPatch, NetworkPatch, Patch};
use crate::controller::window::WindowSpec;
use crate::wire::{Address, NetworkId};

/// Parses a JSON request body; an empty body is an empty object (zerotier-one answers one
/// with 500, which helps nobody).
pub fn json_body(body: &[u8]) -> Result<Value, AdminReply> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(body)
        .map_err(|e| AdminReply::error(400, &format!("body: invalid JSON ({e})")))
}

/// Parses a JSON body into a typed value: a field that is wrong is a 400 naming it.
fn typed<T>(body: &[u8], parse: impl FnOnce(&Value) -> Result<T, String>) -> Result<T, AdminReply> {
    parse(&json_body(body)?).map_err(|e| AdminReply::error(400, &e))
}

/// A change command from a body parsed by `parse`.
fn change<T>(
    body: &[u8],
    parse: impl FnOnce(&Value) -> Result<T, String>,
    make: impl FnOnce(T) -> Change,
) -> Result<AdminCommand, AdminReply> {
    Ok(AdminCommand::Change(Box::new(make(typed(body, parse)?))))
}

/// Whether a query string sets `key` to a true value (`1`, `true`).
pub fn query_flag(query: &str, key: &str) -> bool {
    query.split('&').any(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, "1"));
        k == key && matches!(v, "1" | "true" | "yes")
    })
}

/// `POST /ztcd/rules/compile` with `{"source": "..."}`: the compiled rules, capabilities and
/// tags (nothing is saved), or 400 with the line and column of the first error.
fn compile_rules(body: &Value) -> AdminReply {
    let Some(source) = body.get("source").and_then(Value::as_str) else {
        return AdminReply::error(400, "source: expected the rules source as a string");
    };
    match crate::controller::rules_lang::compile(source) {
        Ok(c) => AdminReply::json(c.to_json().to_string()),
        Err(e) => AdminReply {
            status: 400,
            content_type: "application/json",
            body: serde_json::json!({
                "error": 400,
                "message": e.to_string(),
                "line": e.line,
                "column": e.column,
            })
            .to_string()
            .into_bytes(),
        },
    }
}

/// Why a request under `/controller/network/` maps to no command.
enum RouteError {
    /// An immediate answer.
    Reply(AdminReply),
    /// No such route (404 naming the path).
    NotFound,
}

impl From<AdminReply> for RouteError {
    fn from(r: AdminReply) -> Self {
        Self::Reply(r)
    }
}

fn not_allowed(method: &str) -> RouteError {
    RouteError::Reply(AdminReply::error(
        405,
        &format!("{method} is not allowed here"),
    ))
}

fn bad_nwid(s: &str) -> AdminReply {
    AdminReply::error(404, &format!("{s:?} is not a network ID (16 hex digits)"))
}

fn bad_addr(s: &str) -> AdminReply {
    AdminReply::error(
        404,
        &format!("{s:?} is not a member address (10 hex digits)"),
    )
}

/// `/controller/network/{nwid}[/member[/{address}]]` and `…/{ourAddress}______`.
fn network_route(
    method: &str,
    n: &str,
    rest: &[&str],
    query: &str,
    body: &[u8],
    ours: Address,
) -> Result<AdminCommand, RouteError> {
    use AdminCommand as C;
    if let Some(prefix) = n.strip_suffix("______") {
        if method != "POST" || !rest.is_empty() {
            return Err(RouteError::NotFound);
        }
        if prefix.to_ascii_lowercase() != ours.to_string() {
            return Err(AdminReply::error(
                400,
                &format!("{prefix} is not this controller's address ({ours})"),
            )
            .into());
        }
        return Ok(change(
            body,
            NetworkPatch::from_json,
            Change::CreateNetwork,
        )?);
    }
    let nwid: NetworkId = parse_network_id(n).ok_or_else(|| bad_nwid(n))?;
    Ok(match (method, rest) {
        ("GET", []) => C::GetNetwork(nwid),
        ("POST", []) => change(body, NetworkPatch::from_json, |p| {
            Change::PutNetwork(nwid, p)
        })?,
        ("DELETE", []) => C::Change(Box::new(Change::DeleteNetwork(nwid))),
        ("GET", ["member"]) if query_flag(query, "details") => C::ListMembersDetailed(nwid),
        ("GET", ["member"]) => C::ListMembers(nwid),
        (m, ["member", a]) => {
            let addr = parse_address(a).ok_or_else(|| bad_addr(a))?;
            match m {
                "GET" => C::GetMember(nwid, addr),
                "POST" => change(body, MemberPatch::from_json, |p| {
                    Change::PutMember(nwid, addr, p)
                })?,
                "DELETE" => C::Change(Box::new(Change::DeleteMember(nwid, addr))),
                _ => return Err(not_allowed(m)),
            }
        }
        _ => return Err(RouteError::NotFound),
    })
}

fn not_found(path: &str) -> AdminReply {
    AdminReply::error(404, &format!("no such resource: {path}"))
}

/// Maps a request to a command, or to an immediate answer (bad ID, unknown route, bad JSON).
pub fn route(
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    ours: Address,
) -> Result<AdminCommand, AdminReply> {
    use AdminCommand as C;
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let method = if method == "PUT" { "POST" } else { method };
    let cmd = match (method, segs.as_slice()) {
        ("GET", ["status"]) => C::Status,
        ("GET", ["controller"]) => C::Controller,
        ("GET", ["controller", "network"]) => C::ListNetworks,
        ("GET", ["unstable", "controller", "network"]) => C::ListNetworksDetailed,
        ("POST", ["controller", "network"]) => {
            change(body, NetworkPatch::from_json, Change::CreateNetwork)?
        }
        ("GET", ["peer"]) => C::Peers,
        ("GET", ["peer", a]) => C::Peer(parse_address(a).ok_or_else(|| bad_addr(a))?),
        ("GET", ["metrics"]) => C::Metrics,
        ("GET", ["ztcd", "planet"]) => C::Planet,
        ("GET", ["ztcd", "moon"]) => C::Moon,
        ("POST", ["ztcd", "backup"]) => C::Backup,
        ("GET", ["ztcd", "backups"]) => C::ListBackups,
        ("GET", ["ztcd", "backups", name]) => {
            // Only names ztcd gives its backups: no path can be smuggled in.
            let ok = name.starts_with("ztcd-backup-")
                && name.ends_with(".ztb")
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !ok {
                return Err(not_found(path));
            }
            C::DownloadBackup((*name).to_owned())
        }
        ("POST", ["ztcd", "rules", "compile"]) => return Err(compile_rules(&json_body(body)?)),
        (m, ["ztcd", "network", n, "window"]) => {
            let nwid = parse_network_id(n).ok_or_else(|| bad_nwid(n))?;
            match m {
                "GET" => C::Window(nwid),
                "POST" => change(body, WindowSpec::from_json, |w| Change::OpenWindow(nwid, w))?,
                "DELETE" => C::Change(Box::new(Change::CloseWindow(nwid))),
                _ => return Err(AdminReply::error(405, &format!("{m} is not allowed here"))),
            }
        }
        (m, ["controller", "network", n, rest @ ..]) => {
            return network_route(m, n, rest, query, body, ours).map_err(|e| match e {
                RouteError::Reply(r) => r,
                RouteError::NotFound => not_found(path),
            });
        }
        _ => return Err(not_found(path)),
    };
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::NetworkId;

    const OURS: u64 = 0x8e_4df2_8b72;

    fn r(method: &str, path: &str, query: &str, body: &str) -> Result<AdminCommand, AdminReply> {
        route(method, path, query, body.as_bytes(), Address::new(OURS))
    }

    #[test]
    fn routes_follow_zerotier_one() {
        let n = NetworkId(0x8e4d_f28b_7200_0001);
        let a = Address::new(0x12_3456_789a);
        assert_eq!(
            r("GET", "/controller/network/8E4DF28B72000001", "", ""),
            Ok(AdminCommand::GetNetwork(n))
        );
        assert_eq!(
            r(
                "PUT",
                "/controller/network/8e4df28b72000001/member/123456789A",
                "",
                "{\"authorized\":true}"
            ),
            Ok(AdminCommand::Change(Box::new(Change::PutMember(
                n,
                a,
                MemberPatch {
                    authorized: Some(true),
                    ..MemberPatch::default()
                }
            ))))
        );
        assert_eq!(
            r(
                "GET",
                "/controller/network/8e4df28b72000001/member",
                "details=1",
                ""
            ),
            Ok(AdminCommand::ListMembersDetailed(n))
        );
        assert!(matches!(
            r("POST", "/controller/network/8e4df28b72______", "", ""),
            Ok(AdminCommand::Change(c)) if matches!(*c, Change::CreateNetwork(_))
        ));
        assert_eq!(
            r("POST", "/controller/network/1111111111______", "", "")
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            r("GET", "/controller/network/xyz", "", "")
                .unwrap_err()
                .status,
            404
        );
        assert_eq!(r("GET", "/nothing", "", "").unwrap_err().status, 404);
        let e = r(
            "POST",
            "/controller/network/8e4df28b72000001",
            "",
            "{\"name\": ",
        )
        .unwrap_err();
        assert_eq!(e.status, 400);
        assert!(String::from_utf8_lossy(&e.body).contains("body: invalid JSON"));
        assert_eq!(
            r("POST", "/controller/network/8e4df28b72000001", "", ""),
            Ok(AdminCommand::Change(Box::new(Change::PutNetwork(
                n,
                NetworkPatch::default()
            ))))
        );
        // A wrong field is refused before the owner loop sees the request.
        let e = r(
            "POST",
            "/controller/network/8e4df28b72000001",
            "",
            "{\"mtu\": 99999}",
        )
        .unwrap_err();
        assert_eq!(e.status, 400);
        assert!(String::from_utf8_lossy(&e.body).contains("mtu"));
    }

    #[test]
    fn rules_compile_without_saving_and_errors_carry_their_place() {
        let ok = r(
            "POST",
            "/ztcd/rules/compile",
            "",
            r#"{"source": "accept dport 22;"}"#,
        )
        .unwrap_err();
        assert_eq!(ok.status, 200);
        let v: Value = serde_json::from_slice(&ok.body).unwrap();
        assert_eq!(v["config"]["rules"][0]["type"], "MATCH_IP_DEST_PORT_RANGE");
        let bad = r(
            "POST",
            "/ztcd/rules/compile",
            "",
            r#"{"source": "accept\n dport x;"}"#,
        )
        .unwrap_err();
        assert_eq!(bad.status, 400);
        let v: Value = serde_json::from_slice(&bad.body).unwrap();
        assert_eq!(
            (v["line"].as_u64(), v["column"].as_u64()),
            (Some(2), Some(8))
        );
        assert_eq!(
            r("POST", "/ztcd/rules/compile", "", "{}")
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn backup_downloads_take_only_backup_names() {
        assert_eq!(
            r(
                "GET",
                "/ztcd/backups/ztcd-backup-20261201T000000Z-3.ztb",
                "",
                ""
            ),
            Ok(AdminCommand::DownloadBackup(
                "ztcd-backup-20261201T000000Z-3.ztb".into()
            ))
        );
        for bad in [
            "/ztcd/backups/..%2fcontroller.db",
            "/ztcd/backups/controller.db",
            "/ztcd/backups/ztcd-backup-x.ztb.key",
        ] {
            assert_eq!(r("GET", bad, "", "").unwrap_err().status, 404, "{bad}");
        }
    }
}
