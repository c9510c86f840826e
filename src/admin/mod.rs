//! The admin HTTP server: the zerotier-one JSON API, Prometheus metrics and the LAN page.
//!
//! It runs on the owner loop's smol executor: one task per listener (loopback IPv4 and IPv6
//! and the addresses the user adds) and one per connection, no threads. Right after accept
//! the source is checked and the connection caps applied; then each request's head, body and
//! answer run under the deadlines and caps of `limits.rs` ([`http`] frames them, [`server`]
//! drives the sockets). A request passes the Host check and the token, is mapped to an
//! [`msg::AdminCommand`] and handed to the owner loop over a bounded channel (full → 503);
//! one the loop has not started within the reply timeout is withdrawn and answered 504. The
//! page's static files are served from the binary directly.

pub mod client;
pub mod http;
pub mod msg;
pub mod render;
pub mod routes;
mod server;

use std::cell::Cell;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::rc::Rc;
use std::time::{Duration, Instant};

use smol::channel::{Sender, TrySendError};
use smol::{Async, LocalExecutor, Task};

use self::msg::{AdminReply, AdminRequest};
use self::server::{Conn, Shared};
use crate::crypto::ct_eq;
use crate::limits::ADMIN_REPLY_TIMEOUT_MS;
use crate::wire::Address;

/// How long a request may wait for the owner loop to start it ([`ADMIN_REPLY_TIMEOUT_MS`]).
pub const REPLY_TIMEOUT: Duration = Duration::from_millis(ADMIN_REPLY_TIMEOUT_MS);

const PAGE_HTML: &str = include_str!("page/index.html");
const PAGE_JS: &str = include_str!("page/app.js");
const PAGE_CSS: &str = include_str!("page/style.css");
const PAGE_ICON: &str = include_str!("page/icon.svg");

/// Who may use the API and where it listens.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// Addresses to listen on.
    pub listen: Vec<SocketAddr>,
    /// Source networks allowed besides loopback (`allowManagementFrom`).
    pub allow: Vec<(IpAddr, u8)>,
    /// Host names (besides IP literals and `localhost`) the server answers to.
    pub hosts: Vec<String>,
    /// The token (`authtoken.secret`).
    pub token: String,
    /// This controller's address (for `/controller/network/{address}______`).
    pub address: Address,
    /// How long a request may wait for the owner loop to start it ([`REPLY_TIMEOUT`]).
    pub reply_timeout: Duration,
}

/// What the admin server counts (exported in `/metrics`).
#[derive(Debug, Default)]
pub struct AdminStats {
    /// Failed accepts (EMFILE, ENFILE, ECONNABORTED…).
    pub accept_errors: Cell<u64>,
    /// Connections from sources outside `--admin-allow`.
    pub refused_source: Cell<u64>,
    /// Connections closed at once because a connection cap was reached.
    pub refused_full: Cell<u64>,
    /// Requests answered 400, 413, 431 or 501 for their framing.
    pub bad_requests: Cell<u64>,
    /// Requests refused for their Host header.
    pub bad_hosts: Cell<u64>,
    /// Requests withdrawn unapplied after waiting for the owner loop (504).
    pub timeouts: Cell<u64>,
}

impl AdminStats {
    fn bump(&self, c: &Cell<u64>) {
        c.set(c.get() + 1);
    }

    /// `(name, value)` of every counter.
    pub fn fields(&self) -> [(&'static str, u64); 6] {
        [
            ("accept_errors", self.accept_errors.get()),
            ("refused_source", self.refused_source.get()),
            ("refused_full", self.refused_full.get()),
            ("bad_requests", self.bad_requests.get()),
            ("bad_hosts", self.bad_hosts.get()),
            ("timeouts", self.timeouts.get()),
        ]
    }
}

/// The running server: its listener tasks stop when it is dropped (connections end with the
/// executor).
pub struct AdminHandle {
    _listeners: Vec<Task<()>>,
    /// Addresses actually listened on.
    pub listening: Vec<SocketAddr>,
    /// The server's counters.
    pub stats: Rc<AdminStats>,
}

/// Binds every address of `cfg.listen` and spawns the listeners on `ex`. An address that
/// cannot be bound is an error, except `::1` (hosts without IPv6 still serve on 127.0.0.1).
pub fn start(
    ex: &Rc<LocalExecutor<'static>>,
    cfg: AdminConfig,
    tx: Sender<AdminRequest>,
) -> io::Result<AdminHandle> {
    let stats = Rc::new(AdminStats::default());
    let shared = Rc::new(Shared::new(cfg, tx, stats.clone()));
    let mut handle = AdminHandle {
        _listeners: Vec::new(),
        listening: Vec::new(),
        stats,
    };
    for addr in &shared.cfg.listen {
        let listener = match Async::<TcpListener>::bind(*addr) {
            Ok(l) => l,
            Err(e) if addr.ip() == IpAddr::V6(std::net::Ipv6Addr::LOCALHOST) => {
                crate::warn!("admin API on tcp {addr}: {e}");
                continue;
            }
            Err(e) => return Err(io::Error::other(format!("admin API on tcp {addr}: {e}"))),
        };
        handle.listening.push(listener.get_ref().local_addr()?);
        let task = ex.spawn(server::listen(listener, shared.clone(), Rc::downgrade(ex)));
        handle._listeners.push(task);
    }
    Ok(handle)
}

/// Whether `ip` lies in `net/bits`.
fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    crate::controller::ip_assign::contains(net, bits, ip)
}

/// Whether a request from `from` may use the API.
pub fn source_allowed(from: Option<SocketAddr>, allow: &[(IpAddr, u8)]) -> bool {
    let Some(ip) = from.map(|a| a.ip()) else {
        return false;
    };
    is_loopback(ip) || allow.iter().any(|(net, bits)| in_cidr(ip, *net, *bits))
}

/// The token a request carries, checked in zerotier-one's order: `X-ZT1-Auth`, then
/// `?auth=`, then `Authorization: Bearer` (a wrong `X-ZT1-Auth` is not rescued by the others).
pub fn token_ok(headers: &[(String, String)], query: &str, token: &str) -> bool {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    };
    let given = if let Some(v) = header("X-ZT1-Auth") {
        Some(v)
    } else if let Some(v) = query.split('&').find_map(|kv| kv.strip_prefix("auth=")) {
        Some(v)
    } else {
        header("Authorization").and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
    };
    given.is_some_and(|g| ct_eq(g.as_bytes(), token.as_bytes()))
}

/// Whether `ip` is a loopback address (IPv4-mapped included).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        IpAddr::V4(v4) => v4.is_loopback(),
    }
}

fn static_file(path: &str) -> Option<AdminReply> {
    let (content_type, body) = match path {
        "/" | "/index.html" | "/app" | "/app/" => ("text/html; charset=utf-8", PAGE_HTML),
        "/app.js" => ("text/javascript; charset=utf-8", PAGE_JS),
        "/style.css" => ("text/css; charset=utf-8", PAGE_CSS),
        "/icon.svg" | "/favicon.ico" => ("image/svg+xml", PAGE_ICON),
        _ => return None,
    };
    Some(AdminReply {
        status: 200,
        content_type,
        body: body.as_bytes().to_vec(),
    })
}

/// What [`answer`] decided.
enum Answered {
    /// `(answer, is a page file, body consumed)`. When the body was not read (refused before
    /// it), the connection must close after the answer.
    Reply(AdminReply, bool, bool),
    /// A network's detailed member list, to stream with [`stream_members`].
    Members(crate::wire::NetworkId),
}

/// Answers one request whose head has been read.
async fn answer(shared: &Rc<Shared>, conn: &mut Conn, head: &http::Head) -> Answered {
    match answer_reply(shared, conn, head).await {
        Ok(cmd) => match cmd {
            msg::AdminCommand::ListMembersDetailed(network) => Answered::Members(network),
            cmd => Answered::Reply(ask_owner(shared, cmd).await, false, true),
        },
        Err((reply, page, body_read)) => Answered::Reply(reply, page, body_read),
    }
}

/// Streams a network's detailed member list page by page: each page is one owner request, so
/// the loop is never held for more than a page's rendering and memory holds one page. The
/// answer ends with the connection (no length is known up front); a list cut short by an
/// error mid-way lacks its closing `]`, so no client takes it for complete.
async fn stream_members(shared: &Rc<Shared>, conn: &mut Conn, network: crate::wire::NetworkId) {
    let (mut after, mut first) = (None, true);
    loop {
        let limit = crate::limits::ADMIN_MEMBERS_PAGE;
        let reply = ask_owner(
            shared,
            msg::AdminCommand::MembersPage {
                network,
                after,
                limit,
            },
        )
        .await;
        if reply.status != 200 {
            if first {
                let _ = conn.respond(&reply, false, false).await;
            }
            return;
        }
        let body = &reply.body;
        let split = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
        let next = std::str::from_utf8(&body[..split])
            .ok()
            .and_then(crate::controller::api::parse_address);
        let objects = body.get(split + 1..).unwrap_or_default();
        let mut out = Vec::with_capacity(objects.len() + 256);
        if first {
            out.extend_from_slice(http::stream_head("application/json").as_bytes());
            out.push(b'[');
        } else if !objects.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(objects);
        if next.is_none() {
            out.push(b']');
        }
        if conn.send(&out).await.is_err() {
            return;
        }
        match next {
            Some(a) => (after, first) = (Some(a), false),
            None => return,
        }
    }
}

/// Reads and routes one request: its command, or the answer that refuses it
/// `(answer, is a page file, body consumed)`.
async fn answer_reply(
    shared: &Rc<Shared>,
    conn: &mut Conn,
    head: &http::Head,
) -> Result<msg::AdminCommand, (AdminReply, bool, bool)> {
    let cfg = &shared.cfg;
    let no_body = head.body == http::BodyKind::None;
    let host_ok = match head.header("Host") {
        Some(h) => http::host_allowed(h, &cfg.hosts),
        None => head.http10,
    };
    if !host_ok {
        shared.stats.bump(&shared.stats.bad_hosts);
        let msg = "Host header: not an IP address, localhost or a configured --admin-host name";
        return Err((AdminReply::error(421, msg), false, false));
    }
    if head.method == "GET"
        && let Some(page) = static_file(&head.path)
    {
        return Err((page, true, no_body));
    }
    // The planet is public (every client gets it from the roots anyway): a device on an
    // allowed LAN address may fetch it with curl, no token needed.
    let public = head.method == "GET" && head.path == "/ztcd/planet";
    if !public && !token_ok(&head.headers, &head.query, &cfg.token) {
        let msg = "missing or wrong token (X-ZT1-Auth header, ?auth= or Authorization: Bearer)";
        return Err((AdminReply::error(401, msg), false, no_body));
    }
    let mut budget = shared.reservation();
    let body = match conn
        .read_body(head.body, head.expect_continue, &mut budget)
        .await
    {
        Ok(body) => body,
        Err(Some(reply)) => return Err((reply, false, false)),
        Err(None) => {
            return Err((
                AdminReply::error(400, "body: incomplete in time"),
                false,
                false,
            ));
        }
    };
    let cmd = match routes::route(&head.method, &head.path, &head.query, &body, cfg.address) {
        Ok(cmd) => cmd,
        Err(reply) => return Err((reply, false, true)),
    };
    drop((body, budget));
    Ok(cmd)
}

/// Hands a command to the owner loop and waits for its answer. A command still queued when
/// the reply timeout passes is withdrawn (504: not applied); a started one is answered.
async fn ask_owner(shared: &Rc<Shared>, cmd: msg::AdminCommand) -> AdminReply {
    let (reply_tx, reply_rx) = smol::channel::bounded(1);
    let (request, ticket) = AdminRequest::new(cmd, reply_tx);
    match shared.tx.try_send(request) {
        Err(TrySendError::Full(_)) => {
            return AdminReply::error(503, "busy: too many requests waiting, retry");
        }
        Err(TrySendError::Closed(_)) => return AdminReply::error(503, "shutting down"),
        Ok(()) => {}
    }
    let deadline = Instant::now() + shared.cfg.reply_timeout;
    let answered = server::within(deadline, reply_rx.recv()).await;
    let answered = match answered {
        Some(a) => a,
        None if ticket.abandon() => {
            shared.stats.bump(&shared.stats.timeouts);
            let msg = "not applied: the controller did not start this request in time; retry";
            return AdminReply::error(504, msg);
        }
        None => reply_rx.recv().await,
    };
    answered.unwrap_or_else(|_| AdminReply::error(503, "shutting down"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves `cfg` on an executor of its own thread (the daemon runs it on the owner's).
    fn serve(reply_timeout: Duration, tx: Sender<AdminRequest>) -> SocketAddr {
        let cfg = AdminConfig {
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            allow: Vec::new(),
            hosts: Vec::new(),
            token: "t".into(),
            address: Address::new(0x11_2233_4455),
            reply_timeout,
        };
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let ex = Rc::new(LocalExecutor::new());
            let handle = start(&ex, cfg, tx).unwrap();
            addr_tx.send(handle.listening[0]).unwrap();
            smol::block_on(ex.run(smol::future::pending::<()>()));
        });
        addr_rx.recv().unwrap()
    }

    fn raw(addr: SocketAddr, request: &[u8]) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let _ = s.write_all(request);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn get(addr: SocketAddr, path: &str) -> String {
        let rq = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-ZT1-Auth: t\r\nConnection: close\r\n\r\n"
        );
        raw(addr, rq.as_bytes())
    }

    fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_full_queue_answers_503_and_a_request_never_started_504_unapplied() {
        // Nobody reads the queue of one: the first request waits and is withdrawn, the second
        // finds the queue full.
        let (tx, rx) = smol::channel::bounded(1);
        let addr = serve(Duration::from_millis(1500), tx);
        let first = std::thread::spawn(move || get(addr, "/status"));
        wait_until("the first request to be queued", || !rx.is_empty());
        let second = get(addr, "/status");
        assert!(second.starts_with("HTTP/1.1 503"), "{second}");
        assert!(second.contains("too many requests waiting"), "{second}");
        let first = first.join().unwrap();
        assert!(first.starts_with("HTTP/1.1 504"), "{first}");
        assert!(first.contains("not applied"), "{first}");
        let queued = smol::block_on(rx.recv()).unwrap();
        assert!(
            !queued.start(),
            "a withdrawn request must never be carried out"
        );
    }

    #[test]
    fn a_started_request_gets_its_real_answer_after_the_timeout() {
        let (tx, rx) = smol::channel::bounded(1);
        let addr = serve(Duration::from_millis(300), tx);
        let owner = std::thread::spawn(move || {
            let r: AdminRequest = smol::block_on(rx.recv()).unwrap();
            assert!(r.start());
            std::thread::sleep(Duration::from_millis(900));
            r.reply
                .try_send(AdminReply::json("{\"late\":true}"))
                .unwrap();
        });
        let answer = get(addr, "/status");
        owner.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("{\"late\":true}"), "{answer}");
    }

    #[test]
    fn framing_attacks_are_answered_and_the_server_keeps_serving() {
        let (tx, rx) = smol::channel::bounded::<AdminRequest>(8);
        std::thread::spawn(move || {
            while let Ok(r) = smol::block_on(rx.recv()) {
                assert!(r.start());
                let _ = r.reply.try_send(AdminReply::json("{}"));
            }
        });
        let addr = serve(Duration::from_secs(10), tx);
        for len in ["18446744073709551615", "99999999999", "1048577"] {
            let rq =
                format!("GET /status HTTP/1.1\r\nHost: 10.0.0.1\r\nContent-Length: {len}\r\n\r\n");
            let a = raw(addr, rq.as_bytes());
            assert!(a.starts_with("HTTP/1.1 413"), "{len}: {a}");
        }
        let mut big = b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: ".to_vec();
        big.resize(big.len() + 64 * 1024, b'a');
        let a = raw(addr, &big);
        assert!(a.starts_with("HTTP/1.1 431"), "{a}");
        let a = raw(
            addr,
            b"GET /status HTTP/1.1\r\nHost: evil.example\r\nX-ZT1-Auth: t\r\n\r\n",
        );
        assert!(a.starts_with("HTTP/1.1 421"), "{a}");
        let a = raw(addr, b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-ZT1-Auth: x\r\nConnection: close\r\n\r\n");
        assert!(a.starts_with("HTTP/1.1 401"), "{a}");
        let chunked = b"POST /controller/network HTTP/1.1\r\nHost: [::1]:1\r\nX-ZT1-Auth: t\r\n\
            Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        let a = raw(addr, chunked);
        assert!(a.starts_with("HTTP/1.1 200"), "{a}");
        // Three pipelined requests on one connection, answered in order; the last closes.
        let three = "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-ZT1-Auth: t\r\n\r\n".repeat(2)
            + "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-ZT1-Auth: t\r\nConnection: close\r\n\r\n";
        let a = raw(addr, three.as_bytes());
        assert_eq!(a.matches("HTTP/1.1 200").count(), 3, "{a}");
        assert!(get(addr, "/status").starts_with("HTTP/1.1 200"));
    }

    #[test]
    fn sources_and_tokens() {
        let lan = vec![("192.168.1.0".parse().unwrap(), 24)];
        let at = |s: &str| Some(SocketAddr::new(s.parse().unwrap(), 1));
        assert!(source_allowed(at("127.0.0.1"), &[]));
        assert!(source_allowed(at("::1"), &[]));
        assert!(source_allowed(at("::ffff:127.0.0.1"), &[]));
        assert!(!source_allowed(at("192.168.1.7"), &[]));
        assert!(source_allowed(at("192.168.1.7"), &lan));
        assert!(source_allowed(at("::ffff:192.168.1.7"), &lan));
        assert!(!source_allowed(at("192.168.2.7"), &lan));
        let h = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        assert!(token_ok(&h("x-zt1-auth", "abc"), "", "abc"));
        assert!(
            !token_ok(&h("X-ZT1-Auth", "abd"), "auth=abc", "abc"),
            "a wrong header is final"
        );
        assert!(token_ok(&[], "x=1&auth=abc", "abc"));
        assert!(token_ok(&h("Authorization", "bearer abc"), "", "abc"));
        assert!(!token_ok(&h("Authorization", "Basic abc"), "", "abc"));
        assert!(!token_ok(&[], "", "abc"));
        assert!(!token_ok(&h("X-ZT1-Auth", ""), "", "abc"));
    }
}
