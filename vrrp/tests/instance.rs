//! The VRRP instance and sync-group state machines under virtual time, on a simulated link.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

mod sim;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use sim::{Event, Sim, router_addr, secs};
use tandem_vrrp::instance::{
    Action, GarpSettings, InitialState, Instance, Reason, Settings, SettingsError, State, SyncGroup,
};
use tandem_vrrp::{Advert, Auth, Version};

/// One-way delivery delay of the simulated link.
const DELAY: Duration = Duration::from_millis(5);

fn vip(n: u8) -> IpAddr {
    IpAddr::from([192, 0, 2, 100 + n])
}

fn settings(i: usize, priority: u8) -> Settings {
    let mut s = Settings::new(format!("r{i}"), 51, Version::V3, router_addr(i), vec![vip(0)]);
    s.priority = priority;
    s
}

fn inst(s: Settings) -> Instance {
    Instance::new(s).unwrap()
}

fn sim_of(priorities: &[u8]) -> Sim<Instance> {
    let nodes = priorities.iter().enumerate().map(|(i, p)| inst(settings(i, *p))).collect();
    Sim::new(nodes, DELAY, 0, 1)
}

/// Skew_Time for a 1 s interval, computed independently of the crate: (256 - p) / 256 s.
fn skew(p: u8) -> Duration {
    Duration::from_micros((256 - u64::from(p)) * 1_000_000 / 256)
}

/// Master_Down_Interval for a 1 s interval.
fn md(p: u8) -> Duration {
    Duration::from_secs(3) + skew(p)
}

fn advert(priority: u8, interval_cs: u16) -> Advert {
    Advert { version: Version::V3, vrid: 51, priority, interval_cs, auth: Auth::None, addresses: vec![vip(0)] }
}

fn drain(i: &mut Instance) -> Vec<Action> {
    std::iter::from_fn(|| i.poll_action()).collect()
}

/// Drives a lone instance through its own timers until `until`, returning (offset, action).
fn run_alone(i: &mut Instance, t0: Instant, until: Duration) -> Vec<(Duration, Action)> {
    let mut out: Vec<(Duration, Action)> = drain(i).into_iter().map(|a| (Duration::ZERO, a)).collect();
    while let Some(t) = i.poll_timeout() {
        if t > t0 + until {
            break;
        }
        i.handle_timeout(t);
        out.extend(drain(i).into_iter().map(|a| (t - t0, a)));
    }
    out
}

fn garps(actions: &[(Duration, Action)]) -> Vec<(Duration, u32)> {
    actions
        .iter()
        .filter_map(|(t, a)| match a {
            Action::SendGarp { repeat, .. } => Some((*t, *repeat)),
            _ => None,
        })
        .collect()
}

fn state_reason(sim: &Sim<Instance>, i: usize, to: State) -> Option<Reason> {
    sim.routers[i].log.iter().rev().find_map(|(_, e)| match e {
        Event::State { to: t, reason, .. } if *t == to => Some(reason.clone()),
        _ => None,
    })
}

// ----- elections -----

#[test]
fn two_routers_elect_the_higher_priority() {
    let mut sim = sim_of(&[100, 200]);
    sim.start_all();
    sim.run_until(10.0);
    assert_eq!(sim.masters(0), vec![1]);
    assert_eq!(sim.state(0, 0), State::Backup);
    // Both start as backup; the higher priority's shorter skew expires first.
    assert_eq!(sim.last_transition_to(1, 0, State::Master), Some(sim.base + md(200)));
    assert_eq!(sim.last_transition_to(0, 0, State::Master), None);
    assert_eq!(sim.max_dual_master(0), Duration::ZERO);
}

#[test]
fn three_routers_elect_the_highest_priority() {
    let mut sim = sim_of(&[150, 100, 200]);
    sim.start_all();
    sim.run_until(10.0);
    assert_eq!(sim.masters(0), vec![2]);
    assert_eq!(sim.max_dual_master(0), Duration::ZERO);
    // The backups track the master.
    let (m, p) = sim.routers[0].node.master().unwrap();
    assert_eq!((m, p), (router_addr(2), 200));
}

#[test]
fn master_killed_one_master_by_master_down_interval() {
    let mut sim = sim_of(&[200, 150, 100]);
    sim.start_all();
    sim.run_until(10.0);
    assert_eq!(sim.masters(0), vec![0]);
    sim.kill(0);
    // The last advert left at most 1 s before the kill; the backup times out 3*MAI + skew
    // after receiving it.
    let deadline = 10.0 + md(150).as_secs_f64() + DELAY.as_secs_f64();
    sim.run_until(deadline);
    assert_eq!(sim.masters(0), vec![1]);
    let took = sim.last_transition_to(1, 0, State::Master).unwrap();
    assert!(sim.t(took) > 10.0 + md(150).as_secs_f64() - 1.0 - 1e-9);
    assert!(matches!(
        state_reason(&sim, 1, State::Master),
        Some(Reason::MasterDown { last_master: Some(a) }) if a == router_addr(0)
    ));
    sim.run_until(60.0);
    assert_eq!(sim.masters(0), vec![1]);
    assert_eq!(sim.state(2, 0), State::Backup);
    assert!(sim.max_dual_master(0) <= DELAY);
}

#[test]
fn graceful_stop_backup_takes_over_after_skew() {
    let mut sim = sim_of(&[200, 100]);
    sim.start_all();
    sim.run_until(10.0);
    sim.stop(0);
    // The stopping master: priority 0 first, then the addresses go.
    let ev: Vec<Event> = sim.events_between(0, 10.0, 10.1).into_iter().map(|e| e.1).collect();
    assert!(matches!(&ev[0], Event::Sent { advert, .. } if advert.priority == 0));
    assert!(matches!(&ev[1], Event::Removed { .. }));
    assert!(matches!(&ev[2], Event::State { from: State::Master, to: State::Stopped, reason: Reason::Stopping, .. }));
    sim.run_until(20.0);
    assert_eq!(sim.masters(0), vec![1]);
    assert_eq!(sim.last_transition_to(1, 0, State::Master), Some(sim.at(10.0) + DELAY + skew(100)));
    assert_eq!(state_reason(&sim, 1, State::Master), Some(Reason::MasterStopped { from: router_addr(0) }));
    assert_eq!(sim.routers[1].node.counters().priority_zero_received, 1);
}

#[test]
fn graceful_stop_of_three_highest_backup_wins() {
    let mut sim = sim_of(&[200, 150, 100]);
    sim.start_all();
    sim.run_until(10.0);
    sim.stop(0);
    sim.run_until(30.0);
    assert_eq!(sim.masters(0), vec![1]);
    assert_eq!(sim.last_transition_to(1, 0, State::Master), Some(sim.at(10.0) + DELAY + skew(150)));
    assert_eq!(sim.last_transition_to(2, 0, State::Master), None);
    assert!(sim.max_dual_master(0) <= DELAY);
}

#[test]
fn preemption_higher_priority_comes_back_and_takes_over() {
    let mut sim = sim_of(&[200, 150, 100]);
    sim.start_all();
    sim.run_until(10.0);
    sim.kill(0);
    sim.run_until(20.0);
    assert_eq!(sim.masters(0), vec![1]);
    sim.restart(0, inst(settings(0, 200)));
    sim.run_until(20.0 + md(200).as_secs_f64() + 2.0 * DELAY.as_secs_f64());
    assert_eq!(sim.masters(0), vec![0]);
    assert_eq!(state_reason(&sim, 0, State::Master), Some(Reason::Preempt { priority: 150, from: router_addr(1) }));
    assert_eq!(
        state_reason(&sim, 1, State::Backup),
        Some(Reason::HigherPriority { priority: 200, from: router_addr(0) })
    );
    assert!(sim.routers[0].node.counters().lower_priority_ignored >= 3);
    sim.run_until(60.0);
    assert_eq!(sim.masters(0), vec![0]);
    assert!(sim.max_dual_master(0) <= DELAY);
}

#[test]
fn nopreempt_does_not_take_over_from_a_live_master() {
    let mk = |i, p| {
        let mut s = settings(i, p);
        s.preempt = false;
        inst(s)
    };
    let mut sim = Sim::new(vec![mk(0, 200), mk(1, 100)], DELAY, 0, 1);
    sim.start_all();
    sim.run_until(10.0);
    assert_eq!(sim.masters(0), vec![0]);
    sim.kill(0);
    sim.run_until(20.0);
    assert_eq!(sim.masters(0), vec![1]);
    sim.restart(0, mk(0, 200));
    sim.run_until(60.0);
    assert_eq!(sim.masters(0), vec![1]);
    assert_eq!(sim.state(0, 0), State::Backup);
    assert_eq!(sim.routers[0].node.master(), Some((router_addr(1), 100)));
    assert_eq!(sim.routers[0].node.counters().lower_priority_ignored, 0);
}

#[test]
fn preempt_delay_waits_before_taking_over() {
    let mk = |delay: f64| {
        let mut s = settings(0, 200);
        s.preempt_delay = secs(delay);
        inst(s)
    };
    let mut sim = Sim::new(vec![mk(10.0), inst(settings(1, 100))], DELAY, 0, 1);
    sim.start_all();
    sim.run_until(10.0);
    assert_eq!(sim.masters(0), vec![0]);
    sim.kill(0);
    sim.run_until(20.0);
    assert_eq!(sim.masters(0), vec![1]);
    sim.restart(0, mk(10.0));
    // Without the delay it would take over at 20 + 3.22 s.
    sim.run_until(30.0);
    assert_eq!(sim.masters(0), vec![1]);
    assert_eq!(sim.state(0, 0), State::Backup);
    // The delay started with B's first advert (within 1 s of the restart); then the
    // master-down timer runs out.
    sim.run_until(35.0);
    assert_eq!(sim.masters(0), vec![0]);
    let took = sim.t(sim.last_transition_to(0, 0, State::Master).unwrap());
    assert!(took > 30.0 + md(200).as_secs_f64() - 1.0, "took over at {took}");
    assert!(sim.max_dual_master(0) <= DELAY);
}

#[test]
fn equal_priority_tie_break_by_address() {
    let mut sim = sim_of(&[100, 100]);
    sim.start_all();
    sim.run_until(10.0);
    // Both time out at once; the greater primary address (192.0.2.2) stays master.
    assert_eq!(sim.masters(0), vec![1]);
    assert_eq!(
        state_reason(&sim, 0, State::Backup),
        Some(Reason::EqualPriorityHigherAddress { priority: 100, from: router_addr(1) })
    );
    assert!(sim.routers[1].node.counters().lower_priority_received >= 1);
    // Both timed out at the same instant; one delivery later only one is left.
    assert_eq!(sim.max_dual_master(0), DELAY);
    sim.run_until(60.0);
    assert_eq!(sim.masters(0), vec![1]);
}

#[test]
fn equal_priority_backup_does_not_preempt() {
    // Router 1 (greater address) starts late and finds router 0 master at the same priority:
    // a backup accepts equal priority (RFC 5798 6.4.2), so router 0 keeps the role.
    let mut sim = sim_of(&[100, 100]);
    sim.start(0);
    sim.run_until(10.0);
    sim.start(1);
    sim.run_until(60.0);
    assert_eq!(sim.masters(0), vec![0]);
}

#[test]
fn address_owner_starts_master_at_once() {
    let t0 = Instant::now();
    let mut i = inst(settings(0, 255));
    i.start(t0);
    let a = drain(&mut i);
    assert!(matches!(&a[0], Action::SendAdvert(ad) if ad.priority == 255));
    assert_eq!(a[1], Action::AddAddresses(vec![vip(0)]));
    assert_eq!(a[2], Action::SendGarp { addresses: vec![vip(0)], repeat: 5 });
    assert_eq!(a[3], Action::StateChanged { from: State::Init, to: State::Master, reason: Reason::AddressOwner });
    assert_eq!(a.len(), 4);
    assert_eq!(i.poll_timeout(), Some(t0 + Duration::from_secs(1)));

    // On a link, the owner is master from t=0 and a priority-254 peer stays backup.
    let mut sim = sim_of(&[254, 255]);
    sim.start_all();
    assert_eq!(sim.masters(0), vec![1]);
    sim.run_until(30.0);
    assert_eq!(sim.masters(0), vec![1]);
    assert_eq!(sim.max_dual_master(0), Duration::ZERO);
}

#[test]
fn priority_zero_shortens_backup_timer_and_master_answers_it() {
    let t0 = Instant::now();
    let peer = router_addr(1);
    let mut b = inst(settings(0, 100));
    b.start(t0);
    assert_eq!(b.poll_timeout(), Some(t0 + md(100)));
    b.handle_advert(t0 + secs(1.0), peer, &advert(200, 100));
    assert_eq!(b.poll_timeout(), Some(t0 + secs(1.0) + md(100)));
    b.handle_advert(t0 + secs(1.5), peer, &advert(0, 100));
    assert_eq!(b.poll_timeout(), Some(t0 + secs(1.5) + skew(100)));
    drain(&mut b);
    b.handle_timeout(t0 + secs(1.5) + skew(100));
    assert_eq!(b.state(), State::Master);
    assert!(drain(&mut b).contains(&Action::StateChanged {
        from: State::Backup,
        to: State::Master,
        reason: Reason::MasterStopped { from: peer },
    }));

    // A master receiving priority 0 advertises at once and stays master.
    let now = t0 + secs(2.0);
    b.handle_advert(now, peer, &advert(0, 100));
    let a = drain(&mut b);
    assert!(matches!(&a[..], [Action::SendAdvert(ad)] if ad.priority == 100));
    assert_eq!(b.state(), State::Master);
    assert_eq!(b.poll_timeout(), Some(now + secs(1.0)));
    assert_eq!(b.counters().priority_zero_received, 2);
}

#[test]
fn v3_backup_adopts_master_interval() {
    let mut fast = settings(0, 200);
    fast.advert_interval_cs = 50;
    let mut sim = Sim::new(vec![inst(fast), inst(settings(1, 100))], DELAY, 0, 1);
    sim.start_all();
    sim.run_until(10.0);
    assert_eq!(sim.masters(0), vec![0]);
    let b = &sim.routers[1].node;
    assert_eq!(b.master_advert_interval_cs(), 50);
    assert_eq!(b.counters().interval_adopted, 1);
    assert!(b.counters().interval_mismatch >= 10);
    assert_eq!(b.counters().dropped_interval_mismatch, 0);
    sim.kill(0);
    // 3 * 0.5 s + (156/256) * 0.5 s after the last advert, not 3.61 s.
    let adopted_md = 1.5 + 0.5 * 156.0 / 256.0;
    sim.run_until(10.0 + adopted_md + DELAY.as_secs_f64() + 1e-6);
    assert_eq!(sim.masters(0), vec![1]);
    // As master it advertises its own interval again.
    sim.run_until(15.0);
    let last = sim.routers[1].log.iter().rev().find_map(|(_, e)| match e {
        Event::Sent { advert, .. } => Some(advert.interval_cs),
        _ => None,
    });
    assert_eq!(last, Some(100));
    assert_eq!(sim.routers[1].node.master_advert_interval_cs(), 100);
}

#[test]
fn v2_interval_mismatch_is_dropped_and_counted() {
    let mk = |i, p, cs| {
        let mut s = settings(i, p);
        s.version = Version::V2;
        s.advert_interval_cs = cs;
        inst(s)
    };
    let mut sim = Sim::new(vec![mk(0, 200, 100), mk(1, 100, 200)], DELAY, 0, 1);
    sim.start_all();
    sim.run_until(20.0);
    // Neither accepts the other's adverts (RFC 3768 7.1): both end up master.
    assert_eq!(sim.masters(0), vec![0, 1]);
    for r in &sim.routers {
        let c = r.node.counters();
        assert!(c.dropped_interval_mismatch >= 5, "{c:?}");
        assert_eq!(c.lower_priority_received, 0);
        assert_eq!(r.node.master_advert_interval_cs(), r.node.settings().advert_interval_cs);
    }

    // Same intervals: a normal election.
    let mut sim = Sim::new(vec![mk(0, 200, 200), mk(1, 100, 200)], DELAY, 0, 1);
    sim.start_all();
    sim.run_until(20.0);
    assert_eq!(sim.masters(0), vec![0]);
    assert_eq!(sim.routers[1].node.counters().dropped_interval_mismatch, 0);
}

#[test]
fn wrong_vrid_and_version_are_dropped_and_counted() {
    let t0 = Instant::now();
    let mut b = inst(settings(0, 100));
    b.start(t0);
    let before = b.poll_timeout();
    let mut other = advert(200, 100);
    other.vrid = 52;
    b.handle_advert(t0 + secs(1.0), router_addr(1), &other);
    let mut v2 = advert(200, 100);
    v2.version = Version::V2;
    b.handle_advert(t0 + secs(1.0), router_addr(1), &v2);
    assert_eq!(b.poll_timeout(), before);
    let c = b.counters();
    assert_eq!((c.adverts_received, c.dropped_wrong_vrid, c.dropped_wrong_version), (2, 1, 1));
}

// ----- lossy link, partitions -----

#[test]
fn lossy_link_converges_to_one_master() {
    for seed in 1..=6u64 {
        let nodes = [200, 150, 100].iter().enumerate().map(|(i, p)| inst(settings(i, *p))).collect();
        let mut sim = Sim::new(nodes, DELAY, 200, seed);
        sim.start_all();
        sim.run_until(10.0);
        sim.kill(0);
        sim.run_until(10.0 + md(150).as_secs_f64() + DELAY.as_secs_f64());
        assert!(!sim.masters(0).is_empty(), "seed {seed}: no master after the kill");
        sim.run_until(20.0);
        sim.reset_dual_master();
        sim.run_until(80.0);
        assert_eq!(sim.masters(0), vec![1], "seed {seed}");
        let share = sim.single_master_time(0).as_secs_f64() / 60.0;
        assert!(share > 0.95, "seed {seed}: one master only {share:.3} of the time");
        assert!(sim.lost > 0);
    }
}

#[test]
fn partition_gives_two_masters_and_healing_leaves_one_which_resends_garps() {
    let mut sim = sim_of(&[200, 100]);
    sim.start_all();
    sim.run_until(10.0);
    sim.partition(&[&[0], &[1]]);
    sim.run_until(30.0);
    assert_eq!(sim.masters(0), vec![0, 1]);
    // Router 0 advertises at x.21875 s, router 1 at y.833 s: heal between the two, so that
    // the lower master's advert reaches the higher one first (which then answers with an
    // advert and GARPs; keepalived/vrrp/vrrp.c vrrp_state_master_rx).
    sim.run_until(30.5);
    sim.heal();
    sim.run_until(31.0);
    assert_eq!(sim.masters(0), vec![0]);
    sim.run_until(45.0);
    assert_eq!(sim.masters(0), vec![0]);
    let garps: Vec<(f64, u32)> = sim
        .events_between(0, 30.0, 45.0)
        .into_iter()
        .filter_map(|(t, e)| match e {
            Event::Garp { repeat, .. } => Some((t, repeat)),
            _ => None,
        })
        .collect();
    assert_eq!(garps.len(), 2, "{garps:?}");
    assert!(garps[0].0 > 30.5 && garps[0].0 < 32.0, "{garps:?}");
    assert!((garps[1].0 - garps[0].0 - 5.0).abs() < 1e-6, "{garps:?}");
    assert_eq!((garps[0].1, garps[1].1), (5, 5));
    assert_eq!(sim.routers[0].node.counters().lower_priority_received, 1);
    assert_eq!(
        state_reason(&sim, 1, State::Backup),
        Some(Reason::HigherPriority { priority: 200, from: router_addr(0) })
    );
}

#[test]
fn healing_when_the_higher_master_speaks_first() {
    // The higher master's advert arrives first: the lower one yields silently, unless it has
    // higher_prio_send_advert, whose extra advert makes the winner re-send GARPs.
    for send_advert in [false, true] {
        let mut low = settings(1, 100);
        low.higher_prio_send_advert = send_advert;
        let mut sim = Sim::new(vec![inst(settings(0, 200)), inst(low)], DELAY, 0, 1);
        sim.start_all();
        sim.run_until(10.0);
        sim.partition(&[&[0], &[1]]);
        sim.run_until(30.0);
        sim.heal();
        sim.run_until(45.0);
        assert_eq!(sim.masters(0), vec![0]);
        let resent = sim.events_between(0, 30.0, 45.0).iter().filter(|(_, e)| matches!(e, Event::Garp { .. })).count();
        assert_eq!(resent, if send_advert { 2 } else { 0 }, "send_advert {send_advert}");
    }
}

// ----- tracking, fault, stop -----

#[test]
fn tracking_lowers_priority_and_peer_preempts() {
    let mut sim = sim_of(&[150, 100]);
    sim.start_all();
    sim.run_until(10.0);
    assert_eq!(sim.masters(0), vec![0]);
    sim.set_priority_adjustment(0, 0, -60);
    assert_eq!(sim.routers[0].node.priority(), 90);
    // Its next advert (within 1 s) carries 90; the peer ignores it and times out.
    sim.run_until(10.0 + 1.0 + md(100).as_secs_f64() + 2.0 * DELAY.as_secs_f64());
    assert_eq!(sim.masters(0), vec![1]);
    assert_eq!(
        state_reason(&sim, 0, State::Backup),
        Some(Reason::HigherPriority { priority: 100, from: router_addr(1) })
    );
    // The script recovers: priority 150 again, and it preempts back.
    sim.run_until(30.0);
    sim.set_priority_adjustment(0, 0, 0);
    sim.run_until(30.0 + 1.0 + md(150).as_secs_f64() + 2.0 * DELAY.as_secs_f64());
    assert_eq!(sim.masters(0), vec![0]);
    assert!(sim.max_dual_master(0) <= DELAY);
}

#[test]
fn priority_adjustment_is_clamped_and_moves_backup_timer() {
    let t0 = Instant::now();
    let mut b = inst(settings(0, 100));
    b.start(t0);
    assert_eq!(b.poll_timeout(), Some(t0 + md(100)));
    b.set_priority_adjustment(t0, 100);
    assert_eq!(b.priority(), 200);
    assert_eq!(b.poll_timeout(), Some(t0 + md(200)));
    b.set_priority_adjustment(t0, 500);
    assert_eq!(b.priority(), 254);
    b.set_priority_adjustment(t0, -500);
    assert_eq!(b.priority(), 1);
    assert_eq!(b.poll_timeout(), Some(t0 + md(1)));
    let mut owner = inst(settings(0, 255));
    owner.set_priority_adjustment(t0, -100);
    assert_eq!(owner.priority(), 255);
}

#[test]
fn fault_of_a_master_sends_priority_zero_and_recovers_as_backup() {
    let t0 = Instant::now();
    let mut m = inst(settings(0, 255));
    m.start(t0);
    drain(&mut m);
    let now = t0 + secs(2.0);
    m.set_fault(now, true);
    let a = drain(&mut m);
    assert!(matches!(&a[0], Action::SendAdvert(ad) if ad.priority == 0));
    assert_eq!(a[1], Action::RemoveAddresses(vec![vip(0)]));
    assert_eq!(a[2], Action::StateChanged { from: State::Master, to: State::Fault, reason: Reason::FaultRaised });
    assert_eq!(m.poll_timeout(), None);
    m.handle_advert(now, router_addr(1), &advert(100, 100));
    assert_eq!(m.counters().dropped_not_listening, 1);

    let later = now + secs(5.0);
    m.set_fault(later, false);
    assert_eq!(
        drain(&mut m),
        vec![Action::StateChanged { from: State::Fault, to: State::Backup, reason: Reason::FaultCleared }]
    );
    // An address owner reclaims the role after one interval plus skew
    // (keepalived/vrrp/vrrp_scheduler.c try_up_instance).
    assert_eq!(m.poll_timeout(), Some(later + secs(1.0) + Duration::from_micros(3_906)));

    // A fault reported before start: the instance starts in fault.
    let mut f = inst(settings(1, 100));
    f.set_fault(t0, true);
    f.start(t0);
    assert_eq!(f.state(), State::Fault);
}

#[test]
fn fault_on_a_link_moves_the_role() {
    let mut sim = sim_of(&[200, 100]);
    sim.start_all();
    sim.run_until(10.0);
    sim.set_fault(0, 0, true);
    sim.run_until(12.0);
    assert_eq!(sim.masters(0), vec![1]);
    assert_eq!(sim.last_transition_to(1, 0, State::Master), Some(sim.at(10.0) + DELAY + skew(100)));
    sim.set_fault(0, 0, false);
    sim.run_until(20.0);
    assert_eq!(sim.masters(0), vec![0]);
}

#[test]
fn stop_as_backup_sends_nothing() {
    let t0 = Instant::now();
    let mut b = inst(settings(0, 100));
    b.start(t0);
    drain(&mut b);
    b.stop(t0 + secs(1.0));
    assert_eq!(
        drain(&mut b),
        vec![Action::StateChanged { from: State::Backup, to: State::Stopped, reason: Reason::Stopping }]
    );
    assert_eq!(b.poll_timeout(), None);
    b.handle_timeout(t0 + secs(100.0));
    assert!(drain(&mut b).is_empty());
}

// ----- start-up -----

#[test]
fn startup_delay_defers_everything() {
    let t0 = Instant::now();
    let mut s = settings(0, 255);
    s.startup_delay = secs(5.0);
    let mut i = inst(s);
    i.start(t0);
    assert!(drain(&mut i).is_empty());
    assert_eq!(i.state(), State::Init);
    assert_eq!(i.poll_timeout(), Some(t0 + secs(5.0)));
    i.handle_advert(t0 + secs(1.0), router_addr(1), &advert(100, 100));
    assert_eq!(i.counters().dropped_not_listening, 1);
    i.handle_timeout(t0 + secs(4.9));
    assert_eq!(i.state(), State::Init);
    i.handle_timeout(t0 + secs(5.0));
    assert_eq!(i.state(), State::Master);
}

#[test]
fn initial_state_master_waits_one_interval() {
    let mut s = settings(0, 100);
    s.initial_state = InitialState::Master;
    let t0 = Instant::now();
    let mut i = inst(s.clone());
    i.start(t0);
    // MAI + MAI/256 (keepalived/vrrp/vrrp_scheduler.c vrrp_init_state).
    assert_eq!(i.poll_timeout(), Some(t0 + secs(1.0) + Duration::from_micros(3_906)));

    // With a live higher-priority master it stays backup.
    let mut sim = Sim::new(vec![inst(s), inst(settings(1, 200))], DELAY, 0, 1);
    sim.start(1);
    sim.run_until(10.0);
    sim.start(0);
    sim.run_until(30.0);
    assert_eq!(sim.masters(0), vec![1]);
    assert_eq!(sim.last_transition_to(0, 0, State::Master), None);
}

// ----- GARP schedule -----

#[test]
fn garp_default_schedule_five_now_five_after_five_seconds() {
    let t0 = Instant::now();
    let mut m = inst(settings(0, 255));
    m.start(t0);
    let got = garps(&run_alone(&mut m, t0, secs(60.0)));
    assert_eq!(got, vec![(Duration::ZERO, 5), (secs(5.0), 5)]);
}

#[test]
fn garp_refresh_when_configured() {
    let t0 = Instant::now();
    let mut s = settings(0, 255);
    s.garp.master_refresh = Some(secs(10.0));
    s.garp.master_refresh_repeat = 2;
    let mut m = inst(s);
    m.start(t0);
    let got = garps(&run_alone(&mut m, t0, secs(40.0)));
    assert_eq!(got, vec![(Duration::ZERO, 5), (secs(5.0), 5), (secs(15.0), 2), (secs(25.0), 2), (secs(35.0), 2)]);
}

#[test]
fn garp_extra_if_goes_with_the_first_advert_after_its_interval_while_master() {
    let t0 = Instant::now();
    let mut s = settings(0, 255);
    s.garp.extra_if = Some(secs(2.5));
    let mut m = inst(s);
    m.start(t0);
    let actions = run_alone(&mut m, t0, secs(10.0));
    // Adverts every second from t0; due at 2.5 s, sent with the advert at 3 s, then 5.5 -> 6,
    // 8.5 -> 9 (keepalived checks the timer as it sends an advert).
    let got: Vec<u128> =
        actions.iter().filter(|(_, a)| matches!(a, Action::SendExtraGarp)).map(|(t, _)| t.as_millis()).collect();
    assert_eq!(got, vec![3000, 6000, 9000]);
    // Off by default.
    let mut m = inst(settings(0, 255));
    m.start(t0);
    assert!(!run_alone(&mut m, t0, secs(10.0)).iter().any(|(_, a)| matches!(a, Action::SendExtraGarp)));
}

#[test]
fn garp_interval_paces_a_burst() {
    let t0 = Instant::now();
    let mut s = settings(0, 255);
    s.garp = GarpSettings { master_repeat: 3, master_delay: secs(2.0), interval: secs(0.1), ..GarpSettings::default() };
    let mut m = inst(s);
    m.start(t0);
    let got = garps(&run_alone(&mut m, t0, secs(10.0)));
    let ms: Vec<(u128, u32)> = got.iter().map(|(t, r)| (t.as_millis(), *r)).collect();
    assert_eq!(ms, vec![(0, 1), (100, 1), (200, 1), (2000, 1), (2100, 1), (2200, 1)]);
}

#[test]
fn garps_stop_when_leaving_master() {
    let t0 = Instant::now();
    let mut m = inst(settings(0, 200));
    m.start(t0);
    m.handle_timeout(t0 + md(200));
    assert_eq!(m.state(), State::Master);
    drain(&mut m);
    m.handle_advert(t0 + secs(4.0), router_addr(1), &advert(250, 100));
    assert_eq!(m.state(), State::Backup);
    // The second burst (due at +5 s after becoming master) is cancelled.
    let rest = run_alone(&mut m, t0, secs(6.0));
    assert!(garps(&rest).is_empty(), "{rest:?}");
}

// ----- sync groups -----

fn group(i: usize, priority: u8) -> SyncGroup {
    let members = (0..2u8)
        .map(|k| {
            let mut s = settings(i, priority);
            s.name = format!("r{i}-vi{k}");
            s.vrid = 10 + k;
            s.addresses = vec![vip(k)];
            inst(s)
        })
        .collect();
    SyncGroup::new(format!("g{i}"), members)
}

fn group_transition(sim: &Sim<SyncGroup>, i: usize, m: usize, to: State) -> Option<f64> {
    sim.last_transition_to(i, m, to).map(|t| sim.t(t))
}

#[test]
fn sync_group_members_move_together_on_fault() {
    let mut sim = Sim::new(vec![group(0, 200), group(1, 100)], DELAY, 0, 1);
    sim.start_all();
    sim.run_until(10.0);
    assert_eq!((sim.masters(0), sim.masters(1)), (vec![0], vec![0]));
    assert_eq!(sim.routers[0].node.state(), State::Master);

    // A link under member 0 of router 0 fails: both members go to fault, both send priority 0.
    sim.set_fault(0, 0, true);
    assert_eq!(sim.routers[0].node.state(), State::Fault);
    let zeros: Vec<usize> = sim
        .events_between(0, 10.0, 10.001)
        .into_iter()
        .filter_map(|(_, e)| match e {
            Event::Sent { member, advert } if advert.priority == 0 => Some(member),
            _ => None,
        })
        .collect();
    assert_eq!(zeros, vec![0, 1]);
    let follow = sim.routers[0].log.iter().find_map(|(_, e)| match e {
        Event::State { member: 1, to: State::Fault, reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(follow, Some(Reason::SyncGroup { group: "g0".into(), member: "r0-vi0".into() }));
    sim.run_until(12.0);
    assert_eq!((sim.masters(0), sim.masters(1)), (vec![1], vec![1]));
    let t0 = group_transition(&sim, 1, 0, State::Master);
    assert_eq!(t0, group_transition(&sim, 1, 1, State::Master));
    assert!((t0.unwrap() - (10.0 + DELAY.as_secs_f64() + skew(100).as_secs_f64())).abs() < 1e-6);

    // Recovery: both back to backup together, then both preempt together.
    sim.set_fault(0, 0, false);
    assert_eq!(sim.state(0, 0), State::Backup);
    assert_eq!(sim.state(0, 1), State::Backup);
    sim.run_until(20.0);
    assert_eq!((sim.masters(0), sim.masters(1)), (vec![0], vec![0]));
    assert_eq!(group_transition(&sim, 0, 0, State::Master), group_transition(&sim, 0, 1, State::Master));
    assert_eq!(sim.routers[1].node.state(), State::Backup);
    assert!(sim.max_dual_master(0) <= DELAY && sim.max_dual_master(1) <= DELAY);
}

#[test]
fn sync_group_fault_holds_while_any_member_faulted() {
    let t0 = Instant::now();
    let mut g = group(0, 100);
    g.start(t0);
    g.set_fault(0, t0 + secs(1.0), true);
    g.set_fault(1, t0 + secs(1.0), true);
    g.set_fault(0, t0 + secs(2.0), false);
    assert_eq!(g.state(), State::Fault);
    assert!(g.members().iter().all(|m| m.state() == State::Fault));
    // No member went through backup while member 1 was still faulted.
    let blips = std::iter::from_fn(|| g.poll_action())
        .filter(|a| matches!(a.action, Action::StateChanged { to: State::Backup, from: State::Fault, .. }))
        .count();
    assert_eq!(blips, 0);
    g.set_fault(1, t0 + secs(3.0), false);
    assert_eq!(g.state(), State::Backup);
    assert!(g.members().iter().all(|m| m.state() == State::Backup));
    let reasons: Vec<(usize, Reason)> = std::iter::from_fn(|| g.poll_action())
        .filter_map(|a| match a.action {
            Action::StateChanged { reason, .. } => Some((a.member, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        vec![(1, Reason::FaultCleared), (0, Reason::SyncGroup { group: "g0".into(), member: "r0-vi1".into() }),]
    );
}

#[test]
fn sync_group_goes_master_only_when_all_members_want_it() {
    // Member 0's master is gone, member 1's is alive: keepalived prefers backup
    // (keepalived/vrrp/vrrp_sync.c vrrp_sync_can_goto_master), so the group stays backup.
    let t0 = Instant::now();
    let peer = router_addr(1);
    let mut g = group(0, 100);
    g.start(t0);
    let mut other = advert(200, 100);
    other.vrid = 11;
    other.addresses = vec![vip(1)];
    for s in 0..20 {
        let now = t0 + secs(f64::from(s));
        while let Some(t) = g.poll_timeout().filter(|t| *t <= now) {
            g.handle_timeout(t);
        }
        assert_eq!(g.handle_advert(now, peer, &other), Some(1));
    }
    assert_eq!(g.state(), State::Backup);
    assert!(g.members()[0].wants_master());
    assert!(!g.members()[1].wants_master());
    // Member 1's master falls silent too: the group goes master, both members at once.
    let mut last = t0 + secs(19.0);
    while let Some(t) = g.poll_timeout() {
        if g.state() == State::Master || t > t0 + secs(40.0) {
            break;
        }
        g.handle_timeout(t);
        last = t;
    }
    assert_eq!(g.state(), State::Master);
    assert!(last <= t0 + secs(19.0) + md(100));
    let masters: Vec<usize> = std::iter::from_fn(|| g.poll_action())
        .filter_map(|a| match a.action {
            Action::StateChanged { to: State::Master, .. } => Some(a.member),
            _ => None,
        })
        .collect();
    assert_eq!(masters, vec![0, 1]);
    // An advert for an unknown vrid is not routed.
    let mut stray = advert(200, 100);
    stray.vrid = 99;
    assert_eq!(g.handle_advert(last, peer, &stray), None);
    assert_eq!(g.unrouted_adverts(), 1);
}

#[test]
fn sync_group_member_yielding_takes_the_others_to_backup() {
    let t0 = Instant::now();
    let mut g = group(0, 100);
    g.start(t0);
    let up = g.poll_timeout().unwrap();
    g.handle_timeout(up);
    assert_eq!(g.state(), State::Master);
    std::iter::from_fn(|| g.poll_action()).for_each(drop);
    // A higher priority appears for member 0 only; member 1 follows it to backup at once,
    // without a priority-0 advert (keepalived/vrrp/vrrp_sync.c vrrp_sync_backup).
    let mut higher = advert(200, 100);
    higher.vrid = 10;
    let now = up + secs(0.5);
    assert_eq!(g.handle_advert(now, router_addr(1), &higher), Some(0));
    assert!(g.members().iter().all(|m| m.state() == State::Backup));
    let member1: Vec<Action> =
        std::iter::from_fn(|| g.poll_action()).filter(|a| a.member == 1).map(|a| a.action).collect();
    assert_eq!(
        member1,
        vec![
            Action::RemoveAddresses(vec![vip(1)]),
            Action::StateChanged {
                from: State::Master,
                to: State::Backup,
                reason: Reason::SyncGroup { group: "g0".into(), member: "r0-vi0".into() },
            },
        ]
    );
}

#[test]
fn sync_group_tracking_on_one_member_moves_the_group() {
    // Router 0's member 1 loses priority below router 1's: router 1's member 1 wants master,
    // but its member 0 still hears a higher master, so nothing moves (keepalived's
    // behaviour); router 0's member 0 losing priority too makes the whole group move.
    let mut sim = Sim::new(vec![group(0, 150), group(1, 100)], DELAY, 0, 1);
    sim.start_all();
    sim.run_until(10.0);
    sim.set_priority_adjustment(0, 1, -100);
    sim.run_until(20.0);
    assert_eq!((sim.masters(0), sim.masters(1)), (vec![0], vec![0]));
    sim.set_priority_adjustment(0, 0, -100);
    sim.run_until(30.0);
    assert_eq!((sim.masters(0), sim.masters(1)), (vec![1], vec![1]));
    assert_eq!(sim.routers[0].node.state(), State::Backup);
}

// ----- settings -----

#[test]
fn settings_are_validated() {
    let ok = settings(0, 100);
    let check = |f: &dyn Fn(&mut Settings)| {
        let mut s = ok.clone();
        f(&mut s);
        Instance::new(s).err()
    };
    assert_eq!(check(&|s| s.vrid = 0), Some(SettingsError::Vrid));
    assert_eq!(check(&|s| s.priority = 0), Some(SettingsError::Priority));
    assert_eq!(check(&|s| s.advert_interval_cs = 0), Some(SettingsError::Interval(0)));
    assert_eq!(check(&|s| s.advert_interval_cs = 4096), Some(SettingsError::Interval(4096)));
    assert_eq!(
        check(&|s| {
            s.version = Version::V2;
            s.advert_interval_cs = 150;
        }),
        Some(SettingsError::Interval(150))
    );
    assert_eq!(check(&|s| s.auth = Auth::Simple(*b"secret\0\0")), Some(SettingsError::V3Auth));
    let v6: IpAddr = "2001:db8::1".parse().unwrap();
    assert_eq!(check(&|s| s.addresses = vec![v6]), Some(SettingsError::MixedFamilies(v6)));
    // keepalived's resolutions: an owner always preempts; nopreempt drops preempt_delay.
    let mut s = ok.clone();
    s.priority = 255;
    s.preempt = false;
    assert!(Instance::new(s).unwrap().settings().preempt);
    let mut s = ok;
    s.preempt = false;
    s.preempt_delay = secs(5.0);
    assert_eq!(Instance::new(s).unwrap().settings().preempt_delay, Duration::ZERO);
}

/// `auth_type AH` runs for VRRPv2; with state MASTER it starts as BACKUP (keepalived: "Initial
/// state master is incompatible with AH authentication - clearing": the master's sequence
/// number must be heard first), but for the address owner.
#[test]
fn ah_is_accepted_for_v2_and_clears_state_master() {
    let mut s = settings(0, 100);
    s.version = Version::V2;
    s.advert_interval_cs = 100;
    s.auth = Auth::Ah;
    s.initial_state = InitialState::Master;
    let v = Instance::new(s.clone()).unwrap();
    assert_eq!(v.settings().initial_state, InitialState::Backup);
    s.priority = 255;
    assert_eq!(Instance::new(s.clone()).unwrap().settings().initial_state, InitialState::Master);
    s.version = Version::V3;
    assert_eq!(Instance::new(s).err(), Some(SettingsError::V3Auth));
}

// ----- properties -----

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Distinct priorities, staggered starts, a lossless link: the highest priority ends up the
    /// only master, and two masters never coexist longer than a delivery delay.
    #[test]
    fn highest_priority_wins(
        prios in proptest::collection::hash_set(1u8..=254, 3),
        starts in proptest::collection::vec(0u32..8000, 3),
    ) {
        let prios: Vec<u8> = prios.into_iter().collect();
        let mut order: Vec<(u32, usize)> = starts.iter().copied().zip(0..3).collect();
        order.sort_unstable();
        let mut sim = sim_of(&prios);
        for (ms, i) in order {
            sim.run_until(f64::from(ms) / 1000.0);
            sim.start(i);
        }
        sim.run_until(30.0);
        let best = (0..3).max_by_key(|&i| prios[i]).unwrap();
        prop_assert_eq!(sim.masters(0), vec![best]);
        prop_assert!(sim.max_dual_master(0) <= DELAY);
    }
}

/// Warm preemption's hold: a higher-priority router that comes back while held stays backup
/// behind the live lower-priority master for as long as the hold lasts, preempts within one
/// master-down interval once let go, and a master that dies is replaced whatever the hold.
#[test]
fn a_held_router_does_not_preempt_a_live_master_but_replaces_a_dead_one() {
    let mut sim = sim_of(&[200, 100]);
    sim.start_all();
    sim.run_until(10.0);
    assert_eq!(sim.masters(0), vec![0]);
    sim.kill(0);
    sim.run_until(20.0);
    assert_eq!(sim.masters(0), vec![1]);
    let mut back = inst(settings(0, 200));
    back.hold_preemption(true);
    assert!(back.preemption_held());
    sim.restart(0, back);
    // Without the hold it would take over at 20 + 3.22 s.
    sim.run_until(40.0);
    assert_eq!(sim.masters(0), vec![1]);
    assert_eq!(sim.state(0, 0), State::Backup);
    assert_eq!(sim.routers[0].node.master(), Some((router_addr(1), 100)));
    // Let go at 40 s: the next advert from the lower priority is ignored and the timer runs out.
    sim.routers[0].node.hold_preemption(false);
    sim.run_until(45.0);
    assert_eq!(sim.masters(0), vec![0]);
    let took = sim.t(sim.last_transition_to(0, 0, State::Master).unwrap());
    assert!(took > 40.0 && took < 40.0 + md(200).as_secs_f64() + 1.1, "took over at {took}");
    assert_eq!(state_reason(&sim, 0, State::Master), Some(Reason::Preempt { priority: 100, from: router_addr(1) }));

    // Held again, as a backup behind a higher priority this time; the master dies: the held
    // router takes over after the master-down interval all the same.
    let mut sim = sim_of(&[100, 200]);
    sim.routers[0].node.hold_preemption(true);
    sim.start_all();
    sim.run_until(10.0);
    assert_eq!(sim.masters(0), vec![1]);
    sim.kill(1);
    sim.run_until(15.0);
    assert_eq!(sim.masters(0), vec![0]);
}

// ----- reconfiguration (reload) -----

/// Every state change router `i` went through, in order.
fn transitions(sim: &Sim<Instance>, i: usize) -> Vec<(State, State)> {
    sim.routers[i]
        .log
        .iter()
        .filter_map(|(_, e)| match e {
            Event::State { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
        .collect()
}

#[test]
fn reload_lowering_the_masters_priority_moves_the_mastership_without_a_restart() {
    let mut sim = sim_of(&[200, 150]);
    sim.start_all();
    sim.run_until(10.0);
    assert_eq!(sim.masters(0), vec![0]);
    let before = transitions(&sim, 0);
    sim.with_node(0, |n, now| n.reconfigure(now, settings(0, 100))).unwrap();
    // Still master the instant after: a reload is not a transition.
    assert_eq!(sim.state(0, 0), State::Master);
    assert_eq!(sim.routers[0].node.priority(), 100);
    // The backup ignores the lower adverts and takes over when its timer runs out.
    sim.run_until(10.0 + md(150).as_secs_f64() + 1.0);
    assert_eq!(sim.masters(0), vec![1]);
    assert_eq!(state_reason(&sim, 1, State::Master), Some(Reason::Preempt { priority: 100, from: router_addr(0) }));
    let after: Vec<_> = transitions(&sim, 0).into_iter().skip(before.len()).collect();
    assert_eq!(after, vec![(State::Master, State::Backup)], "one step down, no stop or init in between");
    sim.run_until(60.0);
    assert_eq!(sim.masters(0), vec![1]);
    assert!(sim.max_dual_master(0) <= DELAY);
}

#[test]
fn reload_raising_a_backups_priority_makes_it_preempt() {
    let mut sim = sim_of(&[200, 150]);
    sim.start_all();
    sim.run_until(10.0);
    sim.with_node(1, |n, now| n.reconfigure(now, settings(1, 250))).unwrap();
    sim.run_until(10.0 + md(250).as_secs_f64() + 1.0);
    assert_eq!(sim.masters(0), vec![1]);
    assert_eq!(sim.routers[1].node.priority(), 250);
    assert_eq!(transitions(&sim, 1).last(), Some(&(State::Backup, State::Master)));
}

#[test]
fn reload_with_the_same_priority_changes_no_state() {
    let mut sim = sim_of(&[200, 150]);
    sim.start_all();
    sim.run_until(10.0);
    let (t0, t1) = (transitions(&sim, 0).len(), transitions(&sim, 1).len());
    let mut s0 = settings(0, 200);
    s0.addresses = vec![vip(0), vip(1)];
    sim.with_node(0, |n, now| n.reconfigure(now, s0)).unwrap();
    let mut s1 = settings(1, 150);
    s1.preempt = false;
    // Both directors get the new address (a backup drops adverts whose list is not its own).
    s1.addresses = vec![vip(0), vip(1)];
    sim.with_node(1, |n, now| n.reconfigure(now, s1)).unwrap();
    sim.run_until(60.0);
    assert_eq!((transitions(&sim, 0).len(), transitions(&sim, 1).len()), (t0, t1));
    assert_eq!(sim.masters(0), vec![0]);
    // The master's adverts now list both addresses.
    let last = sim.routers[0].log.iter().rev().find_map(|(_, e)| match e {
        Event::Sent { advert, .. } => Some(advert.addresses.clone()),
        _ => None,
    });
    assert_eq!(last, Some(vec![vip(0), vip(1)]));
}

#[test]
fn reload_of_a_shorter_interval_brings_the_masters_next_advert_forward() {
    let mut sim = sim_of(&[200]);
    sim.start_all();
    sim.run_until(10.5);
    let mut s = settings(0, 200);
    s.advert_interval_cs = 20;
    sim.with_node(0, |n, now| n.reconfigure(now, s)).unwrap();
    let next = sim.routers[0].node.poll_timeout().unwrap();
    assert!(next <= sim.now + Duration::from_millis(200), "next advert within the new interval");
}

#[test]
fn reload_that_changes_the_vrid_or_address_is_refused() {
    let mut i = inst(settings(0, 100));
    let t = Instant::now();
    i.start(t);
    let mut other = settings(0, 100);
    other.vrid = 52;
    assert_eq!(i.reconfigure(t, other), Err(SettingsError::Identity));
    assert_eq!(i.reconfigure(t, settings(1, 100)), Err(SettingsError::Identity));
    let mut bad = settings(0, 100);
    bad.priority = 0;
    assert_eq!(i.reconfigure(t, bad), Err(SettingsError::Priority));
    assert_eq!(i.settings().priority, 100, "a refused reconfiguration changes nothing");
}

// ----- hand-over (failover drill) -----

#[test]
fn a_hand_over_gives_the_backup_the_mastership_at_skew_time_and_holds_it_there() {
    let mut sim = sim_of(&[200, 150]);
    sim.start_all();
    sim.run_until(10.0);
    assert_eq!(sim.masters(0), vec![0]);
    sim.with_node(0, |n, now| n.hand_over(now));
    let ev: Vec<Event> = sim.events_between(0, 10.0, 10.001).into_iter().map(|e| e.1).collect();
    assert!(matches!(&ev[0], Event::Sent { advert, .. } if advert.priority == 0), "{ev:?}");
    assert!(matches!(&ev[1], Event::Removed { .. }), "{ev:?}");
    assert_eq!(sim.state(0, 0), State::Backup);
    sim.run_until(20.0);
    assert_eq!(sim.masters(0), vec![1], "the higher priority does not take back while held");
    assert_eq!(sim.last_transition_to(1, 0, State::Master), Some(sim.at(10.0) + DELAY + skew(150)));
    assert_eq!(state_reason(&sim, 0, State::Backup), Some(Reason::HandedOver));
    // Released: it preempts again.
    sim.with_node(0, |n, _| n.hold_preemption(false));
    sim.run_until(20.0 + md(200).as_secs_f64() + 1.0);
    assert_eq!(sim.masters(0), vec![0]);
    assert!(sim.max_dual_master(0) <= DELAY);
}

#[test]
fn a_hand_over_with_no_backup_takes_the_mastership_back_after_the_master_down_interval() {
    let mut sim = sim_of(&[200]);
    sim.start_all();
    sim.run_until(10.0);
    sim.with_node(0, |n, now| n.hand_over(now));
    sim.run_until(10.0 + md(200).as_secs_f64() - 0.01);
    assert_eq!(sim.state(0, 0), State::Backup);
    sim.run_until(10.0 + md(200).as_secs_f64() + 0.01);
    assert_eq!(sim.state(0, 0), State::Master);
}

/// keepalived 2.2.7 drops an advert whose address list is not its own ("received an
/// unexpected ip number count"), and so does tandem: a backup configured with other
/// addresses than the master's does not follow it, and becomes master too.
#[test]
fn a_backup_drops_adverts_whose_address_list_is_not_its_own() {
    let mut s0 = settings(0, 200);
    s0.addresses = vec![vip(0), vip(1)];
    let mut sim = Sim::new(vec![inst(s0), inst(settings(1, 150))], DELAY, 0, 1);
    sim.start_all();
    sim.run_until(10.0);
    assert_eq!(sim.masters(0), vec![0, 1]);
    assert!(sim.routers[1].node.counters().address_list_mismatch >= 5);
}

/// `skip_check_adv_addr`: a backup does not check the list of the master it already
/// follows, so a master whose list changes (a reload on one side first) keeps its backup;
/// without it, the backup takes over.
#[test]
fn skip_check_adv_addr_keeps_following_the_same_master() {
    for skip in [true, false] {
        let mut s1 = settings(1, 150);
        s1.skip_check_adv_addr = skip;
        let mut sim = Sim::new(vec![inst(settings(0, 200)), inst(s1)], DELAY, 0, 1);
        sim.start_all();
        sim.run_until(10.0);
        assert_eq!(sim.masters(0), vec![0]);
        let mut s0 = settings(0, 200);
        s0.addresses = vec![vip(0), vip(1)];
        sim.with_node(0, |n, now| n.reconfigure(now, s0)).unwrap();
        sim.run_until(20.0);
        assert_eq!(sim.masters(0), if skip { vec![0] } else { vec![0, 1] }, "skip_check_adv_addr {skip}");
    }
}
