//! A ztcd running somewhere else answers a client's HELLO over real UDP. Ignored by default:
//! `image/boot-test.sh` runs it against the daemon inside an emulated arm64 board, with
//! `ZTCD_REMOTE=HOST:PORT` and `ZTCD_REMOTE_IDENTITY=<the daemon's identity.public>`.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::client::SimPeer;
use ztcd::crypto::SeededEntropy;
use ztcd::crypto::hashcash::Scratch;
use ztcd::identity::{Identity, IdentitySecret};
use ztcd::wire::Verb;
use ztcd::wire::verbs::{OkHeader, OkHelloRepr};

#[test]
#[ignore = "needs a running ztcd: set ZTCD_REMOTE and ZTCD_REMOTE_IDENTITY (image/boot-test.sh)"]
fn remote_root_answers_hello() {
    let remote: SocketAddr = std::env::var("ZTCD_REMOTE")
        .expect("ZTCD_REMOTE=HOST:PORT")
        .parse()
        .expect("ZTCD_REMOTE is HOST:PORT");
    let root: Identity = std::env::var("ZTCD_REMOTE_IDENTITY")
        .expect("ZTCD_REMOTE_IDENTITY=<identity.public>")
        .trim()
        .parse()
        .expect("ZTCD_REMOTE_IDENTITY is a public identity");
    let id = IdentitySecret::generate(&mut SeededEntropy::new(4242), &mut Scratch::new());
    let any = if remote.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let sock = UdpSocket::bind(any).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut peer = SimPeer::new(id, &sock.local_addr().unwrap().to_string());

    // The first HELLO from a new identity waits for its proof of work to be checked, which is
    // slow on an emulated board: resend until answered.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        let (packet_id, hello) = peer.hello(&root, (0, 0));
        sock.send_to(&hello, remote).unwrap();
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        assert_eq!(from, remote, "reply from the daemon's address");
        let (header, payload) = peer
            .open(&root, buf[..n].to_vec())
            .expect("the reply authenticates with the key agreed with the daemon");
        if header.verb == Verb::Echo {
            continue; // the daemon's probe of our new path (a client would answer it)
        }
        assert_eq!(header.verb, Verb::Ok);
        let (ok, body) = OkHeader::parse(&payload).unwrap();
        if ok.in_re_packet_id != packet_id {
            continue; // the answer to an earlier, delayed HELLO
        }
        assert_eq!(ok.in_re_verb, Verb::Hello);
        let hello_ok = OkHelloRepr::parse(body).unwrap();
        assert_eq!(hello_ok.protocol_version, 11);
        println!(
            "OK(HELLO) from {} at {remote}: protocol {}, observed us at {}",
            root.address(),
            hello_ok.protocol_version,
            hello_ok.observed
        );
        return;
    }
    panic!("no OK(HELLO) from {remote} within 60 s");
}
