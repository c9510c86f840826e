//! The owner loop's wake-ups: wait for the first of a datagram, a validation result, an admin
//! request, a resolved endpoint, a signal or a timer (the node's and the controller's); act
//! on it; send what it caused; and pace the loop so the admin connections and a flood's
//! batching both get their turn.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::{Duration, Instant};

use smol::Async;
use smol::channel::Receiver;

use super::admin_exec::ADMIN_BATCH;
use super::daemon::{Owner, unmap};
use super::startup::SignalFlags;
use super::unix_millis;
use crate::admin::msg::AdminRequest;
use crate::controller::Now;
use crate::identity::Identity;
use crate::info;
use crate::node::LocalSocket;
use crate::wire::InetAddress;

/// How often the node's counters are logged.
const STATS_INTERVAL: Duration = Duration::from_secs(600);
/// Most datagrams read from a socket per wake-up before the events they caused are acted on:
/// configuration requests that arrive together are answered together (one transaction).
const RECV_BATCH: usize = 64;
/// The owner loop yields to the executor at least once per this many wake-ups, so the admin
/// connections run even when every poll finds a datagram waiting.
const YIELD_EVERY: u32 = 16;
/// How long the loop waits after a wake-up whose datagrams were mostly refused (a flood), so
/// the next one reads a batch.
const FLOOD_COALESCE: Duration = Duration::from_millis(1);
/// Largest datagram read.
const RECV_BUFFER: usize = 65_536;

/// What woke the loop.
enum Wake {
    Datagram(usize, SocketAddr, usize),
    Validated(Identity, bool),
    Admin(AdminRequest),
    Timer,
    Signal,
    Resolved(Vec<InetAddress>, Vec<String>),
    /// Nothing else to do while queued pushes wait.
    Pushes,
}

/// What the loop reads from besides the sockets.
pub(super) struct Inputs<'a> {
    /// The signal pipe.
    pub signals: Async<UnixStream>,
    /// Which signals arrived.
    pub flags: &'a SignalFlags,
    /// Identity validation results.
    pub results: Receiver<(Identity, bool)>,
    /// Admin requests from the connection tasks.
    pub admin: Receiver<AdminRequest>,
}

/// The loop's state between wake-ups.
struct LoopState {
    buf: Vec<u8>,
    /// One timer, moved only when the wake-up time changes: a timer made per wake-up costs
    /// the reactor a registration (and often a system call) for every datagram.
    timer: smol::Timer,
    timer_at: Option<Instant>,
    next_stats: Instant,
    /// The last wake-up's datagrams were mostly refused.
    flooded: bool,
    /// The last wake-up read a full batch: the sockets may hold more.
    busy: bool,
    /// Wake-ups since the executor last ran the admin connections.
    since_yield: u32,
}

impl Owner {
    /// Runs the loop until SIGTERM or SIGINT.
    pub(super) async fn run(&mut self, inputs: Inputs<'_>) -> io::Result<()> {
        let mut st = LoopState {
            buf: vec![0u8; RECV_BUFFER],
            timer: smol::Timer::never(),
            timer_at: None,
            next_stats: Instant::now() + STATS_INTERVAL,
            flooded: false,
            busy: false,
            since_yield: 0,
        };
        loop {
            let wake = self.next_wake(&mut st, &inputs).await;
            let now = self.now();
            if !self.act(now, wake, &mut st, &inputs) {
                return Ok(());
            }
            self.after_wake(now, &mut st);
            pace(&mut st).await;
        }
    }

    /// The earliest of the node's, the controller's, the endpoint follower's and the stats
    /// timers.
    fn wake_at(&self, now: u64, st: &LoopState) -> Instant {
        let at = |ms: u64| self.started + Duration::from_millis(ms.max(now));
        at(self.node.next_deadline())
            .min(at(self.controller.poll_timeout()))
            .min(st.next_stats)
            .min(self.follow.next_at().unwrap_or(st.next_stats))
    }

    /// Waits for the next thing to act on.
    async fn next_wake(&mut self, st: &mut LoopState, inputs: &Inputs<'_>) -> Wake {
        self.follow.start_if_due();
        let now = self.now();
        let wake_at = self.wake_at(now, st);
        if st.timer_at != Some(wake_at) {
            st.timer.set_at(wake_at);
            st.timer_at = Some(wake_at);
        }
        // Pushes a network change queued are rendered a chunk per wake-up: while some wait,
        // the poll below does not block, and datagrams and admin requests still come first.
        let pushing = self.controller.pushes_due(now);
        let (sockets, follow) = (&self.sockets, &mut self.follow);
        let (buf, timer, timer_at) = (&mut st.buf, &mut st.timer, &mut st.timer_at);
        let mut result = std::pin::pin!(inputs.results.recv());
        let mut admin_req = std::pin::pin!(inputs.admin.recv());
        let mut sig_byte = [0u8; 1];
        std::future::poll_fn(|cx| {
            // Signals, validation results and timers first: under a flood the sockets are
            // never empty and must not starve them. The pipe is read only once the reactor saw
            // it readable (no system call per wake-up while no signal is pending).
            while inputs.signals.poll_readable(cx).is_ready() {
                match inputs.signals.get_ref().read(&mut sig_byte) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    _ => return Poll::Ready(Wake::Signal),
                }
            }
            if let Poll::Ready(Ok((id, ok))) = result.as_mut().poll(cx) {
                return Poll::Ready(Wake::Validated(id, ok));
            }
            if let Poll::Ready(Ok(req)) = admin_req.as_mut().poll(cx) {
                return Poll::Ready(Wake::Admin(req));
            }
            if let Poll::Ready((found, problems)) = follow.poll(cx) {
                return Poll::Ready(Wake::Resolved(found, problems));
            }
            if std::pin::Pin::new(&mut *timer).poll(cx).is_ready() {
                // A fired timer stays fired: the next wake-up sets it again.
                *timer_at = None;
                return Poll::Ready(Wake::Timer);
            }
            for (i, s) in sockets.iter().enumerate() {
                // Try first, then register interest: returning Pending always leaves a waker
                // behind.
                loop {
                    match s.get_ref().recv_from(buf) {
                        Ok((n, from)) => return Poll::Ready(Wake::Datagram(i, from, n)),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => continue,
                    }
                    if s.poll_readable(cx).is_pending() {
                        break;
                    }
                }
            }
            if pushing {
                return Poll::Ready(Wake::Pushes);
            }
            Poll::Pending
        })
        .await
    }

    /// Acts on a wake-up; false once the loop must stop.
    fn act(&mut self, now: u64, wake: Wake, st: &mut LoopState, inputs: &Inputs<'_>) -> bool {
        match wake {
            Wake::Datagram(i, from, n) => self.datagrams(now, st, i, from, n),
            Wake::Validated(id, ok) => {
                crate::debug!("validated {} = {ok} at {now}", id.address());
                self.node.identity_checked(now, id, ok)
            }
            Wake::Admin(first) => {
                let mut batch = vec![first];
                while batch.len() < ADMIN_BATCH {
                    match inputs.admin.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                self.handle_admin(batch);
                self.send_controller_pushes(now);
            }
            Wake::Timer => self.node.handle_timeout(now),
            // Rendered by `after_wake`, as after any wake-up; the executor runs the admin
            // connections between chunks.
            Wake::Pushes => st.busy = true,
            Wake::Resolved(found, problems) => {
                if let Some((planet, moon)) = self.follow.resolved(found, problems) {
                    self.serve_worlds(now, planet, moon);
                }
            }
            Wake::Signal if inputs.flags.stop.load(Ordering::Relaxed) => return false,
            Wake::Signal => {
                if inputs.flags.hangup.swap(false, Ordering::Relaxed) {
                    self.hangup();
                }
            }
        }
        true
    }

    /// Hands the datagram that woke the loop to the node, then up to [`RECV_BATCH`] more from
    /// the same socket.
    fn datagrams(&mut self, now: u64, st: &mut LoopState, i: usize, from: SocketAddr, n: usize) {
        let local = LocalSocket(i as u16);
        let shed_before = self.node.shed();
        self.node
            .handle_datagram(now, local, unmap(from), &st.buf[..n]);
        let mut batch = 1;
        while batch < RECV_BATCH {
            let Ok((n, from)) = self.sockets[i].get_ref().recv_from(&mut st.buf) else {
                break;
            };
            self.node
                .handle_datagram(now, local, unmap(from), &st.buf[..n]);
            batch += 1;
        }
        st.flooded = 2 * (self.node.shed() - shed_before) >= batch as u64;
        st.busy = batch == RECV_BATCH;
    }

    /// After any wake-up: the controller's timers, the stats line, and what the node queued.
    fn after_wake(&mut self, now: u64, st: &mut LoopState) {
        let timers_due = now >= self.controller.poll_timeout();
        if timers_due {
            self.controller.handle_timeout(Now {
                mono: now,
                unix: unix_millis(),
            });
        }
        if timers_due || self.controller.pushes_due(now) {
            self.send_controller_pushes(now);
        }
        if Instant::now() >= st.next_stats {
            st.next_stats = Instant::now() + STATS_INTERVAL;
            info!("stats: {}", self.node.stats());
        }
        self.drain(now);
    }
}

/// Lets the executor run the admin connections when the loop would not wait by itself.
async fn pace(st: &mut LoopState) {
    if st.flooded {
        // Mostly refused traffic: wait a moment so the next wake-up reads a batch instead of
        // paying a wake-up per forged datagram (the admin connections run meanwhile). Real
        // traffic waits at most this long while the flood lasts.
        smol::Timer::after(FLOOD_COALESCE).await;
        st.flooded = false;
        st.since_yield = 0;
    } else if st.busy || st.since_yield >= YIELD_EVERY {
        // Under load the sockets are never empty and the wait never waits: let the executor
        // run the admin connections between wake-ups. Not after a wake-up that emptied them:
        // the next poll waits anyway, and a yield there costs the reactor a second round of
        // system calls per datagram (a zero-timeout epoll_wait, timer and notifier re-arms:
        // 8 of the 17 calls per answer at 1,000 answers/s).
        smol::future::yield_now().await;
        st.busy = false;
        st.since_yield = 0;
    } else {
        st.since_yield += 1;
    }
}
