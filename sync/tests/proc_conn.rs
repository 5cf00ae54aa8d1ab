//! The /proc/net/ip_vs_conn parser against the kernel's lines.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use tandem_sync::state::proto;
use tandem_sync::{ConnEntry, Origin, parse_conn_line, parse_conn_table};

fn ip(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

/// ip_vs_conn as Debian's 6.1 kernel printed it in the VM lab (kernel_vm.rs).
const IP_VS_CONN: &str = include_str!("data/ip_vs_conn-6.1.txt");
/// ip_vs_conn_sync on the lab's backup: the master's entries, two hand-made and 100 packed ones.
const IP_VS_CONN_SYNC: &str = include_str!("data/ip_vs_conn_sync-6.1.txt");

#[test]
fn ipv4_and_ipv6_lines() {
    let t = parse_conn_table(IP_VS_CONN);
    assert_eq!(t.malformed, 0);
    assert_eq!(t.entries.len(), 7);
    let e = &t.entries[0];
    assert_eq!(
        *e,
        ConnEntry {
            protocol: proto::TCP,
            client: ip([10, 0, 1, 2]),
            cport: 0x9fe2,
            vaddr: ip([10, 0, 1, 100]),
            vport: 80,
            daddr: ip([10, 0, 2, 2]),
            dport: 8080,
            state: "ESTABLISHED".into(),
            expires: 899,
            origin: None,
            pe_name: None,
            pe_data: None,
        }
    );
    assert!(!e.looks_like_template());
    assert_eq!(e.fwmark(), None);
    let tpl = &t.entries[3];
    assert!(tpl.looks_like_template());
    assert_eq!((tpl.state.as_str(), tpl.vport, tpl.dport, tpl.expires), ("ASSURED", 81, 8081, 59));
    assert_eq!(t.entries[5].state, "UDP");
    let v6 = &t.entries[6];
    assert_eq!(v6.client, "2001:db8:1::2".parse::<Ipv6Addr>().unwrap());
    assert_eq!(v6.daddr, "2001:db8:2::2".parse::<Ipv6Addr>().unwrap());
    assert_eq!((v6.cport, v6.vport, v6.dport), (0x91d0, 80, 8080));
}

#[test]
fn the_backups_sync_file() {
    let t = parse_conn_table(IP_VS_CONN_SYNC);
    assert_eq!((t.entries.len(), t.malformed), (109, 0));
    assert!(t.entries.iter().all(|e| e.origin == Some(Origin::Sync) && e.pe_name.is_none()));
    let tpl = t.entries.iter().find(|e| e.client == ip([10, 0, 1, 77]) && e.cport == 0).unwrap();
    assert_eq!((tpl.state.as_str(), tpl.expires), ("NONE", 299));
}

#[test]
fn sync_file_lines() {
    let text = "\
Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires
TCP 0A00014D 9C41 0A000164 0050 0A000202 1F90 ESTABLISHED SYNC       899
TCP 0A000102 BDF0 0A000164 0050 0A000202 1F90 ESTABLISHED LOCAL      12
";
    let t = parse_conn_table(text);
    assert_eq!(t.malformed, 0);
    assert_eq!((t.entries[0].origin, t.entries[0].expires, t.entries[0].cport), (Some(Origin::Sync), 899, 40001));
    assert_eq!(t.entries[1].origin, Some(Origin::Local));
}

#[test]
fn mixed_family_lines() {
    // The destination has its own family (`daf`): an IPv6 entry may show an IPv4 one.
    let mixed = "TCP 2001:0db8:0001:0000:0000:0000:0000:0002 B5F2 2001:0db8:0001:0000:0000:0000:0000:0100 0050 \
                 0A000202 1F90 ESTABLISHED     899";
    assert_eq!(parse_conn_line(mixed).unwrap().daddr, ip([10, 0, 2, 2]));
}

#[test]
/// Lines built to `ip_vs_conn_seq_show`'s format (not captured: the lab has no fwmark or SIP).
fn fwmark_templates_and_pe_data() {
    // A fwmark service's template: protocol IP, the mark in the virtual address field.
    let e = parse_conn_line("IP  0A000100 0000 00000007 0000 0A000202 0000 NONE            299").unwrap();
    assert_eq!((e.protocol, e.fwmark(), e.looks_like_template()), (proto::IP, Some(7), true));
    let e6 = parse_conn_line(
        "IP  2001:0db8:0001:0000:0000:0000:0000:0000 0000 0000:0007:0000:0000:0000:0000:0000:0000 0000 \
         2001:0db8:0002:0000:0000:0000:0000:0002 0000 NONE            299",
    )
    .unwrap();
    assert_eq!(e6.fwmark(), Some(7));
    // The SIP persistence engine's template: name and Call-ID after the expiry.
    let e = parse_conn_line("UDP 0A000102 0000 0A000164 13C4 0A000202 13C4 NONE            179 sip a84b4c76e66710")
        .unwrap();
    assert_eq!((e.pe_name.as_deref(), e.pe_data.as_deref()), (Some("sip"), Some("a84b4c76e66710")));
    let e = parse_conn_line("UDP 0A000102 0000 0A000164 13C4 0A000202 13C4 NONE            179 sip ").unwrap();
    assert_eq!(e.pe_data.as_deref(), Some(""));
}

#[test]
fn malformed_lines_are_counted() {
    let text = "\
Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
TCP 0A000102 BDF0 0A000164 0050 0A000202 1F90 ESTABLISHED     899

garbage
TCP 0A00010 BDF0 0A000164 0050 0A000202 1F90 ESTABLISHED     899
TCP 0A000102 BDF00 0A000164 0050 0A000202 1F90 ESTABLISHED     899
TCP 0A000102 BDF0 0A000164 0050 0A000202 1F90 ESTABLISHED     +89
TCP 0A000102 BDF0 0A000164 0050 0A000202 1F90 ESTABLISHED
TCP 0A000102 BDF0 0A000164 0050 0A000202 1F90 ESTABLISHED SYNC 1 extra
TCP 0A000102 BDF0 0A000164 0050 0A000202 1F90 ESTABLISHED SYNC
XYZ 0A000102 BDF0 0A000164 0050 0A000202 1F90 ESTABLISHED     899
TCP 0A000102 BDF0 0A000164 0050 0A000202 1F90 ESTABLISHED     99999999999999999999999
";
    let t = parse_conn_table(text);
    assert_eq!((t.entries.len(), t.malformed), (1, 9));
}

proptest! {
    #[test]
    fn never_panics(text in ".{0,300}") {
        let _ = parse_conn_table(&text);
    }

    #[test]
    fn never_panics_on_near_lines(cut in 0usize..80, insert in "[ -~\u{80}-\u{10ffff}]{0,3}") {
        let line = "TCP 0A000102 BDF0 0A000164 0050 0A000202 1F90 ESTABLISHED     899 sip abc";
        let mut at = cut.min(line.len());
        while !line.is_char_boundary(at) { at -= 1; }
        let mutated = format!("{}{}{}", &line[..at], insert, &line[at..]);
        let _ = parse_conn_line(&mutated);
    }
}

/// Two reads of a changing table, each missing an entry (the page-by-page walk skips one
/// when an entry ahead of it expires): the merge has every entry once, as the later read saw
/// it, and what only the first read saw.
#[test]
fn two_reads_merge_into_every_entry_once() {
    let all = parse_conn_table(IP_VS_CONN_SYNC).entries;
    let mut first = parse_conn_table(IP_VS_CONN_SYNC);
    first.entries.remove(40);
    let mut second = parse_conn_table(IP_VS_CONN_SYNC);
    second.entries.remove(7);
    second.entries[0].state = "FIN_WAIT".into();
    second.entries[0].expires = 3;
    assert_eq!(first.merge(second), 1, "the entry the first read missed");
    assert_eq!(first.entries.len(), all.len());
    assert_eq!((first.entries[0].state.as_str(), first.entries[0].expires), ("FIN_WAIT", 3));
    for e in &all[1..] {
        assert_eq!(first.entries.iter().filter(|m| *m == e).count(), 1, "{e:?}");
    }
    // Entries differing only in state or expiry are one entry; in an address, two.
    let mut a = parse_conn_table(IP_VS_CONN);
    let mut b = parse_conn_table(IP_VS_CONN);
    b.entries[1].expires += 5;
    b.entries[2].cport ^= 1;
    assert_eq!(a.merge(b), 1);
    assert_eq!(a.entries.len(), 8);
    let again = a.clone();
    assert_eq!(a.merge(again), 0);
}
