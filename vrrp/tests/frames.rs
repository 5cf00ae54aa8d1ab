//! Gratuitous ARP and unsolicited NA frames built by the codec and sent over AF_PACKET move
//! a neighbour's entry for the VIP to the sender's MAC, as a takeover must. Needs root.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use tandem_vrrp::linux::addr::ifindex;
use tandem_vrrp::linux::frames::FrameSender;
use tandem_vrrp::wire::{arp, ndisc};

mod common;
use common::{Pair, ip, run_in};

fn neighbour_mac(ns: &str, addr: &str) -> String {
    run_in(ns, &["ip", "neigh", "show", addr])
}

fn mac_text(m: [u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

#[test]
fn gratuitous_arp_moves_a_stale_neighbour_entry() {
    let p = Pair::new("garp");
    // b believes the VIP is somewhere else.
    ip(&["-n", &p.b, "neigh", "add", "192.0.2.100", "lladdr", "02:00:00:00:00:01", "dev", "eth0", "nud", "stale"]);
    let mac = Pair::mac(&p.a);
    let tx = Pair::within(&p.a, || FrameSender::open(ifindex("eth0").unwrap()).unwrap());
    let frame = arp::gratuitous_arp(mac, "192.0.2.100".parse().unwrap());
    // Repeated, as a takeover's burst is: a veth that just came up drops what is sent before
    // the kernel has attached its queue (the carrier event, net/core/link_watch.c, is
    // processed from a workqueue, late on a busy machine).
    let want = mac_text(mac);
    let ok = (0..20).any(|_| {
        tx.send(&frame).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        neighbour_mac(&p.b, "192.0.2.100").contains(&want)
    });
    assert!(ok, "b's entry: {}", neighbour_mac(&p.b, "192.0.2.100"));
}

#[test]
fn unsolicited_na_overrides_a_neighbour_entry() {
    let p = Pair::new("una");
    ip(&["-n", &p.b, "neigh", "add", "2001:db8::100", "lladdr", "02:00:00:00:00:01", "dev", "eth0", "nud", "stale"]);
    let mac = Pair::mac(&p.a);
    let tx = Pair::within(&p.a, || FrameSender::open(ifindex("eth0").unwrap()).unwrap());
    let frame = ndisc::unsolicited_na(mac, "2001:db8::100".parse().unwrap(), false);
    // IPv6 on a veth that just came up takes a moment; a takeover sends bursts anyway.
    let want = mac_text(mac);
    let ok = (0..20).any(|_| {
        tx.send(&frame).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        neighbour_mac(&p.b, "2001:db8::100").contains(&want)
    });
    assert!(ok, "b's entry: {}", neighbour_mac(&p.b, "2001:db8::100"));
}
