//! The write side: typed changes in one transaction, savepoints, and the controller's timers.

use serde_json::json;

use super::api::ApiError;
use super::api_tests::ApiCalls;
use super::change::{Change, MemberPatch, NetworkPatch};
use super::store::Store;
use super::tests::{ask, ids, setup};
use super::{Controller, Now, Reply};
use crate::crypto::SeededEntropy;
use crate::wire::NetworkId;

const UNIX: u64 = 1_700_000_000_000;

fn now(mono: u64) -> Now {
    Now {
        mono,
        unix: UNIX + mono,
    }
}

fn authorize(yes: bool) -> MemberPatch {
    MemberPatch {
        authorized: Some(yes),
        ..MemberPatch::default()
    }
}

#[test]
fn a_batch_of_changes_lands_together_and_a_refused_one_leaves_nothing() {
    let (mut c, nwid) = setup(true);
    let [_, a, b] = ids();
    let taken = "10.1.0.9".parse().unwrap();
    let changes = [
        Change::PutMember(nwid, a.address(), {
            let mut p = authorize(true);
            p.ip_assignments = Some(vec![taken]);
            p
        }),
        // Refused: the address is a's by now (the earlier change of the batch counts).
        Change::PutMember(nwid, b.address(), {
            let mut p = authorize(true);
            p.ip_assignments = Some(vec![taken]);
            p
        }),
        Change::DeleteMember(NetworkId(nwid.0 + 1), a.address()),
        Change::PutNetwork(
            nwid,
            NetworkPatch {
                name: Some("office".into()),
                ..NetworkPatch::default()
            },
        ),
    ];
    let results = c
        .apply_all(now(0), &mut SeededEntropy::new(1), &changes)
        .unwrap();
    assert!(results[0].is_ok());
    assert!(matches!(&results[1], Err(ApiError::BadRequest(e)) if e.contains("already assigned")));
    assert!(matches!(results[2], Err(ApiError::NotFound(_))));
    assert_eq!(results[3].as_ref().unwrap()["name"], "office");
    assert!(matches!(
        c.api_member(0, nwid, b.address()),
        Err(ApiError::NotFound(_))
    ));
    assert_eq!(
        c.api_member(0, nwid, a.address()).unwrap()["authorized"],
        true
    );
}

#[test]
fn a_nested_transaction_that_fails_undoes_only_its_own_writes() {
    let (mut c, nwid) = setup(true);
    let [_, a, b] = ids();
    let result = c.atomically(|c| {
        c.api_post_member(0, UNIX, nwid, a.address(), &json!({"authorized": true}))?;
        let inner = c.atomically(|c| {
            c.api_post_member(0, UNIX, nwid, b.address(), &json!({"authorized": true}))?;
            Err::<(), _>(ApiError::BadRequest("refused after writing".into()))
        });
        assert!(inner.is_err());
        Ok(())
    });
    assert!(result.is_ok());
    assert!(c.store().conn_is_autocommit(), "nothing left open");
    assert_eq!(
        c.api_member(0, nwid, a.address()).unwrap()["authorized"],
        true
    );
    assert!(matches!(
        c.api_member(0, nwid, b.address()),
        Err(ApiError::NotFound(_))
    ));
}

#[test]
fn a_deauthorization_rolled_back_leaves_no_revocation_behind() {
    let (mut c, nwid) = setup(true);
    let [_, a, b] = ids();
    for who in [a, b] {
        c.api_post_member(0, UNIX, nwid, who.address(), &json!({"authorized": true}))
            .unwrap();
        assert!(matches!(ask(&mut c, 0, who, nwid), Reply::Config(_)));
    }
    let _ = c.take_pushes();
    let r = c.atomically(|c| {
        c.api_post_member(10, UNIX, nwid, a.address(), &json!({"authorized": false}))?;
        assert!(!c.outbox.is_empty(), "the revocation was queued");
        Err::<(), _>(ApiError::BadRequest("undone".into()))
    });
    assert!(r.is_err());
    assert!(c.take_pushes().is_empty(), "nothing of it is sent");
    assert!(c.revoked.is_empty(), "nor kept for members asking later");
    assert_eq!(
        c.api_member(0, nwid, a.address()).unwrap()["authorized"],
        true
    );
}

/// A controller on a database file in a fresh folder (another connection can lock it), with
/// a short busy timeout; returns it, the folder and the file.
fn on_disk(tag: &str) -> (Controller, std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("ztcd-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("controller.db");
    let store = Store::open(&path).unwrap();
    store
        .set_busy_timeout(std::time::Duration::from_millis(10))
        .unwrap();
    (Controller::new(ids()[0].clone(), store), dir, path)
}

#[test]
fn a_locked_database_fails_the_whole_batch_and_writes_nothing() {
    let (mut c, dir, path) = on_disk("apply-lock");
    let [_, a, _] = ids();
    let created = c
        .apply_one(
            now(0),
            &mut SeededEntropy::new(2),
            &Change::CreateNetwork(NetworkPatch::default()),
        )
        .unwrap();
    let nwid = super::api::parse_network_id(created["id"].as_str().unwrap()).unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let change = Change::PutMember(nwid, a.address(), authorize(true));
    let e = c
        .apply_all(
            now(1),
            &mut SeededEntropy::new(3),
            std::slice::from_ref(&change),
        )
        .unwrap_err();
    assert_eq!(e.status(), 503, "{e}");
    other.execute_batch("ROLLBACK").unwrap();
    assert!(matches!(
        c.api_member(0, nwid, a.address()),
        Err(ApiError::NotFound(_))
    ));
    let done = c.apply_all(now(2), &mut SeededEntropy::new(4), &[change]);
    assert!(
        done.unwrap()[0].is_ok(),
        "carried out once the lock is gone"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn timers_expire_members_and_push_the_cut_off() {
    let (mut c, nwid) = setup(true);
    let [_, a, b] = ids();
    assert_eq!(c.poll_timeout(), 0, "due at once");
    c.handle_timeout(now(0));
    assert_eq!(c.poll_timeout(), super::apply::CHANGE_POLL_MS);
    let ends = UNIX + 5_000;
    c.api_post_member(
        0,
        UNIX,
        nwid,
        a.address(),
        &json!({"authorized": true, "expiresAt": ends}),
    )
    .unwrap();
    c.api_post_member(0, UNIX, nwid, b.address(), &json!({"authorized": true}))
        .unwrap();
    for who in [a, b] {
        assert!(matches!(ask(&mut c, 0, who, nwid), Reply::Config(_)));
    }
    let _ = c.take_pushes();
    c.handle_timeout(now(2_000));
    assert!(c.take_pushes().is_empty(), "nothing due yet");
    c.handle_timeout(now(6_000));
    let pushes = c.take_pushes();
    assert!(
        pushes
            .iter()
            .any(|p| p.to == a.address() && matches!(p.reply, Reply::Error(_))),
        "the expired member is cut off: {pushes:?}"
    );
    assert!(
        pushes
            .iter()
            .any(|p| p.to == b.address() && matches!(p.reply, Reply::Credentials(_))),
        "the others get its revocation: {pushes:?}"
    );
    assert_eq!(
        c.api_member(6_000, nwid, a.address()).unwrap()["authorized"],
        false
    );
}

/// Member `who` asks through the group-commit path.
fn request(c: &mut Controller, mono: u64, who: &crate::identity::IdentitySecret, nwid: NetworkId) {
    let req = super::ConfigRequest {
        from: *who.identity(),
        network_id: nwid,
        metadata: b"v=7\nrevr=1",
        physical: None,
    };
    c.begin_requests();
    c.request(now(mono), &req, 0x77);
}

#[test]
fn answers_that_wrote_are_released_by_the_commit_and_no_sooner() {
    let (mut c, nwid) = setup(false);
    let [_, a, b] = ids();
    request(&mut c, 10, a, nwid);
    assert!(
        c.take_answers().is_empty(),
        "a new member waits for the commit"
    );
    assert!(!c.store().conn_is_autocommit(), "the transaction is open");
    // A second new member of the same wake-up shares the transaction.
    request(&mut c, 10, b, nwid);
    assert!(c.take_answers().is_empty());
    c.end_requests().unwrap();
    let answers = c.take_answers();
    assert_eq!(answers.len(), 2, "both released by one commit");
    assert!(
        answers
            .iter()
            .all(|x| matches!(x.reply, Reply::Config(_)) && x.packet_id == 0x77)
    );
    assert!(c.store().conn_is_autocommit());
    assert!(
        c.store().member(nwid, a.address()).unwrap().is_some(),
        "durable"
    );
    // Asked again later: answered from the cache, at once.
    request(&mut c, 2_000, a, nwid);
    assert_eq!(c.take_answers().len(), 1, "nothing written: no wait");
}

#[test]
fn a_change_commits_the_open_group_first_and_a_full_group_commits_at_once() {
    let (mut c, nwid) = setup(false);
    let [_, a, b] = ids();
    request(&mut c, 10, a, nwid);
    assert!(c.take_answers().is_empty());
    let rename = Change::PutNetwork(
        nwid,
        NetworkPatch {
            name: Some("x".into()),
            ..NetworkPatch::default()
        },
    );
    c.apply_one(now(11), &mut SeededEntropy::new(1), &rename)
        .unwrap();
    assert_eq!(
        c.take_answers().len(),
        1,
        "released by the group's own commit"
    );
    // A full group does not wait for its timer: one member joining many networks.
    let public = NetworkPatch {
        private: Some(false),
        ..NetworkPatch::default()
    };
    let nets: Vec<NetworkId> = (0..=super::GROUP_COMMIT_MAX as u32)
        .map(|i| {
            let id = c.network_id(100 + i);
            let change = Change::PutNetwork(id, public.clone());
            c.apply_one(now(20), &mut SeededEntropy::new(1), &change)
                .unwrap();
            id
        })
        .collect();
    c.begin_requests();
    for (i, id) in nets.iter().enumerate() {
        let req = super::ConfigRequest {
            from: *b.identity(),
            network_id: *id,
            metadata: b"v=7\nrevr=1",
            physical: None,
        };
        c.request(now(2_000), &req, i as u64);
    }
    assert_eq!(c.take_answers().len(), super::GROUP_COMMIT_MAX);
    // The next write of the same wake-up starts the next group rather than committing
    // on its own.
    assert!(
        !c.store().conn_is_autocommit(),
        "a new transaction holds the last one"
    );
    c.end_requests().unwrap();
    assert_eq!(c.take_answers().len(), 1);
    assert!(c.store().conn_is_autocommit());
}

#[test]
fn a_network_change_is_pushed_a_chunk_at_a_time_from_the_state_when_rendered() {
    let (mut c, nwid) = setup(false);
    let [_, a, b] = ids();
    for m in [a, b] {
        assert!(matches!(ask(&mut c, 0, m, nwid), Reply::Config(_)));
    }
    let _ = c.take_pushes();
    let rename = |name: &str| {
        Change::PutNetwork(
            nwid,
            NetworkPatch {
                name: Some(name.into()),
                ..NetworkPatch::default()
            },
        )
    };
    let mut rng = SeededEntropy::new(3);
    c.apply_one(now(10), &mut rng, &rename("first")).unwrap();
    c.apply_one(now(20), &mut rng, &rename("second")).unwrap();
    assert_eq!(c.pending_pushes(), 2, "each member is queued once");
    assert!(
        c.take_rendered_pushes().is_empty(),
        "rendered only when asked"
    );
    let name = |p: &super::Push| match &p.reply {
        Reply::Config(d) => crate::wire::dictionary::Dictionary::new(d, 1 << 20)
            .unwrap()
            .string("n"),
        other => panic!("{other:?}"),
    };
    c.render_pushes(now(30), 1);
    let first = c.take_rendered_pushes();
    assert_eq!(first.len(), 1);
    assert_eq!(c.pending_pushes(), 1);
    assert_eq!(
        name(&first[0]).as_deref(),
        Some("second"),
        "the newest state"
    );
    c.render_pushes(now(40), 64);
    let rest = c.take_rendered_pushes();
    assert_eq!(rest.len(), 1);
    assert_ne!(rest[0].to, first[0].to);
    assert_eq!(c.pending_pushes(), 0);
    // A change that does not land queues nothing.
    let failed = c.atomically(|c| {
        c.apply_one(now(50), &mut SeededEntropy::new(4), &rename("third"))?;
        Err::<(), _>(ApiError::BadRequest("refused later".into()))
    });
    assert!(failed.is_err());
    assert_eq!(c.pending_pushes(), 0);
    assert!(c.take_pushes().is_empty());
    // Without a runtime to render them, `take_pushes` renders what is queued.
    c.apply_one(now(60), &mut rng, &rename("fourth")).unwrap();
    let all = c.take_pushes();
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|p| name(p).as_deref() == Some("fourth")));
}

#[test]
fn a_rename_is_pushed_from_the_cache_and_a_change_of_addressing_is_not() {
    let (mut c, nwid) = setup(false);
    let [_, a, b] = ids();
    let com = |r: &Reply| match r {
        Reply::Config(d) => {
            let d = crate::wire::dictionary::Dictionary::new(d, 1 << 20).unwrap();
            (d.bytes("C"), d.string("n"))
        }
        other => panic!("{other:?}"),
    };
    let first = com(&ask(&mut c, 0, a, nwid));
    assert!(matches!(ask(&mut c, 0, b, nwid), Reply::Config(_)));
    let before = c.cache_stats();
    let patch = |p: NetworkPatch| Change::PutNetwork(nwid, p);
    let mut rng = SeededEntropy::new(5);
    let rename = patch(NetworkPatch {
        name: Some("renamed".into()),
        mtu: Some(1400),
        ..NetworkPatch::default()
    });
    c.apply_one(now(10), &mut rng, &rename).unwrap();
    let pushes = c.take_pushes();
    assert_eq!(pushes.len(), 2);
    let after = c.cache_stats();
    assert_eq!(after.misses, before.misses, "no configuration made anew");
    assert_eq!(after.hits, before.hits + 2);
    let to_a = pushes.iter().find(|p| p.to == a.address()).unwrap();
    let pushed = com(&to_a.reply);
    assert_eq!(pushed.1.as_deref(), Some("renamed"));
    assert_eq!(
        pushed.0, first.0,
        "the member's COM is still valid and reused"
    );
    // A member asking now gets the new name too (the cache holds no stale part).
    assert_eq!(
        com(&ask(&mut c, 5_000, b, nwid)).1.as_deref(),
        Some("renamed")
    );
    // Addressing decides each member's addresses: its members' entries are made anew.
    let pools = patch(NetworkPatch {
        pools: Some(Vec::new()),
        ..NetworkPatch::default()
    });
    let misses = c.cache_stats().misses;
    c.apply_one(now(20), &mut rng, &pools).unwrap();
    assert_eq!(c.take_pushes().len(), 2);
    assert_eq!(c.cache_stats().misses, misses + 2);
}

#[test]
fn a_deleted_active_bridge_is_refused_at_once_and_its_com_revoked() {
    let (mut c, nwid) = setup(true);
    let [_, a, b] = ids();
    let mut rng = SeededEntropy::new(6);
    for m in [a, b] {
        let change = Change::PutMember(nwid, m.address(), authorize(true));
        c.apply_one(now(0), &mut rng, &change).unwrap();
        assert!(matches!(ask(&mut c, 0, m, nwid), Reply::Config(_)));
    }
    let bridge = MemberPatch {
        active_bridge: Some(true),
        ..MemberPatch::default()
    };
    let change = Change::PutMember(nwid, b.address(), bridge);
    c.apply_one(now(10), &mut rng, &change).unwrap();
    let _ = c.take_pushes();
    let change = Change::DeleteMember(nwid, b.address());
    c.apply_one(now(20), &mut rng, &change).unwrap();
    let now_sent = c.take_rendered_pushes();
    let to_b = now_sent.iter().find(|p| p.to == b.address()).unwrap();
    assert_eq!(
        to_b.reply,
        Reply::Error(crate::wire::verbs::ErrorCode::NetworkAccessDenied)
    );
    assert!(
        now_sent
            .iter()
            .any(|p| p.to == a.address() && matches!(p.reply, Reply::Credentials(_))),
        "the bridge's COM is revoked at the other member: {now_sent:?}"
    );
    // The rest of the network no longer lists it: a's new configuration is queued.
    assert_eq!(c.pending_pushes(), 1);
    let later = c.take_pushes();
    assert!(later.iter().all(|p| p.to == a.address()), "{later:?}");
}

#[test]
fn a_push_chunk_that_cannot_write_waits_and_is_sent_once_it_can() {
    let (mut c, dir, path) = on_disk("push-lock");
    let [_, a, b] = ids();
    let mut rng = SeededEntropy::new(7);
    let public = NetworkPatch {
        private: Some(false),
        ..NetworkPatch::default()
    };
    let created = c
        .apply_one(now(0), &mut rng, &Change::CreateNetwork(public))
        .unwrap();
    let nwid = super::api::parse_network_id(created["id"].as_str().unwrap()).unwrap();
    for m in [a, b] {
        assert!(matches!(ask(&mut c, 0, m, nwid), Reply::Config(_)));
    }
    // Addresses from a pool: each pushed configuration assigns one (a write).
    let pool = super::model::Pool {
        ip_range_start: "10.9.0.1".parse().unwrap(),
        ip_range_end: "10.9.0.9".parse().unwrap(),
    };
    let route = super::model::Route {
        target: super::cidr("10.9.0.0/24").unwrap(),
        via: None,
    };
    let addressing = NetworkPatch {
        v4_assign_zt: Some(true),
        pools: Some(vec![pool]),
        routes: Some(vec![route]),
        ..NetworkPatch::default()
    };
    let change = Change::PutNetwork(nwid, addressing);
    c.apply_one(now(10), &mut rng, &change).unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    c.render_pushes(now(20), 64);
    assert!(
        c.take_rendered_pushes().is_empty(),
        "nothing unwritten is sent"
    );
    assert_eq!(c.pending_pushes(), 2, "the chunk waits");
    assert!(!c.pushes_due(500), "and backs off");
    other.execute_batch("ROLLBACK").unwrap();
    assert!(c.pushes_due(20 + super::apply::CHANGE_POLL_MS));
    c.render_pushes(now(20 + super::apply::CHANGE_POLL_MS), 64);
    let pushes = c.take_rendered_pushes();
    assert_eq!(pushes.len(), 2);
    for m in [a, b] {
        let stored = c.api_member(0, nwid, m.address()).unwrap();
        assert_eq!(stored["ipAssignments"].as_array().map(Vec::len), Some(1));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
