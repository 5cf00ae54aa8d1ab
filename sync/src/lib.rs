//! Connection sync for tandem: drives the kernel's IPVS sync daemon from the VRRP role.
//!
//! Nothing is implemented yet: this crate is built by the connection-sync issue.
