//! The IPVS table as plain data: services keyed as the kernel keys them, each with its
//! destinations (include/uapi/linux/ip_vs.h; net/netfilter/ipvs/ip_vs_ctl.c).

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// Transport protocol numbers the kernel uses (IPPROTO_*).
pub mod proto {
    /// TCP.
    pub const TCP: u16 = 6;
    /// UDP.
    pub const UDP: u16 = 17;
    /// SCTP.
    pub const SCTP: u16 = 132;
}

/// How the kernel identifies a virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceKey {
    /// Protocol, address and port (`ipvsadm -t/-u/--sctp-service`).
    Addr {
        /// IPPROTO_TCP, IPPROTO_UDP or IPPROTO_SCTP.
        protocol: u16,
        /// Virtual address.
        addr: IpAddr,
        /// Virtual port (0 with persistence: every port).
        port: u16,
    },
    /// Firewall mark, per address family (`ipvsadm -f`).
    Fwmark {
        /// True for an IPv6 fwmark service.
        v6: bool,
        /// The mark.
        mark: u32,
    },
}

impl ServiceKey {
    /// True for IPv6 services.
    pub fn is_v6(&self) -> bool {
        match self {
            ServiceKey::Addr { addr, .. } => addr.is_ipv6(),
            ServiceKey::Fwmark { v6, .. } => *v6,
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr { protocol, addr, port } => {
                let p = match *protocol {
                    proto::TCP => "TCP",
                    proto::UDP => "UDP",
                    proto::SCTP => "SCTP",
                    _ => "?",
                };
                match addr {
                    IpAddr::V6(a) => write!(f, "{p} [{a}]:{port}"),
                    IpAddr::V4(a) => write!(f, "{p} {a}:{port}"),
                }
            }
            ServiceKey::Fwmark { v6, mark } => write!(f, "FWM {mark}{}", if *v6 { " IPv6" } else { "" }),
        }
    }
}

/// Service flags (IP_VS_SVC_F_*), as the kernel reports them (HASHED masked out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ServiceFlags(pub u32);

impl ServiceFlags {
    /// IP_VS_SVC_F_PERSISTENT.
    pub const PERSISTENT: u32 = 0x1;
    /// IP_VS_SVC_F_HASHED: kernel-internal, never set or compared.
    pub const HASHED: u32 = 0x2;
    /// IP_VS_SVC_F_ONEPACKET.
    pub const ONEPACKET: u32 = 0x4;
    /// IP_VS_SVC_F_SCHED1 (sh-fallback, mh-fallback).
    pub const SCHED1: u32 = 0x8;
    /// IP_VS_SVC_F_SCHED2 (sh-port, mh-port).
    pub const SCHED2: u32 = 0x10;
    /// IP_VS_SVC_F_SCHED3.
    pub const SCHED3: u32 = 0x20;

    /// The flags that matter for comparison (without HASHED).
    pub fn significant(self) -> u32 {
        self.0 & !Self::HASHED
    }
}

/// A virtual service's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Scheduler name (rr, wrr, ...).
    pub scheduler: String,
    /// Flags.
    pub flags: ServiceFlags,
    /// Persistence timeout in seconds (0 without persistence).
    pub timeout: u32,
    /// Persistence netmask: IPv4 mask in host order (0xffffffff by default), or the IPv6
    /// prefix length (128 by default).
    pub netmask: u32,
    /// Persistence engine (e.g. sip).
    pub pe_name: Option<String>,
}

impl Service {
    /// True when the kernel needs a SET_SERVICE to match `other`.
    pub fn differs(&self, other: &Service) -> bool {
        self.scheduler != other.scheduler
            || self.flags.significant() != other.flags.significant()
            || self.timeout != other.timeout
            || self.netmask != other.netmask
            || self.pe_name != other.pe_name
    }
}

/// Tunnel encapsulation (IP_VS_CONN_F_TUNNEL_TYPE_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelType {
    /// IP in IP (0).
    Ipip,
    /// GUE (1) to a UDP port.
    Gue,
    /// GRE (2).
    Gre,
}

/// Forwarding method of a destination (IP_VS_CONN_F_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Forward {
    /// Masquerading, LVS-NAT (0).
    Masq,
    /// Local node (1).
    Local,
    /// Tunnelling, LVS-TUN (2), with its encapsulation.
    Tunnel {
        /// Encapsulation.
        kind: TunnelType,
        /// GUE port (0 otherwise).
        port: u16,
        /// IP_VS_TUNNEL_ENCAP_FLAG_* (checksum modes).
        flags: u16,
    },
    /// Direct routing, LVS-DR (3).
    Route,
    /// Bypass (4).
    Bypass,
}

impl Forward {
    /// The IP_VS_CONN_F_FWD_MASK value.
    pub fn code(&self) -> u32 {
        match self {
            Forward::Masq => 0,
            Forward::Local => 1,
            Forward::Tunnel { .. } => 2,
            Forward::Route => 3,
            Forward::Bypass => 4,
        }
    }
}

/// How the kernel identifies a destination within its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DestKey {
    /// Real server address.
    pub addr: IpAddr,
    /// Real server port.
    pub port: u16,
}

impl fmt::Display for DestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `10.0.0.1:80`, `[2001:db8::1]:80`, as ipvsadm writes them.
        std::net::SocketAddr::new(self.addr, self.port).fmt(f)
    }
}

/// A destination's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dest {
    /// Forwarding method.
    pub forward: Forward,
    /// Weight (0: no new connections).
    pub weight: u32,
    /// Upper connection threshold (0: none).
    pub u_threshold: u32,
    /// Lower connection threshold.
    pub l_threshold: u32,
}

/// A whole table (or the part tandem manages): services with their destinations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    /// Services by key, each with its destinations by key.
    pub services: BTreeMap<ServiceKey, (Service, BTreeMap<DestKey, Dest>)>,
}

impl Table {
    /// Number of services and destinations.
    pub fn size(&self) -> (usize, usize) {
        (self.services.len(), self.services.values().map(|(_, d)| d.len()).sum())
    }
}
