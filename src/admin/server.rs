//! The admin server's connections on the owner's smol executor: one task per listener and
//! per connection, no threads. Every phase of a connection has a deadline and every buffer a
//! cap from `limits.rs`; what a connection may hold is decided right after accept, before a
//! byte is read.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Shutdown, TcpListener, TcpStream};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{Async, LocalExecutor, Timer};

use super::http::{self, BodyKind, Chunked, Head, HttpError};
use super::msg::AdminReply;
use super::{AdminConfig, AdminStats, is_loopback, source_allowed};
use crate::limits::{
    ADMIN_ACCEPT_BACKOFF_MS, ADMIN_BODY_BUDGET, ADMIN_BODY_TIMEOUT_MS, ADMIN_HEAD_TIMEOUT_MS,
    ADMIN_IDLE_TIMEOUT_MS, ADMIN_LOOPBACK_RESERVED, ADMIN_MAX_CONNECTIONS,
    ADMIN_MAX_CONNECTIONS_PER_SOURCE, ADMIN_MAX_HEAD, ADMIN_MAX_REFUSING,
    ADMIN_MAX_REQUESTS_PER_CONNECTION, ADMIN_READ_CHUNK, ADMIN_REFUSE_LINGER_MS,
    ADMIN_WRITE_TIMEOUT_MS,
};

/// State shared by the server's tasks (all on one thread).
pub(super) struct Shared {
    pub(super) cfg: AdminConfig,
    pub(super) tx: smol::channel::Sender<super::msg::AdminRequest>,
    pub(super) stats: Rc<AdminStats>,
    slots: RefCell<Slots>,
    body_budget: Cell<usize>,
}

/// Connections held, for the caps.
#[derive(Default)]
struct Slots {
    total: usize,
    lan: usize,
    refusing: usize,
    per_source: HashMap<IpAddr, usize>,
}

/// A connection's claim on the caps, released on drop.
struct Slot {
    shared: Rc<Shared>,
    ip: IpAddr,
    lan: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self.shared.slots.borrow_mut();
        s.total -= 1;
        if self.lan {
            s.lan -= 1;
            if let Some(n) = s.per_source.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    s.per_source.remove(&self.ip);
                }
            }
        }
    }
}

/// Request-body bytes reserved from the shared budget, returned on drop.
pub(super) struct BodyReservation {
    shared: Rc<Shared>,
    bytes: usize,
}

impl BodyReservation {
    /// Reserves `more` bytes; `false` when the budget is spent.
    fn grow(&mut self, more: usize) -> bool {
        let left = self.shared.body_budget.get();
        if more > left {
            return false;
        }
        self.shared.body_budget.set(left - more);
        self.bytes += more;
        true
    }
}

impl Drop for BodyReservation {
    fn drop(&mut self) {
        let b = &self.shared.body_budget;
        b.set(b.get() + self.bytes);
    }
}

impl Shared {
    pub(super) fn new(
        cfg: AdminConfig,
        tx: smol::channel::Sender<super::msg::AdminRequest>,
        stats: Rc<AdminStats>,
    ) -> Self {
        Self {
            cfg,
            tx,
            stats,
            slots: RefCell::new(Slots::default()),
            body_budget: Cell::new(ADMIN_BODY_BUDGET),
        }
    }

    /// Claims a slot for a connection from `ip`, or `None` when a cap is reached.
    fn claim(self: &Rc<Self>, ip: IpAddr) -> Option<Slot> {
        let lan = !is_loopback(ip);
        let mut s = self.slots.borrow_mut();
        if s.total >= ADMIN_MAX_CONNECTIONS {
            return None;
        }
        if lan {
            let mine = s.per_source.get(&ip).copied().unwrap_or(0);
            if s.lan >= ADMIN_MAX_CONNECTIONS - ADMIN_LOOPBACK_RESERVED
                || mine >= ADMIN_MAX_CONNECTIONS_PER_SOURCE
            {
                return None;
            }
            s.lan += 1;
            s.per_source.insert(ip, mine + 1);
        }
        s.total += 1;
        Some(Slot {
            shared: self.clone(),
            ip,
            lan,
        })
    }

    /// An empty reservation against the body budget.
    pub(super) fn reservation(self: &Rc<Self>) -> BodyReservation {
        BodyReservation {
            shared: self.clone(),
            bytes: 0,
        }
    }
}

/// Accepts connections on `listener` for as long as the executor runs.
pub(super) async fn listen(
    listener: Async<TcpListener>,
    shared: Rc<Shared>,
    ex: Weak<LocalExecutor<'static>>,
) {
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE, ENFILE, ECONNABORTED…: the listener keeps going after a pause.
                shared.stats.bump(&shared.stats.accept_errors);
                crate::debug!("admin accept: {e}");
                Timer::after(Duration::from_millis(ADMIN_ACCEPT_BACKOFF_MS)).await;
                continue;
            }
        };
        let Some(ex) = ex.upgrade() else { return };
        let ip = from.ip();
        if !source_allowed(Some(from), &shared.cfg.allow) {
            shared.stats.bump(&shared.stats.refused_source);
            refuse(&ex, &shared, stream, ip);
            continue;
        }
        let Some(slot) = shared.claim(ip) else {
            // Dropping the stream closes it: no byte read, no answer.
            shared.stats.bump(&shared.stats.refused_full);
            continue;
        };
        let _ = stream.get_ref().set_nodelay(true);
        ex.spawn(connection(stream, shared.clone(), slot)).detach();
    }
}

/// Answers a source outside `--admin-allow` with a fixed 401 without reading its request,
/// lingering briefly (bounded) so the answer arrives before the close.
fn refuse(ex: &LocalExecutor<'static>, shared: &Rc<Shared>, stream: Async<TcpStream>, ip: IpAddr) {
    if shared.slots.borrow().refusing >= ADMIN_MAX_REFUSING {
        return;
    }
    let reply = AdminReply::error(
        401,
        &format!("source {ip} is not allowed to manage this controller"),
    );
    let mut bytes = http::response_head(
        reply.status,
        reply.content_type,
        reply.body.len(),
        false,
        false,
    )
    .into_bytes();
    bytes.extend_from_slice(&reply.body);
    shared.slots.borrow_mut().refusing += 1;
    let shared = shared.clone();
    ex.spawn(async move {
        let deadline = Instant::now() + Duration::from_millis(ADMIN_REFUSE_LINGER_MS);
        let mut s = stream;
        if within(deadline, s.write_all(&bytes))
            .await
            .is_some_and(|r| r.is_ok())
        {
            let _ = s.get_ref().shutdown(Shutdown::Write);
            // Discard what the client sent until it closes or the linger ends, so the close
            // does not reset the connection under the answer.
            let mut sink = [0u8; 1024];
            while let Some(Ok(n)) = within(deadline, s.read(&mut sink)).await {
                if n == 0 {
                    break;
                }
            }
        }
        shared.slots.borrow_mut().refusing -= 1;
    })
    .detach();
}

/// `fut`, or `None` once `deadline` passes.
pub(super) async fn within<T>(
    deadline: Instant,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    smol::future::or(async { Some(fut.await) }, async {
        Timer::at(deadline).await;
        None
    })
    .await
}

/// Why a connection ends.
enum End {
    /// Closed by the client, an I/O error or a deadline: nothing more to say.
    Quiet,
    /// Answer this, then close.
    Answer(AdminReply),
}

/// One client connection: requests in order, one at a time, each under its deadlines.
async fn connection(stream: Async<TcpStream>, shared: Rc<Shared>, _slot: Slot) {
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
    };
    let mut head_deadline = Instant::now() + Duration::from_millis(ADMIN_HEAD_TIMEOUT_MS);
    for served in 1..=ADMIN_MAX_REQUESTS_PER_CONNECTION {
        let head = match conn.read_head(head_deadline).await {
            Ok(head) => head,
            Err(End::Quiet) => return,
            Err(End::Answer(reply)) => {
                shared.stats.bump(&shared.stats.bad_requests);
                let _ = conn.respond(&reply, false, false).await;
                return;
            }
        };
        let keep_alive = head.keep_alive && served < ADMIN_MAX_REQUESTS_PER_CONNECTION;
        let (reply, page, body_read) = match super::answer(&shared, &mut conn, &head).await {
            super::Answered::Reply(reply, page, body_read) => (reply, page, body_read),
            super::Answered::Members(network) => {
                // Delimited by the close: the connection ends with the list.
                super::stream_members(&shared, &mut conn, network).await;
                return;
            }
        };
        let keep_alive = keep_alive && body_read;
        if conn.respond(&reply, page, keep_alive).await.is_err() || !keep_alive {
            return;
        }
        // Idle wait for the next request's first byte, then a fresh head deadline.
        let idle = Instant::now() + Duration::from_millis(ADMIN_IDLE_TIMEOUT_MS);
        if conn.buf.is_empty() && !matches!(conn.fill(idle).await, Ok(n) if n > 0) {
            return;
        }
        head_deadline = Instant::now() + Duration::from_millis(ADMIN_HEAD_TIMEOUT_MS);
    }
}

/// A connection's socket and the bytes read but not yet used.
pub(super) struct Conn {
    stream: Async<TcpStream>,
    buf: Vec<u8>,
}

impl Conn {
    /// Reads up to [`ADMIN_READ_CHUNK`] more bytes into the buffer before `deadline`; `Ok(0)`
    /// at the end of the stream.
    async fn fill(&mut self, deadline: Instant) -> Result<usize, End> {
        let old = self.buf.len();
        self.buf.resize(old + ADMIN_READ_CHUNK, 0);
        let read = within(deadline, self.stream.read(&mut self.buf[old..])).await;
        let n = match read {
            Some(Ok(n)) => n,
            Some(Err(_)) | None => 0,
        };
        self.buf.truncate(old + n);
        match read {
            Some(Ok(_)) => Ok(n),
            _ => Err(End::Quiet),
        }
    }

    /// The next request head, read before `deadline`.
    async fn read_head(&mut self, deadline: Instant) -> Result<Head, End> {
        // Parsed only once the head can be complete (a blank line arrived) or is at its cap,
        // so a head trickled a byte at a time is scanned once, not once per byte.
        let mut scanned: usize = 0;
        loop {
            let from = scanned.saturating_sub(3);
            let ended = http::has_blank_line(&self.buf[from..]);
            if ended || self.buf.len() >= ADMIN_MAX_HEAD {
                match http::parse_head(&self.buf) {
                    Ok(Some((head, len))) => {
                        self.buf.drain(..len);
                        return Ok(head);
                    }
                    Ok(None) => {}
                    Err(e) => return Err(End::Answer(error_reply(e))),
                }
            }
            scanned = self.buf.len();
            // The buffer never exceeds the head cap by more than one read.
            debug_assert!(self.buf.len() < ADMIN_MAX_HEAD);
            if self.fill(deadline).await? == 0 {
                return Err(End::Quiet);
            }
        }
    }

    /// Reads the request body described by `kind`, within the body deadline and the shared
    /// budget. `Err` carries the answer (the connection is then closed).
    pub(super) async fn read_body(
        &mut self,
        kind: BodyKind,
        expect_continue: bool,
        budget: &mut BodyReservation,
    ) -> Result<Vec<u8>, Option<AdminReply>> {
        let deadline = Instant::now() + Duration::from_millis(ADMIN_BODY_TIMEOUT_MS);
        let busy = || {
            Some(AdminReply::error(
                503,
                "busy: too many request bodies in flight, retry",
            ))
        };
        if let BodyKind::Length(n) = kind
            && !budget.grow(n)
        {
            return Err(busy());
        }
        if expect_continue && self.buf.is_empty() {
            let sent = within(
                deadline,
                self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n"),
            );
            if !matches!(sent.await, Some(Ok(()))) {
                return Err(None);
            }
        }
        let mut body = Vec::new();
        let mut chunked = Chunked::default();
        loop {
            match kind {
                BodyKind::None => return Ok(body),
                BodyKind::Length(n) => {
                    let take = (n - body.len()).min(self.buf.len());
                    body.extend(self.buf.drain(..take));
                    if body.len() == n {
                        return Ok(body);
                    }
                }
                BodyKind::Chunked => {
                    let before = body.len();
                    let fed = chunked.feed(&self.buf, &mut body);
                    let (used, done) = fed.map_err(|e| Some(error_reply(e)))?;
                    self.buf.drain(..used);
                    if !budget.grow(body.len() - before) {
                        return Err(busy());
                    }
                    if done {
                        return Ok(body);
                    }
                }
            }
            if matches!(self.fill(deadline).await, Err(_) | Ok(0)) {
                return Err(None);
            }
        }
    }

    /// Writes `bytes` within the write deadline; `Err` when the client did not take them.
    pub(super) async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_millis(ADMIN_WRITE_TIMEOUT_MS);
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        within(deadline, write)
            .await
            .unwrap_or_else(|| Err(io::ErrorKind::TimedOut.into()))
    }

    /// Writes an answer within the write deadline; `Err` when the client did not take it.
    pub(super) async fn respond(
        &mut self,
        reply: &AdminReply,
        page: bool,
        keep_alive: bool,
    ) -> io::Result<()> {
        let head = http::response_head(
            reply.status,
            reply.content_type,
            reply.body.len(),
            page,
            keep_alive,
        );
        let deadline = Instant::now() + Duration::from_millis(ADMIN_WRITE_TIMEOUT_MS);
        let write = async {
            self.stream.write_all(head.as_bytes()).await?;
            self.stream.write_all(&reply.body).await?;
            self.stream.flush().await
        };
        within(deadline, write)
            .await
            .unwrap_or_else(|| Err(io::ErrorKind::TimedOut.into()))
    }
}

/// The answer to a framing error.
fn error_reply(e: HttpError) -> AdminReply {
    let (status, message) = e.status();
    AdminReply::error(status, &message)
}
