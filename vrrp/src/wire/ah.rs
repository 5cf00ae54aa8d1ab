//! VRRPv2 IPsec AH authentication as keepalived implements it (`auth_type AH`; RFC 2338
//! section 5.3.6.3, RFC 2402, HMAC-MD5-96 of RFC 2403), over IPv4 only:
//!
//! ```text
//! IPv4 header (protocol 51) | AH header (24 bytes) | VRRPv2 message (auth type 2)
//!
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Header 112 | Payload Len 4 |          Reserved 0         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        Security Parameters Index = sender's IPv4 address      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Sequence Number                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            ICV: HMAC-MD5 truncated to 96 bits (12 bytes)      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The ICV (keepalived vrrp.c, vrrp_update_pkt / vrrp_in_chk_ipsecah) is
//! `HMAC-MD5(key, IP header | AH header | VRRP message)` truncated to 12 bytes, with the IP
//! header's TOS, flags/fragment offset and checksum zeroed (and its TTL too in unicast mode)
//! and the AH's ICV zeroed. The key is the `auth_pass` cut or zero-padded to 8 bytes. The IP
//! identification is covered, so a sender writes the IP header itself (`IP_HDRINCL`) with a
//! non-zero id, which the kernel keeps (it fills in a zero one). The VRRP message inside has
//! auth type 2 and zero auth data.
//!
//! keepalived's sequence number (one counter per instance, for what it sends and what it
//! receives) is [`SeqCounter`].

use hmac::{Hmac, Mac};
use md5::Md5;
use std::fmt;
use std::net::Ipv4Addr;

use super::ipv4::{Ipv4Packet, Ipv4Repr, MIN_HEADER_LEN};
use super::{FrameError, array, put};

/// IP protocol number of AH (RFC 2402).
pub const PROTOCOL: u8 = 51;
/// The AH header's length with a 96-bit ICV.
pub const HEADER_LEN: usize = 24;
/// The ICV's length: HMAC-MD5 truncated to 96 bits (RFC 2403).
pub const ICV_LEN: usize = 12;
/// The payload length field: the AH length in 32-bit words minus 2 (RFC 2402 section 2.2).
pub const PAYLOAD_LEN: u8 = 4;
/// The key: the `auth_pass`, cut or zero-padded to 8 bytes (keepalived's `auth_data`).
pub type Key = [u8; 8];

const ICV_OFFSET: usize = 12;

/// The key keepalived derives from an `auth_pass`: its first 8 bytes, zero padded.
#[must_use]
pub fn key(pass: &[u8]) -> Key {
    super::vrrp::simple_password(pass)
}

/// Why an AH-protected advert was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AhError {
    /// The IP packet does not parse, is not protocol 51, or is too short for the AH header.
    Malformed,
    /// The AH protects another protocol than VRRP (keepalived ignores such packets).
    NextHeader(u8),
    /// The ICV does not verify: another password, or a field changed on the way.
    Icv,
    /// The SPI is not the sender's address.
    Spi {
        /// The SPI carried.
        spi: u32,
        /// The IP source address.
        src: Ipv4Addr,
    },
}

impl AhError {
    /// The drop reason counted in status (`counters.dropped.<reason>`).
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed => "ah_malformed",
            Self::NextHeader(_) => "ah_next_header",
            Self::Icv => "ah_icv",
            Self::Spi { .. } => "ah_spi",
        }
    }
}

impl fmt::Display for AhError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed => f.write_str("not a whole IPv4 AH packet"),
            Self::NextHeader(n) => write!(f, "AH protects protocol {n}, not VRRP"),
            Self::Icv => f.write_str("IPsec-AH HMAC-MD5 does not verify (another auth_pass, or fields changed)"),
            Self::Spi { spi, src } => write!(f, "IPsec-AH SPI {spi:#010x} is not the source address {src}"),
        }
    }
}

impl std::error::Error for AhError {}

/// A checked view over an AH header and what follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AhPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> AhPacket<T> {
    /// Wraps `buffer` after checking it holds the 24-byte header (keepalived reads the
    /// fixed 96-bit-ICV layout whatever the payload length field says, and so does this).
    ///
    /// # Errors
    /// [`FrameError::TooShort`].
    pub fn new_checked(buffer: T) -> Result<Self, FrameError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(FrameError::TooShort);
        }
        Ok(Self { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Next header (112 for VRRP).
    pub fn next_header(&self) -> u8 {
        self.b().first().copied().unwrap_or(0)
    }

    /// Payload length field (4 for a 96-bit ICV).
    pub fn payload_len(&self) -> u8 {
        self.b().get(1).copied().unwrap_or(0)
    }

    /// Security parameters index, as the big-endian number on the wire.
    pub fn spi(&self) -> u32 {
        array::<4>(self.b(), 4).map_or(0, u32::from_be_bytes)
    }

    /// Sequence number.
    pub fn seq(&self) -> u32 {
        array::<4>(self.b(), 8).map_or(0, u32::from_be_bytes)
    }

    /// The ICV carried.
    pub fn icv(&self) -> [u8; ICV_LEN] {
        array::<ICV_LEN>(self.b(), ICV_OFFSET).unwrap_or_default()
    }

    /// What the AH protects: the VRRP message.
    pub fn payload(&self) -> &[u8] {
        self.b().get(HEADER_LEN..).unwrap_or(&[])
    }
}

/// The fields of an AH header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AhRepr {
    /// Next header (112).
    pub next_header: u8,
    /// SPI: keepalived's is the sender's IPv4 address.
    pub spi: u32,
    /// Sequence number.
    pub seq: u32,
    /// ICV (zero while it is computed).
    pub icv: [u8; ICV_LEN],
}

impl AhRepr {
    /// Reads the fields of a checked header.
    pub fn parse<T: AsRef<[u8]>>(p: &AhPacket<T>) -> Self {
        Self { next_header: p.next_header(), spi: p.spi(), seq: p.seq(), icv: p.icv() }
    }

    /// Writes the 24-byte header into the start of `buf`.
    ///
    /// # Errors
    /// [`FrameError::TooShort`] when `buf` is shorter than 24 bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), FrameError> {
        put(buf, 0, &[self.next_header, PAYLOAD_LEN, 0, 0])?;
        put(buf, 4, &self.spi.to_be_bytes())?;
        put(buf, 8, &self.seq.to_be_bytes())?;
        put(buf, ICV_OFFSET, &self.icv)
    }
}

/// The ICV of an IPv4 packet carrying AH: HMAC-MD5 over the IP header (`ip_header`, options
/// included) with TOS, flags/fragment offset and checksum zeroed, and TTL zeroed when
/// `unicast`, then `ah_and_payload` with its ICV zeroed; truncated to 96 bits.
#[must_use]
pub fn icv(key: &Key, ip_header: &[u8], ah_and_payload: &[u8], unicast: bool) -> [u8; ICV_LEN] {
    let mut ip = ip_header.to_vec();
    let mut zero = |at: usize| {
        if let Some(b) = ip.get_mut(at) {
            *b = 0;
        }
    };
    for at in [1, 6, 7, 10, 11] {
        zero(at);
    }
    if unicast {
        zero(8);
    }
    let mut ah = ah_and_payload.get(..HEADER_LEN.min(ah_and_payload.len())).unwrap_or(&[]).to_vec();
    for b in ah.iter_mut().skip(ICV_OFFSET) {
        *b = 0;
    }
    let Ok(mut mac) = Hmac::<Md5>::new_from_slice(key) else { return [0; ICV_LEN] };
    mac.update(&ip);
    mac.update(&ah);
    mac.update(ah_and_payload.get(HEADER_LEN..).unwrap_or(&[]));
    let digest = mac.finalize().into_bytes();
    array::<ICV_LEN>(&digest, 0).unwrap_or_default()
}

/// Compares two ICVs in time independent of where they differ.
#[must_use]
pub fn icv_eq(a: &[u8; ICV_LEN], b: &[u8; ICV_LEN]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Builds the whole IPv4 packet of an AH-protected advert, as keepalived sends it: `ip`'s
/// header (its protocol is set to 51 and its payload length to AH + `vrrp`; keepalived
/// writes TOS 0xc0, DF clear, TTL 255 or `unicast_ttl`, and a non-zero id), the AH header
/// with SPI = `ip.src` and `seq`, and the VRRP message `vrrp`; the ICV over it all.
///
/// # Errors
/// [`FrameError::BadLength`] when it does not fit an IPv4 packet.
pub fn seal(ip: &Ipv4Repr, seq: u32, vrrp: &[u8], key: &Key, unicast: bool) -> Result<Vec<u8>, FrameError> {
    let payload_len = HEADER_LEN.checked_add(vrrp.len()).ok_or(FrameError::BadLength)?;
    let ip = Ipv4Repr {
        protocol: PROTOCOL,
        payload_len: u16::try_from(payload_len).map_err(|_| FrameError::BadLength)?,
        ..*ip
    };
    let mut buf = vec![0u8; MIN_HEADER_LEN + payload_len];
    ip.emit(&mut buf)?;
    let ah = AhRepr { next_header: super::vrrp::PROTOCOL, spi: u32::from(ip.src), seq, icv: [0; ICV_LEN] };
    ah.emit(buf.get_mut(MIN_HEADER_LEN..).ok_or(FrameError::TooShort)?)?;
    put(&mut buf, MIN_HEADER_LEN + HEADER_LEN, vrrp)?;
    let (header, rest) = buf.split_at(MIN_HEADER_LEN);
    let sum = icv(key, header, rest, unicast);
    put(&mut buf, MIN_HEADER_LEN + ICV_OFFSET, &sum)?;
    Ok(buf)
}

/// What [`open`] found in a verified packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened<'a> {
    /// The sender.
    pub src: Ipv4Addr,
    /// The sequence number (the caller checks it against its [`SeqCounter`]).
    pub seq: u32,
    /// The VRRP message.
    pub vrrp: &'a [u8],
}

/// Verifies an AH-protected advert (the whole IPv4 packet, as a raw socket receives it),
/// as keepalived's vrrp_in_chk_ipsecah: next header 112, the ICV (constant-time compare),
/// then SPI = source address. The sequence number is left to the caller.
///
/// # Errors
/// [`AhError`]; never panics, whatever the input.
pub fn open<'a>(packet: &'a [u8], key: &Key, unicast: bool) -> Result<Opened<'a>, AhError> {
    let ip = Ipv4Packet::new_checked(packet).map_err(|_| AhError::Malformed)?;
    let header = packet.get(..ip.header_len()).ok_or(AhError::Malformed)?;
    let rest = packet.get(ip.header_len()..usize::from(ip.total_len())).ok_or(AhError::Malformed)?;
    open_parts(header, rest, key, unicast)
}

/// [`open`] for a packet in two parts, as a raw socket's reader keeps it: the IPv4 header
/// (options included) and its payload (AH header and VRRP message).
///
/// # Errors
/// [`AhError`]; never panics, whatever the input.
pub fn open_parts<'a>(header: &[u8], rest: &'a [u8], key: &Key, unicast: bool) -> Result<Opened<'a>, AhError> {
    let proto = header.get(9).copied().ok_or(AhError::Malformed)?;
    if proto != PROTOCOL || header.len() < MIN_HEADER_LEN {
        return Err(AhError::Malformed);
    }
    let ah = AhPacket::new_checked(rest).map_err(|_| AhError::Malformed)?;
    if ah.next_header() != super::vrrp::PROTOCOL {
        return Err(AhError::NextHeader(ah.next_header()));
    }
    if !icv_eq(&icv(key, header, rest, unicast), &ah.icv()) {
        return Err(AhError::Icv);
    }
    let src = Ipv4Addr::from(array::<4>(header, 12).ok_or(AhError::Malformed)?);
    if ah.spi() != u32::from(src) {
        return Err(AhError::Spi { spi: ah.spi(), src });
    }
    Ok(Opened { src, seq: ah.seq(), vrrp: rest.get(HEADER_LEN..).unwrap_or(&[]) })
}

/// keepalived's AH sequence number (`seq_counter_t`): one counter per instance, which both
/// numbers what it sends and guards what it receives, so that a backup that becomes master
/// goes on from the last number it heard (which is why keepalived refuses `state MASTER`
/// with AH: it must hear one first).
///
/// - sending: the counter goes up by one, and the advert carries it (the first is 1); past
///   0xFFFFFFFD it stops and is marked cycled;
/// - receiving: a number above the counter is taken and becomes the counter; any other is a
///   replay and is dropped;
/// - a master that hears a lower priority takes its number + 1 (`vrrp_state_master_rx`);
/// - becoming master with a cycled counter starts again from 0 (`vrrp_state_goto_master`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqCounter {
    seq: u32,
    cycled: bool,
}

impl SeqCounter {
    /// A counter at 0.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The counter's value.
    #[must_use]
    pub fn value(&self) -> u32 {
        self.seq
    }

    /// Whether it reached its end (0xFFFFFFFE).
    #[must_use]
    pub fn cycled(&self) -> bool {
        self.cycled
    }

    /// The number of the next advert sent.
    pub fn next_send(&mut self) -> u32 {
        if self.seq > 0xFFFF_FFFD {
            self.cycled = true;
        } else {
            self.seq += 1;
        }
        self.seq
    }

    /// Whether a received number is new (it then becomes the counter); false for a replay.
    /// An accepted advert clears the cycled mark (keepalived clears it on a backup's accept
    /// and on a master's hearing a higher or lower priority).
    pub fn accept(&mut self, seq: u32) -> bool {
        if seq > self.seq {
            self.seq = seq;
            self.cycled = false;
            true
        } else {
            false
        }
    }

    /// A master heard a lower priority advert (just accepted): it goes on from its number + 1.
    pub fn lower_priority_heard(&mut self) {
        self.seq = self.seq.saturating_add(1);
        self.cycled = false;
    }

    /// The instance becomes master: a cycled counter starts again from 0.
    pub fn becoming_master(&mut self) {
        if self.cycled {
            self.cycled = false;
            self.seq = 0;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// keepalived 2.2.7, `auth_type AH`, `auth_pass s3cret`, VRID 51, priority 100, VIP
    /// 192.0.2.100, from 192.0.2.1 to 224.0.0.18: its first advert (tcpdump -x).
    const KA_MULTICAST_SEQ1: [u8; 64] = [
        0x45, 0xc0, 0x00, 0x40, 0x00, 0x01, 0x00, 0x00, 0xff, 0x33, 0x18, 0xb6, 0xc0, 0x00, 0x02, 0x01, //
        0xe0, 0x00, 0x00, 0x12, 0x70, 0x04, 0x00, 0x00, 0xc0, 0x00, 0x02, 0x01, 0x00, 0x00, 0x00, 0x01, //
        0xf1, 0x47, 0x70, 0x22, 0x1e, 0x1c, 0xd8, 0x40, 0x2b, 0x9e, 0xa5, 0x25, 0x21, 0x33, 0x64, 0x01, //
        0x02, 0x01, 0xb6, 0x65, 0xc0, 0x00, 0x02, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    /// The same instance unicasting from 192.0.2.1 to 192.0.2.2 (TTL left out of the ICV).
    const KA_UNICAST_SEQ1: [u8; 64] = [
        0x45, 0xc0, 0x00, 0x40, 0x00, 0x01, 0x00, 0x00, 0xff, 0x33, 0x36, 0xc6, 0xc0, 0x00, 0x02, 0x01, //
        0xc0, 0x00, 0x02, 0x02, 0x70, 0x04, 0x00, 0x00, 0xc0, 0x00, 0x02, 0x01, 0x00, 0x00, 0x00, 0x01, //
        0xd7, 0xed, 0x8e, 0x18, 0xfc, 0x75, 0x5b, 0xbe, 0xa3, 0x0a, 0xc8, 0x5a, 0x21, 0x33, 0x64, 0x01, //
        0x02, 0x01, 0xb6, 0x65, 0xc0, 0x00, 0x02, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    /// Its third multicast advert: IP id 3, sequence 3.
    const KA_MULTICAST_SEQ3: [u8; 64] = [
        0x45, 0xc0, 0x00, 0x40, 0x00, 0x03, 0x00, 0x00, 0xff, 0x33, 0x18, 0xb4, 0xc0, 0x00, 0x02, 0x01, //
        0xe0, 0x00, 0x00, 0x12, 0x70, 0x04, 0x00, 0x00, 0xc0, 0x00, 0x02, 0x01, 0x00, 0x00, 0x00, 0x03, //
        0xdb, 0x63, 0x31, 0x62, 0x31, 0xfd, 0xc6, 0x51, 0xe4, 0xbe, 0xfc, 0x9c, 0x21, 0x33, 0x64, 0x01, //
        0x02, 0x01, 0xb6, 0x65, 0xc0, 0x00, 0x02, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    fn k() -> Key {
        key(b"s3cret")
    }

    #[test]
    fn the_view_reads_keepalived_s_header() {
        let ip = Ipv4Packet::new_checked(&KA_MULTICAST_SEQ1[..]).unwrap();
        assert_eq!(ip.protocol(), PROTOCOL);
        let ah = AhPacket::new_checked(ip.payload()).unwrap();
        let r = AhRepr::parse(&ah);
        assert_eq!(r.next_header, 112);
        assert_eq!(ah.payload_len(), PAYLOAD_LEN);
        assert_eq!(r.spi, 0xc000_0201);
        assert_eq!(r.seq, 1);
        assert_eq!(r.icv, KA_MULTICAST_SEQ1[32..44]);
        assert_eq!(ah.payload(), &KA_MULTICAST_SEQ1[44..]);
        let mut out = [0u8; HEADER_LEN];
        r.emit(&mut out).unwrap();
        assert_eq!(out, KA_MULTICAST_SEQ1[20..44]);
    }

    #[test]
    fn keepalived_s_adverts_verify() {
        for (bytes, unicast, seq) in
            [(&KA_MULTICAST_SEQ1, false, 1), (&KA_MULTICAST_SEQ3, false, 3), (&KA_UNICAST_SEQ1, true, 1)]
        {
            let o = open(bytes, &k(), unicast).unwrap();
            assert_eq!((o.src, o.seq, o.vrrp), (SRC, seq, &bytes[44..]));
            // The VRRP inside is an ordinary v2 advert with auth type 2.
            let a =
                super::super::vrrp::parse(o.vrrp, SRC.into(), bytes_dst(bytes).into(), &Default::default()).unwrap();
            assert_eq!((a.vrid, a.priority, a.auth), (51, 100, crate::Auth::Ah));
        }
    }

    fn bytes_dst(b: &[u8]) -> Ipv4Addr {
        Ipv4Packet::new_checked(b).unwrap().dst_addr()
    }

    #[test]
    fn seal_reproduces_keepalived_s_bytes() {
        for (bytes, unicast, seq) in
            [(&KA_MULTICAST_SEQ1, false, 1), (&KA_MULTICAST_SEQ3, false, 3), (&KA_UNICAST_SEQ1, true, 1)]
        {
            let ip = Ipv4Repr {
                protocol: PROTOCOL,
                ..Ipv4Repr::vrrp(SRC, bytes_dst(bytes), u16::try_from(seq).unwrap(), 0)
            };
            let out = seal(&ip, seq, &bytes[44..], &k(), unicast).unwrap();
            assert_eq!(&out[..], &bytes[..]);
        }
    }

    #[test]
    fn the_wrong_password_or_a_changed_byte_fails_the_icv() {
        assert_eq!(open(&KA_MULTICAST_SEQ1, &key(b"other"), false), Err(AhError::Icv));
        // Multicast keeps the TTL in the ICV; unicast leaves it out.
        assert_eq!(open(&KA_MULTICAST_SEQ1, &k(), true), Err(AhError::Icv));
        for at in [2, 4, 9, 12, 19, 20, 24, 31, 32, 43, 44, 50, 63] {
            let mut b = KA_MULTICAST_SEQ1;
            b[at] ^= 0x01;
            assert!(open(&b, &k(), false).is_err(), "byte {at} changed and still verified");
        }
        // The mutable fields are not covered: TOS, flags/fragment, checksum.
        for at in [1, 6, 7, 10, 11] {
            let mut b = KA_MULTICAST_SEQ1;
            b[at] ^= 0x20;
            assert!(open(&b, &k(), false).is_ok(), "byte {at} should be mutable");
        }
        // The TTL is mutable in unicast mode only.
        let mut b = KA_UNICAST_SEQ1;
        b[8] = 64;
        assert!(open(&b, &k(), true).is_ok());
    }

    #[test]
    fn the_spi_must_be_the_source() {
        let ip = Ipv4Repr {
            protocol: PROTOCOL,
            ..Ipv4Repr::vrrp(Ipv4Addr::new(192, 0, 2, 9), Ipv4Addr::new(224, 0, 0, 18), 1, 0)
        };
        let mut b = seal(&ip, 1, &KA_MULTICAST_SEQ1[44..], &k(), false).unwrap();
        b[20 + 7] ^= 1; // SPI
        let sum = icv(&k(), &b[..20], &b[20..], false);
        b[32..44].copy_from_slice(&sum);
        assert!(matches!(open(&b, &k(), false), Err(AhError::Spi { .. })));
    }

    #[test]
    fn malformed_packets_are_refused_without_panic() {
        assert_eq!(open(&[], &k(), false), Err(AhError::Malformed));
        for n in 0..KA_MULTICAST_SEQ1.len() {
            let _ = open(&KA_MULTICAST_SEQ1[..n], &k(), false);
        }
        let mut b = KA_MULTICAST_SEQ1;
        b[9] = 112;
        assert_eq!(open(&b, &k(), false), Err(AhError::Malformed));
        let mut b = KA_MULTICAST_SEQ1;
        b[20] = 6;
        assert_eq!(open(&b, &k(), false), Err(AhError::NextHeader(6)));
        // Total length too short for the AH header.
        let mut b = KA_MULTICAST_SEQ1;
        b[3] = 30;
        assert_eq!(open(&b, &k(), false), Err(AhError::Malformed));
    }

    #[test]
    fn the_key_is_the_password_cut_to_8_bytes() {
        assert_eq!(key(b"s3cret"), *b"s3cret\0\0");
        assert_eq!(key(b"longpassword"), *b"longpass");
    }

    #[test]
    fn the_counter_numbers_from_1_and_refuses_replays() {
        let mut c = SeqCounter::new();
        assert_eq!((c.next_send(), c.next_send()), (1, 2));
        assert!(!c.accept(2), "equal is a replay");
        assert!(!c.accept(1));
        assert!(c.accept(10));
        assert_eq!(c.value(), 10);
        // A backup that takes over goes on from what it heard.
        assert_eq!(c.next_send(), 11);
        c.lower_priority_heard();
        assert_eq!(c.next_send(), 13);
    }

    #[test]
    fn the_counter_stops_at_its_end_and_becoming_master_restarts_it() {
        let mut c = SeqCounter::new();
        assert!(c.accept(0xFFFF_FFFD));
        assert_eq!(c.next_send(), 0xFFFF_FFFE);
        assert!(!c.cycled());
        assert_eq!(c.next_send(), 0xFFFF_FFFE);
        assert!(c.cycled());
        c.becoming_master();
        assert_eq!((c.value(), c.cycled()), (0, false));
        assert_eq!(c.next_send(), 1);
        // Becoming master without having cycled keeps the number.
        c.becoming_master();
        assert_eq!(c.value(), 1);
    }
}
