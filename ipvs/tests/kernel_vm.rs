//! The generic-netlink client against the real kernel, judged by ipvsadm.
//!
//! This machine's kernel has no IPVS, so `the_client_against_the_kernel` boots the VM rig
//! once and, inside it, runs this same test binary once per `in_vm_*` test (they are
//! `#[ignore]`d on the host, where they cannot work). Each writes what ipvsadm printed next
//! to what the client read, and fails on any difference.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::Duration;
use tandem_ipvs::{
    Change, Dest, DestKey, Forward, Ipvs, Service, ServiceFlags, ServiceKey, SyncDaemon, SyncState, Table, Timeouts,
    model::proto,
};
use tandem_tests::vm::{Batch, Vm};

const IN_VM: &[&str] = &[
    "in_vm_batches",
    "in_vm_timeouts",
    "in_vm_sync_daemons",
    "in_vm_sync_daemons_stopped_as_they_start",
    "in_vm_stats",
];

#[test]
fn the_client_against_the_kernel() {
    let exe = std::env::current_exe().unwrap();
    let vm = Vm::builder().timeout(Duration::from_secs(240)).build().unwrap_or_else(|e| panic!("{e}"));
    let mut batch = Batch::new().snippet_timeout(Duration::from_secs(60));
    for name in IN_VM {
        batch = batch.snippet(
            *name,
            format!("ipvsadm -C\n{} --exact {name} --ignored --nocapture --test-threads 1", exe.display()),
        );
    }
    let run = vm.run_batch(&batch).unwrap_or_else(|e| panic!("{e}"));
    // What the tests said about themselves (e.g. how often a race was met).
    for s in run.results() {
        for line in s.stderr.lines().filter(|l| l.starts_with("figure: ")) {
            eprintln!("{}: {line}", s.name);
        }
    }
    let failed: Vec<String> = IN_VM
        .iter()
        .map(|n| run.get(n).unwrap())
        .filter(|s| !s.passed() || !s.stdout.contains("1 passed"))
        .map(|s| format!("{}: status {:?}\n{}\n{}", s.name, s.status, s.stdout, s.stderr))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Tables equal, or the first service that differs (whole tables are too long to print).
fn assert_same(got: &Table, want: &Table) {
    assert_eq!(got.size(), want.size());
    for (k, v) in &want.services {
        assert_eq!(got.services.get(k), Some(v), "service {k}");
    }
}

fn tcp(a: [u8; 4], port: u16) -> ServiceKey {
    ServiceKey::Addr { protocol: proto::TCP, addr: IpAddr::V4(Ipv4Addr::from(a)), port }
}

fn rr() -> Service {
    Service { scheduler: "rr".into(), flags: ServiceFlags(0), timeout: 0, netmask: u32::MAX, pe_name: None }
}

/// A masquerading destination; non-zero thresholds, so that every dump compared with a model
/// checks they went to the kernel and came back (`ipvsadm -Sn` never shows them).
fn nat(weight: u32) -> Dest {
    Dest { forward: Forward::Masq, weight, u_threshold: 1000, l_threshold: 100 }
}

/// A table of `n` services with 4 destinations each.
fn table(n: u16) -> Table {
    let mut t = Table::default();
    for i in 0..n {
        let dests = (1..=4u8).map(|d| (DestKey { addr: IpAddr::V4(Ipv4Addr::new(10, 1, 0, d)), port: 80 }, nat(1)));
        t.services.insert(tcp([192, 0, 2, 1], 1000 + i), (rr(), dests.collect()));
    }
    t
}

#[test]
#[ignore = "needs IPVS: run inside the VM by the_client_against_the_kernel"]
fn in_vm_batches() {
    let ipvs = Ipvs::open().unwrap();
    let want = table(300);
    // 1,500 changes go out in batches; the kernel's table is exactly the model.
    let changes = tandem_ipvs::diff(&Table::default(), &want, tandem_ipvs::Scope::Whole);
    assert_eq!(changes.len(), 1500);
    assert!(ipvs.apply_all(&changes).unwrap().is_empty());
    assert_same(&ipvs.dump().unwrap(), &want);
    assert_eq!(sh("ipvsadm -Sn | grep -c '^-a'").trim(), "1200");
    // The kernel holds the thresholds as ipvsadm reads them too ("-> RemoteAddress:Port
    // Uthreshold Lthreshold ActiveConn InActConn").
    let shown = sh("ipvsadm -Ln --thresholds -t 192.0.2.1:1000");
    let line = shown.lines().find(|l| l.contains("10.1.0.2:80")).unwrap_or_default().to_string();
    assert_eq!(line.split_whitespace().skip(2).take(2).collect::<Vec<_>>(), ["1000", "100"], "{shown}");
    // Applying the same additions again: every answer is "already there", none refused.
    assert!(ipvs.apply_all(&changes).unwrap().is_empty());
    // A batch with two impossible changes among good ones: exactly those two are refused,
    // with the kernel's errno and what was being done; the rest are applied.
    let ghost = tcp([198, 51, 100, 9], 9);
    let d1 = DestKey { addr: IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1)), port: 80 };
    let mixed = vec![
        Change::EditDest(tcp([192, 0, 2, 1], 1000), d1, nat(5)),
        Change::EditService(ghost, rr()),
        Change::DelDest(tcp([192, 0, 2, 1], 1001), d1),
        Change::AddDest(ghost, d1, nat(1)),
        Change::DelService(tcp([192, 0, 2, 1], 1002)),
        Change::DelService(ghost),
    ];
    let refused = ipvs.apply_all(&mixed).unwrap();
    let got: Vec<(usize, Option<i32>)> = refused.iter().map(|(i, e)| (*i, e.errno)).collect();
    assert_eq!(got, vec![(1, Some(3)), (3, Some(3))], "{refused:?}");
    assert!(refused[1].1.to_string().contains("add destination 10.1.0.1:80 to TCP 198.51.100.9:9"), "{refused:?}");
    let mut model = want.clone();
    for (i, c) in mixed.iter().enumerate() {
        if ![1, 3].contains(&i) {
            tandem_ipvs::apply(&mut model, c);
        }
    }
    assert_same(&ipvs.dump().unwrap(), &model);
    let saved = sh("ipvsadm -Sn");
    assert!(saved.contains("-a -t 192.0.2.1:1000 -r 10.1.0.1:80 -m -w 5"), "{saved}");
    // One service's destinations alone, as the model has them; none of one not there.
    for port in [1000, 1001, 1003] {
        let key = tcp([192, 0, 2, 1], port);
        assert_eq!(Some(&ipvs.dests(&key).unwrap()), model.services.get(&key).map(|(_, d)| d), "{key}");
    }
    assert!(ipvs.dests(&ghost).unwrap().is_empty());
    assert!(!saved.contains("192.0.2.1:1002"));
    // One change alone: `apply` reports the refusal itself.
    let e = ipvs.apply(&Change::EditService(ghost, rr())).unwrap_err();
    assert_eq!(e.errno, Some(3));
}

#[test]
#[ignore = "needs IPVS: run inside the VM by the_client_against_the_kernel"]
fn in_vm_timeouts() {
    let ipvs = Ipvs::open().unwrap();
    ipvs.set_timeouts(&Timeouts { tcp: 7200, tcp_fin: 60, udp: 30 }).unwrap();
    assert_eq!(sh("ipvsadm -L --timeout").trim(), "Timeout (tcp tcpfin udp): 7200 60 30");
    assert_eq!(ipvs.timeouts().unwrap(), Timeouts { tcp: 7200, tcp_fin: 60, udp: 30 });
    // Zero leaves a timeout unchanged.
    ipvs.set_timeouts(&Timeouts { tcp: 0, tcp_fin: 0, udp: 45 }).unwrap();
    assert_eq!(ipvs.timeouts().unwrap(), Timeouts { tcp: 7200, tcp_fin: 60, udp: 45 });
    sh("ipvsadm --set 900 120 300");
    assert_eq!(ipvs.timeouts().unwrap(), Timeouts { tcp: 900, tcp_fin: 120, udp: 300 });
}

#[test]
#[ignore = "needs IPVS: run inside the VM by the_client_against_the_kernel"]
fn in_vm_sync_daemons() {
    sh("ip link add sync0 type veth peer name sync1 && ip link set sync0 up && ip link set sync1 up");
    let ipvs = Ipvs::open().unwrap();
    assert!(ipvs.sync_daemons().unwrap().is_empty());
    let master = SyncDaemon {
        state: SyncState::Master,
        interface: "sync0".into(),
        sync_id: 51,
        maxlen: Some(1000),
        group: Some("224.0.0.82".parse().unwrap()),
        port: Some(8849),
        ttl: Some(2),
    };
    ipvs.start_sync_daemon(&master).unwrap();
    let backup = SyncDaemon {
        state: SyncState::Backup,
        interface: "sync1".into(),
        sync_id: 51,
        maxlen: None,
        group: None,
        port: None,
        ttl: None,
    };
    ipvs.start_sync_daemon(&backup).unwrap();
    let listed = sh("ipvsadm -L --daemon");
    assert!(
        listed.contains("master sync daemon (mcast=sync0, syncid=51, maxlen=1000, group=224.0.0.82, port=8849, ttl=2)"),
        "{listed}"
    );
    assert!(listed.contains("backup sync daemon (mcast=sync1, syncid=51"), "{listed}");
    let got = ipvs.sync_daemons().unwrap();
    assert!(got.contains(&master), "{got:?}");
    // The backup reports the kernel's defaults for what it was not given.
    let b = got.iter().find(|d| d.state == SyncState::Backup).unwrap();
    assert_eq!((b.group, b.port), (Some("224.0.0.81".parse().unwrap()), Some(8848)), "{b:?}");
    // A second master is refused with EEXIST.
    assert_eq!(ipvs.start_sync_daemon(&master).unwrap_err().errno, Some(17));
    ipvs.stop_sync_daemon(SyncState::Master).unwrap();
    ipvs.stop_sync_daemon(SyncState::Backup).unwrap();
    assert!(ipvs.sync_daemons().unwrap().is_empty());
    assert_eq!(sh("ipvsadm -L --daemon"), "");
    assert_eq!(ipvs.stop_sync_daemon(SyncState::Master).unwrap_err().errno, Some(3));
}

/// A daemon stopped a few milliseconds after its start, before its thread first ran, stops
/// without an answer from the kernel (stop_sync_thread returns kthread_stop's -EINTR, and
/// netlink sends nothing for EINTR): tandem does that at every graceful stop of a master (the
/// backup daemon it switches to at STOP stops with tandem), and the call used to wait for the
/// answer forever. Another socket lists the daemons meanwhile: the busy CPUs make stops that
/// come before the thread ran frequent (counted from the kernel's log, where each thread
/// logs its own start).
#[test]
#[ignore = "needs IPVS: run inside the VM by the_client_against_the_kernel"]
fn in_vm_sync_daemons_stopped_as_they_start() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    sh("ip link add churn0 type veth peer name churn1 && ip link set churn0 up && ip link set churn1 up");
    sh("dmesg -c > /dev/null");
    let done = Arc::new(AtomicBool::new(false));
    let lister = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let other = Ipvs::open().unwrap();
            while !done.load(Ordering::Relaxed) {
                let _ = other.sync_daemons();
            }
        })
    };
    let ipvs = Ipvs::open().unwrap();
    const CYCLES: usize = 150;
    for i in 0..CYCLES {
        for state in [SyncState::Master, SyncState::Backup] {
            let daemon = SyncDaemon {
                state,
                interface: "churn0".into(),
                sync_id: 51,
                maxlen: None,
                group: None,
                port: None,
                ttl: None,
            };
            ipvs.start_sync_daemon(&daemon).unwrap_or_else(|e| panic!("cycle {i}: {e}"));
            ipvs.stop_sync_daemon(state).unwrap_or_else(|e| panic!("cycle {i}: {e}"));
        }
        assert_eq!(ipvs.sync_daemons().unwrap(), [], "cycle {i}");
    }
    done.store(true, Ordering::Relaxed);
    lister.join().unwrap();
    let log = sh("dmesg");
    let count = |s: &str| log.lines().filter(|l| l.contains(s)).count();
    let stops = count("stopping master sync thread") + count("stopping backup sync thread");
    let ran = count("sync thread started: state = MASTER") + count("sync thread started: state = BACKUP");
    eprintln!("figure: {stops} daemons stopped, {} of them before their thread ran", stops.saturating_sub(ran));
    assert_eq!(stops, 2 * CYCLES, "the kernel's log lost lines:\n{log}");
    // The case this test is for happened at least once (else it proved nothing).
    assert!(ran < stops, "every thread ran before its stop: the race was not met");
}

#[test]
#[ignore = "needs IPVS: run inside the VM by the_client_against_the_kernel"]
fn in_vm_stats() {
    // A client in its own namespace sends 7 datagrams from one socket to a virtual service
    // whose destination is this host (local forwarding: delivered here unchanged).
    sh("ip netns add c && ip link add c0 type veth peer name c1 netns c \
        && ip addr add 10.9.0.1/24 dev c0 && ip link set c0 up && ip link set lo up \
        && ip addr add 192.0.2.50/32 dev lo \
        && ip -n c addr add 10.9.0.2/24 dev c1 && ip -n c link set c1 up && ip -n c link set lo up \
        && ip -n c route add default via 10.9.0.1");
    let ipvs = Ipvs::open().unwrap();
    let key = ServiceKey::Addr { protocol: proto::UDP, addr: "192.0.2.50".parse().unwrap(), port: 5000 };
    let dk = DestKey { addr: "10.9.0.1".parse().unwrap(), port: 5000 };
    ipvs.apply(&Change::AddService(key, rr())).unwrap();
    ipvs.apply(&Change::AddDest(key, dk, Dest { forward: Forward::Local, ..nat(1) })).unwrap();
    let receiver = std::net::UdpSocket::bind("0.0.0.0:5000").unwrap();
    sh(
        "ip netns exec c bash -c 'exec 3>/dev/udp/192.0.2.50/5000; for i in 1 2 3 4 5 6 7; do printf 0123456789 >&3; done'",
    );
    receiver.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 200];
    for _ in 0..7 {
        receiver.recv_from(&mut buf).unwrap();
    }
    // The kernel folds its per-CPU counters into what it reports every 2 s.
    let mut polled = 0;
    let (table, stats) = loop {
        let (t, st) = ipvs.dump_with_stats().unwrap();
        if st.services.get(&key).is_some_and(|s| s.0.inpkts == 7) || polled == 50 {
            break (t, st);
        }
        polled += 1;
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(table.services.len(), 1);
    let (s, dests) = &stats.services[&key];
    let d = &dests[&dk];
    assert_eq!((s.conns, s.inpkts), (1, 7), "{s:?}\n{}", sh("ipvsadm -Ln --stats --exact; ipvsadm -Lnc"));
    assert_eq!((d.stats.conns, d.stats.inpkts, d.stats.inbytes), (1, 7, s.inbytes), "{d:?}");
    assert_eq!(d.inactive, 1, "{d:?}");
    assert_eq!(s.inbytes, 7 * (20 + 8 + 10), "{s:?}");
    // ipvsadm reads the same counters.
    let listed = sh("ipvsadm -Ln --stats --exact -u 192.0.2.50:5000");
    let service_line = listed.lines().find(|l| l.starts_with("UDP")).unwrap();
    let fields: Vec<&str> = service_line.split_whitespace().collect();
    assert_eq!(fields[2..5], ["1", "7", "0"], "{listed}");
    assert_eq!(fields[5], s.inbytes.to_string(), "{listed}");
}
