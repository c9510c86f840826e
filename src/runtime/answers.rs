//! The owner loop's answers to members, through [`crate::serve`] with the real clock and the
//! UDP sockets.

use super::daemon::{Owner, transmit_on};
use super::unix_millis;
use crate::controller::Now;
use crate::node::ConfigRequestEvent;
use crate::warn;

impl Owner {
    /// Answers configuration requests that arrived together (one commit before any answer).
    pub(super) fn answer(&mut self, now: u64, requests: Vec<ConfigRequestEvent>) {
        let (sockets, v6) = (&self.sockets, &self.socket_is_v6);
        let now = Now {
            mono: now,
            unix: unix_millis(),
        };
        let answered = crate::serve::answer_requests(
            &mut self.node,
            &mut self.controller,
            now,
            &requests,
            &mut |t| transmit_on(sockets, v6, t),
        );
        if let Err(e) = answered {
            warn!(
                "cannot record members: {e}; {} answers withheld",
                requests.len()
            );
        }
    }

    /// Sends the configurations, refusals and revocations the controller queued (after
    /// admin changes and its own timers).
    pub(super) fn send_controller_pushes(&mut self, now: u64) {
        let pushes = self.controller.take_pushes();
        let (sockets, v6) = (&self.sockets, &self.socket_is_v6);
        crate::serve::deliver_pushes(&mut self.node, now, pushes, &mut |t| {
            transmit_on(sockets, v6, t)
        });
    }
}
