//! `ztcd import-zerotier`: moves a zerotier-one controller into a ztcd home — its identity (so
//! members keep their controller and network IDs) and every network and member of its
//! `controller.d` (FileDB JSON, zt-api §1.3–1.4, §1.8), reporting what could not be taken.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::controller::Controller;
use crate::controller::api::{ApiError, ApiResult, parse_address, parse_network_id};
use crate::controller::store::Store;
use crate::identity::IdentitySecret;
use crate::wire::NetworkId;

/// What an import did.
#[derive(Debug, Default, Clone)]
pub struct ImportReport {
    /// Networks imported.
    pub networks: usize,
    /// Members imported.
    pub members: usize,
    /// Files or objects left out, with the reason.
    pub skipped: Vec<String>,
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| format!("invalid JSON: {e}"))
}

/// Imports `from` (a zerotier-one home) into `home`. `unix` is the current time (ms).
pub fn import_zerotier(from: &Path, home: &Path, unix: u64) -> Result<ImportReport, String> {
    let identity = take_identity(from, home)?;
    copy_auth_token(from, home)?;
    let store = Store::open(&home.join("controller.db")).map_err(|e| e.to_string())?;
    let mut c = Controller::new(identity, store);
    let mut report = ImportReport::default();
    let dir = from.join("controller.d").join("network");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    // One transaction: the import lands whole or not at all.
    c.atomically(|c| {
        for file in files {
            if let Some(id) = import_network(c, unix, &file, &mut report)? {
                let members = dir.join(id.to_string()).join("member");
                import_members(c, unix, id, &members, &mut report)?;
            }
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    Ok(report)
}

/// Reads `from`'s identity and makes it `home`'s: written there when `home` has none yet,
/// an error when `home` already holds a different one.
fn take_identity(from: &Path, home: &Path) -> Result<IdentitySecret, String> {
    let secret_path = from.join("identity.secret");
    let text =
        fs::read_to_string(&secret_path).map_err(|e| format!("{}: {e}", secret_path.display()))?;
    let identity = IdentitySecret::parse(text.trim())
        .map_err(|e| format!("{}: {e}", secret_path.display()))?;
    fs::create_dir_all(home).map_err(|e| format!("{}: {e}", home.display()))?;
    let mine = home.join("identity.secret");
    match fs::read_to_string(&mine) {
        Ok(existing) => {
            let same = IdentitySecret::parse(existing.trim())
                .is_ok_and(|e| e.identity() == identity.identity());
            if !same {
                return Err(format!(
                    "{} holds another identity: import into a new home",
                    home.display()
                ));
            }
        }
        Err(_) => {
            let write = crate::home::write_atomic;
            write(&mine, identity.to_secret_string().as_bytes(), 0o600)
                .map_err(|e| e.to_string())?;
            write(
                &home.join("identity.public"),
                identity.identity().to_string().as_bytes(),
                0o644,
            )
            .map_err(|e| e.to_string())?;
        }
    }
    Ok(identity)
}

/// Copies `from`'s API token into `home` unless `home` already has one.
fn copy_auth_token(from: &Path, home: &Path) -> Result<(), String> {
    if let Ok(token) = fs::read(from.join("authtoken.secret"))
        && !home.join("authtoken.secret").exists()
    {
        // The management UIs keep working with the token they already know.
        crate::home::write_atomic(&home.join("authtoken.secret"), token.trim_ascii(), 0o600)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Imports one network file; its ID when it was imported, else `None` with the reason noted
/// in `report`. A database failure ends the whole import (nothing of it is kept).
fn import_network(
    c: &mut Controller,
    unix: u64,
    file: &Path,
    report: &mut ImportReport,
) -> ApiResult<Option<NetworkId>> {
    let shown = file.display().to_string();
    let net = match read_json(file) {
        Ok(v) => v,
        Err(e) => {
            report.skipped.push(format!("{shown}: {e}"));
            return Ok(None);
        }
    };
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let Some(id) = parse_network_id(net["id"].as_str().unwrap_or(stem)) else {
        report.skipped.push(format!("{shown}: no network ID"));
        return Ok(None);
    };
    match c.api_import_network(unix, id, &net) {
        Err(e @ ApiError::Store(_)) => return Err(e),
        Err(e) => {
            report.skipped.push(format!("{shown}: {e}"));
            return Ok(None);
        }
        Ok(()) => {}
    }
    report.networks += 1;
    Ok(Some(id))
}

/// Imports the member files in `members` (a network's `member` directory, which may be
/// missing) into network `id`, noting each one left out in `report`. A database failure ends
/// the whole import.
fn import_members(
    c: &mut Controller,
    unix: u64,
    id: NetworkId,
    members: &Path,
    report: &mut ImportReport,
) -> ApiResult<()> {
    let mut mfiles: Vec<_> = fs::read_dir(members)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    mfiles.sort();
    for mf in mfiles
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
    {
        let shown = mf.display().to_string();
        let m = match read_json(mf) {
            Ok(v) => v,
            Err(e) => {
                report.skipped.push(format!("{shown}: {e}"));
                continue;
            }
        };
        let stem = mf.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let Some(address) = parse_address(
            m["address"]
                .as_str()
                .or_else(|| m["id"].as_str())
                .unwrap_or(stem),
        ) else {
            report.skipped.push(format!("{shown}: no member address"));
            continue;
        };
        match c.api_import_member(unix, id, address, &m) {
            Ok(()) => report.members += 1,
            Err(e @ ApiError::Store(_)) => return Err(e),
            Err(e) => report.skipped.push(format!("{shown}: {e}")),
        }
    }
    Ok(())
}
