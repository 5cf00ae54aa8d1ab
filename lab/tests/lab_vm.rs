//! The lab itself, as README's first command runs it (a shorter pace), in the VM rig: every
//! expectation of the default scenario must hold.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::path::PathBuf;
use std::time::Duration;
use tandem_tests::vm::{Job, Vm, shell_quote};

/// tandem, built beside this package's binary (`cargo test --workspace` builds both).
fn tandem() -> PathBuf {
    let lab = PathBuf::from(env!("CARGO_BIN_EXE_tandem-lab"));
    let tandem = lab.with_file_name("tandem");
    assert!(tandem.exists(), "no {}: build it first (cargo build -p tandem)", tandem.display());
    tandem
}

#[test]
fn the_default_scenario_meets_every_expectation() {
    let vm = Vm::builder().timeout(Duration::from_secs(600)).memory(1536).build().unwrap_or_else(|e| panic!("{e}"));
    let script = format!(
        "{} --where host --quick --tandem {}\ns=$?\nip netns list > $TANDEM_VM_OUT/left\nexit $s\n",
        shell_quote(env!("CARGO_BIN_EXE_tandem-lab")),
        shell_quote(&tandem().display().to_string())
    );
    let run = vm.run_job(&Job::new(script)).unwrap_or_else(|e| panic!("{e}"));
    let out = run.stdout();
    assert_eq!(run.status(), 0, "the lab failed:\n{out}\n{}", run.stderr());
    // It narrated every act and ended with the summary.
    // The web server that got the most requests dies: rs1 or rs2, as the requests fell.
    assert!(
        out.contains("rs1's web server dies") || out.contains("rs2's web server dies"),
        "no web server dies in:\n{out}"
    );
    for act in [
        "== nat-rr: LVS-NAT, round robin",
        "director1's machine dies",
        "director1 boots again",
        "== timeline",
        "== summary",
    ] {
        assert!(out.contains(act), "no {act:?} in:\n{out}");
    }
    for held in [
        "ok   every long-lived connection survives the failover",
        "ok   every long-lived connection survives the return",
        "ok   director1 gets the master's table (bulk resync) and then preempts",
        // tandem status, over director1's control socket, with the kernel's connection counts.
        "ok   `tandem status` counts the long-lived connections as active in director1's table",
    ] {
        assert!(out.contains(held), "no {held:?} in:\n{out}");
    }
    assert!(!out.contains("FAIL"), "{out}");
    assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
    // Nothing is left behind: the lab removed its namespaces.
    let left = run.read_to_string("left").unwrap();
    assert!(!left.contains("tlab-"), "left behind: {left}");
}
