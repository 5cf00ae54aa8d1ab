//! A throwaway VM for everything that needs IPVS (this machine's kernel has none).
//!
//! The VM boots the host's own Debian kernel under QEMU (TCG; KVM hangs here) from a tiny
//! initramfs: busybox, an init script and the module files (IPVS with every scheduler, veth,
//! bridge, tunnels, virtio and 9p). Init mounts the host's root read-only over 9p, mounts
//! proc/sys/dev and a tmpfs on `/run` over it, chroots into it and runs
//! the caller's shell script as root: the host's cargo-built binaries, `ipvsadm` and
//! `keepalived` all run there against real IPVS. The VM has no NIC (`-nic none`): whatever
//! networking a test needs lives in network namespaces inside the VM.
//!
//! Results come back through a second, writable 9p share, a per-run directory on the host:
//! the script's stdout, stderr and exit status, and every file it writes under
//! `$TANDEM_VM_OUT`. The serial console is kept only for diagnostics.
//!
//! A boot takes about 7 s, so group many checks into one boot: [`Batch`] runs named shell
//! snippets one after the other in one VM and gives each one's status and output.
//!
//! ```no_run
//! # fn main() -> Result<(), tandem_tests::vm::VmError> {
//! use tandem_tests::vm::{Batch, Vm};
//! let vm = Vm::builder().memory(1024).cpus(2).build()?;
//! let run = vm.run("ipvsadm -A -t 10.0.0.1:80 -s rr && ipvsadm -Sn > $TANDEM_VM_OUT/rules")?;
//! assert!(run.read_to_string("rules")?.contains("-A -t 10.0.0.1:80 -s rr"));
//!
//! let batch = Batch::new().snippet("rr", "ipvsadm -A -t 10.0.0.1:80 -s rr").snippet("nope", "false");
//! let results = vm.run_batch(&batch)?;
//! assert!(results.get("rr").is_some_and(|r| r.passed()));
//! # Ok(()) }
//! ```
//!
//! Inside the VM the script sees:
//! - `TANDEM_VM=1`, `TANDEM_VM_KERNEL` (the kernel version);
//! - `TANDEM_VM_OUT`: a writable directory whose files the host reads back ([`VmRun::out_dir`]);
//! - `TANDEM_VM_IN`: a directory holding the [`Job`]'s input files;
//! - `PATH` as root's, `HOME` and `TMPDIR` a writable `/run/tmp` (on the `/run` tmpfs; `/tmp`
//!   and `/var/tmp` stay the host's, read-only, so a checkout under them is visible), `lo` up, the rest of the
//!   host's file system read-only.
//!
//! **systemd mode** ([`VmBuilder::systemd`]): instead of a chroot, init lays a writable
//! overlay (upper layer on a tmpfs) over the read-only host root, enables a oneshot unit,
//! `tandem-vm.service`, ordered after `multi-user.target`, masks the units the host enables
//! that have no place in the VM ([`SYSTEMD_MASKED_UNITS`], plus [`VmBuilder::mask`]) and
//! switches to systemd as PID 1. The unit runs the same driver with the same environment,
//! records its status, stdout and stderr in the share, and runs `systemctl poweroff
//! --no-block`; once the status is there the host waits at most [`SYSTEMD_SHUTDOWN_GRACE`] for
//! the VM to power off, then stops QEMU. The script can install packages (`dpkg -i`), write
//! under `/etc` and start units: everything lands in the overlay and is gone with the VM.
//! A boot to poweroff takes about a minute under TCG.
//!
//! Concurrency: at most `$TANDEM_VM_JOBS` VMs run at once in one process (default: half the
//! CPUs, at least one); the others wait for a slot before their timeout starts. Set
//! `TANDEM_KEEP_VM=1` to keep the run directories (console log, share) for inspection.

mod initramfs;
mod kernel;

pub use kernel::{DEFAULT_MODULES, Kernel, newest_kernel};

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The exit status a [`Batch`] snippet gets when it runs past its timeout (`timeout(1)`'s).
pub const SNIPPET_TIMED_OUT: i32 = 124;

/// Lines of console, stdout and stderr quoted in error messages.
const TAIL_LINES: usize = 40;

/// Units the host image may enable that systemd mode masks: services and timers that have no
/// place in a throwaway VM without a network (keepalived would float its addresses beside
/// the test's), gettys on the console, and boot steps that only cost time under emulation.
pub const SYSTEMD_MASKED_UNITS: &[&str] = &[
    "keepalived.service",
    "ipvsadm.service",
    "postgresql.service",
    "postgresql@.service",
    "getty@.service",
    "serial-getty@.service",
    "console-getty.service",
    "getty-static.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "man-db.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    "logrotate.timer",
    "systemd-timesyncd.service",
    "systemd-pstore.service",
    "systemd-remount-fs.service",
    "systemd-firstboot.service",
    "systemd-repart.service",
    "systemd-random-seed.service",
    "systemd-binfmt.service",
    "proc-sys-fs-binfmt_misc.automount",
    "systemd-update-utmp.service",
    "systemd-update-utmp-runlevel.service",
    "systemd-logind.service",
    "systemd-user-sessions.service",
    "cron.service",
    "ssh.service",
    "networking.service",
    "systemd-networkd-wait-online.service",
    "NetworkManager-wait-online.service",
];

/// How long the host waits, in systemd mode, for the VM to power off once the script's
/// status is in the share (stopping the units it started); then QEMU is stopped.
pub const SYSTEMD_SHUTDOWN_GRACE: Duration = Duration::from_secs(60);

/// The unit systemd mode runs the driver with (`SHARE` is the share's path in the guest).
fn systemd_unit(share: &str) -> String {
    format!(
        r#"# tandem VM rig (generated): runs the job's script once the system is up.
[Unit]
Description=tandem VM job
# No default dependencies: multi-user.target wants this unit but is not ordered after it.
DefaultDependencies=no
After=multi-user.target
Conflicts=shutdown.target
Before=shutdown.target

[Service]
Type=oneshot
ExecStart=/bin/sh {share}/runner.sh
TimeoutStartSec=infinity
StandardOutput=journal+console
StandardError=journal+console
"#
    )
}

/// What the unit runs: the driver with the chroot mode's plumbing, then the poweroff.
fn systemd_runner(share: &str) -> String {
    format!(
        r#"# tandem VM rig (generated)
/bin/sh {share}/driver.sh < /dev/null > {share}/stdout 2> {share}/stderr
echo $? > {share}/status.tmp
mv {share}/status.tmp {share}/status
echo "tandem-vm: script exited with status $(cat {share}/status)" > /dev/console
sync
systemctl poweroff --no-block
"#
    )
}

/// Why a VM run failed.
#[derive(Debug)]
pub enum VmError {
    /// QEMU could not be started.
    QemuMissing {
        /// The program tried.
        program: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// No usable kernel image (or its modules are not installed).
    KernelMissing {
        /// What was looked for and why it did not do.
        detail: String,
    },
    /// No statically linked busybox.
    BusyboxMissing {
        /// What was looked for and why it did not do.
        detail: String,
    },
    /// A required kernel module is missing.
    Module {
        /// The module.
        module: String,
        /// What modprobe said.
        detail: String,
    },
    /// A host tool the rig needs (modprobe, xz, ...) failed.
    Tool {
        /// The tool.
        tool: String,
        /// What went wrong.
        detail: String,
    },
    /// A file operation on the host failed.
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: io::Error,
    },
    /// A snippet name, input path or environment variable name is not acceptable.
    Invalid(String),
    /// The job's cancel flag was raised; QEMU has been killed and reaped.
    Cancelled,
    /// QEMU ended without the script having finished (the VM did not boot, init failed, the
    /// kernel panicked, QEMU crashed).
    BootFailed {
        /// QEMU's exit status and stderr.
        detail: String,
        /// The end of the serial console.
        console_tail: String,
    },
    /// The VM ran past its timeout and was killed.
    Timeout {
        /// The timeout.
        timeout: Duration,
        /// The pid QEMU had (it has been killed and reaped).
        qemu_pid: u32,
        /// The run's directory on the host (removed unless `TANDEM_KEEP_VM` is set).
        run_dir: PathBuf,
        /// The end of what the script had written to stdout by then.
        stdout_tail: String,
        /// The end of what the script had written to stderr by then.
        stderr_tail: String,
        /// The end of the serial console.
        console_tail: String,
    },
    /// The script exited with a non-zero status ([`Vm::run`] only); the whole run is inside.
    ScriptFailed(Box<VmRun>),
    /// Some [`Batch`] snippets failed ([`BatchRun::check`]).
    SnippetsFailed {
        /// One report per failed snippet: name, status, output tails.
        failures: Vec<String>,
        /// The end of the serial console.
        console_tail: String,
    },
}

impl VmError {
    fn io(context: impl Into<String>, source: io::Error) -> VmError {
        VmError::Io { context: context.into(), source }
    }
}

fn indent(text: &str) -> String {
    if text.trim().is_empty() {
        return "    (empty)\n".to_string();
    }
    text.lines().map(|l| format!("    {l}\n")).collect()
}

impl fmt::Display for VmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VmError::QemuMissing { program, detail } => {
                write!(f, "cannot run QEMU ({}): {detail} (install qemu-system-x86)", program.display())
            }
            VmError::KernelMissing { detail } => write!(f, "no kernel for the VM: {detail}"),
            VmError::BusyboxMissing { detail } => write!(f, "no busybox for the VM: {detail}"),
            VmError::Cancelled => write!(f, "the VM run was cancelled"),
            VmError::Module { module, detail } => write!(f, "kernel module {module}: {detail}"),
            VmError::Tool { tool, detail } => write!(f, "{tool}: {detail}"),
            VmError::Io { context, source } => write!(f, "{context}: {source}"),
            VmError::Invalid(what) => write!(f, "invalid VM request: {what}"),
            VmError::BootFailed { detail, console_tail } => {
                write!(
                    f,
                    "the VM ended without finishing the script: {detail}\n  console tail:\n{}",
                    indent(console_tail)
                )
            }
            VmError::Timeout { timeout, qemu_pid, stdout_tail, stderr_tail, console_tail, .. } => write!(
                f,
                "the VM ran past its {timeout:?} timeout; QEMU (pid {qemu_pid}) was killed\n  stdout tail:\n{}  stderr tail:\n{}  console tail:\n{}",
                indent(stdout_tail),
                indent(stderr_tail),
                indent(console_tail)
            ),
            VmError::ScriptFailed(run) => write!(
                f,
                "the VM script exited with status {}\n  stdout tail:\n{}  stderr tail:\n{}  console tail:\n{}",
                run.status,
                indent(&tail(&run.stdout, TAIL_LINES)),
                indent(&tail(&run.stderr, TAIL_LINES)),
                indent(&tail(&run.console, TAIL_LINES))
            ),
            VmError::SnippetsFailed { failures, console_tail } => {
                writeln!(f, "{} VM snippet(s) failed:", failures.len())?;
                for failure in failures {
                    write!(f, "{failure}")?;
                }
                write!(f, "  console tail:\n{}", indent(console_tail))
            }
        }
    }
}

impl std::error::Error for VmError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            VmError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines.get(start..).unwrap_or(&[]).join("\n")
}

/// Configures a [`Vm`].
#[derive(Debug, Clone)]
pub struct VmBuilder {
    kernel: Option<PathBuf>,
    kernel_version: Option<String>,
    qemu: PathBuf,
    busybox: Option<PathBuf>,
    memory_mb: u32,
    cpus: u32,
    timeout: Duration,
    accel: String,
    append: Vec<String>,
    modules: Vec<String>,
    env: Vec<(String, String)>,
    systemd: bool,
    masked: Vec<String>,
}

impl Default for VmBuilder {
    fn default() -> Self {
        VmBuilder {
            kernel: None,
            kernel_version: None,
            qemu: PathBuf::from("qemu-system-x86_64"),
            busybox: None,
            memory_mb: 1024,
            cpus: 2,
            timeout: Duration::from_secs(120),
            accel: "tcg".to_string(),
            append: Vec::new(),
            modules: Vec::new(),
            env: Vec::new(),
            systemd: false,
            masked: Vec::new(),
        }
    }
}

impl VmBuilder {
    /// The kernel image to boot (default: the newest `/boot/vmlinuz-*` with modules installed).
    /// Its version is taken from the name `vmlinuz-VERSION` unless [`Self::kernel_version`] says.
    pub fn kernel(mut self, image: impl Into<PathBuf>) -> Self {
        self.kernel = Some(image.into());
        self
    }

    /// The version of the kernel given to [`Self::kernel`] (which `/lib/modules` to use).
    pub fn kernel_version(mut self, version: impl Into<String>) -> Self {
        self.kernel_version = Some(version.into());
        self
    }

    /// The QEMU binary (default `qemu-system-x86_64` from `PATH`).
    pub fn qemu(mut self, program: impl Into<PathBuf>) -> Self {
        self.qemu = program.into();
        self
    }

    /// A statically linked busybox (default `/usr/bin/busybox`, else `/bin/busybox`).
    pub fn busybox(mut self, path: impl Into<PathBuf>) -> Self {
        self.busybox = Some(path.into());
        self
    }

    /// Guest memory in MiB (default 1024).
    pub fn memory(mut self, mb: u32) -> Self {
        self.memory_mb = mb;
        self
    }

    /// Guest CPUs (default 2).
    pub fn cpus(mut self, n: u32) -> Self {
        self.cpus = n.max(1);
        self
    }

    /// How long one boot may take, from QEMU's start to its exit (default 120 s); past it
    /// QEMU is killed and the run fails with [`VmError::Timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// QEMU's accelerator (default `tcg`; KVM hangs on this machine).
    pub fn accel(mut self, accel: impl Into<String>) -> Self {
        self.accel = accel.into();
        self
    }

    /// An extra kernel command-line argument.
    pub fn kernel_arg(mut self, arg: impl Into<String>) -> Self {
        self.append.push(arg.into());
        self
    }

    /// An extra module to load (with its dependencies) besides [`DEFAULT_MODULES`]; an error
    /// at [`Self::build`] if the kernel lacks it.
    pub fn module(mut self, name: impl Into<String>) -> Self {
        self.modules.push(name.into());
        self
    }

    /// An environment variable for every script this VM runs.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// systemd as PID 1 on a writable overlay of the host's root, the script run by a unit
    /// once `multi-user.target` is reached (see the module documentation); default off (a
    /// chroot, far quicker to boot). Adds the `overlay` module.
    pub fn systemd(mut self, on: bool) -> Self {
        self.systemd = on;
        self
    }

    /// In systemd mode, another unit to mask besides [`SYSTEMD_MASKED_UNITS`].
    pub fn mask(mut self, unit: impl Into<String>) -> Self {
        self.masked.push(unit.into());
        self
    }

    /// Checks QEMU, finds the kernel and busybox and builds (or reuses) the initramfs.
    pub fn build(self) -> Result<Vm, VmError> {
        for (name, _) in &self.env {
            check_env_name(name)?;
        }
        for unit in &self.masked {
            check_unit_name(unit)?;
        }
        let version = Command::new(&self.qemu).arg("--version").stdin(Stdio::null()).output();
        match version {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                return Err(VmError::QemuMissing {
                    program: self.qemu.clone(),
                    detail: format!("--version failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
                });
            }
            Err(e) => return Err(VmError::QemuMissing { program: self.qemu.clone(), detail: e.to_string() }),
        }
        let kernel = match &self.kernel {
            Some(image) => kernel::kernel_at(image, self.kernel_version.as_deref())?,
            None => newest_kernel()?,
        };
        let busybox = match &self.busybox {
            Some(b) => b.clone(),
            None => ["/usr/bin/busybox", "/bin/busybox"].iter().map(PathBuf::from).find(|p| p.is_file()).ok_or_else(
                || VmError::BusyboxMissing {
                    detail: "no /usr/bin/busybox or /bin/busybox (install busybox-static)".to_string(),
                },
            )?,
        };
        let mut modules: Vec<(String, bool)> =
            DEFAULT_MODULES.iter().map(|m| (m.to_string(), kernel::REQUIRED_DEFAULT_MODULES.contains(m))).collect();
        let overlay = self.systemd.then(|| "overlay".to_string());
        for m in self.modules.iter().chain(overlay.as_ref()) {
            if !modules.iter().any(|(n, _)| n == m) {
                modules.push((m.clone(), true));
            }
        }
        let initramfs = initramfs::for_kernel(&kernel, &busybox, &modules, self.systemd)?;
        Ok(Vm { config: self, kernel, initramfs })
    }
}

fn check_unit_name(name: &str) -> Result<(), VmError> {
    let ok = name.contains('.')
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | ':' | '\\'));
    if ok { Ok(()) } else { Err(VmError::Invalid(format!("unit name {name:?}"))) }
}

fn check_env_name(name: &str) -> Result<(), VmError> {
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok { Ok(()) } else { Err(VmError::Invalid(format!("environment variable name {name:?}"))) }
}

/// Quotes `s` for the shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A bootable VM configuration; every [`Vm::run`] boots a fresh VM. Cheap to clone, and
/// shareable between threads.
#[derive(Debug, Clone)]
pub struct Vm {
    config: VmBuilder,
    kernel: Kernel,
    initramfs: initramfs::Initramfs,
}

/// A script to run in a VM, with input files and its own timeout.
#[derive(Debug, Clone, Default)]
pub struct Job {
    script: String,
    inputs: Vec<(PathBuf, Vec<u8>)>,
    timeout: Option<Duration>,
    stream: bool,
    cancel: Option<Arc<AtomicBool>>,
}

impl Job {
    /// A job running `script` with `/bin/sh` (as root, in the chroot of the host's root).
    pub fn new(script: impl Into<String>) -> Job {
        Job { script: script.into(), ..Job::default() }
    }

    /// A file the script finds at `$TANDEM_VM_IN/PATH` (`path` relative, without `..`).
    pub fn input(mut self, path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) -> Job {
        self.inputs.push((path.into(), contents.into()));
        self
    }

    /// This job's timeout, instead of the VM's.
    pub fn timeout(mut self, timeout: Duration) -> Job {
        self.timeout = Some(timeout);
        self
    }

    /// Copies what the script writes to its stdout and stderr to this process's as it comes
    /// (every 25 ms), instead of only at the end: for the lab, which narrates as it goes.
    pub fn stream(mut self) -> Job {
        self.stream = true;
        self
    }

    /// Stops the VM (QEMU killed and reaped, [`VmError::Cancelled`]) once `flag` is raised:
    /// a Ctrl-C on the host ends the run cleanly.
    pub fn cancel_on(mut self, flag: Arc<AtomicBool>) -> Job {
        self.cancel = Some(flag);
        self
    }
}

/// Copies what was appended to the guest's stdout and stderr files since the last call.
#[derive(Debug, Default)]
struct Follow {
    stdout: u64,
    stderr: u64,
}

impl Follow {
    fn pump(&mut self, share: &Path) {
        use std::io::{Read, Seek, SeekFrom, Write};
        let copy = |name: &str, at: &mut u64, out: &mut dyn Write| {
            let Ok(mut f) = std::fs::File::open(share.join(name)) else { return };
            if f.seek(SeekFrom::Start(*at)).is_err() {
                return;
            }
            let mut buf = Vec::new();
            if let Ok(n) = f.read_to_end(&mut buf) {
                *at += n as u64;
                let _ = out.write_all(&buf);
                let _ = out.flush();
            }
        };
        copy("stdout", &mut self.stdout, &mut std::io::stdout().lock());
        copy("stderr", &mut self.stderr, &mut std::io::stderr().lock());
    }
}

/// A run's directory on the host, removed on drop unless kept.
#[derive(Debug)]
struct RunDir {
    path: PathBuf,
    keep: bool,
}

impl RunDir {
    fn new() -> Result<RunDir, VmError> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        static PURGED: OnceLock<()> = OnceLock::new();
        let base = std::env::temp_dir().join("tandem-vm-runs");
        let keep = std::env::var_os("TANDEM_KEEP_VM").is_some();
        if !keep {
            PURGED.get_or_init(|| purge_stale(&base));
        }
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let path = base.join(format!(
            "{}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            nanos % 1_000_000_000
        ));
        for d in ["share/out", "share/in"] {
            std::fs::create_dir_all(path.join(d))
                .map_err(|e| VmError::io(format!("creating {}", path.display()), e))?;
        }
        Ok(RunDir { path, keep })
    }
    fn share(&self) -> PathBuf {
        self.path.join("share")
    }
}

/// Removes the run directories of processes that are gone (killed without unwinding, or
/// holding a run in a `static`, whose destructor never runs).
fn purge_stale(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.split('-').next()) else { continue };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// QEMU, killed and reaped on drop unless it has already exited.
struct Qemu {
    child: Child,
}

impl Drop for Qemu {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Limits how many VMs this process runs at once (they are CPU-bound under TCG).
struct Slots {
    used: Mutex<usize>,
    freed: Condvar,
    max: usize,
}

struct Slot(&'static Slots);

impl Slots {
    fn get() -> &'static Slots {
        static SLOTS: OnceLock<Slots> = OnceLock::new();
        SLOTS.get_or_init(|| {
            let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
            let max = std::env::var("TANDEM_VM_JOBS").ok().and_then(|v| v.parse().ok()).unwrap_or(cpus / 2).max(1);
            Slots { used: Mutex::new(0), freed: Condvar::new(), max }
        })
    }

    fn acquire(&'static self) -> Slot {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        while *used >= self.max {
            used = self.freed.wait(used).unwrap_or_else(|p| p.into_inner());
        }
        *used += 1;
        Slot(self)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut used = self.0.used.lock().unwrap_or_else(|p| p.into_inner());
        *used = used.saturating_sub(1);
        self.0.freed.notify_one();
    }
}

/// Whether `setpriv --pdeathsig` is available: QEMU then dies with the thread that started
/// it, even if this process is killed without unwinding.
fn have_setpriv() -> bool {
    static HAVE: OnceLock<bool> = OnceLock::new();
    *HAVE.get_or_init(|| {
        Command::new("setpriv")
            .arg("--help")
            .stdin(Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("--pdeathsig"))
            .unwrap_or(false)
    })
}

/// QEMU's option syntax: a comma inside a value is doubled.
fn qemu_escape(path: &Path) -> String {
    path.to_string_lossy().replace(',', ",,")
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
}

/// The serial console as text, without the terminal control sequences the firmware prints.
fn read_console(path: &Path) -> String {
    let text = read_lossy(path);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // ESC [ parameters final-byte, or ESC and one character.
                if chars.next_if_eq(&'[').is_some() {
                    for p in chars.by_ref() {
                        if ('@'..='~').contains(&p) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

fn check_relative(path: &Path) -> Result<(), VmError> {
    use std::path::Component;
    let ok = path.components().count() > 0 && path.components().all(|c| matches!(c, Component::Normal(_)));
    if ok { Ok(()) } else { Err(VmError::Invalid(format!("input path {}", path.display()))) }
}

impl Vm {
    /// A builder with the defaults (newest kernel, 1024 MiB, 2 CPUs, TCG, 120 s timeout).
    pub fn builder() -> VmBuilder {
        VmBuilder::default()
    }

    /// A VM with the defaults.
    pub fn new() -> Result<Vm, VmError> {
        VmBuilder::default().build()
    }

    /// The kernel it boots.
    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    /// The module files init loads, in order.
    pub fn modules(&self) -> &[PathBuf] {
        &self.initramfs.modules
    }

    /// Optional modules (of [`DEFAULT_MODULES`]) this kernel does not have.
    pub fn missing_modules(&self) -> &[String] {
        &self.initramfs.missing
    }

    /// The initramfs on disk.
    pub fn initramfs(&self) -> &Path {
        &self.initramfs.path
    }

    /// Boots a VM, runs `script` with `/bin/sh` and fails with [`VmError::ScriptFailed`] unless
    /// it exits with status 0.
    pub fn run(&self, script: &str) -> Result<VmRun, VmError> {
        self.run_job(&Job::new(script))?.check()
    }

    /// Boots a VM and runs `script`, whatever its exit status ([`VmRun::status`]).
    pub fn run_unchecked(&self, script: &str) -> Result<VmRun, VmError> {
        self.run_job(&Job::new(script))
    }

    /// Boots a VM and runs `job`, whatever its exit status.
    pub fn run_job(&self, job: &Job) -> Result<VmRun, VmError> {
        let dir = RunDir::new()?;
        let share = dir.share();
        for (path, contents) in &job.inputs {
            check_relative(path)?;
            let at = share.join("in").join(path);
            if let Some(parent) = at.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| VmError::io(format!("creating {}", parent.display()), e))?;
            }
            std::fs::write(&at, contents).map_err(|e| VmError::io(format!("writing {}", at.display()), e))?;
        }
        let write = |name: &str, text: &str| {
            std::fs::write(share.join(name), text).map_err(|e| VmError::io(format!("writing {name}"), e))
        };
        write("script.sh", &job.script)?;
        write("driver.sh", &self.driver())?;
        if self.config.systemd {
            let g = initramfs::SHARE_IN_GUEST;
            let units = share.join("systemd");
            std::fs::create_dir_all(&units).map_err(|e| VmError::io(format!("creating {}", units.display()), e))?;
            write("runner.sh", &systemd_runner(g))?;
            write("systemd/tandem-vm.service", &systemd_unit(g))?;
            let mut mask: Vec<&str> = SYSTEMD_MASKED_UNITS.to_vec();
            mask.extend(self.config.masked.iter().map(String::as_str));
            write("systemd/mask", &format!("{}\n", mask.join("\n")))?;
        }
        let follow = job.stream.then(Follow::default);
        self.boot(dir, job.timeout.unwrap_or(self.config.timeout), follow, job.cancel.as_deref())
    }

    /// The script init runs in the chroot: the environment, then the job's script.
    fn driver(&self) -> String {
        let g = initramfs::SHARE_IN_GUEST;
        let mut s = String::from("# tandem VM driver (generated)\n");
        s.push_str("export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
        s.push_str("mkdir -p /run/tmp\nexport HOME=/run/tmp TMPDIR=/run/tmp TERM=dumb LC_ALL=C.UTF-8 TANDEM_VM=1\n");
        s.push_str(&format!("export TANDEM_VM_OUT={g}/out TANDEM_VM_IN={g}/in TANDEM_VM_KERNEL=\"$(uname -r)\"\n"));
        for (name, value) in &self.config.env {
            s.push_str(&format!("export {name}={}\n", shell_quote(value)));
        }
        s.push_str("ip link set lo up 2>/dev/null\ncd /run/tmp\n");
        s.push_str(&format!("exec /bin/sh {g}/script.sh\n"));
        s
    }

    fn boot(
        &self,
        dir: RunDir,
        timeout: Duration,
        mut follow: Option<Follow>,
        cancel: Option<&AtomicBool>,
    ) -> Result<VmRun, VmError> {
        let _slot = Slots::get().acquire();
        let share = dir.share();
        let console_path = dir.path.join("console.log");
        let qemu_log_path = dir.path.join("qemu.log");
        let console = std::fs::File::create(&console_path).map_err(|e| VmError::io("creating console.log", e))?;
        let qemu_log = std::fs::File::create(&qemu_log_path).map_err(|e| VmError::io("creating qemu.log", e))?;
        let mut append = String::from("console=ttyS0 panic=-1 quiet");
        for a in &self.config.append {
            append.push(' ');
            append.push_str(a);
        }
        let mut cmd = if have_setpriv() {
            let mut c = Command::new("setpriv");
            c.args(["--pdeathsig", "KILL"]).arg(&self.config.qemu);
            c
        } else {
            Command::new(&self.config.qemu)
        };
        cmd.args(["-accel", &self.config.accel])
            .args(["-m", &self.config.memory_mb.to_string()])
            .args(["-smp", &self.config.cpus.to_string()])
            .args(["-nographic", "-nic", "none", "-no-reboot"])
            .arg("-kernel")
            .arg(&self.kernel.image)
            .arg("-initrd")
            .arg(&self.initramfs.path)
            .args(["-append", &append])
            .arg("-virtfs")
            .arg(format!(
                "local,path=/,mount_tag={},security_model=passthrough,readonly=on,multidevs=remap",
                initramfs::HOST_TAG
            ))
            .arg("-virtfs")
            .arg(format!("local,path={},mount_tag={},security_model=none", qemu_escape(&share), initramfs::SHARE_TAG))
            .stdin(Stdio::null())
            .stdout(console)
            .stderr(qemu_log);
        let started = Instant::now();
        // systemd mode: when the script's status arrived, or None before.
        let mut finished_at: Option<Instant> = None;
        let child = cmd
            .spawn()
            .map_err(|e| VmError::QemuMissing { program: self.config.qemu.clone(), detail: e.to_string() })?;
        let mut qemu = Qemu { child };
        let exit = loop {
            if let Some(f) = follow.as_mut() {
                f.pump(&share);
            }
            match qemu.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => return Err(VmError::io("waiting for QEMU", e)),
            }
            if cancel.is_some_and(|c| c.load(Ordering::SeqCst)) {
                drop(qemu); // kills and reaps
                return Err(VmError::Cancelled);
            }
            if self.config.systemd {
                if finished_at.is_none() && share.join("status").is_file() {
                    finished_at = Some(Instant::now());
                }
                // The script is done; a shutdown that hangs (a unit that will not stop)
                // does not make it fail.
                if finished_at.is_some_and(|t| t.elapsed() >= SYSTEMD_SHUTDOWN_GRACE) {
                    let _ = qemu.child.kill();
                    match qemu.child.wait() {
                        Ok(status) => break status,
                        Err(e) => return Err(VmError::io("waiting for QEMU", e)),
                    }
                }
            }
            if started.elapsed() >= timeout {
                let qemu_pid = qemu.child.id();
                drop(qemu); // kills and reaps
                return Err(VmError::Timeout {
                    timeout,
                    qemu_pid,
                    run_dir: dir.path.clone(),
                    stdout_tail: tail(&read_lossy(&share.join("stdout")), TAIL_LINES),
                    stderr_tail: tail(&read_lossy(&share.join("stderr")), TAIL_LINES),
                    console_tail: tail(&read_console(&console_path), TAIL_LINES),
                });
            }
            std::thread::sleep(Duration::from_millis(25));
        };
        let elapsed = started.elapsed();
        if let Some(f) = follow.as_mut() {
            f.pump(&share);
        }
        let console = read_console(&console_path);
        let status = read_lossy(&share.join("status"));
        let Ok(status) = status.trim().parse::<i32>() else {
            return Err(VmError::BootFailed {
                detail: match read_lossy(&qemu_log_path).trim() {
                    "" => format!("QEMU exited with {exit}"),
                    log => format!("QEMU exited with {exit}: {log}"),
                },
                console_tail: tail(&console, TAIL_LINES),
            });
        };
        Ok(VmRun {
            status,
            stdout: read_lossy(&share.join("stdout")),
            stderr: read_lossy(&share.join("stderr")),
            console,
            elapsed,
            dir,
        })
    }

    /// Boots one VM and runs every snippet of `batch` in it, in order. Fails only when the VM
    /// itself does (boot failure, timeout): a failing snippet is a result, see
    /// [`BatchRun::check`]. The VM's timeout must cover the boot and all the snippets.
    pub fn run_batch(&self, batch: &Batch) -> Result<BatchRun, VmError> {
        let mut job = Job::new(batch.driver());
        for (path, contents) in &batch.inputs {
            job = job.input(path.clone(), contents.clone());
        }
        let mut seen: Vec<&str> = Vec::new();
        for (name, script) in &batch.snippets {
            check_snippet_name(name)?;
            if seen.contains(&name.as_str()) {
                return Err(VmError::Invalid(format!("snippet {name:?} given twice")));
            }
            seen.push(name);
            job = job.input(format!("snippets/{name}.sh"), format!("{}\n{script}\n", batch.prelude));
        }
        if let Some(setup) = &batch.setup {
            job = job.input("setup.sh", format!("{}\n{setup}\n", batch.prelude));
        }
        let run = self.run_job(&job)?;
        let out = run.out_dir().to_path_buf();
        let setup = batch.setup.as_ref().map(|_| SnippetResult::read("setup", &out.join("setup")));
        let results = batch
            .snippets
            .iter()
            .map(|(name, _)| SnippetResult::read(name, &out.join("snippets").join(name)))
            .collect::<Vec<SnippetResult>>();
        // Where the boot's time went (shown by `cargo test -- --nocapture`).
        for r in setup.iter().chain(&results) {
            match r.took {
                Some(took) => eprintln!("tandem-vm: {} took {:.1} s (guest clock)", r.name, took.as_secs_f64()),
                None => eprintln!("tandem-vm: {} did not finish", r.name),
            }
        }
        Ok(BatchRun { run, setup, results })
    }
}

/// `START END` (two readings of /proc/uptime) as the time between them.
fn uptime_span(text: &str) -> Option<Duration> {
    let mut it = text.split_whitespace().map(str::parse::<f64>);
    match (it.next(), it.next()) {
        (Some(Ok(start)), Some(Ok(end))) => Duration::try_from_secs_f64(end - start).ok(),
        _ => None,
    }
}

fn check_snippet_name(name: &str) -> Result<(), VmError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok { Ok(()) } else { Err(VmError::Invalid(format!("snippet name {name:?} (use [A-Za-z0-9_.-])"))) }
}

/// One finished boot: the script's status and output, the files it wrote, the console.
#[derive(Debug)]
pub struct VmRun {
    status: i32,
    stdout: String,
    stderr: String,
    console: String,
    elapsed: Duration,
    dir: RunDir,
}

impl VmRun {
    /// The script's exit status (128 + N when killed by signal N).
    pub fn status(&self) -> i32 {
        self.status
    }

    /// Whether the script exited with status 0.
    pub fn success(&self) -> bool {
        self.status == 0
    }

    /// Everything the script wrote to stdout.
    pub fn stdout(&self) -> &str {
        &self.stdout
    }

    /// Everything the script wrote to stderr.
    pub fn stderr(&self) -> &str {
        &self.stderr
    }

    /// The serial console (kernel messages, init's progress), for diagnostics.
    pub fn console(&self) -> &str {
        &self.console
    }

    /// From QEMU's start to its exit.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The host directory holding what the script wrote to `$TANDEM_VM_OUT`; removed when
    /// this value is dropped (see [`Self::keep`]).
    pub fn out_dir(&self) -> PathBuf {
        self.dir.share().join("out")
    }

    /// The run's whole directory: `console.log`, `qemu.log`, `share/` (script, stdout,
    /// stderr, status, `in/`, `out/`).
    pub fn run_dir(&self) -> &Path {
        &self.dir.path
    }

    /// Keeps the run's directory when this value is dropped; returns its path.
    pub fn keep(&mut self) -> PathBuf {
        self.dir.keep = true;
        self.dir.path.clone()
    }

    /// The bytes of `$TANDEM_VM_OUT/PATH`.
    pub fn read(&self, path: impl AsRef<Path>) -> Result<Vec<u8>, VmError> {
        let path = path.as_ref();
        check_relative(path)?;
        let at = self.out_dir().join(path);
        std::fs::read(&at).map_err(|e| VmError::io(format!("reading {} written in the VM", path.display()), e))
    }

    /// The text of `$TANDEM_VM_OUT/PATH` (invalid UTF-8 replaced).
    pub fn read_to_string(&self, path: impl AsRef<Path>) -> Result<String, VmError> {
        self.read(path).map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// Every file under `$TANDEM_VM_OUT`, relative to it, sorted.
    pub fn files(&self) -> Vec<PathBuf> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else { return };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(root, &p, out);
                } else if let Ok(rel) = p.strip_prefix(root) {
                    out.push(rel.to_path_buf());
                }
            }
        }
        let root = self.out_dir();
        let mut out = Vec::new();
        walk(&root, &root, &mut out);
        out.sort();
        out
    }

    /// `Ok(self)` when the script exited with 0, else [`VmError::ScriptFailed`].
    pub fn check(self) -> Result<VmRun, VmError> {
        if self.success() { Ok(self) } else { Err(VmError::ScriptFailed(Box::new(self))) }
    }
}

/// Named shell snippets to run one after the other in one boot.
///
/// Each snippet runs with `/bin/sh` in its own process, stdin from `/dev/null`, under
/// `timeout(1)`, with `$TANDEM_SNIPPET_OUT` naming a directory of its own for files (also
/// under `$TANDEM_VM_OUT/snippets/NAME`). A failing snippet does not stop the others. An
/// optional setup script runs first; if it fails, no snippet runs.
#[derive(Debug, Clone)]
pub struct Batch {
    prelude: String,
    setup: Option<String>,
    snippets: Vec<(String, String)>,
    inputs: Vec<(PathBuf, Vec<u8>)>,
    timeout: Duration,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            prelude: String::new(),
            setup: None,
            snippets: Vec::new(),
            inputs: Vec::new(),
            timeout: Duration::from_secs(60),
        }
    }
}

impl Batch {
    /// An empty batch (snippet timeout 60 s).
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Shell text put before the setup and every snippet (functions, variables).
    pub fn prelude(mut self, text: impl Into<String>) -> Batch {
        self.prelude = text.into();
        self
    }

    /// A file the scripts find at `$TANDEM_VM_IN/PATH` (as [`Job::input`]): for what the
    /// guest may not see at its host path (systemd mode mounts its own /tmp).
    pub fn input(mut self, path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) -> Batch {
        self.inputs.push((path.into(), contents.into()));
        self
    }

    /// A script run once before the snippets (build the namespaces, start daemons...).
    pub fn setup(mut self, script: impl Into<String>) -> Batch {
        self.setup = Some(script.into());
        self
    }

    /// Adds a snippet (names: `[A-Za-z0-9_.-]`, unique).
    pub fn snippet(mut self, name: impl Into<String>, script: impl Into<String>) -> Batch {
        self.add(name, script);
        self
    }

    /// Adds a snippet, by reference (for loops).
    pub fn add(&mut self, name: impl Into<String>, script: impl Into<String>) -> &mut Batch {
        self.snippets.push((name.into(), script.into()));
        self
    }

    /// How long each snippet (and the setup) may run before it is killed (default 60 s).
    pub fn snippet_timeout(mut self, timeout: Duration) -> Batch {
        self.timeout = timeout;
        self
    }

    /// The snippets' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.snippets.iter().map(|(n, _)| n.as_str())
    }

    /// The job script that runs the setup and the snippets inside the VM.
    fn driver(&self) -> String {
        let secs = self.timeout.as_secs().max(1);
        let mut s = String::from(
            r#"# tandem VM batch (generated)
# Where the processes of group PGID wait, and any thread in uninterruptible sleep: a line a
# thread (pid/tid, name, state, wchan), then its kernel stack; then the kernel's last lines.
tandem_where() { # PGID
    pg=$1
    for t in /proc/[0-9]*/task/[0-9]*; do
        # Builtins only until a thread is chosen: a process per thread is slow in the guest.
        read -r stat < "$t/stat" 2>/dev/null || continue
        set -- ${stat##*") "}
        [ "$1" = D ] || [ "$3" = "$pg" ] || continue
        comm= wchan=
        read -r comm < "$t/comm" 2>/dev/null
        read -r wchan < "$t/wchan" 2>/dev/null
        echo "${t#/proc/} $comm $1 $wchan"
        sed 's/^/    /' "$t/stack" 2>/dev/null
    done
    echo "--- the kernel's last lines"
    dmesg 2>/dev/null | tail -n 20
}
tandem_run() { # DIR SCRIPT
    mkdir -p "$1"
    set -- "$1" "$2" "$(cut -d' ' -f1 /proc/uptime)"
    # timeout leads its own process group: the snippet's processes are that group.
    TANDEM_SNIPPET_OUT="$1" timeout -k 5 "$TANDEM_SNIPPET_TIMEOUT" /bin/sh "$2" < /dev/null > "$1/stdout" 2> "$1/stderr" &
    set -- "$1" "$2" "$3" "$!"
    ( sleep "$TANDEM_WHERE_AT"; tandem_where "$4" > "$1/where" 2>&1 ) &
    set -- "$1" "$2" "$3" "$4" "$!"
    wait "$4"
    echo $? > "$1/status"
    # Timed out: the reading has begun (2 s before), let it finish; else it is not wanted.
    case "$(cat "$1/status")" in
        124|137) wait "$5" ;;
        *) kill "$5" 2>/dev/null ;;
    esac
    echo "$3 $(cut -d' ' -f1 /proc/uptime)" > "$1/uptime"
    return "$(cat "$1/status")"
}
"#,
        );
        s.push_str(&format!("TANDEM_SNIPPET_TIMEOUT={secs}\n"));
        // Where a snippet's processes wait is read just before its timeout kills them.
        s.push_str(&format!("TANDEM_WHERE_AT={}\n", secs.saturating_sub(2).max(1)));
        if self.setup.is_some() {
            s.push_str("tandem_run \"$TANDEM_VM_OUT/setup\" \"$TANDEM_VM_IN/setup.sh\" || exit 0\n");
        }
        for (name, _) in &self.snippets {
            s.push_str(&format!(
                "tandem_run \"$TANDEM_VM_OUT/snippets/{name}\" \"$TANDEM_VM_IN/snippets/{name}.sh\"\n"
            ));
        }
        s.push_str("exit 0\n");
        s
    }
}

/// What one snippet did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnippetResult {
    /// Its name.
    pub name: String,
    /// Its exit status; `None` when it did not run (the setup failed, or the VM stopped).
    pub status: Option<i32>,
    /// What it wrote to stdout.
    pub stdout: String,
    /// What it wrote to stderr; when it timed out, followed by where its processes waited
    /// just before (each thread's state, wchan and kernel stack) and the kernel's last lines.
    pub stderr: String,
    /// Its `$TANDEM_SNIPPET_OUT` on the host (gone when the [`BatchRun`] is dropped).
    pub out_dir: PathBuf,
    /// How long it ran, by the guest's monotonic clock; `None` when it did not finish.
    pub took: Option<Duration>,
}

impl SnippetResult {
    fn read(name: &str, dir: &Path) -> SnippetResult {
        let mut result = SnippetResult {
            name: name.to_string(),
            status: read_lossy(&dir.join("status")).trim().parse().ok(),
            stdout: read_lossy(&dir.join("stdout")),
            stderr: read_lossy(&dir.join("stderr")),
            out_dir: dir.to_path_buf(),
            took: uptime_span(&read_lossy(&dir.join("uptime"))),
        };
        let waits = read_lossy(&dir.join("where"));
        if result.timed_out() && !waits.is_empty() {
            result.stderr.push_str(
                "\n--- where its processes waited 2 s before the timeout (pid/tid, name, state, wchan; kernel stack)\n",
            );
            result.stderr.push_str(&waits);
        }
        result
    }

    /// Whether it ran and exited with 0.
    pub fn passed(&self) -> bool {
        self.status == Some(0)
    }

    /// Whether it was killed for running past the batch's snippet timeout.
    pub fn timed_out(&self) -> bool {
        matches!(self.status, Some(SNIPPET_TIMED_OUT) | Some(137))
    }

    /// The text of a file it wrote to `$TANDEM_SNIPPET_OUT/PATH`.
    pub fn read_to_string(&self, path: impl AsRef<Path>) -> Result<String, VmError> {
        let path = path.as_ref();
        check_relative(path)?;
        std::fs::read(self.out_dir.join(path))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| VmError::io(format!("reading {} written by snippet {}", path.display(), self.name), e))
    }

    fn report(&self) -> String {
        let status = match self.status {
            Some(s) if self.timed_out() => format!("timed out (status {s})"),
            Some(s) => format!("exited with status {s}"),
            None => "did not run".to_string(),
        };
        format!(
            "  snippet {} {status}\n  stdout tail:\n{}  stderr tail:\n{}",
            self.name,
            indent(&tail(&self.stdout, TAIL_LINES)),
            indent(&tail(&self.stderr, TAIL_LINES))
        )
    }
}

/// The results of a [`Batch`].
#[derive(Debug)]
pub struct BatchRun {
    run: VmRun,
    setup: Option<SnippetResult>,
    results: Vec<SnippetResult>,
}

impl BatchRun {
    /// The result of the snippet `name`.
    pub fn get(&self, name: &str) -> Option<&SnippetResult> {
        self.results.iter().find(|r| r.name == name)
    }

    /// Every snippet's result, in the batch's order.
    pub fn results(&self) -> &[SnippetResult] {
        &self.results
    }

    /// The setup's result, if the batch had one.
    pub fn setup(&self) -> Option<&SnippetResult> {
        self.setup.as_ref()
    }

    /// The snippets that did not pass (failed, timed out or did not run).
    pub fn failures(&self) -> Vec<&SnippetResult> {
        self.results.iter().filter(|r| !r.passed()).collect()
    }

    /// `Ok` when the setup and every snippet passed, else [`VmError::SnippetsFailed`] with
    /// each failure's output.
    pub fn check(&self) -> Result<(), VmError> {
        let mut failures: Vec<String> = self.setup.iter().filter(|s| !s.passed()).map(SnippetResult::report).collect();
        failures.extend(self.failures().iter().map(|r| r.report()));
        if failures.is_empty() {
            Ok(())
        } else {
            Err(VmError::SnippetsFailed { failures, console_tail: tail(self.run.console(), TAIL_LINES) })
        }
    }

    /// The boot itself (console, elapsed time, the run directory).
    pub fn vm_run(&self) -> &VmRun {
        &self.run
    }

    /// Keeps the run's directory when this value is dropped; returns its path.
    pub fn keep(&mut self) -> PathBuf {
        self.run.keep()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_loses_terminal_control_sequences() {
        let dir = std::env::temp_dir().join(format!("tandem-vm-console-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("console.log");
        let _ = std::fs::write(&path, "\u{1b}c\u{1b}[?7l\u{1b}[2JSeaBIOS\r\nBooting\u{1b}[0m\n");
        assert_eq!(read_console(&path), "SeaBIOS\nBooting\n");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_snippets_time_is_the_span_of_its_two_uptime_readings() {
        assert_eq!(uptime_span("12.50 15.75\n"), Some(Duration::from_millis(3250)));
        assert_eq!(uptime_span("7.00 7.00"), Some(Duration::ZERO));
        // A snippet killed before its second reading, a clock read backwards, or junk: no time.
        assert_eq!(uptime_span("12.50\n"), None);
        assert_eq!(uptime_span("15.75 12.50"), None);
        assert_eq!(uptime_span("x 1.0"), None);
    }

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn names_are_checked() {
        assert!(check_snippet_name("ipvs-rr_1.x").is_ok());
        assert!(check_snippet_name("../x").is_err());
        assert!(check_snippet_name("").is_err());
        assert!(check_relative(Path::new("a/b")).is_ok());
        assert!(check_relative(Path::new("../b")).is_err());
        assert!(check_relative(Path::new("/etc/passwd")).is_err());
        assert!(check_env_name("TANDEM_X").is_ok());
        assert!(check_env_name("1X").is_err());
    }

    #[test]
    fn systemd_mode_runs_the_driver_after_boot_then_powers_off() {
        let unit = systemd_unit("/run/tandem-vm");
        assert!(unit.contains("After=multi-user.target") && unit.contains("DefaultDependencies=no"), "{unit}");
        assert!(unit.contains("ExecStart=/bin/sh /run/tandem-vm/runner.sh"), "{unit}");
        let runner = systemd_runner("/run/tandem-vm");
        let driver = runner.find("driver.sh").unwrap_or(usize::MAX);
        let status = runner.find("mv /run/tandem-vm/status.tmp").unwrap_or(0);
        let poweroff = runner.find("systemctl poweroff --no-block").unwrap_or(0);
        assert!(driver < status && status < poweroff, "{runner}");
        assert!(check_unit_name("tandem@d1.service").is_ok());
        assert!(check_unit_name("../x.service").is_err());
        assert!(check_unit_name("keepalived").is_err());
    }

    #[test]
    fn batch_driver_runs_setup_then_each_snippet() {
        let d = Batch::new().setup("true").snippet("a", "true").snippet("b", "false").driver();
        let setup = d.find("setup.sh").unwrap_or(usize::MAX);
        let a = d.find("snippets/a.sh").unwrap_or(0);
        let b = d.find("snippets/b.sh").unwrap_or(0);
        assert!(setup < a && a < b, "{d}");
    }
}
