//! Building, signing and checking World files (planets and moons).
//!
//! A World is signed with a dedicated C25519 key pair, not a node identity. Its
//! `update_key` names the key that must sign the next version; ztcd keeps one signing key per
//! home and reuses it, so each update is signed by the key the previous version names
//! (replacement rule: same ID and type, strictly newer timestamp, valid signature by the
//! current World's update key).

use crate::crypto::c25519::{self, KeyPair};
use crate::identity::Identity;
use crate::wire::world::{Root, World, WorldKind};
use crate::wire::{Error, InetAddress, Result};

/// ID of ZeroTier's own planet (`ZT_WORLD_ID_EARTH`); a custom planet must use another.
pub const EARTH_WORLD_ID: u64 = 149_604_618;

/// Builds and signs a World listing `roots` (identity and endpoints each).
pub fn make(
    kind: WorldKind,
    id: u64,
    timestamp: u64,
    roots: &[(Identity, Vec<InetAddress>)],
    signer: &KeyPair,
) -> Result<World> {
    let mut list = heapless::Vec::new();
    for (identity, endpoints) in roots {
        let mut eps = heapless::Vec::new();
        for ep in endpoints {
            eps.push(*ep).map_err(|_| Error::BadLength)?;
        }
        list.push(Root {
            identity: identity.to_repr(),
            endpoints: eps,
        })
        .map_err(|_| Error::BadLength)?;
    }
    let mut world = World {
        kind,
        id,
        timestamp,
        update_key: *signer.public(),
        signature: [0; 96],
        roots: list,
    };
    world.signature = signer.sign(&world.signing_message()?);
    Ok(world)
}

/// Whether the World's signature verifies under `key`.
pub fn verify(world: &World, key: &[u8; 64]) -> bool {
    world
        .signing_message()
        .is_ok_and(|m| c25519::verify(key, &m, &world.signature))
}

/// Whether a node holding `current` accepts `update` (ZeroTier `World::shouldBeReplacedBy`).
pub fn should_replace(current: Option<&World>, update: &World) -> bool {
    match current {
        None => true,
        Some(cur) if cur.id == 0 => true,
        Some(cur) => {
            cur.id == update.id
                && cur.kind == update.kind
                && cur.timestamp < update.timestamp
                && verify(update, &cur.update_key)
        }
    }
}

/// The endpoints of the root with `address`, if the World lists it.
pub fn root_endpoints(world: &World, address: crate::wire::Address) -> Option<Vec<InetAddress>> {
    world
        .roots
        .iter()
        .find(|r| r.identity.address == address)
        .map(|r| r.endpoints.iter().copied().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SeededEntropy;
    use crate::crypto::hashcash::Scratch;
    use crate::identity::IdentitySecret;

    #[test]
    fn sign_update_and_replacement_rule() {
        let mut rng = SeededEntropy::new(7);
        let node = IdentitySecret::generate(&mut rng, &mut Scratch::new());
        let key = KeyPair::generate(&mut rng);
        let ep: InetAddress = "192.0.2.1/9993".parse().unwrap();
        let roots = vec![(*node.identity(), vec![ep])];
        let v1 = make(WorldKind::Planet, 42, 1000, &roots, &key).unwrap();
        assert!(verify(&v1, key.public()));
        let bytes = v1.to_bytes().unwrap();
        assert_eq!(World::from_bytes(&bytes).unwrap(), v1);

        let ep2: InetAddress = "192.0.2.2/9993".parse().unwrap();
        let v2 = make(
            WorldKind::Planet,
            42,
            2000,
            &[(*node.identity(), vec![ep2])],
            &key,
        )
        .unwrap();
        assert!(should_replace(Some(&v1), &v2));
        assert!(
            !should_replace(Some(&v2), &v1),
            "older never replaces newer"
        );
        let other = KeyPair::generate(&mut rng);
        let forged = make(WorldKind::Planet, 42, 3000, &roots, &other).unwrap();
        assert!(!should_replace(Some(&v2), &forged), "wrong signer");
        let moon = make(WorldKind::Moon, 42, 3000, &roots, &key).unwrap();
        assert!(!should_replace(Some(&v2), &moon), "type differs");
        assert_eq!(World::from_bytes(&moon.to_bytes().unwrap()).unwrap(), moon);
        assert_eq!(root_endpoints(&v2, node.address()), Some(vec![ep2]));
    }
}
