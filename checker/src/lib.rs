//! Health checks for tandem: probes and the sans-I/O health core.
//!
//! - [`probe`]: one asynchronous attempt of each check keepalived knows (TCP_CHECK, HTTP_GET,
//!   SSL_GET, DNS_CHECK, SMTP_CHECK, UDP_CHECK, PING_CHECK, FILE_CHECK; MISC_CHECK's verdict
//!   from an exit status), each bounded by its `connect_timeout`, on tokio, no thread per check.
//! - [`connects`]: TCP_CHECK for many servers at once: non-blocking connects in an epoll set
//!   of their own, a handful of system calls and no allocation per check.
//! - [`health`]: keepalived's checker logic as plain data driven by `handle_*(now, ...)` and
//!   drained by `poll_*()`: retries, up/down transitions, alpha, warmup, inhibit_on_failure,
//!   quorum with hysteresis and the sorry server, ha_suspend, notifications.
//!
//! The crate knows nothing of configuration files: the daemon maps its configuration into
//! [`probe::Probe`] and [`health::Settings`].

pub mod connects;
pub mod health;
pub mod probe;
