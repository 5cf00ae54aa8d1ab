//! The codec against a datagram the kernel's master sync daemon sent (Debian's 6.1 kernel, in
//! the VM lab of kernel_vm.rs): two NAT connections to 10.0.1.100:80, two to the persistent
//! 10.0.1.100:81 with their template (sent again with every packet of its connections), one
//! over IPv6 to [2001:db8:1::100]:80 and a UDP connection; sync id 51.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use tandem_sync::state::{proto, state_name, tcp, template, udp};
use tandem_sync::{Message, flags};

fn kernel_datagram() -> Vec<u8> {
    let hex = include_str!("data/kernel-6.1-nat.hex").trim();
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

fn ip(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

#[test]
fn the_kernels_datagram_parses_and_re_emits_byte_for_byte() {
    let bytes = kernel_datagram();
    assert_eq!(bytes.len(), 8 + 15 * 36 + 72);
    let msg = Message::parse(&bytes).unwrap();
    assert_eq!(msg.sync_id, 51);
    assert_eq!(msg.records.len(), 16);
    assert_eq!(msg.emit().unwrap(), bytes);
    for r in &msg.records {
        assert_eq!(r.backup_skips(), None);
        if !r.is_ipv6() {
            assert_eq!((r.client, r.vaddr, r.daddr), (ip([10, 0, 1, 2]), ip([10, 0, 1, 100]), ip([10, 0, 2, 2])));
        }
        assert_eq!(r.flags & flags::FWD_MASK, flags::MASQ);
        assert_eq!((r.fwmark, r.seq, &r.pe_data, &r.pe_name), (0, None, &None, &None));
    }
    // An established TCP connection: flags 0 (INACTIVE cleared), timeout 900 s.
    let first = &msg.records[0];
    assert_eq!((first.protocol, first.flags, first.state, first.timeout), (proto::TCP, 0, tcp::ESTABLISHED, 900));
    assert_eq!((first.cport, first.vport, first.dport), (40930, 80, 8080));
    // The IPv6 connection: type 1, 72 bytes.
    let v6 = &msg.records[14];
    let a = |s: &str| IpAddr::V6(s.parse::<Ipv6Addr>().unwrap());
    assert_eq!((v6.client, v6.vaddr, v6.daddr), (a("2001:db8:1::2"), a("2001:db8:1::100"), a("2001:db8:2::2")));
    assert_eq!((v6.flags, v6.state, v6.timeout, v6.cport, v6.dport), (0, tcp::ESTABLISHED, 900, 37328, 8080));
    // The template: TEMPLATE | INACTIVE, client port 0, the persistence timeout; first NONE,
    // then ASSURED (template states, which /proc names from their own table).
    let templates: Vec<_> = msg.records.iter().filter(|r| r.is_template()).collect();
    assert_eq!(templates.len(), 10);
    for t in &templates {
        assert_eq!(
            (t.flags, t.cport, t.vport, t.dport, t.timeout),
            (flags::TEMPLATE | flags::INACTIVE, 0, 81, 8081, 60)
        );
    }
    assert_eq!(templates[0].state, template::NONE);
    assert!(templates[1..].iter().all(|t| t.state == template::ASSURED));
    assert_eq!(state_name(proto::TCP, true, template::ASSURED), "ASSURED");
    // UDP: INACTIVE, its one state, 300 s.
    let u = msg.records.last().unwrap();
    assert_eq!(
        (u.protocol, u.flags, u.state, u.timeout, u.dport),
        (proto::UDP, flags::INACTIVE, udp::NORMAL, 300, 5353)
    );
}
