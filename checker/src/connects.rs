//! TCP_CHECK at scale: non-blocking connects watched by an epoll set of their own.
//!
//! [`crate::probe::tcp`] runs one connect as a tokio future; per check that is a task slot,
//! an I/O registration with its waker, a timer entry and a dozen atomic operations, which at
//! 10,000 checks a second under emulation cost several times keepalived's whole user time.
//! [`TcpConnects`] does what keepalived's checker does (keepalived/check/check_tcp.c,
//! keepalived/core/layer4.c): a non-blocking `connect`, the socket in an epoll set until it
//! is writable, `SO_ERROR` for the verdict when epoll reports an error. A connection made
//! is aborted (RST), not closed in order: four packets per check instead of seven, and no
//! TIME_WAIT socket left behind (see [`abort_on_close`]).
//!
//! Sockets are reused. A connection made is aborted by `connect` to an `AF_UNSPEC` address,
//! which resets it and leaves the socket unconnected and ready to connect again (connect(2);
//! tcp_disconnect in net/ipv4/tcp.c sends the RST and releases the local port and address),
//! so the socket stays in the epoll set and waits in a pool for the next check. A check
//! then costs two system calls (connect, and connect again to abort) instead of five
//! (socket, epoll_ctl, connect, setsockopt SO_LINGER, close), and the kernel neither makes
//! nor destroys a socket, a file and an epoll entry per check. Only sockets with no source
//! address, port, interface or fwmark of their own are pooled; a connect that fails or
//! times out closes its socket. The set is edge-triggered (mio's epoll registrations are),
//! and an event is judged by the socket's state when it is read, so a pooled socket's own
//! reset (an event nobody waits for) is ignored and cannot be taken for its next connect's.
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
use socket2::{Protocol, SockAddr, SockAddrStorage, Socket, Type};
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

/// Idle sockets kept per address family: more than the connects a busy set has in flight
/// at once (at 10,000 checks a second, tens), few enough that a burst of checks ending
/// together does not leave thousands of descriptors open.
const MAX_IDLE: usize = 512;

struct Slot<K> {
    key: K,
    /// The slot's socket, in the epoll set under the slot's index: connecting when `busy`,
    /// otherwise waiting unconnected in `TcpConnects::idle`.
    socket: Option<Socket>,
    busy: bool,
    /// The pool (index into `TcpConnects::idle`) the socket goes back to once its
    /// connection is made; `None` for a socket bound by the target's settings.
    pool: Option<usize>,
    /// Bumped at each connect, so a stale deadline entry is recognised.
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
    /// Slots of unconnected sockets ready for reuse: IPv4, IPv6.
    idle: [Vec<usize>; 2],
    /// `AF_UNSPEC`: connecting to it aborts a connection (see the module's doc).
    unspec: SockAddr,
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
            idle: [Vec::new(), Vec::new()],
            unspec: unspecified(),
            ready: Vec::new(),
        })
    }

    /// Connects in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Unconnected sockets waiting for reuse.
    pub fn idle(&self) -> usize {
        self.idle.iter().map(Vec::len).sum()
    }

    /// Starts a connect to `target` for `key`, begun at `start` (it fails at
    /// `start + target.timeout`). A result known at once (the socket cannot be made or bound,
    /// the connect fails or succeeds immediately) is returned; otherwise it comes from
    /// [`Self::collect`] or [`Self::expire`].
    pub fn start(&mut self, key: K, target: &Target, start: Instant) -> Option<ProbeResult> {
        let pool = pool_of(target);
        let index = match pool.and_then(|p| self.idle.get_mut(p)).and_then(Vec::pop) {
            Some(index) => index,
            None => match self.open(key, target, pool) {
                Ok(index) => index,
                Err(f) => return Some(Err(f)),
            },
        };
        let Some(socket) = self.slots.get(index).and_then(|s| s.socket.as_ref()) else {
            return Some(Err(Failure::new("no socket")));
        };
        match socket.connect(&SockAddr::from(target.addr)) {
            Ok(()) => {
                self.made(index);
                return Some(Ok(Success::default()));
            }
            Err(e) if e.raw_os_error() == Some(EINPROGRESS) => {}
            Err(e) => {
                self.close(index);
                return Some(Err(Failure::new(describe_io_error(&e))));
            }
        }
        let Some(slot) = self.slots.get_mut(index) else { return Some(Err(Failure::new("no slot"))) };
        slot.generation = slot.generation.wrapping_add(1);
        slot.key = key;
        slot.busy = true;
        let entry = (start + target.timeout, index, slot.generation);
        match self.deadlines.iter_mut().find(|(t, _)| *t == target.timeout) {
            Some((_, q)) => q.push_back(entry),
            None => self.deadlines.push((target.timeout, VecDeque::from([entry]))),
        }
        self.in_flight += 1;
        None
    }

    /// Makes a socket for `target` in a free slot, watched by the epoll set; gives the slot.
    fn open(&mut self, key: K, target: &Target, pool: Option<usize>) -> Result<usize, Failure> {
        let socket = bound_socket(target, Type::STREAM, Protocol::TCP)?;
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot { key, socket: None, busy: false, pool: None, generation: 0 });
                self.slots.len() - 1
            }
        };
        let fd = socket.as_raw_fd();
        if let Err(e) = self.poll.registry().register(&mut SourceFd(&fd), Token(index), Interest::WRITABLE) {
            self.free.push(index);
            return Err(Failure::new(format!("cannot watch the socket: {}", describe_io_error(&e))));
        }
        let Some(slot) = self.slots.get_mut(index) else { return Err(Failure::new("no slot")) };
        slot.socket = Some(socket);
        slot.pool = pool;
        Ok(index)
    }

    /// Ends slot `index`'s connect, if one is in flight, and gives back its key.
    fn end(&mut self, index: usize) -> Option<K> {
        let slot = self.slots.get_mut(index)?;
        if !slot.busy {
            return None;
        }
        slot.busy = false;
        self.in_flight -= 1;
        Some(slot.key)
    }

    /// Slot `index`'s connection is made: aborts it, and puts the socket back in its pool
    /// if it has one with room, or closes it.
    fn made(&mut self, index: usize) {
        let Some(slot) = self.slots.get(index) else { return };
        let Some(socket) = slot.socket.as_ref() else { return };
        if let Some(pool) = slot.pool.and_then(|p| self.idle.get_mut(p)) {
            if pool.len() < MAX_IDLE && socket.connect(&self.unspec).is_ok() {
                pool.push(index);
                return;
            }
        }
        abort_on_close(socket);
        self.close(index);
    }

    /// Closes slot `index`'s socket (which also leaves the epoll set) and frees the slot.
    fn close(&mut self, index: usize) {
        let Some(slot) = self.slots.get_mut(index) else { return };
        if slot.socket.take().is_some() {
            self.free.push(index);
        }
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
                // Not connecting: a pooled socket's own reset, or a slot closed meanwhile.
                let Some(socket) = self.slots.get(index).filter(|s| s.busy).and_then(|s| s.socket.as_ref()) else {
                    continue;
                };
                // Writable without an error: the handshake completed (connect(2), EINPROGRESS:
                // writable when the connection is made; a failure raises EPOLLERR). With an
                // error, SO_ERROR says which (and none means made after all: keepalived
                // judges by SO_ERROR alone).
                let error = if failed { socket.take_error().unwrap_or_else(Some) } else { None };
                let Some(key) = self.end(index) else { continue };
                match error {
                    None => {
                        self.made(index);
                        out.push((key, Ok(Success::default())));
                    }
                    Some(e) => {
                        self.close(index);
                        out.push((key, Err(Failure::new(describe_io_error(&e)))));
                    }
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
        slots.get(index).is_some_and(|s| s.generation == generation && s.busy)
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
                if let Some(key) = self.end(index) {
                    self.close(index);
                    out.push((key, Err(Failure::new(format!("connect timeout after {}", human(timeout))))));
                }
            }
        }
        self.drop_finished_fronts();
    }

    /// Abandons every connect in flight (the pooled sockets stay).
    pub fn clear(&mut self) {
        for index in 0..self.slots.len() {
            if self.end(index).is_some() {
                self.close(index);
            }
        }
        self.deadlines.clear();
    }
}

/// The pool a socket for `target` comes from and goes back to: one per address family, for
/// targets that do not set the socket up themselves (source address or port, interface,
/// fwmark); `None` for those, which get a socket of their own each time.
fn pool_of(target: &Target) -> Option<usize> {
    let plain =
        target.bind_addr.is_none() && target.bind_port.is_none() && target.bind_if.is_none() && target.fwmark.is_none();
    plain.then_some(usize::from(target.addr.is_ipv6()))
}

/// The `AF_UNSPEC` address (connect(2): connecting a TCP socket to it dissolves the
/// association).
fn unspecified() -> SockAddr {
    let storage = SockAddrStorage::zeroed();
    let len = storage.size_of();
    // SAFETY: an all-zero sockaddr_storage is a complete address of family AF_UNSPEC (0),
    // and `len` is the storage's own size, so the kernel reads only initialised bytes.
    #[allow(unsafe_code)]
    unsafe {
        SockAddr::new(storage, len)
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
