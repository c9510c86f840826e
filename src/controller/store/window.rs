//! Approval windows: "let new devices join network N for the next M minutes, at most K of
//! them". One window per network; every device a window let in is recorded (address, time,
//! the physical address it asked from) and kept when the window closes.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::wire::{Address, NetworkId};

/// Most admissions listed per network (the newest).
pub const MAX_LISTED_ADMISSIONS: usize = 1_000;

/// An approval window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The network.
    pub network_id: NetworkId,
    /// When it was opened (ms since the epoch).
    pub opened_at: u64,
    /// When it closes by itself (ms since the epoch).
    pub closes_at: u64,
    /// Most devices it lets in.
    pub max_devices: u32,
    /// Devices it let in so far.
    pub admitted: u32,
}

impl Window {
    /// Whether it lets a device in at `now`.
    pub fn is_open(&self, now: u64) -> bool {
        now < self.closes_at && self.admitted < self.max_devices
    }
}

/// A device a window let in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    /// The device.
    pub address: Address,
    /// When (ms since the epoch).
    pub at: u64,
    /// The physical address it asked from, if it asked directly.
    pub physical_address: Option<String>,
}

impl Store {
    /// The network's window, open or not.
    pub fn window(&self, id: NetworkId) -> Result<Option<Window>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT opened_at, closes_at, max_devices, admitted FROM approval_windows \
                 WHERE network_id = ?1",
            )?
            .query_row([id.0 as i64], |r| {
                Ok(Window {
                    network_id: id,
                    opened_at: r.get::<_, i64>(0)? as u64,
                    closes_at: r.get::<_, i64>(1)? as u64,
                    max_devices: r.get::<_, i64>(2)? as u32,
                    admitted: r.get::<_, i64>(3)? as u32,
                })
            })
            .optional()?)
    }

    /// Opens (or replaces) the network's window.
    pub fn put_window(&self, w: &Window) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO approval_windows (network_id, opened_at, closes_at, max_devices, \
                 admitted) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(network_id) DO UPDATE SET \
                 opened_at = excluded.opened_at, closes_at = excluded.closes_at, \
                 max_devices = excluded.max_devices, admitted = excluded.admitted",
            )?
            .execute(params![
                w.network_id.0 as i64,
                w.opened_at as i64,
                w.closes_at as i64,
                i64::from(w.max_devices),
                i64::from(w.admitted)
            ])?;
        Ok(())
    }

    /// Records a device a window let in, and counts it against the window.
    pub fn record_admission(&self, id: NetworkId, a: &Admission) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO window_admissions (network_id, address, at, \
                 physical_address) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                id.0 as i64,
                a.address.to_u64() as i64,
                a.at as i64,
                a.physical_address
            ])?;
        self.conn
            .prepare_cached(
                "UPDATE approval_windows SET admitted = admitted + 1 WHERE network_id = ?1",
            )?
            .execute([id.0 as i64])?;
        Ok(())
    }

    /// The devices windows let into the network, newest first (at most
    /// [`MAX_LISTED_ADMISSIONS`]).
    pub fn admissions(&self, id: NetworkId) -> Result<Vec<Admission>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT address, at, physical_address FROM window_admissions WHERE network_id = ?1 \
             ORDER BY at DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![id.0 as i64, MAX_LISTED_ADMISSIONS as i64], |r| {
            Ok(Admission {
                address: Address::new(r.get::<_, i64>(0)? as u64),
                at: r.get::<_, i64>(1)? as u64,
                physical_address: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::model::Network;

    #[test]
    fn a_window_counts_its_admissions_and_closes_by_time_or_count() {
        let s = Store::in_memory().unwrap();
        let id = NetworkId(0x1122_3344_5500_0001);
        s.put_network(&Network::new(id, 0)).unwrap();
        assert_eq!(s.window(id).unwrap(), None);
        let w = Window {
            network_id: id,
            opened_at: 1_000,
            closes_at: 61_000,
            max_devices: 2,
            admitted: 0,
        };
        s.put_window(&w).unwrap();
        assert!(s.window(id).unwrap().unwrap().is_open(2_000));
        for (i, at) in [(1u64, 3_000), (2, 4_000)] {
            let a = Admission {
                address: Address::new(i),
                at,
                physical_address: Some("10.0.0.2:9993".into()),
            };
            s.record_admission(id, &a).unwrap();
        }
        let now = s.window(id).unwrap().unwrap();
        assert_eq!(now.admitted, 2);
        assert!(!now.is_open(5_000), "full");
        assert!(!w.is_open(61_000), "over");
        let listed = s.admissions(id).unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].address, Address::new(2), "newest first");
        s.delete_network(id).unwrap();
        assert_eq!(s.window(id).unwrap(), None);
        assert!(s.admissions(id).unwrap().is_empty());
    }
}
