//! `ipvs-wait`: waits until the kernel's IPVS table gives one destination a weight, and says
//! how long that took. For the reload benchmark (scripts/bench-reload): the same poller
//! times every daemon, reading the one service's destinations over generic netlink (one
//! GET_DEST dump of a few messages per poll, no process started per poll, as
//! `ipvsadm -Ln -t` in a loop would be: tens of milliseconds each under emulation).
//!
//! Usage: `ipvs-wait [--hup PID] [--every MS] [--timeout S] [--udp] VIP:PORT RIP:PORT WEIGHT`
//!
//! With `--hup PID` it first reads the destination (it must not have WEIGHT yet: exit 3),
//! then starts its clock and sends SIGHUP to PID, so the time printed runs from the signal
//! to the first poll that sees the weight. Without it the clock starts at once and a
//! service or destination not there yet is polled for again (waiting for a table to be
//! programmed). Polls every `--every` ms (default 2; fractions allowed). Prints
//! `ELAPSED_MS ms, N polls` and exits 0; exits 1 after `--timeout` seconds (default 120).
//! Run it in the daemon's network namespace (`ip netns exec NS ipvs-wait ...`).

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tandem_ipvs::model::proto;
use tandem_ipvs::{DestKey, Ipvs, ServiceKey};

const USAGE: &str = "usage: ipvs-wait [--hup PID] [--every MS] [--timeout S] [--udp] VIP:PORT RIP:PORT WEIGHT";

struct Args {
    hup: Option<i32>,
    every: Duration,
    timeout: Duration,
    service: ServiceKey,
    dest: DestKey,
    weight: u32,
}

fn parse() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut hup, mut every, mut timeout, mut udp) = (None, Duration::from_millis(2), Duration::from_secs(120), false);
    let mut plain = Vec::new();
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--hup" => hup = Some(value("--hup")?.parse::<i32>().map_err(|e| format!("--hup: {e}"))?),
            "--every" => {
                let ms: f64 = value("--every")?.parse().map_err(|e| format!("--every: {e}"))?;
                every = Duration::try_from_secs_f64(ms / 1000.0).map_err(|e| format!("--every: {e}"))?;
            }
            "--timeout" => {
                let s: f64 = value("--timeout")?.parse().map_err(|e| format!("--timeout: {e}"))?;
                timeout = Duration::try_from_secs_f64(s).map_err(|e| format!("--timeout: {e}"))?;
            }
            "--udp" => udp = true,
            _ => plain.push(a),
        }
    }
    let [vip, rip, weight] = &plain[..] else { return Err(USAGE.to_string()) };
    let vip: SocketAddr = vip.parse().map_err(|e| format!("{vip}: {e}"))?;
    let rip: SocketAddr = rip.parse().map_err(|e| format!("{rip}: {e}"))?;
    let protocol = if udp { proto::UDP } else { proto::TCP };
    Ok(Args {
        hup,
        every,
        timeout,
        service: ServiceKey::Addr { protocol, addr: vip.ip(), port: vip.port() },
        dest: DestKey { addr: rip.ip(), port: rip.port() },
        weight: weight.parse().map_err(|e| format!("{weight}: {e}"))?,
    })
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ipvs-wait: {e}");
            return ExitCode::from(2);
        }
    };
    let ipvs = match Ipvs::open() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("ipvs-wait: {e}");
            return ExitCode::from(1);
        }
    };
    // The destination's weight now, if the kernel has it.
    let weight = || ipvs.dests(&args.service).ok().and_then(|d| d.get(&args.dest).map(|d| d.weight));
    if args.hup.is_some() && weight() == Some(args.weight) {
        eprintln!("ipvs-wait: {} of {} already has weight {}", args.dest, args.service, args.weight);
        return ExitCode::from(3);
    }
    let start = Instant::now();
    if let Some(pid) = args.hup {
        if let Err(e) = kill(Pid::from_raw(pid), Signal::SIGHUP) {
            eprintln!("ipvs-wait: SIGHUP to {pid}: {e}");
            return ExitCode::from(1);
        }
    }
    let mut polls = 0u64;
    loop {
        polls += 1;
        let seen = weight();
        if seen == Some(args.weight) {
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            println!("{ms:.1} ms, {polls} polls");
            return ExitCode::SUCCESS;
        }
        if start.elapsed() > args.timeout {
            let seen = seen.map_or("no such destination".to_string(), |w| format!("weight {w}"));
            eprintln!(
                "ipvs-wait: {} of {} not at weight {} after {:?} ({seen})",
                args.dest, args.service, args.weight, args.timeout
            );
            return ExitCode::from(1);
        }
        std::thread::sleep(args.every);
    }
}
