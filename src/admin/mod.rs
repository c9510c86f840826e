//! The admin HTTP server: the zerotier-one JSON API, Prometheus metrics and the LAN page.
//!
//! tiny_http listens on loopback (IPv4 and IPv6) and on the addresses the user adds; a few
//! worker threads per listener check the source address and the token, cap the body, map the
//! request to an [`msg::AdminCommand`] and hand it to the owner loop over a bounded channel
//! (full → 503). The answer comes back on a per-request channel (none in time → 504). The
//! workers never touch state; the page's static files are served from the binary directly.

pub mod msg;
pub mod routes;

use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use smol::channel::{Sender, TrySendError};
use tiny_http::{Header, Request, Response, Server};

use self::msg::{AdminReply, AdminRequest};
use crate::crypto::ct_eq;
use crate::wire::Address;

/// Largest accepted request body (bytes); larger ones get 413.
pub const MAX_BODY: usize = 1024 * 1024;
/// Requests that may wait for the owner loop; more get 503.
pub const ADMIN_QUEUE: usize = 256;
/// How long a worker waits for the owner loop's answer before answering 504.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Worker threads of the first (127.0.0.1) listener, where management UIs and scripts
/// connect: requests in flight are batched into one commit, so more workers mean more writes
/// per second. Other listeners (::1, the LAN page) get [`WORKERS_OTHER`].
pub const WORKERS_PRIMARY: usize = 16;
/// Worker threads of the other listeners.
pub const WORKERS_OTHER: usize = 4;

const PAGE_HTML: &str = include_str!("page/index.html");
const PAGE_JS: &str = include_str!("page/app.js");
const PAGE_CSS: &str = include_str!("page/style.css");
const PAGE_ICON: &str = include_str!("page/icon.svg");
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
     img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Who may use the API and where it listens.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// Addresses to listen on.
    pub listen: Vec<SocketAddr>,
    /// Source networks allowed besides loopback (`allowManagementFrom`).
    pub allow: Vec<(IpAddr, u8)>,
    /// The token (`authtoken.secret`).
    pub token: String,
    /// This controller's address (for `/controller/network/{address}______`).
    pub address: Address,
    /// How long to wait for the owner loop ([`REPLY_TIMEOUT`] in the daemon).
    pub reply_timeout: Duration,
    /// Worker threads per listening address.
    pub workers: usize,
}

/// The running server; dropping it stops the workers.
pub struct AdminHandle {
    servers: Vec<Arc<Server>>,
    workers: usize,
    threads: Vec<JoinHandle<()>>,
    /// Addresses actually listened on.
    pub listening: Vec<SocketAddr>,
}

impl Drop for AdminHandle {
    fn drop(&mut self) {
        for s in &self.servers {
            for _ in 0..self.workers {
                s.unblock();
            }
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Starts listening and the worker threads.
pub fn spawn(cfg: AdminConfig, tx: Sender<AdminRequest>) -> io::Result<AdminHandle> {
    let cfg = Arc::new(cfg);
    let mut handle = AdminHandle {
        servers: Vec::new(),
        workers: cfg.workers,
        threads: Vec::new(),
        listening: Vec::new(),
    };
    for addr in &cfg.listen {
        let server = Server::http(addr)
            .map_err(|e| io::Error::other(format!("admin API on tcp {addr}: {e}")))?;
        if let Some(a) = server.server_addr().to_ip() {
            handle.listening.push(a);
        }
        let server = Arc::new(server);
        for i in 0..cfg.workers {
            let (server, cfg, tx) = (server.clone(), cfg.clone(), tx.clone());
            handle.threads.push(
                std::thread::Builder::new()
                    .name(format!("ztcd-admin-{i}"))
                    .spawn(move || {
                        while let Ok(rq) = server.recv() {
                            serve(&cfg, &tx, rq);
                        }
                    })?,
            );
        }
        handle.servers.push(server);
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
    let loopback = match ip {
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        IpAddr::V4(v4) => v4.is_loopback(),
    };
    loopback || allow.iter().any(|(net, bits)| in_cidr(ip, *net, *bits))
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

fn header(name: &str, value: &str) -> Header {
    // unwrap safety: names and values here are ASCII constants or ASCII content types.
    Header::from_bytes(name.as_bytes(), value.as_bytes())
        .unwrap_or_else(|()| Header::from_bytes(&b"X-Invalid"[..], &b"1"[..]).expect("ascii"))
}

fn respond(rq: Request, reply: AdminReply, page: bool) {
    // Always a Content-Length (tiny_http would switch large bodies to chunked encoding).
    let mut resp = Response::from_data(reply.body)
        .with_chunked_threshold(usize::MAX)
        .with_status_code(reply.status)
        .with_header(header("Content-Type", reply.content_type))
        .with_header(header("X-Content-Type-Options", "nosniff"))
        .with_header(header("X-Frame-Options", "DENY"))
        .with_header(header("Referrer-Policy", "no-referrer"));
    if page {
        resp = resp
            .with_header(header("Content-Security-Policy", PAGE_CSP))
            .with_header(header("Cache-Control", "no-cache"));
    } else {
        resp = resp.with_header(header("Cache-Control", "no-store"));
    }
    let _ = rq.respond(resp);
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

/// Answers one request.
fn serve(cfg: &AdminConfig, tx: &Sender<AdminRequest>, mut rq: Request) {
    let from = rq.remote_addr().copied();
    if !source_allowed(from, &cfg.allow) {
        let who = from.map_or_else(|| "unknown".into(), |a| a.ip().to_string());
        return respond(
            rq,
            AdminReply::error(
                401,
                &format!("source {who} is not allowed to manage this controller"),
            ),
            false,
        );
    }
    let url = rq.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let method = rq.method().as_str().to_ascii_uppercase();
    if method == "GET"
        && let Some(page) = static_file(path)
    {
        return respond(rq, page, true);
    }
    let headers: Vec<(String, String)> = rq
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_owned(),
                h.value.as_str().to_owned(),
            )
        })
        .collect();
    if !token_ok(&headers, query, &cfg.token) {
        return respond(
            rq,
            AdminReply::error(
                401,
                "missing or wrong token (X-ZT1-Auth header, ?auth= or Authorization: Bearer)",
            ),
            false,
        );
    }
    if rq.body_length().is_some_and(|n| n > MAX_BODY) {
        return respond(
            rq,
            AdminReply::error(413, &format!("body larger than {MAX_BODY} bytes")),
            false,
        );
    }
    let mut body = Vec::new();
    if rq
        .as_reader()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body)
        .is_err()
    {
        return respond(rq, AdminReply::error(400, "body: could not be read"), false);
    }
    if body.len() > MAX_BODY {
        return respond(
            rq,
            AdminReply::error(413, &format!("body larger than {MAX_BODY} bytes")),
            false,
        );
    }
    let cmd = match routes::route(&method, path, query, &body, cfg.address) {
        Ok(cmd) => cmd,
        Err(reply) => return respond(rq, reply, false),
    };
    let (reply_tx, reply_rx) = sync_channel(1);
    let reply = match tx.try_send(AdminRequest {
        cmd,
        reply: reply_tx,
    }) {
        Err(TrySendError::Full(_)) => {
            AdminReply::error(503, "busy: too many requests waiting, retry")
        }
        Err(TrySendError::Closed(_)) => AdminReply::error(503, "shutting down"),
        Ok(()) => match reply_rx.recv_timeout(cfg.reply_timeout) {
            Ok(reply) => reply,
            Err(RecvTimeoutError::Timeout) => AdminReply::error(504, "no answer in time"),
            Err(RecvTimeoutError::Disconnected) => AdminReply::error(503, "shutting down"),
        },
    };
    respond(rq, reply, false);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(addr: SocketAddr, path: &str) -> String {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nX-ZT1-Auth: t\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn a_full_queue_answers_503_and_a_silent_owner_504() {
        // Nobody reads the queue of one: the first request waits and times out, the second
        // finds the queue full.
        let (tx, _rx) = smol::channel::bounded(1);
        let cfg = AdminConfig {
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            allow: Vec::new(),
            token: "t".into(),
            address: Address::new(0x11_2233_4455),
            reply_timeout: Duration::from_millis(1500),
            workers: 2,
        };
        let handle = spawn(cfg, tx).unwrap();
        let addr = handle.listening[0];
        let first = std::thread::spawn(move || get(addr, "/status"));
        std::thread::sleep(Duration::from_millis(300));
        let second = get(addr, "/status");
        assert!(second.starts_with("HTTP/1.1 503"), "{second}");
        assert!(second.contains("too many requests waiting"), "{second}");
        let first = first.join().unwrap();
        assert!(first.starts_with("HTTP/1.1 504"), "{first}");
        drop(handle);
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
