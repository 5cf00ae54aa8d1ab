//! How long `tandem_conf::load` takes on a large keepalived.conf, with the source map (what
//! `tandem check` and the start read) and without it (`Options::no_source_map`: what a reload
//! reads). The file is scripts/bench-reload's: N virtual servers (wrr, NAT, TCP) of 4 real
//! servers each, `weight 1`, no health checks.
//!
//! `cargo run --release -p tandem-conf --example load_time [SIZES...]` (default: 200 10000);
//! `LOAD_REPS` loads per size and mode (default 30). Prints min and median, in ms.

#![allow(clippy::expect_used)] // a benchmark whose set-up fails has nothing to say

use std::fmt::Write as _;
use std::time::{Duration, Instant};
use tandem_conf::{Options, Severity};

/// scripts/bench-reload's file of `n` virtual servers.
fn conf(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        let vip = format!("10.{}.{}.{}", 100 + i / 62_500, i / 250 % 250, i % 250 + 1);
        let _ = writeln!(s, "virtual_server {vip} 80 {{\n lb_algo wrr\n lb_kind NAT\n protocol TCP");
        for r in 1..=4 {
            let _ = writeln!(s, " real_server 10.2.{}.{} 8080 {{ weight 1 }}", i / 60 % 250, i % 60 * 4 + r);
        }
        s.push_str("}\n");
    }
    s
}

/// `reps` loads of `path`: min and median.
fn time(path: &std::path::Path, options: &Options, reps: usize) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..reps.max(1))
        .map(|_| {
            let t = Instant::now();
            let r = tandem_conf::load(path, options);
            let took = t.elapsed();
            assert_eq!(r.count(Severity::Error), 0, "{}", r.render());
            took
        })
        .collect();
    times.sort();
    (times[0], times[times.len() / 2])
}

fn main() {
    let mut sizes: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("a size")).collect();
    if sizes.is_empty() {
        sizes = vec![200, 10_000];
    }
    let reps = std::env::var("LOAD_REPS").ok().and_then(|r| r.parse().ok()).unwrap_or(30);
    let dir = std::env::temp_dir().join(format!("tandem-load-time-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("| services x 4 | with the source map, min / median | without, min / median |");
    println!("|---|---|---|");
    for n in sizes {
        let path = dir.join(format!("keepalived-{n}.conf"));
        std::fs::write(&path, conf(n)).expect("the file written");
        let full = Options::default();
        let quick = Options { no_source_map: true, ..Options::default() };
        // The first load of each is not counted (page cache, allocator warm-up).
        let _ = (tandem_conf::load(&path, &full), tandem_conf::load(&path, &quick));
        let (a, b) = (time(&path, &full, reps), time(&path, &quick, reps));
        println!("| {n} | {:.2} / {:.2} ms | {:.2} / {:.2} ms |", ms(a.0), ms(a.1), ms(b.0), ms(b.1));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
