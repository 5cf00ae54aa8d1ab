//! `tandem drill` on a tandem pair in network namespaces (d1 priority 150, d2 100, VI_1 with
//! VIP 192.0.2.100, advert_int 1). This machine's kernel has no IPVS, so no connection sync
//! here: the drill cannot see the backup and refuses unless forced (the VM's sync test runs
//! the drill with sync, where it sees the backup and the table).

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use serde_json::Value;
use std::time::{Duration, Instant};
use tandem_tests::netns::{Host, Lab, wait_until};
use tandem_tests::pair::{Opts, Tandem, config, has_vip, rig};

const BIN: &str = env!("CARGO_BIN_EXE_tandem");
const VIP: &str = "192.0.2.100";

fn start(lab: &mut Lab, host: &Host, name: &str, conf: &str) -> Tandem {
    Tandem::start_controlled(lab, BIN, host, name, conf).unwrap()
}

/// Runs `tandem drill --json ARGS` against `t`; (exit code, report).
fn drill(t: &Tandem, args: &[&str]) -> (i32, Value) {
    let out = t.ask(BIN, &[&["drill", "--json"], args].concat()).unwrap();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("drill output is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap_or(-1), report)
}

fn texts(v: &Value) -> String {
    v.as_array().map(|a| a.iter().map(|x| x.as_str().unwrap_or("")).collect::<Vec<_>>().join(" | ")).unwrap_or_default()
}

#[test]
fn a_drill_refuses_without_a_visible_backup_hands_over_when_forced_and_comes_back() {
    let mut r = rig("drill").unwrap();
    let (d1, d2) = (r.d1.clone(), r.d2.clone());
    let t1 = start(&mut r.lab, &d1, "d1", &config("1", "2", Opts::v2(150)));
    let t2 = start(&mut r.lab, &d2, "d2", &config("2", "1", Opts::v2(100)));
    assert!(wait_until(Duration::from_secs(10), || has_vip(&r.lab, &d1, VIP) && !has_vip(&r.lab, &d2, VIP)));

    // On the backup: refused, it is not master.
    let (code, rep) = drill(&t2, &["--force"]);
    assert_eq!(code, 1, "{rep}");
    assert!(rep["refused"].as_str().unwrap().contains("not master"), "{rep}");

    // No lvs_sync_daemon: the backup is invisible; refused, says why, changes nothing.
    let (code, rep) = drill(&t1, &[]);
    assert_eq!(code, 1, "{rep}");
    assert!(rep["refused"].as_str().unwrap().contains("no healthy backup"), "{rep}");
    assert!(texts(&rep["cannot_know"]).contains("without lvs_sync_daemon"), "{rep}");
    assert!(texts(&rep["knows"]).contains("MASTER of VI_1"), "{rep}");
    std::thread::sleep(Duration::from_secs(2));
    assert!(has_vip(&r.lab, &d1, VIP) && !has_vip(&r.lab, &d2, VIP), "a refused drill moves nothing");

    // Forced: d2 takes over at its skew time (under a second after priority 0) and keeps the
    // VIP: d1, the higher priority, holds back.
    let t = Instant::now();
    let (code, rep) = drill(&t1, &["--force"]);
    assert_eq!(code, 0, "{rep}\n{}", t1.log());
    let takeover = rep["takeover_ms"].as_u64().unwrap();
    assert!(takeover < 1500, "takeover {takeover} ms: {rep}");
    assert_eq!(rep["new_master"], "192.0.2.2", "{rep}");
    assert_eq!(rep["held"], true);
    assert!(t.elapsed() < Duration::from_secs(8), "the drill answers once the takeover is seen");
    assert!(has_vip(&r.lab, &d2, VIP) && !has_vip(&r.lab, &d1, VIP));
    std::thread::sleep(Duration::from_secs(6));
    assert!(has_vip(&r.lab, &d2, VIP) && !has_vip(&r.lab, &d1, VIP), "held: d1 does not preempt\n{}", t1.log());

    // Released: d1 preempts again (master-down interval: about 3.4 s).
    let (code, rep) = drill(&t1, &["--release"]);
    assert_eq!(code, 0, "{rep}");
    assert!(
        wait_until(Duration::from_secs(6), || has_vip(&r.lab, &d1, VIP) && !has_vip(&r.lab, &d2, VIP)),
        "{}",
        t1.log()
    );

    // With --back: over and back in one drill, both measured.
    let (code, rep) = drill(&t1, &["--force", "--back", "--hold", "2"]);
    assert_eq!(code, 0, "{rep}\n{}", t1.log());
    assert!(rep["takeover_ms"].as_u64().unwrap() < 1500, "{rep}");
    let back = rep["back_ms"].as_u64().unwrap();
    assert!((2000..6000).contains(&back), "back after a master-down interval: {back} ms: {rep}");
    assert_eq!(rep["held"], false);
    assert!(has_vip(&r.lab, &d1, VIP) && !has_vip(&r.lab, &d2, VIP));
}

#[test]
fn a_forced_drill_without_any_backup_takes_the_addresses_back_itself() {
    let mut r = rig("drillalone").unwrap();
    let d1 = r.d1.clone();
    let t1 = start(&mut r.lab, &d1, "d1", &config("1", "2", Opts::v2(150)));
    assert!(wait_until(Duration::from_secs(10), || has_vip(&r.lab, &d1, VIP)));
    let (code, rep) = drill(&t1, &["--force"]);
    assert_eq!(code, 1, "{rep}");
    assert!(rep["takeover_ms"].is_null(), "{rep}");
    let steps: Vec<&str> = rep["steps"].as_array().unwrap().iter().map(|s| s["what"].as_str().unwrap()).collect();
    assert!(steps.iter().any(|s| s.contains("took the addresses back")), "{steps:?}");
    assert!(has_vip(&r.lab, &d1, VIP), "master again");
    assert_eq!(rep["held"], false);
}
