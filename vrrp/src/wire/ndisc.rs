//! Unsolicited neighbour advertisements (RFC 4861 section 4.4 format, section 7.2.6 "sending
//! unsolicited neighbor advertisements"; RFC 5798 sections 6.4.1 / 6.4.2 on becoming master),
//! built as a whole Ethernet frame for an `AF_PACKET` socket, and a parser for NA frames.
//!
//! What keepalived 2.2.7 puts on the wire (captured, `vrrp/tests/vectors/na_*.hex`): Ethernet
//! `33:33:00:00:00:01` from the interface MAC; IPv6 traffic class 0, flow label 0, hop limit
//! 255, source = the VIP itself (not the link-local address), destination ff02::1; ICMPv6 type
//! 136 with Override set, Solicited clear, and Router set exactly when IPv6 forwarding is on
//! for the interface; target = the VIP; one option, target link-layer address (type 2) = the
//! MAC. 86 bytes, no padding needed.

use std::net::Ipv6Addr;

use super::ethernet::{self, ETHERTYPE_IPV6, EthernetFrame, MacAddr};
use super::ipv6::{self, Ipv6Packet};
use super::{FrameError, array, be16, checksum, put};

/// IPv6 next header of ICMPv6 (RFC 4443).
pub const NEXT_HEADER_ICMPV6: u8 = 58;
/// ICMPv6 type of a neighbour advertisement (RFC 4861 section 4.4).
pub const TYPE_NEIGHBOR_ADVERT: u8 = 136;
/// NA Router flag (RFC 4861 section 4.4, "R").
pub const FLAG_ROUTER: u8 = 0x80;
/// NA Solicited flag (RFC 4861 section 4.4, "S").
pub const FLAG_SOLICITED: u8 = 0x40;
/// NA Override flag (RFC 4861 section 4.4, "O").
pub const FLAG_OVERRIDE: u8 = 0x20;
/// ND option type "Target Link-Layer Address" (RFC 4861 section 4.6.1).
pub const OPT_TARGET_LL_ADDR: u8 = 2;
/// All-nodes multicast address ff02::1, the destination of an unsolicited NA (RFC 4861
/// section 7.2.6).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// Length of the NA message with one target link-layer address option: 4 (type, code,
/// checksum) + 4 (flags, reserved) + 16 (target) + 8 (option).
pub const NA_LEN: usize = 32;
/// Length of the whole unsolicited NA frame: Ethernet + IPv6 + NA.
pub const NA_FRAME_LEN: usize = ethernet::HEADER_LEN + ipv6::HEADER_LEN + NA_LEN;

/// The Ethernet multicast address of an IPv6 multicast address: `33:33` followed by its low
/// 32 bits (RFC 2464 section 7).
#[must_use]
pub fn multicast_mac(group: Ipv6Addr) -> MacAddr {
    let o = group.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// Builds the unsolicited neighbour advertisement keepalived sends for `vip` from `mac` on
/// becoming master (RFC 4861 section 7.2.6): Ethernet `33:33:00:00:00:01` from `mac`; IPv6
/// from `vip` to ff02::1, hop limit 255 (RFC 4861 section 4.4), traffic class and flow label 0;
/// ICMPv6 type 136 code 0, Override set, Solicited clear, Router = `router` (keepalived sets it
/// when the interface forwards IPv6, i.e. `net.ipv6.conf.IF.forwarding` is 1), target `vip`,
/// target link-layer address option `mac`; ICMPv6 checksum over the IPv6 pseudo-header
/// (RFC 4443 section 2.3).
#[must_use]
pub fn unsolicited_na(mac: MacAddr, vip: Ipv6Addr, router: bool) -> [u8; NA_FRAME_LEN] {
    let mut flags = FLAG_OVERRIDE;
    if router {
        flags |= FLAG_ROUTER;
    }
    NeighbourAdvert {
        eth_dst: multicast_mac(ALL_NODES),
        eth_src: mac,
        src: vip,
        dst: ALL_NODES,
        hop_limit: 255,
        flags,
        target: vip,
        target_mac: Some(mac),
    }
    .emit()
}

/// A decoded neighbour advertisement frame (Ethernet + IPv6 + ICMPv6 type 136).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighbourAdvert {
    /// Ethernet destination.
    pub eth_dst: MacAddr,
    /// Ethernet source.
    pub eth_src: MacAddr,
    /// IPv6 source.
    pub src: Ipv6Addr,
    /// IPv6 destination.
    pub dst: Ipv6Addr,
    /// IPv6 hop limit (255 for ND, RFC 4861 section 7.1.2).
    pub hop_limit: u8,
    /// The flags byte: [`FLAG_ROUTER`], [`FLAG_SOLICITED`], [`FLAG_OVERRIDE`].
    pub flags: u8,
    /// Target address.
    pub target: Ipv6Addr,
    /// The target link-layer address option, when present.
    pub target_mac: Option<MacAddr>,
}

impl NeighbourAdvert {
    /// Router flag.
    #[must_use]
    pub fn router(&self) -> bool {
        self.flags & FLAG_ROUTER != 0
    }

    /// Solicited flag.
    #[must_use]
    pub fn solicited(&self) -> bool {
        self.flags & FLAG_SOLICITED != 0
    }

    /// Override flag.
    #[must_use]
    pub fn override_flag(&self) -> bool {
        self.flags & FLAG_OVERRIDE != 0
    }

    /// Encodes the frame with a target link-layer address option (the MAC is zero when
    /// `target_mac` is `None`), checksum computed.
    #[must_use]
    pub fn emit(&self) -> [u8; NA_FRAME_LEN] {
        let mut out = [0u8; NA_FRAME_LEN];
        let e = ethernet::HEADER_LEN;
        let i = e + ipv6::HEADER_LEN;
        // `out` is exactly large enough for every write below, so none can fail.
        let _ = ethernet::emit_header(&mut out, self.eth_dst, self.eth_src, ETHERTYPE_IPV6);
        let _ = ipv6::emit_header(
            out.get_mut(e..).unwrap_or_default(),
            self.src,
            self.dst,
            NEXT_HEADER_ICMPV6,
            self.hop_limit,
            NA_LEN as u16,
        );
        let mut na = [0u8; NA_LEN];
        let _ = put(&mut na, 0, &[TYPE_NEIGHBOR_ADVERT, 0, 0, 0, self.flags, 0, 0, 0]);
        let _ = put(&mut na, 8, &self.target.octets());
        let _ = put(&mut na, 24, &[OPT_TARGET_LL_ADDR, 1]);
        let _ = put(&mut na, 26, &self.target_mac.unwrap_or_default());
        let sum = icmpv6_checksum(self.src, self.dst, &na);
        let _ = put(&mut na, 2, &sum.to_be_bytes());
        let _ = put(&mut out, i, &na);
        out
    }
}

/// The ICMPv6 checksum of `message` (its checksum field, bytes 2-3, counts as zero) sent from
/// `src` to `dst` (RFC 4443 section 2.3).
#[must_use]
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, message: &[u8]) -> u16 {
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    let mut acc = checksum::pseudo_header_v6(src, dst, NEXT_HEADER_ICMPV6, len);
    acc = checksum::sum(acc, message.get(..2).unwrap_or(message));
    acc = checksum::sum(acc, message.get(4..).unwrap_or(&[]));
    checksum::fold(acc)
}

/// Parses an Ethernet frame carrying an IPv6 neighbour advertisement (RFC 4861 section 4.4).
///
/// # Errors
/// [`FrameError::TooShort`], [`FrameError::WrongEthertype`] (not 0x86dd), the IPv6 header
/// errors of [`Ipv6Packet::new_checked`], [`FrameError::WrongProtocol`] (next header not 58
/// or ICMPv6 type not 136), [`FrameError::BadChecksum`], [`FrameError::Malformed`] (code not
/// 0, or an option of length 0 or overrunning the message, RFC 4861 section 7.1.2).
pub fn parse_na_frame(frame: &[u8]) -> Result<NeighbourAdvert, FrameError> {
    let eth = EthernetFrame::new_checked(frame)?;
    if eth.ethertype() != ETHERTYPE_IPV6 {
        return Err(FrameError::WrongEthertype(eth.ethertype()));
    }
    let ip = Ipv6Packet::new_checked(eth.payload())?;
    if ip.next_header() != NEXT_HEADER_ICMPV6 {
        return Err(FrameError::WrongProtocol(ip.next_header()));
    }
    let na = ip.payload();
    if na.len() < 24 {
        return Err(FrameError::TooShort);
    }
    let msg_type = na.first().copied().unwrap_or(0);
    if msg_type != TYPE_NEIGHBOR_ADVERT {
        return Err(FrameError::WrongProtocol(msg_type));
    }
    if na.get(1) != Some(&0) {
        return Err(FrameError::Malformed);
    }
    if icmpv6_checksum(ip.src_addr(), ip.dst_addr(), na) != be16(na, 2) {
        return Err(FrameError::BadChecksum);
    }
    let mut target_mac = None;
    let mut options = na.get(24..).unwrap_or(&[]);
    while let [opt_type, opt_len, ..] = options {
        let len = usize::from(*opt_len) * 8;
        if len == 0 || len > options.len() {
            return Err(FrameError::Malformed);
        }
        if *opt_type == OPT_TARGET_LL_ADDR && len == 8 {
            target_mac = array::<6>(options, 2);
        }
        options = options.get(len..).unwrap_or(&[]);
    }
    if !options.is_empty() {
        return Err(FrameError::Malformed);
    }
    Ok(NeighbourAdvert {
        eth_dst: eth.dst(),
        eth_src: eth.src(),
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        hop_limit: ip.hop_limit(),
        flags: na.get(4).copied().unwrap_or(0),
        target: Ipv6Addr::from(array::<16>(na, 8).unwrap_or_default()),
        target_mac,
    })
}
