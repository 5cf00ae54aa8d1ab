//! Reload of VRRP changes and instances whose interface is missing, on a tandem pair in
//! network namespaces (the pair rig: d1 192.0.2.1, d2 192.0.2.2 on one segment).
//!
//! A reload applies what keepalived's does: a lowered priority moves the mastership by the
//! protocol without restarting anything, an instance that did not change keeps its state
//! (no transition at all), an added instance starts, a removed one hands over with priority
//! 0, and a master's changed address list is applied in place. An instance whose interface
//! does not exist waits in FAULT (tandem keeps running, the other instances work), starts
//! when the interface appears, goes to FAULT when it is deleted and starts again on the new
//! one when it is created again.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tandem_tests::netns::{Host, Lab, wait_until};
use tandem_tests::pair::{Tandem, has_vip, rig};

const BIN: &str = env!("CARGO_BIN_EXE_tandem");

/// One instance: VRID, priority, VIPs, interface.
fn instance(name: &str, vrid: u8, priority: u8, vips: &[&str], interface: &str) -> String {
    let vips: String = vips.iter().map(|v| format!("        {v}\n")).collect();
    format!(
        "vrrp_instance {name} {{\n    state BACKUP\n    interface {interface}\n    virtual_router_id {vrid}\n    priority {priority}\n    advert_int 1\n    virtual_ipaddress {{\n{vips}    }}\n}}\n"
    )
}

/// A tandem in `host` with its own control socket in the lab's folder; returns its pid.
fn start(lab: &mut Lab, host: &Host, name: &str, conf: &str) -> u32 {
    Tandem::start_controlled(lab, BIN, host, name, conf).unwrap().pid
}

fn log(lab: &Lab, name: &str) -> String {
    std::fs::read_to_string(lab.dir().join(format!("{name}.log"))).unwrap_or_default()
}

/// Rewrites `name`'s configuration and asks for a reload; returns tandem reload's answer.
fn reload(lab: &Lab, name: &str, conf: &str) -> String {
    let dir = lab.dir();
    std::fs::write(dir.join(format!("{name}.conf")), conf).unwrap();
    let socket = dir.join(format!("{name}.sock"));
    let out = Command::new(BIN).args(["reload", "--control-socket", socket.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "tandem reload: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn status(dir: &Path, name: &str) -> Value {
    let socket = dir.join(format!("{name}.sock"));
    let out =
        Command::new(BIN).args(["status", "--json", "--control-socket", socket.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "tandem status: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The state of instance `inst` in `name`'s status.
fn state(dir: &Path, name: &str, inst: &str) -> String {
    let s = status(dir, name);
    let found = s["vrrp_instances"].as_array().and_then(|a| a.iter().find(|i| i["name"] == inst).cloned());
    found.map(|i| i["state"].as_str().unwrap_or("").to_string()).unwrap_or_else(|| "absent".into())
}

/// Transitions `name` logged for instance `inst`.
fn transitions(lab: &Lab, name: &str, inst: &str) -> usize {
    let needle = format!("instance={inst}");
    log(lab, name).lines().filter(|l| l.contains("VRRP transition") && l.contains(&needle)).count()
}

fn alive(pid: u32) -> bool {
    Lab::process_state(pid).is_some_and(|s| s != 'Z')
}

#[test]
fn a_reload_moves_the_master_keeps_unchanged_instances_and_adds_and_removes_others() {
    let mut r = rig("rlvrrp").unwrap();
    let d1_conf = |p1: u8, with_vi2: bool, vi3: &[&str]| {
        let mut c = instance("VI_1", 51, p1, &["192.0.2.100/24"], "eth0");
        if with_vi2 {
            c += &instance("VI_2", 52, 150, &["192.0.2.101/24"], "eth0");
        }
        if !vi3.is_empty() {
            c += &instance("VI_3", 53, 150, vi3, "eth0");
        }
        c
    };
    let d2_conf = instance("VI_1", 51, 100, &["192.0.2.100/24"], "eth0")
        + &instance("VI_2", 52, 100, &["192.0.2.101/24"], "eth0");
    let (d1, d2) = (r.d1.clone(), r.d2.clone());
    let p1 = start(&mut r.lab, &d1, "d1", &d1_conf(150, true, &[]));
    start(&mut r.lab, &d2, "d2", &d2_conf);
    let both = |h: &Host, lab: &Lab| has_vip(lab, h, "192.0.2.100") && has_vip(lab, h, "192.0.2.101");
    assert!(
        wait_until(Duration::from_secs(10), || both(&d1, &r.lab) && !has_vip(&r.lab, &d2, "192.0.2.100")),
        "{}",
        log(&r.lab, "d1")
    );
    let vi2_before = transitions(&r.lab, "d1", "VI_2");

    // VI_1's priority drops below d2's; VI_2 is unchanged; VI_3 is new.
    let answer = reload(&r.lab, "d1", &d1_conf(50, true, &["192.0.2.102/24"]));
    assert!(answer.contains("VI_3 added"), "{answer}");
    assert!(
        wait_until(Duration::from_secs(8), || has_vip(&r.lab, &d2, "192.0.2.100")
            && !has_vip(&r.lab, &d1, "192.0.2.100")),
        "d2 takes VI_1 by preemption\n{}",
        log(&r.lab, "d1")
    );
    assert!(
        wait_until(Duration::from_secs(8), || has_vip(&r.lab, &d1, "192.0.2.102")),
        "VI_3 starts\n{}",
        log(&r.lab, "d1")
    );
    assert!(alive(p1), "tandem on d1 kept running");
    assert!(has_vip(&r.lab, &d1, "192.0.2.101") && !has_vip(&r.lab, &d2, "192.0.2.101"), "VI_2 stays on d1");
    assert_eq!(
        transitions(&r.lab, "d1", "VI_2"),
        vi2_before,
        "the unchanged VI_2 had no transition\n{}",
        log(&r.lab, "d1")
    );
    let d1_vi1 = log(&r.lab, "d1");
    assert!(
        d1_vi1.lines().any(|l| l.contains("instance=VI_1") && l.contains("from=Master") && l.contains("to=Backup")),
        "{d1_vi1}"
    );
    assert_eq!(state(r.lab.dir(), "d1", "VI_1"), "BACKUP");
    let s = status(r.lab.dir(), "d1");
    let vi1 = s["vrrp_instances"].as_array().unwrap().iter().find(|i| i["name"] == "VI_1").unwrap().clone();
    assert_eq!(vi1["priority"], 50, "status shows the new priority: {vi1}");

    // VI_3's address list grows while it is master: the address comes, no transition.
    let vi3_before = transitions(&r.lab, "d1", "VI_3");
    reload(&r.lab, "d1", &d1_conf(50, true, &["192.0.2.102/24", "192.0.2.103/24"]));
    assert!(wait_until(Duration::from_secs(3), || has_vip(&r.lab, &d1, "192.0.2.103")), "{}", log(&r.lab, "d1"));
    assert!(has_vip(&r.lab, &d1, "192.0.2.102"));
    assert_eq!(transitions(&r.lab, "d1", "VI_3"), vi3_before);

    // VI_2 removed: d1 hands it over with priority 0, d2 takes it at once.
    let answer = reload(&r.lab, "d1", &d1_conf(50, false, &["192.0.2.102/24", "192.0.2.103/24"]));
    assert!(answer.contains("VI_2 removed"), "{answer}");
    assert!(
        wait_until(Duration::from_secs(3), || has_vip(&r.lab, &d2, "192.0.2.101")
            && !has_vip(&r.lab, &d1, "192.0.2.101")),
        "{}",
        log(&r.lab, "d1")
    );
    assert_eq!(state(r.lab.dir(), "d1", "VI_2"), "absent");
    assert!(alive(p1));
}

#[test]
fn an_instance_whose_interface_is_missing_waits_in_fault_until_it_appears() {
    let mut r = rig("rlfault").unwrap();
    let dir = r.lab.dir().to_path_buf();
    let script = dir.join("note.sh");
    std::fs::write(&script, format!("#!/bin/sh\necho \"$*\" >> {}/notes\n", dir.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut conf = instance("VI_1", 51, 150, &["192.0.2.100/24"], "eth0");
    conf += &instance("VI_9", 59, 150, &["198.51.100.100/24"], "late0")
        .replace("    advert_int 1\n", &format!("    advert_int 1\n    notify {}\n", script.display()));
    let d1 = r.d1.clone();
    let pid = start(&mut r.lab, &d1, "d1", &conf);
    let notes = || std::fs::read_to_string(dir.join("notes")).unwrap_or_default();

    // tandem runs, VI_1 works, VI_9 waits in FAULT and said so.
    assert!(wait_until(Duration::from_secs(8), || has_vip(&r.lab, &d1, "192.0.2.100")), "{}", log(&r.lab, "d1"));
    assert!(alive(pid), "tandem kept running\n{}", log(&r.lab, "d1"));
    assert_eq!(state(&dir, "d1", "VI_9"), "FAULT");
    assert!(log(&r.lab, "d1").contains("interface late0 does not exist"), "{}", log(&r.lab, "d1"));
    assert!(wait_until(Duration::from_secs(3), || notes().contains("INSTANCE VI_9 FAULT")), "notes: {}", notes());

    let ip = |args: &[&str]| {
        let out = r.lab.run(&d1, "ip", args).unwrap();
        assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let create = || {
        ip(&["link", "add", "late0", "type", "veth", "peer", "name", "late1"]);
        ip(&["addr", "add", "198.51.100.1/24", "dev", "late0"]);
        ip(&["link", "set", "late1", "up"]);
        ip(&["link", "set", "late0", "up"]);
    };
    // The interface appears: VI_9 starts and, alone on it, becomes master.
    create();
    assert!(wait_until(Duration::from_secs(10), || has_vip(&r.lab, &d1, "198.51.100.100")), "{}", log(&r.lab, "d1"));
    assert_eq!(state(&dir, "d1", "VI_9"), "MASTER");
    assert!(notes().contains("INSTANCE VI_9 MASTER"), "notes: {}", notes());

    // Deleted: FAULT again (and the address went with the interface).
    ip(&["link", "del", "late0"]);
    assert!(wait_until(Duration::from_secs(5), || state(&dir, "d1", "VI_9") == "FAULT"), "{}", log(&r.lab, "d1"));
    // Created again (another index): the instance starts again on it.
    create();
    assert!(wait_until(Duration::from_secs(10), || has_vip(&r.lab, &d1, "198.51.100.100")), "{}", log(&r.lab, "d1"));
    assert!(has_vip(&r.lab, &d1, "192.0.2.100"), "VI_1 untouched throughout");
    assert!(alive(pid));
}
