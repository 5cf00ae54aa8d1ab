//! Two network namespaces joined by a veth pair, for tests of the Linux side. Needs root.

#![allow(clippy::expect_used, clippy::unwrap_used, dead_code)] // set-up failures fail the test

use std::process::Command;

/// Runs `ip ARGS`, failing the test with its stderr.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Runs a command in namespace `ns` and returns its stdout.
pub fn run_in(ns: &str, args: &[&str]) -> String {
    let out = Command::new("ip").args(["netns", "exec", ns]).args(args).output().expect("ip netns exec runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two namespaces `a` (eth0: 192.0.2.1, 2001:db8::1) and `b` (eth0: 192.0.2.2, 2001:db8::2)
/// joined by a veth pair; deleted on drop.
pub struct Pair {
    pub a: String,
    pub b: String,
}

impl Pair {
    pub fn new(tag: &str) -> Pair {
        let (a, b) = (format!("tvs-{tag}-a-{}", std::process::id()), format!("tvs-{tag}-b-{}", std::process::id()));
        for n in [&a, &b] {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
            ip(&["netns", "add", n]);
            // No duplicate address detection: addresses must be usable at once.
            for k in ["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"] {
                ip(&["netns", "exec", n, "sysctl", "-qw", k]);
            }
        }
        ip(&["-n", &a, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0", "netns", &b]);
        ip(&["-n", &b, "link", "set", "peer0", "name", "eth0"]);
        for (n, v4, v6) in [(&a, "192.0.2.1/24", "2001:db8::1/64"), (&b, "192.0.2.2/24", "2001:db8::2/64")] {
            ip(&["-n", n, "addr", "add", v4, "dev", "eth0"]);
            ip(&["-n", n, "addr", "add", v6, "dev", "eth0", "nodad"]);
            ip(&["-n", n, "link", "set", "eth0", "up"]);
            ip(&["-n", n, "link", "set", "lo", "up"]);
        }
        // A veth's carrier, and the queue that sends through it, come from the kernel's
        // link_watch work (net/core/link_watch.c, from a workqueue, late on a busy machine);
        // what is sent before is dropped. operstate turns "up" in that same work.
        for n in [&a, &b] {
            let up = || run_in(n, &["cat", "/sys/class/net/eth0/operstate"]).trim() == "up";
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while !up() {
                assert!(std::time::Instant::now() < deadline, "{n} eth0 is not up after 5 s");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        Pair { a, b }
    }

    /// Runs `f` on a thread inside namespace `ns` (with the current tokio runtime entered, if
    /// any) and returns what it made: sockets keep the namespace they were made in.
    pub fn within<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        let handle = tokio::runtime::Handle::try_current().ok();
        let path = format!("/var/run/netns/{ns}");
        std::thread::spawn(move || {
            let file = std::fs::File::open(path).unwrap();
            nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let _rt = handle.as_ref().map(tokio::runtime::Handle::enter);
            f()
        })
        .join()
        .unwrap()
    }

    /// eth0's MAC address in namespace `ns`.
    pub fn mac(ns: &str) -> [u8; 6] {
        let text = run_in(ns, &["cat", "/sys/class/net/eth0/address"]);
        let mut mac = [0u8; 6];
        for (i, part) in text.trim().split(':').enumerate().take(6) {
            mac[i] = u8::from_str_radix(part, 16).unwrap();
        }
        mac
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for n in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}
