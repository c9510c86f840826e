//! The admin API tests' requests, through the library's client (`ztcd::admin::client`), and a
//! free port. Hostile requests keep their own raw sockets in the tests that send them.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::ops::Deref;

use serde_json::Value;
use ztcd::admin::client::{self, Answer, Request};

/// An answer of the library's admin client, with the tests' JSON accessor.
#[derive(Debug)]
pub(crate) struct Resp(pub(crate) Answer);

impl Deref for Resp {
    type Target = Answer;

    fn deref(&self) -> &Answer {
        &self.0
    }
}

impl Resp {
    /// The body as JSON (panics with the body if it is not).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {}",
                self.status,
                self.text()
            )
        })
    }
}

/// Sends one request with extra `headers` and returns the answer.
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    try_request(addr, method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} {path}: no HTTP answer: {e}"))
}

/// Like [`request`], `Err` when there is no complete answer (server gone).
pub(crate) fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Resp, String> {
    let req = Request {
        method,
        path,
        headers,
        body,
    };
    client::request(addr, &req, client::TIMEOUT).map(Resp)
}

/// A client of one ztcd admin API with its token.
#[derive(Clone)]
pub(crate) struct Api {
    pub(crate) addr: SocketAddr,
    pub(crate) token: String,
}

impl Api {
    /// An authenticated request with a JSON body (or none).
    pub(crate) fn call(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.try_call(method, path, body)
            .unwrap_or_else(|| panic!("{method} {path}: no HTTP answer"))
    }

    /// Like [`Api::call`], `None` when the server gave no complete answer.
    pub(crate) fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> Option<Resp> {
        let body = body.map(|b| b.to_string());
        client::call(self.addr, &self.token, method, path, body.as_deref())
            .ok()
            .map(Resp)
    }

    /// A request that must answer 200 with JSON.
    pub(crate) fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let r = self.call(method, path, body);
        assert_eq!(
            r.status,
            200,
            "{method} {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()
    }
}

/// A port free for both TCP and UDP on this host.
pub(crate) fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind tcp");
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("::", port)).is_ok() && TcpListener::bind(("::1", port)).is_ok() {
            return port;
        }
    }
}
