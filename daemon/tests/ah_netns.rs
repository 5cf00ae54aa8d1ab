//! `auth_type AH` (keepalived's IPsec-AH VRRPv2 authentication) against keepalived 2.2.7 in
//! network namespaces: multicast and unicast, tandem as master and as backup. Each accepts
//! the other's adverts (the election holds for seconds with no AH drop on either side), the
//! backup takes over when the master stops, and a wrong `auth_pass` is dropped and counted.
//! Needs root.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::time::Duration;
use tandem_tests::keepalived::Keepalived;
use tandem_tests::netns::wait_until;
use tandem_tests::pair::{Opts, Tandem, VIP, config, has_vip, rig, settles};

const BIN: &str = env!("CARGO_BIN_EXE_tandem");

/// keepalived.conf of VI_1 on director `me` with `auth_type AH` and `pass`.
fn ah_config(me: &str, peer: &str, o: Opts, pass: &str) -> String {
    config(me, peer, Opts { auth: true, ..o })
        .replace("auth_type PASS", "auth_type AH")
        .replace("auth_pass s3cret", &format!("auth_pass {pass}"))
}

/// The instance's counters from `tandem status --json`.
fn counters(t: &Tandem) -> Option<serde_json::Value> {
    let out = t.ask(BIN, &["status", "--json"]).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(v["vrrp_instances"][0]["counters"].clone())
}

fn count(c: &serde_json::Value, path: &[&str]) -> u64 {
    path.iter().fold(c, |v, k| &v[*k]).as_u64().unwrap_or(0)
}

/// The AH drop reasons tandem counts, with their counts (only those not 0).
fn ah_drops(c: &serde_json::Value) -> Vec<(String, u64)> {
    c["dropped"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, v)| k.starts_with("ah_") && v.as_u64() != Some(0))
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// What keepalived logs when it drops an AH advert (vrrp.c, vrrp_in_chk_ipsecah /
/// vrrp_check_packet).
fn keepalived_refused(log: &str) -> bool {
    log.contains("IPSEC-AH : invalid")
        || log.contains("invalid IPSEC SPI")
        || log.contains("already processed")
        || log.contains("No AH header")
        || log.contains("Received AH header but auth type not AH")
}

fn interop(tag: &str, unicast: bool) {
    for tandem_is_master in [true, false] {
        let mut r = rig(&format!("{tag}{}", u8::from(tandem_is_master))).unwrap();
        let (d1, d2) = (r.d1.clone(), r.d2.clone());
        let o = Opts { unicast, ..Opts::v2(0) };
        let (hi, lo) = (Opts { priority: 150, ..o }, Opts { priority: 100, ..o });
        let (tp, kp) = if tandem_is_master { (hi, lo) } else { (lo, hi) };
        let t = Tandem::start_controlled(&mut r.lab, BIN, &d1, "tandem", &ah_config("1", "2", tp, "s3cret")).unwrap();
        let k = Keepalived::start(&mut r.lab, &d2, "kad", &ah_config("2", "1", kp, "s3cret")).unwrap();
        let (master, backup) = if tandem_is_master { (&d1, &d2) } else { (&d2, &d1) };
        let why = |what: &str| format!("{tag} (tandem master: {tandem_is_master}): {what}:\n{}\n{}", t.log(), k.log());
        assert!(settles(&r, master, backup, VIP, 12), "{}", why("wrong master"));

        // Stable: for 4 s the backup keeps accepting the master's adverts (no flap), tandem
        // counts the adverts it hears (as backup) and drops none, keepalived refuses none.
        let before = counters(&t).unwrap_or_default();
        for _ in 0..8 {
            std::thread::sleep(Duration::from_millis(500));
            assert!(has_vip(&r.lab, master, VIP) && !has_vip(&r.lab, backup, VIP), "{}", why("not stable"));
        }
        let after = counters(&t).unwrap_or_default();
        assert_eq!(ah_drops(&after), vec![], "{}", why("tandem dropped AH adverts"));
        assert_eq!(count(&after, &["dropped", "auth"]), 0, "{}", why("tandem dropped adverts for auth"));
        if tandem_is_master {
            assert!(count(&after, &["adverts_sent"]) >= count(&before, &["adverts_sent"]) + 3, "{}", why("sent"));
            assert_eq!(count(&after, &["became_master"]), 1, "{}", why("tandem flapped"));
        } else {
            let heard = count(&after, &["adverts_received"]) - count(&before, &["adverts_received"]);
            assert!(heard >= 3, "{}", why(&format!("tandem heard {heard} of keepalived's adverts in 4 s")));
            assert_eq!(count(&after, &["became_master"]), 0, "{}", why("tandem became master"));
        }
        assert!(!keepalived_refused(&k.log()), "{}", why("keepalived refused tandem's adverts"));

        // Failover: the master stops (its priority-0 advert is an AH advert too).
        let master_pid = if tandem_is_master { t.pid } else { k.pid };
        r.lab.signal(master_pid, "TERM").unwrap();
        assert!(settles(&r, backup, master, VIP, 6), "{}", why("no takeover after the master stopped"));
        if !tandem_is_master {
            // tandem took over on keepalived's priority 0 (skew time), not the master-down
            // interval: the goodbye verified.
            let c = counters(&t).unwrap_or_default();
            assert!(count(&c, &["priority_zero_received"]) >= 1, "{}", why("priority 0 not heard"));
            assert_eq!(ah_drops(&c), vec![], "{}", why("tandem dropped AH adverts"));
        } else {
            assert!(!keepalived_refused(&k.log()), "{}", why("keepalived refused tandem's goodbye"));
        }
    }
}

#[test]
fn ah_interop_multicast() {
    interop("ahm", false);
}

#[test]
fn ah_interop_unicast() {
    interop("ahu", true);
}

/// A keepalived with another auth_pass: tandem counts its adverts as `ah_icv` drops,
/// keepalived logs tandem's as invalid, and both become master.
#[test]
fn ah_wrong_password_is_dropped_and_counted() {
    for unicast in [false, true] {
        let mut r = rig(&format!("ahbad{}", u8::from(unicast))).unwrap();
        let (d1, d2) = (r.d1.clone(), r.d2.clone());
        let o = Opts { unicast, ..Opts::v2(150) };
        let t = Tandem::start_controlled(&mut r.lab, BIN, &d1, "d1", &ah_config("1", "2", o, "s3cret")).unwrap();
        let wrong = ah_config("2", "1", Opts { priority: 100, ..o }, "other");
        let k = Keepalived::start(&mut r.lab, &d2, "k2", &wrong).unwrap();
        assert!(
            wait_until(Duration::from_secs(12), || has_vip(&r.lab, &d1, VIP) && has_vip(&r.lab, &d2, VIP)),
            "both should be master:\n{}\n{}",
            t.log(),
            k.log()
        );
        // keepalived, master now, adverts when its timer runs out; but it re-arms that timer
        // on every packet for its VRID, tandem's refused ones too (vrrp_scheduler.c,
        // vrrp_dispatcher_read -> vrrp_init_instance_sands; malformed_netns.rs shows it), so
        // with tandem's adverts a second it may send far fewer: each one is counted as it
        // lands (it once sent one in 8 s, and a wait for three failed).
        assert!(
            wait_until(Duration::from_secs(8), || counters(&t).is_some_and(|c| count(&c, &["dropped", "ah_icv"]) >= 1)),
            "{:?}\n{}",
            counters(&t),
            k.log()
        );
        let c = counters(&t).unwrap_or_default();
        assert_eq!(c["adverts_received"], 0, "none reached the state machine: {c}");
        assert!(t.log().contains("IPsec-AH HMAC-MD5 does not verify"), "{}", t.log());
        assert!(
            wait_until(Duration::from_secs(5), || k.log().contains("IPSEC-AH : invalid")),
            "keepalived says why it drops tandem's:\n{}",
            k.log()
        );
    }
}

/// Sends one AH advert (VRID 51, priority `prio`, VIP 192.0.2.100) from the client
/// (192.0.2.50) to the VRRP group, sealed with `pass` and sequence number `seq`.
fn forge(r: &tandem_tests::pair::Rig, pass: &str, seq: u32, prio: u8) {
    use std::net::{IpAddr, Ipv4Addr};
    use tandem_vrrp::wire::{ah, ipv4::Ipv4Repr, vrrp};
    let src = Ipv4Addr::new(192, 0, 2, 50);
    let advert = tandem_vrrp::Advert {
        version: tandem_vrrp::Version::V2,
        vrid: 51,
        priority: prio,
        interval_cs: 100,
        auth: tandem_vrrp::Auth::Ah,
        addresses: vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100))],
    };
    let msg = vrrp::emit(&advert, src.into(), vrrp::MULTICAST_V4.into(), &Default::default()).unwrap();
    let ip = Ipv4Repr { protocol: ah::PROTOCOL, ..Ipv4Repr::vrrp(src, vrrp::MULTICAST_V4, 7, 0) };
    let packet = ah::seal(&ip, seq, &msg, &ah::key(pass.as_bytes()), false).unwrap();
    tandem_tests::netns::Lab::within(&r.client, move || {
        use socket2::{Domain, Protocol, SockAddr, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(51))).unwrap();
        s.set_header_included_v4(true).unwrap();
        s.bind_device(Some(b"eth0")).unwrap();
        let to = SockAddr::from(std::net::SocketAddr::new(vrrp::MULTICAST_V4.into(), 0));
        s.send_to(&packet, &to).unwrap();
    })
    .unwrap();
}

/// tandem as backup behind keepalived: an advert with the right password but an old
/// sequence number (a replay) is dropped and counted as `ah_replay`, one with a wrong
/// password as `ah_icv`; the election does not move. A fresh number with a higher priority
/// is accepted (the forger's advert reaches the state machine).
#[test]
fn ah_replays_are_dropped_and_counted() {
    let mut r = rig("ahrep").unwrap();
    let (d1, d2) = (r.d1.clone(), r.d2.clone());
    let t =
        Tandem::start_controlled(&mut r.lab, BIN, &d1, "d1", &ah_config("1", "2", Opts::v2(100), "s3cret")).unwrap();
    let k = Keepalived::start(&mut r.lab, &d2, "k2", &ah_config("2", "1", Opts::v2(150), "s3cret")).unwrap();
    assert!(settles(&r, &d2, &d1, VIP, 12), "{}\n{}", t.log(), k.log());
    assert!(
        wait_until(Duration::from_secs(6), || counters(&t).is_some_and(|c| count(&c, &["adverts_received"]) >= 2)),
        "{:?}",
        counters(&t)
    );
    forge(&r, "s3cret", 1, 200);
    forge(&r, "wrong", 1_000_000, 200);
    assert!(
        wait_until(Duration::from_secs(5), || counters(&t)
            .is_some_and(|c| { count(&c, &["dropped", "ah_replay"]) == 1 && count(&c, &["dropped", "ah_icv"]) == 1 })),
        "{:?}\n{}",
        counters(&t),
        t.log()
    );
    assert!(t.log().contains("sequence number already seen (replay)"), "{}", t.log());
    assert!(has_vip(&r.lab, &d2, VIP) && !has_vip(&r.lab, &d1, VIP));
    // A fresh number verifies: the advert is accepted (as keepalived would; keepalived's own
    // adverts are replays from then on, which is why the test ends here).
    let heard = count(&counters(&t).unwrap_or_default(), &["adverts_received"]);
    forge(&r, "s3cret", 1_000_000, 200);
    assert!(
        wait_until(Duration::from_secs(3), || counters(&t).is_some_and(|c| count(&c, &["adverts_received"]) > heard)),
        "{:?}\n{}",
        counters(&t),
        t.log()
    );
}

/// The last-resort release (SIGABRT, as systemd's watchdog sends) of an AH master: its kept
/// goodbye carries the next sequence number, so keepalived takes it (priority 0) rather than
/// dropping it as a replay and waiting out the master-down interval.
#[test]
fn ah_last_resort_goodbye_is_not_a_replay() {
    let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0);
    let mut r = rig("ahabrt").unwrap();
    let (d1, d2) = (r.d1.clone(), r.d2.clone());
    let t =
        Tandem::start_controlled(&mut r.lab, BIN, &d1, "d1", &ah_config("1", "2", Opts::v2(150), "s3cret")).unwrap();
    let k = Keepalived::start(&mut r.lab, &d2, "k2", &ah_config("2", "1", Opts::v2(100), "s3cret")).unwrap();
    assert!(settles(&r, &d1, &d2, VIP, 12), "{}\n{}", t.log(), k.log());
    // A few adverts go out after the first, each replacing the kept goodbye.
    std::thread::sleep(Duration::from_secs(3));
    r.lab.signal(t.pid, "ABRT").unwrap();
    assert!(settles(&r, &d2, &d1, VIP, 5), "no takeover:\n{}\n{}", t.log(), k.log());
    assert!(t.log().contains("priority 0 sent"), "{}", t.log());
    assert!(
        k.log().contains("Backup received priority 0 advertisement"),
        "keepalived did not take the goodbye:\n{}\n{}",
        k.log(),
        t.log()
    );
    assert!(!keepalived_refused(&k.log()), "{}", k.log());
}

/// Two tandems with AH: they elect, a reload of the master that keeps its virtual router
/// keeps its sequence counter (as keepalived keeps `ipsecah_counter`), so the backup drops
/// none of its adverts as replays and nothing flaps; the backup takes over when the master
/// stops.
#[test]
fn ah_tandem_pair_and_a_reload_keep_the_sequence() {
    let mut r = rig("ahpair").unwrap();
    let (d1, d2) = (r.d1.clone(), r.d2.clone());
    let t1 =
        Tandem::start_controlled(&mut r.lab, BIN, &d1, "d1", &ah_config("1", "2", Opts::v2(150), "s3cret")).unwrap();
    let t2 =
        Tandem::start_controlled(&mut r.lab, BIN, &d2, "d2", &ah_config("2", "1", Opts::v2(100), "s3cret")).unwrap();
    assert!(settles(&r, &d1, &d2, VIP, 12), "{}\n{}", t1.log(), t2.log());
    std::thread::sleep(Duration::from_secs(2));
    // The master's reload: another priority, the same virtual router and sockets.
    std::fs::write(r.lab.dir().join("d1.conf"), ah_config("1", "2", Opts::v2(160), "s3cret")).unwrap();
    let out = t1.ask(BIN, &["reload"]).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(wait_until(Duration::from_secs(5), || t1.log().contains("reload applied; state kept")), "{}", t1.log());
    // (d2 may have been master for a moment at start, while d1's link came up.)
    let before = counters(&t2).unwrap_or_default();
    let heard = count(&before, &["adverts_received"]);
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(500));
        assert!(has_vip(&r.lab, &d1, VIP) && !has_vip(&r.lab, &d2, VIP), "flap:\n{}\n{}", t1.log(), t2.log());
    }
    let c2 = counters(&t2).unwrap_or_default();
    assert_eq!(ah_drops(&c2), vec![], "{}", t2.log());
    assert!(count(&c2, &["adverts_received"]) >= heard + 3, "{c2}");
    assert_eq!(count(&c2, &["became_master"]), count(&before, &["became_master"]), "{c2}\n{}", t2.log());
    r.lab.signal(t1.pid, "TERM").unwrap();
    assert!(settles(&r, &d2, &d1, VIP, 5), "no takeover:\n{}\n{}", t1.log(), t2.log());
    assert!(count(&counters(&t2).unwrap_or_default(), &["priority_zero_received"]) >= 1);
}

/// A partition between tandem (150) and keepalived (100) with AH: both become master and
/// both number their adverts on; when it heals, the sequence numbers sort themselves out as
/// between two keepalived (the lower-priority master takes the higher's numbers, the higher
/// one syncs on hearing a lower priority): one master remains, tandem, and stays.
#[test]
fn ah_partition_heals_to_one_master() {
    let mut r = rig("ahpart").unwrap();
    let (d1, d2, seg) = (r.d1.clone(), r.d2.clone(), r.seg.clone());
    let t =
        Tandem::start_controlled(&mut r.lab, BIN, &d1, "d1", &ah_config("1", "2", Opts::v2(150), "s3cret")).unwrap();
    let k = Keepalived::start(&mut r.lab, &d2, "k2", &ah_config("2", "1", Opts::v2(100), "s3cret")).unwrap();
    assert!(settles(&r, &d1, &d2, VIP, 12), "{}\n{}", t.log(), k.log());
    r.lab.isolate(&d1, &seg, true).unwrap();
    r.lab.isolate(&d2, &seg, true).unwrap();
    assert!(
        wait_until(Duration::from_secs(8), || has_vip(&r.lab, &d1, VIP) && has_vip(&r.lab, &d2, VIP)),
        "a partition should give two masters:\n{}\n{}",
        t.log(),
        k.log()
    );
    std::thread::sleep(Duration::from_secs(2));
    r.lab.isolate(&d1, &seg, false).unwrap();
    r.lab.isolate(&d2, &seg, false).unwrap();
    assert!(settles(&r, &d1, &d2, VIP, 8), "two masters after healing:\n{}\n{}", t.log(), k.log());
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(500));
        assert!(has_vip(&r.lab, &d1, VIP) && !has_vip(&r.lab, &d2, VIP), "flap:\n{}\n{}", t.log(), k.log());
    }
}
