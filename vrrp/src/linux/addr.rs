//! Virtual addresses added and removed over rtnetlink (RTM_NEWADDR / RTM_DELADDR), as
//! `ip addr add ADDR/PREFIX [brd B] [scope S] [label L] dev IF` does.
//!
//! keepalived treats "already there" on add and "not there" on delete as success
//! (keepalived/vrrp/vrrp_ipaddress.c, netlink_ipaddress); so does this module, and says
//! which happened. IPv6 addresses are added with IFA_F_NODAD, as keepalived does, so a VIP
//! is usable at once after a takeover.

use super::NetlinkError;
use neli::{
    consts::{
        nl::NlmF,
        rtnl::{Ifa, IfaF, RtAddrFamily, RtScope, Rtm},
        socket::NlFamily,
    },
    err::RouterError,
    nl::NlPayload,
    router::synchronous::NlRouter,
    rtnl::{Ifaddrmsg, IfaddrmsgBuilder, RtattrBuilder},
    types::{Buffer, RtBuffer},
    utils::Groups,
};
use std::net::IpAddr;

/// One address on one interface, with `ip addr`'s options.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AddressSpec {
    /// Interface index.
    pub ifindex: u32,
    /// Interface name, for messages.
    pub ifname: String,
    /// The address.
    pub address: IpAddr,
    /// Prefix length.
    pub prefix: u8,
    /// IPv4 broadcast address (`brd`).
    pub broadcast: Option<std::net::Ipv4Addr>,
    /// Scope: 0 global (default), 200 site, 253 link, 254 host, 255 nowhere.
    pub scope: u8,
    /// IPv4 label (`eth0:1`); must start with the interface name.
    pub label: Option<String>,
}

impl AddressSpec {
    fn describe(&self) -> String {
        format!("{}/{} on {}", self.address, self.prefix, self.ifname)
    }
}

/// Parses `ip`'s scope names (global, site, link, host, nowhere) or a number.
pub fn parse_scope(s: &str) -> Option<u8> {
    match s {
        "global" | "universe" => Some(0),
        "site" => Some(200),
        "link" => Some(253),
        "host" => Some(254),
        "nowhere" => Some(255),
        n => n.parse().ok(),
    }
}

/// What an add or delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The kernel changed.
    Done,
    /// The address was already there (add) or already gone (delete).
    AlreadySo,
}

/// A route-netlink socket for addresses.
pub struct Addresses {
    pub(crate) rtnl: NlRouter,
}

impl Addresses {
    /// Opens a route-netlink socket in the calling thread's network namespace.
    pub fn open() -> Result<Addresses, NetlinkError> {
        let (rtnl, _) = NlRouter::connect(NlFamily::Route, None, Groups::empty())
            .map_err(|e| NetlinkError::new("open route netlink socket", None, e.to_string()))?;
        let _ = rtnl.enable_ext_ack(true);
        Ok(Addresses { rtnl })
    }

    /// Adds an address (RTM_NEWADDR with NLM_F_CREATE | NLM_F_EXCL).
    pub fn add(&self, spec: &AddressSpec) -> Result<Outcome, NetlinkError> {
        let op = format!("add {}", spec.describe());
        let msg = message(spec, true).map_err(|e| NetlinkError::new(&op, None, e))?;
        match self.addr_request(Rtm::Newaddr, NlmF::CREATE | NlmF::EXCL | NlmF::ACK, msg, &op) {
            Err(e) if e.errno == Some(libc_errno::EEXIST) => Ok(Outcome::AlreadySo),
            other => other.map(|()| Outcome::Done),
        }
    }

    /// Removes an address (RTM_DELADDR).
    pub fn remove(&self, spec: &AddressSpec) -> Result<Outcome, NetlinkError> {
        let op = format!("remove {}", spec.describe());
        let msg = message(spec, false).map_err(|e| NetlinkError::new(&op, None, e))?;
        match self.addr_request(Rtm::Deladdr, NlmF::ACK, msg, &op) {
            Err(e) if e.errno == Some(libc_errno::EADDRNOTAVAIL) => Ok(Outcome::AlreadySo),
            other => other.map(|()| Outcome::Done),
        }
    }

    /// The addresses (with prefix length) on interface `ifindex`.
    pub fn list(&self, ifindex: u32) -> Result<Vec<(IpAddr, u8)>, NetlinkError> {
        let op = format!("list addresses of interface {ifindex}");
        let recv = self
            .rtnl
            .send::<_, _, Rtm, Ifaddrmsg>(Rtm::Getaddr, NlmF::DUMP, NlPayload::Payload(dump_request(&op)?))
            .map_err(|e| router_error(&op, e))?;
        let mut out = Vec::new();
        for msg in recv {
            let msg = msg.map_err(|e| router_error(&op, e))?;
            let NlPayload::Payload(p) = msg.nl_payload() else { continue };
            if *p.ifa_index() != ifindex {
                continue;
            }
            if let Some(a) = address_of(p) {
                out.push((a, *p.ifa_prefixlen()));
            }
        }
        Ok(out)
    }

    pub(crate) fn addr_request(&self, kind: Rtm, flags: NlmF, msg: Ifaddrmsg, op: &str) -> Result<(), NetlinkError> {
        let recv = self
            .rtnl
            .send::<_, _, Rtm, Ifaddrmsg>(kind, flags, NlPayload::Payload(msg))
            .map_err(|e| router_error(op, e))?;
        for r in recv {
            r.map_err(|e| router_error(op, e))?;
        }
        Ok(())
    }
}

/// errno values used here (Linux, asm-generic/errno-base.h and errno.h).
pub(crate) mod libc_errno {
    pub const ENOENT: i32 = 2;
    pub const ESRCH: i32 = 3;
    pub const EEXIST: i32 = 17;
    pub const EADDRNOTAVAIL: i32 = 99;
}

pub(crate) fn router_error<T: std::fmt::Debug, P: std::fmt::Debug>(op: &str, e: RouterError<T, P>) -> NetlinkError {
    match e {
        RouterError::Nlmsgerr(m) => {
            let errno = -*m.error();
            NetlinkError::new(op, Some(errno), std::io::Error::from_raw_os_error(errno).to_string())
        }
        other => NetlinkError::new(op, None, format!("{other:?}")),
    }
}

/// An RTM_GETADDR dump request for every address of every family.
pub(crate) fn dump_request(op: &str) -> Result<Ifaddrmsg, NetlinkError> {
    IfaddrmsgBuilder::default()
        .ifa_family(RtAddrFamily::Unspecified)
        .ifa_prefixlen(0)
        .ifa_scope(RtScope::Universe)
        .ifa_index(0)
        .build()
        .map_err(|e| NetlinkError::new(op, None, e.to_string()))
}

/// The address an RTM_NEWADDR / RTM_DELADDR message is about: IFA_LOCAL (the address itself
/// on point-to-point links), else IFA_ADDRESS.
pub(crate) fn address_of(p: &Ifaddrmsg) -> Option<IpAddr> {
    let handle = p.rtattrs().get_attr_handle();
    let bytes = handle
        .get_attr_payload_as_with_len_borrowed::<&[u8]>(Ifa::Local)
        .or_else(|_| handle.get_attr_payload_as_with_len_borrowed::<&[u8]>(Ifa::Address))
        .ok()?;
    ip_from_bytes(bytes)
}

pub(crate) fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    if let Ok(a) = <[u8; 4]>::try_from(b) {
        Some(IpAddr::from(a))
    } else if let Ok(a) = <[u8; 16]>::try_from(b) {
        Some(IpAddr::from(a))
    } else {
        None
    }
}

pub(crate) fn ip_bytes(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    }
}

fn message(spec: &AddressSpec, add: bool) -> Result<Ifaddrmsg, String> {
    let family = if spec.address.is_ipv4() { RtAddrFamily::Inet } else { RtAddrFamily::Inet6 };
    let mut attrs = RtBuffer::<Ifa, Buffer>::new();
    let attr = |kind: Ifa, bytes: Vec<u8>| {
        RtattrBuilder::default().rta_type(kind).rta_payload(Buffer::from(bytes)).build().map_err(|e| e.to_string())
    };
    attrs.push(attr(Ifa::Local, ip_bytes(&spec.address))?);
    attrs.push(attr(Ifa::Address, ip_bytes(&spec.address))?);
    if add {
        if let Some(b) = spec.broadcast {
            attrs.push(attr(Ifa::Broadcast, b.octets().to_vec())?);
        }
        if let Some(l) = &spec.label {
            let mut bytes = l.as_bytes().to_vec();
            bytes.push(0);
            attrs.push(attr(Ifa::Label, bytes)?);
        }
    }
    let flags = if spec.address.is_ipv6() && add { IfaF::NODAD } else { IfaF::empty() };
    IfaddrmsgBuilder::default()
        .ifa_family(family)
        .ifa_prefixlen(spec.prefix)
        .ifa_flags(flags)
        .ifa_scope(RtScope::from(spec.scope))
        .ifa_index(spec.ifindex)
        .rtattrs(attrs)
        .build()
        .map_err(|e| e.to_string())
}

/// The index of interface `name` in the calling thread's namespace.
pub fn ifindex(name: &str) -> Result<u32, NetlinkError> {
    nix::net::if_::if_nametoindex(name)
        .map_err(|e| NetlinkError::new(format!("find interface {name}"), Some(e as i32), e.desc()))
}
