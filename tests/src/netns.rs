//! Throwaway network namespaces: hosts, bridged segments, processes inside them.
//!
//! Every namespace a [`Lab`] makes carries the lab's prefix; dropping the lab kills what it
//! started and deletes them, and a new lab first deletes leftovers of a lab with the same
//! prefix (a test killed without unwinding). Needs root (`ip netns`).

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A set of namespaces for one test.
pub struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    children: Vec<Child>,
    dir: PathBuf,
    links: usize,
    /// (host namespace, segment namespace, bridge port) of every connection.
    ports: Vec<(String, String, String)>,
}

/// A host: a network namespace with `lo` up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The namespace's name (`ip netns exec NAME`).
    pub ns: String,
}

/// A layer-2 segment: a bridge in a namespace of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The namespace holding the bridge `br0`.
    pub ns: String,
}

/// Waits until `segment`'s bridge forwards on `port`, at most 5 s. The port was up before its
/// host's end, so its carrier comes from the kernel's link_watch work (net/core/link_watch.c,
/// run from a workqueue, late on a busy machine), which also tells the bridge to enable the
/// port; until then the bridge drops what arrives there, and a test's first packet (a probe
/// with a short timeout) would be lost.
fn await_forwarding(segment: &Segment, port: &str) -> io::Result<()> {
    // BR_STATE_FORWARDING (include/uapi/linux/if_bridge.h).
    const FORWARDING: &str = "3";
    let path = format!("/sys/class/net/{port}/brport/state");
    let state = || {
        Command::new("ip")
            .args(["netns", "exec", &segment.ns, "cat", &path])
            .stdin(Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    if wait_until(std::time::Duration::from_secs(5), || state() == FORWARDING) {
        return Ok(());
    }
    Err(io::Error::other(format!("{} {port}: the bridge does not forward after 5 s (state {:?})", segment.ns, state())))
}

/// Runs `ip ARGS`, failing with its stderr.
pub fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).stdin(Stdio::null()).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())))
    }
}

impl Lab {
    /// A new lab; `tag` names it (keep it short: it prefixes namespace names).
    pub fn new(tag: &str) -> io::Result<Lab> {
        let prefix = format!("tnd-{tag}-{}", std::process::id());
        // Leftovers of a lab with the same name whose test died without unwinding.
        if let Ok(out) = Command::new("ip").args(["netns", "list"]).output() {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                if let Some(name) = line.split_whitespace().next() {
                    if name.starts_with(&format!("tnd-{tag}-")) {
                        let _ = ip(&["netns", "del", name]);
                    }
                }
            }
        }
        let dir = std::env::temp_dir().join(&prefix);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(Lab { prefix, namespaces: Vec::new(), children: Vec::new(), dir, links: 0, ports: Vec::new() })
    }

    /// A folder for this lab's files (configs, logs, captures), removed with the lab.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn namespace(&mut self, name: &str) -> io::Result<String> {
        let ns = format!("{}-{name}", self.prefix);
        ip(&["netns", "add", &ns])?;
        self.namespaces.push(ns.clone());
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// A host namespace.
    pub fn host(&mut self, name: &str) -> io::Result<Host> {
        let ns = self.namespace(name)?;
        // Accept DAD-free IPv6 at once and keep the test quiet.
        for (k, v) in [("net.ipv6.conf.all.accept_dad", "0"), ("net.ipv6.conf.default.accept_dad", "0")] {
            let _ = Command::new("ip").args(["netns", "exec", &ns, "sysctl", "-qw", &format!("{k}={v}")]).output();
        }
        Ok(Host { ns })
    }

    /// A segment: a bridge `br0` in a namespace of its own.
    pub fn segment(&mut self, name: &str) -> io::Result<Segment> {
        let ns = self.namespace(&format!("sw-{name}"))?;
        ip(&["-n", &ns, "link", "add", "br0", "type", "bridge", "forward_delay", "0"])?;
        ip(&["-n", &ns, "link", "set", "br0", "up"])?;
        Ok(Segment { ns })
    }

    /// Plugs `host` into `segment` with an interface `ifname` carrying `addrs` (CIDR).
    pub fn connect(&mut self, host: &Host, segment: &Segment, ifname: &str, addrs: &[&str]) -> io::Result<()> {
        self.links += 1;
        let port = format!("p{}", self.links);
        let tmp = format!("tnd{}", self.links);
        ip(&["-n", &host.ns, "link", "add", ifname, "type", "veth", "peer", "name", &tmp])?;
        ip(&["-n", &host.ns, "link", "set", &tmp, "netns", &segment.ns, "name", &port])?;
        ip(&["-n", &segment.ns, "link", "set", &port, "master", "br0", "up"])?;
        self.ports.push((host.ns.clone(), segment.ns.clone(), port.clone()));
        for a in addrs {
            let mut args = vec!["-n", &host.ns, "addr", "add", a, "dev", ifname];
            if a.contains(':') {
                args.push("nodad");
            }
            ip(&args)?;
        }
        ip(&["-n", &host.ns, "link", "set", ifname, "up"])?;
        await_forwarding(segment, &port)
    }

    /// Takes `host`'s `ifname` down or up: a partition or its healing.
    pub fn set_link(&self, host: &Host, ifname: &str, up: bool) -> io::Result<()> {
        ip(&["-n", &host.ns, "link", "set", ifname, if up { "up" } else { "down" }])
    }

    /// Isolates `host`'s port on `segment` (or ends the isolation): isolated ports cannot
    /// reach each other but still reach every other port, so isolating two directors
    /// partitions them while both still see the client, with every link up.
    pub fn isolate(&self, host: &Host, segment: &Segment, on: bool) -> io::Result<()> {
        let Some((_, _, port)) = self.ports.iter().find(|(h, s, _)| *h == host.ns && *s == segment.ns) else {
            return Err(io::Error::other(format!("{} is not on {}", host.ns, segment.ns)));
        };
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &segment.ns,
                "bridge",
                "link",
                "set",
                "dev",
                port,
                "isolated",
                if on { "on" } else { "off" },
            ])
            .output()?;
        if out.status.success() {
            Ok(())
        } else {
            Err(io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()))
        }
    }

    /// Starts a program inside `host`; it is killed when the lab is dropped. Returns its pid.
    pub fn spawn(&mut self, host: &Host, program: &str, args: &[&str], log: &str) -> io::Result<u32> {
        let log = std::fs::File::create(self.dir.join(log))?;
        let child = Command::new("ip")
            .args(["netns", "exec", &host.ns, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let pid = child.id();
        self.children.push(child);
        Ok(pid)
    }

    /// Starts a program inside `host` whose stdout and stderr are pipes that nobody reads:
    /// their read ends are closed at once, as when a log reader has gone away, so every write
    /// fails with EPIPE (and raises SIGPIPE). Killed when the lab is dropped. Returns its pid.
    pub fn spawn_unread(&mut self, host: &Host, program: &str, args: &[&str]) -> io::Result<u32> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &host.ns, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        drop(child.stdout.take());
        drop(child.stderr.take());
        let pid = child.id();
        self.children.push(child);
        Ok(pid)
    }

    /// Runs a command inside `host` to completion.
    pub fn run(&self, host: &Host, program: &str, args: &[&str]) -> io::Result<Output> {
        Command::new("ip").args(["netns", "exec", &host.ns, program]).args(args).stdin(Stdio::null()).output()
    }

    /// The MAC address of `ifname` in `host`.
    pub fn mac(&self, host: &Host, ifname: &str) -> io::Result<String> {
        // `ip netns exec` mounts the namespace's own /sys.
        self.read_in(host, &format!("/sys/class/net/{ifname}/address")).map(|s| s.trim().to_string())
    }

    fn read_in(&self, host: &Host, path: &str) -> io::Result<String> {
        let out = self.run(host, "cat", &[path])?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(io::Error::other(format!("cat {path} in {}: {}", host.ns, String::from_utf8_lossy(&out.stderr).trim())))
        }
    }

    /// Whether `host` has `addr` (no prefix) on any interface.
    pub fn has_address(&self, host: &Host, addr: &str) -> io::Result<bool> {
        let out = self.run(host, "ip", &["-o", "addr", "show"])?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text.split_whitespace().any(|w| w.split('/').next() == Some(addr)))
    }

    /// The MAC `host`'s neighbour table holds for `addr`, if any (any state but FAILED).
    pub fn neighbour(&self, host: &Host, addr: &str) -> io::Result<Option<String>> {
        let out = self.run(host, "ip", &["neigh", "show", addr])?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text.lines().find_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let at = w.iter().position(|x| *x == "lladdr")?;
            w.get(at + 1).map(|m| m.to_string())
        }))
    }

    /// Runs `f` on a thread that has entered `host`'s network namespace and returns what it
    /// made. Sockets keep the namespace they were made in, so a client built inside `f` (a
    /// tokio current-thread runtime, say) talks from `host` while the test stays outside.
    /// Fails if the namespace cannot be entered; a panic in `f` is passed on.
    pub fn within<T: Send + 'static>(host: &Host, f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
        let path = format!("/var/run/netns/{}", host.ns);
        let joined = std::thread::spawn(move || -> io::Result<T> {
            let file = std::fs::File::open(&path)?;
            nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            Ok(f())
        })
        .join();
        match joined {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// How a process this lab started ended, once it has (`None` while it runs, or if the
    /// lab did not start it).
    pub fn exit_status(&mut self, pid: u32) -> io::Result<Option<std::process::ExitStatus>> {
        match self.children.iter_mut().find(|c| c.id() == pid) {
            Some(c) => c.try_wait(),
            None => Ok(None),
        }
    }

    /// The state letter `/proc/PID/stat` gives a process (R, S, D, T stopped, Z zombie...);
    /// `None` when there is no such process.
    pub fn process_state(pid: u32) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit_once(')')?.1.split_whitespace().next()?.chars().next()
    }

    /// Sends a signal to a process this lab started.
    pub fn signal(&self, pid: u32, signal: &str) -> io::Result<()> {
        let status = Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status()?;
        if status.success() { Ok(()) } else { Err(io::Error::other(format!("kill -{signal} {pid} failed"))) }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // `ip netns exec` children may have left grandchildren (daemons that fork): kill every
        // process still inside the lab's namespaces before deleting them.
        for ns in &self.namespaces {
            if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
        }
        for ns in self.namespaces.iter().rev() {
            let _ = ip(&["netns", "del", ns]);
        }
        if std::env::var_os("TANDEM_KEEP_LAB").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Polls `f` every 20 ms until it returns true or `timeout` passes; true when it did.
pub fn wait_until(timeout: std::time::Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
