//! IPVS for tandem: the generic-netlink client, the desired-state model and reconciliation
//! against the kernel's table.
//!
//! Nothing is implemented yet: this crate is built by the IPVS issue.
