//! `tandem-lab load`: the pair under load, on the campaign's `nat-rr` set-up.
//!
//! 1. Reloads: both directors reload every second for `--reload-secs`, each time with the real
//!    servers' weights changed (a real change to the IPVS tables), while a client makes 20
//!    short requests a second and holds long-lived connections through the VIP. Expected: no
//!    request fails, every long-lived connection is kept, the VIP never moves, the tables end
//!    as the last file says, and neither tandem's file descriptors grow.
//! 2. Takeover under a hammered control socket and metrics endpoint: the master is killed
//!    (kill -9) with both directors quiet, then again while `tandem-lab hammer` processes in
//!    both directors' namespaces ask `status` on the control socket and fetch `/metrics` as
//!    fast as they are answered. Expected: the takeover is as fast hammered as quiet (within
//!    the master-down interval plus a margin for the emulated machine).

use crate::campaign::{Campaign, HolderWatch, MASTER_DOWN, METRICS, SETTLE_WITHIN, holders};
use crate::events;
use crate::observe::{now_ms, secs, wait_for};
use std::io::{Read, Write};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The load run's settings (the `load` subcommand's flags).
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// How long both directors reload every second.
    #[arg(long, default_value_t = 120)]
    pub reload_secs: u64,
    /// How many takeovers to time quiet and hammered (each).
    #[arg(long, default_value_t = 3)]
    pub takeovers: u32,
}

/// The `hammer` subcommand's flags: one director's control socket and metrics endpoint.
#[derive(Debug, Clone, clap::Args)]
pub struct HammerArgs {
    /// The control socket.
    #[arg(long)]
    pub socket: std::path::PathBuf,
    /// The metrics endpoint (ADDR:PORT).
    #[arg(long)]
    pub metrics: std::net::SocketAddr,
    /// How long.
    #[arg(long)]
    pub secs: u64,
}

/// A takeover may take the master-down interval after the master's last advert, plus this
/// for the emulated machine and the sampling (every 50 ms, an `ip` call each).
const TAKEOVER_MARGIN: Duration = Duration::from_millis(1_500);

/// Runs the load; the exit code (0: every expectation held).
pub fn run(mut c: Campaign<'_>, args: &LoadArgs) -> u8 {
    let started = Instant::now();
    c.metrics = true;
    let mut failed = Vec::new();
    match phases(&mut c, args) {
        Ok(broken) => failed.extend(broken),
        Err(e) => failed.push(format!("the load could not run: {e}")),
    }
    if let Err(e) = c.stop_all() {
        failed.push(format!("at the end: {e}"));
    }
    for f in &failed {
        c.console.say(&format!("FAIL {f}"));
    }
    c.console.say(&format!(
        "\nload: {} in {:.0} s",
        if failed.is_empty() { "every expectation held".to_string() } else { format!("{} FAILED", failed.len()) },
        started.elapsed().as_secs_f64()
    ));
    u8::from(!failed.is_empty())
}

fn phases(c: &mut Campaign<'_>, args: &LoadArgs) -> Result<Vec<String>, String> {
    c.console.heading("load (the nat-rr set-up)");
    c.bring_up()?;
    let mut broken = reloads(c, args.reload_secs)?;
    broken.extend(takeovers(c, args.takeovers)?);
    Ok(broken)
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        })
        .unwrap_or(0)
}

fn pids(c: &Campaign<'_>) -> Vec<u32> {
    c.tandems.iter().flatten().map(Child::id).collect()
}

/// Phase 1: a reload a second for `secs` under traffic.
fn reloads(c: &mut Campaign<'_>, secs_total: u64) -> Result<Vec<String>, String> {
    c.console.say(&format!(
        "both directors reload every second for {secs_total} s (the weights change each time), a client makes 20 requests a second and holds 10 long-lived connections"
    ));
    let mut broken = Vec::new();
    let short = c.client(20, 0)?;
    let long = c.open_long(10)?;
    let before: Vec<(u32, usize, u64)> = pids(c).into_iter().map(|p| (p, fds(p), rss_kib(p))).collect();
    let watch = HolderWatch::start();
    let from = now_ms();
    let mut times = Vec::new();
    let mut refused = 0;
    let t0 = Instant::now();
    let mut n: u64 = 0;
    while t0.elapsed() < Duration::from_secs(secs_total) {
        n += 1;
        c.weights = if n % 2 == 0 { [1, 1] } else { [2, 1] };
        c.write_conf()?;
        for d in 1..=2u8 {
            let t = Instant::now();
            if !c.reload(d)? {
                refused += 1;
            }
            times.push(t.elapsed());
        }
        let next = Duration::from_secs(n);
        if let Some(wait) = next.checked_sub(t0.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    let to = now_ms();
    std::thread::sleep(Duration::from_secs(2));
    let changes = watch.stop();
    if let Err(e) = c.expect_tables(Duration::from_secs(10)) {
        broken.push(format!("after the reloads: {e}"));
    }
    let s = events::short_between(&short.events(), from, to);
    let fate = events::long_fate(&long.events(), from, to);
    short.stop();
    long.stop();
    times.sort();
    let p50 = times.get(times.len() / 2).copied().unwrap_or_default();
    let worst = times.last().copied().unwrap_or_default();
    c.console.say(&format!(
        "{n} reloads on each director ({refused} refused); `tandem reload` took {} (median), {} (worst)",
        ms(p50),
        ms(worst)
    ));
    c.console.say(&format!("short requests meanwhile: {}", s.describe()));
    c.console.say(&format!("long-lived connections: {} of {} kept, {} lost", fate.kept, fate.alive, fate.lost));
    for (pid, fd0, rss0) in before {
        let (fd1, rss1) = (fds(pid), rss_kib(pid));
        c.console.say(&format!("tandem {pid}: {fd0} -> {fd1} file descriptors, resident {rss0} -> {rss1} KiB"));
        if fd1 > fd0 + 6 {
            broken.push(format!("tandem {pid}'s file descriptors grew over the reloads: {fd0} -> {fd1}"));
        }
    }
    if refused > 0 {
        broken.push(format!("{refused} reloads of a good file refused"));
    }
    if s.failed > 0 || s.total() == 0 {
        broken.push(format!("requests failed during the reloads: {}", s.describe()));
    }
    if fate.alive != 10 || fate.kept != fate.alive {
        broken.push(format!("long-lived connections during the reloads: {} of {} kept", fate.kept, fate.alive));
    }
    if changes.contains(',') {
        broken.push(format!("the VIP moved during the reloads: {changes}"));
    }
    Ok(broken)
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// Kills director1's tandem (it is master) and times director2's takeover: from the kill to
/// director2 holding the VIP.
fn takeover(c: &mut Campaign<'_>) -> Result<Duration, String> {
    let ns = crate::net::ns("d2");
    c.signal(1, nix::sys::signal::Signal::SIGKILL);
    let t = Instant::now();
    let held = wait_for(Duration::from_secs(20), || {
        crate::net::output("ip", &["-n", &ns, "-o", "addr", "show", "dev", "eth0"])
            .contains(&format!(" {}/", crate::scenario::VIP))
    });
    let took = t.elapsed();
    c.start_tandem(1)?;
    if c.settle(SETTLE_WITHIN).is_none() {
        return Err(format!("director1 did not take the VIP back: {:?}", holders()));
    }
    held.map(|_| took).ok_or_else(|| "director2 did not take over within 20 s".to_string())
}

/// Phase 2: takeovers quiet and hammered.
fn takeovers(c: &mut Campaign<'_>, rounds: u32) -> Result<Vec<String>, String> {
    c.console.say(&format!(
        "director1 killed (kill -9) {rounds} times quiet and {rounds} times while its and director2's control socket and metrics are hammered"
    ));
    let mut broken = Vec::new();
    let bound = MASTER_DOWN + TAKEOVER_MARGIN;
    let (mut quiet, mut loud) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        // Each round starts a second or more after director1's last takeover, with both
        // settled: the kill lands at a random point of the advert interval.
        std::thread::sleep(Duration::from_millis(1_300));
        quiet.push(takeover(c)?);
        std::thread::sleep(Duration::from_millis(1_300));
        let hammers = [hammer(c, 1)?, hammer(c, 2)?];
        std::thread::sleep(Duration::from_secs(1));
        let took = takeover(c);
        let counts: Vec<String> = hammers.into_iter().map(finish_hammer).collect();
        loud.push(took?);
        c.console.say(&format!(
            "quiet {} / hammered {} (hammers: {})",
            secs(*quiet.last().unwrap_or(&Duration::ZERO)),
            secs(*loud.last().unwrap_or(&Duration::ZERO)),
            counts.join("; ")
        ));
    }
    for (what, v) in [("quiet", &quiet), ("hammered", &loud)] {
        if let Some(worst) = v.iter().max().filter(|w| **w > bound) {
            broken.push(format!("a {what} takeover took {} (bound {})", secs(*worst), secs(bound)));
        }
    }
    let mean = |v: &[Duration]| v.iter().sum::<Duration>().as_secs_f64() / v.len().max(1) as f64;
    c.console.say(&format!(
        "takeover after kill -9: quiet {:.2} s, hammered {:.2} s on average (bound {})",
        mean(&quiet),
        mean(&loud),
        secs(bound)
    ));
    Ok(broken)
}

/// Starts a hammer in director `d`'s namespace, for a minute at most.
fn hammer(c: &Campaign<'_>, d: u8) -> Result<Child, String> {
    let socket = c.work.join(format!("campaign-director{d}.sock")).display().to_string();
    c.net
        .command(&format!("d{d}"), &c.me.display().to_string())
        .args(["hammer", "--socket", &socket, "--metrics", METRICS, "--secs", "60"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("hammer: {e}"))
}

/// Stops a hammer (closing its stdin) and reads its counts.
fn finish_hammer(mut h: Child) -> String {
    drop(h.stdin.take());
    let mut out = String::new();
    if let Some(mut o) = h.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    let _ = h.wait();
    out.trim().to_string()
}

/// `tandem-lab hammer`: asks `status` on the control socket and fetches `/metrics` in a
/// loop, each on its own thread, until `secs` pass or stdin closes; prints the counts.
pub fn hammer_main(args: &HammerArgs) -> i32 {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let until = Instant::now() + Duration::from_secs(args.secs);
    let go = |f: Box<dyn Fn() -> bool + Send>| {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let (mut ok, mut failed) = (0u64, 0u64);
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < until {
                if f() {
                    ok += 1;
                } else {
                    failed += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            (ok, failed)
        })
    };
    let socket = args.socket.clone();
    let status = go(Box::new(move || ask_status(&socket)));
    let metrics_at = args.metrics;
    let metrics = go(Box::new(move || fetch_metrics(metrics_at)));
    // Stdin closing (or the time) ends the hammer.
    let _ = std::io::stdin().read(&mut [0u8; 1]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (s_ok, s_failed) = status.join().unwrap_or_default();
    let (m_ok, m_failed) = metrics.join().unwrap_or_default();
    println!("status {s_ok} answered {s_failed} not, metrics {m_ok} answered {m_failed} not");
    0
}

fn ask_status(socket: &std::path::Path) -> bool {
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(socket) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"status\n").is_err() {
        return false;
    }
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).is_ok() && answer.first() == Some(&b'{')
}

fn fetch_metrics(at: std::net::SocketAddr) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&at, Duration::from_secs(1)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /metrics HTTP/1.0\r\nHost: tandem\r\n\r\n").is_err() {
        return false;
    }
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).is_ok() && answer.starts_with(b"HTTP/1.") && answer.windows(3).any(|w| w == b"200")
}
