//! `vrrp_track_process`, as keepalived 2.2.7 decides it: director 1 (priority 150) tracks a
//! process with weight -60 against a keepalived peer at 100; the process dying moves the VIP
//! to the peer, its return brings it back; with `quorum_max 0` (up while none runs) and
//! weight 0, the process running is a fault. The process is a copy of `sleep` under a name
//! of the test's own. Needs root.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::process::{Child, Command};
use tandem_tests::keepalived::Keepalived;
use tandem_tests::pair::{Opts, Tandem, VIP, config, settles};

const BIN: &str = env!("CARGO_BIN_EXE_tandem");

/// Starts the tracked process (comm = its file name).
fn start(exe: &std::path::Path) -> Child {
    Command::new(exe).arg("600").spawn().unwrap()
}

#[test]
fn a_tracked_process_moves_priority_or_faults() {
    let mut r = tandem_tests::pair::rig("tproc").unwrap();
    let (d1, d2) = (r.d1.clone(), r.d2.clone());
    // A name no other process has (comm keeps 15 bytes).
    let name = format!("tndp{}", std::process::id() % 100_000_000);
    let exe = r.lab.dir().join(&name);
    std::fs::copy("/bin/sleep", &exe).unwrap();
    let tracked = "    track_process {\n        svc\n        none_allowed\n    }\n    virtual_ipaddress {";
    let text = format!(
        "vrrp_track_process svc {{\n    process {name}\n    weight -60\n}}\n\
         vrrp_track_process none_allowed {{\n    process {name}x\n    quorum_max 0\n}}\n{}",
        config("1", "2", Opts::v2(150)).replacen("    virtual_ipaddress {", tracked, 1)
    );
    let mut p = start(&exe);
    Keepalived::start(&mut r.lab, &d2, "peer", &config("2", "1", Opts::v2(100))).unwrap();
    let t = Tandem::start(&mut r.lab, BIN, &d1, "d1", &text).unwrap();
    assert!(settles(&r, &d1, &d2, VIP, 10), "d1 is not master at 150\n{}", t.log());
    // The process ends: 150 - 60 = 90 < 100.
    p.kill().unwrap();
    p.wait().unwrap();
    assert!(settles(&r, &d2, &d1, VIP, 8), "the peer did not take over at 90\n{}", t.log());
    let mut p = start(&exe);
    assert!(settles(&r, &d1, &d2, VIP, 8), "d1 did not preempt back at 150\n{}", t.log());
    // quorum_max 0 with weight 0: a process of that name running is a fault.
    let other = r.lab.dir().join(format!("{name}x"));
    std::fs::copy("/bin/sleep", &other).unwrap();
    let mut q = start(&other);
    assert!(settles(&r, &d2, &d1, VIP, 5), "d1 did not fault while {name}x ran\n{}", t.log());
    assert!(t.log().contains("to=Fault"), "{}", t.log());
    q.kill().unwrap();
    q.wait().unwrap();
    assert!(settles(&r, &d1, &d2, VIP, 8), "d1 did not come back after {name}x ended\n{}", t.log());
    p.kill().unwrap();
    p.wait().unwrap();
}
