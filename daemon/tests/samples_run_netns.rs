//! Every sample configuration Debian's keepalived 2.2.7 package ships runs under `tandem run`
//! where this host allows it: in a namespace of its own with interfaces eth0..eth3 (veth
//! pairs whose peers stay in the namespace, so nothing a sample sends leaves it), tandem
//! starts, runs its VRRP instances (the host kernel has no IPVS: the virtual servers wait for
//! it, as they would on a director without the module loaded), and stops at SIGTERM with exit
//! status 0, leaving no virtual address behind. The two samples keepalived refuses too are
//! not run. Needs root.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::path::PathBuf;
use std::time::Duration;
use tandem_tests::netns::{Host, Lab, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_tandem");
const SAMPLES: &str = "/usr/share/doc/keepalived/samples";

/// The samples that run, each with the config ids it is read for.
fn samples() -> Vec<(PathBuf, &'static str)> {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(SAMPLES)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("keepalived.conf.")))
        .collect();
    files.sort();
    for f in files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        // Broken for keepalived too (conf/tests/debian_samples.rs says where).
        if name.ends_with("vrrp.lvs_syncd") || name.ends_with("vrrp.rules") {
            continue;
        }
        if name.ends_with("conditional_conf") {
            out.push((f.clone(), "high"));
            out.push((f, "low"));
        } else {
            out.push((f, "director1"));
        }
    }
    out
}

/// A host with eth0..eth3 (each a veth whose peer `pN` is in the same namespace), up, with an
/// IPv4 address each.
fn host(lab: &mut Lab, name: &str) -> Host {
    let h = lab.host(name).unwrap();
    for i in 0..4 {
        let (a, b) = (format!("eth{i}"), format!("p{i}"));
        let out = lab.run(&h, "ip", &["link", "add", &a, "type", "veth", "peer", "name", &b]).unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        lab.run(&h, "ip", &["addr", "add", &format!("10.9.{i}.1/24"), "dev", &a]).unwrap();
        for l in [&a, &b] {
            lab.run(&h, "ip", &["link", "set", l, "up"]).unwrap();
        }
    }
    h
}

#[test]
fn every_debian_sample_runs_and_stops_cleanly() {
    let all = samples();
    assert!(all.len() >= 20, "{all:?}");
    let mut failures = Vec::new();
    // A few at a time: each waits a few seconds.
    for chunk in all.chunks(6) {
        let mut lab = Lab::new("samples").unwrap();
        let mut running = Vec::new();
        for (k, (file, id)) in chunk.iter().enumerate() {
            let h = host(&mut lab, &format!("s{k}"));
            let sock = lab.dir().join(format!("s{k}.sock")).display().to_string();
            let log = format!("s{k}.log");
            // The conditional sample moves each director into a namespace of its own
            // (`net_namespace high` / `low`): here, the one the test made for it.
            let text = std::fs::read_to_string(file).unwrap();
            let path = if text.contains("net_namespace") {
                let moved = text
                    .replace("net_namespace high", &format!("net_namespace {}", h.ns))
                    .replace("net_namespace low", &format!("net_namespace {}", h.ns));
                let p = lab.dir().join(format!("s{k}.conf"));
                std::fs::write(&p, moved).unwrap();
                p
            } else {
                file.clone()
            };
            let args = ["run", "-f", &path.to_string_lossy(), "-i", id, "--control-socket", &sock];
            let pid = lab.spawn(&h, BIN, &args, &log).unwrap();
            running.push((file, *id, h, pid, log, sock));
        }
        for (file, id, h, pid, log, sock) in running {
            let name = format!("{} ({id})", file.file_name().and_then(|n| n.to_str()).unwrap_or_default());
            let read = |lab: &Lab| std::fs::read_to_string(lab.dir().join(&log)).unwrap_or_default();
            // Up: it answers status over its control socket.
            let answers = wait_until(Duration::from_secs(10), || {
                std::process::Command::new(BIN)
                    .args(["status", "--json", "--control-socket", &sock])
                    .output()
                    .is_ok_and(|o| o.status.success())
            });
            if !answers {
                failures.push(format!("{name}: never answered status\n{}", read(&lab)));
                continue;
            }
            // Still running a moment later (no unit failed).
            std::thread::sleep(Duration::from_secs(1));
            if lab.exit_status(pid).unwrap().is_some() {
                failures.push(format!("{name}: ended by itself\n{}", read(&lab)));
                continue;
            }
            lab.signal(pid, "TERM").unwrap();
            let ended = wait_until(Duration::from_secs(15), || lab.exit_status(pid).unwrap().is_some());
            let status = lab.exit_status(pid).unwrap();
            if !ended || !status.is_some_and(|s| s.success()) {
                failures.push(format!("{name}: SIGTERM gave {status:?}\n{}", read(&lab)));
                continue;
            }
            let addrs = lab.run(&h, "ip", &["-o", "addr", "show"]).unwrap();
            let left: Vec<String> = String::from_utf8_lossy(&addrs.stdout)
                .lines()
                .filter(|l| {
                    let v4 = l.contains(" inet ") && !l.contains(" inet 10.9.") && !l.contains(" inet 127.");
                    let v6 = l.contains(" inet6 ") && l.contains("scope global");
                    v4 || v6
                })
                .map(str::to_string)
                .collect();
            if !left.is_empty() {
                failures.push(format!("{name}: addresses left after stop: {left:?}\n{}", read(&lab)));
            }
            let text = read(&lab);
            if text.contains("panicked") {
                failures.push(format!("{name}: a panic\n{text}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
