//! The codec against the kernel's own sync daemons.
//!
//! This machine's kernel has no IPVS, so `the_codec_against_the_kernel` boots the VM rig once
//! and, inside it, runs this same test binary's `in_vm_sync_lab` (ignored on the host, where it
//! cannot work). That test builds a NAT lab of network namespaces inside the VM:
//!
//! ```text
//!  cl 10.0.1.2 --front-- 10.0.1.1 + VIP 10.0.1.100  dir  10.0.2.1 --back-- 10.0.2.2 rs
//!                                                    10.0.3.1
//!                                                       |sync
//!                                   obs 10.0.3.2 -------+------- 10.0.3.3 bk
//! ```
//!
//! `dir` runs IPVS (TCP :80 -> rs:8080, TCP :81 persistent 60 s -> rs:8081, UDP :53 -> rs:5353,
//! TCP [2001:db8:1::100]:80 -> [2001:db8:2::2]:8080 and fwmark 7 persistent 60 s -> rs, all
//! masquerading) and the kernel's master sync daemon (sync id 51) on its sync interface;
//! `bk` has the same services and a backup sync daemon; `obs` listens to the group. Client
//! connections through the VIP make the master multicast records; the test checks that every
//! datagram parses, re-emits byte for byte, and matches /proc/net/ip_vs_conn on `dir`, and that
//! `bk` learnt the same entries. Then it sends `bk` datagrams of its own (a hand-made
//! connection and template, an IPv6 connection, a connection of the fwmark service and that
//! service's template as a resync sends them, and 100 connections packed by `pack`) and
//! checks `bk` lists them with the right destination, state and timeout. The first captured datagram is written to
//! the VM's output directory as hex (the fixture of `codec_kernel_bytes.rs` came from there).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed set-up step should fail the test

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};
use tandem_sync::header::{DEFAULT_MAXLEN, GROUP, PORT};
use tandem_sync::state::{proto, state_name, tcp, template};
use tandem_sync::{ConnEntry, Message, Origin, Record, flags, pack, parse_conn_table};
use tandem_tests::netns::{Host, Lab};
use tandem_tests::vm::Vm;

#[test]
fn the_codec_against_the_kernel() {
    let exe = std::env::current_exe().unwrap();
    let vm = Vm::builder().timeout(Duration::from_secs(180)).build().unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let run = vm
        .run(&format!("{} --exact in_vm_sync_lab --ignored --nocapture --test-threads 1", exe.display()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(run.stdout().contains("1 passed"), "{}\n{}", run.stdout(), run.stderr());
    println!("{}", run.stdout());
    println!("VM run: {:?} (whole boot to poweroff {:?})", run.elapsed(), started.elapsed());
    let hex = run.read_to_string("captured.hex").unwrap();
    println!("first captured datagram: {}", hex.trim());
    for file in run.files() {
        if file.extension().is_some_and(|e| e == "txt") {
            println!("{}:\n{}", file.display(), run.read_to_string(&file).unwrap());
        }
    }
}

/// Key of a connection: protocol, client, virtual and destination address and port.
type Key = (u8, IpAddr, u16, IpAddr, u16, IpAddr, u16);

fn record_key(r: &Record) -> Key {
    (r.protocol, r.client, r.cport, r.vaddr, r.vport, r.daddr, r.dport)
}

fn entry_key(e: &ConnEntry) -> Key {
    (e.protocol, e.client, e.cport, e.vaddr, e.vport, e.daddr, e.dport)
}

fn sh(lab: &Lab, host: &Host, cmd: &str) -> String {
    let out = lab.run(host, "sh", &["-c", cmd]).unwrap();
    assert!(out.status.success(), "{cmd} in {}: {}", host.ns, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn proc_table(lab: &Lab, host: &Host, file: &str) -> Vec<ConnEntry> {
    let text = sh(lab, host, &format!("cat /proc/net/{file}"));
    if let Some(out) = std::env::var_os("TANDEM_VM_OUT") {
        std::fs::write(std::path::Path::new(&out).join(format!("{}-{file}.txt", host.ns)), &text).unwrap();
    }
    let table = parse_conn_table(&text);
    assert_eq!(table.malformed, 0, "{table:?}");
    table.entries
}

fn ip(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

/// Keeps accepted connections open, reading until the peer closes.
fn serve(listener: TcpListener) {
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 64];
                while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
}

const SERVICES: &str = "ipvsadm -A -t 10.0.1.100:80 -s rr && ipvsadm -a -t 10.0.1.100:80 -r 10.0.2.2:8080 -m \
    && ipvsadm -A -t 10.0.1.100:81 -s rr -p 60 && ipvsadm -a -t 10.0.1.100:81 -r 10.0.2.2:8081 -m \
    && ipvsadm -A -u 10.0.1.100:53 -s rr && ipvsadm -a -u 10.0.1.100:53 -r 10.0.2.2:5353 -m \
    && ipvsadm -A -t [2001:db8:1::100]:80 -s rr && ipvsadm -a -t [2001:db8:1::100]:80 -r [2001:db8:2::2]:8080 -m \
    && ipvsadm -A -f 7 -s rr -p 60 && ipvsadm -a -f 7 -r 10.0.2.2:0 -m";

#[test]
#[ignore = "needs IPVS: run inside the VM by the_codec_against_the_kernel"]
fn in_vm_sync_lab() {
    let t0 = Instant::now();
    let mut lab = Lab::new("sync").unwrap();
    let [cl, dir, rs, obs, bk] = ["cl", "dir", "rs", "obs", "bk"].map(|n| lab.host(n).unwrap());
    let [front, back, sync] = ["front", "back", "sync"].map(|n| lab.segment(n).unwrap());
    lab.connect(&cl, &front, "eth0", &["10.0.1.2/24", "2001:db8:1::2/64"]).unwrap();
    lab.connect(&dir, &front, "eth0", &["10.0.1.1/24", "10.0.1.100/24", "2001:db8:1::1/64", "2001:db8:1::100/64"])
        .unwrap();
    lab.connect(&dir, &back, "eth1", &["10.0.2.1/24", "2001:db8:2::1/64"]).unwrap();
    lab.connect(&dir, &sync, "eth2", &["10.0.3.1/24"]).unwrap();
    lab.connect(&rs, &back, "eth0", &["10.0.2.2/24", "2001:db8:2::2/64"]).unwrap();
    lab.connect(&obs, &sync, "eth0", &["10.0.3.2/24"]).unwrap();
    lab.connect(&bk, &sync, "eth0", &["10.0.3.3/24"]).unwrap();
    sh(&lab, &cl, "ip route add default via 10.0.1.1 && ip -6 route add default via 2001:db8:1::1");
    sh(&lab, &rs, "ip route add default via 10.0.2.1 && ip -6 route add default via 2001:db8:2::1");
    sh(&lab, &obs, "ip route add 224.0.0.0/4 dev eth0");
    sh(&lab, &dir, "sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1");
    assert_eq!(
        sh(&lab, &dir, "sysctl -n net.ipv4.vs.sync_threshold").split_whitespace().collect::<Vec<_>>(),
        ["3", "50"]
    );
    sh(&lab, &dir, SERVICES);
    sh(&lab, &bk, SERVICES);
    sh(&lab, &bk, "ipvsadm --start-daemon backup --mcast-interface eth0 --syncid 51");
    sh(&lab, &dir, "ipvsadm --start-daemon master --mcast-interface eth2 --syncid 51");

    let listen = Lab::within(&obs, || {
        let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT)).unwrap();
        s.join_multicast_v4(&GROUP, &Ipv4Addr::new(10, 0, 3, 2)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        s
    })
    .unwrap();
    let (l80, l81, udp) = Lab::within(&rs, || {
        (
            TcpListener::bind("[::]:8080").unwrap(), // both families
            TcpListener::bind("0.0.0.0:8081").unwrap(),
            UdpSocket::bind("0.0.0.0:5353").unwrap(),
        )
    })
    .unwrap();
    serve(l80);
    serve(l81);

    // Two connections to :80, two to the persistent :81 (one template), one over IPv6, three
    // UDP datagrams.
    // Each TCP client sends SYN, ACK and three data segments: the third packet of an
    // established connection makes the master send it (sync_threshold 3).
    let clients: Vec<TcpStream> = Lab::within(&cl, || {
        let mut streams = Vec::new();
        for (vip, port) in
            [("10.0.1.100", 80), ("10.0.1.100", 80), ("10.0.1.100", 81), ("10.0.1.100", 81), ("2001:db8:1::100", 80)]
        {
            let mut s = TcpStream::connect((vip, port)).unwrap();
            for chunk in [b"a", b"b", b"c"] {
                s.write_all(chunk).unwrap();
                std::thread::sleep(Duration::from_millis(30));
            }
            streams.push(s);
        }
        let u = UdpSocket::bind("0.0.0.0:0").unwrap();
        for _ in 0..3 {
            u.send_to(b"query", "10.0.1.100:53").unwrap();
        }
        streams
    })
    .unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 64];
    for _ in 0..3 {
        udp.recv_from(&mut buf).unwrap();
    }

    // Collect datagrams until every entry of the director's table has a record (the master
    // flushes a buffer within 2 s), and a little more.
    println!("lab ready, traffic sent after {:?}", t0.elapsed());
    let table = proc_table(&lab, &dir, "ip_vs_conn");
    assert_eq!(table.len(), 7, "{table:#?}");
    let mut captured: Vec<Vec<u8>> = Vec::new();
    let mut latest: HashMap<Key, Record> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut quiet_from: Option<Instant> = None;
    while Instant::now() < deadline {
        let mut dgram = [0u8; 65536];
        if let Ok((n, from)) = listen.recv_from(&mut dgram) {
            assert_eq!(from.ip(), ip([10, 0, 3, 1]));
            let bytes = dgram[..n].to_vec();
            let msg = Message::parse(&bytes).unwrap_or_else(|e| panic!("{e}: {bytes:02x?}"));
            assert_eq!(msg.sync_id, 51);
            assert_eq!(msg.emit().unwrap(), bytes, "re-emitted bytes differ");
            for r in &msg.records {
                assert_eq!(r.backup_skips(), None, "{r:?}");
                latest.insert(record_key(r), r.clone());
            }
            captured.push(bytes);
        }
        if table.iter().all(|e| latest.contains_key(&entry_key(e))) {
            let since = *quiet_from.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_millis(300) {
                break;
            }
        }
    }
    let records: usize = captured.iter().map(|d| Message::parse(d).unwrap().records.len()).sum();
    println!("captured {} datagrams, {records} records, after {:?}", captured.len(), t0.elapsed());
    for d in &captured {
        for r in Message::parse(d).unwrap().records {
            println!("  record {r:?}");
        }
    }
    for e in &table {
        println!("  proc {e:?}");
        let r = latest.get(&entry_key(e)).unwrap_or_else(|| panic!("no record for {e:?}"));
        let is_template = e.looks_like_template();
        assert_eq!(r.is_template(), is_template, "{r:?} / {e:?}");
        assert_eq!(state_name(r.protocol, is_template, r.state), e.state, "{r:?} / {e:?}");
        assert_eq!(r.flags & flags::FWD_MASK, flags::MASQ, "{r:?}");
        assert_eq!(r.flags & (flags::SYNC | flags::HASHED | flags::ONE_PACKET), 0, "{r:?}");
        let timeout = match (is_template, r.protocol) {
            (true, _) => 60,
            (false, proto::TCP) => 900,
            (false, _) => 300,
        };
        assert_eq!(r.timeout, timeout, "{r:?}");
        assert!(e.expires <= u64::from(r.timeout), "{e:?}");
        assert_eq!((r.fwmark, r.seq, &r.pe_data, &r.pe_name), (0, None, &None, &None), "{r:?}");
    }
    assert_eq!(table.iter().filter(|e| e.looks_like_template()).count(), 1);
    assert!(table.iter().filter(|e| e.protocol == proto::TCP && e.cport != 0).all(|e| e.state == "ESTABLISHED"));
    if let (Some(out), Some(first)) = (std::env::var_os("TANDEM_VM_OUT"), captured.first()) {
        let hex = |d: &Vec<u8>| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        std::fs::write(std::path::Path::new(&out).join("captured.hex"), hex(first) + "\n").unwrap();
        let all: String = captured.iter().map(|d| hex(d) + "\n").collect();
        std::fs::write(std::path::Path::new(&out).join("captured-all.hex"), all).unwrap();
    }

    // The backup learnt the master's entries.
    let learnt = proc_table(&lab, &bk, "ip_vs_conn_sync");
    for e in &table {
        let b = learnt.iter().find(|b| entry_key(b) == entry_key(e)).unwrap_or_else(|| panic!("bk lacks {e:?}"));
        assert_eq!((b.origin, &b.state), (Some(Origin::Sync), &e.state), "{b:?}");
    }

    // The other direction: records of our own, sent from obs to the backup.
    let conn = Record {
        protocol: proto::TCP,
        flags: flags::MASQ,
        state: tcp::ESTABLISHED,
        client: ip([10, 0, 1, 77]),
        cport: 40001,
        vaddr: ip([10, 0, 1, 100]),
        vport: 80,
        daddr: ip([10, 0, 2, 2]),
        dport: 8080,
        fwmark: 0,
        timeout: 900,
        seq: None,
        pe_data: None,
        pe_name: None,
        unknown_options: vec![],
    };
    let tpl = Record {
        flags: flags::TEMPLATE,
        state: template::NONE,
        cport: 0,
        vport: 81,
        dport: 8081,
        timeout: 300,
        ..conn.clone()
    };
    // An IPv6 connection, a connection of the fwmark service 7 and that service's template
    // (protocol IP, the mark in the virtual address), as a resync sends them.
    let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
    let conn6 = Record {
        client: v6("2001:db8:1::77"),
        vaddr: v6("2001:db8:1::100"),
        daddr: v6("2001:db8:2::2"),
        cport: 40006,
        ..conn.clone()
    };
    let fwm = Record { client: ip([10, 0, 1, 78]), cport: 40007, vport: 443, dport: 443, fwmark: 7, ..conn.clone() };
    let fwm_tpl = Record {
        protocol: 0,
        flags: flags::TEMPLATE,
        state: template::NONE,
        client: ip([10, 0, 1, 78]),
        cport: 0,
        vaddr: ip([0, 0, 0, 7]),
        vport: 0,
        dport: 0,
        fwmark: 7,
        timeout: 300,
        ..conn.clone()
    };
    let extra = Message { sync_id: 51, records: vec![conn6.clone(), fwm.clone(), fwm_tpl.clone()] }.emit().unwrap();
    let hand_made = Message { sync_id: 51, records: vec![conn.clone(), tpl.clone()] }.emit().unwrap();
    let many: Vec<Record> = (0..100u16)
        .map(|i| Record { client: ip([10, 0, 9, (i % 200) as u8 + 1]), cport: 20000 + i, timeout: 600, ..conn.clone() })
        .collect();
    let packed = pack(51, &many, DEFAULT_MAXLEN).unwrap();
    assert_eq!(packed.len(), 3);
    assert!(packed.iter().all(|d| d.len() <= DEFAULT_MAXLEN));
    let sender = Lab::within(&obs, || {
        let s = UdpSocket::bind("10.0.3.2:0").unwrap();
        s.set_multicast_loop_v4(false).unwrap();
        s
    })
    .unwrap();
    for d in [&hand_made, &extra].into_iter().chain(&packed) {
        assert_eq!(sender.send_to(d, (GROUP, PORT)).unwrap(), d.len());
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let learnt = loop {
        let learnt = proc_table(&lab, &bk, "ip_vs_conn_sync");
        let ours = learnt.iter().filter(|e| e.client != ip([10, 0, 1, 2])).count();
        if ours >= 105 || Instant::now() > deadline {
            break learnt;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let find = |r: &Record| learnt.iter().find(|e| entry_key(e) == record_key(r)).cloned();
    let c = find(&conn).unwrap_or_else(|| panic!("bk lacks our connection: {learnt:#?}"));
    println!("  bk {c:?}");
    assert_eq!((c.state.as_str(), c.origin, c.daddr, c.dport), ("ESTABLISHED", Some(Origin::Sync), conn.daddr, 8080));
    assert!((890..=900).contains(&c.expires), "{c:?}");
    let t = find(&tpl).unwrap_or_else(|| panic!("bk lacks our template: {learnt:#?}"));
    println!("  bk {t:?}");
    assert_eq!((t.state.as_str(), t.origin, t.dport), ("NONE", Some(Origin::Sync), 8081));
    assert!((290..=300).contains(&t.expires), "{t:?}");
    let c6 = find(&conn6).unwrap_or_else(|| panic!("bk lacks our IPv6 connection: {learnt:#?}"));
    println!("  bk {c6:?}");
    assert_eq!(
        (c6.state.as_str(), c6.origin, c6.daddr, c6.dport),
        ("ESTABLISHED", Some(Origin::Sync), conn6.daddr, 8080)
    );
    let f = find(&fwm).unwrap_or_else(|| panic!("bk lacks our fwmark connection: {learnt:#?}"));
    println!("  bk {f:?}");
    assert_eq!((f.state.as_str(), f.origin, f.daddr, f.dport), ("ESTABLISHED", Some(Origin::Sync), fwm.daddr, 443));
    let ft = learnt
        .iter()
        .find(|e| e.protocol == 0 && e.fwmark() == Some(7))
        .unwrap_or_else(|| panic!("bk lacks our fwmark template: {learnt:#?}"));
    println!("  bk {ft:?}");
    assert_eq!(
        (ft.state.as_str(), ft.origin, ft.client, ft.daddr),
        ("NONE", Some(Origin::Sync), fwm_tpl.client, fwm.daddr)
    );
    for r in &many {
        let e = find(r).unwrap_or_else(|| panic!("bk lacks packed record {r:?}"));
        assert!((590..=600).contains(&e.expires), "{e:?}");
    }
    // And ipvsadm agrees on the destination of our connection.
    let listed = sh(&lab, &bk, "ipvsadm -Lnc");
    assert!(
        listed
            .lines()
            .any(|l| l.contains("10.0.1.77:40001") && l.contains("10.0.2.2:8080") && l.contains("ESTABLISHED")),
        "{listed}"
    );
    drop(clients);
    println!("lab done in {:?}", t0.elapsed());
}
