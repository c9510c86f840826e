//! Decision tests for the controller.

use std::sync::OnceLock;

use super::api_tests::ApiCalls;
use super::model::{Member, Network, Pool, Route};
use super::store::Store;
use super::{ConfigRequest, Controller, Reply};
use crate::crypto::SeededEntropy;
use crate::crypto::hashcash::Scratch;
use crate::identity::IdentitySecret;
use crate::wire::NetworkId;
use crate::wire::dictionary::Dictionary;
use crate::wire::verbs::ErrorCode;

pub(super) fn ids() -> &'static [IdentitySecret; 3] {
    static IDS: OnceLock<[IdentitySecret; 3]> = OnceLock::new();
    IDS.get_or_init(|| {
        let (mut rng, mut scratch) = (SeededEntropy::new(77), Scratch::new());
        [(); 3].map(|()| IdentitySecret::generate(&mut rng, &mut scratch))
    })
}

pub(super) fn setup(private: bool) -> (Controller, NetworkId) {
    let [ctl, _, _] = ids();
    let c = Controller::new(ctl.clone(), Store::in_memory().unwrap());
    let id = c.network_id(1);
    let mut n = Network::new(id, 0);
    n.private = private;
    n.v4_assign_zt = true;
    n.ip_assignment_pools.push(Pool {
        ip_range_start: "10.1.0.1".parse().unwrap(),
        ip_range_end: "10.1.0.254".parse().unwrap(),
    });
    n.routes.push(Route {
        target: crate::controller::cidr("10.1.0.0/24").unwrap(),
        via: None,
    });
    c.store.put_network(&n).unwrap();
    (c, id)
}

pub(super) fn ask(c: &mut Controller, mono: u64, who: &IdentitySecret, nwid: NetworkId) -> Reply {
    let req = ConfigRequest {
        from: *who.identity(),
        network_id: nwid,
        metadata: b"v=7\nrevr=1",
        physical: None,
    };
    c.handle_request(mono, 1_700_000_000_000 + mono, &req)
}

fn dict(reply: &Reply) -> Dictionary<'_> {
    match reply {
        Reply::Config(d) => Dictionary::new(d, 1 << 20).unwrap(),
        other => panic!("expected a config, got {other:?}"),
    }
}

#[test]
fn private_network_refuses_until_authorized_and_records_the_join_request() {
    let (mut c, nwid) = setup(true);
    let m = &ids()[1];
    assert_eq!(
        ask(&mut c, 0, m, nwid),
        Reply::Error(ErrorCode::NetworkAccessDenied)
    );
    let rec = c
        .store
        .member(nwid, m.address())
        .unwrap()
        .expect("join request recorded");
    assert!(!rec.authorized);
    assert_eq!(rec.identity, Some(*m.identity()));
    assert_eq!(rec.version, None, "this request named no version");
    // A join request's client version is recorded, so the administrator sees what asks.
    let req = ConfigRequest {
        from: *m.identity(),
        network_id: nwid,
        metadata: b"v=7\nmajv=1\nminv=e\nrevv=2\npv=b",
        physical: None,
    };
    let refused = c.handle_request(1_000, 1_700_000_001_000, &req);
    assert_eq!(refused, Reply::Error(ErrorCode::NetworkAccessDenied));
    let rec = c.store.member(nwid, m.address()).unwrap().unwrap();
    assert_eq!(rec.version, Some((1, 14, 2, 11)));
    let mut rec = rec;
    rec.authorized = true;
    c.store.put_member(&rec).unwrap();
    let reply = ask(&mut c, 2_500, m, nwid);
    let d = dict(&reply);
    assert_eq!(d.u64("id"), Some(m.address().to_u64()));
    assert_eq!(d.u64("nwid"), Some(nwid.0));
    assert!(d.bytes("I").is_some(), "an address from the pool");
}

#[test]
fn repeats_within_a_second_are_ignored_and_replies_never_repeat_bytes() {
    let (mut c, nwid) = setup(false);
    let m = &ids()[1];
    let first = ask(&mut c, 0, m, nwid);
    assert!(
        matches!(first, Reply::Config(_)),
        "public networks admit anyone"
    );
    assert_eq!(ask(&mut c, 500, m, nwid), Reply::Ignore);
    let second = ask(&mut c, 1000, m, nwid);
    assert_ne!(first, second, "fresh timestamp and COM every time");
    assert_eq!(c.stats().repeats, 1);
}

#[test]
fn addresses_are_sticky_and_never_duplicated() {
    let (mut c, nwid) = setup(false);
    let (a, b) = (&ids()[1], &ids()[2]);
    let ip_of = |r: &Reply| dict(r).bytes("I").unwrap();
    let a1 = ip_of(&ask(&mut c, 0, a, nwid));
    let b1 = ip_of(&ask(&mut c, 0, b, nwid));
    assert_ne!(a1, b1);
    assert_eq!(ip_of(&ask(&mut c, 5000, a, nwid)), a1);
    let members = c.store.members(nwid).unwrap();
    assert!(members.iter().all(|m| m.ip_assignments.len() == 1));
}

#[test]
fn foreign_unknown_pinned_and_banned() {
    let (mut c, nwid) = setup(false);
    let m = &ids()[1];
    assert_eq!(
        ask(&mut c, 0, m, NetworkId(0x1234_5678_9000_0001)),
        Reply::Ignore,
        "not our network"
    );
    let unknown = c.network_id(2);
    assert_eq!(
        ask(&mut c, 0, m, unknown),
        Reply::Error(ErrorCode::ObjNotFound)
    );
    // Another identity already holds this address in the network.
    let mut squatter = Member::new(nwid, m.address(), 0);
    squatter.identity = Some(*ids()[2].identity());
    squatter.authorized = true;
    c.store.put_member(&squatter).unwrap();
    assert_eq!(
        ask(&mut c, 2000, m, nwid),
        Reply::Error(ErrorCode::NetworkAccessDenied)
    );
    // A deleted ("banned") member stays refused even on a public network.
    let mut banned = Member::new(nwid, ids()[2].address(), 0);
    banned.banned = true;
    c.store.put_member(&banned).unwrap();
    assert_eq!(
        ask(&mut c, 4000, &ids()[2], nwid),
        Reply::Error(ErrorCode::NetworkAccessDenied)
    );
}

#[test]
fn changes_are_pushed_to_recent_members_only() {
    let (mut c, nwid) = setup(false);
    let m = &ids()[1];
    assert!(matches!(ask(&mut c, 0, m, nwid), Reply::Config(_)));
    let pushes = c.push_all(1000, 1_700_000_001_000);
    assert_eq!(pushes.len(), 1);
    assert_eq!((pushes[0].to, pushes[0].network_id), (m.address(), nwid));
    assert!(
        c.push_all(super::PUSH_WINDOW_MS + 1, 0).is_empty(),
        "not seen recently"
    );
}

#[test]
fn cache_hits_restamp_and_reuse_the_com_until_it_ages() {
    let (mut c, nwid) = setup(false);
    let m = &ids()[1];
    let com_of = |r: &Reply| dict(r).bytes("C").unwrap();
    let first = ask(&mut c, 0, m, nwid);
    assert_eq!((c.cache_stats().misses, c.cache_stats().hits), (1, 0));
    let second = ask(&mut c, 60_000, m, nwid);
    assert_eq!(c.cache_stats().hits, 1);
    assert_ne!(first, second, "restamped");
    assert_eq!(
        com_of(&first),
        com_of(&second),
        "COM reused, no new signature"
    );
    let third = ask(&mut c, super::cache::COM_REUSE_MS + 1, m, nwid);
    assert_ne!(com_of(&third), com_of(&first), "aged COM re-signed");
    assert_eq!(c.cache_stats().com_refreshes, 1);
    // Last-seen times of hits reach the store in one batch.
    assert_eq!(c.flush_seen().unwrap(), 1);
    let rec = c.store.member(nwid, m.address()).unwrap().unwrap();
    assert_eq!(
        rec.last_seen,
        1_700_000_000_000 + super::cache::COM_REUSE_MS + 1
    );
}

#[test]
fn any_write_empties_the_cache() {
    let (mut c, nwid) = setup(false);
    let m = &ids()[1];
    ask(&mut c, 0, m, nwid);
    let mut n = c.store.network(nwid).unwrap().unwrap();
    n.name = "renamed".into();
    n.revision += 1;
    c.store().put_network(&n).unwrap();
    let reply = ask(&mut c, 2000, m, nwid);
    assert_eq!(dict(&reply).string("n").as_deref(), Some("renamed"));
    assert_eq!(c.cache_stats().misses, 2);
    assert_eq!(c.cache_stats().invalidations, 1);
}

#[test]
fn a_full_cache_evicts_its_least_recently_used_entries() {
    let (mut c, nwid) = setup(false);
    c.cache = super::cache::ConfigCache::with_limits(2, usize::MAX);
    let [_, a, b] = ids();
    let third = {
        let (mut rng, mut scratch) = (SeededEntropy::new(78), Scratch::new());
        IdentitySecret::generate(&mut rng, &mut scratch)
    };
    ask(&mut c, 0, a, nwid);
    ask(&mut c, 10, b, nwid);
    ask(&mut c, 2000, a, nwid); // a is now the most recently used
    ask(&mut c, 3000, &third, nwid); // full: b, the oldest, goes
    assert_eq!(c.cache_stats().evictions, 1);
    assert_eq!(c.cache.len(), 2);
    let hits = c.cache_stats().hits;
    ask(&mut c, 4000, a, nwid);
    assert_eq!(c.cache_stats().hits, hits + 1, "a stayed cached");
    ask(&mut c, 5000, b, nwid);
    assert_eq!(c.cache_stats().hits, hits + 1, "b was evicted");
}

#[test]
fn first_requests_batch_into_one_transaction_and_addresses_stay_unique() {
    // The address member b gets when nothing is taken.
    let b = &ids()[2];
    let natural = {
        let (mut c, nwid) = setup(false);
        ask(&mut c, 0, b, nwid);
        c.store
            .member(nwid, b.address())
            .unwrap()
            .unwrap()
            .ip_assignments[0]
    };
    let (mut c, nwid) = setup(false);
    let a = &ids()[1];
    // a's request loads the network's address index; nothing is committed before the end.
    c.begin_requests();
    let first = ask(&mut c, 0, a, nwid);
    assert!(
        !c.store.conn_is_autocommit(),
        "the write opened the batch's transaction"
    );
    c.end_requests().unwrap();
    assert!(c.store.conn_is_autocommit());
    assert!(dict(&first).bytes("I").is_some());
    // A batch answered from the cache opens no transaction.
    c.begin_requests();
    ask(&mut c, 5000, a, nwid);
    assert!(c.store.conn_is_autocommit());
    c.end_requests().unwrap();
    // The API gives b's natural address to another member: the index must follow.
    let other = crate::wire::Address::new(0x12_3456_7890);
    let body = serde_json::json!({"authorized": true, "ipAssignments": [natural.to_string()]});
    c.api_post_member(6000, 1_700_000_006_000, nwid, other, &body)
        .unwrap();
    c.begin_requests();
    ask(&mut c, 7000, b, nwid);
    c.end_requests().unwrap();
    let got = c.store.member(nwid, b.address()).unwrap().unwrap();
    assert_eq!(got.ip_assignments.len(), 1);
    assert_ne!(
        got.ip_assignments[0], natural,
        "no address is handed out twice"
    );
}

#[test]
fn members_of_a_network_share_one_copy_of_its_configuration_part() {
    let (mut c, nwid) = setup(false);
    let (a, b) = (&ids()[1], &ids()[2]);
    ask(&mut c, 0, a, nwid);
    ask(&mut c, 0, b, nwid);
    let (ea, eb) = (
        c.cache
            .get((nwid, a.address()), a.identity(), true, 1)
            .unwrap()
            .input
            .net
            .clone(),
        c.cache
            .get((nwid, b.address()), b.identity(), true, 1)
            .unwrap()
            .input
            .net
            .clone(),
    );
    assert!(std::sync::Arc::ptr_eq(&ea, &eb));
}

#[test]
fn a_recent_request_fits_its_budgeted_size() {
    // hashbrown keeps at most 7 entries per 8 slots, plus a control byte each.
    let slot = std::mem::size_of::<((NetworkId, crate::wire::Address), super::Recent)>() + 1;
    assert!(slot * 8 / 7 <= crate::limits::RECENT_ENTRY_BYTES, "{slot}");
}

#[test]
fn a_foreign_lock_defers_writes_and_loses_nothing() {
    let [ctl, a, b] = ids();
    let dir = std::env::temp_dir().join(format!("ztcd-lock-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("controller.db");
    let store = Store::open(&path).unwrap();
    store
        .set_busy_timeout(std::time::Duration::from_millis(10))
        .unwrap();
    let mut c = Controller::new(ctl.clone(), store);
    let nwid = c.network_id(1);
    c.store.put_network(&Network::new(nwid, 0)).unwrap();
    c.store
        .transaction(|s| {
            let mut n = s.network(nwid)?.unwrap();
            n.private = false;
            s.put_network(&n)
        })
        .unwrap();
    assert!(matches!(ask(&mut c, 0, a, nwid), Reply::Config(_)));
    assert!(
        matches!(ask(&mut c, 2_000, a, nwid), Reply::Config(_)),
        "from the cache"
    );
    let foreign = rusqlite::Connection::open(&path).unwrap();
    foreign.execute_batch("BEGIN IMMEDIATE").unwrap();
    let e = c.flush_seen().unwrap_err();
    assert!(
        e.is_locked() && e.to_string().contains("locked by another process"),
        "{e}"
    );
    // A new member cannot be recorded: no answer (it asks again), not "no such network".
    // A known member is still answered from the cache in the same batch.
    c.begin_requests();
    assert_eq!(ask(&mut c, 3_000, b, nwid), Reply::Ignore);
    assert!(matches!(ask(&mut c, 3_000, a, nwid), Reply::Config(_)));
    c.end_requests().unwrap();
    foreign.execute_batch("ROLLBACK").unwrap();
    assert_eq!(
        c.flush_seen().unwrap(),
        1,
        "the deferred last-seen time is written"
    );
    let m = c.store.member(nwid, a.address()).unwrap().unwrap();
    assert_eq!(m.last_seen, 1_700_000_003_000, "the latest sighting");
    assert!(matches!(ask(&mut c, 5_000, b, nwid), Reply::Config(_)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn com_stamps_stay_within_one_window_across_a_clock_correction() {
    use crate::wire::com::Com;
    let (mut c, nwid) = setup(false);
    let [_, a, b] = ids();
    let stamp = |reply: &Reply| {
        let bytes = dict(reply).bytes("C").unwrap();
        let com = Com::parse(&mut crate::wire::Reader::new(&bytes)).unwrap();
        // Qualifier 0 is the timestamp.
        com.qualifiers[0].value
    };
    let asks = |c: &mut Controller, who: &IdentitySecret, mono: u64, unix: u64| {
        let req = ConfigRequest {
            from: *who.identity(),
            network_id: nwid,
            metadata: b"v=7\nrevr=1",
            physical: None,
        };
        c.handle_request(mono, unix, &req)
    };
    const UNIX: u64 = 1_700_000_000_000;
    const HOUR: u64 = 3_600_000;
    // The clock ran an hour fast when A asked; corrected, B asks an hour "earlier".
    let first = asks(&mut c, a, 0, UNIX + HOUR);
    let second = asks(&mut c, b, 2_000, UNIX);
    assert_eq!(stamp(&first), UNIX + HOUR);
    assert_eq!(
        stamp(&second),
        UNIX + HOUR,
        "never below a stamp issued before"
    );
    // A restart keeps the clock (it is stored with the last-seen times).
    c.flush_seen().unwrap();
    let store = std::mem::replace(&mut c.store, Store::in_memory().unwrap());
    let mut c = Controller::new(ids()[0].clone(), store);
    c.store
        .put_member(&{
            let mut m = c.store.member(nwid, b.address()).unwrap().unwrap();
            m.authorized = true;
            m
        })
        .unwrap();
    // A revocation covers every stamp issued, and a COM issued after it is above it.
    c.api_post_member(
        0,
        UNIX + 10,
        nwid,
        b.address(),
        &serde_json::json!({"authorized": false}),
    )
    .unwrap();
    let threshold = c.revoked.last().map(|r| r.payload.clone()).unwrap();
    let rev =
        crate::wire::revocation::Revocation::parse(&mut crate::wire::Reader::new(&threshold[7..]))
            .unwrap()
            .threshold;
    assert_eq!(rev, UNIX + HOUR);
    c.api_post_member(
        0,
        UNIX + 20,
        nwid,
        b.address(),
        &serde_json::json!({"authorized": true}),
    )
    .unwrap();
    let third = asks(&mut c, b, 5_000, UNIX + 30);
    assert!(stamp(&third) > rev, "{} <= {rev}", stamp(&third));
}

#[test]
fn capabilities_and_tags_are_issued_with_the_com_and_follow_changes() {
    use crate::wire::Reader;
    use serde_json::json;
    let (mut c, nwid) = setup(false);
    let m = &ids()[1];
    let body = json!({
        "capabilities": [{"id": 7, "default": true, "rules": [{"type": "ACTION_ACCEPT"}]}],
        "tags": [{"id": 1000, "default": 1}]
    });
    c.api_post_network(0, 1_700_000_000_000, nwid, &body)
        .unwrap();
    let first = ask(&mut c, 0, m, nwid);
    let d = dict(&first);
    let tags = d.bytes("TAG").expect("the default tag");
    assert_eq!(tags.len(), 135);
    let mut r = Reader::new(&tags);
    assert_eq!(r.u64().unwrap(), nwid.0);
    let com_ts = r.u64().unwrap();
    assert_eq!((r.u32().unwrap(), r.u32().unwrap()), (1000, 1));
    let com = crate::wire::com::Com::parse(&mut Reader::new(&d.bytes("C").unwrap())).unwrap();
    assert_eq!(
        Some(com_ts),
        com.value(0),
        "signed with the COM's timestamp"
    );
    assert!(
        d.bytes("CAP").is_some(),
        "the default capability of a new member"
    );
    // The member's own tag value replaces the default, at once.
    let path = m.address();
    c.api_post_member(
        1,
        1_700_000_000_001,
        nwid,
        path,
        &json!({"tags": [[1000, 2]]}),
    )
    .unwrap();
    let second = ask(&mut c, 2_000, m, nwid);
    let tags = dict(&second).bytes("TAG").unwrap();
    assert_eq!(&tags[20..24], &2u32.to_be_bytes());
    // Old clients (no rules engine) get neither.
    let req = ConfigRequest {
        from: *m.identity(),
        network_id: nwid,
        metadata: b"v=7\nrevr=0",
        physical: None,
    };
    let old = c.handle_request(4_000, 1_700_000_004_000, &req);
    assert!(dict(&old).bytes("TAG").is_none() && dict(&old).bytes("CAP").is_none());
}

#[test]
fn an_approval_window_lets_in_new_devices_until_it_is_full_or_over() {
    use serde_json::json;
    let (mut c, nwid) = setup(true);
    let [_, a, b] = ids();
    let unix0 = 1_700_000_000_000;
    assert!(
        c.api_open_window(unix0, nwid, &json!({"minutes": 0, "maxDevices": 1}))
            .is_err()
    );
    c.api_open_window(unix0, nwid, &json!({"minutes": 10, "maxDevices": 1}))
        .unwrap();
    assert!(
        matches!(ask(&mut c, 1_000, a, nwid), Reply::Config(_)),
        "let in"
    );
    let w = c.api_window(unix0 + 1_000, nwid).unwrap();
    assert_eq!(w["admittedCount"], 1);
    assert_eq!(w["open"], false, "full after one device");
    assert_eq!(w["admitted"][0]["address"], a.address().to_string());
    assert_eq!(
        ask(&mut c, 2_000, b, nwid),
        Reply::Error(ErrorCode::NetworkAccessDenied)
    );
    // A new window lets the waiting device in; one that is over does not.
    c.api_open_window(unix0 + 3_000, nwid, &json!({"minutes": 1, "maxDevices": 5}))
        .unwrap();
    let late = 3_000 + 61_000;
    assert_eq!(
        ask(&mut c, late, b, nwid),
        Reply::Error(ErrorCode::NetworkAccessDenied),
        "the window was over"
    );
    c.api_open_window(unix0 + late, nwid, &json!({"minutes": 1, "maxDevices": 5}))
        .unwrap();
    assert!(matches!(
        ask(&mut c, late + 2_000, b, nwid),
        Reply::Config(_)
    ));
    // A device the administrator deauthorized is never let back in by a window.
    c.api_post_member(
        late + 3_000,
        unix0 + late + 3_000,
        nwid,
        b.address(),
        &json!({"authorized": false}),
    )
    .unwrap();
    assert_eq!(
        ask(&mut c, late + 5_000, b, nwid),
        Reply::Error(ErrorCode::NetworkAccessDenied)
    );
    c.api_close_window(unix0 + late + 6_000, nwid).unwrap();
    assert_eq!(
        c.api_window(unix0 + late + 6_000, nwid).unwrap()["open"],
        false
    );
}
