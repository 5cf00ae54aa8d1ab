//! systemd's notifications, as a service manager sees them: tandem runs in a network
//! namespace of its own with NOTIFY_SOCKET naming a datagram socket this test reads, and
//! WATCHDOG_USEC set. It must say READY=1 with a STATUS line, update STATUS when its instance
//! becomes master, ping the watchdog at half its timeout, bracket a reload with RELOADING=1
//! (with MONOTONIC_USEC) and READY=1, and say STOPPING=1 at SIGTERM.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONF: &str = "vrrp_instance VI_1 {\n    interface v0\n    virtual_router_id 51\n    priority 150\n    advert_int 1\n    virtual_ipaddress {\n        192.0.2.10/24\n    }\n}\n";

/// Messages received until `until` holds for one of them or `limit` passes.
fn collect(sock: &UnixDatagram, got: &mut Vec<String>, limit: Duration, until: impl Fn(&str) -> bool) -> bool {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        if let Ok(n) = sock.recv(&mut buf) {
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = until(&m);
            got.push(m);
            if done {
                return true;
            }
        }
    }
    false
}

#[test]
fn tandem_tells_the_service_manager_ready_status_watchdog_reloading_and_stopping() {
    let dir = std::env::temp_dir().join(format!("tandem-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("tandem.conf");
    std::fs::write(&conf, CONF).unwrap();
    let path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&path);
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();

    let script = format!(
        "ip link set lo up && ip link add v0 type veth peer name v1 && ip addr add 192.0.2.2/24 dev v0 && ip link set v0 up && ip link set v1 up && exec {} run -f {}",
        env!("CARGO_BIN_EXE_tandem"),
        conf.display()
    );
    let mut child = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "400000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let mut got = Vec::new();

    let ready = collect(&sock, &mut got, Duration::from_secs(10), |m| m.contains("READY=1"));
    if !ready {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!("no READY=1: {got:?}\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let first = got.last().unwrap().clone();
    assert!(first.contains("STATUS=VI_1 "), "READY without a STATUS line: {first:?}");

    // Master after 3 adverts' time + skew: the status line follows within a second.
    let master = collect(&sock, &mut got, Duration::from_secs(10), |m| m.contains("STATUS=VI_1 MASTER"));
    assert!(master, "no STATUS=VI_1 MASTER: {got:?}");

    // The watchdog: WATCHDOG_USEC 400 ms, so a ping every 200 ms.
    got.clear();
    collect(&sock, &mut got, Duration::from_secs(2), |_| false);
    let pings = got.iter().filter(|m| m.contains("WATCHDOG=1")).count();
    assert!((7..=12).contains(&pings), "{pings} WATCHDOG=1 in 2 s (expected about 10): {got:?}");

    // A reload: RELOADING=1 with MONOTONIC_USEC, then READY=1.
    got.clear();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    let reloaded = collect(&sock, &mut got, Duration::from_secs(10), |m| m.contains("READY=1"));
    assert!(reloaded, "no READY=1 after SIGHUP: {got:?}");
    let reloading = got.iter().find(|m| m.contains("RELOADING=1")).expect("RELOADING=1");
    let usec = reloading.lines().find_map(|l| l.strip_prefix("MONOTONIC_USEC=")).expect("MONOTONIC_USEC");
    let usec: u64 = usec.parse().unwrap();
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).unwrap();
    let now_usec = now.tv_sec() as u64 * 1_000_000 + now.tv_nsec() as u64 / 1_000;
    assert!(
        now_usec >= usec && now_usec - usec < 10_000_000,
        "MONOTONIC_USEC {usec} is not CLOCK_MONOTONIC ({now_usec})"
    );

    // SIGTERM: STOPPING=1, and the process ends.
    got.clear();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let stopping = collect(&sock, &mut got, Duration::from_secs(10), |m| m.contains("STOPPING=1"));
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stopping, "no STOPPING=1: {got:?}\n{stderr}");
    assert!(status.success(), "{status}\n{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
