//! Routes and rules: the model's `Route` / `Rule` made into what the kernel is sent, and the
//! static addresses, routes and rules (`static_ipaddress`, `static_routes`, `static_rules`).
//!
//! An instance's `virtual_routes` / `virtual_rules` are added when it becomes master (after
//! its addresses, so a route may use a VIP as `src`) and removed when it leaves master or
//! stops (before its addresses), as keepalived does (vrrp.c, vrrp_state_become_master and
//! vrrp_restore_interface). The static ones are added at start whatever the VRRP state and
//! removed when tandem stops, as keepalived does (vrrp_daemon.c, start_vrrp / stop_vrrp); a
//! reload removes those the new file no longer has and adds the new ones, leaving the rest
//! as they are (keepalived's clear_diff_static_*).

use std::collections::HashSet;
use tandem_conf as conf;
use tandem_vrrp::linux::addr::{self, AddressSpec, Addresses, Outcome, parse_scope};
use tandem_vrrp::linux::route::{AddMode, Metric, NexthopSpec, RTPROT_KEEPALIVED, RouteSpec, Routing, rtax};
use tandem_vrrp::linux::route_monitor::Deleted;
use tandem_vrrp::linux::rule::{RuleAct, RuleSpec};
use tracing::{info, warn};

/// The index of interface `name`, or why not.
fn index(name: &str) -> Result<u32, String> {
    addr::ifindex(name).map_err(|_| format!("interface {name} does not exist"))
}

/// The kernel's form of a route; `Err` names an interface this host lacks.
pub fn route_spec(r: &conf::Route) -> Result<RouteSpec, String> {
    let mut s = RouteSpec::new(r.to.address, r.to.len);
    s.src = r.from.map(|p| (p.address, p.len));
    s.prefsrc = r.src;
    s.gateway = r.via;
    if let Some(dev) = &r.dev {
        s.oif = Some((index(dev)?, dev.clone()));
    }
    s.table = r.table.unwrap_or(254);
    s.scope = r.scope.as_deref().and_then(conf::scope_number);
    // keepalived's protocol unless one is given (vrrp_iproute.c, netlink_route).
    s.protocol = r.protocol.as_deref().and_then(conf::protocol_number).unwrap_or(RTPROT_KEEPALIVED);
    s.kind = r.route_type.map(conf::RouteType::number);
    s.tos = r.tos.unwrap_or(0);
    // RTNH_F_ONLINK.
    s.flags = if r.onlink { 4 } else { 0 };
    s.priority = r.metric;
    s.realms = r.realms;
    s.expires = r.expires;
    s.pref = r.pref.as_deref().and_then(conf::pref_number);
    s.ttl_propagate = r.ttl_propagate.map(u8::from);
    s.metrics = metrics(&r.metrics);
    s.mode = match r.mode {
        conf::RouteMode::Prepend => AddMode::Prepend,
        conf::RouteMode::Add => AddMode::Add,
        conf::RouteMode::Append => AddMode::Append,
    };
    for nh in &r.nexthop {
        // A hop without a device takes the route's: the kernel refuses a multipath route whose
        // hops' devices differ from RTA_OIF, which keepalived's `via A or B dev IF` sends
        // (keepalived 2.2.7 fails to add it; tandem adds what it means).
        let ifindex = match (&nh.dev, &s.oif) {
            (Some(d), _) => index(d)?,
            (None, Some((i, _))) => *i,
            (None, None) => 0,
        };
        s.nexthops.push(NexthopSpec {
            gateway: nh.via,
            ifindex,
            // rtnh_hops is the weight less one (weight 1-256).
            hops: nh.weight.map_or(0, |w| u8::try_from(w.saturating_sub(1)).unwrap_or(u8::MAX)),
            flags: if nh.onlink { 4 } else { 0 },
            realms: nh.realms,
        });
    }
    Ok(s)
}

fn metrics(m: &conf::RouteMetrics) -> Vec<(u16, Metric)> {
    let mut out = Vec::new();
    let mut put = |kind: u16, v: Option<u32>| {
        if let Some(v) = v {
            out.push((kind, Metric::U32(v)));
        }
    };
    put(rtax::MTU, m.mtu);
    put(rtax::WINDOW, m.window);
    put(rtax::RTT, m.rtt);
    put(rtax::RTTVAR, m.rttvar);
    put(rtax::SSTHRESH, m.ssthresh);
    put(rtax::CWND, m.cwnd);
    put(rtax::ADVMSS, m.advmss);
    put(rtax::REORDERING, m.reordering);
    put(rtax::HOPLIMIT, m.hoplimit.map(u32::from));
    put(rtax::INITCWND, m.initcwnd);
    put(rtax::FEATURES, m.ecn.then_some(1));
    put(rtax::RTO_MIN, m.rto_min);
    put(rtax::INITRWND, m.initrwnd);
    put(rtax::QUICKACK, m.quickack.map(u32::from));
    put(rtax::FASTOPEN_NO_COOKIE, m.fastopen_no_cookie.map(u32::from));
    let lock = m.lock.iter().fold(0u32, |acc, name| {
        let bit = match name.as_str() {
            "mtu" => rtax::MTU,
            "advmss" => rtax::ADVMSS,
            "rtt" => rtax::RTT,
            "rttvar" => rtax::RTTVAR,
            "reordering" => rtax::REORDERING,
            "cwnd" => rtax::CWND,
            "ssthresh" => rtax::SSTHRESH,
            "rto_min" => rtax::RTO_MIN,
            "congctl" => rtax::CC_ALGO,
            _ => return acc,
        };
        acc | (1 << bit)
    });
    if lock != 0 {
        out.insert(0, (rtax::LOCK, Metric::U32(lock)));
    }
    if let Some(c) = &m.congctl {
        out.push((rtax::CC_ALGO, Metric::Name(c.clone())));
    }
    out
}

/// The kernel's form of a rule. A tracked rule (no `no_track`) without a protocol gets
/// keepalived's, as keepalived gives it (vrrp_iprule.c, alloc_rule).
pub fn rule_spec(r: &conf::Rule) -> RuleSpec {
    let action = match (r.table, r.goto, r.action, r.l3mdev) {
        (_, _, _, true) => RuleAct::L3mdev,
        (Some(t), _, _, _) => RuleAct::Table(t),
        (_, Some(g), _, _) => RuleAct::Goto(g),
        (_, _, Some(a), _) => RuleAct::Other(a.number()),
        _ => RuleAct::Table(254),
    };
    let mut s = RuleSpec::new(r.family() == conf::Family::Inet6, action);
    s.from = r.from.map(|p| (p.address, p.len));
    s.to = r.to.map(|p| (p.address, p.len));
    s.invert = r.not;
    s.priority = r.priority;
    s.tos = r.tos.unwrap_or(0);
    s.fwmark = r.fwmark;
    s.fwmask = r.fwmask;
    s.realms = r.realms;
    s.suppress_prefixlength = r.suppress_prefixlength;
    s.suppress_ifgroup = r.suppress_ifgroup;
    s.iif = r.iif.clone();
    s.oif = r.oif.clone();
    s.tunnel_id = r.tunnel_id;
    s.uidrange = r.uidrange.map(|u| (u.start, u.end));
    s.protocol = r.protocol.or((!r.no_track).then_some(RTPROT_KEEPALIVED));
    s.ipproto = r.ipproto;
    s.sport = r.sport.map(|p| (p.start, p.end));
    s.dport = r.dport.map(|p| (p.start, p.end));
    s
}

/// The interfaces a route or rule goes down with (its `dev`s, `iif`, `oif`) unless
/// `no_track`: tracked like a VIP's device, a link down puts the instance in fault.
pub fn tracked_devices(routes: &[conf::Route], rules: &[conf::Rule]) -> Vec<String> {
    let mut out = Vec::new();
    for r in routes.iter().filter(|r| !r.no_track) {
        out.extend(r.dev.iter().chain(r.nexthop.iter().filter_map(|n| n.dev.as_ref())).cloned());
    }
    for r in rules.iter().filter(|r| !r.no_track) {
        out.extend(r.iif.iter().chain(&r.oif).cloned());
    }
    out
}

/// A route in `ip route` words, for status: `[TYPE] PREFIX [from P] [via A] [dev IF]
/// [table T] [metric N] [src A]` and its nexthops.
pub fn describe_route(r: &conf::Route) -> String {
    let mut s = String::new();
    if let Some(t) = r.route_type.filter(|t| *t != conf::RouteType::Unicast) {
        let name = conf::RouteType::ALL.iter().find(|(_, x)| *x == t).map_or("", |(n, _)| *n);
        s.push_str(&format!("{name} "));
    }
    s.push_str(&r.to.to_string());
    let mut opt = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            s.push_str(&format!(" {k} {v}"));
        }
    };
    opt("from", r.from.map(|p| p.to_string()));
    opt("via", r.via.map(|a| a.to_string()));
    opt("dev", r.dev.clone());
    opt("table", r.table.map(|t| t.to_string()));
    opt("metric", r.metric.map(|m| m.to_string()));
    opt("src", r.src.map(|a| a.to_string()));
    for nh in &r.nexthop {
        s.push_str(" nexthop");
        if let Some(v) = nh.via {
            s.push_str(&format!(" via {v}"));
        }
        if let Some(d) = &nh.dev {
            s.push_str(&format!(" dev {d}"));
        }
        if let Some(w) = nh.weight {
            s.push_str(&format!(" weight {w}"));
        }
    }
    s
}

/// A rule in `ip rule` words, for status: `[priority N] [not] from P [to P] ACTION`.
pub fn describe_rule(r: &conf::Rule) -> String {
    let mut s = String::new();
    if let Some(p) = r.priority {
        s.push_str(&format!("priority {p} "));
    }
    if r.not {
        s.push_str("not ");
    }
    s.push_str(&format!("from {}", r.from.map_or("all".to_string(), |p| p.to_string())));
    if let Some(t) = r.to {
        s.push_str(&format!(" to {t}"));
    }
    if let Some(m) = r.fwmark {
        s.push_str(&format!(" fwmark {m:#x}"));
        if let Some(k) = r.fwmask {
            s.push_str(&format!("/{k:#x}"));
        }
    }
    if let Some(i) = &r.iif {
        s.push_str(&format!(" iif {i}"));
    }
    if let Some(o) = &r.oif {
        s.push_str(&format!(" oif {o}"));
    }
    match (r.table, r.goto, r.action, r.l3mdev) {
        (_, _, _, true) => s.push_str(" lookup [l3mdev-table]"),
        (Some(t), _, _, _) => s.push_str(&format!(" lookup {t}")),
        (_, Some(g), _, _) => s.push_str(&format!(" goto {g}")),
        (_, _, Some(a), _) => s.push_str(&format!(" {}", format!("{a:?}").to_lowercase())),
        _ => {}
    }
    s
}

/// Adds `routes` then `rules` (an instance becoming master); failures are logged.
pub fn add_all(routing: &Routing, who: &str, routes: &[RouteSpec], rules: &[RuleSpec]) {
    for r in routes {
        match routing.add_route(r) {
            Ok(_) => info!(instance = who, route = %r.describe(), "route added"),
            Err(e) => warn!(instance = who, error = %e, "cannot add route"),
        }
    }
    for r in rules {
        match routing.add_rule(r) {
            Ok(_) => info!(instance = who, rule = %r.describe(), "rule added"),
            Err(e) => warn!(instance = who, error = %e, "cannot add rule"),
        }
    }
}

/// Removes `rules` then `routes` (an instance leaving master); failures are logged.
pub fn remove_all(routing: &Routing, who: &str, routes: &[RouteSpec], rules: &[RuleSpec]) {
    for r in rules {
        match routing.remove_rule(r) {
            Ok(Outcome::Done) => info!(instance = who, rule = %r.describe(), "rule removed"),
            Ok(Outcome::AlreadySo) => {}
            Err(e) => warn!(instance = who, error = %e, "cannot remove rule"),
        }
    }
    for r in routes {
        match routing.remove_route(r) {
            Ok(Outcome::Done) => info!(instance = who, route = %r.describe(), "route removed"),
            Ok(Outcome::AlreadySo) => {}
            Err(e) => warn!(instance = who, error = %e, "cannot remove route"),
        }
    }
}

/// The static addresses, routes and rules tandem has added.
#[derive(Default)]
pub struct Statics {
    addresses: Vec<AddressSpec>,
    routes: Vec<RouteSpec>,
    rules: Vec<RuleSpec>,
    /// Which routes are tracked (a `dev`, no `no_track`).
    route_track: Vec<bool>,
    /// Which rules are tracked (no `no_track`).
    rule_track: Vec<bool>,
    /// Whether each interface was last seen up (by name).
    up: std::collections::HashMap<String, bool>,
}

impl Statics {
    /// Makes the host hold `c`'s static addresses, routes and rules: those added before and
    /// no longer configured go, new ones come, the others are left alone. An entry whose
    /// interface is missing is said and left out (a reload tries again).
    pub fn apply(&mut self, c: &conf::Config, addrs: &Addresses, routing: &Routing) {
        let mut addresses = Vec::new();
        for a in &c.static_ipaddress {
            let Some(dev) = a.dev.clone().or_else(|| c.global_defs.default_interface.clone()) else {
                warn!(address = %a.address, "static_ipaddress without dev (and no default_interface): not added");
                continue;
            };
            let ifindex = match index(&dev) {
                Ok(i) => i,
                Err(e) => {
                    warn!(address = %a.address, error = %e, "static_ipaddress not added");
                    continue;
                }
            };
            addresses.push(AddressSpec {
                ifindex,
                ifname: dev,
                address: a.address,
                prefix: a.prefix,
                broadcast: match a.brd {
                    Some(std::net::IpAddr::V4(b)) => Some(b),
                    _ => None,
                },
                scope: a.scope.as_deref().and_then(parse_scope).unwrap_or(0),
                label: a.label.clone(),
            });
        }
        let mut routes = Vec::new();
        let mut route_track = Vec::new();
        for r in &c.static_routes {
            match route_spec(r) {
                Ok(s) => {
                    routes.push(s);
                    route_track.push(!r.no_track && r.dev.is_some());
                }
                Err(e) => warn!(route = %r.to, error = %e, "static route not added"),
            }
        }
        self.route_track = route_track;
        let rules: Vec<RuleSpec> = c.static_rules.iter().map(rule_spec).collect();
        self.rule_track = c.static_rules.iter().map(|r| !r.no_track).collect();

        let keep_a: HashSet<&AddressSpec> = addresses.iter().collect();
        let keep_r: HashSet<&RouteSpec> = routes.iter().collect();
        let keep_u: HashSet<&RuleSpec> = rules.iter().collect();
        let gone_rules: Vec<RuleSpec> = self.rules.iter().filter(|r| !keep_u.contains(r)).cloned().collect();
        let gone_routes: Vec<RouteSpec> = self.routes.iter().filter(|r| !keep_r.contains(r)).cloned().collect();
        remove_all(routing, "static", &gone_routes, &gone_rules);
        for a in self.addresses.iter().filter(|a| !keep_a.contains(a)) {
            match addrs.remove(a) {
                Ok(_) => info!(address = %a.address, interface = %a.ifname, "static address removed"),
                Err(e) => warn!(error = %e, "cannot remove static address"),
            }
        }
        let had_a: HashSet<&AddressSpec> = self.addresses.iter().collect();
        for a in addresses.iter().filter(|a| !had_a.contains(a)) {
            match addrs.add(a) {
                Ok(_) => info!(address = %a.address, interface = %a.ifname, "static address added"),
                Err(e) => warn!(error = %e, "cannot add static address"),
            }
        }
        let had_r: HashSet<&RouteSpec> = self.routes.iter().collect();
        let had_u: HashSet<&RuleSpec> = self.rules.iter().collect();
        let new_routes: Vec<RouteSpec> = routes.iter().filter(|r| !had_r.contains(r)).cloned().collect();
        let new_rules: Vec<RuleSpec> = rules.iter().filter(|r| !had_u.contains(r)).cloned().collect();
        add_all(routing, "static", &new_routes, &new_rules);
        (self.addresses, self.routes, self.rules) = (addresses, routes, rules);
    }

    /// A link changed. When one comes up again (or appears), the kernel has dropped the
    /// routes through it while it was down: the static entries are added again where they are
    /// missing, and those that could not be resolved before are tried, as keepalived restores
    /// its static routes ("Restoring deleted static route").
    pub fn link(&mut self, c: &conf::Config, name: &str, up: bool, addrs: &Addresses, routing: &Routing) {
        // (An interface first heard of may have been down at start: restoring is harmless.)
        if self.up.insert(name.to_string(), up) == Some(true) || !up {
            return;
        }
        self.apply(c, addrs, routing);
        for a in &self.addresses {
            if let Ok(Outcome::Done) = addrs.add(a) {
                info!(address = %a.address, interface = %a.ifname, "static address restored");
            }
        }
        for r in &self.routes {
            if let Ok(Outcome::Done) = routing.add_route(r) {
                info!(route = %r.describe(), "static route restored");
            }
        }
        for r in &self.rules {
            if let Ok(Outcome::Done) = routing.add_rule(r) {
                info!(rule = %r.describe(), "static rule restored");
            }
        }
    }

    /// A route or rule was deleted on the host: a static one that tandem holds is put back
    /// at once, as keepalived reinstates it (keepalived_netlink.c, netlink_route_filter:
    /// reinstate_static_route; only routes with a `dev` and rules without `no_track`, as
    /// there).
    pub fn deleted(&self, d: &Deleted, routing: &Routing) {
        for (r, _) in self.routes.iter().zip(&self.route_track).filter(|(r, track)| **track && d.is_route(r)) {
            match routing.add_route(r) {
                Ok(Outcome::Done) => info!(route = %r.describe(), "static route deleted on the host: put back"),
                Ok(Outcome::AlreadySo) => {}
                Err(e) => warn!(error = %e, "cannot put back a deleted static route"),
            }
        }
        for (r, track) in self.rules.iter().zip(&self.rule_track) {
            if *track && d.is_rule(r) {
                match routing.add_rule(r) {
                    Ok(Outcome::Done) => info!(rule = %r.describe(), "static rule deleted on the host: put back"),
                    Ok(Outcome::AlreadySo) => {}
                    Err(e) => warn!(error = %e, "cannot put back a deleted static rule"),
                }
            }
        }
    }

    /// Removes every static rule, route and address (tandem stops).
    pub fn clear(&mut self, addrs: &Addresses, routing: &Routing) {
        self.apply(&conf::Config::default(), addrs, routing);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tracked_rule_gets_keepalived_protocol_and_metrics_lock() {
        let mut r = conf::Rule::new();
        r.table = Some(100);
        assert_eq!(rule_spec(&r).protocol, Some(RTPROT_KEEPALIVED));
        r.no_track = true;
        assert_eq!(rule_spec(&r).protocol, None);
        r.protocol = Some(4);
        assert_eq!(rule_spec(&r).protocol, Some(4));
        let m = conf::RouteMetrics {
            mtu: Some(1400),
            congctl: Some("cubic".into()),
            lock: vec!["mtu".into(), "congctl".into()],
            ..Default::default()
        };
        let out = metrics(&m);
        assert_eq!(out[0], (rtax::LOCK, Metric::U32((1 << rtax::MTU) | (1 << rtax::CC_ALGO))));
        assert!(out.contains(&(rtax::CC_ALGO, Metric::Name("cubic".into()))));
    }
}
