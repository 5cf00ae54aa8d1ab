//! Properties of the codec and the packer: round trips, no panics on any bytes, packing limits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::collection::vec;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use tandem_sync::header::{HEADER_LEN, MAX_RECORDS};
use tandem_sync::record::{OPT_F_OPTIONAL, PE_NAME_MAX};
use tandem_sync::{Message, RawOption, Record, Seq, SeqData, pack};

fn seq() -> impl Strategy<Value = Seq> {
    (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(init_seq, delta, previous_delta)| Seq {
        init_seq,
        delta,
        previous_delta,
    })
}

/// Unknown options that re-parse in place: optional ones, with at most one mandatory last.
fn unknown_options() -> impl Strategy<Value = Vec<RawOption>> {
    let kind = |optional: bool| {
        (0u8..=255).prop_filter_map("known type", move |k| {
            let k = if optional { k | OPT_F_OPTIONAL } else { k & !OPT_F_OPTIONAL };
            (!matches!(k & !OPT_F_OPTIONAL, 1..=3)).then_some(k)
        })
    };
    let optional = vec((kind(true), vec(any::<u8>(), 1..20)).prop_map(|(kind, data)| RawOption { kind, data }), 0..3);
    let mandatory = proptest::option::weighted(
        0.2,
        (kind(false), vec(any::<u8>(), 1..20)).prop_map(|(kind, data)| RawOption { kind, data }),
    );
    (optional, mandatory).prop_map(|(mut v, m)| {
        v.extend(m);
        v
    })
}

fn record() -> impl Strategy<Value = Record> {
    let addrs = prop_oneof![
        any::<[u32; 3]>().prop_map(|a| a.map(|x| IpAddr::V4(Ipv4Addr::from(x)))),
        any::<[u128; 3]>().prop_map(|a| a.map(|x| IpAddr::V6(Ipv6Addr::from(x)))),
    ];
    let options = (
        proptest::option::of((seq(), seq()).prop_map(|(in_seq, out_seq)| SeqData { in_seq, out_seq })),
        proptest::option::of(vec(any::<u8>(), 1..=255)),
        proptest::option::of(vec(any::<u8>(), 1..=PE_NAME_MAX)),
        unknown_options(),
    );
    (any::<(u8, u32, u16, [u16; 3], u32, u32)>(), addrs, options).prop_map(
        |((protocol, flags, state, [cport, vport, dport], fwmark, timeout), [client, vaddr, daddr], o)| Record {
            protocol,
            flags,
            state,
            client,
            cport,
            vaddr,
            vport,
            daddr,
            dport,
            fwmark,
            timeout,
            seq: o.0,
            pe_data: o.1,
            pe_name: o.2,
            unknown_options: o.3,
        },
    )
}

fn message() -> impl Strategy<Value = Message> {
    (any::<u8>(), vec(record(), 0..12)).prop_map(|(sync_id, records)| Message { sync_id, records })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn emit_then_parse_gives_the_message_back(msg in message()) {
        let bytes = msg.emit().unwrap();
        prop_assert_eq!(bytes.len(), msg.wire_len().unwrap());
        prop_assert_eq!(Message::parse(&bytes).unwrap(), msg.clone());
        // And parse then emit gives the bytes back.
        prop_assert_eq!(Message::parse(&bytes).unwrap().emit().unwrap(), bytes);
    }

    #[test]
    fn parse_never_panics(bytes in vec(any::<u8>(), 0..600)) {
        let _ = Message::parse(&bytes);
    }

    /// Arbitrary bytes with a valid header in front (so records get parsed).
    #[test]
    fn parse_never_panics_behind_a_valid_header(count in any::<u8>(), body in vec(any::<u8>(), 0..600)) {
        let size = (HEADER_LEN + body.len()) as u16;
        let mut bytes = vec![0, 1, (size >> 8) as u8, size as u8, count, 1, 0, 0];
        bytes.extend(body);
        if let Ok(msg) = Message::parse(&bytes) {
            prop_assert!(msg.records.len() == usize::from(count));
        }
    }

    #[test]
    fn parse_never_panics_on_mutations(
        msg in message(),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = msg.emit().unwrap();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        if let Ok(parsed) = Message::parse(&bytes) {
            // Whatever parses re-emits (unless a mandatory option ended a record's options
            // early or a mutated option became unrepresentable) and re-parses the same.
            if let Ok(again) = parsed.emit() {
                prop_assert_eq!(Message::parse(&again).unwrap(), parsed);
            }
        }
    }

    #[test]
    fn packing_respects_the_limits(
        sync_id in any::<u8>(),
        records in vec(record(), 0..400),
        maxlen in 500usize..70000,
    ) {
        let datagrams = pack(sync_id, &records, maxlen).unwrap();
        let mut back = Vec::new();
        for d in &datagrams {
            prop_assert!(d.len() <= maxlen.min(65535));
            let msg = Message::parse(d).unwrap();
            prop_assert_eq!(msg.sync_id, sync_id);
            prop_assert!(!msg.records.is_empty() && msg.records.len() <= MAX_RECORDS);
            prop_assert_eq!(&msg.emit().unwrap(), d);
            back.extend(msg.records);
        }
        prop_assert_eq!(back, records);
    }
}

#[test]
fn packing_fills_datagrams() {
    let r = Record {
        protocol: 6,
        flags: 0,
        state: 1,
        client: "10.0.0.1".parse().unwrap(),
        cport: 1,
        vaddr: "10.0.0.2".parse().unwrap(),
        vport: 80,
        daddr: "10.0.0.3".parse().unwrap(),
        dport: 80,
        fwmark: 0,
        timeout: 900,
        seq: None,
        pe_data: None,
        pe_name: None,
        unknown_options: vec![],
    };
    // 1472 bytes hold (1472 - 8) / 36 = 40 IPv4 records, as a kernel master's buffer does.
    let d = pack(3, &vec![r.clone(); 100], 1472).unwrap();
    assert_eq!(d.iter().map(|d| d.len()).collect::<Vec<_>>(), [8 + 40 * 36, 8 + 40 * 36, 8 + 20 * 36]);
    // The count is one byte: 255 records at most whatever maxlen.
    let d = pack(3, &vec![r.clone(); 600], 65535).unwrap();
    let counts: Vec<usize> = d.iter().map(|d| Message::parse(d).unwrap().records.len()).collect();
    assert_eq!(counts, [255, 255, 90]);
    assert!(pack(3, &[], 1472).unwrap().is_empty());
    assert!(matches!(pack(3, &[r], 40), Err(tandem_sync::PackError::DoesNotFit { index: 0, needed: 44, maxlen: 40 })));
}
