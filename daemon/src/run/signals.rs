//! Signals: each one that can reach `tandem run` has a deliberate effect, and none ends or
//! stops it behind its back (docs/operations.md, "Signals").
//!
//! keepalived's operators and tools send signals routinely: SIGHUP to reload, SIGTERM to stop,
//! SIGUSR1 / SIGUSR2 / SIGRTMIN+2 / SIGRTMAX-1 for its data, statistics, JSON and
//! statistics-and-clear dumps (keepalived(8), `--signum`; lib/signals.h), SIGRTMAX for its
//! thread dump. Left at their default, each of these (and SIGALRM, SIGIO, SIGPWR, every other
//! real-time signal...) would end tandem on the spot with its virtual addresses still on the
//! interface while the backup takes over: both directors would hold them.
//!
//! So every catchable signal is blocked in every thread, from the start of `tandem run`
//! before any thread exists (threads inherit the mask; child processes do not: the standard
//! library clears the mask in the child before it runs a script), and one thread of its own
//! reads them from a signalfd. A blocked signal is never acted on by its default. Left out of
//! the mask: the kernel's fault signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE: blocked, a real
//! fault would kill the process silently, without Rust's report), signals whose default is to
//! do nothing (SIGCHLD, which tokio's child reaper uses, SIGCONT, SIGURG, SIGWINCH) and SIGPIPE
//! (ignored since start, so a write to a closed pipe or FIFO fails with EPIPE where it is
//! made). SIGKILL and SIGSTOP cannot be blocked.
//!
//! The thread hands reloads, stops and dumps to the main loop. The signals that must end the
//! process at once, whatever the loop is doing (SIGABRT from systemd's watchdog, SIGTRAP,
//! SIGSYS), it handles itself: it releases the virtual addresses ([`super::release`]) and then
//! dies by the signal, core dump and all.

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use tokio::sync::mpsc::UnboundedSender;
use tracing::{error, warn};

/// What a signal makes tandem do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Read the configuration again (SIGHUP; keepalived's RELOAD).
    Reload,
    /// Stop gracefully: priority 0, addresses removed, IPVS released as configured (SIGTERM,
    /// SIGINT; SIGQUIT, whose default would dump core without any of that).
    Stop,
    /// Log a dump of the running state.
    Dump(Dump),
    /// Release the virtual addresses and end at once by the signal's default action.
    EndNow,
    /// Nothing but a log line.
    Ignore,
}

/// keepalived's dumps, written to the log instead of files in /tmp (keepalived's files there
/// were CVE-2018-19044, -19045 and -19046).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dump {
    /// SIGUSR1 (keepalived's DATA): every instance's and virtual server's state.
    Data,
    /// SIGUSR2 (STATS): every instance's counters since start or the last clear.
    Stats,
    /// SIGRTMAX-1 (STATS_CLEAR): the counters, then a new starting point for them.
    StatsClear,
    /// SIGRTMIN+2 (JSON): the state as one line of JSON.
    Json,
    /// SIGRTMAX (keepalived's TDUMP, its thread dump): the process's threads.
    Threads,
}

/// A signal read, with who sent it.
#[derive(Debug, Clone)]
pub struct Received {
    /// What to do.
    pub effect: Effect,
    /// The signal's name (`SIGUSR1`, `SIGRTMIN+2`).
    pub name: String,
    /// The sender, as `pid 123 (comm)`, or `the kernel`.
    pub from: String,
}

/// What `signo` does in `tandem run`.
pub fn effect(signo: i32) -> Effect {
    let (rtmin, rtmax) = (nix::libc::SIGRTMIN(), nix::libc::SIGRTMAX());
    match signo {
        s if s == rtmin + 2 => return Effect::Dump(Dump::Json),
        s if s == rtmax - 1 => return Effect::Dump(Dump::StatsClear),
        s if s == rtmax => return Effect::Dump(Dump::Threads),
        _ => {}
    }
    match Signal::try_from(signo) {
        Ok(Signal::SIGHUP) => Effect::Reload,
        Ok(Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT) => Effect::Stop,
        Ok(Signal::SIGUSR1) => Effect::Dump(Dump::Data),
        Ok(Signal::SIGUSR2) => Effect::Dump(Dump::Stats),
        Ok(Signal::SIGABRT | Signal::SIGTRAP | Signal::SIGSYS) => Effect::EndNow,
        _ => Effect::Ignore,
    }
}

/// `SIGUSR1`, `SIGRTMIN+2`, `SIGRTMAX-1`: the names `kill -l` prints.
pub fn name(signo: i32) -> String {
    let (rtmin, rtmax) = (nix::libc::SIGRTMIN(), nix::libc::SIGRTMAX());
    if let Ok(s) = Signal::try_from(signo) {
        return s.as_str().to_string();
    }
    // As kill -l: the lower half counts up from SIGRTMIN, the upper half down from SIGRTMAX.
    match signo {
        s if s == rtmin => "SIGRTMIN".to_string(),
        s if s == rtmax => "SIGRTMAX".to_string(),
        s if s > rtmin && s <= rtmin + (rtmax - rtmin) / 2 => format!("SIGRTMIN+{}", s - rtmin),
        s if s > rtmin && s < rtmax => format!("SIGRTMAX-{}", rtmax - s),
        s => format!("signal {s}"),
    }
}

/// The signals `tandem run` takes from the signalfd: all but those the module doc leaves out.
fn handled() -> SigSet {
    let mut set = SigSet::all();
    for s in [
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGILL,
        Signal::SIGFPE,
        Signal::SIGCHLD,
        Signal::SIGCONT,
        Signal::SIGURG,
        Signal::SIGWINCH,
        Signal::SIGPIPE,
        Signal::SIGKILL,
        Signal::SIGSTOP,
    ] {
        set.remove(s);
    }
    set
}

/// Blocks the handled signals in the calling thread; call first, before any thread exists.
/// Then puts each one back to its default action: one its starter left ignored (`nohup`
/// ignores SIGHUP, a shell's background job SIGINT and SIGQUIT) would be discarded by the
/// kernel before the signalfd could read it (no reload, no stop), and every script would
/// inherit it ignored. Blocked, a default action never runs.
pub fn block() -> Result<(), String> {
    let set = handled();
    set.thread_block().map_err(|e| format!("cannot block signals: {e}"))?;
    for sig in Signal::iterator().filter(|s| set.contains(*s)) {
        // SAFETY: SIG_DFL installs no handler, so no code of ours can run in signal context;
        // the signal is blocked in this thread, the only one, and in every thread made from
        // it, so its default action cannot happen before the signalfd reads it.
        #[allow(unsafe_code)]
        let restored = unsafe { nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigDfl) };
        restored.map_err(|e| format!("cannot reset {sig} to its default action: {e}"))?;
    }
    Ok(())
}

/// Starts the thread that reads the signals and hands them to `to`.
pub fn spawn(to: UnboundedSender<Received>) -> Result<(), String> {
    let fd =
        SignalFd::with_flags(&handled(), SfdFlags::SFD_CLOEXEC).map_err(|e| format!("cannot read signals: {e}"))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || read(&fd, &to))
        .map(|_| ())
        .map_err(|e| format!("cannot start the signal thread: {e}"))
}

fn read(fd: &SignalFd, to: &UnboundedSender<Received>) {
    loop {
        let info = match fd.read_signal() {
            Ok(Some(info)) => info,
            Ok(None) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                error!(error = %e, "cannot read signals");
                std::thread::sleep(std::time::Duration::from_secs(1));
                continue;
            }
        };
        let signo = i32::try_from(info.ssi_signo).unwrap_or(0);
        let received = Received { effect: effect(signo), name: name(signo), from: sender(&info) };
        if received.effect == Effect::EndNow {
            error!(
                signal = %received.name,
                from = %received.from,
                "ending now (the signal's default); releasing the virtual addresses first"
            );
            super::release::release_all(&received.name);
            die_by(signo);
        }
        if to.send(received).is_err() {
            // The loop has ended; the process is on its way out.
            return;
        }
    }
}

/// Who sent a signal: `pid 123 (comm)` for a process, `the kernel` otherwise.
fn sender(info: &nix::sys::signalfd::siginfo) -> String {
    // si_code <= 0 (SI_USER 0, SI_QUEUE -1, SI_TKILL -6...) is a process's kill/sigqueue.
    if info.ssi_code > 0 {
        return "the kernel".to_string();
    }
    let pid = info.ssi_pid;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    match comm.trim() {
        "" => format!("pid {pid}"),
        c => format!("pid {pid} ({c})"),
    }
}

/// Ends the process by `signo`'s default action (the disposition was never changed; it is
/// only blocked), or by abort if that somehow returns.
fn die_by(signo: i32) -> ! {
    if let Ok(s) = Signal::try_from(signo) {
        let mut only = SigSet::empty();
        only.add(s);
        let _ = only.thread_unblock();
        let _ = nix::sys::signal::raise(s);
    }
    warn!("still alive after the signal's default action; aborting");
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_signal_functions_have_their_dumps() {
        let (rtmin, rtmax) = (nix::libc::SIGRTMIN(), nix::libc::SIGRTMAX());
        // keepalived --signum=...: STOP 15, RELOAD 1, DATA 10, STATS 12, STATS_CLEAR 63, JSON 36.
        assert_eq!(effect(15), Effect::Stop);
        assert_eq!(effect(1), Effect::Reload);
        assert_eq!(effect(10), Effect::Dump(Dump::Data));
        assert_eq!(effect(12), Effect::Dump(Dump::Stats));
        assert_eq!(effect(rtmax - 1), Effect::Dump(Dump::StatsClear));
        assert_eq!(effect(rtmin + 2), Effect::Dump(Dump::Json));
        assert_eq!(effect(rtmax), Effect::Dump(Dump::Threads));
        assert_eq!((rtmin + 2, rtmax - 1), (36, 63), "glibc's real-time range is 34..=64");
    }

    #[test]
    fn every_other_signal_is_a_stop_an_end_or_nothing() {
        assert_eq!(effect(Signal::SIGINT as i32), Effect::Stop);
        assert_eq!(effect(Signal::SIGQUIT as i32), Effect::Stop);
        assert_eq!(effect(Signal::SIGABRT as i32), Effect::EndNow);
        for s in [Signal::SIGALRM, Signal::SIGTSTP, Signal::SIGTTOU, Signal::SIGXFSZ, Signal::SIGPWR] {
            assert_eq!(effect(s as i32), Effect::Ignore, "{s}");
        }
        assert_eq!(effect(nix::libc::SIGRTMIN()), Effect::Ignore);
    }

    #[test]
    fn names_as_kill_prints_them() {
        assert_eq!(name(10), "SIGUSR1");
        assert_eq!(name(34), "SIGRTMIN");
        assert_eq!(name(36), "SIGRTMIN+2");
        assert_eq!(name(49), "SIGRTMIN+15");
        assert_eq!(name(50), "SIGRTMAX-14");
        assert_eq!(name(63), "SIGRTMAX-1");
        assert_eq!(name(64), "SIGRTMAX");
    }

    #[test]
    fn the_mask_leaves_the_fault_and_harmless_signals_alone() {
        let h = handled();
        for s in [Signal::SIGHUP, Signal::SIGUSR1, Signal::SIGABRT, Signal::SIGTSTP, Signal::SIGTTOU, Signal::SIGQUIT] {
            assert!(h.contains(s), "{s} not handled");
        }
        for s in [Signal::SIGSEGV, Signal::SIGCHLD, Signal::SIGPIPE, Signal::SIGWINCH] {
            assert!(!h.contains(s), "{s} handled");
        }
    }
}
