//! A director pair on one segment with a client: the rig of the VRRP namespace tests, and
//! the keepalived.conf of one director's instance.

use crate::netns::{Host, Lab, Segment, wait_until};
use std::io;
use std::time::Duration;

/// The pair's IPv4 VIP.
pub const VIP: &str = "192.0.2.100";

/// Two directors (d1 192.0.2.1, d2 192.0.2.2) and a client (192.0.2.50) on segment `lan`,
/// with IPv6 addresses 2001:db8::1, ::2 and ::50.
pub struct Rig {
    /// The lab (kills and removes everything when dropped).
    pub lab: Lab,
    /// The segment.
    pub seg: Segment,
    /// Director 1.
    pub d1: Host,
    /// Director 2.
    pub d2: Host,
    /// The client.
    pub client: Host,
}

/// Builds a [`Rig`]; `tag` names its namespaces.
pub fn rig(tag: &str) -> io::Result<Rig> {
    let mut lab = Lab::new(tag)?;
    let seg = lab.segment("lan")?;
    let d1 = lab.host("d1")?;
    let d2 = lab.host("d2")?;
    let client = lab.host("client")?;
    lab.connect(&d1, &seg, "eth0", &["192.0.2.1/24", "2001:db8::1/64"])?;
    lab.connect(&d2, &seg, "eth0", &["192.0.2.2/24", "2001:db8::2/64"])?;
    lab.connect(&client, &seg, "eth0", &["192.0.2.50/24", "2001:db8::50/64"])?;
    Ok(Rig { lab, seg, d1, d2, client })
}

/// Options of one director's instance.
#[derive(Debug, Clone, Copy)]
pub struct Opts {
    /// Priority.
    pub priority: u8,
    /// VRRPv3 (else v2).
    pub v3: bool,
    /// IPv6 (VIP 2001:db8::100).
    pub v6: bool,
    /// Unicast to the peer instead of multicast.
    pub unicast: bool,
    /// PASS authentication.
    pub auth: bool,
}

impl Opts {
    /// IPv4, VRRPv2, multicast, no authentication, at `priority`.
    pub fn v2(priority: u8) -> Opts {
        Opts { priority, v3: false, v6: false, unicast: false, auth: false }
    }
}

/// keepalived.conf of instance VI_1 (VRID 51, advert_int 1) on director `me` ("1" or "2",
/// the last byte of its address), whose peer is `peer`.
pub fn config(me: &str, peer: &str, o: Opts) -> String {
    let (vip, me_addr, peer_addr) = if o.v6 {
        ("2001:db8::100/64", format!("2001:db8::{me}"), format!("2001:db8::{peer}"))
    } else {
        ("192.0.2.100/24", format!("192.0.2.{me}"), format!("192.0.2.{peer}"))
    };
    let mut s = format!(
        "vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    priority {}\n    advert_int 1\n    version {}\n",
        o.priority,
        if o.v3 { 3 } else { 2 }
    );
    if o.unicast {
        s += &format!("    unicast_src_ip {me_addr}\n    unicast_peer {{\n        {peer_addr}\n    }}\n");
    }
    if o.auth {
        s += "    authentication {\n        auth_type PASS\n        auth_pass s3cret\n    }\n";
    }
    s += &format!("    virtual_ipaddress {{\n        {vip}\n    }}\n}}\n");
    s
}

/// A running `tandem run -v`, killed with the lab.
pub struct Tandem {
    /// Its process id.
    pub pid: u32,
    /// Its log (stdout and stderr).
    pub log: std::path::PathBuf,
    /// Its own control socket, when started with one ([`Tandem::start_controlled`]).
    pub socket: Option<std::path::PathBuf>,
}

impl Tandem {
    /// Writes `conf` to the lab's folder and runs `bin` (the tandem binary) on it in `host`.
    pub fn start(lab: &mut Lab, bin: &str, host: &Host, name: &str, conf: &str) -> io::Result<Tandem> {
        Tandem::start_with_env(lab, bin, host, name, conf, &[])
    }

    /// As [`Tandem::start`], with `VAR=value` settings in tandem's environment.
    pub fn start_with_env(
        lab: &mut Lab,
        bin: &str,
        host: &Host,
        name: &str,
        conf: &str,
        env: &[&str],
    ) -> io::Result<Tandem> {
        let path = lab.dir().join(format!("{name}.conf"));
        std::fs::write(&path, conf)?;
        let log = format!("{name}.log");
        let path = path.to_string_lossy().into_owned();
        let mut args: Vec<&str> = env.to_vec();
        args.extend([bin, "run", "-v", "-f", &path]);
        let pid = lab.spawn(host, "env", &args, &log)?;
        Ok(Tandem { pid, log: lab.dir().join(log), socket: None })
    }

    /// As [`Tandem::start`], with a control socket of its own in the lab's folder
    /// (`NAME.sock`): several tandems in one test each answer `tandem status`, `reload` and
    /// `drill` (the default socket is one per host).
    pub fn start_controlled(lab: &mut Lab, bin: &str, host: &Host, name: &str, conf: &str) -> io::Result<Tandem> {
        let dir = lab.dir().to_path_buf();
        let path = dir.join(format!("{name}.conf"));
        std::fs::write(&path, conf)?;
        let socket = dir.join(format!("{name}.sock"));
        let log = format!("{name}.log");
        let (p, s) = (path.to_string_lossy().into_owned(), socket.to_string_lossy().into_owned());
        let pid = lab.spawn(host, bin, &["run", "-v", "-f", &p, "--control-socket", &s], &log)?;
        Ok(Tandem { pid, log: dir.join(log), socket: Some(socket) })
    }

    /// Runs `bin ARGS --control-socket SOCKET` (a client command: status, reload, drill)
    /// against this tandem's own socket, or the default one.
    pub fn ask(&self, bin: &str, args: &[&str]) -> io::Result<std::process::Output> {
        let mut c = std::process::Command::new(bin);
        c.args(args);
        if let Some(s) = &self.socket {
            c.arg("--control-socket").arg(s);
        }
        c.output()
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Whether `h` has `vip` on an interface (false when it cannot be told).
pub fn has_vip(lab: &Lab, h: &Host, vip: &str) -> bool {
    lab.has_address(h, vip).unwrap_or(false)
}

/// Waits up to `secs` until exactly `master` holds `vip` (and `other` not).
pub fn settles(r: &Rig, master: &Host, other: &Host, vip: &str, secs: u64) -> bool {
    wait_until(Duration::from_secs(secs), || has_vip(&r.lab, master, vip) && !has_vip(&r.lab, other, vip))
}

/// Waits up to 3 s until the client's neighbour entry for `vip` is `host`'s MAC.
pub fn client_sees(r: &Rig, vip: &str, host: &Host) -> bool {
    let Ok(mac) = r.lab.mac(host, "eth0") else { return false };
    wait_until(Duration::from_secs(3), || {
        r.lab.neighbour(&r.client, vip).ok().flatten().as_deref() == Some(mac.as_str())
    })
}

/// One VRRP advert as the client's capture saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Advert {
    /// Capture time (tcpdump's, seconds since the epoch).
    pub at: f64,
    /// The sender's address.
    pub src: String,
    /// Its priority.
    pub prio: u32,
}

/// The capture file [`capture_adverts`] writes, in the lab's folder.
const CAPTURE: &str = "vrrp.cap";

/// Starts capturing the VRRP adverts the client's segment carries (tcpdump on the client),
/// so that takeovers are timed on the wire, by one clock, rather than by polling from the
/// host; read them with [`adverts`].
pub fn capture_adverts(r: &mut Rig) -> io::Result<()> {
    let client = r.client.clone();
    r.lab.spawn(&client, "tcpdump", &["-i", "eth0", "-n", "-tt", "-l", "--immediate-mode", "ip proto 112"], CAPTURE)?;
    // tcpdump says nothing when it is ready: give it the moment it takes to open.
    std::thread::sleep(Duration::from_millis(500));
    Ok(())
}

/// The adverts captured so far (`tcpdump -tt -n`'s lines).
pub fn adverts(lab: &Lab) -> Vec<Advert> {
    let text = std::fs::read_to_string(lab.dir().join(CAPTURE)).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let at = w.next()?.parse().ok()?;
            let src = w.nth(1)?.to_string();
            let prio = l.split("prio ").nth(1)?.split(',').next()?.trim().parse().ok()?;
            Some(Advert { at, src, prio })
        })
        .collect()
}

/// A graceful handover on the wire: seconds from `from`'s last priority-0 advert to `to`'s
/// first advert after it; `None` when either is missing.
pub fn handover(adverts: &[Advert], from: &str, to: &str) -> Option<f64> {
    let zero = adverts.iter().rposition(|a| a.src == from && a.prio == 0)?;
    let first = adverts[zero..].iter().find(|a| a.src == to)?;
    Some(first.at - adverts[zero].at)
}

/// A graceful stop of d1 (192.0.2.1) on the wire, among the adverts captured after the first
/// `seen`: its priority 0, then d2's (192.0.2.2) first advert after its skew (0.61 s at
/// priority 100, RFC 3768 6.4.2), well before the 3.61 s a crash would take. Waits up to 2 s
/// for both to reach the capture; fails the test, naming `what`, unless the gap is 0.5-1.5 s.
/// Returns the gap in seconds.
#[allow(clippy::panic)] // a test helper: its failure is the test's
pub fn hands_over_within_its_skew(r: &Rig, seen: usize, what: &str) -> f64 {
    let mut gap = None;
    wait_until(Duration::from_secs(2), || {
        gap = handover(adverts(&r.lab).get(seen..).unwrap_or_default(), "192.0.2.1", "192.0.2.2");
        gap.is_some()
    });
    let gap = gap.unwrap_or_else(|| panic!("{what}: no priority 0 from d1 then advert from d2: {:?}", adverts(&r.lab)));
    eprintln!("{what}: priority 0 to d2's first advert: {gap:.3} s on the wire");
    assert!((0.5..1.5).contains(&gap), "{what}: d1's priority 0 to d2's first advert: {gap:.3} s");
    gap
}
