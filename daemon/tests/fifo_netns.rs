//! keepalived's three notify FIFOs, as keepalived 2.2.7 fills them (vrrp_notify.c,
//! ipwrapper.c): `notify_fifo` gets VRRP's lines and the checkers', `vrrp_notify_fifo` VRRP's
//! only, `lvs_notify_fifo` the checkers' only (`RS [rs]:tcp:port [vs]:tcp:port DOWN`,
//! `VS [vs]:tcp:port DOWN`), and `lvs_notify_fifo_script` runs with its FIFO's path. A real
//! server's TCP_CHECK fails when its listener stops. Needs root.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;
use tandem_tests::netns::{Lab, wait_until};
use tandem_tests::pair::Tandem;

const BIN: &str = env!("CARGO_BIN_EXE_tandem");

#[test]
fn each_notify_fifo_gets_the_lines_keepalived_sends_it() {
    let mut lab = Lab::new("fifo").unwrap();
    let seg = lab.segment("lan").unwrap();
    let d1 = lab.host("d1").unwrap();
    lab.connect(&d1, &seg, "eth0", &["192.0.2.1/24", "192.0.2.80/24"]).unwrap();
    let dir = lab.dir().to_path_buf();
    let reader = dir.join("reader.sh");
    std::fs::write(&reader, format!("#!/bin/sh\nexec cat \"$1\" >> {}\n", dir.join("lvs.out").display())).unwrap();
    let conf = format!(
        "global_defs {{\n    notify_fifo {all}\n    vrrp_notify_fifo {vrrp}\n    lvs_notify_fifo {lvs}\n    lvs_notify_fifo_script \"/bin/sh {reader}\"\n}}\n\
         vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n    priority 150\n    virtual_ipaddress {{\n        192.0.2.100/24\n    }}\n}}\n\
         virtual_server 192.0.2.100 80 {{\n    protocol TCP\n    delay_loop 1\n    real_server 192.0.2.80 8080 {{\n        TCP_CHECK {{\n            connect_timeout 1\n            retry 0\n        }}\n    }}\n}}\n",
        all = dir.join("all.fifo").display(),
        vrrp = dir.join("vrrp.fifo").display(),
        lvs = dir.join("lvs.fifo").display(),
        reader = reader.display(),
    );
    let web =
        lab.spawn(&d1, "/usr/bin/python3", &["-m", "http.server", "--bind", "192.0.2.80", "8080"], "web.log").unwrap();
    assert!(wait_until(Duration::from_secs(10), || {
        lab.run(&d1, "ss", &["-Hltn"])
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("192.0.2.80:8080"))
            .unwrap_or(false)
    }));
    let t = Tandem::start(&mut lab, BIN, &d1, "d1", &conf).unwrap();
    // The lines wait in the pipes (tandem holds them open for writing) until read.
    let mut got = [String::new(), String::new()];
    let read = |got: &mut [String; 2]| {
        for (i, n) in ["all.fifo", "vrrp.fifo"].iter().enumerate() {
            if let Ok(mut f) =
                std::fs::OpenOptions::new().read(true).custom_flags(nix::libc::O_NONBLOCK).open(dir.join(n))
            {
                let _ = f.read_to_string(&mut got[i]);
            }
        }
    };
    let master = "INSTANCE \"VI_1\" MASTER 150";
    assert!(
        wait_until(Duration::from_secs(10), || {
            read(&mut got);
            got[1].contains(master)
        }),
        "{got:?}\n{}",
        t.log()
    );
    lab.signal(web, "KILL").unwrap();
    let (rs, vs) = ("RS [192.0.2.80]:tcp:8080 [192.0.2.100]:tcp:80 DOWN", "VS [192.0.2.100]:tcp:80 DOWN");
    let lvs = || std::fs::read_to_string(dir.join("lvs.out")).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(10), || {
            read(&mut got);
            got[0].contains(vs) && lvs().contains(vs)
        }),
        "all: {:?} lvs: {:?}\n{}",
        got[0],
        lvs(),
        t.log()
    );
    let lines = |s: &str| s.lines().map(str::to_string).collect::<Vec<_>>();
    assert!(lines(&got[0]).contains(&master.to_string()) && lines(&got[0]).contains(&rs.to_string()), "{:?}", got[0]);
    assert!(!got[1].contains("RS ") && !got[1].contains("VS "), "vrrp_notify_fifo got checker lines: {:?}", got[1]);
    let l = lvs();
    assert!(l.contains(rs) && !l.contains("INSTANCE"), "lvs_notify_fifo: {l:?}");
}
