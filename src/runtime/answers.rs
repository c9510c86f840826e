//! The owner loop's answers to members, through [`crate::serve`] with the real clock and the
//! UDP sockets.

use super::daemon::{Owner, transmit_on};
use super::unix_millis;
use crate::controller::Now;
use crate::node::ConfigRequestEvent;

impl Owner {
    /// Answers configuration requests that arrived together (one commit before any answer).
    pub(super) fn answer(&mut self, now: u64, requests: Vec<ConfigRequestEvent>) {
        let (sockets, v6) = (&self.sockets, &self.socket_is_v6);
        let now = Now {
            mono: now,
            unix: unix_millis(),
        };
        crate::serve::answer_requests(
            &mut self.node,
            &mut self.controller,
            now,
            &requests,
            &mut |t| transmit_on(sockets, v6, t),
        );
    }

    /// Sends what the controller has ready: answers released by a commit, and the
    /// configurations, refusals and revocations it queued (after admin changes and its own
    /// timers), with one chunk of the pushes a network change queued.
    pub(super) fn send_controller_pushes(&mut self, now: u64) {
        let (sockets, v6) = (&self.sockets, &self.socket_is_v6);
        let now = Now {
            mono: now,
            unix: unix_millis(),
        };
        crate::serve::deliver(&mut self.node, &mut self.controller, now, &mut |t| {
            transmit_on(sockets, v6, t)
        });
    }
}
