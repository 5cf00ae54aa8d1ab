//! Link state from rtnetlink: a dump of every interface now, then RTM_NEWLINK / RTM_DELLINK
//! events as they happen (RTNLGRP_LINK).
//!
//! An interface counts as up when it is administratively up and has carrier (IFF_UP and
//! IFF_RUNNING), as keepalived's IF_FLAGS_UP (keepalived/include/vrrp_if.h); a tracked or
//! VRRP interface that is not up puts its instances in fault.

use super::NetlinkError;
use neli::{
    consts::{
        nl::NlmF,
        rtnl::{Iff, Ifla, RtAddrFamily, Rtm},
        socket::NlFamily,
    },
    genl::Genlmsghdr,
    nl::{NlPayload, Nlmsghdr},
    router::synchronous::{NlRouter, NlRouterReceiverHandle},
    rtnl::{Ifinfomsg, IfinfomsgBuilder},
    utils::Groups,
};

/// rtnetlink multicast group of link changes (linux/rtnetlink.h, RTNLGRP_LINK).
const RTNLGRP_LINK: u32 = 1;

/// The state of one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    /// Interface index.
    pub ifindex: u32,
    /// Interface name.
    pub name: String,
    /// Administratively up and with carrier.
    pub up: bool,
    /// The interface was deleted.
    pub gone: bool,
    /// Its hardware address, when it has a 6-byte one.
    pub mac: Option<[u8; 6]>,
}

/// A subscription to link changes in the calling thread's network namespace.
pub struct LinkMonitor {
    rtnl: NlRouter,
    events: NlRouterReceiverHandle<u16, Genlmsghdr<u8, u16>>,
}

impl LinkMonitor {
    /// Subscribes to link changes.
    pub fn open() -> Result<LinkMonitor, NetlinkError> {
        let (rtnl, events) = NlRouter::connect(NlFamily::Route, None, Groups::empty())
            .map_err(|e| NetlinkError::new("open route netlink socket", None, e.to_string()))?;
        rtnl.add_mcast_membership(Groups::new_groups(&[RTNLGRP_LINK]))
            .map_err(|e| NetlinkError::new("subscribe to link changes", None, format!("{e:?}")))?;
        Ok(LinkMonitor { rtnl, events })
    }

    /// Every interface as it is now.
    pub fn dump(&self) -> Result<Vec<LinkState>, NetlinkError> {
        let op = "list interfaces";
        let req = IfinfomsgBuilder::default()
            .ifi_family(RtAddrFamily::Unspecified)
            .build()
            .map_err(|e| NetlinkError::new(op, None, e.to_string()))?;
        let recv = self
            .rtnl
            .send::<_, _, Rtm, Ifinfomsg>(Rtm::Getlink, NlmF::DUMP, NlPayload::Payload(req))
            .map_err(|e| NetlinkError::new(op, None, format!("{e:?}")))?;
        let mut out = Vec::new();
        for msg in recv {
            let msg = msg.map_err(|e| NetlinkError::new(op, None, format!("{e:?}")))?;
            if let Some(s) = state_of(&msg) {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// Blocks until the next link change; `None` when the socket is closed.
    pub fn next_event(&mut self) -> Option<Result<LinkState, NetlinkError>> {
        loop {
            let msg = match self.events.next_typed::<Rtm, Ifinfomsg>()? {
                Ok(m) => m,
                Err(e) => return Some(Err(NetlinkError::new("read link change", None, format!("{e:?}")))),
            };
            if let Some(s) = state_of(&msg) {
                return Some(Ok(s));
            }
        }
    }
}

fn state_of(msg: &Nlmsghdr<Rtm, Ifinfomsg>) -> Option<LinkState> {
    let gone = match msg.nl_type() {
        Rtm::Newlink => false,
        Rtm::Dellink => true,
        _ => return None,
    };
    let NlPayload::Payload(p) = msg.nl_payload() else { return None };
    let name = p
        .rtattrs()
        .get_attr_handle()
        .get_attr_payload_as_with_len::<String>(Ifla::Ifname)
        .map(|n| n.trim_end_matches('\0').to_string())
        .unwrap_or_default();
    let mac = p
        .rtattrs()
        .get_attr_handle()
        .get_attr_payload_as_with_len_borrowed::<&[u8]>(Ifla::Address)
        .ok()
        .and_then(|b| <[u8; 6]>::try_from(b).ok());
    let flags = p.ifi_flags();
    let up = !gone && flags.contains(Iff::UP) && flags.contains(Iff::RUNNING);
    Some(LinkState { ifindex: u32::try_from(*p.ifi_index()).unwrap_or(0), name, up, gone, mac })
}
