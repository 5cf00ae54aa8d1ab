//! VRRP raw sockets against the kernel: adverts sent from one namespace arrive in another
//! over a veth pair with TTL / hop limit 255 (and TOS 0xC0 for IPv4), multicast and unicast,
//! IPv4 and IPv6. A socket stays in the namespace it was made in, so each is made on a
//! thread that entered its namespace, then both are used from the test's runtime. Needs root.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::net::IpAddr;
use std::time::Duration;
use tandem_vrrp::linux::addr::ifindex;
use tandem_vrrp::linux::socket::{Received, VrrpSocket};

mod common;
use common::Pair;

/// Opens a VRRP socket on eth0 inside namespace `ns`.
fn open(ns: &str, v6: bool, group: Option<IpAddr>, source: Option<IpAddr>) -> VrrpSocket {
    Pair::within(ns, move || VrrpSocket::open("eth0", ifindex("eth0").unwrap(), v6, group, source, false).unwrap())
}

fn addr(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const PAYLOAD: [u8; 20] = [0x21, 51, 100, 1, 0, 1, 0xaa, 0xbb, 192, 0, 2, 100, 0, 0, 0, 0, 0, 0, 0, 0];

fn run<F: std::future::Future<Output = ()>>(f: F) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), f).await.expect("timed out") });
}

/// Sends `payload` to `dst` from `tx` every 100 ms, as adverts go, until `rx` receives a
/// packet, and returns that packet. One send alone could be lost: a veth that has just come up
/// drops what is sent before the kernel has attached its queue, which waits for the carrier
/// event to be processed (net/core/link_watch.c, run from a workqueue: late on a busy machine;
/// a full run saw a single IPv4 send never arrive). IPv6 has its own start-up delays too.
async fn exchange(tx: &VrrpSocket, rx: &VrrpSocket, payload: &[u8], dst: IpAddr) -> Received {
    let sender = async {
        loop {
            tx.send_to(payload, dst).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::select! { r = rx.recv() => r.unwrap(), () = sender => unreachable!() }
}

#[test]
fn ipv4_multicast_arrives_with_ttl_255_and_tos_c0() {
    let p = Pair::new("m4");
    run(async {
        let g = addr("224.0.0.18");
        let tx = open(&p.a, false, Some(g), Some(addr("192.0.2.1")));
        let rx = open(&p.b, false, Some(g), None);
        let got = exchange(&tx, &rx, &PAYLOAD, g).await;
        assert_eq!((got.src, got.dst, got.ttl, got.tos), (addr("192.0.2.1"), Some(g), 255, 0xc0));
        assert_eq!(got.payload, PAYLOAD);
    });
}

#[test]
fn ipv4_unicast_reaches_the_peer() {
    let p = Pair::new("u4");
    run(async {
        let tx = open(&p.a, false, None, Some(addr("192.0.2.1")));
        let rx = open(&p.b, false, None, None);
        let got = exchange(&tx, &rx, &PAYLOAD, addr("192.0.2.2")).await;
        assert_eq!((got.src, got.dst, got.ttl), (addr("192.0.2.1"), Some(addr("192.0.2.2")), 255));
        assert_eq!(got.payload, PAYLOAD);
    });
}

#[test]
fn ipv6_multicast_arrives_with_hop_limit_255() {
    let p = Pair::new("m6");
    run(async {
        let g = addr("ff02::12");
        let tx = open(&p.a, true, Some(g), None);
        let rx = open(&p.b, true, Some(g), None);
        let payload = [0x31u8, 7, 100, 0, 0, 100, 0, 0];
        let got = exchange(&tx, &rx, &payload, g).await;
        assert_eq!(got.ttl, 255);
        // From eth0's link-local address, as VRRPv3 over IPv6 requires (RFC 5798 5.1.2.1).
        assert!(matches!(got.src, IpAddr::V6(a) if a.segments()[0] == 0xfe80), "{:?}", got.src);
        assert_eq!(got.payload, payload);
    });
}
