//! VRRP adverts as a raw socket hands them over (RFC 3768, RFC 5798), v2 and v3, IPv4 and
//! IPv6: `parse` never panics, and what it accepts emits back into a message that parses to
//! the same advert. Half the inputs get a correct checksum first, so that the fuzzer reaches
//! the checks behind it (a random 16-bit checksum almost never matches).
//!
//! Input: byte 0 chooses the family (bit 0), `v3_checksum_as_v2` (bit 1), and whether to fix
//! the checksum (bit 2); the rest is the VRRP message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;
use tandem_vrrp::Version;
use tandem_vrrp::wire::vrrp::{EmitOptions, ParseOptions, compute_checksum, emit, parse};

fuzz_target!(|data: &[u8]| {
    let Some((&how, message)) = data.split_first() else { return };
    let (src, dst): (IpAddr, IpAddr) = if how & 1 == 0 {
        ([192, 0, 2, 1].into(), [224, 0, 0, 18].into())
    } else {
        ("fe80::1".parse().unwrap(), "ff02::12".parse().unwrap())
    };
    let as_v2 = how & 2 != 0;
    let mut message = message.to_vec();
    if how & 4 != 0 && message.len() >= 8 {
        let version = if message[0] >> 4 == 2 { Version::V2 } else { Version::V3 };
        let sum = compute_checksum(&message, version, src, dst, as_v2);
        message[6..8].copy_from_slice(&sum.to_be_bytes());
    }
    let Ok(advert) = parse(&message, src, dst, &ParseOptions { v3_checksum_as_v2: as_v2 }) else { return };
    // A VRRPv2 advert whose auth type is AH is decoded (Auth::Ah) for the AH path to judge;
    // tandem never emits one through this codec (ah::seal wraps a plain one).
    if advert.auth == tandem_vrrp::Auth::Ah {
        return;
    }
    let again = emit(&advert, src, dst, &EmitOptions { v3_checksum_as_v2: as_v2 })
        .unwrap_or_else(|e| panic!("an accepted advert does not emit: {e:?} ({advert:?})"));
    let back = parse(&again, src, dst, &ParseOptions { v3_checksum_as_v2: as_v2 })
        .unwrap_or_else(|e| panic!("an emitted advert does not parse: {e:?} ({advert:?})"));
    assert_eq!(back, advert, "emit and parse disagree");
});
