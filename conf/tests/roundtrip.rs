//! Property tests: a model written as keepalived.conf reads back as the same model, and any
//! model goes through tandem's TOML and back unchanged.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use proptest::prelude::*;
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr};
use tandem_conf::*;

fn v4() -> impl Strategy<Value = IpAddr> {
    (1u8..=223, any::<u8>(), any::<u8>(), 1u8..=254).prop_map(|(a, b, c, d)| IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9_]{0,11}"
}

fn tcp_check() -> impl Strategy<Value = Check> {
    (proptest::option::of(1u32..30), proptest::option::of(0u32..5), proptest::option::of(1u16..65535)).prop_map(
        |(timeout, retry, port)| {
            Check::Tcp(TcpCheck {
                connect_timeout: timeout.map(f64::from),
                retry,
                connect_port: port,
                ..TcpCheck::default()
            })
        },
    )
}

fn http_check() -> impl Strategy<Value = Check> {
    let regex = (
        "[a-z]{1,6}( [a-z]{1,3}[.+*]?)?",
        any::<bool>(),
        proptest::sample::subsequence(vec!["caseless", "dotall", "multiline", "ungreedy"], 0..3),
        proptest::option::of(0u64..100),
        proptest::option::of(100u64..10_000),
    );
    (
        "/[a-z]{0,8}",
        proptest::option::of("[0-9a-f]{32}"),
        proptest::collection::vec((200u16..300, 0u16..50), 0..3),
        proptest::option::of(regex),
    )
        .prop_map(|(path, digest, codes, regex)| {
            let status_code = codes.into_iter().map(|(low, span)| StatusRange { low, high: low + span }).collect();
            let mut url = UrlCheck { path, digest, status_code, ..UrlCheck::default() };
            if let Some((pattern, no_match, options, min, max)) = regex {
                url.regex = Some(pattern);
                url.regex_no_match = no_match;
                url.regex_options = options.into_iter().map(String::from).collect();
                url.regex_min_offset = min;
                url.regex_max_offset = max;
            }
            Check::Http(HttpCheck { url: vec![url], ..HttpCheck::default() })
        })
}

fn real_server() -> impl Strategy<Value = RealServer> {
    (
        v4(),
        1u16..65535,
        0u32..1000,
        any::<bool>(),
        proptest::collection::vec(prop_oneof![tcp_check(), http_check()], 0..3),
    )
        .prop_map(|(ip, port, weight, inhibit, checks)| RealServer {
            weight,
            inhibit_on_failure: inhibit,
            checks,
            ..RealServer::new(ip, Some(port))
        })
}

fn virtual_server() -> impl Strategy<Value = VirtualServer> {
    (
        v4(),
        1u16..65535,
        prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp), Just(Protocol::Sctp)],
        proptest::sample::select(KNOWN_SCHEDULERS),
        prop_oneof![Just(ForwardMethod::Nat), Just(ForwardMethod::Dr), Just(ForwardMethod::Tun)],
        proptest::option::of(1u32..100_000),
        1u32..600,
        proptest::collection::vec(real_server(), 0..4),
    )
        .prop_map(|(ip, port, protocol, sched, kind, persistence, delay, real_servers)| VirtualServer {
            ip: Some(ip),
            port: Some(port),
            protocol: Some(protocol),
            lb_algo: sched.to_string(),
            lb_kind: kind,
            persistence_timeout: persistence,
            delay_loop: f64::from(delay),
            real_servers,
            ..VirtualServer::new()
        })
}

fn instance() -> impl Strategy<Value = VrrpInstance> {
    (
        name(),
        1u8..=255,
        1u8..=255,
        1u8..=255,
        any::<bool>(),
        any::<bool>(),
        "eth[0-9]",
        proptest::collection::vec((v4(), 8u8..=32, proptest::option::of("eth[0-9]")), 1..4),
        proptest::collection::vec(v4(), 0..3),
        proptest::option::of("[a-z0-9]{1,8}"),
    )
        .prop_map(|(name, vrid, priority, advert, master, nopreempt, interface, vips, peers, pass)| {
            let mut i = VrrpInstance::new(name, vrid);
            i.priority = priority;
            i.advert_int = f64::from(advert);
            i.state = if master { InitialState::Master } else { InitialState::Backup };
            i.nopreempt = nopreempt;
            i.interface = Some(interface);
            i.virtual_ipaddress = vips
                .into_iter()
                .map(|(address, prefix, dev)| VirtualAddress {
                    address,
                    prefix,
                    brd: None,
                    dev,
                    scope: None,
                    label: None,
                    no_track: false,
                })
                .collect();
            i.unicast_peer =
                peers.into_iter().map(|address| UnicastPeer { address, min_ttl: None, max_ttl: None }).collect();
            i.authentication = pass.map(|auth_pass| Authentication { auth_type: AuthType::Pass, auth_pass });
            i
        })
}

fn config() -> impl Strategy<Value = Config> {
    (
        proptest::option::of(name()),
        proptest::collection::vec(instance(), 0..4),
        proptest::collection::vec(virtual_server(), 0..4),
    )
        .prop_map(|(router_id, vrrp_instances, virtual_servers)| Config {
            global_defs: GlobalDefs { router_id, ..GlobalDefs::default() },
            vrrp_instances,
            virtual_servers,
            ..Config::default()
        })
}

/// Writes the parts of the model these strategies produce as keepalived.conf.
fn to_keepalived(c: &Config) -> String {
    let mut o = String::new();
    if let Some(id) = &c.global_defs.router_id {
        let _ = writeln!(o, "global_defs {{\n    router_id {id}\n}}");
    }
    for i in &c.vrrp_instances {
        let _ = writeln!(o, "vrrp_instance {} {{", i.name);
        let state = if i.state == InitialState::Master { "MASTER" } else { "BACKUP" };
        let _ = writeln!(o, "    state {state}\n    interface {}", i.interface.as_deref().unwrap_or("eth0"));
        let _ = writeln!(
            o,
            "    virtual_router_id {}\n    priority {}\n    advert_int {}",
            i.virtual_router_id, i.priority, i.advert_int
        );
        if i.nopreempt {
            o.push_str("    nopreempt\n");
        }
        if let Some(a) = &i.authentication {
            let _ =
                writeln!(o, "    authentication {{\n        auth_type PASS\n        auth_pass {}\n    }}", a.auth_pass);
        }
        o.push_str("    virtual_ipaddress {\n");
        for a in &i.virtual_ipaddress {
            let dev = a.dev.as_deref().map(|d| format!(" dev {d}")).unwrap_or_default();
            let _ = writeln!(o, "        {}/{}{dev}", a.address, a.prefix);
        }
        o.push_str("    }\n");
        if !i.unicast_peer.is_empty() {
            o.push_str("    unicast_peer {\n");
            for p in &i.unicast_peer {
                let _ = writeln!(o, "        {}", p.address);
            }
            o.push_str("    }\n");
        }
        o.push_str("}\n");
    }
    for v in &c.virtual_servers {
        let (Some(ip), Some(port), Some(proto)) = (v.ip, v.port, v.protocol) else { continue };
        let proto = match proto {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        };
        let _ = writeln!(
            o,
            "virtual_server {ip} {port} {{\n    protocol {proto}\n    lb_algo {}\n    lb_kind {}",
            v.lb_algo, v.lb_kind
        );
        let _ = writeln!(o, "    delay_loop {}", v.delay_loop);
        if let Some(p) = v.persistence_timeout {
            let _ = writeln!(o, "    persistence_timeout {p}");
        }
        for r in &v.real_servers {
            let _ = writeln!(o, "    real_server {} {} {{\n        weight {}", r.ip, r.port.unwrap_or(0), r.weight);
            if r.inhibit_on_failure {
                o.push_str("        inhibit_on_failure\n");
            }
            for chk in &r.checks {
                let _ = writeln!(o, "        {} {{", chk.keyword());
                let common = chk.common();
                if let Some(t) = common.connect_timeout {
                    let _ = writeln!(o, "            connect_timeout {t}");
                }
                if let Some(n) = common.retry {
                    let _ = writeln!(o, "            retry {n}");
                }
                if let Some(p) = common.connect_port {
                    let _ = writeln!(o, "            connect_port {p}");
                }
                if let Check::Http(h) = chk {
                    for u in &h.url {
                        let _ = writeln!(o, "            url {{\n                path {}", u.path);
                        if let Some(d) = &u.digest {
                            let _ = writeln!(o, "                digest {d}");
                        }
                        if !u.status_code.is_empty() {
                            let codes: Vec<String> = u.status_code.iter().map(ToString::to_string).collect();
                            let _ = writeln!(o, "                status_code {}", codes.join(" "));
                        }
                        if let Some(r) = &u.regex {
                            let _ = writeln!(o, "                regex \"{r}\"");
                        }
                        if u.regex_no_match {
                            o.push_str("                regex_no_match\n");
                        }
                        if !u.regex_options.is_empty() {
                            let _ = writeln!(o, "                regex_options {}", u.regex_options.join(" "));
                        }
                        if let Some(n) = u.regex_min_offset {
                            let _ = writeln!(o, "                regex_min_offset {n}");
                        }
                        if let Some(n) = u.regex_max_offset {
                            let _ = writeln!(o, "                regex_max_offset {n}");
                        }
                        o.push_str("            }\n");
                    }
                }
                o.push_str("        }\n");
            }
            o.push_str("    }\n");
        }
        o.push_str("}\n");
    }
    o
}

/// Reading ignores validation here: random models may hold duplicates and the like; the
/// property is about the readers, and validation has its own tests.
fn reader_errors(r: &Report) -> Vec<&Diagnostic> {
    r.diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .filter(|d| {
            !d.message.contains("already used")
                && !d.message.contains("defined twice")
                && !d.message.contains("listed twice")
        })
        .filter(|d| !d.message.contains("own unicast_src_ip") && !d.message.contains("no url"))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn keepalived_conf_reads_back_as_the_model(c in config()) {
        let text = to_keepalived(&c);
        let r = load_str(&text, "keepalived.conf", &Options::default());
        prop_assert!(reader_errors(&r).is_empty(), "{}\n{}", text, r.render());
        prop_assert_eq!(&r.config, &c, "{}", text);
    }

    #[test]
    fn toml_round_trips(c in config()) {
        let text = to_toml(&c).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let r = load_str(&text, "tandem.toml", &Options::default());
        prop_assert!(reader_errors(&r).is_empty(), "{}\n{}", text, r.render());
        prop_assert_eq!(&r.config, &c, "{}", text);
    }
}

#[test]
fn the_examples_convert_and_read_back() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let opts = Options { config_id: Some("director1".into()), ..Options::default() };
    let k = load(&dir.join("keepalived.conf"), &opts);
    assert!(k.diagnostics.is_empty(), "{}", k.render());
    let t = load(&dir.join("tandem.toml"), &opts);
    assert!(t.diagnostics.is_empty(), "{}", t.render());
    assert_eq!(k.config, t.config, "examples/tandem.toml is out of date: regenerate it with tandem convert");
    let text = to_toml(&k.config).expect("serializes");
    assert_eq!(load_str(&text, "x.toml", &Options::default()).config, k.config);
}
