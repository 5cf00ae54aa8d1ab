//! The Internet checksum (RFC 1071) and the IPv4 / IPv6 pseudo-headers it is taken over.
//!
//! The sum is the 16-bit one's complement of the one's complement sum of the data taken as
//! big-endian 16-bit words (RFC 1071 section 1), an odd trailing byte being padded with a zero.
//! A field that holds the checksum is zeroed while summing; on receive, summing the data with
//! the checksum in place gives `0xffff` (a result of [`fold`] equal to 0) when it is intact.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Adds `data` to the running 32-bit one's complement accumulator `acc` (RFC 1071 section 4.1).
///
/// Only the last chunk of a message may have an odd length: an odd byte is summed as the high
/// byte of a word whose low byte is zero. The accumulator cannot overflow for inputs up to
/// 128 KiB per call, far more than any packet here.
#[must_use]
pub fn sum(acc: u32, data: &[u8]) -> u32 {
    let mut acc = acc;
    let mut words = data.chunks_exact(2);
    for w in words.by_ref() {
        if let [hi, lo] = w {
            acc = acc.wrapping_add(u32::from(u16::from_be_bytes([*hi, *lo])));
        }
    }
    if let [last] = words.remainder() {
        acc = acc.wrapping_add(u32::from(*last) << 8);
    }
    acc
}

/// Folds the carries of a 32-bit accumulator into 16 bits and complements the result
/// (RFC 1071 section 4.1): the value to put in a checksum field.
#[must_use]
pub fn fold(acc: u32) -> u16 {
    let mut acc = acc;
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    // acc <= 0xffff here, so the cast keeps every bit.
    !(acc as u16)
}

/// The Internet checksum of `data` alone (RFC 1071): what VRRPv2 carries (RFC 3768
/// section 5.3.8) and what the IPv4 header carries (RFC 791).
#[must_use]
pub fn checksum(data: &[u8]) -> u16 {
    fold(sum(0, data))
}

/// The accumulator for an IPv4 pseudo-header {source, destination, zero, protocol, length}
/// (RFC 768 / RFC 793 section 3.1), as VRRPv3 over IPv4 uses it (RFC 5798 section 5.2.8).
#[must_use]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u32 {
    let mut acc = sum(0, &src.octets());
    acc = sum(acc, &dst.octets());
    acc = acc.wrapping_add(u32::from(protocol));
    acc.wrapping_add(u32::from(length))
}

/// The accumulator for an IPv6 pseudo-header {source, destination, 32-bit upper-layer length,
/// three zero bytes, next header} (RFC 8200 section 8.1), used by ICMPv6 (RFC 4443 section 2.3)
/// and by VRRPv3 over IPv6 (RFC 5798 section 5.2.8).
#[must_use]
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, length: u32) -> u32 {
    let mut acc = sum(0, &src.octets());
    acc = sum(acc, &dst.octets());
    acc = sum(acc, &length.to_be_bytes());
    acc.wrapping_add(u32::from(next_header))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (one's complement).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(0, &data)), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(checksum(&[0x12]), checksum(&[0x12, 0x00]));
    }
}
