//! Routes added and removed over rtnetlink (RTM_NEWROUTE / RTM_DELROUTE), as `ip route
//! prepend|add|append ...` and `ip route del ...` do; the socket also carries rules
//! ([`super::rule`]).
//!
//! The messages follow keepalived's (keepalived/vrrp/vrrp_iproute.c, netlink_route): a route
//! is added with NLM_F_CREATE alone by default (prepend, the kernel's default), with
//! NLM_F_EXCL for `add` and NLM_F_APPEND for `append`; its protocol is keepalived's (18)
//! unless one is given; a delete carries the same attributes with scope "nowhere" (which
//! matches any scope) unless a scope is given, and the type only when one was given. "Already
//! there" on add (EEXIST) and "not there" on delete (ESRCH, ENOENT) are success, said as
//! [`Outcome::AlreadySo`], as for addresses.

use super::NetlinkError;
use super::addr::{Outcome, ip_bytes, libc_errno, router_error};
use neli::{
    consts::{
        nl::NlmF,
        rtnl::{RtAddrFamily, RtScope, RtTable, Rta, Rtm, RtmF, Rtn, Rtprot},
        socket::NlFamily,
    },
    nl::NlPayload,
    router::synchronous::NlRouter,
    rtnl::{RtattrBuilder, Rtmsg, RtmsgBuilder},
    types::{Buffer, RtBuffer},
    utils::Groups,
};
use std::net::IpAddr;

/// keepalived's route protocol number (RTPROT_KEEPALIVED, linux/rtnetlink.h since 5.8).
pub const RTPROT_KEEPALIVED: u8 = 18;

/// Route metrics (RTAX_*, linux/rtnetlink.h) as they go in RTA_METRICS.
pub mod rtax {
    /// The lock bitmask: bit N locks metric N.
    pub const LOCK: u16 = 1;
    /// Path MTU.
    pub const MTU: u16 = 2;
    /// TCP window clamp.
    pub const WINDOW: u16 = 3;
    /// Round-trip time (1/8 ms).
    pub const RTT: u16 = 4;
    /// Round-trip time variance (1/4 ms).
    pub const RTTVAR: u16 = 5;
    /// Slow-start threshold.
    pub const SSTHRESH: u16 = 6;
    /// Congestion window.
    pub const CWND: u16 = 7;
    /// Advertised MSS.
    pub const ADVMSS: u16 = 8;
    /// Reordering.
    pub const REORDERING: u16 = 9;
    /// Hop limit.
    pub const HOPLIMIT: u16 = 10;
    /// Initial congestion window.
    pub const INITCWND: u16 = 11;
    /// Features (ECN is bit 0).
    pub const FEATURES: u16 = 12;
    /// Minimal retransmission timeout (ms).
    pub const RTO_MIN: u16 = 13;
    /// Initial receive window.
    pub const INITRWND: u16 = 14;
    /// Quick ACK.
    pub const QUICKACK: u16 = 15;
    /// Congestion control algorithm (a string).
    pub const CC_ALGO: u16 = 16;
    /// TCP fast open without a cookie.
    pub const FASTOPEN_NO_COOKIE: u16 = 17;
}

/// The value of one metric.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Metric {
    /// A number.
    U32(u32),
    /// A name (the congestion control algorithm).
    Name(String),
}

/// How a route is added when a matching one exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AddMode {
    /// Before it (NLM_F_CREATE).
    #[default]
    Prepend,
    /// Not at all: EEXIST (NLM_F_CREATE | NLM_F_EXCL).
    Add,
    /// After it (NLM_F_CREATE | NLM_F_APPEND).
    Append,
}

/// One next hop of a multipath route (struct rtnexthop).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NexthopSpec {
    /// Gateway.
    pub gateway: Option<IpAddr>,
    /// Interface index (0: none).
    pub ifindex: u32,
    /// Weight - 1 (rtnh_hops).
    pub hops: u8,
    /// RTNH_F_* flags (onlink is 4).
    pub flags: u8,
    /// RTA_FLOW.
    pub realms: Option<u32>,
}

/// One route, with `ip route`'s options, interfaces resolved to indices.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteSpec {
    /// Destination network.
    pub dst: IpAddr,
    /// Destination prefix length.
    pub dst_len: u8,
    /// Source prefix (IPv6 `from`).
    pub src: Option<(IpAddr, u8)>,
    /// Preferred source address (`src`).
    pub prefsrc: Option<IpAddr>,
    /// Gateway; of the other family, it goes as RTA_VIA.
    pub gateway: Option<IpAddr>,
    /// Output interface index and name.
    pub oif: Option<(u32, String)>,
    /// Table.
    pub table: u32,
    /// Scope given (None: universe on add, any on delete).
    pub scope: Option<u8>,
    /// Protocol.
    pub protocol: u8,
    /// Type given (None: unicast on add, any on delete).
    pub kind: Option<u8>,
    /// TOS.
    pub tos: u8,
    /// rtm_flags (RTNH_F_ONLINK = 4).
    pub flags: u32,
    /// Metric (RTA_PRIORITY).
    pub priority: Option<u32>,
    /// RTA_FLOW.
    pub realms: Option<u32>,
    /// RTA_EXPIRES (IPv6).
    pub expires: Option<u32>,
    /// RTA_PREF (IPv6).
    pub pref: Option<u8>,
    /// RTA_TTL_PROPAGATE.
    pub ttl_propagate: Option<u8>,
    /// RTA_METRICS: (RTAX_*, value).
    pub metrics: Vec<(u16, Metric)>,
    /// RTA_MULTIPATH.
    pub nexthops: Vec<NexthopSpec>,
    /// How it is added.
    pub mode: AddMode,
}

impl RouteSpec {
    /// A unicast route to `dst/dst_len` in the main table with keepalived's protocol.
    pub fn new(dst: IpAddr, dst_len: u8) -> RouteSpec {
        RouteSpec {
            dst,
            dst_len,
            src: None,
            prefsrc: None,
            gateway: None,
            oif: None,
            table: 254,
            scope: None,
            protocol: RTPROT_KEEPALIVED,
            kind: None,
            tos: 0,
            flags: 0,
            priority: None,
            realms: None,
            expires: None,
            pref: None,
            ttl_propagate: None,
            metrics: Vec::new(),
            nexthops: Vec::new(),
            mode: AddMode::Prepend,
        }
    }

    /// `DST/LEN [via GW] [dev IF] [table T]`, for messages.
    pub fn describe(&self) -> String {
        let mut s = format!("route {}/{}", self.dst, self.dst_len);
        if let Some(g) = self.gateway {
            s.push_str(&format!(" via {g}"));
        }
        if let Some((_, n)) = &self.oif {
            s.push_str(&format!(" dev {n}"));
        }
        if self.table != 254 {
            s.push_str(&format!(" table {}", self.table));
        }
        s
    }

    fn v6(&self) -> bool {
        self.dst.is_ipv6()
    }
}

/// A route-netlink socket for routes and rules.
pub struct Routing {
    pub(crate) rtnl: NlRouter,
}

impl Routing {
    /// Opens a route-netlink socket in the calling thread's network namespace.
    pub fn open() -> Result<Routing, NetlinkError> {
        let (rtnl, _) = NlRouter::connect(NlFamily::Route, None, Groups::empty())
            .map_err(|e| NetlinkError::new("open route netlink socket", None, e.to_string()))?;
        let _ = rtnl.enable_ext_ack(true);
        Ok(Routing { rtnl })
    }

    /// Adds a route (RTM_NEWROUTE).
    pub fn add_route(&self, spec: &RouteSpec) -> Result<Outcome, NetlinkError> {
        let op = format!("add {}", spec.describe());
        let msg = route_message(spec, true).map_err(|e| NetlinkError::new(&op, None, e))?;
        let flags = NlmF::CREATE
            | NlmF::ACK
            | match spec.mode {
                AddMode::Prepend => NlmF::empty(),
                AddMode::Add => NlmF::EXCL,
                AddMode::Append => NlmF::APPEND,
            };
        match self.request(Rtm::Newroute, flags, msg, &op) {
            Err(e) if e.errno == Some(libc_errno::EEXIST) => Ok(Outcome::AlreadySo),
            other => other.map(|()| Outcome::Done),
        }
    }

    /// Removes a route (RTM_DELROUTE).
    pub fn remove_route(&self, spec: &RouteSpec) -> Result<Outcome, NetlinkError> {
        let op = format!("remove {}", spec.describe());
        let msg = route_message(spec, false).map_err(|e| NetlinkError::new(&op, None, e))?;
        match self.request(Rtm::Delroute, NlmF::ACK, msg, &op) {
            Err(e) if matches!(e.errno, Some(libc_errno::ESRCH | libc_errno::ENOENT)) => Ok(Outcome::AlreadySo),
            other => other.map(|()| Outcome::Done),
        }
    }

    fn request(&self, kind: Rtm, flags: NlmF, msg: Rtmsg, op: &str) -> Result<(), NetlinkError> {
        let recv = self
            .rtnl
            .send::<_, _, Rtm, Rtmsg>(kind, flags, NlPayload::Payload(msg))
            .map_err(|e| router_error(op, e))?;
        for r in recv {
            r.map_err(|e| router_error(op, e))?;
        }
        Ok(())
    }
}

/// Appends one rtattr (header, payload, padding to 4 bytes) to `out`.
pub(crate) fn put_attr(out: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len() + (4 - len % 4) % 4, 0);
}

/// The RTA_METRICS payload: nested RTAX_* attributes.
pub fn metrics_payload(metrics: &[(u16, Metric)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (kind, m) in metrics {
        match m {
            Metric::U32(v) => put_attr(&mut out, *kind, &v.to_ne_bytes()),
            Metric::Name(n) => put_attr(&mut out, *kind, n.as_bytes()),
        }
    }
    out
}

/// A gateway attribute: RTA_GATEWAY of the route's family, else RTA_VIA (struct rtvia: the
/// family, then the address).
fn gateway_attr(out: &mut Vec<u8>, v6_route: bool, gw: &IpAddr) {
    if gw.is_ipv6() == v6_route {
        put_attr(out, 5, &ip_bytes(gw));
    } else {
        let family: u16 = if gw.is_ipv6() { 10 } else { 2 };
        let mut p = family.to_ne_bytes().to_vec();
        p.extend_from_slice(&ip_bytes(gw));
        put_attr(out, 18, &p);
    }
}

/// The RTA_MULTIPATH payload: struct rtnexthop each, followed by its attributes.
pub fn multipath_payload(v6_route: bool, hops: &[NexthopSpec]) -> Vec<u8> {
    let mut out = Vec::new();
    for h in hops {
        let mut attrs = Vec::new();
        if let Some(g) = &h.gateway {
            gateway_attr(&mut attrs, v6_route, g);
        }
        if let Some(r) = h.realms {
            put_attr(&mut attrs, 11, &r.to_ne_bytes());
        }
        let len = 8 + attrs.len();
        out.extend_from_slice(&(len as u16).to_ne_bytes());
        out.push(h.flags);
        out.push(h.hops);
        out.extend_from_slice(&h.ifindex.to_ne_bytes());
        out.extend_from_slice(&attrs);
    }
    out
}

/// The RTM_NEWROUTE / RTM_DELROUTE message for `spec`.
pub fn route_message(spec: &RouteSpec, add: bool) -> Result<Rtmsg, String> {
    let v6 = spec.v6();
    let mut attrs = RtBuffer::<Rta, Buffer>::new();
    let mut attr = |kind: Rta, bytes: Vec<u8>| -> Result<(), String> {
        attrs.push(
            RtattrBuilder::default()
                .rta_type(kind)
                .rta_payload(Buffer::from(bytes))
                .build()
                .map_err(|e| e.to_string())?,
        );
        Ok(())
    };
    let table = if spec.table < 256 {
        spec.table as u8
    } else {
        attr(Rta::Table, spec.table.to_ne_bytes().to_vec())?;
        0
    };
    attr(Rta::Dst, ip_bytes(&spec.dst))?;
    if let Some((a, _)) = &spec.src {
        attr(Rta::Src, ip_bytes(a))?;
    }
    if let Some(a) = &spec.prefsrc {
        attr(Rta::Prefsrc, ip_bytes(a))?;
    }
    if let Some(g) = &spec.gateway {
        let mut raw = Vec::new();
        gateway_attr(&mut raw, v6, g);
        let kind = if g.is_ipv6() == v6 { Rta::Gateway } else { Rta::UnrecognizedConst(18) };
        attr(kind, raw.get(4..).map(<[u8]>::to_vec).unwrap_or_default())?;
    }
    if let Some((index, _)) = &spec.oif {
        attr(Rta::Oif, index.to_ne_bytes().to_vec())?;
    }
    if let Some(p) = spec.priority {
        attr(Rta::Priority, p.to_ne_bytes().to_vec())?;
    }
    if let Some(r) = spec.realms {
        attr(Rta::Flow, r.to_ne_bytes().to_vec())?;
    }
    if let Some(e) = spec.expires {
        attr(Rta::UnrecognizedConst(23), e.to_ne_bytes().to_vec())?;
    }
    if let Some(p) = spec.pref {
        attr(Rta::UnrecognizedConst(20), vec![p])?;
    }
    if let Some(t) = spec.ttl_propagate {
        attr(Rta::UnrecognizedConst(26), vec![t])?;
    }
    if !spec.metrics.is_empty() {
        attr(Rta::Metrics, metrics_payload(&spec.metrics))?;
    }
    if !spec.nexthops.is_empty() {
        attr(Rta::Multipath, multipath_payload(v6, &spec.nexthops))?;
    }
    let scope = match (spec.scope, add) {
        (Some(s), _) => s,
        (None, true) => 0,
        (None, false) => 255,
    };
    let kind = match (spec.kind, add) {
        (Some(k), _) => k,
        (None, true) => 1,
        (None, false) => 0,
    };
    RtmsgBuilder::default()
        .rtm_family(if v6 { RtAddrFamily::Inet6 } else { RtAddrFamily::Inet })
        .rtm_dst_len(spec.dst_len)
        .rtm_src_len(spec.src.map_or(0, |(_, l)| l))
        .rtm_tos(spec.tos)
        .rtm_table(RtTable::from(table))
        .rtm_protocol(Rtprot::from(spec.protocol))
        .rtm_scope(RtScope::from(scope))
        .rtm_type(Rtn::from(kind))
        .rtm_flags(RtmF::from_bits_retain(spec.flags))
        .rtattrs(attrs)
        .build()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use neli::ToBytes;

    fn bytes(m: &Rtmsg) -> Vec<u8> {
        let mut c = std::io::Cursor::new(Vec::new());
        m.to_bytes(&mut c).unwrap_or_else(|e| panic!("{e}"));
        c.into_inner()
    }

    #[test]
    fn a_route_message_is_what_ip_route_sends() {
        let mut s = RouteSpec::new("10.20.0.0".parse().unwrap_or_else(|_| unreachable!()), 16);
        s.gateway = Some("10.0.0.1".parse().unwrap_or_else(|_| unreachable!()));
        s.oif = Some((3, "eth0".into()));
        s.table = 1000;
        s.priority = Some(7);
        s.metrics = vec![(rtax::MTU, Metric::U32(1400)), (rtax::CC_ALGO, Metric::Name("cubic".into()))];
        let b = bytes(&route_message(&s, true).unwrap_or_else(|e| panic!("{e}")));
        // struct rtmsg: family, dst_len, src_len, tos, table (0: RTA_TABLE), protocol 18,
        // scope universe, type unicast, flags.
        assert_eq!(&b[..12], &[2, 16, 0, 0, 0, 18, 0, 1, 0, 0, 0, 0]);
        let rest = &b[12..];
        let mut want = Vec::new();
        put_attr(&mut want, 15, &1000u32.to_ne_bytes());
        put_attr(&mut want, 1, &[10, 20, 0, 0]);
        put_attr(&mut want, 5, &[10, 0, 0, 1]);
        put_attr(&mut want, 4, &3u32.to_ne_bytes());
        put_attr(&mut want, 6, &7u32.to_ne_bytes());
        let mut metrics = Vec::new();
        put_attr(&mut metrics, 2, &1400u32.to_ne_bytes());
        put_attr(&mut metrics, 16, b"cubic");
        put_attr(&mut want, 8, &metrics);
        assert_eq!(rest, &want[..]);
        // A delete matches any scope and type.
        let d = bytes(&route_message(&s, false).unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(&d[..8], &[2, 16, 0, 0, 0, 18, 255, 0]);
    }

    #[test]
    fn multipath_and_via_of_the_other_family() {
        let v6_gw: IpAddr = "fe80::1".parse().unwrap_or_else(|_| unreachable!());
        let p = multipath_payload(
            false,
            &[
                NexthopSpec {
                    gateway: Some("10.0.0.1".parse().unwrap_or_else(|_| unreachable!())),
                    ifindex: 2,
                    hops: 1,
                    flags: 4,
                    realms: None,
                },
                NexthopSpec { gateway: Some(v6_gw), ifindex: 3, hops: 0, flags: 0, realms: None },
            ],
        );
        // rtnexthop: len 16 (8 + RTA_GATEWAY of 8), flags, hops, ifindex.
        assert_eq!(&p[..8], &[16, 0, 4, 1, 2, 0, 0, 0]);
        assert_eq!(&p[8..16], &[8, 0, 5, 0, 10, 0, 0, 1]);
        // The second: RTA_VIA (18) of 4 + 2 + 16 bytes, padded to 24.
        assert_eq!(&p[16..24], &[32, 0, 0, 0, 3, 0, 0, 0]);
        assert_eq!(&p[24..28], &[22, 0, 18, 0]);
        assert_eq!(&p[28..30], &10u16.to_ne_bytes());
        assert_eq!(p.len(), 16 + 32);
    }
}
