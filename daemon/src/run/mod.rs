//! `tandem run`: VRRP and IPVS from one configuration.
//!
//! One tokio task per unit (sync group, or lone instance), one task per tracked
//! `vrrp_script`, one thread following rtnetlink link changes, one task keeping the IPVS
//! table, one thread reading signals ([`signals`]). SIGTERM, SIGINT or SIGQUIT stops every
//! unit gracefully: masters send priority 0 and remove their addresses, then tandem exits.
//! SIGHUP reloads the configuration: a file that does not validate changes nothing; otherwise
//! the IPVS table moves to the new one by the minimal change and the VRRP units follow it
//! ([`units`]: added, removed, or changed in place keeping their state). keepalived's dump signals log the state ([`snapshot`]); a panic or
//! SIGABRT releases the virtual addresses before the process ends ([`release`]).

mod addresses;
mod build;
mod check_durations;
mod checks;
pub mod control;
mod control_request;
pub mod dispatch;
pub mod drill;
mod email;
mod fifo;
mod file_tracker;
mod firewall;
mod heap;
mod ipvs;
mod ipvs_refusals;
mod limits;
mod metrics;
mod notify;
mod notify_scripts;
mod privileges;
mod process_tracker;
mod release;
mod resync;
mod routes;
mod screen;
mod scripts;
mod signals;
mod snapshot;
mod status;
mod syncd;
mod unit;
mod units;

pub use heap::prepare_memory;
pub use signals::block as block_signals;

use crate::script::Script;
use std::collections::HashMap;
use std::time::Duration;
use tandem_vrrp::linux::addr::Addresses;
use tandem_vrrp::linux::link::{LinkMonitor, LinkState};
use tandem_vrrp::linux::route_monitor::{Deleted, RoutingMonitor};
use tandem_vrrp::linux::socket::Received;
use tokio::sync::{broadcast, watch};
use tracing::{error, info, warn};

/// Something for a unit's loop.
pub(crate) enum Event {
    /// A packet for member N (boxed: a unit's queue allocates its slots 32 at a time, and
    /// a slot is as large as an event: 16 bytes rather than ~100, per slot of every unit).
    Packet(usize, Box<Received>),
}

/// What every unit reads.
pub(crate) struct Shared {
    /// Interfaces as rtnetlink last said, by name (the link thread keeps it).
    links: std::sync::Arc<std::sync::Mutex<HashMap<String, LinkState>>>,
    addrs: Addresses,
    fifo: std::sync::Arc<fifo::Fifos>,
    /// The drop rules of instances without accept mode.
    firewall: firewall::Firewall,
    /// Email alerts.
    mail: email::Mailer,
    /// Routes and rules (virtual and static).
    routing: tandem_vrrp::linux::route::Routing,
    /// The VRRP sockets, shared by the instances that can use them.
    dispatch: dispatch::Dispatch,
}

impl Shared {
    /// Every interface as last seen.
    pub(crate) fn links(&self) -> Vec<LinkState> {
        self.links.lock().map(|l| l.values().cloned().collect()).unwrap_or_default()
    }

    /// The MAC of interface `ifindex`, if known.
    pub(crate) fn mac_of(&self, ifindex: u32) -> Option<[u8; 6]> {
        self.links.lock().ok()?.values().find(|l| l.ifindex == ifindex && !l.gone).and_then(|l| l.mac)
    }
}

/// Reads the configuration again (SIGHUP): the new one, or the rendered diagnostics.
pub type Reloader = Box<dyn Fn() -> Result<tandem_conf::Config, String>>;

/// keepalived's `ha_suspend` follows the virtual server's address; a fwmark or group
/// service has none to follow, and its checks run all the time.
fn warn_ha_suspend_without_address(c: &tandem_conf::Config) {
    for vs in c.virtual_servers.iter().filter(|v| v.ha_suspend && crate::health::suspend_address(v).is_none()) {
        warn!(virtual_server = %crate::health::name(vs), "ha_suspend needs an address to follow; the checks run always");
    }
}

/// `global_defs` keywords a reload applies: the IPVS keeper and the sync driver take the
/// first three from the new configuration; the VRRP units are resolved again from it, so the
/// defaults their instances take from `global_defs` follow too.
const GLOBAL_DEFS_RELOADED: &[&str] = &[
    "router_id",
    "enable_script_security",
    "lvs_flush_onstop",
    "lvs_sync_daemon",
    "lvs_flush",
    "lvs_timeouts",
    "default_interface",
    "vrrp_version",
    "vrrp_lower_prio_no_advert",
    "vrrp_higher_prio_send_advert",
    "vrrp_garp_master_delay",
    "vrrp_garp_master_repeat",
    "vrrp_garp_master_refresh",
    "vrrp_garp_master_refresh_repeat",
    "vrrp_garp_lower_prio_delay",
    "vrrp_garp_lower_prio_repeat",
    "vrrp_garp_interval",
    "vrrp_gna_interval",
    "vrrp_mcast_group4",
    "vrrp_mcast_group6",
    "v3_checksum_as_v2",
    "script_user",
    "notification_email",
    "notification_email_from",
    "smtp_server",
    "smtp_helo_name",
    "smtp_connect_timeout",
    "smtp_alert",
    "smtp_alert_vrrp",
    "smtp_alert_checker",
    "no_email_faults",
    "no_checker_emails",
];

/// The `global_defs` keywords that differ between two configurations and that a reload does
/// not apply (they take effect at the next restart), by name, sorted.
/// `script_user` for every script that names no user of its own.
fn apply_script_user(g: &tandem_conf::GlobalDefs) {
    let user =
        g.script_user.as_ref().and_then(|u| match crate::script::Credentials::lookup(&u.user, u.group.as_deref()) {
            Ok(c) => Some(c),
            Err(e) => {
                error!(error = %e, "script_user: scripts run as tandem's own user");
                None
            }
        });
    crate::script::set_default_user(user);
}

/// A global_defs key tandem does not act on at all (warned when the file is read): no
/// restart would apply it either.
fn inert(key: &str) -> bool {
    let path = format!("global_defs.{key}");
    let sub = format!("{path}.");
    tandem_conf::support::NOT_IMPLEMENTED
        .iter()
        .chain(tandem_conf::support::ALWAYS_ON)
        .any(|g| g.path == path || g.path.starts_with(&sub) || g.path.strip_suffix("[]") == Some(path.as_str()))
}

fn global_defs_needing_restart(a: &tandem_conf::GlobalDefs, b: &tandem_conf::GlobalDefs) -> Vec<String> {
    let as_map = |g: &tandem_conf::GlobalDefs| match serde_json::to_value(g) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let (a, b) = (as_map(a), as_map(b));
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k) && !GLOBAL_DEFS_RELOADED.contains(&k.as_str()) && !inert(k))
        .cloned()
        .collect()
}

/// How `run` runs, besides its configuration.
#[derive(Debug, Clone)]
pub struct Options {
    /// Remove the declared IPVS services at stop.
    pub release_ipvs: bool,
    /// The control socket (`tandem status`, `tandem reload`).
    pub control_socket: std::path::PathBuf,
    /// The configuration file, for status.
    pub config_file: String,
    /// Where to serve Prometheus metrics, if anywhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// Runs `config` until SIGTERM or SIGINT; SIGHUP calls `reload`. Returns an error message
/// when it cannot start.
pub fn run(config: tandem_conf::Config, options: Options, reload: Reloader) -> Result<(), String> {
    // Before the capabilities go (raising the hard limit needs CAP_SYS_RESOURCE).
    limits::raise_for(&config);
    // First, before the runtime and neli start threads.
    let kept = privileges::drop_to_needed()?;
    info!(capabilities = ?kept, "capabilities dropped to what is needed");
    // Threads made from here on have only those capabilities. Signals sent since start have
    // waited, blocked; the loop takes them once it runs.
    release::prepare()?;
    let (signal_tx, signal_rx) = tokio::sync::mpsc::unbounded_channel();
    signals::spawn(signal_tx)?;
    let checks = crate::health::checks(&config)?;
    let mut config = config;
    crate::health::forget_checks(&mut config);
    // The load's tokens, tree and source map are gone, and the checks' definitions; their
    // pages go back too.
    heap::give_back_freed();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let outcome = rt.block_on(async_run(std::sync::Arc::new(config), checks, options, reload, signal_rx));
    // A blocking step still running (a netlink call the stop gave up on) would hold a plain
    // drop of the runtime for ever.
    rt.shutdown_timeout(Duration::from_secs(1));
    outcome
}

/// The longest a stop may take, from the signal to the end of the last task: past it, tandem
/// logs what it still waits for, lets go of what it holds ([`release::release_all`]) and
/// ends with an error, before the SIGKILL of systemd's `TimeoutStopSec=15s` (our unit's). A
/// stop takes milliseconds, seconds at most with a large table to remove (docs/BENCHMARKS.md:
/// a cold apply of 50,000 changes took about 3 s in the emulated VM); only a bug or a kernel
/// that does not answer reaches this.
const STOP_BOUND: Duration = Duration::from_secs(10);

/// `config` is shared (one copy, not one per task: with 10,000 real servers it is megabytes).
async fn async_run(
    config: std::sync::Arc<tandem_conf::Config>,
    checks: crate::health::Checks,
    options: Options,
    reload: Reloader,
    mut signals: tokio::sync::mpsc::UnboundedReceiver<signals::Received>,
) -> Result<(), String> {
    apply_script_user(&config.global_defs);
    let delay = Duration::try_from_secs_f64(config.global_defs.vrrp_startup_delay).unwrap_or_default();
    // One route-netlink socket for every unit (neli runs a thread per socket).
    let addrs = Addresses::open().map_err(|e| e.to_string())?;
    let resolved = build::validate(&config, &addrs, delay)?;
    if resolved.is_empty() && config.virtual_servers.is_empty() {
        return Err("the configuration has neither vrrp_instance nor virtual_server".to_string());
    }
    let specs = std::sync::Arc::new(scripts::specs(&config)?);

    // Link changes: a thread reads rtnetlink and broadcasts.
    let (link_tx, _) = broadcast::channel::<LinkState>(256);
    let mut monitor = LinkMonitor::open().map_err(|e| e.to_string())?;
    let initial = monitor.dump().map_err(|e| e.to_string())?;
    let links = std::sync::Mutex::new(initial.into_iter().map(|l| (l.name.clone(), l)).collect::<HashMap<_, _>>());
    let shared_links = std::sync::Arc::new(links);
    let (sender, known) = (link_tx.clone(), std::sync::Arc::clone(&shared_links));
    std::thread::Builder::new()
        .name("links".into())
        .spawn(move || {
            while let Some(ev) = monitor.next_event() {
                if crate::failpoint::armed("links-thread") {
                    panic!("failpoint links-thread: a link event");
                }
                match ev {
                    Ok(l) => {
                        if let Ok(mut known) = known.lock() {
                            if l.gone {
                                known.remove(&l.name);
                            } else {
                                known.insert(l.name.clone(), l.clone());
                            }
                        }
                        let _ = sender.send(l);
                    }
                    Err(e) => warn!(error = %e, "link monitor"),
                }
            }
        })
        .map_err(|e| e.to_string())?;

    // vrrp_scripts that some unit tracks run on their own tasks.
    let (result_tx, _) = broadcast::channel::<scripts::TrackEvent>(256);
    let mut runners = scripts::Runners::new(result_tx.clone());
    runners.follow(&specs, &scripts::tracked(&config));
    // So do the watches of the files they track.
    let mut files = file_tracker::FileTracker::new(result_tx.clone());
    files.follow(file_tracker::tracked(&config));
    let mut processes = process_tracker::ProcessTracker::new(result_tx.clone());
    processes.follow(process_tracker::tracked(&config));

    // keepalived's notify FIFOs, and the scripts that read them.
    let (fifo, fifo_scripts) = fifo::Fifos::open(&config.global_defs)?;
    for (key, cmd, path) in fifo_scripts {
        let script = Script::parse(&cmd).map_err(|e| format!("{key}: {e}"))?;
        let script = script.with_args([path.display().to_string()]);
        tokio::spawn(async move {
            let outcome = script.run(Duration::MAX).await;
            warn!(%outcome, "{key} ended");
        });
    }
    let fifo = std::sync::Arc::new(fifo);
    let firewall = firewall::Firewall::default();
    firewall.clear_leftovers().await;
    let mail = email::Mailer::start(&config.global_defs);
    let routing = tandem_vrrp::linux::route::Routing::open().map_err(|e| e.to_string())?;
    let shared = std::sync::Arc::new(Shared {
        links: shared_links,
        addrs,
        routing,
        fifo,
        firewall,
        mail: mail.clone(),
        dispatch: dispatch::Dispatch::default(),
    });
    // static_ipaddress, static_routes, static_rules: whatever the VRRP state.
    let mut statics = routes::Statics::default();
    statics.apply(&config, &shared.addrs, &shared.routing);

    let (stop_tx, stop_rx) = watch::channel(false);
    // The IPVS keeper, the sync driver and the resync stop only once every VRRP unit has
    // stopped (its addresses released, the backup told by a priority-0 advert): removing the
    // virtual services or stopping the master sync daemon while this director still holds
    // the VIP would reset the connections that reach it meanwhile (seen in the fault
    // campaign: a long-lived connection reset by a SIGTERM'd master). See `Stopping`.
    let (late_stop_tx, late_stop_rx) = watch::channel(false);
    let mut stopping = Stopping::default();
    let mut tasks = tokio::task::JoinSet::new();
    let (registry, instances) = watch::channel(std::collections::BTreeMap::new());
    // Routes and rules deleted on the host: a thread reads rtnetlink and broadcasts.
    let (deleted_tx, mut deleted_rx) = broadcast::channel::<Deleted>(256);
    let mut routing_monitor = RoutingMonitor::open().map_err(|e| e.to_string())?;
    let sender = deleted_tx.clone();
    std::thread::Builder::new()
        .name("routing".into())
        .spawn(move || {
            while let Some(ev) = routing_monitor.next_deleted() {
                match ev {
                    Ok(d) => {
                        let _ = sender.send(d);
                    }
                    Err(e) => warn!(error = %e, "route monitor"),
                }
            }
        })
        .map_err(|e| e.to_string())?;
    let mut units = units::UnitSet::new(
        std::sync::Arc::clone(&shared),
        registry,
        result_tx.clone(),
        link_tx.clone(),
        deleted_tx,
        stop_rx.clone(),
    );
    // Warm preemption: the unit lvs_sync_daemon follows holds preemption until the resync
    // has given this director the master's table (or the wait's bound has passed).
    let warm = resync::warm_wait(&config);
    let followed = config.global_defs.lvs_sync_daemon.as_ref().and_then(|sd| sd.instance.clone());
    let (hold_tx, hold_rx) = watch::channel(warm.is_some());
    for (plan, unit) in resolved {
        // Addresses a killed predecessor left go before anything says tandem is ready.
        if let Ok(unit) = &unit {
            unit::remove_stale_addresses(unit, &shared.addrs, &shared.routing);
        }
        let holds = followed.as_ref().is_some_and(|f| plan.instances.contains(f));
        let setup = units::Setup {
            config: std::sync::Arc::clone(&config),
            plan,
            scripts: std::sync::Arc::clone(&specs),
            resolved: Some(unit),
        };
        units.spawn(&mut tasks, units::Start { setup, startup_delay: delay }, holds.then(|| hold_rx.clone()));
    }
    // The IPVS table, kept as the configuration and its health checks want it. The keeper
    // runs even without virtual servers so that a reload can add some.
    let units_count = units.len();
    warn_ha_suspend_without_address(&config);
    let checker = checks::Checker::new(
        std::sync::Arc::clone(&config),
        checks,
        Default::default(),
        mail.clone(),
        std::sync::Arc::clone(&shared.fifo),
    );
    // ha_suspend follows the host's addresses (keepalived follows them always, too).
    let addresses = addresses::follow()?;
    let (target_tx, target_rx) = watch::channel(std::sync::Arc::new(checker.target()));
    let services = target_rx.clone();
    let (config_tx, config_rx) = watch::channel(None);
    let stop = late_stop_rx.clone();
    let release_ipvs = options.release_ipvs;
    let (refused_tx, refused) = watch::channel(Vec::new());
    tasks.spawn(async move { (LATE[0].to_string(), ipvs::keep(target_rx, release_ipvs, stop, refused_tx).await) });
    let stop = stop_rx.clone();
    let (health_tx, health_rx) = watch::channel(checker.health().clone());
    let check_durations = check_durations::CheckDurations::default();
    let durations = check_durations.clone();
    tasks.spawn(async move {
        ("checks".to_string(), checker.run(config_rx, target_tx, health_tx, addresses, stop, durations).await)
    });
    // The kernel's sync daemons follow the role of the instance lvs_sync_daemon names.
    let (sync_tx, sync_rx) = watch::channel(syncd::Plan::of(&config));
    let (units_seen, stop) = (instances.clone(), late_stop_rx.clone());
    let (sync_status_tx, sync_status_rx) = watch::channel(syncd::SyncStatus::default());
    tasks.spawn(async move { (LATE[1].to_string(), syncd::drive(sync_rx, units_seen, stop, sync_status_tx).await) });
    // A backup daemon that starts asks the master for its whole table (bulk resync).
    let (table, stop, seen_instances) = (services.clone(), late_stop_rx.clone(), instances.clone());
    let warm = warm.map(|w| resync::Warm { hold: hold_tx, until: std::time::Instant::now() + w });
    let (sync_seen_tx, sync_seen) = watch::channel(snapshot::SyncSnapshot::default());
    tasks.spawn(async move {
        (LATE[2].to_string(), resync::run(sync_status_rx, seen_instances, table, stop, warm, sync_seen_tx).await)
    });
    info!(units = units_count, ipvs = !config.virtual_servers.is_empty(), "tandem running");
    let mut current = config;
    let mut dumps = Dumps { instances, services, refused, sync: sync_seen, stats_base: HashMap::new() };
    // `tandem status` and `tandem reload` reach the loop through the control socket.
    let (control_tx, mut control_rx) = tokio::sync::mpsc::channel::<control::Request>(16);
    let started_unix_ms = snapshot::now_unix_ms();
    if let Some(addr) = options.metrics_listen {
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
        info!(%addr, "metrics on http://{addr}/metrics");
        tokio::spawn(metrics::serve(listener, control_tx.clone(), check_durations));
    }
    let control_path = match control::bind(&options.control_socket) {
        Ok(Some(listener)) => {
            tokio::spawn(control::serve(listener, control_tx));
            Some(options.control_socket.clone())
        }
        Ok(None) => None,
        Err(e) => {
            warn!(error = %e, "no control socket: `tandem status` and `tandem reload` cannot reach this tandem");
            None
        }
    };
    // systemd: ready now that every unit, the IPVS keeper and the checks run.
    let mut notify = notify::Notify::from_env();
    notify.ready(dumps.status_line());
    let mut watchdog = notify.watchdog_every().map(tokio::time::interval);
    let mut status_every = tokio::time::interval(Duration::from_secs(1));

    let mut failed = None;
    // Set when the stop begins: its bound.
    let mut stop_by: Option<tokio::time::Instant> = None;
    let mut overran = false;
    // Static routes through an interface that went down and up again are restored.
    let mut links_seen = link_tx.subscribe();
    loop {
        tokio::select! {
            () = async { match stop_by { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {
                let waiting = stopping.waiting(*late_stop_tx.borrow());
                error!(
                    waiting = %waiting,
                    "tandem did not stop within {} s; ending without waiting any longer (its virtual addresses released)",
                    STOP_BOUND.as_secs()
                );
                release::release_all("the stop ran past its bound");
                // A unit's failure that began the stop stays the reason given.
                failed = failed.or_else(|| Some(format!("the stop ran past {} s, waiting for {waiting}", STOP_BOUND.as_secs())));
                overran = true;
                break;
            }
            Ok(l) = links_seen.recv() => {
                let shared = units.shared();
                statics.link(&current, &l.name, l.up && !l.gone, &shared.addrs, &shared.routing);
            }
            Ok(d) = deleted_rx.recv() => statics.deleted(&d, &units.shared().routing),
            Some(sig) = signals.recv() => match sig.effect {
                signals::Effect::Reload => {
                    info!(from = %sig.from, "SIGHUP: reloading");
                    notify.reloading();
                    let mut vrrp = Vrrp {
                        units: &mut units,
                        runners: &mut runners,
                        files: &mut files,
                        processes: &mut processes,
                        tasks: &mut tasks,
                        statics: &mut statics,
                    };
                    let _ = reload_now(&reload, &mut current, &config_tx, &mut vrrp);
                    publish(&sync_tx, &syncd::Plan::of(&current));
                    notify.reloaded();
                }
                signals::Effect::Stop => {
                    info!(signal = %sig.name, from = %sig.from, "stopping");
                    notify.stopping();
                    let _ = stop_tx.send(true);
                    stopping.check(&tasks, &late_stop_tx);
                }
                signals::Effect::Dump(kind) => dumps.log(kind, &sig),
                signals::Effect::Ignore => {
                    warn!(signal = %sig.name, from = %sig.from, "signal ignored (it does nothing in tandem; see docs/operations.md, Signals)");
                }
                // The signal thread ends the process itself for these; they never come here.
                signals::Effect::EndNow => {}
            },
            // Every task runs on this one thread: while this loop turns, nothing hangs it.
            _ = async { if let Some(w) = watchdog.as_mut() { w.tick().await } else { std::future::pending().await } } => {
                notify.alive();
            }
            // Made only for systemd: at 1,000 instances it was a copy of every snapshot a second.
            _ = status_every.tick(), if notify.on() => notify.status(dumps.status_line()),
            Some(request) = control_rx.recv() => match request {
                control::Request::Status(answer) => {
                    let _ = answer.send(status::Parts {
                        config: std::sync::Arc::clone(&current),
                        config_file: options.config_file.clone(),
                        started_unix_ms,
                        instances: dumps.instances(),
                        health: health_rx.borrow().clone(),
                        sync: dumps.sync.borrow().clone(),
                        ipvs_refused: dumps.refused.borrow().clone(),
                        vrrp_sockets: units.shared().dispatch.status(),
                    });
                }
                control::Request::Drill(req, answer) => {
                    match start_drill(&req, &current, &units, &dumps) {
                        Err(refused) => {
                            let _ = answer.send(drill::Report { refused: Some(refused), ..drill::Report::default() });
                        }
                        Ok(None) => {
                            let _ = answer.send(drill::Report { ok: true, ..drill::Report::default() });
                        }
                        Ok(Some(d)) => {
                            tokio::spawn(async move {
                                let _ = answer.send(d.run(req).await);
                            });
                        }
                    }
                }
                control::Request::Reload(answer) => {
                    info!("reload asked on the control socket");
                    notify.reloading();
                    let mut vrrp = Vrrp {
                        units: &mut units,
                        runners: &mut runners,
                        files: &mut files,
                        processes: &mut processes,
                        tasks: &mut tasks,
                        statics: &mut statics,
                    };
                    let outcome = reload_now(&reload, &mut current, &config_tx, &mut vrrp);
                    publish(&sync_tx, &syncd::Plan::of(&current));
                    notify.reloaded();
                    let _ = answer.send(outcome);
                }
            },
            done = tasks.join_next() => {
                match done {
                    None => break,
                    Some(Ok((name, Ok(())))) => stopping.ended(&name),
                    Some(Ok((name, Err(e)))) => {
                        stopping.ended(&name);
                        error!(unit = %name, error = %e, "unit failed; stopping");
                        notify.stopping();
                        failed = Some(e);
                        let _ = stop_tx.send(true);
                    }
                    Some(Err(e)) => {
                        error!(error = %e, "unit task ended abnormally; stopping");
                        notify.stopping();
                        failed = Some(e.to_string());
                        let _ = stop_tx.send(true);
                    }
                }
                if *stop_tx.borrow() {
                    stopping.check(&tasks, &late_stop_tx);
                }
            }
        }
        if stop_by.is_none() && *stop_tx.borrow() {
            stop_by = Some(tokio::time::Instant::now() + STOP_BOUND);
        }
    }
    // The alerts of the stop (instances stopping, with `omega` the real servers and quorums
    // going down) get a few seconds to go out, and the notify scripts of the stop
    // (notify_stop, STOP) a few seconds to run; not after a stop that ran past its bound.
    if !overran {
        mail.flush(Duration::from_secs(5)).await;
        notify_scripts::wait(Duration::from_secs(5)).await;
    }
    // Every unit has stopped and removed its VIPs: their drop rules go too.
    shared.firewall.remove().await;
    if let Some(p) = control_path {
        control::remove(&p);
    }
    let shared = units.shared();
    statics.clear(&shared.addrs, &shared.routing);
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The tasks that stop last, after every VRRP unit: the IPVS keeper, the sync driver, the
/// resync.
const LATE: [&str; 3] = ["IPVS", "IPVS sync", "resync"];

/// The ordered stop: once the VRRP units (and the checks) have ended, the late tasks are told
/// to stop.
#[derive(Default)]
struct Stopping {
    /// Late tasks that have ended (on an error, before any stop).
    late_ended: Vec<&'static str>,
}

impl Stopping {
    /// A task called `name` ended.
    fn ended(&mut self, name: &str) {
        if let Some(late) = LATE.iter().find(|l| **l == name) {
            self.late_ended.push(late);
        }
    }

    /// What a stop still waits for, in words: the late tasks still running once they were
    /// told to stop (`late_told`), else the VRRP units and the checks before them.
    fn waiting(&self, late_told: bool) -> String {
        if !late_told {
            return "the VRRP units or the health checks to stop".to_string();
        }
        let left: Vec<&str> = LATE.iter().filter(|l| !self.late_ended.contains(l)).copied().collect();
        format!("the task{} {}", if left.len() == 1 { "" } else { "s" }, left.join(", "))
    }

    /// Stopping: tells the late tasks to stop once they are all that is left running.
    fn check<T: 'static>(&self, tasks: &tokio::task::JoinSet<T>, late_stop: &watch::Sender<bool>) {
        if tasks.len() <= LATE.len().saturating_sub(self.late_ended.len()) && !*late_stop.borrow() {
            let _ = late_stop.send(true);
        }
    }
}

/// Runs one blocking step (netlink calls) of a task's `state` on the blocking pool and gives
/// the state back with the step's result. An error only if the step could not finish (the
/// runtime is shutting down: a panic ends the process).
pub(crate) async fn blocking<S: Send + 'static, T: Send + 'static>(
    state: S,
    f: impl FnOnce(&mut S) -> T + Send + 'static,
) -> Result<(S, T), String> {
    tokio::task::spawn_blocking(move || {
        let mut s = state;
        let out = f(&mut s);
        (s, out)
    })
    .await
    .map_err(|e| e.to_string())
}

/// Puts `value` on `tx` when it differs from what is there (cloned only then): receivers wake
/// for changes only.
pub(crate) fn publish<T: PartialEq + Clone>(tx: &watch::Sender<T>, value: &T) {
    tx.send_if_modified(|v| {
        let changed = *v != *value;
        if changed {
            *v = value.clone();
        }
        changed
    });
}

/// SIGHUP: reads the configuration again and hands it to the checks and the IPVS keeper.
/// Reloads the configuration: what was done, or why nothing was.
fn reload_now(
    reload: &Reloader,
    current: &mut std::sync::Arc<tandem_conf::Config>,
    config_tx: &watch::Sender<Option<std::sync::Arc<checks::Reloaded>>>,
    vrrp: &mut Vrrp<'_>,
) -> Result<String, String> {
    let outcome = match reload() {
        Err(e) => {
            error!("reload: the configuration does not validate; keeping the running one\n{e}");
            Err(format!("the configuration does not validate; the running one stays\n{e}"))
        }
        Ok(mut new) => match prepare_vrrp(&new, &vrrp.units.shared().addrs) {
            Err(e) => {
                error!(error = %e, "reload: the new VRRP configuration cannot run; keeping the running configuration");
                Err(format!("the new VRRP configuration cannot run ({e}); the running configuration stays"))
            }
            Ok((plans, specs)) => match crate::health::checks(&new) {
                Err(e) => {
                    error!(error = %e, "reload: the new health checks cannot run; keeping the running configuration");
                    Err(format!("the new health checks cannot run ({e}); the running configuration stays"))
                }
                Ok(checks) => {
                    let mut message = "configuration reloaded".to_string();
                    let mut later = global_defs_needing_restart(&current.global_defs, &new.global_defs);
                    if current.net_namespace != new.net_namespace {
                        later.push("net_namespace".to_string());
                    }
                    if !later.is_empty() {
                        let keys = later.join(", ");
                        warn!(keys = %keys, "reload: these global_defs changes take effect at the next restart");
                        message
                            .push_str(&format!("; global_defs changes that take effect at the next restart: {keys}"));
                    }
                    warn_ha_suspend_without_address(&new);
                    apply_script_user(&new.global_defs);
                    vrrp.units.shared().mail.configure(&new.global_defs);
                    limits::raise_for(&new);
                    crate::health::forget_checks(&mut new);
                    let new = std::sync::Arc::new(new);
                    let specs = std::sync::Arc::new(specs);
                    vrrp.runners.follow(&specs, &scripts::tracked(&new));
                    vrrp.files.follow(file_tracker::tracked(&new));
                    vrrp.processes.follow(process_tracker::tracked(&new));
                    let changes = vrrp.units.reload(vrrp.tasks, &new, plans, &specs);
                    let shared = vrrp.units.shared();
                    vrrp.statics.apply(&new, &shared.addrs, &shared.routing);
                    if !changes.is_empty() {
                        message.push_str(&format!("; VRRP units {}", changes.join(", ")));
                    }
                    info!(changes = %changes.join(", "), "reload: configuration reloaded");
                    let config = std::sync::Arc::clone(&new);
                    // The configuration before (its checks, for thousands of real servers) is
                    // freed off the reload's path.
                    let before = config_tx.send_replace(Some(std::sync::Arc::new(checks::Reloaded { config, checks })));
                    tokio::task::spawn_blocking(move || drop(before));
                    *current = new;
                    Ok(message)
                }
            },
        },
    };
    // What the parse allocated is freed (and the old model, when the checks task has taken
    // the new one): its pages go back once the reload is through.
    heap::give_back_later();
    outcome
}

/// A drill for `req`: the instance it names (else the one `lvs_sync_daemon` follows, else
/// the only one) and its unit; `None` when `req` only releases a hold (done here).
fn start_drill(
    req: &drill::DrillRequest,
    config: &tandem_conf::Config,
    units: &units::UnitSet,
    dumps: &Dumps,
) -> Result<Option<drill::Drill>, String> {
    let followed = config.global_defs.lvs_sync_daemon.as_ref().and_then(|s| s.instance.clone());
    if req.release {
        match &req.instance {
            Some(name) => units
                .unit_of(name)
                .ok_or(format!("no instance {name}"))?
                .1
                .send(units::Command::Release)
                .map_err(|_| "the unit is not running".to_string())?,
            None => units.tell_all(|| units::Command::Release),
        }
        return Ok(None);
    }
    let name = match (&req.instance, &followed, config.vrrp_instances.as_slice()) {
        (Some(n), _, _) => n.clone(),
        (None, Some(f), _) => f.clone(),
        (None, None, [only]) => only.name.clone(),
        _ => return Err("several instances: name one with --instance".into()),
    };
    let conf = config.vrrp_instances.iter().find(|v| v.name == name).ok_or(format!("no instance {name}"))?;
    let (unit, commands) = units.unit_of(&name).ok_or(format!("instance {name} is not running"))?;
    Ok(Some(drill::Drill {
        instance: name,
        unit,
        commands,
        instances: dumps.instances.clone(),
        sync: dumps.sync.clone(),
        followed,
        advert_interval: Duration::try_from_secs_f64(conf.advert_int).unwrap_or(Duration::from_secs(1)),
        preempt: !conf.nopreempt,
    }))
}

/// The units and the vrrp_scripts of a configuration, checked: what tandem refuses is an
/// error; an interface this host lacks only makes a unit wait in FAULT.
fn prepare_vrrp(c: &tandem_conf::Config, addrs: &Addresses) -> Result<(Vec<build::Resolved>, scripts::Specs), String> {
    Ok((build::validate(c, addrs, Duration::ZERO)?, scripts::specs(c)?))
}

/// What a reload changes on the VRRP side.
struct Vrrp<'a> {
    units: &'a mut units::UnitSet,
    runners: &'a mut scripts::Runners,
    files: &'a mut file_tracker::FileTracker,
    processes: &'a mut process_tracker::ProcessTracker,
    tasks: &'a mut tokio::task::JoinSet<(String, Result<(), String>)>,
    /// The static addresses, routes and rules held.
    statics: &'a mut routes::Statics,
}

/// What the dump signals read: the units' published instances and the desired IPVS table.
struct Dumps {
    instances: units::Instances,
    services: watch::Receiver<std::sync::Arc<ipvs::Target>>,
    /// The changes the kernel refuses, as the IPVS keeper last published them.
    refused: watch::Receiver<Vec<ipvs_refusals::Refusal>>,
    sync: watch::Receiver<snapshot::SyncSnapshot>,
    /// Counters at the last SIGRTMAX-1 (keepalived's STATS_CLEAR), by instance: SIGUSR2
    /// shows what counted since. The counters themselves never go back (metrics read them).
    stats_base: HashMap<String, snapshot::AdvertCounters>,
}

impl Dumps {
    fn instances(&self) -> Vec<snapshot::InstanceSnapshot> {
        units::instances(&self.instances.borrow())
    }

    /// systemd's STATUS line: the instances' states and the real servers in service.
    fn status_line(&self) -> String {
        let (up, total) = self.services.borrow().real_servers;
        // Read in place: the line needs names and states, not a copy of every snapshot.
        notify::status_line(self.instances.borrow().values().flatten(), (total > 0).then_some((up, total)))
    }

    /// Logs the dump `kind` asks for; nothing is written anywhere else.
    fn log(&mut self, kind: signals::Dump, sig: &signals::Received) {
        use signals::Dump;
        info!(signal = %sig.name, from = %sig.from, "{}", match kind {
            Dump::Data => "state dump follows",
            Dump::Stats => "statistics follow",
            Dump::StatsClear => "statistics follow; they count afresh from now",
            Dump::Json => "state as JSON follows",
            Dump::Threads => "threads follow",
        });
        match kind {
            Dump::Data => {
                let now = snapshot::now_unix_ms();
                for i in self.instances() {
                    info!("{}", snapshot::instance_line(&i, now));
                }
                for v in snapshot::services(&self.services.borrow().desired) {
                    info!("{}", snapshot::service_line(&v));
                }
                for r in self.refused.borrow().iter() {
                    info!("{}", r.dump_line(now));
                }
                if let Some(line) = snapshot::sync_line(&self.sync.borrow(), now) {
                    info!("{line}");
                }
            }
            Dump::Stats | Dump::StatsClear => {
                for i in self.instances() {
                    let since = match self.stats_base.get(&i.name) {
                        Some(base) => i.counters.since(base),
                        None => i.counters.clone(),
                    };
                    info!("{}", snapshot::stats_line(&i.name, &since));
                    if kind == Dump::StatsClear {
                        self.stats_base.insert(i.name.clone(), i.counters);
                    }
                }
            }
            Dump::Json => {
                let s = snapshot::Snapshot::new(
                    self.instances(),
                    snapshot::services(&self.services.borrow().desired),
                    self.sync.borrow().clone(),
                );
                match serde_json::to_string(&s) {
                    Ok(json) => info!("{json}"),
                    Err(e) => error!(error = %e, "cannot write the state as JSON"),
                }
            }
            Dump::Threads => {
                for t in snapshot::threads() {
                    info!("{t}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_past_its_bound_names_what_it_waits_for() {
        let mut s = Stopping::default();
        assert_eq!(s.waiting(false), "the VRRP units or the health checks to stop");
        assert_eq!(s.waiting(true), "the tasks IPVS, IPVS sync, resync");
        s.ended("VI_1");
        s.ended("IPVS");
        s.ended("resync");
        assert_eq!(s.waiting(true), "the task IPVS sync");
    }

    #[test]
    fn a_reload_names_the_global_defs_it_does_not_apply() {
        let a = tandem_conf::GlobalDefs::default();
        let mut b = a.clone();
        assert!(global_defs_needing_restart(&a, &b).is_empty());
        b.router_id = Some("lb2".into());
        b.vrrp_garp_interval = 0.5;
        b.lvs_flush = true;
        b.vrrp_startup_delay = 5.0;
        // Email settings a reload applies.
        b.smtp_server = Some(tandem_conf::SmtpServer { host: "mail".into(), port: 25 });
        b.notification_email = vec!["ops@example.com".into()];
        b.smtp_alert = Some(true);
        // Not acted on at all (always on): no restart would apply it either.
        b.vrrp_check_unicast_src = true;
        assert_eq!(global_defs_needing_restart(&a, &b), ["vrrp_startup_delay"]);
    }
}
