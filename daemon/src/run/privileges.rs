//! Dropping capabilities to what `tandem run` needs, before any thread exists (capabilities
//! belong to each thread; threads made later inherit the reduced sets).
//!
//! Kept: CAP_NET_ADMIN (addresses, netlink), CAP_NET_RAW (VRRP and packet sockets),
//! CAP_SETUID and CAP_SETGID (scripts run as their configured user), CAP_KILL (ending the
//! process group of a timed-out script that runs as another user). Everything else leaves
//! the effective, permitted and inheritable sets. The bounding set is left alone: a script
//! that runs as root gets root's capabilities when it is executed, as under keepalived.

use caps::{CapSet, Capability, CapsHashSet};

/// The capabilities `tandem run` keeps.
pub const KEPT: [Capability; 5] = [
    Capability::CAP_NET_ADMIN,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETUID,
    Capability::CAP_SETGID,
    Capability::CAP_KILL,
];

/// Drops every capability but [`KEPT`] (those this process has) from the calling thread.
/// Returns what is kept.
pub fn drop_to_needed() -> Result<CapsHashSet, String> {
    let have = caps::read(None, CapSet::Permitted).map_err(|e| format!("cannot read capabilities: {e}"))?;
    let keep: CapsHashSet = KEPT.iter().copied().filter(|c| have.contains(c)).collect();
    caps::clear(None, CapSet::Inheritable).map_err(|e| format!("cannot clear inheritable capabilities: {e}"))?;
    caps::set(None, CapSet::Effective, &keep).map_err(|e| format!("cannot set effective capabilities: {e}"))?;
    caps::set(None, CapSet::Permitted, &keep).map_err(|e| format!("cannot set permitted capabilities: {e}"))?;
    Ok(keep)
}
