//! HTTP/1.1 framing for the admin server, without I/O: the request head (parsed by
//! `httparse` into owned, bounded values), chunked request bodies, the Host check and the
//! response head. Every size is bounded by `limits.rs` before anything is allocated from it.

use std::net::IpAddr;

use crate::limits::{ADMIN_MAX_BODY, ADMIN_MAX_HEAD, ADMIN_MAX_HEADERS};

/// How the request's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body (no `Content-Length`, or zero).
    None,
    /// `Content-Length`, already checked against [`ADMIN_MAX_BODY`].
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Method, upper case.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Query string without the `?`.
    pub query: String,
    /// Header names and values (values lossily decoded, trimmed).
    pub headers: Vec<(String, String)>,
    /// Body framing.
    pub body: BodyKind,
    /// Whether the client keeps the connection open after the answer.
    pub keep_alive: bool,
    /// `Expect: 100-continue`.
    pub expect_continue: bool,
    /// HTTP/1.0 (answers then say `HTTP/1.0`-compatible things such as `keep-alive`).
    pub http10: bool,
}

impl Head {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request cannot be served; each maps to a status and the connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// Malformed request (400).
    Bad(&'static str),
    /// Head above [`ADMIN_MAX_HEAD`] bytes or [`ADMIN_MAX_HEADERS`] lines (431).
    HeadTooLarge,
    /// Body above [`ADMIN_MAX_BODY`] (413).
    BodyTooLarge,
    /// A transfer coding other than chunked (501).
    Unsupported,
}

impl HttpError {
    /// Status code and message.
    pub fn status(self) -> (u16, String) {
        match self {
            Self::Bad(why) => (400, format!("bad request: {why}")),
            Self::HeadTooLarge => (
                431,
                format!(
                    "request head larger than {ADMIN_MAX_HEAD} bytes or {ADMIN_MAX_HEADERS} headers"
                ),
            ),
            Self::BodyTooLarge => (413, format!("body larger than {ADMIN_MAX_BODY} bytes")),
            Self::Unsupported => (501, "only chunked transfer coding is supported".into()),
        }
    }
}

/// Parses a request head from the start of `buf`: `Ok(None)` when more bytes are needed,
/// else the head and its length in bytes.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, HttpError> {
    let window = &buf[..buf.len().min(ADMIN_MAX_HEAD)];
    let mut slots = [httparse::EMPTY_HEADER; ADMIN_MAX_HEADERS];
    let mut req = httparse::Request::new(&mut slots);
    let len = match req.parse(window) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if window.len() >= ADMIN_MAX_HEAD => {
            return Err(HttpError::HeadTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeadTooLarge),
        Err(_) => return Err(HttpError::Bad("malformed request head")),
    };
    let method = req.method.unwrap_or_default().to_ascii_uppercase();
    let target = req.path.unwrap_or_default();
    let http10 = req.version == Some(0);
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|h| {
            let value = String::from_utf8_lossy(h.value).trim().to_owned();
            (h.name.to_owned(), value)
        })
        .collect();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if !path.starts_with('/') {
        return Err(HttpError::Bad("the target must be a path"));
    }
    let mut head = Head {
        method,
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body: BodyKind::None,
        keep_alive: !http10,
        expect_continue: false,
        http10,
    };
    head.body = body_kind(&head)?;
    if let Some(c) = head.header("Connection") {
        let has = |t: &str| c.split(',').any(|x| x.trim().eq_ignore_ascii_case(t));
        if has("close") {
            head.keep_alive = false;
        } else if has("keep-alive") {
            head.keep_alive = true;
        }
    }
    head.expect_continue = head
        .header("Expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    Ok(Some((head, len)))
}

/// Whether `bytes` hold the blank line that ends a request head (`\n\n` or `\n\r\n`).
pub fn has_blank_line(bytes: &[u8]) -> bool {
    bytes
        .windows(2)
        .enumerate()
        .any(|(i, w)| w == b"\n\n" || (w == b"\n\r" && bytes.get(i + 2) == Some(&b'\n')))
}

/// The body framing, refusing ambiguous (smuggling) and oversized ones.
fn body_kind(head: &Head) -> Result<BodyKind, HttpError> {
    let mut lengths = head
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("Content-Length"))
        .map(|(_, v)| v.as_str());
    let te = head.header("Transfer-Encoding");
    let first = lengths.next();
    if lengths.any(|v| Some(v) != first) {
        return Err(HttpError::Bad("conflicting Content-Length headers"));
    }
    match (first, te) {
        (Some(_), Some(_)) => Err(HttpError::Bad("both Content-Length and Transfer-Encoding")),
        (None, Some(te)) => {
            let last = te.rsplit(',').next().unwrap_or_default().trim();
            if last.eq_ignore_ascii_case("chunked") && !te.contains(',') {
                Ok(BodyKind::Chunked)
            } else {
                Err(HttpError::Unsupported)
            }
        }
        (Some(v), None) => {
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HttpError::Bad("Content-Length is not a number"));
            }
            // Any value too long to parse is far above the cap.
            match v.parse::<u64>() {
                Ok(0) => Ok(BodyKind::None),
                Ok(n) if n <= ADMIN_MAX_BODY as u64 => Ok(BodyKind::Length(n as usize)),
                _ => Err(HttpError::BodyTooLarge),
            }
        }
        (None, None) => Ok(BodyKind::None),
    }
}

/// Whether a `Host` header names this server: an IP literal (with or without a port, IPv6 in
/// brackets), `localhost`, or one of `names`. Anything else may be a DNS-rebinding page
/// reaching the admin server through a browser on the LAN.
pub fn host_allowed(host: &str, names: &[String]) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, port))
                if port.is_empty() || port.strip_prefix(':').is_some_and(valid_port) =>
            {
                return ip.parse::<std::net::Ipv6Addr>().is_ok();
            }
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if valid_port(port) => name,
            Some(_) => return false,
            None => host,
        }
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    name.parse::<IpAddr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || names.iter().any(|n| n.eq_ignore_ascii_case(name))
}

fn valid_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

/// A `Transfer-Encoding: chunked` body decoder: feed it bytes, it appends the data to `out`,
/// never more than [`ADMIN_MAX_BODY`] in all, and tells when the body has ended.
#[derive(Debug, Default)]
pub struct Chunked {
    state: ChunkState,
    total: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Expecting a chunk-size line.
    #[default]
    Size,
    /// Inside a chunk: this many data bytes left.
    Data(usize),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one, this many bytes seen so far.
    Trailer(usize),
    /// Finished.
    Done,
}

impl Chunked {
    /// Decodes from `input`; returns the bytes consumed and whether the body is complete.
    /// Stops early (consuming less) when a line is incomplete: call again with more bytes.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(usize, bool), HttpError> {
        let mut at = 0;
        loop {
            let rest = &input[at..];
            match self.state {
                ChunkState::Done => return Ok((at, true)),
                ChunkState::Size => match httparse::parse_chunk_size(rest) {
                    Ok(httparse::Status::Complete((n, size))) => {
                        at += n;
                        if size > (ADMIN_MAX_BODY - self.total) as u64 {
                            return Err(HttpError::BodyTooLarge);
                        }
                        self.state = match size {
                            0 => ChunkState::Trailer(0),
                            s => ChunkState::Data(s as usize),
                        };
                    }
                    Ok(httparse::Status::Partial) if rest.len() < 64 => return Ok((at, false)),
                    _ => return Err(HttpError::Bad("malformed chunk size")),
                },
                ChunkState::Data(left) => {
                    let take = left.min(rest.len());
                    out.extend_from_slice(&rest[..take]);
                    self.total += take;
                    at += take;
                    if take < left {
                        self.state = ChunkState::Data(left - take);
                        return Ok((at, false));
                    }
                    self.state = ChunkState::DataEnd;
                }
                ChunkState::DataEnd => {
                    if rest.len() < 2 {
                        return Ok((at, false));
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(HttpError::Bad("chunk data not followed by CRLF"));
                    }
                    at += 2;
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailer(seen) => {
                    let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
                        if seen + rest.len() > ADMIN_MAX_HEAD {
                            return Err(HttpError::HeadTooLarge);
                        }
                        return Ok((at, false));
                    };
                    at += end + 2;
                    self.state = if end == 0 {
                        ChunkState::Done
                    } else if seen + end > ADMIN_MAX_HEAD {
                        return Err(HttpError::HeadTooLarge);
                    } else {
                        ChunkState::Trailer(seen + end + 2)
                    };
                }
            }
        }
    }
}

/// The reason phrase of the statuses the server uses.
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        421 => "Misdirected Request",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// The page's Content-Security-Policy.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'none'";

/// A response head: always a `Content-Length` (never chunked), the security headers, the
/// page's CSP for page files and `no-store` for API answers.
pub fn response_head(
    status: u16,
    content_type: &str,
    len: usize,
    page: bool,
    keep_alive: bool,
) -> String {
    let cache = if page {
        "no-cache\r\nContent-Security-Policy: ".to_owned() + PAGE_CSP
    } else {
        "no-store".to_owned()
    };
    let connection = if keep_alive { "keep-alive" } else { "close" };
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\n\
         X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n\
         Referrer-Policy: no-referrer\r\nCache-Control: {cache}\r\nConnection: {connection}\r\n\r\n",
        reason(status)
    )
}

/// The head of an answer streamed until the connection closes (no length known up front).
pub fn stream_head(content_type: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nX-Content-Type-Options: nosniff\r\n\
         X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\nCache-Control: no-store\r\n\
         Connection: close\r\n\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Option<(Head, usize)>, HttpError> {
        parse_head(text.as_bytes())
    }

    #[test]
    fn heads() {
        let (h, n) = head("GET /status?x=1 HTTP/1.1\r\nHost: a\r\n\r\nrest")
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.path.as_str(), h.query.as_str(), n),
            ("/status", "x=1", 37)
        );
        assert!(h.keep_alive && !h.http10 && h.body == BodyKind::None);
        assert_eq!(head("GET /status HTTP/1.1\r\nHost: a\r\n").unwrap(), None);
        let (h, _) = head("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive && h.http10);
        let (h, _) = head("POST / HTTP/1.1\r\nContent-Length: 12\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((h.body, h.keep_alive), (BodyKind::Length(12), false));
        let (h, _) = head("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.body, BodyKind::Chunked);
    }

    #[test]
    fn blank_lines() {
        assert!(has_blank_line(b"GET / HTTP/1.1\r\n\r\n"));
        assert!(has_blank_line(b"GET / HTTP/1.1\n\n"));
        assert!(has_blank_line(b"\n\r\n"));
        assert!(!has_blank_line(b"GET / HTTP/1.1\r\nHost: a\r\n"));
        assert!(!has_blank_line(b"\n\r"));
    }

    #[test]
    fn hostile_heads() {
        for huge in [
            "18446744073709551615",
            "99999999999",
            "1048577",
            "1".repeat(400).as_str(),
        ] {
            let text = format!("GET / HTTP/1.1\r\nContent-Length: {huge}\r\n\r\n");
            assert_eq!(head(&text), Err(HttpError::BodyTooLarge), "{huge}");
        }
        assert!(matches!(
            head("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
            Err(HttpError::Bad(_))
        ));
        assert!(matches!(
            head("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Err(HttpError::Bad(_))
        ));
        assert!(matches!(
            head("GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(HttpError::Bad(_))
        ));
        assert_eq!(
            head("GET / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            Err(HttpError::Unsupported)
        );
        let long = format!("GET / HTTP/1.1\r\nX-A: {}", "a".repeat(ADMIN_MAX_HEAD));
        assert_eq!(head(&long), Err(HttpError::HeadTooLarge));
        let many: String = (0..=ADMIN_MAX_HEADERS)
            .map(|i| format!("X-{i}: 1\r\n"))
            .collect();
        assert_eq!(
            head(&format!("GET / HTTP/1.1\r\n{many}\r\n")),
            Err(HttpError::HeadTooLarge)
        );
        assert!(head("GET http://x/ HTTP/1.1\r\n\r\n").is_err());
        assert!(head("\x00\x01 / HTTP/1.1\r\n\r\n").is_err());
    }

    #[test]
    fn hosts() {
        let names = vec!["router.lan".to_owned()];
        for ok in [
            "127.0.0.1",
            "127.0.0.1:9993",
            "[::1]:9993",
            "[fe80::1]",
            "192.168.1.1:80",
            "localhost:9993",
            "LOCALHOST",
            "router.lan",
            "Router.LAN:9993",
        ] {
            assert!(host_allowed(ok, &names), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:9993",
            "[::1",
            "1.2.3.4:x",
            "",
            "::1",
        ] {
            assert!(!host_allowed(bad, &names), "{bad}");
        }
    }

    fn dechunk(parts: &[&[u8]]) -> Result<(Vec<u8>, bool), HttpError> {
        let mut c = Chunked::default();
        let mut out = Vec::new();
        let mut pending = Vec::new();
        let mut done = false;
        for p in parts {
            pending.extend_from_slice(p);
            let (n, d) = c.feed(&pending, &mut out)?;
            pending.drain(..n);
            done = d;
        }
        Ok((out, done))
    }

    #[test]
    fn chunked_bodies() {
        let whole = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\n";
        assert_eq!(dechunk(&[whole]).unwrap(), (b"hello world".to_vec(), true));
        let bytes: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(dechunk(&bytes).unwrap(), (b"hello world".to_vec(), true));
        assert_eq!(dechunk(&[b"5\r\nhel"]).unwrap(), (b"hel".to_vec(), false));
        assert_eq!(
            dechunk(&[b"fffffffffffffff\r\n"]),
            Err(HttpError::BodyTooLarge)
        );
        let big = format!("{:x}\r\n", ADMIN_MAX_BODY / 2);
        let mut parts = vec![big.as_bytes().to_vec(), vec![b'a'; ADMIN_MAX_BODY / 2]];
        parts.push(b"\r\n".to_vec());
        parts.push(format!("{:x}\r\n", ADMIN_MAX_BODY / 2 + 1).into_bytes());
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        assert_eq!(dechunk(&refs), Err(HttpError::BodyTooLarge));
        assert!(dechunk(&[b"5\r\nhelloXX"]).is_err());
        assert!(dechunk(&[b"zz\r\n"]).is_err());
        assert!(dechunk(&[&[b'1'; 100]]).is_err(), "an endless size line");
        let trailer = format!("0\r\nX: {}", "a".repeat(ADMIN_MAX_HEAD));
        assert_eq!(dechunk(&[trailer.as_bytes()]), Err(HttpError::HeadTooLarge));
    }

    #[test]
    fn response_heads() {
        let h = response_head(413, "application/json", 10, false, false);
        assert!(h.starts_with("HTTP/1.1 413 Payload Too Large\r\n"), "{h}");
        assert!(h.contains("Content-Length: 10\r\n") && h.contains("Connection: close\r\n"));
        assert!(h.contains("Cache-Control: no-store\r\n") && h.ends_with("\r\n\r\n"));
        let p = response_head(200, "text/html", 1, true, true);
        assert!(
            p.contains("Content-Security-Policy: default-src 'none'"),
            "{p}"
        );
    }
}
