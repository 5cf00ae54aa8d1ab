//! The codec against byte arrays laid out by hand from ip_vs_sync.c's structures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use tandem_sync::record::{OPT_F_OPTIONAL, V4_LEN, V6_LEN};
use tandem_sync::state::{proto, tcp};
use tandem_sync::{BackupSkip, EmitError, Message, ParseError, RawOption, Record, Seq, SeqData, flags};

fn ip4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

/// An established NAT connection 10.0.1.2:40000 -> 10.0.1.100:80 -> 10.0.2.2:8080.
fn nat_record() -> Record {
    Record {
        protocol: proto::TCP,
        flags: flags::MASQ,
        state: tcp::ESTABLISHED,
        client: ip4([10, 0, 1, 2]),
        cport: 40000,
        vaddr: ip4([10, 0, 1, 100]),
        vport: 80,
        daddr: ip4([10, 0, 2, 2]),
        dport: 8080,
        fwmark: 0,
        timeout: 900,
        seq: None,
        pe_data: None,
        pe_name: None,
        unknown_options: vec![],
    }
}

#[rustfmt::skip]
const NAT_RECORD: [u8; 36] = [
    0x00, 6, 0x00, 36,            // type IPv4, TCP, version 0 / size 36
    0, 0, 0, 0,                   // flags: MASQ
    0, 1, 0x9c, 0x40,             // state ESTABLISHED, cport 40000
    0, 80, 0x1f, 0x90,            // vport 80, dport 8080
    0, 0, 0, 0,                   // fwmark
    0, 0, 0x03, 0x84,             // timeout 900
    10, 0, 1, 2,                  // caddr
    10, 0, 1, 100,                // vaddr
    10, 0, 2, 2,                  // daddr
];

fn datagram(sync_id: u8, count: u8, body: &[u8]) -> Vec<u8> {
    let size = (8 + body.len()) as u16;
    let mut d = vec![0, sync_id, (size >> 8) as u8, size as u8, count, 1, 0, 0];
    d.extend_from_slice(body);
    d
}

#[test]
fn one_ipv4_record() {
    let bytes = datagram(51, 1, &NAT_RECORD);
    let msg = Message::parse(&bytes).unwrap();
    assert_eq!(msg, Message { sync_id: 51, records: vec![nat_record()] });
    assert_eq!(msg.emit().unwrap(), bytes);
    assert_eq!(msg.records[0].backup_skips(), None);
}

#[test]
fn empty_message() {
    let bytes = datagram(7, 0, &[]);
    assert_eq!(Message::parse(&bytes).unwrap(), Message { sync_id: 7, records: vec![] });
    assert_eq!(Message { sync_id: 7, records: vec![] }.emit().unwrap(), bytes);
}

#[test]
fn ipv6_record_with_every_option() {
    let c: Ipv6Addr = "2001:db8::2".parse().unwrap();
    let v: Ipv6Addr = "2001:db8::100".parse().unwrap();
    let d: Ipv6Addr = "2001:db8:1::2".parse().unwrap();
    let mut body = vec![0x01, 17, 0, 0, 0, 0, 0x16, 0x00, 0, 0, 0x13, 0xc4, 0x13, 0xc4, 0x13, 0xc4];
    body.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 0]); // fwmark 9, timeout 0
    for a in [c, v, d] {
        body.extend_from_slice(&a.octets());
    }
    assert_eq!(body.len(), V6_LEN);
    body.extend_from_slice(&[1, 24]);
    for n in 1..=6u32 {
        body.extend_from_slice(&n.to_be_bytes());
    }
    body.extend_from_slice(&[2, 3, b'a', b'b', b'c', 3, 3, b's', b'i', b'p']);
    let size = body.len() as u16; // 72 + 26 + 5 + 5 = 108
    body[2] = (size >> 8) as u8;
    body[3] = size as u8;
    let bytes = datagram(0, 1, &body);
    let msg = Message::parse(&bytes).unwrap();
    let r = &msg.records[0];
    assert_eq!((r.client, r.vaddr, r.daddr), (c.into(), v.into(), d.into()));
    assert_eq!((r.protocol, r.flags, r.cport, r.fwmark, r.timeout), (17, 0x1600, 5060, 9, 0));
    assert_eq!(
        r.seq,
        Some(SeqData {
            in_seq: Seq { init_seq: 1, delta: 2, previous_delta: 3 },
            out_seq: Seq { init_seq: 4, delta: 5, previous_delta: 6 }
        })
    );
    assert_eq!((r.pe_data.as_deref(), r.pe_name.as_deref()), (Some(&b"abc"[..]), Some(&b"sip"[..])));
    assert_eq!(msg.emit().unwrap(), bytes);
}

/// Records are aligned to 4 bytes; the last is not padded (the kernel pads before a record).
#[test]
fn padding_between_records_not_after_the_last() {
    let mut with_name = nat_record();
    with_name.pe_data = Some(b"x".to_vec()); // 36 + 3 = 39 bytes
    let msg = Message { sync_id: 1, records: vec![with_name.clone(), with_name.clone(), nat_record()] };
    let bytes = msg.emit().unwrap();
    assert_eq!(bytes.len(), 8 + 40 + 40 + 36);
    assert_eq!(&bytes[8 + 39..8 + 40], &[0]);
    assert_eq!(Message::parse(&bytes).unwrap(), msg);
    let last_unpadded = Message { sync_id: 1, records: vec![nat_record(), with_name] }.emit().unwrap();
    assert_eq!(last_unpadded.len(), 8 + 36 + 39);
    // Padding bytes are not looked at; bytes after the last counted record are ignored.
    let mut noisy = bytes.clone();
    noisy[8 + 39] = 0xff;
    noisy.extend_from_slice(&[1, 2, 3, 4, 5]);
    let size = noisy.len() as u16;
    noisy[2..4].copy_from_slice(&size.to_be_bytes());
    assert_eq!(Message::parse(&noisy).unwrap(), msg);
}

#[test]
fn header_errors() {
    assert_eq!(Message::parse(&[0, 1, 0]), Err(ParseError::TooShort { len: 3 }));
    let mut d = datagram(51, 1, &NAT_RECORD);
    d[3] += 1;
    assert_eq!(Message::parse(&d), Err(ParseError::SizeMismatch { declared: 45, actual: 44 }));
    // A version 0 message: first byte is the count.
    let v0 = [1, 51, 0, 24, 0, 6, 0, 1, 0, 80, 0, 80, 10, 0, 1, 2, 10, 0, 1, 100, 10, 0, 2, 2];
    assert_eq!(Message::parse(&v0), Err(ParseError::Version0 { first: 1, version: Some(6) }));
    let mut d = datagram(51, 0, &[]);
    d[5] = 2;
    assert_eq!(Message::parse(&d), Err(ParseError::Version0 { first: 0, version: Some(2) }));
    let mut d = datagram(51, 0, &[]);
    d[7] = 1;
    assert!(matches!(Message::parse(&d), Err(ParseError::Version0 { .. })));
    assert_eq!(Message::parse(&[0, 0, 0, 4]), Err(ParseError::Version0 { first: 0, version: None }));
}

#[test]
fn record_errors() {
    // Counted records missing.
    assert_eq!(Message::parse(&datagram(1, 2, &NAT_RECORD)), Err(ParseError::TruncatedRecord { index: 1, offset: 44 }));
    // Size past the end.
    let mut r = NAT_RECORD;
    r[3] = 40;
    assert_eq!(Message::parse(&datagram(1, 1, &r)), Err(ParseError::RecordOverrun { index: 0, offset: 8, size: 40 }));
    // Record version 1.
    let mut r = NAT_RECORD;
    r[2] = 0x10;
    assert_eq!(Message::parse(&datagram(1, 1, &r)), Err(ParseError::RecordVersion { index: 0, version: 1 }));
    // Type 2: neither IPv4 nor the IPv6 bit.
    let mut r = NAT_RECORD;
    r[0] = 2;
    assert_eq!(Message::parse(&datagram(1, 1, &r)), Err(ParseError::RecordType { index: 0, kind: 2 }));
    // Any type with bit 0 is IPv6: 36 bytes are below its 72.
    let mut r = NAT_RECORD;
    r[0] = 3;
    assert_eq!(Message::parse(&datagram(1, 1, &r)), Err(ParseError::RecordTooSmall { index: 0, size: 36, min: 72 }));
    let mut r = NAT_RECORD;
    r[3] = 20;
    assert_eq!(Message::parse(&datagram(1, 1, &r)), Err(ParseError::RecordTooSmall { index: 0, size: 20, min: 36 }));
}

fn with_options(options: &[u8]) -> Vec<u8> {
    let mut r = NAT_RECORD.to_vec();
    r.extend_from_slice(options);
    r[3] = r.len() as u8;
    datagram(1, 1, &r)
}

#[test]
fn option_errors() {
    assert_eq!(Message::parse(&with_options(&[2])), Err(ParseError::OptionTruncated { index: 0 }));
    assert_eq!(Message::parse(&with_options(&[2, 0])), Err(ParseError::OptionLength { index: 0, kind: 2, len: 0 }));
    assert_eq!(
        Message::parse(&with_options(&[2, 5, 1, 2])),
        Err(ParseError::OptionLength { index: 0, kind: 2, len: 5 })
    );
    assert_eq!(Message::parse(&with_options(&[1, 2, 0, 0])), Err(ParseError::SeqDataLength { index: 0, len: 2 }));
    let mut twice = vec![1, 24];
    twice.extend([0; 24]);
    twice.extend([0x41, 24]);
    twice.extend([0; 24]);
    assert_eq!(Message::parse(&with_options(&twice)), Err(ParseError::DuplicateOption { index: 0, kind: 1 }));
    assert_eq!(
        Message::parse(&with_options(&[2, 1, 7, 2, 1, 8])),
        Err(ParseError::DuplicateOption { index: 0, kind: 2 })
    );
    let mut long_name = vec![3, 17];
    long_name.extend([b'a'; 17]);
    assert_eq!(Message::parse(&with_options(&long_name)), Err(ParseError::PeNameTooLong { index: 0, len: 17 }));
}

#[test]
fn unknown_options() {
    // An optional unknown option is skipped by the kernel; kept here.
    let msg = Message::parse(&with_options(&[0x45, 2, 9, 9, 3, 3, b's', b'i', b'p'])).unwrap();
    let r = &msg.records[0];
    assert_eq!(r.unknown_options, vec![RawOption { kind: 0x45, data: vec![9, 9] }]);
    assert_eq!(r.pe_name.as_deref(), Some(&b"sip"[..]));
    assert_eq!(r.backup_skips(), None);
    // A mandatory unknown option makes the kernel skip the record without reading further:
    // what follows it is not checked (a bad option length here).
    let msg = Message::parse(&with_options(&[7, 1, 0, 2, 0])).unwrap();
    assert_eq!(msg.records[0].unknown_options, vec![RawOption { kind: 7, data: vec![0] }]);
    assert_eq!(msg.records[0].backup_skips(), Some(BackupSkip::MandatoryOption(7)));
}

#[test]
fn backup_skips() {
    let mut r = nat_record();
    r.state = 11;
    assert_eq!(r.backup_skips(), Some(BackupSkip::InvalidState { protocol: 6, state: 11 }));
    r.flags |= flags::TEMPLATE; // templates' states are not checked
    assert_eq!(r.backup_skips(), None);
    let mut r = nat_record();
    r.protocol = 1;
    assert_eq!(r.backup_skips(), Some(BackupSkip::UnsupportedProtocol(1)));
    let mut r = nat_record();
    r.pe_data = Some(vec![1]);
    assert_eq!(r.backup_skips(), Some(BackupSkip::PeDataWithoutName));
}

#[test]
fn emit_errors() {
    let mut r = nat_record();
    r.daddr = "::1".parse().unwrap();
    assert_eq!(Message { sync_id: 0, records: vec![r] }.emit(), Err(EmitError::MixedFamilies { index: 0 }));
    let mut r = nat_record();
    r.pe_name = Some(vec![b'a'; 17]);
    assert_eq!(Message { sync_id: 0, records: vec![r] }.emit(), Err(EmitError::PeNameTooLong { index: 0, len: 17 }));
    let mut r = nat_record();
    r.pe_data = Some(vec![]);
    assert_eq!(
        Message { sync_id: 0, records: vec![r] }.emit(),
        Err(EmitError::OptionLength { index: 0, kind: 2, len: 0 })
    );
    let mut r = nat_record();
    r.unknown_options = vec![RawOption { kind: OPT_F_OPTIONAL | 1, data: vec![0] }];
    assert_eq!(
        Message { sync_id: 0, records: vec![r] }.emit(),
        Err(EmitError::RawOptionKnownType { index: 0, kind: 0x41 })
    );
    let msg = Message { sync_id: 0, records: vec![nat_record(); 256] };
    assert_eq!(msg.emit(), Err(EmitError::TooManyRecords(256)));
    let mut big = nat_record();
    big.unknown_options = (0..8).map(|_| RawOption { kind: 0x50, data: vec![0; 255] }).collect();
    let msg = Message { sync_id: 0, records: vec![big.clone(); 33] };
    assert!(matches!(msg.emit(), Err(EmitError::TooLong(_))));
    big.unknown_options.extend((0..8).map(|_| RawOption { kind: 0x50, data: vec![0; 255] }));
    assert!(matches!(
        Message { sync_id: 0, records: vec![big] }.emit(),
        Err(EmitError::RecordTooLong { index: 0, .. })
    ));
    assert_eq!(V4_LEN, NAT_RECORD.len());
}
