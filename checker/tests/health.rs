//! The health core under virtual time: a scripted server answers each probe, and the test
//! asserts when (to the microsecond) the core changes the pool and notifies, against timings
//! worked out by hand from keepalived's rules.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tandem_checker::health::{
    Action, CheckId, CheckSettings, Health, RealServerSettings, RsId, Settings, SorryServerSettings, Timing,
    VirtualServerSettings,
};
use tandem_checker::probe::{Failure, ProbeResult, Success, WeightChange};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn rs_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 10 + i as u8], 80))
}

const SORRY: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 99)), 80);

/// delay_loop 5, retry 2, delay_before_retry 1, no warmup.
fn timing() -> Timing {
    Timing { delay_loop: secs(5.0), retry: 2, delay_before_retry: secs(1.0), warmup: Duration::ZERO }
}

fn real(i: usize, weight: u32, timing: Timing) -> RealServerSettings {
    RealServerSettings {
        addr: rs_addr(i),
        weight,
        inhibit_on_failure: false,
        checks: vec![CheckSettings { timing, alpha: false }],
    }
}

fn one_vs(vs: VirtualServerSettings) -> Settings {
    Settings { virtual_servers: vec![vs] }
}

/// How long a failing probe takes: the connect_timeout.
const TIMEOUT: f64 = 3.0;
/// How long a passing probe takes.
const QUICK: f64 = 0.01;

type Script = Box<dyn Fn(CheckId, f64) -> (f64, ProbeResult)>;

/// A probe of a server that is up (answers in 10 ms) or down (times out after 3 s).
fn up_if(up: bool) -> (f64, ProbeResult) {
    if up { (QUICK, Ok(Success::default())) } else { (TIMEOUT, Err(Failure::new("connect timeout after 3 s"))) }
}

struct Sim {
    h: Health,
    t0: Instant,
    now: Instant,
    pending: Vec<(Instant, CheckId, ProbeResult)>,
    /// (seconds since start, action) for everything but probe starts.
    log: Vec<(f64, Action)>,
    /// (seconds since start, check) of every probe started.
    starts: Vec<(f64, CheckId)>,
    script: Script,
}

impl Sim {
    fn new(settings: &Settings, fractions: Vec<f64>, script: Script) -> Sim {
        let t0 = Instant::now();
        let mut fr = fractions.into_iter();
        let h = Health::new(settings, t0, move || fr.next().unwrap_or(0.0));
        let mut sim = Sim { h, t0, now: t0, pending: Vec::new(), log: Vec::new(), starts: Vec::new(), script };
        sim.drain();
        sim
    }

    fn at(&self) -> f64 {
        (self.now - self.t0).as_secs_f64()
    }

    fn drain(&mut self) {
        while let Some(a) = self.h.poll_action() {
            match a {
                Action::StartProbe(id) => {
                    let at = self.at();
                    self.starts.push((at, id));
                    let (took, result) = (self.script)(id, at);
                    self.pending.push((self.now + secs(took), id, result));
                }
                other => self.log.push((self.at(), other)),
            }
        }
    }

    fn run_until(&mut self, end: f64) {
        let end = self.t0 + secs(end);
        loop {
            let next_result = self.pending.iter().map(|p| p.0).min();
            let next = match (self.h.poll_timeout(), next_result) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(n) => n,
                    None => break,
                },
            };
            if next > end {
                break;
            }
            self.now = next;
            self.pending.sort_by_key(|p| p.0);
            while self.pending.first().is_some_and(|p| p.0 <= self.now) {
                let (_, id, result) = self.pending.remove(0);
                self.h.handle_result(self.now, id, &result);
                self.drain();
            }
            self.h.handle_timeout(self.now);
            self.drain();
        }
        self.now = end;
    }

    /// Logged actions, times rounded to the millisecond.
    fn events(&self) -> Vec<(f64, Action)> {
        self.log.iter().map(|(t, a)| ((t * 1000.0).round() / 1000.0, a.clone())).collect()
    }

    fn start_times(&self) -> Vec<f64> {
        self.starts.iter().map(|(t, _)| (t * 1000.0).round() / 1000.0).collect()
    }

    fn take_events(&mut self) -> Vec<(f64, Action)> {
        let e = self.events();
        self.log.clear();
        e
    }
}

fn set(dest: SocketAddr, weight: u32) -> Action {
    Action::SetDest { vs: 0, dest, weight }
}
fn remove(dest: SocketAddr) -> Action {
    Action::RemoveDest { vs: 0, dest }
}
fn rs_up(rs: usize) -> Action {
    Action::RealServer { rs: RsId { vs: 0, rs }, up: true, reason: None }
}
fn rs_down(rs: usize) -> Action {
    Action::RealServer { rs: RsId { vs: 0, rs }, up: false, reason: Some("connect timeout after 3 s".into()) }
}
fn quorum(up: bool, weight: u64, threshold: u64) -> Action {
    Action::Quorum { vs: 0, up, weight, threshold }
}

#[test]
fn a_failing_server_is_retried_then_removed_exactly_when_keepalived_would() {
    // Up until t=10 s, then every probe times out after 3 s.
    let mut sim = Sim::new(
        &one_vs(VirtualServerSettings::new(vec![real(0, 1, timing())])),
        vec![],
        Box::new(|_, t| up_if(t < 10.0)),
    );
    assert_eq!(sim.take_events(), vec![(0.0, set(rs_addr(0), 1)), (0.0, quorum(true, 1, 1))]);
    sim.run_until(40.0);
    // Probes: 1 (bootstrap), 6.01, 11.02 (fails at 14.02), retries at 15.02 and 19.02 (fails
    // at 22.02: the third failure in a row with retry 2), then every delay_loop from the end
    // of the last, without retries while down: 27.02 (fails 30.02), 35.02.
    assert_eq!(sim.start_times(), vec![1.0, 6.01, 11.02, 15.02, 19.02, 27.02, 35.02]);
    assert_eq!(sim.events(), vec![(22.02, remove(rs_addr(0))), (22.02, rs_down(0)), (22.02, quorum(false, 0, 1))]);
}

#[test]
fn a_server_comes_back_on_its_first_success() {
    // Down from 10 s to 30 s.
    let mut sim = Sim::new(
        &one_vs(VirtualServerSettings::new(vec![real(0, 1, timing())])),
        vec![],
        Box::new(|_, t| up_if(!(10.0..30.0).contains(&t))),
    );
    sim.take_events();
    sim.run_until(40.0);
    // Removed at 22.02 as above; the probe at 27.02 still fails (30.02); the one at 35.02
    // passes (35.03) and the server is back at once, without waiting for a second success.
    assert_eq!(
        sim.events(),
        vec![
            (22.02, remove(rs_addr(0))),
            (22.02, rs_down(0)),
            (22.02, quorum(false, 0, 1)),
            (35.03, set(rs_addr(0), 1)),
            (35.03, rs_up(0)),
            (35.03, quorum(true, 1, 1)),
        ]
    );
}

#[test]
fn the_first_failure_counts_at_once() {
    // keepalived starts with retry_it = retry: a server dead from the start is removed after
    // one attempt, not 1 + retry.
    let mut sim = Sim::new(
        &one_vs(VirtualServerSettings::new(vec![real(0, 1, timing())])),
        vec![],
        Box::new(|_, _| up_if(false)),
    );
    sim.take_events();
    sim.run_until(10.0);
    assert_eq!(sim.start_times(), vec![1.0, 9.0]);
    assert_eq!(sim.events(), vec![(4.0, remove(rs_addr(0))), (4.0, rs_down(0)), (4.0, quorum(false, 0, 1))]);
}

#[test]
fn inhibit_on_failure_sets_weight_zero_instead_of_removing() {
    let mut rs = real(0, 3, timing());
    rs.inhibit_on_failure = true;
    let mut sim = Sim::new(
        &one_vs(VirtualServerSettings::new(vec![rs])),
        vec![],
        Box::new(|_, t| up_if(!(10.0..30.0).contains(&t))),
    );
    assert_eq!(sim.take_events(), vec![(0.0, set(rs_addr(0), 3)), (0.0, quorum(true, 3, 1))]);
    sim.run_until(40.0);
    assert_eq!(
        sim.events(),
        vec![
            (22.02, set(rs_addr(0), 0)),
            (22.02, rs_down(0)),
            (22.02, quorum(false, 0, 1)),
            (35.03, set(rs_addr(0), 3)),
            (35.03, rs_up(0)),
            (35.03, quorum(true, 3, 1)),
        ]
    );
    assert_eq!(sim.h.pool(0), vec![(rs_addr(0), 3)]);
}

#[test]
fn alpha_starts_down_and_joins_after_the_first_success() {
    let mut rs = real(0, 1, timing());
    rs.checks[0].alpha = true;
    let mut rs_failing = real(1, 1, timing());
    rs_failing.checks[0].alpha = true;
    let mut inhibited = real(2, 1, timing());
    inhibited.checks[0].alpha = true;
    inhibited.inhibit_on_failure = true;
    let mut sim = Sim::new(
        &one_vs(VirtualServerSettings::new(vec![rs, rs_failing, inhibited])),
        vec![],
        Box::new(|id, _| up_if(id.rs != 1)),
    );
    // Nothing alive at start: no quorum, no destinations but the inhibited one at weight 0.
    assert_eq!(sim.take_events(), vec![(0.0, set(rs_addr(2), 0))]);
    assert!(!sim.h.is_alive(RsId { vs: 0, rs: 0 }));
    sim.run_until(5.0);
    assert_eq!(
        sim.events(),
        vec![
            (1.01, set(rs_addr(0), 1)),
            (1.01, rs_up(0)),
            (1.01, quorum(true, 1, 1)),
            (1.01, set(rs_addr(2), 1)),
            (1.01, rs_up(2)),
            // keepalived notifies the alpha server whose first check fails, though it never was up.
            (4.0, rs_down(1)),
        ]
    );
}

/// Three servers of weight 1, each failing in its own window, quorum 2.
fn quorum_sim(hysteresis: u32, quorum: u32, windows: Vec<(f64, f64)>) -> Sim {
    let t = Timing { retry: 0, ..timing() };
    let reals = (0..windows.len()).map(|i| real(i, 1, t)).collect();
    let mut vs = VirtualServerSettings::new(reals);
    vs.quorum = quorum;
    vs.hysteresis = hysteresis;
    vs.sorry_server = Some(SorryServerSettings { addr: SORRY, weight: 1, inhibit: false });
    Sim::new(&one_vs(vs), vec![], Box::new(move |id, t| up_if(!(windows[id.rs].0..windows[id.rs].1).contains(&t))))
}

#[test]
fn losing_quorum_installs_the_sorry_server_and_regaining_it_removes_it() {
    // rs0 fails from 10 s on, rs1 from 10 s to 30 s; rs2 never. Probes at 1, 6.01, 11.02
    // (fail at 14.02), then 19.02 (fail 22.02), 27.02 (fail 30.02), 35.02 (rs1 passes).
    let mut sim = quorum_sim(0, 2, vec![(10.0, 100.0), (10.0, 30.0), (1000.0, 1000.0)]);
    assert_eq!(
        sim.take_events(),
        vec![
            (0.0, set(rs_addr(0), 1)),
            (0.0, set(rs_addr(1), 1)),
            (0.0, set(rs_addr(2), 1)),
            (0.0, quorum(true, 3, 2))
        ]
    );
    sim.run_until(40.0);
    assert_eq!(
        sim.events(),
        vec![
            (14.02, remove(rs_addr(0))),
            (14.02, rs_down(0)),
            (14.02, remove(rs_addr(1))),
            (14.02, rs_down(1)),
            // Weight 1 < quorum 2: the alive server leaves the pool and the sorry server enters.
            (14.02, remove(rs_addr(2))),
            (14.02, set(SORRY, 1)),
            (14.02, quorum(false, 1, 2)),
            (35.03, rs_up(1)),
            (35.03, remove(SORRY)),
            (35.03, set(rs_addr(1), 1)),
            (35.03, set(rs_addr(2), 1)),
            (35.03, quorum(true, 2, 2)),
        ]
    );
    assert_eq!(sim.h.pool(0), vec![(rs_addr(1), 1), (rs_addr(2), 1)]);
}

#[test]
fn hysteresis_keeps_quorum_from_flapping() {
    // Four servers, quorum 3, hysteresis 1: quorum is kept down to a weight of 2 and, once
    // lost, comes back only at 4. Servers fail one after the other and recover likewise.
    let windows = vec![(10.0, 60.0), (20.0, 70.0), (30.0, 80.0), (1000.0, 1000.0)];
    let mut sim = quorum_sim(1, 3, windows.clone());
    sim.take_events();
    sim.run_until(100.0);
    let quorum_changes: Vec<(f64, Action)> =
        sim.events().into_iter().filter(|(_, a)| matches!(a, Action::Quorum { .. })).collect();
    // Lost only when the third server fails (weight 1 < 3 - 1); regained only when the third
    // recovers (weight 4 >= 3 + 1), not at 2 or 3.
    let lost = quorum_changes.iter().filter(|(_, a)| matches!(a, Action::Quorum { up: false, .. })).count();
    let gained = quorum_changes.iter().filter(|(_, a)| matches!(a, Action::Quorum { up: true, .. })).count();
    assert_eq!((lost, gained), (1, 1), "{quorum_changes:?}");
    assert!(matches!(quorum_changes[0].1, Action::Quorum { up: false, weight: 1, threshold: 2, .. }));
    assert!(matches!(quorum_changes[1].1, Action::Quorum { up: true, weight: 4, threshold: 4, .. }));
    assert!(quorum_changes[0].0 > 30.0 && quorum_changes[1].0 > 80.0);

    // Without hysteresis the same run loses quorum at weight 2 and regains it at 3.
    let mut plain = quorum_sim(0, 3, windows);
    plain.take_events();
    plain.run_until(100.0);
    let plain_changes: Vec<Action> =
        plain.events().into_iter().map(|(_, a)| a).filter(|a| matches!(a, Action::Quorum { .. })).collect();
    assert!(matches!(plain_changes[0], Action::Quorum { up: false, weight: 2, threshold: 3, .. }), "{plain_changes:?}");
    assert!(matches!(plain_changes[1], Action::Quorum { up: true, weight: 3, threshold: 3, .. }), "{plain_changes:?}");
}

#[test]
fn ha_suspend_probes_only_while_active() {
    let mut vs = VirtualServerSettings::new(vec![real(0, 1, timing())]);
    vs.ha_suspend = true;
    let mut sim = Sim::new(&one_vs(vs), vec![], Box::new(|_, t| up_if(t < 20.0)));
    sim.take_events();
    sim.run_until(12.0);
    assert!(sim.starts.is_empty(), "a suspended virtual server starts no probe");
    // Master: probes resume at the next tick (the timer kept running every delay_loop).
    sim.h.handle_ha_active(sim.now, 0, true);
    sim.run_until(19.0);
    assert_eq!(sim.start_times(), vec![16.0]);
    // Backup again before the server dies: no probe, no removal.
    sim.h.handle_ha_active(sim.now, 0, false);
    sim.run_until(60.0);
    assert_eq!(sim.start_times(), vec![16.0]);
    assert!(sim.events().is_empty());
    assert!(sim.h.is_alive(RsId { vs: 0, rs: 0 }));
}

#[test]
fn warmup_spreads_first_checks_with_the_given_randomness() {
    let t = Timing { warmup: secs(10.0), ..timing() };
    let settings = one_vs(VirtualServerSettings::new(vec![real(0, 1, t), real(1, 1, t)]));
    let mut sim = Sim::new(&settings, vec![0.5, 0.25], Box::new(|_, _| up_if(true)));
    sim.run_until(6.5);
    assert_eq!(sim.starts.iter().map(|(t, id)| (*t, id.rs)).collect::<Vec<_>>(), vec![(3.5, 1), (6.0, 0)]);
}

#[test]
fn misc_dynamic_weights_edit_the_destination_and_count_for_quorum() {
    let t = Timing { retry: 0, ..timing() };
    let mut vs = VirtualServerSettings::new(vec![real(0, 2, t)]);
    vs.quorum = 2;
    // Exit status 12 then 3 then 1 (fail): weights 10, then 1 (below quorum 2), then removal.
    let script: Script = Box::new(|_, t| {
        let status = if t < 5.0 {
            12
        } else if t < 10.0 {
            3
        } else {
            1
        };
        (QUICK, tandem_checker::probe::misc::result(status, true))
    });
    let mut sim = Sim::new(&one_vs(vs), vec![], script);
    sim.take_events();
    sim.run_until(12.0);
    let e = sim.events();
    assert_eq!(e[0], (1.01, set(rs_addr(0), 10)));
    assert_eq!(e[1], (6.02, set(rs_addr(0), 1)));
    assert_eq!(e[2], (6.02, quorum(false, 1, 2)));
    assert_eq!(e[3], (11.03, remove(rs_addr(0))));
    assert!(
        matches!(&e[4].1, Action::RealServer { up: false, reason: Some(r), .. } if r == "script exited with status 1")
    );
    assert_eq!(e.len(), 5);
    // The failed check's share is dropped: the configured weight is back for the next success.
    assert_eq!(sim.h.weight(RsId { vs: 0, rs: 0 }), Some(2));
}

#[test]
fn a_server_with_two_checks_needs_both() {
    let t = Timing { retry: 0, ..timing() };
    let mut rs = real(0, 1, t);
    rs.checks.push(CheckSettings { timing: t, alpha: false });
    // Check 0 fails 10..40, check 1 fails 20..60.
    let script: Script = Box::new(|id, t| {
        let (a, b) = if id.check == 0 { (10.0, 40.0) } else { (20.0, 60.0) };
        up_if(!(a..b).contains(&t))
    });
    let mut sim = Sim::new(&one_vs(VirtualServerSettings::new(vec![rs])), vec![], script);
    sim.take_events();
    sim.run_until(80.0);
    let e: Vec<(f64, Action)> = sim
        .events()
        .into_iter()
        .filter(|(_, a)| matches!(a, Action::SetDest { .. } | Action::RemoveDest { .. }))
        .collect();
    // Out at the first failure (11.02 + 3), back only once the second check passes again.
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(e[0], (14.02, remove(rs_addr(0))));
    assert!(matches!(e[1], (t, Action::SetDest { weight: 1, .. }) if t > 60.0), "{e:?}");
}

#[test]
fn a_file_share_raises_the_weight_and_is_dropped_when_the_check_fails() {
    let t = Timing { retry: 0, ..timing() };
    let file = WeightChange::Offset(5);
    let script: Script =
        Box::new(move |_, t| if t < 5.0 { (QUICK, Ok(Success { weight: Some(file) })) } else { up_if(false) });
    let mut sim = Sim::new(&one_vs(VirtualServerSettings::new(vec![real(0, 1, t)])), vec![], script);
    sim.take_events();
    sim.run_until(30.0);
    let e = sim.events();
    assert_eq!(e[0], (1.01, set(rs_addr(0), 6)));
    assert_eq!(e[1], (9.01, remove(rs_addr(0))));
    assert_eq!(sim.h.weight(RsId { vs: 0, rs: 0 }), Some(1));
}

#[test]
fn stopping_removes_everything_and_omega_reports_it() {
    for omega in [false, true] {
        let mut vs = VirtualServerSettings::new(vec![real(0, 1, timing()), real(1, 1, timing())]);
        vs.omega = omega;
        let mut sim = Sim::new(&one_vs(vs), vec![], Box::new(|_, _| up_if(true)));
        sim.run_until(2.0);
        sim.take_events();
        sim.h.handle_stop(sim.now);
        sim.drain();
        let mut expected = vec![(2.0, remove(rs_addr(0))), (2.0, remove(rs_addr(1)))];
        if omega {
            for rs in 0..2 {
                let down =
                    Action::RealServer { rs: RsId { vs: 0, rs }, up: false, reason: Some("shutting down".into()) };
                expected.push((2.0, down));
            }
            expected.push((2.0, quorum(false, 0, 1)));
        }
        assert_eq!(sim.events(), expected, "omega {omega}");
        assert_eq!(sim.h.poll_timeout(), None);
    }
}

#[test]
fn quorum_above_the_total_weight_is_lowered_like_keepalived() {
    let mut vs = VirtualServerSettings::new(vec![real(0, 1, timing())]);
    vs.quorum = 5;
    vs.hysteresis = 9;
    let sim = Sim::new(&one_vs(vs), vec![], Box::new(|_, _| up_if(true)));
    // Quorum 1, hysteresis 0: one server of weight 1 is enough.
    assert_eq!(sim.events(), vec![(0.0, set(rs_addr(0), 1)), (0.0, quorum(true, 1, 1))]);
}

#[test]
fn each_check_that_changes_state_is_reported_with_its_real_server() {
    use tandem_checker::health::CheckChange;
    // Two checks on one server: the first fails from 10 s to 30 s, the second from 20 s to 40 s.
    let mut rs = real(0, 1, timing());
    rs.checks.push(CheckSettings { timing: timing(), alpha: false });
    let mut sim = Sim::new(
        &one_vs(VirtualServerSettings::new(vec![rs])),
        vec![],
        Box::new(|id, t| up_if(if id.check == 0 { !(10.0..30.0).contains(&t) } else { !(20.0..40.0).contains(&t) })),
    );
    sim.run_until(60.0);
    let mut changes = Vec::new();
    while let Some(c) = sim.h.poll_check_change() {
        changes.push(c);
    }
    let change =
        |check, up, alive, alive_changed| CheckChange { id: CheckId { vs: 0, rs: 0, check }, up, alive, alive_changed };
    // The first failure takes the server down; the second check's failure leaves it down;
    // the first check's recovery leaves it down; the second's brings it back.
    assert_eq!(
        changes,
        vec![
            change(0, false, false, true),
            change(1, false, false, false),
            change(0, true, false, false),
            change(1, true, true, true)
        ]
    );
}

#[test]
fn an_alpha_checks_first_failure_is_no_change_and_its_first_success_is() {
    let mut rs = real(0, 1, timing());
    rs.checks[0].alpha = true;
    let mut sim = Sim::new(&one_vs(VirtualServerSettings::new(vec![rs])), vec![], Box::new(|_, t| up_if(t > 5.0)));
    sim.run_until(20.0);
    let mut changes = Vec::new();
    while let Some(c) = sim.h.poll_check_change() {
        changes.push((c.up, c.alive, c.alive_changed));
    }
    assert_eq!(changes, vec![(true, true, true)]);
}
