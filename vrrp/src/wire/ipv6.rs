//! IPv6 headers (RFC 8200 section 3).
//!
//! A raw `IPPROTO_VRRP` IPv6 socket receives the payload only (the hop limit comes from
//! `IPV6_RECVHOPLIMIT` ancillary data), so the VRRP receive path needs no IPv6 header parse.
//! This view serves the neighbour advertisement frames sent over `AF_PACKET` ([`super::ndisc`])
//! and the tests that read captured frames.

use std::net::Ipv6Addr;

use super::{FrameError, array, be16, put};

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = 40;

/// A checked view over an IPv6 packet, fixed header included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps `buffer` after checking it holds the 40-byte header with version 6 and the whole
    /// payload its payload length announces. Bytes after it (link-layer padding) are ignored.
    ///
    /// # Errors
    /// [`FrameError::TooShort`], [`FrameError::BadVersion`], [`FrameError::BadLength`].
    pub fn new_checked(buffer: T) -> Result<Self, FrameError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(FrameError::TooShort);
        }
        let version = b.first().copied().unwrap_or(0) >> 4;
        if version != 6 {
            return Err(FrameError::BadVersion(version));
        }
        if HEADER_LEN + usize::from(be16(b, 4)) > b.len() {
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

    /// Traffic class (keepalived's VRRP socket uses 0xc0; its NA frames 0).
    pub fn traffic_class(&self) -> u8 {
        let w = u32::from_be_bytes(array::<4>(self.b(), 0).unwrap_or_default());
        ((w >> 20) & 0xff) as u8
    }

    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        u32::from_be_bytes(array::<4>(self.b(), 0).unwrap_or_default()) & 0x000f_ffff
    }

    /// Payload length.
    pub fn payload_len(&self) -> u16 {
        be16(self.b(), 4)
    }

    /// Next header (58 for ICMPv6, 112 for VRRP).
    pub fn next_header(&self) -> u8 {
        self.b().get(6).copied().unwrap_or(0)
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.b().get(7).copied().unwrap_or(0)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(array::<16>(self.b(), 8).unwrap_or_default())
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(array::<16>(self.b(), 24).unwrap_or_default())
    }

    /// The payload, as long as the payload length says.
    pub fn payload(&self) -> &[u8] {
        self.b().get(HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())).unwrap_or(&[])
    }
}

/// Writes a 40-byte IPv6 header (traffic class and flow label 0) into the start of `buf`.
///
/// # Errors
/// [`FrameError::TooShort`] when `buf` is shorter than 40 bytes.
pub fn emit_header(
    buf: &mut [u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: u8,
    hop_limit: u8,
    payload_len: u16,
) -> Result<(), FrameError> {
    put(buf, 0, &[0x60, 0, 0, 0])?;
    put(buf, 4, &payload_len.to_be_bytes())?;
    put(buf, 6, &[next_header, hop_limit])?;
    put(buf, 8, &src.octets())?;
    put(buf, 24, &dst.octets())
}
