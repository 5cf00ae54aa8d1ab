//! Routes and policy-routing rules: `virtual_routes` / `virtual_rules` of an instance (added
//! while it is master) and the top-level `static_routes` / `static_rules` (added at start).
//!
//! The options are those of `ip route add` / `ip rule add` that keepalived 2.2.7 takes
//! (keepalived/vrrp/vrrp_iproute.c `alloc_route`, vrrp_iprule.c `alloc_rule`).

use super::{Family, is_false};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address prefix, written `ADDR/LEN` (`ADDR` alone is a host prefix; `default` is
/// `0.0.0.0/0`, write `::/0` for IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    /// The network address (no bits set past the prefix length).
    pub address: IpAddr,
    /// The prefix length.
    pub len: u8,
}

impl Prefix {
    /// The prefix's family.
    pub fn family(&self) -> Family {
        Family::of(&self.address)
    }

    /// The default prefix (`0.0.0.0/0` or `::/0`) of `family`.
    pub fn default_of(family: Family) -> Prefix {
        let address = match family {
            Family::Inet => IpAddr::from([0u8; 4]),
            Family::Inet6 => IpAddr::from([0u8; 16]),
        };
        Prefix { address, len: 0 }
    }

    /// True when no address bit past the prefix length is set (the kernel refuses a route or
    /// rule whose prefix has host bits).
    pub fn is_network(&self) -> bool {
        let (bits, width) = match self.address {
            IpAddr::V4(a) => (u128::from(u32::from(a)), 32u32),
            IpAddr::V6(a) => (u128::from(a), 128),
        };
        let len = u32::from(self.len).min(width);
        let host = 1u128.checked_shl(width - len).map_or(u128::MAX, |v| v - 1);
        bits & host == 0
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.len)
    }
}

impl FromStr for Prefix {
    type Err = String;

    fn from_str(s: &str) -> Result<Prefix, String> {
        if matches!(s, "default" | "any" | "all") {
            return Ok(Prefix::default_of(Family::Inet));
        }
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let address: IpAddr = addr.parse().map_err(|_| format!("`{s}` is not an address or ADDR/LEN prefix"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(l) => {
                l.parse::<u8>().ok().filter(|l| *l <= max).ok_or_else(|| format!("bad prefix length in `{s}`"))?
            }
            None => max,
        };
        Ok(Prefix { address, len })
    }
}

impl Serialize for Prefix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Prefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Prefix, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A route's type (`ip route add TYPE PREFIX`; rtnetlink.h RTN_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteType {
    /// An ordinary route (the default).
    Unicast,
    /// A local address.
    Local,
    /// A broadcast address.
    Broadcast,
    /// An anycast address.
    Anycast,
    /// A multicast route.
    Multicast,
    /// Packets are dropped silently.
    Blackhole,
    /// Packets are dropped with ICMP host unreachable.
    Unreachable,
    /// Packets are dropped with ICMP administratively prohibited.
    Prohibit,
    /// Lookup goes on in the next policy rule.
    Throw,
    /// Network address translation (obsolete in the kernel).
    Nat,
    /// External resolver.
    Xresolve,
}

impl RouteType {
    /// Every type with its `ip` name.
    pub const ALL: [(&'static str, RouteType); 11] = [
        ("unicast", RouteType::Unicast),
        ("local", RouteType::Local),
        ("broadcast", RouteType::Broadcast),
        ("anycast", RouteType::Anycast),
        ("multicast", RouteType::Multicast),
        ("blackhole", RouteType::Blackhole),
        ("unreachable", RouteType::Unreachable),
        ("prohibit", RouteType::Prohibit),
        ("throw", RouteType::Throw),
        ("nat", RouteType::Nat),
        ("xresolve", RouteType::Xresolve),
    ];

    /// The type named `s`.
    pub fn from_name(s: &str) -> Option<RouteType> {
        RouteType::ALL.iter().find(|(n, _)| *n == s).map(|(_, t)| *t)
    }

    /// The kernel's number (RTN_*).
    pub fn number(self) -> u8 {
        match self {
            RouteType::Unicast => 1,
            RouteType::Local => 2,
            RouteType::Broadcast => 3,
            RouteType::Anycast => 4,
            RouteType::Multicast => 5,
            RouteType::Blackhole => 6,
            RouteType::Unreachable => 7,
            RouteType::Prohibit => 8,
            RouteType::Throw => 9,
            RouteType::Nat => 10,
            RouteType::Xresolve => 11,
        }
    }
}

/// How a route is added when a matching one exists (keepalived: `add`, `append`, `prepend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteMode {
    /// Before any matching route (NLM_F_CREATE; keepalived's default, `ip route prepend`).
    #[default]
    Prepend,
    /// Only if no matching route exists (NLM_F_EXCL, `ip route add`).
    Add,
    /// After any matching route (NLM_F_APPEND, `ip route append`).
    Append,
}

impl RouteMode {
    fn is_default(&self) -> bool {
        *self == RouteMode::Prepend
    }
}

/// `virtual_routes` / `static_routes` entry: `[src ADDR] [from PREFIX] [TYPE] [to] PREFIX
/// [via ADDR] [dev IF] [table T] [metric N] ...` as `ip route add` takes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The destination.
    pub to: Prefix,
    /// `TYPE`: unicast (default), blackhole, unreachable, prohibit, throw, local, ...
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub route_type: Option<RouteType>,
    /// `src`: the preferred source address (RTA_PREFSRC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<IpAddr>,
    /// `from`: source prefix (IPv6 source routing, RTA_SRC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Prefix>,
    /// `via` (or the deprecated `gw`): the gateway; an IPv6 gateway of an IPv4 route is
    /// sent as RTA_VIA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<IpAddr>,
    /// `dev` (or `oif`): the output interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    /// `scope`: global, site, link, host, nowhere or a number (default global).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `table`: the routing table (default main, 254).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    /// `metric` / `priority` / `preference`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
    /// `protocol`: kernel, boot, static, keepalived, ... or a number (default keepalived, 18).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// `tos` / `dsfield` (IPv4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos: Option<u8>,
    /// `onlink`: the gateway is on the link even if no prefix says so.
    #[serde(default, skip_serializing_if = "is_false")]
    pub onlink: bool,
    /// `realms FROM/TO` (IPv4), as the kernel's 32-bit value: FROM in the high 16 bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realms: Option<u32>,
    /// `expires` seconds (IPv6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u32>,
    /// `pref low|medium|high` (IPv6 router preference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pref: Option<String>,
    /// `ttl-propagate enabled|disabled` (MPLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_propagate: Option<bool>,
    /// The route's metrics (`mtu`, `advmss`, `rtt`, ...).
    #[serde(default, skip_serializing_if = "RouteMetrics::is_empty")]
    pub metrics: RouteMetrics,
    /// `nexthop ...` (or the deprecated `or ADDR`): a multipath route.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nexthop: Vec<Nexthop>,
    /// `add`, `append` or `prepend` (default).
    #[serde(default, skip_serializing_if = "RouteMode::is_default")]
    pub mode: RouteMode,
    /// `no_track`: the route's `dev` going down does not put the instance in fault.
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_track: bool,
}

impl Route {
    /// A unicast route to `to` with nothing else set.
    pub fn new(to: Prefix) -> Route {
        Route {
            to,
            route_type: None,
            src: None,
            from: None,
            via: None,
            dev: None,
            scope: None,
            table: None,
            metric: None,
            protocol: None,
            tos: None,
            onlink: false,
            realms: None,
            expires: None,
            pref: None,
            ttl_propagate: None,
            metrics: RouteMetrics::default(),
            nexthop: Vec::new(),
            mode: RouteMode::Prepend,
            no_track: false,
        }
    }

    /// The route's family (that of its destination).
    pub fn family(&self) -> Family {
        self.to.family()
    }
}

/// Route metrics (RTA_METRICS). Times are in the kernel's units: `rtt` 1/8 ms, `rttvar`
/// 1/4 ms, `rto_min` ms (keepalived.conf's `rtt 100ms` is 800; a bare number is taken as is).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteMetrics {
    /// `mtu`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// `advmss`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advmss: Option<u32>,
    /// `rtt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt: Option<u32>,
    /// `rttvar`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rttvar: Option<u32>,
    /// `reordering`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reordering: Option<u32>,
    /// `window`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<u32>,
    /// `cwnd`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwnd: Option<u32>,
    /// `ssthresh`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssthresh: Option<u32>,
    /// `rto_min`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rto_min: Option<u32>,
    /// `initcwnd`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initcwnd: Option<u32>,
    /// `initrwnd`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initrwnd: Option<u32>,
    /// `hoplimit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hoplimit: Option<u8>,
    /// `quickack 0|1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quickack: Option<bool>,
    /// `fastopen_no_cookie 0|1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fastopen_no_cookie: Option<bool>,
    /// `features ecn`.
    #[serde(skip_serializing_if = "is_false")]
    pub ecn: bool,
    /// `congctl NAME`: the TCP congestion control algorithm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub congctl: Option<String>,
    /// The metrics written `NAME lock N` (mtu, advmss, rtt, rttvar, reordering, cwnd,
    /// ssthresh, rto_min, congctl): locked against path discovery.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lock: Vec<String>,
}

impl RouteMetrics {
    /// The metrics that take `lock`.
    pub const LOCKABLE: [&'static str; 9] =
        ["mtu", "advmss", "rtt", "rttvar", "reordering", "cwnd", "ssthresh", "rto_min", "congctl"];

    /// True when no metric is set.
    pub fn is_empty(&self) -> bool {
        *self == RouteMetrics::default()
    }
}

/// One `nexthop [via ADDR] [dev IF] [weight N] [onlink] [realms R]` of a multipath route.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nexthop {
    /// `via`: the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<IpAddr>,
    /// `dev`: the interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    /// `weight` 1-256 (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    /// `onlink`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub onlink: bool,
    /// `realms` (IPv4), as for a route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realms: Option<u32>,
}

/// What a rule does when it matches (fib_rules.h FR_ACT_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// `nop`: nothing.
    Nop,
    /// `blackhole`: drop silently.
    Blackhole,
    /// `unreachable`: drop with ICMP unreachable.
    Unreachable,
    /// `prohibit`: drop with ICMP prohibited.
    Prohibit,
}

impl RuleAction {
    /// The kernel's number (FR_ACT_*).
    pub fn number(self) -> u8 {
        match self {
            RuleAction::Nop => 3,
            RuleAction::Blackhole => 6,
            RuleAction::Unreachable => 7,
            RuleAction::Prohibit => 8,
        }
    }
}

/// An inclusive range (`uidrange A-B`, `sport A[-B]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range<T> {
    /// First value.
    pub start: T,
    /// Last value.
    pub end: T,
}

/// `virtual_rules` / `static_rules` entry: `[from PREFIX] [to PREFIX] [not] [table T | goto N |
/// blackhole ...] [priority N] [fwmark V[/M]] ...` as `ip rule add` takes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// `inet` / `inet6`: the family when neither `from` nor `to` says it (default IPv4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
    /// `from`: source prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Prefix>,
    /// `to`: destination prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Prefix>,
    /// `not`: the rule matches what the selectors do not.
    #[serde(default, skip_serializing_if = "is_false")]
    pub not: bool,
    /// `table` / `lookup`: the table to look up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    /// `goto N`: jump to the rule of priority N.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goto: Option<u32>,
    /// `nop`, `blackhole`, `unreachable`, `prohibit` (instead of a table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<RuleAction>,
    /// `l3mdev`: look up the table of the L3 master device (VRF).
    #[serde(default, skip_serializing_if = "is_false")]
    pub l3mdev: bool,
    /// `priority` / `preference` / `order`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// `tos` / `dsfield`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos: Option<u8>,
    /// `fwmark V[/M]`: the mark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    /// `fwmark V/M`: the mask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmask: Option<u32>,
    /// `realms FROM/TO` (IPv4), as the kernel's 32-bit value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realms: Option<u32>,
    /// `suppress_prefixlength N`: ignore routes of this prefix length or shorter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress_prefixlength: Option<u32>,
    /// `suppress_ifgroup N`: ignore routes through interfaces of this group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress_ifgroup: Option<u32>,
    /// `iif` / `dev`: the input interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iif: Option<String>,
    /// `oif`: the output interface (sockets bound to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oif: Option<String>,
    /// `tunnel-id N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_id: Option<u64>,
    /// `uidrange A-B`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uidrange: Option<Range<u32>>,
    /// `protocol N`: the rule's protocol (who added it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u8>,
    /// `ipproto P`: the IP protocol matched (tcp, udp, icmp, ... or a number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipproto: Option<u8>,
    /// `sport A[-B]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sport: Option<Range<u16>>,
    /// `dport A[-B]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dport: Option<Range<u16>>,
    /// `no_track`: the rule's `iif` / `oif` going down does not put the instance in fault.
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_track: bool,
}

impl Rule {
    /// A rule with nothing set.
    pub fn new() -> Rule {
        Rule {
            family: None,
            from: None,
            to: None,
            not: false,
            table: None,
            goto: None,
            action: None,
            l3mdev: false,
            priority: None,
            tos: None,
            fwmark: None,
            fwmask: None,
            realms: None,
            suppress_prefixlength: None,
            suppress_ifgroup: None,
            iif: None,
            oif: None,
            tunnel_id: None,
            uidrange: None,
            protocol: None,
            ipproto: None,
            sport: None,
            dport: None,
            no_track: false,
        }
    }

    /// The rule's family: that of `from` or `to`, else `family`, else IPv4.
    pub fn family(&self) -> Family {
        self.from.or(self.to).map(|p| p.family()).or(self.family).unwrap_or(Family::Inet)
    }
}

impl Default for Rule {
    fn default() -> Self {
        Rule::new()
    }
}

/// Scope names of `ip` (global, site, link, host, nowhere) or a number 0-255.
pub fn scope_number(s: &str) -> Option<u8> {
    match s {
        "global" | "universe" => Some(0),
        "site" => Some(200),
        "link" => Some(253),
        "host" => Some(254),
        "nowhere" => Some(255),
        n => n.parse().ok(),
    }
}

/// Route protocol names of iproute2's rt_protos (and keepalived, 18) or a number 0-255.
pub fn protocol_number(s: &str) -> Option<u8> {
    const NAMES: &[(&str, u8)] = &[
        ("unspec", 0),
        ("redirect", 1),
        ("kernel", 2),
        ("boot", 3),
        ("static", 4),
        ("gated", 8),
        ("ra", 9),
        ("mrt", 10),
        ("zebra", 11),
        ("bird", 12),
        ("dnrouted", 13),
        ("xorp", 14),
        ("ntk", 15),
        ("dhcp", 16),
        ("mrouted", 17),
        ("keepalived", 18),
        ("babel", 42),
        ("bgp", 186),
        ("isis", 187),
        ("ospf", 188),
        ("rip", 189),
        ("eigrp", 192),
    ];
    NAMES.iter().find(|(n, _)| *n == s).map(|(_, v)| *v).or_else(|| parse_u_any(s).and_then(|v| u8::try_from(v).ok()))
}

/// Routing table names (main 254, local 255, default 253) or a number.
pub fn table_number(s: &str) -> Option<u32> {
    match s {
        "main" => Some(254),
        "local" => Some(255),
        "default" => Some(253),
        "unspec" => Some(0),
        n => parse_u_any(n).and_then(|v| u32::try_from(v).ok()),
    }
}

/// `pref` names of an IPv6 route (ICMPV6_ROUTER_PREF_*), or a number 0-255.
pub fn pref_number(s: &str) -> Option<u8> {
    match s {
        "low" => Some(3),
        "medium" => Some(0),
        "high" => Some(1),
        n => n.parse().ok(),
    }
}

/// A number in decimal, or hex with `0x` (as strtoul with base 0 reads it, without octal).
pub fn parse_u_any(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_parse_and_know_host_bits() {
        let p: Prefix = "10.1.0.0/16".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(p.is_network());
        assert_eq!(p.to_string(), "10.1.0.0/16");
        let h: Prefix = "10.1.2.3".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(h.len, 32);
        assert!(h.is_network());
        assert!(!"10.1.2.3/16".parse::<Prefix>().is_ok_and(|p| p.is_network()));
        assert!("2001:db8::/32".parse::<Prefix>().is_ok_and(|p| p.is_network()));
        assert!(!"2001:db8::1/64".parse::<Prefix>().is_ok_and(|p| p.is_network()));
        assert!("::/0".parse::<Prefix>().is_ok_and(|p| p.is_network()));
        assert_eq!("default".parse::<Prefix>(), Ok(Prefix::default_of(Family::Inet)));
        assert!("10.0.0.0/33".parse::<Prefix>().is_err());
        assert!("nonsense".parse::<Prefix>().is_err());
    }

    #[test]
    fn names_resolve() {
        assert_eq!(scope_number("link"), Some(253));
        assert_eq!(protocol_number("bird"), Some(12));
        assert_eq!(protocol_number("0x12"), Some(18));
        assert_eq!(table_number("main"), Some(254));
        assert_eq!(table_number("6909"), Some(6909));
        assert_eq!(pref_number("high"), Some(1));
        assert_eq!(RouteType::from_name("blackhole").map(RouteType::number), Some(6));
    }
}
