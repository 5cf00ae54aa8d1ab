//! IPVS for tandem: the table model, the minimal diff between what the kernel has and what
//! the configuration wants, and the generic-netlink client that reads and changes the
//! kernel's table, timeouts and sync daemons.
//!
//! The kernel is the source of truth (docs/ARCHITECTURE.md, Invariants, "Where state
//! lives"): tandem keeps a model of the kernel's table, filled by a dump and updated by
//! every change it applies, and reconciles the desired table against that model, never
//! against the previous configuration. So a hand edit with ipvsadm is repaired, and a one-
//! line reload is one change.

pub mod attrs;
pub mod diff;
pub mod ipvsadm;
pub mod model;
pub mod netlink;
pub mod stats;
pub mod sync_daemon;
pub mod timeouts;

pub use diff::{Change, Scope, apply, diff};
pub use model::{Dest, DestKey, Forward, Service, ServiceFlags, ServiceKey, Table, TunnelType};
pub use netlink::{Info, Ipvs, IpvsError};
pub use stats::{DestCounters, Stats, TableStats};
pub use sync_daemon::{SyncDaemon, SyncState};
pub use timeouts::Timeouts;
