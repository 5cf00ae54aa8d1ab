//! VRRP v2/v3 for tandem: codecs, the sans-I/O instance and sync-group state machines, and the
//! Linux side (raw sockets, VIPs over rtnetlink, GARP / unsolicited NA).
//!
//! Nothing is implemented yet: this crate is built by the VRRP issue. It exists so that the
//! workspace layout of DESIGN.md is in place.
