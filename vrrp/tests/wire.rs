//! Codec tests: byte vectors captured from keepalived 2.2.7 (`tests/vectors/*.hex`, each with a
//! header saying how it was captured), one test per parse error, and property tests.
//!
//! Nothing here needs root or a network namespace: the vectors are checked-in files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use proptest::prelude::*;
use tandem_vrrp::wire::arp::{self, OP_REQUEST};
use tandem_vrrp::wire::ethernet::{BROADCAST, ETHERTYPE_IPV4, ETHERTYPE_IPV6, EthernetFrame, MacAddr};
use tandem_vrrp::wire::ndisc::{self, ALL_NODES};
use tandem_vrrp::wire::vrrp::{self as codec, MULTICAST_V4, MULTICAST_V6, compute_checksum};
use tandem_vrrp::wire::{
    EmitError, EmitOptions, FrameError, Ipv4Packet, Ipv4Repr, Ipv6Packet, ParseError, ParseOptions, auth_matches, emit,
    gratuitous_arp, parse, parse_arp_frame, parse_na_frame, simple_password, simple_password_eq, unsolicited_na,
};
use tandem_vrrp::{Advert, Auth, Version};

/// The MAC of tw-va, keepalived's interface in the capture rig.
const MAC_A: MacAddr = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x0a];
const SRC_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PEER_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// tw-va's link-local address, the source of keepalived's IPv6 adverts.
const SRC_V6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0x5eff, 0xfe10, 0x0a);

const NO_OPTS: ParseOptions = ParseOptions { v3_checksum_as_v2: false };
const NO_EMIT_OPTS: EmitOptions = EmitOptions { v3_checksum_as_v2: false };

/// Reads a vector file: `#` lines are comments, the rest is hex bytes separated by spaces.
fn vector(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        for tok in line.split_whitespace() {
            out.push(u8::from_str_radix(tok, 16).unwrap_or_else(|e| panic!("{name}: {tok:?}: {e}")));
        }
    }
    assert!(!out.is_empty(), "{name}: no bytes");
    out
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn vip6() -> Ipv6Addr {
    "2001:db8::100".parse().unwrap()
}

struct Case {
    file: &'static str,
    src: IpAddr,
    dst: IpAddr,
    advert: Advert,
}

fn cases() -> Vec<Case> {
    let pass = simple_password(b"s3cret");
    let mut out = Vec::new();
    let mut both = |file: &'static str, file0: &'static str, src: IpAddr, dst: IpAddr, advert: Advert| {
        let zero = Advert { priority: 0, ..advert.clone() };
        out.push(Case { file, src, dst, advert });
        out.push(Case { file: file0, src, dst, advert: zero });
    };
    both(
        "v2_auth_pass.hex",
        "v2_auth_pass_prio0.hex",
        SRC_V4.into(),
        MULTICAST_V4.into(),
        Advert {
            version: Version::V2,
            vrid: 51,
            priority: 100,
            interval_cs: 100,
            auth: Auth::Simple(pass),
            addresses: vec![v4(192, 0, 2, 100), v4(192, 0, 2, 101)],
        },
    );
    both(
        "v2_noauth.hex",
        "v2_noauth_prio0.hex",
        SRC_V4.into(),
        MULTICAST_V4.into(),
        Advert {
            version: Version::V2,
            vrid: 52,
            priority: 150,
            interval_cs: 200,
            auth: Auth::None,
            addresses: vec![v4(192, 0, 2, 102)],
        },
    );
    both(
        "v3_ipv4_multicast.hex",
        "v3_ipv4_multicast_prio0.hex",
        SRC_V4.into(),
        MULTICAST_V4.into(),
        Advert {
            version: Version::V3,
            vrid: 53,
            priority: 120,
            interval_cs: 50,
            auth: Auth::None,
            addresses: vec![v4(192, 0, 2, 103), v4(192, 0, 2, 104), v4(192, 0, 2, 105)],
        },
    );
    both(
        "v3_ipv4_unicast.hex",
        "v3_ipv4_unicast_prio0.hex",
        SRC_V4.into(),
        PEER_V4.into(),
        Advert {
            version: Version::V3,
            vrid: 54,
            priority: 200,
            interval_cs: 100,
            auth: Auth::None,
            addresses: vec![v4(192, 0, 2, 106)],
        },
    );
    both(
        "v3_ipv6.hex",
        "v3_ipv6_prio0.hex",
        SRC_V6.into(),
        MULTICAST_V6.into(),
        Advert {
            version: Version::V3,
            vrid: 55,
            priority: 110,
            interval_cs: 100,
            auth: Auth::None,
            addresses: vec![IpAddr::V6(vip6())],
        },
    );
    out
}

/// Every captured advert: the IP header says what keepalived sent (TTL 255, TOS 0xc0, proto
/// 112, the expected endpoints), parse gives exactly the expected advert, and emit gives the
/// captured VRRP bytes back; for IPv4 the header keepalived wrote itself is reproduced too.
#[test]
fn keepalived_vectors_parse_and_emit_byte_identical() {
    for case in cases() {
        let frame = vector(case.file);
        let eth = EthernetFrame::new_checked(&frame[..]).unwrap();
        assert_eq!(eth.src(), MAC_A, "{}", case.file);
        let payload = match case.src {
            IpAddr::V4(_) => {
                assert_eq!(eth.ethertype(), ETHERTYPE_IPV4);
                let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
                assert_eq!(ip.ttl(), 255, "{}", case.file);
                assert_eq!(ip.protocol(), 112, "{}", case.file);
                assert_eq!(ip.tos(), 0xc0, "{}", case.file);
                assert_eq!(ip.header_len(), 20, "{}", case.file);
                assert_eq!(usize::from(ip.total_len()), eth.payload().len(), "{}", case.file);
                assert_eq!(IpAddr::V4(ip.src_addr()), case.src, "{}", case.file);
                assert_eq!(IpAddr::V4(ip.dst_addr()), case.dst, "{}", case.file);
                assert!(ip.verify_checksum(), "{}", case.file);
                // keepalived builds the IPv4 header itself (IP_HDRINCL): DF clear, ident
                // counting up from 1. Reproduce it.
                let repr = Ipv4Repr::parse(&ip);
                assert_eq!(repr.flags_frag_offset, 0);
                let mut header = [0u8; 20];
                Ipv4Repr::vrrp(SRC_V4, ip.dst_addr(), ip.ident(), repr.payload_len).emit(&mut header).unwrap();
                assert_eq!(&header[..], &eth.payload()[..20], "{}: IPv4 header", case.file);
                ip.payload().to_vec()
            }
            IpAddr::V6(_) => {
                assert_eq!(eth.ethertype(), ETHERTYPE_IPV6);
                let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
                assert_eq!(ip.hop_limit(), 255, "{}", case.file);
                assert_eq!(ip.next_header(), 112, "{}", case.file);
                assert_eq!(ip.traffic_class(), 0xc0, "{}", case.file);
                assert_eq!(IpAddr::V6(ip.src_addr()), case.src, "{}", case.file);
                assert_eq!(IpAddr::V6(ip.dst_addr()), case.dst, "{}", case.file);
                ip.payload().to_vec()
            }
        };
        let advert = parse(&payload, case.src, case.dst, &NO_OPTS).unwrap_or_else(|e| panic!("{}: {e}", case.file));
        assert_eq!(advert, case.advert, "{}", case.file);
        let bytes = emit(&advert, case.src, case.dst, &NO_EMIT_OPTS).unwrap();
        assert_eq!(bytes, payload, "{}: emit", case.file);
        assert_eq!(codec::emitted_len(&advert), payload.len());
    }
}

/// keepalived 2.2.7 takes the VRRPv3/IPv4 checksum over the pseudo-header with the real
/// destination: the unicast vector fails with the multicast group as destination, and every
/// v3/IPv4 vector fails when read as `v3_checksum_as_v2`.
#[test]
fn keepalived_v3_ipv4_checksum_uses_pseudo_header_with_real_destination() {
    let frame = vector("v3_ipv4_unicast.hex");
    let ip = Ipv4Packet::new_checked(&frame[14..]).unwrap();
    let payload = ip.payload();
    assert!(parse(payload, SRC_V4.into(), PEER_V4.into(), &NO_OPTS).is_ok());
    assert!(matches!(
        parse(payload, SRC_V4.into(), MULTICAST_V4.into(), &NO_OPTS),
        Err(ParseError::BadChecksum { .. })
    ));
    let as_v2 = ParseOptions { v3_checksum_as_v2: true };
    for file in ["v3_ipv4_unicast.hex", "v3_ipv4_multicast.hex"] {
        let frame = vector(file);
        let ip = Ipv4Packet::new_checked(&frame[14..]).unwrap();
        let r = parse(ip.payload(), ip.src_addr().into(), ip.dst_addr().into(), &as_v2);
        assert!(matches!(r, Err(ParseError::BadChecksum { .. })), "{file}: {r:?}");
    }
}

/// v3_checksum_as_v2 (not in keepalived 2.2.7, so no capture): emit without the pseudo-header
/// gives the message-only Internet checksum, parse with the option accepts it and without it
/// refuses it.
#[test]
fn v3_checksum_as_v2_drops_the_pseudo_header() {
    let advert = cases().into_iter().find(|c| c.file == "v3_ipv4_unicast.hex").unwrap().advert;
    let as_v2 = EmitOptions { v3_checksum_as_v2: true };
    let bytes = emit(&advert, SRC_V4.into(), PEER_V4.into(), &as_v2).unwrap();
    let mut zeroed = bytes.clone();
    zeroed[6..8].copy_from_slice(&[0, 0]);
    assert_eq!(u16::from_be_bytes([bytes[6], bytes[7]]), tandem_vrrp::wire::checksum::checksum(&zeroed));
    let popts = ParseOptions { v3_checksum_as_v2: true };
    assert_eq!(parse(&bytes, SRC_V4.into(), PEER_V4.into(), &popts).unwrap(), advert);
    // The destination no longer matters.
    assert_eq!(parse(&bytes, SRC_V4.into(), MULTICAST_V4.into(), &popts).unwrap(), advert);
    assert!(matches!(parse(&bytes, SRC_V4.into(), PEER_V4.into(), &NO_OPTS), Err(ParseError::BadChecksum { .. })));
    // No effect on v2 or IPv6.
    for case in cases().into_iter().filter(|c| c.advert.version == Version::V2 || c.src.is_ipv6()) {
        assert_eq!(
            emit(&case.advert, case.src, case.dst, &as_v2).unwrap(),
            emit(&case.advert, case.src, case.dst, &NO_EMIT_OPTS).unwrap(),
            "{}",
            case.file
        );
    }
}

#[test]
fn keepalived_gratuitous_arp_byte_identical() {
    let frame = vector("garp_192.0.2.100.hex");
    let vip = Ipv4Addr::new(192, 0, 2, 100);
    let arp = parse_arp_frame(&frame).unwrap();
    assert_eq!(arp.eth_dst, BROADCAST);
    assert_eq!(arp.eth_src, MAC_A);
    assert_eq!(arp.operation, OP_REQUEST);
    assert_eq!(arp.sender_mac, MAC_A);
    assert_eq!(arp.sender_ip, vip);
    assert_eq!(arp.target_mac, BROADCAST, "keepalived 2.2.7 sends target MAC ff:ff:ff:ff:ff:ff");
    assert_eq!(arp.target_ip, vip);
    assert!(arp.is_gratuitous());
    assert_eq!(arp.padding_len, 0, "keepalived does not pad (42 bytes)");
    assert_eq!(frame.len(), arp::GARP_FRAME_LEN);
    assert_eq!(&gratuitous_arp(MAC_A, vip)[..], &frame[..]);
    assert_eq!(&arp.emit()[..], &frame[..]);
}

#[test]
fn keepalived_unsolicited_na_byte_identical() {
    for (file, router) in [("na_2001_db8__100.hex", false), ("na_router_2001_db8__100.hex", true)] {
        let frame = vector(file);
        let na = parse_na_frame(&frame).unwrap();
        assert_eq!(na.eth_dst, [0x33, 0x33, 0, 0, 0, 1], "{file}");
        assert_eq!(na.eth_src, MAC_A, "{file}");
        assert_eq!(na.src, vip6(), "{file}: keepalived sends from the VIP");
        assert_eq!(na.dst, ALL_NODES, "{file}");
        assert_eq!(na.hop_limit, 255, "{file}");
        assert!(na.override_flag(), "{file}");
        assert!(!na.solicited(), "{file}");
        assert_eq!(na.router(), router, "{file}");
        assert_eq!(na.target, vip6(), "{file}");
        assert_eq!(na.target_mac, Some(MAC_A), "{file}");
        assert_eq!(frame.len(), ndisc::NA_FRAME_LEN, "{file}");
        assert_eq!(&unsolicited_na(MAC_A, vip6(), router)[..], &frame[..], "{file}");
        assert_eq!(&na.emit()[..], &frame[..], "{file}");
        let ip = Ipv6Packet::new_checked(&frame[14..]).unwrap();
        assert_eq!((ip.traffic_class(), ip.flow_label()), (0, 0), "{file}");
    }
}

#[test]
fn na_parser_rejects_bad_checksum_and_other_frames() {
    let mut frame = unsolicited_na(MAC_A, vip6(), false);
    frame[14 + 40 + 3] ^= 1;
    assert_eq!(parse_na_frame(&frame), Err(FrameError::BadChecksum));
    let garp = gratuitous_arp(MAC_A, Ipv4Addr::new(192, 0, 2, 100));
    assert_eq!(parse_na_frame(&garp), Err(FrameError::WrongEthertype(0x0806)));
    let advert = vector("v3_ipv6.hex");
    assert_eq!(parse_na_frame(&advert), Err(FrameError::WrongProtocol(112)));
    let na = unsolicited_na(MAC_A, vip6(), false);
    assert_eq!(parse_arp_frame(&na), Err(FrameError::WrongEthertype(0x86dd)));
    assert_eq!(parse_arp_frame(&garp[..41]), Err(FrameError::TooShort));
}

// ---- one test per ParseError variant ----

fn valid(version: Version, ipv6: bool) -> (Vec<u8>, IpAddr, IpAddr) {
    let (src, dst, addresses): (IpAddr, IpAddr, Vec<IpAddr>) = if ipv6 {
        (SRC_V6.into(), MULTICAST_V6.into(), vec![IpAddr::V6(vip6())])
    } else {
        (SRC_V4.into(), MULTICAST_V4.into(), vec![v4(192, 0, 2, 100)])
    };
    let auth = if version == Version::V2 { Auth::Simple(simple_password(b"pw")) } else { Auth::None };
    let advert = Advert { version, vrid: 7, priority: 100, interval_cs: 100, auth, addresses };
    (emit(&advert, src, dst, &NO_EMIT_OPTS).unwrap(), src, dst)
}

/// Recomputes the checksum after a mutation, so that only the intended check fails.
fn refix(bytes: &mut [u8], version: Version, src: IpAddr, dst: IpAddr) {
    let sum = compute_checksum(bytes, version, src, dst, false);
    bytes[6..8].copy_from_slice(&sum.to_be_bytes());
}

#[test]
fn error_too_short() {
    let (bytes, src, dst) = valid(Version::V3, false);
    for len in 0..8 {
        assert_eq!(parse(&bytes[..len], src, dst, &NO_OPTS), Err(ParseError::TooShort { len }));
    }
}

#[test]
fn error_bad_version() {
    for v in [0u8, 1, 4, 15] {
        let (mut bytes, src, dst) = valid(Version::V3, false);
        bytes[0] = v << 4 | 1;
        refix(&mut bytes, Version::V3, src, dst);
        assert_eq!(parse(&bytes, src, dst, &NO_OPTS), Err(ParseError::BadVersion(v)));
    }
}

#[test]
fn error_version_not_allowed_v2_over_ipv6() {
    let (mut bytes, src, dst) = valid(Version::V3, true);
    bytes[0] = 0x21;
    refix(&mut bytes, Version::V2, src, dst);
    assert_eq!(parse(&bytes, src, dst, &NO_OPTS), Err(ParseError::VersionNotAllowed { version: 2 }));
    let advert = Advert {
        version: Version::V2,
        vrid: 1,
        priority: 1,
        interval_cs: 100,
        auth: Auth::None,
        addresses: vec![IpAddr::V6(vip6())],
    };
    assert_eq!(emit(&advert, src, dst, &NO_EMIT_OPTS), Err(EmitError::VersionNotAllowed));
}

#[test]
fn error_bad_type() {
    for version in [Version::V2, Version::V3] {
        let (mut bytes, src, dst) = valid(version, false);
        bytes[0] = (bytes[0] & 0xf0) | 2;
        refix(&mut bytes, version, src, dst);
        assert_eq!(parse(&bytes, src, dst, &NO_OPTS), Err(ParseError::BadType(2)));
    }
}

#[test]
fn error_bad_length() {
    for (version, ipv6) in [(Version::V2, false), (Version::V3, false), (Version::V3, true)] {
        let (bytes, src, dst) = valid(version, ipv6);
        // One trailing byte too many.
        let mut longer = bytes.clone();
        longer.push(0);
        let r = parse(&longer, src, dst, &NO_OPTS);
        assert_eq!(r, Err(ParseError::BadLength { expected: bytes.len(), actual: bytes.len() + 1 }));
        // A count that promises one address more than there is.
        let mut more = bytes.clone();
        more[3] = 2;
        refix(&mut more, version, src, dst);
        assert!(matches!(parse(&more, src, dst, &NO_OPTS), Err(ParseError::BadLength { .. })));
        // v2 without its 8 auth bytes.
        if version == Version::V2 {
            let mut short = bytes[..bytes.len() - 8].to_vec();
            refix(&mut short, version, src, dst);
            let r = parse(&short, src, dst, &NO_OPTS);
            assert_eq!(r, Err(ParseError::BadLength { expected: bytes.len(), actual: short.len() }));
        }
    }
}

#[test]
fn error_bad_checksum() {
    for (version, ipv6) in [(Version::V2, false), (Version::V3, false), (Version::V3, true)] {
        let (mut bytes, src, dst) = valid(version, ipv6);
        let good = u16::from_be_bytes([bytes[6], bytes[7]]);
        bytes[7] ^= 0x40;
        assert_eq!(
            parse(&bytes, src, dst, &NO_OPTS),
            Err(ParseError::BadChecksum { computed: good, carried: good ^ 0x40 })
        );
        // A corrupted payload byte is caught too.
        let (mut bytes, src, dst) = valid(version, ipv6);
        bytes[2] ^= 1;
        assert!(matches!(parse(&bytes, src, dst, &NO_OPTS), Err(ParseError::BadChecksum { .. })));
    }
    // The IPv6 pseudo-header covers the source: another sender fails.
    let (bytes, _, dst) = valid(Version::V3, true);
    let other: IpAddr = "fe80::1".parse().unwrap();
    assert!(matches!(parse(&bytes, other, dst, &NO_OPTS), Err(ParseError::BadChecksum { .. })));
}

#[test]
fn error_family_mismatch() {
    let (bytes, src, _) = valid(Version::V3, false);
    assert_eq!(parse(&bytes, src, MULTICAST_V6.into(), &NO_OPTS), Err(ParseError::FamilyMismatch));
    assert_eq!(parse(&bytes, SRC_V6.into(), MULTICAST_V4.into(), &NO_OPTS), Err(ParseError::FamilyMismatch));
    let advert = Advert {
        version: Version::V3,
        vrid: 1,
        priority: 1,
        interval_cs: 100,
        auth: Auth::None,
        addresses: vec![IpAddr::V6(vip6())],
    };
    assert_eq!(emit(&advert, src, MULTICAST_V4.into(), &NO_EMIT_OPTS), Err(EmitError::FamilyMismatch));
    assert_eq!(emit(&advert, src, MULTICAST_V6.into(), &NO_EMIT_OPTS), Err(EmitError::FamilyMismatch));
}

#[test]
fn error_zero_interval_v3() {
    for ipv6 in [false, true] {
        let (mut bytes, src, dst) = valid(Version::V3, ipv6);
        // Keep the reserved nibble set to show it is ignored, only the 12 bits count.
        bytes[4] = 0xf0;
        bytes[5] = 0;
        refix(&mut bytes, Version::V3, src, dst);
        assert_eq!(parse(&bytes, src, dst, &NO_OPTS), Err(ParseError::ZeroInterval));
    }
    // A v2 interval of 0 is left to the instance (it must match the configured one).
    let (mut bytes, src, dst) = valid(Version::V2, false);
    bytes[5] = 0;
    refix(&mut bytes, Version::V2, src, dst);
    assert_eq!(parse(&bytes, src, dst, &NO_OPTS).unwrap().interval_cs, 0);
}

#[test]
fn error_bad_auth_type() {
    let (mut bytes, src, dst) = valid(Version::V2, false);
    bytes[4] = 3;
    refix(&mut bytes, Version::V2, src, dst);
    assert_eq!(parse(&bytes, src, dst, &NO_OPTS), Err(ParseError::BadAuthType(3)));
    bytes[4] = 2;
    refix(&mut bytes, Version::V2, src, dst);
    assert_eq!(parse(&bytes, src, dst, &NO_OPTS).unwrap().auth, Auth::Ah);
}

#[test]
fn parse_error_reasons_are_distinct() {
    let all = [
        ParseError::TooShort { len: 0 },
        ParseError::BadVersion(0),
        ParseError::VersionNotAllowed { version: 2 },
        ParseError::BadType(0),
        ParseError::BadLength { expected: 0, actual: 0 },
        ParseError::BadChecksum { computed: 0, carried: 0 },
        ParseError::FamilyMismatch,
        ParseError::ZeroInterval,
        ParseError::BadAuthType(0),
    ];
    let mut reasons: Vec<_> = all.iter().map(ParseError::reason).collect();
    reasons.sort_unstable();
    reasons.dedup();
    assert_eq!(reasons.len(), all.len());
    for e in all {
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn emit_errors() {
    let base = Advert {
        version: Version::V2,
        vrid: 1,
        priority: 100,
        interval_cs: 100,
        auth: Auth::None,
        addresses: vec![v4(192, 0, 2, 100)],
    };
    let (src, dst): (IpAddr, IpAddr) = (SRC_V4.into(), MULTICAST_V4.into());
    let bad = |a: &Advert| emit(a, src, dst, &NO_EMIT_OPTS);
    assert_eq!(bad(&Advert { interval_cs: 150, ..base.clone() }), Err(EmitError::BadInterval(150)));
    assert_eq!(bad(&Advert { interval_cs: 25600, ..base.clone() }), Err(EmitError::BadInterval(25600)));
    let v3 = Advert { version: Version::V3, ..base.clone() };
    assert_eq!(bad(&Advert { interval_cs: 0, ..v3.clone() }), Err(EmitError::BadInterval(0)));
    assert_eq!(bad(&Advert { interval_cs: 4096, ..v3.clone() }), Err(EmitError::BadInterval(4096)));
    assert_eq!(bad(&Advert { auth: Auth::Simple([1; 8]), ..v3.clone() }), Err(EmitError::AuthWithV3));
    let many = Advert { addresses: vec![v4(192, 0, 2, 1); 256], ..v3 };
    assert_eq!(bad(&many), Err(EmitError::TooManyAddresses(256)));
    let mut small = [0u8; 10];
    assert_eq!(
        codec::emit_into(&base, src, dst, &NO_EMIT_OPTS, &mut small),
        Err(EmitError::BufferTooSmall { needed: 20 })
    );
    let mut big = [0u8; 64];
    assert_eq!(codec::emit_into(&base, src, dst, &NO_EMIT_OPTS, &mut big), Ok(20));
    assert_eq!(&big[..20], &emit(&base, src, dst, &NO_EMIT_OPTS).unwrap()[..]);
}

#[test]
fn password_helpers() {
    assert_eq!(simple_password(b"s3cret"), *b"s3cret\0\0");
    assert_eq!(simple_password(b"longer than eight"), *b"longer t");
    let a = simple_password(b"s3cret");
    assert!(simple_password_eq(&a, &a));
    for i in 0..8 {
        let mut b = a;
        b[i] ^= 0x80;
        assert!(!simple_password_eq(&a, &b));
    }
    assert!(auth_matches(&Auth::None, &Auth::None));
    assert!(auth_matches(&Auth::Simple(a), &Auth::Simple(a)));
    assert!(!auth_matches(&Auth::Simple(a), &Auth::Simple([0; 8])));
    assert!(!auth_matches(&Auth::Simple(a), &Auth::None));
    assert!(!auth_matches(&Auth::None, &Auth::Simple(a)));
    assert!(auth_matches(&Auth::Ah, &Auth::Ah));
}

/// RFC 3768 7.1 / keepalived's two counters: another auth type is a type mismatch (keepalived
/// `authtype_mismatch`), the right type with another password a failure (`auth_failure`).
#[test]
fn an_auth_mismatch_says_whether_the_type_or_the_password_is_wrong() {
    use codec::AuthMismatch;
    let a = simple_password(b"s3cret");
    assert_eq!(codec::auth_mismatch(&Auth::Simple(a), &Auth::Simple(a)), None);
    assert_eq!(codec::auth_mismatch(&Auth::None, &Auth::None), None);
    assert_eq!(codec::auth_mismatch(&Auth::Simple(a), &Auth::Simple([0; 8])), Some(AuthMismatch::Failure));
    assert_eq!(codec::auth_mismatch(&Auth::Simple(a), &Auth::None), Some(AuthMismatch::Type));
    assert_eq!(codec::auth_mismatch(&Auth::None, &Auth::Simple(a)), Some(AuthMismatch::Type));
    assert_eq!(codec::auth_mismatch(&Auth::Simple(a), &Auth::Ah), Some(AuthMismatch::Type));
    assert_eq!(AuthMismatch::Type.reason(), "auth_type_mismatch");
    assert_eq!(AuthMismatch::Failure.reason(), "auth");
}

/// The VRID is read before anything is judged: a packet too short for it has none.
#[test]
fn the_vrid_is_peeked_from_any_packet_long_enough() {
    assert_eq!(codec::vrid_of(&[], false), None);
    assert_eq!(codec::vrid_of(&[0x21], false), None);
    assert_eq!(codec::vrid_of(&[0x21, 51], false), Some(51));
    let captured = vector("v2_noauth.hex");
    let vrid = codec::VrrpPacket::new_checked(&captured[34..]).unwrap().vrid();
    assert_eq!(codec::vrid_of(&captured[34..], false), Some(vrid));
}

#[test]
fn ipv4_view_errors() {
    let frame = vector("v2_noauth.hex");
    let ip = &frame[14..];
    assert_eq!(Ipv4Packet::new_checked(&ip[..19]), Err(FrameError::TooShort));
    let mut v6 = ip.to_vec();
    v6[0] = 0x65;
    assert_eq!(Ipv4Packet::new_checked(&v6[..]), Err(FrameError::BadVersion(6)));
    let mut ihl = ip.to_vec();
    ihl[0] = 0x44;
    assert_eq!(Ipv4Packet::new_checked(&ihl[..]), Err(FrameError::BadHeaderLength));
    ihl[0] = 0x4f;
    assert_eq!(Ipv4Packet::new_checked(&ihl[..]), Err(FrameError::BadHeaderLength));
    assert_eq!(Ipv4Packet::new_checked(&ip[..ip.len() - 1]), Err(FrameError::BadLength));
    // Trailing link-layer padding is not part of the payload.
    let mut padded = ip.to_vec();
    padded.extend_from_slice(&[0; 6]);
    let p = Ipv4Packet::new_checked(&padded[..]).unwrap();
    assert_eq!(p.payload(), &ip[20..]);
    let mut bad_sum = ip.to_vec();
    bad_sum[10] ^= 1;
    assert!(!Ipv4Packet::new_checked(&bad_sum[..]).unwrap().verify_checksum());
}

// ---- properties ----

fn arb_ip(ipv6: bool) -> BoxedStrategy<IpAddr> {
    if ipv6 {
        any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o))).boxed()
    } else {
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))).boxed()
    }
}

fn arb_auth() -> impl Strategy<Value = Auth> {
    prop_oneof![Just(Auth::None), any::<[u8; 8]>().prop_map(Auth::Simple), Just(Auth::Ah)]
}

/// A valid advert and the endpoints it is sent between: both versions, both families (v2 only
/// over IPv4), with and without auth.
fn arb_valid() -> impl Strategy<Value = (Advert, IpAddr, IpAddr)> {
    prop_oneof![Just((Version::V2, false)), Just((Version::V3, false)), Just((Version::V3, true))].prop_flat_map(
        |(version, ipv6)| {
            let interval =
                if version == Version::V2 { (0u16..=255).prop_map(|s| s * 100).boxed() } else { (1u16..=4095).boxed() };
            let auth = if version == Version::V2 { arb_auth().boxed() } else { Just(Auth::None).boxed() };
            (
                any::<u8>(),
                any::<u8>(),
                interval,
                auth,
                prop::collection::vec(arb_ip(ipv6), 0..=20),
                arb_ip(ipv6),
                arb_ip(ipv6),
            )
                .prop_map(move |(vrid, priority, interval_cs, auth, addresses, src, dst)| {
                    (Advert { version, vrid, priority, interval_cs, auth, addresses }, src, dst)
                })
        },
    )
}

fn arb_any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![arb_ip(false), arb_ip(true)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400), src in arb_any_ip(), dst in arb_any_ip(), as_v2 in any::<bool>()) {
        let _ = parse(&bytes, src, dst, &ParseOptions { v3_checksum_as_v2: as_v2 });
        let _ = Ipv4Packet::new_checked(&bytes[..]).map(|p| (p.payload().len(), p.verify_checksum(), p.src_addr(), Ipv4Repr::parse(&p)));
        let _ = Ipv6Packet::new_checked(&bytes[..]).map(|p| (p.payload().len(), p.src_addr(), p.flow_label()));
        let _ = parse_arp_frame(&bytes);
        let _ = parse_na_frame(&bytes);
        let v = codec::VrrpPacket::new_unchecked(&bytes[..]);
        let _ = (v.address_bytes(16), v.auth_data(), v.max_adver_int_cs(), v.checksum());
    }

    /// Mutations of valid messages reach the checks past the header.
    #[test]
    fn parse_never_panics_on_mutated_adverts((advert, src, dst) in arb_valid(), at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut bytes = emit(&advert, src, dst, &NO_EMIT_OPTS).unwrap();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let _ = parse(&bytes, src, dst, &NO_OPTS);
        let len = cut.index(bytes.len() + 1);
        let _ = parse(&bytes[..len], src, dst, &NO_OPTS);
        // With the checksum repaired, the structural checks decide.
        let version = if bytes[0] >> 4 == 2 { Version::V2 } else { Version::V3 };
        refix(&mut bytes, version, src, dst);
        let _ = parse(&bytes, src, dst, &NO_OPTS);
    }

    #[test]
    fn emit_parse_round_trip((advert, src, dst) in arb_valid(), as_v2 in any::<bool>()) {
        let bytes = emit(&advert, src, dst, &EmitOptions { v3_checksum_as_v2: as_v2 }).unwrap();
        prop_assert_eq!(bytes.len(), codec::emitted_len(&advert));
        let back = parse(&bytes, src, dst, &ParseOptions { v3_checksum_as_v2: as_v2 }).unwrap();
        prop_assert_eq!(&back, &advert);
        prop_assert_eq!(emit(&back, src, dst, &EmitOptions { v3_checksum_as_v2: as_v2 }).unwrap(), bytes);
    }

    #[test]
    fn garp_and_na_round_trip(mac in any::<[u8; 6]>(), v4o in any::<[u8; 4]>(), v6o in any::<[u8; 16]>(), router in any::<bool>()) {
        let vip = Ipv4Addr::from(v4o);
        let arp = parse_arp_frame(&gratuitous_arp(mac, vip)).unwrap();
        prop_assert_eq!((arp.sender_mac, arp.sender_ip, arp.target_ip, arp.target_mac), (mac, vip, vip, BROADCAST));
        let vip = Ipv6Addr::from(v6o);
        let na = parse_na_frame(&unsolicited_na(mac, vip, router)).unwrap();
        prop_assert_eq!((na.src, na.target, na.target_mac, na.router(), na.override_flag()), (vip, vip, Some(mac), router, true));
    }
}

// ----- auth_type AH -----

/// keepalived 2.2.7's AH adverts (multicast with `s3cret`, unicast with `longpassword`,
/// whose first 8 bytes are the key), first and priority 0: `ah::open` verifies them (the
/// TTL counts in the ICV only for multicast), the VRRP inside parses with auth type 2, and
/// `ah::seal` with the same IP id, sequence number and key rebuilds every byte.
#[test]
fn keepalived_ah_adverts_verify_and_seal_reproduces_them() {
    use tandem_vrrp::wire::ah;
    let cases = [
        ("v2_ah_multicast.hex", "s3cret", false, 100),
        ("v2_ah_multicast_prio0.hex", "s3cret", false, 0),
        ("v2_ah_unicast.hex", "longpassword", true, 200),
        ("v2_ah_unicast_prio0.hex", "longpassword", true, 0),
    ];
    for (name, pass, unicast, priority) in cases {
        let frame = vector(name);
        let ip = &frame[14..];
        let key = ah::key(pass.as_bytes());
        let opened = ah::open(ip, &key, unicast).unwrap_or_else(|e| panic!("{name}: {e}"));
        let view = Ipv4Packet::new_checked(ip).unwrap();
        assert_eq!(IpAddr::from(opened.src), IpAddr::from(view.src_addr()), "{name}");
        let advert = parse(opened.vrrp, view.src_addr().into(), view.dst_addr().into(), &NO_OPTS).unwrap();
        assert_eq!((advert.auth, advert.priority), (Auth::Ah, priority), "{name}");
        // The other mode's TTL rule, or another password, does not verify.
        assert_eq!(ah::open(ip, &key, !unicast).err(), Some(ah::AhError::Icv), "{name}");
        assert_eq!(ah::open(ip, &ah::key(b"s3cre7"), unicast).err(), Some(ah::AhError::Icv), "{name}");
        // Rebuilt from its parts: the same bytes.
        let repr = Ipv4Repr { payload_len: 0, ..Ipv4Repr::parse(&view) };
        let sealed = ah::seal(&repr, opened.seq, opened.vrrp, &key, unicast).unwrap();
        assert_eq!(&sealed[..], ip, "{name}");
        // And from the decoded advert: tandem's emit gives the same VRRP message.
        let msg = emit(&advert, view.src_addr().into(), view.dst_addr().into(), &NO_EMIT_OPTS).unwrap();
        assert_eq!(&msg[..], opened.vrrp, "{name}");
    }
}

/// Whatever bytes arrive, `ah::open` returns, never panics.
#[test]
fn ah_open_is_total() {
    use tandem_vrrp::wire::ah;
    let frame = vector("v2_ah_multicast.hex");
    let key = ah::key(b"s3cret");
    for n in 0..frame.len() - 14 {
        let _ = ah::open(&frame[14..14 + n], &key, false);
    }
    for at in 14..frame.len() {
        for bit in 0..8 {
            let mut b = frame.clone();
            b[at] ^= 1 << bit;
            let _ = ah::open(&b[14..], &key, false);
        }
    }
}
