//! `global_defs { ... }`.

use super::tree::Stmt;
use super::values::Ctx;
use crate::model::{GlobalDefs, LvsSyncDaemon, LvsTimeouts, SmtpServer};

pub(super) fn read(cx: &mut Ctx, stmts: &[Stmt], g: &mut GlobalDefs) {
    for st in stmts {
        let key = st.keyword.text.as_str();
        let path = format!("global_defs.{key}");
        cx.at(&path, st);
        match key {
            "router_id" => g.router_id = cx.word(st, "a name"),
            "notification_email" => {
                g.notification_email = cx.block(st).iter().map(|e| e.keyword.text.to_string()).collect();
            }
            "notification_email_from" => g.notification_email_from = cx.word(st, "an address"),
            "smtp_server" => {
                if let Some(host) = cx.arg(st, 0, "a host").map(|w| w.text.to_string()) {
                    let port = if st.args.len() > 1 { cx.int(st, 1, 1, 65535) } else { None };
                    cx.extra(st, 2);
                    g.smtp_server = Some(SmtpServer { host, port: port.unwrap_or(25) });
                }
            }
            "smtp_helo_name" => g.smtp_helo_name = cx.word(st, "a name"),
            // keepalived (global_parser.c, smtpto_handler) takes 0 with a warning and uses 1,
            // and up to UINT_MAX / TIMER_HZ seconds.
            "smtp_connect_timeout" => match st.args.first() {
                Some(w) if w.text.parse::<f64>() == Ok(0.0) => {
                    cx.warn(w.span, "smtp_connect_timeout must be greater than 0; 1 is used (as keepalived)");
                    cx.extra(st, 1);
                    g.smtp_connect_timeout = 1.0;
                }
                _ => set(&mut g.smtp_connect_timeout, cx.secs(st, 0, 1.0, 4294.0)),
            },
            "smtp_alert" => g.smtp_alert = Some(cx.bool_opt(st)),
            "smtp_alert_vrrp" => g.smtp_alert_vrrp = Some(cx.bool_opt(st)),
            "smtp_alert_checker" => g.smtp_alert_checker = Some(cx.bool_opt(st)),
            "no_email_faults" => g.no_email_faults = cx.flag(st),
            "no_checker_emails" => g.no_checker_emails = cx.bool_opt(st),
            "script_user" => g.script_user = cx.run_as(st),
            "enable_script_security" => g.enable_script_security = cx.flag(st),
            "lvs_sync_daemon" => g.lvs_sync_daemon = sync_daemon(cx, st),
            "lvs_sync_warm_preempt" => g.lvs_sync_warm_preempt = cx.secs(st, 0, 0.0, 3600.0),
            "lvs_flush" => g.lvs_flush = cx.flag(st),
            // keepalived 2.2 spells it `lvs_flush_on_stop`; `lvs_flush_onstop` is its older name.
            // `lvs_flush_on_stop` flushes the whole table at stop; `lvs_flush_on_stop VS`
            // deletes the configured services whole, which is what tandem does anyway
            // (keepalived global_parser.c, lvs_flush_on_stop_handler).
            "lvs_flush_on_stop" | "lvs_flush_onstop" => {
                cx.at("global_defs.lvs_flush_onstop", st);
                g.lvs_flush_onstop = match st.args.first().map(|w| w.text.as_str()) {
                    None => true,
                    Some("VS") => {
                        cx.extra(st, 1);
                        false
                    }
                    Some(other) => {
                        cx.error(st.args[0].span, format!("`{}` takes nothing or VS, not `{other}`", st.keyword.text));
                        false
                    }
                };
            }
            "lvs_timeouts" => g.lvs_timeouts = timeouts(cx, st),
            "default_interface" => g.default_interface = cx.word(st, "an interface name"),
            "v3_checksum_as_v2" => g.v3_checksum_as_v2 = cx.bool_opt(st),
            "vrrp_version" => set(&mut g.vrrp_version, cx.int(st, 0, 2, 3)),
            "vrrp_mcast_group4" => {
                if let Some(a) = cx.ip(st, 0) {
                    if a.is_ipv4() {
                        g.vrrp_mcast_group4 = a;
                    } else {
                        cx.error(st.args[0].span, "vrrp_mcast_group4 must be an IPv4 address");
                    }
                }
            }
            "vrrp_mcast_group6" => {
                if let Some(a) = cx.ip(st, 0) {
                    if a.is_ipv6() {
                        g.vrrp_mcast_group6 = a;
                    } else {
                        cx.error(st.args[0].span, "vrrp_mcast_group6 must be an IPv6 address");
                    }
                }
            }
            "vrrp_garp_master_delay" => set(&mut g.vrrp_garp_master_delay, cx.int(st, 0, 0, 86400)),
            "vrrp_garp_master_repeat" => set(&mut g.vrrp_garp_master_repeat, cx.int(st, 0, 0, 1000)),
            "vrrp_garp_master_refresh" => set(&mut g.vrrp_garp_master_refresh, cx.int(st, 0, 0, 86400)),
            "vrrp_garp_master_refresh_repeat" => set(&mut g.vrrp_garp_master_refresh_repeat, cx.int(st, 0, 1, 1000)),
            "vrrp_garp_interval" => set(&mut g.vrrp_garp_interval, cx.secs(st, 0, 0.0, 1.0)),
            "vrrp_gna_interval" => set(&mut g.vrrp_gna_interval, cx.secs(st, 0, 0.0, 1.0)),
            "vrrp_garp_extra_if" | "vrrp_vmac_garp_intvl" => {
                cx.at("global_defs.vrrp_garp_extra_if", st);
                if key == "vrrp_vmac_garp_intvl" {
                    cx.warn(st.keyword.span, "`vrrp_vmac_garp_intvl` is deprecated; it means vrrp_garp_extra_if");
                }
                g.vrrp_garp_extra_if = super::vrrp::garp_extra_if(cx, st);
            }
            "vrrp_garp_lower_prio_delay" => g.vrrp_garp_lower_prio_delay = cx.int(st, 0, 0, 86400),
            "vrrp_garp_lower_prio_repeat" => g.vrrp_garp_lower_prio_repeat = cx.int(st, 0, 0, 1000),
            "vrrp_lower_prio_no_advert" => g.vrrp_lower_prio_no_advert = cx.bool_opt(st),
            "vrrp_higher_prio_send_advert" => g.vrrp_higher_prio_send_advert = Some(cx.bool_opt(st)),
            "vrrp_check_unicast_src" => g.vrrp_check_unicast_src = cx.flag(st),
            "vrrp_skip_check_adv_addr" => g.vrrp_skip_check_adv_addr = cx.flag(st),
            "vrrp_strict" => g.vrrp_strict = cx.flag(st),
            "vrrp_startup_delay" => set(&mut g.vrrp_startup_delay, cx.secs(st, 0, 0.0, 3600.0)),
            // keepalived's three FIFOs: everything, VRRP only, LVS only (core/notify.c).
            "notify_fifo" => g.notify_fifo = cx.arg(st, 0, "a path").map(|w| w.text.to_string()),
            "notify_fifo_script" => g.notify_fifo_script = cx.command(st),
            "vrrp_notify_fifo" => g.vrrp_notify_fifo = cx.arg(st, 0, "a path").map(|w| w.text.to_string()),
            "vrrp_notify_fifo_script" => g.vrrp_notify_fifo_script = cx.command(st),
            "lvs_notify_fifo" => g.lvs_notify_fifo = cx.arg(st, 0, "a path").map(|w| w.text.to_string()),
            "lvs_notify_fifo_script" => g.lvs_notify_fifo_script = cx.command(st),
            "max_auto_priority" => {
                g.max_auto_priority = if st.args.is_empty() { Some(99) } else { cx.int(st, 0, -1, 99) };
            }
            _ => {
                cx.unknown(st, "global_defs");
                continue;
            }
        }
        if key != "notification_email" {
            cx.no_block(st);
        }
    }
}

fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

/// `lvs_sync_daemon IFNAME [[inst] INSTANCE] [id N] [maxlen N] [port N] [ttl N] [group IP]`,
/// as keepalived 2.2 reads it (keepalived/core/global_parser.c, lvs_syncd_handler): the
/// instance may follow the interface bare or after `inst`; a bare number after it is the old
/// form of `id` (accepted with a warning, as keepalived does).
fn sync_daemon(cx: &mut Ctx, st: &Stmt) -> Option<LvsSyncDaemon> {
    let ifname = cx.arg(st, 0, "an interface")?;
    // IP_VS_IFNAME_MAXLEN: 16 bytes with the terminating NUL.
    if ifname.text.len() >= 16 {
        cx.error(ifname.span, format!("interface name `{}` is longer than 15 bytes", ifname.text));
        return None;
    }
    let mut d = LvsSyncDaemon {
        interface: ifname.text.to_string(),
        instance: None,
        id: None,
        maxlen: None,
        port: None,
        ttl: None,
        group: None,
    };
    let mut i = 1;
    while i < st.args.len() {
        let opt = st.args[i].text.as_str();
        let keyword = matches!(opt, "inst" | "id" | "maxlen" | "port" | "ttl" | "group");
        if !keyword {
            match i {
                1 => d.instance = Some(opt.to_string()),
                2 if d.instance.is_some() => {
                    if let Some(id) = cx.int_word("lvs_sync_daemon id", &st.args[i], 0, 255) {
                        cx.warn(st.args[i].span, "write `id` before the sync id (the old form is deprecated)");
                        d.id = Some(id);
                    }
                }
                _ => cx.error(
                    st.args[i].span,
                    format!("unknown lvs_sync_daemon option `{opt}` (inst, id, maxlen, port, ttl, group)"),
                ),
            }
            i += 1;
            continue;
        }
        let Some(v) = st.args.get(i + 1) else {
            cx.error(st.args[i].span, format!("`{opt}` needs a value"));
            break;
        };
        match opt {
            "inst" if d.instance.is_some() => {
                cx.error(st.args[i].span, "the VRRP instance is already given");
            }
            "inst" => d.instance = Some(v.text.to_string()),
            "id" => d.id = cx.int_word("lvs_sync_daemon id", v, 0, 255),
            "maxlen" => d.maxlen = cx.int_word("lvs_sync_daemon maxlen", v, 1, 65535 - 20 - 8),
            "port" => d.port = cx.int_word("lvs_sync_daemon port", v, 1, 65535),
            "ttl" => d.ttl = cx.int_word("lvs_sync_daemon ttl", v, 1, 255),
            _ => {
                d.group = cx.ip_word("lvs_sync_daemon group", v);
                if d.group.is_some_and(|g| !g.is_multicast()) {
                    cx.error(v.span, format!("lvs_sync_daemon group `{}` is not a multicast address", v.text));
                    d.group = None;
                }
            }
        }
        i += 2;
    }
    Some(d)
}

/// `lvs_timeouts [tcp N] [tcpfin N] [udp N]`.
fn timeouts(cx: &mut Ctx, st: &Stmt) -> Option<LvsTimeouts> {
    let mut t = LvsTimeouts::default();
    let mut i = 0;
    while i < st.args.len() {
        let opt = st.args[i].text.as_str();
        let Some(v) = st.args.get(i + 1) else {
            cx.error(st.args[i].span, format!("`{opt}` needs a number of seconds"));
            break;
        };
        let secs = cx.int_word(&format!("lvs_timeouts {opt}"), v, 0, i64::from(i32::MAX) / 1000);
        match opt {
            "tcp" => t.tcp = secs,
            "tcpfin" => t.tcpfin = secs,
            "udp" => t.udp = secs,
            _ => cx.error(st.args[i].span, format!("unknown lvs_timeouts option `{opt}` (tcp, tcpfin, udp)")),
        }
        i += 2;
    }
    Some(t)
}
