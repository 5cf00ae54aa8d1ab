//! What the lab observes on its own: who holds the VIP, a director's IPVS table, a stuck
//! process's threads, and waiting for any of it.

use crate::net;
use crate::scenario::VIP;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Which director holds the VIP now (0: none): on a link that is up (a dead machine's down
/// link may still carry it).
pub fn holder() -> u8 {
    for d in 1..=2u8 {
        let out = net::output("ip", &["-n", &net::ns(&format!("d{d}")), "-o", "addr", "show", "dev", "eth0", "up"]);
        if out.contains(&format!(" {VIP}/")) {
            return d;
        }
    }
    0
}

/// Director `d`'s IPVS table (`ipvsadm -Ln`).
pub fn table(d: u8) -> String {
    net::output("ip", &["netns", "exec", &net::ns(&format!("d{d}")), "ipvsadm", "-Ln"])
}

/// Waits until `cond` holds, polling every 50 ms, at most `limit`: how long it took.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if cond() {
            return Some(start.elapsed());
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

pub fn name(d: u8) -> &'static str {
    match d {
        1 => "director1",
        2 => "director2",
        _ => "nobody",
    }
}

/// Sends `sig` to a child (a child that has exited already is no error).
pub fn signal(child: &std::process::Child, sig: nix::sys::signal::Signal) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
    }
}

/// Asks a child to stop, as systemd does: SIGTERM.
pub fn sigterm(child: &std::process::Child) {
    signal(child, nix::sys::signal::Signal::SIGTERM);
}

/// Waits up to `limit` for a child already asked to stop (a signal, the end of its input) to
/// exit and returns its status; one still running then is killed, and the error says where its
/// threads waited (read before the kill).
pub fn await_exit(child: &mut std::process::Child, limit: Duration) -> Result<std::process::ExitStatus, String> {
    let mut exited = None;
    wait_for(limit, || {
        exited = child.try_wait().ok().flatten();
        exited.is_some()
    });
    if let Some(status) = exited {
        return Ok(status);
    }
    let threads = threads_of(child.id());
    let _ = child.kill();
    let _ = child.wait();
    Err(format!("still running {} s after being asked to stop (killed; threads: {threads})", limit.as_secs()))
}

/// A process's threads and where each waits in the kernel, for a report.
fn threads_of(pid: u32) -> String {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return "gone".to_string() };
    let read = |p: std::path::PathBuf| std::fs::read_to_string(p).unwrap_or_default().trim().to_string();
    let mut out: Vec<String> =
        dir.flatten().map(|t| format!("{} in {}", read(t.path().join("comm")), read(t.path().join("wchan")))).collect();
    out.sort();
    out.join(", ")
}
