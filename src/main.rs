//! The `ztcd` binary: parses the command line and carries out the command.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ztcd::cli::{self, Command, RunArgs};
use ztcd::crypto::hashcash::Scratch;
use ztcd::home::{self, Home, PlanetUpdate};
use ztcd::identity::{Identity, IdentitySecret};
use ztcd::runtime::{OsEntropy, daemon, log, manage, unix_millis};
use ztcd::wire::InetAddress;

fn main() -> ExitCode {
    let cmd = match cli::parse(std::env::args_os().skip(1)) {
        Ok(cmd) => cmd,
        Err(e) => {
            eprintln!("ztcd: {e}");
            return ExitCode::from(2);
        }
    };
    match run(cmd) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ztcd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Carries out one command; the exit code is success unless the command says otherwise.
fn run(cmd: Command) -> Result<ExitCode, String> {
    match cmd {
        Command::Help => print!("{}", cli::USAGE),
        Command::Version => println!("ztcd {}", env!("CARGO_PKG_VERSION")),
        Command::Run(args) => serve(args)?,
        Command::IdentityNew { out } => identity_new(out)?,
        Command::IdentityValidate { input } => return Ok(validate(&input)),
        Command::NetworkCreate {
            home,
            name,
            public,
            pools,
            routes,
            v6,
        } => {
            let n = manage::network_create(&home, &name, public, &pools, &routes, &v6)?;
            println!("{}", n["id"].as_str().unwrap_or_default());
        }
        Command::NetworkWindow {
            home,
            network,
            open,
        } => network_window(&home, &network, open)?,
        Command::MemberSet {
            home,
            network,
            address,
            authorize,
            ips,
            name,
            expires,
        } => {
            let m = manage::member_set(
                &home,
                &network,
                &address,
                authorize,
                &ips,
                name.as_deref(),
                expires,
            )?;
            print_member(&m);
        }
        Command::Backup {
            home,
            to,
            keep,
            key,
            require_mount,
        } => backup(ztcd::backup::BackupOptions {
            home,
            to,
            keep,
            key,
            require_mount,
        })?,
        Command::BackupVerify { file, key, home } => backup_verify(&file, key, &home)?,
        Command::Restore {
            file,
            home,
            key,
            force,
        } => restore(&file, &home, key, force)?,
        Command::ImportZerotier { from, home } => import_zerotier(&from, &home)?,
        Command::Moon { home, endpoints } => moon(&home, endpoints)?,
        Command::RulesCompile { file } => rules_compile(&file)?,
        Command::PlanetRoots(cmd) => println!("{}", ztcd::runtime::planet::run(cmd)?),
        Command::Planet {
            home,
            endpoints,
            out,
        } => planet(&home, &endpoints, out.as_deref())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `ztcd run`: sets the log level and runs the daemon until it stops.
fn serve(args: RunArgs) -> Result<(), String> {
    let log_level = &args.log_level;
    let level = log::parse_level(log_level)
        .ok_or_else(|| format!("--log-level {log_level:?}: expected error, warn, info or debug"))?;
    log::set_level(level);
    daemon::run(daemon::RunConfig {
        home: args.home,
        port: args.port,
        bind: args.bind,
        endpoints: args.endpoints,
        roots: args.roots,
        resolve_interval: args.resolve_interval,
        admin: daemon::AdminSettings {
            port: args.admin_port,
            bind: args.admin_bind,
            allow: args.admin_allow,
            hosts: args.admin_hosts,
        },
        backup: args.backup_to.map(|to| (to, args.backup_keep)),
        memory_budget_mib: args.memory_budget,
        require_mount: args.require_mount,
    })
    .map_err(|e| e.to_string())
}

/// `ztcd identity new`: prints a new secret identity, or writes it (and its public half
/// next to it) to `out` and prints the public identity.
fn identity_new(out: Option<PathBuf>) -> Result<(), String> {
    let id = IdentitySecret::generate(&mut OsEntropy, &mut Scratch::new());
    match out {
        None => println!("{}", id.to_secret_string()),
        Some(path) => {
            let public = path.with_extension("public");
            home::write_atomic(&path, id.to_secret_string().as_bytes(), 0o600)
                .and_then(|()| {
                    home::write_atomic(&public, id.identity().to_string().as_bytes(), 0o644)
                })
                .map_err(|e| format!("{}: {e}", path.display()))?;
            println!("{}", id.identity());
        }
    }
    Ok(())
}

/// `ztcd network window`: opens or closes a network's admission window and prints its state.
fn network_window(home: &Path, network: &str, open: Option<(u64, u64)>) -> Result<(), String> {
    let w = manage::network_window(home, network, open)?;
    match w["open"].as_bool() {
        Some(true) => println!(
            "window open until {} (unix ms), at most {} devices",
            w["closesAt"], w["maxDevices"]
        ),
        _ => println!("window closed; {} devices let in", w["admittedCount"]),
    }
    Ok(())
}

/// Prints the outcome of `ztcd member set`.
fn print_member(m: &serde_json::Value) {
    println!(
        "member {} of {}: authorized={}",
        m["address"].as_str().unwrap_or_default(),
        m["nwid"].as_str().unwrap_or_default(),
        m["authorized"]
    );
}

/// `ztcd backup`: writes one backup file and prints where and what it holds.
fn backup(opts: ztcd::backup::BackupOptions) -> Result<(), String> {
    let (path, summary) =
        ztcd::backup::backup(&opts, ztcd::runtime::unix_millis(), &mut OsEntropy)?;
    println!("{}: {summary}", path.display());
    Ok(())
}

/// Loads the backup key: `key` when given, else the one kept in `home`.
fn backup_key(key: Option<PathBuf>, home: &Path) -> Result<[u8; 32], String> {
    let key = key.unwrap_or_else(|| home.join(ztcd::backup::KEY_FILE));
    ztcd::backup::load_key(&key, false, &mut OsEntropy)
}

/// `ztcd backup verify`: checks a backup file and prints what it holds.
fn backup_verify(file: &Path, key: Option<PathBuf>, home: &Path) -> Result<(), String> {
    let key = backup_key(key, home)?;
    let (_, summary) = ztcd::backup::verify(file, &key)?;
    println!("{}: {summary}", file.display());
    Ok(())
}

/// `ztcd restore`: restores a backup file into `home`, holding its lock.
fn restore(file: &Path, home: &Path, key: Option<PathBuf>, force: bool) -> Result<(), String> {
    let _lock = hold(home, "restore")?;
    let key = backup_key(key, home)?;
    let summary = ztcd::backup::restore(file, home, &key, force)?;
    println!("restored into {}: {summary}", home.display());
    Ok(())
}

/// `ztcd import-zerotier`: imports a zerotier-one controller's networks and members into
/// `home`, holding its lock, and prints what was and was not imported.
fn import_zerotier(from: &Path, home: &Path) -> Result<(), String> {
    let _lock = hold(home, "import-zerotier")?;
    let r = ztcd::backup::import::import_zerotier(from, home, ztcd::runtime::unix_millis())?;
    println!(
        "imported {} networks and {} members into {}",
        r.networks,
        r.members,
        home.display()
    );
    for s in &r.skipped {
        println!("not imported: {s}");
    }
    Ok(())
}

/// `ztcd moon`: creates or updates this node's moon (endpoints from the planet when none
/// are given) and prints how clients orbit it.
fn moon(home: &Path, endpoints: Vec<InetAddress>) -> Result<(), String> {
    let _lock = hold(home, "moon")?;
    let h = Home::open(home).map_err(|e| format!("{}: {e}", home.display()))?;
    let (id, _) = h
        .load_or_create_identity(&mut OsEntropy)
        .map_err(|e| e.to_string())?;
    let endpoints = if endpoints.is_empty() {
        h.planet()
            .and_then(|p| ztcd::world::root_endpoints(&p, id.address()))
            .ok_or("moon: no --endpoint given and no planet lists this node")?
    } else {
        endpoints
    };
    let key = h
        .load_or_create_moon_key(&mut OsEntropy)
        .map_err(|e| e.to_string())?;
    let (moon, outcome) = h
        .update_moon(&id, &key, &endpoints, unix_millis())
        .map_err(|e| e.to_string())?;
    println!(
        "moon {}: {} (timestamp {})\nclients: zerotier-cli orbit {:010x} {:010x}",
        outcome_word(outcome),
        h.moon_path(&id).display(),
        moon.timestamp,
        moon.id,
        moon.id
    );
    Ok(())
}

/// `ztcd rules compile`: compiles a rules source file (`-` for stdin) and prints the
/// API's rule objects.
fn rules_compile(file: &Path) -> Result<(), String> {
    let src = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| e.to_string())?
    } else {
        std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?
    };
    let c = ztcd::controller::rules_lang::compile(&src)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let text = serde_json::to_string_pretty(&c.to_json()).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

/// `ztcd planet`: creates or updates the planet with this node as its root, prints it and
/// also writes it to `out` when given.
fn planet(home: &Path, endpoints: &[InetAddress], out: Option<&Path>) -> Result<(), String> {
    let _lock = hold(home, "planet")?;
    let h = Home::open(home).map_err(|e| format!("{}: {e}", home.display()))?;
    let (id, created) = h
        .load_or_create_identity(&mut OsEntropy)
        .map_err(|e| e.to_string())?;
    if created {
        eprintln!(
            "ztcd: created identity {} in {}",
            id.address(),
            home.display()
        );
    }
    let key = h
        .load_or_create_planet_key(&mut OsEntropy)
        .map_err(|e| e.to_string())?;
    let (planet, outcome) = h
        .update_planet(&id, &key, endpoints, &[], unix_millis(), &mut OsEntropy)
        .map_err(|e| e.to_string())?;
    let verb = outcome_word(outcome);
    println!(
        "planet {verb}: {} (world id {}, timestamp {}, root {})",
        h.path(home::PLANET).display(),
        planet.id,
        planet.timestamp,
        id.address()
    );
    if let Some(out) = out {
        let bytes = planet.to_bytes().map_err(|e| e.to_string())?;
        home::write_atomic(out, &bytes, 0o644).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    Ok(())
}

/// The word printed for how a planet or moon update went.
fn outcome_word(outcome: PlanetUpdate) -> &'static str {
    match outcome {
        PlanetUpdate::Created => "created",
        PlanetUpdate::Updated => "updated",
        PlanetUpdate::Unchanged => "unchanged",
    }
}

/// Validates an identity given as text or as a file path; prints the verdict.
fn validate(input: &str) -> ExitCode {
    let text = if Path::new(input).is_file() {
        match std::fs::read_to_string(input) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("invalid: {input}: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        input.to_owned()
    };
    let text = text.trim();
    let checked = text.parse::<Identity>().and_then(|id| {
        if text.split(':').count() == 4 {
            IdentitySecret::parse(text)?;
        }
        id.validate(&mut Scratch::new()).map(|()| id)
    });
    match checked {
        Ok(id) => {
            let _ = writeln!(std::io::stdout(), "valid: {}", id.address());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("invalid: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Takes `home`'s lock for a command that writes it (refused while a daemon owns the home).
fn hold(home: &Path, what: &str) -> Result<ztcd::home::lock::HomeLock, String> {
    // A restore cut short is finished or undone before the home is (re)created.
    ztcd::backup::restore::recover(home)?;
    let h = Home::open(home).map_err(|e| format!("{}: {e}", home.display()))?;
    ztcd::home::lock::lock_exclusive(&h, what)
}
