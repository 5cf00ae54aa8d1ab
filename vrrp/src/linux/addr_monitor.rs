//! The host's addresses from rtnetlink: a dump of every address now, then RTM_NEWADDR /
//! RTM_DELADDR events as they happen (RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR).
//!
//! keepalived's checker follows the same events to suspend the checks of a virtual server
//! with `ha_suspend` while its address is not on this host (keepalived/check/check_api.c,
//! `update_checker_activity`, called from the netlink address handler).

use super::NetlinkError;
use neli::{
    consts::{nl::NlmF, rtnl::Rtm, socket::NlFamily},
    genl::Genlmsghdr,
    nl::{NlPayload, Nlmsghdr},
    router::synchronous::{NlRouter, NlRouterReceiverHandle},
    rtnl::Ifaddrmsg,
    utils::Groups,
};
use std::net::IpAddr;

/// rtnetlink multicast groups of address changes (linux/rtnetlink.h).
const RTNLGRP_IPV4_IFADDR: u32 = 5;
const RTNLGRP_IPV6_IFADDR: u32 = 9;

/// An address on an interface, added or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressEvent {
    /// Interface index.
    pub ifindex: u32,
    /// The address.
    pub address: IpAddr,
    /// It was removed (false: it is there).
    pub gone: bool,
}

/// A subscription to address changes in the calling thread's network namespace.
pub struct AddressMonitor {
    rtnl: NlRouter,
    events: NlRouterReceiverHandle<u16, Genlmsghdr<u8, u16>>,
}

impl AddressMonitor {
    /// Subscribes to IPv4 and IPv6 address changes.
    pub fn open() -> Result<AddressMonitor, NetlinkError> {
        let (rtnl, events) = NlRouter::connect(NlFamily::Route, None, Groups::empty())
            .map_err(|e| NetlinkError::new("open route netlink socket", None, e.to_string()))?;
        rtnl.add_mcast_membership(Groups::new_groups(&[RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR]))
            .map_err(|e| NetlinkError::new("subscribe to address changes", None, format!("{e:?}")))?;
        Ok(AddressMonitor { rtnl, events })
    }

    /// Every address on the host now.
    pub fn dump(&self) -> Result<Vec<AddressEvent>, NetlinkError> {
        let op = "list addresses";
        let req = super::addr::dump_request(op)?;
        let recv = self
            .rtnl
            .send::<_, _, Rtm, Ifaddrmsg>(Rtm::Getaddr, NlmF::DUMP, NlPayload::Payload(req))
            .map_err(|e| NetlinkError::new(op, None, format!("{e:?}")))?;
        let mut out = Vec::new();
        for msg in recv {
            let msg = msg.map_err(|e| NetlinkError::new(op, None, format!("{e:?}")))?;
            if let Some(ev) = event_of(&msg) {
                out.push(ev);
            }
        }
        Ok(out)
    }

    /// Blocks until the next address change; `None` when the socket is closed.
    pub fn next_event(&mut self) -> Option<Result<AddressEvent, NetlinkError>> {
        loop {
            let msg = match self.events.next_typed::<Rtm, Ifaddrmsg>()? {
                Ok(m) => m,
                Err(e) => return Some(Err(NetlinkError::new("read address change", None, format!("{e:?}")))),
            };
            if let Some(ev) = event_of(&msg) {
                return Some(Ok(ev));
            }
        }
    }
}

fn event_of(msg: &Nlmsghdr<Rtm, Ifaddrmsg>) -> Option<AddressEvent> {
    let gone = match msg.nl_type() {
        Rtm::Newaddr => false,
        Rtm::Deladdr => true,
        _ => return None,
    };
    let NlPayload::Payload(p) = msg.nl_payload() else { return None };
    let address = super::addr::address_of(p)?;
    Some(AddressEvent { ifindex: *p.ifa_index(), address, gone })
}
