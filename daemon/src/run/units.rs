//! The set of VRRP units, kept as the configuration asks: a reload starts the units it adds,
//! stops the ones it removes (gracefully: a master hands over with priority 0) and hands
//! the others their new settings, which they apply in place and keep their state
//! ([`unit::run`]). keepalived's reload does the same (keepalived/vrrp/vrrp_daemon.c,
//! `reload_vrrp_thread`, and vrrp_data.c, `clear_diff_vrrp`).
//!
//! A unit whose interface (or source address) does not exist waits in FAULT until it does,
//! as keepalived's instance does, rather than ending tandem; an interface deleted and
//! created again while the unit runs makes it start again on the new one.

use super::build::{self, BuildError, Plan};
use super::scripts::{Specs, TrackEvent};
use super::snapshot::{AdvertCounters, InstanceSnapshot, TransitionSnapshot};
use super::unit::{self, Exit};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tandem_conf::Config;
use tandem_vrrp::instance::State;
use tandem_vrrp::linux::link::LinkState;
use tandem_vrrp::linux::route_monitor::Deleted;
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{info, warn};

/// A unit's configuration: what it (re)starts from, and what a reload hands it.
pub(crate) struct Setup {
    /// The whole configuration.
    pub config: Arc<Config>,
    /// The unit in it.
    pub plan: Plan,
    /// The vrrp_scripts.
    pub scripts: Arc<Specs>,
    /// The unit resolved against this host when that was done already (by the validation
    /// of the file), so that it is not done again: the unit, or what the host lacks.
    pub resolved: Option<Result<unit::Unit, BuildError>>,
}

impl Setup {
    /// The resolved unit: as given, else resolved now.
    pub fn resolve(
        &mut self,
        addrs: &tandem_vrrp::linux::addr::Addresses,
        startup_delay: Duration,
    ) -> Result<unit::Unit, BuildError> {
        self.resolved.take().unwrap_or_else(|| build::resolve(&self.config, &self.plan, addrs, startup_delay))
    }
}

/// What the main loop tells a unit.
pub(crate) enum Command {
    /// A reload: the unit's new configuration.
    Reconfigure(Box<Setup>),
    /// The unit is no longer configured: stop gracefully and end.
    Remove,
    /// A failover drill: masters hand over (priority 0, addresses removed) and hold
    /// preemption until [`Command::Release`].
    HandOver,
    /// The drill's hold ends: the unit preempts again as configured.
    Release,
}

/// Every unit's instances, by unit (in the order they started): what status, metrics,
/// the dumps and the sync driver read.
pub(crate) type Registry = watch::Sender<BTreeMap<u64, Vec<InstanceSnapshot>>>;

/// What readers of the registry hold.
pub(crate) type Instances = watch::Receiver<BTreeMap<u64, Vec<InstanceSnapshot>>>;

/// The instances of a registry, flattened.
pub(crate) fn instances(r: &BTreeMap<u64, Vec<InstanceSnapshot>>) -> Vec<InstanceSnapshot> {
    r.values().flatten().cloned().collect()
}

/// Instance `name` as its unit published it, if it runs.
pub(crate) fn find(r: &Instances, name: &str) -> Option<InstanceSnapshot> {
    r.borrow().values().flatten().find(|i| i.name == name).cloned()
}

/// One unit's place in the registry.
#[derive(Clone)]
pub(crate) struct Publisher {
    registry: Registry,
    id: u64,
}

impl Publisher {
    /// Replaces the unit's instances.
    pub fn set(&self, mut snaps: Vec<InstanceSnapshot>) {
        // Kept until the next set: no spare room (collected from a filtered iterator, one
        // instance's snapshots had room for four, ~1.1 KiB unused).
        snaps.shrink_to_fit();
        self.registry.send_modify(|m| {
            m.insert(self.id, snaps);
        });
    }

    /// Changes the unit's instances in place; `f` says whether it changed anything (only
    /// then are readers woken).
    pub fn modify(&self, f: impl FnOnce(&mut Vec<InstanceSnapshot>) -> bool) {
        self.registry.send_if_modified(|m| m.get_mut(&self.id).is_some_and(f));
    }

    /// The unit's instances as published.
    pub fn current(&self) -> Vec<InstanceSnapshot> {
        self.registry.borrow().get(&self.id).cloned().unwrap_or_default()
    }

    /// Takes the unit out (it was removed).
    pub fn remove(&self) {
        self.registry.send_modify(|m| {
            m.remove(&self.id);
        });
    }
}

/// What a unit task reads besides its configuration.
pub(crate) struct Inputs {
    pub results: broadcast::Receiver<TrackEvent>,
    pub links: broadcast::Receiver<LinkState>,
    /// Routes and rules deleted on the host.
    pub routing: broadcast::Receiver<Deleted>,
    pub stop: watch::Receiver<bool>,
    pub commands: mpsc::UnboundedReceiver<Command>,
    /// Warm preemption (see [`super::resync`]): held while true.
    pub hold: Option<watch::Receiver<bool>>,
}

/// The running units, by name.
pub(crate) struct UnitSet {
    /// By unit name: its commands, and its instances' names.
    units: HashMap<String, (mpsc::UnboundedSender<Command>, Vec<String>)>,
    next_id: u64,
    shared: Arc<super::Shared>,
    registry: Registry,
    results: broadcast::Sender<TrackEvent>,
    links: broadcast::Sender<LinkState>,
    routing: broadcast::Sender<Deleted>,
    stop: watch::Receiver<bool>,
}

impl UnitSet {
    /// No unit yet.
    pub fn new(
        shared: Arc<super::Shared>,
        registry: Registry,
        results: broadcast::Sender<TrackEvent>,
        links: broadcast::Sender<LinkState>,
        routing: broadcast::Sender<Deleted>,
        stop: watch::Receiver<bool>,
    ) -> UnitSet {
        UnitSet { units: HashMap::new(), next_id: 0, shared, registry, results, links, routing, stop }
    }

    /// What every unit reads.
    pub fn shared(&self) -> &super::Shared {
        &self.shared
    }

    /// The unit running instance `name`: its name and where its commands go.
    pub fn unit_of(&self, instance: &str) -> Option<(String, mpsc::UnboundedSender<Command>)> {
        self.units
            .iter()
            .find(|(_, (_, i))| i.iter().any(|n| n == instance))
            .map(|(n, (tx, _))| (n.clone(), tx.clone()))
    }

    /// Sends `command` to every unit.
    pub fn tell_all(&self, command: impl Fn() -> Command) {
        for (tx, _) in self.units.values() {
            let _ = tx.send(command());
        }
    }

    /// How many units run.
    pub fn len(&self) -> usize {
        self.units.len()
    }

    /// Starts a unit on `tasks`.
    pub fn spawn(
        &mut self,
        tasks: &mut tokio::task::JoinSet<(String, Result<(), String>)>,
        start: Start,
        hold: Option<watch::Receiver<bool>>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        let inputs = Inputs {
            results: self.results.subscribe(),
            links: self.links.subscribe(),
            routing: self.routing.subscribe(),
            stop: self.stop.clone(),
            commands: rx,
            hold,
        };
        let publisher = Publisher { registry: self.registry.clone(), id: self.next_id };
        self.next_id += 1;
        publisher.set(configured_snapshots(&start.setup.config, &start.setup.plan, None));
        self.units.insert(start.setup.plan.name.clone(), (tx, start.setup.plan.instances.clone()));
        let shared = Arc::clone(&self.shared);
        tasks.spawn(async move {
            let name = start.setup.plan.name.clone();
            (name, supervise(start, shared, inputs, publisher).await)
        });
    }

    /// Moves the set to `config`'s units (resolved by [`build::validate`]): new ones start,
    /// removed ones stop, the others get their new settings. Returns what changed, for the
    /// log and `tandem reload`.
    pub fn reload(
        &mut self,
        tasks: &mut tokio::task::JoinSet<(String, Result<(), String>)>,
        config: &Arc<Config>,
        units: Vec<build::Resolved>,
        scripts: &Arc<Specs>,
    ) -> Vec<String> {
        let wanted: HashSet<&str> = units.iter().map(|(p, _)| p.name.as_str()).collect();
        let mut changes = Vec::new();
        let removed: Vec<String> = self.units.keys().filter(|n| !wanted.contains(n.as_str())).cloned().collect();
        for name in removed {
            if let Some((tx, _)) = self.units.remove(&name) {
                let _ = tx.send(Command::Remove);
                changes.push(format!("{name} removed"));
            }
        }
        for (plan, resolved) in units {
            let setup =
                Setup { config: Arc::clone(config), plan, scripts: Arc::clone(scripts), resolved: Some(resolved) };
            match self.units.get_mut(&setup.plan.name) {
                Some((tx, instances)) => {
                    instances.clone_from(&setup.plan.instances);
                    let _ = tx.send(Command::Reconfigure(Box::new(setup)));
                }
                None => {
                    changes.push(format!("{} added", setup.plan.name));
                    self.spawn(tasks, Start { setup, startup_delay: Duration::ZERO }, None);
                }
            }
        }
        changes
    }
}

/// What a unit starts from.
pub(crate) struct Start {
    /// Its configuration.
    pub setup: Setup,
    /// `vrrp_startup_delay` (at tandem's start only).
    pub startup_delay: Duration,
}

/// Runs one unit until tandem stops or the unit is removed: waits in FAULT while this host
/// lacks what it needs, runs it, and starts it again when it must (a reload changed what
/// its sockets are, or its interface was created again).
async fn supervise(
    start: Start,
    shared: Arc<super::Shared>,
    mut inputs: Inputs,
    publisher: Publisher,
) -> Result<(), String> {
    let Start { mut setup, mut startup_delay } = start;
    loop {
        let unit = match wait_for_host(&mut setup, &shared, &mut inputs, &publisher, startup_delay).await {
            Waited::Ready(u) => u,
            Waited::Stopped => return Ok(()),
            Waited::Removed => {
                publisher.remove();
                return Ok(());
            }
        };
        match unit::run(unit, setup, &shared, &mut inputs, &publisher).await? {
            Exit::Stopped => return Ok(()),
            Exit::Removed => {
                publisher.remove();
                return Ok(());
            }
            Exit::Restart(again) => {
                setup = *again;
                startup_delay = Duration::ZERO;
            }
        }
    }
}

enum Waited {
    Ready(unit::Unit),
    Stopped,
    Removed,
}

/// How often a unit waiting for this host looks again (an address can appear without a
/// link event).
const RETRY: Duration = Duration::from_secs(1);

/// Resolves the unit against this host; while that fails for want of an interface or
/// address, publishes its instances in FAULT (notify scripts run, as keepalived's do for an
/// instance in fault) and retries at link events and every [`RETRY`].
async fn wait_for_host(
    setup: &mut Setup,
    shared: &super::Shared,
    inputs: &mut Inputs,
    publisher: &Publisher,
    startup_delay: Duration,
) -> Waited {
    let mut waiting_for: Option<String> = None;
    let mut notified = false;
    loop {
        match setup.resolve(&shared.addrs, startup_delay) {
            Ok(u) => {
                if waiting_for.is_some() {
                    info!(unit = %setup.plan.name, "what the unit waited for is there; it starts");
                }
                return Waited::Ready(u);
            }
            Err(BuildError::Missing(why) | BuildError::Invalid(why)) => {
                if waiting_for.as_deref() != Some(why.as_str()) {
                    warn!(unit = %setup.plan.name, reason = %why, "VRRP unit in FAULT until this host has what it needs");
                    if !notified {
                        notify_fault(&setup.config, &setup.plan, shared);
                        notified = true;
                    }
                    publisher.set(configured_snapshots(&setup.config, &setup.plan, Some(&why)));
                    waiting_for = Some(why);
                }
            }
        }
        let names = build::interfaces_named(&setup.config, &setup.plan);
        let retry = tokio::time::sleep(RETRY);
        tokio::pin!(retry);
        loop {
            tokio::select! {
                l = inputs.links.recv() => match l {
                    Ok(l) if names.contains(&l.name) && !l.gone => break,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return Waited::Stopped,
                },
                () = &mut retry => break,
                c = inputs.commands.recv() => match c {
                    Some(Command::Reconfigure(new)) => {
                        *setup = *new;
                        waiting_for = None;
                        break;
                    }
                    Some(Command::Remove) | None => return Waited::Removed,
                    // Nothing to hand over while waiting in FAULT.
                    Some(Command::HandOver | Command::Release) => {}
                },
                _ = inputs.stop.changed() => {
                    publisher.modify(|snaps| {
                        for s in snaps.iter_mut() {
                            s.state = State::Stopped.as_str().to_string();
                        }
                        true
                    });
                    return Waited::Stopped;
                }
            }
        }
    }
}

/// keepalived runs `notify_fault` (and `notify ... FAULT`) for an instance that starts in
/// fault; so does a unit waiting for its interface.
fn notify_fault(config: &Config, plan: &Plan, shared: &super::Shared) {
    for v in config.vrrp_instances.iter().filter(|v| plan.instances.contains(&v.name)) {
        unit::notify(&v.notify, &shared.fifo, "INSTANCE", &v.name, State::Fault, v.priority);
    }
    if let Some(g) = config.vrrp_sync_groups.iter().find(|g| plan.is_group && g.name == plan.name) {
        unit::notify(&g.notify, &shared.fifo, "GROUP", &g.name, State::Fault, 0);
    }
}

/// A unit's instances as its configuration describes them: INIT, or FAULT with `why` when
/// the unit waits for this host. A running unit publishes these with its state carried over
/// ([`carry`]).
pub(crate) fn configured_snapshots(c: &Config, plan: &Plan, why: Option<&str>) -> Vec<InstanceSnapshot> {
    let state = if why.is_some() { State::Fault } else { State::Init };
    plan.instances
        .iter()
        .filter_map(|name| c.vrrp_instances.iter().find(|v| v.name == *name))
        .map(|v| {
            let own = build::own_interface(c, v);
            InstanceSnapshot {
                name: v.name.clone(),
                sync_group: plan.is_group.then(|| plan.name.clone()),
                interface: own.clone(),
                vrid: v.virtual_router_id,
                family: if v.family() == tandem_conf::Family::Inet6 { "ipv6" } else { "ipv4" },
                version: if v.effective_version(&c.global_defs) == 3 { 3 } else { 2 },
                state: state.as_str().to_string(),
                priority: v.priority,
                effective_priority: v.priority,
                master: None,
                virtual_addresses: v
                    .virtual_ipaddress
                    .iter()
                    .chain(&v.virtual_ipaddress_excluded)
                    .map(|a| format!("{}/{} dev {}", a.address, a.prefix, a.dev.as_deref().unwrap_or(&own)))
                    .collect(),
                virtual_routes: v.virtual_routes.iter().map(super::routes::describe_route).collect(),
                virtual_rules: v.virtual_rules.iter().map(super::routes::describe_rule).collect(),
                last_transition: why.map(|w| {
                    TransitionSnapshot::now(State::Init.as_str().to_string(), state.as_str().to_string(), w.to_string())
                }),
                counters: AdvertCounters::default(),
            }
        })
        .collect()
}

/// `snaps` with what `before` (the same instances, published earlier) says of their running
/// state: state, effective priority, master, last transition, counters.
pub(crate) fn carry(mut snaps: Vec<InstanceSnapshot>, before: &[InstanceSnapshot]) -> Vec<InstanceSnapshot> {
    for s in &mut snaps {
        if let Some(b) = before.iter().find(|b| b.name == s.name) {
            s.state.clone_from(&b.state);
            s.effective_priority = b.effective_priority;
            s.master = b.master;
            s.last_transition.clone_from(&b.last_transition);
            s.counters.clone_from(&b.counters);
        }
    }
    snaps
}
