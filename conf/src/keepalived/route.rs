//! `virtual_routes`, `virtual_rules` (in a vrrp_instance), `static_routes`, `static_rules`:
//! one route or rule a line, in `ip route add` / `ip rule add` words, as keepalived 2.2.7
//! reads them (keepalived/vrrp/vrrp_iproute.c `alloc_route`, vrrp_iprule.c `alloc_rule`,
//! vrrp_ip_rule_route_parser.c for realms, rtt and names).
//!
//! Differences from keepalived: a prefix with host bits set (`10.1.2.3/16`), which the kernel
//! refuses when the route is added, is an error here; an option tandem cannot apply (`encap`,
//! `vrf`) is a warning that drops that route, rather than an error or a route added without it.

use super::tree::{Stmt, Word};
use super::values::Ctx;
use crate::model::{
    Family, Nexthop, Prefix, Range, Route, RouteMetrics, RouteMode, RouteType, Rule, RuleAction, parse_u_any,
    pref_number, protocol_number, scope_number, table_number,
};
use std::net::IpAddr;

/// keepalived gives a rule written without a priority one of its own, counting down from
/// 16384 for each family in the order the rules are read, and says so (vrrp_iprule.c,
/// alloc_rule: "Rule has no preference specified").
pub(crate) struct RulePriorities {
    inet: u32,
    inet6: u32,
}

impl Default for RulePriorities {
    fn default() -> Self {
        RulePriorities { inet: 16384, inet6: 16384 }
    }
}

impl RulePriorities {
    fn next(&mut self, f: Family) -> u32 {
        let n = if f == Family::Inet { &mut self.inet } else { &mut self.inet6 };
        let p = *n;
        *n = n.saturating_sub(1);
        p
    }
}

/// The words of one line, with a cursor.
struct Line<'a> {
    words: Vec<&'a Word>,
    i: usize,
}

impl<'a> Line<'a> {
    fn new(e: &'a Stmt) -> Line<'a> {
        Line { words: std::iter::once(&e.keyword).chain(&e.args).collect(), i: 0 }
    }

    fn peek(&self) -> Option<&'a Word> {
        self.words.get(self.i).copied()
    }

    fn next(&mut self) -> Option<&'a Word> {
        let w = self.peek();
        self.i += 1;
        w
    }

    /// The value after option `opt`, or an error that it needs one.
    fn value(&mut self, cx: &mut Ctx, opt: &Word, what: &str) -> Option<&'a Word> {
        let w = self.next();
        if w.is_none() {
            cx.error(opt.span, format!("`{}` needs {what}", opt.text));
        }
        w
    }

    /// `lock` before a metric's value.
    fn lock(&mut self) -> bool {
        let locked = self.peek().is_some_and(|w| w.text == "lock");
        if locked {
            self.i += 1;
        }
        locked
    }
}

/// Reads the lines of a `virtual_routes` / `static_routes` block.
pub(super) fn routes(cx: &mut Ctx, st: &Stmt, path: &str, is_static: bool) -> Vec<Route> {
    lines(cx, st, path, is_static, route)
}

/// Reads the lines of a `virtual_rules` / `static_rules` block.
pub(super) fn rules(cx: &mut Ctx, st: &Stmt, path: &str, is_static: bool) -> Vec<Rule> {
    lines(cx, st, path, is_static, rule)
}

/// Each line of the block read by `read`, its place recorded at `path[i]`.
fn lines<T>(
    cx: &mut Ctx,
    st: &Stmt,
    path: &str,
    is_static: bool,
    read: fn(&mut Ctx, &Stmt, bool) -> Option<T>,
) -> Vec<T> {
    let mut out = Vec::new();
    for e in cx.block(st) {
        cx.map.set(format!("{path}[{}]", out.len()), e.span());
        if let Some(r) = read(cx, e, is_static) {
            out.push(r);
        }
    }
    out
}

/// Family bookkeeping: the first address (or `inet`/`inet6`) fixes it; a later one of the
/// other family is an error.
fn same_family(cx: &mut Ctx, family: &mut Option<Family>, f: Family, w: &Word) -> bool {
    match family {
        Some(have) if *have != f => {
            cx.error(w.span, format!("`{}` is {} in a {} route or rule", w.text, f.name(), have.name()));
            false
        }
        _ => {
            *family = Some(f);
            true
        }
    }
}

fn ip(cx: &mut Ctx, w: &Word, what: &str) -> Option<IpAddr> {
    let a = w.text.parse::<IpAddr>().ok();
    if a.is_none() {
        cx.error(w.span, format!("`{}` is not an IP address ({what})", w.text));
    }
    a
}

/// A prefix that the kernel takes: host bits clear. `default`/`any`/`all` take the family
/// known so far (or given later: see `fix_default`).
fn prefix(cx: &mut Ctx, w: &Word, what: &str) -> Option<Prefix> {
    match w.text.parse::<Prefix>() {
        Ok(p) if p.is_network() => Some(p),
        Ok(p) => {
            cx.error(
                w.span,
                format!("{what} `{}` has bits set past its prefix length; the kernel refuses it (write the network, like {})", w.text, network(p)),
            );
            None
        }
        Err(e) => {
            cx.error(w.span, format!("{what}: {e}"));
            None
        }
    }
}

fn network(p: Prefix) -> Prefix {
    let address = match p.address {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(p.len)).unwrap_or(0);
            IpAddr::from((u32::from(a) & mask).to_be_bytes())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(p.len)).unwrap_or(0);
            IpAddr::from((u128::from(a) & mask).to_be_bytes())
        }
    };
    Prefix { address, len: p.len }
}

fn is_default_word(w: &Word) -> bool {
    matches!(w.text.as_str(), "default" | "any" | "all")
}

fn num<T: TryFrom<u64>>(cx: &mut Ctx, w: &Word, what: &str, max: u64) -> Option<T> {
    match parse_u_any(&w.text).filter(|v| *v <= max).and_then(|v| T::try_from(v).ok()) {
        Some(v) => Some(v),
        None => {
            cx.error(w.span, format!("`{}` is not a valid {what} (0-{max})", w.text));
            None
        }
    }
}

/// A name from one of iproute2's tables (/etc/iproute2/FILE, then /usr/share/iproute2/FILE),
/// as keepalived's rttables.c reads them.
fn iproute2_name(file: &str, name: &str) -> Option<u64> {
    for dir in ["/etc/iproute2", "/usr/share/iproute2", "/usr/lib/iproute2"] {
        let Ok(text) = std::fs::read_to_string(format!("{dir}/{file}")) else { continue };
        for line in text.lines() {
            let mut it = line.split_whitespace();
            if let (Some(n), Some(w)) = (it.next(), it.next()) {
                if w == name && !n.starts_with('#') {
                    return parse_u_any(n);
                }
            }
        }
    }
    None
}

fn table(cx: &mut Ctx, w: &Word) -> Option<u32> {
    let t = table_number(&w.text).or_else(|| iproute2_name("rt_tables", &w.text).and_then(|v| u32::try_from(v).ok()));
    if t.is_none() {
        cx.error(w.span, format!("routing table `{}` is not a number nor a name of /etc/iproute2/rt_tables", w.text));
    }
    t
}

fn dsfield(cx: &mut Ctx, w: &Word) -> Option<u8> {
    let v = parse_u_any(&w.text).or_else(|| iproute2_name("rt_dsfield", &w.text)).and_then(|v| u8::try_from(v).ok());
    if v.is_none() {
        cx.error(w.span, format!("TOS `{}` is not a number 0-255 (0x.. for hex) nor a name of rt_dsfield", w.text));
    }
    v
}

/// `realms [FROM/]TO`: FROM in the high 16 bits (vrrp_ip_rule_route_parser.c, get_realms).
fn realms(cx: &mut Ctx, w: &Word) -> Option<u32> {
    let one = |s: &str| {
        parse_u_any(s).or_else(|| iproute2_name("rt_realms", s)).and_then(|v| u16::try_from(v).ok()).map(u32::from)
    };
    let v = match w.text.split_once('/') {
        Some((from, to)) => one(from).zip(one(to)).map(|(f, t)| (f << 16) | t),
        None => one(&w.text),
    };
    if v.is_none() {
        cx.error(w.span, format!("realms `{}` is not [FROM/]TO with realms 0-65535 or names of rt_realms", w.text));
    }
    v
}

/// `rtt`-like times: a bare number is the kernel's units, `Ns` / `Nms` are converted with
/// `per_ms` units a millisecond; the result is held within 200 ms - 120 s, with a warning, as
/// keepalived holds it (vrrp_ip_rule_route_parser.c, get_time_rtt, RTT_MIN_MS / RTT_MAX_MS).
fn rtt(cx: &mut Ctx, w: &Word, per_ms: u32) -> Option<u32> {
    let s = w.text.to_ascii_lowercase();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms").or_else(|| s.strip_suffix("msec")) {
        (n, per_ms)
    } else if let Some(n) = s.strip_suffix("secs").or_else(|| s.strip_suffix("sec")).or_else(|| s.strip_suffix('s')) {
        (n, per_ms * 1000)
    } else {
        (s.as_str(), 1)
    };
    let Some(v) = num.parse::<u32>().ok().and_then(|v| v.checked_mul(mult)) else {
        cx.error(w.span, format!("`{}` is not a time (N, Nms or Ns)", w.text));
        return None;
    };
    let (min, max) = (200 * per_ms, 120_000 * per_ms);
    if v < min {
        cx.warn(w.span, format!("`{}` is below 200ms; 200ms is used, as keepalived does", w.text));
        Some(min)
    } else if v > max {
        cx.warn(w.span, format!("`{}` is above 120s; 120s is used, as keepalived does", w.text));
        Some(max)
    } else {
        Some(v)
    }
}

fn on_off(cx: &mut Ctx, w: &Word) -> Option<bool> {
    match w.text.as_str() {
        "0" => Some(false),
        "1" => Some(true),
        o => {
            cx.error(w.span, format!("expected 0 or 1, found `{o}`"));
            None
        }
    }
}

/// One route line.
fn route(cx: &mut Ctx, e: &Stmt, is_static: bool) -> Option<Route> {
    let mut l = Line::new(e);
    let mut r = Route::new(Prefix::default_of(Family::Inet));
    let mut to: Option<&Word> = None;
    let mut family: Option<Family> = None;
    let mut ok = true;
    let mut dropped: Option<String> = None;
    while let Some(w) = l.next() {
        let opt = w.text.as_str();
        macro_rules! val {
            ($what:expr) => {
                match l.value(cx, w, $what) {
                    Some(v) => v,
                    None => {
                        ok = false;
                        break;
                    }
                }
            };
        }
        match opt {
            "inet" => ok &= same_family(cx, &mut family, Family::Inet, w),
            "inet6" => ok &= same_family(cx, &mut family, Family::Inet6, w),
            "src" => {
                let v = val!("an address");
                match ip(cx, v, "the route's preferred source") {
                    Some(a) => {
                        ok &= same_family(cx, &mut family, Family::of(&a), v);
                        r.src = Some(a);
                    }
                    None => ok = false,
                }
            }
            "from" => {
                let v = val!("a prefix");
                match prefix(cx, v, "route source") {
                    Some(p) if p.family() == Family::Inet6 => {
                        ok &= same_family(cx, &mut family, Family::Inet6, v);
                        r.from = Some(p);
                    }
                    Some(_) => {
                        cx.error(v.span, "a route's `from` is only for IPv6 (the kernel has no IPv4 source routes)");
                        ok = false;
                    }
                    None => ok = false,
                }
            }
            "via" | "gw" => {
                if opt == "gw" {
                    cx.warn(w.span, "`gw` for routes is deprecated (keepalived says so too); write `via`");
                }
                let mut v = val!("an address");
                let mut via_family = None;
                if matches!(v.text.as_str(), "inet" | "inet6") {
                    via_family = Some(if v.text == "inet" { Family::Inet } else { Family::Inet6 });
                    v = val!("an address");
                }
                match ip(cx, v, "the gateway") {
                    Some(a) if via_family.is_some_and(|f| f != Family::of(&a)) => {
                        cx.error(v.span, format!("`{a}` is not of the family named before it"));
                        ok = false;
                    }
                    Some(a) => {
                        // An IPv6 gateway of an IPv4 route (RTA_VIA) is written `via inet6 ADDR`.
                        if via_family.is_none() {
                            ok &= same_family(cx, &mut family, Family::of(&a), v);
                        }
                        r.via = Some(a);
                    }
                    None => ok = false,
                }
            }
            "dev" | "oif" => r.dev = Some(val!("an interface").text.to_string()),
            "tos" | "dsfield" => {
                r.tos = {
                    let v = val!("a TOS value");
                    dsfield(cx, v).or_else(|| fail(&mut ok))
                }
            }
            "table" => {
                r.table = {
                    let v = val!("a table");
                    table(cx, v).or_else(|| fail(&mut ok))
                }
            }
            "protocol" | "proto" => {
                let v = val!("a protocol");
                if protocol_number(&v.text).is_some() || iproute2_name("rt_protos", &v.text).is_some() {
                    r.protocol = Some(v.text.to_string());
                } else {
                    cx.error(v.span, format!("route protocol `{}` is not a number 0-255 nor a known name", v.text));
                    ok = false;
                }
            }
            "scope" => {
                let v = val!("a scope");
                if scope_number(&v.text).is_some() {
                    r.scope = Some(v.text.to_string());
                } else {
                    cx.error(v.span, format!("scope `{}` is not global, site, link, host, nowhere or 0-255", v.text));
                    ok = false;
                }
            }
            "metric" | "priority" | "preference" => {
                r.metric = {
                    let v = val!("a number");
                    num(cx, v, "metric", u64::from(u32::MAX)).or_else(|| fail(&mut ok))
                }
            }
            "onlink" => r.onlink = true,
            "realms" => {
                let v = val!("realms");
                ok &= same_family(cx, &mut family, Family::Inet, v);
                r.realms = realms(cx, v).or_else(|| fail(&mut ok));
            }
            "expires" => {
                let v = val!("seconds");
                ok &= same_family(cx, &mut family, Family::Inet6, v);
                r.expires = num(cx, v, "expires time", u64::from(u32::MAX)).or_else(|| fail(&mut ok));
            }
            "pref" => {
                let v = val!("low, medium or high");
                ok &= same_family(cx, &mut family, Family::Inet6, v);
                if pref_number(&v.text).is_some() {
                    r.pref = Some(v.text.to_string());
                } else {
                    cx.error(v.span, format!("pref `{}` is not low, medium, high or 0-255", v.text));
                    ok = false;
                }
            }
            "ttl-propagate" => {
                let v = val!("enabled or disabled");
                match v.text.as_str() {
                    "enabled" => r.ttl_propagate = Some(true),
                    "disabled" => r.ttl_propagate = Some(false),
                    o => {
                        cx.error(v.span, format!("ttl-propagate must be enabled or disabled, not `{o}`"));
                        ok = false;
                    }
                }
            }
            "mtu" | "advmss" | "reordering" | "cwnd" | "ssthresh" | "rtt" | "rttvar" | "rto_min" | "window"
            | "initcwnd" | "initrwnd" | "hoplimit" | "quickack" | "fastopen_no_cookie" => {
                let locked = RouteMetrics::LOCKABLE.contains(&opt) && l.lock();
                let v = val!("a value");
                let m = &mut r.metrics;
                let max = u64::from(u32::MAX);
                let set = match opt {
                    "mtu" => num(cx, v, opt, max).map(|x| m.mtu = Some(x)),
                    "advmss" => num(cx, v, opt, max).map(|x| m.advmss = Some(x)),
                    "reordering" => num(cx, v, opt, max).map(|x| m.reordering = Some(x)),
                    "cwnd" => num(cx, v, opt, max).map(|x| m.cwnd = Some(x)),
                    "ssthresh" => num(cx, v, opt, max).map(|x| m.ssthresh = Some(x)),
                    "window" => num(cx, v, opt, max).map(|x| m.window = Some(x)),
                    "initcwnd" => num(cx, v, opt, max).map(|x| m.initcwnd = Some(x)),
                    "initrwnd" => num(cx, v, opt, max).map(|x| m.initrwnd = Some(x)),
                    "hoplimit" => num(cx, v, opt, 255).map(|x| m.hoplimit = Some(x)),
                    "rtt" => rtt(cx, v, 8).map(|x| m.rtt = Some(x)),
                    "rttvar" => rtt(cx, v, 4).map(|x| m.rttvar = Some(x)),
                    "rto_min" => rtt(cx, v, 1).map(|x| m.rto_min = Some(x)),
                    "quickack" => on_off(cx, v).map(|x| m.quickack = Some(x)),
                    _ => on_off(cx, v).map(|x| m.fastopen_no_cookie = Some(x)),
                };
                ok &= set.is_some();
                if locked {
                    m.lock.push(opt.to_string());
                }
            }
            "congctl" => {
                let locked = l.lock();
                r.metrics.congctl = Some(val!("an algorithm").text.to_string());
                if locked {
                    r.metrics.lock.push("congctl".into());
                }
            }
            "features" => {
                let v = val!("a feature");
                if v.text == "ecn" {
                    r.metrics.ecn = true;
                } else {
                    cx.error(v.span, format!("route feature `{}` is not known (ecn)", v.text));
                    ok = false;
                }
            }
            "add" => r.mode = RouteMode::Add,
            "append" => r.mode = RouteMode::Append,
            "prepend" => r.mode = RouteMode::Prepend,
            "or" => {
                cx.warn(
                    w.span,
                    "`or` for routes is deprecated (keepalived says so too); write `nexthop via A nexthop via B`",
                );
                let v = val!("an address");
                if !r.nexthop.is_empty() {
                    cx.warn(v.span, "a second `or` is ignored, as keepalived does");
                    continue;
                }
                match ip(cx, v, "the alternative gateway") {
                    Some(a) => {
                        ok &= same_family(cx, &mut family, Family::of(&a), v);
                        let first = Nexthop { via: r.via.take(), dev: None, weight: None, onlink: false, realms: None };
                        r.nexthop.push(first);
                        r.nexthop.push(Nexthop { via: Some(a), dev: None, weight: None, onlink: false, realms: None });
                    }
                    None => ok = false,
                }
            }
            "nexthop" => {
                if !r.nexthop.is_empty() {
                    cx.error(w.span, "a route with `or` cannot also have nexthops");
                    ok = false;
                    break;
                }
                l.i -= 1;
                ok &= nexthops(cx, &mut l, &mut r, &mut family);
                break;
            }
            "no_track" => r.no_track = true,
            "track_group" => {
                let v = val!("a track group");
                if is_static {
                    cx.warn(
                        v.span.to(w.span),
                        "`track_group` is not supported by tandem; ignored: the static route stays while the group's interfaces are down (keepalived removes it then)",
                    );
                } else {
                    cx.error(w.span, "`track_group` is only for static routes");
                    ok = false;
                }
            }
            "as" => {
                if l.peek().is_some_and(|n| n.text == "to") {
                    l.i += 1;
                }
                let v = val!("an address");
                cx.warn(v.span.to(w.span), "`as to` is for MPLS routes only; ignored, as keepalived does");
            }
            "encap" | "vrf" => {
                dropped = Some(opt.to_string());
                // The rest of the line belongs to the option; the route is not added.
                l.i = l.words.len();
            }
            _ => {
                let mut d = w;
                if opt == "to" {
                    d = val!("a prefix");
                }
                if let Some(t) = RouteType::from_name(&d.text) {
                    r.route_type = Some(t);
                    d = val!("a prefix");
                }
                if to.is_some() {
                    cx.error(
                        d.span,
                        format!("unknown route option `{}` (the route already has a destination)", d.text),
                    );
                    ok = false;
                    continue;
                }
                if !is_default_word(d) {
                    match prefix(cx, d, "route destination") {
                        Some(p) => {
                            ok &= same_family(cx, &mut family, p.family(), d);
                            r.to = p;
                        }
                        None => {
                            // Said; no second error for a missing destination.
                            ok = false;
                            to = Some(d);
                            continue;
                        }
                    }
                }
                to = Some(d);
            }
        }
    }
    if let Some(what) = dropped {
        cx.warn(
            e.span(),
            format!("`{what}` is not supported by tandem; this route is not added (without `{what}` it would send traffic elsewhere)"),
        );
        return None;
    }
    if to.is_none() {
        if ok {
            cx.error(e.span(), "a route needs a destination (like 10.1.0.0/16 or default)");
        }
        return None;
    }
    let f = family.unwrap_or(Family::Inet);
    if to.is_some_and(is_default_word) {
        r.to = Prefix::default_of(f);
    }
    if r.tos.is_some() && f == Family::Inet6 {
        cx.warn(e.span(), "`tos` of an IPv6 route: the kernel refuses a non-zero one");
    }
    ok.then_some(r)
}

fn fail<T>(ok: &mut bool) -> Option<T> {
    *ok = false;
    None
}

/// `nexthop [via [inet|inet6] ADDR] [dev IF] [weight N] [onlink] [realms R]` ... to the end of
/// the line (vrrp_iproute.c, parse_nexthops).
fn nexthops(cx: &mut Ctx, l: &mut Line, r: &mut Route, family: &mut Option<Family>) -> bool {
    let mut ok = true;
    while let Some(w) = l.next() {
        if w.text != "nexthop" {
            cx.error(w.span, format!("unknown nexthop option `{}` (via, dev, weight, onlink, realms)", w.text));
            return false;
        }
        let mut nh = Nexthop { via: None, dev: None, weight: None, onlink: false, realms: None };
        while let Some(o) = l.peek() {
            if o.text == "nexthop" {
                break;
            }
            l.i += 1;
            if !matches!(o.text.as_str(), "via" | "dev" | "weight" | "onlink" | "realms" | "encap") {
                cx.error(
                    o.span,
                    format!("`{}` after the nexthops: a nexthop takes via, dev, weight, onlink and realms; the route's own options go before the first `nexthop`", o.text),
                );
                return false;
            }
            let Some(v) = (if o.text == "onlink" { Some(o) } else { l.value(cx, o, "a value") }) else {
                return false;
            };
            match o.text.as_str() {
                "via" => {
                    let mut v = v;
                    if matches!(v.text.as_str(), "inet" | "inet6") {
                        let Some(n) = l.value(cx, v, "an address") else { return false };
                        v = n;
                    }
                    match ip(cx, v, "the next hop") {
                        Some(a) => {
                            ok &= same_family(cx, family, Family::of(&a), v);
                            nh.via = Some(a);
                        }
                        None => ok = false,
                    }
                }
                "dev" => nh.dev = Some(v.text.to_string()),
                "weight" => match num::<u16>(cx, v, "weight", 256) {
                    Some(0) => {
                        cx.error(v.span, "a nexthop's weight is 1-256");
                        ok = false;
                    }
                    x => nh.weight = x.or_else(|| fail(&mut ok)),
                },
                "onlink" => nh.onlink = true,
                "realms" => {
                    ok &= same_family(cx, family, Family::Inet, v);
                    nh.realms = realms(cx, v).or_else(|| fail(&mut ok));
                }
                "encap" => {
                    cx.error(o.span, "`encap` is not supported by tandem");
                    return false;
                }
                other => {
                    cx.error(o.span, format!("unknown nexthop option `{other}` (via, dev, weight, onlink, realms)"));
                    return false;
                }
            }
        }
        r.nexthop.push(nh);
    }
    ok
}

/// IP protocol names (/etc/protocols' common ones) or a number.
fn ipproto(cx: &mut Ctx, w: &Word) -> Option<u8> {
    const NAMES: &[(&str, u8)] = &[
        ("icmp", 1),
        ("igmp", 2),
        ("ipip", 4),
        ("tcp", 6),
        ("egp", 8),
        ("udp", 17),
        ("ipv6", 41),
        ("gre", 47),
        ("esp", 50),
        ("ah", 51),
        ("ipv6-icmp", 58),
        ("icmpv6", 58),
        ("ospf", 89),
        ("pim", 103),
        ("vrrp", 112),
        ("sctp", 132),
        ("udplite", 136),
    ];
    let lower = w.text.to_ascii_lowercase();
    let v = NAMES.iter().find(|(n, _)| *n == lower).map(|(_, v)| *v).or_else(|| lower.parse().ok());
    if v.is_none() {
        cx.error(w.span, format!("IP protocol `{}` is not a number 0-255 nor a known name (tcp, udp, ...)", w.text));
    }
    v
}

fn port_range(cx: &mut Ctx, w: &Word) -> Option<Range<u16>> {
    let r = match w.text.split_once('-') {
        Some((a, b)) => a.parse().ok().zip(b.parse().ok()).map(|(start, end)| Range { start, end }),
        None => w.text.parse().ok().map(|p| Range { start: p, end: p }),
    };
    match r {
        Some(r) if r.start <= r.end => Some(r),
        _ => {
            cx.error(w.span, format!("`{}` is not a port or a range A-B", w.text));
            None
        }
    }
}

/// One rule line.
fn rule(cx: &mut Ctx, e: &Stmt, is_static: bool) -> Option<Rule> {
    let mut l = Line::new(e);
    let mut r = Rule::new();
    let mut family: Option<Family> = None;
    let mut ok = true;
    let mut action_at: Option<&Word> = None;
    // (from, to) written as default: their family is known at the end.
    let mut defaults = (false, false);
    while let Some(w) = l.next() {
        let opt = w.text.as_str();
        macro_rules! val {
            ($what:expr) => {
                match l.value(cx, w, $what) {
                    Some(v) => v,
                    None => {
                        ok = false;
                        break;
                    }
                }
            };
        }
        let mut action = |cx: &mut Ctx, ok: &mut bool| {
            if let Some(prev) = action_at {
                cx.error(
                    w.span,
                    format!(
                        "a rule has one of table, goto, nop, blackhole, unreachable, prohibit, l3mdev: `{}` came first",
                        prev.text
                    ),
                );
                *ok = false;
            }
            action_at = Some(w);
        };
        match opt {
            "inet" => ok &= same_family(cx, &mut family, Family::Inet, w),
            "inet6" => ok &= same_family(cx, &mut family, Family::Inet6, w),
            "from" | "to" => {
                let v = val!("a prefix");
                if is_default_word(v) {
                    if opt == "from" {
                        defaults.0 = true;
                    } else {
                        defaults.1 = true;
                    }
                    continue;
                }
                match prefix(cx, v, if opt == "from" { "rule source" } else { "rule destination" }) {
                    Some(p) => {
                        ok &= same_family(cx, &mut family, p.family(), v);
                        if opt == "from" {
                            r.from = Some(p);
                        } else {
                            r.to = Some(p);
                        }
                    }
                    None => ok = false,
                }
            }
            "table" | "lookup" => {
                let v = val!("a table");
                action(cx, &mut ok);
                match table(cx, v) {
                    Some(0) => {
                        cx.error(v.span, "table 0 is not valid for a rule");
                        ok = false;
                    }
                    t => r.table = t.or_else(|| fail(&mut ok)),
                }
            }
            "not" => r.not = true,
            "priority" | "preference" | "order" | "pref" => {
                r.priority = {
                    let v = val!("a number");
                    num(cx, v, "rule priority", u64::from(u32::MAX)).or_else(|| fail(&mut ok))
                }
            }
            "tos" | "dsfield" => {
                r.tos = {
                    let v = val!("a TOS value");
                    dsfield(cx, v).or_else(|| fail(&mut ok))
                }
            }
            "fwmark" => {
                let v = val!("a mark");
                let (mark, mask) = match v.text.split_once('/') {
                    Some((m, k)) => (m, Some(k)),
                    None => (v.text.as_str(), None),
                };
                let max = u64::from(u32::MAX);
                let m = parse_u_any(mark).filter(|x| *x <= max).and_then(|x| u32::try_from(x).ok());
                let k = mask.map(|k| parse_u_any(k).filter(|x| *x <= max).and_then(|x| u32::try_from(x).ok()));
                match (m, k) {
                    (Some(m), None) => r.fwmark = Some(m),
                    (Some(m), Some(Some(k))) => {
                        r.fwmark = Some(m);
                        r.fwmask = Some(k);
                    }
                    _ => {
                        cx.error(
                            v.span,
                            format!("fwmark `{}` is not MARK or MARK/MASK (numbers, 0x.. for hex)", v.text),
                        );
                        ok = false;
                    }
                }
            }
            "realms" => {
                let v = val!("realms");
                ok &= same_family(cx, &mut family, Family::Inet, v);
                r.realms = realms(cx, v).or_else(|| fail(&mut ok));
            }
            "suppress_prefixlength" | "sup_pl" => {
                r.suppress_prefixlength = {
                    let v = val!("a number");
                    num(cx, v, "suppress_prefixlength", i32::MAX as u64).or_else(|| fail(&mut ok))
                }
            }
            "suppress_ifgroup" | "sup_group" => {
                let v = val!("a group");
                let g = parse_u_any(&v.text)
                    .or_else(|| iproute2_name("group", &v.text))
                    .and_then(|x| u32::try_from(x).ok());
                if g.is_none() {
                    cx.error(
                        v.span,
                        format!("interface group `{}` is not a number nor a name of /etc/iproute2/group", v.text),
                    );
                    ok = false;
                }
                r.suppress_ifgroup = g;
            }
            "dev" | "iif" => r.iif = Some(val!("an interface").text.to_string()),
            "oif" => r.oif = Some(val!("an interface").text.to_string()),
            "tunnel-id" => {
                r.tunnel_id = {
                    let v = val!("a number");
                    num(cx, v, "tunnel-id", u64::MAX).or_else(|| fail(&mut ok))
                }
            }
            "uidrange" => {
                let v = val!("a range A-B");
                match v.text.split_once('-').and_then(|(a, b)| a.parse::<u32>().ok().zip(b.parse::<u32>().ok())) {
                    Some((start, end)) if start <= end => r.uidrange = Some(Range { start, end }),
                    _ => {
                        cx.error(v.span, format!("uidrange `{}` is not A-B", v.text));
                        ok = false;
                    }
                }
            }
            "l3mdev" => {
                action(cx, &mut ok);
                r.l3mdev = true;
            }
            "protocol" | "proto" => {
                let v = val!("a protocol");
                match protocol_number(&v.text) {
                    Some(p) => r.protocol = Some(p),
                    None => {
                        cx.error(v.span, format!("rule protocol `{}` is not a number 0-255 nor a known name", v.text));
                        ok = false;
                    }
                }
            }
            "ipproto" | "ip_proto" => {
                r.ipproto = {
                    let v = val!("a protocol");
                    ipproto(cx, v).or_else(|| fail(&mut ok))
                }
            }
            "sport" => {
                r.sport = {
                    let v = val!("a port range");
                    port_range(cx, v).or_else(|| fail(&mut ok))
                }
            }
            "dport" => {
                r.dport = {
                    let v = val!("a port range");
                    port_range(cx, v).or_else(|| fail(&mut ok))
                }
            }
            "no_track" => r.no_track = true,
            "track_group" => {
                let v = val!("a track group");
                if is_static {
                    cx.warn(
                        v.span.to(w.span),
                        "`track_group` is not supported by tandem; ignored: the static rule stays while the group's interfaces are down (keepalived removes it then)",
                    );
                } else {
                    cx.error(w.span, "`track_group` is only for static rules");
                    ok = false;
                }
            }
            _ => {
                let mut a = w;
                if opt == "type" {
                    a = val!("an action");
                }
                match a.text.as_str() {
                    "goto" => {
                        let v = val!("a rule priority");
                        action(cx, &mut ok);
                        r.goto = num(cx, v, "goto target", u64::from(u32::MAX)).or_else(|| fail(&mut ok));
                    }
                    "nop" | "blackhole" | "unreachable" | "prohibit" => {
                        action(cx, &mut ok);
                        r.action = Some(match a.text.as_str() {
                            "nop" => RuleAction::Nop,
                            "blackhole" => RuleAction::Blackhole,
                            "unreachable" => RuleAction::Unreachable,
                            _ => RuleAction::Prohibit,
                        });
                    }
                    other => {
                        cx.error(a.span, format!("unknown rule option `{other}`"));
                        ok = false;
                    }
                }
            }
        }
    }
    let f = family.unwrap_or(Family::Inet);
    if defaults.0 {
        r.from = r.from.or(Some(Prefix::default_of(f)));
    }
    if defaults.1 {
        r.to = r.to.or(Some(Prefix::default_of(f)));
    }
    if r.from.is_none() && r.to.is_none() {
        r.family = family;
    }
    if r.realms.is_some() && r.family() == Family::Inet6 {
        cx.error(e.span(), "`realms` is only for IPv4 rules");
        ok = false;
    }
    // What keepalived refuses after reading the line (vrrp_iprule.c, alloc_rule).
    if let Some(target) = r.goto {
        if r.priority.is_none_or(|p| p >= target) {
            cx.error(e.span(), format!("a rule with `goto {target}` needs a priority below {target}"));
            ok = false;
        }
    }
    if ok && action_at.is_none() {
        cx.error(e.span(), "a rule needs an action: table, goto, nop, blackhole, unreachable, prohibit or l3mdev");
        ok = false;
    }
    if r.table.is_none() && (r.realms.is_some() || r.suppress_prefixlength.is_some() || r.suppress_ifgroup.is_some()) {
        cx.error(e.span(), "realms, suppress_prefixlength and suppress_ifgroup are only for a rule with a table");
        ok = false;
    }
    if ok && r.priority.is_none() {
        let p = cx.rule_priorities.next(r.family());
        r.priority = Some(p);
        cx.warn(e.span(), format!("rule has no priority; it gets {p}, as keepalived gives it (write `priority N`)"));
    }
    ok.then_some(r)
}

#[cfg(test)]
mod tests {
    use crate::model::{Config, Family, Prefix, RouteMode, RouteType, RuleAction};
    use crate::{Options, Severity};

    fn load(text: &str) -> (Config, Vec<String>) {
        let opts = Options { format: Some(crate::Format::Keepalived), ..Options::default() };
        let report = crate::load_str(text, std::path::Path::new("/tmp/k.conf"), &opts);
        let msgs = report
            .diagnostics
            .iter()
            .map(|d| format!("{}: {}", if d.severity == Severity::Error { "error" } else { "warning" }, d.message))
            .collect();
        (report.config, msgs)
    }

    fn p(s: &str) -> Prefix {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn routes_read_every_option() {
        let (c, msgs) = load(
            "static_routes {\n\
             src 192.168.100.1 to 192.168.109.0/24 via 192.168.200.254 dev eth1 table 100 metric 7 protocol bird scope link onlink\n\
             blackhole 192.168.114.0/24\n\
             192.168.200.0/24 dev eth1 tos 0x04 mtu lock 1000 hoplimit 100 advmss 101 rtt 300ms rttvar 1603 reordering 104 window 105 cwnd 106 ssthresh lock 107 realms 5/20 rto_min 1s initcwnd 109 initrwnd 110 features ecn quickack 1 congctl lock cubic fastopen_no_cookie 1 add\n\
             2001:db8:1::/64 from 2001:db8:2::/64 via fe80::1 dev eth1 expires 60 pref high append no_track\n\
             default via 10.0.0.1 table main\n\
             inet6 default via 2001:db8::1\n\
             10.9.0.0/16 nexthop via 10.0.0.1 dev eth0 weight 2 onlink nexthop via 10.0.0.2 dev eth1\n\
             10.8.0.0/16 via 10.0.0.1 or 10.0.0.2\n\
             10.7.0.0/16 via inet6 fe80::1 dev eth0\n\
             }\n",
        );
        assert!(msgs.iter().all(|m| !m.starts_with("error")), "{msgs:?}");
        let r = &c.static_routes;
        assert_eq!(r.len(), 9, "{msgs:?}");
        assert_eq!(r[0].to, p("192.168.109.0/24"));
        assert_eq!(r[0].src, Some("192.168.100.1".parse().unwrap_or_else(|_| unreachable!())));
        assert_eq!((r[0].table, r[0].metric, r[0].protocol.as_deref()), (Some(100), Some(7), Some("bird")));
        assert_eq!((r[0].scope.as_deref(), r[0].onlink, r[0].dev.as_deref()), (Some("link"), true, Some("eth1")));
        assert_eq!(r[1].route_type, Some(RouteType::Blackhole));
        let m = &r[2].metrics;
        assert_eq!(
            (r[2].tos, m.mtu, m.hoplimit, m.rtt, m.rttvar, m.rto_min),
            (Some(4), Some(1000), Some(100), Some(2400), Some(1603), Some(1000))
        );
        assert_eq!(
            (m.ssthresh, m.initrwnd, m.ecn, m.quickack, m.congctl.as_deref()),
            (Some(107), Some(110), true, Some(true), Some("cubic"))
        );
        assert_eq!(m.lock, vec!["mtu", "ssthresh", "congctl"]);
        assert_eq!((r[2].realms, r[2].mode), (Some((5 << 16) | 20), RouteMode::Add));
        assert_eq!(
            (r[3].from, r[3].expires, r[3].pref.as_deref()),
            (Some(p("2001:db8:2::/64")), Some(60), Some("high"))
        );
        assert_eq!((r[3].mode, r[3].no_track), (RouteMode::Append, true));
        assert_eq!((r[4].to, r[4].table), (p("0.0.0.0/0"), Some(254)));
        assert_eq!(r[5].to, p("::/0"));
        assert_eq!(r[6].nexthop.len(), 2);
        assert_eq!((r[6].nexthop[0].weight, r[6].nexthop[0].onlink), (Some(2), true));
        assert_eq!(r[7].nexthop.len(), 2);
        assert_eq!(r[7].via, None);
        assert_eq!(r[8].via, Some("fe80::1".parse().unwrap_or_else(|_| unreachable!())));
        assert_eq!(r[8].family(), Family::Inet);
        assert!(msgs.iter().any(|m| m.contains("`or` for routes is deprecated")));
    }

    #[test]
    fn bad_routes_are_located_errors() {
        for (line, want) in [
            ("10.1.2.3/16 dev eth0", "bits set past its prefix length"),
            ("10.1.0.0/16 via 2001:db8::1", "IPv6 in a IPv4"),
            ("10.1.0.0/16 metric x", "not a valid metric"),
            ("10.1.0.0/16 table nosuchtable", "routing table `nosuchtable`"),
            ("via 10.0.0.1", "needs a destination"),
            ("10.1.0.0/16 scope nowhere2", "scope `nowhere2`"),
            ("10.1.0.0/16 from 10.0.0.0/8", "only for IPv6"),
            ("10.1.0.0/16 nexthop via 10.0.0.1 weight 0", "weight is 1-256"),
            ("10.1.0.0/16 10.2.0.0/16", "already has a destination"),
            ("10.1.0.0/16 mtu", "needs a value"),
            ("10.1.0.0/16 nexthop via 10.0.0.1 no_track", "after the nexthops"),
        ] {
            let (c, msgs) = load(&format!("static_routes {{\n {line}\n}}\n"));
            assert!(c.static_routes.is_empty(), "{line}");
            assert!(msgs.iter().any(|m| m.starts_with("error") && m.contains(want)), "{line}: {msgs:?}");
        }
        let (c, msgs) = load("static_routes {\n 10.1.0.0/16 encap mpls 200 via 10.0.0.1\n}\n");
        assert!(c.static_routes.is_empty());
        assert!(msgs.iter().any(|m| m.starts_with("warning") && m.contains("`encap` is not supported")), "{msgs:?}");
    }

    #[test]
    fn rules_read_every_option() {
        let (c, msgs) = load(
            "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1\n }\n\
             virtual_rules {\n\
             from 192.168.28.0/24 to 192.168.29.0/26 table 100 iif eth0 oif eth1 tos 22 fwmark 24/12 preference 39 realms 30/20\n\
             to 1:2:3:4:5:6:7:0/112 from 7:6:5:4:3:2::/96 table 6908 uidrange 10000-19999 no_track\n\
             to 1:2:3:4:6:6:7:0/112 l3mdev protocol 12 ipproto UDP sport 10-20 dport 20 not\n\
             inet6 goto 40 priority 5\n\
             from all table 7 suppress_prefixlength 0 suppress_ifgroup 3 tunnel-id 9\n\
             from 10.0.0.0/8 blackhole\n\
             to 2001:db8::/32 unreachable\n\
             to 10.0.0.0/8 nop\n\
             }\n}\n",
        );
        assert!(msgs.iter().all(|m| !m.starts_with("error")), "{msgs:?}");
        let r = &c.vrrp_instances[0].virtual_rules;
        assert_eq!(r.len(), 8, "{msgs:?}");
        assert_eq!(
            (r[0].from, r[0].to, r[0].table),
            (Some(p("192.168.28.0/24")), Some(p("192.168.29.0/26")), Some(100))
        );
        assert_eq!((r[0].iif.as_deref(), r[0].oif.as_deref(), r[0].tos), (Some("eth0"), Some("eth1"), Some(22)));
        assert_eq!(
            (r[0].fwmark, r[0].fwmask, r[0].priority, r[0].realms),
            (Some(24), Some(12), Some(39), Some((30 << 16) | 20))
        );
        assert_eq!((r[1].uidrange.map(|u| (u.start, u.end)), r[1].no_track), (Some((10000, 19999)), true));
        assert_eq!((r[2].l3mdev, r[2].protocol, r[2].ipproto, r[2].not), (true, Some(12), Some(17), true));
        assert_eq!(r[2].dport.map(|d| (d.start, d.end)), Some((20, 20)));
        assert_eq!((r[3].family(), r[3].goto, r[3].priority), (Family::Inet6, Some(40), Some(5)));
        assert_eq!((r[4].from, r[4].table), (Some(p("0.0.0.0/0")), Some(7)));
        assert_eq!(
            (r[5].action, r[6].action, r[7].action),
            (Some(RuleAction::Blackhole), Some(RuleAction::Unreachable), Some(RuleAction::Nop))
        );
        // Without a priority: keepalived's, counting down by family in file order.
        assert_eq!(
            (r[1].priority, r[2].priority, r[4].priority, r[5].priority, r[6].priority, r[7].priority),
            (Some(16384), Some(16383), Some(16384), Some(16383), Some(16382), Some(16382))
        );
        assert!(msgs.iter().any(|m| m.contains("rule has no priority; it gets 16384")));
        assert_eq!((r[4].suppress_prefixlength, r[4].suppress_ifgroup, r[4].tunnel_id), (Some(0), Some(3), Some(9)));
    }

    #[test]
    fn bad_rules_are_located_errors() {
        for (line, want) in [
            ("from 10.0.0.0/8 table 1 goto 3", "came first"),
            ("from 10.0.0.1/8 table 1", "bits set"),
            ("from 10.0.0.0/8 to 2001:db8::/32 table 1", "IPv6 in a IPv4"),
            ("from 10.0.0.0/8 fwmark 1/x table 1", "fwmark `1/x`"),
            ("from 10.0.0.0/8 frobnicate", "unknown rule option `frobnicate`"),
            ("from 10.0.0.0/8 table 0", "table 0"),
            ("from 10.0.0.0/8 uidrange 5", "uidrange `5`"),
            ("from 10.0.0.0/8 priority 5", "needs an action"),
            ("from 10.0.0.0/8 goto 5", "needs a priority below 5"),
            ("from 10.0.0.0/8 priority 7 goto 5", "needs a priority below 5"),
            ("from 10.0.0.0/8 blackhole realms 3", "only for a rule with a table"),
        ] {
            let (c, msgs) = load(&format!("static_rules {{\n {line}\n}}\n"));
            assert!(c.static_rules.is_empty(), "{line}");
            assert!(msgs.iter().any(|m| m.starts_with("error") && m.contains(want)), "{line}: {msgs:?}");
        }
    }
}
