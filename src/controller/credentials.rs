//! Tags and capabilities in configurations. A network defines capabilities (an ID and the
//! rules it grants) and tags (an ID and an optional default value); a member holds capability
//! IDs and tag values. Its configuration carries, signed by the controller with the COM's
//! timestamp, a Capability for each capability it holds that the network defines, and a Tag
//! for each tag it has a value for (its own, else the network's default) — as zerotier-one's
//! controller issues them, for clients with a rules engine.

use serde_json::Value;

use super::rules_json;
use crate::identity::IdentitySecret;
use crate::wire::credential::{Capability, Tag};
use crate::wire::rules::Rule;
use crate::wire::{Address, NetworkId, Writer};

/// Most capabilities and tags one configuration carries (`ZT_MAX_NETWORK_CAPABILITIES`,
/// `ZT_MAX_NETWORK_TAGS`).
pub const MAX_ISSUED: usize = 128;
/// Most rules one capability carries (`ZT_MAX_CAPABILITY_RULES`).
pub const MAX_CAPABILITY_RULES: usize = 64;

/// A network's capability definitions: (ID, rules), by ID. Entries whose rules do not parse
/// are left out (the API refuses them when they are set).
pub fn capability_rules(v: &Value) -> Vec<(u32, Vec<Rule>)> {
    let mut out: Vec<(u32, Vec<Rule>)> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let id = u32::try_from(c.get("id")?.as_u64()?).ok()?;
            let mut rules = rules_json::from_json(c.get("rules")?).ok()?;
            rules.truncate(MAX_CAPABILITY_RULES);
            Some((id, rules))
        })
        .collect();
    out.sort_by_key(|c| c.0);
    out.dedup_by_key(|c| c.0);
    out
}

/// The capabilities a network gives its new members (`"default": true`).
pub fn default_capabilities(v: &Value) -> Vec<u32> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter(|c| c.get("default").and_then(Value::as_bool) == Some(true))
        .filter_map(|c| u32::try_from(c.get("id")?.as_u64()?).ok())
        .collect()
}

/// A network's tag defaults: (ID, value) for each tag definition with a numeric default.
pub fn tag_defaults(v: &Value) -> Vec<(u32, u32)> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let id = u32::try_from(t.get("id")?.as_u64()?).ok()?;
            let value = u32::try_from(t.get("default")?.as_u64()?).ok()?;
            Some((id, value))
        })
        .collect()
}

/// A member's capabilities and tags, and their signed blobs (`CAP`, `TAG`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberCredentials {
    /// Capabilities to issue: (ID, rules), by ID.
    caps: Vec<(u32, Vec<Rule>)>,
    /// Tags to issue: (ID, value), by ID.
    tags: Vec<(u32, u32)>,
    /// The capabilities, signed, concatenated.
    pub cap_blob: Vec<u8>,
    /// The tags, signed, concatenated.
    pub tag_blob: Vec<u8>,
}

impl MemberCredentials {
    /// Nothing to issue.
    pub const NONE: Self = Self {
        caps: Vec::new(),
        tags: Vec::new(),
        cap_blob: Vec::new(),
        tag_blob: Vec::new(),
    };

    /// What a member holding `caps` and `tags` gets on a network that defines `defined`
    /// capabilities and `defaults` tag values (unsigned until [`MemberCredentials::sign`]).
    pub fn new(
        caps: &[u32],
        tags: &[(u32, u32)],
        defined: &[(u32, Vec<Rule>)],
        defaults: &[(u32, u32)],
    ) -> Self {
        let mut issued: Vec<(u32, Vec<Rule>)> = defined
            .iter()
            .filter(|(id, _)| caps.contains(id))
            .take(MAX_ISSUED)
            .cloned()
            .collect();
        issued.sort_by_key(|c| c.0);
        let mut all: Vec<(u32, u32)> = tags.to_vec();
        for d in defaults {
            if !all.iter().any(|t| t.0 == d.0) {
                all.push(*d);
            }
        }
        all.sort_by_key(|t| t.0);
        all.dedup_by_key(|t| t.0);
        all.truncate(MAX_ISSUED);
        Self {
            caps: issued,
            tags: all,
            cap_blob: Vec::new(),
            tag_blob: Vec::new(),
        }
    }

    /// Whether there is nothing to issue.
    pub fn is_empty(&self) -> bool {
        self.caps.is_empty() && self.tags.is_empty()
    }

    /// Estimated bytes held (for the cache's budget).
    pub fn bytes(&self) -> usize {
        self.cap_blob.len() * 2 + self.tag_blob.len() + self.tags.len() * 8
    }

    /// Signs every credential over to `member` at `stamp` (the COM's timestamp).
    pub fn sign(
        &mut self,
        network_id: NetworkId,
        member: Address,
        stamp: u64,
        signer: &IdentitySecret,
    ) {
        let by = signer.address();
        self.cap_blob.clear();
        for (id, rules) in &self.caps {
            let mut cap = Capability {
                network_id,
                timestamp: stamp,
                id: *id,
                rules: rules.clone(),
                issued_to: member,
                signed_by: by,
                signature: [0; 96],
            };
            cap.signature = signer.sign(&cap.signing_message());
            append(&mut self.cap_blob, cap.buffer_len(), |w| cap.emit(w));
        }
        self.tag_blob.clear();
        for (id, value) in &self.tags {
            let mut tag = Tag {
                network_id,
                timestamp: stamp,
                id: *id,
                value: *value,
                issued_to: member,
                signed_by: by,
                signature: [0; 96],
            };
            tag.signature = signer.sign(&tag.signing_message());
            append(&mut self.tag_blob, tag.buffer_len(), |w| tag.emit(w));
        }
    }
}

/// Appends `len` bytes written by `emit` to `out` (nothing if it fails: never, for these
/// fixed layouts).
fn append(
    out: &mut Vec<u8>,
    len: usize,
    emit: impl FnOnce(&mut Writer<'_>) -> crate::wire::Result<()>,
) {
    let start = out.len();
    out.resize(start + len, 0);
    if emit(&mut Writer::new(&mut out[start..])).is_err() {
        out.truncate(start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SeededEntropy;
    use crate::crypto::hashcash::Scratch;
    use serde_json::json;

    #[test]
    fn members_get_their_own_tags_over_defaults_and_only_defined_capabilities() {
        let defined = capability_rules(&json!([
            {"id": 7, "default": false, "rules": [{"type": "ACTION_ACCEPT"}]},
            {"id": 3, "rules": [{"type": "ACTION_DROP"}]},
            {"id": 9, "rules": [{"type": "NO_SUCH_RULE"}]}
        ]));
        assert_eq!(defined.iter().map(|c| c.0).collect::<Vec<_>>(), [3, 7]);
        let defaults = tag_defaults(
            &json!([{"id": 1, "default": 5}, {"id": 2, "default": null}, {"id": 4, "default": 0}]),
        );
        assert_eq!(defaults, [(1, 5), (4, 0)]);
        let mut c = MemberCredentials::new(&[7, 8], &[(4, 9), (10, 1)], &defined, &defaults);
        assert_eq!(c.caps.len(), 1);
        assert_eq!(c.tags, [(1, 5), (4, 9), (10, 1)]);
        let signer = IdentitySecret::generate(&mut SeededEntropy::new(3), &mut Scratch::new());
        let member = Address::new(0x12_3456_789a);
        c.sign(NetworkId(0xabcd), member, 1_000, &signer);
        assert_eq!(c.tag_blob.len(), 3 * 135);
        // Each tag verifies under the controller's key.
        let first = &c.tag_blob[..135];
        let tag = Tag {
            network_id: NetworkId(0xabcd),
            timestamp: 1_000,
            id: 1,
            value: 5,
            issued_to: member,
            signed_by: signer.address(),
            signature: first[37..133].try_into().unwrap(),
        };
        let mut again = vec![0u8; 135];
        tag.emit(&mut Writer::new(&mut again)).unwrap();
        assert_eq!(again, first);
        assert!(
            signer
                .identity()
                .verify(&tag.signing_message(), &tag.signature)
        );
        assert!(!c.cap_blob.is_empty());
        assert!(MemberCredentials::new(&[], &[], &defined, &[]).is_empty());
    }
}
