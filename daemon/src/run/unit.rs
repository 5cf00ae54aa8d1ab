//! The loop of one unit (sync group or lone instance): adverts in, timers, tracking changes,
//! and the state machine's actions performed on the kernel.

use super::Event;
pub use super::build::Unit;
use super::build::{self, BuildError, Member, Tracked};
use super::email;
use super::release::{self, Goodbye};
use super::screen::{Expect, Verdict, screen};
use super::scripts::{ScriptResult, Specs, TrackEvent};
use super::snapshot::TransitionSnapshot;
use super::units::{self, Command, Inputs, Publisher, Setup};
use crate::script::Script;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tandem_vrrp::Advert;
use tandem_vrrp::instance::{Action, Instance, State, SyncGroup};
use tandem_vrrp::linux::addr::Outcome;
use tandem_vrrp::linux::addr::{AddressSpec, Addresses};
use tandem_vrrp::linux::frames::FrameSender;
use tandem_vrrp::linux::link::LinkState;
use tandem_vrrp::linux::route::Routing;
use tandem_vrrp::linux::route_monitor::Deleted;
use tandem_vrrp::linux::socket::{Received, VrrpSender};
use tandem_vrrp::track::{Effect, ScriptState, effect};
use tandem_vrrp::wire::ah::{self, SeqCounter};
use tandem_vrrp::wire::ipv4::Ipv4Repr;
use tandem_vrrp::wire::{arp, ndisc, vrrp as codec};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// The I/O of one member.
struct Io {
    /// The sending socket (shared with the instances that send the same way).
    socket: std::sync::Arc<VrrpSender>,
    /// The member's place on its interface's receiving socket: adverts come while it lives.
    _rx: super::dispatch::Registration,
    /// A frame sender and the MAC of each interface the member's VIPs live on.
    frames: HashMap<u32, (FrameSender, [u8; 6])>,
    ipv6_router: bool,
    /// With `auth_type AH`: the sequence counter and IP id (kept across in-place reloads,
    /// as keepalived keeps `ipsecah_counter`). A lock only because adverts are sent from
    /// `&Io`; it is never held across an await.
    ah: std::sync::Mutex<AhState>,
}

/// keepalived's AH state of one instance: its sequence counter (one for what it sends and
/// what it receives, [`SeqCounter`]) and the IP id of its adverts, counted from 1 and never
/// 0 (the kernel would fill in a zero id with `IP_HDRINCL`, and the id is in the ICV).
#[derive(Default)]
struct AhState {
    counter: SeqCounter,
    ip_id: u16,
}

impl AhState {
    fn next_id(id: u16) -> u16 {
        id.wrapping_add(1).max(1)
    }
}

fn ah_state(io: &Io) -> std::sync::MutexGuard<'_, AhState> {
    io.ah.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Counters of one member's packets dropped before the state machine, by reason.
#[derive(Default)]
struct Drops(BTreeMap<&'static str, u64>);

impl Drops {
    fn count(&mut self, reason: &'static str) {
        *self.0.entry(reason).or_default() += 1;
    }
}

/// How a unit's run ended.
pub enum Exit {
    /// tandem stops.
    Stopped,
    /// A reload removed the unit.
    Removed,
    /// The unit must start again from this configuration: a reload changed its sockets
    /// (interface, vrid, version, source address, members), or its interface was created
    /// again. It stopped gracefully first.
    Restart(Box<Setup>),
}

/// Removes the unit's virtual addresses where they already are: a tandem killed as master
/// (SIGKILL, a crash its release could not catch) leaves them, and its successor, starting
/// as backup, would hold them beside the new master until it preempts. keepalived's
/// successor removes them too. An instance that should be master adds them again when it
/// becomes master.
pub fn remove_stale_addresses(unit: &Unit, addrs: &Addresses, routing: &Routing) {
    for m in &unit.members {
        // Its routes and rules too (before the addresses they may use).
        super::routes::remove_all(routing, &m.settings.name, &m.routes, &m.rules);
        // An address on a VMAC that does not exist yet (index 0) is nowhere.
        for v in m.vips.iter().filter(|v| v.ifindex != 0) {
            match release::remove(addrs, v) {
                Ok(tandem_vrrp::linux::addr::Outcome::Done) => {
                    warn!(instance = %m.settings.name, address = %v.address, interface = %v.ifname, "removed a virtual address left by a previous run")
                }
                Ok(_) => {}
                Err(e) => {
                    warn!(instance = %m.settings.name, address = %v.address, error = %e, "cannot remove a virtual address left by a previous run")
                }
            }
        }
    }
}

/// Takes a member's sending socket and registers it on its interface's receiving socket
/// (the first on the interface opens it), its adverts going onto `tx`.
fn open_io(i: usize, m: &Member, shared: &super::Shared, tx: &mpsc::Sender<Event>) -> Result<Io, String> {
    let (ifname, ifindex) = m.advert_interface();
    let ah = m.ah_key.is_some();
    let socket = shared
        .dispatch
        .sender(ifname, ifindex, m.v6, ah, m.source, m.unicast_ttl)
        .map_err(|e| format!("{}: cannot open VRRP socket on {ifname}: {e}", m.settings.name))?;
    let want =
        super::dispatch::Want { ifname, ifindex, v6: m.v6, ah, group: m.group, vrid: m.settings.vrid, member: i };
    let rx = shared
        .dispatch
        .register(&want, tx.clone())
        .map_err(|e| format!("{}: cannot open VRRP socket on {ifname}: {e}", m.settings.name))?;
    let mut io = Io { socket, _rx: rx, frames: HashMap::new(), ipv6_router: false, ah: std::sync::Mutex::default() };
    open_frames(&mut io, m, shared)?;
    io.ipv6_router = std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{}/forwarding", m.ifname))
        .is_ok_and(|s| s.trim() == "1");
    Ok(io)
}

/// A frame sender (and the interface's MAC) for every interface the member's VIPs live on.
fn open_frames(io: &mut Io, m: &Member, shared: &super::Shared) -> Result<(), String> {
    for v in &m.vips {
        if io.frames.contains_key(&v.ifindex) {
            continue;
        }
        let sender = FrameSender::open(v.ifindex)
            .map_err(|e| format!("{}: cannot open packet socket on {}: {e}", m.settings.name, v.ifname))?;
        // A VMAC made a moment ago may not be in the link table yet: its MAC is known.
        let mac = match &m.vmac {
            Some(vm) if vm.ifindex == v.ifindex => Some(vm.spec.mac),
            _ => shared.mac_of(v.ifindex),
        };
        io.frames.insert(v.ifindex, (sender, mac.unwrap_or_default()));
    }
    Ok(())
}

/// Runs a unit until tandem stops, a reload removes it, or it must start again; a stop is
/// graceful (priority 0, VIPs removed). Its instances' state goes out through `publisher`
/// after every change. While `inputs.hold` is true the unit does not preempt a live master
/// (warm preemption; it still replaces a dead one). A reload that keeps the unit's virtual
/// routers and sockets applies the new settings in place: no state changes because of it.
///
/// The members' VMAC interfaces (`use_vmac`) are made (or a previous run's taken) first and
/// deleted when the run ends, however it ends but a panic: a restarted tandem finds them
/// and uses them again, as keepalived does.
pub async fn run(
    mut unit: Unit,
    setup: Setup,
    shared: &super::Shared,
    inputs: &mut Inputs,
    publisher: &Publisher,
) -> Result<Exit, String> {
    let mut made: Vec<(tandem_vrrp::linux::vmac::VmacSpec, u32)> = Vec::new();
    for m in &mut unit.members {
        let Some(vm) = m.vmac.as_mut() else { continue };
        match shared.addrs.ensure_vmac(&vm.spec) {
            Ok(index) => {
                info!(instance = %m.settings.name, interface = %vm.spec.name, base = %vm.spec.base_name, "VMAC interface up");
                vm.ifindex = index;
                made.push((vm.spec.clone(), index));
                for v in m.vips.iter_mut().filter(|v| v.ifname == vm.spec.name) {
                    v.ifindex = index;
                }
            }
            Err(e) => {
                remove_vmacs(&made, &shared.addrs);
                return Err(format!("{}: {e}", m.settings.name));
            }
        }
    }
    let exit = run_with_interfaces(unit, setup, shared, inputs, publisher).await;
    remove_vmacs(&made, &shared.addrs);
    exit
}

/// Deletes the VMAC interfaces a run made.
fn remove_vmacs(made: &[(tandem_vrrp::linux::vmac::VmacSpec, u32)], addrs: &Addresses) {
    for (spec, index) in made {
        match addrs.remove_vmac(spec, *index) {
            Ok(()) => info!(interface = %spec.name, "VMAC interface deleted"),
            Err(e) => warn!(interface = %spec.name, error = %e, "cannot delete the VMAC interface"),
        }
    }
}

async fn run_with_interfaces(
    unit: Unit,
    setup: Setup,
    shared: &super::Shared,
    inputs: &mut Inputs,
    publisher: &Publisher,
) -> Result<Exit, String> {
    let (tx, mut rx) = mpsc::channel::<Event>(256);
    // Dropped at the end of the run: the registrations (and sockets nobody else uses) go.
    let mut io = Vec::with_capacity(unit.members.len());
    for (i, m) in unit.members.iter().enumerate() {
        io.push(open_io(i, m, shared, &tx)?);
    }
    drop(tx);

    let instances: Result<Vec<Instance>, String> = unit
        .members
        .iter()
        .map(|m| Instance::new(m.settings.clone()).map_err(|e| format!("{}: {e}", m.settings.name)))
        .collect();
    let mut group = SyncGroup::new(unit.name.clone(), instances?);
    let mut links = shared.links();
    // A VMAC just made is up, whether or not its event has reached the link table yet.
    for vm in unit.members.iter().filter_map(|m| m.vmac.as_ref()) {
        links.push(LinkState {
            ifindex: vm.ifindex,
            name: vm.spec.name.clone(),
            up: true,
            gone: false,
            mac: Some(vm.spec.mac),
        });
    }
    let track = Tracking::new(&unit, &setup.scripts, &links, None);
    let n = unit.members.len();
    let mut run = Running {
        drops: unit.members.iter().map(|_| Drops::default()).collect(),
        unit,
        io,
        track,
        setup,
        goodbye_kept: vec![false; n],
        group_state: State::Init,
        mailed: vec![None; n],
        group_mailed: None,
        removed: false,
    };
    let ctx = Ctx {
        addrs: &shared.addrs,
        routing: &shared.routing,
        fifo: &shared.fifo,
        firewall: &shared.firewall,
        publisher,
        mail: &shared.mail,
    };
    publisher.set(units::configured_snapshots(&run.setup.config, &run.setup.plan, None));
    // Faults and adjustments known before start apply from the start.
    retrack(&run.unit, &run.track, &mut group);
    // Preemption is held while warm preemption waits or a drill holds it.
    let (mut warm_held, mut drill_held) = (false, false);
    if let Some(h) = inputs.hold.as_mut() {
        if *h.borrow_and_update() {
            info!(unit = %run.unit.name, "preemption held until this director has the master's connection table");
            warm_held = true;
            group.hold_preemption(true);
        }
    }
    group.start(Instant::now());
    // The group's first state (BACKUP or FAULT) is a transition from INIT, notified and
    // mailed as keepalived does at start (vrrp_notify.c, send_group_notifies).
    run.drain(&mut group, &ctx).await;
    run.publish(&group, &ctx);

    // The rare and large futures (a reload, a graceful stop, a firewall change) are boxed
    // where they are awaited: inline, every unit's task was sized for them all its life
    // (measured: 6.0 KiB a unit, 4.8 KiB boxed).
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
                    let (Some(m), Some(io), Some(d)) = (run.unit.members.get(i), run.io.get(i), run.drops.get_mut(i)) else { continue };
                    if let Some(advert) = check(m, io, &p, d) {
                        group.handle_advert_for(i, Instant::now(), p.src, &advert);
                    }
                }
                None => return Err(format!("{}: every VRRP socket closed", run.unit.name)),
            },
            r = inputs.results.recv() => {
                let changed = match r {
                    Ok(TrackEvent::Script(r)) => run.track.script_result(&r),
                    Ok(TrackEvent::File(f)) => run.track.file_value(&f.name, f.value),
                    Ok(TrackEvent::Process(p)) => run.track.process(&p.name, p.up),
                    Err(_) => false,
                };
                if changed {
                    retrack(&run.unit, &run.track, &mut group);
                }
            }
            l = inputs.links.recv() => {
                if let Ok(l) = l {
                    // The interface was created again: its sockets are the old one's.
                    let recreated = !l.gone && run.unit.members.iter().any(|m| m.ifname == l.name && m.ifindex != l.ifindex);
                    if recreated {
                        info!(unit = %run.unit.name, interface = %l.name, "interface created again; the unit starts again on it");
                        Box::pin(run.stop(&mut group, &ctx)).await;
                        return Ok(Exit::Restart(Box::new(run.setup)));
                    }
                    // Someone deleted a VMAC: the unit starts again, which makes it again
                    // (keepalived makes it again too).
                    let vmac_lost = l.gone && run.unit.members.iter().filter_map(|m| m.vmac.as_ref()).any(|v| v.spec.name == l.name && v.ifindex == l.ifindex);
                    if vmac_lost {
                        warn!(unit = %run.unit.name, interface = %l.name, "VMAC interface deleted; the unit starts again and makes it again");
                        Box::pin(run.stop(&mut group, &ctx)).await;
                        return Ok(Exit::Restart(Box::new(run.setup)));
                    }
                    if run.track.link(&l) {
                        retrack(&run.unit, &run.track, &mut group);
                    }
                }
            }
            d = inputs.routing.recv() => {
                if let Ok(d) = d {
                    run.put_back(&d, &group, &ctx);
                }
            }
            held = async {
                match inputs.hold.as_mut() {
                    Some(h) => h.changed().await.map(|()| *h.borrow_and_update()),
                    None => std::future::pending().await,
                }
            } => match held {
                Ok(held) => {
                    info!(unit = %run.unit.name, held, "preemption {}", if held { "held" } else { "no longer held" });
                    warm_held = held;
                    group.hold_preemption(warm_held || drill_held);
                }
                Err(_) => inputs.hold = None,
            },
            c = inputs.commands.recv() => match c {
                Some(Command::Reconfigure(mut new)) => {
                    match new.resolve(&shared.addrs, Duration::ZERO) {
                        Ok(unit) if build::same_routers(&run.unit, &unit) => {
                            Box::pin(run.reload(unit, *new, &mut group, shared, &ctx)).await;
                        }
                        Ok(unit) => {
                            info!(unit = %run.unit.name, "reload changed the unit's interface, virtual router id, version, source address or members: it stops and starts again");
                            Box::pin(run.stop(&mut group, &ctx)).await;
                            new.resolved = Some(Ok(unit));
                            return Ok(Exit::Restart(new));
                        }
                        Err(BuildError::Missing(why)) => {
                            info!(unit = %run.unit.name, reason = %why, "reload: the unit's interface or address is missing: it stops and waits for it");
                            Box::pin(run.stop(&mut group, &ctx)).await;
                            new.resolved = Some(Err(BuildError::Missing(why)));
                            return Ok(Exit::Restart(new));
                        }
                        Err(BuildError::Invalid(e)) => {
                            warn!(unit = %run.unit.name, error = %e, "reload: the unit keeps its settings");
                        }
                    }
                }
                Some(Command::HandOver) => {
                    info!(unit = %run.unit.name, "failover drill: handing over; preemption held until released");
                    drill_held = true;
                    group.hand_over(Instant::now());
                }
                Some(Command::Release) => {
                    if drill_held {
                        info!(unit = %run.unit.name, "failover drill: hold released; preemption as configured");
                    }
                    drill_held = false;
                    group.hold_preemption(warm_held);
                }
                Some(Command::Remove) | None => {
                    info!(unit = %run.unit.name, "removed by a reload; stopping");
                    run.removed = true;
                    Box::pin(run.stop(&mut group, &ctx)).await;
                    return Ok(Exit::Removed);
                }
            },
            () = sleep => {
                if crate::failpoint::armed("unit-master") && group.state() == State::Master {
                    panic!("failpoint unit-master: {} is master", run.unit.name);
                }
                group.handle_timeout(Instant::now());
            }
            _ = inputs.stop.changed() => {
                info!(unit = %run.unit.name, "stopping");
                Box::pin(run.stop(&mut group, &ctx)).await;
                return Ok(Exit::Stopped);
            }
        }
        run.drain(&mut group, &ctx).await;
        run.publish(&group, &ctx);
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

/// keepalived's receive checks before the state machine: the VRID, TTL 255 on multicast (or
/// a unicast peer), parse and checksum, v2 authentication (RFC 3768 7.1; keepalived vrrp.c, vrrp_check_packet and, for
/// `auth_type AH`, vrrp_in_chk_ipsecah: the ICV, the SPI, then a sequence number above the
/// instance's counter).
fn check(m: &Member, io: &Io, p: &Received, drops: &mut Drops) -> Option<Advert> {
    // The VRID first (inside the AH header with `auth_type AH`): another router's packet is
    // not counted against this one (super::screen).
    let vrid = codec::vrid_of(&p.payload, m.ah_key.is_some());
    let expect =
        Expect { vrid: m.settings.vrid, multicast: m.group.is_some(), peers: &m.peers, peer_ttls: &m.peer_ttls };
    match screen(&expect, p.src, p.ttl, vrid) {
        Verdict::Ignore => return None,
        Verdict::Drop(reason) => {
            drops.count(reason);
            debug!(instance = %m.settings.name, src = %p.src, ttl = p.ttl, reason, "advert dropped");
            return None;
        }
        Verdict::Pass => {}
    }
    let dst = p.dst.or(if m.group.is_some() { m.group } else { m.source }).unwrap_or(m.settings.primary_address);
    let opts = codec::ParseOptions { v3_checksum_as_v2: m.checksum_as_v2 };
    let (message, seq) = match &m.ah_key {
        None => (&p.payload[..], None),
        Some(key) => {
            // AH around another protocol is no advert (keepalived ignores it too). Another
            // virtual router's (perhaps with another password) was ignored above.
            let view = ah::AhPacket::new_checked(&p.payload[..]).ok();
            if view.is_some_and(|a| a.next_header() != codec::PROTOCOL) {
                return None;
            }
            match ah::open_parts(&p.header, &p.payload, key, m.group.is_none()) {
                Ok(o) => (o.vrrp, Some(o.seq)),
                Err(e) => {
                    drops.count(e.reason());
                    warn!(instance = %m.settings.name, src = %p.src, error = %e, "advert dropped");
                    return None;
                }
            }
        }
    };
    let advert = match codec::parse(message, p.src, dst, &opts) {
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
    if let Some(e) =
        codec::auth_mismatch(&m.settings.auth, &advert.auth).filter(|_| advert.version == tandem_vrrp::Version::V2)
    {
        drops.count(e.reason());
        warn!(instance = %m.settings.name, src = %p.src, reason = e.reason(), "advert dropped: authentication does not match");
        return None;
    }
    if let Some(seq) = seq {
        let mut st = ah_state(io);
        if !st.counter.accept(seq) {
            drops.count("ah_replay");
            let local = st.counter.value();
            warn!(instance = %m.settings.name, src = %p.src, seq, local, "advert dropped: IPsec-AH sequence number already seen (replay)");
            return None;
        }
    }
    Some(advert)
}

/// What tracked objects currently say.
struct Tracking {
    scripts: HashMap<String, ScriptState>,
    links: HashMap<String, bool>,
    /// Tracked files' values, by track_file name.
    files: HashMap<String, i64>,
    /// Tracked processes' quorum, by vrrp_track_process name.
    processes: HashMap<String, bool>,
}

impl Tracking {
    /// What `unit` tracks, as it stands: links from `links`; scripts not run yet, or, after
    /// a reload (`before`: the old tracking and its scripts), as they were when the script's
    /// rise, fall and init_fail did not change.
    fn new(unit: &Unit, specs: &Specs, links: &[LinkState], before: Option<(&Tracking, &Specs)>) -> Self {
        let mut scripts = HashMap::new();
        for m in &unit.members {
            for t in &m.scripts {
                let Some(s) = specs.get(&t.name) else { continue };
                let kept = before.and_then(|(track, old)| {
                    let o = old.get(&t.name)?;
                    let same = (o.rise, o.fall, o.init_fail) == (s.rise, s.fall, s.init_fail);
                    same.then(|| track.scripts.get(&t.name).cloned()).flatten()
                });
                scripts
                    .entry(t.name.clone())
                    .or_insert_with(|| kept.unwrap_or_else(|| ScriptState::new(s.rise, s.fall, s.init_fail)));
            }
        }
        // Files are read now, so that their values apply from the start (keepalived reads
        // them at start-up too); the file tracker reports changes from then on.
        let mut files = HashMap::new();
        for (t, path) in unit.members.iter().flat_map(|m| &m.files) {
            // Out of range from the start: keepalived's value is then 0 until a good one.
            files.insert(t.name.clone(), super::file_tracker::read(path).unwrap_or(0));
        }
        // Processes are counted now too, as keepalived counts them at start.
        let specs: std::collections::BTreeMap<String, super::process_tracker::Spec> =
            unit.members.iter().flat_map(|m| &m.processes).map(|(t, s)| (t.name.clone(), s.clone())).collect();
        let processes = if specs.is_empty() { HashMap::new() } else { super::process_tracker::now(&specs) };
        let links = links.iter().map(|l| (l.name.clone(), l.up && !l.gone)).collect();
        Tracking { scripts, links, files, processes }
    }

    /// Records a tracked process's quorum; true when this unit tracks it and it changed.
    fn process(&mut self, name: &str, up: bool) -> bool {
        match self.processes.get_mut(name) {
            Some(v) if *v != up => {
                *v = up;
                true
            }
            _ => false,
        }
    }

    /// Records a tracked file's value; true when it is one this unit tracks and it changed.
    fn file_value(&mut self, name: &str, value: i64) -> bool {
        match self.files.get_mut(name) {
            Some(v) if *v != value => {
                *v = value;
                true
            }
            _ => false,
        }
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
        for (Tracked { name, weight, reverse }, _) in &m.processes {
            let up = self.processes.get(name).copied().unwrap_or(false);
            apply(effect(*weight, *reverse, up));
        }
        for (Tracked { name, weight, reverse }, _) in &m.files {
            let value = self.files.get(name).copied().unwrap_or(0);
            match super::file_tracker::effect(value, *weight, *reverse) {
                Some(a) => apply(Effect::Adjust(a)),
                None => apply(Effect::Fault),
            }
        }
        (fault, delta)
    }
}

/// What a running unit's loop holds besides its state machine.
struct Running {
    unit: Unit,
    io: Vec<Io>,
    track: Tracking,
    drops: Vec<Drops>,
    /// The configuration the unit runs (to start again from).
    setup: Setup,
    /// Members whose goodbye (priority-0 advert) the last-resort release holds.
    goodbye_kept: Vec<bool>,
    /// The group's state last reported.
    group_state: State,
    /// The state each member last mailed about (keepalived's `last_email_state`: a FAULT
    /// left unmailed with `no_email_faults` does not make the return to the state before it
    /// a new mail).
    mailed: Vec<Option<super::email::VrrpState>>,
    /// The same for the group.
    group_mailed: Option<super::email::VrrpState>,
    /// A reload removed the unit: its instances' last mail says FAULT, not Stopping, and its
    /// group sends none (keepalived mails a deleted instance as FAULT unless
    /// `notify_deleted`, and a deleted group not at all).
    removed: bool,
}

/// What a running unit acts with.
struct Ctx<'a> {
    addrs: &'a Addresses,
    routing: &'a Routing,
    fifo: &'a super::fifo::Fifos,
    firewall: &'a super::firewall::Firewall,
    /// Where the members' state goes out (a transition is written there as it happens).
    publisher: &'a Publisher,
    /// Email alerts.
    mail: &'a super::email::Mailer,
}

impl Running {
    /// Stops the group gracefully and publishes the end.
    async fn stop(&mut self, group: &mut SyncGroup, ctx: &Ctx<'_>) {
        group.stop(Instant::now());
        self.drain(group, ctx).await;
        self.publish(group, ctx);
    }

    /// A reload that keeps the unit's virtual routers (`unit`, resolved from `setup`): a
    /// master's addresses follow the new list (removed ones go, added ones come with
    /// gratuitous ARP / NA), frame senders open for new devices, tracking follows the new
    /// scripts (keeping the state of unchanged ones), and the state machine takes the new
    /// settings; the state stays.
    async fn reload(&mut self, new: Unit, setup: Setup, group: &mut SyncGroup, shared: &super::Shared, ctx: &Ctx<'_>) {
        for (i, (old, m)) in self.unit.members.iter().zip(&new.members).enumerate() {
            let Some(io) = self.io.get_mut(i) else { continue };
            if let Err(e) = open_frames(io, m, shared) {
                warn!(instance = %m.settings.name, error = %e, "reload: cannot send gratuitous ARP / NA for new addresses");
            }
            if group.member(i).is_none_or(|inst| inst.state() != State::Master) {
                continue;
            }
            // Routes and rules the new file no longer has go first (they may use a VIP).
            let gone_routes: Vec<_> = old.routes.iter().filter(|r| !m.routes.contains(r)).cloned().collect();
            let gone_rules: Vec<_> = old.rules.iter().filter(|r| !m.rules.contains(r)).cloned().collect();
            super::routes::remove_all(ctx.routing, &m.settings.name, &gone_routes, &gone_rules);
            for v in old.vips.iter().filter(|v| !m.vips.contains(v)) {
                match release::remove(ctx.addrs, v) {
                    Ok(_) => info!(instance = %m.settings.name, address = %v.address, "reload: VIP removed"),
                    Err(e) => warn!(instance = %m.settings.name, error = %e, "cannot remove VIP"),
                }
            }
            let added: Vec<&AddressSpec> = m.vips.iter().filter(|v| !old.vips.contains(v)).collect();
            for v in &added {
                match release::add(ctx.addrs, v) {
                    Ok(_) => info!(instance = %m.settings.name, address = %v.address, "reload: VIP added"),
                    Err(e) => warn!(instance = %m.settings.name, error = %e, "cannot add VIP"),
                }
            }
            send_garps(m, io, &added, m.settings.garp.master_repeat);
            let new_routes: Vec<_> = m.routes.iter().filter(|r| !old.routes.contains(r)).cloned().collect();
            let new_rules: Vec<_> = m.rules.iter().filter(|r| !old.rules.contains(r)).cloned().collect();
            super::routes::add_all(ctx.routing, &m.settings.name, &new_routes, &new_rules);
            Box::pin(ctx.firewall.set(&m.settings.name, &dropped(m))).await;
        }
        self.unit = new;
        self.track =
            Tracking::new(&self.unit, &setup.scripts, &shared.links(), Some((&self.track, &self.setup.scripts)));
        self.setup = setup;
        let now = Instant::now();
        for (i, m) in self.unit.members.iter().enumerate() {
            if let Err(e) = group.reconfigure(i, now, m.settings.clone()) {
                warn!(instance = %m.settings.name, error = %e, "reload: settings not applied");
            }
        }
        retrack(&self.unit, &self.track, group);
        let configured = units::configured_snapshots(&self.setup.config, &self.setup.plan, None);
        ctx.publisher.set(units::carry(configured, &ctx.publisher.current()));
        info!(unit = %self.unit.name, "reload applied; state kept");
    }

    /// A route or rule was deleted on the host: a master puts back its tracked virtual
    /// routes and rules at once. (keepalived makes the instance leave master instead, and it
    /// takes over again by preemption, adding them: the same routes in the end, without the
    /// failover; keepalived_netlink.c, netlink_route_filter / netlink_rule_filter.)
    fn put_back(&self, d: &Deleted, group: &SyncGroup, ctx: &Ctx<'_>) {
        for (i, m) in self.unit.members.iter().enumerate() {
            if group.member(i).is_none_or(|inst| inst.state() != State::Master) {
                continue;
            }
            for (r, _) in m.routes.iter().zip(&m.route_track).filter(|(r, t)| **t && d.is_route(r)) {
                match ctx.routing.add_route(r) {
                    Ok(Outcome::Done) => {
                        info!(instance = %m.settings.name, route = %r.describe(), "virtual route deleted on the host: put back")
                    }
                    Ok(Outcome::AlreadySo) => {}
                    Err(e) => warn!(instance = %m.settings.name, error = %e, "cannot put back a deleted virtual route"),
                }
            }
            for (r, _) in m.rules.iter().zip(&m.rule_track).filter(|(r, t)| **t && d.is_rule(r)) {
                match ctx.routing.add_rule(r) {
                    Ok(Outcome::Done) => {
                        info!(instance = %m.settings.name, rule = %r.describe(), "virtual rule deleted on the host: put back")
                    }
                    Ok(Outcome::AlreadySo) => {}
                    Err(e) => warn!(instance = %m.settings.name, error = %e, "cannot put back a deleted virtual rule"),
                }
            }
        }
    }

    /// Publishes the members' state where it changed (numbers are compared, nothing is
    /// formatted unless it changed); readers are woken when a state, priority or master
    /// changed, not for counters alone.
    fn publish(&self, group: &SyncGroup, ctx: &Ctx<'_>) {
        let no_drops = BTreeMap::new();
        ctx.publisher.modify(|snaps| {
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
                let d = self.drops.get(i).map_or(&no_drops, |d| &d.0);
                // Counters move with every advert: they are kept current but wake no reader
                // (status and metrics read them when asked; the readers that wait, the sync
                // driver and the drill, wait for a state). At 1,000 instances that is 1,000
                // wake-ups a second fewer.
                s.counters.update(inst.counters(), d);
            }
            changed
        });
    }

    /// Performs the group's actions on the kernel.
    async fn drain(&mut self, group: &mut SyncGroup, ctx: &Ctx<'_>) {
        while let Some(ga) = group.poll_action() {
            let (Some(m), Some(io)) = (self.unit.members.get(ga.member), self.io.get(ga.member)) else { continue };
            match ga.action {
                Action::SendAdvert(a) => {
                    send_advert(m, io, &a).await;
                    // A master's first advert: what it must say if it has to go at once.
                    // With AH, after every advert: the goodbye must carry the next sequence
                    // number, or the backup would drop it as a replay.
                    let kept = self.goodbye_kept.get_mut(ga.member);
                    let is_master = group.member(ga.member).is_some_and(|i| i.state() == State::Master);
                    let again = m.ah_key.is_some();
                    if let Some(kept) = kept.filter(|k| a.priority > 0 && (again || !**k) && is_master) {
                        let packets = encode(m, io, &Advert { priority: 0, ..a }, false);
                        release::goodbye(&m.settings.name, Some(Goodbye { socket: io.socket.clone(), packets }));
                        *kept = true;
                    }
                }
                Action::AddAddresses(_) => {
                    // The drop rules come first: no packet to a VIP is accepted in between.
                    Box::pin(ctx.firewall.set(&m.settings.name, &dropped(m))).await;
                    for v in &m.vips {
                        match release::add(ctx.addrs, v) {
                            Ok(_) => debug!(instance = %m.settings.name, address = %v.address, "VIP added"),
                            Err(e) => warn!(instance = %m.settings.name, error = %e, "cannot add VIP"),
                        }
                    }
                    super::routes::add_all(ctx.routing, &m.settings.name, &m.routes, &m.rules);
                }
                Action::RemoveAddresses(_) => {
                    super::routes::remove_all(ctx.routing, &m.settings.name, &m.routes, &m.rules);
                    for v in &m.vips {
                        if let Err(e) = release::remove(ctx.addrs, v) {
                            warn!(instance = %m.settings.name, error = %e, "cannot remove VIP");
                        }
                    }
                    Box::pin(ctx.firewall.set(&m.settings.name, &[])).await;
                }
                Action::SendGarp { repeat, .. } => {
                    let all: Vec<&AddressSpec> = m.vips.iter().collect();
                    send_garps(m, io, &all, repeat);
                }
                Action::SendExtraGarp => send_garps(m, io, &extra_if_vips(m), 1),
                Action::LowerPriorityAdvert { from, priority } => {
                    info!(instance = %m.settings.name, %from, priority, "master received an advert of lower priority");
                    if m.ah_key.is_some() {
                        // keepalived (vrrp_state_master_rx): "IPSEC-AH : Syncing seq_num".
                        ah_state(io).counter.lower_priority_heard();
                    }
                    rx_lower_priority(m, ctx.fifo, group.member(ga.member).map_or(0, Instance::priority));
                }
                Action::StateChanged { from, to, reason } => {
                    info!(instance = %m.settings.name, from = ?from, to = ?to, reason = %reason, "VRRP transition");
                    if to == State::Master && m.ah_key.is_some() {
                        ah_state(io).counter.becoming_master();
                    }
                    if from == State::Master {
                        release::goodbye(&m.settings.name, None);
                        if let Some(k) = self.goodbye_kept.get_mut(ga.member) {
                            *k = false;
                        }
                    }
                    let t =
                        TransitionSnapshot::now(from.as_str().to_string(), to.as_str().to_string(), reason.to_string());
                    ctx.publisher.modify(|snaps| {
                        if let Some(s) = snaps.get_mut(ga.member) {
                            s.last_transition = Some(t);
                        }
                        true
                    });
                    notify(
                        &m.notify,
                        ctx.fifo,
                        "INSTANCE",
                        &m.settings.name,
                        to,
                        group.member(ga.member).map_or(0, Instance::priority),
                    );
                    if m.smtp_alert {
                        let to = if to == State::Stopped && self.removed { State::Fault } else { to };
                        if let Some(last) = self.mailed.get_mut(ga.member) {
                            ctx.mail.state_changed(last, to, |state| email::Alert::Instance {
                                name: m.settings.name.clone(),
                                state,
                            });
                        }
                    }
                }
            }
        }
        let now = group.state();
        if self.unit.is_group && now != self.group_state {
            info!(group = %self.unit.name, from = ?self.group_state, to = ?now, "sync group transition");
            notify(&self.unit.notify, ctx.fifo, "GROUP", &self.unit.name, now, 0);
            // A group a reload removes is not mailed (keepalived mails its instances only).
            if self.unit.smtp_alert && !self.removed {
                let name = &self.unit.name;
                let group = |state| email::Alert::Group { name: name.clone(), state };
                ctx.mail.state_changed(&mut self.group_mailed, now, group);
            }
        }
        self.group_state = now;
    }
}

/// The addresses whose packets a master drops: its VIPs without accept mode, unless it is
/// the address owner (keepalived vrrp.c, vrrp_handle_accept_mode).
fn dropped(m: &Member) -> Vec<IpAddr> {
    if m.accept || m.settings.priority == 255 { Vec::new() } else { m.vips.iter().map(|v| v.address).collect() }
}

/// `garp_extra_if`: the first of the member's addresses on each interface that is not the
/// one its adverts use (the VMAC's, unless `vmac_xmit_base`), and, without `all`, that is a
/// VMAC of tandem's (keepalived vrrp.c, vrrp_send_vmac_update).
fn extra_if_vips(m: &Member) -> Vec<&AddressSpec> {
    let own = m.vmac.as_ref().map_or(m.ifindex, |v| v.ifindex);
    let xmit_base = m.vmac.as_ref().is_some_and(|v| v.xmit_base);
    let is_vmac = |ifindex: u32| m.vmac.as_ref().is_some_and(|v| v.ifindex == ifindex && ifindex != 0);
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for v in &m.vips {
        if (!is_vmac(v.ifindex) && !m.garp_extra_all) || (v.ifindex == own && !xmit_base) || seen.contains(&v.ifindex) {
            continue;
        }
        seen.push(v.ifindex);
        out.push(v);
    }
    out
}

/// Gratuitous ARP (IPv4) or unsolicited NA (IPv6) for `vips`, `repeat` times.
fn send_garps(m: &Member, io: &Io, vips: &[&AddressSpec], repeat: u32) {
    for _ in 0..repeat {
        for v in vips {
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

/// An advert encoded for each destination (the group, or every unicast peer), as it goes on
/// the wire: the VRRP message, or with `auth_type AH` the whole IPv4 packet
/// ([`ah::seal`]), numbered with the next sequence number and IP id. `take` uses them up
/// (an advert sent now); otherwise they are only read (a goodbye kept for the last-resort
/// release, which the next advert replaces).
fn encode(m: &Member, io: &Io, a: &Advert, take: bool) -> Vec<(IpAddr, Vec<u8>)> {
    let plain = encode_vrrp(m, a);
    let Some(key) = &m.ah_key else { return plain };
    let IpAddr::V4(src) = m.settings.primary_address else { return Vec::new() };
    let (seq, ident) = {
        let mut st = ah_state(io);
        if take {
            st.ip_id = AhState::next_id(st.ip_id);
            (st.counter.next_send(), st.ip_id)
        } else {
            let mut c = st.counter;
            (c.next_send(), AhState::next_id(st.ip_id))
        }
    };
    // keepalived zeroes the TTL in the ICV when unicasting, and sends `unicast_ttl` there.
    let unicast = m.group.is_none();
    let ttl = if unicast { m.unicast_ttl.unwrap_or(codec::TTL) } else { codec::TTL };
    let mut out = Vec::with_capacity(plain.len());
    for (dst, bytes) in plain {
        let IpAddr::V4(d) = dst else { continue };
        let ip = Ipv4Repr { protocol: ah::PROTOCOL, ttl, ..Ipv4Repr::vrrp(src, d, ident, 0) };
        match ah::seal(&ip, seq, &bytes, key, unicast) {
            Ok(packet) => out.push((dst, packet)),
            Err(e) => warn!(instance = %m.settings.name, error = %e, "cannot encode AH advert"),
        }
    }
    out
}

/// The VRRP message of an advert for each destination.
fn encode_vrrp(m: &Member, a: &Advert) -> Vec<(IpAddr, Vec<u8>)> {
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
    for (dst, bytes) in encode(m, io, a, true) {
        match io.socket.send_to(&bytes, dst).await {
            Ok(()) => debug!(instance = %m.settings.name, %dst, priority = a.priority, "advert sent"),
            Err(e) => warn!(instance = %m.settings.name, %dst, error = %e, "cannot send advert"),
        }
    }
}

/// keepalived's `notify_master_rx_lower_pri` (vrrp_notify.c, send_event_notify): the script
/// as it is, and `INSTANCE NAME MASTER_RX_LOWER_PRI PRIORITY` on the notify FIFO.
fn rx_lower_priority(m: &Member, fifo: &super::fifo::Fifos, priority: u8) {
    fifo.vrrp("INSTANCE", &m.settings.name, "MASTER_RX_LOWER_PRI", priority);
    let Some(cmd) = &m.notify_rx_lower else { return };
    match Script::parse(cmd) {
        Ok(s) => spawn_notify(&m.settings.name, s, "notify_master_rx_lower_pri"),
        Err(e) => warn!(instance = %m.settings.name, error = %e, "bad notify_master_rx_lower_pri script"),
    }
}

/// Runs a notify script in the background (60 s at most), logging a failure with `what`.
fn spawn_notify(name: &str, s: Script, what: &'static str) {
    let (name, argv) = (name.to_string(), s.argv().to_vec());
    super::notify_scripts::spawn(&s, move |outcome| warn!(%name, command = ?argv, %outcome, "{what} script failed"));
}

/// keepalived's notify scripts: `notify_master` etc. as they are, and `notify` with
/// `GROUP|INSTANCE NAME STATE PRIORITY` appended (keepalived/vrrp/vrrp_notify.c).
pub(crate) fn notify(
    n: &tandem_conf::Notify,
    fifo: &super::fifo::Fifos,
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
    fifo.vrrp(kind, name, word, priority);
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
        spawn_notify(name, s, "notify");
    }
}
