//! The VRRP message (the IP payload): VRRPv2 (RFC 3768 section 5) and VRRPv3 (RFC 5798 /
//! RFC 9568 section 5), a checked view over its bytes ([`VrrpPacket`]) and [`parse`] / [`emit`]
//! to and from the decoded [`Advert`].
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! v2: |   Auth Type   |   Adver Int   |          Checksum             |
//! v3: |(rsvd) |     Max Adver Int     |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 IPvX Address(es): 4 or 16 bytes each          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! v2 only: |             Authentication Data (8 bytes)                     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Checksums (RFC 1071 arithmetic, [`super::checksum`]):
//! - VRRPv2: over the VRRP message alone (RFC 3768 section 5.3.8);
//! - VRRPv3 over IPv4: over an IPv4 pseudo-header {source, destination, 0, 112, length} and the
//!   message (RFC 5798 section 5.2.8), the destination being the real one (the unicast peer in
//!   unicast mode). keepalived's `v3_checksum_as_v2` leaves the pseudo-header out
//!   ([`ParseOptions::v3_checksum_as_v2`], [`EmitOptions::v3_checksum_as_v2`]);
//! - VRRPv3 over IPv6: over the IPv6 pseudo-header (RFC 8200 section 8.1, next header 112) and
//!   the message; the kernel can compute it with `IPV6_CHECKSUM` at [`CHECKSUM_OFFSET`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{array, be16, checksum, put};
use crate::{Advert, Auth, Version};

/// IP protocol number of VRRP (RFC 3768 section 5.2.4, RFC 5798 section 5.1.1.4).
pub const PROTOCOL: u8 = 112;
/// The TTL / hop limit adverts are sent with, and that receivers require (RFC 3768 section
/// 5.2.3, RFC 5798 sections 5.1.1.3 and 5.1.2.3).
pub const TTL: u8 = 255;
/// The IPv4 TOS / IPv6 traffic class keepalived sends adverts with (CS6, network control).
pub const KEEPALIVED_TOS: u8 = 0xc0;
/// The IPv4 multicast group of VRRP, 224.0.0.18 (RFC 3768 section 5.2.2, RFC 5798 5.1.1.2).
pub const MULTICAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 multicast group of VRRP, ff02::12 (RFC 5798 section 5.1.2.2).
pub const MULTICAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// Length of the fixed VRRP header.
pub const HEADER_LEN: usize = 8;
/// Length of the VRRPv2 authentication data after the addresses (RFC 3768 section 5.3.10).
pub const AUTH_LEN: usize = 8;
/// Offset of the checksum in the message (for `IPV6_CHECKSUM`).
pub const CHECKSUM_OFFSET: usize = 6;
/// The only message type, ADVERTISEMENT (RFC 3768 section 5.3.2, RFC 5798 section 5.2.2).
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// Largest VRRPv3 Max Adver Int, 12 bits of centiseconds (RFC 5798 section 5.2.7).
pub const MAX_V3_INTERVAL_CS: u16 = 0x0fff;
/// VRRPv2 auth type 0, no authentication (RFC 2338 section 5.3.6.1).
pub const AUTH_TYPE_NONE: u8 = 0;
/// VRRPv2 auth type 1, simple text password (RFC 2338 section 5.3.6.2).
pub const AUTH_TYPE_SIMPLE: u8 = 1;
/// VRRPv2 auth type 2, IP authentication header (RFC 2338 section 5.3.6.3).
pub const AUTH_TYPE_AH: u8 = 2;

/// Options for [`parse`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// keepalived `v3_checksum_as_v2`: expect VRRPv3-over-IPv4 checksums taken over the message
    /// alone, without the IPv4 pseudo-header. No effect on VRRPv2 or IPv6.
    pub v3_checksum_as_v2: bool,
}

/// Options for [`emit`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmitOptions {
    /// keepalived `v3_checksum_as_v2`: take the VRRPv3-over-IPv4 checksum over the message
    /// alone, without the IPv4 pseudo-header. No effect on VRRPv2 or IPv6.
    pub v3_checksum_as_v2: bool,
}

/// Why [`parse`] refused a message: one variant per drop reason, so a receiver can count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than the 8-byte fixed header.
    TooShort {
        /// Length received.
        len: usize,
    },
    /// Version neither 2 nor 3 (RFC 3768 section 5.3.1, RFC 5798 section 5.2.1).
    BadVersion(u8),
    /// A version not defined for the address family: VRRPv2 over IPv6 (RFC 3768 is IPv4 only).
    VersionNotAllowed {
        /// The version received.
        version: u8,
    },
    /// Type other than 1, ADVERTISEMENT (RFC 3768 section 5.3.2, RFC 5798 section 5.2.2).
    BadType(u8),
    /// Length does not match the address count exactly: 8 + count * (4 or 16), plus 8 auth
    /// bytes for VRRPv2 (RFC 3768 section 7.1 / RFC 5798 section 7.1; keepalived checks it
    /// exactly).
    BadLength {
        /// The length the count implies.
        expected: usize,
        /// The length received.
        actual: usize,
    },
    /// The checksum does not verify (RFC 3768 section 7.1, RFC 5798 section 7.1).
    BadChecksum {
        /// The checksum computed over what was received.
        computed: u16,
        /// The checksum carried.
        carried: u16,
    },
    /// Source and destination addresses of different families.
    FamilyMismatch,
    /// VRRPv3 Max Adver Int of 0 (RFC 5798 section 5.2.7: 1 to 4095 centiseconds).
    ZeroInterval,
    /// VRRPv2 auth type other than 0, 1 or 2 (RFC 2338 section 5.3.6).
    BadAuthType(u8),
}

impl ParseError {
    /// A short, stable, `snake_case` name for the reason, suitable as a metric label.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "too_short",
            Self::BadVersion(_) => "bad_version",
            Self::VersionNotAllowed { .. } => "version_not_allowed",
            Self::BadType(_) => "bad_type",
            Self::BadLength { .. } => "bad_length",
            Self::BadChecksum { .. } => "bad_checksum",
            Self::FamilyMismatch => "family_mismatch",
            Self::ZeroInterval => "zero_interval",
            Self::BadAuthType(_) => "bad_auth_type",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { len } => write!(f, "VRRP message too short ({len} bytes)"),
            Self::BadVersion(v) => write!(f, "VRRP version {v} unknown"),
            Self::VersionNotAllowed { version } => {
                write!(f, "VRRP version {version} not allowed over IPv6")
            }
            Self::BadType(t) => write!(f, "VRRP type {t} is not ADVERTISEMENT"),
            Self::BadLength { expected, actual } => {
                write!(f, "VRRP length {actual} does not match the address count (expected {expected})")
            }
            Self::BadChecksum { computed, carried } => {
                write!(f, "VRRP checksum {carried:#06x} invalid (computed {computed:#06x})")
            }
            Self::FamilyMismatch => write!(f, "source and destination of different address families"),
            Self::ZeroInterval => write!(f, "VRRPv3 advert interval 0"),
            Self::BadAuthType(t) => write!(f, "VRRPv2 auth type {t} unknown"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Why [`emit`] could not encode an [`Advert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmitError {
    /// Source, destination and virtual addresses are not all of one family.
    FamilyMismatch,
    /// VRRPv2 with IPv6 addresses (RFC 3768 is IPv4 only).
    VersionNotAllowed,
    /// More than 255 addresses (the count is one byte).
    TooManyAddresses(usize),
    /// An interval the wire cannot carry: VRRPv2 needs whole seconds up to 255 (a multiple of
    /// 100 centiseconds), VRRPv3 needs 1 to 4095 centiseconds.
    BadInterval(u16),
    /// VRRPv3 has no authentication (RFC 5798 section 9): `auth` must be [`Auth::None`].
    AuthWithV3,
    /// The buffer given to [`emit_into`] is too small.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FamilyMismatch => write!(f, "addresses of different families"),
            Self::VersionNotAllowed => write!(f, "VRRPv2 cannot carry IPv6"),
            Self::TooManyAddresses(n) => write!(f, "{n} addresses, at most 255 fit"),
            Self::BadInterval(cs) => write!(f, "advert interval {cs} cs cannot be encoded"),
            Self::AuthWithV3 => write!(f, "VRRPv3 has no authentication"),
            Self::BufferTooSmall { needed } => write!(f, "buffer too small, {needed} bytes needed"),
        }
    }
}

impl std::error::Error for EmitError {}

/// A checked view over the bytes of a VRRP message (the IP payload).
///
/// [`VrrpPacket::new_checked`] only guarantees the fixed header is there; [`parse`] applies
/// every receive check of RFC 3768 / RFC 5798 section 7.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VrrpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VrrpPacket<T> {
    /// Wraps `buffer` without any check; accessors read 0 for bytes that are not there.
    pub fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps `buffer` after checking it holds at least the 8-byte fixed header.
    ///
    /// # Errors
    /// [`ParseError::TooShort`].
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let len = buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(ParseError::TooShort { len });
        }
        Ok(Self { buffer })
    }

    /// Gives the underlying buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn byte(&self, at: usize) -> u8 {
        self.b().get(at).copied().unwrap_or(0)
    }

    /// Version, the high nibble of byte 0 (RFC 3768 section 5.3.1, RFC 5798 section 5.2.1).
    pub fn version(&self) -> u8 {
        self.byte(0) >> 4
    }

    /// Type, the low nibble of byte 0 (1 = ADVERTISEMENT).
    pub fn msg_type(&self) -> u8 {
        self.byte(0) & 0x0f
    }

    /// Virtual router id (RFC 3768 section 5.3.3, RFC 5798 section 5.2.3).
    pub fn vrid(&self) -> u8 {
        self.byte(1)
    }

    /// Priority (RFC 3768 section 5.3.4, RFC 5798 section 5.2.4).
    pub fn priority(&self) -> u8 {
        self.byte(2)
    }

    /// Count of addresses (RFC 3768 section 5.3.5, RFC 5798 section 5.2.5).
    pub fn count(&self) -> u8 {
        self.byte(3)
    }

    /// VRRPv2 auth type, byte 4 (RFC 3768 section 5.3.6).
    pub fn auth_type(&self) -> u8 {
        self.byte(4)
    }

    /// VRRPv2 advertisement interval in whole seconds, byte 5 (RFC 3768 section 5.3.7).
    pub fn adver_int_secs(&self) -> u8 {
        self.byte(5)
    }

    /// VRRPv3 reserved nibble (RFC 5798 section 5.2.6: sent as 0, ignored on receive).
    pub fn v3_reserved(&self) -> u8 {
        self.byte(4) >> 4
    }

    /// VRRPv3 Max Adver Int in centiseconds, the low 12 bits of bytes 4-5 (RFC 5798
    /// section 5.2.7).
    pub fn max_adver_int_cs(&self) -> u16 {
        be16(self.b(), 4) & MAX_V3_INTERVAL_CS
    }

    /// Checksum as carried (RFC 3768 section 5.3.8, RFC 5798 section 5.2.8).
    pub fn checksum(&self) -> u16 {
        be16(self.b(), CHECKSUM_OFFSET)
    }

    /// The address bytes for `count()` addresses of `addr_len` bytes each, when present.
    pub fn address_bytes(&self, addr_len: usize) -> Option<&[u8]> {
        let end = HEADER_LEN.checked_add(usize::from(self.count()).checked_mul(addr_len)?)?;
        self.b().get(HEADER_LEN..end)
    }

    /// The VRRPv2 authentication data that follows `count()` IPv4 addresses, when present
    /// (RFC 3768 section 5.3.10).
    pub fn auth_data(&self) -> Option<[u8; AUTH_LEN]> {
        array::<AUTH_LEN>(self.b(), HEADER_LEN + usize::from(self.count()) * 4)
    }

    /// The whole buffer.
    pub fn as_bytes(&self) -> &[u8] {
        self.b()
    }
}

/// The length of the VRRP message that carries `count` addresses: 8 + count * 4 + 8 for
/// VRRPv2, 8 + count * 4 for VRRPv3 over IPv4, 8 + count * 16 for VRRPv3 over IPv6.
#[must_use]
pub fn message_len(version: Version, ipv6: bool, count: usize) -> usize {
    let addr_len = if ipv6 { 16 } else { 4 };
    let auth = if version == Version::V2 { AUTH_LEN } else { 0 };
    HEADER_LEN.saturating_add(count.saturating_mul(addr_len)).saturating_add(auth)
}

/// The one's complement accumulator of the pseudo-header that prefixes the message for the
/// checksum, or 0 when there is none (VRRPv2, or `v3_checksum_as_v2`).
fn pseudo_header(version: Version, src: IpAddr, dst: IpAddr, len: usize, v3_as_v2: bool) -> u32 {
    match (version, src, dst) {
        (Version::V3, IpAddr::V4(s), IpAddr::V4(d)) if !v3_as_v2 => {
            checksum::pseudo_header_v4(s, d, PROTOCOL, u16::try_from(len).unwrap_or(u16::MAX))
        }
        (Version::V3, IpAddr::V6(s), IpAddr::V6(d)) => {
            checksum::pseudo_header_v6(s, d, PROTOCOL, u32::try_from(len).unwrap_or(u32::MAX))
        }
        _ => 0,
    }
}

/// The checksum of `message` (its checksum field counts as zero) for the given version,
/// endpoints and options: see the [module documentation](self).
#[must_use]
pub fn compute_checksum(message: &[u8], version: Version, src: IpAddr, dst: IpAddr, v3_checksum_as_v2: bool) -> u16 {
    let mut acc = pseudo_header(version, src, dst, message.len(), v3_checksum_as_v2);
    acc = checksum::sum(acc, message.get(..CHECKSUM_OFFSET).unwrap_or(message));
    acc = checksum::sum(acc, message.get(CHECKSUM_OFFSET + 2..).unwrap_or(&[]));
    checksum::fold(acc)
}

/// Decodes a VRRP message received from `src` for `dst` (the destination address of the IP
/// packet: the multicast group, or this host's address when unicasting), applying the
/// receive checks of RFC 3768 section 7.1 and RFC 5798 section 7.1 that need no instance
/// state, in this order: families of `src` and `dst`, fixed header present, version, version
/// allowed for the family, type, exact length, checksum, VRRPv3 interval not 0, VRRPv2 auth
/// type known.
///
/// Left to the instance: TTL / hop limit 255 (read from the IP header or ancillary data),
/// VRID match, auth match ([`auth_matches`]), VRRPv2 interval match, address list compare. A
/// count of 0 is accepted. The VRRPv3 reserved nibble is ignored. A VRRPv2 auth type 0 advert
/// decodes as [`Auth::None`] whatever its auth bytes hold; type 2 decodes as [`Auth::Ah`].
///
/// # Errors
/// One [`ParseError`] variant per failed check. Never panics, whatever the input.
pub fn parse(bytes: &[u8], src: IpAddr, dst: IpAddr, opts: &ParseOptions) -> Result<Advert, ParseError> {
    let ipv6 = match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => false,
        (IpAddr::V6(_), IpAddr::V6(_)) => true,
        _ => return Err(ParseError::FamilyMismatch),
    };
    let packet = VrrpPacket::new_checked(bytes)?;
    let version = match packet.version() {
        2 => Version::V2,
        3 => Version::V3,
        v => return Err(ParseError::BadVersion(v)),
    };
    if version == Version::V2 && ipv6 {
        return Err(ParseError::VersionNotAllowed { version: 2 });
    }
    if packet.msg_type() != TYPE_ADVERTISEMENT {
        return Err(ParseError::BadType(packet.msg_type()));
    }
    let count = usize::from(packet.count());
    let expected = message_len(version, ipv6, count);
    if bytes.len() != expected {
        return Err(ParseError::BadLength { expected, actual: bytes.len() });
    }
    let computed = compute_checksum(bytes, version, src, dst, opts.v3_checksum_as_v2);
    if computed != packet.checksum() {
        return Err(ParseError::BadChecksum { computed, carried: packet.checksum() });
    }
    let (interval_cs, auth) = match version {
        Version::V2 => {
            let auth = match packet.auth_type() {
                AUTH_TYPE_NONE => Auth::None,
                AUTH_TYPE_SIMPLE => Auth::Simple(packet.auth_data().unwrap_or_default()),
                AUTH_TYPE_AH => Auth::Ah,
                t => return Err(ParseError::BadAuthType(t)),
            };
            (u16::from(packet.adver_int_secs()) * 100, auth)
        }
        Version::V3 => {
            let cs = packet.max_adver_int_cs();
            if cs == 0 {
                return Err(ParseError::ZeroInterval);
            }
            (cs, Auth::None)
        }
    };
    let addr_len = if ipv6 { 16 } else { 4 };
    let raw = packet.address_bytes(addr_len).unwrap_or(&[]);
    let addresses = raw
        .chunks_exact(addr_len)
        .filter_map(|c| {
            if ipv6 {
                array::<16>(c, 0).map(|a| IpAddr::V6(Ipv6Addr::from(a)))
            } else {
                array::<4>(c, 0).map(|a| IpAddr::V4(Ipv4Addr::from(a)))
            }
        })
        .collect();
    Ok(Advert { version, vrid: packet.vrid(), priority: packet.priority(), interval_cs, auth, addresses })
}

/// Checks that `advert` can be sent from `src` to `dst`; returns whether it is IPv6.
fn check_emit(advert: &Advert, src: IpAddr, dst: IpAddr) -> Result<bool, EmitError> {
    let ipv6 = match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => false,
        (IpAddr::V6(_), IpAddr::V6(_)) => true,
        _ => return Err(EmitError::FamilyMismatch),
    };
    if advert.addresses.iter().any(|a| a.is_ipv6() != ipv6) {
        return Err(EmitError::FamilyMismatch);
    }
    if advert.addresses.len() > usize::from(u8::MAX) {
        return Err(EmitError::TooManyAddresses(advert.addresses.len()));
    }
    match advert.version {
        Version::V2 => {
            if ipv6 {
                return Err(EmitError::VersionNotAllowed);
            }
            if advert.interval_cs % 100 != 0 || advert.interval_cs / 100 > u16::from(u8::MAX) {
                return Err(EmitError::BadInterval(advert.interval_cs));
            }
        }
        Version::V3 => {
            if advert.interval_cs == 0 || advert.interval_cs > MAX_V3_INTERVAL_CS {
                return Err(EmitError::BadInterval(advert.interval_cs));
            }
            if advert.auth != Auth::None {
                return Err(EmitError::AuthWithV3);
            }
        }
    }
    Ok(ipv6)
}

/// The length [`emit`] produces for `advert` (whatever its validity).
#[must_use]
pub fn emitted_len(advert: &Advert) -> usize {
    let ipv6 = advert.addresses.first().is_some_and(IpAddr::is_ipv6);
    message_len(advert.version, ipv6, advert.addresses.len())
}

/// Encodes `advert` as sent from `src` to `dst` (the real destination: the multicast group,
/// or the unicast peer) into the start of `buf`; returns the length written.
///
/// VRRPv2 (RFC 3768 section 5): interval in whole seconds, auth type and 8 auth bytes (zero
/// without a password). VRRPv3 (RFC 5798 section 5): reserved nibble 0, 12-bit interval in
/// centiseconds, no auth bytes. The checksum as described in the [module documentation](self).
///
/// # Errors
/// [`EmitError`] when the advert cannot be put on the wire as asked, or `buf` is too small.
pub fn emit_into(
    advert: &Advert,
    src: IpAddr,
    dst: IpAddr,
    opts: &EmitOptions,
    buf: &mut [u8],
) -> Result<usize, EmitError> {
    let ipv6 = check_emit(advert, src, dst)?;
    let count = advert.addresses.len();
    let len = message_len(advert.version, ipv6, count);
    let msg = buf.get_mut(..len).ok_or(EmitError::BufferTooSmall { needed: len })?;
    let too_small = |_| EmitError::BufferTooSmall { needed: len };
    let count_byte = u8::try_from(count).map_err(|_| EmitError::TooManyAddresses(count))?;
    let (version_nibble, word) = match advert.version {
        Version::V2 => {
            let auth_type = match advert.auth {
                Auth::None => AUTH_TYPE_NONE,
                Auth::Simple(_) => AUTH_TYPE_SIMPLE,
                Auth::Ah => AUTH_TYPE_AH,
            };
            let secs =
                u8::try_from(advert.interval_cs / 100).map_err(|_| EmitError::BadInterval(advert.interval_cs))?;
            (2u8, [auth_type, secs])
        }
        Version::V3 => (3u8, (advert.interval_cs & MAX_V3_INTERVAL_CS).to_be_bytes()),
    };
    let [w0, w1] = word;
    put(msg, 0, &[version_nibble << 4 | TYPE_ADVERTISEMENT, advert.vrid, advert.priority, count_byte, w0, w1, 0, 0])
        .map_err(too_small)?;
    let mut at = HEADER_LEN;
    for addr in &advert.addresses {
        match addr {
            IpAddr::V4(a) => {
                put(msg, at, &a.octets()).map_err(too_small)?;
                at += 4;
            }
            IpAddr::V6(a) => {
                put(msg, at, &a.octets()).map_err(too_small)?;
                at += 16;
            }
        }
    }
    if advert.version == Version::V2 {
        let data = match advert.auth {
            Auth::Simple(p) => p,
            Auth::None | Auth::Ah => [0; AUTH_LEN],
        };
        put(msg, at, &data).map_err(too_small)?;
    }
    let sum = compute_checksum(msg, advert.version, src, dst, opts.v3_checksum_as_v2);
    put(msg, CHECKSUM_OFFSET, &sum.to_be_bytes()).map_err(too_small)?;
    Ok(len)
}

/// Encodes `advert` as sent from `src` to `dst`: see [`emit_into`].
///
/// # Errors
/// [`EmitError`] when the advert cannot be put on the wire as asked.
pub fn emit(advert: &Advert, src: IpAddr, dst: IpAddr, opts: &EmitOptions) -> Result<Vec<u8>, EmitError> {
    let mut buf = vec![0u8; emitted_len(advert)];
    let len = emit_into(advert, src, dst, opts, &mut buf)?;
    buf.truncate(len);
    Ok(buf)
}

/// The 8 auth bytes keepalived derives from an `auth_pass`: the first 8 bytes, zero padded
/// (RFC 2338 section 5.3.6.2: "up to 8 characters of plain text").
#[must_use]
pub fn simple_password(pass: &[u8]) -> [u8; AUTH_LEN] {
    let mut out = [0u8; AUTH_LEN];
    for (o, p) in out.iter_mut().zip(pass) {
        *o = *p;
    }
    out
}

/// Compares two VRRPv2 simple passwords in time independent of where they differ, so a
/// sender cannot guess the password byte by byte from response timing.
#[must_use]
pub fn simple_password_eq(a: &[u8; AUTH_LEN], b: &[u8; AUTH_LEN]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Whether a received advert's auth satisfies the configured one (RFC 3768 section 7.1 /
/// RFC 2338 section 7.1): none matches none, a simple password matches the same password
/// ([`simple_password_eq`], constant time), AH matches AH: the advert's AH header (its ICV,
/// SPI and sequence number, [`super::ah`]) is verified before the VRRP message is parsed.
#[must_use]
pub fn auth_matches(configured: &Auth, received: &Auth) -> bool {
    match (configured, received) {
        (Auth::None, Auth::None) => true,
        (Auth::Simple(a), Auth::Simple(b)) => simple_password_eq(a, b),
        (Auth::Ah, Auth::Ah) => true,
        _ => false,
    }
}

/// Why a received VRRPv2 advert's authentication does not satisfy the configured one, in
/// keepalived's two counters (keepalived/vrrp/vrrp.c, vrrp_check_packet): another auth type
/// than the configured one (RFC 3768 section 7.1 / RFC 2338 section 7.1: "MUST perform
/// authentication specified by Auth Type"), or the right type with another password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMismatch {
    /// The advert carries another auth type (keepalived's `authtype_mismatch`).
    Type,
    /// The same type, another password (keepalived's `auth_failure`).
    Failure,
}

impl AuthMismatch {
    /// The drop reason's `snake_case` name: `auth_type_mismatch` or `auth`.
    #[must_use]
    pub fn reason(self) -> &'static str {
        match self {
            Self::Type => "auth_type_mismatch",
            Self::Failure => "auth",
        }
    }
}

/// [`auth_matches`], saying why not: `None` when `received` satisfies `configured`.
#[must_use]
pub fn auth_mismatch(configured: &Auth, received: &Auth) -> Option<AuthMismatch> {
    if auth_matches(configured, received) {
        return None;
    }
    let same_type = matches!(
        (configured, received),
        (Auth::None, Auth::None) | (Auth::Simple(_), Auth::Simple(_)) | (Auth::Ah, Auth::Ah)
    );
    Some(if same_type { AuthMismatch::Failure } else { AuthMismatch::Type })
}

/// The VRID a received VRRP packet is for, read before any check (keepalived's
/// vrrp_scheduler.c reads it first too, to find the instance): the second byte of the VRRP
/// message, found behind the AH header when `ah` (IPsec AH around VRRP). `None` when the
/// packet is too short to carry one, or is AH around another protocol. Only the VRID is
/// read: the instance it names checks the rest (length, checksum, version, authentication).
#[must_use]
pub fn vrid_of(payload: &[u8], ah: bool) -> Option<u8> {
    let message = if ah {
        let a = super::ah::AhPacket::new_checked(payload).ok()?;
        if a.next_header() != PROTOCOL {
            return None;
        }
        payload.get(super::ah::HEADER_LEN..)?
    } else {
        payload
    };
    message.get(1).copied()
}

#[cfg(test)]
mod vrid_of_tests {
    use super::vrid_of;

    #[test]
    fn reads_the_vrid_plain_and_behind_ah() {
        assert_eq!(vrid_of(&[0x21, 51, 100, 1], false), Some(51));
        assert_eq!(vrid_of(&[0x21], false), None);
        let mut ah = vec![112u8, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 7];
        ah.extend_from_slice(&[0; 12]);
        ah.extend_from_slice(&[0x21, 9, 100, 1]);
        assert_eq!(vrid_of(&ah, true), Some(9));
        assert_eq!(vrid_of(ah.get(..20).unwrap_or_default(), true), None);
        let mut tcp = ah.clone();
        tcp.splice(..1, [6u8]); // AH around TCP: no advert
        assert_eq!(vrid_of(&tcp, true), None);
    }
}
