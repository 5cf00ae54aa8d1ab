//! VRRP v2/v3 for tandem.
//!
//! - [`advert`]: the decoded form of a VRRP advertisement, shared by the codec and the state
//!   machine;
//! - [`wire`]: codecs (VRRP v2/v3 over IPv4 and IPv6, checksums, gratuitous ARP and unsolicited
//!   neighbour advertisement frames), checked views over bytes plus parse/emit, after smoltcp;
//! - [`instance`]: the sans-I/O state machine of one VRRP instance and of sync groups, driven by
//!   `handle_*(now, ...)` and drained by `poll_*()`, reading no clock and touching no socket.
//!
//! The Linux side (raw sockets, VIPs over rtnetlink, GARP sending) comes later in the VRRP
//! issue.

pub mod advert;
pub mod instance;
pub mod linux;
pub mod track;
pub mod wire;

pub use advert::{Advert, Auth, Version};
