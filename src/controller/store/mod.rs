//! The controller's SQLite store (`controller.db`): the only module that imports rusqlite.
//!
//! Opened with WAL journaling (`sqlite3 controller.db .dump` and backups work while ztcd
//! runs), `synchronous=FULL` (an acknowledged write survives a power cut), foreign keys on and a
//! busy timeout. The schema is the ordered [`MIGRATIONS`] list; `PRAGMA user_version` records
//! how many have run. Multi-row writes run in one transaction.

use std::path::Path;

mod upkeep;
mod window;

pub use window::{Admission, MAX_LISTED_ADMISSIONS, Window};

use rusqlite::{Connection, OptionalExtension, Row, named_params, params};

use super::model::{Member, Network};
use crate::wire::{Address, NetworkId};

/// Store errors.
#[derive(Debug)]
pub enum StoreError {
    /// SQLite failed.
    Sqlite(rusqlite::Error),
    /// A stored value does not parse (a hand-edited database?).
    Corrupt(String),
    /// Not attempted: this batch could not open its transaction a moment ago.
    Unavailable,
    /// The database is not one this ztcd may use: the text says why and what to do.
    Refused(String),
}

impl StoreError {
    /// Another process holds the database's write lock (it may be retried later).
    pub fn is_locked(&self) -> bool {
        matches!(
            self.code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }

    /// The disk (of the database, or of a snapshot being written) is full.
    pub fn is_full(&self) -> bool {
        self.code() == Some(rusqlite::ErrorCode::DiskFull)
    }

    fn code(&self) -> Option<rusqlite::ErrorCode> {
        match self {
            Self::Sqlite(e) => e.sqlite_error_code(),
            Self::Corrupt(_) | Self::Unavailable | Self::Refused(_) => None,
        }
    }

    /// The cause in words an administrator acts on, when SQLite names one.
    fn cause(&self) -> Option<&'static str> {
        use rusqlite::ErrorCode as C;
        Some(match self.code()? {
            C::DatabaseBusy | C::DatabaseLocked => "database is locked by another process",
            C::DiskFull => "disk is full",
            C::ReadOnly => "database is read-only (read-only file system or file mode)",
            C::DatabaseCorrupt | C::NotADatabase => {
                "database file is corrupt: restore a backup (ztcd restore)"
            }
            C::CannotOpen => "database file cannot be opened",
            _ => return None,
        })
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self, self.cause()) {
            (Self::Sqlite(e), Some(cause)) => write!(f, "{cause} ({e})"),
            (Self::Sqlite(e), None) => write!(f, "database: {e}"),
            (Self::Corrupt(what), _) => write!(f, "database holds an invalid value: {what}"),
            (Self::Unavailable, _) => f.write_str("database unavailable for this batch"),
            (Self::Refused(why), _) => f.write_str(why),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

/// The schema, one migration per entry, applied in order.
pub const MIGRATIONS: &[&str] = &[
    // 1: networks and members.
    "CREATE TABLE networks (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        private INTEGER NOT NULL DEFAULT 1,
        enable_broadcast INTEGER NOT NULL DEFAULT 1,
        mtu INTEGER NOT NULL DEFAULT 2800,
        multicast_limit INTEGER NOT NULL DEFAULT 32,
        v4_assign_zt INTEGER NOT NULL DEFAULT 0,
        v6_assign_zt INTEGER NOT NULL DEFAULT 0,
        v6_assign_rfc4193 INTEGER NOT NULL DEFAULT 0,
        v6_assign_6plane INTEGER NOT NULL DEFAULT 0,
        routes TEXT NOT NULL DEFAULT '[]',
        pools TEXT NOT NULL DEFAULT '[]',
        rules TEXT NOT NULL DEFAULT '[]',
        capabilities TEXT NOT NULL DEFAULT '[]',
        tags TEXT NOT NULL DEFAULT '[]',
        dns TEXT,
        revision INTEGER NOT NULL DEFAULT 1,
        creation_time INTEGER NOT NULL
    );
    CREATE TABLE members (
        network_id INTEGER NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
        address INTEGER NOT NULL,
        identity TEXT,
        name TEXT NOT NULL DEFAULT '',
        authorized INTEGER NOT NULL DEFAULT 0,
        active_bridge INTEGER NOT NULL DEFAULT 0,
        no_auto_assign_ips INTEGER NOT NULL DEFAULT 0,
        ip_assignments TEXT NOT NULL DEFAULT '[]',
        revision INTEGER NOT NULL DEFAULT 1,
        creation_time INTEGER NOT NULL,
        last_authorized_time INTEGER NOT NULL DEFAULT 0,
        last_deauthorized_time INTEGER NOT NULL DEFAULT 0,
        version TEXT,
        last_seen INTEGER NOT NULL DEFAULT 0,
        physical_address TEXT,
        banned INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (network_id, address)
    ) WITHOUT ROWID;",
    // 2: member capabilities and tags.
    "ALTER TABLE members ADD COLUMN capabilities TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE members ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';",
    // 3: a network's active bridges without reading all of its members (every new member's
    // configuration lists them).
    "CREATE INDEX members_active_bridges ON members(network_id) WHERE active_bridge = 1;",
    // 4: controller state that outlives a restart (the newest COM timestamp issued).
    "CREATE TABLE settings (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;",
    // 5: authorizations that end by themselves, found without reading every member.
    "ALTER TABLE members ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX members_expiry ON members(expires_at) WHERE expires_at > 0;",
    // 6: approval windows and the devices they let in (`window`).
    "CREATE TABLE approval_windows (
        network_id INTEGER PRIMARY KEY REFERENCES networks(id) ON DELETE CASCADE,
        opened_at INTEGER NOT NULL,
        closes_at INTEGER NOT NULL,
        max_devices INTEGER NOT NULL,
        admitted INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE window_admissions (
        network_id INTEGER NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
        address INTEGER NOT NULL,
        at INTEGER NOT NULL,
        physical_address TEXT,
        PRIMARY KEY (network_id, address)
    ) WITHOUT ROWID;",
    // 7: the rules source the UIs edit, kept beside the compiled rules.
    "ALTER TABLE networks ADD COLUMN rules_source TEXT NOT NULL DEFAULT '';",
    // 8: the administrator's notes on a member.
    "ALTER TABLE members ADD COLUMN description TEXT NOT NULL DEFAULT '';",
    // 9: network-specific relays (a JSON list of addresses).
    "ALTER TABLE networks ADD COLUMN relays TEXT NOT NULL DEFAULT '[]';",
];

/// The open database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

const NETWORK_COLUMNS: &str = "id, name, private, enable_broadcast, mtu, multicast_limit, v4_assign_zt, \
     v6_assign_zt, v6_assign_rfc4193, v6_assign_6plane, routes, pools, rules, capabilities, tags, dns, \
     revision, creation_time, rules_source, relays";

const MEMBER_COLUMNS: &str = "network_id, address, identity, name, authorized, active_bridge, \
     no_auto_assign_ips, ip_assignments, revision, creation_time, last_authorized_time, \
     last_deauthorized_time, version, last_seen, physical_address, banned, capabilities, tags, \
     expires_at, description";

/// The position of `name` in the comma-separated column list `list`, found at compile time
/// through [`col!`] (a name missing from the list fails the build): rows are read by column
/// name at no cost per row.
const fn column(list: &str, name: &str) -> usize {
    let (l, n) = (list.as_bytes(), name.as_bytes());
    let (mut i, mut index) = (0, 0);
    while i < l.len() {
        while i < l.len() && l[i] == b' ' {
            i += 1;
        }
        let start = i;
        while i < l.len() && l[i] != b',' {
            i += 1;
        }
        let mut end = i;
        while end > start && l[end - 1] == b' ' {
            end -= 1;
        }
        if end - start == n.len() {
            let mut j = 0;
            while j < n.len() && l[start + j] == n[j] {
                j += 1;
            }
            if j == n.len() {
                return index;
            }
        }
        index += 1;
        i += 1;
    }
    panic!("no such column")
}

/// The index of a named column of a list, as a constant.
macro_rules! col {
    ($list:expr, $name:literal) => {{
        const I: usize = column($list, $name);
        I
    }};
}

fn json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, rusqlite::Error> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("{what}: {e}").into(),
        )
    })
}

/// A list column; most hold an empty list, which skips the parser.
fn json_list<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> Result<Vec<T>, rusqlite::Error> {
    if text == "[]" {
        return Ok(Vec::new());
    }
    json(text, what)
}

fn network_from_row(row: &Row<'_>) -> Result<Network, rusqlite::Error> {
    let dns: Option<String> = row.get(col!(NETWORK_COLUMNS, "dns"))?;
    Ok(Network {
        id: NetworkId(row.get::<_, i64>(col!(NETWORK_COLUMNS, "id"))? as u64),
        name: row.get(col!(NETWORK_COLUMNS, "name"))?,
        private: row.get(col!(NETWORK_COLUMNS, "private"))?,
        enable_broadcast: row.get(col!(NETWORK_COLUMNS, "enable_broadcast"))?,
        mtu: row.get(col!(NETWORK_COLUMNS, "mtu"))?,
        multicast_limit: row.get(col!(NETWORK_COLUMNS, "multicast_limit"))?,
        v4_assign_zt: row.get(col!(NETWORK_COLUMNS, "v4_assign_zt"))?,
        v6_assign_zt: row.get(col!(NETWORK_COLUMNS, "v6_assign_zt"))?,
        v6_assign_rfc4193: row.get(col!(NETWORK_COLUMNS, "v6_assign_rfc4193"))?,
        v6_assign_6plane: row.get(col!(NETWORK_COLUMNS, "v6_assign_6plane"))?,
        routes: json(
            &row.get::<_, String>(col!(NETWORK_COLUMNS, "routes"))?,
            "routes",
        )?,
        ip_assignment_pools: json(
            &row.get::<_, String>(col!(NETWORK_COLUMNS, "pools"))?,
            "pools",
        )?,
        rules: json(
            &row.get::<_, String>(col!(NETWORK_COLUMNS, "rules"))?,
            "rules",
        )?,
        capabilities: json(
            &row.get::<_, String>(col!(NETWORK_COLUMNS, "capabilities"))?,
            "capabilities",
        )?,
        tags: json(
            &row.get::<_, String>(col!(NETWORK_COLUMNS, "tags"))?,
            "tags",
        )?,
        dns: dns.map(|d| json(&d, "dns")).transpose()?,
        revision: row.get::<_, i64>(col!(NETWORK_COLUMNS, "revision"))? as u64,
        creation_time: row.get::<_, i64>(col!(NETWORK_COLUMNS, "creation_time"))? as u64,
        rules_source: row.get(col!(NETWORK_COLUMNS, "rules_source"))?,
        relays: json_list::<u64>(
            &row.get::<_, String>(col!(NETWORK_COLUMNS, "relays"))?,
            "relays",
        )?
        .into_iter()
        .map(Address::new)
        .collect(),
    })
}

fn member_from_row(row: &Row<'_>) -> Result<Member, rusqlite::Error> {
    let identity: Option<String> = row.get(col!(MEMBER_COLUMNS, "identity"))?;
    let ips: Vec<String> = json_list(
        &row.get::<_, String>(col!(MEMBER_COLUMNS, "ip_assignments"))?,
        "ip_assignments",
    )?;
    let version: Option<String> = row.get(col!(MEMBER_COLUMNS, "version"))?;
    Ok(Member {
        network_id: NetworkId(row.get::<_, i64>(col!(MEMBER_COLUMNS, "network_id"))? as u64),
        address: Address::new(row.get::<_, i64>(col!(MEMBER_COLUMNS, "address"))? as u64),
        identity: identity.and_then(|t| t.parse().ok()),
        name: row.get(col!(MEMBER_COLUMNS, "name"))?,
        authorized: row.get(col!(MEMBER_COLUMNS, "authorized"))?,
        active_bridge: row.get(col!(MEMBER_COLUMNS, "active_bridge"))?,
        no_auto_assign_ips: row.get(col!(MEMBER_COLUMNS, "no_auto_assign_ips"))?,
        ip_assignments: ips.iter().filter_map(|s| s.parse().ok()).collect(),
        revision: row.get::<_, i64>(col!(MEMBER_COLUMNS, "revision"))? as u64,
        creation_time: row.get::<_, i64>(col!(MEMBER_COLUMNS, "creation_time"))? as u64,
        last_authorized_time: row.get::<_, i64>(col!(MEMBER_COLUMNS, "last_authorized_time"))?
            as u64,
        last_deauthorized_time: row.get::<_, i64>(col!(MEMBER_COLUMNS, "last_deauthorized_time"))?
            as u64,
        version: version.and_then(|v| serde_json::from_str(&v).ok()),
        last_seen: row.get::<_, i64>(col!(MEMBER_COLUMNS, "last_seen"))? as u64,
        physical_address: row.get(col!(MEMBER_COLUMNS, "physical_address"))?,
        banned: row.get(col!(MEMBER_COLUMNS, "banned"))?,
        capabilities: json_list(
            &row.get::<_, String>(col!(MEMBER_COLUMNS, "capabilities"))?,
            "capabilities",
        )?,
        tags: json_list(&row.get::<_, String>(col!(MEMBER_COLUMNS, "tags"))?, "tags")?,
        expires_at: row.get::<_, i64>(col!(MEMBER_COLUMNS, "expires_at"))? as u64,
        description: row.get(col!(MEMBER_COLUMNS, "description"))?,
    })
}

/// `:a, :b, ...`: the named parameters of an insert of `columns`.
fn named_list(columns: &str) -> String {
    columns
        .split(',')
        .map(|c| format!(":{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `a = excluded.a, b = excluded.b, ...` for an upsert of `columns`.
fn update_list(columns: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{0} = excluded.{0}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    // unwrap safety: these types always serialize.
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

impl Store {
    /// Opens (creating and migrating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::setup(Connection::open(path)?)
    }

    /// Writes a consistent copy of the database at `db` to `out` (`VACUUM INTO`: one read
    /// transaction, safe while another process writes). Runs no migrations on `db`.
    pub fn snapshot(db: &Path, out: &Path) -> Result<(), StoreError> {
        let conn = Connection::open(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        let out = out
            .to_str()
            .ok_or_else(|| StoreError::Corrupt("snapshot path is not UTF-8".into()))?;
        conn.execute("VACUUM INTO ?1", [out])?;
        Ok(())
    }

    /// How long a statement waits for another process's lock before failing as locked. The
    /// daemon's owner thread uses a short wait so a foreign lock never stalls the root.
    pub fn set_busy_timeout(&self, wait: std::time::Duration) -> Result<(), StoreError> {
        Ok(self.conn.busy_timeout(wait)?)
    }

    /// An in-memory database (tests, benchmarks).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        let mut store = Self { conn };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let done = self.schema_version()?;
        if done > MIGRATIONS.len() {
            // Written by a newer ztcd (a downgrade): its rows may hold what this version
            // would lose on its first write.
            return Err(StoreError::Refused(format!(
                "the database has schema version {done}, newer than this ztcd knows ({}): \
                 run the ztcd that wrote it, or restore a backup made by this version",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Inserts or updates a network (an update in place: a replace would delete, and so
    /// cascade to, its members).
    pub fn put_network(&self, n: &Network) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO networks ({NETWORK_COLUMNS}) VALUES ({}) \
             ON CONFLICT(id) DO UPDATE SET {}",
            named_list(NETWORK_COLUMNS),
            update_list(NETWORK_COLUMNS)
        );
        self.conn.prepare_cached(&sql)?.execute(named_params! {
            ":id": n.id.0 as i64,
            ":name": n.name,
            ":private": n.private,
            ":enable_broadcast": n.enable_broadcast,
            ":mtu": n.mtu,
            ":multicast_limit": n.multicast_limit,
            ":v4_assign_zt": n.v4_assign_zt,
            ":v6_assign_zt": n.v6_assign_zt,
            ":v6_assign_rfc4193": n.v6_assign_rfc4193,
            ":v6_assign_6plane": n.v6_assign_6plane,
            ":routes": to_json(&n.routes),
            ":pools": to_json(&n.ip_assignment_pools),
            ":rules": to_json(&n.rules),
            ":capabilities": to_json(&n.capabilities),
            ":tags": to_json(&n.tags),
            ":dns": n.dns.as_ref().map(to_json),
            ":revision": n.revision as i64,
            ":creation_time": n.creation_time as i64,
            ":rules_source": n.rules_source,
            ":relays": to_json(&n.relays.iter().map(|a| a.to_u64()).collect::<Vec<_>>()),
        })?;
        Ok(())
    }

    /// A network by ID.
    pub fn network(&self, id: NetworkId) -> Result<Option<Network>, StoreError> {
        let sql = format!("SELECT {NETWORK_COLUMNS} FROM networks WHERE id = ?1");
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row([id.0 as i64], network_from_row)
            .optional()?)
    }

    /// All network IDs, ascending.
    pub fn network_ids(&self) -> Result<Vec<NetworkId>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM networks ORDER BY id")?;
        let ids = stmt
            .query_map([], |r| r.get::<_, i64>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ids.into_iter().map(|i| NetworkId(i as u64)).collect())
    }

    /// Deletes a network and its members; returns whether it existed.
    pub fn delete_network(&self, id: NetworkId) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("DELETE FROM networks WHERE id = ?1")?
            .execute([id.0 as i64])?
            > 0)
    }

    /// Deletes a member; returns whether it existed.
    pub fn delete_member(&self, id: NetworkId, address: Address) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("DELETE FROM members WHERE network_id = ?1 AND address = ?2")?
            .execute([id.0 as i64, address.to_u64() as i64])?
            > 0)
    }

    /// Inserts or updates a member (an update in place of the columns this version knows: a
    /// replace would reset columns a newer version added).
    pub fn put_member(&self, m: &Member) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO members ({MEMBER_COLUMNS}) VALUES ({}) \
             ON CONFLICT(network_id, address) DO UPDATE SET {}",
            named_list(MEMBER_COLUMNS),
            update_list(MEMBER_COLUMNS)
        );
        let ips: Vec<String> = m.ip_assignments.iter().map(ToString::to_string).collect();
        self.conn.prepare_cached(&sql)?.execute(named_params! {
            ":network_id": m.network_id.0 as i64,
            ":address": m.address.to_u64() as i64,
            ":identity": m.identity.map(|i| i.to_string()),
            ":name": m.name,
            ":authorized": m.authorized,
            ":active_bridge": m.active_bridge,
            ":no_auto_assign_ips": m.no_auto_assign_ips,
            ":ip_assignments": to_json(&ips),
            ":revision": m.revision as i64,
            ":creation_time": m.creation_time as i64,
            ":last_authorized_time": m.last_authorized_time as i64,
            ":last_deauthorized_time": m.last_deauthorized_time as i64,
            ":version": m.version.map(|v| to_json(&v)),
            ":last_seen": m.last_seen as i64,
            ":physical_address": m.physical_address,
            ":banned": m.banned,
            ":capabilities": to_json(&m.capabilities),
            ":tags": to_json(&m.tags),
            ":expires_at": i64::try_from(m.expires_at).unwrap_or(i64::MAX),
            ":description": m.description,
        })?;
        Ok(())
    }

    /// Authorized members whose authorization ran out by `unix` (ms), at most `limit`.
    pub fn expired_members(&self, unix: u64, limit: usize) -> Result<Vec<Member>, StoreError> {
        let sql = format!(
            "SELECT {MEMBER_COLUMNS} FROM members WHERE expires_at > 0 AND expires_at <= ?1 \
             AND authorized = 1 LIMIT ?2"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let unix = i64::try_from(unix).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![unix, limit], member_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// A member.
    pub fn member(
        &self,
        network: NetworkId,
        address: Address,
    ) -> Result<Option<Member>, StoreError> {
        let sql =
            format!("SELECT {MEMBER_COLUMNS} FROM members WHERE network_id = ?1 AND address = ?2");
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row(
                params![network.0 as i64, address.to_u64() as i64],
                member_from_row,
            )
            .optional()?)
    }

    /// All members of a network, by address.
    pub fn members(&self, network: NetworkId) -> Result<Vec<Member>, StoreError> {
        let sql =
            format!("SELECT {MEMBER_COLUMNS} FROM members WHERE network_id = ?1 ORDER BY address");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([network.0 as i64], member_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Up to `limit` members of a network whose address is above `after`, by address: one page
    /// of a listing that never holds a whole large network in memory.
    pub fn members_after(
        &self,
        network: NetworkId,
        after: Option<Address>,
        limit: usize,
    ) -> Result<Vec<Member>, StoreError> {
        let sql = format!(
            "SELECT {MEMBER_COLUMNS} FROM members WHERE network_id = ?1 AND address > ?2 \
             ORDER BY address LIMIT ?3"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let after = after.map_or(-1, |a| a.to_u64() as i64);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![network.0 as i64, after, limit], member_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// (address, revision) of a network's members, by address.
    pub fn member_revisions(&self, network: NetworkId) -> Result<Vec<(Address, u64)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT address, revision FROM members WHERE network_id = ?1 ORDER BY address",
        )?;
        let rows = stmt.query_map([network.0 as i64], |r| {
            Ok((
                Address::new(r.get::<_, i64>(0)? as u64),
                r.get::<_, i64>(1)? as u64,
            ))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Whether a network exists.
    pub fn network_exists(&self, id: NetworkId) -> Result<bool, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM networks WHERE id = ?1")?;
        Ok(stmt.exists([id.0 as i64])?)
    }

    /// Authorized active bridges of a network.
    pub fn active_bridges(&self, network: NetworkId) -> Result<Vec<Address>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT address FROM members INDEXED BY members_active_bridges \
             WHERE network_id = ?1 AND active_bridge = 1 AND authorized = 1",
        )?;
        let rows = stmt.query_map([network.0 as i64], |r| r.get::<_, i64>(0))?;
        Ok(rows
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|a| Address::new(a as u64))
            .collect())
    }

    /// Every address assigned to any member of a network.
    pub fn assigned_ips(&self, network: NetworkId) -> Result<Vec<std::net::IpAddr>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT ip_assignments FROM members WHERE network_id = ?1")?;
        let rows = stmt.query_map([network.0 as i64], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for text in rows {
            let list: Vec<String> = json(&text?, "ip_assignments")?;
            out.extend(
                list.iter()
                    .filter_map(|s| s.parse::<std::net::IpAddr>().ok()),
            );
        }
        Ok(out)
    }

    /// Records when a member was last seen and from where (`None` keeps the old address).
    pub fn touch_member(
        &self,
        network: NetworkId,
        address: Address,
        last_seen: u64,
        physical: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE members SET last_seen = ?3, physical_address = COALESCE(?4, physical_address) \
                 WHERE network_id = ?1 AND address = ?2",
            )?
            .execute(params![network.0 as i64, address.to_u64() as i64, last_seen as i64, physical])?;
        Ok(())
    }

    /// Runs `f` in one transaction: all of its writes land, or none. Inside a transaction
    /// already open it runs in a savepoint of that one: its writes are undone if it fails,
    /// and land with the outer transaction.
    pub fn transaction<T>(
        &mut self,
        f: impl FnOnce(&Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let nested = self.begin()?;
        match f(self) {
            Ok(v) => self.close(nested).map(|()| v),
            Err(e) => {
                self.abort(nested);
                Err(e)
            }
        }
    }

    /// Whether no transaction is open.
    #[cfg(test)]
    pub fn conn_is_autocommit(&self) -> bool {
        self.conn.is_autocommit()
    }

    /// Opens a transaction, or a savepoint inside the one already open; returns whether it
    /// was a savepoint. End it with [`Store::close`] or [`Store::abort`], passing that back.
    pub fn begin(&self) -> Result<bool, StoreError> {
        if self.conn.is_autocommit() {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            Ok(false)
        } else {
            self.conn.execute_batch("SAVEPOINT nested")?;
            Ok(true)
        }
    }

    /// Ends what [`Store::begin`] opened, keeping its writes (a transaction is committed and
    /// durable; a savepoint's writes join the outer transaction). If the commit fails, the
    /// transaction is rolled back: nothing of it was written.
    pub fn close(&self, nested: bool) -> Result<(), StoreError> {
        let sql = if nested { "RELEASE nested" } else { "COMMIT" };
        self.conn.execute_batch(sql).map_err(|e| {
            self.abort(nested);
            e.into()
        })
    }

    /// Ends what [`Store::begin`] opened, undoing its writes.
    pub fn abort(&self, nested: bool) {
        let sql = if nested {
            "ROLLBACK TO nested; RELEASE nested"
        } else {
            "ROLLBACK"
        };
        let _ = self.conn.execute_batch(sql);
    }

    /// Networks, members (not banned) and authorized members, per network.
    pub fn member_counts(&self) -> Result<Vec<(NetworkId, u64, u64)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT n.id, COUNT(m.address), COALESCE(SUM(m.authorized), 0) FROM networks n \
             LEFT JOIN members m ON m.network_id = n.id AND m.banned = 0 GROUP BY n.id ORDER BY n.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                NetworkId(r.get::<_, i64>(0)? as u64),
                r.get::<_, i64>(1)? as u64,
                r.get::<_, i64>(2)? as u64,
            ))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_found_by_name() {
        assert_eq!(column(NETWORK_COLUMNS, "id"), 0);
        assert_eq!(column(NETWORK_COLUMNS, "v4_assign_zt"), 6);
        assert_eq!(column(NETWORK_COLUMNS, "relays"), 19);
        assert_eq!(column(MEMBER_COLUMNS, "description"), 19);
        assert_eq!(column("a, ab, b", "b"), 2);
    }

    #[test]
    fn typed_fields_keep_the_stored_text_and_read_older_rows() {
        let s = Store::in_memory().unwrap();
        let id = NetworkId(0x8e4d_f28b_7200_0002);
        s.put_network(&Network::new(id, 1000)).unwrap();
        // As an older version stored them: a gateway a UI sent as a word, DNS as text.
        s.conn
            .execute(
                "UPDATE networks SET routes = ?1, pools = ?2, dns = ?3 WHERE id = ?4",
                params![
                    r#"[{"target":"10.0.0.0/24","via":"lan"},{"target":"fd00::/8","via":null}]"#,
                    r#"[{"ipRangeStart":"10.0.0.1","ipRangeEnd":"10.0.0.9"}]"#,
                    r#"{"domain":"lan","servers":["10.0.0.1"]}"#,
                    id.0 as i64
                ],
            )
            .unwrap();
        let n = s.network(id).unwrap().unwrap();
        assert_eq!(n.routes[0].target, ("10.0.0.0".parse().unwrap(), 24));
        assert_eq!(n.routes[0].via, None, "not an address: no gateway");
        assert_eq!(n.routes[1].target.1, 8);
        assert_eq!(
            n.ip_assignment_pools[0].ip_range_end.to_string(),
            "10.0.0.9"
        );
        assert_eq!(n.dns.as_ref().unwrap().servers[0].to_string(), "10.0.0.1");
        s.put_network(&n).unwrap();
        let text: String = s
            .conn
            .query_row(
                "SELECT routes FROM networks WHERE id = ?1",
                [id.0 as i64],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            text,
            r#"[{"target":"10.0.0.0/24","via":null},{"target":"fd00::/8","via":null}]"#
        );
    }

    #[test]
    fn round_trips_and_cascades() {
        let mut s = Store::in_memory().unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len());
        let id = NetworkId(0x8e4d_f28b_7200_0001);
        let mut n = Network::new(id, 1000);
        n.name = "office".into();
        n.routes.push(super::super::model::Route {
            target: crate::controller::cidr("10.0.0.0/24").unwrap(),
            via: None,
        });
        s.put_network(&n).unwrap();
        assert_eq!(s.network(id).unwrap(), Some(n.clone()));
        let mut m = Member::new(id, Address::new(0x12_3456_789a), 2000);
        m.authorized = true;
        m.ip_assignments.push("10.0.0.5".parse().unwrap());
        m.version = Some((1, 8, 4, 12));
        s.transaction(|s| s.put_member(&m)).unwrap();
        assert_eq!(s.member(id, m.address).unwrap(), Some(m.clone()));
        assert_eq!(
            s.assigned_ips(id).unwrap(),
            vec!["10.0.0.5".parse::<std::net::IpAddr>().unwrap()]
        );
        assert_eq!(s.network_ids().unwrap(), vec![id]);
        // Updating a network keeps its members.
        n.name = "renamed".into();
        s.put_network(&n).unwrap();
        assert_eq!(s.network(id).unwrap(), Some(n.clone()));
        assert_eq!(s.members(id).unwrap().len(), 1);
        // A failed transaction writes nothing.
        let r: Result<(), StoreError> = s.transaction(|s| {
            s.put_member(&Member::new(id, Address::new(1), 0))?;
            Err(StoreError::Corrupt("abort".into()))
        });
        assert!(r.is_err());
        assert_eq!(s.members(id).unwrap().len(), 1);
        assert!(s.delete_network(id).unwrap());
        assert!(s.members(id).unwrap().is_empty());
        assert_eq!(s.integrity_check().unwrap(), "ok");
    }
}
