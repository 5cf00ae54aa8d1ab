//! Bulk resync: a director whose kernel backup daemon starts with an empty table gets the
//! master's whole connection table within seconds, without waiting for traffic.
//!
//! The kernel's master daemon sends a connection only from the packet path (its 3rd, 53rd,
//! 103rd... packet, or a state change; ip_vs_sync.c, ip_vs_sync_conn_needed) and never walks
//! its table for a new backup: a backup that starts late holds nothing of the quiet
//! long-lived connections, and resets them if it takes over (keepalived issues #237, #1076,
//! #1966). The kernel's backup daemon takes records from any sender on its group, port and
//! interface, so tandem on the master reads its own table and sends it in the kernel's format.
//!
//! The exchange, over UDP on the sync interface, on the sync group at the sync port + 1
//! (8849 by default; the kernel's daemons never see it):
//! 1. A director whose backup daemon starts (start, restart, reload) multicasts a
//!    [`Control::Request`] with its sync id and a fresh nonce, again every
//!    [`REQUEST_EVERY`] until a master answers or [`REQUEST_ATTEMPTS`] went unanswered (no
//!    master: nothing to catch up with).
//! 2. The director whose master daemon runs answers a request for its sync id at once with
//!    [`Control::Started`] (reading a large table takes a while: the kernel walks its hash
//!    table from the start for every page of /proc/net/ip_vs_conn), then reads its
//!    table (/proc/net/ip_vs_conn; the forwarding method and flags come from tandem's model of
//!    its services), packs it into the kernel's v1 datagrams and sends them, paced, to the
//!    kernel's group and port, where the requester's backup daemon takes them; then it
//!    multicasts [`Control::Done`] with the nonce and the number of records sent.
//! 3. The requester stops asking once a master has started, and counts as caught up once a
//!    Done for its nonce arrives (or gives up after [`ANSWERED_WAIT`]).
//!
//! Besides, every [`TABLE_EVERY`] the master multicasts [`Control::Table`] there: how many
//! connections and templates its table holds (the kernel's per-destination counts). A backup
//! compares it with its own count: how far its table is behind the master's, at any time,
//! not only after a resync (connections the master's daemon has not sent yet, from its 3rd
//! packet, count as behind too). And every [`TABLE_EVERY`] a backup multicasts
//! [`Control::Backup`]: it is there, in which VRRP state and at which priority, with how many
//! connections. A backup sends no VRRP adverts; this is how a master learns it has one.
//!
//! Requests are harmless to repeat and rate-limited: a request while a resync is being sent
//! joins it (the Done carries every nonce it answers); a new resync starts at most once per
//! [`COOLDOWN`], and a request in the cooldown gets a Done at the end of the next one.
//! Nothing here is authenticated: the kernel's own sync traffic is not either, and the
//! records a resync sends are what the master daemon multicasts on that segment anyway; a
//! forged Done can at worst end a warm preemption's wait early (keepalived never waits).
//!
//! [`Sender`] (master side) and [`Catchup`] (backup side) are sans-I/O: they read no clock
//! and touch no socket; the daemon feeds them `now`, requests, Done messages and tables.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How often an unanswered request is repeated.
pub const REQUEST_EVERY: Duration = Duration::from_secs(1);
/// How many requests go unanswered before the requester concludes no master runs.
pub const REQUEST_ATTEMPTS: u32 = 5;
/// Shortest time between the starts of two resyncs from one master.
pub const COOLDOWN: Duration = Duration::from_secs(2);
/// How long a requester waits for the Done of a resync a master has started.
pub const ANSWERED_WAIT: Duration = Duration::from_secs(600);
/// The most requests one resync answers (and the most waiting for the next): a pair has one
/// backup, a few directors a few. Without a bound, a stream of requests with fresh nonces
/// grew the master's lists without end and made it multicast a Started for each.
pub const MAX_REQUESTERS: usize = 16;
/// How often a master says how large its table is.
pub const TABLE_EVERY: Duration = Duration::from_secs(2);

/// The control messages: `TNDR`, version 1, kind, sync id, 0, then a u64 big-endian (a
/// nonce, or a Table's count); a Done adds the records and datagrams sent (u32 big-endian
/// each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// A backup asks for the table.
    Request {
        /// Its sync id (the kernel's backup takes only records with its id, or any with 0).
        sync_id: u8,
        /// Chosen afresh by the requester at each start of its backup daemon.
        nonce: u64,
    },
    /// A master has started a resync for this request.
    Started {
        /// The sync id it uses.
        sync_id: u8,
        /// The request's nonce.
        nonce: u64,
    },
    /// A master has sent its table.
    Done {
        /// The sync id it used.
        sync_id: u8,
        /// A request's nonce this answers.
        nonce: u64,
        /// Records sent.
        records: u32,
        /// Datagrams sent.
        datagrams: u32,
    },
    /// A master's table size, every [`TABLE_EVERY`].
    Table {
        /// The sync id it uses.
        sync_id: u8,
        /// Connections and templates in its table.
        connections: u64,
    },
    /// A backup says it is there, every [`TABLE_EVERY`]: a backup sends no VRRP adverts, so
    /// this is how the master's tandem knows it has one (`tandem drill` asks).
    Backup {
        /// The sync id it uses.
        sync_id: u8,
        /// Connections and templates in its table.
        connections: u64,
        /// The VRRP state of the instance its sync daemon follows (RFC 5798 names:
        /// 0 init, 1 backup, 2 master, 3 fault).
        state: u8,
        /// That instance's effective priority.
        priority: u8,
    },
}

const MAGIC: &[u8; 4] = b"TNDR";
const VERSION: u8 = 1;
const REQUEST: u8 = 1;
const DONE: u8 = 2;
const STARTED: u8 = 3;
const TABLE: u8 = 4;
const BACKUP: u8 = 5;

/// Why a control datagram was not understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// Not `TNDR` version 1, or not a known kind.
    #[error("not a tandem resync message")]
    Foreign,
    /// The length does not fit the kind.
    #[error("resync message of {0} bytes has the wrong length")]
    Length(usize),
}

impl Control {
    /// Reads a control datagram.
    pub fn parse(b: &[u8]) -> Result<Control, ControlError> {
        let (Some(magic), Some(&version), Some(&kind), Some(&sync_id)) = (b.get(..4), b.get(4), b.get(5), b.get(6))
        else {
            return Err(ControlError::Length(b.len()));
        };
        if magic != MAGIC || version != VERSION {
            return Err(ControlError::Foreign);
        }
        let u64_at = |at: usize| b.get(at..at + 8).and_then(|s| <[u8; 8]>::try_from(s).ok()).map(u64::from_be_bytes);
        let u32_at = |at: usize| b.get(at..at + 4).and_then(|s| <[u8; 4]>::try_from(s).ok()).map(u32::from_be_bytes);
        match (kind, b.len()) {
            (REQUEST, 16) => Ok(Control::Request { sync_id, nonce: u64_at(8).ok_or(ControlError::Length(b.len()))? }),
            (STARTED, 16) => Ok(Control::Started { sync_id, nonce: u64_at(8).ok_or(ControlError::Length(b.len()))? }),
            (DONE, 24) => Ok(Control::Done {
                sync_id,
                nonce: u64_at(8).ok_or(ControlError::Length(b.len()))?,
                records: u32_at(16).ok_or(ControlError::Length(b.len()))?,
                datagrams: u32_at(20).ok_or(ControlError::Length(b.len()))?,
            }),
            (TABLE, 16) => Ok(Control::Table { sync_id, connections: u64_at(8).ok_or(ControlError::Length(b.len()))? }),
            (BACKUP, 18) => Ok(Control::Backup {
                sync_id,
                connections: u64_at(8).ok_or(ControlError::Length(b.len()))?,
                state: *b.get(16).ok_or(ControlError::Length(b.len()))?,
                priority: *b.get(17).ok_or(ControlError::Length(b.len()))?,
            }),
            (REQUEST | DONE | STARTED | TABLE | BACKUP, n) => Err(ControlError::Length(n)),
            _ => Err(ControlError::Foreign),
        }
    }

    /// Writes a control datagram.
    pub fn emit(&self) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        match *self {
            Control::Request { sync_id, nonce } => {
                b.extend([VERSION, REQUEST, sync_id, 0]);
                b.extend(nonce.to_be_bytes());
            }
            Control::Started { sync_id, nonce } => {
                b.extend([VERSION, STARTED, sync_id, 0]);
                b.extend(nonce.to_be_bytes());
            }
            Control::Done { sync_id, nonce, records, datagrams } => {
                b.extend([VERSION, DONE, sync_id, 0]);
                b.extend(nonce.to_be_bytes());
                b.extend(records.to_be_bytes());
                b.extend(datagrams.to_be_bytes());
            }
            Control::Table { sync_id, connections } => {
                b.extend([VERSION, TABLE, sync_id, 0]);
                b.extend(connections.to_be_bytes());
            }
            Control::Backup { sync_id, connections, state, priority } => {
                b.extend([VERSION, BACKUP, sync_id, 0]);
                b.extend(connections.to_be_bytes());
                b.extend([state, priority]);
            }
        }
        b
    }
}

/// The requester's side: asks until answered, then knows it caught up.
#[derive(Debug, Clone)]
pub struct Catchup {
    sync_id: u8,
    nonce: u64,
    started: Instant,
    attempts: u32,
    next_request: Option<Instant>,
    /// A master has started the resync.
    answered: bool,
    outcome: Option<Outcome>,
}

/// How a catch-up ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A master sent its table: `records` in `took`.
    CaughtUp {
        /// Records the master sent.
        records: u32,
        /// From the first request to the Done.
        took: Duration,
    },
    /// No master answered [`REQUEST_ATTEMPTS`] requests: there is none to catch up with.
    NoMaster,
    /// A master started a resync, but its Done did not come within [`ANSWERED_WAIT`].
    Unfinished,
}

impl Catchup {
    /// A catch-up that starts now (the backup daemon has just started) with a fresh `nonce`.
    pub fn new(now: Instant, sync_id: u8, nonce: u64) -> Catchup {
        Catchup { sync_id, nonce, started: now, attempts: 0, next_request: Some(now), answered: false, outcome: None }
    }

    /// The request to send now, if one is due.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Control> {
        let due = self.next_request.filter(|t| *t <= now)?;
        if self.answered {
            self.next_request = None;
            self.outcome = Some(Outcome::Unfinished);
            return None;
        }
        if self.attempts >= REQUEST_ATTEMPTS {
            self.next_request = None;
            self.outcome = Some(Outcome::NoMaster);
            return None;
        }
        self.attempts += 1;
        self.next_request = Some(due + REQUEST_EVERY);
        Some(Control::Request { sync_id: self.sync_id, nonce: self.nonce })
    }

    /// When [`poll_transmit`](Self::poll_transmit) has something to do next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_request
    }

    /// A Started or a Done heard on the group: true when it is for this catch-up. A Started
    /// stops the requests (the Done is awaited up to [`ANSWERED_WAIT`]); a Done ends it.
    pub fn handle_control(&mut self, now: Instant, done: &Control) -> bool {
        match *done {
            Control::Started { nonce, .. } if nonce == self.nonce && self.outcome.is_none() => {
                if !self.answered {
                    self.answered = true;
                    self.next_request = Some(now + ANSWERED_WAIT);
                }
                true
            }
            Control::Done { nonce, records, .. } if nonce == self.nonce && self.outcome.is_none() => {
                self.outcome = Some(Outcome::CaughtUp { records, took: now.saturating_duration_since(self.started) });
                self.next_request = None;
                true
            }
            _ => false,
        }
    }

    /// How it ended, once it has.
    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome
    }

    /// Whether a master has started the resync.
    pub fn answered(&self) -> bool {
        self.answered
    }
}

/// What the master does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Start a resync: the caller reads its table and hands the datagrams to
    /// [`Sender::start`].
    Start,
    /// A resync is being sent (or one is due after the cooldown): its Done will name this
    /// nonce too.
    Joined,
    /// Not for this master (another sync id).
    NotOurs,
    /// Ignored: [`MAX_REQUESTERS`] requests already wait for this resync or the next. The
    /// requester asks again ([`REQUEST_EVERY`]).
    Full,
}

/// The master's side: answers requests, paces the datagrams, announces the end.
#[derive(Debug, Clone)]
pub struct Sender {
    sync_id: u8,
    /// Between two datagrams of one resync.
    pace: Duration,
    queue: VecDeque<Vec<u8>>,
    next_send: Option<Instant>,
    /// Nonces the resync being sent answers.
    answering: Vec<u64>,
    /// Nonces that came in the cooldown, for the next resync.
    waiting: Vec<u64>,
    last_start: Option<Instant>,
    records: u32,
    datagrams: u32,
    done: VecDeque<Control>,
    /// Started messages owed, sent before anything else.
    started: VecDeque<Control>,
    /// Between [`Sender::begin`] and [`Sender::start`]: the caller reads its table.
    reading: bool,
}

impl Sender {
    /// A sender for `sync_id` that spaces datagrams `pace` apart.
    pub fn new(sync_id: u8, pace: Duration) -> Sender {
        Sender {
            sync_id,
            pace,
            queue: VecDeque::new(),
            next_send: None,
            answering: Vec::new(),
            waiting: Vec::new(),
            last_start: None,
            records: 0,
            datagrams: 0,
            done: VecDeque::new(),
            started: VecDeque::new(),
            reading: false,
        }
    }

    /// A request heard on the group. A backup with sync id 0 takes any id, so a request with
    /// 0 is ours too.
    pub fn handle_request(&mut self, now: Instant, request: &Control) -> Answer {
        let Control::Request { sync_id, nonce } = *request else { return Answer::NotOurs };
        if sync_id != self.sync_id && sync_id != 0 {
            return Answer::NotOurs;
        }
        if self.is_sending() {
            if !self.answering.contains(&nonce) {
                if self.answering.len() >= MAX_REQUESTERS {
                    return Answer::Full;
                }
                self.answering.push(nonce);
                self.started.push_back(Control::Started { sync_id: self.sync_id, nonce });
            }
            return Answer::Joined;
        }
        let known = self.waiting.contains(&nonce);
        if !known && self.waiting.len() >= MAX_REQUESTERS {
            return Answer::Full;
        }
        if !known {
            self.waiting.push(nonce);
        }
        if self.last_start.is_some_and(|t| now.saturating_duration_since(t) < COOLDOWN) {
            return Answer::Joined;
        }
        Answer::Start
    }

    /// Begins a resync for the requests received so far: each gets a Started
    /// ([`poll_control`](Self::poll_control)) while the caller reads its table; requests that
    /// come meanwhile join it.
    pub fn begin(&mut self, now: Instant) {
        for nonce in &self.waiting {
            self.started.push_back(Control::Started { sync_id: self.sync_id, nonce: *nonce });
        }
        self.answering.append(&mut self.waiting);
        self.reading = true;
        self.last_start = Some(now);
    }

    /// Starts sending `datagrams` (the table, packed), which hold `records` records (after
    /// [`begin`](Self::begin); without it, begins too).
    pub fn start(&mut self, now: Instant, datagrams: Vec<Vec<u8>>, records: u32) {
        if !self.reading {
            self.begin(now);
        }
        self.reading = false;
        self.datagrams = u32::try_from(datagrams.len()).unwrap_or(u32::MAX);
        self.queue = datagrams.into();
        self.records = records;
        self.next_send = Some(now);
    }

    /// When the last resync began.
    pub fn began_at(&self) -> Option<Instant> {
        self.last_start
    }

    /// True from [`begin`](Self::begin) until the Done is owed.
    pub fn is_sending(&self) -> bool {
        self.reading || self.next_send.is_some()
    }

    /// The next datagram of the table to send to the kernel's group and port, if one is due.
    pub fn poll_records(&mut self, now: Instant) -> Option<Vec<u8>> {
        let due = self.next_send.filter(|t| *t <= now)?;
        match self.queue.pop_front() {
            Some(d) => {
                // A late wake sends what fell due meanwhile, but never more than a burst of
                // eight at once (the backup's receive buffer holds a few hundred). After the
                // last datagram, one more pace before the Done.
                let due = due.max(now.checked_sub(self.pace * 8).unwrap_or(due));
                self.next_send = Some(due + self.pace);
                Some(d)
            }
            None => {
                self.next_send = None;
                for nonce in self.answering.drain(..) {
                    self.done.push_back(Control::Done {
                        sync_id: self.sync_id,
                        nonce,
                        records: self.records,
                        datagrams: self.datagrams,
                    });
                }
                None
            }
        }
    }

    /// A control message to multicast on the control port: a Started as soon as a resync
    /// starts for a request, a Done once it has been sent.
    pub fn poll_control(&mut self) -> Option<Control> {
        self.started.pop_front().or_else(|| self.done.pop_front())
    }

    /// When [`poll_records`](Self::poll_records) has something to do next; a request that came
    /// in the cooldown asks the caller to start again at this time too.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.next_send, self.last_start) {
            (Some(t), _) => Some(t),
            (None, Some(s)) if !self.waiting.is_empty() => Some(s + COOLDOWN),
            _ => None,
        }
    }

    /// True when requests wait for a resync that may start now.
    pub fn wants_start(&self, now: Instant) -> bool {
        !self.is_sending()
            && !self.waiting.is_empty()
            && self.last_start.is_none_or(|t| now.saturating_duration_since(t) >= COOLDOWN)
    }
}

/// A backup's view of how far its table is behind the master's: the master's last
/// [`Control::Table`] against this director's own count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lag {
    master: Option<(u64, Instant)>,
    own: Option<u64>,
}

impl Lag {
    /// A master's Table heard now.
    pub fn master_said(&mut self, now: Instant, connections: u64) {
        self.master = Some((connections, now));
    }

    /// This director's own count, taken now.
    pub fn own(&mut self, connections: u64) {
        self.own = Some(connections);
    }

    /// The master's count, if one came in the last three [`TABLE_EVERY`] (a master gone
    /// quiet says nothing of the table any more).
    pub fn master(&self, now: Instant) -> Option<u64> {
        self.master.filter(|(_, at)| now.saturating_duration_since(*at) <= TABLE_EVERY * 3).map(|(n, _)| n)
    }

    /// Connections the master holds that this director does not: 0 when caught up (this
    /// director may hold more: connections that ended on the master and not yet here).
    pub fn behind(&self, now: Instant) -> Option<u64> {
        Some(self.master(now)?.saturating_sub(self.own?))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn control_messages_round_trip_and_foreign_ones_are_refused() {
        for c in [
            Control::Request { sync_id: 51, nonce: 0x0102_0304_0506_0708 },
            Control::Started { sync_id: 51, nonce: 3 },
            Control::Done { sync_id: 0, nonce: u64::MAX, records: 100_000, datagrams: 2_500 },
            Control::Table { sync_id: 51, connections: 1_000_000 },
            Control::Backup { sync_id: 51, connections: 42, state: 1, priority: 100 },
        ] {
            let b = c.emit();
            assert_eq!(&b[..4], b"TNDR");
            assert_eq!(Control::parse(&b), Ok(c));
            assert_eq!(Control::parse(&b[..b.len() - 1]), Err(ControlError::Length(b.len() - 1)));
        }
        assert_eq!(Control::parse(b"TNDR\x02\x01\x00\x00........"), Err(ControlError::Foreign));
        assert_eq!(Control::parse(&[0u8; 16]), Err(ControlError::Foreign));
        assert_eq!(Control::parse(b"TN"), Err(ControlError::Length(2)));
    }

    #[test]
    fn the_lag_is_the_masters_recent_count_less_this_directors() {
        let t0 = Instant::now();
        let mut lag = Lag::default();
        assert_eq!(lag.behind(t0), None);
        lag.own(400);
        assert_eq!(lag.behind(t0), None, "no master has spoken");
        lag.master_said(t0, 1000);
        assert_eq!(lag.behind(t0 + ms(100)), Some(600));
        lag.own(1003);
        assert_eq!(lag.behind(t0 + ms(100)), Some(0));
        assert_eq!(lag.behind(t0 + TABLE_EVERY * 3), Some(0));
        assert_eq!((lag.master(t0 + TABLE_EVERY * 3 + ms(1)), lag.behind(t0 + TABLE_EVERY * 3 + ms(1))), (None, None));
    }

    proptest! {
        #[test]
        fn parsing_any_bytes_never_panics(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = Control::parse(&b);
        }
    }

    #[test]
    fn a_backup_asks_every_second_until_answered_or_it_concludes_there_is_no_master() {
        let t0 = Instant::now();
        let mut c = Catchup::new(t0, 51, 7);
        assert_eq!(c.poll_transmit(t0), Some(Control::Request { sync_id: 51, nonce: 7 }));
        assert_eq!(c.poll_transmit(t0 + ms(999)), None);
        assert_eq!(c.poll_timeout(), Some(t0 + REQUEST_EVERY));
        assert!(c.poll_transmit(t0 + ms(1000)).is_some());
        // Another nonce's Done is not ours.
        let other = Control::Done { sync_id: 51, nonce: 8, records: 3, datagrams: 1 };
        assert!(!c.handle_control(t0 + ms(1200), &other));
        let ours = Control::Done { sync_id: 51, nonce: 7, records: 3, datagrams: 1 };
        assert!(c.handle_control(t0 + ms(1500), &ours));
        assert_eq!(c.outcome(), Some(Outcome::CaughtUp { records: 3, took: ms(1500) }));
        assert_eq!((c.poll_timeout(), c.poll_transmit(t0 + ms(5000))), (None, None));

        let mut alone = Catchup::new(t0, 51, 9);
        let mut sent = 0;
        let mut t = t0;
        while let Some(at) = alone.poll_timeout() {
            t = at;
            sent += usize::from(alone.poll_transmit(t).is_some());
        }
        assert_eq!(sent, REQUEST_ATTEMPTS as usize);
        assert_eq!(alone.outcome(), Some(Outcome::NoMaster));
        assert_eq!(t, t0 + REQUEST_EVERY * REQUEST_ATTEMPTS);

        // A master that starts a long resync: no more requests, no "no master"; the Done is
        // awaited up to ANSWERED_WAIT.
        let mut slow = Catchup::new(t0, 51, 11);
        assert!(slow.poll_transmit(t0).is_some());
        assert!(slow.handle_control(t0 + ms(10), &Control::Started { sync_id: 51, nonce: 11 }));
        assert!(slow.answered());
        assert_eq!(slow.poll_transmit(t0 + Duration::from_secs(30)), None);
        assert_eq!(slow.outcome(), None);
        assert!(slow.handle_control(
            t0 + Duration::from_secs(40),
            &Control::Done { sync_id: 51, nonce: 11, records: 5, datagrams: 1 }
        ));
        assert_eq!(slow.outcome(), Some(Outcome::CaughtUp { records: 5, took: Duration::from_secs(40) }));
        let mut lost = Catchup::new(t0, 51, 12);
        let _ = lost.poll_transmit(t0);
        lost.handle_control(t0, &Control::Started { sync_id: 51, nonce: 12 });
        assert_eq!(lost.poll_timeout(), Some(t0 + ANSWERED_WAIT));
        assert_eq!(lost.poll_transmit(t0 + ANSWERED_WAIT), None);
        assert_eq!(lost.outcome(), Some(Outcome::Unfinished));
    }

    #[test]
    fn a_master_sends_paced_joins_repeats_and_answers_every_nonce() {
        let t0 = Instant::now();
        let mut s = Sender::new(51, ms(2));
        assert_eq!(s.handle_request(t0, &Control::Request { sync_id: 9, nonce: 1 }), Answer::NotOurs);
        assert_eq!(s.handle_request(t0, &Control::Request { sync_id: 51, nonce: 1 }), Answer::Start);
        s.start(t0, vec![vec![1], vec![2], vec![3]], 90);
        assert_eq!(s.handle_request(t0, &Control::Request { sync_id: 0, nonce: 2 }), Answer::Joined);
        assert_eq!(s.poll_records(t0), Some(vec![1]));
        assert_eq!(s.poll_records(t0), None, "paced");
        assert_eq!(s.poll_timeout(), Some(t0 + ms(2)));
        assert_eq!(s.poll_records(t0 + ms(2)), Some(vec![2]));
        assert_eq!(s.poll_records(t0 + ms(4)), Some(vec![3]));
        let started: Vec<Control> = std::iter::from_fn(|| s.poll_control()).collect();
        assert_eq!(started, [Control::Started { sync_id: 51, nonce: 1 }, Control::Started { sync_id: 51, nonce: 2 }]);
        assert!(s.poll_control().is_none(), "no Done before the last pace");
        assert_eq!(s.poll_records(t0 + ms(6)), None);
        let done: Vec<Control> = std::iter::from_fn(|| s.poll_control()).collect();
        assert_eq!(
            done,
            [
                Control::Done { sync_id: 51, nonce: 1, records: 90, datagrams: 3 },
                Control::Done { sync_id: 51, nonce: 2, records: 90, datagrams: 3 },
            ]
        );
        // Within the cooldown a request waits for the next resync, due when it ends.
        assert_eq!(s.handle_request(t0 + ms(10), &Control::Request { sync_id: 51, nonce: 3 }), Answer::Joined);
        assert!(!s.wants_start(t0 + ms(10)));
        assert_eq!(s.poll_timeout(), Some(t0 + COOLDOWN));
        assert!(s.wants_start(t0 + COOLDOWN));
        s.start(t0 + COOLDOWN, vec![], 0);
        assert_eq!(s.poll_control(), Some(Control::Started { sync_id: 51, nonce: 3 }));
        assert_eq!(s.poll_records(t0 + COOLDOWN), None);
        assert_eq!(s.poll_control(), Some(Control::Done { sync_id: 51, nonce: 3, records: 0, datagrams: 0 }));
    }

    /// A stream of requests with fresh nonces: each resync answers MAX_REQUESTERS of them (one
    /// Started and one Done each), the rest are refused, and the lists stay bounded.
    #[test]
    fn requests_beyond_the_bound_are_refused() {
        let t0 = Instant::now();
        let mut s = Sender::new(51, ms(2));
        let req = |nonce| Control::Request { sync_id: 51, nonce };
        let answers: Vec<Answer> = (0..100).map(|n| s.handle_request(t0, &req(n))).collect();
        assert_eq!(answers.iter().filter(|a| **a == Answer::Full).count(), 100 - MAX_REQUESTERS);
        // A repeated request of one already waiting is not refused.
        assert_ne!(s.handle_request(t0, &req(0)), Answer::Full);
        s.start(t0, vec![vec![1]], 1);
        assert_eq!((0..100).map(|n| s.handle_request(t0, &req(1000 + n))).filter(|a| *a == Answer::Full).count(), 100);
        assert_eq!(s.poll_records(t0), Some(vec![1]));
        assert_eq!(s.poll_records(t0 + ms(2)), None);
        let sent: Vec<Control> = std::iter::from_fn(|| s.poll_control()).collect();
        let started = sent.iter().filter(|c| matches!(c, Control::Started { .. })).count();
        let done = sent.iter().filter(|c| matches!(c, Control::Done { .. })).count();
        assert_eq!((started, done), (MAX_REQUESTERS, MAX_REQUESTERS));
        // After it, in the cooldown, MAX_REQUESTERS wait for the next one again.
        let waiting =
            (0..100).map(|n| s.handle_request(t0 + ms(3), &req(2000 + n))).filter(|a| *a == Answer::Joined).count();
        assert_eq!(waiting, MAX_REQUESTERS);
    }
}
