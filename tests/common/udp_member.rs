//! A member that talks to a local daemon over real UDP on loopback, as a client does: HELLO,
//! the root's path probe answered, configuration requests. Lets the admin API's contract tests
//! see what a UI shows after a device really asked (join requests, `lastSeen`, `/peer`).

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ztcd::client::{ClientSession, config_request};
use ztcd::crypto::SeededEntropy;
use ztcd::crypto::hashcash::Scratch;
use ztcd::identity::{Identity, IdentitySecret};
use ztcd::node::reassembly::Reassembler;
use ztcd::wire::fragment::{self, Fragment};
use ztcd::wire::packet::{FLAG_FRAGMENTED, FLAGS_OFFSET};
use ztcd::wire::verbs::{ErrorCode, ErrorRepr, OkHeader};
use ztcd::wire::{Address, Header, InetAddress, NetworkId, Verb};

/// How long one exchange may take on a loaded machine (the first HELLO of a new identity
/// waits for its proof of work to be checked).
const DEADLINE: Duration = Duration::from_secs(30);

/// A simulated member with its own UDP socket.
pub(crate) struct UdpMember {
    sock: UdpSocket,
    session: ClientSession,
    root: SocketAddr,
    reassembler: Reassembler,
}

/// What a configuration request got.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// OK(NETWORK_CONFIG_REQUEST): a configuration.
    Config,
    /// ERROR with this code.
    Refused(ErrorCode),
}

impl UdpMember {
    /// A member with a fresh identity (from `seed`) for the root `identity` at `root`.
    pub(crate) fn new(seed: u64, identity: Identity, root: SocketAddr) -> Self {
        let id = IdentitySecret::generate(&mut SeededEntropy::new(seed), &mut Scratch::new());
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind a member socket");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Self {
            sock,
            session: ClientSession::new(id, identity, seed << 32),
            root,
            reassembler: Reassembler::new(),
        }
    }

    /// The member's address.
    pub(crate) fn address(&self) -> Address {
        self.session.identity().address()
    }

    /// Says HELLO until the root answers OK(HELLO), answering its path probes meanwhile.
    pub(crate) fn hello(&mut self) {
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            let to = InetAddress::from_socket(self.root);
            let (id, packet) = self.session.hello(0x1234, to, (0, 0)).unwrap();
            self.sock.send_to(&packet, self.root).unwrap();
            if self
                .wait_for(Verb::Hello, id, Duration::from_secs(2))
                .is_some()
            {
                return;
            }
        }
        panic!("no OK(HELLO) from {} within {DEADLINE:?}", self.root);
    }

    /// Asks for `network`'s configuration until answered; answers probes while waiting.
    pub(crate) fn request(&mut self, network: NetworkId) -> Answer {
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            // Requests repeated within 1 s are ignored by the controller: wait longer.
            if let Some(a) = self.try_request(network, Duration::from_secs(3)) {
                return a;
            }
        }
        panic!("no answer to a configuration request within {DEADLINE:?}");
    }

    /// Asks once for `network`'s configuration; the answer if it comes within `wait`.
    pub(crate) fn try_request(&mut self, network: NetworkId, wait: Duration) -> Option<Answer> {
        let payload = config_request(network);
        let (id, datagrams) = self
            .session
            .packet(Verb::NetworkConfigRequest, &payload, true)
            .unwrap();
        for d in &datagrams {
            self.sock.send_to(d, self.root).unwrap();
        }
        self.wait_for(Verb::NetworkConfigRequest, id, wait)
    }

    /// Reads packets until the answer to `(verb, id)` arrives or `wait` passes; answers the
    /// root's ECHO probes on the way.
    fn wait_for(&mut self, verb: Verb, id: u64, wait: Duration) -> Option<Answer> {
        let start = Instant::now();
        while start.elapsed() < wait {
            let Some((header, payload)) = self.receive() else {
                continue;
            };
            match header.verb {
                Verb::Echo => {
                    for d in self.session.answer_echo(&header, &payload).unwrap() {
                        self.sock.send_to(&d, self.root).unwrap();
                    }
                }
                Verb::Ok => {
                    let (ok, _) = OkHeader::parse(&payload).ok()?;
                    if ok.in_re_verb == verb && ok.in_re_packet_id == id {
                        return Some(Answer::Config);
                    }
                }
                Verb::Error => {
                    let e = ErrorRepr::parse(&payload).ok()?;
                    if e.in_re_verb == verb && e.in_re_packet_id == id {
                        return Some(Answer::Refused(e.code));
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// One whole packet from the root, dearmored (fragments reassembled).
    fn receive(&mut self) -> Option<(Header, Vec<u8>)> {
        let mut buf = [0u8; 2048];
        let (n, from) = self.sock.recv_from(&mut buf).ok()?;
        if from != self.root {
            return None;
        }
        let d = &buf[..n];
        let packet = if fragment::is_fragment(d) {
            self.reassembler
                .on_fragment(0, &Fragment::new_checked(d).ok()?)?
        } else if d[FLAGS_OFFSET] & FLAG_FRAGMENTED != 0 {
            let id = u64::from_be_bytes(d[..8].try_into().ok()?);
            self.reassembler.on_head(0, id, d)?
        } else {
            d.to_vec()
        };
        self.session.open(packet)
    }
}
