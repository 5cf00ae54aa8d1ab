//! 1,000 VRRP instances under packet loss, on a tandem pair in network namespaces.
//!
//! A master (priority 200) and a backup (priority 100) run 1,000 VRRPv2 instances (advert_int
//! 1, one VIP each). A VRID names one virtual router on a LAN (1..255), so they are spread
//! 250 to a segment over four segments (eth0..eth3 on each director). Once the master holds
//! every VIP, nftables in both directors drops about 10 % of the VRRP packets on input, at
//! random, but never two adverts of one virtual router in a row; over the next 25 s no
//! instance may change role and every VIP stays on the master only. Each director has one
//! receiving socket per interface (status `vrrp_sockets`) serving the 250 VRIDs there, and
//! no packet for a VRID it does not know.
//!
//! Why the cap on runs: a backup takes over, as the protocol says it must, when three
//! adverts in a row are lost (Master_Down = 3 * 1 s + skew). With independent 10 % loss that
//! is one advert in a thousand: ~25 true takeovers in 25 s over 1,000 instances, whatever
//! the implementation (measured: 25). The cap leaves only losses the protocol rides out, so
//! any takeover is the implementation's fault (a late or lost hand-over of an advert).
//!
//! A second test reloads a tandem whose instances leave and come back: the sockets follow.
//!
//! `TANDEM_SCALE_LOSS` sets the percentage (default 11: the spared adverts bring the loss
//! to ~10 %); `TANDEM_SCALE_UNBOUNDED` drops at random without the cap (and fails, as above).

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tandem_tests::netns::{Host, Lab, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_tandem");
const LINKS: usize = 4;
const PER_LINK: usize = 250;
const COUNT: usize = LINKS * PER_LINK;

fn vip(k: usize) -> String {
    format!("10.{}.0.{}", 100 + k / PER_LINK, 1 + k % PER_LINK)
}

fn config(priority: u8) -> String {
    (0..COUNT)
        .map(|k| {
            format!(
                "vrrp_instance VI_{k} {{\n    state BACKUP\n    interface eth{}\n    virtual_router_id {}\n    priority {priority}\n    advert_int 1\n    virtual_ipaddress {{\n        {}\n    }}\n}}\n",
                k / PER_LINK,
                1 + k % PER_LINK,
                vip(k)
            )
        })
        .collect()
}

/// Starts tandem (not verbose: 1,000 adverts a second would be logged) with its own control
/// socket.
fn start(lab: &mut Lab, host: &Host, name: &str, priority: u8) {
    let dir = lab.dir().to_path_buf();
    let conf = dir.join(format!("{name}.conf"));
    std::fs::write(&conf, config(priority)).unwrap();
    let sock = dir.join(format!("{name}.sock"));
    let args = ["run", "-f", conf.to_str().unwrap(), "--control-socket", sock.to_str().unwrap()];
    lab.spawn(host, BIN, &args, &format!("{name}.log")).unwrap();
}

fn status(dir: &Path, name: &str) -> Option<Value> {
    let socket = dir.join(format!("{name}.sock"));
    let out =
        Command::new(BIN).args(["status", "--json", "--control-socket", socket.to_str().unwrap()]).output().ok()?;
    out.status.success().then(|| serde_json::from_slice(&out.stdout).ok()).flatten()
}

/// (instances in `state`, transitions to and from master so far) in `name`'s status.
fn roles(dir: &Path, name: &str, state: &str) -> (usize, u64) {
    let Some(s) = status(dir, name) else { return (0, 0) };
    let Some(list) = s["vrrp_instances"].as_array() else { return (0, 0) };
    let n = list.iter().filter(|i| i["state"] == state).count();
    let moves = list
        .iter()
        .map(|i| {
            i["counters"]["became_master"].as_u64().unwrap_or(0)
                + i["counters"]["released_master"].as_u64().unwrap_or(0)
        })
        .sum();
    (n, moves)
}

/// How many of the VIPs `host` holds.
fn vips_held(lab: &Lab, host: &Host) -> usize {
    let out = lab.run(host, "ip", &["-o", "-4", "addr", "show"]).unwrap();
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains(" 10.1") && l.contains("/32")).count()
}

/// Drops `percent` % of VRRP packets at random on `host`'s input; unless `unbounded`, never
/// two adverts of one virtual router in a row (a dropped one's VRID on its interface is
/// spared for 1.5 s), so that the loss is one the protocol rides out. Counted by a table
/// of its own: nft 1.0.6 cannot list a table holding a set typed with a raw payload.
fn lose(lab: &Lab, host: &Host, percent: u32, unbounded: bool) {
    let (spare, remember) = if unbounded {
        (String::new(), String::new())
    } else {
        (
            "    meta l4proto 112 iif . @th,8,8 @recent accept\n".to_string(),
            "add @recent { iif . @th,8,8 } ".to_string(),
        )
    };
    let rules = format!(
        "table inet scale {{\n  set recent {{ typeof iif . @th,8,8; flags dynamic,timeout; timeout 1500ms; }}\n  chain input {{\n    type filter hook input priority 0; policy accept;\n{spare}    meta l4proto 112 numgen random mod 100 < {percent} {remember}drop\n  }}\n}}\ntable inet scalecount {{\n  counter seen {{ }}\n  counter kept {{ }}\n  chain before {{ type filter hook input priority -10; policy accept; meta l4proto 112 counter name seen; }}\n  chain after {{ type filter hook input priority 10; policy accept; meta l4proto 112 counter name kept; }}\n}}\n"
    );
    let path = lab.dir().join(format!("{}.nft", host.ns));
    std::fs::write(&path, rules).unwrap();
    let out = lab.run(host, "nft", &["-f", path.to_str().unwrap()]).unwrap();
    assert!(out.status.success(), "nft: {}", String::from_utf8_lossy(&out.stderr));
}

/// (VRRP packets that reached `host`'s input, those the loss rule dropped).
fn dropped(lab: &Lab, host: &Host) -> (u64, u64) {
    let out = lab.run(host, "nft", &["list", "table", "inet", "scalecount"]).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let n: Vec<u64> = text
        .split("packets ")
        .skip(1)
        .filter_map(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .collect();
    match n[..] {
        [seen, kept, ..] => (seen, seen.saturating_sub(kept)),
        _ => (0, 0),
    }
}

#[test]
fn a_thousand_instances_keep_their_roles_under_loss() {
    let loss: u32 = std::env::var("TANDEM_SCALE_LOSS").ok().and_then(|v| v.parse().ok()).unwrap_or(11);
    let unbounded = std::env::var_os("TANDEM_SCALE_UNBOUNDED").is_some();
    let mut lab = Lab::new("scale").unwrap();
    let d1 = lab.host("d1").unwrap();
    let d2 = lab.host("d2").unwrap();
    for l in 0..LINKS {
        let seg = lab.segment(&format!("s{l}")).unwrap();
        let ifname = format!("eth{l}");
        lab.connect(&d1, &seg, &ifname, &[&format!("10.{}.0.1/24", 10 + l)]).unwrap();
        lab.connect(&d2, &seg, &ifname, &[&format!("10.{}.0.2/24", 10 + l)]).unwrap();
    }
    start(&mut lab, &d1, "d1", 200);
    start(&mut lab, &d2, "d2", 100);
    let dir = lab.dir().to_path_buf();
    let converged = wait_until(Duration::from_secs(90), || {
        vips_held(&lab, &d1) == COUNT
            && vips_held(&lab, &d2) == 0
            && roles(&dir, "d1", "MASTER").0 == COUNT
            && roles(&dir, "d2", "BACKUP").0 == COUNT
    });
    assert!(converged, "no convergence: d1 holds {}, d2 {}", vips_held(&lab, &d1), vips_held(&lab, &d2));
    // Settled: the master's first adverts and GARPs are over.
    std::thread::sleep(Duration::from_secs(3));
    let before = (roles(&dir, "d1", "MASTER").1, roles(&dir, "d2", "BACKUP").1);

    lose(&lab, &d1, loss, unbounded);
    lose(&lab, &d2, loss, unbounded);
    std::thread::sleep(Duration::from_secs(25));

    let (masters, moves1) = roles(&dir, "d1", "MASTER");
    let (backups, moves2) = roles(&dir, "d2", "BACKUP");
    let (held1, held2) = (vips_held(&lab, &d1), vips_held(&lab, &d2));
    let lost = (dropped(&lab, &d1), dropped(&lab, &d2));
    let share = |(seen, lost): (u64, u64)| if seen == 0 { 0.0 } else { lost as f64 * 100.0 / seen as f64 };
    eprintln!(
        "loss rule {loss} %{}: VRRP packets lost on input d1 {:.1} % of {}, d2 {:.1} % of {}; masters {masters}, backups {backups}, transitions d1 {} d2 {}, VIPs d1 {held1} d2 {held2}",
        if unbounded { " (unbounded)" } else { "" },
        share(lost.0),
        lost.0.0,
        share(lost.1),
        lost.1.0,
        moves1 - before.0,
        moves2 - before.1
    );
    assert!(share(lost.1) >= f64::from(loss) * 0.8, "the loss rule dropped too little: {lost:?}");
    assert_eq!((moves1, moves2), before, "an instance changed role under {loss} % loss");
    assert_eq!((masters, backups), (COUNT, COUNT));
    assert_eq!((held1, held2), (COUNT, 0), "every VIP on the master only");

    // One receiving socket per interface, each serving its 250 VRIDs, nothing unknown.
    let s = status(&dir, "d2").unwrap();
    let sockets = s["vrrp_sockets"].as_array().cloned().unwrap_or_default();
    assert_eq!(sockets.len(), LINKS, "{sockets:?}");
    for sock in &sockets {
        assert_eq!(sock["vrids"].as_array().map(Vec::len), Some(PER_LINK), "{sock}");
        assert_eq!(sock["unknown_vrid"], 0, "{sock}");
        assert!(sock["received"].as_u64().unwrap_or(0) > 0, "{sock}");
    }
}

/// The receiving sockets follow reloads: an interface whose last instance a reload removes
/// has its socket closed; one that gets an instance again has one again, shared by the
/// instances there; the instance that stayed keeps its role throughout.
#[test]
fn receiving_sockets_follow_reloads() {
    let mut lab = Lab::new("scalerl").unwrap();
    let d1 = lab.host("d1").unwrap();
    for l in 0..2 {
        let seg = lab.segment(&format!("s{l}")).unwrap();
        lab.connect(&d1, &seg, &format!("eth{l}"), &[&format!("10.{}.0.1/24", 10 + l)]).unwrap();
    }
    let inst = |name: &str, ifname: &str, vrid: u8, vip: &str| {
        format!(
            "vrrp_instance {name} {{\n    state BACKUP\n    interface {ifname}\n    virtual_router_id {vrid}\n    priority 200\n    advert_int 1\n    virtual_ipaddress {{\n        {vip}\n    }}\n}}\n"
        )
    };
    let both =
        inst("A", "eth0", 1, "10.100.0.1") + &inst("B", "eth0", 2, "10.100.0.2") + &inst("C", "eth1", 1, "10.101.0.1");
    let dir = lab.dir().to_path_buf();
    let conf = dir.join("d1.conf");
    std::fs::write(&conf, &both).unwrap();
    let sock = dir.join("d1.sock");
    lab.spawn(&d1, BIN, &["run", "-f", conf.to_str().unwrap(), "--control-socket", sock.to_str().unwrap()], "d1.log")
        .unwrap();
    let sockets = || -> Vec<(String, Vec<u64>)> {
        let Some(s) = status(&dir, "d1") else { return Vec::new() };
        s["vrrp_sockets"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        let vrids = x["vrids"].as_array().map(|v| v.iter().filter_map(Value::as_u64).collect());
                        (x["interface"].as_str().unwrap_or_default().to_string(), vrids.unwrap_or_default())
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let want_both = vec![("eth0".to_string(), vec![1, 2]), ("eth1".to_string(), vec![1])];
    assert!(wait_until(Duration::from_secs(10), || sockets() == want_both), "{:?}", sockets());
    assert!(wait_until(Duration::from_secs(10), || roles(&dir, "d1", "MASTER").0 == 3), "all three become master");
    let reload = |text: &str| {
        std::fs::write(&conf, text).unwrap();
        let out = Command::new(BIN).args(["reload", "--control-socket", sock.to_str().unwrap()]).output().unwrap();
        assert!(out.status.success(), "tandem reload: {}", String::from_utf8_lossy(&out.stderr));
    };
    // C goes: eth1's socket closes; B goes too: eth0's serves A alone.
    reload(&inst("A", "eth0", 1, "10.100.0.1"));
    let want_a = vec![("eth0".to_string(), vec![1])];
    assert!(wait_until(Duration::from_secs(10), || sockets() == want_a), "{:?}", sockets());
    // They come back: eth1 has a socket again, eth0's serves both VRIDs again.
    reload(&both);
    assert!(wait_until(Duration::from_secs(10), || sockets() == want_both), "{:?}", sockets());
    assert!(wait_until(Duration::from_secs(10), || roles(&dir, "d1", "MASTER").0 == 3), "all three master again");
    // A kept its role throughout: it became master once and never left.
    let s = status(&dir, "d1").unwrap();
    let a = s["vrrp_instances"].as_array().unwrap().iter().find(|i| i["name"] == "A").cloned().unwrap();
    assert_eq!(
        (a["counters"]["became_master"].as_u64(), a["counters"]["released_master"].as_u64()),
        (Some(1), Some(0)),
        "{a}"
    );
}
