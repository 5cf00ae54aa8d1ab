//! Routes and rules, the same checks for both formats (the keepalived.conf reader makes most
//! of them as it reads a line; TOML values arrive here unchecked).

use super::V;
use crate::model::{Config, Family, Prefix, Route, Rule, pref_number, protocol_number, scope_number};

pub(super) fn check(v: &mut V, c: &Config) {
    for (k, r) in c.static_routes.iter().enumerate() {
        route(v, &format!("static_routes[{k}]"), r);
    }
    for (k, r) in c.static_rules.iter().enumerate() {
        rule(v, &format!("static_rules[{k}]"), r);
    }
    for (i, inst) in c.vrrp_instances.iter().enumerate() {
        for (k, r) in inst.virtual_routes.iter().enumerate() {
            route(v, &format!("vrrp_instance[{i}].virtual_routes[{k}]"), r);
        }
        for (k, r) in inst.virtual_rules.iter().enumerate() {
            rule(v, &format!("vrrp_instance[{i}].virtual_rules[{k}]"), r);
        }
    }
}

fn network(v: &mut V, path: &str, what: &str, p: &Prefix) {
    if !p.is_network() {
        v.error(path, format!("{what} {p} has bits set past its prefix length; the kernel refuses it"));
    }
}

fn route(v: &mut V, path: &str, r: &Route) {
    let f = r.family();
    network(v, path, "route destination", &r.to);
    if let Some(from) = &r.from {
        network(v, path, "route source", from);
        if from.family() != Family::Inet6 || f != Family::Inet6 {
            v.error(path, "a route's `from` is only for IPv6 routes");
        }
    }
    if r.src.is_some_and(|a| Family::of(&a) != f) {
        v.error(path, format!("the route's src is not {} like its destination {}", f.name(), r.to));
    }
    // An IPv6 gateway of an IPv4 route goes as RTA_VIA; the other way round the kernel has none.
    if r.via.is_some_and(|a| f == Family::Inet6 && a.is_ipv4()) {
        v.error(path, format!("an IPv6 route ({}) cannot have an IPv4 gateway", r.to));
    }
    for nh in &r.nexthop {
        if nh.via.is_some_and(|a| f == Family::Inet6 && a.is_ipv4()) {
            v.error(path, format!("an IPv6 route ({}) cannot have an IPv4 next hop", r.to));
        }
        if nh.weight.is_some_and(|w| !(1..=256).contains(&w)) {
            v.error(path, "a nexthop's weight is 1-256");
        }
        if nh.realms.is_some() && f == Family::Inet6 {
            v.error(path, "realms are only for IPv4 routes");
        }
    }
    if r.scope.as_deref().is_some_and(|s| scope_number(s).is_none()) {
        v.error(path, "scope is global, site, link, host, nowhere or 0-255");
    }
    if r.protocol.as_deref().is_some_and(|s| protocol_number(s).is_none() && s.parse::<u8>().is_err()) {
        // keepalived.conf names from /etc/iproute2/rt_protos were resolved when read; a TOML
        // file names a protocol by number or by one of iproute2's built-in names.
        v.error(path, "protocol is a number 0-255 or one of iproute2's names (static, boot, keepalived, bird, ...)");
    }
    if f == Family::Inet {
        if r.expires.is_some() || r.pref.is_some() {
            v.error(path, "expires and pref are only for IPv6 routes");
        }
    } else if r.realms.is_some() {
        v.error(path, "realms are only for IPv4 routes");
    }
    if r.pref.as_deref().is_some_and(|p| pref_number(p).is_none()) {
        v.error(path, "pref is low, medium, high or 0-255");
    }
    for l in &r.metrics.lock {
        if !crate::model::RouteMetrics::LOCKABLE.contains(&l.as_str()) {
            v.error(path, format!("metric `{l}` cannot be locked"));
        }
    }
    if r.via.is_some() && !r.nexthop.is_empty() {
        v.error(path, "a route has either `via` or nexthops");
    }
}

fn rule(v: &mut V, path: &str, r: &Rule) {
    let f = r.family();
    for p in r.from.iter().chain(&r.to) {
        network(v, path, "rule prefix", p);
        if p.family() != f {
            v.error(path, "a rule's from and to are of one family");
        }
    }
    if r.from.is_some() && r.family.is_some_and(|x| x != f) {
        v.error(path, "the rule's family is not that of its addresses");
    }
    let actions = usize::from(r.table.is_some())
        + usize::from(r.goto.is_some())
        + usize::from(r.action.is_some())
        + usize::from(r.l3mdev);
    if actions > 1 {
        v.error(path, "a rule has one of table, goto, nop, blackhole, unreachable, prohibit, l3mdev");
    }
    if actions == 0 {
        v.error(path, "a rule needs an action: table, goto, action (nop, blackhole, unreachable, prohibit) or l3mdev");
    }
    if let Some(target) = r.goto {
        if r.priority.is_none_or(|p| p >= target) {
            v.error(path, format!("a rule with goto {target} needs a priority below {target}"));
        }
    }
    if r.table.is_none() && (r.realms.is_some() || r.suppress_prefixlength.is_some() || r.suppress_ifgroup.is_some()) {
        v.error(path, "realms, suppress_prefixlength and suppress_ifgroup are only for a rule with a table");
    }
    if r.priority.is_none() {
        // (The keepalived.conf reader gives one, as keepalived does.)
        v.warn(path, "rule without priority: the kernel gives it one below the first rule's; write `priority`");
    }
    if r.table == Some(0) {
        v.error(path, "table 0 is not valid for a rule");
    }
    if r.fwmask.is_some() && r.fwmark.is_none() {
        v.error(path, "fwmask without fwmark");
    }
    if r.realms.is_some() && f == Family::Inet6 {
        v.error(path, "realms are only for IPv4 rules");
    }
    for range in [r.sport, r.dport].into_iter().flatten() {
        if range.start > range.end {
            v.error(path, "a port range runs from low to high");
        }
    }
    if r.uidrange.is_some_and(|u| u.start > u.end) {
        v.error(path, "a uid range runs from low to high");
    }
}
