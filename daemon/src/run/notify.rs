//! systemd's service notifications (sd_notify(3), systemd.service(5)): `READY=1` once the
//! units, the IPVS keeper and the checks run; `RELOADING=1` with `MONOTONIC_USEC` (which
//! `Type=notify-reload` needs on systemd 253 and later) then `READY=1` around a reload;
//! `STOPPING=1`; a one-line `STATUS=` whenever it changes; and `WATCHDOG=1` from the loop
//! every task runs on (one thread: if it hangs, everything does), at half `WatchdogSec`.
//!
//! Without `NOTIFY_SOCKET` (not started by systemd) nothing is sent.

use super::snapshot::InstanceSnapshot;
use sd_notify::NotifyState;
use std::time::Duration;
use tracing::debug;

/// The notifications of one run.
#[derive(Debug, Clone)]
pub struct Notify {
    on: bool,
    watchdog: Option<Duration>,
    status: String,
}

impl Notify {
    /// From the environment systemd gives the service.
    pub fn from_env() -> Notify {
        let on = std::env::var_os("NOTIFY_SOCKET").is_some();
        // WATCHDOG_USEC, and WATCHDOG_PID when set naming this process.
        let watchdog = if on { sd_notify::watchdog_enabled() } else { None };
        Notify { on, watchdog, status: String::new() }
    }

    fn send(&self, states: &[NotifyState]) {
        if !self.on {
            return;
        }
        if let Err(e) = sd_notify::notify(states) {
            debug!(error = %e, "cannot notify the service manager");
        }
    }

    /// Up and running, with the status line.
    pub fn ready(&mut self, status: String) {
        self.send(&[NotifyState::Ready, NotifyState::Status(&status)]);
        self.status = status;
    }

    /// A reload begins.
    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(_) => self.send(&[NotifyState::Reloading]),
        }
    }

    /// A reload ended (applied or refused: either way tandem runs on).
    pub fn reloaded(&self) {
        self.send(&[NotifyState::Ready]);
    }

    /// Stopping.
    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    }

    /// Whether notifications go anywhere (tandem runs under systemd): without, the status
    /// line need not be made.
    pub fn on(&self) -> bool {
        self.on
    }

    /// A new status line, sent when it differs from the last.
    pub fn status(&mut self, status: String) {
        if status != self.status {
            self.send(&[NotifyState::Status(&status)]);
            self.status = status;
        }
    }

    /// How often to send `WATCHDOG=1`: half the watchdog's timeout, if there is one.
    pub fn watchdog_every(&self) -> Option<Duration> {
        self.watchdog.map(|w| w / 2)
    }

    /// `WATCHDOG=1`.
    pub fn alive(&self) {
        self.send(&[NotifyState::Watchdog]);
    }
}

/// The status line: each instance's state, then the real servers in service, e.g.
/// `VI_1 MASTER, VI_2 MASTER; 4/4 real servers up`.
pub fn status_line<'a>(
    instances: impl IntoIterator<Item = &'a InstanceSnapshot>,
    real_servers: Option<(usize, usize)>,
) -> String {
    let mut parts: Vec<String> = instances.into_iter().map(|i| format!("{} {}", i.name, i.state)).collect();
    if parts.is_empty() {
        parts.push("no VRRP".to_string());
    }
    let mut line = parts.join(", ");
    if let Some((up, total)) = real_servers {
        line.push_str(&format!("; {up}/{total} real servers up"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::snapshot::test_instance;

    #[test]
    fn the_status_line_names_each_instance_and_the_real_servers_in_service() {
        let both = [test_instance("VI_1", "MASTER"), test_instance("VI_2", "BACKUP")];
        assert_eq!(status_line(&both, Some((3, 4))), "VI_1 MASTER, VI_2 BACKUP; 3/4 real servers up");
        assert_eq!(status_line(&both[..1], None), "VI_1 MASTER");
        assert_eq!(status_line(&[], Some((2, 2))), "no VRRP; 2/2 real servers up");
    }

    #[test]
    fn without_a_notify_socket_nothing_is_sent_and_no_watchdog_runs() {
        let n = Notify { on: false, watchdog: None, status: String::new() };
        assert_eq!(n.watchdog_every(), None);
        n.alive();
        let w = Notify { on: false, watchdog: Some(Duration::from_secs(10)), status: String::new() };
        assert_eq!(w.watchdog_every(), Some(Duration::from_secs(5)));
    }
}
