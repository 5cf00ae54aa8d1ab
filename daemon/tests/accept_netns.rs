//! Accept mode (RFC 5798 6.1) and `vrrp_strict` at run time, as keepalived 2.2.7 does them:
//! a master that is not the address owner and has no accept mode (`no_accept`, or strict
//! mode's default) drops packets to its VIPs, so a client's ping goes unanswered; with
//! accept mode (keepalived's default, or `accept`) it answers. Each case runs under tandem
//! and under keepalived (the judge) on the same keepalived.conf, and both must agree. After
//! tandem stops, its nftables table is gone. Needs root and nft.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::time::Duration;
use tandem_tests::keepalived::Keepalived;
use tandem_tests::pair::{Tandem, VIP, has_vip};

const BIN: &str = env!("CARGO_BIN_EXE_tandem");

/// Director 1's file: VI_1 (VRRP `version`) with `extra` lines in the instance and
/// `global` ones in global_defs.
fn conf(global: &str, extra: &str, version: u8) -> String {
    format!(
        "global_defs {{\n{global}}}\nvrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n    priority 150\n    advert_int 1\n    version {version}\n{extra}    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n"
    )
}

#[test]
fn without_accept_mode_a_master_drops_packets_to_its_vips_as_keepalived() {
    let cases = [
        ("default", conf("", "", 2), true),
        ("no_accept", conf("", "    no_accept\n", 2), false),
        ("vrrp_strict", conf("    vrrp_strict\n", "", 2), false),
        ("strict_v2_accept", conf("    vrrp_strict\n", "    accept\n", 2), false),
        ("strict_v3_accept", conf("    vrrp_strict\n", "    accept\n", 3), true),
        ("owner", conf("    vrrp_strict\n", "", 2).replace("priority 150", "priority 255"), true),
    ];
    // Each case in a thread of its own (its own namespaces): they mostly wait for a master.
    std::thread::scope(|scope| {
        let runs: Vec<_> = cases
            .iter()
            .enumerate()
            .map(|(n, (case, text, answers))| {
                scope.spawn(move || {
                    for judge in ["tandem", "keepalived"] {
                        one(n, case, text, *answers, judge);
                    }
                })
            })
            .collect();
        for run in runs {
            if let Err(panic) = run.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
}

/// Case `n` under one judge, in a lab of its own (a tag no other case's lab has: a lab
/// removes what a lab of the same tag left).
fn one(n: usize, case: &str, text: &str, answers: bool, judge: &str) {
    let mut r = tandem_tests::pair::rig(&format!("acc{}{n}", &judge[..1])).unwrap();
    let (d1, client) = (r.d1.clone(), r.client.clone());
    let pid = if judge == "tandem" {
        Tandem::start(&mut r.lab, BIN, &d1, "d1", text).unwrap().pid
    } else {
        Keepalived::start(&mut r.lab, &d1, "d1", text).unwrap().pid
    };
    let log = || std::fs::read_to_string(r.lab.dir().join("d1.log")).unwrap_or_default();
    assert!(
        tandem_tests::netns::wait_until(Duration::from_secs(10), || has_vip(&r.lab, &d1, VIP)),
        "{case}/{judge}: no master\n{}",
        log()
    );
    std::thread::sleep(Duration::from_millis(500));
    let ping = r.lab.run(&client, "ping", &["-c", "2", "-W", "1", "-i", "0.3", VIP]).unwrap();
    assert_eq!(
        ping.status.success(),
        answers,
        "{case}/{judge}: the VIP {} the client's ping\n{}",
        if answers { "did not answer" } else { "answered" },
        log()
    );
    if judge == "tandem" {
        let table = r.lab.run(&d1, "nft", &["list", "table", "inet", "tandem"]).unwrap();
        assert_eq!(
            table.status.success() && String::from_utf8_lossy(&table.stdout).contains(VIP),
            !answers,
            "{case}: nftables table\n{}{}",
            String::from_utf8_lossy(&table.stdout),
            String::from_utf8_lossy(&table.stderr)
        );
        // At stop the table goes with the VIPs.
        r.lab.signal(pid, "TERM").unwrap();
        let gone = || !r.lab.run(&d1, "nft", &["list", "table", "inet", "tandem"]).unwrap().status.success();
        assert!(
            tandem_tests::netns::wait_until(Duration::from_secs(5), || gone() && !has_vip(&r.lab, &d1, VIP)),
            "{case}: the table or the VIP outlived tandem\n{}",
            log()
        );
    }
}
