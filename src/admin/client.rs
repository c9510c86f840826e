//! A small blocking client of the admin API, for the management commands that send a change to
//! the running daemon (and the load generator): one request per connection, bounded answer.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The most bytes of an answer read (a member list with details for 10,000 members is about
/// 6 MB).
const MAX_ANSWER: u64 = 64 << 20;

/// How long to wait to connect, and for the answer (the daemon answers 504 within 10 s).
const TIMEOUT: Duration = Duration::from_secs(30);

/// An answer: status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body's `message` (ztcd's JSON errors), else the body as text.
    pub fn message(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| self.text())
    }
}

/// Sends one request with the token and an optional JSON body; returns the answer.
pub fn call(
    addr: SocketAddr,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<Answer, String> {
    let fail = |e: std::io::Error| format!("admin API at {addr}: {e}");
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(fail)?;
    s.set_read_timeout(Some(TIMEOUT)).map_err(fail)?;
    s.set_write_timeout(Some(TIMEOUT)).map_err(fail)?;
    let body = body.unwrap_or("");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nX-ZT1-Auth: {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        token.trim(),
        body.len()
    );
    s.write_all(head.as_bytes()).map_err(fail)?;
    s.write_all(body.as_bytes()).map_err(fail)?;
    let mut raw = Vec::new();
    s.take(MAX_ANSWER).read_to_end(&mut raw).map_err(fail)?;
    parse(&raw).ok_or_else(|| format!("admin API at {addr}: malformed answer"))
}

/// Splits a whole `Connection: close` answer into status and body.
fn parse(raw: &[u8]) -> Option<Answer> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(len) = r.parse(raw).ok()? else {
        return None;
    };
    let status = r.code?;
    let length = r
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        });
    let rest = &raw[len..];
    let body = match length {
        Some(n) => rest.get(..n)?,
        None => rest,
    };
    Some(Answer {
        status,
        body: body.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_split_by_their_length() {
        let a = parse(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 25\r\n\r\n{\"message\":\"mtu: wrong\"}\n",
        )
        .unwrap();
        assert_eq!((a.status, a.message()), (400, "mtu: wrong".to_string()));
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").is_none());
        assert!(parse(b"HTTP/1.1 20").is_none());
    }
}
