//! IPVS checks: service identity, references, families, scheduler flags, checkers.

use super::V;
use crate::model::{
    Check, Config, Family, ForwardMethod, KNOWN_SCHEDULERS, Protocol, ServiceKey, UrlCheck, VirtualServer, regex,
};
use std::collections::HashMap;

pub(super) fn check(v: &mut V, c: &Config) {
    let groups: Vec<&str> = c.virtual_server_groups.iter().map(|g| g.name.as_str()).collect();
    let files: Vec<&str> = c.track_files.iter().map(|f| f.name.as_str()).collect();
    for (i, g) in c.virtual_server_groups.iter().enumerate() {
        for (k, m) in g.members.iter().enumerate() {
            let p = format!("virtual_server_group[{i}].members[{k}]");
            match (m.ip, m.port, m.fwmark) {
                (Some(_), _, None) | (None, None, Some(_)) => {}
                _ => {
                    v.error(&p, "a virtual_server_group member is either `IP[-END] PORT` or `fwmark N`");
                }
            }
        }
        if g.members.is_empty() {
            v.warn(&format!("virtual_server_group[{i}]"), format!("virtual_server_group `{}` is empty", g.name));
        }
    }

    let mut services: HashMap<(ServiceKey, Option<Protocol>), usize> = HashMap::new();
    for (i, vs) in c.virtual_servers.iter().enumerate() {
        let p = format!("virtual_server[{i}]");
        let Some(key) = vs.key() else {
            v.error(&p, "a virtual_server needs exactly one of `ip` + `port`, `fwmark` or `group`");
            continue;
        };
        if let ServiceKey::Group(name) = &key {
            if !groups.contains(&name.as_str()) {
                v.error(&format!("{p}.group"), format!("`{name}` is no virtual_server_group")).label =
                    Some("unknown virtual_server_group".into());
            }
        }
        // A group of fwmark members only is a fwmark service: keepalived refuses `protocol`.
        let is_fwmark = match &key {
            ServiceKey::Fwmark(_) => true,
            ServiceKey::Group(name) => c
                .virtual_server_groups
                .iter()
                .find(|g| g.name == *name)
                .is_some_and(|g| !g.members.is_empty() && g.members.iter().all(|m| m.fwmark.is_some())),
            ServiceKey::Addr(..) => false,
        };
        if vs.protocol.is_none() && !is_fwmark {
            v.warn(&p, format!("virtual_server {key} has no `protocol`; keepalived makes it UDP"))
                .notes
                .push("add `protocol TCP` if this is a TCP service".into());
        }
        let proto = if is_fwmark { None } else { Some(vs.effective_protocol()) };
        if let Some(&first) = services.get(&(key.clone(), proto)) {
            let note = format!("first defined{}", v.where_is(&format!("virtual_server[{first}]")));
            v.error(&p, format!("virtual_server {key} is defined twice")).notes.push(note);
        } else {
            services.insert((key.clone(), proto), i);
        }
        if let ServiceKey::Addr(_, 0) = key {
            if vs.persistence_timeout.is_none() {
                v.error(&format!("{p}.port"), "port 0 (all ports) needs persistence_timeout, as in IPVS");
            }
        }

        service_options(v, &p, vs, &key);
        real_servers(v, &p, vs, &key, &files);
    }
}

/// The service's family: its address's, else `ip_family`, else its first real server's.
fn family(vs: &VirtualServer) -> Option<Family> {
    vs.ip.as_ref().map(Family::of).or(vs.ip_family).or_else(|| vs.real_servers.first().map(|r| Family::of(&r.ip)))
}

fn service_options(v: &mut V, p: &str, vs: &VirtualServer, key: &ServiceKey) {
    if !KNOWN_SCHEDULERS.contains(&vs.lb_algo.as_str()) {
        let near = KNOWN_SCHEDULERS
            .iter()
            .map(|k| (strsim::osa_distance(k, &vs.lb_algo.to_ascii_lowercase()), *k))
            .filter(|(d, _)| *d <= 1)
            .min_by_key(|(d, _)| *d);
        let d = v.error(
            &format!("{p}.lb_algo"),
            format!("`{}` is not an IPVS scheduler: the kernel's are {}", vs.lb_algo, KNOWN_SCHEDULERS.join(", ")),
        );
        d.label = Some("unknown scheduler".into());
        if let Some((_, k)) = near {
            d.notes.push(format!("did you mean `{k}`?"));
        }
    }
    // The kernel has two scheduler flags, which sh reads as sh-fallback / sh-port and mh as
    // mh-fallback / mh-port (include/uapi/linux/ip_vs.h: IP_VS_SVC_F_SCHED1, _SCHED2).
    let sh = vs.sh_port || vs.sh_fallback;
    let mh = vs.mh_port || vs.mh_fallback;
    if (sh || mh) && !matches!(vs.lb_algo.as_str(), "sh" | "mh") {
        v.warn(
            &format!("{p}.lb_algo"),
            format!(
                "sh-port / sh-fallback / mh-port / mh-fallback only affect the sh and mh schedulers, not {}",
                vs.lb_algo
            ),
        );
    } else if sh && vs.lb_algo == "mh" {
        v.warn(
            &format!("{p}.lb_algo"),
            "with lb_algo mh, sh-port / sh-fallback act as mh-port / mh-fallback (the same kernel flags)",
        );
    } else if mh && vs.lb_algo == "sh" {
        v.warn(
            &format!("{p}.lb_algo"),
            "with lb_algo sh, mh-port / mh-fallback act as sh-port / sh-fallback (the same kernel flags)",
        );
    }
    if vs.ops && vs.effective_protocol() != Protocol::Udp && !matches!(key, ServiceKey::Fwmark(_)) {
        v.warn(
            &format!("{p}.ops"),
            "one-packet scheduling (ops) needs UDP or a firewall mark; cleared, as keepalived does",
        );
    }
    if let Some(gran) = vs.persistence_granularity {
        if vs.persistence_timeout.is_none() {
            v.warn(
                &format!("{p}.persistence_granularity"),
                "persistence_granularity has no effect without persistence_timeout",
            );
        }
        let max = if family(vs) == Some(Family::Inet6) { 128 } else { 32 };
        v.range(&format!("{p}.persistence_granularity"), "persistence_granularity", i64::from(gran), 1, max);
    }
    // The service's tunnel settings serve every real server (and the sorry server) that
    // forwards by TUN, whatever the service's own method.
    let tun = |m: Option<ForwardMethod>| m.unwrap_or(vs.lb_kind) == ForwardMethod::Tun;
    let any_tun = (vs.real_servers.is_empty() && tun(None))
        || vs.real_servers.iter().any(|r| tun(r.lb_kind))
        || vs.sorry_server.as_ref().is_some_and(|s| tun(s.lb_kind));
    if vs.tunnel.is_some() && !any_tun {
        v.warn(&format!("{p}.tunnel"), "tunnel settings only apply with lb_kind TUN, and nothing here forwards by TUN");
    }
    for (k, rs) in vs.real_servers.iter().enumerate() {
        if rs.tunnel.is_some() && !tun(rs.lb_kind) {
            v.warn(&format!("{p}.real_server[{k}].tunnel"), "tunnel settings only apply with lb_kind TUN; ignored");
        }
    }
    if let Some(t) = &vs.tunnel {
        tunnel(v, &format!("{p}.tunnel"), t);
    }
    for (k, rs) in vs.real_servers.iter().enumerate() {
        if let Some(t) = &rs.tunnel {
            tunnel(v, &format!("{p}.real_server[{k}].tunnel"), t);
        }
    }
    if let Some(sorry) = &vs.sorry_server {
        if let Some(f) = family(vs) {
            if Family::of(&sorry.ip) != f && vs.lb_kind != ForwardMethod::Tun {
                v.error(
                    &format!("{p}.sorry_server"),
                    format!(
                        "sorry_server {} is {} but the service is {}",
                        sorry.ip,
                        Family::of(&sorry.ip).name(),
                        f.name()
                    ),
                );
            }
        }
    }
    if vs.delay_loop <= 0.0 {
        v.error(&format!("{p}.delay_loop"), "delay_loop must be above 0 seconds");
    }
    let total: u64 = vs.real_servers.iter().map(|r| u64::from(r.weight)).sum();
    // A MISC_CHECK with misc_dynamic or a FILE_CHECK sets weights at run time.
    let dynamic = vs.real_servers.iter().flat_map(|r| &r.checks).any(|c| match c {
        Check::Misc(m) => m.misc_dynamic,
        Check::File(_) => true,
        _ => false,
    });
    if !vs.real_servers.is_empty() && !dynamic && u64::from(vs.quorum) > total {
        v.warn(
            &format!("{p}.quorum"),
            format!(
                "quorum {} is above the total weight of the real servers ({total}); quorum can never be reached",
                vs.quorum
            ),
        );
    }
}

fn real_servers(v: &mut V, p: &str, vs: &VirtualServer, key: &ServiceKey, files: &[&str]) {
    let svc_family = family(vs);
    let svc_port = match key {
        ServiceKey::Addr(_, port) => Some(*port),
        _ => None,
    };
    // A map only for a large pool: one per virtual server was a tenth of a large file's
    // validation.
    let mut seen: HashMap<(std::net::IpAddr, Option<u16>), usize> = HashMap::new();
    let large = vs.real_servers.len() > 16;
    for (k, rs) in vs.real_servers.iter().enumerate() {
        let rp = || format!("{p}.real_server[{k}]");
        let method = rs.lb_kind.unwrap_or(vs.lb_kind);
        if let Some(f) = svc_family {
            if Family::of(&rs.ip) != f && method != ForwardMethod::Tun {
                v.error(
                    &format!("{}.ip", rp()),
                    format!("real_server {} is {} but the service is {}", rs.ip, Family::of(&rs.ip).name(), f.name()),
                )
                .notes
                .push("IPVS mixes families only with TUN forwarding".into());
            }
        }
        let first = match large {
            true => seen.get(&(rs.ip, rs.port)).copied(),
            false => vs.real_servers.iter().take(k).position(|r| (r.ip, r.port) == (rs.ip, rs.port)),
        };
        if let Some(first) = first {
            let note = format!("first listed{}", v.where_is(&format!("{p}.real_server[{first}]")));
            v.error(&rp(), format!("real_server {} is listed twice in this virtual_server", rs.ip)).notes.push(note);
        } else if large {
            seen.insert((rs.ip, rs.port), k);
        }
        if rs.weight > 65535 {
            v.range(&format!("{}.weight", rp()), "weight", i64::from(rs.weight), 0, 65535);
        }
        if let (Some(rport), Some(sport)) = (rs.port, svc_port) {
            if rport != sport && matches!(method, ForwardMethod::Dr | ForwardMethod::Tun) && sport != 0 {
                v.warn(
                    &format!("{}.port", rp()),
                    format!(
                        "with {method} forwarding IPVS cannot map port {sport} to {rport}: packets keep port {sport}, the real server is programmed with it (as keepalived does) and its checks go to {rport}"
                    ),
                );
            }
        }
        if let (Some(u), Some(l)) = (rs.uthreshold, rs.lthreshold) {
            if l > u && u != 0 {
                v.error(&format!("{}.lthreshold", rp()), format!("lthreshold {l} is above uthreshold {u}"));
            }
        }
        for (n, chk) in rs.checks.iter().enumerate() {
            let cp = || format!("{}.check[{n}]", rp());
            match chk {
                Check::Misc(m) if m.misc_path.trim().is_empty() => {
                    v.error(&cp(), "MISC_CHECK has no misc_path");
                }
                Check::File(f) if !files.contains(&f.track_file.as_str()) => {
                    v.error(
                        &format!("{}.track_file", cp()),
                        format!("FILE_CHECK names `{}`, which is no track_file block", f.track_file),
                    )
                    .label = Some("unknown track_file".into());
                }
                Check::Http(h) | Check::Ssl(h) if h.url.is_empty() => {
                    v.error(&cp(), format!("{} has no url", chk.keyword()));
                }
                _ => {}
            }
            if let Check::Http(h) | Check::Ssl(h) = chk {
                for (i, u) in h.url.iter().enumerate() {
                    url_regex(v, &format!("{}.url[{i}]", cp()), u);
                }
            }
            let common = chk.common();
            if let Some(t) = common.connect_timeout {
                if t <= 0.0 {
                    v.error(&format!("{}.connect_timeout", cp()), "connect_timeout must be above 0 seconds");
                }
            }
            if let (Some(ip), Some(f)) = (common.connect_ip, svc_family) {
                if Family::of(&ip) != f && Family::of(&ip) != Family::of(&rs.ip) {
                    v.warn(
                        &format!("{}.connect_ip", cp()),
                        format!(
                            "connect_ip {ip} is {} but the real server is {}",
                            Family::of(&ip).name(),
                            Family::of(&rs.ip).name()
                        ),
                    );
                }
            }
        }
    }
}

/// GUE needs a port; GRE has no remote checksum offload (keepalived check_parser.c refuses it,
/// and so does ipvsadm).
fn tunnel(v: &mut V, path: &str, t: &crate::model::Tunnel) {
    use crate::model::{TunnelCsum, TunnelType};
    if t.kind == TunnelType::Gue && t.port.is_none() {
        v.error(path, "a GUE tunnel needs a port");
    }
    if t.kind == TunnelType::Gre && t.csum == Some(TunnelCsum::Remcsum) {
        v.error(path, "GRE tunnels do not support remote checksum offload (remcsum); use csum or nocsum");
    }
}

/// A url's `regex` must compile; its companions mean nothing without it (keepalived ignores
/// them then, and ignores both offsets when the minimum is past the maximum).
fn url_regex(v: &mut V, p: &str, u: &UrlCheck) {
    let Some(pattern) = &u.regex else {
        if u.regex_no_match
            || u.regex_min_offset.is_some()
            || u.regex_max_offset.is_some()
            || !u.regex_options.is_empty()
        {
            v.warn(p, "regex_no_match, regex_options and regex offsets without a regex; ignored");
        }
        return;
    };
    for o in u.regex_options.iter().filter(|o| !regex::is_option(o)) {
        v.warn(&format!("{p}.regex_options"), format!("unknown regex option `{o}`; ignored"));
    }
    if let Err(e) = regex::compile(pattern, &u.regex_options, u.regex_stack.map(|[_, max]| max)) {
        // An option that cannot apply is pointed at where the options are.
        let at = if e.starts_with("regex option") { "regex_options" } else { "regex" };
        v.error(&format!("{p}.{at}"), format!("regex `{pattern}` cannot be used: {e}"));
    }
    if let (Some(min), Some(max)) = (u.regex_min_offset, u.regex_max_offset) {
        if min > max {
            v.warn(
                &format!("{p}.regex_min_offset"),
                format!("regex_min_offset {min} is beyond regex_max_offset {max}; both ignored, as keepalived does"),
            );
        }
    }
}
