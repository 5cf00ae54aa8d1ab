//! The Debian package under systemd, in one VM boot with systemd as PID 1.
//!
//! On the host, `scripts/package` builds the .deb of the debug build the suite made (and
//! cargo-deb, when missing); its file list and control fields are checked with `dpkg-deb`. In
//! the VM (the rig's systemd mode: an overlay over the host's root, so `dpkg -i` lands in a
//! throwaway layer), the package is installed and two directors run as `tandem@d1` and
//! `tandem@d2`, each in its own network namespace on one bridge, with one VRRP instance (VIP
//! 192.0.2.100/24; d1 priority 150, d2 100). Then, one snippet each:
//!
//! 1. `installed`: the package's files are where they should be, the units neither enabled nor
//!    started;
//! 2. `start`: both units active, d1 holds the VIP, d2 not, and the unit's status line says
//!    `VI_1 MASTER`;
//! 3. `kill`: `systemctl kill -s KILL tandem@d1`: d2 takes the VIP; systemd restarts d1, which
//!    preempts;
//! 4. `watchdog`: d2's main process stopped with SIGSTOP: the watchdog fires and systemd
//!    restarts it;
//! 5. `reload`: d1's priority lowered to 50 and `systemctl reload tandem@d1`: d2 becomes master
//!    without a restart of d1.
//!
//! A drop-in for the test shortens `WatchdogSec` to 4 s (10 s in the unit) and lengthens
//! `RestartSec` to 8 s (1 s in the unit): a director killed and restarted within a second
//! would come back before d2's master-down timer (3.6 s) and d2 might never be seen holding
//! the VIP. Each snippet writes its evidence (systemctl show, systemctl status, journal, ip
//! addr) to its output directory; the assertions here quote it. About 2 to 3.5 minutes here:
//! the package (of the debug build the suite made), then the VM (boot 15-30 s, dpkg -i about 20 s
//! over the 9p root, the five steps, poweroff).

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tandem_tests::vm::{Batch, BatchRun, SnippetResult, Vm, tail};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The package `scripts/package` built, once for every test here.
fn deb() -> &'static Path {
    static DEB: OnceLock<PathBuf> = OnceLock::new();
    DEB.get_or_init(|| {
        let started = Instant::now();
        // The packaging is under test, not the optimiser: the debug binary the suite built
        // already, rather than a release build of everything (minutes on a fresh machine).
        let out = Command::new(repo().join("scripts/package"))
            .env("TANDEM_PACKAGE_PROFILE", "dev")
            .current_dir(repo())
            .output()
            .expect("scripts/package runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "scripts/package failed ({}):\n{stdout}\n{}", out.status, tail(&stderr, 40));
        let path = stdout.lines().last().map(|l| repo().join(l.trim())).expect("scripts/package prints the path");
        assert!(path.is_file(), "scripts/package printed {}, which is not a file:\n{stdout}", path.display());
        eprintln!("systemd_vm: {} built in {:.0?}", path.display(), started.elapsed());
        path.canonicalize().expect("the .deb's path")
    })
}

/// A director's keepalived.conf: one instance on eth0.
fn conf(priority: u8) -> String {
    format!(
        "vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 51\n priority {priority}\n advert_int 1\n virtual_ipaddress {{\n  192.0.2.100/24\n }}\n}}\n"
    )
}

/// Shell functions for every snippet.
const PRELUDE: &str = r#"# The package, handed to the guest as a job input: its systemd mounts a /tmp of its own,
# which hides a checkout (and its target folder) under the host's /tmp.
DEB="$TANDEM_VM_IN/tandem.deb"
OUT="$TANDEM_SNIPPET_OUT"
VIP=192.0.2.100
# prop DIRECTOR PROPERTY: one property of tandem@DIRECTOR.
prop() { systemctl show -p "$2" --value "tandem@$1"; }
# show DIRECTOR FILE: the unit's state, main pid, restarts and status line, into $OUT/FILE.
show() { systemctl show -p ActiveState -p SubState -p MainPID -p NRestarts -p StatusText -p Result "tandem@$1" > "$OUT/$2"; }
has_vip() { ip -n "$1" -o addr show dev eth0 | grep -q " $VIP/"; }
lacks_vip() { ! has_vip "$1"; }
# roles MASTER BACKUP: MASTER alone holds the VIP, and each unit's status line says so.
roles() {
  has_vip $1 && lacks_vip $2 && prop $1 StatusText | grep -q "VI_1 MASTER" && prop $2 StatusText | grep -q "VI_1 BACKUP"
}
# wait_for SECONDS COMMAND...: runs COMMAND every 0.2 s until it succeeds; prints how long it
# took in seconds (by the clock: each try takes a while under emulation); fails after SECONDS.
wait_for() {
  t0=$(date +%s%N); deadline=$(($(date +%s) + $1)); shift
  while :; do
    if "$@"; then echo "$(( ($(date +%s%N) - t0) / 1000000 ))" | awk '{ printf "%.1f\n", $1 / 1000 }'; return 0; fi
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}
# evidence DIRECTOR...: addresses, unit state, systemctl status and the journal of each.
evidence() {
  for d in "$@"; do
    ip -n $d -o addr show dev eth0 > "$OUT/addr.$d" 2>&1
    show $d "show.$d"
    systemctl status --no-pager -l "tandem@$d" > "$OUT/status.$d" 2>&1
    journalctl --no-pager -o short-monotonic -u "tandem@$d" > "$OUT/journal.$d" 2>&1
  done
}
fail() { echo "FAIL: $*"; exit 1; }
"#;

/// Installs the package; the namespaces d1 and d2 (eth0 each on the bridge in sw); the
/// configurations; the test's drop-in.
fn setup() -> String {
    format!(
        r#"set -e
# man-db's trigger would rebuild the whole man index (about 10 s under emulation).
rm -f /var/lib/man-db/auto-update
dpkg -i "$DEB" > "$OUT/dpkg.log" 2>&1 || {{ cat "$OUT/dpkg.log"; exit 1; }}
modprobe ip_vs
ip netns add sw
ip -n sw link set lo up
ip -n sw link add br0 type bridge
ip -n sw link set br0 up
n=1
for d in d1 d2; do
  ip netns add $d
  ip -n $d link set lo up
  ip link add name eth0 netns $d type veth peer name $d netns sw
  ip -n sw link set $d master br0
  ip -n sw link set $d up
  ip -n $d addr add 192.0.2.1$n/24 dev eth0
  ip -n $d link set eth0 up
  n=$((n + 1))
done
mkdir -p /etc/tandem
cat > /etc/tandem/d1.conf <<'CONF'
{c1}CONF
cat > /etc/tandem/d2.conf <<'CONF'
{c2}CONF
mkdir -p /etc/systemd/system/tandem@.service.d
cat > /etc/systemd/system/tandem@.service.d/test.conf <<'UNIT'
[Service]
WatchdogSec=4s
RestartSec=8s
UNIT
systemctl daemon-reload
"#,
        c1 = conf(150),
        c2 = conf(100)
    )
}

/// Step 1: where the files landed, and the units left alone.
const INSTALLED: &str = r#"dpkg -L tandem > "$OUT/files"
dpkg -s tandem > "$OUT/control"
missing=""
for f in /usr/sbin/tandem /usr/lib/systemd/system/tandem.service /usr/lib/systemd/system/tandem@.service \
    /usr/share/man/man8/tandem.8.gz /usr/share/man/man8/tandem-run.8.gz \
    /usr/share/bash-completion/completions/tandem /usr/share/zsh/vendor-completions/_tandem \
    /usr/share/fish/vendor_completions.d/tandem.fish /etc/tandem/tandem.toml.example \
    /usr/share/doc/tandem/copyright /usr/share/doc/tandem/LICENSE-MIT /usr/share/doc/tandem/LICENSE-APACHE; do
  [ -f "$f" ] || missing="$missing $f"
done
echo "$missing" > "$OUT/missing"
[ ! -e /etc/tandem/tandem.toml ] || echo "/etc/tandem/tandem.toml exists" >> "$OUT/missing"
if command -v man > /dev/null; then
  MANPAGER=cat MANWIDTH=80 man -l /usr/share/man/man8/tandem.8.gz > "$OUT/man" 2>&1
else
  zcat /usr/share/man/man8/tandem.8.gz > "$OUT/man" 2>&1
fi
tandem --version > "$OUT/version" 2>&1
tandem check --format toml -f /etc/tandem/tandem.toml.example > "$OUT/check" 2>&1
echo $? > "$OUT/check.status"
systemctl is-enabled tandem.service > "$OUT/enabled" 2>&1
systemctl is-active tandem.service > "$OUT/active" 2>&1
systemctl show -p FragmentPath -p LoadState tandem@d1.service > "$OUT/template"
[ -z "$(cat "$OUT/missing" | tr -d ' \n')" ] || fail "missing:$(cat "$OUT/missing")"
"#;

/// Step 2: both directors start; d1 is master.
const START: &str = r#"systemctl start tandem@d1 tandem@d2 > "$OUT/start" 2>&1 || { evidence d1 d2; fail "systemctl start: $(cat "$OUT/start")"; }
wait_for 30 has_vip d1 > "$OUT/d1_vip_after" || { evidence d1 d2; fail "d1 never held the VIP"; }
wait_for 15 roles d1 d2 > /dev/null || { evidence d1 d2; fail "d1 is not the only master"; }
tandem status --control-socket /run/tandem/d1/control.sock > "$OUT/tandem_status.d1" 2>&1
tandem status --control-socket /run/tandem/d2/control.sock > "$OUT/tandem_status.d2" 2>&1
evidence d1 d2
"#;

/// Step 3: d1 killed with SIGKILL; d2 takes over; systemd restarts d1, which preempts.
const KILL: &str = r#"pid=$(prop d1 MainPID); restarts=$(prop d1 NRestarts)
echo "$pid $restarts" > "$OUT/before"
date +%s.%N > "$OUT/t_kill"
systemctl kill -s KILL tandem@d1
wait_for 15 has_vip d2 > "$OUT/d2_vip_after" || { evidence d1 d2; fail "d2 did not take the VIP"; }
# d2's own account of its takeover: the journal stamps each line as it comes.
journalctl --no-pager -o short-unix -u tandem@d2 > "$OUT/journal.d2.unix" 2>&1
ip -n d1 -o addr show dev eth0 > "$OUT/addr.d1.killed"
restarted() { [ "$(prop d1 ActiveState)" = active ] && [ "$(prop d1 MainPID)" != "$pid" ] && [ "$(prop d1 MainPID)" != 0 ]; }
wait_for 40 restarted > "$OUT/d1_restarted_after" || { evidence d1 d2; fail "systemd did not restart d1"; }
# The killed tandem could not remove its address; the new one removes it before it is ready.
ip -n d1 -o addr show dev eth0 > "$OUT/addr.d1.restarted"
wait_for 20 roles d1 d2 > "$OUT/d1_back_after" || { evidence d1 d2; fail "d1 did not take the VIP back"; }
evidence d1 d2
"#;

/// Step 4: d2's main process stopped; the watchdog fires; systemd restarts it.
const WATCHDOG: &str = r#"pid=$(prop d2 MainPID); restarts=$(prop d2 NRestarts)
echo "$pid $restarts" > "$OUT/before"
kill -STOP "$pid"
restarted() { [ "$(prop d2 ActiveState)" = active ] && [ "$(prop d2 MainPID)" != "$pid" ] && [ "$(prop d2 MainPID)" != 0 ] && [ "$(prop d2 NRestarts)" -gt "$restarts" ]; }
wait_for 60 restarted > "$OUT/d2_restarted_after" || { evidence d1 d2; fail "d2 was not restarted"; }
wait_for 20 roles d1 d2 > /dev/null || { evidence d1 d2; fail "d1 is not the only master after d2's restart"; }
evidence d1 d2
"#;

/// Step 5: d1's priority lowered and reloaded: d2 becomes master, d1 not restarted.
const RELOAD: &str = r#"pid=$(prop d1 MainPID); restarts=$(prop d1 NRestarts)
echo "$pid $restarts" > "$OUT/before"
sed -i 's/priority 150/priority 50/' /etc/tandem/d1.conf
grep -q "priority 50" /etc/tandem/d1.conf || fail "d1.conf not changed"
systemctl reload tandem@d1 > "$OUT/reload" 2>&1 || { evidence d1 d2; fail "systemctl reload: $(cat "$OUT/reload")"; }
ok=yes
wait_for 20 roles d2 d1 > "$OUT/d2_master_after" || ok=no
evidence d1 d2
[ "$ok" = yes ] || fail "d2 did not become master after the reload"
"#;

fn run() -> &'static BatchRun {
    static RUN: OnceLock<BatchRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let vm =
            Vm::builder().systemd(true).timeout(Duration::from_secs(600)).build().unwrap_or_else(|e| panic!("{e}"));
        let package = std::fs::read(deb()).expect("the .deb");
        let batch = Batch::new()
            .input("tandem.deb", package)
            .prelude(PRELUDE)
            .setup(setup())
            .snippet_timeout(Duration::from_secs(180))
            .snippet("installed", INSTALLED)
            .snippet("start", START)
            .snippet("kill", KILL)
            .snippet("watchdog", WATCHDOG)
            .snippet("reload", RELOAD);
        let run = vm.run_batch(&batch).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("systemd_vm: the VM ran for {:.0?}", run.vm_run().elapsed());
        if let Some(setup) = run.setup() {
            assert!(
                setup.passed(),
                "the set-up (dpkg -i, namespaces) failed with {:?}:\n{}\n{}\n--- dpkg.log\n{}\n--- console\n{}",
                setup.status,
                setup.stdout,
                setup.stderr,
                setup.read_to_string("dpkg.log").unwrap_or_default(),
                tail(run.vm_run().console(), 40)
            );
        }
        run
    })
}

/// Everything a snippet wrote, for failure messages.
fn evidence(s: &SnippetResult) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&s.out_dir)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    files.sort();
    let mut text = format!("stdout:\n{}\nstderr:\n{}\n", s.stdout, tail(&s.stderr, 20));
    for f in files {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if ["stdout", "stderr", "status"].contains(&name.as_str()) {
            continue;
        }
        text.push_str(&format!("--- {name}\n{}\n", tail(&std::fs::read_to_string(&f).unwrap_or_default(), 40)));
    }
    text
}

/// The snippet `name`, which must have passed.
fn step(name: &str, what: &str) -> &'static SnippetResult {
    let s = run().get(name).unwrap();
    assert!(s.passed(), "step {name} ({what}) failed with status {:?}\n{}", s.status, evidence(s));
    s
}

/// `systemctl show` output as a map.
fn props(s: &SnippetResult, file: &str) -> HashMap<String, String> {
    s.read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn prop(s: &SnippetResult, file: &str, key: &str) -> String {
    props(s, file).get(key).cloned().unwrap_or_default()
}

/// The main pid and restart count a snippet recorded before acting.
fn before(s: &SnippetResult) -> (u32, u32) {
    let text = s.read_to_string("before").unwrap_or_default();
    let mut it = text.split_whitespace().map(|w| w.parse::<u32>().unwrap_or(u32::MAX));
    (it.next().unwrap_or(u32::MAX), it.next().unwrap_or(u32::MAX))
}

fn seconds(s: &SnippetResult, file: &str) -> f64 {
    s.read_to_string(file).unwrap_or_default().trim().parse().unwrap_or(f64::NAN)
}

#[test]
fn the_package_holds_the_binary_units_man_pages_completions_and_example() {
    let deb = deb();
    let out = Command::new("dpkg-deb").arg("-c").arg(deb).output().expect("dpkg-deb runs");
    assert!(out.status.success(), "dpkg-deb -c: {}", String::from_utf8_lossy(&out.stderr));
    let list = String::from_utf8_lossy(&out.stdout).into_owned();
    let files: Vec<&str> = list.lines().filter_map(|l| l.split_whitespace().nth(5)).collect();
    let has = |p: &str| files.contains(&format!(".{p}").as_str());
    for p in [
        "/usr/sbin/tandem",
        "/usr/lib/systemd/system/tandem.service",
        "/usr/lib/systemd/system/tandem@.service",
        "/etc/tandem/tandem.toml.example",
        "/usr/share/bash-completion/completions/tandem",
        "/usr/share/zsh/vendor-completions/_tandem",
        "/usr/share/fish/vendor_completions.d/tandem.fish",
        "/usr/share/doc/tandem/copyright",
        "/usr/share/doc/tandem/LICENSE-MIT",
        "/usr/share/doc/tandem/LICENSE-APACHE",
    ] {
        assert!(has(p), "{p} is not in the package:\n{list}");
    }
    assert!(!has("/etc/tandem/tandem.toml"), "the package must not ship a live configuration:\n{list}");
    // tandem.8 and one page per command, gzip'd as Debian wants.
    for cmd in ["", "-check", "-convert", "-run", "-plan", "-status", "-reload", "-drill", "-completions"] {
        let page = format!("/usr/share/man/man8/tandem{cmd}.8.gz");
        assert!(has(&page), "{page} is not in the package:\n{list}");
    }
    assert!(!files.iter().any(|f| f.ends_with(".8")), "an uncompressed man page:\n{list}");
    assert!(!files.iter().any(|f| f.contains("manpages")), "the hidden manpages command got a page:\n{list}");

    let info = Command::new("dpkg-deb").arg("-I").arg(deb).output().expect("dpkg-deb runs");
    let info = String::from_utf8_lossy(&info.stdout).into_owned();
    let field = |name: &str| {
        info.lines().find_map(|l| l.trim().strip_prefix(&format!("{name}: ")).map(str::to_string)).unwrap_or_default()
    };
    assert_eq!(field("Package"), "tandem", "{info}");
    assert!(field("Depends").contains("iproute2") && field("Depends").contains("libc6"), "{info}");
    assert_eq!(field("Recommends"), "ipvsadm", "{info}");
    assert!(!field("Conflicts").contains("keepalived"), "{info}");
    // The units are installed but neither enabled nor started by the maintainer scripts.
    let dir = std::env::temp_dir().join(format!("tandem-deb-control-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ok = Command::new("dpkg-deb").arg("-e").arg(deb).arg(&dir).status().expect("dpkg-deb runs");
    assert!(ok.success());
    let postinst = std::fs::read_to_string(dir.join("postinst")).unwrap_or_default();
    let conffiles = std::fs::read_to_string(dir.join("conffiles")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    // debhelper's "don't enable" snippet (enable only if it was enabled before), no start.
    assert!(postinst.contains("deb-systemd-helper debian-installed tandem.service"), "{postinst}");
    assert!(!postinst.contains("deb-systemd-invoke start") && !postinst.contains("_dh_action=start"), "{postinst}");
    assert!(postinst.contains("daemon-reload"), "{postinst}");
    assert!(conffiles.contains("/etc/tandem/tandem.toml.example"), "{conffiles}");

    // Stripped: no symbol table, no debug sections.
    let dir = std::env::temp_dir().join(format!("tandem-deb-x-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ok = Command::new("dpkg-deb").arg("-x").arg(deb).arg(&dir).status().expect("dpkg-deb runs");
    assert!(ok.success());
    let sections = Command::new("readelf").arg("-S").arg(dir.join("usr/sbin/tandem")).output().expect("readelf runs");
    let _ = std::fs::remove_dir_all(&dir);
    let sections = String::from_utf8_lossy(&sections.stdout).into_owned();
    assert!(sections.contains(".text"), "{sections}");
    assert!(!sections.contains(".symtab") && !sections.contains(".debug_info"), "not stripped:\n{sections}");
}

#[test]
fn step1_the_package_installs_its_files_and_leaves_the_units_alone() {
    let s = step("installed", "dpkg -i and the files");
    let read = |f: &str| s.read_to_string(f).unwrap_or_default();
    assert!(read("version").starts_with("tandem "), "tandem --version in the VM: {}", read("version"));
    assert!(read("man").contains("tandem"), "man -l tandem.8.gz: {}", read("man"));
    assert_eq!(read("check.status").trim(), "0", "tandem check of the example: {}", read("check"));
    // Installed, not enabled, not started: there is no configuration yet.
    assert_eq!(read("enabled").trim(), "disabled", "systemctl is-enabled tandem: {}", read("enabled"));
    assert_eq!(read("active").trim(), "inactive", "systemctl is-active tandem: {}", read("active"));
    // /lib/systemd/system on a merged-/usr system, which is where the package's /usr/lib one is.
    assert!(read("template").contains("systemd/system/tandem@.service"), "{}", read("template"));
}

#[test]
fn step2_both_directors_start_and_d1_is_master() {
    let s = step("start", "systemctl start tandem@d1 tandem@d2");
    let ev = || evidence(s);
    for d in ["d1", "d2"] {
        assert_eq!(prop(s, &format!("show.{d}"), "ActiveState"), "active", "tandem@{d} is not active\n{}", ev());
    }
    let addr = |d: &str| s.read_to_string(format!("addr.{d}")).unwrap_or_default();
    assert!(addr("d1").contains("192.0.2.100/24"), "d1 does not hold the VIP\n{}", ev());
    assert!(!addr("d2").contains("192.0.2.100/"), "d2 holds the VIP too\n{}", ev());
    let status = prop(s, "show.d1", "StatusText");
    assert!(status.contains("VI_1 MASTER"), "tandem@d1's status line is {status:?}\n{}", ev());
    assert!(prop(s, "show.d2", "StatusText").contains("VI_1 BACKUP"), "{}", ev());
    let shown = s.read_to_string("status.d1").unwrap_or_default();
    assert!(shown.contains("Status: \"VI_1 MASTER"), "systemctl status tandem@d1:\n{shown}");
    // Each instance answers on its own control socket.
    let ts = s.read_to_string("tandem_status.d1").unwrap_or_default();
    assert!(ts.contains("VI_1") && ts.contains("MASTER"), "tandem status on d1's socket:\n{ts}\n{}", ev());
    let ts = s.read_to_string("tandem_status.d2").unwrap_or_default();
    assert!(ts.contains("VI_1") && ts.contains("BACKUP"), "tandem status on d2's socket:\n{ts}\n{}", ev());
}

#[test]
fn step3_a_killed_director_is_restarted_by_systemd_and_preempts() {
    let s = step("kill", "systemctl kill -s KILL tandem@d1");
    let (pid, restarts) = before(s);
    // Timed by d2, the side that decides: from the kill to d2's journal line for its
    // transition to master, both by the guest's clock. d2 heard d1's last advert at most
    // advert_int (1 s) before the kill and waits the master-down interval after it, 3 * 1 s +
    // skew 0.61 s (RFC 3768 6.4.2): 2.61 to 3.61 s, plus journald's stamping under emulation.
    let killed = seconds(s, "t_kill");
    let journal = s.read_to_string("journal.d2.unix").unwrap_or_default();
    let master_at = journal
        .lines()
        .filter(|l| l.contains("VRRP transition") && l.contains("to=Master"))
        .filter_map(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .find(|t| *t >= killed)
        .unwrap_or_else(|| panic!("no transition to master in d2's journal after the kill:\n{journal}"));
    let took = master_at - killed;
    assert!(
        (2.5..6.0).contains(&took),
        "d2 became master {took:.2} s after d1 was killed (2.61-3.61 s by the RFC)\n{}",
        evidence(s)
    );
    assert_eq!(prop(s, "show.d1", "ActiveState"), "active", "{}", evidence(s));
    assert_eq!(prop(s, "show.d1", "NRestarts"), (restarts + 1).to_string(), "NRestarts\n{}", evidence(s));
    assert_ne!(prop(s, "show.d1", "MainPID"), pid.to_string(), "same MainPID\n{}", evidence(s));
    let addr = |d: &str| s.read_to_string(format!("addr.{d}")).unwrap_or_default();
    assert!(addr("d1").contains("192.0.2.100/24") && !addr("d2").contains("192.0.2.100/"), "{}", evidence(s));
    assert!(prop(s, "show.d1", "StatusText").contains("VI_1 MASTER"), "{}", evidence(s));
    // The restarted d1 removed the VIP its killed predecessor left before it said it was
    // ready: never two holders while it is backup.
    assert!(!addr("d1.restarted").contains("192.0.2.100/"), "{}", evidence(s));
}

#[test]
fn step4_the_watchdog_restarts_a_stopped_director() {
    let s = step("watchdog", "SIGSTOP of tandem@d2's main process");
    let (pid, restarts) = before(s);
    let show = props(s, "show.d2");
    let now: u32 = show.get("NRestarts").and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(now > restarts, "NRestarts {restarts} -> {now}\n{}", evidence(s));
    assert_ne!(show.get("MainPID").cloned().unwrap_or_default(), pid.to_string(), "{}", evidence(s));
    assert_eq!(show.get("ActiveState").map(String::as_str), Some("active"), "{}", evidence(s));
    let journal = s.read_to_string("journal.d2").unwrap_or_default();
    assert!(journal.contains("Watchdog timeout"), "no watchdog timeout in tandem@d2's journal:\n{journal}");
}

/// Needs reload to apply VRRP changes (priority) to running instances.
#[test]
fn step5_reload_moves_the_mastership_without_a_restart() {
    let s = step("reload", "lower d1's priority to 50, systemctl reload tandem@d1");
    let (pid, restarts) = before(s);
    assert_eq!(prop(s, "show.d1", "MainPID"), pid.to_string(), "d1 was restarted\n{}", evidence(s));
    assert_eq!(prop(s, "show.d1", "NRestarts"), restarts.to_string(), "d1 was restarted\n{}", evidence(s));
    assert!(prop(s, "show.d1", "StatusText").contains("VI_1 BACKUP"), "{}", evidence(s));
    assert!(prop(s, "show.d2", "StatusText").contains("VI_1 MASTER"), "{}", evidence(s));
}
