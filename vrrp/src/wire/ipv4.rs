//! IPv4 headers (RFC 791), as a raw `IPPROTO_VRRP` socket receives them (the kernel hands the
//! header over with the payload) and as keepalived writes them itself with `IP_HDRINCL`.
//!
//! RFC 3768 section 5.1.1.3 and RFC 5798 section 5.1.1.3: the TTL of an advert MUST be 255 and
//! a receiver MUST drop one with any other TTL (keepalived applies this to multicast adverts);
//! the protocol number is 112 ([`super::vrrp::PROTOCOL`]).

use std::net::Ipv4Addr;

use super::{FrameError, array, be16, checksum, put};

/// Length of an IPv4 header without options.
pub const MIN_HEADER_LEN: usize = 20;

/// A checked view over an IPv4 packet, header included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer` after checking that it holds a whole IPv4 packet (RFC 791 section 3.1):
    /// at least 20 bytes, version 4, an IHL of at least 5 words that fits the buffer, and a
    /// total length that covers the header and fits the buffer. Bytes after the total length
    /// (link-layer padding) are ignored by [`Self::payload`].
    ///
    /// The header checksum is not verified here (the kernel has done it for a raw socket);
    /// see [`Self::verify_checksum`].
    ///
    /// # Errors
    /// [`FrameError::TooShort`], [`FrameError::BadVersion`], [`FrameError::BadHeaderLength`],
    /// [`FrameError::BadLength`].
    pub fn new_checked(buffer: T) -> Result<Self, FrameError> {
        let b = buffer.as_ref();
        let first = *b.first().ok_or(FrameError::TooShort)?;
        if b.len() < MIN_HEADER_LEN {
            return Err(FrameError::TooShort);
        }
        if first >> 4 != 4 {
            return Err(FrameError::BadVersion(first >> 4));
        }
        let header_len = usize::from(first & 0x0f) * 4;
        if header_len < MIN_HEADER_LEN || header_len > b.len() {
            return Err(FrameError::BadHeaderLength);
        }
        let total = usize::from(be16(b, 2));
        if total < header_len || total > b.len() {
            return Err(FrameError::BadLength);
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

    /// Header length in bytes (IHL * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.b().first().copied().unwrap_or(0) & 0x0f) * 4
    }

    /// The type-of-service byte (DSCP << 2 | ECN); keepalived sends 0xc0 (CS6, "network
    /// control").
    pub fn tos(&self) -> u8 {
        self.b().get(1).copied().unwrap_or(0)
    }

    /// Total length of the packet (header + payload).
    pub fn total_len(&self) -> u16 {
        be16(self.b(), 2)
    }

    /// Identification field.
    pub fn ident(&self) -> u16 {
        be16(self.b(), 4)
    }

    /// The flags and fragment offset word (DF = 0x4000, MF = 0x2000, offset in the low 13 bits).
    pub fn flags_frag_offset(&self) -> u16 {
        be16(self.b(), 6)
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.b().get(8).copied().unwrap_or(0)
    }

    /// Protocol of the payload (112 for VRRP).
    pub fn protocol(&self) -> u8 {
        self.b().get(9).copied().unwrap_or(0)
    }

    /// Header checksum as carried.
    pub fn checksum(&self) -> u16 {
        be16(self.b(), 10)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(array::<4>(self.b(), 12).unwrap_or_default())
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(array::<4>(self.b(), 16).unwrap_or_default())
    }

    /// Whether the header checksum (RFC 791, RFC 1071) is intact.
    pub fn verify_checksum(&self) -> bool {
        self.b().get(..self.header_len()).is_some_and(|h| checksum::checksum(h) == 0)
    }

    /// The payload: the bytes from the end of the header to the total length.
    pub fn payload(&self) -> &[u8] {
        self.b().get(self.header_len()..usize::from(self.total_len())).unwrap_or(&[])
    }
}

/// The fields of an IPv4 header without options, as tandem writes one for an advert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: u8,
    /// Time to live (255 for VRRP).
    pub ttl: u8,
    /// Type of service (keepalived: 0xc0).
    pub tos: u8,
    /// Identification. keepalived counts it up from 1, one per advert sent by the instance.
    pub ident: u16,
    /// Flags and fragment offset word; keepalived sends 0 (DF clear).
    pub flags_frag_offset: u16,
    /// Length of the payload that follows the header.
    pub payload_len: u16,
}

impl Ipv4Repr {
    /// The header of a VRRP advert the way keepalived 2.2.7 writes it: TOS 0xc0, DF clear,
    /// TTL 255, protocol 112.
    #[must_use]
    pub fn vrrp(src: Ipv4Addr, dst: Ipv4Addr, ident: u16, payload_len: u16) -> Self {
        Self {
            src,
            dst,
            protocol: super::vrrp::PROTOCOL,
            ttl: super::vrrp::TTL,
            tos: super::vrrp::KEEPALIVED_TOS,
            ident,
            flags_frag_offset: 0,
            payload_len,
        }
    }

    /// Reads the fields of a checked packet (its options, if any, are not kept).
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Self {
        let header_len = u16::try_from(packet.header_len()).unwrap_or(0);
        Self {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            protocol: packet.protocol(),
            ttl: packet.ttl(),
            tos: packet.tos(),
            ident: packet.ident(),
            flags_frag_offset: packet.flags_frag_offset(),
            payload_len: packet.total_len().saturating_sub(header_len),
        }
    }

    /// Writes the 20-byte header, checksum included, into the start of `buf`.
    ///
    /// # Errors
    /// [`FrameError::TooShort`] when `buf` is shorter than 20 bytes, [`FrameError::BadLength`]
    /// when the payload length does not fit the 16-bit total length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), FrameError> {
        let total = self.payload_len.checked_add(MIN_HEADER_LEN as u16).ok_or(FrameError::BadLength)?;
        let [a, b, c, d] = self.src.octets();
        let [e, f, g, i] = self.dst.octets();
        let [tl0, tl1] = total.to_be_bytes();
        let [id0, id1] = self.ident.to_be_bytes();
        let [ff0, ff1] = self.flags_frag_offset.to_be_bytes();
        let mut h: [u8; MIN_HEADER_LEN] =
            [0x45, self.tos, tl0, tl1, id0, id1, ff0, ff1, self.ttl, self.protocol, 0, 0, a, b, c, d, e, f, g, i];
        let sum = checksum::checksum(&h).to_be_bytes();
        put(&mut h, 10, &sum)?;
        put(buf, 0, &h)
    }
}
