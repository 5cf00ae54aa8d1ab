//! The lab's network: namespaces joined by veth pairs to bridges in a switch namespace, and
//! the processes started in them. Everything is registered as it is made, so that
//! [`Net::cleanup`] (on exit, on Ctrl-C) removes it all; nothing runs in the caller's own
//! namespace.

use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

/// Prefix of every namespace the lab makes (`tlab-d1`, `tlab-sw`, ...).
pub const PREFIX: &str = "tlab-";

/// The lab's namespaces and processes.
#[derive(Debug, Default)]
pub struct Net {
    namespaces: Mutex<Vec<String>>,
}

/// A failed set-up step: the command and what it said.
#[derive(Debug)]
pub struct NetError(pub String);

impl std::fmt::Display for NetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Runs `ip ARGS...` and fails with its stderr.
pub fn ip(args: &[&str]) -> Result<(), NetError> {
    run("ip", args)
}

/// Runs a command to completion and fails with its stderr.
pub fn run(program: &str, args: &[&str]) -> Result<(), NetError> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| NetError(format!("{program}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetError(format!("{program} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())))
    }
}

/// Runs a command and returns its stdout (empty when it failed).
pub fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// The full name of the lab's namespace `short`.
pub fn ns(short: &str) -> String {
    format!("{PREFIX}{short}")
}

impl Net {
    /// Makes namespace `short` with `lo` up (removing a leftover of that name first).
    pub fn add(&self, short: &str) -> Result<(), NetError> {
        let name = ns(short);
        remove_ns(&name);
        ip(&["netns", "add", &name])?;
        if let Ok(mut all) = self.namespaces.lock() {
            if !all.contains(&name) {
                all.push(name.clone());
            }
        }
        ip(&["-n", &name, "link", "set", "lo", "up"])
    }

    /// A bridge `bridge` in the switch namespace `sw`.
    pub fn bridge(&self, sw: &str, bridge: &str) -> Result<(), NetError> {
        let sw = ns(sw);
        ip(&["-n", &sw, "link", "add", bridge, "type", "bridge"])?;
        ip(&["-n", &sw, "link", "set", bridge, "up"])
    }

    /// Plugs namespace `host` into `bridge` of switch `sw` with interface `ifname` holding
    /// `addr` (CIDR).
    pub fn plug(&self, host: &str, ifname: &str, sw: &str, bridge: &str, addr: &str) -> Result<(), NetError> {
        let (h, s) = (ns(host), ns(sw));
        let port = format!("{host}-{ifname}");
        ip(&["link", "add", "name", ifname, "netns", &h, "type", "veth", "peer", "name", &port, "netns", &s])?;
        ip(&["-n", &s, "link", "set", &port, "master", bridge])?;
        ip(&["-n", &s, "link", "set", &port, "up"])?;
        ip(&["-n", &h, "addr", "add", addr, "dev", ifname])?;
        ip(&["-n", &h, "link", "set", ifname, "up"])
    }

    /// `ip -n NS ARGS...`.
    pub fn ip_in(&self, short: &str, args: &[&str]) -> Result<(), NetError> {
        let name = ns(short);
        let mut all = vec!["-n", name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// `sysctl -qw SETTING...` in namespace `short`.
    pub fn sysctl(&self, short: &str, settings: &[&str]) -> Result<(), NetError> {
        let name = ns(short);
        let mut args = vec!["netns", "exec", &name, "sysctl", "-qw"];
        args.extend_from_slice(settings);
        ip(&args)
    }

    /// A command run in namespace `short` (`ip netns exec`).
    pub fn command(&self, short: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &ns(short), program]);
        c
    }

    /// Starts `program ARGS` in namespace `short`, its output to `log` (or nowhere).
    pub fn spawn(
        &self,
        short: &str,
        program: &str,
        args: &[&str],
        log: Option<&std::path::Path>,
    ) -> Result<Child, NetError> {
        let mut c = self.command(short, program);
        c.args(args).stdin(Stdio::null());
        match log.map(std::fs::File::create) {
            Some(Ok(f)) => {
                let f2 = f.try_clone().map_err(|e| NetError(format!("log: {e}")))?;
                c.stdout(f).stderr(f2);
            }
            Some(Err(e)) => return Err(NetError(format!("log: {e}"))),
            None => {
                c.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        c.spawn().map_err(|e| NetError(format!("{program} in {short}: {e}")))
    }

    /// Kills every process in namespace `short` (SIGKILL): a machine that dies.
    pub fn kill_all(&self, short: &str) {
        kill_in(&ns(short));
    }

    /// Removes namespace `short` (its processes killed first).
    pub fn remove(&self, short: &str) {
        let name = ns(short);
        remove_ns(&name);
        if let Ok(mut all) = self.namespaces.lock() {
            all.retain(|n| *n != name);
        }
    }

    /// Removes everything the lab made, the switch last.
    pub fn cleanup(&self) {
        let all = self.namespaces.lock().map(|mut a| std::mem::take(&mut *a)).unwrap_or_default();
        for name in all.iter().rev() {
            remove_ns(name);
        }
    }
}

fn kill_in(name: &str) {
    for pid in output("ip", &["netns", "pids", name]).split_whitespace() {
        if let Ok(pid) = pid.parse::<i32>() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

fn remove_ns(name: &str) {
    if !std::path::Path::new("/run/netns").join(name).exists() {
        return;
    }
    kill_in(name);
    // A killed process leaves its namespace a moment later.
    for _ in 0..20 {
        if output("ip", &["netns", "pids", name]).trim().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = run("ip", &["netns", "del", name]);
}
