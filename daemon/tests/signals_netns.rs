//! Signals sent to a running `tandem run`, in network namespaces: none may split the pair.
//!
//! keepalived's operators and tools send SIGUSR1, SIGUSR2, SIGRTMIN+2 and SIGRTMAX-1 (its
//! dumps) routinely; left at their default, each would end tandem with the VIP still on the
//! interface while the backup takes over. Every signal here goes to the master of a pair (a
//! tandem backup, then a keepalived 2.2.7 backup): the master must still run (not ended, not
//! stopped), still be the only holder of the VIP, and the backup must see no transition. The
//! signals that end tandem must leave no VIP behind: SIGTERM, SIGINT and SIGQUIT gracefully
//! (exit 0, priority 0), SIGABRT and a panic by the last-resort release (priority 0 sent,
//! VIP removed, then the process ends by SIGABRT). Needs root.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;
use tandem_tests::keepalived::Keepalived;
use tandem_tests::netns::{Host, Lab, wait_until};
use tandem_tests::pair::{
    Opts, Rig, Tandem, VIP, adverts, capture_adverts, config, hands_over_within_its_skew, has_vip, rig, settles,
};

const BIN: &str = env!("CARGO_BIN_EXE_tandem");

/// Every signal a keepalived operator or tool sends, and every other one that could end or
/// stop a daemon by default and that an operator, a terminal or the kernel may send:
/// (kill's name or number, what the master's log must then contain).
const HARMLESS: &[(&str, &str)] = &[
    ("HUP", "configuration reloaded"),
    ("USR1", "vrrp_instance VI_1: MASTER, interface eth0, vrid 51"),
    ("USR2", "vrrp_instance VI_1: adverts received"),
    ("36", "\"vrrp_instances\":[{\"name\":\"VI_1\""), // SIGRTMIN+2, keepalived's JSON
    ("63", "they count afresh from now"),             // SIGRTMAX-1, STATS_CLEAR
    // SIGRTMAX, the thread dump: it names the signal thread, which may still be running
    // (state R) as the main loop reads /proc for it (a full run saw R; S was asserted).
    ("64", "(signals): state "),
    ("34", "SIGRTMIN"),
    ("50", "SIGRTMAX-14"),
    ("ALRM", "SIGALRM"),
    ("VTALRM", "SIGVTALRM"),
    ("PROF", "SIGPROF"),
    ("IO", "SIGIO"),
    ("PWR", "SIGPWR"),
    ("STKFLT", "SIGSTKFLT"),
    ("XCPU", "SIGXCPU"),
    ("XFSZ", "SIGXFSZ"),
    ("TSTP", "SIGTSTP"),
    ("TTIN", "SIGTTIN"),
    ("TTOU", "SIGTTOU"),
    ("PIPE", ""),
    ("CHLD", ""),
    ("URG", ""),
    ("WINCH", ""),
    ("CONT", ""),
];

fn start(lab: &mut Lab, host: &Host, name: &str, conf: &str) -> Tandem {
    Tandem::start(lab, BIN, host, name, conf).unwrap()
}

/// Running: not ended, not stopped, not a zombie.
fn running(lab: &mut Lab, pid: u32) -> bool {
    lab.exit_status(pid).unwrap().is_none() && matches!(Lab::process_state(pid), Some('R' | 'S' | 'D'))
}

/// Sends every [`HARMLESS`] signal to d1's tandem (the master) one at a time; `backup_log`
/// reads d2's log and `transitions` counts the state changes in it.
fn harmless_signals(
    r: &mut Rig,
    master: &Tandem,
    backup_log: &dyn Fn() -> String,
    transitions: &dyn Fn(&str) -> usize,
) {
    let before = transitions(&backup_log());
    for (sig, logged) in HARMLESS {
        let lines = master.log().lines().count();
        r.lab.signal(master.pid, sig).unwrap();
        let ok = wait_until(Duration::from_secs(3), || {
            master.log().lines().skip(lines).any(|l| l.contains(logged) || logged.is_empty())
        });
        std::thread::sleep(Duration::from_millis(200));
        assert!(running(&mut r.lab, master.pid), "SIG{sig} ended or stopped the master:\n{}", master.log());
        assert!(ok, "nothing logged for {sig} (wanted {logged:?}):\n{}", master.log());
        assert!(
            has_vip(&r.lab, &r.d1, VIP) && !has_vip(&r.lab, &r.d2, VIP),
            "after {sig} the master is not the only holder:\n{}\n{}",
            master.log(),
            backup_log()
        );
    }
    // Longer than the master-down interval (3.6 s): a master stopped by any of them would
    // have lost the VIP to the backup by now.
    std::thread::sleep(Duration::from_secs(4));
    assert!(running(&mut r.lab, master.pid), "{}", master.log());
    assert!(settles(r, &r.d1, &r.d2, VIP, 1), "{}\n{}", master.log(), backup_log());
    assert_eq!(transitions(&backup_log()), before, "the backup changed state:\n{}", backup_log());

    // The dumps went to the log, and the JSON one parses.
    let log = master.log();
    let json = log.lines().find_map(|l| l.find("{\"pid\"").map(|at| &l[at..])).expect("no JSON dump");
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let i = &v["vrrp_instances"][0];
    assert_eq!(i["state"], "MASTER", "{json}");
    assert_eq!(i["master"], "192.0.2.1", "{json}");
    assert!(i["counters"]["adverts_sent"].as_u64().unwrap() > 0, "{json}");
    assert_eq!(i["last_transition"]["to"], "MASTER", "{json}");
    assert!(log.contains("from=pid "), "the sender is not named:\n{log}");
    // Without virtual servers tandem leaves IPVS alone (this kernel may have none).
    assert!(!log.contains("cannot program IPVS"), "{log}");
}

#[test]
fn no_signal_of_the_list_ends_a_tandem_master_or_moves_the_vip_from_a_tandem_backup() {
    let mut r = rig("sigt").unwrap();
    let t1 = start(&mut r.lab, &r.d1.clone(), "d1", &config("1", "2", Opts::v2(150)));
    let t2 = start(&mut r.lab, &r.d2.clone(), "d2", &config("2", "1", Opts::v2(100)));
    assert!(settles(&r, &r.d1, &r.d2, VIP, 10), "no election:\n{}\n{}", t1.log(), t2.log());
    harmless_signals(&mut r, &t1, &|| t2.log(), &|log| log.matches("VRRP transition").count());
}

#[test]
fn no_signal_of_the_list_ends_a_tandem_master_or_moves_the_vip_from_a_keepalived_backup() {
    let mut r = rig("sigk").unwrap();
    let t1 = start(&mut r.lab, &r.d1.clone(), "d1", &config("1", "2", Opts::v2(150)));
    let k = Keepalived::start(&mut r.lab, &r.d2.clone(), "kad", &config("2", "1", Opts::v2(100))).unwrap();
    assert!(settles(&r, &r.d1, &r.d2, VIP, 10), "no election:\n{}\n{}", t1.log(), k.log());
    harmless_signals(&mut r, &t1, &|| k.log(), &|log| log.matches("Entering").count());
}

/// SIGTERM, SIGINT and SIGQUIT stop gracefully: exit 0, no VIP left, and the backup takes over
/// within its skew (priority 0), well before the 3.6 s of a crash.
#[test]
fn term_int_and_quit_stop_gracefully_and_leave_no_vip() {
    let mut r = rig("sigend").unwrap();
    capture_adverts(&mut r).unwrap();
    let t2 = start(&mut r.lab, &r.d2.clone(), "d2", &config("2", "1", Opts::v2(100)));
    for sig in ["TERM", "INT", "QUIT"] {
        let t1 = start(&mut r.lab, &r.d1.clone(), &format!("d1-{sig}"), &config("1", "2", Opts::v2(150)));
        assert!(settles(&r, &r.d1, &r.d2, VIP, 10), "{sig}: d1 not master:\n{}\n{}", t1.log(), t2.log());
        let seen = adverts(&r.lab).len();
        r.lab.signal(t1.pid, sig).unwrap();
        assert!(settles(&r, &r.d2, &r.d1, VIP, 5), "{sig}: no takeover:\n{}\n{}", t1.log(), t2.log());
        hands_over_within_its_skew(&r, seen, sig);
        assert!(wait_until(Duration::from_secs(3), || r.lab.exit_status(t1.pid).unwrap().is_some()));
        let status = r.lab.exit_status(t1.pid).unwrap().unwrap();
        assert_eq!(status.code(), Some(0), "{sig}: {status:?}\n{}", t1.log());
        assert!(!has_vip(&r.lab, &r.d1, VIP), "{sig}: VIP left on d1");
    }
}

/// A stop that cannot finish (the sync driver's last step never returns, as a netlink call
/// the kernel never answered did) ends at tandem's stop bound, 10 s after the signal: the
/// VIP handed over at once, what was still waited for logged, exit status 1; not at
/// systemd's SIGKILL, not never.
#[test]
fn a_stop_that_cannot_finish_ends_at_its_bound() {
    let mut r = rig("stopbound").unwrap();
    // d1 first: without IPVS here its resync never completes, which holds its preemption.
    let conf = format!("global_defs {{\n    lvs_sync_daemon eth0 VI_1\n}}\n{}", config("1", "2", Opts::v2(150)));
    let t1 =
        Tandem::start_with_env(&mut r.lab, BIN, &r.d1.clone(), "d1-hang", &conf, &["TANDEM_FAILPOINT=sync-stop-hang"])
            .unwrap();
    assert!(wait_until(Duration::from_secs(10), || has_vip(&r.lab, &r.d1, VIP)), "d1 not master:\n{}", t1.log());
    let t2 = start(&mut r.lab, &r.d2.clone(), "d2", &config("2", "1", Opts::v2(100)));
    assert!(settles(&r, &r.d1, &r.d2, VIP, 10), "d1 not master:\n{}\n{}", t1.log(), t2.log());
    let signalled = std::time::Instant::now();
    r.lab.signal(t1.pid, "TERM").unwrap();
    assert!(settles(&r, &r.d2, &r.d1, VIP, 5), "no takeover:\n{}\n{}", t1.log(), t2.log());
    assert!(
        !wait_until(Duration::from_secs(7), || r.lab.exit_status(t1.pid).unwrap().is_some()),
        "ended before its bound, so the failpoint did not hold the stop:\n{}",
        t1.log()
    );
    assert!(
        wait_until(Duration::from_secs(10), || r.lab.exit_status(t1.pid).unwrap().is_some()),
        "still running {:?} after SIGTERM:\n{}",
        signalled.elapsed(),
        t1.log()
    );
    let status = r.lab.exit_status(t1.pid).unwrap().unwrap();
    let log = t1.log();
    assert_eq!(status.code(), Some(1), "{status:?}\n{log}");
    assert!(log.contains("tandem did not stop within 10 s") && log.contains("waiting=the task IPVS sync"), "{log}");
    assert!(!has_vip(&r.lab, &r.d1, VIP), "VIP left on d1");
}

/// No core files from the aborts below in the test's folder.
fn no_core_dumps() {
    let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0);
}

/// d1 ended by `end` (a signal or a failpoint's panic): it died by SIGABRT, its VIP is gone,
/// its log says what it released, and d2 took over because it heard priority 0 (the
/// `nth` such takeover in d2's log), not because the master-down timer ran out.
fn released(r: &mut Rig, t1: &Tandem, t2: &Tandem, nth: usize, end: &str) {
    assert!(settles(r, &r.d2, &r.d1, VIP, 5), "{end}: no takeover:\n{}\n{}", t1.log(), t2.log());
    assert!(wait_until(Duration::from_secs(3), || r.lab.exit_status(t1.pid).unwrap().is_some()), "{end}: d1 runs on");
    let status = r.lab.exit_status(t1.pid).unwrap().unwrap();
    assert_eq!(status.signal(), Some(6), "{end}: {status:?}\n{}", t1.log());
    let log = t1.log();
    assert!(log.contains("VIP released") && log.contains("priority 0 sent"), "{end}:\n{log}");
    assert_eq!(
        t2.log().matches("after priority 0 from 192.0.2.1").count(),
        nth,
        "{end}: d2 did not take over on priority 0:\n{}",
        t2.log()
    );
}

/// SIGABRT (systemd's watchdog) and a panic, on the runtime's thread or another one: the
/// VIP is released and priority 0 sent before the process ends.
#[test]
fn sigabrt_and_panics_release_the_vip_and_send_priority_zero_before_the_end() {
    no_core_dumps();
    let mut r = rig("sigabrt").unwrap();
    let t2 = start(&mut r.lab, &r.d2.clone(), "d2", &config("2", "1", Opts::v2(100)));
    let conf = config("1", "2", Opts::v2(150));

    let t1 = start(&mut r.lab, &r.d1.clone(), "d1-abrt", &conf);
    assert!(settles(&r, &r.d1, &r.d2, VIP, 10), "d1 not master:\n{}\n{}", t1.log(), t2.log());
    r.lab.signal(t1.pid, "ABRT").unwrap();
    released(&mut r, &t1, &t2, 1, "SIGABRT");
    assert!(t1.log().contains("ending now"), "{}", t1.log());

    // A panic on a thread of its own: the link monitor's, at the first link change.
    let t1 =
        Tandem::start_with_env(&mut r.lab, BIN, &r.d1.clone(), "d1-links", &conf, &["TANDEM_FAILPOINT=links-thread"])
            .unwrap();
    assert!(settles(&r, &r.d1, &r.d2, VIP, 10), "d1 not master:\n{}\n{}", t1.log(), t2.log());
    r.lab.run(&r.d1, "ip", &["link", "add", "x0", "type", "veth", "peer", "name", "x1"]).unwrap();
    released(&mut r, &t1, &t2, 2, "panic in the link thread");
    assert!(t1.log().contains("failpoint links-thread"), "{}", t1.log());

    // A panic on the runtime's thread, in the unit that holds the VIP, a second after it
    // became master.
    let t1 =
        Tandem::start_with_env(&mut r.lab, BIN, &r.d1.clone(), "d1-unit", &conf, &["TANDEM_FAILPOINT=unit-master"])
            .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || t1.log().contains("to=Master")),
        "d1 not master:\n{}\n{}",
        t1.log(),
        t2.log()
    );
    released(&mut r, &t1, &t2, 3, "panic in the unit");
    assert!(t1.log().contains("failpoint unit-master"), "{}", t1.log());
}

/// SIGPIPE: tandem's log is a pipe whose reader has gone, so every line it logs fails with
/// EPIPE. It runs on as master; dumps, a reload and a graceful stop work as ever.
#[test]
fn a_log_reader_that_goes_away_ends_nothing() {
    let mut r = rig("sigpipe").unwrap();
    capture_adverts(&mut r).unwrap();
    let path = r.lab.dir().join("d1.conf");
    std::fs::write(&path, config("1", "2", Opts::v2(150))).unwrap();
    let pid = r.lab.spawn_unread(&r.d1.clone(), BIN, &["run", "-v", "-f", path.to_str().unwrap()]).unwrap();
    let t2 = start(&mut r.lab, &r.d2.clone(), "d2", &config("2", "1", Opts::v2(100)));
    assert!(settles(&r, &r.d1, &r.d2, VIP, 10), "d1 not master:\n{}", t2.log());
    for sig in ["USR1", "USR2", "36", "HUP", "64", "ALRM"] {
        r.lab.signal(pid, sig).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert!(running(&mut r.lab, pid), "SIG{sig} with no log reader ended tandem");
    }
    std::thread::sleep(Duration::from_secs(1));
    assert!(running(&mut r.lab, pid));
    assert!(settles(&r, &r.d1, &r.d2, VIP, 1), "{}", t2.log());
    let seen = adverts(&r.lab).len();
    r.lab.signal(pid, "TERM").unwrap();
    assert!(settles(&r, &r.d2, &r.d1, VIP, 5), "no takeover:\n{}", t2.log());
    hands_over_within_its_skew(&r, seen, "TERM");
    assert!(wait_until(Duration::from_secs(3), || r.lab.exit_status(pid).unwrap().is_some()));
    assert_eq!(r.lab.exit_status(pid).unwrap().unwrap().code(), Some(0));
}

/// tandem blocks nearly every signal in its own threads; the scripts it runs must not inherit
/// that (a tracked script blocking SIGTERM would outlive its timeout's SIGTERM), nor any
/// ignored signal, even one its starter ignored: here SIGHUP, SIGINT and SIGQUIT, as `nohup`
/// and a shell's background job leave them. Those still reach tandem: SIGHUP reloads.
#[test]
fn scripts_start_with_no_signal_blocked_or_ignored() {
    let mut r = rig("sigscr").unwrap();
    let out = r.lab.dir().join("mask");
    let script = r.lab.dir().join("mask.sh");
    std::fs::write(&script, format!("#!/bin/sh\ngrep -E '^Sig(Blk|Ign)' /proc/self/status > {}\n", out.display()))
        .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let conf = format!(
        "vrrp_script chk {{\n    script \"{}\"\n    interval 1\n}}\n{}",
        script.display(),
        config("1", "2", Opts::v2(150))
            .replace("    virtual_ipaddress", "    track_script {\n        chk\n    }\n    virtual_ipaddress"),
    );
    let path = r.lab.dir().join("d1.conf");
    std::fs::write(&path, &conf).unwrap();
    let line = format!("trap '' HUP INT QUIT; exec {BIN} run -v -f {}", path.display());
    let pid = r.lab.spawn(&r.d1.clone(), "sh", &["-c", &line], "d1.log").unwrap();
    let t = Tandem { pid, log: r.lab.dir().join("d1.log"), socket: None };
    let read = || std::fs::read_to_string(&out).unwrap_or_default();
    assert!(wait_until(Duration::from_secs(5), || read().lines().count() == 2), "the script did not run:\n{}", t.log());
    let mask = |name: &str| {
        let text = read();
        let hex = text.lines().find_map(|l| l.strip_prefix(name)).unwrap().trim().to_string();
        u64::from_str_radix(&hex, 16).unwrap()
    };
    assert_eq!(mask("SigBlk:"), 0, "{}", read());
    // Signals 32 and 33 are glibc's own (SIGCANCEL, SIGSETXID): its posix_spawn leaves them
    // ignored in every child it starts, whatever the parent does.
    assert_eq!(mask("SigIgn:") & !0x1_8000_0000, 0, "{}", read());
    // SIGHUP, ignored by the starter, still reloads.
    r.lab.signal(pid, "HUP").unwrap();
    assert!(wait_until(Duration::from_secs(5), || t.log().contains("configuration reloaded")), "{}", t.log());
}

/// SIGKILL cannot be caught: a master killed so leaves its VIP on the interface. The tandem
/// that starts after it, as backup, removes it at once instead of holding it beside the new
/// master until it would preempt (here it never does: it starts at a lower priority).
#[test]
fn a_tandem_starting_after_a_killed_master_removes_the_vip_it_left() {
    let mut r = rig("stale").unwrap();
    let (d1, d2) = (r.d1.clone(), r.d2.clone());
    let t1 = start(&mut r.lab, &d1, "d1", &config("1", "2", Opts::v2(150)));
    assert!(wait_until(Duration::from_secs(8), || has_vip(&r.lab, &d1, VIP)), "{}", t1.log());
    r.lab.signal(t1.pid, "KILL").unwrap();
    assert!(wait_until(Duration::from_secs(3), || r.lab.exit_status(t1.pid).unwrap().is_some()));
    assert!(has_vip(&r.lab, &d1, VIP), "SIGKILL leaves the VIP (the premise)");
    let t2 = start(&mut r.lab, &d2, "d2", &config("2", "1", Opts::v2(100)));
    assert!(wait_until(Duration::from_secs(8), || has_vip(&r.lab, &d2, VIP)), "{}", t2.log());
    let again = start(&mut r.lab, &d1, "d1b", &config("1", "2", Opts::v2(50)));
    // Gone before tandem says it runs (stale addresses go first, daemon/src/run/mod.rs),
    // however long the start itself takes: a loaded full run saw a start take most of the 2 s
    // this test once allowed from the spawn.
    assert!(wait_until(Duration::from_secs(10), || again.log().contains("tandem running")), "{}", again.log());
    assert!(!has_vip(&r.lab, &d1, VIP), "the stale VIP stays on d1 after tandem said it runs\n{}", again.log());
    assert!(again.log().contains("removed a virtual address left by a previous run"), "{}", again.log());
    std::thread::sleep(Duration::from_secs(4));
    assert!(has_vip(&r.lab, &d2, VIP) && !has_vip(&r.lab, &d1, VIP));
}
