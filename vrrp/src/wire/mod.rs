//! Codecs, after smoltcp's split: a checked view over bytes (`*Packet<T: AsRef<[u8]>>` with
//! `new_checked` and field accessors) and a decoded form with parse / emit. For VRRP the
//! decoded form is [`crate::Advert`].
//!
//! - [`vrrp`]: the VRRPv2 (RFC 3768 section 5) and VRRPv3 (RFC 5798 / RFC 9568 section 5)
//!   message, [`parse`] / [`emit`], and the constant-time password compare;
//! - [`ah`]: VRRPv2 IPsec AH authentication as keepalived does it (the AH header, the
//!   HMAC-MD5-96 ICV, the sequence counter);
//! - [`checksum`]: the Internet checksum (RFC 1071) and the IPv4 / IPv6 pseudo-headers;
//! - [`ipv4`]: the IPv4 header a raw socket receives before the advert (RFC 791), and the one
//!   keepalived writes itself;
//! - [`ipv6`]: the IPv6 header (RFC 8200), for neighbour advertisement frames;
//! - [`ethernet`]: Ethernet II frames, MAC addresses;
//! - [`arp`]: gratuitous ARP frames (RFC 826);
//! - [`ndisc`]: unsolicited neighbour advertisement frames (RFC 4861 sections 4.4, 7.2.6).
//!
//! Every parser here is total: no input makes it panic (no unchecked indexing, no unwrap).
//! The byte vectors in `vrrp/tests/vectors/` were captured from keepalived 2.2.7, and the
//! tests check that parse and emit reproduce them byte for byte.

#![deny(clippy::indexing_slicing, clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::fmt;

pub mod ah;
pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod ipv4;
pub mod ipv6;
pub mod ndisc;
pub mod vrrp;

pub use arp::{ArpFrame, gratuitous_arp, parse_arp_frame};
pub use ethernet::{EthernetFrame, MacAddr};
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::Ipv6Packet;
pub use ndisc::{NeighbourAdvert, parse_na_frame, unsolicited_na};
pub use vrrp::{
    AuthMismatch, EmitError, EmitOptions, ParseError, ParseOptions, VrrpPacket, auth_matches, auth_mismatch, emit,
    emit_into, parse, simple_password, simple_password_eq,
};

/// Why a link-layer or IP header view (Ethernet, IPv4, IPv6, ARP, NA) refused its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than the header or message needs (or than a buffer to write needs).
    TooShort,
    /// An IP version other than the one expected (4 or 6).
    BadVersion(u8),
    /// IPv4 IHL below 5 words or beyond the buffer (RFC 791 section 3.1).
    BadHeaderLength,
    /// IPv4 total length / IPv6 payload length inconsistent with the buffer.
    BadLength,
    /// The frame carries another EtherType.
    WrongEthertype(u16),
    /// The packet carries another protocol (IPv6 next header, or ICMPv6 type).
    WrongProtocol(u8),
    /// A checksum does not verify.
    BadChecksum,
    /// A field holds a value the format does not allow.
    Malformed,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort => write!(f, "too short"),
            Self::BadVersion(v) => write!(f, "unexpected IP version {v}"),
            Self::BadHeaderLength => write!(f, "bad IPv4 header length"),
            Self::BadLength => write!(f, "length field inconsistent with the packet"),
            Self::WrongEthertype(t) => write!(f, "unexpected EtherType {t:#06x}"),
            Self::WrongProtocol(p) => write!(f, "unexpected protocol or message type {p}"),
            Self::BadChecksum => write!(f, "bad checksum"),
            Self::Malformed => write!(f, "malformed"),
        }
    }
}

impl std::error::Error for FrameError {}

/// The big-endian u16 at `at`, or 0 when the bytes are not there.
pub(crate) fn be16(buf: &[u8], at: usize) -> u16 {
    array::<2>(buf, at).map_or(0, u16::from_be_bytes)
}

/// The `N` bytes at `at`, when they are there.
pub(crate) fn array<const N: usize>(buf: &[u8], at: usize) -> Option<[u8; N]> {
    buf.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// Copies `bytes` into `buf` at `at`.
pub(crate) fn put(buf: &mut [u8], at: usize, bytes: &[u8]) -> Result<(), FrameError> {
    let end = at.checked_add(bytes.len()).ok_or(FrameError::TooShort)?;
    buf.get_mut(at..end).ok_or(FrameError::TooShort)?.copy_from_slice(bytes);
    Ok(())
}
