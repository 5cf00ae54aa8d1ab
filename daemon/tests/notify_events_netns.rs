//! Notify scripts and FIFOs through a whole life, against keepalived 2.2.7 (the judge): the
//! same keepalived.conf runs on director 1 under tandem and under keepalived, each in a lab
//! of its own, with `notify_fifo` and `vrrp_notify_fifo`, the `notify_backup`,
//! `notify_master`, `notify_fault` and `notify_stop` scripts, a generic `notify` script and a
//! `track_interface`. Director 1 starts alone (BACKUP, then MASTER when no advert comes), its
//! tracked link loses its carrier (FAULT) and gets it back (BACKUP, MASTER), a keepalived
//! peer at priority 200 starts and preempts it (BACKUP), and SIGTERM stops it (STOP). What
//! each writes to the FIFOs and what the scripts record must be the same, line for line, as
//! keepalived (keepalived/vrrp/vrrp_notify.c: send_instance_notifies, notify_shutdown).
//! Needs root.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;
use tandem_tests::keepalived::Keepalived;
use tandem_tests::netns::wait_until;
use tandem_tests::pair::{Opts, Tandem, VIP, config, settles};

const BIN: &str = env!("CARGO_BIN_EXE_tandem");

/// How long any one event may take to show (the master-down interval is 3.4 s).
const EVENT: Duration = Duration::from_secs(10);

/// What the state-specific scripts record, in order: each runs `note.sh specific STATE`.
const SPECIFIC: [&str; 7] = ["backup", "master", "fault", "backup", "master", "backup", "stop"];

/// What the generic `notify` script records (its arguments: `INSTANCE NAME STATE PRIORITY`)
/// and what both FIFOs get (`INSTANCE "NAME" STATE PRIORITY`), in order.
const STATES: [&str; 7] = ["BACKUP", "MASTER", "FAULT", "BACKUP", "MASTER", "BACKUP", "STOP"];

/// Director 1's file: VI_1 at 150, tracking extra0, with every notify script and both FIFOs.
fn conf(dir: &Path) -> String {
    let note = dir.join("note.sh");
    let note = note.display();
    let mut instance = String::from("    track_interface {\n        extra0\n    }\n");
    for state in ["master", "backup", "fault", "stop"] {
        instance += &format!("    notify_{state} \"{note} specific {state}\"\n");
    }
    instance += &format!("    notify \"{note} generic\"\n    virtual_ipaddress {{");
    format!(
        "global_defs {{\n    notify_fifo {}\n    vrrp_notify_fifo {}\n}}\n{}",
        dir.join("all.fifo").display(),
        dir.join("vrrp.fifo").display(),
        config("1", "2", Opts::v2(150)).replacen("    virtual_ipaddress {", &instance, 1)
    )
}

/// What one judge wrote: the two FIFOs and the two script transcripts.
#[derive(Debug, Default)]
struct Written {
    all: String,
    vrrp: String,
    specific: String,
    generic: String,
}

/// Both FIFOs, made beforehand and held open read-write by the test, so that nothing written
/// is lost when the daemon closes its end at exit.
struct Fifos {
    all: std::fs::File,
    vrrp: std::fs::File,
}

impl Fifos {
    fn make(dir: &Path) -> Fifos {
        let open = |name: &str| {
            let path = dir.join(name);
            nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
            std::fs::OpenOptions::new().read(true).write(true).custom_flags(nix::libc::O_NONBLOCK).open(&path).unwrap()
        };
        Fifos { all: open("all.fifo"), vrrp: open("vrrp.fifo") }
    }

    /// Reads what has come since the last call into `w`.
    fn read(&mut self, w: &mut Written) {
        let _ = self.all.read_to_string(&mut w.all);
        let _ = self.vrrp.read_to_string(&mut w.vrrp);
    }
}

#[test]
fn notify_scripts_and_fifos_follow_backup_master_fault_and_stop_as_keepalived() {
    // Both judges at once, each in a lab of its own.
    let [tandem, keepalived] = std::thread::scope(|scope| {
        ["tandem", "keepalived"].map(|judge| scope.spawn(move || under(judge))).map(|run| match run.join() {
            Ok(w) => w,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    });
    assert_eq!(tandem.all, keepalived.all, "notify_fifo: tandem (left) and keepalived (right)");
    assert_eq!(tandem.vrrp, keepalived.vrrp, "vrrp_notify_fifo: tandem (left) and keepalived (right)");
    assert_eq!(tandem.specific, keepalived.specific, "notify_STATE scripts: tandem (left) and keepalived (right)");
    assert_eq!(tandem.generic, keepalived.generic, "notify script: tandem (left) and keepalived (right)");
}

/// Director 1's life under `judge`; what it wrote, once each event showed in the FIFO.
fn under(judge: &str) -> Written {
    let mut r = tandem_tests::pair::rig(&format!("ntfy{}", &judge[..1])).unwrap();
    let (d1, d2) = (r.d1.clone(), r.d2.clone());
    let dir = r.lab.dir().to_path_buf();
    // The tracked link: extra0, whose carrier goes with its veth peer extra1.
    let ip = |args: &[&str]| {
        let out = r.lab.run(&d1, "ip", args).unwrap();
        assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    ip(&["link", "add", "extra0", "type", "veth", "peer", "name", "extra1"]);
    ip(&["link", "set", "extra1", "up"]);
    ip(&["link", "set", "extra0", "up"]);
    // Started once both links are up, so that it starts in BACKUP rather than FAULT.
    let up = |i: &str| {
        let out = r.lab.run(&d1, "cat", &[&format!("/sys/class/net/{i}/operstate")]).unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "up"
    };
    assert!(wait_until(EVENT, || up("eth0") && up("extra0")), "{judge}: eth0 or extra0 did not come up");
    let note = dir.join("note.sh");
    std::fs::write(&note, format!("#!/bin/sh\nout=$1\nshift\necho \"$*\" >> {}/$out\n", dir.display())).unwrap();
    std::fs::set_permissions(&note, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut fifos = Fifos::make(&dir);
    let pid = if judge == "tandem" {
        Tandem::start(&mut r.lab, BIN, &d1, "d1", &conf(&dir)).unwrap().pid
    } else {
        Keepalived::start(&mut r.lab, &d1, "d1", &conf(&dir)).unwrap().pid
    };
    let mut w = Written::default();
    let read_scripts = |w: &mut Written| {
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        (w.specific, w.generic) = (read("specific"), read("generic"));
    };
    let why = |what: &str, w: &Written| {
        let log = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        format!("{judge}: {what}\n{w:#?}\n--- d1\n{}\n--- peer\n{}", log("d1.log"), log("peer.log"))
    };
    // Waits until the last line of vrrp_notify_fifo and of both script transcripts says
    // `state`: one event at a time, so that the scripts of two events close together
    // cannot record them out of order.
    let mut event = |w: &mut Written, state: &str, what: &str| {
        let (fifo, generic) = (format!("INSTANCE \"VI_1\" {state} "), format!("INSTANCE VI_1 {state} "));
        let last = |s: &str, line: &str| s.lines().last().is_some_and(|l| l.starts_with(line));
        let shown = wait_until(EVENT, || {
            fifos.read(w);
            read_scripts(w);
            last(&w.vrrp, &fifo) && last(&w.specific, &state.to_lowercase()) && last(&w.generic, &generic)
        });
        assert!(shown, "{}", why(&format!("{what} (no {state} in the FIFO, notify_STATE or notify transcript)"), w));
    };

    // Alone: BACKUP at start, MASTER when no advert comes.
    event(&mut w, "MASTER", "d1 did not become master alone");
    // The tracked link loses its carrier: FAULT.
    r.lab.set_link(&d1, "extra1", false).unwrap();
    event(&mut w, "FAULT", "d1 did not fault when its tracked link went down");
    // Back: BACKUP, then MASTER again.
    r.lab.set_link(&d1, "extra1", true).unwrap();
    event(&mut w, "MASTER", "d1 did not become master again when its tracked link came back");
    // A peer at 200 preempts: BACKUP.
    Keepalived::start(&mut r.lab, &d2, "peer", &config("2", "1", Opts::v2(200))).unwrap();
    event(&mut w, "BACKUP", "d1 did not yield to the peer at 200");
    assert!(settles(&r, &d2, &d1, VIP, 5), "{}", why("the peer does not hold the VIP alone", &w));
    // SIGTERM: STOP.
    r.lab.signal(pid, "TERM").unwrap();
    event(&mut w, "STOP", "d1 did not say STOP at SIGTERM");
    assert!(
        wait_until(EVENT, || r.lab.exit_status(pid).ok().flatten().is_some()),
        "{}",
        why("d1 did not exit at SIGTERM", &w)
    );
    fifos.read(&mut w);
    read_scripts(&mut w);

    // Each state's script ran once per entry into it, in order, and so did the generic one.
    let lines = |s: &str| s.lines().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(lines(&w.specific), SPECIFIC, "{}", why("notify_STATE scripts", &w));
    let generic = STATES.map(|s| format!("INSTANCE VI_1 {s} 150"));
    assert_eq!(lines(&w.generic), generic, "{}", why("notify script", &w));
    let fifo = STATES.map(|s| format!("INSTANCE \"VI_1\" {s} 150"));
    assert_eq!(lines(&w.vrrp), fifo, "{}", why("vrrp_notify_fifo", &w));
    assert_eq!(lines(&w.all), fifo, "{}", why("notify_fifo", &w));
    w
}
