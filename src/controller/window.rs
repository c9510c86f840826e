//! Approval windows at the controller: "let new devices join this network for the next M
//! minutes, at most K of them". While a network's window is open, a device asking to join
//! for the first time (never authorized, never deauthorized or blocked) is authorized at
//! once, and recorded: which device, when, and from where. The window closes by itself when
//! its time is up or K devices came in. Clients see nothing new: they are simply authorized.

use std::net::SocketAddr;

use serde_json::{Value, json};

use super::Controller;
use super::api::{ApiError, ApiResult};
use super::model::{Member, Network};
use super::store::{Admission, StoreError, Window};
use crate::wire::NetworkId;

/// Longest window that can be opened: a day.
pub const MAX_WINDOW_MINUTES: u64 = 24 * 60;
/// Most devices one window lets in.
pub const MAX_WINDOW_DEVICES: u64 = 1_000;

fn window_json(w: Option<&Window>, admitted: &[Admission], unix: u64) -> Value {
    let list: Vec<Value> = admitted
        .iter()
        .map(|a| json!({"address": a.address.to_string(), "at": a.at, "physicalAddress": a.physical_address}))
        .collect();
    json!({
        "open": w.is_some_and(|w| w.is_open(unix)),
        "openedAt": w.map_or(0, |w| w.opened_at),
        "closesAt": w.map_or(0, |w| w.closes_at),
        "maxDevices": w.map_or(0, |w| w.max_devices),
        "admittedCount": w.map_or(0, |w| w.admitted),
        "admitted": list,
    })
}

fn limited(body: &Value, field: &str, max: u64) -> Result<u64, String> {
    body.get(field)
        .and_then(Value::as_u64)
        .filter(|v| (1..=max).contains(v))
        .ok_or_else(|| format!("{field}: expected a number from 1 to {max}"))
}

/// An approval window to open: `{"minutes": M, "maxDevices": K}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    /// How long it stays open (1 to [`MAX_WINDOW_MINUTES`]).
    pub minutes: u64,
    /// How many devices it lets in (1 to [`MAX_WINDOW_DEVICES`]).
    pub max_devices: u32,
}

impl WindowSpec {
    /// Parses a window body; errors name the field.
    pub fn from_json(body: &Value) -> Result<Self, String> {
        let minutes = limited(body, "minutes", MAX_WINDOW_MINUTES)?;
        let max = limited(body, "maxDevices", MAX_WINDOW_DEVICES)?;
        Ok(Self {
            minutes,
            max_devices: u32::try_from(max).unwrap_or(u32::MAX),
        })
    }
}

impl Controller {
    fn require(&self, id: NetworkId) -> ApiResult<()> {
        match self.store.network(id)? {
            Some(_) => Ok(()),
            None => Err(ApiError::NotFound(format!("network {id} does not exist"))),
        }
    }

    /// `GET /ztcd/network/{nwid}/window`: the window (open or not) and the devices windows let
    /// in, newest first.
    pub fn api_window(&self, unix: u64, id: NetworkId) -> ApiResult<Value> {
        self.require(id)?;
        let w = self.store.window(id)?;
        Ok(window_json(w.as_ref(), &self.store.admissions(id)?, unix))
    }

    /// `POST /ztcd/network/{nwid}/window`: opens the
    /// window (a new one replaces the old, counting afresh).
    pub(super) fn open_window(
        &mut self,
        unix: u64,
        id: NetworkId,
        spec: WindowSpec,
    ) -> ApiResult<Value> {
        self.require(id)?;
        let w = Window {
            network_id: id,
            opened_at: unix,
            closes_at: unix + spec.minutes * 60_000,
            max_devices: spec.max_devices,
            admitted: 0,
        };
        self.store.put_window(&w)?;
        Ok(window_json(Some(&w), &self.store.admissions(id)?, unix))
    }

    /// `DELETE /ztcd/network/{nwid}/window`: closes it now (its admissions stay listed).
    pub(super) fn close_window(&mut self, unix: u64, id: NetworkId) -> ApiResult<Value> {
        self.require(id)?;
        if let Some(mut w) = self.store.window(id)? {
            w.closes_at = w.closes_at.min(unix);
            self.store.put_window(&w)?;
        }
        self.api_window(unix, id)
    }

    /// Authorizes `member` (asking to join `network` for the first time) if the network's
    /// window is open, and records it; whether it did.
    pub(super) fn admit_through_window(
        &mut self,
        unix: u64,
        network: &Network,
        member: &mut Member,
        physical: Option<SocketAddr>,
    ) -> Result<bool, StoreError> {
        let first_time = !member.authorized
            && !member.banned
            && member.last_authorized_time == 0
            && member.last_deauthorized_time == 0;
        if !network.private || !first_time {
            return Ok(false);
        }
        let open = self.store.window(network.id)?;
        if !open.is_some_and(|w| w.is_open(unix)) {
            return Ok(false);
        }
        member.authorized = true;
        member.last_authorized_time = unix;
        let admission = Admission {
            address: member.address,
            at: unix,
            physical_address: physical.map(|p| p.to_string()),
        };
        self.store.record_admission(network.id, &admission)?;
        crate::info!(
            "approval window of network {}: {} let in",
            network.id,
            member.address
        );
        Ok(true)
    }
}
