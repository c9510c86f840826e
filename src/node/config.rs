//! Sending network configurations: OK(NETWORK_CONFIG_REQUEST) answers and NETWORK_CONFIG
//! pushes, as signed chunks (zt-protocol §5.8).

use super::Node;
use crate::crypto::Entropy;
use crate::wire::verbs::{ConfigChunk, OkHeader};
use crate::wire::{Address, NetworkId, Verb, Writer};

/// Most dictionary bytes in one chunk: 10024 − (28 + 256), as the reference controller uses.
pub const MAX_CHUNK_DATA: usize = 9740;

impl Node {
    /// Sends the configuration dictionary `dict` for `network_id` to `to`: as the answer to
    /// request `in_re` (OK), or as a push (NETWORK_CONFIG) when `in_re` is `None`. Chunks are
    /// signed by this node's identity (the network's controller), except that with `signed`
    /// false a dictionary that fits one chunk goes in the unsigned single-chunk form, which
    /// clients accept only from the controller itself (no Ed25519 signature on the hot path).
    /// Returns whether every chunk was queued.
    pub fn send_config(
        &mut self,
        now: u64,
        to: Address,
        in_re: Option<u64>,
        network_id: NetworkId,
        dict: &[u8],
        signed: bool,
    ) -> bool {
        let Ok(total_len) = u32::try_from(dict.len()) else {
            return false;
        };
        let update_id = self.rng.next_u64() | 1;
        let sign_chunks = signed || dict.len() > MAX_CHUNK_DATA;
        let mut ok = true;
        let mut index = 0usize;
        loop {
            let end = (index + MAX_CHUNK_DATA).min(dict.len());
            let mut chunk = ConfigChunk {
                network_id,
                data: &dict[index..end],
                flags: 0,
                update_id,
                total_len,
                index: index as u32,
                signature: None,
            };
            if sign_chunks {
                let mut signed_part = vec![0u8; chunk.signed_len()];
                if chunk
                    .emit_signed_part(&mut Writer::new(&mut signed_part))
                    .is_err()
                {
                    return false;
                }
                chunk.signature = Some(self.identity.sign(&signed_part));
            }
            let head = if in_re.is_some() { OkHeader::LEN } else { 0 };
            let mut payload = vec![0u8; head + chunk.buffer_len()];
            let mut w = Writer::new(&mut payload);
            if let Some(packet_id) = in_re {
                let h = OkHeader {
                    in_re_verb: Verb::NetworkConfigRequest,
                    in_re_packet_id: packet_id,
                };
                if h.emit(&mut w).is_err() {
                    return false;
                }
            }
            if chunk.emit(&mut w).is_err() {
                return false;
            }
            let verb = if in_re.is_some() {
                Verb::Ok
            } else {
                Verb::NetworkConfig
            };
            ok &= self.send(now, to, verb, &payload, None);
            index = end;
            if index >= dict.len() {
                return ok;
            }
        }
    }
}
