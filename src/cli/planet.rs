//! `ztcd planet export-key | import-key | add-root | remove-root`: sharing one planet
//! between several roots.

use std::path::PathBuf;

use lexopt::prelude::*;

use super::{DEFAULT_HOME, value};
use crate::home::RootEntry;

/// A planet-sharing command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanetCommand {
    /// Write the planet signing key to a file.
    ExportKey {
        /// Home directory.
        home: PathBuf,
        /// Where to write it.
        out: PathBuf,
    },
    /// Install a planet and its key into a home.
    ImportKey {
        /// Home directory.
        home: PathBuf,
        /// The key file.
        key: PathBuf,
        /// The planet file.
        planet: PathBuf,
        /// Replace another planet this home served.
        force: bool,
    },
    /// Add a root to the planet.
    AddRoot {
        /// Home directory.
        home: PathBuf,
        /// The root.
        root: RootEntry,
    },
    /// Remove a root from the planet.
    RemoveRoot {
        /// Home directory.
        home: PathBuf,
        /// Its address (10 hex digits).
        address: String,
    },
}

const SUBCOMMANDS: [&str; 4] = ["export-key", "import-key", "add-root", "remove-root"];

/// Takes the planet-sharing subcommand's name if the next argument is one.
pub(super) fn sub(p: &mut lexopt::Parser) -> Option<String> {
    let mut raw = p.try_raw_args()?;
    let next = raw.peek()?.to_str()?;
    if !SUBCOMMANDS.contains(&next) {
        return None;
    }
    let name = next.to_owned();
    raw.next();
    Some(name)
}

/// Parses the arguments of subcommand `sub`.
pub(super) fn parse(p: &mut lexopt::Parser, sub: &str) -> Result<PlanetCommand, String> {
    let mut home = PathBuf::from(DEFAULT_HOME);
    let (mut out, mut planet, mut positional, mut force) = (None, None, None, false);
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Long("home") => home = value(p)?.into(),
            Long("out") if sub == "export-key" => out = Some(PathBuf::from(value(p)?)),
            Long("planet") if sub == "import-key" => planet = Some(PathBuf::from(value(p)?)),
            Long("force") if sub == "import-key" => force = true,
            Value(v) if positional.is_none() && sub != "export-key" => {
                positional = Some(v.string().map_err(|e| e.to_string())?);
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    let missing = |what: &str| format!("planet {sub}: missing {what}");
    Ok(match sub {
        "export-key" => PlanetCommand::ExportKey {
            home,
            out: out.ok_or_else(|| missing("--out FILE"))?,
        },
        "import-key" => PlanetCommand::ImportKey {
            home,
            key: positional.ok_or_else(|| missing("KEYFILE"))?.into(),
            planet: planet.ok_or_else(|| missing("--planet PLANETFILE"))?,
            force,
        },
        "add-root" => PlanetCommand::AddRoot {
            home,
            root: super::root(&positional.ok_or_else(|| missing("IDENTITY@IP/PORT"))?)?,
        },
        _ => PlanetCommand::RemoveRoot {
            home,
            address: positional.ok_or_else(|| missing("ADDRESS"))?,
        },
    })
}
