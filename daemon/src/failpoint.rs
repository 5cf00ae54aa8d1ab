//! Faults the test suite can ask for, to prove what tandem does when a bug strikes where it
//! cannot be provoked from outside: `TANDEM_FAILPOINT=NAME[,NAME...]` in the environment of
//! `tandem run`. Nothing is armed without it, and each point costs one comparison.
//!
//! Points:
//! - `unit-master`: a VRRP unit's task panics at its first timer after one of its instances
//!   became master (the VIPs are on the interface, the runtime's thread panics).
//! - `links-thread`: the thread that follows link changes panics at its first event (a
//!   panic outside the runtime).
//! - `sync-stop-hang`: the sync driver's last step at a stop never returns (as a netlink
//!   call the kernel never answers would not): the stop's bound must end tandem.

use std::sync::OnceLock;

/// True when point `name` is armed.
pub fn armed(name: &str) -> bool {
    static ARMED: OnceLock<Vec<String>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            std::env::var("TANDEM_FAILPOINT")
                .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
                .unwrap_or_default()
        })
        .iter()
        .any(|p| p == name)
}
