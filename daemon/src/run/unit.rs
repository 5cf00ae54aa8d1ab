//! The loop of one unit (sync group or lone instance): adverts in, timers, tracking changes,
//! and the state machine's actions performed on the kernel.

use super::build::{Member, Tracked, Unit};
use super::release::{self, Goodbye};
use super::snapshot::{AdvertCounters, InstanceSnapshot, TransitionSnapshot};
use super::{Event, ScriptResult};
use crate::script::Script;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tandem_vrrp::Advert;
use tandem_vrrp::instance::{Action, Instance, State, SyncGroup};
use tandem_vrrp::linux::addr::Addresses;
use tandem_vrrp::linux::frames::FrameSender;
use tandem_vrrp::linux::link::LinkState;
use tandem_vrrp::linux::socket::{Received, VrrpSocket};
use tandem_vrrp::track::{Effect, ScriptState, effect};
use tandem_vrrp::wire::{arp, ndisc, vrrp as codec};
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{debug, info, warn};

/// The I/O of one member.
struct Io {
    socket: std::sync::Arc<VrrpSocket>,
    /// A frame sender and the MAC of each interface the member's VIPs live on.
    frames: HashMap<u32, (FrameSender, [u8; 6])>,
    ipv6_router: bool,
}

/// Counters of one member's packets dropped before the state machine, by reason.
#[derive(Default)]
struct Drops(BTreeMap<&'static str, u64>);

impl Drops {
    fn count(&mut self, reason: &'static str) {
        *self.0.entry(reason).or_default() += 1;
    }
}

/// What a unit's instances look like before it starts: the first thing it publishes.
pub fn snapshots(unit: &Unit) -> Vec<InstanceSnapshot> {
    unit.members
        .iter()
        .map(|m| InstanceSnapshot {
            name: m.settings.name.clone(),
            sync_group: unit.is_group.then(|| unit.name.clone()),
            interface: m.ifname.clone(),
            vrid: m.settings.vrid,
            family: if m.v6 { "ipv6" } else { "ipv4" },
            version: match m.settings.version {
                tandem_vrrp::Version::V2 => 2,
                tandem_vrrp::Version::V3 => 3,
            },
            state: State::Init.as_str().to_string(),
            priority: m.settings.priority,
            effective_priority: m.settings.priority,
            master: None,
            virtual_addresses: m.vips.iter().map(|v| format!("{}/{} dev {}", v.address, v.prefix, v.ifname)).collect(),
            last_transition: None,
            counters: AdvertCounters::default(),
        })
        .collect()
}

/// Runs a unit until `stop` turns true; then stops it gracefully (priority 0, VIPs removed).
/// Its instances' state goes out on `status` after every change. While `hold` is true the
/// unit does not preempt a live master (warm preemption; it still replaces a dead one).
pub async fn run(
    unit: Unit,
    shared: &super::Shared,
    mut results: broadcast::Receiver<ScriptResult>,
    mut links: broadcast::Receiver<LinkState>,
    mut stop: watch::Receiver<bool>,
    status: watch::Sender<Vec<InstanceSnapshot>>,
    mut hold: Option<watch::Receiver<bool>>,
) -> Result<(), String> {
    let (scripts, initial_links, addrs, fifo) =
        (&shared.scripts, &shared.initial_links[..], &shared.addrs, shared.fifo.as_ref());
    let (tx, mut rx) = mpsc::channel::<Event>(256);
    let mut io = Vec::new();
    for (i, m) in unit.members.iter().enumerate() {
        let socket = VrrpSocket::open(&m.ifname, m.ifindex, m.v6, m.group, m.source)
            .map_err(|e| format!("{}: cannot open VRRP socket on {}: {e}", m.settings.name, m.ifname))?;
        let socket = std::sync::Arc::new(socket);
        let mut frames = HashMap::new();
        for v in &m.vips {
            if frames.contains_key(&v.ifindex) {
                continue;
            }
            let sender = FrameSender::open(v.ifindex)
                .map_err(|e| format!("{}: cannot open packet socket on {}: {e}", m.settings.name, v.ifname))?;
            let mac = initial_links.iter().find(|l| l.ifindex == v.ifindex).and_then(|l| l.mac).unwrap_or_default();
            frames.insert(v.ifindex, (sender, mac));
        }
        let ipv6_router = std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{}/forwarding", m.ifname))
            .is_ok_and(|s| s.trim() == "1");
        let reader = socket.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                match reader.recv().await {
                    Ok(p) => {
                        if tx.send(Event::Packet(i, p)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        warn!(error = %e, "VRRP receive failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        io.push(Io { socket, frames, ipv6_router });
    }
    drop(tx);

    let instances: Result<Vec<Instance>, String> = unit
        .members
        .iter()
        .map(|m| Instance::new(m.settings.clone()).map_err(|e| format!("{}: {e:?}", m.settings.name)))
        .collect();
    let mut group = SyncGroup::new(unit.name.clone(), instances?);
    let mut track = Tracking::new(&unit, scripts, initial_links);
    let mut drops: Vec<Drops> = unit.members.iter().map(|_| Drops::default()).collect();
    // Faults and adjustments known before start apply from the start.
    retrack(&unit, &track, &mut group);
    if let Some(h) = hold.as_mut() {
        if *h.borrow_and_update() {
            info!(unit = %unit.name, "preemption held until this director has the master's connection table");
            group.hold_preemption(true);
        }
    }
    group.start(Instant::now());
    let mut group_state = group.state();
    let n = unit.members.len();
    let mut actions = Performer { unit: &unit, io: &io, addrs, fifo, status: &status, goodbye_kept: vec![false; n] };
    actions.drain(&mut group, &mut group_state).await;
    actions.publish(&group, &drops);

    loop {
        let deadline = group.poll_timeout().map(tokio::time::Instant::from_std);
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(Event::Packet(i, p)) => {
                    let (Some(m), Some(d)) = (unit.members.get(i), drops.get_mut(i)) else { continue };
                    if let Some(advert) = check(m, &p, d) {
                        group.handle_advert_for(i, Instant::now(), p.src, &advert);
                    }
                }
                None => return Err(format!("{}: every VRRP socket closed", unit.name)),
            },
            r = results.recv() => {
                if let Ok(r) = r {
                    if track.script_result(&r) {
                        retrack(&unit, &track, &mut group);
                    }
                }
            }
            l = links.recv() => {
                if let Ok(l) = l {
                    if track.link(&l) {
                        retrack(&unit, &track, &mut group);
                    }
                }
            }
            held = async {
                match hold.as_mut() {
                    Some(h) => h.changed().await.map(|()| *h.borrow_and_update()),
                    None => std::future::pending().await,
                }
            } => match held {
                Ok(held) => {
                    info!(unit = %unit.name, held, "preemption {}", if held { "held" } else { "no longer held" });
                    group.hold_preemption(held);
                }
                Err(_) => hold = None,
            },
            () = sleep => {
                if crate::failpoint::armed("unit-master") && group.state() == State::Master {
                    panic!("failpoint unit-master: {} is master", unit.name);
                }
                group.handle_timeout(Instant::now());
            }
            _ = stop.changed() => {
                info!(unit = %unit.name, "stopping");
                group.stop(Instant::now());
                actions.drain(&mut group, &mut group_state).await;
                actions.publish(&group, &drops);
                return Ok(());
            }
        }
        actions.drain(&mut group, &mut group_state).await;
        actions.publish(&group, &drops);
    }
}

fn retrack(unit: &Unit, track: &Tracking, group: &mut SyncGroup) {
    let now = Instant::now();
    for (i, m) in unit.members.iter().enumerate() {
        let (fault, delta) = track.evaluate(m);
        group.set_priority_adjustment(i, now, delta);
        group.set_fault(i, now, fault);
    }
}

/// keepalived's receive checks before the state machine: TTL 255 on multicast, parse and
/// checksum, v2 authentication (RFC 3768 7.1; keepalived vrrp.c, vrrp_check_packet).
fn check(m: &Member, p: &Received, drops: &mut Drops) -> Option<Advert> {
    if m.group.is_some() && p.ttl != 255 {
        drops.count("ttl");
        debug!(instance = %m.settings.name, src = %p.src, ttl = p.ttl, "advert dropped: TTL is not 255");
        return None;
    }
    if m.group.is_none() && !m.peers.contains(&p.src) {
        drops.count("not_a_peer");
        return None;
    }
    let dst = p.dst.or(if m.group.is_some() { m.group } else { m.source }).unwrap_or(m.settings.primary_address);
    let opts = codec::ParseOptions { v3_checksum_as_v2: m.checksum_as_v2 };
    let advert = match codec::parse(&p.payload, p.src, dst, &opts) {
        Ok(a) => a,
        Err(e) => {
            drops.count(e.reason());
            debug!(instance = %m.settings.name, src = %p.src, error = %e, "advert dropped");
            return None;
        }
    };
    if advert.vrid != m.settings.vrid {
        return None; // another instance's: not ours to judge
    }
    if advert.version == tandem_vrrp::Version::V2 && !codec::auth_matches(&m.settings.auth, &advert.auth) {
        drops.count("auth");
        warn!(instance = %m.settings.name, src = %p.src, "advert dropped: authentication does not match");
        return None;
    }
    Some(advert)
}

/// What tracked objects currently say.
struct Tracking {
    scripts: HashMap<String, ScriptState>,
    links: HashMap<String, bool>,
}

impl Tracking {
    fn new(unit: &Unit, specs: &HashMap<String, super::ScriptSpec>, initial: &[LinkState]) -> Self {
        let mut scripts = HashMap::new();
        for m in &unit.members {
            for t in &m.scripts {
                if let Some(s) = specs.get(&t.name) {
                    scripts.entry(t.name.clone()).or_insert_with(|| ScriptState::new(s.rise, s.fall, s.init_fail));
                }
            }
        }
        Tracking { scripts, links: initial.iter().map(|l| (l.name.clone(), l.up)).collect() }
    }

    /// Records a script result; true when its up/down status changed.
    fn script_result(&mut self, r: &ScriptResult) -> bool {
        let Some(s) = self.scripts.get_mut(&r.name) else { return false };
        match s.record(r.success) {
            Some(up) => {
                info!(script = %r.name, result = %r.detail, "VRRP script is now {}", if up { "up" } else { "down" });
                true
            }
            None => false,
        }
    }

    /// Records a link change; true when it is one this unit tracks and it changed.
    fn link(&mut self, l: &LinkState) -> bool {
        let up = l.up && !l.gone;
        let before = self.links.insert(l.name.clone(), up);
        if before != Some(up) {
            info!(interface = %l.name, up, "link changed");
        }
        before != Some(up)
    }

    /// (fault, priority adjustment) of a member.
    fn evaluate(&self, m: &Member) -> (bool, i32) {
        let mut fault = false;
        let mut delta = 0;
        let mut apply = |e: Effect| match e {
            Effect::Fault => fault = true,
            Effect::Adjust(a) => delta += a,
            Effect::None => {}
        };
        for t in &m.scripts {
            match self.scripts.get(&t.name).and_then(ScriptState::status) {
                Some(up) => apply(effect(t.weight, t.reverse, up)),
                // Not run yet: a weight-0 script holds the instance out of master, as
                // keepalived keeps it in INIT until its scripts have spoken.
                None if t.weight == 0 => apply(Effect::Fault),
                None => {}
            }
        }
        for Tracked { name, weight, reverse } in &m.interfaces {
            let up = self.links.get(name).copied().unwrap_or(false);
            apply(effect(*weight, *reverse, up));
        }
        (fault, delta)
    }
}

/// Performs the group's actions on the kernel.
struct Performer<'a> {
    unit: &'a Unit,
    io: &'a [Io],
    addrs: &'a Addresses,
    fifo: Option<&'a super::fifo::NotifyFifo>,
    /// Where the members' state goes out (a transition is written there as it happens).
    status: &'a watch::Sender<Vec<InstanceSnapshot>>,
    /// Members whose goodbye (priority-0 advert) the last-resort release holds.
    goodbye_kept: Vec<bool>,
}

impl Performer<'_> {
    /// Publishes the members' state where it changed (numbers are compared, nothing is
    /// formatted unless it changed).
    fn publish(&self, group: &SyncGroup, drops: &[Drops]) {
        let no_drops = BTreeMap::new();
        self.status.send_if_modified(|snaps| {
            let mut changed = false;
            for (i, s) in snaps.iter_mut().enumerate() {
                let Some(inst) = group.member(i) else { continue };
                let state = inst.state();
                let master = match state {
                    State::Master => Some(inst.settings().primary_address),
                    _ => inst.master().map(|(a, _)| a),
                };
                if s.state != state.as_str() {
                    s.state = state.as_str().to_string();
                    changed = true;
                }
                if s.effective_priority != inst.priority() || s.master != master {
                    s.effective_priority = inst.priority();
                    s.master = master;
                    changed = true;
                }
                let d = drops.get(i).map_or(&no_drops, |d| &d.0);
                changed |= s.counters.update(inst.counters(), d);
            }
            changed
        });
    }

    async fn drain(&mut self, group: &mut SyncGroup, group_state: &mut State) {
        while let Some(ga) = group.poll_action() {
            let (Some(m), Some(io)) = (self.unit.members.get(ga.member), self.io.get(ga.member)) else { continue };
            match ga.action {
                Action::SendAdvert(a) => {
                    send_advert(m, io, &a).await;
                    // A master's first advert: what it must say if it has to go at once.
                    let kept = self.goodbye_kept.get_mut(ga.member);
                    let is_master = group.member(ga.member).is_some_and(|i| i.state() == State::Master);
                    if let Some(kept) = kept.filter(|k| a.priority > 0 && !**k && is_master) {
                        let packets = encode(m, &Advert { priority: 0, ..a });
                        release::goodbye(&m.settings.name, Some(Goodbye { socket: io.socket.clone(), packets }));
                        *kept = true;
                    }
                }
                Action::AddAddresses(_) => {
                    for v in &m.vips {
                        match release::add(self.addrs, v) {
                            Ok(_) => debug!(instance = %m.settings.name, address = %v.address, "VIP added"),
                            Err(e) => warn!(instance = %m.settings.name, error = %e, "cannot add VIP"),
                        }
                    }
                }
                Action::RemoveAddresses(_) => {
                    for v in &m.vips {
                        if let Err(e) = release::remove(self.addrs, v) {
                            warn!(instance = %m.settings.name, error = %e, "cannot remove VIP");
                        }
                    }
                }
                Action::SendGarp { repeat, .. } => {
                    for _ in 0..repeat {
                        for v in &m.vips {
                            let Some((sender, mac)) = io.frames.get(&v.ifindex) else { continue };
                            let frame: Vec<u8> = match v.address {
                                IpAddr::V4(a) => arp::gratuitous_arp(*mac, a).to_vec(),
                                IpAddr::V6(a) => ndisc::unsolicited_na(*mac, a, io.ipv6_router).to_vec(),
                            };
                            if let Err(e) = sender.send(&frame) {
                                warn!(instance = %m.settings.name, error = %e, "cannot send gratuitous ARP / NA");
                            }
                        }
                    }
                }
                Action::StateChanged { from, to, reason } => {
                    info!(instance = %m.settings.name, from = ?from, to = ?to, reason = %reason, "VRRP transition");
                    if from == State::Master {
                        release::goodbye(&m.settings.name, None);
                        if let Some(k) = self.goodbye_kept.get_mut(ga.member) {
                            *k = false;
                        }
                    }
                    let t =
                        TransitionSnapshot::now(from.as_str().to_string(), to.as_str().to_string(), reason.to_string());
                    self.status.send_modify(|snaps| {
                        if let Some(s) = snaps.get_mut(ga.member) {
                            s.last_transition = Some(t);
                        }
                    });
                    notify(
                        &m.notify,
                        self.fifo,
                        "INSTANCE",
                        &m.settings.name,
                        to,
                        group.member(ga.member).map_or(0, Instance::priority),
                    );
                }
            }
        }
        let now = group.state();
        if self.unit.is_group && now != *group_state {
            info!(group = %self.unit.name, from = ?group_state, to = ?now, "sync group transition");
            notify(&self.unit.notify, self.fifo, "GROUP", &self.unit.name, now, 0);
        }
        *group_state = now;
    }
}

/// An advert encoded for each destination: the group, or every unicast peer.
fn encode(m: &Member, a: &Advert) -> Vec<(IpAddr, Vec<u8>)> {
    let opts = codec::EmitOptions { v3_checksum_as_v2: m.checksum_as_v2 };
    let dsts: Vec<IpAddr> = match m.group {
        Some(g) => vec![g],
        None => m.peers.clone(),
    };
    let mut out = Vec::with_capacity(dsts.len());
    for dst in dsts {
        match codec::emit(a, m.settings.primary_address, dst, &opts) {
            Ok(bytes) => out.push((dst, bytes)),
            Err(e) => warn!(instance = %m.settings.name, error = ?e, "cannot encode advert"),
        }
    }
    out
}

async fn send_advert(m: &Member, io: &Io, a: &Advert) {
    for (dst, bytes) in encode(m, a) {
        match io.socket.send_to(&bytes, dst).await {
            Ok(()) => debug!(instance = %m.settings.name, %dst, priority = a.priority, "advert sent"),
            Err(e) => warn!(instance = %m.settings.name, %dst, error = %e, "cannot send advert"),
        }
    }
}

/// keepalived's notify scripts: `notify_master` etc. as they are, and `notify` with
/// `GROUP|INSTANCE NAME STATE PRIORITY` appended (keepalived/vrrp/vrrp_notify.c).
fn notify(
    n: &tandem_conf::Notify,
    fifo: Option<&super::fifo::NotifyFifo>,
    kind: &str,
    name: &str,
    state: State,
    priority: u8,
) {
    let (specific, word) = match state {
        State::Master => (&n.master, "MASTER"),
        State::Backup => (&n.backup, "BACKUP"),
        State::Fault => (&n.fault, "FAULT"),
        State::Stopped => (&n.stop, "STOP"),
        State::Init => return,
    };
    if let Some(f) = fifo {
        f.write(kind, name, word, priority);
    }
    let mut runs: Vec<Script> = Vec::new();
    if let Some(cmd) = specific {
        match Script::parse(cmd) {
            Ok(s) => runs.push(s),
            Err(e) => warn!(%name, error = %e, "bad notify script"),
        }
    }
    if let Some(cmd) = &n.any {
        match Script::parse(cmd) {
            Ok(s) => {
                runs.push(s.with_args([kind.to_string(), name.to_string(), word.to_string(), priority.to_string()]))
            }
            Err(e) => warn!(%name, error = %e, "bad notify script"),
        }
    }
    for s in runs {
        let name = name.to_string();
        tokio::spawn(async move {
            let outcome = s.run(Duration::from_secs(60)).await;
            if !outcome.success() {
                warn!(%name, command = ?s.argv(), %outcome, "notify script failed");
            }
        });
    }
}
