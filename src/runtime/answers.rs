//! The owner loop's answers to members: configuration requests that arrived together are
//! answered after one commit, and pushes the controller queued are sent.

use super::daemon::Owner;
use super::unix_millis;
use crate::controller::{ConfigRequest, Reply};
use crate::node::ConfigRequestEvent;
use crate::warn;
use crate::wire::Verb;

impl Owner {
    /// Answers configuration requests that arrived together: what they write is committed in
    /// one transaction, and nothing is sent before it is durable.
    pub(super) fn answer(&mut self, now: u64, requests: Vec<ConfigRequestEvent>) {
        self.controller.begin_requests();
        let unix = unix_millis();
        let replies: Vec<Reply> = requests
            .iter()
            .map(|req| {
                let request = ConfigRequest {
                    from: req.from,
                    network_id: req.network_id,
                    metadata: &req.metadata,
                    physical: req.physical,
                };
                self.controller.handle_request(now, unix, &request)
            })
            .collect();
        if let Err(e) = self.controller.end_requests() {
            warn!(
                "cannot record members: {e}; {} answers withheld",
                replies.len()
            );
            return;
        }
        for (req, reply) in requests.iter().zip(replies) {
            let to = req.from.address();
            match reply {
                Reply::Config(dict) => {
                    let id = Some(req.packet_id);
                    self.node.admit_member(now, req.network_id, to);
                    self.node
                        .send_config(now, to, id, req.network_id, &dict, false);
                }
                Reply::Error(code) => {
                    self.node.revoke_member(req.network_id, to);
                    self.node.send_error(
                        now,
                        to,
                        (Verb::NetworkConfigRequest, req.packet_id),
                        code,
                        Some(req.network_id),
                    )
                }
                Reply::Ignore | Reply::Credentials(_) => {}
            }
            // Send as we go: the node's transmit queue is bounded.
            while let Some(t) = self.node.poll_transmit() {
                self.transmit(&t);
            }
        }
        let owed = self.controller.take_pushes();
        self.send_pushes(now, owed);
    }

    /// Sends the configurations, refusals and revocations the controller queued (after
    /// admin changes and its own timers).
    pub(super) fn send_controller_pushes(&mut self, now: u64) {
        let pushes = self.controller.take_pushes();
        self.send_pushes(now, pushes);
    }

    /// Sends configurations, refusals and revocations the controller queued.
    pub(super) fn send_pushes(&mut self, now: u64, pushes: Vec<crate::controller::Push>) {
        for push in pushes {
            match push.reply {
                Reply::Config(dict) => {
                    self.node.admit_member(now, push.network_id, push.to);
                    self.node
                        .send_config(now, push.to, None, push.network_id, &dict, false);
                }
                Reply::Error(code) => {
                    self.node.revoke_member(push.network_id, push.to);
                    self.node.send_error(
                        now,
                        push.to,
                        (Verb::NetworkConfigRequest, 0),
                        code,
                        Some(push.network_id),
                    )
                }
                Reply::Credentials(payload) => {
                    let sent =
                        self.node
                            .send(now, push.to, Verb::NetworkCredentials, &payload, None);
                    crate::debug!(
                        "revocation for network {} {} {}",
                        push.network_id,
                        if sent { "sent to" } else { "could not reach" },
                        push.to
                    );
                }
                Reply::Ignore => {}
            }
            // Send as we go: the node's transmit queue is bounded (MAX_QUEUED_TRANSMITS) and a
            // change to a large network pushes to thousands of members at once.
            while let Some(t) = self.node.poll_transmit() {
                self.transmit(&t);
            }
        }
    }
}
