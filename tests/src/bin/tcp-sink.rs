//! `tcp-sink`: accepts TCP connections on a port for a while and reports how regularly each
//! local address was connected to. For the health-check benchmark: every real server is an
//! address of this host, checked every `delay_loop`; the lateness of a check is the gap
//! between two connections to the same address minus `delay_loop`.
//!
//! Usage: `tcp-sink PORT DELAY_LOOP_MS WARMUP_S MEASURE_S`. Prints the number of addresses
//! seen, connections counted, and the 50th, 99th percentile and largest lateness in ms.

use socket2::{Domain, Socket, Type};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let [port, delay_ms, warmup, measure] = args[..] else {
        eprintln!("usage: tcp-sink PORT DELAY_LOOP_MS WARMUP_S MEASURE_S");
        return ExitCode::from(2);
    };
    let Ok(port) = u16::try_from(port) else { return ExitCode::from(2) };
    let listener = match listen(port) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tcp-sink: {e}");
            return ExitCode::from(1);
        }
    };
    let start = Instant::now();
    let (from, until) = (start + Duration::from_secs(warmup), start + Duration::from_secs(warmup + measure));
    let mut last: HashMap<IpAddr, Instant> = HashMap::new();
    let mut late_ms: Vec<f64> = Vec::new();
    let delay = Duration::from_millis(delay_ms);
    // Accepting closes each connection at once (the checker only needs the handshake).
    while Instant::now() < until {
        let Ok((stream, _)) = listener.accept() else { continue };
        let now = Instant::now();
        let Ok(local) = stream.local_addr() else { continue };
        drop(stream);
        if let Some(prev) = last.insert(local.ip(), now) {
            if prev >= from {
                late_ms.push((now.duration_since(prev).as_secs_f64() - delay.as_secs_f64()) * 1000.0);
            }
        }
    }
    late_ms.sort_by(f64::total_cmp);
    let pct = |p: f64| late_ms.get(((late_ms.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN);
    println!(
        "addresses {} gaps {} lateness p50 {:.0} ms p99 {:.0} ms max {:.0} ms",
        last.len(),
        late_ms.len(),
        pct(0.5),
        pct(0.99),
        late_ms.last().copied().unwrap_or(f64::NAN)
    );
    ExitCode::SUCCESS
}

/// A listener with a long accept queue: 10,000 checkers connect within each delay_loop.
fn listen(port: u16) -> std::io::Result<TcpListener> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.bind(&SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port).into())?;
    s.listen(4096)?;
    // accept() gives up every 200 ms so the window ends even when nobody connects any more.
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    Ok(s.into())
}
