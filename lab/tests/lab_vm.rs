//! `tandem-lab` in the VM rig, one boot for its three runs (in this order):
//! - the lab itself, as README's first command runs it (a shorter pace): every expectation of
//!   the default scenario must hold;
//! - a short fault campaign (`tandem-lab campaign`): six seeded rounds, six kinds of fault
//!   (seed 1964: loss and delay, director1's machine death and reboot, a partition, a kill -9
//!   of the master, a stop of the master, a bad reload; a unit test in lab/src/campaign.rs
//!   keeps the seed drawing those), every invariant checked after each;
//! - the pair under load (`tandem-lab load`, short form): both directors reload every second
//!   for 12 s under traffic (no request fails, no long-lived connection lost, the VIP stays,
//!   file descriptors do not grow), then a takeover after kill -9 timed quiet and with both
//!   directors' control socket and metrics hammered (both within the master-down interval
//!   plus a margin).
//!
//! Each run removes its namespaces; what a run left is recorded (`left`) and must be nothing.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;
use tandem_tests::vm::{Batch, BatchRun, SnippetResult, Vm, shell_quote};

/// tandem, built beside this package's binary (`cargo test --workspace` builds both).
fn tandem() -> PathBuf {
    let lab = PathBuf::from(env!("CARGO_BIN_EXE_tandem-lab"));
    let tandem = lab.with_file_name("tandem");
    assert!(tandem.exists(), "no {}: build it first (cargo build -p tandem)", tandem.display());
    tandem
}

/// A snippet running `tandem-lab ARGS`, recording the namespaces left behind.
fn lab(args: &str) -> String {
    format!(
        "{} --where host --tandem {} {args}\ns=$?\nip netns list > $TANDEM_SNIPPET_OUT/left\nexit $s\n",
        shell_quote(env!("CARGO_BIN_EXE_tandem-lab")),
        shell_quote(&tandem().display().to_string())
    )
}

fn run() -> &'static BatchRun {
    static RUN: OnceLock<BatchRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let vm = Vm::builder()
            .timeout(Duration::from_secs(1800))
            .memory(1536)
            .cpus(2)
            .module("sch_netem")
            .module("nft_chain_nat")
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let batch = Batch::new()
            .snippet_timeout(Duration::from_secs(900))
            .snippet("lab", lab("--quick"))
            .snippet("campaign", lab("campaign --seed 1964 --rounds 6"))
            .snippet("load", lab("load --reload-secs 12 --takeovers 1"));
        vm.run_batch(&batch).unwrap_or_else(|e| panic!("{e}"))
    })
}

/// The named run's result, after checking it exited 0, did not panic and left nothing.
fn snippet(name: &str) -> &'static SnippetResult {
    let run = run();
    if let Some(setup) = run.setup() {
        assert!(setup.passed(), "the set-up failed: {}\n{}", setup.stdout, setup.stderr);
    }
    let s = run.get(name).unwrap();
    assert!(s.passed(), "{name} failed (status {:?}):\n{}\n{}", s.status, s.stdout, s.stderr);
    assert!(!s.stderr.contains("panicked"), "{}", s.stderr);
    let left = s.read_to_string("left").unwrap();
    assert!(!left.contains("tlab-"), "{name} left behind: {left}");
    s
}

#[test]
fn the_default_scenario_meets_every_expectation() {
    let out = &snippet("lab").stdout;
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
}

#[test]
fn six_rounds_of_faults_keep_every_invariant() {
    let out = &snippet("campaign").stdout;
    let rounds: Vec<&str> = out.lines().filter(|l| l.starts_with("round ")).collect();
    assert_eq!(rounds.len(), 6, "{out}");
    assert!(rounds.iter().all(|l| l.contains(" ok ")), "{out}");
    for fault in ["machine dies", "cannot hear each other", "kill -9 the master", "broken file", "loss"] {
        assert!(rounds.iter().any(|l| l.contains(fault)), "no {fault:?} round in:\n{out}");
    }
    assert!(out.contains("every invariant held"), "{out}");
}

#[test]
fn reloads_every_second_and_a_hammered_takeover_lose_nothing() {
    let out = &snippet("load").stdout;
    // A reload a second on each director, every one applied, under traffic that lost nothing.
    let reloads = out.lines().find(|l| l.contains("reloads on each director")).unwrap_or_default();
    let n: u32 = reloads.split_whitespace().next().and_then(|w| w.parse().ok()).unwrap_or(0);
    assert!(n >= 11, "{out}");
    assert!(reloads.contains("(0 refused)"), "{out}");
    assert!(out.contains("failed 0"), "{out}");
    assert!(out.contains("10 of 10 kept, 0 lost"), "{out}");
    assert!(out.contains("takeover after kill -9: quiet"), "{out}");
    assert!(out.contains("every expectation held"), "{out}");
}
