//! Virtual addresses over rtnetlink, against the real kernel, in a network namespace the test
//! thread makes for itself (`unshare(CLONE_NEWNET)` affects only the calling thread). Needs
//! root.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::net::IpAddr;
use std::process::Command;
use tandem_vrrp::linux::addr::{AddressSpec, Addresses, Outcome, ifindex, parse_scope};

/// Runs `f` on a thread inside a fresh network namespace holding a veth pair eth0/eth1.
fn in_namespace<F: FnOnce() + Send + 'static>(f: F) {
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET) needs root");
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("ip runs");
            assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "eth1"]);
        ip(&["link", "set", "eth0", "up"]);
        ip(&["link", "set", "eth1", "up"]);
        f();
    })
    .join()
    .expect("the namespace thread panicked");
}

fn ip_addr_show() -> String {
    let out = Command::new("ip").args(["-o", "addr", "show", "dev", "eth0"]).output().expect("ip runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn spec(addr: &str, prefix: u8) -> AddressSpec {
    AddressSpec {
        ifindex: ifindex("eth0").unwrap(),
        ifname: "eth0".into(),
        address: addr.parse().unwrap(),
        prefix,
        broadcast: None,
        scope: 0,
        label: None,
    }
}

#[test]
fn add_list_and_remove_ipv4_with_label_broadcast_and_scope() {
    in_namespace(|| {
        let a = Addresses::open().unwrap();
        let vip = AddressSpec {
            broadcast: Some("192.0.2.255".parse().unwrap()),
            label: Some("eth0:vip".into()),
            scope: parse_scope("site").unwrap(),
            ..spec("192.0.2.100", 24)
        };
        assert_eq!(a.add(&vip).unwrap(), Outcome::Done);
        let shown = ip_addr_show();
        assert!(shown.contains("inet 192.0.2.100/24 brd 192.0.2.255 scope site eth0:vip"), "{shown}");
        assert_eq!(a.add(&vip).unwrap(), Outcome::AlreadySo);
        let listed = a.list(vip.ifindex).unwrap();
        assert!(listed.contains(&("192.0.2.100".parse::<IpAddr>().unwrap(), 24)), "{listed:?}");
        assert_eq!(a.remove(&vip).unwrap(), Outcome::Done);
        assert!(!ip_addr_show().contains("192.0.2.100"));
        assert_eq!(a.remove(&vip).unwrap(), Outcome::AlreadySo);
    });
}

#[test]
fn ipv6_vips_skip_duplicate_address_detection() {
    in_namespace(|| {
        let a = Addresses::open().unwrap();
        let vip = spec("2001:db8::100", 64);
        assert_eq!(a.add(&vip).unwrap(), Outcome::Done);
        let shown = ip_addr_show();
        let line = shown.lines().find(|l| l.contains("2001:db8::100/64")).unwrap_or_default();
        assert!(line.contains("inet6 2001:db8::100/64 scope global nodad"), "{shown}");
        assert!(!line.contains("tentative"), "{shown}");
        assert_eq!(a.remove(&vip).unwrap(), Outcome::Done);
    });
}

#[test]
fn kernel_errors_carry_errno_and_what_was_done() {
    in_namespace(|| {
        let a = Addresses::open().unwrap();
        let bad = AddressSpec { ifindex: 9999, ifname: "ghost0".into(), ..spec("192.0.2.7", 32) };
        let e = a.add(&bad).unwrap_err();
        assert_eq!(e.errno, Some(19), "{e}"); // ENODEV
        assert_eq!(e.to_string(), "add 192.0.2.7/32 on ghost0: No such device (os error 19)");
        let missing = ifindex("ghost0").unwrap_err();
        assert_eq!(missing.op, "find interface ghost0");
    });
}
