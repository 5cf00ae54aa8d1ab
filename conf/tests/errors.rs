//! Each class of mistake is reported with its message, file, line and column.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::path::{Path, PathBuf};
use tandem_conf::{Options, Report, Severity, load, load_str};

/// (severity, message, file name, line, column) of every diagnostic.
fn found(r: &Report) -> Vec<(Severity, String, String, usize, usize)> {
    r.diagnostics
        .iter()
        .map(|d| {
            let loc = r.location(d).expect("every diagnostic here has a location");
            let file = loc.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            (d.severity, d.message.clone(), file, loc.line, loc.column)
        })
        .collect()
}

fn check(text: &str) -> Report {
    load_str(text, "keepalived.conf", &Options::default())
}

/// Asserts exactly one diagnostic, an error, with this message at this line and column.
fn one_error(r: &Report, message: &str, line: usize, column: usize) {
    let f = found(r);
    assert_eq!(f.len(), 1, "expected one diagnostic, got:\n{}", r.render());
    assert_eq!(
        f[0],
        (Severity::Error, message.to_string(), "keepalived.conf".to_string(), line, column),
        "{}",
        r.render()
    );
}

const INSTANCE: &str = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress {\n        10.0.0.1/24\n    }\n}\n";

#[test]
fn a_clean_file_has_no_diagnostics() {
    let r = check(INSTANCE);
    assert!(r.diagnostics.is_empty(), "{}", r.render());
}

// --- syntax ---

#[test]
fn unclosed_block_points_at_its_brace() {
    let r = check(
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 5\n    virtual_ipaddress {\n        10.0.0.1\n}\n",
    );
    one_error(&r, "unclosed `{`", 1, 20);
}

#[test]
fn extra_closing_brace() {
    let r = check(&format!("{INSTANCE}}}\n"));
    one_error(&r, "unexpected `}`", 8, 1);
}

#[test]
fn unterminated_quote() {
    let r = check("vrrp_script chk {\n    script \"/bin/true\n}\n");
    // The quote error, and the script has no command left; in the file's order.
    let f = found(&r);
    assert!(
        f.contains(&(Severity::Error, "unterminated quoted string".into(), "keepalived.conf".into(), 2, 12)),
        "{}",
        r.render()
    );
    assert!(f.windows(2).all(|w| (w[0].3, w[0].4) <= (w[1].3, w[1].4)), "sorted by position:\n{}", r.render());
}

#[test]
fn bad_number() {
    let r = check(&INSTANCE.replace("virtual_router_id 51", "virtual_router_id fifty"));
    one_error(&r, "virtual_router_id: `fifty` is not a whole number", 3, 23);
}

#[test]
fn bad_address() {
    let r = check(&INSTANCE.replace("        10.0.0.1/24\n", "        10.0.0.300/24\n        10.0.0.2/24\n"));
    one_error(&r, "`10.0.0.300/24` is not an address with an optional prefix (like 10.0.0.1/24)", 5, 9);
}

#[test]
fn bad_enum_value() {
    let r = check(&INSTANCE.replace("    interface eth0\n", "    state PRIMARY\n    interface eth0\n"));
    one_error(&r, "state must be MASTER or BACKUP, not `PRIMARY`", 2, 11);
}

#[test]
fn unknown_keyword_is_a_warning_with_its_place_and_strict_makes_it_an_error() {
    let text = INSTANCE.replace("    interface eth0\n", "    interface eth0\n    frobnicate yes\n");
    let r = check(&text);
    let f = found(&r);
    assert_eq!(
        f,
        vec![(
            Severity::Warning,
            "unknown keyword `frobnicate` in vrrp_instance; ignored".into(),
            "keepalived.conf".into(),
            3,
            5
        )]
    );
    assert!(!r.has_errors());
    let strict = load_str(&text, "keepalived.conf", &Options { strict: true, ..Options::default() });
    assert!(strict.has_errors());
    assert_eq!(strict.diagnostics[0].severity, Severity::Error);
}

#[test]
fn missing_value() {
    let r = check(&INSTANCE.replace("virtual_router_id 51", "virtual_router_id"));
    let f = found(&r);
    assert_eq!(
        f[0],
        (Severity::Error, "`virtual_router_id` needs a number".into(), "keepalived.conf".into(), 3, 5),
        "{}",
        r.render()
    );
}

// --- ranges ---

#[test]
fn vrid_out_of_range_is_reported_once_at_the_value() {
    let r = check(&INSTANCE.replace("virtual_router_id 51", "virtual_router_id 256"));
    one_error(&r, "virtual_router_id 256 is out of range 1-255", 3, 23);
}

#[test]
fn priority_out_of_range() {
    let r = check(&INSTANCE.replace("    interface eth0\n", "    interface eth0\n    priority 0\n"));
    one_error(&r, "priority 0 is out of range 1-255", 3, 14);
}

#[test]
fn advert_int_per_version() {
    let r = check(&INSTANCE.replace("    interface eth0\n", "    interface eth0\n    advert_int 0.5\n"));
    one_error(&r, "advert_int 0.5 is not valid for VRRPv2, which counts whole seconds 1-255", 3, 16);
    let ok =
        check(&INSTANCE.replace("    interface eth0\n", "    interface eth0\n    version 3\n    advert_int 0.5\n"));
    assert!(ok.diagnostics.is_empty(), "{}", ok.render());
    let r = check(&INSTANCE.replace("    interface eth0\n", "    interface eth0\n    version 3\n    advert_int 41\n"));
    one_error(&r, "advert_int 41 is out of range 0.01-40.95 seconds for VRRPv3", 4, 16);
}

#[test]
fn ranges_in_toml_point_at_the_value() {
    let toml = "[[vrrp_instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvirtual_router_id = 0\n\n[[vrrp_instance.virtual_ipaddress]]\naddress = \"10.0.0.1\"\nprefix = 24\n";
    let r = load_str(toml, "tandem.toml", &Options::default());
    let f = found(&r);
    assert_eq!(
        f,
        vec![(Severity::Error, "virtual_router_id 0 is out of range 1-255".into(), "tandem.toml".into(), 4, 21)]
    );
}

#[test]
fn toml_syntax_and_unknown_keys_are_located() {
    let r = load_str(
        "[[vrrp_instance]]\nname = \"VI_1\"\nvirtual_router_id = 5\npriorty = 3\n",
        "tandem.toml",
        &Options::default(),
    );
    let f = found(&r);
    let errors: Vec<_> = f.iter().filter(|d| d.0 == Severity::Error).collect();
    assert_eq!(errors.len(), 1, "{}", r.render());
    assert_eq!((errors[0].1.as_str(), errors[0].3, errors[0].4), ("unknown key `priorty`", 4, 1), "{}", r.render());
    let d = r.diagnostics.iter().find(|d| d.severity == Severity::Error).unwrap();
    assert_eq!(d.notes, ["did you mean `priority`?"]);
    let r = load_str("[global_defs\n", "tandem.toml", &Options::default());
    assert!(r.has_errors());
    assert_eq!(r.location(&r.diagnostics[0]).map(|l| l.line), Some(1));
}

// --- unknown references ---

#[test]
fn unknown_track_script() {
    let r = check(
        &INSTANCE
            .replace("    interface eth0\n", "    interface eth0\n    track_script {\n        chk_nothing\n    }\n"),
    );
    one_error(&r, "track_script `chk_nothing` names no vrrp_script", 4, 9);
}

#[test]
fn unknown_sync_group_member() {
    let r = check(&format!("vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_9\n    }}\n}}\n{INSTANCE}"));
    one_error(&r, "vrrp_sync_group `G` names `VI_9`, which is no vrrp_instance", 4, 9);
}

#[test]
fn unknown_virtual_server_group() {
    let r = check("virtual_server group WEB {\n    protocol TCP\n}\n");
    one_error(&r, "`WEB` is no virtual_server_group", 1, 1);
}

#[test]
fn unknown_track_file_in_file_check() {
    let r = check(
        "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    real_server 10.0.1.1 80 {\n        FILE_CHECK {\n            track_file nope\n        }\n    }\n}\n",
    );
    one_error(&r, "FILE_CHECK names `nope`, which is no track_file block", 5, 24);
}

#[test]
fn unknown_lvs_sync_daemon_instance() {
    let r = check(&format!("global_defs {{\n    lvs_sync_daemon eth0 VI_7\n}}\n{INSTANCE}"));
    one_error(&r, "lvs_sync_daemon follows `VI_7`, which is no vrrp_instance", 2, 21);
}

// --- duplicates ---

#[test]
fn duplicate_vrid_on_one_interface_and_family() {
    let second = INSTANCE.replace("VI_1", "VI_2").replace("10.0.0.1/24", "10.0.0.2/24");
    let r = check(&format!("{INSTANCE}{second}"));
    one_error(&r, "virtual_router_id 51 is already used on eth0 for IPv4 by vrrp_instance `VI_1`", 10, 23);
    assert_eq!(r.diagnostics[0].notes, vec!["`VI_1` uses it at keepalived.conf:3:23".to_string()]);
    // The same VRID for IPv6, or on another interface, is fine (RFC 5798 section 5.2.3).
    let v6 = second.replace("10.0.0.2/24", "2001:db8::2/64");
    assert!(check(&format!("{INSTANCE}{v6}")).diagnostics.is_empty());
    let other_if = second.replace("eth0", "eth1");
    assert!(check(&format!("{INSTANCE}{other_if}")).diagnostics.is_empty());
}

#[test]
fn duplicate_instance_name() {
    let second = INSTANCE.replace("virtual_router_id 51", "virtual_router_id 52");
    let r = check(&format!("{INSTANCE}{second}"));
    one_error(&r, "vrrp_instance `VI_1` is defined twice", 8, 15);
}

#[test]
fn duplicate_virtual_server_and_real_server() {
    let vs = "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    real_server 10.0.1.1 80 { weight 1 }\n    real_server 10.0.1.1 80 { weight 2 }\n}\n";
    let r = check(&format!("{vs}{vs}"));
    let f = found(&r);
    let messages: Vec<(&str, usize, usize)> = f.iter().map(|d| (d.1.as_str(), d.3, d.4)).collect();
    assert_eq!(
        messages,
        vec![
            ("real_server 10.0.1.1 is listed twice in this virtual_server", 4, 5),
            ("virtual_server 10.0.0.1:80 is defined twice", 6, 1),
            ("real_server 10.0.1.1 is listed twice in this virtual_server", 9, 5),
        ],
        "{}",
        r.render()
    );
}

#[test]
fn mixed_families_in_one_instance() {
    let r = check(&INSTANCE.replace("        10.0.0.1/24\n", "        10.0.0.1/24\n        2001:db8::1/64\n"));
    one_error(&r, "2001:db8::1 is IPv6 but vrrp_instance `VI_1` is IPv4", 6, 9);
}

// --- combinations ---

#[test]
fn nopreempt_with_state_master_is_warned_at_nopreempt() {
    let r = check(
        &INSTANCE
            .replace("    interface eth0\n", "    state MASTER\n    priority 100\n    nopreempt\n    interface eth0\n"),
    );
    let f = found(&r);
    assert_eq!(f.len(), 1, "{}", r.render());
    assert_eq!((f[0].0, f[0].3, f[0].4), (Severity::Warning, 4, 5));
    assert!(f[0].1.contains("nopreempt with state MASTER"));
}

/// `auth_type AH` is accepted (tandem runs it); with state MASTER it is warned at `state`:
/// the instance starts as BACKUP, as keepalived makes it.
#[test]
fn auth_type_ah_is_accepted_and_state_master_with_it_is_warned() {
    let ah = "    authentication {\n        auth_type AH\n        auth_pass s3cret\n    }\n    interface eth0\n";
    let r = check(&INSTANCE.replace("    interface eth0\n", ah));
    assert!(found(&r).is_empty(), "{}", r.render());
    let r = check(&INSTANCE.replace("    interface eth0\n", &format!("    state MASTER\n    priority 100\n{ah}")));
    let f = found(&r);
    assert_eq!(f.len(), 1, "{}", r.render());
    assert_eq!((f[0].0, f[0].3, f[0].4), (Severity::Warning, 2, 11), "at MASTER");
    assert!(f[0].1.contains("state MASTER is incompatible with auth_type AH"), "{}", f[0].1);
}

/// keepalived derives a missing priority from the state: `state MASTER` alone makes the
/// address owner, 255 (vrrp.c, vrrp_complete_instance), and so does tandem, warning (at
/// `state`) since that changes how the instance behaves; BACKUP alone is 100.
#[test]
fn state_master_without_priority_is_the_address_owner_as_in_keepalived() {
    let r = check(&INSTANCE.replace("    interface eth0\n", "    state MASTER\n    interface eth0\n"));
    let f = found(&r);
    assert_eq!(f.len(), 1, "{}", r.render());
    assert_eq!((f[0].0, f[0].3, f[0].4), (Severity::Warning, 2, 5));
    assert!(f[0].1.contains("address owner (priority 255)"), "{}", f[0].1);
    assert_eq!(r.config.vrrp_instances[0].priority, 255);
    let r =
        check(&INSTANCE.replace("    interface eth0\n", "    state MASTER\n    priority 150\n    interface eth0\n"));
    assert!(found(&r).is_empty(), "{}", r.render());
    assert_eq!(r.config.vrrp_instances[0].priority, 150);
    let r = check(&INSTANCE.replace("    interface eth0\n", "    state BACKUP\n    interface eth0\n"));
    assert!(found(&r).is_empty(), "{}", r.render());
    assert_eq!(r.config.vrrp_instances[0].priority, 100);
}

#[test]
fn virtual_server_without_protocol_is_warned_as_udp() {
    let r = check("virtual_server 10.0.0.1 53 {\n    real_server 10.0.1.1 53 {\n    }\n}\n");
    let f = found(&r);
    assert_eq!(
        f,
        vec![(
            Severity::Warning,
            "virtual_server 10.0.0.1:53 has no `protocol`; keepalived makes it UDP".into(),
            "keepalived.conf".into(),
            1,
            1
        )]
    );
    assert_eq!(r.config.virtual_servers[0].effective_protocol(), tandem_conf::Protocol::Udp);
}

#[test]
fn gre_with_remote_checksum_is_refused_as_keepalived_does() {
    let r = check(
        "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    lb_kind TUN type gre remcsum\n    real_server 10.0.1.1 80 {\n    }\n}\n",
    );
    one_error(&r, "GRE tunnels do not support remote checksum offload (remcsum); use csum or nocsum", 3, 13);
}

#[test]
fn real_server_without_a_block_is_an_error_as_in_keepalived() {
    let r = check("virtual_server 10.0.0.1 80 {\n    protocol TCP\n    real_server 10.0.1.1 80\n}\n");
    one_error(&r, "`real_server` needs a `{ ... }` block (at least `{ weight 1 }`)", 3, 5);
}

#[test]
fn a_group_of_fwmarks_needs_no_protocol() {
    let r = check(
        "virtual_server_group MARKS {\n    fwmark 1\n    fwmark 2\n}\nvirtual_server group MARKS {\n    real_server 10.0.1.1 80 {\n    }\n}\n",
    );
    assert!(r.diagnostics.is_empty(), "{}", r.render());
}

// --- includes ---

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-conf-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

#[test]
fn missing_include_is_an_error_at_the_include_line() {
    let dir = temp_dir("missing");
    let main = dir.join("keepalived.conf");
    write(&main, &format!("{INSTANCE}include conf.d/missing.conf\n"));
    let r = load(&main, &Options::default());
    let f = found(&r);
    assert_eq!(f.len(), 1, "{}", r.render());
    assert!(f[0].1.starts_with("cannot read included file"), "{}", f[0].1);
    assert!(f[0].1.contains("conf.d/missing.conf"));
    assert_eq!((f[0].0, f[0].2.as_str(), f[0].3, f[0].4), (Severity::Error, "keepalived.conf", 8, 9));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unreadable_include_is_an_error() {
    let dir = temp_dir("unreadable");
    let main = dir.join("keepalived.conf");
    // A directory where a file is expected cannot be read, whoever runs the test (root too).
    std::fs::create_dir_all(dir.join("vs.conf")).expect("mkdir");
    write(&main, "include vs.conf\n");
    let r = load(&main, &Options::default());
    let f = found(&r);
    assert_eq!(f.len(), 1, "{}", r.render());
    assert!(f[0].1.starts_with("cannot read included file"), "{}", f[0].1);
    assert_eq!((f[0].3, f[0].4), (1, 9));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_error_inside_an_included_file_names_that_file() {
    let dir = temp_dir("inner");
    let main = dir.join("keepalived.conf");
    write(&main, "include conf.d/*.conf\n");
    write(&dir.join("conf.d/10-vi.conf"), &INSTANCE.replace("virtual_router_id 51", "virtual_router_id 999"));
    let r = load(&main, &Options::default());
    let f = found(&r);
    assert_eq!(
        f,
        vec![(Severity::Error, "virtual_router_id 999 is out of range 1-255".into(), "10-vi.conf".into(), 3, 23)]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn include_loop_is_an_error() {
    let dir = temp_dir("loop");
    let main = dir.join("keepalived.conf");
    write(&main, "include other.conf\n");
    write(&dir.join("other.conf"), "include keepalived.conf\n");
    let r = load(&main, &Options::default());
    let f = found(&r);
    assert_eq!(f.len(), 1, "{}", r.render());
    assert!(f[0].1.ends_with("includes itself"), "{}", f[0].1);
    assert_eq!((f[0].2.as_str(), f[0].3, f[0].4), ("other.conf", 1, 9));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unreadable_main_file() {
    let r = load(Path::new("/nonexistent/keepalived.conf"), &Options::default());
    assert!(r.has_errors());
    assert!(r.diagnostics[0].message.starts_with("cannot read `/nonexistent/keepalived.conf`"));
}

#[test]
fn rendering_shows_file_line_column_the_line_and_a_caret() {
    let r = check(&INSTANCE.replace("virtual_router_id 51", "virtual_router_id 256"));
    let text = r.render();
    assert!(text.starts_with("error: virtual_router_id 256 is out of range 1-255\n"), "{text}");
    assert!(text.contains("--> keepalived.conf:3:23\n"), "{text}");
    assert!(text.contains("3 |     virtual_router_id 256\n"), "{text}");
    assert!(text.contains("  |                       ^^^ must be 1-255"), "{text}");
}

// --- HTTP regex ---

const REGEX_VS: &str = "virtual_server 192.0.2.1 80 {\n    protocol TCP\n    real_server 10.0.0.2 80 {\n        HTTP_GET {\n            url {\n                path /\n";

#[test]
fn a_regex_that_does_not_compile_is_an_error_at_the_pattern() {
    let r = check(&format!("{REGEX_VS}                regex \"up(\"\n            }}\n        }}\n    }}\n}}\n"));
    one_error(
        &r,
        "regex `up(` cannot be used: PCRE2: error compiling pattern at offset 3: missing closing parenthesis",
        7,
        23,
    );
}

#[test]
fn a_regex_option_tandem_cannot_apply_is_an_error_and_an_unknown_one_a_warning() {
    let r = check(&format!(
        "{REGEX_VS}                regex ok\n                regex_options dollar_endonly\n            }}\n        }}\n    }}\n}}\n"
    ));
    one_error(&r, "regex `ok` cannot be used: regex option dollar_endonly is not supported by tandem", 8, 31);
    let r = check(&format!(
        "{REGEX_VS}                regex ok\n                regex_options caseless frobnicate\n            }}\n        }}\n    }}\n}}\n"
    ));
    assert_eq!(
        found(&r),
        vec![(
            Severity::Warning,
            "unknown regex option `frobnicate`; ignored".to_string(),
            "keepalived.conf".to_string(),
            8,
            40
        )],
        "{}",
        r.render()
    );
}

#[test]
fn regex_companions_without_a_regex_are_warned_about() {
    let r = check(&format!("{REGEX_VS}                regex_no_match\n            }}\n        }}\n    }}\n}}\n"));
    let f = found(&r);
    assert_eq!(f.len(), 1, "{}", r.render());
    assert_eq!(f[0].0, Severity::Warning);
    assert!(f[0].1.contains("without a regex"), "{}", r.render());
}

/// keepalived 2.2's forms of lvs_sync_daemon: no instance (both daemons), `inst NAME`, and the
/// old bare sync id after the instance (a warning).
#[test]
fn lvs_sync_daemon_forms() {
    let sd = |line: &str| {
        let r = check(&format!("global_defs {{\n    {line}\n}}\n{INSTANCE}"));
        (r.config.global_defs.lvs_sync_daemon.clone(), found(&r))
    };
    let (d, f) = sd("lvs_sync_daemon eth1");
    let d = d.unwrap();
    assert_eq!((d.interface.as_str(), d.instance, d.id), ("eth1", None, None));
    assert!(f.is_empty(), "{f:?}");
    let (d, f) = sd("lvs_sync_daemon eth1 inst VI_1 id 7 group 224.0.0.82");
    let d = d.unwrap();
    assert_eq!((d.instance.as_deref(), d.id, d.group), (Some("VI_1"), Some(7), Some("224.0.0.82".parse().unwrap())));
    assert!(f.is_empty(), "{f:?}");
    let (d, f) = sd("lvs_sync_daemon eth1 VI_1 51");
    assert_eq!(d.unwrap().id, Some(51));
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].0, f[0].1.as_str(), f[0].3, f[0].4),
        (Severity::Warning, "write `id` before the sync id (the old form is deprecated)", 2, 31)
    );
    let r = check(&format!("global_defs {{\n    lvs_sync_daemon eth1 VI_1 group 10.0.0.1\n}}\n{INSTANCE}"));
    one_error(&r, "lvs_sync_daemon group `10.0.0.1` is not a multicast address", 2, 37);
    let r = check(&format!("global_defs {{\n    lvs_sync_daemon eth1 VI_1 inst VI_2\n}}\n{INSTANCE}"));
    one_error(&r, "the VRRP instance is already given", 2, 31);
}

// --- the IPVS service's options, as the kernel reads them ---

fn service(body: &str) -> Report {
    check(&format!(
        "virtual_server 10.0.0.1 80 {{\n{body}    real_server 10.0.1.1 80 {{\n        weight 1\n    }}\n}}\n"
    ))
}

fn messages(r: &Report) -> Vec<String> {
    r.diagnostics.iter().map(|d| d.message.clone()).collect()
}

#[test]
fn an_unknown_scheduler_is_an_error_naming_the_kernels_and_the_nearest() {
    let r = service("    protocol TCP\n    lb_algo rrr\n");
    one_error(
        &r,
        "`rrr` is not an IPVS scheduler: the kernel's are rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos",
        3,
        13,
    );
    assert_eq!(r.diagnostics[0].notes, ["did you mean `rr`?"], "{}", r.render());
    let far = service("    protocol TCP\n    lb_algo roundrobin\n");
    assert!(far.has_errors() && far.diagnostics[0].notes.is_empty(), "{}", far.render());
}

#[test]
fn scheduler_flags_say_what_the_kernel_does_with_them() {
    // sh and mh read the same two flags; other schedulers none.
    let wrong = service("    protocol TCP\n    lb_algo rr\n    sh-port\n");
    assert!(
        messages(&wrong).iter().any(|m| m.contains("only affect the sh and mh schedulers, not rr")),
        "{}",
        wrong.render()
    );
    let crossed = service("    protocol TCP\n    lb_algo mh\n    sh-port\n");
    assert!(
        messages(&crossed).iter().any(|m| m.contains("sh-port / sh-fallback act as mh-port")),
        "{}",
        crossed.render()
    );
    let right = service("    protocol TCP\n    lb_algo mh\n    mh-port\n");
    assert!(right.diagnostics.is_empty(), "{}", right.render());
}

#[test]
fn ops_needs_udp_and_a_service_without_protocol_is_udp() {
    let tcp = service("    protocol TCP\n    lb_algo rr\n    ops\n");
    assert!(messages(&tcp).iter().any(|m| m.starts_with("one-packet scheduling (ops) needs UDP")), "{}", tcp.render());
    // keepalived makes a service with no protocol UDP: ops is right there.
    let none = service("    lb_algo rr\n    ops\n");
    assert!(!messages(&none).iter().any(|m| m.contains("ops")), "{}", none.render());
}

#[test]
fn quorum_above_the_weights_is_reachable_when_a_check_sets_weights() {
    let fixed = service("    protocol TCP\n    quorum 5\n");
    assert!(messages(&fixed).iter().any(|m| m.contains("quorum can never be reached")), "{}", fixed.render());
    let dynamic = check(
        "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    quorum 5\n    real_server 10.0.1.1 80 {\n        weight 1\n        MISC_CHECK {\n            misc_path /bin/true\n            misc_dynamic\n        }\n    }\n}\n",
    );
    assert!(!messages(&dynamic).iter().any(|m| m.contains("quorum")), "{}", dynamic.render());
}

#[test]
fn tunnel_settings_are_warned_only_where_nothing_uses_them() {
    // The service's tunnel serves a real server that forwards by TUN.
    let used = check(
        "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    lb_kind DR\n    real_server 10.0.1.1 80 {\n        lvs_method TUN type gue port 6080\n    }\n}\n",
    );
    assert!(!messages(&used).iter().any(|m| m.contains("tunnel")), "{}", used.render());
    let unused = check(
        "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    lb_kind TUN type gue port 6080\n    real_server 10.0.1.1 80 {\n        lvs_method DR\n    }\n}\n",
    );
    assert!(messages(&unused).iter().any(|m| m.contains("nothing here forwards by TUN")), "{}", unused.render());
}

#[test]
fn one_virtual_address_in_two_instances_is_an_error_at_the_second() {
    let two = format!(
        "{INSTANCE}{}",
        INSTANCE.replace("VI_1", "VI_2").replace("virtual_router_id 51", "virtual_router_id 52")
    );
    let r = check(&two);
    one_error(&r, "10.0.0.1 is a virtual address of two instances, `VI_1` and `VI_2`", 12, 9);
    assert_eq!(r.diagnostics[0].notes, ["also in vrrp_instance `VI_1` at keepalived.conf:5:9"], "{}", r.render());
}

#[test]
fn a_virtual_server_on_an_address_no_instance_holds_is_warned() {
    let vs =
        "virtual_server 10.0.0.9 80 {\n    protocol TCP\n    real_server 10.0.1.1 80 {\n        weight 1\n    }\n}\n";
    let r = check(&format!("{INSTANCE}{vs}"));
    let f = found(&r);
    assert_eq!(
        f,
        [(
            Severity::Warning,
            "no vrrp_instance holds 10.0.0.9, this virtual server's address".into(),
            "keepalived.conf".into(),
            8,
            16
        )],
        "{}",
        r.render()
    );
    // Held: nothing to say; and a checker-only file (no VRRP) manages its addresses elsewhere.
    assert!(check(&format!("{INSTANCE}{}", vs.replace("10.0.0.9", "10.0.0.1"))).diagnostics.is_empty());
    assert!(check(vs).diagnostics.is_empty());
}

/// The TOML reader goes on past a wrong line, as the keepalived.conf reader does: one run
/// names every one, in the same words.
#[test]
fn toml_reports_every_wrong_line_in_the_keepalived_readers_words() {
    let toml = "[global_defs]\nvrrp_garp_master_delay = -1\nrouter_di = \"x\"\n\n[[vrrp_instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvirtual_router_id = 51\npriority = 300\nadvert_int = \"fast\"\n\n[[vrrp_instance.virtual_ipaddress]]\naddress = \"10.0.0.1\"\nprefix = 24\n";
    let r = load_str(toml, "tandem.toml", &Options::default());
    let errors: Vec<(String, usize, usize)> =
        found(&r).into_iter().filter(|d| d.0 == Severity::Error).map(|d| (d.1, d.3, d.4)).collect();
    assert_eq!(
        errors,
        [
            ("vrrp_garp_master_delay -1 is out of range 0-4294967295".to_string(), 2, 26),
            ("unknown key `router_di`".to_string(), 3, 1),
            ("priority 300 is out of range 0-255".to_string(), 9, 12),
            ("invalid type: string \"fast\", expected f64".to_string(), 10, 14),
        ],
        "{}",
        r.render()
    );
}

#[test]
fn a_broadcast_address_on_an_ipv6_vip_is_warned_as_ignored() {
    let r = check(
        "vrrp_instance VI_6 {\n    interface eth0\n    virtual_router_id 61\n    virtual_ipaddress {\n        2001:db8::1/64 brd 2001:db8::ff\n    }\n}\n",
    );
    let f = found(&r);
    assert_eq!(
        f,
        [(
            Severity::Warning,
            "2001:db8::1 is IPv6, which has no broadcast address: `brd` ignored".into(),
            "keepalived.conf".into(),
            5,
            9
        )],
        "{}",
        r.render()
    );
}

#[test]
fn mcast_dst_ip_must_be_a_multicast_address_of_the_instances_family() {
    let r =
        check(&INSTANCE.replace("    virtual_router_id 51\n", "    virtual_router_id 51\n    mcast_dst_ip 10.0.0.9\n"));
    one_error(&r, "mcast_dst_ip 10.0.0.9 is not a multicast address", 4, 18);
    let r =
        check(&INSTANCE.replace("    virtual_router_id 51\n", "    virtual_router_id 51\n    mcast_dst_ip ff02::88\n"));
    one_error(&r, "mcast_dst_ip ff02::88 is IPv6 but vrrp_instance `VI_1` is IPv4", 4, 18);
}

/// A keyword that takes no value block given one is an error at that keyword; a misspelt
/// keyword with a block is only the typo (not also "does not take a block"), in every block.
#[test]
fn a_block_on_a_keyword_that_takes_none_and_a_misspelt_block_keyword() {
    let r = check(
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    priority 100 {\n    }\n    virtual_ipaddress {\n        10.0.0.1/24\n    }\n}\n",
    );
    one_error(&r, "`priority` does not take a block", 4, 5);
    let with = |inner: &str| {
        format!(
            "virtual_server 10.0.0.1 80 {{\n    protocol TCP\n    real_server 10.0.1.1 80 {{\n        {inner} {{\n        }}\n    }}\n}}\n{INSTANCE}"
        )
    };
    one_error(&check(&with("weigth")), "unknown keyword `weigth` in real_server", 4, 9);
    let r = check(&format!(
        "global_defs {{\n    router_idd {{\n    }}\n}}\nvrrp_sync_group G {{\n    group {{\n        VI_1\n    }}\n    smtp_alertt {{\n    }}\n}}\n{INSTANCE}"
    ));
    let f = found(&r);
    let errors: Vec<_> = f.iter().filter(|d| d.0 == Severity::Error).map(|d| (d.1.as_str(), d.3)).collect();
    assert_eq!(
        errors,
        [("unknown keyword `router_idd` in global_defs", 2), ("unknown keyword `smtp_alertt` in vrrp_sync_group", 9)],
        "{}",
        r.render()
    );
}

/// Strict mode's resets are warned at each line, where `keepalived -t` reports them too
/// ("State MASTER must match being address owner", "Strict mode does not support
/// authentication", "preempt_delay is incompatible with strict mode", "Strict mode requires
/// no repeat garps", "strict mode requires higher_prio_send_advert to be clear").
#[test]
fn strict_mode_resets_are_warned_where_set() {
    let r = check(
        "global_defs {\n    vrrp_strict\n}\nvrrp_instance VI_1 {\n    state MASTER\n    priority 100\n    interface eth0\n    virtual_router_id 51\n    preempt_delay 5\n    garp_lower_prio_repeat 3\n    higher_prio_send_advert\n    authentication {\n        auth_type PASS\n        auth_pass x\n    }\n    virtual_ipaddress {\n        10.0.0.1/24\n    }\n}\n",
    );
    let lines: Vec<(Severity, usize)> = found(&r).iter().map(|d| (d.0, d.3)).collect();
    assert_eq!(lines, [5, 9, 10, 11, 12].map(|l| (Severity::Warning, l)), "{}", r.render());
    assert!(r.render().contains("strict mode does not support authentication"), "{}", r.render());
    assert!(r.render().contains("state MASTER"), "{}", r.render());
}

// --- email alerts ---

#[test]
fn email_alerts_that_cannot_be_sent_are_warned_where_asked() {
    let warn = |text: &str| -> Vec<(String, usize, usize)> {
        found(&check(text)).into_iter().map(|(s, m, _, l, c)| (format!("{s:?} {m}"), l, c)).collect()
    };
    // smtp_alert on, and neither server nor addresses: at the smtp_alert.
    let inst = INSTANCE.replace("virtual_router_id 51\n", "virtual_router_id 51\n    smtp_alert\n");
    assert_eq!(warn(&inst), [("Warning `smtp_alert` is on, but no email alert can be sent".to_string(), 4, 5)],);
    // Addresses without a server: at notification_email.
    let text = format!("global_defs {{\n  notification_email {{\n    ops@example.com\n  }}\n}}\n{inst}");
    assert_eq!(warn(&text), [("Warning no email alert is sent: global_defs has no smtp_server".to_string(), 2, 3)]);
    // A server without addresses: at smtp_server.
    let text = format!("global_defs {{\n  smtp_server 192.0.2.25\n}}\n{inst}");
    assert_eq!(
        warn(&text),
        [("Warning no email alert is sent: notification_email lists no address".to_string(), 2, 15)]
    );
    // Both, and nothing mails (VRRP is off by default, as in keepalived): at smtp_server.
    let text = format!(
        "global_defs {{\n  smtp_server 192.0.2.25\n  notification_email {{\n    ops@example.com\n  }}\n}}\n{INSTANCE}"
    );
    assert_eq!(warn(&text), [("Warning no email alert is sent: nothing has smtp_alert on".to_string(), 2, 15)]);
    // Both, and the instance mails: nothing to say.
    let text = format!(
        "global_defs {{\n  smtp_server 192.0.2.25\n  notification_email {{\n    ops@example.com\n  }}\n}}\n{inst}"
    );
    assert_eq!(warn(&text), []);
    // `smtp_alert no` turns a default off; global smtp_alert_vrrp turns it on.
    let off = INSTANCE.replace("virtual_router_id 51\n", "virtual_router_id 51\n    smtp_alert no\n");
    let text = format!(
        "global_defs {{\n  smtp_server 192.0.2.25\n  notification_email {{\n    ops@example.com\n  }}\n  smtp_alert_vrrp\n}}\n{off}"
    );
    assert_eq!(warn(&text), [("Warning no email alert is sent: nothing has smtp_alert on".to_string(), 2, 15)]);
    let text = format!(
        "global_defs {{\n  smtp_server 192.0.2.25\n  notification_email {{\n    ops@example.com\n  }}\n  smtp_alert_vrrp\n}}\n{INSTANCE}"
    );
    assert_eq!(warn(&text), []);
}

#[test]
fn smtp_connect_timeout_0_is_1_as_in_keepalived() {
    let text = format!(
        "global_defs {{\n  smtp_server 192.0.2.25\n  smtp_connect_timeout 0\n  notification_email {{\n    ops@example.com\n  }}\n  smtp_alert\n}}\n{INSTANCE}"
    );
    let r = check(&text);
    let f = found(&r);
    assert_eq!(f.len(), 1, "{}", r.render());
    assert_eq!((f[0].0, f[0].3, f[0].4), (Severity::Warning, 3, 24), "{}", r.render());
    assert_eq!(r.config.global_defs.smtp_connect_timeout, 1.0);
}

#[test]
fn email_warnings_point_into_a_toml_file() {
    let text = "[global_defs]\nsmtp_server = { host = \"192.0.2.25\" }\n\n[[vrrp_instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvirtual_router_id = 51\nsmtp_alert = true\nvirtual_ipaddress = [{ address = \"10.0.0.1\", prefix = 24 }]\n";
    let r = load_str(text, "tandem.toml", &Options::default());
    let f = found(&r);
    assert_eq!(f.len(), 1, "{}", r.render());
    assert_eq!(f[0].1, "no email alert is sent: notification_email lists no address", "{}", r.render());
    assert_eq!((f[0].3, f[0].4), (2, 15), "{}", r.render());
}

// --- routes and rules ---

#[test]
fn a_bad_route_or_rule_is_an_error_at_its_word() {
    let r = check("static_routes {\n    10.1.2.3/16 via 10.0.0.1 dev eth0\n}\n");
    one_error(
        &r,
        "route destination `10.1.2.3/16` has bits set past its prefix length; the kernel refuses it (write the network, like 10.1.0.0/16)",
        2,
        5,
    );
    let r = check("static_rules {\n    from 10.0.0.0/8 table 1 priority 7 fwmark 0x10/nope\n}\n");
    one_error(&r, "fwmark `0x10/nope` is not MARK or MARK/MASK (numbers, 0x.. for hex)", 2, 47);
    let r = check(&INSTANCE.replace(
        "    virtual_ipaddress",
        "    virtual_routes {\n        2001:db8::/32 via 10.0.0.1\n    }\n    virtual_ipaddress",
    ));
    one_error(&r, "`10.0.0.1` is IPv4 in a IPv6 route or rule", 5, 27);
}

#[test]
fn a_bad_route_or_rule_in_toml_is_an_error_at_its_entry() {
    let toml = "[[static_routes]]\nto = \"10.1.2.3/16\"\n\n[[static_rules]]\nfrom = \"10.0.0.0/8\"\ngoto = 5\n\n[[static_rules]]\nto = \"10.0.0.0/8\"\npriority = 9\n";
    let r = load_str(toml, "tandem.toml", &Options::default());
    let f: Vec<(String, usize)> = found(&r).into_iter().map(|(_, m, _, line, _)| (m, line)).collect();
    assert_eq!(
        f,
        vec![
            ("route destination 10.1.2.3/16 has bits set past its prefix length; the kernel refuses it".into(), 1),
            ("a rule with goto 5 needs a priority below 5".into(), 4),
            ("rule without priority: the kernel gives it one below the first rule's; write `priority`".into(), 4),
            ("a rule needs an action: table, goto, action (nop, blackhole, unreachable, prohibit) or l3mdev".into(), 8),
        ],
        "{}",
        r.render()
    );
}

// --- use_vmac ---

/// INSTANCE with `line` after its virtual_router_id (line 4).
fn instance_with(line: &str) -> String {
    INSTANCE.replace("    virtual_router_id 51\n", &format!("    virtual_router_id 51\n    {line}\n"))
}

#[test]
fn use_vmac_names_are_checked_as_the_kernel_checks_interface_names() {
    // keepalived ignores such a name (and makes vrrp.51); tandem says so.
    let r = check(&instance_with("use_vmac vrrp_instance_1.long"));
    one_error(
        &r,
        "use_vmac vrrp_instance_1.long: not an interface name (interface names have at most 15 bytes)",
        4,
        14,
    );
    let r = check(&instance_with("use_vmac a/b"));
    one_error(&r, "use_vmac a/b: not an interface name (interface names cannot hold `/`, `:` or spaces)", 4, 14);
    assert!(check(&instance_with("use_vmac vrrp.51")).diagnostics.is_empty());
    assert!(check(&instance_with("use_vmac")).diagnostics.is_empty());
}

#[test]
fn two_instances_cannot_share_a_vmac_name() {
    let second =
        instance_with("use_vmac vm1").replace("VI_1", "VI_2").replace("51", "52").replace("10.0.0.1", "10.0.0.2");
    let r = check(&format!("{}{second}", instance_with("use_vmac vm1")));
    one_error(&r, "vrrp_instance `VI_1` uses the VMAC interface vm1 already", 12, 14);
}

#[test]
fn a_vmac_mac_address_of_ones_own_is_refused() {
    let r = check(&instance_with("use_vmac vm1 02:00:00:00:00:01"));
    one_error(
        &r,
        "a MAC address of one's own for use_vmac is not supported by tandem: the VMAC has the RFC 5798 virtual router MAC 00:00:5e:00:01:VRID (00:00:5e:00:02:VRID for IPv6)",
        4,
        18,
    );
}

#[test]
fn vmac_xmit_base_without_use_vmac_is_warned() {
    let r = check(&instance_with("vmac_xmit_base"));
    let f = found(&r);
    assert_eq!(
        f,
        [(
            Severity::Warning,
            "vmac_xmit_base has no effect without use_vmac".to_string(),
            "keepalived.conf".to_string(),
            4,
            5
        )],
        "{}",
        r.render()
    );
}

/// `retry 0` is a checker's own (no retry); in a virtual_server or real_server keepalived
/// refuses it ("retry value invalid - 0", check_parser.c), and so does tandem, rather than
/// handing every checker below a retry count keepalived would not.
#[test]
fn retry_0_is_out_of_range_in_a_virtual_or_real_server_and_allowed_in_a_checker() {
    let r = check(
        "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    real_server 10.0.1.1 80 {\n        retry 0\n    }\n}\n",
    );
    one_error(&r, "retry 0 is out of range 1-1000000", 4, 15);
    let r =
        check("virtual_server 10.0.0.1 80 {\n    protocol TCP\n    retry 0\n    real_server 10.0.1.1 80 {\n    }\n}\n");
    one_error(&r, "retry 0 is out of range 1-1000000", 3, 11);
    let r = check(
        "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    real_server 10.0.1.1 80 {\n        TCP_CHECK {\n            retry 0\n        }\n    }\n}\n",
    );
    assert!(found(&r).is_empty(), "{}", r.render());
}
