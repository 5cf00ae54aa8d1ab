//! Warm preemption's bound and its off switch, in network namespaces (no IPVS here, so no
//! table ever comes: the wait runs to its bound).
//!
//! d2 (priority 100) is master; d1 (150) starts with `lvs_sync_daemon` following its instance.
//! With `lvs_sync_warm_preempt 8` it stays backup behind the live master until 8 s have
//! passed, then preempts; with `lvs_sync_warm_preempt 0` it preempts after its master-down
//! interval (about 3.4 s), as keepalived does. Alone, a held director becomes master as soon
//! as its master-down interval runs out: a takeover never waits. Needs root.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::time::{Duration, Instant};
use tandem_tests::netns::{Host, Lab, wait_until};
use tandem_tests::pair::{Opts, Tandem, VIP, config, has_vip, rig, settles};

fn start(lab: &mut Lab, host: &Host, name: &str, conf: &str) -> Tandem {
    Tandem::start(lab, env!("CARGO_BIN_EXE_tandem"), host, name, conf).unwrap()
}

fn warm(wait: u32, o: Opts) -> String {
    format!(
        "global_defs {{\n    lvs_sync_daemon eth0 VI_1\n    lvs_sync_warm_preempt {wait}\n}}\n{}",
        config("1", "2", o)
    )
}

#[test]
fn a_starting_director_waits_for_the_table_up_to_its_bound_before_it_preempts() {
    let mut r = rig("warm").unwrap();
    let t2 = start(&mut r.lab, &r.d2.clone(), "d2", &config("2", "1", Opts::v2(100)));
    assert!(wait_until(Duration::from_secs(8), || has_vip(&r.lab, &r.d2, VIP)), "{}", t2.log());

    let t0 = Instant::now();
    let t1 = start(&mut r.lab, &r.d1.clone(), "d1", &warm(8, Opts::v2(150)));
    std::thread::sleep(Duration::from_secs(6));
    assert!(has_vip(&r.lab, &r.d2, VIP) && !has_vip(&r.lab, &r.d1, VIP), "preempted while held:\n{}", t1.log());
    assert!(settles(&r, &r.d1, &r.d2, VIP, 8), "no preemption after the bound:\n{}", t1.log());
    let took = t0.elapsed();
    assert!(took > Duration::from_secs(8) && took < Duration::from_secs(13), "preempted after {took:?}");
    let log = t1.log();
    assert!(log.contains("preemption held until this director has the master's connection table"), "{log}");
    assert!(log.contains("warm preemption: waited its bound"), "{log}");
    r.lab.signal(t1.pid, "TERM").unwrap();
    assert!(settles(&r, &r.d2, &r.d1, VIP, 5), "{}", t2.log());

    // Off: preempts after its master-down interval.
    let t0 = Instant::now();
    let t1 = start(&mut r.lab, &r.d1.clone(), "d1-off", &warm(0, Opts::v2(150)));
    assert!(settles(&r, &r.d1, &r.d2, VIP, 8), "no preemption:\n{}", t1.log());
    assert!(t0.elapsed() < Duration::from_secs(6), "preempted after {:?}", t0.elapsed());
    assert!(!t1.log().contains("preemption held"), "{}", t1.log());
}

#[test]
fn a_held_director_alone_takes_over_without_waiting() {
    let mut r = rig("warmalone").unwrap();
    let t0 = Instant::now();
    let t1 = start(&mut r.lab, &r.d1.clone(), "d1", &warm(30, Opts::v2(150)));
    assert!(wait_until(Duration::from_secs(8), || has_vip(&r.lab, &r.d1, VIP)), "{}", t1.log());
    assert!(t0.elapsed() < Duration::from_secs(6), "took over after {:?}", t0.elapsed());
    assert!(t1.log().contains("preemption held"), "{}", t1.log());
}
