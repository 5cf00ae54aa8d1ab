//! Ethernet II frames (IEEE 802.3 / RFC 894): the link-layer envelope of gratuitous ARP and
//! unsolicited neighbour advertisements, which are sent over `AF_PACKET` sockets.

use super::FrameError;

/// A 48-bit IEEE 802 MAC address.
pub type MacAddr = [u8; 6];

/// The broadcast MAC address `ff:ff:ff:ff:ff:ff`.
pub const BROADCAST: MacAddr = [0xff; 6];

/// Length of the Ethernet II header: destination, source, EtherType.
pub const HEADER_LEN: usize = 14;

/// EtherType of IPv4 (RFC 894).
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of ARP (RFC 826).
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv6 (RFC 2464).
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// The virtual router MAC address of RFC 5798 section 7.3 (RFC 3768 section 7.3 for IPv4):
/// `00:00:5e:00:01:VRID` for IPv4, `00:00:5e:00:02:VRID` for IPv6 (keepalived `use_vmac`).
#[must_use]
pub fn virtual_router_mac(ipv6: bool, vrid: u8) -> MacAddr {
    [0x00, 0x00, 0x5e, 0x00, if ipv6 { 0x02 } else { 0x01 }, vrid]
}

/// A checked view over the bytes of an Ethernet II frame (no FCS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps `buffer` after checking it holds at least the 14-byte header.
    ///
    /// # Errors
    /// [`FrameError::TooShort`] when it does not.
    pub fn new_checked(buffer: T) -> Result<Self, FrameError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(FrameError::TooShort);
        }
        Ok(Self { buffer })
    }

    /// Gives the underlying buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn mac_at(&self, at: usize) -> MacAddr {
        super::array(self.buffer.as_ref(), at).unwrap_or_default()
    }

    /// Destination MAC address.
    pub fn dst(&self) -> MacAddr {
        self.mac_at(0)
    }

    /// Source MAC address.
    pub fn src(&self) -> MacAddr {
        self.mac_at(6)
    }

    /// EtherType.
    pub fn ethertype(&self) -> u16 {
        super::be16(self.buffer.as_ref(), 12)
    }

    /// The bytes after the header (including any padding the sender added).
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }
}

/// Writes an Ethernet II header into the first 14 bytes of `buf`.
///
/// # Errors
/// [`FrameError::TooShort`] when `buf` is shorter than 14 bytes.
pub fn emit_header(buf: &mut [u8], dst: MacAddr, src: MacAddr, ethertype: u16) -> Result<(), FrameError> {
    super::put(buf, 0, &dst)?;
    super::put(buf, 6, &src)?;
    super::put(buf, 12, &ethertype.to_be_bytes())?;
    Ok(())
}
