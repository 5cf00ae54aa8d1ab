//! The namespace harness itself, and keepalived as the reference peer: two keepalived
//! directors on one segment elect the higher priority, and a client's neighbour table follows
//! the virtual IP when the master dies. Needs root.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::time::Duration;
use tandem_tests::keepalived::Keepalived;
use tandem_tests::netns::{Lab, wait_until};

fn director(name: &str, priority: u8) -> String {
    format!(
        "global_defs {{\n    router_id {name}\n}}\nvrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    priority {priority}\n    advert_int 1\n    virtual_ipaddress {{\n        192.0.2.100/24\n    }}\n}}\n"
    )
}

#[test]
fn lab_hosts_reach_each_other_and_vanish_on_drop() {
    let names;
    {
        let mut lab = Lab::new("self").unwrap();
        let seg = lab.segment("lan").unwrap();
        let a = lab.host("a").unwrap();
        let b = lab.host("b").unwrap();
        lab.connect(&a, &seg, "eth0", &["192.0.2.1/24", "2001:db8::1/64"]).unwrap();
        lab.connect(&b, &seg, "eth0", &["192.0.2.2/24", "2001:db8::2/64"]).unwrap();
        let ping = lab.run(&a, "ping", &["-c1", "-W2", "192.0.2.2"]).unwrap();
        assert!(ping.status.success(), "{}", String::from_utf8_lossy(&ping.stdout));
        let ping6 = lab.run(&a, "ping", &["-6", "-c1", "-W2", "2001:db8::2"]).unwrap();
        assert!(ping6.status.success(), "{}", String::from_utf8_lossy(&ping6.stdout));
        assert!(lab.has_address(&b, "192.0.2.2").unwrap());
        assert_eq!(lab.neighbour(&a, "192.0.2.2").unwrap(), Some(lab.mac(&b, "eth0").unwrap()));
        names = vec![a.ns, b.ns, seg.ns];
    }
    let list = std::process::Command::new("ip").args(["netns", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    for n in names {
        assert!(!list.contains(&n), "{n} survived the lab");
    }
}

#[test]
fn keepalived_pair_elects_the_higher_priority_and_fails_over() {
    let mut lab = Lab::new("kad").unwrap();
    let seg = lab.segment("lan").unwrap();
    let d1 = lab.host("d1").unwrap();
    let d2 = lab.host("d2").unwrap();
    let client = lab.host("client").unwrap();
    lab.connect(&d1, &seg, "eth0", &["192.0.2.1/24"]).unwrap();
    lab.connect(&d2, &seg, "eth0", &["192.0.2.2/24"]).unwrap();
    lab.connect(&client, &seg, "eth0", &["192.0.2.50/24"]).unwrap();
    let k1 = Keepalived::start(&mut lab, &d1, "d1", &director("d1", 150)).unwrap();
    let k2 = Keepalived::start(&mut lab, &d2, "d2", &director("d2", 100)).unwrap();

    let vip = "192.0.2.100";
    assert!(
        wait_until(Duration::from_secs(10), || lab.has_address(&d1, vip).unwrap_or(false)),
        "d1 never became master:\n{}",
        k1.log()
    );
    assert!(!lab.has_address(&d2, vip).unwrap());
    // The client learns the VIP at d1's MAC (from the gratuitous ARPs, or by asking).
    let _ = lab.run(&client, "ping", &["-c1", "-W2", vip]);
    let mac1 = lab.mac(&d1, "eth0").unwrap();
    assert_eq!(lab.neighbour(&client, vip).unwrap(), Some(mac1));

    // The master dies without a word: d2 takes over after the master-down interval and its
    // gratuitous ARPs move the client's entry without the client asking.
    lab.signal(k1.pid, "KILL").unwrap();
    let _ = lab.run(&d1, "ip", &["addr", "del", "192.0.2.100/24", "dev", "eth0"]);
    let mac2 = lab.mac(&d2, "eth0").unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || lab.neighbour(&client, vip).ok().flatten().as_deref()
            == Some(mac2.as_str())),
        "the client's neighbour entry never moved to d2:\n{}",
        k2.log()
    );
    assert!(lab.has_address(&d2, vip).unwrap());
}
