//! keepalived 2.2.7 as the judge of tandem's configuration diagnostics.
//!
//! errors.rs asserts what tandem says about each class of mistake in a keepalived.conf file
//! (its message and position); this file asks keepalived whether it agrees. Each row of
//! [`rows`] is one class errors.rs asserts for keepalived.conf syntax, with the same (or an
//! equivalent) text, what tandem says about it ([`Tandem`]: an error, or a warning for the
//! classes tandem only warns about) and what `keepalived -t -f FILE` does with it
//! ([`Keepalived`]): it rejects the file (exits non-zero), warns (exits 0 but logs), or
//! tandem differs on purpose, as docs/differences.md says, and keepalived's actual behaviour
//! is asserted all the same. Both sides are checked, so the table can drift neither from
//! tandem nor from keepalived.
//!
//! `keepalived -t` writes to stderr, and exits non-zero for, every message its reader reports
//! as a configuration error (lib/parser.c `report_config_error`, core/main.c
//! `config_test_exit`), unknown keywords and the values it resets (strict mode's) included,
//! though the daemon would run with the file. What it only logs (`log_message`) is dropped
//! under `-t` (lib/logger.c), and files it cannot read are reported without failing the
//! check (unless `-e`). So a row judges what `keepalived -t` shows, not everything the
//! daemon would log when it starts; the reasons of the Differs rows say where that differs.
//!
//! The texts are errors.rs' with, where keepalived -t would report something else as well,
//! what silences it: `lb_algo` and `lb_kind` in each virtual_server (keepalived reports the
//! defaults it sets), and `priority 100` beside `state MASTER` (keepalived 2.2.7 makes an
//! instance with `state MASTER` and no `priority` the address owner, priority 255, so it
//! would not reach the check the row is about; tandem keeps priority 100 there).
//!
//! All rows run in one network namespace (`unshare -n`, with veth interfaces eth0..eth3, as
//! corpus.rs does), one `keepalived -t` each; the whole takes about a second.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests: fail loudly

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use tandem_conf::{Options, Severity, load};

/// What tandem says about a row's file.
#[derive(Debug, Clone, Copy)]
enum Tandem {
    /// An error whose message contains this.
    Error(&'static str),
    /// A warning whose message contains this, that `strict` makes an error.
    StrictError(&'static str),
    /// A warning whose message contains this, and no error.
    Warning(&'static str),
}

/// What `keepalived -t -f FILE` (2.2.7) does with a row's file.
#[derive(Debug, Clone, Copy)]
enum Keepalived {
    /// Exits non-zero (1-127), logging this.
    Rejects(&'static str),
    /// Logs this, then dies of a signal (keepalived 2.2.7 crashes there).
    Crashes(&'static str),
    /// Exits 0, logging this. No class has it today: what `keepalived -t` logs without
    /// failing is only its reader's word on files it cannot read, which tandem refuses
    /// (a difference); everything else it logs fails the check or is not logged under `-t`
    /// (lib/logger.c drops `log_message` there).
    #[allow(dead_code)]
    Warns(&'static str),
    /// tandem differs on purpose: why, ending in `see docs/differences.md#SECTION (WORDS)`,
    /// WORDS being in that section's text; keepalived does the second.
    Differs(&'static str, Does),
}

/// What keepalived does with a row on which tandem differs.
#[derive(Debug, Clone, Copy)]
enum Does {
    /// Exits 0 and logs nothing.
    Silent,
    /// Exits 0, logging this.
    Warns(&'static str),
}

/// One class of mistake.
struct Row {
    /// The errors.rs test the text comes from.
    test: &'static str,
    /// The files, relative to the row's folder, the main one (`keepalived.conf`) first; a
    /// name ending in `/` is a folder. With none, the main file does not exist.
    files: Vec<(&'static str, String)>,
    tandem: Tandem,
    keepalived: Keepalived,
}

const MAIN: &str = "keepalived.conf";

/// The instance errors.rs starts from; keepalived and tandem both take it without a word
/// ([`the_base_texts_are_clean_for_both`]).
const INSTANCE: &str = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress {\n        10.0.0.1/24\n    }\n}\n";

/// The start of an HTTP_GET url block (errors.rs' REGEX_VS, with lb_algo and lb_kind).
const REGEX_VS: &str = "virtual_server 192.0.2.1 80 {\n    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n    real_server 10.0.0.2 80 {\n        HTTP_GET {\n            url {\n                path /\n";

/// INSTANCE with `from` replaced by `to`.
fn inst(from: &str, to: &str) -> String {
    assert!(INSTANCE.contains(from), "{from:?}");
    INSTANCE.replace(from, to)
}

/// INSTANCE with `line` after its virtual_router_id (line 4).
fn instance_with(line: &str) -> String {
    inst("    virtual_router_id 51\n", &format!("    virtual_router_id 51\n    {line}\n"))
}

/// A virtual server on 10.0.0.1:80, NAT, with `body` and one real server.
fn service(body: &str) -> String {
    format!(
        "virtual_server 10.0.0.1 80 {{\n{body}    lb_kind NAT\n    real_server 10.0.1.1 80 {{\n        weight 1\n    }}\n}}\n"
    )
}

/// An HTTP_GET url block with `lines`.
fn regex_vs(lines: &str) -> String {
    format!("{REGEX_VS}{lines}            }}\n        }}\n    }}\n}}\n")
}

/// global_defs with `body`, then INSTANCE.
fn global(body: &str) -> String {
    format!("global_defs {{\n{body}}}\n{INSTANCE}")
}

/// A row of one file.
fn row(test: &'static str, text: String, tandem: Tandem, keepalived: Keepalived) -> Row {
    Row { test, files: vec![(MAIN, text)], tandem, keepalived }
}

/// Every keepalived.conf class errors.rs asserts, in its order.
fn rows() -> Vec<Row> {
    use Does::Silent;
    use Keepalived::*;
    use Tandem::*;
    let email = "keepalived says nothing; \
                 see docs/differences.md#on-purpose (`smtp_alert` set where no mail can be sent)";
    let smtp = "  smtp_server 192.0.2.25\n";
    let mails = "  notification_email {\n    ops@example.com\n  }\n";
    let alerting = instance_with("smtp_alert");
    let strict = |line: &str| {
        format!(
            "global_defs {{\n    vrrp_strict\n}}\n{}",
            inst("    interface eth0\n", &format!("    interface eth0\n{line}"))
        )
    };
    let two_vs = service("    protocol TCP\n    lb_algo rr\n");
    let dup_rs = "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n    real_server 10.0.1.1 80 { weight 1 }\n    real_server 10.0.1.1 80 { weight 2 }\n}\n";
    let vm1 = instance_with("use_vmac vm1");
    vec![
        // --- syntax ---
        row(
            "unclosed_block_points_at_its_brace",
            "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 5\n    virtual_ipaddress {\n        10.0.0.1\n}\n".into(),
            Error("unclosed `{`"),
            Rejects("There are 1 missing '}'s or extra '{'s"),
        ),
        row("extra_closing_brace", format!("{INSTANCE}}}\n"), Error("unexpected `}`"), Rejects("Line 8) Extra '}' found")),
        row(
            "unterminated_quote",
            "vrrp_script chk {\n    script \"/bin/true\n}\n".into(),
            Error("unterminated quoted string"),
            Crashes("Line 2) Unterminated quote 'script \"/bin/true'"),
        ),
        row(
            "bad_number",
            inst("virtual_router_id 51", "virtual_router_id fifty"),
            Error("`fifty` is not a whole number"),
            Rejects("Line 3) invalid number 'fifty'"),
        ),
        row(
            "bad_address",
            inst("        10.0.0.1/24\n", "        10.0.0.300/24\n        10.0.0.2/24\n"),
            Error("`10.0.0.300/24` is not an address"),
            Rejects("Line 5) VRRP parsed invalid IP 10.0.0.300/24. skipping IP"),
        ),
        row(
            "bad_enum_value",
            inst("    interface eth0\n", "    state PRIMARY\n    interface eth0\n"),
            Error("state must be MASTER or BACKUP, not `PRIMARY`"),
            Rejects("Line 2) (VI_1) unknown state 'PRIMARY', defaulting to BACKUP"),
        ),
        row(
            "unknown_keyword_is_a_warning_with_its_place_and_strict_makes_it_an_error",
            inst("    interface eth0\n", "    interface eth0\n    frobnicate yes\n"),
            StrictError("unknown keyword `frobnicate` in vrrp_instance"),
            Rejects("Line 3) Unknown keyword 'frobnicate'"),
        ),
        row(
            "missing_value",
            inst("virtual_router_id 51", "virtual_router_id"),
            Error("`virtual_router_id` needs a number"),
            Rejects("Line 3) *** Configuration line starting `virtual_router_id` is missing a parameter"),
        ),
        // --- ranges ---
        row(
            "vrid_out_of_range_is_reported_once_at_the_value",
            inst("virtual_router_id 51", "virtual_router_id 256"),
            Error("virtual_router_id 256 is out of range 1-255"),
            Rejects("Line 3) number '256' outside range [1, 255]"),
        ),
        row(
            "priority_out_of_range",
            inst("    interface eth0\n", "    interface eth0\n    priority 0\n"),
            Error("priority 0 is out of range 1-255"),
            Rejects("Line 3) number '0' outside range [1, 255]"),
        ),
        row(
            "advert_int_per_version (VRRPv2)",
            inst("    interface eth0\n", "    interface eth0\n    advert_int 0.5\n"),
            Error("advert_int 0.5 is not valid for VRRPv2"),
            Rejects("(VI_1) VRRPv2 advertisement interval 0.500000s must be an integer"),
        ),
        row(
            "advert_int_per_version (VRRPv3)",
            inst("    interface eth0\n", "    interface eth0\n    version 3\n    advert_int 41\n"),
            Error("advert_int 41 is out of range 0.01-40.95 seconds for VRRPv3"),
            Rejects("(VI_1) VRRPv3 advertisement interval 41.00s is out of range"),
        ),
        // --- unknown references ---
        row(
            "unknown_track_script",
            inst("    interface eth0\n", "    interface eth0\n    track_script {\n        chk_nothing\n    }\n"),
            Error("track_script `chk_nothing` names no vrrp_script"),
            Rejects("Line 4) (VI_1) track script chk_nothing not found"),
        ),
        row(
            "unknown_sync_group_member",
            format!("vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_9\n    }}\n}}\n{INSTANCE}"),
            Error("names `VI_9`, which is no vrrp_instance"),
            Rejects("Virtual router VI_9 specified in sync group G doesn't exist"),
        ),
        row(
            "unknown_virtual_server_group",
            "virtual_server group WEB {\n    protocol TCP\n}\n".into(),
            Error("`WEB` is no virtual_server_group"),
            Differs(
                "keepalived -t does not look the group up; keepalived drops the virtual server when it starts; \
                 see docs/differences.md#on-purpose (a `virtual_server group` that names no group)",
                Silent,
            ),
        ),
        row(
            "unknown_track_file_in_file_check",
            "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n    real_server 10.0.1.1 80 {\n        FILE_CHECK {\n            track_file nope\n        }\n    }\n}\n".into(),
            Error("FILE_CHECK names `nope`, which is no track_file block"),
            Rejects("Line 7) track_file nope not found"),
        ),
        row(
            "unknown_lvs_sync_daemon_instance",
            global("    lvs_sync_daemon eth0 VI_7\n"),
            Error("lvs_sync_daemon follows `VI_7`, which is no vrrp_instance"),
            Differs(
                "keepalived -t does not look the instance up; keepalived clears lvs_sync_daemon when it starts; \
                 see docs/differences.md#on-purpose (an `lvs_sync_daemon` instance that does not exist)",
                Silent,
            ),
        ),
        // --- duplicates ---
        row(
            "duplicate_vrid_on_one_interface_and_family",
            format!("{INSTANCE}{}", INSTANCE.replace("VI_1", "VI_2").replace("10.0.0.1/24", "10.0.0.2/24")),
            Error("virtual_router_id 51 is already used on eth0 for IPv4"),
            Rejects("VI_1 and VI_2 both use VRID 51 with IPv4 on interface eth0"),
        ),
        row(
            "duplicate_instance_name",
            format!("{INSTANCE}{}", inst("virtual_router_id 51", "virtual_router_id 52")),
            Error("vrrp_instance `VI_1` is defined twice"),
            Rejects("Line 8) vrrp instance VI_1 already defined"),
        ),
        row(
            "duplicate_virtual_server_and_real_server (virtual_server)",
            format!("{two_vs}{two_vs}"),
            Error("virtual_server 10.0.0.1:80 is defined twice"),
            Differs(
                "keepalived -t passes it; \
                 see docs/differences.md#on-purpose (one `virtual_server` defined twice)",
                Silent,
            ),
        ),
        row(
            "duplicate_virtual_server_and_real_server (real_server)",
            dup_rs.into(),
            Error("real_server 10.0.1.1 is listed twice in this virtual_server"),
            Rejects("VS [10.0.0.1]:tcp:80: real server [10.0.1.1]:tcp:80 is duplicated - removing second rs"),
        ),
        row(
            "mixed_families_in_one_instance",
            inst("        10.0.0.1/24\n", "        10.0.0.1/24\n        2001:db8::1/64\n"),
            Error("2001:db8::1 is IPv6 but vrrp_instance `VI_1` is IPv4"),
            Rejects("Line 6) (VI_1): address family must match VRRP instance [2001:db8::1/64] - ignoring"),
        ),
        // --- combinations ---
        row(
            "nopreempt_with_state_master_is_warned_at_nopreempt",
            inst("    interface eth0\n", "    state MASTER\n    priority 100\n    nopreempt\n    interface eth0\n"),
            Warning("nopreempt with state MASTER"),
            Rejects("(VI_1) Warning - nopreempt will not work with initial state MASTER - clearing"),
        ),
        row(
            "auth_type_ah_is_accepted_and_state_master_with_it_is_warned",
            inst(
                "    interface eth0\n",
                "    state MASTER\n    priority 100\n    authentication {\n        auth_type AH\n        auth_pass s3cret\n    }\n    interface eth0\n",
            ),
            Warning("state MASTER is incompatible with auth_type AH"),
            Rejects("(VI_1) Initial state master is incompatible with AH authentication - clearing"),
        ),
        row(
            "virtual_server_without_protocol_is_warned_as_udp",
            "virtual_server 10.0.0.1 53 {\n    lb_algo rr\n    lb_kind NAT\n    real_server 10.0.1.1 53 {\n    }\n}\n".into(),
            Warning("has no `protocol`; keepalived makes it UDP"),
            Rejects("Virtual server [10.0.0.1]:none:53: no protocol set - defaulting to UDP"),
        ),
        row(
            "gre_with_remote_checksum_is_refused_as_keepalived_does",
            "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    lb_algo rr\n    lb_kind TUN type gre remcsum\n    real_server 10.0.1.1 80 {\n    }\n}\n".into(),
            Error("GRE tunnels do not support remote checksum offload"),
            Rejects("Line 4) gre tunnels do not support remote checksum option"),
        ),
        row(
            "real_server_without_a_block_is_an_error_as_in_keepalived",
            "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n    real_server 10.0.1.1 80\n}\n".into(),
            Error("`real_server` needs a `{ ... }` block"),
            Rejects("Line 6) Missing '{' at beginning of configuration block"),
        ),
        // --- includes ---
        Row {
            test: "missing_include_is_an_error_at_the_include_line",
            files: vec![(MAIN, format!("{INSTANCE}include conf.d/missing.conf\n"))],
            tandem: Error("cannot read included file"),
            keepalived: Differs(
                "keepalived goes on without the file (an error with -e); \
                 see docs/differences.md#on-purpose (an `include` that matches no file)",
                Does::Warns("Line 8) Config files missing 'conf.d/missing.conf'."),
            ),
        },
        Row {
            test: "unreadable_include_is_an_error",
            files: vec![(MAIN, "include vs.conf\n".into()), ("vs.conf/", String::new())],
            tandem: Error("cannot read included file"),
            keepalived: Differs(
                "keepalived goes on without the file (an error with -e); \
                 see docs/differences.md#on-purpose (one that names a folder or cannot be read)",
                Does::Warns("Line 1) Configuration file 'vs.conf/' is a directory - skipping"),
            ),
        },
        Row {
            test: "an_error_inside_an_included_file_names_that_file",
            files: vec![
                (MAIN, "include conf.d/*.conf\n".into()),
                ("conf.d/10-vi.conf", inst("virtual_router_id 51", "virtual_router_id 999")),
            ],
            tandem: Error("virtual_router_id 999 is out of range 1-255"),
            keepalived: Rejects("(conf.d/10-vi.conf: Line 3) number '999' outside range [1, 255]"),
        },
        Row {
            test: "include_loop_is_an_error",
            files: vec![(MAIN, "include other.conf\n".into()), ("other.conf", format!("include {MAIN}\n"))],
            tandem: Error("includes itself"),
            keepalived: Differs(
                "keepalived reads the loop until it runs out of files (an error with -e); \
                 see docs/differences.md#on-purpose (an include loop)",
                Does::Warns("Line 1) Configuration file 'other.conf' open problem (Too many open files) - skipping"),
            ),
        },
        Row {
            test: "unreadable_main_file",
            files: vec![],
            tandem: Error("cannot read"),
            keepalived: Differs(
                "keepalived -t passes a file that is not there (an error with -e); \
                 see docs/differences.md#on-purpose (a main file that does not exist)",
                Does::Warns("Config files missing"),
            ),
        },
        // --- HTTP regex ---
        row(
            "a_regex_that_does_not_compile_is_an_error_at_the_pattern",
            regex_vs("                regex \"up(\"\n"),
            Error("regex `up(` cannot be used"),
            Differs(
                "keepalived -t does not log it (keepalived logs \"Invalid regex\" when it starts); \
                 see docs/differences.md#on-purpose (a regex that does not compile)",
                Silent,
            ),
        ),
        row(
            "a_regex_option_tandem_cannot_apply_is_an_error_and_an_unknown_one_a_warning (unsupported)",
            regex_vs("                regex ok\n                regex_options dollar_endonly\n"),
            Error("regex option dollar_endonly is not supported by tandem"),
            Differs("keepalived applies the option; see docs/differences.md#on-purpose (Six PCRE2 options)", Silent),
        ),
        row(
            "a_regex_option_tandem_cannot_apply_is_an_error_and_an_unknown_one_a_warning (unknown)",
            regex_vs("                regex ok\n                regex_options caseless frobnicate\n"),
            Warning("unknown regex option `frobnicate`; ignored"),
            Differs(
                "keepalived ignores the word silently; \
                 see docs/differences.md#on-purpose (an unknown `regex_options` word)",
                Silent,
            ),
        ),
        row(
            "regex_companions_without_a_regex_are_warned_about",
            regex_vs("                regex_no_match\n"),
            Warning("without a regex"),
            Differs(
                "keepalived passes it silently; \
                 see docs/differences.md#on-purpose (`regex_no_match` without a `regex`)",
                Silent,
            ),
        ),
        // --- lvs_sync_daemon ---
        row(
            "lvs_sync_daemon_forms (old sync id)",
            global("    lvs_sync_daemon eth1 VI_1 51\n"),
            Warning("write `id` before the sync id"),
            Rejects("Line 2) Please use keyword \"id\" before lvs_sync_daemon SYNCID"),
        ),
        row(
            "lvs_sync_daemon_forms (group)",
            global("    lvs_sync_daemon eth1 VI_1 group 10.0.0.1\n"),
            Error("lvs_sync_daemon group `10.0.0.1` is not a multicast address"),
            Rejects("Line 2) lvs_sync_daemon group address 10.0.0.1 is not multicast - ignoring"),
        ),
        row(
            "lvs_sync_daemon_forms (instance twice)",
            global("    lvs_sync_daemon eth1 VI_1 inst VI_2\n"),
            Error("the VRRP instance is already given"),
            Rejects("Line 2) lvs_sync_daemon vrrp instance has already been specified as VI_1 - ignoring"),
        ),
        // --- the IPVS service ---
        row(
            "an_unknown_scheduler_is_an_error_naming_the_kernels_and_the_nearest",
            service("    protocol TCP\n    lb_algo rrr\n"),
            Error("`rrr` is not an IPVS scheduler"),
            Rejects("Line 3) Invalid lvs_scheduler 'rrr' - ignoring"),
        ),
        row(
            "scheduler_flags_say_what_the_kernel_does_with_them (rr)",
            service("    protocol TCP\n    lb_algo rr\n    sh-port\n"),
            Warning("only affect the sh and mh schedulers, not rr"),
            Rejects("Line 4) sh-port only applies to sh scheduler - ignoring"),
        ),
        row(
            "scheduler_flags_say_what_the_kernel_does_with_them (mh)",
            service("    protocol TCP\n    lb_algo mh\n    sh-port\n"),
            Warning("sh-port / sh-fallback act as mh-port"),
            Differs(
                "keepalived passes the flag, which mh reads as mh-port, silently; \
                 see docs/differences.md#on-purpose (sh-port with mh)",
                Silent,
            ),
        ),
        row(
            "ops_needs_udp_and_a_service_without_protocol_is_udp",
            service("    protocol TCP\n    lb_algo rr\n    ops\n"),
            Warning("one-packet scheduling (ops) needs UDP"),
            Rejects("Virtual server [10.0.0.1]:tcp:80: one packet scheduling requires UDP - resetting"),
        ),
        row(
            "quorum_above_the_weights_is_reachable_when_a_check_sets_weights",
            service("    protocol TCP\n    lb_algo rr\n    quorum 5\n"),
            Warning("quorum can never be reached"),
            Rejects("quorum 5 for [10.0.0.1]:tcp:80 exceeds total weight of real servers 1, reducing quorum to 1"),
        ),
        row(
            "tunnel_settings_are_warned_only_where_nothing_uses_them",
            "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    lb_algo rr\n    lb_kind TUN type gue port 6080\n    real_server 10.0.1.1 80 {\n        lvs_method DR\n    }\n}\n".into(),
            Warning("nothing here forwards by TUN"),
            Differs(
                "keepalived passes them silently; \
                 see docs/differences.md#on-purpose (tunnel settings nothing forwards by)",
                Silent,
            ),
        ),
        row(
            "one_virtual_address_in_two_instances_is_an_error_at_the_second",
            format!(
                "{INSTANCE}{}",
                INSTANCE.replace("VI_1", "VI_2").replace("virtual_router_id 51", "virtual_router_id 52")
            ),
            Error("10.0.0.1 is a virtual address of two instances"),
            Differs(
                "keepalived -t passes it; \
                 see docs/differences.md#on-purpose (one virtual address in two instances)",
                Silent,
            ),
        ),
        row(
            "a_virtual_server_on_an_address_no_instance_holds_is_warned",
            format!(
                "{INSTANCE}virtual_server 10.0.0.9 80 {{\n    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n    real_server 10.0.1.1 80 {{\n        weight 1\n    }}\n}}\n"
            ),
            Warning("no vrrp_instance holds 10.0.0.9"),
            Differs(
                "keepalived passes it silently; \
                 see docs/differences.md#on-purpose (a virtual server on an address no instance holds)",
                Silent,
            ),
        ),
        row(
            "a_broadcast_address_on_an_ipv6_vip_is_warned_as_ignored",
            "vrrp_instance VI_6 {\n    interface eth0\n    virtual_router_id 61\n    virtual_ipaddress {\n        2001:db8::1/64 brd 2001:db8::ff\n    }\n}\n".into(),
            Warning("which has no broadcast address: `brd` ignored"),
            Rejects("Line 5) VRRP is trying to assign a broadcast brd to the IPv6 address 2001:db8::1/64"),
        ),
        row(
            "mcast_dst_ip_must_be_a_multicast_address_of_the_instances_family (unicast)",
            instance_with("mcast_dst_ip 10.0.0.9"),
            Error("mcast_dst_ip 10.0.0.9 is not a multicast address"),
            Rejects("Line 4) (VI_1) mcast_dst_ip 10.0.0.9 not multicast"),
        ),
        row(
            "mcast_dst_ip_must_be_a_multicast_address_of_the_instances_family (family)",
            instance_with("mcast_dst_ip ff02::88"),
            Error("mcast_dst_ip ff02::88 is IPv6 but vrrp_instance `VI_1` is IPv4"),
            Rejects("Line 6) (VI_1): address family must match VRRP instance [10.0.0.1/24] - ignoring"),
        ),
        row(
            "a_block_on_a_keyword_that_takes_none_and_a_misspelt_block_keyword (block)",
            "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    priority 100 {\n    }\n    virtual_ipaddress {\n        10.0.0.1/24\n    }\n}\n".into(),
            Error("`priority` does not take a block"),
            Rejects("Line 4) Unexpected '{' - ignoring"),
        ),
        row(
            "a_block_on_a_keyword_that_takes_none_and_a_misspelt_block_keyword (real_server)",
            format!(
                "virtual_server 10.0.0.1 80 {{\n    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n    real_server 10.0.1.1 80 {{\n        weigth {{\n        }}\n    }}\n}}\n{INSTANCE}"
            ),
            Error("unknown keyword `weigth` in real_server"),
            Rejects("Line 6) Unknown keyword 'weigth'"),
        ),
        row(
            "a_block_on_a_keyword_that_takes_none_and_a_misspelt_block_keyword (global_defs)",
            global("    router_idd {\n    }\n"),
            Error("unknown keyword `router_idd` in global_defs"),
            Rejects("Line 2) Unknown keyword 'router_idd'"),
        ),
        row(
            "a_block_on_a_keyword_that_takes_none_and_a_misspelt_block_keyword (vrrp_sync_group)",
            format!("vrrp_sync_group G {{\n    group {{\n        VI_1\n    }}\n    smtp_alertt {{\n    }}\n}}\n{INSTANCE}"),
            Error("unknown keyword `smtp_alertt` in vrrp_sync_group"),
            Rejects("Line 5) Unknown keyword 'smtp_alertt'"),
        ),
        // --- strict mode's resets ---
        row(
            "strict_mode_resets_are_warned_where_set (state MASTER)",
            strict("    state MASTER\n    priority 100\n"),
            Warning("in strict mode state MASTER must match being the address owner"),
            Rejects("(VI_1) State MASTER must match being address owner"),
        ),
        row(
            "strict_mode_resets_are_warned_where_set (authentication)",
            strict("    authentication {\n        auth_type PASS\n        auth_pass x\n    }\n"),
            Warning("strict mode does not support authentication"),
            Rejects("(VI_1) Strict mode does not support authentication. Ignoring."),
        ),
        row(
            "strict_mode_resets_are_warned_where_set (preempt_delay)",
            strict("    preempt_delay 5\n"),
            Warning("strict mode does not allow preempt_delay"),
            Rejects("(VI_1) preempt_delay is incompatible with strict mode - resetting"),
        ),
        row(
            "strict_mode_resets_are_warned_where_set (garp_lower_prio_repeat)",
            strict("    garp_lower_prio_repeat 3\n"),
            Warning("strict mode requires no repeated gratuitous ARPs"),
            Rejects("(VI_1) Strict mode requires no repeat garps. resetting"),
        ),
        row(
            "strict_mode_resets_are_warned_where_set (higher_prio_send_advert)",
            strict("    higher_prio_send_advert\n"),
            Warning("higher_prio_send_advert"),
            Rejects("(VI_1) strict mode requires higher_prio_send_advert to be clear. resetting"),
        ),
        // --- email alerts ---
        row(
            "email_alerts_that_cannot_be_sent_are_warned_where_asked (neither)",
            alerting.clone(),
            Warning("`smtp_alert` is on, but no email alert can be sent"),
            Differs(email, Silent),
        ),
        row(
            "email_alerts_that_cannot_be_sent_are_warned_where_asked (no server)",
            format!("global_defs {{\n{mails}}}\n{alerting}"),
            Warning("no email alert is sent: global_defs has no smtp_server"),
            Differs(email, Silent),
        ),
        row(
            "email_alerts_that_cannot_be_sent_are_warned_where_asked (no address)",
            format!("global_defs {{\n{smtp}}}\n{alerting}"),
            Warning("no email alert is sent: notification_email lists no address"),
            Differs(email, Silent),
        ),
        row(
            "email_alerts_that_cannot_be_sent_are_warned_where_asked (nothing mails)",
            global(&format!("{smtp}{mails}")),
            Warning("no email alert is sent: nothing has smtp_alert on"),
            Differs(
                "keepalived says nothing; \
                 see docs/differences.md#on-purpose (a server and addresses with nothing that mails)",
                Silent,
            ),
        ),
        row(
            "smtp_connect_timeout_0_is_1_as_in_keepalived",
            global(&format!("{smtp}  smtp_connect_timeout 0\n{mails}  smtp_alert\n")),
            Warning("smtp_connect_timeout must be greater than 0"),
            Rejects("Line 3) smtp_conect_timeout must be greater than 0, setting to 1"),
        ),
        // --- routes and rules ---
        row(
            "a_bad_route_or_rule_is_an_error_at_its_word (host bits)",
            "static_routes {\n    10.1.2.3/16 via 10.0.0.1 dev eth0\n}\n".into(),
            Error("has bits set past its prefix length"),
            Differs(
                "keepalived -t passes it; the kernel refuses the route; \
                 see docs/differences.md#on-purpose (A prefix with host bits set)",
                Silent,
            ),
        ),
        row(
            "a_bad_route_or_rule_is_an_error_at_its_word (fwmark)",
            "static_rules {\n    from 10.0.0.0/8 table 1 priority 7 fwmark 0x10/nope\n}\n".into(),
            Error("fwmark `0x10/nope` is not MARK or MARK/MASK"),
            Rejects("Line 2) Invalid rule fwmark 0x10/nope specified"),
        ),
        row(
            "a_bad_route_or_rule_is_an_error_at_its_word (family)",
            inst(
                "    virtual_ipaddress",
                "    virtual_routes {\n        2001:db8::/32 via 10.0.0.1\n    }\n    virtual_ipaddress",
            ),
            Error("`10.0.0.1` is IPv4 in a IPv6 route or rule"),
            Rejects("Line 5) Cannot mix IPv4 and IPv6 addresses for route"),
        ),
        // --- checkers ---
        row(
            "retry_0_is_out_of_range_in_a_virtual_or_real_server_and_allowed_in_a_checker",
            service("    protocol TCP\n    lb_algo rr\n").replace("        weight 1\n", "        retry 0\n"),
            Error("retry 0 is out of range 1-1000000"),
            Rejects("retry value invalid - 0"),
        ),
        // --- use_vmac ---
        row(
            "use_vmac_names_are_checked_as_the_kernel_checks_interface_names (length)",
            instance_with("use_vmac vrrp_instance_1.long"),
            Error("interface names have at most 15 bytes"),
            Rejects("Line 4) VMAC interface name 'vrrp_instance_1.long' too long or invalid characters - ignoring"),
        ),
        row(
            "use_vmac_names_are_checked_as_the_kernel_checks_interface_names (slash)",
            instance_with("use_vmac a/b"),
            Error("interface names cannot hold `/`, `:` or spaces"),
            Rejects("Line 4) VMAC interface name 'a/b' too long or invalid characters - ignoring"),
        ),
        row(
            "two_instances_cannot_share_a_vmac_name",
            format!(
                "{vm1}{}",
                vm1.replace("VI_1", "VI_2").replace("51", "52").replace("10.0.0.1", "10.0.0.2")
            ),
            Error("uses the VMAC interface vm1 already"),
            Rejects("Line 12) (VI_2) VRRP instance VI_1 is already using vm1 - ignoring name"),
        ),
        row(
            "a_vmac_mac_address_of_ones_own_is_refused",
            instance_with("use_vmac vm1 02:00:00:00:00:01"),
            Error("a MAC address of one's own for use_vmac is not supported by tandem"),
            Differs(
                "keepalived uses the MAC address; \
                 see docs/differences.md#on-purpose (a MAC address of one's own is refused)",
                Silent,
            ),
        ),
        row(
            "vmac_xmit_base_without_use_vmac_is_warned",
            instance_with("vmac_xmit_base"),
            Warning("vmac_xmit_base has no effect without use_vmac"),
            Rejects("(VI_1) vmac_xmit_base is only valid with a vmac"),
        ),
    ]
}

/// A fresh folder under the temporary directory.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-conf-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Writes a row's files into `dir`.
fn write_row(dir: &Path, row: &Row) {
    std::fs::create_dir_all(dir).expect("mkdir");
    for (name, text) in &row.files {
        let path = dir.join(name);
        if name.ends_with('/') {
            std::fs::create_dir_all(&path).expect("mkdir");
            continue;
        }
        std::fs::create_dir_all(path.parent().expect("a file has a folder")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
    }
}

/// What tandem says about the file, checked against the row; `Err` says how it differs.
fn tandem_agrees(main: &Path, expected: Tandem) -> Result<(), String> {
    let (strict, severity, words) = match expected {
        Tandem::Error(w) => (false, Severity::Error, w),
        Tandem::StrictError(w) => (true, Severity::Error, w),
        Tandem::Warning(w) => (false, Severity::Warning, w),
    };
    let r = load(main, &Options::default());
    let found = |r: &tandem_conf::Report, severity| {
        r.diagnostics.iter().any(|d| d.severity == severity && d.message.contains(words))
    };
    let ok = match expected {
        Tandem::Error(_) => found(&r, severity),
        Tandem::StrictError(_) | Tandem::Warning(_) => !r.has_errors() && found(&r, Severity::Warning),
    };
    let strict_ok = !strict || found(&load(main, &Options { strict, ..Options::default() }), Severity::Error);
    if ok && strict_ok { Ok(()) } else { Err(format!("tandem: expected {expected:?}, got:\n{}", r.render())) }
}

/// keepalived's exit status and log for the row, checked against the row.
fn keepalived_agrees(expected: Keepalived, code: i32, log: &str) -> Result<(), String> {
    let ok = match expected {
        Keepalived::Rejects(w) => (1..=127).contains(&code) && log.contains(w),
        Keepalived::Crashes(w) => code > 128 && log.contains(w),
        Keepalived::Warns(w) | Keepalived::Differs(_, Does::Warns(w)) => code == 0 && log.contains(w),
        Keepalived::Differs(_, Does::Silent) => code == 0 && log.trim().is_empty(),
    };
    if ok { Ok(()) } else { Err(format!("keepalived -t: expected {expected:?}, exited {code}, logged:\n{log}")) }
}

/// The GitHub anchor of a markdown heading.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// A Differs reason's reference, `see docs/differences.md#SECTION (WORDS)`, checked: the
/// section is a heading of docs/differences.md and WORDS are in its text.
fn documented(reason: &str, doc: &str) -> Result<(), String> {
    let bad = || format!("{reason:?} does not end in `see docs/differences.md#SECTION (WORDS)`");
    let (_, reference) = reason.split_once("see docs/differences.md#").ok_or_else(bad)?;
    let (section, words) = reference.split_once(" (").ok_or_else(bad)?;
    let words = words.strip_suffix(')').ok_or_else(bad)?;
    let mut text = None;
    for part in doc.split("\n## ").skip(1) {
        let (heading, body) = part.split_once('\n').unwrap_or((part, ""));
        if anchor(heading) == section {
            text = Some(body);
        }
    }
    let text = text.ok_or_else(|| format!("docs/differences.md has no section #{section}"))?;
    // The file wraps its lines anywhere.
    let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat(text).contains(&flat(words)) {
        Ok(())
    } else {
        Err(format!("docs/differences.md#{section} does not say {words:?}"))
    }
}

/// A row says Differs exactly where tandem is stricter than keepalived.
fn consistent(row: &Row) -> Result<(), String> {
    match (row.tandem, row.keepalived) {
        (Tandem::Error(_), Keepalived::Warns(_)) => {
            Err("tandem refuses what keepalived passes: that is a difference (Differs)".into())
        }
        (Tandem::Warning(_) | Tandem::StrictError(_), Keepalived::Differs(_, Does::Warns(_))) => {
            Err("both warn: that is no difference (Warns)".into())
        }
        _ => Ok(()),
    }
}

/// Runs `keepalived -t -f DIR/keepalived.conf` for each folder, in one new network
/// namespace with interfaces eth0..eth3; the exit status (bash's: 128 + N for signal N) and
/// output of each.
fn keepalived_check(dirs: &[PathBuf], out: &Path) -> Vec<(i32, String)> {
    const SETUP: &str = "set -e; ip link set lo up; for i in 0 1 2 3; do ip link add eth$i type veth peer name eth${i}p; \
                         ip link set eth$i up; ip link set eth${i}p up; done; set +e; out=$1; shift; n=0; \
                         for d in \"$@\"; do /usr/sbin/keepalived -t -f \"$d/keepalived.conf\" >\"$out/$n.log\" 2>&1; \
                         echo $? >\"$out/$n.rc\"; n=$((n+1)); done";
    let run = std::process::Command::new("unshare")
        .args(["-n", "bash", "-c", SETUP, "keepalived-judge"])
        .arg(out)
        .args(dirs)
        .output()
        .expect("cannot run unshare");
    // bash's own stderr (where it says which keepalived died of a signal) stays out of the
    // test's output.
    assert!(run.status.success(), "keepalived in a new namespace: {}", String::from_utf8_lossy(&run.stderr));
    (0..dirs.len())
        .map(|n| {
            let rc = std::fs::read_to_string(out.join(format!("{n}.rc"))).expect("exit status");
            let log = std::fs::read_to_string(out.join(format!("{n}.log"))).expect("log");
            (rc.trim().parse().expect("a number"), log)
        })
        .collect()
}

/// Skips (returning false) when asked to, as corpus.rs does; otherwise insists on
/// keepalived 2.2.7.
fn keepalived_here() -> bool {
    if std::env::var_os("TANDEM_SKIP_KEEPALIVED").is_some() {
        eprintln!("TANDEM_SKIP_KEEPALIVED is set: not running keepalived");
        return false;
    }
    // Another version would accept or refuse for its own reasons.
    if let Err(e) = tandem_tests::keepalived::judge() {
        panic!("{e} (set TANDEM_SKIP_KEEPALIVED=1 to skip)");
    }
    true
}

#[test]
fn keepalived_judges_every_error_class() {
    let rows = rows();
    let root = temp_dir("errors-judge");
    let dirs: Vec<PathBuf> = (0..rows.len()).map(|n| root.join(format!("row{n}"))).collect();
    for (row, dir) in rows.iter().zip(&dirs) {
        write_row(dir, row);
    }
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/differences.md"))
        .expect("docs/differences.md");
    let mut failures = String::new();
    let mut fail = |n: usize, row: &Row, e: String| {
        let _ = writeln!(failures, "row {n} ({}):\n{e}\n", row.test);
    };
    for (n, (row, dir)) in rows.iter().zip(&dirs).enumerate() {
        if let Err(e) = tandem_agrees(&dir.join(MAIN), row.tandem) {
            fail(n, row, e);
        }
        if let Err(e) = consistent(row) {
            fail(n, row, e);
        }
        if let Keepalived::Differs(reason, _) = row.keepalived {
            if let Err(e) = documented(reason, &doc) {
                fail(n, row, e);
            }
        }
    }
    if keepalived_here() {
        let out = root.join("out");
        std::fs::create_dir_all(&out).expect("mkdir");
        for (n, (code, log)) in keepalived_check(&dirs, &out).into_iter().enumerate() {
            if let Err(e) = keepalived_agrees(rows[n].keepalived, code, &log) {
                fail(n, &rows[n], e);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    assert!(failures.is_empty(), "{failures}");
}

/// The texts the rows start from are clean for both, so that what each says about a row is
/// about the row's change.
#[test]
fn the_base_texts_are_clean_for_both() {
    let vs = "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n    real_server 10.0.1.1 80 {\n        weight 1\n    }\n}\n";
    let bases = [
        INSTANCE.to_string(),
        format!("{INSTANCE}{vs}"),
        inst("    interface eth0\n", "    state MASTER\n    priority 100\n    interface eth0\n"),
        regex_vs("                regex ok\n"),
        format!("global_defs {{\n    vrrp_strict\n}}\n{INSTANCE}"),
        instance_with("use_vmac vm1"),
    ];
    let root = temp_dir("errors-judge-bases");
    let dirs: Vec<PathBuf> = (0..bases.len()).map(|n| root.join(format!("base{n}"))).collect();
    let mut failures = String::new();
    for (text, dir) in bases.iter().zip(&dirs) {
        std::fs::create_dir_all(dir).expect("mkdir");
        std::fs::write(dir.join(MAIN), text).expect("write");
        let r = load(&dir.join(MAIN), &Options::default());
        if !r.diagnostics.is_empty() {
            let _ = writeln!(failures, "tandem on\n{text}\n{}", r.render());
        }
    }
    if keepalived_here() {
        let out = root.join("out");
        std::fs::create_dir_all(&out).expect("mkdir");
        for (text, (code, log)) in bases.iter().zip(keepalived_check(&dirs, &out)) {
            if code != 0 || !log.trim().is_empty() {
                let _ = writeln!(failures, "keepalived -t on\n{text}\nexited {code}, logged:\n{log}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    assert!(failures.is_empty(), "{failures}");
}
