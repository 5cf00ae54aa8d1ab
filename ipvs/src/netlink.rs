//! The IPVS generic-netlink client (family "IPVS", version 1). Every command needs
//! CAP_NET_ADMIN.
//!
//! There is no batch command, but nothing forces one round trip per change either: the
//! kernel handles every message of a send in order (netlink_rcv_skb) and answers only
//! failures unless asked for an acknowledgement. So [`Ipvs::apply_all`] writes many changes
//! per send, asks for an acknowledgement of the last one only, and matches the failures it
//! reads back to their changes by sequence number.
//!
//! The kernel handles a request in the sender's own `send` (af_netlink.c,
//! netlink_unicast_kernel calls the family's input synchronously), so every answer to a
//! request that is not a dump is queued before `send` returns: the client reads those
//! without waiting, and a request the kernel did not answer is reported, not waited for.
//! That happens: a handler returning EINTR gets no answer at all (netlink_rcv_skb takes EINTR
//! for "dump in progress"), and IPVS_CMD_DEL_DAEMON returns it when the sync thread it stops
//! had not run yet (ip_vs_sync.c, stop_sync_thread returns kthread_stop's -EINTR), as after
//! a start a few milliseconds earlier. A dump's later parts are made as the reader reads
//! (netlink_recvmsg), so a dump is read waiting.

use crate::attrs::{self, cmd, top};
use crate::diff::Change;
use crate::model::{Dest, DestKey, ServiceKey, Table};
use crate::stats::{DestCounters, Stats, TableStats};
use crate::sync_daemon::{SyncDaemon, SyncState};
use crate::timeouts::Timeouts;
use neli::{
    FromBytesWithInput, ToBytes,
    consts::{
        nl::{NlmF, Nlmsg},
        socket::{Msg as MsgFlags, NlFamily},
    },
    err::RouterError,
    genl::{AttrTypeBuilder, Genlmsghdr, GenlmsghdrBuilder, Nlattr, NlattrBuilder},
    nl::{NlPayload, Nlmsghdr, NlmsghdrBuilder},
    router::synchronous::NlRouter,
    socket::NlSocket,
    types::{Buffer, GenlBuffer, NlBuffer},
    utils::Groups,
};
use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Mutex;

/// IPVS generic-netlink protocol version.
const VERSION: u8 = 1;

/// A failed IPVS request: what was being done and the kernel's errno.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{op}: {detail}")]
pub struct IpvsError {
    /// What was being done, e.g. "add destination 10.0.0.2:80 to TCP 192.0.2.10:80".
    pub op: String,
    /// The kernel's errno, when it answered with one; EINTR (4), which the kernel never
    /// sends, when it sent no answer at all (see the module doc).
    pub errno: Option<i32>,
    /// The kernel's or the library's words.
    pub detail: String,
}

impl IpvsError {
    fn new(op: impl Into<String>, errno: Option<i32>, detail: impl Into<String>) -> Self {
        IpvsError { op: op.into(), errno, detail: detail.into() }
    }

    fn errno(op: impl Into<String>, errno: i32) -> Self {
        IpvsError::new(op, Some(errno), std::io::Error::from_raw_os_error(errno).to_string())
    }
}

/// An exchange's failure (the kernel's errno, or what went wrong locally) as an error of `op`.
fn failed(op: impl Into<String>, (errno, detail): (Option<i32>, String)) -> IpvsError {
    match errno {
        Some(e) if detail.is_empty() => IpvsError::errno(op, e),
        _ => IpvsError::new(op, errno, detail),
    }
}

/// The errno a request gets when the kernel sent no answer to it: its handler returned
/// EINTR (see the module doc).
const NO_ANSWER_ERRNO: i32 = 4;

/// The words of a request the kernel did not answer.
const NO_ANSWER: &str =
    "the kernel sent no answer (its handler returned EINTR, which netlink drops as for a dump in progress)";

/// errno values (asm-generic/errno-base.h).
const ENOENT: i32 = 2;
const ESRCH: i32 = 3;
const EEXIST: i32 = 17;

/// Most messages one send carries. Each failure comes back as its own datagram, charged
/// about a kilobyte against the receive buffer (212,992 bytes by default): 64 failures fit.
const BATCH_MESSAGES: usize = 64;
/// Most bytes one send carries (a netlink send must fit the socket's send buffer).
const BATCH_BYTES: usize = 32 * 1024;
/// Receive buffer: larger than the largest dump datagram the kernel builds (32 KiB).
const RECV_BUFFER: usize = 64 * 1024;

/// `ipvsadm --version`'s numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// major << 16 | minor << 8 | patch.
    pub version: u32,
    /// Connection hash table size.
    pub conn_tab_size: u32,
}

type Msg = Genlmsghdr<u8, u16>;
type Attrs = Vec<Nlattr<u16, Buffer>>;

/// The socket and its sequence counter; one request (or batch) at a time.
struct Conn {
    socket: NlSocket,
    seq: u32,
    buf: Vec<u8>,
}

/// A generic-netlink socket speaking IPVS, in the calling thread's network namespace.
/// Requests from several threads are serialised.
pub struct Ipvs {
    family: u16,
    conn: Mutex<Conn>,
}

fn nested(kind: u16, attrs: &[(u16, Vec<u8>)]) -> Result<Nlattr<u16, Buffer>, String> {
    let mut outer = NlattrBuilder::default()
        .nla_type(AttrTypeBuilder::default().nla_type(kind).nla_nested(true).build().map_err(|e| e.to_string())?)
        .nla_payload(Vec::<u8>::new())
        .build()
        .map_err(|e| e.to_string())?;
    for (t, bytes) in attrs {
        outer = outer.nest(&plain(*t, bytes)?).map_err(|e| e.to_string())?;
    }
    Ok(outer)
}

fn plain(kind: u16, bytes: &[u8]) -> Result<Nlattr<u16, Buffer>, String> {
    NlattrBuilder::default()
        .nla_type(AttrTypeBuilder::default().nla_type(kind).build().map_err(|e| e.to_string())?)
        .nla_payload(Buffer::from(bytes.to_vec()))
        .build()
        .map_err(|e| e.to_string())
}

/// What a change asks of the kernel: command, attributes, and the errno that means "already
/// so" (keepalived, check/ipvswrapper.c: EEXIST on add, ESRCH/ENOENT on delete).
fn request_of(change: &Change) -> Result<(u8, Attrs, Option<i32>), String> {
    let service = |k: &ServiceKey| nested(top::SERVICE, &attrs::service_identity(k));
    let dest = |k: &ServiceKey, dk: &DestKey, d| {
        Ok::<_, String>(vec![service(k)?, nested(top::DEST, &attrs::dest_attrs(dk, d))?])
    };
    Ok(match change {
        Change::AddService(k, s) => {
            (cmd::NEW_SERVICE, vec![nested(top::SERVICE, &attrs::service_full(k, s))?], Some(EEXIST))
        }
        Change::EditService(k, s) => (cmd::SET_SERVICE, vec![nested(top::SERVICE, &attrs::service_full(k, s))?], None),
        Change::DelService(k) => (cmd::DEL_SERVICE, vec![service(k)?], Some(ESRCH)),
        Change::AddDest(k, dk, d) => (cmd::NEW_DEST, dest(k, dk, Some(d))?, Some(EEXIST)),
        Change::EditDest(k, dk, d) => (cmd::SET_DEST, dest(k, dk, Some(d))?, None),
        Change::DelDest(k, dk) => (cmd::DEL_DEST, dest(k, dk, None)?, Some(ENOENT)),
    })
}

/// The kernel's refusal of a change, in words. An added or edited service refused with
/// ENOENT names a scheduler or persistence engine the kernel has no module for
/// (net/netfilter/ipvs/ip_vs_ctl.c, ip_vs_add_service / ip_vs_edit_service after
/// ip_vs_scheduler_get / ip_vs_pe_getbyname): say which, not "No such file or directory".
fn refusal(change: &Change, errno: i32) -> IpvsError {
    match change {
        Change::AddService(_, s) | Change::EditService(_, s) if errno == ENOENT => {
            let pe = s
                .pe_name
                .as_deref()
                .map(|pe| format!(" or persistence engine `{pe}` (ip_vs_pe_{pe})"))
                .unwrap_or_default();
            IpvsError::new(
                describe(change),
                Some(errno),
                format!("this kernel has no scheduler `{0}` (module ip_vs_{0}){pe}", s.scheduler),
            )
        }
        _ => IpvsError::errno(describe(change), errno),
    }
}

/// What a change does, in words, for errors.
fn describe(change: &Change) -> String {
    match change {
        Change::AddService(k, _) => format!("add service {k}"),
        Change::EditService(k, _) => format!("edit service {k}"),
        Change::DelService(k) => format!("delete service {k}"),
        Change::AddDest(k, dk, _) => format!("add destination {dk} to {k}"),
        Change::EditDest(k, dk, _) => format!("edit destination {dk} of {k}"),
        Change::DelDest(k, dk) => format!("delete destination {dk} of {k}"),
    }
}

/// One request message, as bytes.
fn encode(family: u16, command: u8, flags: NlmF, seq: u32, attrs: Attrs) -> Result<Vec<u8>, String> {
    let genl = GenlmsghdrBuilder::default()
        .cmd(command)
        .version(VERSION)
        .attrs(attrs.into_iter().collect::<GenlBuffer<u16, Buffer>>())
        .build()
        .map_err(|e| e.to_string())?;
    let msg = NlmsghdrBuilder::default()
        .nl_type(family)
        .nl_flags(flags | NlmF::REQUEST)
        .nl_seq(seq)
        .nl_pid(0)
        .nl_payload(NlPayload::Payload(genl))
        .build()
        .map_err(|e| e.to_string())?;
    let mut cursor = Cursor::new(Vec::new());
    msg.to_bytes(&mut cursor).map_err(|e| e.to_string())?;
    Ok(cursor.into_inner())
}

/// One reply datagram's messages, or why it could not be read.
fn parse(bytes: &[u8]) -> Result<Vec<Nlmsghdr<u16, Msg>>, String> {
    NlBuffer::<u16, Msg>::from_bytes_with_input(&mut Cursor::new(bytes), bytes.len())
        .map(|b| b.into_iter().collect())
        .map_err(|e| format!("unreadable reply: {e}"))
}

/// One destination read from a dump, with the service it belongs to.
type DestEntry = (ServiceKey, DestKey, crate::model::Dest, DestCounters);

/// Threads that read destinations in parallel, each over its own socket.
const DUMP_THREADS: usize = 2;
/// Fewer services than this are read over the client's own socket, without threads.
const PARALLEL_DUMP_FROM: usize = 256;

/// The destinations of each service in `keys` (GET_DEST, one dump per service), with their
/// counters when `with_stats` (otherwise left at zero, and not parsed).
fn dest_dumps(
    conn: &mut Conn,
    family: u16,
    keys: &[ServiceKey],
    with_stats: bool,
) -> Result<Vec<DestEntry>, IpvsError> {
    let mut out = Vec::with_capacity(keys.len() * 4);
    for key in keys {
        let op = || format!("list destinations of {key}");
        let svc = nested(top::SERVICE, &attrs::service_identity(key)).map_err(|e| IpvsError::new(op(), None, e))?;
        conn.exchange_each(family, cmd::GET_DEST, NlmF::DUMP, vec![svc], |m| {
            let h = m.attrs().get_attr_handle();
            let Ok(nested) = h.get_nested_attributes::<u16>(top::DEST) else { return };
            let get = |t: u16| nested.get_attribute(t).map(|a| a.nla_payload().as_ref().to_vec());
            let Some((dk, d)) = attrs::dest_from(&get, key.is_v6()) else { return };
            let counters = if with_stats {
                let n = |t| get(t).and_then(|b| attrs::u32_from(&b)).unwrap_or(0);
                DestCounters {
                    active: n(attrs::dst::ACTIVE_CONNS),
                    inactive: n(attrs::dst::INACT_CONNS),
                    persistent: n(attrs::dst::PERSIST_CONNS),
                    stats: get(attrs::dst::STATS64).map(|b| Stats::from_nested(&b)).unwrap_or_default(),
                }
            } else {
                DestCounters::default()
            };
            out.push((*key, dk, d, counters));
        })
        .map_err(|f| failed(op(), f))?;
    }
    Ok(out)
}

impl Conn {
    fn open() -> Result<Conn, IpvsError> {
        let op = "open a generic netlink socket";
        let socket = NlSocket::connect(NlFamily::Generic, None, Groups::empty())
            .map_err(|e| IpvsError::new(op, None, e.to_string()))?;
        socket.block().map_err(|e| IpvsError::new(op, None, e.to_string()))?;
        Ok(Conn { socket, seq: 0, buf: Vec::new() })
    }

    /// Reads one datagram of answers; `queued`: only what is already queued (`None` when
    /// nothing is), else waiting for it.
    fn receive(&mut self, queued: bool) -> Result<Option<Vec<Nlmsghdr<u16, Msg>>>, String> {
        self.buf.resize(RECV_BUFFER, 0);
        let flags = if queued { MsgFlags::DONTWAIT } else { MsgFlags::empty() };
        let n = match self.socket.recv(&mut self.buf[..], flags) {
            Ok((n, _)) => n,
            Err(e) if queued && e.kind() == std::io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        parse(self.buf.get(..n).unwrap_or_default()).map(Some)
    }

    /// Sends one request and gathers its replies: up to the acknowledgement, or up to
    /// NLMSG_DONE for a dump. A request that is not a dump and finds no answer queued fails
    /// with [`NO_ANSWER_ERRNO`] (see the module doc).
    fn exchange(
        &mut self,
        family: u16,
        command: u8,
        flags: NlmF,
        attrs: Attrs,
    ) -> Result<Vec<Msg>, (Option<i32>, String)> {
        let mut out = Vec::new();
        self.exchange_each(family, command, flags, attrs, |m| out.push(m.clone()))?;
        Ok(out)
    }

    /// As [`Self::exchange`], handing each reply to `each` as it is read: a dump of
    /// thousands of destinations is never held whole, nor copied.
    fn exchange_each(
        &mut self,
        family: u16,
        command: u8,
        flags: NlmF,
        attrs: Attrs,
        mut each: impl FnMut(&Msg),
    ) -> Result<(), (Option<i32>, String)> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let bytes = encode(family, command, flags | NlmF::ACK, seq, attrs).map_err(|e| (None, e))?;
        self.socket.send(&bytes, MsgFlags::empty()).map_err(|e| (None, e.to_string()))?;
        let queued = !flags.contains(NlmF::DUMP);
        loop {
            let Some(replies) = self.receive(queued).map_err(|e| (None, e))? else {
                return Err((Some(NO_ANSWER_ERRNO), NO_ANSWER.to_string()));
            };
            for m in replies {
                if *m.nl_seq() != seq {
                    continue; // a late answer to an earlier request
                }
                match m.nl_payload() {
                    NlPayload::Payload(p) => each(p),
                    NlPayload::Err(e) => return Err((Some(-*e.error()), String::new())),
                    NlPayload::Ack(_) => return Ok(()),
                    NlPayload::DumpExtAck(_) | NlPayload::Empty => {
                        if *m.nl_type() == u16::from(Nlmsg::Done) {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}

impl Ipvs {
    /// Connects and resolves the IPVS family (fails when the ip_vs module is not loaded).
    pub fn open() -> Result<Ipvs, IpvsError> {
        let op = "open the IPVS generic netlink family";
        let family = {
            // The router resolves the family; requests then go over a plain socket, without
            // the router's thread between tandem and the kernel.
            let (router, _) = NlRouter::connect(NlFamily::Generic, None, Groups::empty())
                .map_err(|e| IpvsError::new(op, None, e.to_string()))?;
            router.resolve_genl_family("IPVS").map_err(|e| match e {
                // The controller answers ENOENT for a family nobody registered.
                RouterError::Nlmsgerr(m) if -*m.error() == ENOENT => IpvsError::new(
                    op,
                    Some(ENOENT),
                    "IPVS is not available in this kernel (is the ip_vs module loaded? `modprobe ip_vs`)",
                ),
                RouterError::Nlmsgerr(m) => IpvsError::errno(op, -*m.error()),
                e => IpvsError::new(op, None, e.to_string()),
            })?
        };
        Ok(Ipvs { family, conn: Mutex::new(Conn::open()?) })
    }

    /// The client's own socket, for `op`.
    fn conn(&self, op: &str) -> Result<std::sync::MutexGuard<'_, Conn>, IpvsError> {
        self.conn.lock().map_err(|_| IpvsError::new(op, None, "socket poisoned by a panic"))
    }

    fn request(&self, command: u8, flags: NlmF, attrs: Attrs, op: &str) -> Result<Vec<Msg>, IpvsError> {
        let mut conn = self.conn(op)?;
        conn.exchange(self.family, command, flags, attrs).map_err(|f| failed(op, f))
    }

    /// IPVS_CMD_GET_INFO.
    pub fn info(&self) -> Result<Info, IpvsError> {
        let op = "read IPVS info";
        let replies = self.request(cmd::GET_INFO, NlmF::empty(), vec![], op)?;
        let reply = replies.first().ok_or_else(|| IpvsError::new(op, None, "no reply"))?;
        let h = reply.attrs().get_attr_handle();
        let get = |t| h.get_attribute(t).and_then(|a| attrs::u32_from(a.nla_payload().as_ref()));
        Ok(Info {
            version: get(attrs::info::VERSION).unwrap_or(0),
            conn_tab_size: get(attrs::info::CONN_TAB_SIZE).unwrap_or(0),
        })
    }

    /// Every service and destination in the kernel (GET_SERVICE, then GET_DEST per service).
    pub fn dump(&self) -> Result<Table, IpvsError> {
        self.read_table(false).map(|(t, _)| t)
    }

    /// Every service and destination with their counters.
    pub fn dump_with_stats(&self) -> Result<(Table, TableStats), IpvsError> {
        self.read_table(true)
    }

    /// The table, and its counters when `with_stats` (otherwise zero: parsing every
    /// destination's counters was half a dump's work, for a reconcile that ignores them).
    fn read_table(&self, with_stats: bool) -> Result<(Table, TableStats), IpvsError> {
        let op = "list IPVS services";
        let mut table = Table::default();
        let mut stats = TableStats::default();
        {
            let mut conn = self.conn(op)?;
            conn.exchange_each(self.family, cmd::GET_SERVICE, NlmF::DUMP, vec![], |m| {
                let h = m.attrs().get_attr_handle();
                let Ok(nested) = h.get_nested_attributes::<u16>(top::SERVICE) else { return };
                let get = |t: u16| nested.get_attribute(t).map(|a| a.nla_payload().as_ref().to_vec());
                if let Some((k, s)) = attrs::service_from(&get) {
                    table.services.insert(k, (s, Default::default()));
                    if with_stats {
                        let st = get(attrs::svc::STATS64).map(|b| Stats::from_nested(&b)).unwrap_or_default();
                        stats.services.insert(k, (st, Default::default()));
                    }
                }
            })
            .map_err(|f| failed(op, f))?;
        }
        // One GET_DEST dump per service, and a socket runs one dump at a time: with many
        // services the dumps are spread over a few sockets on threads of their own.
        let keys: Vec<ServiceKey> = table.services.keys().copied().collect();
        let found: Vec<Result<Vec<DestEntry>, IpvsError>> = if keys.len() < PARALLEL_DUMP_FROM {
            let mut conn = self.conn(op)?;
            vec![dest_dumps(&mut conn, self.family, &keys, with_stats)]
        } else {
            let per = keys.len().div_ceil(DUMP_THREADS);
            std::thread::scope(|s| {
                let family = self.family;
                let handles: Vec<_> = keys
                    .chunks(per)
                    .map(|chunk| {
                        s.spawn(move || Conn::open().and_then(|mut c| dest_dumps(&mut c, family, chunk, with_stats)))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(IpvsError::new(op, None, "a reader thread panicked"))))
                    .collect()
            })
        };
        for entries in found {
            for (key, dk, d, counters) in entries? {
                if let Some(entry) = table.services.get_mut(&key) {
                    entry.1.insert(dk, d);
                }
                if let Some(entry) = stats.services.get_mut(&key) {
                    entry.1.insert(dk, counters);
                }
            }
        }
        Ok((table, stats))
    }

    /// The destinations of one service (GET_DEST, without their counters): what
    /// `ipvsadm -Ln -t VIP:PORT` lists, in one dump of a few messages. Empty for a service the
    /// kernel does not have (its dump of one is empty, not an error).
    pub fn dests(&self, key: &ServiceKey) -> Result<BTreeMap<DestKey, Dest>, IpvsError> {
        let mut conn = self.conn("list destinations")?;
        let entries = dest_dumps(&mut conn, self.family, std::slice::from_ref(key), false)?;
        Ok(entries.into_iter().map(|(_, dk, d, _)| (dk, d)).collect())
    }

    /// Applies one change and waits for the kernel's answer.
    pub fn apply(&self, change: &Change) -> Result<(), IpvsError> {
        match self.apply_all(std::slice::from_ref(change))?.pop() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    /// Applies changes in order, many per send. Returns the changes the kernel refused (by
    /// index, with its errno); every other change was applied. "Already so" answers count
    /// as applied. An `Err` means the socket failed and the outcome of the changes from the
    /// failing batch on is unknown: re-read the table.
    pub fn apply_all(&self, changes: &[Change]) -> Result<Vec<(usize, IpvsError)>, IpvsError> {
        let op = "apply IPVS changes";
        let fail = |detail: String| IpvsError::new(op, None, detail);
        let mut conn = self.conn(op)?;
        let mut refused = Vec::new();
        let mut start = 0;
        while start < changes.len() {
            // One batch: as many messages as fit, the last one asking for an acknowledgement.
            let mut parts: Vec<(Vec<u8>, u32, usize, Option<i32>)> = Vec::new();
            let mut size = 0;
            for (i, change) in changes.iter().enumerate().skip(start).take(BATCH_MESSAGES) {
                let (command, attrs, tolerated) = request_of(change).map_err(fail)?;
                let seq = conn.seq.wrapping_add(1 + parts.len() as u32);
                let bytes = encode(self.family, command, NlmF::empty(), seq, attrs).map_err(fail)?;
                if size + bytes.len() > BATCH_BYTES && !parts.is_empty() {
                    break;
                }
                size += bytes.len();
                parts.push((bytes, seq, i, tolerated));
            }
            let Some(last) = parts.last_mut() else { break };
            let (command, attrs, _) = request_of(&changes[last.2]).map_err(fail)?;
            last.0 = encode(self.family, command, NlmF::ACK, last.1, attrs).map_err(fail)?;
            let last_seq = last.1;
            conn.seq = last_seq;
            let bytes: Vec<u8> = parts.iter().flat_map(|p| p.0.iter().copied()).collect();
            conn.socket.send(&bytes, MsgFlags::empty()).map_err(|e| fail(e.to_string()))?;
            'replies: loop {
                // Answered in the send (see the module doc): a batch without its last answer
                // is an error, its outcome unknown.
                let Some(replies) = conn.receive(true).map_err(fail)? else {
                    return Err(IpvsError::new(op, Some(NO_ANSWER_ERRNO), NO_ANSWER));
                };
                for m in replies {
                    let seq = *m.nl_seq();
                    let errno = match m.nl_payload() {
                        NlPayload::Err(e) => Some(-*e.error()),
                        _ => None,
                    };
                    if let (Some(errno), Some((_, _, index, tolerated))) = (errno, parts.iter().find(|p| p.1 == seq)) {
                        let (index, tolerated) = (*index, *tolerated);
                        if tolerated != Some(errno) {
                            refused.push((index, refusal(&changes[index], errno)));
                        }
                    }
                    if seq == last_seq {
                        break 'replies;
                    }
                }
            }
            start += parts.len();
        }
        Ok(refused)
    }

    /// The connection timeouts (GET_CONFIG).
    pub fn timeouts(&self) -> Result<Timeouts, IpvsError> {
        let op = "read IPVS timeouts";
        let replies = self.request(cmd::GET_CONFIG, NlmF::empty(), vec![], op)?;
        let reply = replies.first().ok_or_else(|| IpvsError::new(op, None, "no reply"))?;
        let h = reply.attrs().get_attr_handle();
        Ok(Timeouts::from_attrs(&|t| h.get_attribute(t).map(|a| a.nla_payload().as_ref().to_vec())))
    }

    /// Sets the connection timeouts (SET_CONFIG); a zero leaves that one unchanged.
    pub fn set_timeouts(&self, t: &Timeouts) -> Result<(), IpvsError> {
        let op = format!("set IPVS timeouts tcp {} tcpfin {} udp {}", t.tcp, t.tcp_fin, t.udp);
        let attrs = t.attrs().iter().map(|(k, v)| plain(*k, v)).collect::<Result<Attrs, _>>();
        let attrs = attrs.map_err(|e| IpvsError::new(&op, None, e))?;
        self.request(cmd::SET_CONFIG, NlmF::empty(), attrs, &op).map(|_| ())
    }

    /// The running sync daemons (GET_DAEMON).
    pub fn sync_daemons(&self) -> Result<Vec<SyncDaemon>, IpvsError> {
        let op = "list IPVS sync daemons";
        let mut out = Vec::new();
        for m in self.request(cmd::GET_DAEMON, NlmF::DUMP, vec![], op)? {
            let h = m.attrs().get_attr_handle();
            let Ok(nested) = h.get_nested_attributes::<u16>(top::DAEMON) else { continue };
            if let Some(d) =
                SyncDaemon::from_attrs(&|t| nested.get_attribute(t).map(|a| a.nla_payload().as_ref().to_vec()))
            {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Starts a sync daemon (NEW_DAEMON). EEXIST when one in that state already runs.
    pub fn start_sync_daemon(&self, d: &SyncDaemon) -> Result<(), IpvsError> {
        let op = format!("start the IPVS sync {:?} daemon on {} (sync id {})", d.state, d.interface, d.sync_id);
        let attr = nested(top::DAEMON, &d.attrs()).map_err(|e| IpvsError::new(&op, None, e))?;
        self.request(cmd::NEW_DAEMON, NlmF::empty(), vec![attr], &op).map(|_| ())
    }

    /// Stops the sync daemon in `state` (DEL_DAEMON). ESRCH when none runs.
    ///
    /// A daemon stopped before its thread first ran (a start a few milliseconds earlier)
    /// stops without an answer from the kernel (see the module doc); the daemons the kernel
    /// then lists say whether it stopped.
    pub fn stop_sync_daemon(&self, state: SyncState) -> Result<(), IpvsError> {
        let op = format!("stop the IPVS sync {state:?} daemon");
        let attr = nested(top::DAEMON, &[(attrs::daemon::STATE, state.code().to_ne_bytes().to_vec())])
            .map_err(|e| IpvsError::new(&op, None, e))?;
        match self.request(cmd::DEL_DAEMON, NlmF::empty(), vec![attr], &op) {
            Err(e) if e.errno == Some(NO_ANSWER_ERRNO) => {
                if self.sync_daemons()?.iter().any(|d| d.state == state) {
                    Err(e)
                } else {
                    Ok(())
                }
            }
            other => other.map(|_| ()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Service, ServiceFlags, proto};

    fn service(scheduler: &str, pe: Option<&str>) -> Service {
        Service {
            scheduler: scheduler.into(),
            flags: ServiceFlags(0),
            timeout: 0,
            netmask: u32::MAX,
            pe_name: pe.map(String::from),
        }
    }

    #[test]
    fn a_service_refused_with_enoent_names_the_missing_scheduler() {
        let k = ServiceKey::Addr { protocol: proto::TCP, addr: [192, 0, 2, 21].into(), port: 1014 };
        let e = refusal(&Change::AddService(k, service("twos", None)), ENOENT);
        assert_eq!(
            e.to_string(),
            "add service TCP 192.0.2.21:1014: this kernel has no scheduler `twos` (module ip_vs_twos)"
        );
        assert_eq!(e.errno, Some(ENOENT));
        let e = refusal(&Change::EditService(k, service("rr", Some("sip"))), ENOENT);
        assert!(
            e.to_string().ends_with("no scheduler `rr` (module ip_vs_rr) or persistence engine `sip` (ip_vs_pe_sip)"),
            "{e}"
        );
        // Any other refusal keeps the kernel's words.
        let e = refusal(&Change::AddService(k, service("rr", None)), 22);
        assert_eq!(e.to_string(), "add service TCP 192.0.2.21:1014: Invalid argument (os error 22)");
    }
}
