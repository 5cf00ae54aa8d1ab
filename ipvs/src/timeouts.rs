//! Connection timeouts (`ipvsadm --set tcp tcpfin udp`; keepalived's `lvs_timeouts`):
//! SET_CONFIG and GET_CONFIG (ip_vs_ctl.c, ip_vs_set_timeout / ip_vs_genl_get_cmd).

use crate::attrs::{self, top};

/// The three timeouts ipvsadm shows with `-L --timeout`, in seconds. In a SET, 0 leaves that
/// timeout as it is (the kernel's rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timeouts {
    /// Established TCP connections (kernel default 900).
    pub tcp: u32,
    /// TCP after a FIN (kernel default 120).
    pub tcp_fin: u32,
    /// UDP (kernel default 300).
    pub udp: u32,
}

impl Timeouts {
    /// The top-level attributes SET_CONFIG takes (the zero ones omitted).
    pub fn attrs(&self) -> Vec<(u16, Vec<u8>)> {
        [(top::TIMEOUT_TCP, self.tcp), (top::TIMEOUT_TCP_FIN, self.tcp_fin), (top::TIMEOUT_UDP, self.udp)]
            .into_iter()
            .filter(|(_, v)| *v != 0)
            .map(|(t, v)| (t, v.to_ne_bytes().to_vec()))
            .collect()
    }

    /// Reads a GET_CONFIG reply's top-level attributes.
    pub fn from_attrs(get: &dyn Fn(u16) -> Option<Vec<u8>>) -> Timeouts {
        let n = |t| get(t).and_then(|b| attrs::u32_from(&b)).unwrap_or(0);
        Timeouts { tcp: n(top::TIMEOUT_TCP), tcp_fin: n(top::TIMEOUT_TCP_FIN), udp: n(top::TIMEOUT_UDP) }
    }
}
