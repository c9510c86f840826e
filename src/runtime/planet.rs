//! Carrying out `ztcd planet export-key | import-key | add-root | remove-root`.

use std::path::Path;

use crate::cli::PlanetCommand;
use crate::home::{Home, PlanetUpdate, lock, roots_of};
use crate::wire::world::World;

/// Carries out `cmd`; returns what to print.
pub fn run(cmd: PlanetCommand) -> Result<String, String> {
    match cmd {
        PlanetCommand::ExportKey { home, out } => {
            let h = open(&home)?;
            h.export_planet_key(&out)
                .map_err(|e| format!("{}: {e}", out.display()))?;
            Ok(format!(
                "planet key written to {} (mode 0600): move it to the other root over a \
                 trusted channel and delete this copy",
                out.display()
            ))
        }
        PlanetCommand::ImportKey {
            home,
            key,
            planet,
            force,
        } => {
            let h = open(&home)?;
            let _lock = lock::lock_exclusive(&h, "planet import-key")?;
            let mut key_bytes =
                std::fs::read(&key).map_err(|e| format!("{}: {e}", key.display()))?;
            let world = read_planet(&planet)?;
            let result = h.import_planet(&key_bytes, &world, force);
            zeroize::Zeroize::zeroize(&mut key_bytes);
            result.map_err(|e| e.to_string())?;
            Ok(format!(
                "planet {} and its key installed in {}: the next `ztcd run --endpoint ...` adds \
                 this node to it",
                world.id,
                home.display()
            ))
        }
        PlanetCommand::AddRoot { home, root } => edit(&home, "planet add-root", |roots| {
            let address = root.0.address();
            match roots.iter_mut().find(|(i, _)| i.address() == address) {
                Some(entry) => *entry = root,
                None => roots.push(root),
            }
            Ok(())
        }),
        PlanetCommand::RemoveRoot { home, address } => edit(&home, "planet remove-root", |roots| {
            let before = roots.len();
            roots.retain(|(i, _)| i.address().to_string() != address);
            if roots.len() == before {
                return Err(format!("the planet lists no root {address}"));
            }
            Ok(())
        }),
    }
}

fn open(home: &Path) -> Result<Home, String> {
    crate::backup::restore::recover(home)?;
    Home::open(home).map_err(|e| format!("{}: {e}", home.display()))
}

fn read_planet(path: &Path) -> Result<World, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    World::from_bytes(&bytes).map_err(|e| format!("{}: not a planet: {e}", path.display()))
}

/// Re-issues the planet with its roots changed by `change` (the daemon must be stopped: it
/// owns the planet while it runs).
fn edit(
    home: &Path,
    what: &str,
    change: impl FnOnce(&mut Vec<crate::home::RootEntry>) -> Result<(), String>,
) -> Result<String, String> {
    let h = open(home)?;
    let _lock = lock::lock_exclusive(&h, what)?;
    let current = h
        .planet()
        .ok_or_else(|| format!("{}: no planet yet: run ztcd once first", home.display()))?;
    let mut roots = roots_of(&current);
    change(&mut roots)?;
    let key = h
        .load_or_create_planet_key(&mut super::OsEntropy)
        .map_err(|e| e.to_string())?;
    let (planet, outcome) = h
        .set_planet_roots(&key, roots, super::unix_millis())
        .map_err(|e| e.to_string())?;
    let listed: Vec<String> = planet
        .roots
        .iter()
        .map(|r| r.identity.address.to_string())
        .collect();
    Ok(format!(
        "planet {} {} (timestamp {}): roots {}",
        planet.id,
        if outcome == PlanetUpdate::Unchanged {
            "unchanged"
        } else {
            "re-issued"
        },
        planet.timestamp,
        listed.join(" ")
    ))
}
