//! What the health core is told: virtual servers, their real servers, their checks' timing.
//! The daemon fills these from its configuration model (defaults resolved).

use std::net::SocketAddr;
use std::time::Duration;

/// keepalived's BOOTSTRAP_DELAY: the first check of every checker runs this long after start
/// (plus its warmup share) (keepalived/check/check_api.c, `register_checkers_thread`).
pub const BOOTSTRAP_DELAY: Duration = Duration::from_secs(1);

/// Checker types, for their keepalived defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckKind {
    /// TCP_CHECK.
    Tcp,
    /// HTTP_GET.
    Http,
    /// SSL_GET.
    Ssl,
    /// DNS_CHECK.
    Dns,
    /// SMTP_CHECK.
    Smtp,
    /// UDP_CHECK.
    Udp,
    /// PING_CHECK.
    Ping,
    /// MISC_CHECK.
    Misc,
    /// FILE_CHECK (polled by tandem).
    File,
}

/// When a check runs and how it retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// `delay_loop`: from the end of one round to the start of the next.
    pub delay_loop: Duration,
    /// `retry`: extra attempts, `delay_before_retry` apart, before a failure counts.
    pub retry: u32,
    /// `delay_before_retry`.
    pub delay_before_retry: Duration,
    /// `warmup`: the first check runs after [`BOOTSTRAP_DELAY`] plus a random share of this.
    pub warmup: Duration,
}

impl Timing {
    /// keepalived's defaults for a check of `kind` in a server checked every `delay_loop`
    /// (keepalived/check/check_api.c `queue_checker`, check_data.c, and the per-checker
    /// overrides in check_http.c, check_dns.c, check_misc.c): retry 1 (DNS 3, MISC 0),
    /// delay_before_retry 1 s (HTTP and SSL 3 s, DNS the delay_loop), warmup the delay_loop.
    /// FILE_CHECK is polled every second without retry or warmup (keepalived reacts to
    /// inotify at once).
    pub fn keepalived(kind: CheckKind, delay_loop: Duration) -> Timing {
        let (retry, delay_before_retry) = match kind {
            CheckKind::Http | CheckKind::Ssl => (1, Duration::from_secs(3)),
            CheckKind::Dns => (3, delay_loop),
            CheckKind::Misc => (0, Duration::from_secs(1)),
            _ => (1, Duration::from_secs(1)),
        };
        if kind == CheckKind::File {
            return Timing {
                delay_loop: Duration::from_secs(1),
                retry: 0,
                delay_before_retry: Duration::from_secs(1),
                warmup: Duration::ZERO,
            };
        }
        Timing { delay_loop, retry, delay_before_retry, warmup: delay_loop }
    }
}

/// One checker of a real server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSettings {
    /// Timing.
    pub timing: Timing,
    /// `alpha`: the check starts failed, so its real server joins only after a success.
    pub alpha: bool,
}

/// A real server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealServerSettings {
    /// Its address in the IPVS table (port 0 for fwmark services).
    pub addr: SocketAddr,
    /// `weight`.
    pub weight: u32,
    /// `inhibit_on_failure`: weight 0 instead of removal while down.
    pub inhibit_on_failure: bool,
    /// Its checkers; it is alive while all of them are up (none: always alive).
    pub checks: Vec<CheckSettings>,
}

/// A `sorry_server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SorryServerSettings {
    /// Its address in the IPVS table.
    pub addr: SocketAddr,
    /// Its weight while in service (keepalived: 1).
    pub weight: u32,
    /// `sorry_server_inhibit`: kept at weight 0 instead of removed while not needed.
    pub inhibit: bool,
}

/// A virtual server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualServerSettings {
    /// `quorum` (1): the total weight of alive real servers needed. Lowered to the sum of the
    /// real servers' weights when above it, as keepalived does (check_data.c).
    pub quorum: u32,
    /// `hysteresis` (0): lowered below `quorum` when not, as keepalived does.
    pub hysteresis: u32,
    /// `ha_suspend`: checks run only while [`super::Health::handle_ha_active`] says so.
    pub ha_suspend: bool,
    /// `omega`: on stop, report every alive real server down and the quorum lost.
    pub omega: bool,
    /// `sorry_server`.
    pub sorry_server: Option<SorryServerSettings>,
    /// `real_server` blocks.
    pub real_servers: Vec<RealServerSettings>,
}

impl VirtualServerSettings {
    /// A virtual server with keepalived's defaults (quorum 1, hysteresis 0) and `real_servers`.
    pub fn new(real_servers: Vec<RealServerSettings>) -> VirtualServerSettings {
        VirtualServerSettings {
            quorum: 1,
            hysteresis: 0,
            ha_suspend: false,
            omega: false,
            sorry_server: None,
            real_servers,
        }
    }
}

/// Everything the core watches.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    /// Virtual servers, indexed as [`super::RsId::vs`].
    pub virtual_servers: Vec<VirtualServerSettings>,
}
