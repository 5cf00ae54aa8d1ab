//! `tandem run` in network namespaces: a tandem pair, and tandem beside keepalived 2.2.7 in
//! both roles (v2 and v3, multicast and unicast, with and without PASS auth). A client on the
//! same segment watches the VIP's neighbour entry. Needs root.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::time::Duration;
use tandem_tests::keepalived::Keepalived;
use tandem_tests::netns::{Host, Lab, wait_until};

use tandem_tests::pair::{
    Opts, Rig, Tandem, VIP, adverts, capture_adverts, client_sees, config, hands_over_within_its_skew, has_vip, settles,
};

const BIN: &str = env!("CARGO_BIN_EXE_tandem");

fn rig(tag: &str) -> Rig {
    tandem_tests::pair::rig(tag).unwrap()
}

/// A keepalived peer's `conf` set to advert on its own timer as master, for a test that counts
/// at tandem how many of keepalived's adverts it drops. keepalived 2.2.7 as master restarts its
/// advert timer on every advert it reads for its instance, one it then drops too
/// (vrrp_scheduler.c, vrrp_dispatcher_read: `vrrp_init_instance_sands` after each packet,
/// unless `lower_prio_no_advert`): beside a tandem master that adverts once a second, it adverts
/// only when its timer beats tandem's next advert, on a busy machine hardly ever after its
/// first (a loaded run counted two in the eight seconds the test waits). `lower_prio_no_advert`
/// keeps its timer its own; it changes nothing else here, as keepalived drops tandem's adverts
/// before it compares priorities.
fn advert_steadily(conf: String) -> String {
    let steady = conf.replace("    virtual_ipaddress {", "    lower_prio_no_advert\n    virtual_ipaddress {");
    assert!(steady.contains("lower_prio_no_advert"), "{conf}");
    steady
}

fn start(lab: &mut Lab, host: &Host, name: &str, conf: &str) -> Tandem {
    Tandem::start(lab, env!("CARGO_BIN_EXE_tandem"), host, name, conf).unwrap()
}

#[test]
fn tandem_pair_elects_fails_over_and_preempts_back() {
    let mut r = rig("pair");
    // The adverts as the client's segment carries them: the takeovers are timed on the wire.
    capture_adverts(&mut r).unwrap();
    let o = Opts { priority: 150, v3: false, v6: false, unicast: false, auth: false };
    let t1 = start(&mut r.lab, &r.d1.clone(), "d1", &config("1", "2", o));
    let t2 = start(&mut r.lab, &r.d2.clone(), "d2", &config("2", "1", Opts { priority: 100, ..o }));
    assert!(settles(&r, &r.d1, &r.d2, VIP, 10), "no election:\n{}\n{}", t1.log(), t2.log());
    let _ = r.lab.run(&r.client, "ping", &["-c1", "-W1", VIP]);
    assert!(client_sees(&r, VIP, &r.d1));

    // Running, tandem holds only CAP_KILL, CAP_SETGID, CAP_SETUID, CAP_NET_ADMIN and
    // CAP_NET_RAW (bits 5, 6, 7, 12, 13), in every thread.
    for task in std::fs::read_dir(format!("/proc/{}/task", t1.pid)).unwrap() {
        let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        for set in ["CapEff:", "CapPrm:"] {
            let line = status.lines().find(|l| l.starts_with(set)).unwrap();
            assert_eq!(line.split_whitespace().nth(1), Some("00000000000030e0"), "{line}");
        }
    }

    // Graceful stop: priority 0, so d2 takes over after its skew (0.61 s at priority 100).
    r.lab.signal(t1.pid, "TERM").unwrap();
    assert!(settles(&r, &r.d2, &r.d1, VIP, 5), "no takeover after SIGTERM:\n{}\n{}", t1.log(), t2.log());
    hands_over_within_its_skew(&r, 0, "SIGTERM");
    assert!(client_sees(&r, VIP, &r.d2), "the client's entry did not move to d2");
    assert!(t1.log().contains("stopping"), "{}", t1.log());

    // d1 comes back with the higher priority and preempts.
    let t1b = start(&mut r.lab, &r.d1.clone(), "d1b", &config("1", "2", o));
    assert!(settles(&r, &r.d1, &r.d2, VIP, 10), "no preemption:\n{}\n{}", t1b.log(), t2.log());
    assert!(client_sees(&r, VIP, &r.d1));

    // Crash: no priority 0; d2 waits for the master-down interval, timed on the wire from
    // d1's last advert to d2's first: 3 * 1 s + Skew_Time 0.61 s (RFC 3768 6.4.2). The
    // lower bound is the protocol's; the upper leaves room for a loaded machine.
    let before = adverts(&r.lab).len();
    r.lab.signal(t1b.pid, "KILL").unwrap();
    let _ = r.lab.run(&r.d1, "ip", &["addr", "del", "192.0.2.100/24", "dev", "eth0"]);
    assert!(settles(&r, &r.d2, &r.d1, VIP, 8), "no takeover after SIGKILL:\n{}", t2.log());
    std::thread::sleep(Duration::from_millis(300));
    let adverts = adverts(&r.lab);
    let from_d2 = before + adverts[before..].iter().position(|a| a.src == "192.0.2.2").expect("d2 advertises");
    let last_d1 = adverts[..from_d2].iter().rev().find(|a| a.src == "192.0.2.1").expect("d1's last advert");
    let gap = adverts[from_d2].at - last_d1.at;
    eprintln!("SIGKILL: d1's last advert to d2's first: {gap:.3} s on the wire");
    assert!((3.55..4.6).contains(&gap), "d1's last advert to d2's first: {gap:.3} s (3.61 s by the RFC)");
    assert!(client_sees(&r, VIP, &r.d2));
}

#[test]
fn tandem_pair_over_ipv6() {
    let mut r = rig("pair6");
    let o = Opts { priority: 150, v3: true, v6: true, unicast: false, auth: false };
    let t1 = start(&mut r.lab, &r.d1.clone(), "d1", &config("1", "2", o));
    let t2 = start(&mut r.lab, &r.d2.clone(), "d2", &config("2", "1", Opts { priority: 100, ..o }));
    let vip = "2001:db8::100";
    assert!(settles(&r, &r.d1, &r.d2, vip, 10), "no election:\n{}\n{}", t1.log(), t2.log());
    let _ = r.lab.run(&r.client, "ping", &["-6", "-c1", "-W1", vip]);
    assert!(client_sees(&r, vip, &r.d1));
    r.lab.signal(t1.pid, "TERM").unwrap();
    assert!(settles(&r, &r.d2, &r.d1, vip, 5), "no takeover:\n{}\n{}", t1.log(), t2.log());
    assert!(client_sees(&r, vip, &r.d2), "the unsolicited NA did not move the client's entry");
}

/// tandem and keepalived in both roles: the higher priority is master whoever runs it, the
/// other stays backup (it accepts the master's adverts), and a graceful stop hands over.
fn interop(tag: &str, o: Opts) {
    let vip = if o.v6 { "2001:db8::100" } else { VIP };
    for tandem_is_master in [true, false] {
        let mut r = rig(&format!("{tag}{}", u8::from(tandem_is_master)));
        let hi = Opts { priority: 150, ..o };
        let lo = Opts { priority: 100, ..o };
        let (d1, d2) = (r.d1.clone(), r.d2.clone());
        let (t, k) = if tandem_is_master {
            (
                start(&mut r.lab, &d1, "tandem", &config("1", "2", hi)),
                Keepalived::start(&mut r.lab, &d2, "kad", &config("2", "1", lo)).unwrap(),
            )
        } else {
            (
                start(&mut r.lab, &d1, "tandem", &config("1", "2", lo)),
                Keepalived::start(&mut r.lab, &d2, "kad", &config("2", "1", hi)).unwrap(),
            )
        };
        let (master, backup) = if tandem_is_master { (&d1, &d2) } else { (&d2, &d1) };
        assert!(
            settles(&r, master, backup, vip, 10),
            "{tag}: wrong master (tandem master: {tandem_is_master}):\n{}\n{}",
            t.log(),
            k.log()
        );
        // Stable: the backup keeps accepting the master's adverts for a while.
        std::thread::sleep(Duration::from_secs(3));
        assert!(
            has_vip(&r.lab, master, vip) && !has_vip(&r.lab, backup, vip),
            "{tag}: not stable:\n{}\n{}",
            t.log(),
            k.log()
        );
        let master_pid = if tandem_is_master { t.pid } else { k.pid };
        r.lab.signal(master_pid, "TERM").unwrap();
        assert!(
            settles(&r, backup, master, vip, 5),
            "{tag}: no takeover after the master stopped:\n{}\n{}",
            t.log(),
            k.log()
        );
    }
}

#[test]
fn interop_v2_multicast() {
    interop("k2m", Opts { priority: 0, v3: false, v6: false, unicast: false, auth: false });
}

#[test]
fn interop_v2_multicast_pass_auth() {
    interop("k2a", Opts { priority: 0, v3: false, v6: false, unicast: false, auth: true });
}

#[test]
fn interop_v2_unicast_pass_auth() {
    interop("k2u", Opts { priority: 0, v3: false, v6: false, unicast: true, auth: true });
}

#[test]
fn interop_v3_multicast() {
    interop("k3m", Opts { priority: 0, v3: true, v6: false, unicast: false, auth: false });
}

#[test]
fn interop_v3_unicast() {
    interop("k3u", Opts { priority: 0, v3: true, v6: false, unicast: true, auth: false });
}

#[test]
fn interop_v3_ipv6() {
    interop("k36", Opts { priority: 0, v3: true, v6: true, unicast: false, auth: false });
}

#[test]
fn partition_gives_two_masters_and_healing_leaves_one_that_regarps() {
    let mut r = rig("part");
    let o = Opts { priority: 150, v3: false, v6: false, unicast: false, auth: false };
    let t1 = start(&mut r.lab, &r.d1.clone(), "d1", &config("1", "2", o));
    let t2 = start(&mut r.lab, &r.d2.clone(), "d2", &config("2", "1", Opts { priority: 100, ..o }));
    assert!(settles(&r, &r.d1, &r.d2, VIP, 10), "no election:\n{}\n{}", t1.log(), t2.log());
    // The client has talked to the VIP: it holds an entry that gratuitous ARPs update.
    let _ = r.lab.run(&r.client, "ping", &["-c1", "-W1", VIP]);
    assert!(client_sees(&r, VIP, &r.d1));

    // The directors can no longer hear each other; both still reach the client.
    r.lab.isolate(&r.d1, &r.seg, true).unwrap();
    r.lab.isolate(&r.d2, &r.seg, true).unwrap();
    assert!(
        wait_until(Duration::from_secs(8), || has_vip(&r.lab, &r.d1, VIP) && has_vip(&r.lab, &r.d2, VIP)),
        "a partition should give two masters:\n{}\n{}",
        t1.log(),
        t2.log()
    );
    // d2's gratuitous ARPs took the client.
    assert!(client_sees(&r, VIP, &r.d2), "the client did not follow d2's GARPs during the partition");

    // Healing: one master remains, and it re-announces itself so the client follows.
    r.lab.isolate(&r.d1, &r.seg, false).unwrap();
    r.lab.isolate(&r.d2, &r.seg, false).unwrap();
    assert!(settles(&r, &r.d1, &r.d2, VIP, 6), "two masters after healing:\n{}\n{}", t1.log(), t2.log());
    assert!(client_sees(&r, VIP, &r.d1), "the client still points at d2 after healing:\n{}\n{}", t1.log(), t2.log());
}

#[test]
fn a_failing_tracked_script_moves_the_vip_and_recovering_moves_it_back() {
    let mut r = rig("track");
    let flag = r.lab.dir().join("d1-healthy");
    std::fs::write(&flag, "").unwrap();
    let o = Opts { priority: 150, v3: false, v6: false, unicast: false, auth: false };
    let script = format!(
        "vrrp_script chk {{\n    script \"/usr/bin/test -e {}\"\n    interval 1\n    weight -60\n}}\n",
        flag.display()
    );
    let d1_conf = script
        + &config("1", "2", o)
            .replace("    virtual_ipaddress", "    track_script {\n        chk\n    }\n    virtual_ipaddress");
    let t1 = start(&mut r.lab, &r.d1.clone(), "d1", &d1_conf);
    let t2 = start(&mut r.lab, &r.d2.clone(), "d2", &config("2", "1", Opts { priority: 100, ..o }));
    assert!(settles(&r, &r.d1, &r.d2, VIP, 10), "no election:\n{}\n{}", t1.log(), t2.log());
    let _ = r.lab.run(&r.client, "ping", &["-c1", "-W1", VIP]);
    assert!(client_sees(&r, VIP, &r.d1));

    // 150 - 60 = 90 < 100: d2 preempts.
    std::fs::remove_file(&flag).unwrap();
    assert!(
        settles(&r, &r.d2, &r.d1, VIP, 8),
        "the VIP did not move when the script failed:\n{}\n{}",
        t1.log(),
        t2.log()
    );
    assert!(client_sees(&r, VIP, &r.d2));

    // Back to 150: d1 preempts again.
    std::fs::write(&flag, "").unwrap();
    assert!(settles(&r, &r.d1, &r.d2, VIP, 8), "the VIP did not come back:\n{}\n{}", t1.log(), t2.log());
    assert!(client_sees(&r, VIP, &r.d1));
}

/// Two instances in a sync group on two segments (public VIP, private DIP). The private link
/// of the master failing puts its whole group in fault, so both addresses move together.
#[test]
fn a_sync_group_moves_together_when_one_members_link_fails() {
    let mut lab = Lab::new("sync").unwrap();
    let public = lab.segment("pub").unwrap();
    let private = lab.segment("priv").unwrap();
    let d1 = lab.host("d1").unwrap();
    let d2 = lab.host("d2").unwrap();
    lab.connect(&d1, &public, "eth0", &["192.0.2.1/24"]).unwrap();
    lab.connect(&d1, &private, "eth1", &["10.0.0.2/24"]).unwrap();
    lab.connect(&d2, &public, "eth0", &["192.0.2.2/24"]).unwrap();
    lab.connect(&d2, &private, "eth1", &["10.0.0.3/24"]).unwrap();
    let conf = |priority: u8| {
        format!(
            "vrrp_sync_group LVS {{\n    group {{\n        VI_PUB\n        VI_PRIV\n    }}\n}}\n\
             vrrp_instance VI_PUB {{\n    interface eth0\n    virtual_router_id 51\n    priority {priority}\n    virtual_ipaddress {{\n        192.0.2.100/24\n    }}\n}}\n\
             vrrp_instance VI_PRIV {{\n    interface eth1\n    virtual_router_id 52\n    priority {priority}\n    virtual_ipaddress {{\n        10.0.0.1/24\n    }}\n}}\n"
        )
    };
    let t1 = start(&mut lab, &d1, "d1", &conf(150));
    let t2 = start(&mut lab, &d2, "d2", &conf(100));
    let both = |lab: &Lab, h: &Host| has_vip(lab, h, "192.0.2.100") && has_vip(lab, h, "10.0.0.1");
    let none = |lab: &Lab, h: &Host| !has_vip(lab, h, "192.0.2.100") && !has_vip(lab, h, "10.0.0.1");
    assert!(
        wait_until(Duration::from_secs(10), || both(&lab, &d1) && none(&lab, &d2)),
        "no election:\n{}\n{}",
        t1.log(),
        t2.log()
    );

    // d1's private link goes down: VI_PRIV faults, and VI_PUB follows it out of master
    // although its own link is fine; d2 takes both.
    lab.set_link(&d1, "eth1", false).unwrap();
    assert!(
        wait_until(Duration::from_secs(8), || both(&lab, &d2) && !has_vip(&lab, &d1, "192.0.2.100")),
        "the group did not move together:\n{}\n{}",
        t1.log(),
        t2.log()
    );
    assert!(t1.log().contains("to=Fault"), "{}", t1.log());

    // The link returns: d1 (higher priority) takes both back.
    lab.set_link(&d1, "eth1", true).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || both(&lab, &d1) && none(&lab, &d2)),
        "no return:\n{}\n{}",
        t1.log(),
        t2.log()
    );
}

/// `ha_suspend`: a virtual server's checks run only while its address is on this director,
/// i.e. while it is VRRP master (keepalived follows the address too). The real server is the
/// client host's port 80: closed (a check fails: "real server down") or served (a check
/// passes: "real server up"). No IPVS here: the checks run and log all the same.
#[test]
fn ha_suspend_checks_run_only_while_this_director_holds_the_address() {
    let mut r = rig("hasusp");
    let vs = "virtual_server 192.0.2.100 80 {\n    protocol TCP\n    delay_loop 1\n    ha_suspend\n    real_server 192.0.2.50 80 {\n        TCP_CHECK {\n            connect_timeout 1\n        }\n    }\n}\n";
    let o = Opts { priority: 100, v3: false, v6: false, unicast: false, auth: false };
    let t1 = start(&mut r.lab, &r.d1.clone(), "d1", &format!("{}{vs}", config("1", "2", o)));
    // Backup for the master-down interval (3.6 s): no check runs, although one would fail.
    assert!(wait_until(Duration::from_secs(8), || has_vip(&r.lab, &r.d1, VIP)), "d1 never master:\n{}", t1.log());
    assert!(
        wait_until(Duration::from_secs(4), || t1.log().contains("real server down")),
        "no check as master:\n{}",
        t1.log()
    );
    // The first failed check comes after the transition to master, not before (the log's
    // order: a check logs moments after the VIP is added, so the VIP is no marker).
    let log = t1.log();
    assert!(
        log.find("to=Master").is_some_and(|m| log.find("real server down").is_some_and(|d| d > m)),
        "checked while backup:\n{log}"
    );
    assert!(t1.log().contains("checks suspended") && t1.log().contains("checks run"), "{}", t1.log());

    // d2 preempts: d1's checks stop, so a real server that comes back goes unnoticed by d1.
    let t2 = start(&mut r.lab, &r.d2.clone(), "d2", &config("2", "1", Opts { priority: 150, ..o }));
    assert!(settles(&r, &r.d2, &r.d1, VIP, 10), "no preemption:\n{}\n{}", t1.log(), t2.log());
    assert!(wait_until(Duration::from_secs(2), || t1.log().matches("checks suspended").count() == 2), "{}", t1.log());
    let web = r.lab.dir().join("web");
    std::fs::create_dir_all(&web).unwrap();
    let client = r.client.clone();
    r.lab
        .spawn(
            &client,
            "python3",
            &["-m", "http.server", "--bind", "192.0.2.50", "--directory", web.to_str().unwrap(), "80"],
            "web.log",
        )
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert!(!t1.log().contains("real server up"), "checked while backup:\n{}", t1.log());

    // d2 leaves: d1 is master again, checks again, and sees the server up.
    r.lab.signal(t2.pid, "TERM").unwrap();
    assert!(settles(&r, &r.d1, &r.d2, VIP, 6), "d1 did not take over:\n{}", t1.log());
    assert!(
        wait_until(Duration::from_secs(4), || t1.log().contains("real server up")),
        "no check after taking over:\n{}",
        t1.log()
    );
}

/// A reload that changes nothing about a real server or a quorum runs no notify script
/// again: the real server stays down and the quorum lost across SIGHUP, and the scripts that
/// ran before it (quorum up at start, then the server and the quorum down) are all that ran. (The reloaded checks start from the previous states; without
/// carrying them, the down server's first failed check and the initial quorum decision would
/// each announce themselves again.)
#[test]
fn a_reload_does_not_run_notify_scripts_for_states_that_did_not_change() {
    let mut r = rig("renotify");
    let dir = r.lab.dir().to_path_buf();
    let script = dir.join("note.sh");
    std::fs::write(&script, format!("#!/bin/sh\necho \"$1\" >> {}/notes\n", dir.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let s = script.display();
    let conf = format!(
        "virtual_server 192.0.2.100 80 {{\n    protocol TCP\n    delay_loop 1\n    quorum 1\n    sorry_server 192.0.2.60 80\n    quorum_down \"{s} quorum_down\"\n    quorum_up \"{s} quorum_up\"\n    real_server 192.0.2.50 80 {{\n        notify_down \"{s} rs_down\"\n        notify_up \"{s} rs_up\"\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n}}\n"
    );
    let t = start(&mut r.lab, &r.d1.clone(), "d1", &conf);
    let notes = || std::fs::read_to_string(dir.join("notes")).unwrap_or_default();
    let count = |what: &str| notes().lines().filter(|l| *l == what).count();
    // Nothing listens on the real server: it goes down, the quorum is lost.
    assert!(
        wait_until(Duration::from_secs(6), || count("rs_down") == 1 && count("quorum_down") == 1),
        "notes: {:?}\n{}",
        notes(),
        t.log()
    );
    let before = notes();
    r.lab.signal(t.pid, "HUP").unwrap();
    assert!(wait_until(Duration::from_secs(3), || t.log().contains("configuration reloaded")), "{}", t.log());
    // Several check rounds after the reload: no script ran again.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(notes(), before, "{}", t.log());
    assert!(t.log().contains("real server as before the reload"), "{}", t.log());
}

/// A wrong PASS password on the wire (RFC 3768 7.1: the advert is discarded): tandem and a
/// keepalived 2.2.7 peer with another password each drop the other's adverts, so both are
/// master; tandem counts every drop under `auth` in its status, and says so in its log.
#[test]
fn a_wrong_password_is_dropped_and_counted_by_both() {
    let mut r = rig("badpass");
    let (d1, d2) = (r.d1.clone(), r.d2.clone());
    let conf = config("1", "2", Opts { auth: true, ..Opts::v2(150) });
    let t1 = Tandem::start_controlled(&mut r.lab, BIN, &d1, "d1", &conf).unwrap();
    let wrong = advert_steadily(
        config("2", "1", Opts { auth: true, ..Opts::v2(100) }).replace("auth_pass s3cret", "auth_pass other"),
    );
    let k = Keepalived::start(&mut r.lab, &d2, "k2", &wrong).unwrap();
    let log = || t1.log();
    // Neither hears the other: both end up master.
    assert!(
        wait_until(Duration::from_secs(10), || has_vip(&r.lab, &d1, VIP) && has_vip(&r.lab, &d2, VIP)),
        "both should be master:\n{}\n{}",
        log(),
        k.log()
    );
    // keepalived, master now, adverts once a second (advert_steadily): each one is counted as
    // it lands (polled, so that a slow machine's late advert does not fail the test).
    let counters = || {
        let out = t1.ask(BIN, &["status", "--json"]).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(v["vrrp_instances"][0]["counters"].clone())
    };
    let auth = |c: &serde_json::Value| c["dropped"]["auth"].as_u64().unwrap_or(0);
    assert!(
        wait_until(Duration::from_secs(8), || counters().is_some_and(|c| auth(&c) >= 3)),
        "{:?}\n{}\n{}",
        counters(),
        log(),
        k.log()
    );
    let c = counters().unwrap_or_default();
    assert_eq!(c["adverts_received"], 0, "none reached the state machine: {c}");
    assert!(log().contains("authentication does not match"), "{}", log());
    assert!(
        wait_until(Duration::from_secs(5), || k.log().contains("received an invalid passwd")),
        "keepalived says why it drops tandem's:\n{}",
        k.log()
    );
}

/// Gratuitous ARP as configured, on the wire (tcpdump on the client's segment), and
/// `vrrp_startup_delay`: a lone tandem (no peer) with a 2 s startup delay becomes master no
/// sooner than 2 s + the master-down interval after it starts, then sends
/// `garp_master_repeat` (3) GARPs at once, 3 more `garp_master_delay` (2 s) later, and
/// `garp_master_refresh_repeat` (2) every `garp_master_refresh` (3 s) after that.
#[test]
fn gratuitous_arps_and_the_startup_delay_on_the_wire() {
    let mut r = rig("garp");
    let (d1, client) = (r.d1.clone(), r.client.clone());
    let dir = r.lab.dir().to_path_buf();
    r.lab
        .spawn(
            &client,
            "tcpdump",
            &["-i", "eth0", "-n", "-tt", "-l", "--immediate-mode", "arp or ip proto 112"],
            "wire.cap",
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let conf = format!(
        "global_defs {{\n    vrrp_startup_delay 2\n}}\n{}",
        config("1", "2", Opts::v2(150)).replace(
            "    advert_int 1\n",
            "    advert_int 1\n    garp_master_delay 2\n    garp_master_repeat 3\n    garp_master_refresh 3\n    garp_master_refresh_repeat 2\n"
        )
    );
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let t = start(&mut r.lab, &d1, "d1", &conf);
    std::thread::sleep(Duration::from_secs(14));
    let cap = std::fs::read_to_string(dir.join("wire.cap")).unwrap_or_default();
    let at = |l: &str| l.split_whitespace().next().and_then(|x| x.parse::<f64>().ok());
    let first_advert = cap.lines().find(|l| l.contains("VRRP") && l.contains("192.0.2.1 >")).and_then(at);
    let first_advert = first_advert.unwrap_or_else(|| panic!("no advert:\n{cap}\n{}", t.log()));
    // 2 s startup delay, then backup for 3 s + skew (0.41 s at 150) before claiming master.
    let waited = first_advert - started;
    assert!(waited >= 5.3, "master {waited:.2} s after start (startup delay 2 s + master-down 3.41 s)\n{}", t.log());
    let garps: Vec<f64> = cap
        .lines()
        .filter(|l| l.contains("ARP") && l.contains("192.0.2.100"))
        .filter_map(at)
        .map(|x| x - first_advert)
        .collect();
    let within = |from: f64, to: f64| garps.iter().filter(|g| **g >= from && **g < to).count();
    assert_eq!(within(-0.5, 1.0), 3, "the burst on becoming master: {garps:?}");
    assert_eq!(within(1.5, 2.9), 3, "the burst garp_master_delay later: {garps:?}");
    // Refreshes: 2 every 3 s from then on.
    assert_eq!(within(4.5, 5.9), 2, "the first refresh: {garps:?}");
    assert_eq!(within(7.5, 8.9), 2, "the second refresh: {garps:?}");
}

/// `track_interface` with a weight: d1 (150) tracks extra0 with weight -60; its link going
/// down leaves d1 at 90, below d2 (100), which preempts; back up, d1 preempts again. Without
/// a weight (0), a tracked link down is a fault: d1 gives the VIP up at once.
#[test]
fn a_tracked_interface_moves_priority_by_its_weight_or_faults() {
    let mut r = rig("trackif");
    let (d1, d2) = (r.d1.clone(), r.d2.clone());
    for (a, b) in [("extra0", "extra1"), ("hard0", "hard1")] {
        let out = r.lab.run(&d1, "ip", &["link", "add", a, "type", "veth", "peer", "name", b]).unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        for i in [a, b] {
            r.lab.run(&d1, "ip", &["link", "set", i, "up"]).unwrap();
        }
    }
    let tracked = "    track_interface {\n        extra0 weight -60\n        hard0\n    }\n    virtual_ipaddress {";
    let c1 = config("1", "2", Opts::v2(150)).replacen("    virtual_ipaddress {", tracked, 1);
    let t1 = start(&mut r.lab, &d1, "d1", &c1);
    let t2 = start(&mut r.lab, &d2, "d2", &config("2", "1", Opts::v2(100)));
    assert!(settles(&r, &d1, &d2, VIP, 10), "{}", t1.log());
    // Weight: 150 - 60 = 90 < 100.
    r.lab.run(&d1, "ip", &["link", "set", "extra1", "down"]).unwrap();
    assert!(settles(&r, &d2, &d1, VIP, 8), "d2 did not preempt d1 at 90:\n{}\n{}", t1.log(), t2.log());
    r.lab.run(&d1, "ip", &["link", "set", "extra1", "up"]).unwrap();
    assert!(settles(&r, &d1, &d2, VIP, 8), "d1 did not preempt back at 150:\n{}", t1.log());
    // No weight: a fault, the VIP goes at once (priority 0: d2 takes over at its skew).
    r.lab.run(&d1, "ip", &["link", "set", "hard1", "down"]).unwrap();
    assert!(settles(&r, &d2, &d1, VIP, 3), "d1 did not fault:\n{}", t1.log());
    assert!(t1.log().contains("to=Fault"), "{}", t1.log());
}

/// keepalived's sync groups ignore the weights of what their members track unless the group
/// says `sync_group_tracking_weight`: a failing weighted script puts the member, and the
/// group with it, in FAULT. With the keyword, the weight lowers the priority instead.
#[test]
fn a_sync_groups_tracked_weights_fault_it_unless_sync_group_tracking_weight() {
    let mut lab = Lab::new("sgweight").unwrap();
    let public = lab.segment("pub").unwrap();
    let d1 = lab.host("d1").unwrap();
    lab.connect(&d1, &public, "eth0", &["192.0.2.1/24"]).unwrap();
    let conf = |keep_weights: bool| {
        format!(
            "vrrp_script down {{\n    script /bin/false\n    interval 1\n    weight -20\n}}\n\
             vrrp_sync_group G {{\n    group {{\n        VI_A\n        VI_B\n    }}\n{}}}\n\
             vrrp_instance VI_A {{\n    interface eth0\n    virtual_router_id 61\n    priority 150\n    track_script {{\n        down\n    }}\n    virtual_ipaddress {{\n        192.0.2.100/24\n    }}\n}}\n\
             vrrp_instance VI_B {{\n    interface eth0\n    virtual_router_id 62\n    priority 150\n    virtual_ipaddress {{\n        192.0.2.101/24\n    }}\n}}\n",
            if keep_weights { "    sync_group_tracking_weight\n" } else { "" }
        )
    };
    let state = |t: &Tandem, name: &str| -> Option<(String, u64)> {
        let out = t.ask(BIN, &["status", "--json"]).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let i = v["vrrp_instances"].as_array()?.iter().find(|i| i["name"] == name)?.clone();
        Some((i["state"].as_str()?.to_string(), i["effective_priority"].as_u64()?))
    };
    // Without the keyword: the failing script faults VI_A, and VI_B with it.
    let t = Tandem::start_controlled(&mut lab, BIN, &d1, "plain", &conf(false)).unwrap();
    assert!(
        wait_until(Duration::from_secs(8), || state(&t, "VI_A").is_some_and(|s| s.0 == "FAULT")
            && state(&t, "VI_B").is_some_and(|s| s.0 == "FAULT")),
        "{:?} {:?}\n{}",
        state(&t, "VI_A"),
        state(&t, "VI_B"),
        t.log()
    );
    std::thread::sleep(Duration::from_secs(5)); // longer than the master-down interval
    assert!(!has_vip(&lab, &d1, "192.0.2.100") && !has_vip(&lab, &d1, "192.0.2.101"), "{}", t.log());
    // Stopped (SIGTERM) before the next one starts in the same host.
    let _ = std::process::Command::new("kill").arg(t.pid.to_string()).status();
    std::thread::sleep(Duration::from_secs(1));
    // With it: both are master, VI_A at 150 - 20.
    let t = Tandem::start_controlled(&mut lab, BIN, &d1, "weights", &conf(true)).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || state(&t, "VI_A") == Some(("MASTER".into(), 130))
            && state(&t, "VI_B").is_some_and(|s| s.0 == "MASTER")),
        "{:?} {:?}\n{}",
        state(&t, "VI_A"),
        state(&t, "VI_B"),
        t.log()
    );
    assert!(has_vip(&lab, &d1, "192.0.2.100") && has_vip(&lab, &d1, "192.0.2.101"), "{}", t.log());
}

/// `enable_script_security` and `script_user`, as keepalived: a tracked script run as root
/// from a folder anyone can write is disabled (no longer tracked: its failing weight-0 check does not hold
/// the instance in FAULT), and the notify script, which names no user, runs as `script_user`.
#[test]
fn script_security_disables_an_unsafe_script_and_notify_scripts_run_as_script_user() {
    use std::os::unix::fs::PermissionsExt;
    let mut lab = Lab::new("scriptsec").unwrap();
    let public = lab.segment("pub").unwrap();
    let d1 = lab.host("d1").unwrap();
    lab.connect(&d1, &public, "eth0", &["192.0.2.1/24"]).unwrap();
    let dir = lab.dir().to_path_buf();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let open = dir.join("open");
    let out = dir.join("out");
    for d in [&open, &out] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let fail = open.join("fail.sh");
    std::fs::write(&fail, "#!/bin/sh\nexit 1\n").unwrap();
    std::fs::set_permissions(&fail, std::fs::Permissions::from_mode(0o755)).unwrap();
    let whoami = dir.join("whoami.sh");
    std::fs::write(&whoami, format!("#!/bin/sh\nid -u > {}/uid\n", out.display())).unwrap();
    std::fs::set_permissions(&whoami, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = format!(
        "global_defs {{\n    enable_script_security\n    script_user nobody\n}}\n\
         vrrp_script fails {{\n    script {}\n    interval 1\n    weight 0\n    user root\n}}\n\
         vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 71\n    priority 150\n    advert_int 1\n    track_script {{\n        fails\n    }}\n    notify_master {}\n    virtual_ipaddress {{\n        192.0.2.100/24\n    }}\n}}\n",
        fail.display(),
        whoami.display()
    );
    let t = Tandem::start_controlled(&mut lab, BIN, &d1, "d1", &conf).unwrap();
    assert!(wait_until(Duration::from_secs(10), || has_vip(&lab, &d1, "192.0.2.100")), "{}", t.log());
    assert!(t.log().contains("vrrp_script fails: disabled by enable_script_security"), "{}", t.log());
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap().uid.as_raw();
    assert!(
        wait_until(Duration::from_secs(5), || std::fs::read_to_string(out.join("uid"))
            .is_ok_and(|u| u.trim() == nobody.to_string())),
        "{:?}\n{}",
        std::fs::read_to_string(out.join("uid")),
        t.log()
    );
}

/// Unicast TTLs, against keepalived 2.2.7 both ways: tandem sends with `unicast_ttl 64` to a
/// keepalived whose peer entry asks `min_ttl 100`, and keepalived's adverts (TTL 255) reach a
/// tandem whose peer entry allows at most 200. Each drops the other's adverts ("TTL/HL 64 not
/// in range" in keepalived's log, `dropped.ttl` in tandem's status): both are master. With
/// the ranges met (second run), the two elect one master as usual.
#[test]
fn unicast_ttl_and_a_peers_ttl_range_as_keepalived() {
    let o = Opts { priority: 150, v3: false, v6: false, unicast: true, auth: false };
    let mut r = rig("uttl");
    let (d1, d2) = (r.d1.clone(), r.d2.clone());
    let tandem = config("1", "2", o).replace(
        "    unicast_peer {\n        192.0.2.2\n",
        "    unicast_ttl 64\n    unicast_peer {\n        192.0.2.2 max_ttl 200\n",
    );
    assert!(tandem.contains("max_ttl 200"), "{tandem}");
    let kad = advert_steadily(
        config("2", "1", Opts { priority: 100, ..o }).replace("        192.0.2.1\n", "        192.0.2.1 min_ttl 100\n"),
    );
    let t = Tandem::start_controlled(&mut r.lab, BIN, &d1, "d1", &tandem).unwrap();
    let k = Keepalived::start(&mut r.lab, &d2, "k2", &kad).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || has_vip(&r.lab, &d1, VIP) && has_vip(&r.lab, &d2, VIP)),
        "both should be master:\n{}\n{}",
        t.log(),
        k.log()
    );
    let ttl_drops = || {
        let out = t.ask(BIN, &["status", "--json"]).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v["vrrp_instances"][0]["counters"]["dropped"]["ttl"].as_u64()
    };
    assert!(
        wait_until(Duration::from_secs(6), || ttl_drops().is_some_and(|n| n >= 2)),
        "{:?}\n{}",
        ttl_drops(),
        t.log()
    );
    assert!(
        wait_until(Duration::from_secs(5), || k.log().contains("TTL/HL 64 not in range 100 - 255")),
        "keepalived sees tandem's TTL:\n{}",
        k.log()
    );
    r.lab.signal(k.pid, "TERM").unwrap();
    r.lab.signal(t.pid, "TERM").unwrap();
    std::thread::sleep(Duration::from_secs(1));
    // The ranges met: one master, tandem (150).
    let tandem = tandem.replace("unicast_ttl 64", "unicast_ttl 120");
    let kad = kad.replace("min_ttl 100", "min_ttl 100 max_ttl 255");
    let t =
        Tandem::start_controlled(&mut r.lab, BIN, &d1, "d1b", &tandem.replace("max_ttl 200", "max_ttl 255")).unwrap();
    let k = Keepalived::start(&mut r.lab, &d2, "k2b", &kad).unwrap();
    assert!(settles(&r, &d1, &d2, VIP, 10), "one master:\n{}\n{}", t.log(), k.log());
}

/// Two directors whose instances list different virtual addresses, against keepalived 2.2.7
/// both ways: each drops the other's adverts (keepalived: "received an unexpected ip number
/// count"; tandem counts `address_list_mismatch`), so both are master, as between two
/// keepalived.
///
/// How many of keepalived's adverts tandem gets to count is keepalived's affair: a keepalived
/// 2.2.7 master restarts its advert timer on every advert it reads, dropped ones too
/// (vrrp_scheduler.c, vrrp_dispatcher_read: `vrrp_init_instance_sands` after each packet), so
/// once tandem's adverts (every second, as its own) land just before its timer, keepalived
/// falls silent after its first (seen on the wire in a loaded full run; docs/differences.md
/// has the same re-arming under malformed adverts). What is tandem's: it
/// counted keepalived's advert and accepted none of them (it is master below keepalived's
/// priority).
#[test]
fn a_different_address_list_is_dropped_by_both_as_keepalived_does() {
    let o = Opts { priority: 150, v3: false, v6: false, unicast: false, auth: false };
    for tandem_is_master in [true, false] {
        let mut r = rig(&format!("amis{}", u8::from(tandem_is_master)));
        let (d1, d2) = (r.d1.clone(), r.d2.clone());
        let two = |c: String| c.replace("        192.0.2.100/24\n", "        192.0.2.100/24\n        192.0.2.101/24\n");
        let (tp, kp) = if tandem_is_master { (150, 100) } else { (100, 150) };
        // The master lists two addresses, the backup one.
        let tandem = config("1", "2", Opts { priority: tp, ..o });
        let kad = config("2", "1", Opts { priority: kp, ..o });
        let (tandem, kad) = if tandem_is_master { (two(tandem), kad) } else { (tandem, two(kad)) };
        let t = Tandem::start_controlled(&mut r.lab, BIN, &d1, "d1", &tandem).unwrap();
        let k = Keepalived::start(&mut r.lab, &d2, "k2", &kad).unwrap();
        assert!(
            wait_until(Duration::from_secs(10), || has_vip(&r.lab, &d1, VIP) && has_vip(&r.lab, &d2, VIP)),
            "both should be master (tandem master: {tandem_is_master}):\n{}\n{}",
            t.log(),
            k.log()
        );
        if tandem_is_master {
            assert!(
                wait_until(Duration::from_secs(5), || k
                    .log()
                    .contains("received an unexpected ip number count 2, expected 1")),
                "{}",
                k.log()
            );
        } else {
            // (adverts received, of which dropped for their address list)
            let counted = || {
                let out = t.ask(BIN, &["status", "--json"]).ok()?;
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
                let c = &v["vrrp_instances"][0]["counters"];
                Some((c["adverts_received"].as_u64()?, c["address_list_mismatch"].as_u64()?))
            };
            assert!(
                wait_until(Duration::from_secs(3), || counted().is_some_and(|(_, dropped)| dropped >= 1)),
                "{:?}\n{}\n{}",
                counted(),
                t.log(),
                k.log()
            );
            std::thread::sleep(Duration::from_secs(2));
            let Some((received, dropped)) = counted() else {
                panic!("tandem status --json gave no counters:\n{}", t.log())
            };
            assert_eq!(received, dropped, "an advert with keepalived's list was accepted:\n{}\n{}", t.log(), k.log());
            assert!(has_vip(&r.lab, &d1, VIP), "tandem left master:\n{}", t.log());
        }
    }
}

/// `mcast_dst_ip`: tandem and keepalived 2.2.7 both advertise to 224.0.0.88 instead of
/// 224.0.0.18 and elect one master (had either kept the default group, neither would hear the
/// other and both would be master); the adverts on the wire go to 224.0.0.88.
#[test]
fn mcast_dst_ip_moves_the_adverts_to_another_group_with_keepalived() {
    let o = Opts { priority: 150, v3: false, v6: false, unicast: false, auth: false };
    let mut r = rig("mdst");
    let (d1, d2, client) = (r.d1.clone(), r.d2.clone(), r.client.clone());
    r.lab
        .spawn(&client, "tcpdump", &["-i", "eth0", "-n", "-l", "--immediate-mode", "ip proto 112"], "wire.cap")
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let group = |c: String| c.replace("    advert_int 1\n", "    advert_int 1\n    mcast_dst_ip 224.0.0.88\n");
    let t = start(&mut r.lab, &d1, "d1", &group(config("1", "2", o)));
    let k = Keepalived::start(&mut r.lab, &d2, "k2", &group(config("2", "1", Opts { priority: 100, ..o }))).unwrap();
    assert!(settles(&r, &d1, &d2, VIP, 10), "one master:\n{}\n{}", t.log(), k.log());
    let wire = || std::fs::read_to_string(r.lab.dir().join("wire.cap")).unwrap_or_default();
    assert!(wait_until(Duration::from_secs(3), || wire().contains("> 224.0.0.88: VRRPv2")), "{}", wire());
    assert!(!wire().contains("224.0.0.18"), "{}", wire());
}

/// `log_all_failures`: every failed attempt of the check is logged (its retries too), not
/// only the one that takes the real server down; without it, only that one is.
#[test]
fn log_all_failures_logs_every_failed_attempt() {
    let mut r = rig("logall");
    let vs = |extra: &str| {
        format!(
            "virtual_server 192.0.2.100 80 {{\n    protocol TCP\n    delay_loop 1\n    real_server 192.0.2.50 80 {{\n        TCP_CHECK {{\n            connect_timeout 1\n            retry 3\n            delay_before_retry 0.2\n{extra}        }}\n    }}\n}}\n"
        )
    };
    let o = Opts { priority: 150, v3: false, v6: false, unicast: false, auth: false };
    let all = start(
        &mut r.lab,
        &r.d1.clone(),
        "all",
        &format!("{}{}", config("1", "2", o), vs("            log_all_failures\n")),
    );
    let first = start(&mut r.lab, &r.d2.clone(), "first", &format!("{}{}", config("2", "1", o), vs("")));
    let attempts = |t: &Tandem| t.log().matches("check attempt failed (log_all_failures)").count();
    // Down after the first attempt and its 3 retries; then one attempt per delay_loop.
    assert!(wait_until(Duration::from_secs(8), || attempts(&all) >= 6), "{}", all.log());
    assert!(first.log().contains("real server down"), "{}", first.log());
    assert_eq!(attempts(&first), 0, "{}", first.log());
}

/// `notify_master_rx_lower_pri`: tandem, master at 150, and a keepalived 2.2.7 at 100 are
/// partitioned, so keepalived becomes master too; when the partition heals, tandem hears
/// keepalived's lower-priority adverts and runs the script (keepalived's case: a backup
/// that became master during a communications break).
#[test]
fn notify_master_rx_lower_pri_runs_when_the_master_hears_a_lower_priority() {
    use std::os::unix::fs::PermissionsExt;
    let o = Opts { priority: 150, v3: false, v6: false, unicast: false, auth: false };
    let mut r = rig("rxlow");
    let (d1, d2) = (r.d1.clone(), r.d2.clone());
    let mark = r.lab.dir().join("rx_lower");
    let script = r.lab.dir().join("rx_lower.sh");
    std::fs::write(&script, format!("#!/bin/sh\necho ran >> {}\n", mark.display())).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let tandem = config("1", "2", o).replace(
        "    advert_int 1\n",
        &format!("    advert_int 1\n    notify_master_rx_lower_pri {}\n", script.display()),
    );
    let t = start(&mut r.lab, &d1, "d1", &tandem);
    // keepalived answers a higher priority with one last advert before it yields
    // (`higher_prio_send_advert`), so tandem hears a lower priority whichever speaks first.
    let kad = config("2", "1", Opts { priority: 100, ..o })
        .replace("    advert_int 1\n", "    advert_int 1\n    higher_prio_send_advert\n");
    let k = Keepalived::start(&mut r.lab, &d2, "k2", &kad).unwrap();
    assert!(settles(&r, &d1, &d2, VIP, 10), "{}\n{}", t.log(), k.log());
    // (keepalived may have been master first, and yielded with an advert: that ran it too.)
    let _ = std::fs::remove_file(&mark);
    r.lab.isolate(&d1, &r.seg, true).unwrap();
    r.lab.isolate(&d2, &r.seg, true).unwrap();
    assert!(
        wait_until(Duration::from_secs(8), || has_vip(&r.lab, &d1, VIP) && has_vip(&r.lab, &d2, VIP)),
        "{}\n{}",
        t.log(),
        k.log()
    );
    r.lab.isolate(&d1, &r.seg, false).unwrap();
    r.lab.isolate(&d2, &r.seg, false).unwrap();
    assert!(
        wait_until(Duration::from_secs(6), || std::fs::read_to_string(&mark).is_ok_and(|m| m.contains("ran"))),
        "{}\n{}",
        t.log(),
        k.log()
    );
    assert!(t.log().contains("master received an advert of lower priority"), "{}", t.log());
    assert!(settles(&r, &d1, &d2, VIP, 6), "{}\n{}", t.log(), k.log());
}
