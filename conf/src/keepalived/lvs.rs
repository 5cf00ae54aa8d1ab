//! `virtual_server_group`, `virtual_server` and `real_server`.

use super::block_name;
use super::tree::Stmt;
use super::values::Ctx;
use crate::model::{
    Family, ForwardMethod, Protocol, RealServer, SorryServer, Tunnel, TunnelCsum, TunnelType, VirtualServer,
    VirtualServerGroup, VsgMember,
};
use std::net::IpAddr;

pub(super) fn group(cx: &mut Ctx, st: &Stmt, path: &str) -> Option<VirtualServerGroup> {
    let name = block_name(cx, st, path)?;
    let mut g = VirtualServerGroup { name, members: Vec::new() };
    for e in cx.block(st) {
        let here = format!("{path}.members[{}]", g.members.len());
        cx.map.set(&here, e.span());
        if e.keyword.text == "fwmark" {
            if let Some(m) = cx.int(e, 0, 1, i64::from(u32::MAX)) {
                g.members.push(VsgMember { ip: None, range_end: None, port: None, fwmark: Some(m) });
            }
            cx.extra(e, 1);
            continue;
        }
        // IP[-END] [PORT]
        let (addr, end) = match e.keyword.text.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (e.keyword.text.as_str(), None),
        };
        let Ok(ip) = addr.parse::<IpAddr>() else {
            cx.error(e.keyword.span, format!("`{}` is not `IP[-END] PORT` or `fwmark N`", e.keyword.text));
            continue;
        };
        let range_end = match end {
            None => None,
            Some(b) => {
                let parsed =
                    if ip.is_ipv4() { b.parse::<u8>().ok().map(u16::from) } else { u16::from_str_radix(b, 16).ok() };
                let last = match ip {
                    IpAddr::V4(a) => u16::from(a.octets()[3]),
                    IpAddr::V6(a) => a.segments()[7],
                };
                match parsed {
                    Some(v) if v >= last => Some(v),
                    _ => {
                        cx.error(
                            e.keyword.span,
                            format!("range end `{b}` must be a last octet (hextet for IPv6) not below {last}"),
                        );
                        continue;
                    }
                }
            }
        };
        let port = if e.args.is_empty() { None } else { cx.int(e, 0, 0, 65535) };
        cx.extra(e, 1);
        g.members.push(VsgMember { ip: Some(ip), range_end, port, fwmark: None });
    }
    Some(g)
}

pub(super) fn virtual_server(cx: &mut Ctx, st: &Stmt, path: &str) -> Option<VirtualServer> {
    let mut v = VirtualServer::new();
    cx.map.set(path, st.span());
    let first = cx.arg(st, 0, "`IP PORT`, `fwmark N` or `group NAME`")?;
    match first.text.as_str() {
        "fwmark" => {
            cx.map.set(format!("{path}.fwmark"), st.span());
            v.fwmark = Some(cx.int(st, 1, 1, i64::from(u32::MAX))?);
        }
        "group" => {
            cx.map.set(format!("{path}.group"), st.span());
            v.group = Some(cx.arg(st, 1, "a virtual_server_group name")?.text.to_string());
        }
        _ => {
            cx.map.set_with(|| format!("{path}.ip"), first.span);
            v.ip = Some(cx.ip(st, 0)?);
            let port = cx.arg(st, 1, "a port after the address")?;
            cx.map.set_with(|| format!("{path}.port"), port.span);
            v.port = Some(cx.int(st, 1, 0, 65535)?);
        }
    }
    cx.extra(st, 2);
    for b in cx.block(st) {
        let key = canonical(b.keyword.text.as_str());
        cx.at_with(|| format!("{path}.{key}"), b);
        match key {
            "real_server" => {
                let rpath = cx.path(|| format!("{path}.real_server[{}]", v.real_servers.len()));
                if let Some(r) = real_server(cx, b, &rpath) {
                    v.real_servers.push(r);
                }
            }
            "ip_family" => match cx.word(b, "inet or inet6").as_deref() {
                Some("inet") => v.ip_family = Some(Family::Inet),
                Some("inet6") => v.ip_family = Some(Family::Inet6),
                Some(o) => cx.error(b.args[0].span, format!("ip_family must be inet or inet6, not `{o}`")),
                None => {}
            },
            "protocol" => match cx.word(b, "TCP, UDP or SCTP").map(|p| p.to_ascii_uppercase()).as_deref() {
                Some("TCP") => v.protocol = Some(Protocol::Tcp),
                Some("UDP") => v.protocol = Some(Protocol::Udp),
                Some("SCTP") => v.protocol = Some(Protocol::Sctp),
                Some(o) => cx.error(b.args[0].span, format!("protocol must be TCP, UDP or SCTP, not `{o}`")),
                None => {}
            },
            "lb_algo" => {
                if let Some(s) = cx.word(b, "a scheduler name") {
                    v.lb_algo = s;
                }
            }
            "lb_kind" => {
                cx.at_with(|| format!("{path}.tunnel"), b);
                if let Some((m, t)) = method(cx, b) {
                    v.lb_kind = m;
                    v.tunnel = t;
                }
            }
            "persistence_timeout" => {
                v.persistence_timeout =
                    if b.args.is_empty() { Some(360) } else { cx.int(b, 0, 1, i64::from(u32::MAX)) };
            }
            "persistence_granularity" => v.persistence_granularity = granularity(cx, b),
            "persistence_engine" => v.persistence_engine = cx.word(b, "an engine name"),
            "ops" => v.ops = cx.flag(b),
            "sh_port" => v.sh_port = cx.flag(b),
            "sh_fallback" => v.sh_fallback = cx.flag(b),
            "mh_port" => v.mh_port = cx.flag(b),
            "mh_fallback" => v.mh_fallback = cx.flag(b),
            "delay_loop" => v.delay_loop = cx.secs(b, 0, 0.001, 86400.0).unwrap_or(v.delay_loop),
            "sorry_server" => {
                if let Some(ip) = cx.ip(b, 0) {
                    let port = if b.args.len() > 1 { cx.int(b, 1, 0, 65535) } else { None };
                    cx.extra(b, 2);
                    let lb_kind = v.sorry_server.as_ref().and_then(|s| s.lb_kind);
                    v.sorry_server = Some(SorryServer { ip, port, lb_kind });
                }
            }
            "sorry_server_inhibit" => v.sorry_server_inhibit = cx.flag(b),
            "sorry_server_lvs_method" => {
                cx.at(&format!("{path}.sorry_server.lb_kind"), b);
                if let Some((m, _)) = method(cx, b) {
                    match &mut v.sorry_server {
                        Some(s) => s.lb_kind = Some(m),
                        None => cx.error(b.keyword.span, "sorry_server_lvs_method must come after sorry_server"),
                    }
                }
            }
            "quorum" => v.quorum = cx.int(b, 0, 0, i64::from(u32::MAX)).unwrap_or(v.quorum),
            "hysteresis" => v.hysteresis = cx.int(b, 0, 0, i64::from(u32::MAX)).unwrap_or(v.hysteresis),
            "quorum_up" => v.quorum_up = cx.command(b),
            "quorum_down" => v.quorum_down = cx.command(b),
            "alpha" => v.alpha = cx.flag(b),
            "omega" => v.omega = cx.flag(b),
            "inhibit_on_failure" => v.inhibit_on_failure = cx.flag(b),
            "ha_suspend" => v.ha_suspend = cx.flag(b),
            "virtualhost" => v.virtualhost = cx.word(b, "a host name"),
            "connect_timeout" => v.connect_timeout = cx.secs(b, 0, 0.001, 86400.0),
            // At least 1 here and in a real_server, 0 only in a checker block (keepalived's
            // check_parser.c, vs_retry_handler / rs_retry_handler: "retry value invalid").
            "retry" => v.retry = cx.int(b, 0, 1, 1_000_000),
            "delay_before_retry" => v.delay_before_retry = cx.secs(b, 0, 0.0, 86400.0),
            "warmup" => v.warmup = cx.secs(b, 0, 0.0, 86400.0),
            "smtp_alert" => v.smtp_alert = Some(cx.bool_opt(b)),
            _ => {
                cx.unknown(b, "virtual_server");
                continue;
            }
        }
        if key != "real_server" {
            cx.no_block(b);
        }
    }
    v.real_servers.shrink_to_fit();
    Some(v)
}

/// Maps keepalived's synonyms onto the model's names.
pub(super) fn canonical(key: &str) -> &str {
    match key {
        "lvs_sched" => "lb_algo",
        "lvs_method" => "lb_kind",
        "nb_get_retry" => "retry",
        "sh-port" => "sh_port",
        "sh-fallback" => "sh_fallback",
        "mh-port" => "mh_port",
        "mh-fallback" => "mh_fallback",
        k => k,
    }
}

/// `lb_kind NAT|DR|TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]`.
fn method(cx: &mut Ctx, b: &Stmt) -> Option<(ForwardMethod, Option<Tunnel>)> {
    let w = cx.arg(b, 0, "NAT, DR or TUN")?;
    let m = match w.text.to_ascii_uppercase().as_str() {
        "NAT" => ForwardMethod::Nat,
        "DR" => ForwardMethod::Dr,
        "TUN" => ForwardMethod::Tun,
        o => {
            cx.error(w.span, format!("{} must be NAT, DR or TUN, not `{o}`", b.keyword.text));
            return None;
        }
    };
    if b.args.len() == 1 {
        return Some((m, None));
    }
    if m != ForwardMethod::Tun {
        cx.extra(b, 1);
        return Some((m, None));
    }
    let mut t = Tunnel { kind: TunnelType::Ipip, port: None, csum: None };
    let mut k = 1;
    while k < b.args.len() {
        let opt = &b.args[k];
        match opt.text.as_str() {
            "type" => {
                let Some(v) = b.args.get(k + 1) else {
                    cx.error(opt.span, "`type` needs ipip, gue or gre");
                    break;
                };
                t.kind = match v.text.as_str() {
                    "ipip" => TunnelType::Ipip,
                    "gue" => TunnelType::Gue,
                    "gre" => TunnelType::Gre,
                    o => {
                        cx.error(v.span, format!("tunnel type must be ipip, gue or gre, not `{o}`"));
                        TunnelType::Ipip
                    }
                };
                k += 2;
            }
            "port" => {
                let Some(v) = b.args.get(k + 1) else {
                    cx.error(opt.span, "`port` needs a number");
                    break;
                };
                t.port = cx.int_word("tunnel port", v, 1, 65535);
                k += 2;
            }
            "nocsum" | "csum" | "remcsum" => {
                t.csum = Some(match opt.text.as_str() {
                    "nocsum" => TunnelCsum::Nocsum,
                    "csum" => TunnelCsum::Csum,
                    _ => TunnelCsum::Remcsum,
                });
                k += 1;
            }
            o => {
                cx.error(opt.span, format!("unknown TUN option `{o}` (type, port, nocsum, csum, remcsum)"));
                k += 1;
            }
        }
    }
    if t.kind == TunnelType::Gue && t.port.is_none() {
        cx.error(b.span(), "a GUE tunnel needs `port N`");
    }
    Some((m, Some(t)))
}

/// `persistence_granularity MASK|PREFIX`: a dotted IPv4 netmask or a prefix length.
fn granularity(cx: &mut Ctx, b: &Stmt) -> Option<u8> {
    let w = cx.arg(b, 0, "a netmask or prefix length")?;
    if let Ok(p) = w.text.parse::<u8>() {
        if p <= 128 {
            return Some(p);
        }
    }
    if let Ok(std::net::IpAddr::V4(m)) = w.text.parse::<IpAddr>() {
        let bits = u32::from(m);
        let ones = bits.leading_ones();
        if bits.checked_shl(ones).unwrap_or(0) == 0 {
            return u8::try_from(ones).ok();
        }
    }
    cx.error(w.span, format!("persistence_granularity `{}` is not a contiguous netmask or a prefix length", w.text));
    None
}

fn real_server(cx: &mut Ctx, st: &Stmt, path: &str) -> Option<RealServer> {
    cx.map.set(path, st.span());
    let ip = cx.ip(st, 0)?;
    cx.map.set_with(|| format!("{path}.ip"), st.args[0].span);
    let port = if st.args.len() > 1 {
        cx.map.set_with(|| format!("{path}.port"), st.args[1].span);
        cx.int(st, 1, 0, 65535)
    } else {
        None
    };
    cx.extra(st, 2);
    let mut r = RealServer::new(ip, port);
    // keepalived refuses a real_server without a block ("Missing '{'").
    let Some(block) = &st.block else {
        cx.error(st.span(), "`real_server` needs a `{ ... }` block (at least `{ weight 1 }`)");
        return Some(r);
    };
    for b in block {
        let key = canonical(b.keyword.text.as_str());
        if let Some(kind) = crate::model::Check::KEYWORDS.iter().find(|k| **k == key) {
            let cpath = cx.path(|| format!("{path}.check[{}]", r.checks.len()));
            cx.map.set(&cpath, b.keyword.span);
            if let Some(c) = super::check::read(cx, b, kind, &cpath) {
                r.checks.push(c);
            }
            continue;
        }
        cx.at_with(|| format!("{path}.{key}"), b);
        match key {
            "weight" => r.weight = cx.int(b, 0, 0, 65535).unwrap_or(r.weight),
            "lb_kind" => {
                cx.at_with(|| format!("{path}.tunnel"), b);
                if let Some((m, t)) = method(cx, b) {
                    r.lb_kind = Some(m);
                    r.tunnel = t;
                }
            }
            "inhibit_on_failure" => r.inhibit_on_failure = cx.flag(b),
            "alpha" => r.alpha = Some(cx.bool_opt(b)),
            "virtualhost" => r.virtualhost = cx.word(b, "a host name"),
            "uthreshold" => r.uthreshold = cx.int(b, 0, 0, i64::from(u32::MAX)),
            "lthreshold" => r.lthreshold = cx.int(b, 0, 0, i64::from(u32::MAX)),
            "notify_up" => r.notify_up = cx.command(b),
            "notify_down" => r.notify_down = cx.command(b),
            "delay_loop" => r.delay_loop = cx.secs(b, 0, 0.001, 86400.0),
            "connect_timeout" => r.connect_timeout = cx.secs(b, 0, 0.001, 86400.0),
            "retry" => r.retry = cx.int(b, 0, 1, 1_000_000),
            "delay_before_retry" => r.delay_before_retry = cx.secs(b, 0, 0.0, 86400.0),
            "warmup" => r.warmup = cx.secs(b, 0, 0.0, 86400.0),
            "smtp_alert" => r.smtp_alert = Some(cx.bool_opt(b)),
            _ => {
                cx.unknown(b, "virtual_server/real_server");
                continue;
            }
        }
        cx.no_block(b);
    }
    // Growth leaves room for four checks; with 10,000 real servers the slack is megabytes
    // kept for the daemon's whole life.
    r.checks.shrink_to_fit();
    Some(r)
}
