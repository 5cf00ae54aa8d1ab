//! The lab for tandem: network-namespace and VM harnesses and the end-to-end tests.
//!
//! Empty until the VRRP and IPVS issues bring the namespace and VM rigs.
