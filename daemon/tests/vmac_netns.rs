//! `use_vmac` and `vmac_xmit_base` in network namespaces, beside keepalived 2.2.7 with the
//! same settings, in both roles: the VIP lives on a macvlan with the RFC 5798 virtual MAC, so
//! the client's neighbour entry holds 00:00:5e:00:01:VRID whichever director is master and
//! stays the same through a failover; adverts leave from the virtual MAC (or, with
//! `vmac_xmit_base`, from the base interface's MAC); the macvlan is gone once tandem has
//! stopped. Needs root.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::time::Duration;
use tandem_tests::keepalived::Keepalived;
use tandem_tests::netns::{Host, Lab, wait_until};
use tandem_tests::pair::{Opts, Rig, Tandem, config, has_vip, settles};

const BIN: &str = env!("CARGO_BIN_EXE_tandem");

/// The IPv4 virtual MAC of VRID 51, and the IPv6 one.
const VMAC4: &str = "00:00:5e:00:01:33";
const VMAC6: &str = "00:00:5e:00:02:33";

/// `config` with `extra` lines (use_vmac, vmac_xmit_base) in the instance.
fn with(conf: String, extra: &str) -> String {
    conf.replace("    virtual_ipaddress", &format!("{extra}    virtual_ipaddress"))
}

/// One VRRP advert as `tcpdump -e -n -tt` printed it on the client's segment.
#[derive(Debug)]
struct Seen {
    /// Ethernet source.
    mac: String,
    /// IP source.
    src: String,
}

/// What the capture on the client's segment (`vrrp.cap`, see [`capture`]) holds so far; nothing
/// before tcpdump has written its first line.
fn captured(lab: &Lab) -> String {
    std::fs::read_to_string(lab.dir().join("vrrp.cap")).unwrap_or_default()
}

/// The adverts captured so far (`vrrp.cap`): `TIME SRC_MAC > DST_MAC, ethertype ...,
/// length N: SRC > DST: ...`.
fn wire(lab: &Lab) -> Vec<Seen> {
    let text = captured(lab);
    text.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let at = w.iter().position(|x| *x == "length")?;
            Some(Seen { mac: w.get(1)?.to_string(), src: w.get(at + 2)?.to_string() })
        })
        .collect()
}

/// The Ethernet sources of the gratuitous ARPs for `vip` captured so far.
fn garps(lab: &Lab, vip: &str) -> Vec<String> {
    let text = captured(lab);
    // `Request who-has VIP (ff:ff:ff:ff:ff:ff) tell VIP, length 28`
    let (asks, from) = (format!("who-has {vip} "), format!("tell {vip},"));
    text.lines()
        .filter(|l| l.contains(&asks) && l.contains(&from))
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect()
}

/// The ARP lines captured so far, for a failure's report.
fn arp_seen(lab: &Lab) -> String {
    let text = captured(lab);
    text.lines().filter(|l| l.contains("ARP")).collect::<Vec<_>>().join("\n")
}

fn capture(r: &mut Rig, v6: bool) {
    let client = r.client.clone();
    let filter = if v6 { "ip6 proto 112" } else { "ip proto 112 or arp" };
    r.lab
        .spawn(&client, "tcpdump", &["-i", "eth0", "-e", "-n", "-tt", "-l", "--immediate-mode", filter], "vrrp.cap")
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
}

/// The MAC the client's neighbour table holds for `vip` once it has talked to it.
fn client_mac(r: &Rig, vip: &str) -> Option<String> {
    let ping: &[&str] = if vip.contains(':') { &["-6", "-c1", "-W1", vip] } else { &["-c1", "-W1", vip] };
    let _ = r.lab.run(&r.client, "ping", ping);
    r.lab.neighbour(&r.client, vip).ok().flatten()
}

/// Waits up to 10 s for the client's entry for `vip` to be `mac`: past the master's second
/// burst of gratuitous ARPs (garp_master_delay, 5 s after it took over). Until then the entry
/// may hold the master's base MAC: to answer the client's first ping the master asks for the
/// client's address on the base interface, from the base MAC with the VIP as the sender
/// (arp_announce 0, which neither keepalived nor tandem changes), and the client takes that
/// request's sender into its entry for the VIP. Seen on the wire with keepalived 2.2.7 as
/// master as with tandem; a full run caught the 5 s wait ending just before the burst.
fn client_sees_mac(r: &Rig, vip: &str, mac: &str) -> bool {
    wait_until(Duration::from_secs(10), || client_mac(r, vip).as_deref() == Some(mac))
}

fn link_exists(lab: &Lab, h: &Host, ifname: &str) -> bool {
    lab.run(h, "ip", &["link", "show", ifname]).is_ok_and(|o| o.status.success())
}

/// Adverts from `src` seen on the wire since capture entry `from`, with their MACs.
fn macs_of(lab: &Lab, src: &str, from: usize) -> Vec<String> {
    wire(lab).into_iter().skip(from).filter(|s| s.src == src).map(|s| s.mac).collect()
}

fn sysctl(lab: &Lab, h: &Host, ifname: &str, key: &str) -> String {
    let out = lab.run(h, "cat", &[&format!("/proc/sys/net/ipv4/conf/{ifname}/{key}")]).unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// tandem with `use_vmac` (and `extra`) beside keepalived with the same, in both roles. With
/// `strict_rp_filter`, both directors start with net.ipv4.conf.all.rp_filter 1 (strict),
/// which would drop the adverts coming in on the macvlan.
fn beside_keepalived(tag: &str, o: Opts, extra: &str, strict_rp_filter: bool) {
    let (vip, vmac) = if o.v6 { ("2001:db8::100", VMAC6) } else { ("192.0.2.100", VMAC4) };
    for tandem_is_master in [true, false] {
        let mut r = tandem_tests::pair::rig(&format!("{tag}{}", u8::from(tandem_is_master))).unwrap();
        capture(&mut r, o.v6);
        let (d1, d2) = (r.d1.clone(), r.d2.clone());
        if strict_rp_filter {
            for h in [&d1, &d2] {
                let out = r.lab.run(h, "sysctl", &["-qw", "net.ipv4.conf.all.rp_filter=1"]).unwrap();
                assert!(out.status.success());
            }
        }
        let (hi, lo) = (Opts { priority: 150, ..o }, Opts { priority: 100, ..o });
        let (t_opts, k_opts) = if tandem_is_master { (hi, lo) } else { (lo, hi) };
        let t = Tandem::start(&mut r.lab, BIN, &d1, "tandem", &with(config("1", "2", t_opts), extra)).unwrap();
        let k = Keepalived::start(&mut r.lab, &d2, "kad", &with(config("2", "1", k_opts), extra)).unwrap();
        let (master, backup) = if tandem_is_master { (&d1, &d2) } else { (&d2, &d1) };
        let logs = || format!("--- tandem\n{}\n--- keepalived\n{}", t.log(), k.log());
        assert!(
            settles(&r, master, backup, vip, 10),
            "{tag}: wrong master (tandem master: {tandem_is_master}):\n{}",
            logs()
        );
        // tandem made its macvlan with the virtual MAC, and the VIP is on it when master.
        assert!(
            wait_until(Duration::from_secs(3), || r.lab.mac(&d1, "vrrp.51").ok().as_deref() == Some(vmac)),
            "{}",
            logs()
        );
        if !o.v6 {
            // keepalived's settings: only the macvlan answers ARP for the VIP, and it takes
            // adverts whatever rp_filter said (all.rp_filter's level moved onto eth0).
            let got: Vec<String> = [
                ("eth0", "arp_ignore"),
                ("eth0", "arp_filter"),
                ("vrrp.51", "arp_ignore"),
                ("vrrp.51", "accept_local"),
                ("vrrp.51", "rp_filter"),
                ("all", "rp_filter"),
                ("eth0", "rp_filter"),
            ]
            .iter()
            .map(|(i, k)| sysctl(&r.lab, &d1, i, k))
            .collect();
            let eth0_rp = if strict_rp_filter { "1" } else { "0" };
            assert_eq!(got, ["1", "1", "1", "1", "0", "0", eth0_rp]);
        }
        if tandem_is_master {
            let out = r.lab.run(&d1, "ip", &["-o", "addr", "show", "dev", "vrrp.51"]).unwrap();
            assert!(String::from_utf8_lossy(&out.stdout).contains(vip), "the VIP is not on vrrp.51:\n{}", logs());
        }
        assert!(client_sees_mac(&r, vip, vmac), "{tag}: the client's entry is {:?}:\n{}", client_mac(&r, vip), logs());
        // Stable: the backup keeps accepting the master's adverts.
        std::thread::sleep(Duration::from_secs(3));
        assert!(has_vip(&r.lab, master, vip) && !has_vip(&r.lab, backup, vip), "{tag}: not stable:\n{}", logs());

        // The master's adverts, on the wire: from the virtual MAC, or with vmac_xmit_base
        // from the base interface's.
        let (m_addr, m_host) = if tandem_is_master { ("1", &d1) } else { ("2", &d2) };
        let src = if o.v6 {
            // IPv6 adverts come from the link-local address of the base interface.
            let out = r.lab.run(m_host, "ip", &["-o", "-6", "addr", "show", "dev", "eth0", "scope", "link"]).unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.split_whitespace().skip_while(|w| *w != "inet6").nth(1).unwrap().split('/').next().unwrap().to_string()
        } else {
            format!("192.0.2.{m_addr}")
        };
        let want = if extra.contains("vmac_xmit_base") { r.lab.mac(m_host, "eth0").unwrap() } else { vmac.to_string() };
        let macs = macs_of(&r.lab, &src, 0);
        assert!(!macs.is_empty(), "{tag}: no advert from {src} on the wire:\n{}", logs());
        assert!(macs.iter().all(|m| *m == want), "{tag}: adverts from {src} left from {macs:?}, not {want}");

        if !o.v6 {
            // The new master's gratuitous ARPs carry the virtual MAC.
            let seen = garps(&r.lab, vip);
            assert!(!seen.is_empty() && seen.iter().all(|m| m == vmac), "{tag}: gratuitous ARPs from {seen:?}");
        }

        // Failover: the master stops; the backup takes the VIP and the client keeps the MAC.
        let master_pid = if tandem_is_master { t.pid } else { k.pid };
        r.lab.signal(master_pid, "TERM").unwrap();
        assert!(settles(&r, backup, master, vip, 5), "{tag}: no takeover:\n{}", logs());
        assert!(
            client_sees_mac(&r, vip, vmac),
            "{tag}: the client's entry moved to {:?} (d1's eth0 {:?}, d2's {:?}); ARP on the wire:\n{}\n{}",
            client_mac(&r, vip),
            r.lab.mac(&d1, "eth0").ok(),
            r.lab.mac(&d2, "eth0").ok(),
            arp_seen(&r.lab),
            logs()
        );
        let out =
            r.lab.run(&r.client, "ping", &if o.v6 { vec!["-6", "-c1", "-W2", vip] } else { vec!["-c1", "-W2", vip] });
        assert!(out.unwrap().status.success(), "{tag}: the VIP does not answer after the failover:\n{}", logs());
        if tandem_is_master {
            // tandem deleted its macvlan when it stopped.
            assert!(
                wait_until(Duration::from_secs(5), || !link_exists(&r.lab, &d1, "vrrp.51")),
                "vrrp.51 left behind:\n{}",
                t.log()
            );
            assert!(t.log().contains("VMAC interface deleted"), "{}", t.log());
            if !o.v6 {
                // The base interface's ARP settings and rp_filter are back to what they were.
                let got: Vec<String> =
                    [("eth0", "arp_ignore"), ("eth0", "arp_filter"), ("eth0", "rp_filter"), ("all", "rp_filter")]
                        .iter()
                        .map(|(i, k)| sysctl(&r.lab, &d1, i, k))
                        .collect();
                let all_rp = if strict_rp_filter { "1" } else { "0" };
                assert_eq!(got, ["0", "0", "0", all_rp]);
            }
        }
    }
}

#[test]
fn use_vmac_beside_keepalived_v2() {
    beside_keepalived("vm2", Opts::v2(0), "    use_vmac\n", false);
}

#[test]
fn use_vmac_beside_keepalived_with_strict_rp_filter() {
    beside_keepalived("vmr", Opts::v2(0), "    use_vmac\n", true);
}

#[test]
fn use_vmac_with_xmit_base_beside_keepalived() {
    beside_keepalived("vmx", Opts::v2(0), "    use_vmac\n    vmac_xmit_base\n", false);
}

#[test]
fn use_vmac_with_xmit_base_beside_keepalived_v3_ipv6() {
    let o = Opts { priority: 0, v3: true, v6: true, unicast: false, auth: false };
    beside_keepalived("vx6", o, "    use_vmac\n    vmac_xmit_base\n", false);
}

#[test]
fn use_vmac_beside_keepalived_v3_ipv6() {
    beside_keepalived(
        "vm6",
        Opts { priority: 0, v3: true, v6: true, unicast: false, auth: false },
        "    use_vmac\n",
        false,
    );
}

/// A named macvlan; a restart after SIGKILL finds the one the killed tandem left and uses it
/// again (the addresses it held there go first); a stop deletes it.
#[test]
fn a_killed_tandem_leaves_its_vmac_and_the_next_one_takes_it_back() {
    let mut r = tandem_tests::pair::rig("vmk").unwrap();
    let d1 = r.d1.clone();
    let conf = with(config("1", "2", Opts::v2(150)), "    use_vmac vip51\n");
    let t = Tandem::start(&mut r.lab, BIN, &d1, "t1", &conf).unwrap();
    assert!(wait_until(Duration::from_secs(10), || has_vip(&r.lab, &d1, "192.0.2.100")), "{}", t.log());
    assert_eq!(r.lab.mac(&d1, "vip51").unwrap(), VMAC4);
    r.lab.signal(t.pid, "KILL").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(link_exists(&r.lab, &d1, "vip51"));
    let t2 = Tandem::start(&mut r.lab, BIN, &d1, "t2", &conf).unwrap();
    // The killed one's VIP is still there: the new one removes it, starts as backup, and
    // adds it again as master, on the macvlan it found.
    let stale = "removed a virtual address left by a previous run";
    assert!(wait_until(Duration::from_secs(5), || t2.log().contains(stale)), "{}", t2.log());
    assert!(wait_until(Duration::from_secs(10), || t2.log().contains("to=Master")), "{}", t2.log());
    assert!(has_vip(&r.lab, &d1, "192.0.2.100"), "{}", t2.log());
    let out = r.lab.run(&d1, "ip", &["-o", "addr", "show", "dev", "vip51"]).unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("192.0.2.100"), "{}", t2.log());
    assert!(client_sees_mac(&r, "192.0.2.100", VMAC4));
    r.lab.signal(t2.pid, "TERM").unwrap();
    assert!(wait_until(Duration::from_secs(5), || !link_exists(&r.lab, &d1, "vip51")), "{}", t2.log());
}

/// An interface of the name asked for that is not a macvlan: tandem refuses to start.
#[test]
fn a_vmac_name_taken_by_another_kind_of_interface_is_refused() {
    let mut r = tandem_tests::pair::rig("vmn").unwrap();
    let d1 = r.d1.clone();
    let made = r.lab.run(&d1, "ip", &["link", "add", "taken0", "type", "veth", "peer", "name", "taken1"]).unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let conf = with(config("1", "2", Opts::v2(150)), "    use_vmac taken0\n");
    let t = Tandem::start(&mut r.lab, BIN, &d1, "t1", &conf).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || r.lab.exit_status(t.pid).ok().flatten().is_some_and(|s| !s.success())),
        "tandem runs beside a veth called taken0:\n{}",
        t.log()
    );
    // Said where the file asks for it: `config` puts the extra line at line 8.
    let conf_path = r.lab.dir().join("t1.conf");
    let at = format!("{}:8:14", conf_path.display());
    assert!(t.log().contains("taken0 exists on this host and is not a macvlan"), "{}", t.log());
    assert!(t.log().contains(&at), "{}", t.log());
    // `tandem check` on this host says the same.
    let out = r.lab.run(&d1, BIN, &["check", "-f", &conf_path.to_string_lossy()]).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("taken0 exists on this host and is not a macvlan") && err.contains(&at), "{err}");
}

/// A macvlan deleted under a running tandem is made again (and the master's VIP with it).
#[test]
fn a_deleted_vmac_is_made_again() {
    let mut r = tandem_tests::pair::rig("vmd").unwrap();
    let d1 = r.d1.clone();
    let conf = with(config("1", "2", Opts::v2(150)), "    use_vmac\n");
    let t = Tandem::start(&mut r.lab, BIN, &d1, "t1", &conf).unwrap();
    assert!(wait_until(Duration::from_secs(10), || has_vip(&r.lab, &d1, "192.0.2.100")), "{}", t.log());
    let before = r.lab.run(&d1, "cat", &["/sys/class/net/vrrp.51/ifindex"]).unwrap();
    let out = r.lab.run(&d1, "ip", &["link", "del", "vrrp.51"]).unwrap();
    assert!(out.status.success());
    assert!(
        wait_until(Duration::from_secs(10), || {
            let now = r.lab.run(&d1, "cat", &["/sys/class/net/vrrp.51/ifindex"]).unwrap();
            now.status.success() && now.stdout != before.stdout && has_vip(&r.lab, &d1, "192.0.2.100")
        }),
        "{}",
        t.log()
    );
    assert!(client_sees_mac(&r, "192.0.2.100", VMAC4), "{}", t.log());
}

/// A reload that adds use_vmac starts the unit again: the VIP moves onto the macvlan and the
/// client's entry to the virtual MAC; one that takes it away deletes the macvlan.
#[test]
fn a_reload_adding_or_removing_use_vmac_starts_the_unit_again() {
    let mut r = tandem_tests::pair::rig("vml").unwrap();
    let d1 = r.d1.clone();
    let plain = config("1", "2", Opts::v2(150));
    let t = Tandem::start_controlled(&mut r.lab, BIN, &d1, "t1", &plain).unwrap();
    assert!(wait_until(Duration::from_secs(10), || has_vip(&r.lab, &d1, "192.0.2.100")), "{}", t.log());
    let base = r.lab.mac(&d1, "eth0").unwrap();
    assert!(client_sees_mac(&r, "192.0.2.100", &base));
    let reload = |conf: &str| {
        std::fs::write(r.lab.dir().join("t1.conf"), conf).unwrap();
        let out = t.ask(BIN, &["reload"]).unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    reload(&with(plain.clone(), "    use_vmac\n"));
    assert!(
        wait_until(Duration::from_secs(10), || {
            let out = r.lab.run(&d1, "ip", &["-o", "addr", "show", "dev", "vrrp.51"]).unwrap();
            String::from_utf8_lossy(&out.stdout).contains("192.0.2.100")
        }),
        "{}",
        t.log()
    );
    assert!(client_sees_mac(&r, "192.0.2.100", VMAC4), "{}", t.log());
    // A reload that keeps use_vmac applies in place: no restart, no new transition.
    let transitions = || t.log().matches("VRRP transition").count();
    let before = transitions();
    reload(&with(plain.replace("priority 150", "priority 140"), "    use_vmac\n"));
    assert!(wait_until(Duration::from_secs(5), || t.log().contains("reload applied; state kept")), "{}", t.log());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(transitions(), before, "{}", t.log());
    assert_eq!(t.log().matches("VMAC interface up").count(), 1, "{}", t.log());
    reload(&plain);
    assert!(wait_until(Duration::from_secs(10), || !link_exists(&r.lab, &d1, "vrrp.51")), "{}", t.log());
    assert!(wait_until(Duration::from_secs(10), || has_vip(&r.lab, &d1, "192.0.2.100")), "{}", t.log());
    assert!(client_sees_mac(&r, "192.0.2.100", &base), "{}", t.log());
}
