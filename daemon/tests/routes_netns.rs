//! virtual_routes, virtual_rules, static_ipaddress, static_routes and static_rules on a tandem
//! pair in network namespaces (the pair rig: d1 192.0.2.1, d2 192.0.2.2 on one segment),
//! judged by `ip route` and `ip rule` inside each namespace.
//!
//! The master holds its instance's routes and rules (IPv4 and IPv6), the backup does not;
//! they move with the mastership; the static ones are on both whatever the state; a reload
//! that changes one route changes just that one; a stopped tandem leaves neither kind behind.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::process::Command;
use std::time::Duration;
use tandem_tests::netns::{Host, Lab, wait_until};
use tandem_tests::pair::{Tandem, has_vip, rig};

const BIN: &str = env!("CARGO_BIN_EXE_tandem");

/// The configuration of director `me` ("1" or "2") at `priority`; `static_net` is the first
/// static route's destination and `virtual_metric` the metric of the first virtual route (what
/// the reloads change).
fn conf(me: &str, priority: u8, static_net: &str, virtual_metric: u32) -> String {
    format!(
        "static_ipaddress {{
    10.99.0.{me}/32 dev eth0
    2001:db8:99::{me}/128 dev eth0
}}
static_routes {{
    {static_net} via 192.0.2.254 dev eth0
    2001:db8:98::/64 via 2001:db8::254 dev eth0 metric 9
}}
static_rules {{
    from 198.51.100.0/24 table 200 priority 300
    from 2001:db8:98::/64 table 200 priority 301
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        192.0.2.100/24
    }}
    virtual_routes {{
        src 192.0.2.100 to 203.0.113.0/25 via 192.0.2.254 dev eth0 table 100 metric {virtual_metric}
        2001:db8:77::/64 via 2001:db8::254 dev eth0 metric 7 mtu lock 1400
        blackhole 203.0.113.128/25
        10.40.0.0/16 via 192.0.2.253 or 192.0.2.254 dev eth0
        10.41.0.0/16 via 192.0.2.254 dev eth0 mtu lock 1300 advmss 1200 rtt 2000 rttvar 1000 rto_min 300 hoplimit 60 initcwnd 20 features ecn congctl cubic quickack 1
    }}
    virtual_rules {{
        from 192.0.2.100 table 100 priority 200
        from 2001:db8:77::/64 lookup 100 priority 201
    }}
}}
"
    )
}

/// `ip ARGS` in `host`, its output.
fn ip(lab: &Lab, host: &Host, args: &[&str]) -> String {
    let out = lab.run(host, "ip", args).unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every route and rule of `host`, IPv4 and IPv6, as `ip` shows them.
fn routing(lab: &Lab, host: &Host) -> String {
    [
        ip(lab, host, &["route", "show", "table", "all"]),
        ip(lab, host, &["-6", "route", "show", "table", "all"]),
        ip(lab, host, &["rule", "show"]),
        ip(lab, host, &["-6", "rule", "show"]),
        ip(lab, host, &["-o", "addr", "show", "dev", "eth0"]),
    ]
    .join("")
}

/// The lines of the virtual routes and rules, as `ip` prints them (what we look for).
const VIRTUAL: &[&str] = &[
    "203.0.113.0/25 via 192.0.2.254 dev eth0 table 100 proto keepalived src 192.0.2.100 metric ",
    "2001:db8:77::/64 via 2001:db8::254 dev eth0 proto keepalived metric 7 mtu lock 1400",
    "blackhole 203.0.113.128/25 proto keepalived",
    // Metrics, which a delete must match.
    "10.41.0.0/16 via 192.0.2.254 dev eth0 proto keepalived mtu lock 1300 rtt 250ms rttvar 250ms advmss 1200 hoplimit 60 initcwnd 20 features ecn rto_min 300ms quickack 1 congctl cubic",
    // `via A or B dev IF`: two hops, both on the route's device.
    "10.40.0.0/16 proto keepalived \n\tnexthop via 192.0.2.253 dev eth0 weight 1 \n\tnexthop via 192.0.2.254 dev eth0 weight 1",
    "200:\tfrom 192.0.2.100 lookup 100 proto keepalived",
    "201:\tfrom 2001:db8:77::/64 lookup 100 proto keepalived",
];

/// The lines of the static routes, rules and addresses (but the changing first route).
const STATIC: &[&str] = &[
    "2001:db8:98::/64 via 2001:db8::254 dev eth0 proto keepalived metric 9",
    "300:\tfrom 198.51.100.0/24 lookup 200 proto keepalived",
    "301:\tfrom 2001:db8:98::/64 lookup 200 proto keepalived",
];

fn has_all(text: &str, lines: &[&str]) -> bool {
    lines.iter().all(|l| text.contains(l))
}

fn has_none(text: &str, lines: &[&str]) -> bool {
    lines.iter().all(|l| !text.contains(l))
}

/// Rewrites `name`'s configuration and asks for a reload.
fn reload(lab: &Lab, name: &str, conf: &str) {
    std::fs::write(lab.dir().join(format!("{name}.conf")), conf).unwrap();
    let socket = lab.dir().join(format!("{name}.sock"));
    let out = Command::new(BIN).args(["reload", "--control-socket", socket.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "tandem reload: {}", String::from_utf8_lossy(&out.stderr));
}

fn count(log: &str, what: &str) -> usize {
    log.lines().filter(|l| l.contains(what)).count()
}

#[test]
fn routes_and_rules_follow_the_master_statics_stay_and_a_stop_removes_both() {
    let mut r = rig("routes").unwrap();
    let (d1, d2) = (r.d1.clone(), r.d2.clone());
    let t1 = Tandem::start_controlled(&mut r.lab, BIN, &d1, "d1", &conf("1", 150, "198.51.100.0/24", 5)).unwrap();
    let t2 = Tandem::start_controlled(&mut r.lab, BIN, &d2, "d2", &conf("2", 100, "198.51.100.0/24", 5)).unwrap();
    let logs = || format!("d1:\n{}\nd2:\n{}", t1.log(), t2.log());

    // d1 is master: it has the virtual routes and rules, d2 not; both have the static ones.
    assert!(
        wait_until(Duration::from_secs(10), || has_vip(&r.lab, &d1, "192.0.2.100")
            && has_all(&routing(&r.lab, &d1), VIRTUAL)),
        "d1 becomes master with its routes and rules\n{}\n{}",
        routing(&r.lab, &d1),
        logs()
    );
    // `tandem status --json` lists them.
    let out = t1.ask(BIN, &["status", "--json"]).unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let inst = &status["vrrp_instances"][0];
    assert_eq!(
        inst["virtual_routes"][0], "203.0.113.0/25 via 192.0.2.254 dev eth0 table 100 metric 5 src 192.0.2.100",
        "{status}"
    );
    assert_eq!(inst["virtual_rules"][1], "priority 201 from 2001:db8:77::/64 lookup 100", "{status}");
    let on_d2 = routing(&r.lab, &d2);
    assert!(has_none(&on_d2, VIRTUAL), "the backup has no virtual route or rule\n{on_d2}");
    let first_static = "198.51.100.0/24 via 192.0.2.254 dev eth0 proto keepalived";
    for (h, me) in [(&d1, "1"), (&d2, "2")] {
        let t = routing(&r.lab, h);
        assert!(has_all(&t, STATIC) && t.contains(first_static), "static routes and rules on d{me}\n{t}");
        assert!(t.contains(&format!("inet 10.99.0.{me}/32")), "static IPv4 address on d{me}\n{t}");
        assert!(t.contains(&format!("inet6 2001:db8:99::{me}/128")), "static IPv6 address on d{me}\n{t}");
    }

    // Failover: d1's priority drops below d2's; the routes and rules move.
    reload(&r.lab, "d1", &conf("1", 50, "198.51.100.0/24", 5));
    assert!(
        wait_until(Duration::from_secs(10), || has_all(&routing(&r.lab, &d2), VIRTUAL)
            && has_none(&routing(&r.lab, &d1), VIRTUAL)),
        "the routes and rules move to d2\nd1:\n{}\nd2:\n{}\n{}",
        routing(&r.lab, &d1),
        routing(&r.lab, &d2),
        logs()
    );
    assert!(has_all(&routing(&r.lab, &d1), STATIC), "d1 keeps its static routes as backup");

    // A reload changing one static route (on d1) and one virtual route (on the master d2)
    // changes just those.
    let (removed, added) = (count(&t1.log(), "route removed"), count(&t1.log(), "route added"));
    reload(&r.lab, "d1", &conf("1", 50, "198.51.101.0/24", 5));
    let moved = "198.51.101.0/24 via 192.0.2.254 dev eth0 proto keepalived";
    assert!(
        wait_until(Duration::from_secs(5), || {
            let t = routing(&r.lab, &d1);
            t.contains(moved) && !t.contains(first_static)
        }),
        "the changed static route is replaced\n{}",
        routing(&r.lab, &d1)
    );
    let log1 = t1.log();
    assert_eq!(
        (count(&log1, "route removed") - removed, count(&log1, "route added") - added),
        (1, 1),
        "only the changed static route was touched\n{log1}"
    );
    assert!(has_all(&routing(&r.lab, &d1), STATIC), "the other static routes and rules stay");

    // The kernel drops the routes through a link that goes down; they come back with it.
    // (The IPv6 addresses stay, as an operator who relies on them configures.)
    let keep = r.lab.run(&d1, "sysctl", &["-qw", "net.ipv6.conf.eth0.keep_addr_on_down=1"]).unwrap();
    assert!(keep.status.success(), "{}", String::from_utf8_lossy(&keep.stderr));
    r.lab.set_link(&d1, "eth0", false).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || !routing(&r.lab, &d1).contains(moved)),
        "the kernel dropped the static route with its link\n{}",
        routing(&r.lab, &d1)
    );
    r.lab.set_link(&d1, "eth0", true).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || {
            let t = routing(&r.lab, &d1);
            t.contains(moved) && has_all(&t, STATIC)
        }),
        "the static routes are restored when the link is up again\n{}\n{}",
        routing(&r.lab, &d1),
        t1.log()
    );

    let (removed, added) = (count(&t2.log(), "route removed"), count(&t2.log(), "route added"));
    reload(&r.lab, "d2", &conf("2", 100, "198.51.100.0/24", 6));
    assert!(
        wait_until(Duration::from_secs(5), || routing(&r.lab, &d2).contains("src 192.0.2.100 metric 6")),
        "the master's changed virtual route is replaced\n{}",
        routing(&r.lab, &d2)
    );
    let t = routing(&r.lab, &d2);
    assert!(!t.contains("src 192.0.2.100 metric 5"), "the old one is gone\n{t}");
    let log2 = t2.log();
    assert_eq!(
        (count(&log2, "route removed") - removed, count(&log2, "route added") - added),
        (1, 1),
        "only the changed virtual route was touched\n{log2}"
    );
    assert!(has_all(&t, &VIRTUAL[1..]), "the other virtual routes and rules stay\n{t}");

    // Deleted on the host: tracked routes and rules come back at once (a virtual one on the
    // master, a static one anywhere); a route without `dev` is not tracked, as in keepalived.
    let del = |h: &Host, args: &[&str]| {
        let out = r.lab.run(h, "ip", args).unwrap();
        assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    del(&d2, &["-6", "route", "del", "2001:db8:77::/64", "via", "2001:db8::254", "dev", "eth0", "metric", "7"]);
    del(&d2, &["rule", "del", "priority", "200"]);
    del(&d2, &["route", "del", "blackhole", "203.0.113.128/25"]);
    del(&d1, &["-6", "route", "del", "2001:db8:98::/64", "via", "2001:db8::254", "dev", "eth0", "metric", "9"]);
    assert!(
        wait_until(Duration::from_secs(3), || {
            let (t2, t1) = (routing(&r.lab, &d2), routing(&r.lab, &d1));
            t2.contains(VIRTUAL[1]) && t2.contains(VIRTUAL[5]) && t1.contains(STATIC[0])
        }),
        "deleted tracked routes and rules are put back\nd1:\n{}\nd2:\n{}\n{}",
        routing(&r.lab, &d1),
        routing(&r.lab, &d2),
        logs()
    );
    assert!(!routing(&r.lab, &d2).contains(VIRTUAL[2]), "the untracked blackhole route stays deleted");

    // A stop removes the virtual routes (d2 was master) and the static ones; d1 takes over.
    r.lab.signal(t2.pid, "TERM").unwrap();
    assert!(wait_until(Duration::from_secs(5), || r.lab.exit_status(t2.pid).unwrap().is_some()), "{}", logs());
    let t = routing(&r.lab, &d2);
    assert!(has_none(&t, VIRTUAL) && has_none(&t, STATIC), "a stopped tandem leaves no route or rule\n{t}");
    assert!(!t.contains("10.99.0.2/32") && !t.contains("2001:db8:99::2/128"), "nor static address\n{t}");
    assert!(
        wait_until(Duration::from_secs(10), || has_all(&routing(&r.lab, &d1), VIRTUAL)),
        "d1 takes over with the routes and rules\n{}",
        logs()
    );
    r.lab.signal(t1.pid, "TERM").unwrap();
    assert!(wait_until(Duration::from_secs(5), || r.lab.exit_status(t1.pid).unwrap().is_some()), "{}", logs());
    let t = routing(&r.lab, &d1);
    assert!(has_none(&t, VIRTUAL) && has_none(&t, STATIC) && !t.contains(moved), "d1 leaves nothing either\n{t}");
}

/// Routes and rules with every option the kernel shows back, none of them host-specific.
const PARITY: &str = "static_routes {
    198.51.100.0/24 via 192.0.2.254 dev eth0
    198.51.101.0/24 dev eth0 table 6909 tos 0x04 scope link metric 12 mtu lock 1000 hoplimit 100 advmss 101 rtt 102 rttvar 103 reordering 104 window 105 cwnd 106 ssthresh lock 107 realms 5/20 rto_min 108 initcwnd 109 initrwnd 110 features ecn no_track
    192.168.100.0/24 table 6909 no_track nexthop via 192.0.2.252 dev eth0 weight 1 nexthop via 192.0.2.253 dev eth0 weight 2
    2001:db8:9::/64 via 2001:db8::254 dev eth0 table 6909 metric 12 mtu 1400 hoplimit 100 advmss 101 rtt 100ms rttvar 103 reordering 104 window 105 cwnd 106 ssthresh lock 107 rto_min 1s initcwnd 109 initrwnd 110 features ecn fastopen_no_cookie 1 quickack 1 congctl cubic pref high
    unreachable 203.0.113.0/24 no_track
    blackhole 2001:db8:66::/48 no_track
    prohibit 203.0.114.0/24 table 7 protocol static no_track
    198.51.102.0/24 via 192.0.2.254 dev eth0 onlink metric 3 append
}
static_rules {
    from 192.0.2.0/24 table 1 realms 30/20 priority 90
    to 192.0.2.0/24 table 1 priority 91 no_track
    from 192.168.28.0/24 to 192.168.29.0/26 iif eth0 oif eth0 tos 0x10 fwmark 24/12 preference 39 goto 40
    to 2001:db8:1::/112 from 2001:db8:7::/96 table 6908 uidrange 10000-19999 priority 92
    to 2001:db8:2::/112 ipproto udp sport 10-20 dport 20-30 priority 93 table 5 protocol 12 no_track
    from all fwmark 0x10 lookup 100 priority 100 suppress_prefixlength 0 suppress_ifgroup 3
    not from 10.0.0.0/8 lookup 7 priority 101
    to 10.20.0.0/16 blackhole priority 102
    to 2001:db8:3::/48 unreachable priority 103 no_track
    from 10.30.0.0/16 nop priority 104
}
";

/// The routing of `host` that a daemon made: every route and rule but the kernel's own.
fn made(lab: &Lab, host: &Host) -> Vec<String> {
    let all = [
        ip(lab, host, &["route", "show", "table", "all"]),
        ip(lab, host, &["-6", "route", "show", "table", "all"]),
        ip(lab, host, &["rule", "show"]),
        ip(lab, host, &["-6", "rule", "show"]),
    ]
    .join("");
    let mut lines: Vec<String> =
        all.lines().filter(|l| !l.contains("proto kernel")).map(|l| l.trim_end().to_string()).collect();
    lines.sort();
    lines
}

fn instance(vrid: u8, vip: &str) -> String {
    format!(
        "vrrp_instance VI_P {{
    state BACKUP
    interface eth0
    virtual_router_id {vrid}
    priority 150
    advert_int 1
    virtual_ipaddress {{
        {vip}/24
    }}
    virtual_routes {{
        203.0.113.0/25 via 192.0.2.254 dev eth0 table 100 metric 5
        2001:db8:77::/64 via 2001:db8::254 dev eth0 metric 7 mtu lock 1400
        blackhole 203.0.115.128/25
        10.40.0.0/16 nexthop via 192.0.2.253 dev eth0 nexthop via 192.0.2.254 dev eth0 weight 3
    }}
    virtual_rules {{
        from 203.0.113.0/25 table 100 priority 200
        from 2001:db8:77::/64 lookup 100 priority 201 no_track
    }}
}}
"
    )
}

/// keepalived 2.2.7 and tandem given the same routes and rules: the kernel holds the same.
#[test]
fn tandem_adds_the_routes_and_rules_keepalived_adds() {
    let mut r = rig("rtparity").unwrap();
    let (d1, d2) = (r.d1.clone(), r.d2.clone());
    // Each alone master of its own virtual router on the segment.
    let k = tandem_tests::keepalived::Keepalived::start(
        &mut r.lab,
        &d1,
        "k1",
        &format!("{PARITY}{}", instance(61, "192.0.2.161")),
    )
    .unwrap();
    let t = Tandem::start(&mut r.lab, BIN, &d2, "t2", &format!("{PARITY}{}", instance(62, "192.0.2.162"))).unwrap();
    let ready =
        |h: &Host, vip: &str| has_vip(&r.lab, h, vip) && made(&r.lab, h).iter().any(|l| l.contains("10.40.0.0/16"));
    assert!(
        wait_until(Duration::from_secs(15), || ready(&d1, "192.0.2.161") && ready(&d2, "192.0.2.162")),
        "both are master with their routes\nkeepalived:\n{}\ntandem:\n{}",
        k.log(),
        t.log()
    );
    // (keepalived adds its rules just after its routes.)
    let same = wait_until(Duration::from_secs(3), || made(&r.lab, &d1) == made(&r.lab, &d2));
    let (kl, tl) = (made(&r.lab, &d1), made(&r.lab, &d2));
    let only_k: Vec<&String> = kl.iter().filter(|l| !tl.contains(l)).collect();
    let only_t: Vec<&String> = tl.iter().filter(|l| !kl.contains(l)).collect();
    assert!(
        same,
        "only keepalived's:\n{}\nonly tandem's:\n{}\nkeepalived log:\n{}\ntandem log:\n{}",
        only_k.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"),
        only_t.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"),
        k.log(),
        t.log()
    );
    assert!(kl.len() > 25, "the comparison saw the routes and rules\n{}", kl.join("\n"));
}

/// keepalived 2.2.7 as the peer: the routes follow the mastership between the two daemons.
#[test]
fn the_routes_move_between_keepalived_and_tandem() {
    let mut r = rig("rtmixed").unwrap();
    let (d1, d2) = (r.d1.clone(), r.d2.clone());
    let k = tandem_tests::keepalived::Keepalived::start(&mut r.lab, &d1, "k1", &conf("1", 150, "198.51.100.0/24", 5))
        .unwrap();
    let t = Tandem::start(&mut r.lab, BIN, &d2, "t2", &conf("2", 100, "198.51.100.0/24", 5)).unwrap();
    let logs = || format!("keepalived:\n{}\ntandem:\n{}", k.log(), t.log());
    // (keepalived 2.2.7 cannot add `via A or B dev IF`: the kernel refuses what it sends.)
    let common: Vec<&str> = VIRTUAL.iter().copied().filter(|l| !l.starts_with("10.40.0.0/16")).collect();
    let common = common.as_slice();
    assert!(
        wait_until(Duration::from_secs(15), || has_all(&routing(&r.lab, &d1), common)
            && has_all(&routing(&r.lab, &d2), STATIC)),
        "keepalived is master with the routes; tandem holds the static ones\nd1:\n{}\nd2:\n{}\n{}",
        routing(&r.lab, &d1),
        routing(&r.lab, &d2),
        logs()
    );
    assert!(has_none(&routing(&r.lab, &d2), common), "tandem as backup has none\n{}", routing(&r.lab, &d2));
    // keepalived stops (it removes its routes, sends priority 0): tandem takes over.
    r.lab.signal(k.pid, "TERM").unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || has_all(&routing(&r.lab, &d2), VIRTUAL)
            && has_none(&routing(&r.lab, &d1), common)),
        "the routes move to tandem\nd1:\n{}\nd2:\n{}\n{}",
        routing(&r.lab, &d1),
        routing(&r.lab, &d2),
        logs()
    );
}
