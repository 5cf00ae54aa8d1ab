//! A short fault campaign in the VM rig (`tandem-lab campaign`): six seeded rounds, six kinds
//! of fault (seed 1964: loss and delay, director1's machine death and reboot, a partition, a
//! kill -9 of the master, a stop of the master, a bad reload; a unit test in
//! lab/src/campaign.rs keeps the seed drawing those), every invariant checked after each.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::path::PathBuf;
use std::time::Duration;
use tandem_tests::vm::{Job, Vm, shell_quote};

fn tandem() -> PathBuf {
    let lab = PathBuf::from(env!("CARGO_BIN_EXE_tandem-lab"));
    let tandem = lab.with_file_name("tandem");
    assert!(tandem.exists(), "no {}: build it first (cargo build -p tandem)", tandem.display());
    tandem
}

#[test]
fn six_rounds_of_faults_keep_every_invariant() {
    let vm = Vm::builder()
        .timeout(Duration::from_secs(900))
        .memory(1536)
        .cpus(2)
        .module("sch_netem")
        .module("nft_chain_nat")
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let script = format!(
        "{} --where host --tandem {} campaign --seed 1964 --rounds 6\ns=$?\nip netns list > $TANDEM_VM_OUT/left\nexit $s\n",
        shell_quote(env!("CARGO_BIN_EXE_tandem-lab")),
        shell_quote(&tandem().display().to_string())
    );
    let run = vm.run_job(&Job::new(script)).unwrap_or_else(|e| panic!("{e}"));
    let out = run.stdout();
    assert_eq!(run.status(), 0, "the campaign failed:\n{out}\n{}", run.stderr());
    let rounds: Vec<&str> = out.lines().filter(|l| l.starts_with("round ")).collect();
    assert_eq!(rounds.len(), 6, "{out}");
    assert!(rounds.iter().all(|l| l.contains(" ok ")), "{out}");
    for fault in ["machine dies", "cannot hear each other", "kill -9 the master", "broken file", "loss"] {
        assert!(rounds.iter().any(|l| l.contains(fault)), "no {fault:?} round in:\n{out}");
    }
    assert!(out.contains("every invariant held"), "{out}");
    assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
    let left = run.read_to_string("left").unwrap();
    assert!(!left.contains("tlab-"), "left behind: {left}");
}
