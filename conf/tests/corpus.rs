//! The keyword corpus: keepalived.conf files under `tests/corpus/` that together use every
//! keyword the keepalived reader accepts. Each file must read without any diagnostic, each
//! keyword must land in the model as asserted here, the real keepalived 2.2.7 must accept
//! the files, and every file must go through tandem's TOML and back unchanged.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::float_cmp)] // tests: fail loudly

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use tandem_conf::*;

/// Every corpus file.
const FILES: &[&str] = &[
    "global.conf",
    "scripts.conf",
    "vrrp_instance.conf",
    "vrrp_v3_ipv6_unicast.conf",
    "sync_group.conf",
    "virtual_server_nat.conf",
    "virtual_server_dr_tun.conf",
    "fwmark_group.conf",
    "checkers_http.conf",
    "checkers_other.conf",
    "deprecated.conf",
    "routes.conf",
];

/// Files keepalived 2.2.7 must accept: all but `deprecated.conf`, which holds keywords
/// keepalived deprecates (a config error for `keepalived -t`) or does not know.
const KEEPALIVED_FILES: &[&str] = &[
    "global.conf",
    "scripts.conf",
    "vrrp_instance.conf",
    "vrrp_v3_ipv6_unicast.conf",
    "sync_group.conf",
    "virtual_server_nat.conf",
    "virtual_server_dr_tun.conf",
    "fwmark_group.conf",
    "checkers_http.conf",
    "checkers_other.conf",
    "routes.conf",
];

fn path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(name)
}

/// What tandem says about keywords it reads and does not act on (or refuses to run):
/// conf/tests/model_use.rs checks those; the corpus is about reading.
fn gap(d: &tandem_conf::Diagnostic) -> bool {
    d.message.contains("is not implemented by tandem yet") || d.message.contains("is not supported by tandem run")
}

/// Loads a corpus file and fails on any diagnostic but [`gap`]s.
fn load_clean(name: &str) -> Config {
    let mut report = load(&path(name), &Options::default());
    report.diagnostics.retain(|d| !gap(d));
    assert!(report.diagnostics.is_empty(), "{name} has diagnostics:\n{}", report.render());
    report.config
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn s(v: &str) -> String {
    v.to_string()
}

fn some(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn run_as(user: &str, group: Option<&str>) -> Option<RunAs> {
    Some(RunAs { user: s(user), group: group.map(s) })
}

fn vip(addr: &str, prefix: u8) -> VirtualAddress {
    VirtualAddress { address: ip(addr), prefix, brd: None, dev: None, scope: None, label: None, no_track: false }
}

fn track(name: &str, weight: Option<i32>, reverse: bool) -> TrackRef {
    TrackRef { name: s(name), weight, reverse }
}

fn track_if(interface: &str, weight: Option<i32>, reverse: bool) -> TrackInterface {
    TrackInterface { interface: s(interface), weight, reverse }
}

fn peer(addr: &str, min_ttl: Option<u8>, max_ttl: Option<u8>) -> UnicastPeer {
    UnicastPeer { address: ip(addr), min_ttl, max_ttl }
}

fn range(low: u16, high: u16) -> StatusRange {
    StatusRange { low, high }
}

fn instance<'c>(c: &'c Config, name: &str) -> &'c VrrpInstance {
    c.vrrp_instances.iter().find(|i| i.name == name).unwrap_or_else(|| panic!("no vrrp_instance {name}"))
}

fn service<'c>(c: &'c Config, key: &ServiceKey) -> &'c VirtualServer {
    c.virtual_servers
        .iter()
        .find(|v| v.key().as_ref() == Some(key))
        .unwrap_or_else(|| panic!("no virtual_server {key}"))
}

fn addr(a: &str, port: u16) -> ServiceKey {
    ServiceKey::Addr(ip(a), port)
}

/// A real server with keepalived's defaults and nothing else, spelled out field by field.
fn plain_rs(a: &str, port: Option<u16>) -> RealServer {
    RealServer {
        ip: ip(a),
        port,
        weight: 1,
        lb_kind: None,
        tunnel: None,
        inhibit_on_failure: false,
        alpha: None,
        virtualhost: None,
        uthreshold: None,
        lthreshold: None,
        notify_up: None,
        notify_down: None,
        delay_loop: None,
        connect_timeout: None,
        retry: None,
        delay_before_retry: None,
        warmup: None,
        smtp_alert: None,
        checks: Vec::new(),
    }
}

/// A virtual server with keepalived's defaults, spelled out field by field.
fn plain_vs() -> VirtualServer {
    VirtualServer {
        ip: None,
        port: None,
        fwmark: None,
        group: None,
        ip_family: None,
        protocol: None,
        lb_algo: s("wlc"),
        lb_kind: ForwardMethod::Nat,
        tunnel: None,
        persistence_timeout: None,
        persistence_granularity: None,
        persistence_engine: None,
        ops: false,
        sh_port: false,
        sh_fallback: false,
        mh_port: false,
        mh_fallback: false,
        delay_loop: 60.0,
        sorry_server: None,
        sorry_server_inhibit: false,
        quorum: 1,
        hysteresis: 0,
        quorum_up: None,
        quorum_down: None,
        alpha: false,
        omega: false,
        inhibit_on_failure: false,
        ha_suspend: false,
        virtualhost: None,
        connect_timeout: None,
        retry: None,
        delay_before_retry: None,
        warmup: None,
        smtp_alert: None,
        real_servers: Vec::new(),
    }
}

/// A VRRP instance with keepalived's defaults, spelled out field by field.
fn plain_instance(name: &str, interface: &str, vrid: u8, vips: Vec<VirtualAddress>) -> VrrpInstance {
    VrrpInstance {
        name: s(name),
        state: InitialState::Backup,
        interface: some(interface),
        virtual_router_id: vrid,
        priority: 100,
        advert_int: 1.0,
        version: None,
        native_ipv6: false,
        nopreempt: false,
        preempt_delay: None,
        mcast_src_ip: None,
        unicast_src_ip: None,
        unicast_peer: Vec::new(),
        authentication: None,
        virtual_ipaddress: vips,
        virtual_ipaddress_excluded: Vec::new(),
        virtual_routes: Vec::new(),
        virtual_rules: Vec::new(),
        track_interface: Vec::new(),
        track_script: Vec::new(),
        track_file: Vec::new(),
        track_process: Vec::new(),
        dont_track_primary: false,
        use_vmac: None,
        vmac_xmit_base: false,
        accept: None,
        strict_mode: false,
        check_unicast_src: false,
        unicast_ttl: None,
        v3_checksum_as_v2: false,
        lower_prio_no_advert: None,
        higher_prio_send_advert: None,
        notify_master_rx_lower_pri: None,
        skip_check_adv_addr: None,
        mcast_dst_ip: None,
        garp: GarpOverrides {
            master_delay: None,
            master_repeat: None,
            master_refresh: None,
            master_refresh_repeat: None,
            lower_prio_delay: None,
            lower_prio_repeat: None,
            extra_if: None,
        },
        notify: Notify { master: None, backup: None, fault: None, stop: None, any: None },
        smtp_alert: None,
    }
}

/// keepalived's global_defs defaults, spelled out field by field.
fn plain_global() -> GlobalDefs {
    GlobalDefs {
        router_id: None,
        notification_email: Vec::new(),
        notification_email_from: None,
        smtp_server: None,
        smtp_helo_name: None,
        smtp_connect_timeout: 30.0,
        smtp_alert: None,
        smtp_alert_vrrp: None,
        smtp_alert_checker: None,
        no_email_faults: false,
        no_checker_emails: false,
        script_user: None,
        enable_script_security: false,
        lvs_sync_daemon: None,
        lvs_sync_warm_preempt: None,
        lvs_flush: false,
        lvs_flush_onstop: false,
        lvs_timeouts: None,
        default_interface: None,
        v3_checksum_as_v2: false,
        vrrp_version: 2,
        vrrp_mcast_group4: ip("224.0.0.18"),
        vrrp_mcast_group6: ip("ff02::12"),
        vrrp_garp_master_delay: 5,
        vrrp_garp_master_repeat: 5,
        vrrp_garp_master_refresh: 0,
        vrrp_garp_master_refresh_repeat: 1,
        vrrp_garp_interval: 0.0,
        vrrp_gna_interval: 0.0,
        vrrp_garp_extra_if: None,
        vrrp_garp_lower_prio_delay: None,
        vrrp_garp_lower_prio_repeat: None,
        vrrp_lower_prio_no_advert: false,
        vrrp_higher_prio_send_advert: None,
        vrrp_check_unicast_src: false,
        vrrp_skip_check_adv_addr: false,
        vrrp_strict: false,
        vrrp_startup_delay: 0.0,
        notify_fifo: None,
        notify_fifo_script: None,
        vrrp_notify_fifo: None,
        vrrp_notify_fifo_script: None,
        lvs_notify_fifo: None,
        lvs_notify_fifo_script: None,
        max_auto_priority: None,
    }
}

#[test]
fn the_spelled_out_defaults_are_the_models() {
    // The helpers above state keepalived's defaults independently of the model's own
    // constructors; both must agree.
    assert_eq!(plain_global(), GlobalDefs::default());
    assert_eq!(plain_vs(), VirtualServer::new());
    assert_eq!(plain_rs("10.0.0.1", Some(80)), RealServer::new(ip("10.0.0.1"), Some(80)));
    let mut i = VrrpInstance::new("VI", 9);
    i.interface = some("eth0");
    assert_eq!(plain_instance("VI", "eth0", 9, Vec::new()), i);
}

#[test]
fn every_file_reads_without_diagnostics() {
    for f in FILES.iter().filter(|f| **f != "deprecated.conf") {
        load_clean(f);
    }
}

#[test]
fn global_defs_every_keyword() {
    let c = load_clean("global.conf");
    assert_eq!(
        c.global_defs,
        GlobalDefs {
            router_id: some("LVS_DIRECTOR_1"),
            notification_email: vec![s("ops@example.com"), s("noc@example.com")],
            notification_email_from: some("keepalived@lb1.example.com"),
            smtp_server: Some(SmtpServer { host: s("192.0.2.25"), port: 2525 }),
            smtp_connect_timeout: 15.0,
            smtp_helo_name: some("lb1.example.com"),
            smtp_alert: Some(true),
            smtp_alert_vrrp: Some(true),
            smtp_alert_checker: Some(true),
            no_email_faults: true,
            no_checker_emails: true,
            script_user: run_as("root", Some("root")),
            enable_script_security: true,
            lvs_sync_daemon: Some(LvsSyncDaemon {
                interface: s("eth0"),
                instance: some("VI_SYNC"),
                id: Some(42),
                maxlen: Some(1400),
                port: Some(8849),
                ttl: Some(2),
                group: Some(ip("224.0.0.82")),
            }),
            lvs_sync_warm_preempt: None,
            lvs_flush: true,
            // written `lvs_flush_on_stop`, keepalived 2.2's spelling
            lvs_flush_onstop: true,
            lvs_timeouts: Some(LvsTimeouts { tcp: Some(900), tcpfin: Some(120), udp: Some(300) }),
            default_interface: some("eth0"),
            v3_checksum_as_v2: false,
            vrrp_version: 3,
            vrrp_mcast_group4: ip("224.0.0.19"),
            vrrp_mcast_group6: ip("ff02::13"),
            vrrp_garp_master_delay: 10,
            vrrp_garp_master_repeat: 3,
            vrrp_garp_master_refresh: 60,
            vrrp_garp_master_refresh_repeat: 2,
            vrrp_garp_interval: 0.001,
            vrrp_gna_interval: 0.002,
            vrrp_garp_extra_if: None,
            vrrp_garp_lower_prio_delay: Some(7),
            vrrp_garp_lower_prio_repeat: Some(4),
            vrrp_lower_prio_no_advert: true,
            vrrp_higher_prio_send_advert: Some(true),
            vrrp_check_unicast_src: true,
            vrrp_skip_check_adv_addr: true,
            vrrp_strict: true,
            vrrp_startup_delay: 5.5,
            notify_fifo: some("/run/keepalived.fifo"),
            notify_fifo_script: some("/usr/bin/logger"),
            vrrp_notify_fifo: None,
            vrrp_notify_fifo_script: None,
            lvs_notify_fifo: None,
            lvs_notify_fifo_script: None,
            max_auto_priority: Some(50),
        }
    );
    assert_eq!(
        c.vrrp_instances,
        vec![VrrpInstance { priority: 110, ..plain_instance("VI_SYNC", "eth0", 42, vec![vip("192.0.2.100", 24)]) }]
    );
    // No `version` in the instance: the global vrrp_version applies.
    assert_eq!(c.vrrp_instances[0].effective_version(&c.global_defs), 3);
}

#[test]
fn global_defs_other_spellings() {
    let c = load_clean("scripts.conf");
    assert_eq!(
        c.global_defs,
        GlobalDefs {
            router_id: some("lb2"),
            // no port: 25
            smtp_server: Some(SmtpServer { host: s("192.0.2.26"), port: 25 }),
            notification_email: vec![s("ops@example.com")],
            // bare: on
            smtp_alert_vrrp: Some(true),
            script_user: run_as("root", None),
            enable_script_security: true,
            // VRRP's own FIFO, not notify_fifo (which gets the checkers' lines too)
            vrrp_notify_fifo: some("/run/keepalived-vrrp.fifo"),
            vrrp_notify_fifo_script: some("/usr/bin/logger"),
            // bare: keepalived takes the highest real-time priority, 99 on Linux
            max_auto_priority: Some(99),
            // `false` written out
            vrrp_lower_prio_no_advert: false,
            // bare: true
            vrrp_higher_prio_send_advert: Some(true),
            // the older spelling
            lvs_flush_onstop: true,
            ..plain_global()
        }
    );
    // The other defaults are kept.
    assert_eq!(c.global_defs.smtp_connect_timeout, 30.0);
    assert_eq!(c.global_defs.vrrp_version, 2);
    assert_eq!(c.global_defs.vrrp_mcast_group4, ip("224.0.0.18"));
    assert_eq!(c.global_defs.vrrp_garp_master_repeat, 5);
}

#[test]
fn vrrp_scripts_and_track_files() {
    let c = load_clean("scripts.conf");
    assert_eq!(
        c.vrrp_scripts,
        vec![
            VrrpScript {
                name: s("chk_haproxy"),
                script: s("/usr/bin/pgrep -x haproxy"),
                interval: 2.0,
                timeout: Some(3.0),
                weight: -20,
                weight_reverse: false,
                rise: 2,
                fall: 3,
                user: run_as("root", Some("root")),
                init_fail: true,
            },
            VrrpScript {
                name: s("chk_true"),
                script: s("/usr/bin/true"),
                interval: 1.0,
                timeout: None,
                weight: 0,
                weight_reverse: false,
                rise: 1,
                fall: 1,
                user: None,
                init_fail: false,
            },
            VrrpScript {
                name: s("chk_maint"),
                script: s("/usr/bin/test -f /run/maintenance"),
                interval: 4.0,
                timeout: None,
                weight: 10,
                weight_reverse: true,
                rise: 1,
                fall: 1,
                user: run_as("root", None),
                init_fail: false,
            },
        ]
    );
    assert_eq!(
        c.track_files,
        vec![
            TrackFile {
                name: s("tf_prio"),
                file: s("/run/keepalived/prio"),
                weight: -3,
                weight_reverse: true,
                init_file: Some(5),
                init_file_overwrite: true,
            },
            TrackFile {
                name: s("tf_plain"),
                file: s("/run/keepalived/plain"),
                weight: 1,
                weight_reverse: false,
                init_file: None,
                init_file_overwrite: false,
            },
            // bare init_file: 0
            TrackFile {
                name: s("tf_zero"),
                file: s("/run/keepalived/zero"),
                weight: 7,
                weight_reverse: false,
                init_file: Some(0),
                init_file_overwrite: false,
            },
            // vrrp_track_file
            TrackFile {
                name: s("tf_old"),
                file: s("/run/keepalived/old"),
                weight: -2,
                weight_reverse: false,
                init_file: None,
                init_file_overwrite: false,
            },
        ]
    );
    assert_eq!(
        c.vrrp_instances,
        vec![VrrpInstance {
            track_script: vec![
                track("chk_haproxy", None, false),
                track("chk_true", Some(5), false),
                track("chk_maint", Some(-15), true),
            ],
            track_file: vec![
                track("tf_prio", Some(2), false),
                track("tf_plain", None, false),
                track("tf_zero", Some(-4), true),
                track("tf_old", None, false),
            ],
            ..plain_instance("VI_SCRIPTS", "eth0", 20, vec![vip("192.0.2.20", 24)])
        }]
    );
}

#[test]
fn vrrp_instance_every_keyword() {
    let c = load_clean("vrrp_instance.conf");
    assert_eq!(
        c.global_defs,
        GlobalDefs {
            router_id: some("lb3"),
            notification_email: vec![s("ops@example.com")],
            notification_email_from: some("lb3@example.com"),
            smtp_server: Some(SmtpServer { host: s("192.0.2.25"), port: 25 }),
            script_user: run_as("root", None),
            enable_script_security: true,
            ..plain_global()
        }
    );
    assert_eq!(c.vrrp_scripts.len(), 2);
    assert_eq!(c.vrrp_scripts[0].script, "/usr/bin/pgrep -x nginx");
    assert_eq!((c.vrrp_scripts[0].interval, c.vrrp_scripts[0].weight), (2.0, -20));
    assert_eq!((c.vrrp_scripts[1].name.as_str(), c.vrrp_scripts[1].weight), ("chk_db", 5));
    assert_eq!(
        c.track_files,
        vec![TrackFile {
            name: s("tf_web"),
            file: s("/run/keepalived/web"),
            weight: 1,
            weight_reverse: false,
            init_file: None,
            init_file_overwrite: false,
        }]
    );

    let vi1 = VrrpInstance {
        name: s("VI_1"),
        state: InitialState::Backup,
        interface: some("eth0"),
        virtual_router_id: 51,
        priority: 150,
        advert_int: 2.0,
        version: Some(2),
        native_ipv6: false,
        // `nopreempt` then `preempt`: the last one wins
        nopreempt: false,
        preempt_delay: Some(30.0),
        mcast_src_ip: Some(ip("192.0.2.10")),
        unicast_src_ip: None,
        unicast_peer: Vec::new(),
        authentication: Some(Authentication { auth_type: AuthType::Pass, auth_pass: s("s3cret") }),
        virtual_ipaddress: vec![
            VirtualAddress {
                brd: Some(ip("192.0.2.255")),
                dev: some("eth0"),
                scope: some("global"),
                label: some("eth0:vip"),
                ..vip("192.0.2.1", 24)
            },
            vip("192.0.2.2", 32),
            VirtualAddress { dev: some("eth1"), no_track: true, ..vip("192.0.2.3", 32) },
            // `broadcast`, the long spelling of `brd`
            VirtualAddress { brd: Some(ip("192.0.2.127")), scope: some("site"), ..vip("192.0.2.4", 25) },
        ],
        virtual_ipaddress_excluded: vec![
            VirtualAddress { dev: some("eth1"), ..vip("198.51.100.1", 24) },
            VirtualAddress { dev: some("eth1"), ..vip("2001:db8::1", 64) },
        ],
        virtual_routes: Vec::new(),
        virtual_rules: Vec::new(),
        track_interface: vec![
            track_if("eth1", Some(-30), false),
            track_if("eth2", None, false),
            track_if("eth3", Some(10), true),
        ],
        track_script: vec![track("chk_web", None, false), track("chk_db", Some(15), true)],
        track_file: vec![track("tf_web", Some(-3), false)],
        track_process: Vec::new(),
        dont_track_primary: true,
        use_vmac: some("vrrp.51"),
        vmac_xmit_base: true,
        accept: Some(true),
        strict_mode: false,
        check_unicast_src: false,
        unicast_ttl: None,
        v3_checksum_as_v2: false,
        lower_prio_no_advert: Some(true),
        higher_prio_send_advert: Some(false),
        notify_master_rx_lower_pri: None,
        skip_check_adv_addr: None,
        mcast_dst_ip: None,
        garp: GarpOverrides {
            master_delay: Some(3),
            master_repeat: Some(2),
            master_refresh: Some(30),
            master_refresh_repeat: Some(4),
            lower_prio_delay: Some(6),
            lower_prio_repeat: Some(8),
            extra_if: None,
        },
        notify: Notify {
            master: some("/usr/bin/logger -t vrrp VI_1 is master"),
            backup: some("/usr/bin/logger -t vrrp VI_1 is backup"),
            // unquoted: the rest of the line
            fault: some("/usr/bin/logger fault"),
            stop: some("/usr/bin/logger stop"),
            any: some("/usr/bin/logger"),
        },
        smtp_alert: Some(true),
    };
    let vi2 = VrrpInstance {
        nopreempt: true,
        accept: Some(false),
        // bare use_vmac: keepalived names the macvlan itself
        use_vmac: some(""),
        strict_mode: true,
        track_script: vec![track("chk_web", None, false)],
        ..plain_instance("VI_2", "eth1", 52, vec![vip("192.0.2.50", 32)])
    };
    assert_eq!(c.vrrp_instances, vec![vi1, vi2]);
    assert_eq!(c.vrrp_instances[0].family(), Family::Inet);
    assert_eq!(c.vrrp_instances[1].effective_version(&c.global_defs), 2);
}

#[test]
fn vrrp_v3_ipv6_unicast() {
    let c = load_clean("vrrp_v3_ipv6_unicast.conf");
    assert_eq!(c.global_defs, GlobalDefs { router_id: some("lb-v6"), vrrp_version: 3, ..plain_global() });
    let v6 = VrrpInstance {
        state: InitialState::Master,
        priority: 200,
        version: Some(3),
        advert_int: 0.5,
        native_ipv6: true,
        unicast_src_ip: Some(ip("2001:db8:1::10")),
        unicast_peer: vec![
            peer("2001:db8:1::11", Some(250), Some(255)),
            peer("2001:db8:1::12", None, None),
            peer("2001:db8:1::13", None, Some(64)),
        ],
        check_unicast_src: true,
        unicast_ttl: Some(64),
        ..plain_instance(
            "VI_6",
            "eth0",
            61,
            vec![VirtualAddress { dev: some("eth0"), ..vip("2001:db8:1::100", 64) }, vip("2001:db8:1::101", 128)],
        )
    };
    let v4 = VrrpInstance {
        unicast_src_ip: Some(ip("192.0.2.60")),
        unicast_peer: vec![peer("192.0.2.61", None, None)],
        ..plain_instance("VI_4U", "eth1", 62, vec![vip("192.0.2.62", 24)])
    };
    assert_eq!(c.vrrp_instances, vec![v6, v4]);
    assert_eq!(instance(&c, "VI_6").family(), Family::Inet6);
    assert_eq!(instance(&c, "VI_4U").family(), Family::Inet);
    assert_eq!(instance(&c, "VI_4U").effective_version(&c.global_defs), 3);
}

#[test]
fn vrrp_sync_group_every_keyword() {
    let c = load_clean("sync_group.conf");
    assert_eq!(
        c.vrrp_sync_groups,
        vec![
            SyncGroup {
                name: s("SG_1"),
                group: vec![s("VI_EXT"), s("VI_INT")],
                track_interface: vec![track_if("eth2", Some(-20), false), track_if("eth3", None, false)],
                track_script: vec![track("chk_gw", Some(-12), false)],
                track_file: vec![track("tf_sg", Some(5), true)],
                track_process: Vec::new(),
                notify: Notify {
                    master: some("/usr/bin/logger -t sync SG_1 master"),
                    backup: some("/usr/bin/logger -t sync SG_1 backup"),
                    fault: some("/usr/bin/logger -t sync SG_1 fault"),
                    stop: some("/usr/bin/logger -t sync SG_1 stop"),
                    any: some("/usr/bin/logger"),
                },
                smtp_alert: Some(true),
                sync_group_tracking_weight: true,
            },
            SyncGroup {
                name: s("SG_2"),
                group: vec![s("VI_A"), s("VI_B")],
                track_interface: Vec::new(),
                track_script: Vec::new(),
                track_file: Vec::new(),
                track_process: Vec::new(),
                notify: Notify::default(),
                smtp_alert: None,
                sync_group_tracking_weight: false,
            },
        ]
    );
    assert_eq!(c.vrrp_scripts.len(), 1);
    assert_eq!((c.vrrp_scripts[0].interval, c.vrrp_scripts[0].weight), (5.0, -10));
    assert_eq!(c.track_files.len(), 1);
    assert_eq!(
        instance(&c, "VI_EXT"),
        &VrrpInstance {
            state: InitialState::Master,
            priority: 120,
            track_script: vec![track("chk_gw", None, false)],
            ..plain_instance("VI_EXT", "eth0", 71, vec![vip("203.0.113.1", 24)])
        }
    );
    assert_eq!(
        instance(&c, "VI_INT"),
        &VrrpInstance {
            state: InitialState::Master,
            priority: 120,
            ..plain_instance("VI_INT", "eth1", 72, vec![vip("10.10.0.1", 16)])
        }
    );
    assert_eq!(instance(&c, "VI_A"), &plain_instance("VI_A", "eth0", 73, vec![vip("203.0.113.2", 24)]));
    assert_eq!(instance(&c, "VI_B"), &plain_instance("VI_B", "eth1", 74, vec![vip("10.10.0.2", 16)]));
}

#[test]
fn virtual_server_nat_every_keyword() {
    let c = load_clean("virtual_server_nat.conf");
    assert_eq!(c.virtual_servers.len(), 3);
    let web = VirtualServer {
        ip: Some(ip("192.0.2.80")),
        port: Some(80),
        protocol: Some(Protocol::Tcp),
        lb_algo: s("wrr"),
        lb_kind: ForwardMethod::Nat,
        delay_loop: 10.0,
        persistence_timeout: Some(600),
        // 255.255.255.0 is a /24
        persistence_granularity: Some(24),
        sorry_server: Some(SorryServer { ip: ip("192.0.2.250"), port: Some(8080), lb_kind: Some(ForwardMethod::Nat) }),
        sorry_server_inhibit: true,
        quorum: 2,
        hysteresis: 1,
        quorum_up: some("/usr/bin/logger -t lvs quorum up"),
        quorum_down: some("/usr/bin/logger -t lvs quorum down"),
        alpha: true,
        omega: true,
        inhibit_on_failure: true,
        ha_suspend: true,
        virtualhost: some("www.example.com"),
        connect_timeout: Some(4.0),
        retry: Some(2),
        delay_before_retry: Some(3.0),
        warmup: Some(5.0),
        smtp_alert: Some(true),
        real_servers: vec![
            RealServer {
                weight: 3,
                lb_kind: Some(ForwardMethod::Nat),
                inhibit_on_failure: true,
                uthreshold: Some(1000),
                lthreshold: Some(100),
                notify_up: some("/usr/bin/logger -t lvs rs1 up"),
                notify_down: some("/usr/bin/logger -t lvs rs1 down"),
                delay_loop: Some(20.0),
                connect_timeout: Some(2.0),
                retry: Some(4),
                delay_before_retry: Some(1.0),
                warmup: Some(8.0),
                smtp_alert: Some(true),
                checks: vec![Check::Tcp(TcpCheck { connect_timeout: Some(3.0), ..TcpCheck::default() })],
                ..plain_rs("10.0.0.11", Some(8080))
            },
            // empty block, no port: all defaults
            plain_rs("10.0.0.12", None),
        ],
        ..plain_vs()
    };
    assert_eq!(service(&c, &addr("192.0.2.80", 80)), &web);

    let dns = VirtualServer {
        ip: Some(ip("192.0.2.53")),
        port: Some(53),
        protocol: Some(Protocol::Udp),
        // lvs_sched / lvs_method
        lb_algo: s("sh"),
        lb_kind: ForwardMethod::Nat,
        // sh-port / sh-fallback
        sh_port: true,
        sh_fallback: true,
        ops: true,
        // bare persistence_timeout: keepalived's 360 seconds
        persistence_timeout: Some(360),
        // a prefix length as such
        persistence_granularity: Some(24),
        persistence_engine: some("sip"),
        real_servers: vec![RealServer { weight: 2, ..plain_rs("10.0.0.21", Some(53)) }],
        ..plain_vs()
    };
    assert_eq!(service(&c, &addr("192.0.2.53", 53)), &dns);

    let sctp = VirtualServer {
        ip: Some(ip("192.0.2.132")),
        port: Some(5060),
        protocol: Some(Protocol::Sctp),
        lb_algo: s("mh"),
        lb_kind: ForwardMethod::Nat,
        // mh-port / mh-fallback
        mh_port: true,
        mh_fallback: true,
        real_servers: vec![plain_rs("10.0.0.31", Some(5060))],
        ..plain_vs()
    };
    assert_eq!(service(&c, &addr("192.0.2.132", 5060)), &sctp);
}

#[test]
fn virtual_server_dr_and_tun() {
    let c = load_clean("virtual_server_dr_tun.conf");
    assert_eq!(c.virtual_servers.len(), 4);
    let tunnel = |kind, port, csum| Some(Tunnel { kind, port, csum });
    assert_eq!(
        service(&c, &addr("198.51.100.10", 443)),
        &VirtualServer {
            ip: Some(ip("198.51.100.10")),
            port: Some(443),
            protocol: Some(Protocol::Tcp),
            lb_algo: s("wlc"),
            lb_kind: ForwardMethod::Dr,
            delay_loop: 6.0,
            real_servers: vec![
                RealServer { weight: 10, ..plain_rs("198.51.100.21", Some(443)) },
                RealServer {
                    weight: 20,
                    lb_kind: Some(ForwardMethod::Tun),
                    tunnel: tunnel(TunnelType::Gue, Some(6080), Some(TunnelCsum::Csum)),
                    ..plain_rs("198.51.100.22", Some(443))
                },
                RealServer {
                    lb_kind: Some(ForwardMethod::Tun),
                    tunnel: tunnel(TunnelType::Gre, None, Some(TunnelCsum::Csum)),
                    ..plain_rs("198.51.100.23", Some(443))
                },
            ],
            ..plain_vs()
        }
    );
    assert_eq!(
        service(&c, &addr("198.51.100.11", 80)),
        &VirtualServer {
            ip: Some(ip("198.51.100.11")),
            port: Some(80),
            protocol: Some(Protocol::Tcp),
            lb_algo: s("lc"),
            lb_kind: ForwardMethod::Tun,
            tunnel: tunnel(TunnelType::Gue, Some(5555), Some(TunnelCsum::Remcsum)),
            real_servers: vec![
                RealServer {
                    lb_kind: Some(ForwardMethod::Tun),
                    tunnel: tunnel(TunnelType::Ipip, None, None),
                    ..plain_rs("198.51.100.31", Some(80))
                },
                RealServer {
                    lb_kind: Some(ForwardMethod::Tun),
                    tunnel: tunnel(TunnelType::Gre, None, Some(TunnelCsum::Nocsum)),
                    ..plain_rs("198.51.100.32", Some(80))
                },
                RealServer { lb_kind: Some(ForwardMethod::Dr), ..plain_rs("198.51.100.33", Some(80)) },
            ],
            ..plain_vs()
        }
    );
    // Bare TUN: no tunnel settings (IPIP).
    assert_eq!(
        service(&c, &addr("198.51.100.12", 80)),
        &VirtualServer {
            ip: Some(ip("198.51.100.12")),
            port: Some(80),
            protocol: Some(Protocol::Tcp),
            lb_algo: s("rr"),
            lb_kind: ForwardMethod::Tun,
            real_servers: vec![plain_rs("198.51.100.41", Some(80))],
            ..plain_vs()
        }
    );
    assert_eq!(
        service(&c, &addr("2001:db8:10::80", 80)),
        &VirtualServer {
            ip: Some(ip("2001:db8:10::80")),
            port: Some(80),
            protocol: Some(Protocol::Tcp),
            lb_algo: s("sed"),
            lb_kind: ForwardMethod::Dr,
            real_servers: vec![
                RealServer { weight: 5, ..plain_rs("2001:db8:10::81", Some(80)) },
                RealServer { weight: 5, ..plain_rs("2001:db8:10::82", Some(80)) },
            ],
            ..plain_vs()
        }
    );
}

#[test]
fn fwmark_and_groups() {
    let c = load_clean("fwmark_group.conf");
    let member = |a: &str, range_end, port| VsgMember { ip: Some(ip(a)), range_end, port, fwmark: None };
    let mark = |m| VsgMember { ip: None, range_end: None, port: None, fwmark: Some(m) };
    assert_eq!(
        c.virtual_server_groups,
        vec![
            VirtualServerGroup {
                name: s("VSG_WEB"),
                members: vec![
                    member("192.0.2.10", None, Some(80)),
                    member("192.0.2.20", Some(29), Some(8080)),
                    member("192.0.2.30", None, None),
                ],
            },
            // IPv6 range ends are hex
            VirtualServerGroup { name: s("VSG_V6"), members: vec![member("2001:db8:20::1", Some(0x1f), Some(443))] },
            VirtualServerGroup { name: s("VSG_MARK"), members: vec![mark(10), mark(11)] },
        ]
    );
    assert_eq!(
        c.virtual_servers,
        vec![
            VirtualServer {
                group: some("VSG_WEB"),
                protocol: Some(Protocol::Tcp),
                persistence_timeout: Some(300),
                lb_algo: s("rr"),
                lb_kind: ForwardMethod::Nat,
                real_servers: vec![plain_rs("10.1.0.1", Some(80))],
                ..plain_vs()
            },
            VirtualServer {
                group: some("VSG_V6"),
                protocol: Some(Protocol::Tcp),
                lb_algo: s("wrr"),
                lb_kind: ForwardMethod::Dr,
                real_servers: vec![plain_rs("2001:db8:20::100", Some(443))],
                ..plain_vs()
            },
            VirtualServer {
                fwmark: Some(100),
                ip_family: Some(Family::Inet6),
                lb_algo: s("rr"),
                lb_kind: ForwardMethod::Dr,
                real_servers: vec![plain_rs("2001:db8:20::200", None)],
                ..plain_vs()
            },
            VirtualServer {
                fwmark: Some(101),
                ip_family: Some(Family::Inet),
                lb_algo: s("rr"),
                lb_kind: ForwardMethod::Tun,
                real_servers: vec![plain_rs("10.1.0.3", None)],
                ..plain_vs()
            },
        ]
    );
    assert_eq!(c.virtual_servers[0].key(), Some(ServiceKey::Group(s("VSG_WEB"))));
    assert_eq!(c.virtual_servers[2].key(), Some(ServiceKey::Fwmark(100)));
}

/// The only checker of the only real server of the service at `key`.
fn checks<'c>(c: &'c Config, key: &ServiceKey) -> &'c [Check] {
    let vs = service(c, key);
    assert_eq!(vs.real_servers.len(), 1, "{key}");
    &vs.real_servers[0].checks
}

#[test]
fn http_and_ssl_checkers() {
    let c = load_clean("checkers_http.conf");
    let rs = &service(&c, &addr("192.0.2.80", 80)).real_servers[0];
    assert_eq!((rs.alpha, rs.virtualhost.as_deref()), (Some(false), Some("www.example.com")));
    assert_eq!(
        checks(&c, &addr("192.0.2.80", 80)),
        &[Check::Http(HttpCheck {
            url: vec![
                UrlCheck {
                    path: s("/healthz"),
                    // upper-case in the file
                    digest: some("9b3a0c1b2c3d4e5f60718293a4b5c6d7"),
                    status_code: vec![range(200, 200)],
                    ..UrlCheck::default()
                },
                UrlCheck {
                    path: s("/status?full=1"),
                    digest: None,
                    status_code: vec![range(200, 299), range(301, 301), range(302, 304)],
                    virtualhost: some("status.example.com"),
                    // `\\s` in the file is `\s` to PCRE2; `\x21` is `!` (keepalived's escapes)
                    regex: some("uptime:\\s+\\d+ s!"),
                    regex_no_match: true,
                    regex_options: vec![s("caseless"), s("multiline")],
                    regex_min_offset: Some(10),
                    regex_max_offset: Some(4096),
                    regex_stack: Some([32768, 524288]),
                },
            ],
            virtualhost: some("www.example.com"),
            http_protocol: some("1.1"),
            enable_sni: false,
            fast_recovery: true,
            connect_ip: Some(ip("10.2.0.100")),
            connect_port: Some(8080),
            bindto: Some(ip("10.2.0.254")),
            bind_port: Some(40000),
            bind_if: None,
            connect_timeout: Some(3.0),
            retry: Some(2),
            delay_before_retry: Some(2.5),
            delay_loop: Some(15.0),
            warmup: Some(4.0),
            fwmark: Some(7),
            log_all_failures: true,
            alpha: Some(true),
        })]
    );
    let ssl = checks(&c, &addr("192.0.2.80", 443));
    assert_eq!(
        ssl,
        &[Check::Ssl(HttpCheck {
            url: vec![UrlCheck {
                path: s("/"),
                digest: None,
                status_code: vec![range(200, 200), range(401, 401)],
                ..UrlCheck::default()
            }],
            virtualhost: some("secure.example.com"),
            enable_sni: true,
            http_protocol: some("1.0C"),
            ..HttpCheck::default()
        })]
    );
    assert_eq!(ssl[0].keyword(), "SSL_GET");
    assert_eq!(
        checks(&c, &addr("2001:db8:30::80", 80)),
        &[Check::Http(HttpCheck {
            url: vec![UrlCheck { path: s("/ping"), ..UrlCheck::default() }],
            bindto: Some(ip("fe80::1")),
            bind_if: some("eth0"),
            http_protocol: some("1.0"),
            ..HttpCheck::default()
        })]
    );
}

#[test]
fn other_checkers() {
    let c = load_clean("checkers_other.conf");
    assert_eq!(
        c.track_files,
        vec![TrackFile {
            name: s("tf_weight"),
            file: s("/run/keepalived/rs-weight"),
            weight: 3,
            weight_reverse: false,
            init_file: None,
            init_file_overwrite: false,
        }]
    );
    assert_eq!(service(&c, &addr("192.0.2.90", 25)).delay_loop, 30.0);
    let smtp = checks(&c, &addr("192.0.2.90", 25));
    assert_eq!(
        smtp,
        &[
            Check::Tcp(TcpCheck {
                connect_ip: Some(ip("10.3.0.101")),
                connect_port: Some(2525),
                bindto: Some(ip("10.3.0.254")),
                bind_port: Some(41000),
                bind_if: None,
                connect_timeout: Some(5.0),
                retry: Some(3),
                delay_before_retry: Some(2.0),
                delay_loop: Some(12.0),
                warmup: Some(6.0),
                fwmark: Some(9),
                log_all_failures: true,
                alpha: None,
            }),
            Check::Tcp(TcpCheck::default()),
            Check::Smtp(SmtpCheck {
                helo_name: some("lb.example.com"),
                connect_timeout: Some(10.0),
                ..SmtpCheck::default()
            }),
            Check::Smtp(SmtpCheck::default()),
            Check::Misc(MiscCheck {
                misc_path: s("/usr/bin/test -e /run/rs1-up"),
                misc_timeout: Some(8.0),
                misc_dynamic: true,
                user: run_as("root", Some("root")),
                retry: Some(1),
                delay_before_retry: Some(4.0),
                delay_loop: Some(20.0),
                warmup: Some(2.0),
                log_all_failures: true,
                alpha: None,
                ..MiscCheck::default()
            }),
            Check::Misc(MiscCheck {
                misc_path: s("/usr/bin/true"),
                user: run_as("root", None),
                ..MiscCheck::default()
            }),
            Check::Ping(PingCheck { retry: Some(2), ..PingCheck::default() }),
            Check::File(FileCheck {
                track_file: s("tf_weight"),
                weight: Some(4),
                reverse: true,
                ..FileCheck::default()
            }),
            Check::File(FileCheck { track_file: s("tf_weight"), weight: None, reverse: false, ..FileCheck::default() }),
        ]
    );
    let kinds: Vec<&str> = smtp.iter().map(Check::keyword).collect();
    assert_eq!(
        kinds,
        [
            "TCP_CHECK",
            "TCP_CHECK",
            "SMTP_CHECK",
            "SMTP_CHECK",
            "MISC_CHECK",
            "MISC_CHECK",
            "PING_CHECK",
            "FILE_CHECK",
            "FILE_CHECK"
        ]
    );
    // The defaults of an empty checker: nothing set.
    assert_eq!(smtp[1].common(), CheckCommon::default());
    assert_eq!(smtp[0].common().connect_port, Some(2525));

    assert_eq!(
        checks(&c, &addr("192.0.2.90", 53)),
        &[
            Check::Dns(DnsCheck {
                // `type aaaa`: upper-cased
                query_type: some("AAAA"),
                name: some("www.example.com"),
                connect_port: Some(53),
                ..DnsCheck::default()
            }),
            Check::Dns(DnsCheck::default()),
            Check::Udp(UdpCheck {
                // hex is lower-cased
                payload: some("0a0b0c"),
                require_reply: true,
                reply: some("deadbeef"),
                min_reply_length: Some(4),
                max_reply_length: Some(512),
                ..UdpCheck::default()
            }),
            Check::Udp(UdpCheck { require_reply: true, reply: None, ..UdpCheck::default() }),
            Check::Udp(UdpCheck::default()),
        ]
    );
}

#[test]
fn routes_rules_and_static_addresses() {
    let c = load_clean("routes.conf");
    let pfx = |s: &str| -> Prefix { s.parse().unwrap() };
    assert_eq!(c.static_ipaddress.len(), 2);
    assert_eq!(c.static_ipaddress[1], VirtualAddress { dev: some("eth2"), ..vip("2001:db8:2::200", 64) });
    let r = &c.static_routes;
    assert_eq!(r.len(), 5);
    assert_eq!((r[0].to, r[0].via, r[0].dev.as_deref()), (pfx("198.51.100.0/24"), Some(ip("192.0.2.1")), Some("eth2")));
    assert_eq!(r[1].nexthop.iter().map(|h| h.weight).collect::<Vec<_>>(), vec![Some(1), Some(2)]);
    assert_eq!((r[2].tos, r[2].protocol.as_deref(), r[2].metrics.ssthresh), (Some(4), Some("bird"), Some(107)));
    assert_eq!((r[2].mode, r[3].mode, r[3].pref.as_deref()), (RouteMode::Add, RouteMode::Append, Some("high")));
    assert_eq!(r[4].route_type, Some(RouteType::Unreachable));
    let u = &c.static_rules;
    assert_eq!(u.len(), 7);
    assert_eq!((u[0].realms, u[2].goto, u[2].fwmask), (Some((30 << 16) | 20), Some(40), Some(12)));
    assert_eq!((u[4].l3mdev, u[4].ipproto, u[5].suppress_prefixlength), (true, Some(17), Some(0)));
    assert_eq!((u[6].not, u[6].action, u[6].tunnel_id), (true, Some(RuleAction::Prohibit), Some(7)));
    let v = instance(&c, "VI_R");
    assert_eq!(v.virtual_routes.len(), 6);
    assert_eq!(v.virtual_routes[0].src, Some(ip("192.0.2.61")));
    assert_eq!(v.virtual_routes[5].family(), Family::Inet6);
    assert_eq!(v.virtual_rules.len(), 3);
    assert_eq!(v.virtual_rules[2].from, Some(pfx("2001:db8:5::/64")));
}

#[test]
fn deprecated_and_tandem_spellings() {
    let report = load(&path("deprecated.conf"), &Options::default());
    // The only diagnostics: keepalived's deprecated global_tracking, which tandem reads as
    // sync_group_tracking_weight, and the deprecated `or` and `gw` of routes.
    let found: Vec<(Severity, String, usize)> = report
        .diagnostics
        .iter()
        .map(|d| (d.severity, d.message.clone(), report.location(d).map_or(0, |l| l.line)))
        .collect();
    assert_eq!(
        found,
        vec![
            (Severity::Warning, s("`global_tracking` is deprecated; it means sync_group_tracking_weight"), 21),
            (
                Severity::Warning,
                s("`or` for routes is deprecated (keepalived says so too); write `nexthop via A nexthop via B`"),
                42
            ),
            (Severity::Warning, s("`gw` for routes is deprecated (keepalived says so too); write `via`"), 43),
        ],
        "{}",
        report.render()
    );
    // `or` makes a two-hop route; `gw` is `via`.
    let routes = &report.config.vrrp_instances[1].virtual_routes;
    let hops: Vec<Option<IpAddr>> = routes[0].nexthop.iter().map(|h| h.via).collect();
    assert_eq!(hops, vec![Some(ip("192.0.2.253")), Some(ip("192.0.2.254"))]);
    assert_eq!((routes[1].via, routes[1].table), (Some(ip("192.0.2.1")), Some(100)));
    let c = report.config;
    assert_eq!(c.vrrp_sync_groups.len(), 1);
    assert!(c.vrrp_sync_groups[0].sync_group_tracking_weight);
    assert_eq!(c.vrrp_sync_groups[0].group, vec![s("VI_OLD_1"), s("VI_OLD_2")]);
    assert_eq!(c.vrrp_instances.len(), 2);
    assert!(c.global_defs.v3_checksum_as_v2);
    assert_eq!(c.global_defs.lvs_sync_warm_preempt, Some(30.0));
    assert!(c.vrrp_instances[0].v3_checksum_as_v2);
    assert!(!c.vrrp_instances[1].v3_checksum_as_v2);

    assert_eq!(
        service(&c, &addr("192.0.2.85", 80)),
        &VirtualServer {
            ip: Some(ip("192.0.2.85")),
            port: Some(80),
            protocol: Some(Protocol::Tcp),
            lb_algo: s("sh"),
            lb_kind: ForwardMethod::Nat,
            // sh_port / sh_fallback
            sh_port: true,
            sh_fallback: true,
            // nb_get_retry
            retry: Some(6),
            real_servers: vec![RealServer {
                // lb_kind in a real_server
                lb_kind: Some(ForwardMethod::Dr),
                retry: Some(5),
                checks: vec![Check::Http(HttpCheck {
                    url: vec![UrlCheck { path: s("/"), ..UrlCheck::default() }],
                    retry: Some(4),
                    ..HttpCheck::default()
                })],
                ..plain_rs("10.4.0.1", Some(80))
            }],
            ..plain_vs()
        }
    );
    assert_eq!(
        service(&c, &addr("192.0.2.86", 80)),
        &VirtualServer {
            ip: Some(ip("192.0.2.86")),
            port: Some(80),
            protocol: Some(Protocol::Tcp),
            lb_algo: s("mh"),
            lb_kind: ForwardMethod::Nat,
            // mh_port / mh_fallback
            mh_port: true,
            mh_fallback: true,
            real_servers: vec![plain_rs("10.4.0.2", Some(80))],
            ..plain_vs()
        }
    );
}

/// Every keyword the keepalived reader accepts, and the corpus must use each one (as the
/// first word of a line, or inside a one-line block) in a file of its own.
const KEYWORDS: &[&str] = &[
    "static_ipaddress",
    "static_routes",
    "static_rules",
    "virtual_routes",
    "virtual_rules",
    "default_interface",
    "v3_checksum_as_v2",
    "unicast_ttl",
    "lower_prio_no_advert",
    "higher_prio_send_advert",
    "alpha",
    "virtualhost",
    // top level
    "global_defs",
    "vrrp_script",
    "track_file",
    "vrrp_track_file",
    "vrrp_sync_group",
    "vrrp_instance",
    "virtual_server_group",
    "virtual_server",
    // global_defs
    "router_id",
    "notification_email",
    "notification_email_from",
    "smtp_server",
    "smtp_connect_timeout",
    "smtp_helo_name",
    "smtp_alert_vrrp",
    "smtp_alert_checker",
    "no_email_faults",
    "no_checker_emails",
    "script_user",
    "enable_script_security",
    "lvs_sync_daemon",
    "lvs_sync_warm_preempt",
    "lvs_flush",
    "lvs_flush_on_stop",
    "lvs_flush_onstop",
    "lvs_timeouts",
    "vrrp_version",
    "vrrp_mcast_group4",
    "vrrp_mcast_group6",
    "vrrp_garp_master_delay",
    "vrrp_garp_master_repeat",
    "vrrp_garp_master_refresh",
    "vrrp_garp_master_refresh_repeat",
    "vrrp_garp_interval",
    "vrrp_gna_interval",
    "vrrp_garp_lower_prio_delay",
    "vrrp_garp_lower_prio_repeat",
    "vrrp_lower_prio_no_advert",
    "vrrp_higher_prio_send_advert",
    "vrrp_check_unicast_src",
    "vrrp_skip_check_adv_addr",
    "vrrp_strict",
    "vrrp_startup_delay",
    "notify_fifo",
    "vrrp_notify_fifo",
    "notify_fifo_script",
    "vrrp_notify_fifo_script",
    "max_auto_priority",
    // vrrp_script, track_file
    "script",
    "interval",
    "timeout",
    "weight",
    "rise",
    "fall",
    "user",
    "init_fail",
    "file",
    "init_file",
    // vrrp_sync_group
    "group",
    "track_interface",
    "track_script",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify",
    "smtp_alert",
    "sync_group_tracking_weight",
    "global_tracking",
    // vrrp_instance
    "state",
    "interface",
    "virtual_router_id",
    "priority",
    "advert_int",
    "version",
    "native_ipv6",
    "nopreempt",
    "preempt",
    "preempt_delay",
    "mcast_src_ip",
    "unicast_src_ip",
    "unicast_peer",
    "authentication",
    "auth_type",
    "auth_pass",
    "virtual_ipaddress",
    "virtual_ipaddress_excluded",
    "dont_track_primary",
    "use_vmac",
    "vmac_xmit_base",
    "accept",
    "no_accept",
    "strict_mode",
    "check_unicast_src",
    "garp_master_delay",
    "garp_master_repeat",
    "garp_master_refresh",
    "garp_master_refresh_repeat",
    "garp_lower_prio_delay",
    "garp_lower_prio_repeat",
    // virtual_server
    "ip_family",
    "protocol",
    "lb_algo",
    "lvs_sched",
    "lb_kind",
    "lvs_method",
    "persistence_timeout",
    "persistence_granularity",
    "persistence_engine",
    "ops",
    "sh-port",
    "sh-fallback",
    "mh-port",
    "mh-fallback",
    "sh_port",
    "sh_fallback",
    "mh_port",
    "mh_fallback",
    "delay_loop",
    "sorry_server",
    "sorry_server_inhibit",
    "sorry_server_lvs_method",
    "quorum",
    "hysteresis",
    "quorum_up",
    "quorum_down",
    "alpha",
    "omega",
    "inhibit_on_failure",
    "ha_suspend",
    "virtualhost",
    "connect_timeout",
    "retry",
    "nb_get_retry",
    "delay_before_retry",
    "warmup",
    "real_server",
    // real_server
    "uthreshold",
    "lthreshold",
    "notify_up",
    "notify_down",
    // checkers
    "TCP_CHECK",
    "HTTP_GET",
    "SSL_GET",
    "MISC_CHECK",
    "DNS_CHECK",
    "SMTP_CHECK",
    "UDP_CHECK",
    "PING_CHECK",
    "FILE_CHECK",
    "connect_ip",
    "connect_port",
    "bindto",
    "bind_port",
    "bind_if",
    "fwmark",
    "log_all_failures",
    "url",
    "path",
    "digest",
    "status_code",
    "http_protocol",
    "enable_sni",
    "fast_recovery",
    "misc_path",
    "misc_timeout",
    "misc_dynamic",
    "type",
    "name",
    "helo_name",
    "payload",
    "require_reply",
    "min_reply_length",
    "max_reply_length",
];

#[test]
fn the_corpus_uses_every_keyword() {
    let mut words = std::collections::HashSet::new();
    for f in FILES {
        let text = std::fs::read_to_string(path(f)).unwrap();
        for line in text.lines() {
            let code = line.split(['#', '!']).next().unwrap_or("");
            // The first word of the line, and the first word after each `{`.
            for part in code.split('{') {
                if let Some(w) = part.split_whitespace().next() {
                    words.insert(w.to_string());
                }
            }
        }
    }
    let missing: Vec<&&str> = KEYWORDS.iter().filter(|k| !words.contains(**k)).collect();
    assert!(missing.is_empty(), "keywords no corpus file uses: {missing:?}");
    // Virtual address and unicast peer options, and tunnel and lvs_sync_daemon options,
    // are not first words; look for them in the text.
    let all: String = FILES.iter().map(|f| std::fs::read_to_string(path(f)).unwrap()).collect();
    for opt in [
        " brd ",
        " broadcast ",
        " dev ",
        " scope ",
        " label ",
        " no_track",
        " min_ttl ",
        " max_ttl ",
        " type gue port ",
        " type gre ",
        " type ipip",
        " csum",
        " nocsum",
        " remcsum",
        " id ",
        " maxlen ",
        " ttl ",
        " tcpfin ",
        " reverse",
        " overwrite",
    ] {
        assert!(all.contains(opt), "no corpus file uses `{}`", opt.trim());
    }
}

#[test]
fn keepalived_accepts_the_corpus() {
    let keepalived = Path::new("/usr/sbin/keepalived");
    if std::env::var_os("TANDEM_SKIP_KEEPALIVED").is_some() {
        eprintln!("TANDEM_SKIP_KEEPALIVED is set: not running keepalived");
        return;
    }
    assert!(
        keepalived.exists(),
        "{} is needed to check the corpus (set TANDEM_SKIP_KEEPALIVED=1 to skip)",
        keepalived.display()
    );
    // The corpus is judged by the keepalived the suite is written against: another version
    // would accept or refuse for its own reasons.
    if let Err(e) = tandem_tests::keepalived::judge() {
        panic!("{e}");
    }
    // Always in a fresh network namespace (`unshare -n`), never in the machine's own: the
    // interfaces the corpus names are veth pairs made there.
    const SETUP: &str = "set -e; ip link set lo up; for i in 0 1 2 3; do ip link add eth$i type veth peer name eth${i}p; \
                         ip link set eth$i up; ip link set eth${i}p up; done; set +e; \
                         exec /usr/sbin/keepalived -t -f \"$1\"";
    let mut failures = String::new();
    for f in KEEPALIVED_FILES {
        let file = path(f);
        let out = std::process::Command::new("unshare")
            .args(["-n", "bash", "-c", SETUP, "keepalived-test"])
            .arg(&file)
            .output()
            .expect("cannot run unshare");
        if !out.status.success() {
            failures.push_str(&format!(
                "keepalived -t -f {}: {}\n{}{}\n",
                file.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

#[test]
fn toml_round_trip() {
    for f in FILES {
        let mut report = load(&path(f), &Options::default());
        report.diagnostics.retain(|d| !gap(d));
        assert!(!report.has_errors(), "{f}:\n{}", report.render());
        let toml = to_toml(&report.config).unwrap_or_else(|e| panic!("{f}: {e}"));
        let mut back = load_str(&toml, "x.toml", &Options::default());
        back.diagnostics.retain(|d| !gap(d));
        assert!(back.diagnostics.is_empty(), "{f} as TOML:\n{toml}\n{}", back.render());
        assert_eq!(back.config, report.config, "{f} as TOML:\n{toml}");
    }
}
