//! `vrrp_script`, `track_file`, `vrrp_sync_group` and `vrrp_instance`.

use super::block_name;
use super::tree::Stmt;
use super::values::Ctx;
use crate::model::{
    AuthType, Authentication, GarpExtraIf, InitialState, Notify, ParamMatch, SyncGroup, TrackFile, TrackInterface,
    TrackProcess, TrackRef, UnicastPeer, VirtualAddress, VrrpInstance, VrrpScript,
};

pub(super) fn script(cx: &mut Ctx, st: &Stmt, path: &str) -> Option<VrrpScript> {
    let name = block_name(cx, st, path)?;
    let mut s = VrrpScript {
        name,
        script: String::new(),
        interval: 1.0,
        timeout: None,
        weight: 0,
        weight_reverse: false,
        rise: 1,
        fall: 1,
        user: None,
        init_fail: false,
    };
    let mut have_script = false;
    for b in cx.block(st) {
        let key = b.keyword.text.as_str();
        cx.at(&format!("{path}.{key}"), b);
        match key {
            "script" => {
                if let Some(c) = cx.command(b) {
                    s.script = c;
                    have_script = true;
                }
            }
            "interval" => s.interval = cx.secs(b, 0, 0.001, 86400.0).unwrap_or(s.interval),
            "timeout" => s.timeout = cx.secs(b, 0, 0.001, 86400.0),
            "weight" => {
                cx.at(&format!("{path}.weight"), b);
                if let Some((w, r)) = cx.weight(b, -253, 253) {
                    s.weight = w;
                    s.weight_reverse = r;
                }
            }
            "rise" => s.rise = cx.int(b, 0, 1, 1_000_000).unwrap_or(s.rise),
            "fall" => s.fall = cx.int(b, 0, 1, 1_000_000).unwrap_or(s.fall),
            "user" => s.user = cx.run_as(b),
            "init_fail" => s.init_fail = cx.flag(b),
            _ => {
                cx.unknown(b, "vrrp_script");
                continue;
            }
        }
        cx.no_block(b);
    }
    if !have_script {
        cx.error(st.span(), format!("vrrp_script `{}` has no `script`", s.name));
    }
    Some(s)
}

/// `vrrp_track_process NAME { ... }` (keepalived vrrp_parser.c, vrrp_tprocess_*_handler).
pub(super) fn track_process(cx: &mut Ctx, st: &Stmt, path: &str) -> Option<TrackProcess> {
    let name = block_name(cx, st, path)?;
    let mut t = TrackProcess {
        name,
        process: Vec::new(),
        param_match: None,
        weight: 0,
        weight_reverse: false,
        quorum: 1,
        quorum_max: None,
        fork_delay: None,
        terminate_delay: None,
        full_command: false,
    };
    for b in cx.block(st) {
        let key = b.keyword.text.as_str();
        cx.at(&format!("{path}.{key}"), b);
        match key {
            "process" => {
                if cx.arg(b, 0, "a process name").is_some() {
                    t.process = b.args.iter().map(|w| w.text.to_string()).collect();
                }
            }
            "param_match" => {
                t.param_match = match b.args.first().map(|w| w.text.as_str()) {
                    None => Some(ParamMatch::Exact),
                    Some("initial") => Some(ParamMatch::Initial),
                    Some("partial") => Some(ParamMatch::Partial),
                    Some(o) => {
                        cx.error(
                            b.args[0].span,
                            format!("param_match must be initial or partial (or nothing), not `{o}`"),
                        );
                        None
                    }
                };
                cx.extra(b, 1);
            }
            "weight" => {
                if let Some((w, r)) = cx.weight(b, -254, 254) {
                    t.weight = w;
                    t.weight_reverse = r;
                }
            }
            "quorum" => t.quorum = cx.int(b, 0, 1, 65535).unwrap_or(t.quorum),
            "quorum_max" => {
                cx.at(&format!("{path}.quorum_max"), b);
                t.quorum_max = cx.int(b, 0, 0, 65535);
            }
            "fork_delay" => t.fork_delay = cx.secs(b, 0, 0.0, 3600.0),
            "terminate_delay" => t.terminate_delay = cx.secs(b, 0, 0.0, 3600.0),
            "delay" => {
                cx.at(&format!("{path}.fork_delay"), b);
                cx.at(&format!("{path}.terminate_delay"), b);
                let d = cx.secs(b, 0, 0.0, 3600.0);
                t.fork_delay = d;
                t.terminate_delay = d;
            }
            "full_command" => t.full_command = cx.flag(b),
            _ => {
                cx.unknown(b, "vrrp_track_process");
                continue;
            }
        }
        cx.no_block(b);
    }
    if t.process.is_empty() {
        cx.error(st.span(), format!("vrrp_track_process `{}` has no `process`", t.name));
    }
    Some(t)
}

pub(super) fn track_file(cx: &mut Ctx, st: &Stmt, path: &str) -> Option<TrackFile> {
    let name = block_name(cx, st, path)?;
    let mut t = TrackFile {
        name,
        file: String::new(),
        weight: 1,
        weight_reverse: false,
        init_file: None,
        init_file_overwrite: false,
    };
    for b in cx.block(st) {
        let key = b.keyword.text.as_str();
        cx.at(&format!("{path}.{key}"), b);
        match key {
            "file" => t.file = cx.word(b, "a path").unwrap_or_default(),
            "weight" => {
                if let Some((w, r)) = cx.weight(b, -254, 254) {
                    t.weight = w;
                    t.weight_reverse = r;
                }
            }
            "init_file" => {
                // `init_file [VALUE] [overwrite]`, in either order (keepalived track_file.c,
                // track_file_init_handler).
                let mut value = 0;
                for w in &b.args {
                    if w.text == "overwrite" {
                        t.init_file_overwrite = true;
                    } else if let Some(v) = cx.int_word("init_file", w, -254, 254) {
                        value = v;
                    }
                }
                t.init_file = Some(value);
            }
            _ => {
                cx.unknown(b, "track_file");
                continue;
            }
        }
        cx.no_block(b);
    }
    if t.file.is_empty() {
        cx.error(st.span(), format!("track_file `{}` has no `file`", t.name));
    }
    Some(t)
}

pub(super) fn sync_group(cx: &mut Ctx, st: &Stmt, path: &str) -> Option<SyncGroup> {
    let name = block_name(cx, st, path)?;
    let mut g = SyncGroup {
        name,
        group: Vec::new(),
        track_interface: Vec::new(),
        track_script: Vec::new(),
        track_file: Vec::new(),
        track_process: Vec::new(),
        notify: Notify::default(),
        smtp_alert: None,
        sync_group_tracking_weight: false,
    };
    for b in cx.block(st) {
        let key = b.keyword.text.as_str();
        let here = format!("{path}.{key}");
        cx.at(&here, b);
        if notify(cx, b, &mut g.notify, path) {
            continue;
        }
        match key {
            "group" => {
                for (i, m) in cx.block(b).iter().enumerate() {
                    cx.map.set(format!("{here}[{i}]"), m.keyword.span);
                    g.group.push(m.keyword.text.to_string());
                    // `group { VI_1 VI_2 }` on one line puts both in one statement.
                    for a in &m.args {
                        cx.map.set(format!("{here}[{}]", g.group.len()), a.span);
                        g.group.push(a.text.to_string());
                    }
                }
            }
            "track_interface" => g.track_interface = track_interfaces(cx, b, &here),
            "track_script" => g.track_script = track_refs(cx, b, &here, -253, 253),
            "track_file" => g.track_file = track_refs(cx, b, &here, -254, 254),
            "track_process" => g.track_process = track_refs(cx, b, &here, -254, 254),
            "smtp_alert" => g.smtp_alert = Some(cx.bool_opt(b)),
            "sync_group_tracking_weight" => g.sync_group_tracking_weight = cx.flag(b),
            "global_tracking" => {
                cx.at(&format!("{path}.sync_group_tracking_weight"), b);
                cx.warn(b.keyword.span, "`global_tracking` is deprecated; it means sync_group_tracking_weight");
                g.sync_group_tracking_weight = cx.flag(b);
            }
            _ => {
                cx.unknown(b, "vrrp_sync_group");
                continue;
            }
        }
        if !matches!(key, "group" | "track_interface" | "track_script" | "track_file" | "track_process") {
            cx.no_block(b);
        }
    }
    if g.group.is_empty() {
        cx.error(st.span(), format!("vrrp_sync_group `{}` has no `group {{ ... }}` of instances", g.name));
    }
    Some(g)
}

/// `notify_*` keywords shared by instances and sync groups; true when `b` was one.
fn notify(cx: &mut Ctx, b: &Stmt, n: &mut Notify, path: &str) -> bool {
    let slot = match b.keyword.text.as_str() {
        "notify_master" => &mut n.master,
        "notify_backup" => &mut n.backup,
        "notify_fault" => &mut n.fault,
        "notify_stop" => &mut n.stop,
        "notify" => &mut n.any,
        _ => return false,
    };
    cx.no_block(b);
    let field = b.keyword.text.strip_prefix("notify_").unwrap_or("any");
    cx.at(&format!("{path}.notify.{field}"), b);
    *slot = cx.command(b);
    true
}

pub(super) fn instance(cx: &mut Ctx, st: &Stmt, path: &str) -> Option<VrrpInstance> {
    let name = block_name(cx, st, path)?;
    let mut v = VrrpInstance::new(name, 0);
    // Where `state MASTER` was written, and whether a `priority` was.
    let (mut master_at, mut priority_written) = (None, false);
    for b in cx.block(st) {
        let key = b.keyword.text.as_str();
        let here = format!("{path}.{key}");
        cx.at(&here, b);
        if notify(cx, b, &mut v.notify, path) {
            continue;
        }
        match key {
            "state" => match cx.word(b, "MASTER or BACKUP").as_deref() {
                Some("MASTER") => {
                    v.state = InitialState::Master;
                    master_at = Some(b.keyword.span);
                }
                Some("BACKUP") => {
                    v.state = InitialState::Backup;
                    master_at = None;
                }
                Some(other) => cx.error(b.args[0].span, format!("state must be MASTER or BACKUP, not `{other}`")),
                None => {}
            },
            "interface" => v.interface = cx.word(b, "an interface name"),
            "virtual_router_id" => v.virtual_router_id = cx.int(b, 0, 1, 255).unwrap_or(v.virtual_router_id),
            "priority" => {
                priority_written = true;
                v.priority = cx.int(b, 0, 1, 255).unwrap_or(v.priority);
            }
            "advert_int" => v.advert_int = cx.secs(b, 0, 0.0, 255.0).unwrap_or(v.advert_int),
            "version" => v.version = cx.int(b, 0, 2, 3),
            "native_ipv6" => v.native_ipv6 = cx.flag(b),
            "nopreempt" => v.nopreempt = cx.flag(b),
            "preempt" => {
                cx.flag(b);
                v.nopreempt = false;
            }
            "preempt_delay" => v.preempt_delay = cx.secs(b, 0, 0.0, 1000.0),
            "mcast_src_ip" => v.mcast_src_ip = cx.ip(b, 0),
            "mcast_dst_ip" => v.mcast_dst_ip = cx.ip(b, 0),
            "unicast_src_ip" => v.unicast_src_ip = cx.ip(b, 0),
            "unicast_peer" => v.unicast_peer = unicast_peers(cx, b, &here),
            "authentication" => v.authentication = authentication(cx, b, &here),
            "virtual_ipaddress" => v.virtual_ipaddress = addresses(cx, b, &here),
            "virtual_ipaddress_excluded" => v.virtual_ipaddress_excluded = addresses(cx, b, &here),
            "virtual_routes" => v.virtual_routes = super::route::routes(cx, b, &here, false),
            "virtual_rules" => v.virtual_rules = super::route::rules(cx, b, &here, false),
            "track_interface" => v.track_interface = track_interfaces(cx, b, &here),
            "track_script" => v.track_script = track_refs(cx, b, &here, -253, 253),
            "track_file" => v.track_file = track_refs(cx, b, &here, -254, 254),
            "track_process" => v.track_process = track_refs(cx, b, &here, -254, 254),
            "dont_track_primary" => v.dont_track_primary = cx.flag(b),
            "use_vmac" => {
                // keepalived 2.2.7 takes a name and a MAC address, in either order (a word
                // with `:` is the MAC: vrrp_parser.c, vrrp_vmac_handler).
                let (macs, names): (Vec<_>, Vec<_>) = b.args.iter().take(2).partition(|w| w.text.contains(':'));
                if let Some(m) = macs.first() {
                    cx.error(m.span, "a MAC address of one's own for use_vmac is not supported by tandem: the VMAC has the RFC 5798 virtual router MAC 00:00:5e:00:01:VRID (00:00:5e:00:02:VRID for IPv6)");
                }
                v.use_vmac = Some(names.first().map(|w| w.text.to_string()).unwrap_or_default());
                cx.extra(b, 2);
            }
            "vmac_xmit_base" => v.vmac_xmit_base = cx.flag(b),
            "accept" => {
                cx.at(&format!("{path}.accept"), b);
                v.accept = Some(cx.flag(b));
            }
            "no_accept" => {
                cx.at(&format!("{path}.accept"), b);
                v.accept = Some(!cx.flag(b));
            }
            "strict_mode" => v.strict_mode = cx.flag(b),
            "check_unicast_src" => v.check_unicast_src = cx.flag(b),
            "unicast_ttl" => v.unicast_ttl = cx.int(b, 0, 1, 255),
            "v3_checksum_as_v2" => v.v3_checksum_as_v2 = cx.bool_opt(b),
            "lower_prio_no_advert" => v.lower_prio_no_advert = Some(cx.bool_opt(b)),
            "higher_prio_send_advert" => v.higher_prio_send_advert = Some(cx.bool_opt(b)),
            "skip_check_adv_addr" => v.skip_check_adv_addr = Some(cx.bool_opt(b)),
            "notify_master_rx_lower_pri" => v.notify_master_rx_lower_pri = cx.command(b),
            "garp_master_delay"
            | "garp_master_repeat"
            | "garp_master_refresh"
            | "garp_master_refresh_repeat"
            | "garp_lower_prio_delay"
            | "garp_lower_prio_repeat" => {
                let field = key.strip_prefix("garp_").unwrap_or(key);
                cx.at(&format!("{path}.garp.{field}"), b);
                let value = cx.int(b, 0, 0, 86400);
                let slot = match field {
                    "master_delay" => &mut v.garp.master_delay,
                    "master_repeat" => &mut v.garp.master_repeat,
                    "master_refresh" => &mut v.garp.master_refresh,
                    "master_refresh_repeat" => &mut v.garp.master_refresh_repeat,
                    "lower_prio_delay" => &mut v.garp.lower_prio_delay,
                    _ => &mut v.garp.lower_prio_repeat,
                };
                *slot = value;
            }
            "garp_extra_if" | "vmac_garp_intvl" => {
                cx.at(&format!("{path}.garp.extra_if"), b);
                if key == "vmac_garp_intvl" {
                    cx.warn(b.keyword.span, "`vmac_garp_intvl` is deprecated; it means garp_extra_if");
                }
                v.garp.extra_if = garp_extra_if(cx, b);
            }
            "smtp_alert" => v.smtp_alert = Some(cx.bool_opt(b)),
            _ => {
                cx.unknown(b, "vrrp_instance");
                continue;
            }
        }
        if !matches!(
            key,
            "unicast_peer"
                | "authentication"
                | "virtual_ipaddress"
                | "virtual_ipaddress_excluded"
                | "virtual_routes"
                | "virtual_rules"
                | "track_interface"
                | "track_script"
                | "track_file"
                | "track_process"
        ) {
            cx.no_block(b);
        }
    }
    // keepalived derives a missing priority from the initial state: MASTER makes the
    // instance the address owner, 255 (vrrp.c, vrrp_complete_instance).
    if let (Some(span), false) = (master_at, priority_written) {
        v.priority = 255;
        cx.warn(
            span,
            "state MASTER without a priority makes this instance the address owner (priority 255), as keepalived does; write a priority to choose another",
        );
    }
    Some(v)
}

fn unicast_peers(cx: &mut Ctx, st: &Stmt, path: &str) -> Vec<UnicastPeer> {
    let mut out = Vec::new();
    for e in cx.block(st) {
        let i = out.len();
        cx.map.set(format!("{path}[{i}]"), e.keyword.span);
        let Some(address) = cx.ip_word("unicast_peer", &e.keyword) else { continue };
        let mut p = UnicastPeer { address, min_ttl: None, max_ttl: None };
        let mut k = 0;
        while k < e.args.len() {
            let opt = &e.args[k];
            match (opt.text.as_str(), e.args.get(k + 1)) {
                ("min_ttl", Some(v)) => p.min_ttl = cx.int_word("min_ttl", v, 0, 255),
                ("max_ttl", Some(v)) => p.max_ttl = cx.int_word("max_ttl", v, 0, 255),
                (o, _) if o.parse::<std::net::IpAddr>().is_ok() => {
                    // Several peers on one line (one-line block).
                    out.push(p.clone());
                    cx.map.set(format!("{path}[{}]", out.len()), opt.span);
                    if let Some(a) = cx.ip_word("unicast_peer", opt) {
                        p = UnicastPeer { address: a, min_ttl: None, max_ttl: None };
                    }
                    k += 1;
                    continue;
                }
                (o, _) => cx.error(opt.span, format!("unknown unicast_peer option `{o}` (min_ttl, max_ttl)")),
            }
            k += 2;
        }
        out.push(p);
    }
    out
}

fn authentication(cx: &mut Ctx, st: &Stmt, path: &str) -> Option<Authentication> {
    let mut kind = None;
    let mut pass = None;
    for e in cx.block(st) {
        let key = e.keyword.text.as_str();
        cx.at(&format!("{path}.{key}"), e);
        match key {
            "auth_type" => match cx.word(e, "PASS or AH").as_deref() {
                Some("PASS") => kind = Some(AuthType::Pass),
                Some("AH") => kind = Some(AuthType::Ah),
                Some(o) => cx.error(e.args[0].span, format!("auth_type must be PASS or AH, not `{o}`")),
                None => {}
            },
            "auth_pass" => {
                if let Some(p) = cx.word(e, "a password") {
                    if p.len() > 8 {
                        cx.warn(
                            e.args[0].span,
                            "auth_pass is longer than 8 characters; only the first 8 are used (RFC 2338 5.3.6)",
                        );
                    }
                    pass = Some(p);
                }
            }
            _ => cx.unknown(e, "vrrp_instance/authentication"),
        }
    }
    match (kind, pass) {
        (Some(auth_type), Some(auth_pass)) => Some(Authentication { auth_type, auth_pass }),
        (Some(_), None) => {
            cx.error(st.span(), "authentication has an auth_type but no auth_pass");
            None
        }
        (None, Some(auth_pass)) => Some(Authentication { auth_type: AuthType::Pass, auth_pass }),
        (None, None) => None,
    }
}

/// `virtual_ipaddress { ADDR[/PREFIX] [brd ADDR] [dev IF] [scope S] [label L] [no_track] }`.
pub(super) fn addresses(cx: &mut Ctx, st: &Stmt, path: &str) -> Vec<VirtualAddress> {
    let mut out = Vec::new();
    for e in cx.block(st) {
        let i = out.len();
        cx.map.set(format!("{path}[{i}]"), e.keyword.span);
        let Some(mut a) = parse_address(cx, &e.keyword) else { continue };
        let mut k = 0;
        while k < e.args.len() {
            let opt = &e.args[k];
            let val = e.args.get(k + 1);
            let took_value = match (opt.text.as_str(), val) {
                ("brd" | "broadcast", Some(v)) => {
                    a.brd = cx.ip_word("brd", v);
                    true
                }
                ("dev", Some(v)) => {
                    a.dev = Some(v.text.to_string());
                    true
                }
                ("scope", Some(v)) => {
                    a.scope = Some(v.text.to_string());
                    true
                }
                ("label", Some(v)) => {
                    a.label = Some(v.text.to_string());
                    true
                }
                ("no_track", _) => {
                    a.no_track = true;
                    false
                }
                ("track_group", Some(v)) => {
                    cx.warn(
                        opt.span.to(v.span),
                        "`track_group` is not supported by tandem; ignored: the address stays while the group's interfaces are down",
                    );
                    true
                }
                ("brd" | "broadcast" | "dev" | "scope" | "label", None) => {
                    cx.error(opt.span, format!("`{}` needs a value", opt.text));
                    false
                }
                (o, _) if parse_address_quiet(o).is_some() => {
                    // Several addresses on one line (one-line block).
                    out.push(a.clone());
                    cx.map.set(format!("{path}[{}]", out.len()), opt.span);
                    if let Some(n) = parse_address(cx, opt) {
                        a = n;
                    }
                    false
                }
                (o, _) => {
                    cx.warn(opt.span, format!("virtual address option `{o}` is not supported by tandem; ignored"));
                    false
                }
            };
            k += if took_value { 2 } else { 1 };
        }
        out.push(a);
    }
    out
}

fn parse_address_quiet(text: &str) -> Option<VirtualAddress> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let address: std::net::IpAddr = addr.parse().ok()?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
        None => max,
    };
    Some(VirtualAddress { address, prefix, brd: None, dev: None, scope: None, label: None, no_track: false })
}

fn parse_address(cx: &mut Ctx, w: &super::tree::Word) -> Option<VirtualAddress> {
    let a = parse_address_quiet(&w.text);
    if a.is_none() {
        cx.error(w.span, format!("`{}` is not an address with an optional prefix (like 10.0.0.1/24)", w.text));
    }
    a
}

fn track_interfaces(cx: &mut Ctx, st: &Stmt, path: &str) -> Vec<TrackInterface> {
    let mut out = Vec::new();
    for e in cx.block(st) {
        cx.map.set(format!("{path}[{}]", out.len()), e.keyword.span);
        let (weight, reverse) = entry_weight(cx, e, -254, 254);
        out.push(TrackInterface { interface: e.keyword.text.to_string(), weight, reverse });
    }
    out
}

fn track_refs(cx: &mut Ctx, st: &Stmt, path: &str, min: i64, max: i64) -> Vec<TrackRef> {
    let mut out = Vec::new();
    for e in cx.block(st) {
        cx.map.set(format!("{path}[{}]", out.len()), e.keyword.span);
        let (weight, reverse) = entry_weight(cx, e, min, max);
        out.push(TrackRef { name: e.keyword.text.to_string(), weight, reverse });
    }
    out
}

/// `NAME [weight N [reverse]]` in track_* blocks; several bare names on one line are allowed
/// by keepalived only one per line, so extra words are reported.
fn entry_weight(cx: &mut Ctx, e: &Stmt, min: i64, max: i64) -> (Option<i32>, bool) {
    match e.args.first() {
        None => (None, false),
        Some(w) if w.text == "weight" => {
            let Some(v) = e.args.get(1) else {
                cx.error(w.span, "`weight` needs a number");
                return (None, false);
            };
            let weight = cx.int_word("weight", v, min, max);
            let reverse = match e.args.get(2) {
                Some(r) if r.text == "reverse" => true,
                Some(r) => {
                    cx.error(r.span, format!("expected `reverse`, found `{}`", r.text));
                    false
                }
                None => false,
            };
            (weight, reverse)
        }
        Some(w) => {
            cx.error(
                w.span,
                format!("expected `weight N` after `{}`, found `{}` (one entry per line)", e.keyword.text, w.text),
            );
            (None, false)
        }
    }
}

/// `garp_extra_if [all] N` / `vrrp_garp_extra_if [all] N`, words in any order (keepalived
/// vrrp_parser.c, vrrp_garp_extra_if_handler): N in 0..=86400 seconds.
pub(super) fn garp_extra_if(cx: &mut Ctx, st: &Stmt) -> Option<GarpExtraIf> {
    let (mut interval, mut all) = (None, false);
    for w in &st.args {
        if w.text == "all" {
            all = true;
        } else {
            interval = cx.int_word(&st.keyword.text, w, 0, 86400);
            interval?;
        }
    }
    match interval {
        Some(i) => Some(GarpExtraIf { interval: i, all }),
        None => {
            cx.error(st.span(), format!("`{}` needs an interval in seconds", st.keyword.text));
            None
        }
    }
}
