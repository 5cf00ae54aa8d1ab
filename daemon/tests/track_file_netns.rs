//! `track_file` in a vrrp_instance and in a vrrp_sync_group, as keepalived 2.2.7 does it: the
//! number in the file times the weight moves the priority; with weight 0 a non-zero number
//! is a fault; a deleted file reads 0. The same keepalived.conf runs first under tandem, then
//! under keepalived (the judge), on director 1, with keepalived 2.2.7 as director 2 at
//! priority 100: the VIP must move the same way for both. Needs root.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::path::Path;
use std::time::Duration;
use tandem_tests::keepalived::Keepalived;
use tandem_tests::netns::{Lab, wait_until};
use tandem_tests::pair::{Opts, Tandem, VIP, config, has_vip, settles};

const BIN: &str = env!("CARGO_BIN_EXE_tandem");

/// Director 1's file: VI_1 at 150 tracks `load` (weight 10) and `drain` (weight 0).
fn conf(dir: &Path) -> String {
    let tracked = "    track_file {\n        load\n        drain weight 0\n    }\n    virtual_ipaddress {";
    format!(
        "track_file load {{\n    file {}\n    weight 10\n}}\ntrack_file drain {{\n    file {}\n}}\n{}",
        dir.join("load").display(),
        dir.join("drain").display(),
        config("1", "2", Opts::v2(150)).replacen("    virtual_ipaddress {", tracked, 1)
    )
}

#[test]
fn a_tracked_files_number_moves_priority_or_faults_as_keepalived() {
    // Both judges at once, each in a lab of its own.
    std::thread::scope(|scope| {
        let runs: Vec<_> =
            ["tandem", "keepalived"].map(|judge| scope.spawn(move || under(judge))).into_iter().collect();
        for run in runs {
            if let Err(panic) = run.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
}

/// The file's changes under `judge` on director 1, against a keepalived peer.
fn under(judge: &str) {
    let mut r = tandem_tests::pair::rig(&format!("tfile{}", &judge[..1])).unwrap();
    let (d1, d2) = (r.d1.clone(), r.d2.clone());
    let dir = r.lab.dir().to_path_buf();
    let write = |name: &str, value: &str| std::fs::write(dir.join(name), value).unwrap();
    write("load", "0\n");
    let peer = Keepalived::start(&mut r.lab, &d2, "peer", &config("2", "1", Opts::v2(100))).unwrap();
    // Both log to the lab's folder as d1.log; the lab kills them at the end.
    if judge == "tandem" {
        Tandem::start(&mut r.lab, BIN, &d1, "d1", &conf(&dir)).unwrap();
    } else {
        Keepalived::start(&mut r.lab, &d1, "d1", &conf(&dir)).unwrap();
    }
    let log = || std::fs::read_to_string(dir.join("d1.log")).unwrap_or_default();
    let why = |what: &str| format!("{judge}: {what}\n{}\n--- peer\n{}", log(), peer.log());
    assert!(settles(&r, &d1, &d2, VIP, 10), "{}", why("d1 is not master at 150"));
    // 150 + (-6 × 10) = 90 < 100: the peer preempts.
    write("load", "-6\n");
    assert!(settles(&r, &d2, &d1, VIP, 8), "{}", why("the peer did not take over from 90"));
    // 150 + 3 × 10: d1 preempts back.
    write("load", "3\n");
    assert!(settles(&r, &d1, &d2, VIP, 8), "{}", why("d1 did not preempt back at 180"));
    // Weight 0: any non-zero number is a fault.
    write("drain", "1\n");
    assert!(settles(&r, &d2, &d1, VIP, 5), "{}", why("d1 did not fault on drain 1"));
    std::thread::sleep(Duration::from_secs(4)); // longer than the master-down interval
    assert!(!has_vip(&r.lab, &d1, VIP), "{}", why("d1 took the VIP back while draining"));
    // A deleted file reads 0: the fault ends.
    std::fs::remove_file(dir.join("drain")).unwrap();
    assert!(settles(&r, &d1, &d2, VIP, 8), "{}", why("d1 did not come back when drain was deleted"));
}

/// A sync group's track_file: without sync_group_tracking_weight its weight is ignored and a
/// non-zero number faults the whole group; tandem's status shows it.
#[test]
fn a_sync_groups_tracked_file_faults_the_group() {
    let mut lab = Lab::new("tfilesg").unwrap();
    let public = lab.segment("pub").unwrap();
    let d1 = lab.host("d1").unwrap();
    lab.connect(&d1, &public, "eth0", &["192.0.2.1/24"]).unwrap();
    let file = lab.dir().join("state");
    std::fs::write(&file, "0\n").unwrap();
    let conf = format!(
        "track_file state {{\n    file {}\n    weight -20\n}}\n\
         vrrp_sync_group G {{\n    group {{\n        VI_A\n        VI_B\n    }}\n    track_file {{\n        state\n    }}\n}}\n\
         vrrp_instance VI_A {{\n    interface eth0\n    virtual_router_id 61\n    priority 150\n    virtual_ipaddress {{\n        192.0.2.100/24\n    }}\n}}\n\
         vrrp_instance VI_B {{\n    interface eth0\n    virtual_router_id 62\n    priority 150\n    virtual_ipaddress {{\n        192.0.2.101/24\n    }}\n}}\n",
        file.display()
    );
    let t = Tandem::start_controlled(&mut lab, BIN, &d1, "d1", &conf).unwrap();
    let states = |t: &Tandem| -> Vec<(String, u64)> {
        let Ok(out) = t.ask(BIN, &["status", "--json"]) else { return Vec::new() };
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["vrrp_instances"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|i| {
                        (i["state"].as_str().unwrap_or("").to_string(), i["effective_priority"].as_u64().unwrap_or(0))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let master = |p: u64| vec![("MASTER".to_string(), p), ("MASTER".to_string(), p)];
    assert!(wait_until(Duration::from_secs(10), || states(&t) == master(150)), "{:?}\n{}", states(&t), t.log());
    std::fs::write(&file, "2\n").unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || states(&t).iter().all(|s| s.0 == "FAULT")),
        "{:?}\n{}",
        states(&t),
        t.log()
    );
    assert!(!has_vip(&lab, &d1, "192.0.2.100") && !has_vip(&lab, &d1, "192.0.2.101"), "{}", t.log());
    std::fs::write(&file, "0\n").unwrap();
    assert!(wait_until(Duration::from_secs(10), || states(&t) == master(150)), "{:?}\n{}", states(&t), t.log());
}
