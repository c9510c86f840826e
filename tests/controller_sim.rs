//! Deterministic simulation of the node and the controller together, joined by the same code
//! the daemon runs ([`ztcd::serve`]): simulated clients on a virtual clock, datagrams dropped,
//! duplicated and reordered by a seeded fault model, administrative changes made as the admin
//! API and the command line make them. No sockets, no namespaces.

mod common;

use std::collections::HashMap;
use std::sync::OnceLock;

use common::client::{SimPeer, packets_to};
use ztcd::client::{ConfigSummary, check_config, config_request};
use ztcd::controller::change::{Change, MemberPatch, NetworkPatch};
use ztcd::controller::model::{Pool, Route};
use ztcd::controller::store::Store;
use ztcd::controller::window::WindowSpec;
use ztcd::controller::{Controller, Now};
use ztcd::crypto::c25519::KeyPair;
use ztcd::crypto::hashcash::Scratch;
use ztcd::crypto::{Entropy, SeededEntropy};
use ztcd::identity::{Identity, IdentitySecret};
use ztcd::node::{Event, Node, NodeConfig, Transmit};
use ztcd::wire::verbs::{ConfigChunk, ErrorCode, ErrorRepr, OkHeader};
use ztcd::wire::world::WorldKind;
use ztcd::wire::{InetAddress, NetworkId, Verb};

const UNIX: u64 = 1_700_000_000_000;

/// The controller and three members (generated once per test binary).
fn identities() -> &'static [IdentitySecret; 4] {
    static IDS: OnceLock<[IdentitySecret; 4]> = OnceLock::new();
    IDS.get_or_init(|| {
        let mut scratch = Scratch::new();
        let mut rng = SeededEntropy::new(4321);
        [(); 4].map(|()| IdentitySecret::generate(&mut rng, &mut scratch))
    })
}

/// What a simulated member received from the controller.
#[derive(Debug, Clone, PartialEq)]
enum Got {
    /// A configuration (answer or push), checked as a client checks it.
    Config(ConfigSummary),
    /// A refusal.
    Refused(ErrorCode),
    /// A NETWORK_CREDENTIALS packet (a revocation).
    Credentials,
}

/// Faults on the way from members to the node: each datagram is dropped with probability
/// `drop`/1000, sent twice with `duplicate`/1000, and each batch is shuffled if `reorder`.
#[derive(Clone, Copy, Default)]
struct Faults {
    drop: u64,
    duplicate: u64,
    reorder: bool,
}

struct Bed {
    node: Node,
    controller: Controller,
    root: Identity,
    members: Vec<SimPeer>,
    network: NetworkId,
    mono: u64,
    rng: SeededEntropy,
    faults: Faults,
    /// What each member received, in order.
    got: Vec<Vec<Got>>,
    verified_com: Vec<Vec<u8>>,
    /// Datagrams on their way to the node.
    in_flight: Vec<(usize, Vec<u8>)>,
    dropped: u64,
}

impl Bed {
    fn new(faults: Faults, store: Store) -> Self {
        let [root, a, b, c] = identities().clone();
        let key = KeyPair::generate(&mut SeededEntropy::new(8));
        let ep: InetAddress = "10.0.0.1/9993".parse().unwrap();
        let planet = ztcd::world::make(
            WorldKind::Planet,
            77,
            1000,
            &[(*root.identity(), vec![ep])],
            &key,
        )
        .unwrap();
        let node = Node::new(NodeConfig {
            planet: Some(planet),
            moon: None,
            identity: root.clone(),
            rng_seed: 3,
            limits: ztcd::limits::TableLimits::default(),
        });
        let mut controller = Controller::new(root.clone(), store);
        let network = controller.network_id(1);
        let patch = NetworkPatch {
            name: Some("sim".into()),
            v4_assign_zt: Some(true),
            pools: Some(vec![Pool {
                ip_range_start: "10.7.0.1".parse().unwrap(),
                ip_range_end: "10.7.0.254".parse().unwrap(),
            }]),
            routes: Some(vec![Route {
                target: ztcd::controller::cidr("10.7.0.0/24").unwrap(),
                via: None,
            }]),
            ..NetworkPatch::default()
        };
        let now = Now {
            mono: 0,
            unix: UNIX,
        };
        let mut rng = SeededEntropy::new(11);
        let change = Change::PutNetwork(network, patch);
        controller.apply_one(now, &mut rng, &change).unwrap();
        let members = [a, b, c]
            .into_iter()
            .enumerate()
            .map(|(i, id)| SimPeer::new(id, &format!("10.0.{i}.2:9993")))
            .collect();
        Self {
            node,
            controller,
            root: *root.identity(),
            members,
            network,
            mono: 1000,
            rng,
            faults,
            got: vec![Vec::new(); 3],
            verified_com: vec![Vec::new(); 3],
            in_flight: Vec::new(),
            dropped: 0,
        }
    }

    fn now(&self) -> Now {
        Now {
            mono: self.mono,
            unix: UNIX + self.mono,
        }
    }

    /// Sends datagrams from member `m` through the fault model.
    fn send(&mut self, m: usize, datagrams: Vec<Vec<u8>>) {
        for d in datagrams {
            let roll = self.rng.next_u64() % 1000;
            if roll < self.faults.drop {
                self.dropped += 1;
                continue;
            }
            if roll >= 1000 - self.faults.duplicate {
                self.in_flight.push((m, d.clone()));
            }
            self.in_flight.push((m, d));
        }
    }

    /// Delivers what is in flight, lets the node and the controller act, and hands what they
    /// sent to the members (which answer path probes); repeats until all is quiet.
    fn settle(&mut self) {
        for _ in 0..50 {
            let mut batch = std::mem::take(&mut self.in_flight);
            if self.faults.reorder {
                for i in (1..batch.len()).rev() {
                    let j = (self.rng.next_u64() % (i as u64 + 1)) as usize;
                    batch.swap(i, j);
                }
            }
            let now = self.now();
            for (m, d) in &batch {
                let from = self.members[*m].addr;
                self.node
                    .handle_datagram(now.mono, ztcd::node::LocalSocket(0), from, d);
            }
            let sent = self.act(now);
            self.receive(&sent);
            if self.in_flight.is_empty() && sent.is_empty() {
                return;
            }
        }
        panic!("the simulation did not settle");
    }

    /// Runs the node's events through the controller as the daemon does; returns what was
    /// sent.
    fn act(&mut self, now: Now) -> Vec<Transmit> {
        let mut sent = Vec::new();
        let mut scratch = Scratch::new();
        let mut requests = Vec::new();
        while let Some(e) = self.node.poll_event() {
            match e {
                Event::ValidateIdentity(id) => {
                    let ok = id.validate(&mut scratch).is_ok();
                    self.node.identity_checked(now.mono, id, ok);
                }
                Event::ConfigRequest(r) => requests.push(r),
                _ => {}
            }
        }
        while let Some(t) = self.node.poll_transmit() {
            sent.push(t);
        }
        ztcd::serve::answer_requests(
            &mut self.node,
            &mut self.controller,
            now,
            &requests,
            &mut |t| sent.push(t.clone()),
        );
        self.push(&mut sent);
        sent
    }

    /// Delivers what the controller has ready.
    fn push(&mut self, sent: &mut Vec<Transmit>) {
        let now = self.now();
        ztcd::serve::deliver(&mut self.node, &mut self.controller, now, &mut |t| {
            sent.push(t.clone())
        });
    }

    /// Each member opens what was sent to it: probes are answered, the rest recorded.
    fn receive(&mut self, sent: &[Transmit]) {
        let mut chunks: HashMap<(usize, u64), Vec<u8>> = HashMap::new();
        for m in 0..self.members.len() {
            for p in packets_to(sent, self.members[m].addr) {
                let (h, payload) = self.members[m].open(&self.root, p).expect("authentic");
                match h.verb {
                    Verb::Echo => {
                        let d = self.members[m].answer_echo(&self.root, &h, &payload);
                        self.send(m, d);
                    }
                    Verb::Ok => {
                        let (ok, body) = OkHeader::parse(&payload).unwrap();
                        if ok.in_re_verb == Verb::NetworkConfigRequest {
                            self.chunk(m, body, &mut chunks);
                        }
                    }
                    Verb::NetworkConfig => self.chunk(m, &payload, &mut chunks),
                    Verb::Error => {
                        let e = ErrorRepr::parse(&payload).unwrap();
                        self.got[m].push(Got::Refused(e.code));
                    }
                    Verb::NetworkCredentials => self.got[m].push(Got::Credentials),
                    _ => {}
                }
            }
        }
    }

    /// A configuration chunk for member `m`: checked once whole.
    fn chunk(&mut self, m: usize, body: &[u8], chunks: &mut HashMap<(usize, u64), Vec<u8>>) {
        let c = ConfigChunk::parse(body).unwrap();
        let buf = chunks
            .entry((m, c.update_id))
            .or_insert_with(|| vec![0u8; c.total_len as usize]);
        buf[c.index as usize..c.index as usize + c.data.len()].copy_from_slice(c.data);
        if c.index as usize + c.data.len() < c.total_len as usize {
            return;
        }
        let dict = chunks.remove(&(m, c.update_id)).unwrap();
        let me = *self.members[m].id.identity();
        let summary = check_config(
            &dict,
            c.network_id,
            &me,
            &self.root,
            &mut self.verified_com[m],
        )
        .unwrap();
        self.got[m].push(Got::Config(summary));
    }

    /// Member `m` says HELLO (until it is answered: HELLOs may be dropped).
    fn hello(&mut self, m: usize) {
        for _ in 0..20 {
            let (_, d) = self.members[m].hello(&self.root, (77, 1000));
            self.send(m, vec![d]);
            self.settle();
            if self.node.peer(self.members[m].address()).is_some() {
                return;
            }
            self.advance(1000);
        }
        panic!("member {m} never got through");
    }

    /// Member `m` asks for the network's configuration once.
    fn ask(&mut self, m: usize) {
        self.ask_in(m, self.network);
    }

    /// Member `m` asks for `network`'s configuration once.
    fn ask_in(&mut self, m: usize, network: NetworkId) {
        let payload = config_request(network);
        let root = self.root;
        let (_, d) = self.members[m].packet(&root, Verb::NetworkConfigRequest, &payload);
        self.send(m, d);
        self.settle();
    }

    /// Member `m` asks until it gets an answer (requests may be dropped); returns it.
    fn ask_until_answered(&mut self, m: usize) -> Got {
        self.ask_until_answered_in(m, self.network)
    }

    /// Member `m` asks `network` until it gets an answer; returns it.
    fn ask_until_answered_in(&mut self, m: usize, network: NetworkId) -> Got {
        for _ in 0..20 {
            let before = self.got[m].len();
            self.ask_in(m, network);
            if let Some(g) = self.got[m][before..].last() {
                return g.clone();
            }
            self.advance(1100);
        }
        panic!("member {m} never got an answer");
    }

    /// Lets virtual time pass, running the node's and the controller's timers.
    fn advance(&mut self, ms: u64) {
        self.mono += ms;
        let now = self.now();
        self.node.handle_timeout(now.mono);
        self.controller.handle_timeout(now);
        let sent = self.act(now);
        self.receive(&sent);
        self.settle();
    }

    /// Makes one change as the admin API does; returns the object it answers with.
    fn change_one(&mut self, change: Change) -> serde_json::Value {
        let now = self.now();
        let v = self
            .controller
            .apply_one(now, &mut SeededEntropy::new(now.mono), &change)
            .unwrap();
        let mut sent = Vec::new();
        self.push(&mut sent);
        self.receive(&sent);
        self.settle();
        v
    }

    /// Makes changes as the admin API does (one transaction), then delivers the pushes.
    fn change(&mut self, changes: &[Change]) {
        let now = self.now();
        let results = self
            .controller
            .apply_all(now, &mut SeededEntropy::new(now.mono), changes)
            .unwrap();
        for r in results {
            r.unwrap();
        }
        let mut sent = Vec::new();
        self.push(&mut sent);
        self.receive(&sent);
        self.settle();
    }

    fn member(&self, m: usize) -> ztcd::wire::Address {
        self.members[m].address()
    }

    fn drain_got(&mut self, m: usize) -> Vec<Got> {
        std::mem::take(&mut self.got[m])
    }
}

fn authorize(yes: bool) -> MemberPatch {
    MemberPatch {
        authorized: Some(yes),
        ..MemberPatch::default()
    }
}

fn config(g: &Got) -> &ConfigSummary {
    match g {
        Got::Config(c) => c,
        other => panic!("expected a configuration, got {other:?}"),
    }
}

/// Join request, authorization pushed, network change pushed, deauthorization revoked at the
/// other member and refused to the member: with and without faults on the way.
fn join_authorize_change_and_revoke(faults: Faults) -> u64 {
    let mut bed = Bed::new(faults, Store::in_memory().unwrap());
    for m in 0..2 {
        bed.hello(m);
        assert_eq!(
            bed.ask_until_answered(m),
            Got::Refused(ErrorCode::NetworkAccessDenied),
            "a private network refuses a new member (its join request is recorded)"
        );
    }
    bed.advance(1100);
    let (a, b, nwid) = (bed.member(0), bed.member(1), bed.network);
    bed.drain_got(0);
    bed.drain_got(1);
    bed.change(&[
        Change::PutMember(nwid, a, authorize(true)),
        Change::PutMember(nwid, b, authorize(true)),
    ]);
    for m in 0..2 {
        let got = bed.drain_got(m);
        let c = config(got.last().expect("an authorization is pushed at once"));
        assert_eq!((c.name.as_str(), c.private), ("sim", true));
        assert_eq!(c.ips.len(), 1, "an address from the pool: {c:?}");
        assert!(c.ips[0].starts_with("10.7.0."), "{c:?}");
    }
    let rename = NetworkPatch {
        name: Some("renamed".into()),
        ..NetworkPatch::default()
    };
    bed.change(&[Change::PutNetwork(nwid, rename)]);
    for m in 0..2 {
        let got = bed.drain_got(m);
        assert_eq!(config(got.last().expect("pushed")).name, "renamed");
    }
    // The cache holds no stale configuration: an answer after the change has the new name.
    bed.advance(1100);
    assert_eq!(config(&bed.ask_until_answered(0)).name, "renamed");
    bed.drain_got(0);
    bed.change(&[Change::PutMember(nwid, b, authorize(false))]);
    assert!(
        bed.drain_got(0).contains(&Got::Credentials),
        "the other member gets the revocation at once"
    );
    assert_eq!(
        bed.drain_got(1).last(),
        Some(&Got::Refused(ErrorCode::NetworkAccessDenied)),
        "the member is told at once"
    );
    bed.advance(1100);
    assert_eq!(
        bed.ask_until_answered(1),
        Got::Refused(ErrorCode::NetworkAccessDenied)
    );
    assert_eq!(bed.controller.stats().store_errors, 0, "no write failed");
    bed.dropped
}

#[test]
fn admin_changes_are_pushed_and_revoked_on_a_clean_network() {
    assert_eq!(join_authorize_change_and_revoke(Faults::default()), 0);
}

#[test]
fn admin_changes_are_pushed_and_revoked_through_loss_duplicates_and_reordering() {
    for seed in 0..3 {
        let faults = Faults {
            drop: 100,
            duplicate: 100,
            reorder: true,
        };
        let mut bed_faults = faults;
        bed_faults.drop += seed * 20;
        let dropped = join_authorize_change_and_revoke(bed_faults);
        assert!(dropped > 0, "the fault model dropped datagrams");
    }
}

#[test]
fn repeats_within_a_second_are_ignored_and_duplicates_answered_once() {
    let faults = Faults {
        duplicate: 1000,
        ..Faults::default()
    };
    let mut bed = Bed::new(faults, Store::in_memory().unwrap());
    let (a, nwid) = (bed.member(0), bed.network);
    bed.change(&[Change::PutMember(nwid, a, authorize(true))]);
    bed.hello(0);
    bed.drain_got(0);
    bed.ask(0);
    assert_eq!(
        bed.drain_got(0).len(),
        1,
        "every datagram came twice: one answer"
    );
    bed.advance(300);
    bed.ask(0);
    assert!(
        bed.drain_got(0).is_empty(),
        "asked again within 1 s: ignored"
    );
    bed.advance(800);
    bed.ask(0);
    assert_eq!(bed.drain_got(0).len(), 1, "answered again after 1 s");
}

#[test]
fn a_change_by_another_writer_is_pushed_at_the_next_change_poll() {
    let dir = std::env::temp_dir().join(format!("ztcd-sim-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("controller.db");
    let mut bed = Bed::new(Faults::default(), Store::open(&db).unwrap());
    bed.hello(0);
    assert_eq!(
        bed.ask_until_answered(0),
        Got::Refused(ErrorCode::NetworkAccessDenied)
    );
    bed.drain_got(0);
    // The command line while no daemon owns the home: the same change through a controller
    // of its own on the same database.
    let mut cli = Controller::new(identities()[0].clone(), Store::open(&db).unwrap());
    let change = Change::PutMember(bed.network, bed.member(0), authorize(true));
    let now = bed.now();
    cli.apply_one(now, &mut SeededEntropy::new(5), &change)
        .unwrap();
    assert!(bed.drain_got(0).is_empty(), "nothing before the poll");
    bed.advance(ztcd::controller::apply::CHANGE_POLL_MS);
    let got = bed.drain_got(0);
    assert_eq!(config(got.last().expect("pushed at the poll")).ips.len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_kind_of_change_and_decision_reaches_the_members() {
    let mut bed = Bed::new(Faults::default(), Store::in_memory().unwrap());
    for m in 0..3 {
        bed.hello(m);
    }
    let (a, nwid) = (bed.member(0), bed.network);
    let unknown = bed.controller.network_id(0xabc);
    assert_eq!(
        bed.ask_until_answered_in(0, unknown),
        Got::Refused(ErrorCode::ObjNotFound)
    );
    // A public network created through the API: members join without authorization.
    let created = bed.change_one(Change::CreateNetwork(NetworkPatch {
        name: Some("open".into()),
        private: Some(false),
        ..NetworkPatch::default()
    }));
    let public = ztcd::controller::api::parse_network_id(created["id"].as_str().unwrap()).unwrap();
    let c = config(&bed.ask_until_answered_in(0, public)).clone();
    assert_eq!((c.name.as_str(), c.private), ("open", false));
    // An approval window lets the first new device of the private network in, and no more
    // once it is closed.
    let spec = WindowSpec {
        minutes: 10,
        max_devices: 5,
    };
    bed.change(&[Change::OpenWindow(nwid, spec)]);
    assert!(
        matches!(bed.ask_until_answered(0), Got::Config(_)),
        "let in"
    );
    bed.change(&[Change::CloseWindow(nwid)]);
    assert_eq!(
        bed.ask_until_answered(1),
        Got::Refused(ErrorCode::NetworkAccessDenied)
    );
    // Blocked: refused at once; authorized again: its configuration at once.
    bed.advance(1100);
    bed.drain_got(0);
    let block = MemberPatch {
        banned: Some(true),
        ..MemberPatch::default()
    };
    bed.change(&[Change::PutMember(nwid, a, block)]);
    assert_eq!(
        bed.drain_got(0).last(),
        Some(&Got::Refused(ErrorCode::NetworkAccessDenied))
    );
    bed.change(&[Change::PutMember(nwid, a, authorize(true))]);
    assert!(matches!(bed.drain_got(0).last(), Some(Got::Config(_))));
    // Deleted: cut off at once, and its next request is a new join request.
    bed.change(&[Change::DeleteMember(nwid, a)]);
    assert!(matches!(bed.drain_got(0).last(), Some(Got::Refused(_))));
    bed.advance(1100);
    assert_eq!(
        bed.ask_until_answered(0),
        Got::Refused(ErrorCode::NetworkAccessDenied)
    );
    // A deleted network: its members are told it no longer exists.
    bed.drain_got(0);
    bed.change(&[Change::DeleteNetwork(public)]);
    assert_eq!(
        bed.drain_got(0).last(),
        Some(&Got::Refused(ErrorCode::ObjNotFound))
    );
    assert_eq!(bed.controller.stats().store_errors, 0, "no write failed");
}
