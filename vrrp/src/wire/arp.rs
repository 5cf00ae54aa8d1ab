//! Gratuitous ARP (RFC 826 packet format; sent on becoming master per RFC 3768 / RFC 5798
//! sections 6.4.1 and 6.4.2; an "ARP announcement" in RFC 5227 section 3), built as a whole Ethernet frame for an
//! `AF_PACKET` socket, and a parser for ARP frames.
//!
//! What keepalived 2.2.7 puts on the wire (captured, `vrrp/tests/vectors/garp_*.hex`): an ARP
//! *request* to the Ethernet broadcast address, sender MAC = Ethernet source = the interface
//! MAC (the virtual router MAC with `use_vmac`), sender IP = target IP = the VIP, target MAC
//! `ff:ff:ff:ff:ff:ff`; 42 bytes, no padding (the NIC pads to the 60-byte minimum).

use std::net::Ipv4Addr;

use super::ethernet::{self, ETHERTYPE_ARP, ETHERTYPE_IPV4, EthernetFrame, MacAddr};
use super::{FrameError, array, be16, put};

/// Length of an Ethernet/IPv4 ARP packet (RFC 826: 8 + 2 * 6 + 2 * 4).
pub const PACKET_LEN: usize = 28;
/// Length of a gratuitous ARP frame as keepalived sends it: Ethernet header + ARP, unpadded.
pub const GARP_FRAME_LEN: usize = ethernet::HEADER_LEN + PACKET_LEN;
/// ARP hardware type Ethernet (RFC 826 `ar$hrd`).
pub const HTYPE_ETHERNET: u16 = 1;
/// ARP opcode REQUEST (RFC 826 `ar$op`).
pub const OP_REQUEST: u16 = 1;
/// ARP opcode REPLY (RFC 826 `ar$op`).
pub const OP_REPLY: u16 = 2;

/// Builds the gratuitous ARP frame keepalived sends for `vip` from `mac` on becoming master
/// (RFC 3768 / RFC 5798 sections 6.4.1 and 6.4.2, "broadcast a gratuitous ARP request"):
/// Ethernet destination broadcast, source `mac`, EtherType 0x0806, ARP request (RFC 826) with
/// sender `mac` / `vip`, target `ff:ff:ff:ff:ff:ff` / `vip`. 42 bytes, unpadded like
/// keepalived's.
#[must_use]
pub fn gratuitous_arp(mac: MacAddr, vip: Ipv4Addr) -> [u8; GARP_FRAME_LEN] {
    let [a, b, c, d] = vip.octets();
    let [m0, m1, m2, m3, m4, m5] = mac;
    let [t0, t1] = ETHERTYPE_ARP.to_be_bytes();
    let [p0, p1] = ETHERTYPE_IPV4.to_be_bytes();
    [
        // Ethernet: destination, source, EtherType
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, m0, m1, m2, m3, m4, m5, t0, t1,
        // ARP: htype 1, ptype IPv4, hlen 6, plen 4, op REQUEST
        0, 1, p0, p1, 6, 4, 0, 1, // sender hardware and protocol address
        m0, m1, m2, m3, m4, m5, a, b, c, d, // target hardware and protocol address
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, a, b, c, d,
    ]
}

/// A decoded Ethernet/IPv4 ARP frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpFrame {
    /// Ethernet destination.
    pub eth_dst: MacAddr,
    /// Ethernet source.
    pub eth_src: MacAddr,
    /// Opcode ([`OP_REQUEST`], [`OP_REPLY`]).
    pub operation: u16,
    /// Sender hardware address.
    pub sender_mac: MacAddr,
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address.
    pub target_mac: MacAddr,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
    /// Bytes after the ARP packet (link-layer padding).
    pub padding_len: usize,
}

impl ArpFrame {
    /// Whether this is a gratuitous ARP: sender IP equal to target IP (RFC 5227 section 3).
    #[must_use]
    pub fn is_gratuitous(&self) -> bool {
        self.sender_ip == self.target_ip
    }

    /// Encodes the frame (without padding).
    #[must_use]
    pub fn emit(&self) -> [u8; GARP_FRAME_LEN] {
        let mut out = [0u8; GARP_FRAME_LEN];
        // The buffer is exactly large enough for every write below, so none can fail.
        let _ = ethernet::emit_header(&mut out, self.eth_dst, self.eth_src, ETHERTYPE_ARP);
        let e = ethernet::HEADER_LEN;
        let _ = put(&mut out, e, &[0, 1, 0x08, 0x00, 6, 4]);
        let _ = put(&mut out, e + 6, &self.operation.to_be_bytes());
        let _ = put(&mut out, e + 8, &self.sender_mac);
        let _ = put(&mut out, e + 14, &self.sender_ip.octets());
        let _ = put(&mut out, e + 18, &self.target_mac);
        let _ = put(&mut out, e + 24, &self.target_ip.octets());
        out
    }
}

/// Parses an Ethernet frame carrying an Ethernet/IPv4 ARP packet (RFC 826).
///
/// # Errors
/// [`FrameError::TooShort`], [`FrameError::WrongEthertype`] (not 0x0806),
/// [`FrameError::Malformed`] (hardware type not Ethernet, protocol not IPv4, or address
/// lengths not 6 / 4).
pub fn parse_arp_frame(frame: &[u8]) -> Result<ArpFrame, FrameError> {
    let eth = EthernetFrame::new_checked(frame)?;
    if eth.ethertype() != ETHERTYPE_ARP {
        return Err(FrameError::WrongEthertype(eth.ethertype()));
    }
    let p = eth.payload();
    if p.len() < PACKET_LEN {
        return Err(FrameError::TooShort);
    }
    if be16(p, 0) != HTYPE_ETHERNET || be16(p, 2) != ETHERTYPE_IPV4 || p.get(4..6) != Some(&[6, 4][..]) {
        return Err(FrameError::Malformed);
    }
    let mac = |at| array::<6>(p, at).ok_or(FrameError::TooShort);
    let ip = |at| array::<4>(p, at).map(Ipv4Addr::from).ok_or(FrameError::TooShort);
    Ok(ArpFrame {
        eth_dst: eth.dst(),
        eth_src: eth.src(),
        operation: be16(p, 6),
        sender_mac: mac(8)?,
        sender_ip: ip(14)?,
        target_mac: mac(18)?,
        target_ip: ip(24)?,
        padding_len: p.len() - PACKET_LEN,
    })
}
