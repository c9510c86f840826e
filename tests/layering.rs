//! The architecture as a test: sans-IO layers never touch clocks, sockets, files or OS
//! randomness, and imports only point down the layer order.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut out = Vec::new();
    for entry in fs::read_dir(path).expect("source dir") {
        let p = entry.expect("dir entry").path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    out
}

/// Source text without the `#[cfg(test)]` module at the bottom.
fn non_test_source(p: &Path) -> String {
    let text = fs::read_to_string(p).expect("source file");
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

const BANNED_IO: &[&str] = &[
    "smol::",
    "UdpSocket",
    "Instant::now",
    "SystemTime::now",
    "getrandom",
    "OsRng",
    "thread::spawn",
    "std::fs",
    "rusqlite",
    "tiny_http",
];

/// (layer path, crate modules it must not import)
const LAYERS: &[(&str, &[&str])] = &[
    (
        "src/wire",
        &["crypto", "identity", "node", "runtime", "world", "cli"],
    ),
    (
        "src/crypto",
        &["wire", "identity", "node", "runtime", "world", "cli"],
    ),
    ("src/identity.rs", &["node", "runtime", "world", "cli"]),
    ("src/world.rs", &["node", "runtime", "cli"]),
    (
        "src/node",
        &["runtime", "cli", "controller", "admin", "backup", "home"],
    ),
    // The node and the controller joined: no I/O of its own (the controller's store is
    // reached only through the controller).
    (
        "src/serve.rs",
        &["runtime", "cli", "admin", "backup", "home"],
    ),
];

/// (module path, crate modules it must not import): the I/O layers, which may touch files
/// and sockets but still import only downwards (the runtime drives them all).
const IO_LAYERS: &[(&str, &[&str])] = &[
    (
        "src/controller",
        &["node", "runtime", "admin", "backup", "home", "cli"],
    ),
    (
        "src/home",
        &["node", "runtime", "admin", "backup", "controller", "cli"],
    ),
    ("src/admin", &["node", "runtime", "backup", "home", "cli"]),
    ("src/backup", &["node", "runtime", "admin", "cli"]),
];

/// Every rule broken by the files of `layers`: a banned I/O call from `banned`, or an import
/// of a forbidden module.
fn violations(layers: &[(&str, &[&str])], banned: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for (layer, forbidden) in layers {
        for file in rust_files(&root.join(layer)) {
            let src = non_test_source(&file);
            for b in banned {
                if src.contains(b) {
                    out.push(format!("{}: uses {b}", file.display()));
                }
            }
            for module in *forbidden {
                for pattern in [format!("crate::{module}::"), format!("crate::{module};")] {
                    if src.contains(&pattern) {
                        out.push(format!("{}: imports crate::{module}", file.display()));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn io_layers_import_downwards() {
    let v = violations(IO_LAYERS, &[]);
    assert!(v.is_empty(), "layering violations:\n{}", v.join("\n"));
}

#[test]
fn sans_io_layers_do_no_io_and_import_downwards() {
    let v = violations(LAYERS, BANNED_IO);
    assert!(v.is_empty(), "layering violations:\n{}", v.join("\n"));
}
