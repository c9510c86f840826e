//! The only types that cross from the HTTP connections to the owner loop: plain data, no
//! socket, rusqlite or node types.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use smol::channel::Sender;

use crate::controller::change::Change;
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
    /// `GET /controller/network/{nwid}`.
    GetNetwork(NetworkId),
    /// `GET /controller/network/{nwid}/member`: `{address: revision}`.
    ListMembers(NetworkId),
    /// `GET …/member?details=1`: full objects (streamed by the server, page by page).
    ListMembersDetailed(NetworkId),
    /// One page of that list (the server's own request, never routed from a path): the answer
    /// body is the address to continue after (empty on the last page), a newline, and the
    /// page's member objects joined by commas.
    MembersPage {
        /// The network.
        network: NetworkId,
        /// Members above this address.
        after: Option<Address>,
        /// At most this many.
        limit: usize,
    },
    /// `GET …/member/{address}`.
    GetMember(NetworkId, Address),
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
    /// `GET /ztcd/backups/{name}`: one of them, to download.
    DownloadBackup(String),
    /// `GET /ztcd/network/{nwid}/window`: the approval window and the devices it let in.
    Window(NetworkId),
    /// A change, parsed from a write (`POST`/`PUT`/`DELETE` of a network, a member or an
    /// approval window): carried out with the other changes of one wake-up in one
    /// transaction.
    Change(Box<Change>),
}

impl AdminCommand {
    /// Whether the command writes to the database.
    pub fn writes(&self) -> bool {
        matches!(self, Self::Change(_))
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
    pub reply: Sender<AdminReply>,
    /// Queued, started or abandoned: shared with the connection that sent it.
    state: Arc<AtomicU8>,
}

const QUEUED: u8 = 0;
const STARTED: u8 = 1;
const ABANDONED: u8 = 2;

impl AdminRequest {
    /// A request and the handle its connection keeps to abandon it.
    pub fn new(cmd: AdminCommand, reply: Sender<AdminReply>) -> (Self, Ticket) {
        let state = Arc::new(AtomicU8::new(QUEUED));
        let ticket = Ticket(state.clone());
        (Self { cmd, reply, state }, ticket)
    }

    /// Called by the owner loop before carrying the request out: `false` when the connection
    /// gave up on it while it was queued (it must then not be applied).
    pub fn start(&self) -> bool {
        self.state
            .compare_exchange(QUEUED, STARTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// The connection's side of a queued request.
#[derive(Debug)]
pub struct Ticket(Arc<AtomicU8>);

impl Ticket {
    /// Withdraws the request if the owner loop has not started it: `true` means it never will
    /// (so a 504 truthfully says "not applied"); `false` means it has started and its real
    /// answer is coming.
    pub fn abandon(&self) -> bool {
        self.0
            .compare_exchange(QUEUED, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}
