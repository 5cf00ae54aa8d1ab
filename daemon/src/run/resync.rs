//! Bulk resync on the wire: the I/O around tandem-sync's [`Catchup`] and [`Sender`].
//!
//! With `lvs_sync_daemon` configured, tandem keeps a UDP socket on the sync interface, joined
//! to the sync group, on the sync port + 1 (8849 by default). Each time this director's
//! kernel backup daemon starts, it multicasts a request there until a master answers (or
//! five requests go unanswered: no master). The director whose master daemon runs answers:
//! it reads its table (/proc/net/ip_vs_conn of its namespace), takes each entry's forwarding
//! method from the IPVS table tandem keeps, packs the records in the kernel's v1 format and
//! sends them, paced, to the sync group and port, where the requester's kernel backup daemon
//! takes them (it accepts any sender there); then it says it is done, and the requester logs
//! that it caught up. The exchange is described in tandem-sync's `resync` module.
//!
//! tandem also listens on the kernel's group and port beside the kernel's backup daemon (both
//! sockets take every datagram) and counts the records it hears; a master says how large its
//! table is every 2 s, and a backup compares that with its own: how far it is behind.
//!
//! Warm preemption (tandem's own, `lvs_sync_warm_preempt`): a director that starts holds
//! preemption of the instance `lvs_sync_daemon` follows until it has caught up, no master
//! answered, or the wait's bound (60 s unless configured) has passed; then it preempts as
//! usual, and says how it ended. A takeover because the master died never waits.

use super::ipvs::Target;
use super::snapshot::{BackupSnapshot, ResyncSnapshot, SyncSnapshot};
use super::syncd::SyncStatus;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tandem_ipvs::{DestKey, ServiceKey, Table};
use tandem_sync::resync::{Answer, Catchup, Control, Lag, Outcome, Sender, TABLE_EVERY};
use tandem_sync::table::{DestInfo, records};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::{debug, info, warn};

/// Between two datagrams of a resync: 4,000 datagrams (about 160,000 records) a second.
const PACE: Duration = Duration::from_micros(250);

/// How often a resync socket that could not be opened is tried again.
const REOPEN_EVERY: Duration = Duration::from_secs(5);

/// How long a starting director waits for the master's table before it preempts, unless
/// `lvs_sync_warm_preempt` says otherwise.
pub const WARM_WAIT: Duration = Duration::from_secs(60);

/// The wait of warm preemption for a configuration: none without an `lvs_sync_daemon` that
/// follows an instance, or with `lvs_sync_warm_preempt 0`.
pub fn warm_wait(c: &tandem_conf::Config) -> Option<Duration> {
    c.global_defs.lvs_sync_daemon.as_ref()?.instance.as_ref()?;
    match c.global_defs.lvs_sync_warm_preempt {
        None => Some(WARM_WAIT),
        Some(s) => Duration::try_from_secs_f64(s).ok().filter(|d| !d.is_zero()),
    }
}

/// A preemption held until this director has the master's table.
pub struct Warm {
    /// The unit's hold: true holds, false lets go.
    pub hold: watch::Sender<bool>,
    /// When it is let go whatever happens.
    pub until: Instant,
}

impl Warm {
    /// Lets go, saying why and what the table holds now.
    async fn release(self, why: &str, view: &mut SyncSnapshot) {
        let have = tokio::task::spawn_blocking(table_size).await.ok().flatten();
        self.let_go(why, have, view);
    }

    /// Lets go, saying why and what the table holds (`have`, counted by the caller).
    fn let_go(self, why: &str, have: Option<usize>, view: &mut SyncSnapshot) {
        let table = have.map_or_else(|| "unknown".to_string(), |n| n.to_string());
        info!(%table, "warm preemption: {why}; this director may preempt now");
        view.warm_preemption = Some(format!("let go: {why} (table {table})"));
        let _ = self.hold.send(false);
    }
}

/// Where the kernel's daemons and tandem's resync talk.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    interface: String,
    group: IpAddr,
    port: u16,
    ttl: u8,
    maxlen: usize,
}

impl Endpoint {
    fn of(c: &tandem_conf::LvsSyncDaemon) -> Endpoint {
        Endpoint {
            interface: c.interface.clone(),
            group: c.group.unwrap_or(IpAddr::V4(tandem_sync::header::GROUP)),
            port: c.port.unwrap_or(tandem_sync::header::PORT),
            ttl: c.ttl.unwrap_or(1),
            maxlen: c.maxlen.map_or(tandem_sync::header::DEFAULT_MAXLEN, usize::from),
        }
    }

    /// The records' destination: the kernel's daemons.
    fn records_to(&self) -> SocketAddr {
        SocketAddr::new(self.group, self.port)
    }

    /// The control messages' destination.
    fn control_to(&self) -> SocketAddr {
        SocketAddr::new(self.group, self.port.wrapping_add(1))
    }

    /// The control socket and the listener on the kernel's port.
    fn open(&self) -> Result<Sockets, String> {
        Ok(Sockets { control: self.open_on(self.control_to().port())?, records: self.open_on(self.port)? })
    }

    /// A socket on the interface, joined to the group, bound to `port` with SO_REUSEADDR:
    /// the kernel's backup daemon binds its port with it too, and a multicast datagram goes to
    /// every socket bound to its port.
    fn open_on(&self, port: u16) -> Result<UdpSocket, String> {
        let ifindex = tandem_vrrp::linux::addr::ifindex(&self.interface).map_err(|e| e.to_string())?;
        let what = |e: std::io::Error| format!("resync socket on {}: {e}", self.interface);
        let domain = if self.group.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
        let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).map_err(what)?;
        s.set_reuse_address(true).map_err(what)?;
        // Bound to the interface: what it sends to the group leaves there (the bound device is
        // the multicast output interface), and it hears only that interface.
        s.bind_device(Some(self.interface.as_bytes())).map_err(what)?;
        match self.group {
            IpAddr::V4(g) => {
                s.bind(&SockAddr::from(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port))).map_err(what)?;
                s.join_multicast_v4_n(&g, &socket2::InterfaceIndexOrAddress::Index(ifindex)).map_err(what)?;
                s.set_multicast_ttl_v4(u32::from(self.ttl)).map_err(what)?;
                s.set_multicast_loop_v4(false).map_err(what)?;
            }
            IpAddr::V6(g) => {
                s.set_only_v6(true).map_err(what)?;
                s.bind(&SockAddr::from(SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), port)))
                    .map_err(what)?;
                s.join_multicast_v6(&g, ifindex).map_err(what)?;
                s.set_multicast_if_v6(ifindex).map_err(what)?;
                s.set_multicast_hops_v6(u32::from(self.ttl)).map_err(what)?;
                s.set_multicast_loop_v6(false).map_err(what)?;
            }
        }
        s.set_nonblocking(true).map_err(what)?;
        UdpSocket::from_std(std::net::UdpSocket::from(s)).map_err(what)
    }
}

/// The resync's sockets.
struct Sockets {
    /// On the sync port + 1: requests, Started, Done, Table; sends the records too.
    control: UdpSocket,
    /// On the kernel's sync port: hears what the backup daemon hears.
    records: UdpSocket,
}

/// Counts a datagram heard on the kernel's port as a kernel backup with `sync_id` would take
/// it.
fn count_heard(heard: &mut super::snapshot::Heard, datagram: &[u8], sync_id: u8) {
    heard.datagrams += 1;
    match tandem_sync::Message::parse(datagram) {
        Ok(m) if sync_id == 0 || m.sync_id == sync_id => heard.records += m.records.len() as u64,
        Ok(_) | Err(_) => heard.dropped += 1,
    }
}

/// The destinations of the fwmark services, by family and destination: a connection of such
/// a service shows the VIP it was sent to in /proc, not the mark. Built once per resync (a
/// scan of every service for each of 100,000 entries would not be).
fn fwmark_dests(t: &Table) -> HashMap<(bool, DestKey), DestInfo> {
    let mut out = HashMap::new();
    for (k, (_, dests)) in &t.services {
        if let ServiceKey::Fwmark { v6, mark } = k {
            for (dk, d) in dests {
                out.entry((*v6, *dk)).or_insert(DestInfo { forward: d.forward.code(), fwmark: *mark });
            }
        }
    }
    out
}

/// What tandem's model says of a /proc entry's destination: the forwarding method of the
/// destination in its service (found by address and port, by address with persistence on
/// every port, or as a fwmark service holding the destination).
fn dest_info(t: &Table, by_mark: &HashMap<(bool, DestKey), DestInfo>, e: &tandem_sync::ConnEntry) -> Option<DestInfo> {
    let dk = DestKey { addr: e.daddr, port: e.dport };
    let forward =
        |dests: &std::collections::BTreeMap<DestKey, tandem_ipvs::Dest>| dests.get(&dk).map(|d| d.forward.code());
    if let Some(mark) = e.fwmark() {
        let (_, dests) = t.services.get(&ServiceKey::Fwmark { v6: e.client.is_ipv6(), mark })?;
        return forward(dests).map(|f| DestInfo { forward: f, fwmark: mark });
    }
    for port in [e.vport, 0] {
        let key = ServiceKey::Addr { protocol: u16::from(e.protocol), addr: e.vaddr, port };
        if let Some(f) = t.services.get(&key).and_then(|(_, d)| forward(d)) {
            return Some(DestInfo { forward: f, fwmark: 0 });
        }
    }
    by_mark.get(&(e.client.is_ipv6(), dk)).copied()
}

/// Connections (and persistence templates) bound to this namespace's destinations, as the
/// kernel counts them per destination (ActiveConn + InActConn + PersistConn): one netlink dump
/// instead of a read of /proc/net/ip_vs_conn, which costs the kernel a walk of its hash table
/// from the start for every page (quadratic in the table's size).
/// `None` when the table cannot be read (no IPVS, no permission): unknown, not empty.
fn table_size() -> Option<usize> {
    let (_, stats) = tandem_ipvs::Ipvs::open().and_then(|i| i.dump_with_stats()).ok()?;
    Some(
        stats
            .services
            .values()
            .flat_map(|(_, dests)| dests.values())
            .map(|d| d.active as usize + d.inactive as usize + d.persistent as usize)
            .sum(),
    )
}

/// At most this many reads of /proc/net/ip_vs_conn make one snapshot of the table.
const READS: usize = 4;

/// Reads this director's table and packs it: (datagrams, records).
fn pack_table(services: &Table, sync_id: u8, maxlen: usize) -> Result<(Vec<Vec<u8>>, usize), String> {
    // One read of a table whose entries expire meanwhile misses some (see ConnTable::merge; the CI lost a connection at
    // a return this way). Read again until a read finds nothing the others missed, at most
    // READS times.
    let read = || {
        std::fs::read_to_string("/proc/net/ip_vs_conn")
            .map(|text| tandem_sync::parse_conn_table(&text))
            .map_err(|e| format!("read /proc/net/ip_vs_conn: {e}"))
    };
    let mut table = read()?;
    for _ in 1..READS {
        if table.merge(read()?) == 0 {
            break;
        }
    }
    let by_mark = fwmark_dests(services);
    let (recs, skipped) = records(&table.entries, |e| dest_info(services, &by_mark, e));
    if skipped.total() > 0 || table.malformed > 0 {
        warn!(
            unknown_service = skipped.unknown_service,
            unknown_state = skipped.unknown_state,
            engine_data = skipped.engine_data,
            expired = skipped.expired,
            malformed = table.malformed,
            "resync: some connections are not sent"
        );
    }
    let datagrams = tandem_sync::pack(sync_id, &recs, maxlen).map_err(|e| e.to_string())?;
    Ok((datagrams, recs.len()))
}

/// Refused resync requests are logged at most this often.
const REFUSED_SAY_EVERY: Duration = Duration::from_secs(60);

/// Logs a refused request (the master's lists are full), at most every
/// [`REFUSED_SAY_EVERY`]: `said` is when it last did.
fn say_refused(said: &mut Option<Instant>, from: SocketAddr, nonce: u64) {
    let now = Instant::now();
    if said.is_some_and(|t| now.duration_since(t) < REFUSED_SAY_EVERY) {
        return;
    }
    *said = Some(now);
    warn!(
        %from,
        nonce,
        max = tandem_sync::resync::MAX_REQUESTERS,
        "resync: request refused, as many requesters already wait (a flood on the sync link?)"
    );
}

/// How long a backup counts as there after it last said so (three of its messages).
const BACKUP_HEARD_FOR: Duration = Duration::from_secs(6);

/// The followed instance's state (as [`super::snapshot::state_code`] numbers it) and
/// effective priority, as its unit published them.
fn followed_state(instances: &super::units::Instances, plan: Option<&tandem_conf::LvsSyncDaemon>) -> (u8, u8) {
    let Some(name) = plan.and_then(|p| p.instance.as_ref()) else { return (1, 0) };
    super::units::find(instances, name)
        .map_or((0, 0), |i| (super::snapshot::state_code(&i.state), i.effective_priority))
}

/// The backups heard, as status shows them: by address.
fn backups_view(backups: &HashMap<IpAddr, (Instant, BackupSnapshot)>) -> Vec<BackupSnapshot> {
    let mut v: Vec<BackupSnapshot> = backups.values().map(|(_, b)| b.clone()).collect();
    v.sort_by_key(|b| b.address);
    v
}

/// A random nonce for a catch-up.
fn nonce() -> u64 {
    tandem_checker::probe::random_u64()
}

/// Runs the resync until `stop`: `status` says what the sync daemons run, `services` is the
/// IPVS table tandem keeps (for the forwarding methods).
pub async fn run(
    mut status: watch::Receiver<SyncStatus>,
    instances: super::units::Instances,
    services: watch::Receiver<Arc<Target>>,
    mut stop: watch::Receiver<bool>,
    mut warm: Option<Warm>,
    seen: watch::Sender<SyncSnapshot>,
) -> Result<(), String> {
    let mut view =
        SyncSnapshot { warm_preemption: warm.as_ref().map(|_| "held".to_string()), ..SyncSnapshot::default() };
    let mut socket: Option<(Endpoint, Sockets)> = None;
    let mut catchup: Option<Catchup> = None;
    let mut sender: Option<Sender> = None;
    // The catch-up is asked once per run, when the first backup daemon has started.
    let mut asked = false;
    let mut buf = vec![0u8; 2048];
    let mut heard_buf = vec![0u8; 65_536];
    let mut lag = Lag::default();
    // When a refused request was last logged.
    let mut refused_said: Option<Instant> = None;
    let mut next_table = Instant::now();
    // Backups heard (address -> when, what they said).
    let mut backups: HashMap<IpAddr, (Instant, BackupSnapshot)> = HashMap::new();
    loop {
        let now_status = status.borrow_and_update().clone();
        view.interface = now_status.plan.as_ref().map(|p| p.interface.clone());
        view.sync_id = now_status.sync_id;
        view.daemons = match &now_status.plan {
            None => Vec::new(),
            Some(p) if p.instance.is_none() => vec!["master", "backup"],
            Some(_) if now_status.master => vec!["master"],
            Some(_) => vec!["backup"],
        };
        match &now_status.plan {
            None => {
                socket = None;
                catchup = None;
                sender = None;
            }
            Some(plan) => {
                let endpoint = Endpoint::of(plan);
                if socket.as_ref().is_none_or(|(e, _)| *e != endpoint) {
                    socket = match endpoint.open() {
                        Ok(s) => {
                            debug!(
                                interface = %endpoint.interface,
                                port = endpoint.control_to().port(),
                                "resync listening; counting the sync traffic on port {}",
                                endpoint.port
                            );
                            Some((endpoint, s))
                        }
                        Err(e) => {
                            // The interface may not be there yet: try again shortly.
                            warn!(error = %e, "resync unavailable for now; trying again in 5 s");
                            None
                        }
                    };
                }
                if now_status.backup_started && !asked {
                    asked = true;
                    info!(
                        sync_id = now_status.sync_id,
                        "resync: the backup daemon started; asking the master for its table"
                    );
                    catchup = Some(Catchup::new(Instant::now(), now_status.sync_id, nonce()));
                }
                if now_status.master {
                    if let Some(w) = warm.take() {
                        w.release("this director is master already", &mut view).await;
                    }
                }
                sender = match (now_status.master, sender.take()) {
                    (true, Some(s)) => Some(s),
                    (true, None) => Some(Sender::new(now_status.sync_id, PACE)),
                    (false, _) => None,
                };
            }
        }
        // Work until the status changes (or, without a socket, until it is time to try again).
        let reopen_at = (socket.is_none() && now_status.plan.is_some()).then(|| Instant::now() + REOPEN_EVERY);
        loop {
            view.catching_up = catchup.is_some();
            super::publish(&seen, &view);
            let now = Instant::now();
            if let Some((e, sockets)) = &socket {
                let s = &sockets.control;
                if now >= next_table {
                    next_table = now + TABLE_EVERY;
                    let have = tokio::task::spawn_blocking(table_size).await.ok().flatten().map(|n| n as u64);
                    view.table = have;
                    if let Some(have) = have.filter(|_| now_status.master) {
                        let said = Control::Table { sync_id: now_status.sync_id, connections: have };
                        send(s, &said.emit(), e.control_to()).await;
                        (view.master_table, view.behind) = (None, None);
                    } else if let Some(have) = have {
                        lag.own(have);
                        (view.master_table, view.behind) = (lag.master(now), lag.behind(now));
                        let (state, priority) = followed_state(&instances, now_status.plan.as_ref());
                        let said = Control::Backup { sync_id: now_status.sync_id, connections: have, state, priority };
                        send(s, &said.emit(), e.control_to()).await;
                    }
                    backups.retain(|_, (at, _)| now.duration_since(*at) < BACKUP_HEARD_FOR);
                    view.backups = backups_view(&backups);
                }
                if let Some(c) = catchup.as_mut() {
                    if let Some(req) = c.poll_transmit(now) {
                        send(s, &req.emit(), e.control_to()).await;
                    }
                    match c.outcome() {
                        Some(Outcome::NoMaster) => {
                            info!("resync: no master answered; nothing to catch up with");
                            catchup = None;
                            if let Some(w) = warm.take() {
                                w.release("no master answered the resync request", &mut view).await;
                            }
                        }
                        Some(Outcome::Unfinished) => {
                            warn!("resync: the master started sending its table but never said it was done");
                            catchup = None;
                            if let Some(w) = warm.take() {
                                w.release("the master's resync did not finish", &mut view).await;
                            }
                        }
                        _ => {}
                    }
                }
                if let Some(snd) = sender.as_mut() {
                    if snd.wants_start(now) {
                        resync_now(snd, s, e, &services, now_status.sync_id).await;
                    }
                    while let Some(d) = snd.poll_records(Instant::now()) {
                        send(s, &d, e.records_to()).await;
                    }
                    while let Some(done) = snd.poll_control() {
                        if let Control::Done { records, datagrams, .. } = done {
                            info!(records, datagrams, "resync: table sent");
                            let ms = snd.began_at().map_or(0, |t| t.elapsed().as_millis() as u64);
                            view.last_sent = Some(ResyncSnapshot::now(records, None, ms));
                            view.resync_records_sent += u64::from(records);
                        }
                        send(s, &done.emit(), e.control_to()).await;
                    }
                }
            }
            if warm.as_ref().is_some_and(|w| w.until <= Instant::now()) {
                if let Some(w) = warm.take() {
                    let why =
                        if catchup.is_some() { "the master's table did not come in time" } else { "waited its bound" };
                    warn!("warm preemption: {why}");
                    w.release(why, &mut view).await;
                }
            }
            let deadline = [
                catchup.as_ref().and_then(Catchup::poll_timeout),
                sender.as_ref().and_then(Sender::poll_timeout),
                warm.as_ref().map(|w| w.until),
                socket.as_ref().map(|_| next_table),
                reopen_at,
            ]
            .into_iter()
            .flatten()
            .min();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                    None => std::future::pending().await,
                }
            };
            let recv = async {
                match &socket {
                    Some((_, s)) => s.control.recv_from(&mut buf).await,
                    None => std::future::pending().await,
                }
            };
            let hear = async {
                match &socket {
                    Some((_, s)) => s.records.recv(&mut heard_buf).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = hear => match r {
                    Ok(n) => {
                        if let Some(bytes) = heard_buf.get(..n) {
                            count_heard(&mut view.heard, bytes, now_status.sync_id);
                        }
                    }
                    Err(e) => {
                        warn!(error = %e, "sync listener: receive failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                r = recv => match r {
                    Ok((n, from)) => {
                        let Some(bytes) = buf.get(..n) else { continue };
                        match Control::parse(bytes) {
                            Ok(req @ Control::Request { nonce, .. }) => {
                                if let Some(snd) = sender.as_mut() {
                                    match snd.handle_request(Instant::now(), &req) {
                                        Answer::Start => {
                                            info!(%from, nonce, "resync: a backup asks for the table");
                                            if let Some((e, s)) = &socket {
                                                resync_now(snd, &s.control, e, &services, now_status.sync_id).await;
                                            }
                                        }
                                        Answer::Joined => debug!(%from, nonce, "resync: request joins the resync under way"),
                                        Answer::NotOurs => {}
                                        Answer::Full => say_refused(&mut refused_said, from, nonce),
                                    }
                                }
                            }
                            Ok(started @ Control::Started { .. }) => {
                                if let Some(c) = catchup.as_mut() {
                                    if c.handle_control(Instant::now(), &started) {
                                        info!(%from, "resync: the master is sending its table");
                                    }
                                }
                            }
                            Ok(done @ Control::Done { .. }) => {
                                if let Some(c) = catchup.as_mut() {
                                    if c.handle_control(Instant::now(), &done) {
                                        let have = tokio::task::spawn_blocking(table_size).await.ok().flatten();
                                        if let Some(Outcome::CaughtUp { records, took }) = c.outcome() {
                                            info!(
                                                %from,
                                                records,
                                                ms = took.as_millis() as u64,
                                                table = ?have,
                                                "resync: caught up with the master's table"
                                            );
                                            view.last_received =
                                                Some(ResyncSnapshot::now(records, have, took.as_millis() as u64));
                                        }
                                        catchup = None;
                                        if let Some(w) = warm.take() {
                                            w.let_go("caught up with the master's table", have, &mut view);
                                        }
                                    }
                                }
                            }
                            Ok(Control::Table { sync_id, connections }) => {
                                let ours = sync_id == now_status.sync_id || sync_id == 0 || now_status.sync_id == 0;
                                if ours && !now_status.master {
                                    let now = Instant::now();
                                    lag.master_said(now, connections);
                                    (view.master_table, view.behind) = (lag.master(now), lag.behind(now));
                                }
                            }
                            Ok(Control::Backup { sync_id, connections, state, priority }) => {
                                let ours = sync_id == now_status.sync_id || sync_id == 0 || now_status.sync_id == 0;
                                // Only a master listens (a backup would hear its own).
                                if ours && now_status.master {
                                    let b = BackupSnapshot {
                                        address: from.ip(),
                                        state: super::snapshot::state_name(state).to_string(),
                                        priority,
                                        connections,
                                        heard_unix_ms: super::snapshot::now_unix_ms(),
                                    };
                                    if backups.insert(from.ip(), (Instant::now(), b)).is_none() {
                                        info!(%from, "a backup director says it is there");
                                    }
                                    view.backups = backups_view(&backups);
                                }
                            }
                            Err(e) => debug!(%from, error = %e, "resync: datagram ignored"),
                        }
                    }
                    Err(e) => {
                        warn!(error = %e, "resync: receive failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                () = sleep => {
                    if reopen_at.is_some_and(|t| t <= Instant::now()) {
                        break;
                    }
                }
                changed = status.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    break;
                }
                _ = stop.changed() => return Ok(()),
            }
        }
    }
}

/// Begins a resync: says so to the requesters at once, then reads and packs the table (which
/// takes a while for a large one) and hands it to the sender.
async fn resync_now(
    snd: &mut Sender,
    s: &UdpSocket,
    e: &Endpoint,
    services: &watch::Receiver<Arc<Target>>,
    sync_id: u8,
) {
    snd.begin(Instant::now());
    while let Some(c) = snd.poll_control() {
        send(s, &c.emit(), e.control_to()).await;
    }
    let table = Arc::clone(&*services.borrow());
    let (maxlen, now) = (e.maxlen, Instant::now());
    match tokio::task::spawn_blocking(move || pack_table(&table.desired, sync_id, maxlen)).await {
        Ok(Ok((datagrams, n))) => {
            info!(records = n, datagrams = datagrams.len(), "resync: sending the table");
            snd.start(now, datagrams, u32::try_from(n).unwrap_or(u32::MAX));
        }
        Ok(Err(e)) => {
            warn!(error = %e, "resync: cannot read the table; sending none");
            snd.start(now, Vec::new(), 0);
        }
        Err(e) => {
            warn!(error = %e, "resync: reading the table failed; sending none");
            snd.start(now, Vec::new(), 0);
        }
    }
}

async fn send(s: &UdpSocket, bytes: &[u8], to: SocketAddr) {
    if let Err(e) = s.send_to(bytes, to).await {
        warn!(%to, error = %e, "resync: send failed");
    }
}
