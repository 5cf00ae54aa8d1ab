//! `net_namespace NAME`, as keepalived 2.2.7 does it: started in one namespace (`d0`), the
//! daemon moves into the named one (`d1`, made with `ip netns add`) before it opens any
//! socket, so the VIP is added there and adverts go out there; nothing happens in `d0`. The
//! same file runs under tandem and under keepalived. A missing namespace is an error at
//! start. Needs root.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::time::Duration;
use tandem_tests::keepalived::Keepalived;
use tandem_tests::netns::{Lab, wait_until};
use tandem_tests::pair::{Tandem, has_vip};

const BIN: &str = env!("CARGO_BIN_EXE_tandem");
const VIP: &str = "192.0.2.100";

fn conf(ns: &str) -> String {
    format!(
        "net_namespace {ns}\nvrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n    priority 150\n    advert_int 1\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n"
    )
}

#[test]
fn the_daemon_runs_in_the_named_namespace_as_keepalived() {
    for judge in ["tandem", "keepalived"] {
        let mut lab = Lab::new(&format!("netns{}", &judge[..1])).unwrap();
        let seg = lab.segment("lan").unwrap();
        let (d0, d1) = (lab.host("d0").unwrap(), lab.host("d1").unwrap());
        // Both have an eth0 on the segment: only d1's may get the VIP.
        lab.connect(&d0, &seg, "eth0", &["192.0.2.9/24"]).unwrap();
        lab.connect(&d1, &seg, "eth0", &["192.0.2.1/24"]).unwrap();
        let text = conf(&d1.ns);
        if judge == "tandem" {
            Tandem::start(&mut lab, BIN, &d0, "d", &text).unwrap();
        } else {
            Keepalived::start(&mut lab, &d0, "d", &text).unwrap();
        }
        let log = || std::fs::read_to_string(lab.dir().join("d.log")).unwrap_or_default();
        assert!(
            wait_until(Duration::from_secs(10), || has_vip(&lab, &d1, VIP)),
            "{judge}: the VIP is not in {}\n{}",
            d1.ns,
            log()
        );
        assert!(!has_vip(&lab, &d0, VIP), "{judge}: the VIP is in the namespace it was started in\n{}", log());
    }
    // A namespace that does not exist: tandem says so and stops.
    let mut lab = Lab::new("netnsx").unwrap();
    let d0 = lab.host("d0").unwrap();
    let path = lab.dir().join("missing.conf");
    std::fs::write(&path, conf("tnd-no-such-namespace")).unwrap();
    let out = lab.run(&d0, BIN, &["run", "-f", &path.to_string_lossy()]).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("no such network namespace"), "{err}");
}
