//! Routes and rules deleted on the host, from rtnetlink (RTM_DELROUTE / RTM_DELRULE on
//! RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE, RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE).
//!
//! keepalived follows the same events to put back a static route or rule that was deleted
//! and to react to a deleted virtual one (keepalived/core/keepalived_netlink.c,
//! netlink_route_filter and netlink_rule_filter).

use super::NetlinkError;
use super::addr::ip_from_bytes;
use super::route::RouteSpec;
use super::rule::{RuleAct, RuleSpec};
use neli::{
    consts::{
        rtnl::{Rta, Rtm},
        socket::NlFamily,
    },
    genl::Genlmsghdr,
    nl::{NlPayload, Nlmsghdr},
    router::synchronous::{NlRouter, NlRouterReceiverHandle},
    rtnl::Rtmsg,
    utils::Groups,
};
use std::net::IpAddr;

/// rtnetlink multicast groups of route and rule changes (linux/rtnetlink.h).
const RTNLGRP_IPV4_ROUTE: u32 = 7;
const RTNLGRP_IPV4_RULE: u32 = 8;
const RTNLGRP_IPV6_ROUTE: u32 = 11;
const RTNLGRP_IPV6_RULE: u32 = 19;

/// A route or rule the kernel deleted (struct fib_rule_hdr has the layout of struct rtmsg,
/// and the FRA_* attributes read here have the numbers of their RTA_* namesakes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    /// A rule (else a route).
    pub rule: bool,
    /// IPv6.
    pub v6: bool,
    /// Destination prefix (route) or `to` (rule).
    pub dst: Option<(IpAddr, u8)>,
    /// Source prefix (IPv6 route `from`, rule `from`).
    pub src: Option<(IpAddr, u8)>,
    /// Table (RTA_TABLE / FRA_TABLE, else the header's).
    pub table: u32,
    /// Protocol (the header's for a route, FRA_PROTOCOL for a rule; 0 when absent).
    pub protocol: u8,
    /// TOS.
    pub tos: u8,
    /// Metric (RTA_PRIORITY) of a route, priority (FRA_PRIORITY) of a rule.
    pub priority: Option<u32>,
}

impl Deleted {
    /// True when this is (or may be) the deletion of route `spec`: family, destination, source,
    /// table, protocol, TOS and, when the spec has one, metric are the same.
    pub fn is_route(&self, spec: &RouteSpec) -> bool {
        !self.rule
            && self.v6 == spec.dst.is_ipv6()
            && self.dst == Some((spec.dst, spec.dst_len))
            && self.src == spec.src
            && self.table == spec.table
            && self.protocol == spec.protocol
            && self.tos == spec.tos
            && spec.priority.is_none_or(|p| self.priority == Some(p))
    }

    /// True when this is the deletion of rule `spec`: family, priority, selectors and table.
    pub fn is_rule(&self, spec: &RuleSpec) -> bool {
        let table = match spec.action {
            RuleAct::Table(t) => t,
            _ => 0,
        };
        self.rule
            && self.v6 == spec.v6
            && self.priority == spec.priority
            && self.src == spec.from.filter(|(_, l)| *l > 0)
            && self.dst == spec.to.filter(|(_, l)| *l > 0)
            && (table == 0 || self.table == table)
    }
}

/// A subscription to route and rule changes in the calling thread's network namespace.
pub struct RoutingMonitor {
    _rtnl: NlRouter,
    events: NlRouterReceiverHandle<u16, Genlmsghdr<u8, u16>>,
}

impl RoutingMonitor {
    /// Subscribes to IPv4 and IPv6 route and rule changes.
    pub fn open() -> Result<RoutingMonitor, NetlinkError> {
        let (rtnl, events) = NlRouter::connect(NlFamily::Route, None, Groups::empty())
            .map_err(|e| NetlinkError::new("open route netlink socket", None, e.to_string()))?;
        rtnl.add_mcast_membership(Groups::new_groups(&[
            RTNLGRP_IPV4_ROUTE,
            RTNLGRP_IPV4_RULE,
            RTNLGRP_IPV6_ROUTE,
            RTNLGRP_IPV6_RULE,
        ]))
        .map_err(|e| NetlinkError::new("subscribe to route and rule changes", None, format!("{e:?}")))?;
        Ok(RoutingMonitor { _rtnl: rtnl, events })
    }

    /// Blocks until the next deletion; `None` when the socket is closed.
    pub fn next_deleted(&mut self) -> Option<Result<Deleted, NetlinkError>> {
        loop {
            let msg = match self.events.next_typed::<Rtm, Rtmsg>()? {
                Ok(m) => m,
                Err(e) => return Some(Err(NetlinkError::new("read route change", None, format!("{e:?}")))),
            };
            if let Some(d) = deleted_of(&msg) {
                return Some(Ok(d));
            }
        }
    }
}

fn deleted_of(msg: &Nlmsghdr<Rtm, Rtmsg>) -> Option<Deleted> {
    let rule = match msg.nl_type() {
        Rtm::Delroute => false,
        Rtm::Delrule => true,
        _ => return None,
    };
    let NlPayload::Payload(p) = msg.nl_payload() else { return None };
    let v6 = match u8::from(*p.rtm_family()) {
        2 => false,
        10 => true,
        _ => return None,
    };
    let h = p.rtattrs().get_attr_handle();
    let bytes = |kind: Rta| h.get_attr_payload_as_with_len_borrowed::<&[u8]>(kind).ok();
    let u32_of = |kind: Rta| bytes(kind).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_ne_bytes);
    let prefix = |kind: Rta, len: u8| bytes(kind).and_then(ip_from_bytes).map(|a| (a, len));
    let table = u32_of(Rta::Table).unwrap_or(u32::from(u8::from(*p.rtm_table())));
    // FRA_PROTOCOL is attribute 21.
    let protocol = if rule {
        bytes(Rta::UnrecognizedConst(21)).and_then(|b| b.first().copied()).unwrap_or(0)
    } else {
        u8::from(*p.rtm_protocol())
    };
    // A default route has no RTA_DST.
    let unspecified = if v6 { IpAddr::from([0u8; 16]) } else { IpAddr::from([0u8; 4]) };
    let dst = match prefix(Rta::Dst, *p.rtm_dst_len()) {
        None if !rule && *p.rtm_dst_len() == 0 => Some((unspecified, 0)),
        d => d,
    };
    Some(Deleted {
        rule,
        v6,
        dst,
        src: prefix(Rta::Src, *p.rtm_src_len()),
        table,
        protocol,
        tos: *p.rtm_tos(),
        priority: u32_of(Rta::Priority),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deletion_matches_its_route_and_rule() {
        let mut spec = RouteSpec::new("10.1.0.0".parse().unwrap_or_else(|_| unreachable!()), 16);
        spec.table = 100;
        let d = Deleted {
            rule: false,
            v6: false,
            dst: Some((spec.dst, 16)),
            src: None,
            table: 100,
            protocol: 18,
            tos: 0,
            priority: Some(0),
        };
        assert!(d.is_route(&spec));
        spec.priority = Some(5);
        assert!(!d.is_route(&spec));
        let mut rule = RuleSpec::new(false, RuleAct::Table(100));
        rule.priority = Some(200);
        rule.from = Some(("192.0.2.100".parse().unwrap_or_else(|_| unreachable!()), 32));
        let r = Deleted {
            rule: true,
            v6: false,
            dst: None,
            src: rule.from,
            table: 100,
            protocol: 18,
            tos: 0,
            priority: Some(200),
        };
        assert!(r.is_rule(&rule));
        assert!(!r.is_route(&spec));
    }
}
