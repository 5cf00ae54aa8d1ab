//! Link changes from rtnetlink, in a namespace of the test thread's own. Needs root.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::process::Command;
use tandem_vrrp::linux::link::LinkMonitor;

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn dump_then_down_up_and_delete_events() {
    std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET) needs root");
        ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "eth1"]);
        ip(&["link", "set", "eth0", "up"]);
        let mut m = LinkMonitor::open().unwrap();
        let links = m.dump().unwrap();
        let eth0 = links.iter().find(|l| l.name == "eth0").expect("eth0 listed");
        // Up but without carrier: its peer eth1 is down.
        assert!(!eth0.up, "{eth0:?}");
        ip(&["link", "set", "eth1", "up"]);
        let mut seen_up = false;
        while let Some(ev) = m.next_event() {
            let ev = ev.unwrap();
            if ev.name == "eth0" && ev.up {
                seen_up = true;
                break;
            }
        }
        assert!(seen_up);
        // Carrier lost when the peer goes down: eth0 is down although still admin up.
        ip(&["link", "set", "eth1", "down"]);
        let ev = std::iter::from_fn(|| m.next_event()).map(Result::unwrap).find(|e| e.name == "eth0").unwrap();
        assert!(!ev.up && !ev.gone, "{ev:?}");
        ip(&["link", "del", "eth0"]);
        let ev = std::iter::from_fn(|| m.next_event()).map(Result::unwrap).find(|e| e.name == "eth0" && e.gone);
        assert!(ev.is_some());
    })
    .join()
    .expect("the namespace thread panicked");
}
