//! A small blocking HTTP/1.1 client of the admin API, for the management commands that send a
//! change to the running daemon, the load generator, the tests and the benchmarks: one request
//! per connection ([`call`], [`request`]) or several on one kept-alive connection ([`Conn`]).
//! Every answer is bounded: its head by [`MAX_HEAD`], its body by [`MAX_ANSWER`], and nothing is
//! allocated from a length the server sent, only as the bytes arrive.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The most bytes of an answer's body read (a member list with details for 10,000 members is
/// about 6 MB, for 100,000 about 60 MiB).
pub const MAX_ANSWER: u64 = 64 << 20;

/// The most bytes of an answer's status line and headers.
pub const MAX_HEAD: u64 = 64 << 10;

/// How long to wait to connect, and for the answer (the daemon answers 504 within 10 s).
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// An answer: status, headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Header names and values, in the order sent (values trimmed).
    pub headers: Vec<(String, String)>,
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

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request: method, path (with its query), extra headers and body. `Host` and
/// `Content-Length` are always sent.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path and query.
    pub path: &'a str,
    /// Extra header names and values.
    pub headers: &'a [(&'a str, &'a str)],
    /// Body bytes (empty: none).
    pub body: &'a [u8],
}

/// Sends one request with the token and an optional JSON body; returns the answer.
pub fn call(
    addr: SocketAddr,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<Answer, String> {
    let headers = [
        ("X-ZT1-Auth", token.trim()),
        ("Content-Type", "application/json"),
    ];
    let req = Request {
        method,
        path,
        headers: &headers,
        body: body.unwrap_or("").as_bytes(),
    };
    request(addr, &req, TIMEOUT)
}

/// Sends `req` on a new connection closed after the answer, waiting at most `timeout` to
/// connect and for each read and write. A server may answer and close before it has read a
/// large body: the answer still counts.
pub fn request(addr: SocketAddr, req: &Request<'_>, timeout: Duration) -> Result<Answer, String> {
    let fail = |e: std::io::Error| format!("admin API at {addr}: {e}");
    let mut s = connect(addr, timeout).map_err(fail)?;
    s.write_all(head(addr, req, true).as_bytes())
        .map_err(fail)?;
    let sent = s.write_all(req.body);
    let answer = read_answer(&mut BufReader::new(s), req.method);
    match (answer, sent) {
        (Ok((a, _)), _) => Ok(a),
        (Err(e), Ok(())) => Err(format!("admin API at {addr}: {e}")),
        (Err(e), Err(w)) => Err(format!("admin API at {addr}: {e} (sending: {w})")),
    }
}

/// A kept-alive connection: requests one after the other, reconnecting when the server says
/// it closes (it does after a bounded number of requests per connection).
#[derive(Debug)]
pub struct Conn {
    addr: SocketAddr,
    timeout: Duration,
    stream: BufReader<TcpStream>,
}

impl Conn {
    /// Connects to `addr`, waiting at most `timeout` to connect and for each read and write.
    pub fn open(addr: SocketAddr, timeout: Duration) -> Result<Self, String> {
        let s = connect(addr, timeout).map_err(|e| format!("admin API at {addr}: {e}"))?;
        Ok(Self {
            addr,
            timeout,
            stream: BufReader::new(s),
        })
    }

    /// Sends `req` and reads its answer.
    pub fn send(&mut self, req: &Request<'_>) -> Result<Answer, String> {
        let addr = self.addr;
        let fail = |e: String| format!("admin API at {addr}: {e}");
        let s = self.stream.get_mut();
        s.write_all(head(addr, req, false).as_bytes())
            .and_then(|()| s.write_all(req.body))
            .map_err(|e| fail(e.to_string()))?;
        let (answer, close) = read_answer(&mut self.stream, req.method).map_err(fail)?;
        if close {
            *self = Self::open(addr, self.timeout)?;
        }
        Ok(answer)
    }
}

/// A TCP connection to `addr` with `timeout` for connecting, reads and writes, without
/// Nagle's delay.
fn connect(addr: SocketAddr, timeout: Duration) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// The request line and headers of `req`.
fn head(addr: SocketAddr, req: &Request<'_>, close: bool) -> String {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        req.method,
        req.path,
        req.body.len()
    );
    if close {
        head.push_str("Connection: close\r\n");
    }
    for (k, v) in req.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// Reads one answer to a `method` request: the answer and whether the server closes after it.
/// The body is read by its `Content-Length`, else to the end of the connection.
fn read_answer(r: &mut impl BufRead, method: &str) -> Result<(Answer, bool), String> {
    let mut raw = Vec::new();
    while !raw.ends_with(b"\r\n\r\n") {
        let room = MAX_HEAD.saturating_sub(raw.len() as u64);
        if room == 0 {
            return Err(format!("answer head over {MAX_HEAD} bytes"));
        }
        let n = r
            .by_ref()
            .take(room)
            .read_until(b'\n', &mut raw)
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!(
                "incomplete answer: {}",
                String::from_utf8_lossy(&raw)
            ));
        }
    }
    let mut answer = parse_head(&raw).ok_or("malformed answer")?;
    let close = answer
        .header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let bodiless = method == "HEAD" || answer.status < 200 || matches!(answer.status, 204 | 304);
    let length = match answer.header("content-length") {
        _ if bodiless => Some(0),
        Some(v) => Some(v.parse::<u64>().map_err(|_| "bad Content-Length")?),
        None => None,
    };
    let limit = length.unwrap_or(MAX_ANSWER);
    if limit > MAX_ANSWER {
        return Err(format!("answer of {limit} bytes, over {MAX_ANSWER}"));
    }
    r.take(limit)
        .read_to_end(&mut answer.body)
        .map_err(|e| e.to_string())?;
    if length.is_some_and(|n| answer.body.len() as u64 != n) {
        return Err("answer cut short".into());
    }
    Ok((answer, close || length.is_none()))
}

/// The status and headers of a complete answer head.
fn parse_head(raw: &[u8]) -> Option<Answer> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(_) = r.parse(raw).ok()? else {
        return None;
    };
    let headers = r
        .headers
        .iter()
        .map(|h| {
            let value = String::from_utf8_lossy(h.value).trim().to_owned();
            (h.name.to_owned(), value)
        })
        .collect();
    Some(Answer {
        status: r.code?,
        headers,
        body: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> Result<Answer, String> {
        read_answer(&mut &raw[..], "GET").map(|(a, _)| a)
    }

    #[test]
    fn answers_are_split_by_their_length() {
        let a = parse(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 25\r\n\r\n{\"message\":\"mtu: wrong\"}\n",
        )
        .unwrap();
        assert_eq!((a.status, a.message()), (400, "mtu: wrong".to_string()));
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").is_err());
        assert!(parse(b"HTTP/1.1 20").is_err());
        let a = parse(b"HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nto the end").unwrap();
        assert_eq!(
            (a.header("x-a"), a.text().as_str()),
            (Some("1"), "to the end")
        );
    }

    #[test]
    fn kept_alive_answers_follow_each_other_and_lengths_are_capped() {
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabHTTP/1.1 404 Not Found\r\n\
                    Content-Length: 0\r\nConnection: close\r\n\r\n";
        let mut r = &two[..];
        let (a, close) = read_answer(&mut r, "GET").unwrap();
        assert_eq!(
            (a.status, a.body.as_slice(), close),
            (200, &b"ab"[..], false)
        );
        let (a, close) = read_answer(&mut r, "GET").unwrap();
        assert_eq!((a.status, close), (404, true));
        let huge = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", u64::MAX);
        assert!(parse(huge.as_bytes()).unwrap_err().contains("over"));
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        let a = read_answer(&mut &head[..], "HEAD").unwrap().0;
        assert!(a.body.is_empty());
    }
}
