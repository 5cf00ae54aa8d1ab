//! The Linux side of VRRP: virtual addresses over rtnetlink (more to come: raw sockets,
//! GARP / NA sending, link events).

pub mod addr;
pub mod addr_monitor;
pub mod frames;
pub mod link;
pub mod route;
pub mod route_monitor;
pub mod rule;
pub mod socket;
pub mod vmac;

/// A failed kernel request: what was being done, and the errno the kernel gave.
#[derive(Debug, thiserror::Error)]
#[error("{op}: {detail}")]
pub struct NetlinkError {
    /// What was being done, e.g. "add 192.0.2.100/24 on eth0".
    pub op: String,
    /// The kernel's errno, when it answered with one.
    pub errno: Option<i32>,
    /// The kernel's or the library's words.
    pub detail: String,
}

impl NetlinkError {
    pub(crate) fn new(op: impl Into<String>, errno: Option<i32>, detail: impl Into<String>) -> Self {
        NetlinkError { op: op.into(), errno, detail: detail.into() }
    }
}
