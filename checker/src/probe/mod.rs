//! Probes: one asynchronous attempt each, on tokio, bounded in time.
//!
//! A probe is one attempt at a check (keepalived's `*_connect_thread` up to its `*_epilog`): it
//! returns [`Success`] or a [`Failure`] whose reason is written for a log line. Retries,
//! `delay_loop` and state belong to [`crate::health`], not here.
//!
//! Time bound: every network probe finishes within its [`Target::timeout`]
//! (`connect_timeout`). keepalived applies `connect_timeout` to the connect and again to each
//! read and write (keepalived/check/check_tcp.c, check_http.c), so a slow server can stretch
//! one of its checks well past it; tandem bounds the whole attempt (connect, request and
//! response) instead, so the health core can count on an answer within `connect_timeout`.
//! HTTP_GET / SSL_GET with several urls make one connection per url, each bounded by
//! `connect_timeout`.

pub mod dns;
pub mod file;
pub mod http;
pub mod misc;
pub mod ping;
pub mod smtp;
pub(crate) mod socket;
pub mod tcp;
pub mod tls;
pub mod udp;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub use socket::describe_io_error;

/// Where a probe goes and how it leaves: keepalived's connection options (`connect_ip`,
/// `connect_port`, `bindto`, `bind_port`, `bind_if`, `fwmark`, `connect_timeout`;
/// keepalived/check/check_api.c).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Destination: `connect_ip` (default: the real server's address) and `connect_port`
    /// (default: its port). A link-local IPv6 address needs its scope id set.
    pub addr: SocketAddr,
    /// `bindto`: source address.
    pub bind_addr: Option<IpAddr>,
    /// `bind_port`: source port. Without `bind_addr` the probe binds the unspecified address
    /// of the destination's family with this port (keepalived ignores a lone `bind_port`).
    pub bind_port: Option<u16>,
    /// `bind_if`: the interface the probe leaves by (SO_BINDTODEVICE).
    pub bind_if: Option<String>,
    /// `fwmark`: mark on the probe's packets (SO_MARK).
    pub fwmark: Option<u32>,
    /// `connect_timeout`: bound of the whole attempt (keepalived's default is 5 s).
    pub timeout: Duration,
}

impl Target {
    /// A target at `addr` with `timeout` and no source binding.
    pub fn new(addr: SocketAddr, timeout: Duration) -> Target {
        Target { addr, bind_addr: None, bind_port: None, bind_if: None, fwmark: None, timeout }
    }
}

/// How a weight-setting check changes its real server's weight when it succeeds.
///
/// keepalived keeps, per checker, a `cur_weight` added to the real server's configured weight
/// (keepalived/check/check_misc.c, keepalived/trackers/track_file.c); the real server's weight
/// is the configured one plus the sum of its checkers' shares, clamped to 0..=i32::MAX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightChange {
    /// `misc_dynamic`: the real server's weight becomes this (its share is this minus the
    /// configured weight).
    Set(u32),
    /// FILE_CHECK: this check's share is this value (0 gives back the configured weight).
    Offset(i64),
}

/// A passed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Success {
    /// A weight the check sets, if it is one that does (MISC_CHECK with `misc_dynamic`,
    /// FILE_CHECK); `None` leaves the weight alone.
    pub weight: Option<WeightChange>,
}

/// A failed attempt, with a reason for humans ("connection refused", "HTTP status 503").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    reason: String,
}

impl Failure {
    /// A failure for `reason`.
    pub fn new(reason: impl Into<String>) -> Failure {
        Failure { reason: reason.into() }
    }

    /// Why the attempt failed.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Failure {}

/// The result of one attempt.
pub type ProbeResult = Result<Success, Failure>;

/// One configured probe, ready to run again and again.
#[derive(Debug, Clone)]
pub enum Probe {
    /// TCP_CHECK.
    Tcp(Target),
    /// HTTP_GET, or SSL_GET when [`http::HttpSettings::tls`] is set.
    Http(Target, http::HttpSettings),
    /// DNS_CHECK.
    Dns(Target, dns::DnsSettings),
    /// SMTP_CHECK.
    Smtp(Target, smtp::SmtpSettings),
    /// UDP_CHECK.
    Udp(Target, udp::UdpSettings),
    /// PING_CHECK.
    Ping(Target),
    /// FILE_CHECK (polled; see [`mod@file`]).
    File(file::FileSettings),
}

impl Probe {
    /// Runs one attempt.
    ///
    /// The future of every probe but TCP_CHECK is boxed: an `async fn`'s future is as large
    /// as its largest variant (an SSL_GET's is kilobytes), and every probe in flight would
    /// otherwise hold that much. (The daemon's TCP_CHECKs go through [`crate::connects`];
    /// one run this way stays small too.)
    pub async fn run(&self) -> ProbeResult {
        self.run_from(std::time::Instant::now()).await
    }

    /// Runs one attempt that began at `start` (a clock reading the caller already has: one
    /// for a batch of probes instead of one each, which counts where reading the clock is a
    /// system call, as with an HPET clock source). The attempt ends by `start + timeout`.
    pub async fn run_from(&self, start: std::time::Instant) -> ProbeResult {
        let start = tokio::time::Instant::from_std(start);
        match self {
            Probe::Tcp(t) => tcp::probe(t, start).await,
            Probe::Http(t, s) => Box::pin(http::probe(t, s, start)).await,
            Probe::Dns(t, s) => Box::pin(dns::probe(t, s, start)).await,
            Probe::Smtp(t, s) => Box::pin(smtp::probe(t, s, start)).await,
            Probe::Udp(t, s) => Box::pin(udp::probe(t, s, start)).await,
            Probe::Ping(t) => Box::pin(ping::probe(t, start)).await,
            Probe::File(s) => Box::pin(file::probe(s)).await,
        }
    }
}

/// A duration as a log would say it: "3 s", "0.5 s", "250 ms".
pub(crate) fn human(d: Duration) -> String {
    if d >= Duration::from_secs(1) || d.is_zero() {
        let s = d.as_secs_f64();
        if s.fract() == 0.0 { format!("{} s", d.as_secs()) } else { format!("{s} s") }
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// A random number from std's per-process hash keys and the clock, for query and echo
/// identifiers and the warmup spread (no cryptographic strength needed).
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}

/// A random 16-bit number (see [`random_u64`]): it only tells our replies apart.
pub(crate) fn random_u16() -> u16 {
    (random_u64() & 0xffff) as u16
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_log() {
        assert_eq!(human(Duration::from_secs(3)), "3 s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(human(Duration::from_millis(250)), "250 ms");
    }
}
