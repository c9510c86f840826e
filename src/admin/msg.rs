//! The only types that cross from the HTTP threads to the owner loop: plain data, no
//! tiny_http, rusqlite or node types.

use std::sync::mpsc::SyncSender;

use serde_json::Value;

use crate::wire::{Address, NetworkId};

/// What the owner loop is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum AdminCommand {
    /// `GET /status`.
    Status,
    /// `GET /controller`.
    Controller,
    /// `GET /controller/network`.
    ListNetworks,
    /// `GET /unstable/controller/network`: every network with member counts.
    ListNetworksDetailed,
    /// `POST /controller/network` or `/controller/network/{ourAddress}______`.
    CreateNetwork(Value),
    /// `GET /controller/network/{nwid}`.
    GetNetwork(NetworkId),
    /// `POST /controller/network/{nwid}`.
    PostNetwork(NetworkId, Value),
    /// `DELETE /controller/network/{nwid}`.
    DeleteNetwork(NetworkId),
    /// `GET /controller/network/{nwid}/member`: `{address: revision}`.
    ListMembers(NetworkId),
    /// `GET …/member?details=1` (`&banned=1` adds deleted members): full objects.
    ListMembersDetailed(NetworkId, bool),
    /// `GET …/member/{address}`.
    GetMember(NetworkId, Address),
    /// `POST …/member/{address}`.
    PostMember(NetworkId, Address, Value),
    /// `DELETE …/member/{address}`.
    DeleteMember(NetworkId, Address),
    /// `GET /peer`.
    Peers,
    /// `GET /peer/{address}`.
    Peer(Address),
    /// `GET /metrics`.
    Metrics,
    /// `GET /ztcd/planet`: the planet file.
    Planet,
    /// `GET /ztcd/moon`: the moon file, if this node serves one.
    Moon,
    /// `POST /ztcd/backup`: take a backup now (to the daemon's `--backup-to` directory).
    Backup,
    /// `GET /ztcd/backups`: the backups in that directory.
    ListBackups,
}

impl AdminCommand {
    /// Whether the command may write to the database (such commands are batched into one
    /// transaction per wake-up of the owner loop).
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Self::CreateNetwork(_)
                | Self::PostNetwork(..)
                | Self::DeleteNetwork(_)
                | Self::PostMember(..)
                | Self::DeleteMember(..)
        )
    }
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminReply {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Body.
    pub body: Vec<u8>,
}

impl AdminReply {
    /// 200 with a JSON body.
    pub fn json(body: impl Into<Vec<u8>>) -> Self {
        Self {
            status: 200,
            content_type: "application/json",
            body: body.into(),
        }
    }

    /// An error: `{"error": status, "message": ...}`.
    pub fn error(status: u16, message: &str) -> Self {
        let body = serde_json::json!({"error": status, "message": message}).to_string();
        Self {
            status,
            content_type: "application/json",
            body: body.into_bytes(),
        }
    }
}

/// A command and where its answer goes (a channel of capacity 1: the owner loop's send never
/// blocks).
#[derive(Debug)]
pub struct AdminRequest {
    /// What to do.
    pub cmd: AdminCommand,
    /// Where to answer.
    pub reply: SyncSender<AdminReply>,
}
