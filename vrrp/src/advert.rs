//! A VRRP advertisement, decoded: what the codec produces and the state machine consumes.

use std::net::IpAddr;

/// VRRP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// VRRPv2, RFC 3768 (IPv4 only; interval in whole seconds; simple-password auth).
    V2,
    /// VRRPv3, RFC 5798 / RFC 9568 (IPv4 and IPv6; interval in centiseconds).
    V3,
}

/// VRRPv2 authentication (RFC 2338 section 5.3.6; RFC 3768 keeps type 0 and 1 on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Type 0: no authentication (the 8 auth bytes are zero).
    None,
    /// Type 1: simple text password, up to 8 bytes, zero padded.
    Simple([u8; 8]),
    /// Type 2: IPsec AH (keepalived's `auth_type AH`): the VRRP message's auth data is zero;
    /// the key and the check live in the AH header around it ([`crate::wire::ah`]).
    Ah,
}

/// One VRRP advertisement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    /// Protocol version.
    pub version: Version,
    /// Virtual router id, 1-255.
    pub vrid: u8,
    /// Sender's priority: 0 means "I am stopping", 255 "I own the addresses".
    pub priority: u8,
    /// Advertisement interval in centiseconds. VRRPv2 carries whole seconds on the wire: the
    /// codec multiplies by 100 on parse and divides on emit.
    pub interval_cs: u16,
    /// VRRPv2 authentication; always [`Auth::None`] for VRRPv3.
    pub auth: Auth,
    /// The virtual addresses the sender protects (all of one family).
    pub addresses: Vec<IpAddr>,
}
