//! Minimal leveled logging to stderr, one line per message, in a form syslog, procd and
//! journald keep (`ztcd: <level>: <message>`). Secrets are never passed to it.

use std::sync::atomic::{AtomicU8, Ordering};

/// Message severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Failures.
    Error = 0,
    /// Unexpected but handled.
    Warn = 1,
    /// Start, stop, configuration.
    Info = 2,
    /// Per-event detail.
    Debug = 3,
}

static MAX: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// Sets the most detailed level printed.
pub fn set_level(level: Level) {
    MAX.store(level as u8, Ordering::Relaxed);
}

/// Parses `error|warn|info|debug`.
pub fn parse_level(s: &str) -> Option<Level> {
    match s {
        "error" => Some(Level::Error),
        "warn" => Some(Level::Warn),
        "info" => Some(Level::Info),
        "debug" => Some(Level::Debug),
        _ => None,
    }
}

/// Whether `level` is printed.
pub fn enabled(level: Level) -> bool {
    level as u8 <= MAX.load(Ordering::Relaxed)
}

/// Prints one line if `level` is enabled.
pub fn log(level: Level, msg: std::fmt::Arguments<'_>) {
    if enabled(level) {
        let tag = match level {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        };
        eprintln!("ztcd: {tag}: {msg}");
    }
}

/// Logs at info level.
#[macro_export]
macro_rules! info {
    ($($t:tt)*) => { $crate::runtime::log::log($crate::runtime::log::Level::Info, format_args!($($t)*)) };
}

/// Logs at warn level.
#[macro_export]
macro_rules! warn {
    ($($t:tt)*) => { $crate::runtime::log::log($crate::runtime::log::Level::Warn, format_args!($($t)*)) };
}

/// Logs at debug level.
#[macro_export]
macro_rules! debug {
    ($($t:tt)*) => { $crate::runtime::log::log($crate::runtime::log::Level::Debug, format_args!($($t)*)) };
}
