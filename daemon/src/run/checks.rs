//! Health checks: the sans-I/O core of tandem-checker driven on tokio, its verdicts turned
//! into the desired IPVS table.
//!
//! One task owns the core and runs every probe itself: TCP_CHECKs (the check of large pools)
//! go to a [`TcpConnects`] set whose epoll descriptor tokio watches; the other probes are
//! futures in one `FuturesUnordered`, polled when their socket or timer wakes them. No
//! thread, and no task, per check: with 10,000 checks a second, a spawned task and a channel
//! message per check cost more than the check's own work. The task sleeps until the core's
//! next deadline or a probe's result, hands results to the core, and publishes the desired
//! table (configuration + the core's pools) to the IPVS keeper, which applies the difference
//! against its model of the kernel. Transitions are logged with the probe's reason and run
//! `notify_up` / `notify_down` / `quorum_up` / `quorum_down`. A reload rebuilds the core from
//! the new configuration (probes in flight are dropped); a real server that was down stays
//! out until its checks pass again, one that was up stays in.

use super::addresses::Present;
use super::check_durations::CheckDurations;
use super::email::{self, Mailer};
use super::ipvs::Target;
use super::snapshot::{HealthSnapshot, RealServerHealth, VirtualServerHealth, now_unix_ms};
use crate::health::{self, Checks, Runner};
use crate::script::{Credentials, Script};
use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tandem_checker::connects::{self, TcpConnects};
use tandem_checker::health::{Action, CheckChange, CheckId, Health, RsId};
use tandem_checker::probe::Probe;
use tandem_checker::probe::ProbeResult;
use tandem_conf::Config;
use tokio::sync::watch;
use tracing::{debug, info, warn};

/// Shortest time between two publications of the desired table.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);

/// Probes started on one clock reading. Starting a TCP check is a few system calls, and
/// thousands of them in a row take a while under emulation. Started on one reading, with
/// their results collected after the last start, every start and result of such a batch
/// carried the same time, so the whole batch came due again at one instant: batches merged
/// round after round until all checks ran in one, and every round came late by the batch's
/// length (2,000 servers in the VM: results 240-305 ms after their start on average and the
/// sink's lateness p50 272 ms, measured with an instrumented build; that the time went on
/// starting the batch is inferred from that, not timed).
/// Re-reading the clock and collecting the finished connects every few dozen starts keeps
/// each check's times its own, and the checks stay spread.
const START_CHUNK: usize = 32;

/// An attempt of a check: which one, and when it began (its duration is measured from then).
type Attempt = (CheckId, Instant);

/// A configuration reloaded, with its checks already built (the reload was refused if they
/// could not be).
pub struct Reloaded {
    /// The configuration.
    pub config: Arc<Config>,
    /// Its checks.
    pub checks: Checks,
}

/// What a configuration's checks leave to the next one's at a reload, by virtual server.
#[derive(Debug, Default)]
pub struct Previous {
    by_service: HashMap<ServiceId, Before>,
}

/// A virtual server as keepalived tells one from another at a reload (its address and port,
/// fwmark or group, and its protocol): the same in the new file is the same service.
type ServiceId = (Option<tandem_conf::ServiceKey>, tandem_conf::Protocol);

fn service_id(vs: &tandem_conf::VirtualServer) -> ServiceId {
    (vs.key(), vs.effective_protocol())
}

/// One virtual server's states before a reload, each taken out once the new configuration's
/// checks confirm or change it.
#[derive(Debug, Default)]
struct Before {
    /// Quorum up or not.
    quorum: Option<bool>,
    /// Real servers by address (sorted, for a binary search: a pool may hold thousands):
    /// alive or not.
    alive: Vec<(SocketAddr, Option<bool>)>,
    /// What status showed of its real servers, sorted by address: each one's last reason
    /// and transition time carry over.
    seen: Vec<RealServerHealth>,
}

impl Before {
    fn alive_mut(&mut self, addr: &SocketAddr) -> Option<&mut Option<bool>> {
        let i = self.alive.binary_search_by(|(a, _)| a.cmp(addr)).ok()?;
        self.alive.get_mut(i).map(|(_, alive)| alive)
    }
}

/// The checks of one configuration, running.
pub struct Checker {
    config: Arc<Config>,
    checks: Checks,
    health: Health,
    /// The previous configuration's states not yet confirmed or changed by this one: a
    /// transition to the state a server or quorum already had before the reload is not a
    /// change, and notifies nobody (keepalived keeps the states of unchanged services across
    /// a reload too). Indexed like the configuration's virtual servers.
    previous: Vec<Before>,
    /// `ha_suspend` virtual servers: whether their checks run (their address is here).
    resumed: Vec<Option<bool>>,
    /// Checks the core asked to start, taken by the loop (kept to reuse its allocation).
    starting: Vec<CheckId>,
    /// Who notify scripts run as (`script_user`), looked up once.
    notify_as: Result<Option<Credentials>, String>,
    /// What `tandem status` shows of the checks, kept as transitions come.
    seen: HealthSnapshot,
    /// Email alerts.
    mail: Mailer,
    /// The notify FIFOs (`notify_fifo`, `lvs_notify_fifo`) that get `RS` / `VS` lines.
    fifo: Arc<super::fifo::Fifos>,
    /// The core's first actions (its starting states) are drained: quorum mails say "Gained"
    /// and "Lost" from then on, "Starting with" before (keepalived's `init`) for a virtual
    /// server the configuration before a reload did not have.
    started: bool,
    /// Stopping: real server and quorum mails say "Shutting down".
    stopping: bool,
}

/// A number in [0, 1) for the warmup spread.
fn random() -> f64 {
    (tandem_checker::probe::random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// What the IPVS keeper should make of a configuration and its pools.
pub fn target(c: &Config, pools: Option<&[Vec<(SocketAddr, u32)>]>) -> Target {
    Target {
        desired: crate::desired::table_with(c, pools),
        whole: c.global_defs.lvs_flush,
        flush_on_stop: c.global_defs.lvs_flush_onstop,
        timeouts: c.global_defs.lvs_timeouts.as_ref().map(|t| tandem_ipvs::Timeouts {
            tcp: t.tcp.unwrap_or(0),
            tcp_fin: t.tcpfin.unwrap_or(0),
            udp: t.udp.unwrap_or(0),
        }),
        real_servers: (0, c.virtual_servers.iter().map(|v| v.real_servers.len()).sum()),
    }
}

impl Checker {
    /// The checks of `config`; `previous` keeps real servers (by virtual server name and
    /// address) in the state a previous configuration's checks left them.
    pub fn new(
        config: Arc<Config>,
        mut checks: Checks,
        previous: Previous,
        mail: Mailer,
        fifo: Arc<super::fifo::Fifos>,
    ) -> Checker {
        let mut by_service = previous.by_service;
        let mut before = Vec::with_capacity(config.virtual_servers.len());
        for (i, vs_conf) in config.virtual_servers.iter().enumerate() {
            let mut b = match by_service.is_empty() {
                true => Before::default(),
                false => by_service.remove(&service_id(vs_conf)).unwrap_or_default(),
            };
            for rs in checks.settings.virtual_servers.get_mut(i).map_or(&mut [][..], |v| &mut v.real_servers) {
                if let Some(Some(alive)) = b.alive_mut(&rs.addr).as_deref() {
                    // Down before the reload: out until a check passes (alpha); up: stays in.
                    for c in &mut rs.checks {
                        c.alpha = !alive;
                    }
                }
            }
            before.push(b);
        }
        let health = Health::new(&checks.settings, Instant::now(), random);
        let notify_as = match &config.global_defs.script_user {
            None => Ok(None),
            Some(u) => Credentials::lookup(&u.user, u.group.as_deref()).map(Some),
        };
        let resumed = vec![None; config.virtual_servers.len()];
        let seen = health_snapshot(&config, &checks, &health, &before);
        Checker {
            fifo,
            config,
            checks,
            health,
            previous: before,
            resumed,
            starting: Vec::new(),
            notify_as,
            seen,
            mail,
            started: false,
            stopping: false,
        }
    }

    /// What `tandem status` shows of the checks now.
    pub fn health(&self) -> &HealthSnapshot {
        &self.seen
    }

    /// Lets the checks of `ha_suspend` virtual servers run while their address is among
    /// `present`, and suspends them otherwise.
    fn follow_addresses(&mut self, now: Instant, present: &HashSet<IpAddr>) {
        for (i, vs) in self.config.virtual_servers.iter().enumerate() {
            let Some(addr) = health::suspend_address(vs) else { continue };
            let here = present.contains(&addr);
            let Some(state) = self.resumed.get_mut(i) else { continue };
            if *state == Some(here) {
                continue;
            }
            *state = Some(here);
            self.health.handle_ha_active(now, i, here);
            if here {
                info!(virtual_server = %health::name(vs), "ha_suspend: address here, checks run");
            } else {
                info!(virtual_server = %health::name(vs), "ha_suspend: address not here, checks suspended");
            }
        }
    }

    /// The desired IPVS state now.
    pub fn target(&self) -> Target {
        let pools: Vec<_> = (0..self.config.virtual_servers.len()).map(|i| self.health.pool(i)).collect();
        let mut t = target(&self.config, Some(&pools));
        let alive = (self.checks.settings.virtual_servers.iter().enumerate())
            .flat_map(|(vs, v)| (0..v.real_servers.len()).map(move |rs| RsId { vs, rs }))
            .filter(|id| self.health.is_alive(*id))
            .count();
        t.real_servers.0 = alive;
        t
    }

    /// The states to carry over to the next configuration, and what is left of this one
    /// (to be dropped off the reload's path).
    fn into_previous(mut self) -> (Previous, Checker) {
        let mut by_service = HashMap::with_capacity(self.config.virtual_servers.len());
        let mut seen = std::mem::take(&mut self.seen.virtual_servers).into_iter();
        for (i, vs_conf) in self.config.virtual_servers.iter().enumerate() {
            let real_servers = self.checks.settings.virtual_servers.get(i).map_or(&[][..], |v| &v.real_servers);
            let mut alive: Vec<_> = (real_servers.iter().enumerate())
                .map(|(j, rs)| (rs.addr, Some(self.health.is_alive(RsId { vs: i, rs: j }))))
                .collect();
            alive.sort_by_key(|(addr, _)| *addr);
            let mut seen = seen.next().map(|v| v.real_servers).unwrap_or_default();
            seen.sort_by_key(|r| r.address);
            // The first of two alike (an invalid file never runs) keeps its states.
            by_service.entry(service_id(vs_conf)).or_insert(Before {
                quorum: Some(self.health.quorum_up(i)),
                alive,
                seen,
            });
        }
        (Previous { by_service }, self)
    }

    /// Handles results that came in at `now`, emptying `results`.
    fn handle_results(&mut self, now: Instant, results: &mut Vec<(Attempt, ProbeResult)>, durations: &CheckDurations) {
        for (attempt, result) in results.drain(..) {
            self.handle_result(now, attempt, &result, durations);
        }
    }

    /// Hands the result of `attempt`, in at `now`, to the core, and times the attempt.
    fn handle_result(&mut self, now: Instant, (id, began): Attempt, result: &ProbeResult, durations: &CheckDurations) {
        if let Some(runner) = self.runner(id) {
            durations.observe(runner, now.saturating_duration_since(began));
        }
        if let Err(failure) = result {
            if self.checks.log_all_failures.contains(&id) {
                let real_server = self
                    .checks
                    .settings
                    .virtual_servers
                    .get(id.vs)
                    .and_then(|v| v.real_servers.get(id.rs))
                    .map(|r| r.addr.to_string())
                    .unwrap_or_default();
                warn!(%real_server, check = id.check, reason = %failure, "check attempt failed (log_all_failures)");
            }
        }
        self.health.handle_result(now, id, result);
    }

    /// Performs the core's actions, leaving the probes to start in `starting`; true when a
    /// pool changed.
    fn drain(&mut self) -> bool {
        let mut changed = false;
        while let Some(a) = self.health.poll_action() {
            match a {
                Action::StartProbe(id) => self.starting.push(id),
                Action::SetDest { .. } | Action::RemoveDest { .. } => changed = true,
                Action::RealServer { rs, up, reason } => {
                    let mut seen_up = None;
                    if let Some(h) =
                        self.seen.virtual_servers.get_mut(rs.vs).and_then(|v| v.real_servers.get_mut(rs.rs))
                    {
                        seen_up = Some(h.up);
                        if h.up != up || h.since_unix_ms.is_none() {
                            h.since_unix_ms = Some(now_unix_ms());
                        }
                        h.up = up;
                        if !up {
                            h.reason = Some(reason.clone().unwrap_or_else(|| "stopping".to_string()));
                        }
                    }
                    let addr = self.checks.settings.virtual_servers.get(rs.vs).and_then(|v| v.real_servers.get(rs.rs));
                    let was = match (addr, self.previous.get_mut(rs.vs)) {
                        (Some(a), Some(before)) => before.alive_mut(&a.addr).and_then(Option::take),
                        _ => None,
                    };
                    let vs_conf = self.config.virtual_servers.get(rs.vs);
                    let conf_rs = vs_conf.and_then(|v| v.real_servers.get(rs.rs));
                    // Formatted only for a line that is logged: a reload brings one action per
                    // real server, nearly all of them "as before".
                    let what = || match conf_rs {
                        Some(r) => format!(
                            "{} {} of virtual_server {}",
                            r.ip,
                            r.port.unwrap_or(0),
                            vs_conf.map(health::name).unwrap_or_default()
                        ),
                        None => "?".into(),
                    };
                    if was == Some(up) {
                        debug!(real_server = %what(), up, "real server as before the reload");
                        continue;
                    }
                    if up {
                        info!(real_server = %what(), "real server up");
                    } else {
                        warn!(real_server = %what(), reason = reason.as_deref().unwrap_or("stopping"), "real server down");
                    }
                    let script = conf_rs.and_then(|r| if up { r.notify_up.as_ref() } else { r.notify_down.as_ref() });
                    notify(&self.notify_as, script);
                    // keepalived's ipwrapper.c, notify_fifo_rs: `RS [rs]:proto:port [vs] UP|DOWN`.
                    if let (Some(v), Some(r)) = (vs_conf, conf_rs) {
                        let rs = email::trio(r.ip, v.effective_protocol(), r.port.or(v.port).unwrap_or(0));
                        let state = if up { "UP" } else { "DOWN" };
                        self.fifo.lvs(&format!("RS {rs} {} {state}", email::virtual_server_name(v)));
                    }
                    // The checks' own changes are mailed below; at a stop with `omega`, keepalived
                    // mails each server that goes down (ipwrapper.c, clear_service_rs).
                    if let (Some(v), Some(r), true) = (vs_conf, conf_rs, self.stopping) {
                        if seen_up != Some(up) && email::real_server_alert(r.smtp_alert, &self.config.global_defs) {
                            let body = email::real_server_body(email::CheckWord::Other, up, true);
                            self.mail.send(email::Alert::RealServer {
                                real_server: email::trio(r.ip, v.effective_protocol(), r.port.or(v.port).unwrap_or(0)),
                                virtual_server: email::virtual_server_name(v),
                                up,
                                body,
                            });
                        }
                    }
                }
                Action::Quorum { vs, up, weight, threshold } => {
                    if let Some(h) = self.seen.virtual_servers.get_mut(vs) {
                        h.quorum_up = up;
                    }
                    let was = self.previous.get_mut(vs).and_then(|b| b.quorum.take());
                    let v = self.config.virtual_servers.get(vs);
                    let name = || v.map(health::name).unwrap_or_default();
                    if was == Some(up) {
                        debug!(virtual_server = %name(), up, "quorum as before the reload");
                        continue;
                    }
                    if up {
                        info!(virtual_server = %name(), weight, threshold, "quorum gained");
                    } else {
                        warn!(virtual_server = %name(), weight, threshold, "quorum lost");
                    }
                    notify(
                        &self.notify_as,
                        v.and_then(|v| if up { v.quorum_up.as_ref() } else { v.quorum_down.as_ref() }),
                    );
                    // keepalived's ipwrapper.c, notify_fifo_vs: `VS [vs] UP|DOWN`.
                    if let Some(v) = v {
                        let state = if up { "UP" } else { "DOWN" };
                        self.fifo.lvs(&format!("VS {} {state}", email::virtual_server_name(v)));
                    }
                    if let Some(v) = v.filter(|v| email::virtual_server_alert(v.smtp_alert, &self.config.global_defs)) {
                        let init = !self.started && was.is_none();
                        let body = email::quorum_body(up, init, self.stopping, v.quorum, v.hysteresis, weight);
                        self.mail.send(email::Alert::Quorum {
                            virtual_server: email::virtual_server_name(v),
                            up,
                            body,
                        });
                    }
                }
            }
        }
        // keepalived's checkers mail when a check changes state, after its real server and
        // quorum have followed (check_tcp.c `tcp_epilog` and the others): with
        // `no_checker_emails`, only when the change moved the real server.
        while let Some(c) = self.health.poll_check_change() {
            self.mail_check_change(c);
        }
        self.started = true;
        changed
    }

    fn mail_check_change(&self, c: CheckChange) {
        let g = &self.config.global_defs;
        let Some(v) = self.config.virtual_servers.get(c.id.vs) else { return };
        let Some(r) = v.real_servers.get(c.id.rs) else { return };
        if !email::real_server_alert(r.smtp_alert, g) || (g.no_checker_emails && !c.alive_changed) {
            return;
        }
        let Some(word) = self.check_word(c.id) else { return };
        self.mail.send(email::Alert::RealServer {
            real_server: email::trio(r.ip, v.effective_protocol(), r.port.or(v.port).unwrap_or(0)),
            virtual_server: email::virtual_server_name(v),
            up: c.alive,
            body: email::real_server_body(word, c.up, false),
        });
    }

    /// keepalived's mails for the alive real servers a reload removes (ipwrapper.c,
    /// clear_service_rs: DOWN, "=> Removing <="): those of this configuration that `new`
    /// no longer has under the same virtual server.
    fn removed_alive(&self, new_config: &Config, new: &Checks) -> Vec<email::Alert> {
        let mut out = Vec::new();
        let g = &self.config.global_defs;
        for (i, (vs, settings)) in
            self.config.virtual_servers.iter().zip(&self.checks.settings.virtual_servers).enumerate()
        {
            let id = service_id(vs);
            let kept = (new_config.virtual_servers.iter().zip(&new.settings.virtual_servers))
                .find(|(n, _)| service_id(n) == id)
                .map(|(_, s)| s);
            for (j, (rs, rs_settings)) in vs.real_servers.iter().zip(&settings.real_servers).enumerate() {
                let still = kept.is_some_and(|k| k.real_servers.iter().any(|r| r.addr == rs_settings.addr));
                if still || !self.health.is_alive(RsId { vs: i, rs: j }) || !email::real_server_alert(rs.smtp_alert, g)
                {
                    continue;
                }
                out.push(email::Alert::RealServer {
                    real_server: email::trio(rs.ip, vs.effective_protocol(), rs.port.or(vs.port).unwrap_or(0)),
                    virtual_server: email::virtual_server_name(vs),
                    up: false,
                    body: "=> Removing <=".to_string(),
                });
            }
        }
        out
    }

    /// The kind of check `id`, for its mail's wording; none for a FILE_CHECK, which mails
    /// nothing in keepalived (trackers/track_file.c).
    fn check_word(&self, id: CheckId) -> Option<email::CheckWord> {
        Some(match &**self.runner(id)? {
            Runner::Misc { .. } => email::CheckWord::Misc,
            Runner::Probe(p) => match p {
                Probe::Tcp(_) => email::CheckWord::Tcp,
                Probe::Http(..) => email::CheckWord::Http,
                Probe::Dns(..) => email::CheckWord::Dns,
                Probe::Udp(..) => email::CheckWord::Udp,
                Probe::Ping(_) => email::CheckWord::Ping,
                Probe::Smtp(..) => email::CheckWord::Other,
                Probe::File(_) => return None,
            },
        })
    }

    /// What runs check `id`.
    fn runner(&self, id: CheckId) -> Option<&Arc<Runner>> {
        self.checks.runners.get(id.vs)?.get(id.rs)?.get(id.check)
    }

    /// Runs the checks until `stop`, publishing the desired table on `targets`, rebuilding on
    /// each new configuration from `configs`.
    pub async fn run(
        mut self,
        mut configs: watch::Receiver<Option<Arc<Reloaded>>>,
        targets: watch::Sender<Arc<Target>>,
        health: watch::Sender<HealthSnapshot>,
        mut addresses: watch::Receiver<Present>,
        mut stop: watch::Receiver<bool>,
        durations: CheckDurations,
    ) -> Result<(), String> {
        let present = addresses.borrow_and_update().clone();
        self.follow_addresses(Instant::now(), &present);
        let mut running = FuturesUnordered::new();
        let mut connects = TcpConnects::new()
            .and_then(connects::watched)
            .map_err(|e| format!("cannot make an epoll set for TCP checks: {e}"))?;
        // Results known without waiting (and collected from `connects`), handled in one go.
        let mut results: Vec<(Attempt, ProbeResult)> = Vec::new();
        configs.borrow_and_update();
        // Pool changes are published at most every PUBLISH_EVERY: rebuilding and diffing a
        // table of thousands of destinations per transition would cost more than the checks
        // when many servers change at once.
        let mut now = Instant::now();
        let mut last_publish = now - PUBLISH_EVERY;
        let mut dirty = false;
        // One timer, moved as the core's next deadline moves.
        let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(now));
        tokio::pin!(sleep);
        loop {
            dirty |= self.drain();
            // Probes started together share a clock reading, renewed every START_CHUNK
            // starts, when the connects finished meanwhile are collected too.
            let mut starting = std::mem::take(&mut self.starting);
            for (n, id) in starting.drain(..).enumerate() {
                if n > 0 && n % START_CHUNK == 0 {
                    now = Instant::now();
                    connects.get_mut().collect(&mut results).map_err(|e| format!("TCP checks' epoll set: {e}"))?;
                    self.handle_results(now, &mut results, &durations);
                }
                let Some(runner) = self.runner(id) else { continue };
                if let Runner::Probe(Probe::Tcp(target)) = &**runner {
                    if let Some(r) = connects.get_mut().start((id, now), target, now) {
                        results.push(((id, now), r));
                    }
                } else {
                    running.push(attempt(Arc::clone(runner), id, now));
                }
            }
            self.starting = starting;
            if !results.is_empty() {
                self.handle_results(now, &mut results, &durations);
                // What that changed is drained on the next turn, at once.
                continue;
            }
            if dirty && now >= last_publish + PUBLISH_EVERY {
                publish(&targets, self.target(), false);
                super::publish(&health, self.health());
                (dirty, last_publish) = (false, now);
            }
            let mut deadline = self.health.poll_timeout().unwrap_or_else(|| now + Duration::from_secs(3600));
            if let Some(d) = connects.get_ref().next_deadline() {
                deadline = deadline.min(d);
            }
            if dirty {
                deadline = deadline.min(last_publish + PUBLISH_EVERY);
            }
            sleep.as_mut().reset(tokio::time::Instant::from_std(deadline));
            tokio::select! {
                () = &mut sleep => {
                    now = Instant::now();
                    connects.get_mut().expire(now, &mut results);
                    self.handle_results(now, &mut results, &durations);
                    self.health.handle_timeout(now);
                }
                guard = connects.readable_mut() => {
                    now = Instant::now();
                    let mut guard = guard.map_err(|e| format!("TCP checks' epoll set: {e}"))?;
                    guard.get_inner_mut().collect(&mut results).map_err(|e| format!("TCP checks' epoll set: {e}"))?;
                    guard.clear_ready();
                    self.handle_results(now, &mut results, &durations);
                }
                Some((attempt, result)) = running.next(), if !running.is_empty() => {
                    // Every result already in is handled in one go.
                    now = Instant::now();
                    self.handle_result(now, attempt, &result, &durations);
                    while let Some(Some((attempt, result))) = running.next().now_or_never() {
                        self.handle_result(now, attempt, &result, &durations);
                    }
                }
                changed = configs.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    now = Instant::now();
                    let Some(r) = configs.borrow_and_update().clone() else { continue };
                    // The old configuration's probes in flight are dropped with it.
                    running.clear();
                    connects.get_mut().clear();
                    let (mail, fifo) = (self.mail.clone(), Arc::clone(&self.fifo));
                    let (previous, old) = self.into_previous();
                    let removing = old.removed_alive(&r.config, &r.checks);
                    self = Checker::new(r.config.clone(), r.checks.clone(), previous, mail, fifo);
                    for alert in removing {
                        self.mail.send(alert);
                    }
                    // The old configuration's model, checks and states (megabytes for
                    // thousands of real servers) are freed on another thread, off the
                    // reload's path, and their pages given back a little later.
                    tokio::task::spawn_blocking(move || drop(old));
                    super::heap::give_back_later();
                    let present = addresses.borrow_and_update().clone();
                    self.follow_addresses(now, &present);
                    publish(&targets, self.target(), true);
                    dirty = false;
                    // The IPVS keeper (a task on this thread) starts applying the new table
                    // before the status snapshot is built and the new checks' first actions
                    // are handled.
                    tokio::task::yield_now().await;
                    super::publish(&health, self.health());
                    // The new core's first actions: its pools, which the table just published
                    // holds already (no second publication for them), and its quorum and real
                    // server states, logged and notified unless as before the reload.
                    self.drain();
                }
                changed = addresses.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    now = Instant::now();
                    let present = addresses.borrow_and_update().clone();
                    self.follow_addresses(now, &present);
                }
                _ = stop.changed() => break,
            }
        }
        // At stop the IPVS keeper removes the services; only the notifications are left.
        drop(running);
        self.stopping = true;
        self.health.handle_stop(Instant::now());
        self.drain();
        Ok(())
    }
}

/// The checks' state for `tandem status`: each real server as the core has it, with the reason
/// and time of its last transition carried over from `before` (each virtual server's states
/// in the configuration a reload replaced, indexed like the new one's).
fn health_snapshot(config: &Config, checks: &Checks, health: &Health, before: &[Before]) -> HealthSnapshot {
    let virtual_servers = (config.virtual_servers.iter().zip(&checks.settings.virtual_servers).enumerate())
        .map(|(i, (vs_conf, vs))| {
            let old = before.get(i).map_or(&[][..], |b| &b.seen);
            let real_servers = (vs_conf.real_servers.iter().take(vs.real_servers.len()).enumerate())
                .map(|(j, rs_conf)| {
                    let address = SocketAddr::new(rs_conf.ip, rs_conf.port.unwrap_or(0));
                    let was = old.binary_search_by_key(&address, |r| r.address).ok().and_then(|k| old.get(k));
                    RealServerHealth {
                        weight: rs_conf.weight,
                        up: health.is_alive(RsId { vs: i, rs: j }),
                        reason: was.and_then(|w| w.reason.clone()),
                        since_unix_ms: was.and_then(|w| w.since_unix_ms),
                        address,
                    }
                })
                .collect();
            VirtualServerHealth { name: health::name(vs_conf), quorum_up: health.quorum_up(i), real_servers }
        })
        .collect();
    HealthSnapshot { virtual_servers }
}

/// One attempt of check `id` by `runner`, begun at `start`.
async fn attempt(runner: Arc<Runner>, id: CheckId, start: Instant) -> (Attempt, ProbeResult) {
    ((id, start), runner.run(start).await)
}

/// Sends a new desired state to the IPVS keeper, unless it is the same.
fn publish(targets: &watch::Sender<Arc<Target>>, target: Target, reload: bool) {
    if **targets.borrow() == target {
        if reload {
            info!("reload: IPVS unchanged");
        }
        return;
    }
    let _ = targets.send(Arc::new(target));
}

/// Runs a notify script in the background, as `script_user` when one is configured.
fn notify(credentials: &Result<Option<Credentials>, String>, command: Option<&String>) {
    let Some(command) = command else { return };
    match Script::parse(command).and_then(|s| credentials.clone().map(|c| (s, c))) {
        Ok((mut script, credentials)) => {
            script.credentials = credentials;
            super::notify_scripts::spawn(&script, |outcome| warn!(%outcome, "notify script"));
        }
        Err(e) => warn!(error = %e, "notify script"),
    }
}
