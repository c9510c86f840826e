//! Simulated members: one worker thread owns a share of the members and the UDP sockets of
//! their source addresses, and runs one phase at a time (HELLO, configuration requests,
//! listening for pushes) on a small local executor. Every reply is reassembled, authenticated,
//! decrypted and checked as a client would before it counts.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use smol::{Async, LocalExecutor, Timer};
use ztcd::client::{ClientSession, ConfigSummary, check_config, request_metadata};
use ztcd::identity::Identity;
use ztcd::node::reassembly::Reassembler;
use ztcd::wire::fragment::{self, Fragment};
use ztcd::wire::verbs::{ConfigChunk, ConfigRequest, ErrorRepr, OkHeader};
use ztcd::wire::{InetAddress, NetworkId, PacketView, Verb, Writer};

use ztcd::runtime::unix_millis;

/// A configuration request is sent again to the same network no sooner than this (controllers
/// ignore repeats within 1 s).
pub(crate) const MIN_REPEAT: Duration = Duration::from_millis(1050);
/// How long a phase's sending loop sleeps between rounds.
const TICK: Duration = Duration::from_millis(1);
/// Most chunked configurations being assembled per worker.
const MAX_ASSEMBLING: usize = 4096;

/// One simulated member.
struct Member {
    session: ClientSession,
    socket: usize,
    hello: Option<(u64, Instant)>,
    online: bool,
    /// Answered the root's path probe (ztcd confirms a path before it sends more than the
    /// answer to HELLO there).
    probed: bool,
    verified_com: Vec<u8>,
}

/// One member's membership of one network.
#[derive(Default)]
struct Pair {
    member: usize,
    net: usize,
    pending: Option<(u64, Instant)>,
    last_sent: Option<Instant>,
    config: Option<ConfigSummary>,
    refused: bool,
    push: Option<(Instant, ConfigSummary)>,
}

/// Counters and latencies of one phase.
#[derive(Default, Debug)]
pub(crate) struct Tally {
    pub(crate) sent: u64,
    pub(crate) answered: u64,
    pub(crate) refused: u64,
    pub(crate) invalid: u64,
    pub(crate) lost: u64,
    pub(crate) late_ticks: u64,
    pub(crate) ticks: u64,
    /// The target's path probes (ECHO) and HELLOs the members answered.
    pub(crate) echos_answered: u64,
    pub(crate) hellos_answered: u64,
    pub(crate) latencies_us: Vec<u32>,
    pub(crate) first_error: Option<String>,
}

impl Tally {
    pub(crate) fn merge(&mut self, o: Self) {
        self.sent += o.sent;
        self.answered += o.answered;
        self.refused += o.refused;
        self.invalid += o.invalid;
        self.lost += o.lost;
        self.late_ticks += o.late_ticks;
        self.ticks += o.ticks;
        self.echos_answered += o.echos_answered;
        self.hellos_answered += o.hellos_answered;
        self.latencies_us.extend(o.latencies_us);
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
    }

    fn error(&mut self, e: String) {
        self.invalid += 1;
        self.first_error.get_or_insert(e);
    }
}

/// What a worker does in one phase.
#[derive(Clone, Debug)]
pub(crate) enum Phase {
    /// HELLO every member (at most `rate` per second) until it is answered (re-sent every
    /// 2 s) or the time is up.
    Hello { rate: f64, timeout: Duration },
    /// Every membership asks once (paced at `rate` per second for this worker) and is asked
    /// again, at most `retries` times, until answered.
    Once {
        rate: f64,
        retries: u32,
        timeout: Duration,
    },
    /// Memberships ask in turn at `rate` per second for `seconds`, each no more often than
    /// [`MIN_REPEAT`]; a request still unanswered when its turn comes again is lost.
    /// (In every phase `lost` counts attempts that got no reply at all.)
    Repeat { rate: f64, seconds: f64 },
    /// Listen for pushes until every membership has one whose network name is `name`.
    Listen { name: String, timeout: Duration },
}

/// One worker's members, sockets and state.
pub(crate) struct Worker {
    sockets: Vec<Async<UdpSocket>>,
    state: State,
}

#[derive(Default)]
struct State {
    members: Vec<Member>,
    pairs: Vec<Pair>,
    by_address: HashMap<u64, usize>,
    in_flight: HashMap<u64, usize>,
    assembling: HashMap<(usize, u64), (Vec<u8>, usize)>,
    reassembler: Reassembler,
    nets: Vec<NetworkId>,
    controller: Option<Identity>,
    tally: Tally,
    metadata: Vec<u8>,
}

impl Worker {
    /// A worker for `members` (each with the index of its socket in `sources`), asking for
    /// `nets` from `controller`.
    pub(crate) fn new(
        sources: &[std::net::IpAddr],
        members: Vec<(ClientSession, usize)>,
        nets: &[NetworkId],
        controller: Identity,
    ) -> Result<Self, String> {
        let sockets = sources
            .iter()
            .map(|ip| {
                let s = UdpSocket::bind(SocketAddr::new(*ip, 0)).map_err(|e| {
                    format!("bind {ip}: {e} (is the address on an interface? is `ulimit -n` high enough?)")
                })?;
                Async::new(s).map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, String>>()?;
        let mut state = State {
            nets: nets.to_vec(),
            controller: Some(controller),
            metadata: request_metadata(),
            ..State::default()
        };
        for (session, socket) in members {
            let m = state.members.len();
            state
                .by_address
                .insert(session.identity().address().to_u64(), m);
            for net in 0..nets.len() {
                state.pairs.push(Pair {
                    member: m,
                    net,
                    ..Pair::default()
                });
            }
            state.members.push(Member {
                session,
                socket,
                hello: None,
                online: false,
                probed: false,
                verified_com: Vec::new(),
            });
        }
        Ok(Self { sockets, state })
    }

    /// Members that answered HELLO.
    pub(crate) fn online(&self) -> usize {
        self.state.members.iter().filter(|m| m.online).count()
    }

    /// Memberships with a configuration, and how many of them hold at least one address.
    pub(crate) fn configured(&self) -> (usize, usize) {
        let with = self.state.pairs.iter().filter_map(|p| p.config.as_ref());
        let (mut n, mut ips) = (0, 0);
        for c in with {
            n += 1;
            ips += usize::from(!c.ips.is_empty());
        }
        (n, ips)
    }

    /// When each membership of this worker received a pushed configuration naming the
    /// network `name` (`None` where none arrived).
    pub(crate) fn push_times(&self, name: &str) -> Vec<Option<Instant>> {
        self.state
            .pairs
            .iter()
            .map(|p| {
                p.push
                    .as_ref()
                    .filter(|(_, c)| c.name == name)
                    .map(|(t, _)| *t)
            })
            .collect()
    }

    /// The addresses of this worker's members.
    pub(crate) fn addresses(&self) -> Vec<ztcd::wire::Address> {
        self.state
            .members
            .iter()
            .map(|m| m.session.identity().address())
            .collect()
    }

    /// Memberships of this worker.
    pub(crate) fn pairs(&self) -> usize {
        self.state.pairs.len()
    }

    /// Runs `phase` against `target`.
    pub(crate) fn run(&mut self, target: SocketAddr, phase: &Phase) -> Tally {
        let state = RefCell::new(std::mem::take(&mut self.state));
        let ex = LocalExecutor::new();
        for sock in &self.sockets {
            let state = &state;
            ex.spawn(async move {
                let mut buf = vec![0u8; 16384];
                while let Ok((n, from)) = sock.recv_from(&mut buf).await {
                    let answers = state.borrow_mut().on_datagram(&buf[..n], from);
                    for d in answers {
                        // The root's path probe (ECHO) or HELLO, answered as clients do.
                        let _ = sock.send_to(&d, from).await;
                    }
                }
            })
            .detach();
        }
        let driver = drive(&state, &self.sockets, target, phase);
        smol::block_on(ex.run(driver));
        drop(ex);
        self.state = state.into_inner();
        std::mem::take(&mut self.state.tally)
    }
}

/// Sends datagrams `d` to `target` from socket `i`.
async fn send(socks: &[Async<UdpSocket>], i: usize, target: SocketAddr, d: &[Vec<u8>]) {
    for p in d {
        let _ = socks[i].send_to(p, target).await;
    }
}

/// Runs `phase`: sends what it asks for to `target` while the sockets' receive tasks
/// count the answers.
async fn drive(
    state: &RefCell<State>,
    socks: &[Async<UdpSocket>],
    target: SocketAddr,
    phase: &Phase,
) {
    match *phase {
        Phase::Hello { rate, timeout } => hello(state, socks, target, rate, timeout).await,
        Phase::Once {
            rate,
            retries,
            timeout,
        } => once(state, socks, target, rate, retries, timeout).await,
        Phase::Repeat { rate, seconds } => repeat(state, socks, target, rate, seconds).await,
        Phase::Listen { ref name, timeout } => listen(state, name, timeout).await,
    }
}

/// [`Phase::Hello`]: HELLO the members not yet online, at most `rate` per second, until all
/// are online (then a moment for the root's path probes) or `timeout` passes.
async fn hello(
    state: &RefCell<State>,
    socks: &[Async<UdpSocket>],
    target: SocketAddr,
    rate: f64,
    timeout: Duration,
) {
    let start = Instant::now();
    let sent_to = InetAddress::from_socket(target);
    let mut total_sent = 0u64;
    while start.elapsed() < timeout {
        let allowed = (start.elapsed().as_secs_f64() * rate) as u64 + 1;
        let budget = allowed.saturating_sub(total_sent);
        let due: Vec<(usize, Vec<u8>)> = {
            let mut s = state.borrow_mut();
            let mut sent = 0;
            let now = Instant::now();
            let mut due = Vec::new();
            for m in s.members.iter_mut().filter(|m| !m.online) {
                if sent >= budget {
                    break;
                }
                if m.hello
                    .is_none_or(|(_, t)| now - t >= Duration::from_secs(2))
                    && let Ok((id, d)) = m.session.hello(unix_millis(), sent_to, (0, 0))
                {
                    m.hello = Some((id, now));
                    due.push((m.socket, d));
                    sent += 1;
                }
            }
            s.tally.sent += sent;
            total_sent += sent;
            due
        };
        for (i, d) in due {
            send(socks, i, target, &[d]).await;
        }
        if state.borrow().members.iter().all(|m| m.online) {
            // Give the root's path probes, sent right after OK(HELLO), a moment to
            // arrive and be answered (a root that does not probe sends none).
            let linger = Instant::now();
            while linger.elapsed() < Duration::from_millis(500)
                && !state.borrow().members.iter().all(|m| m.probed)
            {
                Timer::after(TICK).await;
            }
            return;
        }
        Timer::after(TICK).await;
    }
}

/// [`Phase::Once`]: every membership without a configuration asks, paced at `rate` per
/// second, in up to `retries` further rounds; what is still unanswered at the end is lost.
async fn once(
    state: &RefCell<State>,
    socks: &[Async<UdpSocket>],
    target: SocketAddr,
    rate: f64,
    retries: u32,
    timeout: Duration,
) {
    let n = state.borrow().pairs.len();
    let mut last_round = Instant::now();
    for round in 0..=retries {
        let mut k = 0usize;
        let todo: Vec<usize> = {
            let s = state.borrow();
            (0..n)
                .filter(|&p| s.pairs[p].config.is_none() && !s.pairs[p].refused)
                .collect()
        };
        if todo.is_empty() {
            return;
        }
        if round > 0 {
            // Each unanswered attempt counts as lost when it is asked again.
            // Respect the repeat filter before asking again.
            Timer::at(last_round + MIN_REPEAT).await;
        }
        let start = Instant::now();
        while k < todo.len() {
            let due = ((start.elapsed().as_secs_f64() * rate) as usize + 1).min(todo.len());
            while k < due {
                let out = state.borrow_mut().request(todo[k]);
                if let Some((i, d)) = out {
                    send(socks, i, target, &d).await;
                }
                k += 1;
            }
            Timer::after(TICK).await;
        }
        last_round = Instant::now();
        while last_round.elapsed() < timeout.max(MIN_REPEAT) {
            if state.borrow().in_flight.is_empty() {
                break;
            }
            Timer::after(Duration::from_millis(2)).await;
        }
    }
    let mut s = state.borrow_mut();
    let mut unanswered = 0;
    for p in &mut s.pairs {
        unanswered += u64::from(p.pending.take().is_some());
    }
    s.tally.lost += unanswered;
    s.in_flight.clear();
}

/// [`Phase::Repeat`]: memberships ask in turn at `rate` per second for `seconds`, each no
/// more often than [`MIN_REPEAT`]; counts the ticks that fell behind schedule.
async fn repeat(
    state: &RefCell<State>,
    socks: &[Async<UdpSocket>],
    target: SocketAddr,
    rate: f64,
    seconds: f64,
) {
    let n = state.borrow().pairs.len();
    if n == 0 {
        return;
    }
    let start = Instant::now();
    let mut k = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        let due = (start.elapsed().as_secs_f64() * rate) as u64 + 1;
        while k < due {
            let p = (k % n as u64) as usize;
            if state.borrow().pairs[p]
                .last_sent
                .is_some_and(|t| t.elapsed() < MIN_REPEAT)
            {
                // The turn came round early (behind schedule, then caught up): wait.
                break;
            }
            let out = state.borrow_mut().request(p);
            if let Some((i, d)) = out {
                send(socks, i, target, &d).await;
            }
            k += 1;
        }
        {
            let mut s = state.borrow_mut();
            s.tally.ticks += 1;
            // More than 10 ms of sends behind schedule.
            if due.saturating_sub(k) > (rate / 100.0) as u64 + 1 {
                s.tally.late_ticks += 1;
            }
        }
        Timer::after(TICK).await;
    }
    Timer::after(Duration::from_millis(500)).await;
    let mut s = state.borrow_mut();
    let lost = s.in_flight.len() as u64;
    s.tally.lost += lost;
    s.in_flight.clear();
    for p in &mut s.pairs {
        p.pending = None;
    }
}

/// [`Phase::Listen`]: waits until every membership holds a pushed configuration naming
/// network `name`, or `timeout` passes.
async fn listen(state: &RefCell<State>, name: &str, timeout: Duration) {
    let start = Instant::now();
    let total = state.borrow().pairs.len();
    let mine = || {
        let s = state.borrow();
        s.pairs
            .iter()
            .filter(|p| p.push.as_ref().is_some_and(|(_, c)| c.name == name))
            .count()
    };
    while start.elapsed() < timeout && mine() < total {
        Timer::after(Duration::from_millis(5)).await;
    }
}

impl State {
    /// Builds the request of membership `p`; returns the socket index and datagrams.
    fn request(&mut self, p: usize) -> Option<(usize, Vec<Vec<u8>>)> {
        let now = Instant::now();
        let (m, net) = (self.pairs[p].member, self.pairs[p].net);
        if let Some((old, _)) = self.pairs[p].pending.take() {
            self.in_flight.remove(&old);
            self.tally.lost += 1;
        }
        let req = ConfigRequest {
            network_id: self.nets[net],
            metadata: &self.metadata,
            revision: None,
            timestamp: None,
        };
        let mut payload = vec![0u8; req.buffer_len()];
        req.emit(&mut Writer::new(&mut payload)).ok()?;
        let member = &mut self.members[m];
        let (id, d) = member
            .session
            .packet(Verb::NetworkConfigRequest, &payload, true)
            .ok()?;
        self.pairs[p].pending = Some((id, now));
        self.pairs[p].last_sent = Some(now);
        self.in_flight.insert(id, p);
        self.tally.sent += 1;
        Some((member.socket, d))
    }

    /// Handles one datagram from `from`; returns datagrams to send back (answers to path
    /// probes and HELLOs).
    fn on_datagram(&mut self, d: &[u8], from: SocketAddr) -> Vec<Vec<u8>> {
        let now_ms = unix_millis();
        let packet = if fragment::is_fragment(d) {
            match Fragment::new_checked(d) {
                Ok(f) => self.reassembler.on_fragment(now_ms, &f),
                Err(_) => None,
            }
        } else {
            match PacketView::new_checked(d) {
                Ok(v) if v.is_fragmented() => self.reassembler.on_head(now_ms, v.packet_id(), d),
                Ok(_) => Some(d.to_vec()),
                Err(_) => None,
            }
        };
        self.reassembler.expire(now_ms);
        match packet {
            Some(p) => self.on_packet(p, from),
            None => Vec::new(),
        }
    }

    fn on_packet(&mut self, packet: Vec<u8>, from: SocketAddr) -> Vec<Vec<u8>> {
        let Ok(view) = PacketView::new_checked(&packet[..]) else {
            return Vec::new();
        };
        let Some(&m) = self.by_address.get(&view.destination().to_u64()) else {
            return Vec::new();
        };
        let Some((header, payload)) = self.members[m].session.open(packet) else {
            self.tally.error("a packet failed authentication".into());
            return Vec::new();
        };
        if header.verb == Verb::Echo {
            self.members[m].probed = true;
            self.tally.echos_answered += 1;
            let session = &mut self.members[m].session;
            return session.answer_echo(&header, &payload).unwrap_or_default();
        }
        if header.verb == Verb::Hello {
            // zerotier-one confirms a path with its own HELLO before it uses it.
            self.members[m].probed = true;
            self.tally.hellos_answered += 1;
            let observed = InetAddress::from_socket(from);
            let session = &mut self.members[m].session;
            return session
                .answer_hello(&header, &payload, observed)
                .unwrap_or_default();
        }
        self.on_packet_verb(m, header.verb, &payload);
        Vec::new()
    }

    fn on_packet_verb(&mut self, m: usize, verb: Verb, payload: &[u8]) {
        match verb {
            Verb::Ok => {
                let Ok((ok, body)) = OkHeader::parse(payload) else {
                    return self.tally.error("malformed OK".into());
                };
                match ok.in_re_verb {
                    Verb::Hello => {
                        let member = &mut self.members[m];
                        if let Some((id, sent)) = member.hello
                            && id == ok.in_re_packet_id
                            && !member.online
                        {
                            member.online = true;
                            self.tally.answered += 1;
                            self.tally.latencies_us.push(micros(sent.elapsed()));
                        }
                    }
                    Verb::NetworkConfigRequest => {
                        if let Some(&p) = self.in_flight.get(&ok.in_re_packet_id) {
                            self.on_chunk(p, body, true);
                        }
                    }
                    _ => {}
                }
            }
            Verb::Error => {
                if let Ok(e) = ErrorRepr::parse(payload)
                    && let Some(p) = self.in_flight.remove(&e.in_re_packet_id)
                {
                    self.pairs[p].pending = None;
                    self.pairs[p].refused = true;
                    self.tally.refused += 1;
                    self.tally
                        .first_error
                        .get_or_insert_with(|| format!("refused: {:?}", e.code));
                }
            }
            Verb::NetworkConfig => {
                let Ok(chunk) = ConfigChunk::parse(payload) else {
                    return self.tally.error("malformed pushed chunk".into());
                };
                let net = self.nets.iter().position(|n| *n == chunk.network_id);
                if let Some(net) = net {
                    let p = m * self.nets.len() + net;
                    self.on_chunk(p, payload, false);
                }
            }
            _ => {}
        }
    }

    /// A chunk for membership `p`, answering its request (`answer`) or pushed.
    fn on_chunk(&mut self, p: usize, body: &[u8], answer: bool) {
        let Ok(chunk) = ConfigChunk::parse(body) else {
            return self.tally.error("malformed configuration chunk".into());
        };
        let (m, net) = (self.pairs[p].member, self.pairs[p].net);
        // unwrap safety: set when the worker is made.
        let controller = self.controller.expect("controller identity");
        if chunk.network_id != self.nets[net] {
            return self.tally.error("chunk for another network".into());
        }
        if let Some(sig) = chunk.signature {
            let mut signed = vec![0u8; chunk.signed_len()];
            if chunk
                .emit_signed_part(&mut Writer::new(&mut signed))
                .is_err()
                || !controller.verify(&signed, &sig)
            {
                return self.tally.error("chunk signature does not verify".into());
            }
        }
        let dict = if chunk.index == 0 && chunk.data.len() == chunk.total_len as usize {
            chunk.data.to_vec()
        } else {
            if self.assembling.len() >= MAX_ASSEMBLING {
                self.assembling.clear();
            }
            let key = (p, chunk.update_id);
            let (buf, got) = self
                .assembling
                .entry(key)
                .or_insert_with(|| (vec![0u8; chunk.total_len as usize], 0));
            let at = chunk.index as usize;
            if buf.len() != chunk.total_len as usize || at + chunk.data.len() > buf.len() {
                return self.tally.error("inconsistent chunks".into());
            }
            buf[at..at + chunk.data.len()].copy_from_slice(chunk.data);
            *got += chunk.data.len();
            if *got < buf.len() {
                return;
            }
            // unwrap safety: the entry was just used.
            self.assembling.remove(&key).expect("entry").0
        };
        let member = &mut self.members[m];
        let id = *member.session.identity().identity();
        let checked = check_config(
            &dict,
            self.nets[net],
            &id,
            &controller,
            &mut member.verified_com,
        );
        let summary = match checked {
            Ok(s) => s,
            Err(e) => return self.tally.error(format!("{}: {e}", id.address())),
        };
        let pair = &mut self.pairs[p];
        if answer {
            if let Some((id, sent)) = pair.pending.take() {
                self.in_flight.remove(&id);
                self.tally.answered += 1;
                self.tally.latencies_us.push(micros(sent.elapsed()));
            }
            pair.config = Some(summary);
        } else {
            // The first push with a configuration keeps its arrival time.
            if pair.push.as_ref().is_none_or(|(_, c)| *c != summary) {
                pair.push = Some((Instant::now(), summary.clone()));
            }
            pair.config = Some(summary);
        }
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}
