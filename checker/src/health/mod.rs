//! The sans-I/O health core: keepalived's checker logic as plain data.
//!
//! [`Health`] is driven by `handle_*(now, ...)` and drained by [`Health::poll_action`] and
//! [`Health::poll_timeout`]; it reads no clock and touches no socket. The daemon's loop:
//! sleep until `poll_timeout`, call [`Health::handle_timeout`], perform the actions
//! ([`Action::StartProbe`] runs a [`crate::probe::Probe`] and hands its result to
//! [`Health::handle_result`]), and so on.
//!
//! Behaviour follows keepalived 2.x:
//! - per check (keepalived/check/check_tcp.c `tcp_epilog`, the same in every checker): a
//!   failure while up is retried `retry` times, `delay_before_retry` apart, before it counts;
//!   a failure while down is not retried; a success counts at once; the next round starts
//!   `delay_loop` after the end of the last. The very first failure counts at once (check_data.c
//!   sets `retry_it = retry` at start: "one failure is enough initially").
//! - per real server (keepalived/check/ipwrapper.c `update_svr_checker_state`,
//!   `perform_svr_state`): it is alive while all its checks are up; it leaves the pool (or,
//!   with `inhibit_on_failure`, stays at weight 0) when the first check fails and comes back
//!   when the last failed one recovers. `alpha` checks start failed; non-alpha ones start up,
//!   so the server is in the pool from the start.
//! - per virtual server (ipwrapper.c `update_quorum_state`, `perform_quorum_state`): quorum is
//!   gained when the sum of the weights of alive real servers reaches `quorum + hysteresis`
//!   and lost when it falls below `quorum - hysteresis` (or to 0). While it is lost and a
//!   sorry server is configured, the sorry server is the pool: the alive real servers leave
//!   it (weight 0 with inhibit_on_failure) and come back when quorum returns.
//! - weights (ipwrapper.c `update_svr_wgt`, check_misc.c, track_file.c): a real server's weight
//!   is its configured weight plus the shares its weight-setting checks (MISC_CHECK with
//!   `misc_dynamic`, FILE_CHECK) last reported, clamped to 0..=i32::MAX; a check's share is
//!   dropped when it fails.
//! - `ha_suspend` (check_api.c `update_checker_activity`): checks of a suspended virtual
//!   server keep their timers but start no probe; their state stays as it was.
//! - stop (ipwrapper.c `clear_services`): every destination the core installed is removed;
//!   with `omega`, alive real servers are reported down and the quorum lost.

mod settings;
mod timers;

pub use settings::{
    BOOTSTRAP_DELAY, CheckKind, CheckSettings, RealServerSettings, Settings, SorryServerSettings, Timing,
    VirtualServerSettings,
};

use crate::probe::{ProbeResult, WeightChange};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

/// A check went up or down (its first result, confirming its starting state, is no change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckChange {
    /// Which.
    pub id: CheckId,
    /// Up or down now.
    pub up: bool,
    /// Its real server is alive now (all its checks up).
    pub alive: bool,
    /// The change moved the real server (up or down).
    pub alive_changed: bool,
}

/// A real server: indexes into [`Settings::virtual_servers`] and its `real_servers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RsId {
    /// Virtual server index.
    pub vs: usize,
    /// Real server index within it.
    pub rs: usize,
}

/// A check: its real server and its index in [`RealServerSettings::checks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckId {
    /// Virtual server index.
    pub vs: usize,
    /// Real server index.
    pub rs: usize,
    /// Check index.
    pub check: usize,
}

impl CheckId {
    /// The check's real server.
    pub fn real_server(self) -> RsId {
        RsId { vs: self.vs, rs: self.rs }
    }
}

/// Something for the daemon to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run one attempt of this check now and report it with [`Health::handle_result`].
    StartProbe(CheckId),
    /// Make `dest` a destination of virtual server `vs` with `weight` (add it, or edit it).
    SetDest {
        /// Virtual server index.
        vs: usize,
        /// Real or sorry server address.
        dest: SocketAddr,
        /// Weight.
        weight: u32,
    },
    /// Remove `dest` from virtual server `vs`.
    RemoveDest {
        /// Virtual server index.
        vs: usize,
        /// Real or sorry server address.
        dest: SocketAddr,
    },
    /// A real server went up or down: run its `notify_up` / `notify_down`, write the FIFO
    /// line, log. Also sent, down, when an `alpha` server's first check fails (keepalived
    /// notifies then too).
    RealServer {
        /// Which.
        rs: RsId,
        /// Up or down.
        up: bool,
        /// The failure that brought it down, if any.
        reason: Option<String>,
    },
    /// A virtual server gained or lost its quorum: run `quorum_up` / `quorum_down`.
    Quorum {
        /// Virtual server index.
        vs: usize,
        /// Gained or lost.
        up: bool,
        /// Sum of the weights of alive real servers.
        weight: u64,
        /// The threshold it was compared with.
        threshold: u64,
    },
}

#[derive(Debug)]
struct Check {
    timing: Timing,
    alpha: bool,
    up: bool,
    has_run: bool,
    retry_it: u32,
    due: Option<Instant>,
    in_flight: bool,
    share: i64,
}

#[derive(Debug)]
struct Real {
    addr: SocketAddr,
    weight: i64,
    inhibit: bool,
    alive: bool,
    checks: Vec<Check>,
}

impl Real {
    /// keepalived's `real_weight(effective_weight)`.
    fn real_weight(&self) -> u32 {
        let effective = self.weight + self.checks.iter().map(|c| c.share).sum::<i64>();
        effective.clamp(0, i64::from(i32::MAX)) as u32
    }
}

#[derive(Debug)]
struct Sorry {
    settings: SorryServerSettings,
    /// keepalived's `s_svr->alive`: in service because quorum is lost.
    alive: bool,
}

#[derive(Debug)]
struct Virtual {
    quorum: u64,
    hysteresis: u64,
    ha_suspend: bool,
    omega: bool,
    active: bool,
    quorum_up: bool,
    sorry: Option<Sorry>,
    reals: Vec<Real>,
    /// What this core has installed: destination -> weight.
    installed: BTreeMap<SocketAddr, u32>,
}

impl Virtual {
    fn live_weight(&self) -> u64 {
        self.reals.iter().filter(|r| r.alive).map(|r| u64::from(r.real_weight())).sum()
    }

    /// The pool as keepalived would leave it in the kernel.
    fn desired(&self) -> BTreeMap<SocketAddr, u32> {
        let sorry_in_service = self.sorry.as_ref().is_some_and(|s| s.alive);
        let mut pool = BTreeMap::new();
        for r in &self.reals {
            if r.alive && !sorry_in_service {
                pool.insert(r.addr, r.real_weight());
            } else if r.inhibit {
                pool.insert(r.addr, 0);
            }
        }
        if let Some(s) = &self.sorry {
            if s.alive {
                pool.insert(s.settings.addr, s.settings.weight);
            } else if s.settings.inhibit {
                pool.entry(s.settings.addr).or_insert(0);
            }
        }
        pool
    }
}

/// The health state of every virtual server, real server and check.
#[derive(Debug)]
pub struct Health {
    vss: Vec<Virtual>,
    actions: VecDeque<Action>,
    /// Checks that changed state, for [`Self::poll_check_change`].
    check_changes: VecDeque<CheckChange>,
    stopped: bool,
    /// Every check's next run, earliest first (see [`timers`]): scheduling costs O(1) per
    /// check instead of a scan of them all. A check is queued only when it has no entry (at
    /// start, when its entry fired, when its attempt ended), so each check has at most one;
    /// [`Self::handle_timeout`] still skips an entry that is not its check's `due`.
    timers: timers::Timers,
}

impl Health {
    /// Starts watching: installs the initial pool (non-alpha real servers, inhibited ones at
    /// weight 0, the sorry server when quorum is down), decides the initial quorum, and
    /// schedules every check's first run at `now + BOOTSTRAP_DELAY + warmup × random()`.
    /// `random` yields numbers in [0, 1) (keepalived uses `random()`); tests pass fixed ones.
    pub fn new(settings: &Settings, now: Instant, mut random: impl FnMut() -> f64) -> Health {
        let mut vss = Vec::with_capacity(settings.virtual_servers.len());
        for vs in &settings.virtual_servers {
            let total: u64 = vs.real_servers.iter().map(|r| u64::from(r.weight)).sum();
            let quorum = u64::from(vs.quorum).min(total);
            let hysteresis = u64::from(vs.hysteresis).min(quorum.saturating_sub(1));
            let reals = vs
                .real_servers
                .iter()
                .map(|r| {
                    let checks: Vec<Check> = r
                        .checks
                        .iter()
                        .map(|c| {
                            let share = random().clamp(0.0, 1.0);
                            Check {
                                timing: c.timing,
                                alpha: c.alpha,
                                up: !c.alpha,
                                has_run: false,
                                retry_it: c.timing.retry,
                                due: Some(now + BOOTSTRAP_DELAY + c.timing.warmup.mul_f64(share)),
                                in_flight: false,
                                share: 0,
                            }
                        })
                        .collect();
                    Real {
                        addr: r.addr,
                        weight: i64::from(r.weight),
                        inhibit: r.inhibit_on_failure,
                        alive: checks.iter().all(|c| c.up),
                        checks,
                    }
                })
                .collect();
            vss.push(Virtual {
                quorum,
                hysteresis,
                ha_suspend: vs.ha_suspend,
                omega: vs.omega,
                active: !vs.ha_suspend,
                // set_quorum_states() runs before any real server is alive.
                quorum_up: quorum + hysteresis == 0,
                sorry: vs.sorry_server.clone().map(|settings| Sorry { settings, alive: false }),
                reals,
                installed: BTreeMap::new(),
            });
        }
        let mut h = Health {
            vss,
            actions: VecDeque::new(),
            check_changes: VecDeque::new(),
            stopped: false,
            timers: timers::Timers::default(),
        };
        for (vs, v) in h.vss.iter().enumerate() {
            for (rs, r) in v.reals.iter().enumerate() {
                for (check, c) in r.checks.iter().enumerate() {
                    if let Some(due) = c.due {
                        h.timers.push_at(due, CheckId { vs, rs, check });
                    }
                }
            }
        }
        for vs in 0..h.vss.len() {
            h.sync_pool(vs);
            h.update_quorum(vs, true);
        }
        h
    }

    /// The next action, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        let action = self.actions.pop_front();
        // The start queues an action per real server; the steady state, a few at a time.
        if action.is_none() && self.actions.capacity() > 1024 {
            self.actions.shrink_to_fit();
        }
        action
    }

    /// When [`Self::handle_timeout`] is next needed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|(t, _)| t)
    }

    /// Sets a check's next run `delay` after `now` and queues it.
    fn schedule(&mut self, id: CheckId, now: Instant, delay: std::time::Duration) {
        if let Some(c) = self.check_mut(id) {
            c.due = Some(now + delay);
            self.timers.push_after(now, delay, id);
        }
    }

    /// Starts the checks that are due (or, under `ha_suspend` while suspended, moves them a
    /// `delay_loop` on).
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((t, id)) = self.timers.pop_due(now) {
            let active = self.vss.get(id.vs).is_some_and(|v| v.active);
            let Some(c) = self.check_mut(id) else { continue };
            if c.due != Some(t) {
                continue; // stale
            }
            if active {
                c.due = None;
                c.in_flight = true;
                self.actions.push_back(Action::StartProbe(id));
            } else {
                let delay = c.timing.delay_loop;
                self.schedule(id, now, delay);
            }
        }
    }

    /// The result of the attempt started by [`Action::StartProbe`] for `id`. Results for a
    /// check with no attempt under way are ignored.
    pub fn handle_result(&mut self, now: Instant, id: CheckId, result: &ProbeResult) {
        if self.stopped {
            return;
        }
        let Some(c) = self.check_mut(id) else { return };
        if !c.in_flight {
            return;
        }
        c.in_flight = false;
        if let Ok(success) = result {
            if let Some(change) = success.weight {
                self.set_share(id, change);
            }
        }
        let Some(c) = self.check_mut(id) else { return };
        let ok = result.is_ok();
        let mut delay = c.timing.delay_loop;
        let mut transition = None;
        if ok || ((c.up || !c.has_run) && c.retry_it >= c.timing.retry) {
            c.retry_it = 0;
            if ok && (!c.up || !c.has_run) {
                transition = Some(true);
            } else if !ok && (c.up || !c.has_run) {
                transition = Some(false);
            }
        } else if c.up {
            delay = c.timing.delay_before_retry;
            c.retry_it += 1;
        }
        if let Some(up) = transition {
            let reason = result.as_ref().err().map(|f| f.reason().to_string());
            self.checker_state(id, up, reason);
        }
        if let Some(c) = self.check_mut(id) {
            c.has_run = true;
        }
        self.schedule(id, now, delay);
    }

    /// Whether virtual server `vs` may probe (`ha_suspend`: this director is master of its
    /// address). Without `ha_suspend` it changes nothing. A suspended server starts suspended.
    pub fn handle_ha_active(&mut self, _now: Instant, vs: usize, active: bool) {
        if let Some(v) = self.vss.get_mut(vs) {
            if v.ha_suspend {
                v.active = active;
            }
        }
    }

    /// Stops: removes every destination installed, and with `omega` reports alive real
    /// servers down and the quorum lost. Nothing is scheduled afterwards.
    pub fn handle_stop(&mut self, _now: Instant) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.timers.clear();
        for vs in 0..self.vss.len() {
            let v = &mut self.vss[vs];
            for r in &mut v.reals {
                for c in &mut r.checks {
                    c.due = None;
                    c.in_flight = false;
                }
            }
            if let Some(s) = &mut v.sorry {
                s.alive = false;
            }
            for dest in std::mem::take(&mut v.installed).into_keys() {
                self.actions.push_back(Action::RemoveDest { vs, dest });
            }
            let v = &mut self.vss[vs];
            let omega = v.omega;
            for (rs, r) in v.reals.iter_mut().enumerate() {
                if r.alive {
                    r.alive = false;
                    if omega {
                        self.actions.push_back(Action::RealServer {
                            rs: RsId { vs, rs },
                            up: false,
                            reason: Some("shutting down".into()),
                        });
                    }
                }
            }
            let threshold = v.quorum.saturating_sub(v.hysteresis);
            v.quorum_up = false;
            if omega {
                self.actions.push_back(Action::Quorum { vs, up: false, weight: 0, threshold });
            }
        }
    }

    /// Whether real server `rs` is alive (all its checks up).
    pub fn is_alive(&self, rs: RsId) -> bool {
        self.real(rs).is_some_and(|r| r.alive)
    }

    /// Whether check `id` is up.
    pub fn is_up(&self, id: CheckId) -> bool {
        self.vss.get(id.vs).and_then(|v| v.reals.get(id.rs)).and_then(|r| r.checks.get(id.check)).is_some_and(|c| c.up)
    }

    /// Real server `rs`'s current weight (configured plus its checks' shares, clamped).
    pub fn weight(&self, rs: RsId) -> Option<u32> {
        self.real(rs).map(Real::real_weight)
    }

    /// Whether virtual server `vs` has its quorum.
    pub fn quorum_up(&self, vs: usize) -> bool {
        self.vss.get(vs).is_some_and(|v| v.quorum_up)
    }

    /// The destinations of `vs` this core wants in the kernel, with their weights: what it has
    /// asked for with [`Action::SetDest`] and not removed since. The daemon can reconcile
    /// against it.
    pub fn pool(&self, vs: usize) -> Vec<(SocketAddr, u32)> {
        self.vss.get(vs).map(|v| v.installed.iter().map(|(a, w)| (*a, *w)).collect()).unwrap_or_default()
    }

    fn real(&self, rs: RsId) -> Option<&Real> {
        self.vss.get(rs.vs).and_then(|v| v.reals.get(rs.rs))
    }

    fn check_mut(&mut self, id: CheckId) -> Option<&mut Check> {
        self.vss.get_mut(id.vs)?.reals.get_mut(id.rs)?.checks.get_mut(id.check)
    }

    /// A weight-setting check reported its share (ipwrapper.c `update_svr_wgt`).
    fn set_share(&mut self, id: CheckId, change: WeightChange) {
        let Some(r) = self.vss.get_mut(id.vs).and_then(|v| v.reals.get_mut(id.rs)) else { return };
        let share = match change {
            WeightChange::Set(w) => i64::from(w) - r.weight,
            WeightChange::Offset(d) => d,
        };
        let before = r.real_weight();
        if let Some(c) = r.checks.get_mut(id.check) {
            c.share = share;
        }
        if r.real_weight() != before {
            self.sync_pool(id.vs);
            self.update_quorum(id.vs, false);
        }
    }

    /// keepalived's `update_svr_checker_state` with `perform_svr_state`.
    fn checker_state(&mut self, id: CheckId, up: bool, reason: Option<String>) {
        let Some(r) = self.vss.get_mut(id.vs).and_then(|v| v.reals.get_mut(id.rs)) else { return };
        let Some(c) = r.checks.get_mut(id.check) else { return };
        if c.up == up {
            // The first result confirms the initial state: alpha servers are reported down.
            if !c.has_run {
                c.has_run = true;
                if c.alpha || !up {
                    let alive = r.alive;
                    self.actions.push_back(Action::RealServer { rs: id.real_server(), up: alive, reason });
                }
            }
            return;
        }
        c.has_run = true;
        c.up = up;
        if !up {
            c.share = 0;
        }
        let alive = r.checks.iter().all(|c| c.up);
        let alive_changed = alive != r.alive;
        if alive_changed {
            r.alive = alive;
            self.sync_pool(id.vs);
            self.actions.push_back(Action::RealServer { rs: id.real_server(), up: alive, reason });
            self.update_quorum(id.vs, false);
        }
        self.check_changes.push_back(CheckChange { id, up, alive, alive_changed });
    }

    /// The next check that changed state, in order (keepalived's checkers send their email
    /// alert then: check_tcp.c `tcp_epilog` and the others). Kept apart from
    /// [`Self::poll_action`]: a caller that has no use for them need not drain them.
    pub fn poll_check_change(&mut self) -> Option<CheckChange> {
        self.check_changes.pop_front()
    }

    /// keepalived's `update_quorum_state`.
    fn update_quorum(&mut self, vs: usize, init: bool) {
        let Some(v) = self.vss.get_mut(vs) else { return };
        let weight = v.live_weight();
        let threshold =
            if v.quorum_up { v.quorum.saturating_sub(v.hysteresis) } else { v.quorum.saturating_add(v.hysteresis) };
        let sorry_idle = v.sorry.as_ref().is_some_and(|s| !s.alive);
        if !v.quorum_up && weight >= threshold {
            v.quorum_up = true;
            if let Some(s) = v.sorry.as_mut().filter(|s| s.alive) {
                s.alive = false;
                self.sync_pool(vs);
            }
            self.actions.push_back(Action::Quorum { vs, up: true, weight, threshold });
        } else if (v.quorum_up && (weight == 0 || weight < threshold)) || (init && !v.quorum_up && sorry_idle) {
            v.quorum_up = false;
            if let Some(s) = v.sorry.as_mut().filter(|s| !s.alive) {
                s.alive = true;
                self.sync_pool(vs);
            }
            self.actions.push_back(Action::Quorum { vs, up: false, weight, threshold });
        }
    }

    /// Brings the kernel's pool (as far as this core has set it) to what the state wants:
    /// removals first, then weight decreases, then additions and increases — keepalived's
    /// order (the leaving server goes before the arriving one).
    fn sync_pool(&mut self, vs: usize) {
        if self.stopped {
            return;
        }
        let Some(v) = self.vss.get_mut(vs) else { return };
        let desired = v.desired();
        for dest in v.installed.keys().filter(|d| !desired.contains_key(d)).copied().collect::<Vec<_>>() {
            v.installed.remove(&dest);
            self.actions.push_back(Action::RemoveDest { vs, dest });
        }
        let mut sets: Vec<(bool, SocketAddr, u32)> = desired
            .iter()
            .filter(|(d, w)| v.installed.get(d) != Some(w))
            .map(|(d, w)| (v.installed.get(d).map_or(*w != 0, |old| w > old), *d, *w))
            .collect();
        sets.sort_by_key(|(increase, _, _)| *increase);
        for (_, dest, weight) in sets {
            v.installed.insert(dest, weight);
            self.actions.push_back(Action::SetDest { vs, dest, weight });
        }
    }
}
