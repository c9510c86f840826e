//! The home directory: identity files, the planet signing key and the planet file.
//!
//! | file | content | mode |
//! |---|---|---|
//! | `identity.secret` | `address:0:public:secret` (as zerotier-one writes it) | 0600 |
//! | `identity.public` | `address:0:public` | 0644 |
//! | `planet.c25519` | the World signing key: public(64) ‖ secret(64), binary (mkworld's format) | 0600 |
//! | `planet` | the signed planet listing this node | 0644 |
//!
//! Every write goes to a temporary file that is fsynced, renamed over the target, and the
//! directory fsynced, so a power cut leaves the old or the new file, never a torn one.
//!
//! Shared by the runtime and the backup commands (restore, import), with the lock that makes
//! one process the owner of a home ([`lock`]).

pub mod lock;
mod planet;

use planet::read_world;
pub use planet::{RootEntry, roots_of};

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::crypto::Entropy;
use crate::crypto::c25519::{KeyPair, SecretKey};
use crate::crypto::hashcash::Scratch;
use crate::identity::IdentitySecret;
use crate::wire::world::{World, WorldKind};

/// File name of the secret identity.
pub const IDENTITY_SECRET: &str = "identity.secret";
/// File name of the public identity.
pub const IDENTITY_PUBLIC: &str = "identity.public";
/// File name of the World signing key.
pub const PLANET_KEY: &str = "planet.c25519";
/// File name of the planet.
pub const PLANET: &str = "planet";
/// The admin API token file (zerotier-one's name).
pub const AUTHTOKEN: &str = "authtoken.secret";
/// File name of the moon signing key.
pub const MOON_KEY: &str = "moon.c25519";
/// Directory for moon files, as zerotier-one names it.
pub const MOONS_DIR: &str = "moons.d";

/// What [`Home::update_planet`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanetUpdate {
    /// No planet existed; a new one was written.
    Created,
    /// The endpoints changed; a newer version signed by the kept key was written.
    Updated,
    /// The existing planet already lists these endpoints.
    Unchanged,
}

/// A ztcd home directory.
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
}

impl Home {
    /// Opens the home directory, creating it (mode 0700) if needed, but never its parent: a
    /// missing parent is a stick that is not mounted or a mistyped path, not a place to make a
    /// new identity.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        if !dir.exists() {
            let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
            if let Some(p) = parent.filter(|p| !p.is_dir()) {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "{}: {} does not exist (is the USB stick mounted? is the path right?)",
                        dir.display(),
                        p.display()
                    ),
                ));
            }
            fs::create_dir(&dir)?;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        }
        Ok(Self { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of a file in the home.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Loads `identity.secret` (re-creating a missing or stale `identity.public` from it), or
    /// generates an identity and writes both identity files. Returns the identity and whether
    /// it was created. A home whose database exists without an identity gets none: a new one
    /// would not own its networks (a partial copy or restore).
    pub fn load_or_create_identity(
        &self,
        entropy: &mut impl Entropy,
    ) -> io::Result<(IdentitySecret, bool)> {
        let path = self.path(IDENTITY_SECRET);
        match fs::read_to_string(&path) {
            Ok(text) => {
                let id = IdentitySecret::parse(&text).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    )
                })?;
                let public = id.identity().to_string();
                let public_path = self.path(IDENTITY_PUBLIC);
                if fs::read_to_string(&public_path).map_or(true, |t| t.trim() != public) {
                    write_atomic(&public_path, public.as_bytes(), 0o644)?;
                }
                Ok((id, false))
            }
            Err(e)
                if e.kind() == io::ErrorKind::NotFound && self.path("controller.db").exists() =>
            {
                Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "{} is missing but controller.db is here: a new identity would not own \
                         its networks; restore identity.secret (or the whole home from a backup)",
                        path.display()
                    ),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let id = IdentitySecret::generate(entropy, &mut Scratch::new());
                write_atomic(&path, id.to_secret_string().as_bytes(), 0o600)?;
                write_atomic(
                    &self.path(IDENTITY_PUBLIC),
                    id.identity().to_string().as_bytes(),
                    0o644,
                )?;
                Ok((id, true))
            }
            Err(e) => Err(e),
        }
    }

    /// Loads `authtoken.secret` (surrounding whitespace trimmed), or creates it: 24 random
    /// characters from `[a-z0-9]`, mode 0600, no trailing newline (management UIs read it raw).
    pub fn load_or_create_authtoken(&self, entropy: &mut impl Entropy) -> io::Result<String> {
        let path = self.path(AUTHTOKEN);
        match fs::read_to_string(&path) {
            Ok(text) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is empty", path.display()),
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
                let mut token = String::with_capacity(24);
                while token.len() < 24 {
                    // Rejection sampling keeps every character equally likely.
                    let b = (entropy.next_u64() & 0xff) as usize;
                    if b < 252 {
                        token.push(char::from(ALPHABET[b % ALPHABET.len()]));
                    }
                }
                write_atomic(&path, token.as_bytes(), 0o600)?;
                Ok(token)
            }
            Err(e) => Err(e),
        }
    }

    /// Loads the planet signing key, or creates one (mode 0600).
    pub fn load_or_create_planet_key(&self, entropy: &mut impl Entropy) -> io::Result<KeyPair> {
        self.load_or_create_key(PLANET_KEY, entropy)
    }

    /// Loads the moon signing key, or creates one (mode 0600).
    pub fn load_or_create_moon_key(&self, entropy: &mut impl Entropy) -> io::Result<KeyPair> {
        self.load_or_create_key(MOON_KEY, entropy)
    }

    fn load_or_create_key(&self, name: &str, entropy: &mut impl Entropy) -> io::Result<KeyPair> {
        let path = self.path(name);
        match fs::read(&path) {
            Ok(bytes) => {
                let bad = || {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: not a 128-byte public+secret key pair", path.display()),
                    )
                };
                let secret: [u8; 64] = bytes
                    .get(64..)
                    .and_then(|s| s.try_into().ok())
                    .ok_or_else(bad)?;
                let pair = KeyPair::from_secret(SecretKey::from_bytes(secret));
                if pair.public()[..] != bytes[..64] {
                    return Err(bad());
                }
                Ok(pair)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let pair = KeyPair::generate(entropy);
                let mut bytes = Vec::with_capacity(128);
                bytes.extend_from_slice(pair.public());
                bytes.extend_from_slice(pair.secret().as_bytes());
                write_atomic(&path, &bytes, 0o600)?;
                zeroize::Zeroize::zeroize(&mut bytes);
                Ok(pair)
            }
            Err(e) => Err(e),
        }
    }

    /// The current planet, if the home has a readable one.
    pub fn planet(&self) -> Option<World> {
        read_world(&self.path(PLANET))
    }

    /// Path of this node's moon file: `moons.d/<16-hex world id>.moon`.
    pub fn moon_path(&self, identity: &IdentitySecret) -> PathBuf {
        self.path(MOONS_DIR)
            .join(format!("{:016x}.moon", identity.address().to_u64()))
    }

    /// This node's moon, if the home has one.
    pub fn moon(&self, identity: &IdentitySecret) -> Option<World> {
        read_world(&self.moon_path(identity)).filter(|w| w.kind == WorldKind::Moon)
    }
}

/// Writes `data` to `path` atomically with the given mode: temporary file, fsync, rename,
/// directory fsync.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("no file name"))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let _ = fs::remove_file(&tmp);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))?;
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

/// Fault injection for the fault suite: a process whose `ZTCD_CRASH_AT` names `point` dies
/// there at once, as if killed, so tests can prove each such point leaves nothing half-done.
pub fn crash_point(point: &str) {
    if std::env::var_os("ZTCD_CRASH_AT").is_some_and(|v| v == point) {
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SeededEntropy;
    use crate::wire::InetAddress;
    use crate::world;

    fn temp_home(name: &str) -> Home {
        let dir = std::env::temp_dir().join(format!("ztcd-home-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        Home::open(dir).unwrap()
    }

    #[test]
    fn identity_and_planet_lifecycle() {
        let home = temp_home("lifecycle");
        let mut rng = SeededEntropy::new(11);
        let (id, created) = home.load_or_create_identity(&mut rng).unwrap();
        assert!(created);
        let mode = fs::metadata(home.path(IDENTITY_SECRET))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (again, created) = home.load_or_create_identity(&mut rng).unwrap();
        assert!(!created);
        assert_eq!(again.identity(), id.identity());

        let key = home.load_or_create_planet_key(&mut rng).unwrap();
        let mode = fs::metadata(home.path(PLANET_KEY))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let ep1: InetAddress = "192.0.2.1/9993".parse().unwrap();
        let (p1, o1) = home
            .update_planet(&id, &key, &[ep1], &[], 1000, &mut rng)
            .unwrap();
        assert_eq!(o1, PlanetUpdate::Created);
        let (_, o2) = home
            .update_planet(&id, &key, &[ep1], &[], 2000, &mut rng)
            .unwrap();
        assert_eq!(o2, PlanetUpdate::Unchanged);
        let key2 = home.load_or_create_planet_key(&mut rng).unwrap();
        let ep2: InetAddress = "192.0.2.2/9993".parse().unwrap();
        let (p3, o3) = home
            .update_planet(&id, &key2, &[ep2], &[], 500, &mut rng)
            .unwrap();
        assert_eq!(o3, PlanetUpdate::Updated);
        assert_eq!((p3.id, p3.timestamp), (p1.id, 1001));
        assert!(world::should_replace(Some(&p1), &p3));
        assert_eq!(home.planet(), Some(p3));
        fs::remove_dir_all(home.dir()).unwrap();
    }
}
