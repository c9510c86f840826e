//! The node and the controller joined, without I/O: configuration requests are decided and
//! answered only once what they wrote is committed (requests that arrive together share one
//! commit); the pushes, refusals and revocations the controller queued are delivered through
//! the node. The runtime calls these
//! with real time and its sockets; the simulation tests call them with a virtual clock and
//! simulated clients, so both run the same code.

use crate::controller::{ConfigRequest, Controller, Now, Reply};
use crate::node::{ConfigRequestEvent, Node, Transmit};
use crate::wire::verbs::ErrorCode;
use crate::wire::{Address, NetworkId, Verb};

/// Decides configuration requests that arrived together, commits what they wrote in one
/// transaction, and only then sends their answers. Each transmit the node makes is handed
/// to `send` as it is made (the node's transmit queue is bounded).
pub fn answer_requests(
    node: &mut Node,
    controller: &mut Controller,
    now: Now,
    requests: &[ConfigRequestEvent],
    send: &mut dyn FnMut(&Transmit),
) {
    controller.begin_requests();
    for req in requests {
        let request = ConfigRequest {
            from: req.from,
            network_id: req.network_id,
            metadata: &req.metadata,
            physical: req.physical,
        };
        controller.request(now, &request, req.packet_id);
    }
    // Committed before any answer that depends on it is sent; a failure withholds them.
    let _ = controller.end_requests();
    deliver(node, controller, now, send);
}

/// Most queued pushes rendered per [`deliver`]: about 2 ms of work, so the requests and
/// admin connections that arrive during a change to a large network wait at most that long
/// between chunks.
pub const PUSH_CHUNK: usize = 64;

/// Sends what the controller has ready: answers whose writes are durable, then the
/// configurations, refusals and revocations it pushes (after changes, its timers, or answers
/// that owed a revocation), including up to [`PUSH_CHUNK`] of those a network change queued
/// (call again while [`Controller::pending_pushes`] is not zero).
pub fn deliver(
    node: &mut Node,
    controller: &mut Controller,
    now: Now,
    send: &mut dyn FnMut(&Transmit),
) {
    for a in controller.take_answers() {
        reply_to(
            node,
            now.mono,
            a.to,
            a.network_id,
            Some(a.packet_id),
            a.reply,
        );
        flush(node, send);
    }
    controller.render_pushes(now, PUSH_CHUNK);
    for push in controller.take_rendered_pushes() {
        reply_to(node, now.mono, push.to, push.network_id, None, push.reply);
        // Send as we go: the node's transmit queue is bounded.
        flush(node, send);
    }
}

/// Hands every queued transmit to `send`.
fn flush(node: &mut Node, send: &mut dyn FnMut(&Transmit)) {
    while let Some(t) = node.poll_transmit() {
        send(&t);
    }
}

/// Sends one reply to member `to` of `network_id`: in answer to request `in_re`, or pushed.
/// A configuration admits the member to the network's multicast; a refusal removes it.
fn reply_to(
    node: &mut Node,
    now: u64,
    to: Address,
    network_id: NetworkId,
    in_re: Option<u64>,
    reply: Reply,
) {
    match reply {
        Reply::Config(dict) => {
            node.admit_member(now, network_id, to);
            node.send_config(now, to, in_re, network_id, &dict, false);
        }
        Reply::Error(code) => refuse(node, now, to, network_id, in_re, code),
        Reply::Credentials(payload) => {
            let sent = node.send(now, to, Verb::NetworkCredentials, &payload, None);
            crate::debug!(
                "revocation for network {network_id} {} {to}",
                if sent { "sent to" } else { "could not reach" },
            );
        }
        Reply::Ignore => {}
    }
}

/// Refuses member `to` (not found, access denied) and stops relaying its multicast.
fn refuse(
    node: &mut Node,
    now: u64,
    to: Address,
    network_id: NetworkId,
    in_re: Option<u64>,
    code: ErrorCode,
) {
    node.revoke_member(network_id, to);
    let in_re = (Verb::NetworkConfigRequest, in_re.unwrap_or(0));
    node.send_error(now, to, in_re, code, Some(network_id));
}
