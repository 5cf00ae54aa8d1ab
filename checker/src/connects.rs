//! TCP_CHECK at scale: non-blocking connects watched by an epoll set of their own.
//!
//! [`crate::probe::tcp`] runs one connect as a tokio future; per check that is a task slot,
//! an I/O registration with its waker, a timer entry and a dozen atomic operations, which at
//! 10,000 checks a second under emulation cost several times keepalived's whole user time.
//! [`TcpConnects`] does what keepalived's checker does (keepalived/check/check_tcp.c,
//! keepalived/core/layer4.c): a non-blocking `connect`, the socket in an epoll set until it
//! is writable, `SO_ERROR` for the verdict when epoll reports an error, `close`. Per check:
//! five system calls (socket, connect, epoll_ctl, setsockopt SO_LINGER, close; closing a
//! socket removes it from the set), a slot in a table, an entry in a FIFO of deadlines;
//! nothing else. A connection made is aborted (RST, see [`abort_on_close`]), not closed in
//! order: four packets per check instead of seven, and no TIME_WAIT socket left behind.
//!
//! It is plain data plus sockets: the caller starts connects, waits for its file descriptor
//! (the epoll set, itself pollable: the daemon hands it to tokio) to become readable and
//! [`TcpConnects::collect`]s, and calls [`TcpConnects::expire`] at
//! [`TcpConnects::next_deadline`]. Results and failure reasons are those of
//! [`crate::probe::tcp`].

use crate::probe::socket::{bound_socket, describe_io_error};
use crate::probe::{Failure, ProbeResult, Success, Target, human};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use socket2::{Protocol, SockAddr, Socket, Type};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;

/// Linux's EINPROGRESS: a non-blocking connect under way (asm-generic/errno.h).
const EINPROGRESS: i32 = 115;

/// Events read per `epoll_wait`.
const EVENTS: usize = 1024;

/// Deadlines of the connects with one timeout, in time order: (deadline, slot, generation).
type DeadlineQueue = VecDeque<(Instant, usize, u32)>;

struct Slot<K> {
    key: K,
    socket: Option<Socket>,
    /// Bumped at each reuse, so a stale deadline entry is recognised.
    generation: u32,
}

/// Connects in flight, each identified by a caller's key `K`.
pub struct TcpConnects<K> {
    poll: Poll,
    events: Events,
    slots: Vec<Slot<K>>,
    free: Vec<usize>,
    /// Deadlines per timeout value, each FIFO in time order (connects start at
    /// non-decreasing times): (deadline, slot, generation). The front of each queue is a
    /// connect still in flight (finished ones are dropped from the fronts as they finish),
    /// so the earliest front is the next real deadline, not a wake-up for nothing.
    deadlines: Vec<(Duration, DeadlineQueue)>,
    in_flight: usize,
    /// Slots whose sockets reported, and whether with an error; reused between calls.
    ready: Vec<(usize, bool)>,
}

impl<K: Copy> TcpConnects<K> {
    /// An empty set.
    pub fn new() -> io::Result<TcpConnects<K>> {
        Ok(TcpConnects {
            poll: Poll::new()?,
            events: Events::with_capacity(EVENTS),
            slots: Vec::new(),
            free: Vec::new(),
            deadlines: Vec::new(),
            in_flight: 0,
            ready: Vec::new(),
        })
    }

    /// Connects in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Starts a connect to `target` for `key`, begun at `start` (it fails at
    /// `start + target.timeout`). A result known at once (the socket cannot be made or bound,
    /// the connect fails or succeeds immediately) is returned; otherwise it comes from
    /// [`Self::collect`] or [`Self::expire`].
    pub fn start(&mut self, key: K, target: &Target, start: Instant) -> Option<ProbeResult> {
        let socket = match bound_socket(target, Type::STREAM, Protocol::TCP) {
            Ok(s) => s,
            Err(f) => return Some(Err(f)),
        };
        match socket.connect(&SockAddr::from(target.addr)) {
            Ok(()) => return Some(Ok(Success::default())),
            Err(e) if e.raw_os_error() == Some(EINPROGRESS) => {}
            Err(e) => return Some(Err(Failure::new(describe_io_error(&e)))),
        }
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot { key, socket: None, generation: 0 });
                self.slots.len() - 1
            }
        };
        let fd = socket.as_raw_fd();
        if let Err(e) = self.poll.registry().register(&mut SourceFd(&fd), Token(index), Interest::WRITABLE) {
            self.free.push(index);
            return Some(Err(Failure::new(format!("cannot watch the socket: {}", describe_io_error(&e)))));
        }
        let Some(slot) = self.slots.get_mut(index) else { return Some(Err(Failure::new("no slot"))) };
        slot.generation = slot.generation.wrapping_add(1);
        slot.key = key;
        slot.socket = Some(socket);
        let entry = (start + target.timeout, index, slot.generation);
        match self.deadlines.iter_mut().find(|(t, _)| *t == target.timeout) {
            Some((_, q)) => q.push_back(entry),
            None => self.deadlines.push((target.timeout, VecDeque::from([entry]))),
        }
        self.in_flight += 1;
        None
    }

    /// Ends slot `index` (closing its socket, which also leaves the epoll set) and gives
    /// back its key.
    fn finish(&mut self, index: usize) -> Option<K> {
        let slot = self.slots.get_mut(index)?;
        slot.socket.take()?;
        self.free.push(index);
        self.in_flight -= 1;
        Some(slot.key)
    }

    /// Appends to `out` every connect that has finished, without blocking.
    pub fn collect(&mut self, out: &mut Vec<(K, ProbeResult)>) -> io::Result<()> {
        loop {
            match self.poll.poll(&mut self.events, Some(Duration::ZERO)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let mut ready = std::mem::take(&mut self.ready);
            ready.clear();
            ready.extend(self.events.iter().map(|e| (e.token().0, e.is_error() || e.is_write_closed())));
            for &(index, failed) in &ready {
                let verdict = match self.slots.get(index).and_then(|s| s.socket.as_ref()) {
                    None => continue,
                    // Writable without an error: the handshake completed (connect(2), EINPROGRESS:
                    // writable when the connection is made; a failure raises EPOLLERR).
                    Some(socket) if !failed => {
                        abort_on_close(socket);
                        Ok(Success::default())
                    }
                    Some(socket) => match socket.take_error() {
                        // No error after all (keepalived judges by SO_ERROR alone).
                        Ok(None) => Ok(Success::default()),
                        Ok(Some(e)) | Err(e) => Err(Failure::new(describe_io_error(&e))),
                    },
                };
                if let Some(key) = self.finish(index) {
                    out.push((key, verdict));
                }
            }
            let seen = ready.len();
            self.ready = ready;
            if seen < EVENTS {
                self.drop_finished_fronts();
                return Ok(());
            }
        }
    }

    /// When [`Self::expire`] is next needed.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.iter().filter_map(|(_, q)| q.front().map(|e| e.0)).min()
    }

    /// Whether deadline entry (slot, generation) is a connect still in flight.
    fn in_flight_entry(slots: &[Slot<K>], index: usize, generation: u32) -> bool {
        slots.get(index).is_some_and(|s| s.generation == generation && s.socket.is_some())
    }

    /// Drops the entries of finished connects from the front of every deadline queue.
    fn drop_finished_fronts(&mut self) {
        for (_, q) in &mut self.deadlines {
            while q
                .front()
                .is_some_and(|&(_, index, generation)| !Self::in_flight_entry(&self.slots, index, generation))
            {
                q.pop_front();
            }
        }
    }

    /// Appends to `out` a timeout failure for every connect whose deadline is `now` or
    /// earlier, and closes them.
    pub fn expire(&mut self, now: Instant, out: &mut Vec<(K, ProbeResult)>) {
        for q in 0..self.deadlines.len() {
            let Some(timeout) = self.deadlines.get(q).map(|(t, _)| *t) else { continue };
            while let Some(&(at, index, generation)) = self.deadlines.get(q).and_then(|(_, d)| d.front()) {
                if at > now {
                    break;
                }
                if let Some((_, d)) = self.deadlines.get_mut(q) {
                    d.pop_front();
                }
                if !Self::in_flight_entry(&self.slots, index, generation) {
                    continue;
                }
                if let Some(key) = self.finish(index) {
                    out.push((key, Err(Failure::new(format!("connect timeout after {}", human(timeout))))));
                }
            }
        }
        self.drop_finished_fronts();
    }

    /// Abandons every connect in flight.
    pub fn clear(&mut self) {
        for index in 0..self.slots.len() {
            self.finish(index);
        }
        self.deadlines.clear();
    }
}

impl<K> AsRawFd for TcpConnects<K> {
    /// The epoll set: readable when a connect has finished.
    fn as_raw_fd(&self) -> RawFd {
        self.poll.as_raw_fd()
    }
}

/// Makes closing `socket` abort the connection (SO_LINGER with a zero timeout: close sends
/// RST), as HAProxy closes its health-check connections: a check has nothing to say after
/// the handshake, and an orderly close costs both ends a FIN exchange and leaves the
/// checker a TIME_WAIT socket per check for 60 s (10,000 checks a second would want
/// 600,000 of them; past `tcp_max_tw_buckets` the kernel drops them and logs an overflow).
/// keepalived closes with FIN (keepalived/core/layer4.c, linger 5 s). Failing to set it only
/// means an orderly close.
pub(crate) fn abort_on_close(socket: &Socket) {
    let _ = socket.set_linger(Some(Duration::ZERO));
}

/// `set`, watched by the current tokio runtime for readability (a connect has finished).
pub fn watched<K>(set: TcpConnects<K>) -> io::Result<AsyncFd<TcpConnects<K>>> {
    // SAFETY: tokio needs the descriptor to stay open and the same for the AsyncFd's whole
    // life. It is the epoll set of `set.poll`, which `set` owns and never replaces: it is
    // closed only when `set` (moved into the AsyncFd) is dropped, after tokio deregisters it.
    #[allow(unsafe_code)]
    let watched = unsafe { AsyncFd::register_with_interest(set, tokio::io::Interest::READABLE) };
    watched.map_err(|e| e.into_parts().1)
}
