//! The zerotier-one JSON API for the set-up and edits a scenario needs (CPU time and memory
//! of the processes come from `ztcd::testkit`).

use std::net::SocketAddr;

/// A zerotier-one style JSON API (ztcd's admin API or zerotier-one's local service).
pub(crate) struct Api {
    addr: SocketAddr,
    token: String,
}

impl Api {
    /// The API at `http://HOST:PORT` with the token (`X-ZT1-Auth`).
    pub(crate) fn new(url: &str, token: &str) -> Result<Self, String> {
        let hostport = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let addr = hostport
            .parse()
            .map_err(|_| format!("--api: {url:?} is not http://IP:PORT"))?;
        Ok(Self {
            addr,
            token: token.trim().to_string(),
        })
    }

    /// POSTs `body` to `path`; returns the response body when the status is 200.
    pub(crate) fn post(&self, path: &str, body: &str) -> Result<String, String> {
        let a = ztcd::admin::client::call(self.addr, &self.token, "POST", path, Some(body))?;
        if a.status != 200 {
            return Err(format!("API POST {path}: {} {}", a.status, a.text()));
        }
        Ok(a.text())
    }
}
