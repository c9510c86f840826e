//! The home's worlds: issuing this node's planet and moon, planets listing several roots
//! that share one signing key, adopting a newer planet another root issued, and moving the
//! signing key between homes.
//!
//! Each root owns its own entry in a shared planet: it re-issues the planet (same ID, newer
//! timestamp, signed by the shared key) when its own endpoints change, keeping the other
//! roots' entries as the current version lists them.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::{Home, MOONS_DIR, PLANET, PLANET_KEY, PlanetUpdate, write_atomic};
use crate::crypto::Entropy;
use crate::crypto::c25519::{KeyPair, SecretKey};
use crate::identity::{Identity, IdentitySecret};
use crate::limits::MAX_WORLD_ROOTS;
use crate::wire::InetAddress;
use crate::wire::world::{World, WorldKind};
use crate::world::{self, EARTH_WORLD_ID};

/// One root of a planet: its identity and the endpoints clients reach it at.
pub type RootEntry = (Identity, Vec<InetAddress>);

pub(super) fn read_world(path: &Path) -> Option<World> {
    fs::read(path).ok().and_then(|b| World::from_bytes(&b).ok())
}

/// The roots a World lists.
pub fn roots_of(world: &World) -> Vec<RootEntry> {
    world
        .roots
        .iter()
        .map(|r| (Identity::from(r.identity), r.endpoints.to_vec()))
        .collect()
}

fn invalid(path: &Path, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{}: {what}", path.display()),
    )
}

impl Home {
    /// Makes sure this node's moon (world ID = its address) lists it at `endpoints`, like
    /// [`Home::update_planet`] does for the planet.
    pub fn update_moon(
        &self,
        identity: &IdentitySecret,
        key: &KeyPair,
        endpoints: &[InetAddress],
        now: u64,
    ) -> io::Result<(World, PlanetUpdate)> {
        fs::create_dir_all(self.path(MOONS_DIR))?;
        let path = self.moon_path(identity);
        let id = identity.address().to_u64();
        let roots = merged(None, identity, endpoints, &[]);
        update_world(
            WorldKind::Moon,
            &path,
            self.moon(identity),
            id,
            key,
            roots,
            now,
        )
    }

    /// Makes sure `planet` lists this node at `endpoints`, and each of `others` (added when
    /// missing; an entry the planet has is left as it is: its root keeps it up to date).
    /// Creates the planet (with a random world ID), or re-issues it with a newer timestamp
    /// signed by the kept key if that changes it, or leaves it alone.
    pub fn update_planet(
        &self,
        identity: &IdentitySecret,
        key: &KeyPair,
        endpoints: &[InetAddress],
        others: &[RootEntry],
        now: u64,
        entropy: &mut impl Entropy,
    ) -> io::Result<(World, PlanetUpdate)> {
        let current = self.planet().filter(|w| w.kind == WorldKind::Planet);
        let id = match &current {
            Some(cur) => cur.id,
            None => loop {
                let id = entropy.next_u64();
                if id != 0 && id != EARTH_WORLD_ID {
                    break id;
                }
            },
        };
        let roots = merged(current.as_ref(), identity, endpoints, others);
        let path = self.path(PLANET);
        update_world(WorldKind::Planet, &path, current, id, key, roots, now)
    }

    /// Re-issues the planet with `roots` exactly (adding or removing roots by hand).
    pub fn set_planet_roots(
        &self,
        key: &KeyPair,
        roots: Vec<RootEntry>,
        now: u64,
    ) -> io::Result<(World, PlanetUpdate)> {
        let path = self.path(PLANET);
        let current = self
            .planet()
            .filter(|w| w.kind == WorldKind::Planet)
            .ok_or_else(|| invalid(&path, "no planet yet: run ztcd once first"))?;
        if roots.is_empty() {
            return Err(invalid(&path, "a planet needs at least one root"));
        }
        let id = current.id;
        update_world(WorldKind::Planet, &path, Some(current), id, key, roots, now)
    }

    /// Stores `world` as the planet if it replaces the current one (same ID, newer, signed by
    /// the key the current one names); whether it did.
    pub fn adopt_planet(&self, world: &World) -> io::Result<bool> {
        let Some(current) = self.planet() else {
            return Ok(false);
        };
        if !world::should_replace(Some(&current), world) {
            return Ok(false);
        }
        let bytes = world
            .to_bytes()
            .map_err(|e| invalid(&self.path(PLANET), e))?;
        write_atomic(&self.path(PLANET), &bytes, 0o644)?;
        Ok(true)
    }

    /// Writes the planet signing key to `out` (mode 0600, never over an existing file).
    pub fn export_planet_key(&self, out: &Path) -> io::Result<()> {
        let mut bytes = fs::read(self.path(PLANET_KEY))?;
        let result = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(out)
            .and_then(|mut f| f.write_all(&bytes).and_then(|()| f.sync_all()));
        zeroize::Zeroize::zeroize(&mut bytes);
        result
    }

    /// Makes `planet` and its signing key (`key_bytes`, as [`Home::export_planet_key`] wrote
    /// them) this home's: it becomes one more root of that planet at its next start. A home
    /// that already serves another planet is refused unless `replace`.
    pub fn import_planet(&self, key_bytes: &[u8], planet: &World, replace: bool) -> io::Result<()> {
        let path = self.path(PLANET_KEY);
        let bad = || invalid(&path, "not a planet key (128 bytes: public and secret)");
        let secret: [u8; 64] = key_bytes
            .get(64..)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(bad)?;
        let pair = KeyPair::from_secret(SecretKey::from_bytes(secret));
        if key_bytes.len() != 128 || pair.public()[..] != key_bytes[..64] {
            return Err(bad());
        }
        let older = self
            .planet()
            .is_some_and(|c| c.id == planet.id && c.timestamp > planet.timestamp);
        if older || !world::verify(planet, &planet.update_key) {
            return Err(invalid(
                &self.path(PLANET),
                "that planet is older than this home's or its signature does not verify",
            ));
        }
        if *pair.public() != planet.update_key || planet.kind != WorldKind::Planet {
            return Err(invalid(
                &path,
                "this key does not sign that planet (export both from the same home)",
            ));
        }
        if let Some(current) = self.planet().filter(|c| c.id != planet.id && !replace) {
            return Err(invalid(
                &self.path(PLANET),
                format_args!(
                    "this home serves planet {} already; its clients would be stranded \
                     (use --force to replace it)",
                    current.id
                ),
            ));
        }
        let mut bytes = Vec::with_capacity(128);
        bytes.extend_from_slice(pair.public());
        bytes.extend_from_slice(pair.secret().as_bytes());
        let written = write_atomic(&path, &bytes, 0o600);
        zeroize::Zeroize::zeroize(&mut bytes);
        written?;
        let planet_bytes = planet.to_bytes().map_err(|e| invalid(&path, e))?;
        write_atomic(&self.path(PLANET), &planet_bytes, 0o644)
    }
}

/// The roots of the next version: the current version's, with our entry set to `endpoints`
/// (added last when missing) and each of `others` added when missing.
fn merged(
    current: Option<&World>,
    identity: &IdentitySecret,
    endpoints: &[InetAddress],
    others: &[RootEntry],
) -> Vec<RootEntry> {
    let mut roots = current.map(roots_of).unwrap_or_default();
    let ours = (*identity.identity(), endpoints.to_vec());
    match roots
        .iter_mut()
        .find(|(i, _)| i.address() == identity.address())
    {
        Some(entry) => *entry = ours,
        None => roots.push(ours),
    }
    for (other, eps) in others {
        if !roots.iter().any(|(i, _)| i.address() == other.address()) {
            roots.push((*other, eps.clone()));
        }
    }
    roots
}

/// Writes a World of `kind` listing `roots` to `path`, unless `current` already does; an
/// update keeps the ID, gets a newer timestamp and must be signed by the key `current` names.
fn update_world(
    kind: WorldKind,
    path: &Path,
    current: Option<World>,
    id: u64,
    key: &KeyPair,
    roots: Vec<RootEntry>,
    now: u64,
) -> io::Result<(World, PlanetUpdate)> {
    if roots.len() > MAX_WORLD_ROOTS {
        return Err(invalid(
            path,
            format_args!("a planet lists at most {MAX_WORLD_ROOTS} roots"),
        ));
    }
    let (timestamp, outcome) = match &current {
        Some(cur) => {
            if cur.update_key != *key.public() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} was not signed by this home's key: clients would refuse an update; move it away to start anew",
                        path.display()
                    ),
                ));
            }
            if roots_of(cur) == roots {
                return Ok((cur.clone(), PlanetUpdate::Unchanged));
            }
            (now.max(cur.timestamp + 1), PlanetUpdate::Updated)
        }
        None => (now, PlanetUpdate::Created),
    };
    let world = world::make(kind, id, timestamp, &roots, key).map_err(|e| invalid(path, e))?;
    let bytes = world.to_bytes().map_err(|e| invalid(path, e))?;
    write_atomic(path, &bytes, 0o644)?;
    Ok((world, outcome))
}
