//! Tests of the in-process management API.

use serde_json::json;

/// The admin API's writes as the tests make them: a JSON body parsed into the typed change the
/// admin routes would make, carried out by [`Controller::apply_one`].
pub(super) trait ApiCalls {
    /// Carries out `change` with `entropy`, or the body's parse error.
    fn change_with(
        &mut self,
        mono: u64,
        unix: u64,
        entropy: &mut dyn Entropy,
        change: Result<Change, String>,
    ) -> ApiResult<Value>;

    /// Carries out `change`, or the body's parse error.
    fn change(&mut self, mono: u64, unix: u64, change: Result<Change, String>) -> ApiResult<Value> {
        self.change_with(mono, unix, &mut SeededEntropy::new(mono ^ unix), change)
    }

    /// `POST /controller/network`.
    fn api_create_network(
        &mut self,
        mono: u64,
        unix: u64,
        entropy: &mut impl Entropy,
        body: &Value,
    ) -> ApiResult<Value> {
        let change = NetworkPatch::from_json(body).map(Change::CreateNetwork);
        self.change_with(mono, unix, entropy, change)
    }

    /// `POST /controller/network/{id}`.
    fn api_post_network(
        &mut self,
        mono: u64,
        unix: u64,
        id: NetworkId,
        body: &Value,
    ) -> ApiResult<Value> {
        let change = NetworkPatch::from_json(body).map(|p| Change::PutNetwork(id, p));
        self.change(mono, unix, change)
    }

    /// `DELETE /controller/network/{id}`.
    fn api_delete_network(&mut self, mono: u64, unix: u64, id: NetworkId) -> ApiResult<Value> {
        self.change(mono, unix, Ok(Change::DeleteNetwork(id)))
    }

    /// `POST /controller/network/{id}/member/{address}`.
    fn api_post_member(
        &mut self,
        mono: u64,
        unix: u64,
        id: NetworkId,
        address: Address,
        body: &Value,
    ) -> ApiResult<Value> {
        let change = MemberPatch::from_json(body).map(|p| Change::PutMember(id, address, p));
        self.change(mono, unix, change)
    }

    /// `DELETE /controller/network/{id}/member/{address}`.
    fn api_delete_member(
        &mut self,
        mono: u64,
        unix: u64,
        id: NetworkId,
        address: Address,
    ) -> ApiResult<Value> {
        self.change(mono, unix, Ok(Change::DeleteMember(id, address)))
    }

    /// `POST /ztcd/network/{id}/window`.
    fn api_open_window(&mut self, unix: u64, id: NetworkId, body: &Value) -> ApiResult<Value> {
        let change = WindowSpec::from_json(body).map(|w| Change::OpenWindow(id, w));
        self.change(0, unix, change)
    }

    /// `DELETE /ztcd/network/{id}/window`.
    fn api_close_window(&mut self, unix: u64, id: NetworkId) -> ApiResult<Value> {
        self.change(0, unix, Ok(Change::CloseWindow(id)))
    }
}

impl ApiCalls for Controller {
    fn change_with(
        &mut self,
        mono: u64,
        unix: u64,
        entropy: &mut dyn Entropy,
        change: Result<Change, String>,
    ) -> ApiResult<Value> {
        let change = change.map_err(ApiError::BadRequest)?;
        self.apply_one(Now { mono, unix }, entropy, &change)
    }
}

use serde_json::Value;

use super::api::{ApiError, ApiResult, parse_address, parse_network_id};
use super::change::{Change, MemberPatch, NetworkPatch, Patch};
use super::tests::{ask, ids, setup};
use super::window::WindowSpec;
use super::{Controller, Now, Reply};
use crate::crypto::hashcash::Scratch;
use crate::crypto::{Entropy, SeededEntropy};
use crate::identity::IdentitySecret;
use crate::wire::Address;
use crate::wire::revocation::Revocation;
use crate::wire::verbs::ErrorCode;
use crate::wire::{NetworkId, Reader};

const UNIX: u64 = 1_700_000_000_000;

fn bad(r: Result<serde_json::Value, ApiError>) -> String {
    match r {
        Err(ApiError::BadRequest(m)) => m,
        other => panic!("expected a bad request, got {other:?}"),
    }
}

/// Authorizes `members` through the API and has each ask once (configured at time 0).
fn authorized_and_configured(c: &mut Controller, nwid: NetworkId, members: [&IdentitySecret; 2]) {
    for m in members {
        c.api_post_member(0, UNIX, nwid, m.address(), &json!({"authorized": true}))
            .unwrap();
        assert!(matches!(ask(c, 0, m, nwid), Reply::Config(_)));
    }
}

#[test]
fn networks_are_created_merged_and_deleted_like_zerotier_one() {
    let (mut c, _) = setup(true);
    let mut rng = SeededEntropy::new(5);
    let n = c
        .api_create_network(
            0,
            UNIX,
            &mut rng,
            &json!({"name": "lab", "private": "false"}),
        )
        .unwrap();
    let id = parse_network_id(n["id"].as_str().unwrap()).unwrap();
    assert_eq!(n["nwid"], n["id"]);
    assert_eq!(id.controller(), ids()[0].address());
    assert_eq!(
        (n["private"].clone(), n["revision"].clone()),
        (json!(false), json!(1))
    );
    // A shallow merge: only the posted keys change; v6AssignMode is replaced by what is sent.
    let n = c
        .api_post_network(
            0,
            UNIX,
            id,
            &json!({"v6AssignMode": {"rfc4193": "true"}, "mtu": "1400", "junk": 1}),
        )
        .unwrap();
    assert_eq!(n["name"], "lab");
    assert_eq!(n["mtu"], 1400);
    assert_eq!(
        n["v6AssignMode"],
        json!({"6plane": false, "rfc4193": true, "zt": false})
    );
    assert_eq!(n["revision"], 2);
    assert_eq!(n["dns"], json!([]));
    // Errors name the field; nothing is written.
    assert_eq!(
        bad(c.api_post_network(0, UNIX, id, &json!({"mtu": 100}))),
        "mtu: 100 is out of range 1280..10000"
    );
    assert!(
        bad(c.api_post_network(0, UNIX, id, &json!({"routes": [{"target": "nope"}]})))
            .starts_with("routes[0].target")
    );
    assert!(
        bad(c.api_post_network(0, UNIX, id, &json!({"rules": [{"type": "MATCH_BOGUS"}]})))
            .starts_with("rules:")
    );
    assert!(
        bad(c.api_post_network(0, UNIX, id, &json!([1])))
            .starts_with("body: expected a JSON object")
    );
    assert!(
        bad(c.api_post_network(0, UNIX, NetworkId(0x1122_3344_5500_0001), &json!({})))
            .starts_with("id:")
    );
    assert_eq!(c.api_network(id).unwrap()["revision"], 2);
    let gone = c.api_delete_network(0, UNIX, id).unwrap();
    assert_eq!(gone["name"], "lab");
    assert!(matches!(c.api_network(id), Err(ApiError::NotFound(_))));
    assert!(matches!(
        c.api_delete_network(0, UNIX, id),
        Err(ApiError::NotFound(_))
    ));
}

#[test]
fn members_are_preauthorized_and_their_ips_stay_unique() {
    let (mut c, nwid) = setup(true);
    let [_, a, b] = ids();
    // Pre-authorization by address, before the member ever asked.
    let m = c
        .api_post_member(
            0,
            UNIX,
            nwid,
            a.address(),
            &json!({"authorized": "true", "name": "laptop", "description": "desk, 2nd floor"}),
        )
        .unwrap();
    assert_eq!(
        (m["authorized"].clone(), m["vMajor"].clone()),
        (json!(true), json!(-1))
    );
    assert_eq!(m["description"], "desk, 2nd floor");
    assert!(
        m.get("identity").is_none(),
        "no identity until the member asks"
    );
    assert!(matches!(ask(&mut c, 0, a, nwid), Reply::Config(_)));
    let m = c.api_member(10, nwid, a.address()).unwrap();
    assert_eq!(m["online"], true);
    assert_eq!(
        m["description"], "desk, 2nd floor",
        "kept across the member's request"
    );
    let ip = m["ipAssignments"][0].as_str().unwrap().to_owned();
    // Another member may not be given the same address.
    let e = bad(c.api_post_member(0, UNIX, nwid, b.address(), &json!({"ipAssignments": [ip]})));
    assert!(e.contains("already assigned"), "{e}");
    assert!(
        bad(c.api_post_member(0, UNIX, nwid, b.address(), &json!({"ipAssignments": [5]})))
            .starts_with("ipAssignments[0]")
    );
    // The member list is zerotier-one's map.
    assert_eq!(
        c.api_member_revisions(nwid)
            .unwrap()
            .as_object()
            .unwrap()
            .len(),
        1
    );
    // Unknown network or member: 404.
    let other = NetworkId(nwid.0 + 1);
    assert!(matches!(
        c.api_post_member(0, UNIX, other, a.address(), &json!({})),
        Err(ApiError::NotFound(_))
    ));
    assert!(parse_address("ff00000000").is_none());
    assert!(parse_network_id("zz").is_none());
}

#[test]
fn members_are_blocked_unblocked_and_deleted() {
    let (mut c, nwid) = setup(true);
    let [_, a, _] = ids();
    c.api_post_member(0, UNIX, nwid, a.address(), &json!({"authorized": true}))
        .unwrap();
    assert!(matches!(ask(&mut c, 0, a, nwid), Reply::Config(_)));
    // Blocking (ztcd's extension): refused, its address released, still listed as blocked.
    let m = c
        .api_post_member(0, UNIX, nwid, a.address(), &json!({"banned": true}))
        .unwrap();
    assert_eq!(
        (
            m["banned"].clone(),
            m["authorized"].clone(),
            m["ipAssignments"].clone()
        ),
        (json!(true), json!(false), json!([]))
    );
    assert!(matches!(
        ask(&mut c, 5000, a, nwid),
        Reply::Error(ErrorCode::NetworkAccessDenied)
    ));
    let detailed = c.api_members_detailed(0, nwid).unwrap();
    assert!(detailed.contains("\"banned\":true"), "{detailed}");
    // Authorizing lifts the block, as does `"banned": false`.
    let m = c
        .api_post_member(0, UNIX, nwid, a.address(), &json!({"authorized": true}))
        .unwrap();
    assert_eq!(
        (m["banned"].clone(), m["authorized"].clone()),
        (json!(false), json!(true))
    );
    assert!(matches!(ask(&mut c, 10_000, a, nwid), Reply::Config(_)));
    // DELETE removes the member as zerotier-one does: gone from every list, and its next
    // request is a new join request (unauthorized on a private network, no old address).
    c.api_delete_member(11_000, UNIX, nwid, a.address())
        .unwrap();
    assert!(matches!(
        c.api_member(0, nwid, a.address()),
        Err(ApiError::NotFound(_))
    ));
    assert!(
        c.api_member_revisions(nwid)
            .unwrap()
            .as_object()
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        ask(&mut c, 20_000, a, nwid),
        Reply::Error(ErrorCode::NetworkAccessDenied)
    ));
    let m = c.api_member(20_000, nwid, a.address()).unwrap();
    assert_eq!(
        (
            m["authorized"].clone(),
            m["banned"].clone(),
            m["ipAssignments"].clone(),
            m["name"].clone()
        ),
        (json!(false), json!(false), json!([]), json!(""))
    );
}

#[test]
fn writes_push_to_recent_members_and_deauthorization_revokes_the_com() {
    let (mut c, nwid) = setup(true);
    let [ctl, a, b] = ids();
    authorized_and_configured(&mut c, nwid, [a, b]);
    assert!(c.take_pushes().len() <= 2);
    // A network change reaches both members.
    c.api_post_network(100, UNIX, nwid, &json!({"name": "renamed"}))
        .unwrap();
    let pushes = c.take_pushes();
    assert_eq!(pushes.len(), 2);
    assert!(
        pushes.iter().all(|p| matches!(p.reply, Reply::Config(_))),
        "{pushes:?}"
    );
    // Deauthorizing a: a is refused, b gets a signed revocation of a's COMs.
    c.api_post_member(
        200,
        UNIX + 5,
        nwid,
        a.address(),
        &json!({"authorized": false}),
    )
    .unwrap();
    let pushes = c.take_pushes();
    assert_eq!(pushes.len(), 2);
    let to_a = pushes.iter().find(|p| p.to == a.address()).unwrap();
    assert_eq!(to_a.reply, Reply::Error(ErrorCode::NetworkAccessDenied));
    let to_b = pushes.iter().find(|p| p.to == b.address()).unwrap();
    let Reply::Credentials(payload) = &to_b.reply else {
        panic!("expected a revocation, got {:?}", to_b.reply);
    };
    let rev = Revocation::parse(&mut Reader::new(&payload[7..])).unwrap();
    assert_eq!(
        (rev.target, rev.network_id, rev.threshold),
        (a.address(), nwid, UNIX + 5)
    );
    assert!(
        ctl.identity()
            .verify(&rev.signing_message(), &rev.signature)
    );
    // The revocation is delivered once per member: b asking again does not get it again, a
    // member that asks for the first time after the deauthorization gets it with its config.
    assert!(matches!(ask(&mut c, 5000, b, nwid), Reply::Config(_)));
    assert!(c.take_pushes().is_empty());
    let late = {
        let (mut rng, mut scratch) = (SeededEntropy::new(79), Scratch::new());
        IdentitySecret::generate(&mut rng, &mut scratch)
    };
    c.api_post_member(
        300,
        UNIX,
        nwid,
        late.address(),
        &json!({"authorized": true}),
    )
    .unwrap();
    c.take_pushes();
    assert!(matches!(ask(&mut c, 6000, &late, nwid), Reply::Config(_)));
    let owed = c.take_pushes();
    assert_eq!(owed.len(), 1);
    assert_eq!((owed[0].to, &owed[0].reply), (late.address(), &to_b.reply));
    // A member change does not invalidate other members' cached configurations.
    let hits = c.cache_stats().hits;
    c.api_post_member(300, UNIX, nwid, a.address(), &json!({"name": "x"}))
        .unwrap();
    assert!(matches!(ask(&mut c, 7000, b, nwid), Reply::Config(_)));
    assert_eq!(c.cache_stats().hits, hits + 1);
}

#[test]
fn a_controller_with_no_free_ids_says_so() {
    struct Zero;
    impl crate::crypto::Entropy for Zero {
        fn fill(&mut self, out: &mut [u8]) {
            out.fill(0);
        }
    }
    let (mut c, _): (Controller, _) = setup(true);
    assert!(matches!(
        c.api_create_network(0, UNIX, &mut Zero, &json!({})),
        Err(ApiError::Exhausted(_))
    ));
}

#[test]
fn an_admin_push_neither_moves_last_seen_nor_recreates_a_deleted_member() {
    let (mut c, nwid) = setup(true);
    let [_, a, b] = ids();
    authorized_and_configured(&mut c, nwid, [a, b]);
    assert!(matches!(ask(&mut c, 2_000, a, nwid), Reply::Config(_)));
    c.flush_seen().unwrap();
    let seen = |c: &Controller| c.api_member(0, nwid, a.address()).unwrap()["lastSeen"].clone();
    assert_eq!(seen(&c), json!(UNIX + 2_000));
    // Renaming the network a minute later pushes to both members: a was not seen then.
    c.api_post_network(60_000, UNIX + 60_000, nwid, &json!({"name": "again"}))
        .unwrap();
    assert_eq!(c.take_pushes().len(), 2);
    c.flush_seen().unwrap();
    assert_eq!(seen(&c), json!(UNIX + 2_000), "a push is not a sighting");
    // Deleting b: it is told it has no access, and the push does not store it again.
    c.api_delete_member(61_000, UNIX + 61_000, nwid, b.address())
        .unwrap();
    let pushes = c.take_pushes();
    let to_b = pushes.iter().find(|p| p.to == b.address()).unwrap();
    assert_eq!(to_b.reply, Reply::Error(ErrorCode::NetworkAccessDenied));
    assert!(matches!(
        c.api_member(0, nwid, b.address()),
        Err(ApiError::NotFound(_))
    ));
    // Later changes no longer push to it.
    c.api_post_network(62_000, UNIX + 62_000, nwid, &json!({"name": "third"}))
        .unwrap();
    let pushes = c.take_pushes();
    assert!(pushes.iter().all(|p| p.to != b.address()), "{pushes:?}");
}

#[test]
fn an_authorization_that_runs_out_is_revoked_like_a_deauthorization() {
    let (mut c, nwid) = setup(true);
    let [_, a, b] = ids();
    authorized_and_configured(&mut c, nwid, [a, b]);
    c.take_pushes();
    // A's access ends 10 s after UNIX; the API shows when.
    let m = c
        .api_post_member(
            0,
            UNIX,
            nwid,
            a.address(),
            &json!({"expiresAt": UNIX + 10_000}),
        )
        .unwrap();
    assert_eq!(m["expiresAt"], UNIX + 10_000);
    c.take_pushes();
    assert_eq!(
        c.expire_members(Now {
            mono: 5_000,
            unix: UNIX + 5_000
        })
        .unwrap(),
        0,
        "not yet"
    );
    // At the end the sweep deauthorizes it as an administrator would.
    assert_eq!(
        c.expire_members(Now {
            mono: 10_000,
            unix: UNIX + 10_000
        })
        .unwrap(),
        1
    );
    let pushes = c.take_pushes();
    let to_a = pushes.iter().find(|p| p.to == a.address()).unwrap();
    assert_eq!(to_a.reply, Reply::Error(ErrorCode::NetworkAccessDenied));
    let to_b = pushes.iter().find(|p| p.to == b.address()).unwrap();
    assert!(
        matches!(to_b.reply, Reply::Credentials(_)),
        "B gets A's revocation"
    );
    let m = c.api_member(10_000, nwid, a.address()).unwrap();
    assert_eq!(
        (m["authorized"].clone(), m["lastDeauthorizedTime"].clone()),
        (json!(false), json!(UNIX + 10_000))
    );
    assert!(matches!(
        ask(&mut c, 12_000, a, nwid),
        Reply::Error(ErrorCode::NetworkAccessDenied)
    ));
    // Authorized again: its old end no longer applies.
    let m = c
        .api_post_member(
            13_000,
            UNIX + 13_000,
            nwid,
            a.address(),
            &json!({"authorized": true}),
        )
        .unwrap();
    assert_eq!(m["expiresAt"], 0);
    assert!(matches!(ask(&mut c, 14_000, a, nwid), Reply::Config(_)));
    assert!(
        c.api_post_member(0, UNIX, nwid, a.address(), &json!({"expiresAt": -1}))
            .is_err()
    );
}

#[test]
fn relays_are_sent_as_specialists_with_the_relay_role() {
    let (mut c, nwid) = setup(false);
    let [ctl, a, b] = ids();
    // The controller names itself and B; B is also an active bridge: one entry, both roles.
    let relays = json!({"relays": [ctl.address().to_string(), b.address().to_string()]});
    let n = c.api_post_network(0, UNIX, nwid, &relays).unwrap();
    assert_eq!(
        n["relays"],
        json!([ctl.address().to_string(), b.address().to_string()])
    );
    c.api_post_member(
        0,
        UNIX,
        nwid,
        b.address(),
        &json!({"activeBridge": true, "authorized": true}),
    )
    .unwrap();
    let Reply::Config(d) = ask(&mut c, 0, a, nwid) else {
        panic!("a config");
    };
    let d = crate::wire::dictionary::Dictionary::new(&d, 1 << 20).unwrap();
    let s: Vec<u64> = d
        .bytes("S")
        .unwrap()
        .chunks(8)
        .map(|c| u64::from_be_bytes(c.try_into().unwrap()))
        .collect();
    let relay = super::netconf::SPECIALIST_NETWORK_RELAY;
    let bridge = super::netconf::SPECIALIST_ACTIVE_BRIDGE;
    assert_eq!(
        s,
        vec![
            ctl.address().to_u64() | relay,
            b.address().to_u64() | relay | bridge
        ]
    );
    // Not an address, too many, or cleared.
    let e = bad(c.api_post_network(0, UNIX, nwid, &json!({"relays": ["lan"]})));
    assert!(e.contains("relays[0]"), "{e}");
    let many: Vec<String> = (1..=17).map(|i| format!("{:010x}", 0x1000 + i)).collect();
    assert!(bad(c.api_post_network(0, UNIX, nwid, &json!({"relays": many}))).contains("relays"));
    let n = c
        .api_post_network(0, UNIX, nwid, &json!({"relays": null}))
        .unwrap();
    assert_eq!(n["relays"], json!([]));
}
