//! What else tandem reads off the wire besides VRRP messages: IPv4 headers (the AH path and
//! TTL checks read them), ARP and neighbour-advertisement frames (the tests and the address
//! monitor read them), and IPsec AH packets (RFC 2402, keepalived's HMAC-MD5-96 AH), which
//! are opened with a key. None may panic; a packet sealed with the key opens to what was
//! sealed.
//!
//! Input: byte 0 picks the decoder; the rest is the packet or frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;
use tandem_vrrp::wire::{Ipv4Packet, Ipv4Repr, Ipv6Packet, ah, parse_arp_frame, parse_na_frame};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let key = ah::key(b"secret");
    match which % 6 {
        0 => {
            if let Ok(p) = Ipv4Packet::new_checked(rest) {
                let _ = Ipv4Repr::parse(&p);
            }
        }
        1 => {
            let _ = Ipv6Packet::new_checked(rest);
        }
        2 => {
            let _ = parse_arp_frame(rest);
        }
        3 => {
            let _ = parse_na_frame(rest);
        }
        4 => {
            let _ = ah::open(rest, &key, which & 8 != 0);
        }
        _ => {
            // Sealed by tandem's own sender, the packet must open with the same key and give
            // back the message, whatever the message holds.
            let unicast = which & 8 != 0;
            let Ok(len) = u16::try_from(rest.len()) else { return };
            let src = Ipv4Addr::new(192, 0, 2, 1);
            let ip = Ipv4Repr::vrrp(src, Ipv4Addr::new(224, 0, 0, 18), 7, len);
            let Ok(packet) = ah::seal(&ip, 42, rest, &key, unicast) else { return };
            let opened =
                ah::open(&packet, &key, unicast).unwrap_or_else(|e| panic!("a sealed packet does not open: {e:?}"));
            assert_eq!((opened.src, opened.seq, opened.vrrp), (src, 42, rest));
        }
    }
});
