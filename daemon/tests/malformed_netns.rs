//! Malformed adverts on the wire (issue 18): every case of the UNH-IOL VRRP conformance
//! group 4 (IP TTL, version, length, checksum, VRID, auth type and password, advert interval,
//! type), plus an address list that is not ours, a truncated packet and a unicast advert from
//! an address that is not a `unicast_peer`, sent by an attacker host to a running tandem
//! master and backup, and the same bytes to a keepalived 2.2.7 master and backup on a segment
//! of their own, all in network namespaces.
//!
//! Each director runs the same keepalived.conf: VRRPv2 over IPv4 with PASS auth (`V2`, VRID
//! 51), VRRPv3 over IPv4 (`V3`, 52), VRRPv3 over IPv6 (`V6`, 53), and VRRPv3 over IPv4
//! unicast (`UC`, 54); d1 is master (priority 150), d2 backup (100). Every crafted advert
//! carries priority 200, so one that got through would make the master yield.
//!
//! Asserted: no transition on either node, both daemons still running; on tandem, each
//! drop counted once per packet under its reason on the instance it names (and on no
//! other), in `tandem status --json` and in the metrics (the exporter's counters and
//! `tandem_advert_dropped_total{reason}`); on keepalived, its SIGUSR2 counters
//! (`keepalived.stats`) moved as its source says they do. Where both count a case under the
//! same counter they agree; where keepalived does not count a case (or counts it elsewhere),
//! the case says so and docs/differences.md has a line naming this test. A second test
//! sends a stream of them, which silences keepalived's master but not tandem's. Needs root.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use serde_json::Value;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::Duration;
use tandem_tests::keepalived::{Keepalived, Stats};
use tandem_tests::netns::{Host, Lab, wait_until};
use tandem_tests::pair::has_vip;
use tandem_vrrp::wire::ipv4::Ipv4Repr;
use tandem_vrrp::wire::vrrp::{self as codec, EmitOptions, MULTICAST_V4, MULTICAST_V6, compute_checksum};
use tandem_vrrp::{Advert, Auth, Version};

const BIN: &str = env!("CARGO_BIN_EXE_tandem");
/// Copies of each case sent.
const N: u64 = 2;
const ATTACKER_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 66);
const ATTACKER_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x66);
const INSTANCES: [&str; 4] = ["V2", "V3", "V6", "UC"];

/// The directors' file (keepalived.conf, read by both daemons); `me` is 1 or 2.
fn config(me: u8) -> String {
    let (state, priority, peer) = if me == 1 { ("MASTER", 150, 2) } else { ("BACKUP", 100, 1) };
    let head = |name: &str, vrid: u8, version: u8| {
        format!(
            "vrrp_instance {name} {{\n    state {state}\n    interface eth0\n    virtual_router_id {vrid}\n    priority {priority}\n    advert_int 1\n    version {version}\n"
        )
    };
    let mut s = String::new();
    s += &head("V2", 51, 2);
    s += "    authentication {\n        auth_type PASS\n        auth_pass s3cret\n    }\n";
    s += "    virtual_ipaddress {\n        192.0.2.100/24\n    }\n}\n";
    s += &head("V3", 52, 3);
    s += "    virtual_ipaddress {\n        192.0.2.101/24\n    }\n}\n";
    s += &head("V6", 53, 3);
    s += "    virtual_ipaddress {\n        2001:db8::100/64\n    }\n}\n";
    s += &head("UC", 54, 3);
    // keepalived checks the unicast source only when asked; tandem always does.
    s += &format!(
        "    unicast_src_ip 192.0.2.{me}\n    check_unicast_src\n    unicast_peer {{\n        192.0.2.{peer}\n    }}\n"
    );
    s += "    virtual_ipaddress {\n        192.0.2.102/24\n    }\n}\n";
    s
}

/// How a case travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// To 224.0.0.18 with this IP TTL.
    V4(u8),
    /// To ff02::12 with this hop limit.
    V6(u8),
    /// Unicast to each director's address, TTL 255.
    Unicast,
}

/// One malformed advert and what each daemon makes of it.
struct Case {
    name: &'static str,
    path: Path,
    /// The VRRP message.
    bytes: Vec<u8>,
    /// The instance that counts it (none: nobody's).
    instance: Option<&'static str>,
    /// tandem's reason: a key of `counters.dropped`, or `address_list_mismatch`.
    tandem: Option<&'static str>,
    /// The keepalived counter that moves (`Section.Counter` of keepalived.stats), if any.
    keepalived: Option<&'static str>,
    /// Sent to keepalived too.
    to_keepalived: bool,
}

fn v4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

fn v6(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn advert(version: Version, vrid: u8, auth: Auth, addresses: Vec<IpAddr>) -> Advert {
    Advert { version, vrid, priority: 200, interval_cs: 100, auth, addresses }
}

/// The message as the attacker sends it from `src` to `dst`, with a correct checksum.
fn emit(a: &Advert, src: IpAddr, dst: IpAddr) -> Vec<u8> {
    codec::emit(a, src, dst, &EmitOptions::default()).unwrap()
}

/// The checksum of `bytes` set right again for `version` after an edit, so that only the
/// fault a case is about is wrong (for IPv6 the kernel would otherwise drop it for keepalived,
/// whose socket has the kernel check the checksum).
fn fix(mut bytes: Vec<u8>, version: Version, src: IpAddr, dst: IpAddr) -> Vec<u8> {
    if bytes.len() >= 8 {
        let sum = compute_checksum(&bytes, version, src, dst, false);
        bytes[6..8].copy_from_slice(&sum.to_be_bytes());
    }
    bytes
}

/// Edits `bytes` with `f`, then fixes the checksum.
fn edit(bytes: &[u8], version: Version, src: IpAddr, dst: IpAddr, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = bytes.to_vec();
    f(&mut b);
    fix(b, version, src, dst)
}

const LENGTH: &str = "Packet Errors.Length";
const TTL: &str = "Packet Errors.TTL";
const INVALID_TYPE: &str = "Packet Errors.Invalid Type";
const ADDRESS_LIST: &str = "Packet Errors.Address List";
const AUTH_INVALID: &str = "Authentication Errors.Invalid Type";
const AUTH_MISMATCH: &str = "Authentication Errors.Type Mismatch";
const AUTH_FAILURE: &str = "Authentication Errors.Failure";

/// Every case. keepalived's behaviour is from its 2.2.7 source (keepalived/vrrp/vrrp.c,
/// vrrp_check_packet, and vrrp_scheduler.c, vrrp_dispatcher_read).
#[allow(clippy::too_many_lines)]
fn cases() -> Vec<Case> {
    let pass = Auth::Simple(codec::simple_password(b"s3cret"));
    let (src4, grp4) = (IpAddr::V4(ATTACKER_V4), IpAddr::V4(MULTICAST_V4));
    let (src6, grp6) = (IpAddr::V6(ATTACKER_LL), IpAddr::V6(MULTICAST_V6));
    let mut out = Vec::new();
    let mut case = |name, path, bytes, instance, tandem, keepalived| {
        out.push(Case { name, path, bytes, instance, tandem, keepalived, to_keepalived: true });
    };

    // VRRPv2 over IPv4, PASS auth: every group 4 case.
    let (v, s, d) = (Version::V2, src4, grp4);
    let good = emit(&advert(v, 51, pass, vec![v4([192, 0, 2, 100])]), s, d);
    let i = Some("V2");
    case("v2 ttl 64", Path::V4(64), good.clone(), i, Some("ttl"), Some(TTL));
    // keepalived computes the expected length with VRRPv3's layout for any version but 2, so
    // a v2-shaped version-1 packet is "too long" to it: a length error, not a version error.
    let ver1 = edit(&good, v, s, d, |b| b[0] = 0x11);
    case("v2 version 1", Path::V4(255), ver1, i, Some("bad_version"), Some(LENGTH));
    // keepalived drops another version without a counter in its stats (vers_err is SNMP's).
    let v3 = emit(&advert(Version::V3, 51, Auth::None, vec![v4([192, 0, 2, 100])]), s, d);
    case("v2 gets v3", Path::V4(255), v3, i, Some("wrong_version"), None);
    // Shorter than the VRRP header: keepalived drops it before its VRID is looked up, uncounted.
    case("v2 too short", Path::V4(255), good[..6].to_vec(), i, Some("too_short"), None);
    let longer = edit(&good, v, s, d, |b| b.extend_from_slice(&[0; 4]));
    case("v2 longer than its count", Path::V4(255), longer, i, Some("bad_length"), Some(LENGTH));
    let count = edit(&good, v, s, d, |b| b[3] = 2);
    case("v2 count 2, one address", Path::V4(255), count, i, Some("bad_length"), Some(LENGTH));
    let cut = edit(&good, v, s, d, |b| b.truncate(14));
    case("v2 truncated", Path::V4(255), cut, i, Some("bad_length"), Some(LENGTH));
    // keepalived drops a bad checksum without a counter in its stats (chk_err is SNMP's).
    let mut sum = good.clone();
    sum[7] ^= 0x5a;
    case("v2 checksum", Path::V4(255), sum, i, Some("bad_checksum"), None);
    // Another virtual router's: ignored by both, counted by neither (keepalived: "Unknown
    // VRID", logged only with log_unknown_vrids).
    let vrid = emit(&advert(v, 99, pass, vec![v4([192, 0, 2, 100])]), s, d);
    case("v2 vrid 99", Path::V4(255), vrid, None, None, None);
    let none = emit(&advert(v, 51, Auth::None, vec![v4([192, 0, 2, 100])]), s, d);
    case("v2 auth type 0", Path::V4(255), none, i, Some("auth_type_mismatch"), Some(AUTH_MISMATCH));
    let three = edit(&good, v, s, d, |b| b[4] = 3);
    case("v2 auth type 3", Path::V4(255), three, i, Some("bad_auth_type"), Some(AUTH_INVALID));
    let wrong = Auth::Simple(codec::simple_password(b"wrong"));
    let password = emit(&advert(v, 51, wrong, vec![v4([192, 0, 2, 100])]), s, d);
    case("v2 wrong password", Path::V4(255), password, i, Some("auth"), Some(AUTH_FAILURE));
    // keepalived drops it but counts nothing: its "Advertisement Interval" counter
    // (advert_interval_err) is never incremented in 2.2.7.
    let slow = emit(&Advert { interval_cs: 300, ..advert(v, 51, pass, vec![v4([192, 0, 2, 100])]) }, s, d);
    case("v2 interval 3", Path::V4(255), slow, i, Some("interval_mismatch"), None);
    let kind = edit(&good, v, s, d, |b| b[0] = 0x22);
    case("v2 type 2", Path::V4(255), kind, i, Some("bad_type"), Some(INVALID_TYPE));
    let other = emit(&advert(v, 51, pass, vec![v4([192, 0, 2, 200])]), s, d);
    case("v2 another address", Path::V4(255), other, i, Some("address_list_mismatch"), Some(ADDRESS_LIST));
    let two = emit(&advert(v, 51, pass, vec![v4([192, 0, 2, 100]), v4([192, 0, 2, 200])]), s, d);
    case("v2 two addresses", Path::V4(255), two, i, Some("address_list_mismatch"), Some(ADDRESS_LIST));

    // VRRPv3 over IPv4 (no auth, no interval check: RFC 5798 7.1).
    let v = Version::V3;
    let good = emit(&advert(v, 52, Auth::None, vec![v4([192, 0, 2, 101])]), s, d);
    let i = Some("V3");
    case("v3 ttl 1", Path::V4(1), good.clone(), i, Some("ttl"), Some(TTL));
    let ver1 = edit(&good, v, s, d, |b| b[0] = 0x11);
    case("v3 version 1", Path::V4(255), ver1, i, Some("bad_version"), None);
    let v2 = emit(&advert(Version::V2, 52, Auth::None, vec![v4([192, 0, 2, 101])]), s, d);
    case("v3 gets v2", Path::V4(255), v2, i, Some("wrong_version"), None);
    case("v3 too short", Path::V4(255), good[..6].to_vec(), i, Some("too_short"), None);
    let longer = edit(&good, v, s, d, |b| b.extend_from_slice(&[0; 4]));
    case("v3 longer than its count", Path::V4(255), longer, i, Some("bad_length"), Some(LENGTH));
    let count = edit(&good, v, s, d, |b| b[3] = 2);
    case("v3 count 2, one address", Path::V4(255), count, i, Some("bad_length"), Some(LENGTH));
    let cut = edit(&good, v, s, d, |b| b.truncate(10));
    case("v3 truncated", Path::V4(255), cut, i, Some("bad_length"), Some(LENGTH));
    let mut sum = good.clone();
    sum[6] ^= 0x01;
    case("v3 checksum", Path::V4(255), sum, i, Some("bad_checksum"), None);
    let kind = edit(&good, v, s, d, |b| b[0] = 0x32);
    case("v3 type 2", Path::V4(255), kind, i, Some("bad_type"), Some(INVALID_TYPE));
    let other = emit(&advert(v, 52, Auth::None, vec![v4([192, 0, 2, 201])]), s, d);
    case("v3 another address", Path::V4(255), other, i, Some("address_list_mismatch"), Some(ADDRESS_LIST));

    // VRRPv3 over IPv6.
    let (s, d) = (src6, grp6);
    let good = emit(&advert(v, 53, Auth::None, vec![v6("2001:db8::100")]), s, d);
    let i = Some("V6");
    case("v6 hop limit 64", Path::V6(64), good.clone(), i, Some("ttl"), Some(TTL));
    let ver1 = edit(&good, v, s, d, |b| b[0] = 0x11);
    case("v6 version 1", Path::V6(255), ver1, i, Some("bad_version"), None);
    // VRRPv2 does not exist over IPv6 (RFC 3768 is IPv4 only); the same layout, version 2.
    let ver2 = edit(&good, v, s, d, |b| b[0] = 0x21);
    case("v6 version 2", Path::V6(255), ver2, i, Some("version_not_allowed"), None);
    // Shorter than the checksum's place: keepalived's kernel drops it (IPV6_CHECKSUM).
    case("v6 too short", Path::V6(255), good[..6].to_vec(), i, Some("too_short"), None);
    let longer = edit(&good, v, s, d, |b| b.extend_from_slice(&[0; 4]));
    case("v6 longer than its count", Path::V6(255), longer, i, Some("bad_length"), Some(LENGTH));
    let count = edit(&good, v, s, d, |b| b[3] = 2);
    case("v6 count 2, one address", Path::V6(255), count, i, Some("bad_length"), Some(LENGTH));
    let cut = edit(&good, v, s, d, |b| b.truncate(20));
    case("v6 truncated", Path::V6(255), cut, i, Some("bad_length"), Some(LENGTH));
    // keepalived has the kernel check IPv6 checksums (IPV6_CHECKSUM): dropped unseen.
    let mut sum = good.clone();
    sum[7] ^= 0x10;
    case("v6 checksum", Path::V6(255), sum, i, Some("bad_checksum"), None);
    let kind = edit(&good, v, s, d, |b| b[0] = 0x3f);
    case("v6 type 15", Path::V6(255), kind, i, Some("bad_type"), Some(INVALID_TYPE));
    let other = emit(&advert(v, 53, Auth::None, vec![v6("2001:db8::200")]), s, d);
    case("v6 another address", Path::V6(255), other, i, Some("address_list_mismatch"), Some(ADDRESS_LIST));

    // Unicast from an address that is not a unicast_peer: tandem drops it (always);
    // keepalived drops it with check_unicast_src but counts it nowhere. The message is built
    // for each director (the checksum covers the destination); see `packets`.
    case("unicast from a stranger", Path::Unicast, Vec::new(), Some("UC"), Some("not_a_peer"), None);

    // A VRRPv3 interval of 0 (RFC 5798 5.2.7: 1 to 4095 centiseconds): tandem drops it.
    // Not sent to keepalived: 2.2.7 takes it as a valid advert (vrrp.c,
    // update_master_adver_int; tried once: "advertisement interval updated from 1000ms to
    // 0ms by master", its master yielded to it and took over again at once, its master-down
    // timer being 0), so the transition checks below would not hold for it.
    let zero = emit(&advert(Version::V3, 52, Auth::None, vec![v4([192, 0, 2, 101])]), src4, grp4);
    let zero = edit(&zero, Version::V3, src4, grp4, |b| {
        b[4] = 0;
        b[5] = 0;
    });
    out.push(Case {
        name: "v3 interval 0",
        path: Path::V4(255),
        bytes: zero,
        instance: Some("V3"),
        tandem: Some("zero_interval"),
        keepalived: None,
        to_keepalived: false,
    });
    out
}

/// A packet on the wire: where to, its TTL / hop limit, the VRRP message.
struct Packet {
    dst: IpAddr,
    ttl: u8,
    bytes: Vec<u8>,
}

/// The packets of the cases for one segment (`keepalived`: the keepalived segment's).
fn packets(cases: &[Case], keepalived: bool) -> Vec<Packet> {
    let mut out = Vec::new();
    for _ in 0..N {
        for c in cases.iter().filter(|c| c.to_keepalived || !keepalived) {
            match c.path {
                Path::V4(ttl) => out.push(Packet { dst: IpAddr::V4(MULTICAST_V4), ttl, bytes: c.bytes.clone() }),
                Path::V6(ttl) => out.push(Packet { dst: IpAddr::V6(MULTICAST_V6), ttl, bytes: c.bytes.clone() }),
                Path::Unicast => {
                    for d in [1, 2] {
                        let dst = v4([192, 0, 2, d]);
                        let a = advert(Version::V3, 54, Auth::None, vec![v4([192, 0, 2, 102])]);
                        out.push(Packet { dst, ttl: 255, bytes: emit(&a, IpAddr::V4(ATTACKER_V4), dst) });
                    }
                }
            }
        }
    }
    out
}

/// Sends `packets` from inside `attacker`: IPv4 with a header of its own (IP_HDRINCL, so the
/// TTL is what the case says), IPv6 from the attacker's link-local address.
fn send(attacker: &Host, packets: Vec<Packet>, gap: Duration) {
    Lab::within(attacker, move || {
        let ifindex = nix::net::if_::if_nametoindex("eth0").unwrap();
        let s4 = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112))).unwrap();
        s4.set_header_included_v4(true).unwrap();
        s4.bind_device(Some(b"eth0")).unwrap();
        s4.set_multicast_if_v4(&ATTACKER_V4).unwrap();
        let s6 = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(112))).unwrap();
        s6.bind_device(Some(b"eth0")).unwrap();
        s6.bind(&SockAddr::from(SocketAddrV6::new(ATTACKER_LL, 0, 0, ifindex))).unwrap();
        s6.set_multicast_if_v6(ifindex).unwrap();
        s6.set_multicast_loop_v6(false).unwrap();
        for (n, p) in packets.into_iter().enumerate() {
            match p.dst {
                IpAddr::V4(dst) => {
                    let len = u16::try_from(p.bytes.len()).unwrap();
                    let ip =
                        Ipv4Repr { ttl: p.ttl, ..Ipv4Repr::vrrp(ATTACKER_V4, dst, u16::try_from(n + 1).unwrap(), len) };
                    let mut buf = vec![0u8; 20];
                    ip.emit(&mut buf).unwrap();
                    buf.extend_from_slice(&p.bytes);
                    s4.send_to(&buf, &SockAddr::from(SocketAddr::new(p.dst, 0))).unwrap();
                }
                IpAddr::V6(dst) => {
                    s6.set_multicast_hops_v6(u32::from(p.ttl)).unwrap();
                    s6.send_to(&p.bytes, &SockAddr::from(SocketAddrV6::new(dst, 0, 0, ifindex))).unwrap();
                }
            }
            std::thread::sleep(gap);
        }
    })
    .unwrap();
}

/// A running tandem with its control socket and metrics port.
struct Tandem {
    host: Host,
    pid: u32,
    socket: std::path::PathBuf,
    log: std::path::PathBuf,
}

impl Tandem {
    fn start(lab: &mut Lab, host: &Host, name: &str, conf: &str) -> Tandem {
        let dir = lab.dir().to_path_buf();
        let path = dir.join(format!("{name}.conf"));
        std::fs::write(&path, conf).unwrap();
        let socket = dir.join(format!("{name}.sock"));
        let (p, s) = (path.to_string_lossy().into_owned(), socket.to_string_lossy().into_owned());
        let args = ["run", "-v", "-f", &p, "--control-socket", &s, "--metrics-listen", "127.0.0.1:9650"];
        let pid = lab.spawn(host, BIN, &args, &format!("{name}.log")).unwrap();
        Tandem { host: host.clone(), pid, socket, log: dir.join(format!("{name}.log")) }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `tandem status --json`'s instances, by name.
    fn status(&self) -> Option<BTreeMap<String, Value>> {
        let out = std::process::Command::new(BIN)
            .args(["status", "--json", "--control-socket"])
            .arg(&self.socket)
            .output()
            .ok()?;
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        let list = v["vrrp_instances"].as_array()?;
        Some(list.iter().map(|i| (i["name"].as_str().unwrap_or_default().to_string(), i.clone())).collect())
    }

    /// The metrics page's samples: (metric, iname, reason or "") -> value.
    fn metrics(&self, lab: &Lab) -> BTreeMap<(String, String, String), u64> {
        let out = lab.run(&self.host, "curl", &["-s", "--max-time", "5", "http://127.0.0.1:9650/metrics"]).unwrap();
        let mut m = BTreeMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.starts_with('#')) {
            let Some((key, value)) = line.rsplit_once(' ') else { continue };
            let Ok(value) = value.parse::<f64>() else { continue };
            let (name, labels) = key.split_once('{').unwrap_or((key, ""));
            let label = |k: &str| {
                labels
                    .split(',')
                    .find_map(|kv| kv.trim_end_matches('}').strip_prefix(&format!("{k}=\"")))
                    .map(|v| v.trim_end_matches('"').to_string())
                    .unwrap_or_default()
            };
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            m.insert((name.to_string(), label("iname"), label("reason")), value as u64);
        }
        m
    }
}

/// The counters of one instance that the cases move: each `dropped` reason, and
/// `address_list_mismatch`.
fn drops(i: &Value) -> BTreeMap<String, u64> {
    let c = &i["counters"];
    let mut m: BTreeMap<String, u64> = c["dropped"]
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0))).collect())
        .unwrap_or_default();
    m.insert("address_list_mismatch".into(), c["address_list_mismatch"].as_u64().unwrap_or(0));
    m
}

fn delta(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after.iter().map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0))).filter(|(_, v)| *v > 0).collect()
}

/// The exporter's counter (`tandem_*_total`, keepalived's name) a tandem reason moves.
fn exporter(reason: &str) -> Option<&'static str> {
    Some(match reason {
        "ttl" => "ip_ttl_err",
        "too_short" | "bad_length" => "packet_len_err",
        "bad_type" => "invalid_type_rcvd",
        "bad_auth_type" => "invalid_authtype",
        "auth_type_mismatch" => "authtype_mismatch",
        "auth" => "auth_failure",
        "interval_mismatch" => "advert_interval_err",
        "address_list_mismatch" => "addr_list_err",
        _ => return None,
    })
}

/// The exporter's name of a keepalived.stats counter.
fn exporter_of_keepalived(counter: &str) -> &'static str {
    match counter {
        LENGTH => "packet_len_err",
        TTL => "ip_ttl_err",
        INVALID_TYPE => "invalid_type_rcvd",
        "Packet Errors.Advertisement Interval" => "advert_interval_err",
        ADDRESS_LIST => "addr_list_err",
        AUTH_INVALID => "invalid_authtype",
        AUTH_MISMATCH => "authtype_mismatch",
        AUTH_FAILURE => "auth_failure",
        other => panic!("no exporter name for {other}"),
    }
}

const EXPORTER: [&str; 8] = [
    "ip_ttl_err",
    "packet_len_err",
    "invalid_type_rcvd",
    "invalid_authtype",
    "authtype_mismatch",
    "auth_failure",
    "advert_interval_err",
    "addr_list_err",
];

fn alive(lab: &mut Lab, pid: u32) -> bool {
    lab.exit_status(pid).ok().flatten().is_none() && Lab::process_state(pid).is_some_and(|s| s != 'Z')
}

/// The addresses d1 holds as master of every instance.
const VIPS: [&str; 4] = ["192.0.2.100", "192.0.2.101", "192.0.2.102", "2001:db8::100"];

/// Whether `m` holds every address and `b` none.
fn settled(lab: &Lab, m: &Host, b: &Host) -> bool {
    VIPS.iter().all(|v| has_vip(lab, m, v) && !has_vip(lab, b, v))
}

/// The lab of a test: a tandem pair (t1 master, t2 backup) with attacker `ta` on one segment,
/// a keepalived pair (k1, k2) with attacker `ka` on another, every address alike.
struct Rig {
    lab: Lab,
    t1h: Host,
    t2h: Host,
    ta: Host,
    k1h: Host,
    k2h: Host,
    ka: Host,
    t1: Tandem,
    t2: Tandem,
    k1: Keepalived,
    k2: Keepalived,
}

/// Builds the [`Rig`] and waits until both pairs have settled.
fn setup(tag: &str) -> Rig {
    let mut lab = Lab::new(tag).unwrap();
    let (seg_t, seg_k) = (lab.segment("t").unwrap(), lab.segment("k").unwrap());
    let hosts: Vec<Host> = ["t1", "t2", "ta", "k1", "k2", "ka"].iter().map(|n| lab.host(n).unwrap()).collect();
    let [t1h, t2h, ta, k1h, k2h, ka] = <[Host; 6]>::try_from(hosts).unwrap();
    for (h, seg, last) in [
        (&t1h, &seg_t, 1),
        (&t2h, &seg_t, 2),
        (&ta, &seg_t, 66),
        (&k1h, &seg_k, 1),
        (&k2h, &seg_k, 2),
        (&ka, &seg_k, 66),
    ] {
        let (a4, a6) = (format!("192.0.2.{last}/24"), format!("2001:db8::{last}/64"));
        lab.connect(h, seg, "eth0", &[&a4, &a6]).unwrap();
    }
    for h in [&ta, &ka] {
        tandem_tests::netns::ip(&["-n", &h.ns, "addr", "add", "fe80::66/64", "dev", "eth0", "nodad"]).unwrap();
    }
    let t1 = Tandem::start(&mut lab, &t1h, "t1", &config(1));
    let t2 = Tandem::start(&mut lab, &t2h, "t2", &config(2));
    let k1 = Keepalived::start_with_tmpdir(&mut lab, &k1h, "k1", &config(1)).unwrap();
    let k2 = Keepalived::start_with_tmpdir(&mut lab, &k2h, "k2", &config(2)).unwrap();

    // Both pairs settle: d1 holds the four addresses, d2 none, and tandem's backup has heard
    // each master.
    let heard = |t: &Tandem| {
        t.status().is_some_and(|s| {
            s.len() == 4
                && s.values().all(|i| i["state"] == "BACKUP" && i["counters"]["adverts_received"].as_u64() > Some(0))
        })
    };
    assert!(
        wait_until(Duration::from_secs(20), || settled(&lab, &t1h, &t2h) && heard(&t2) && settled(&lab, &k1h, &k2h)),
        "the pairs should settle:\n{}\n{}\n{}\n{}",
        t1.log(),
        t2.log(),
        k1.log(),
        k2.log()
    );

    Rig { lab, t1h, t2h, ta, k1h, k2h, ka, t1, t2, k1, k2 }
}

#[test]
fn malformed_adverts_are_dropped_and_counted_by_reason_without_a_transition() {
    let cases = cases();
    let Rig { mut lab, t1h, t2h, ta, k1h, k2h, ka, t1, t2, k1, k2 } = setup("malf");

    let tandems = [(&t1, "MASTER"), (&t2, "BACKUP")];
    let before: Vec<BTreeMap<String, Value>> = tandems.iter().map(|(t, _)| t.status().unwrap()).collect();
    let metrics_before: Vec<_> = tandems.iter().map(|(t, _)| t.metrics(&lab)).collect();
    let kads = [&k1, &k2];
    let kad_before: Vec<Stats> = kads.iter().map(|k| k.stats(&lab, 4).unwrap()).collect();

    // Not a flood: each daemon reads them as they come.
    send(&ta, packets(&cases, false), Duration::from_millis(3));
    send(&ka, packets(&cases, true), Duration::from_millis(3));

    // What each instance should count: per tandem reason, and per keepalived counter.
    let mut want: BTreeMap<&str, BTreeMap<String, u64>> = INSTANCES.iter().map(|i| (*i, BTreeMap::new())).collect();
    let mut want_kad: BTreeMap<&str, BTreeMap<String, u64>> = INSTANCES.iter().map(|i| (*i, BTreeMap::new())).collect();
    for c in &cases {
        let Some(i) = c.instance else { continue };
        if let Some(r) = c.tandem {
            *want.get_mut(i).unwrap().entry(r.to_string()).or_default() += N;
        }
        if let (Some(k), true) = (c.keepalived, c.to_keepalived) {
            *want_kad.get_mut(i).unwrap().entry(k.to_string()).or_default() += N;
        }
    }

    // tandem: each instance's drops moved by exactly what was sent to it, on both nodes.
    let now = |t: &Tandem, b: &BTreeMap<String, Value>| -> Option<BTreeMap<String, BTreeMap<String, u64>>> {
        let s = t.status()?;
        Some(INSTANCES.iter().map(|i| (i.to_string(), delta(&drops(&s[*i]), &drops(&b[*i])))).collect())
    };
    let want_t: BTreeMap<String, BTreeMap<String, u64>> =
        want.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    for (n, (t, _)) in tandems.iter().enumerate() {
        wait_until(Duration::from_secs(10), || now(t, &before[n]).as_ref() == Some(&want_t));
    }
    // A moment more: a count that would go past what was sent shows too.
    std::thread::sleep(Duration::from_millis(500));
    for (n, (t, role)) in tandems.iter().enumerate() {
        let got = now(t, &before[n]).unwrap();
        eprintln!("tandem {role}: {got:?}");
        assert_eq!(got, want_t, "tandem {role}: drops by instance and reason\n{}", t.log());
    }

    // ... and the metrics say the same: the exporter's counters and advert_dropped{reason}.
    for (n, (t, role)) in tandems.iter().enumerate() {
        let m = t.metrics(&lab);
        let d = |name: &str, i: &str, reason: &str| {
            let k = (format!("tandem_{name}_total"), i.to_string(), reason.to_string());
            m.get(&k).copied().unwrap_or(0) - metrics_before[n].get(&k).copied().unwrap_or(0)
        };
        for i in INSTANCES {
            for name in EXPORTER {
                let expected: u64 = want[i].iter().filter(|(r, _)| exporter(r) == Some(name)).map(|(_, v)| v).sum();
                assert_eq!(d(name, i, ""), expected, "tandem {role} {i}: tandem_{name}_total");
            }
            for (reason, v) in want[i].iter().filter(|(r, _)| *r != "address_list_mismatch") {
                assert_eq!(d("advert_dropped", i, reason), *v, "tandem {role} {i}: advert_dropped {reason}");
            }
        }
    }

    // keepalived: its counters moved as its source says.
    let kad_now = |n: usize| -> BTreeMap<String, BTreeMap<String, u64>> {
        let s = kads[n].stats(&lab, 4).unwrap();
        s.iter().map(|(i, c)| (i.clone(), delta(c, &kad_before[n][i]))).collect()
    };
    let error_counters = |m: &BTreeMap<String, u64>| -> BTreeMap<String, u64> {
        m.iter().filter(|(k, _)| k.contains("Errors.")).map(|(k, v)| (k.clone(), *v)).collect()
    };
    let want_k: BTreeMap<String, BTreeMap<String, u64>> =
        want_kad.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    for (n, role) in ["MASTER", "BACKUP"].iter().enumerate() {
        let mut got = BTreeMap::new();
        wait_until(Duration::from_secs(8), || {
            got = kad_now(n).iter().map(|(i, c)| (i.clone(), error_counters(c))).collect();
            got == want_k
        });
        eprintln!("keepalived {role}: {got:?}");
        assert_eq!(got, want_k, "keepalived {role}: error counters by instance\n{}", kads[n].log());
    }

    // Where both count a case, under the same counter, they agree; every case where they do
    // not is listed (differences.md names this test).
    for c in cases.iter().filter(|c| c.to_keepalived) {
        // tandem's counter: the exporter's name, else its own reason (no exporter counter).
        let t = c.tandem.map(|r| exporter(r).unwrap_or(r));
        let k = c.keepalived.map(exporter_of_keepalived);
        let known = [
            "v2 version 1",
            "v2 gets v3",
            "v2 too short",
            "v2 checksum",
            "v2 interval 3",
            "v3 version 1",
            "v3 gets v2",
            "v3 too short",
            "v3 checksum",
            "v6 version 1",
            "v6 version 2",
            "v6 too short",
            "v6 checksum",
            "unicast from a stranger",
        ];
        assert_eq!(t != k, known.contains(&c.name), "{}: tandem {t:?}, keepalived {k:?}", c.name);
    }

    // No transition, on either node of either pair; everyone still runs.
    for (n, (t, role)) in tandems.iter().enumerate() {
        let s = t.status().unwrap();
        for i in INSTANCES {
            assert_eq!(s[i]["state"], *role, "tandem {i}\n{}", t.log());
            assert_eq!(s[i]["last_transition"], before[n][i]["last_transition"], "tandem {role} {i}");
            for k in ["became_master", "released_master"] {
                assert_eq!(s[i]["counters"][k], before[n][i]["counters"][k], "tandem {role} {i} {k}");
            }
        }
        assert!(!t.log().contains("panicked"), "{}", t.log());
    }
    for (n, k) in kads.iter().enumerate() {
        let s = k.stats(&lab, 4).unwrap();
        for i in INSTANCES {
            for c in ["Became master", "Released master"] {
                assert_eq!(s[i][c], kad_before[n][i][c], "keepalived {n} {i} {c}\n{}", k.log());
            }
        }
    }
    assert!(settled(&lab, &t1h, &t2h), "tandem's addresses stay with its master");
    assert!(settled(&lab, &k1h, &k2h), "keepalived's addresses stay with its master");
    for pid in [t1.pid, t2.pid, k1.pid, k2.pid] {
        assert!(alive(&mut lab, pid), "process {pid} ended\n{}\n{}", t1.log(), t2.log());
    }
}

/// A stream of malformed adverts for a virtual router (bad checksums, five a second) does
/// not silence its master: tandem judges a packet before it touches the state machine, and
/// nothing changes but the count. keepalived 2.2.7 re-arms a master's advert timer on every
/// packet that names its VRID, valid or not (vrrp_scheduler.c, vrrp_dispatcher_read ends with
/// vrrp_init_instance_sands): its master sends no advert while the stream lasts, its backup
/// takes over after the master-down interval, and the master, hearing it, takes the addresses
/// back: a flap every few seconds (differences.md names this test).
#[test]
fn a_stream_of_malformed_adverts_does_not_silence_the_master() {
    let Rig { lab, t1h, t2h, ta, k1h, k2h, ka, t1, t2, k1, k2 } = setup("malfs");
    let junk = cases().into_iter().find(|c| c.name == "v2 checksum").unwrap().bytes;
    let stream = |attacker: &Host, secs: u64| {
        let (attacker, junk) = (attacker.clone(), junk.clone());
        std::thread::spawn(move || {
            let packets = (0..secs * 5)
                .map(|_| Packet { dst: IpAddr::V4(MULTICAST_V4), ttl: 255, bytes: junk.clone() })
                .collect();
            send(&attacker, packets, Duration::from_millis(200));
        })
    };
    let status = |t: &Tandem| t.status().unwrap()["V2"].clone();
    let kad = |k: &Keepalived| k.stats(&lab, 4).unwrap()["V2"].clone();
    let (t1_before, t2_before, k1_before, k2_before) = (status(&t1), status(&t2), kad(&k1), kad(&k2));

    // Seven seconds of it: more than keepalived's master-down interval (3.6 s).
    let (a, b) = (stream(&ta, 7), stream(&ka, 7));
    a.join().unwrap();
    b.join().unwrap();
    let checksum = |v: &Value| v["counters"]["dropped"]["bad_checksum"].as_u64().unwrap_or(0);
    let counted = || checksum(&status(&t2)) - checksum(&t2_before);
    wait_until(Duration::from_secs(5), || counted() >= 35);
    let (t1_after, t2_after, k1_after, k2_after) = (status(&t1), status(&t2), kad(&k1), kad(&k2));
    let count = |v: &Value, k: &str| v["counters"][k].as_u64().unwrap();
    let t_sent = count(&t1_after, "adverts_sent") - count(&t1_before, "adverts_sent");
    let k_sent = k1_after["Advertisements.Sent"] - k1_before["Advertisements.Sent"];
    let k_flaps = k2_after["Became master"] - k2_before["Became master"];
    eprintln!(
        "during the stream: tandem's master sent {t_sent} adverts, keepalived's {k_sent}; keepalived's backup became master {k_flaps} times"
    );

    // tandem: the master advertised all along, the backup counted the stream, no transition.
    assert!(t_sent >= 6, "tandem's master kept advertising: {t_sent}\n{}", t1.log());
    assert_eq!(checksum(&t2_after) - checksum(&t2_before), 35, "tandem's backup counted every one");
    for (before, after) in [(&t1_before, &t1_after), (&t2_before, &t2_after)] {
        assert_eq!(after["state"], before["state"]);
        assert_eq!(after["last_transition"], before["last_transition"], "no transition");
    }
    assert!(settled(&lab, &t1h, &t2h), "tandem's addresses stayed with its master\n{}", t2.log());

    // keepalived: its master fell silent, and its backup took over at least once.
    // (Seven at one a second; those it sends answer its backup's, or follow the stream's end.)
    assert!(k_sent <= 3, "keepalived 2.2.7's master is silenced by the stream: {k_sent} adverts\n{}", k1.log());
    assert!(k_flaps >= 1, "keepalived's backup took over meanwhile\n{}", k2.log());
    assert!(
        wait_until(Duration::from_secs(6), || settled(&lab, &k1h, &k2h)),
        "keepalived's master has its addresses back once the stream stops\n{}",
        k2.log()
    );
}
