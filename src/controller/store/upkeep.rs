//! The store's own upkeep: controller settings that outlive a restart, the schema version,
//! change detection for other writers, and integrity checks.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

impl Store {
    /// A stored setting.
    pub fn setting(&self, key: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    /// Stores a setting.
    pub fn set_setting(&self, key: &str, value: i64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![key, value])?;
        Ok(())
    }

    /// SQLite's `PRAGMA quick_check`: `Ok` when the file is sound, else what it found (the
    /// first few problems).
    pub fn quick_check(&self) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare("PRAGMA quick_check(5)")?;
        let found = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        match found.as_slice() {
            [ok] if ok == "ok" => Ok(()),
            _ => Err(StoreError::Refused(format!(
                "the database file is corrupt ({}): restore a backup (ztcd restore)",
                found.join("; ")
            ))),
        }
    }

    /// Schema version.
    pub fn schema_version(&self) -> Result<usize, StoreError> {
        let v: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        Ok(usize::try_from(v).unwrap_or(0))
    }

    /// Changes whenever another connection commits (`PRAGMA data_version`).
    pub fn data_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    /// `PRAGMA integrity_check` result (`"ok"` when sound).
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }
}
