//! IPVS generic-netlink attributes: numbers (include/uapi/linux/ip_vs.h) and the byte
//! layouts of their payloads. Integers are host order, except ports and the IPv4 persistence
//! netmask, which are network order (ip_vs_ctl.c, ip_vs_genl_parse_service / _dest).

use crate::model::{Dest, DestKey, Forward, Service, ServiceFlags, ServiceKey, TunnelType};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Commands (enum ipvs_cmd).
pub mod cmd {
    /// IPVS_CMD_NEW_SERVICE.
    pub const NEW_SERVICE: u8 = 1;
    /// IPVS_CMD_SET_SERVICE.
    pub const SET_SERVICE: u8 = 2;
    /// IPVS_CMD_DEL_SERVICE.
    pub const DEL_SERVICE: u8 = 3;
    /// IPVS_CMD_GET_SERVICE.
    pub const GET_SERVICE: u8 = 4;
    /// IPVS_CMD_NEW_DEST.
    pub const NEW_DEST: u8 = 5;
    /// IPVS_CMD_SET_DEST.
    pub const SET_DEST: u8 = 6;
    /// IPVS_CMD_DEL_DEST.
    pub const DEL_DEST: u8 = 7;
    /// IPVS_CMD_GET_DEST.
    pub const GET_DEST: u8 = 8;
    /// IPVS_CMD_NEW_DAEMON.
    pub const NEW_DAEMON: u8 = 9;
    /// IPVS_CMD_DEL_DAEMON.
    pub const DEL_DAEMON: u8 = 10;
    /// IPVS_CMD_GET_DAEMON.
    pub const GET_DAEMON: u8 = 11;
    /// IPVS_CMD_SET_CONFIG.
    pub const SET_CONFIG: u8 = 12;
    /// IPVS_CMD_GET_CONFIG.
    pub const GET_CONFIG: u8 = 13;
    /// IPVS_CMD_GET_INFO.
    pub const GET_INFO: u8 = 15;
}

/// Top-level attributes (IPVS_CMD_ATTR_*).
pub mod top {
    /// Nested service.
    pub const SERVICE: u16 = 1;
    /// Nested destination.
    pub const DEST: u16 = 2;
    /// Nested sync daemon.
    pub const DAEMON: u16 = 3;
    /// TCP established timeout (u32 seconds).
    pub const TIMEOUT_TCP: u16 = 4;
    /// TCP FIN_WAIT timeout (u32 seconds).
    pub const TIMEOUT_TCP_FIN: u16 = 5;
    /// UDP timeout (u32 seconds).
    pub const TIMEOUT_UDP: u16 = 6;
}

/// Service attributes (IPVS_SVC_ATTR_*).
pub mod svc {
    /// Address family (u16).
    pub const AF: u16 = 1;
    /// Protocol (u16).
    pub const PROTOCOL: u16 = 2;
    /// Address (16 bytes).
    pub const ADDR: u16 = 3;
    /// Port (be16).
    pub const PORT: u16 = 4;
    /// Firewall mark (u32).
    pub const FWMARK: u16 = 5;
    /// Scheduler name (string).
    pub const SCHED_NAME: u16 = 6;
    /// Flags (struct ip_vs_flags: u32 flags, u32 mask).
    pub const FLAGS: u16 = 7;
    /// Persistence timeout (u32).
    pub const TIMEOUT: u16 = 8;
    /// Persistence netmask (be32 for IPv4, prefix length for IPv6).
    pub const NETMASK: u16 = 9;
    /// Persistence engine (string).
    pub const PE_NAME: u16 = 11;
    /// Nested 64-bit statistics (IPVS_STATS_ATTR_*).
    pub const STATS64: u16 = 12;
}

/// Destination attributes (IPVS_DEST_ATTR_*).
pub mod dst {
    /// Address (16 bytes).
    pub const ADDR: u16 = 1;
    /// Port (be16).
    pub const PORT: u16 = 2;
    /// Forwarding method (u32).
    pub const FWD_METHOD: u16 = 3;
    /// Weight (u32).
    pub const WEIGHT: u16 = 4;
    /// Upper threshold (u32).
    pub const U_THRESH: u16 = 5;
    /// Lower threshold (u32).
    pub const L_THRESH: u16 = 6;
    /// Active connections (u32).
    pub const ACTIVE_CONNS: u16 = 7;
    /// Inactive connections (u32).
    pub const INACT_CONNS: u16 = 8;
    /// Persistent connection templates (u32).
    pub const PERSIST_CONNS: u16 = 9;
    /// Destination address family (u16).
    pub const ADDR_FAMILY: u16 = 11;
    /// Tunnel type (u8).
    pub const TUN_TYPE: u16 = 13;
    /// Tunnel port (be16).
    pub const TUN_PORT: u16 = 14;
    /// Tunnel flags (u16).
    pub const TUN_FLAGS: u16 = 15;
    /// Nested 64-bit statistics (IPVS_STATS_ATTR_*).
    pub const STATS64: u16 = 12;
}

/// Sync daemon attributes (IPVS_DAEMON_ATTR_*).
pub mod daemon {
    /// IP_VS_STATE_MASTER (1) or IP_VS_STATE_BACKUP (2), u32.
    pub const STATE: u16 = 1;
    /// Interface for the multicast (string).
    pub const MCAST_IFN: u16 = 2;
    /// Sync id (u32).
    pub const SYNC_ID: u16 = 3;
    /// Largest sync message (u16).
    pub const SYNC_MAXLEN: u16 = 4;
    /// IPv4 multicast group (4 bytes, network order).
    pub const MCAST_GROUP: u16 = 5;
    /// IPv6 multicast group (16 bytes).
    pub const MCAST_GROUP6: u16 = 6;
    /// UDP port (u16, host order).
    pub const MCAST_PORT: u16 = 7;
    /// Multicast TTL (u8).
    pub const MCAST_TTL: u16 = 8;
}

/// Statistics attributes (IPVS_STATS_ATTR_*), each a u64 inside STATS64.
pub mod stats {
    /// Connections scheduled.
    pub const CONNS: u16 = 1;
    /// Incoming packets.
    pub const INPKTS: u16 = 2;
    /// Outgoing packets.
    pub const OUTPKTS: u16 = 3;
    /// Incoming bytes.
    pub const INBYTES: u16 = 4;
    /// Outgoing bytes.
    pub const OUTBYTES: u16 = 5;
    /// Connections per second.
    pub const CPS: u16 = 6;
    /// Incoming packets per second.
    pub const INPPS: u16 = 7;
    /// Outgoing packets per second.
    pub const OUTPPS: u16 = 8;
    /// Incoming bytes per second.
    pub const INBPS: u16 = 9;
    /// Outgoing bytes per second.
    pub const OUTBPS: u16 = 10;
}

/// Info attributes (IPVS_INFO_ATTR_*).
pub mod info {
    /// Version (u32: major << 16 | minor << 8 | patch).
    pub const VERSION: u16 = 1;
    /// Connection table size (u32).
    pub const CONN_TAB_SIZE: u16 = 2;
}

/// AF_INET.
pub const AF_INET: u16 = 2;
/// AF_INET6.
pub const AF_INET6: u16 = 10;

/// An address as the kernel's union nf_inet_addr: 16 bytes, IPv4 in the first 4.
pub fn addr_bytes(a: &IpAddr) -> Vec<u8> {
    let mut b = vec![0u8; 16];
    match a {
        IpAddr::V4(v) => b[..4].copy_from_slice(&v.octets()),
        IpAddr::V6(v) => b.copy_from_slice(&v.octets()),
    }
    b
}

/// Reads a union nf_inet_addr of family `af`.
pub fn addr_from(bytes: &[u8], af: u16) -> Option<IpAddr> {
    match af {
        AF_INET => <[u8; 4]>::try_from(bytes.get(..4)?).ok().map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        AF_INET6 => <[u8; 16]>::try_from(bytes.get(..16)?).ok().map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        _ => None,
    }
}

fn af_of(a: &IpAddr) -> u16 {
    if a.is_ipv4() { AF_INET } else { AF_INET6 }
}

/// Reads nested attributes (a payload that is itself a sequence of attributes) into a
/// lookup by type; a malformed payload reads as empty.
pub fn nested_lookup(payload: &[u8]) -> impl Fn(u16) -> Option<Vec<u8>> + use<> {
    use neli::{FromBytesWithInput, types::Buffer, types::GenlBuffer};
    let mut cursor = std::io::Cursor::new(payload);
    let found: Vec<(u16, Vec<u8>)> = GenlBuffer::<u16, Buffer>::from_bytes_with_input(&mut cursor, payload.len())
        .map(|b| b.iter().map(|a| (*a.nla_type().nla_type(), a.nla_payload().as_ref().to_vec())).collect())
        .unwrap_or_default();
    move |t| found.iter().find(|(k, _)| *k == t).map(|(_, v)| v.clone())
}

/// A NUL-terminated string payload.
pub fn cstring(s: &str) -> Vec<u8> {
    let mut b = s.as_bytes().to_vec();
    b.push(0);
    b
}

/// A string payload, NUL and anything after it dropped.
pub fn string_from(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// A host-order u32 payload.
pub fn u32_from(bytes: &[u8]) -> Option<u32> {
    bytes.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_ne_bytes)
}

/// A host-order u64 payload.
pub fn u64_from(bytes: &[u8]) -> Option<u64> {
    bytes.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_ne_bytes)
}

/// A host-order u16 payload.
pub fn u16_from(bytes: &[u8]) -> Option<u16> {
    bytes.get(..2).and_then(|b| <[u8; 2]>::try_from(b).ok()).map(u16::from_ne_bytes)
}

/// A network-order u16 payload.
pub fn be16_from(bytes: &[u8]) -> Option<u16> {
    bytes.get(..2).and_then(|b| <[u8; 2]>::try_from(b).ok()).map(u16::from_be_bytes)
}

/// The attributes that identify a service (all a DEL or a GET_DEST needs).
pub fn service_identity(key: &ServiceKey) -> Vec<(u16, Vec<u8>)> {
    match key {
        ServiceKey::Addr { protocol, addr, port } => vec![
            (svc::AF, af_of(addr).to_ne_bytes().to_vec()),
            (svc::PROTOCOL, protocol.to_ne_bytes().to_vec()),
            (svc::ADDR, addr_bytes(addr)),
            (svc::PORT, port.to_be_bytes().to_vec()),
        ],
        ServiceKey::Fwmark { v6, mark } => {
            vec![
                (svc::AF, (if *v6 { AF_INET6 } else { AF_INET }).to_ne_bytes().to_vec()),
                (svc::FWMARK, mark.to_ne_bytes().to_vec()),
            ]
        }
    }
}

/// Every service attribute NEW_SERVICE and SET_SERVICE need.
pub fn service_full(key: &ServiceKey, s: &Service) -> Vec<(u16, Vec<u8>)> {
    let mut a = service_identity(key);
    a.push((svc::SCHED_NAME, cstring(&s.scheduler)));
    let mut flags = s.flags.significant().to_ne_bytes().to_vec();
    flags.extend_from_slice(&u32::MAX.to_ne_bytes());
    a.push((svc::FLAGS, flags));
    a.push((svc::TIMEOUT, s.timeout.to_ne_bytes().to_vec()));
    let netmask = if key.is_v6() { s.netmask.to_ne_bytes() } else { s.netmask.to_be_bytes() };
    a.push((svc::NETMASK, netmask.to_vec()));
    if let Some(pe) = &s.pe_name {
        a.push((svc::PE_NAME, cstring(pe)));
    }
    a
}

/// Reads a service from a GET_SERVICE reply's nested attributes.
pub fn service_from(get: &dyn Fn(u16) -> Option<Vec<u8>>) -> Option<(ServiceKey, Service)> {
    let af = u16_from(&get(svc::AF)?)?;
    let v6 = af == AF_INET6;
    let fwmark = get(svc::FWMARK).and_then(|b| u32_from(&b)).unwrap_or(0);
    let key = if fwmark != 0 {
        ServiceKey::Fwmark { v6, mark: fwmark }
    } else {
        ServiceKey::Addr {
            protocol: u16_from(&get(svc::PROTOCOL)?)?,
            addr: addr_from(&get(svc::ADDR)?, af)?,
            port: be16_from(&get(svc::PORT)?)?,
        }
    };
    let netmask_raw = get(svc::NETMASK)?;
    let netmask =
        if v6 { u32_from(&netmask_raw)? } else { u32::from_be_bytes(<[u8; 4]>::try_from(netmask_raw.get(..4)?).ok()?) };
    let service = Service {
        scheduler: string_from(&get(svc::SCHED_NAME)?),
        flags: ServiceFlags(u32_from(&get(svc::FLAGS)?)? & !ServiceFlags::HASHED),
        timeout: u32_from(&get(svc::TIMEOUT)?)?,
        netmask,
        pe_name: get(svc::PE_NAME).map(|b| string_from(&b)).filter(|s| !s.is_empty()),
    };
    Some((key, service))
}

/// Every destination attribute NEW_DEST and SET_DEST need (only the key for DEL_DEST).
pub fn dest_attrs(key: &DestKey, d: Option<&Dest>) -> Vec<(u16, Vec<u8>)> {
    let mut a = vec![
        (dst::ADDR, addr_bytes(&key.addr)),
        (dst::PORT, key.port.to_be_bytes().to_vec()),
        (dst::ADDR_FAMILY, af_of(&key.addr).to_ne_bytes().to_vec()),
    ];
    if let Some(d) = d {
        a.push((dst::FWD_METHOD, d.forward.code().to_ne_bytes().to_vec()));
        a.push((dst::WEIGHT, d.weight.to_ne_bytes().to_vec()));
        a.push((dst::U_THRESH, d.u_threshold.to_ne_bytes().to_vec()));
        a.push((dst::L_THRESH, d.l_threshold.to_ne_bytes().to_vec()));
        if let Forward::Tunnel { kind, port, flags } = d.forward {
            let t: u8 = match kind {
                TunnelType::Ipip => 0,
                TunnelType::Gue => 1,
                TunnelType::Gre => 2,
            };
            a.push((dst::TUN_TYPE, vec![t]));
            a.push((dst::TUN_PORT, port.to_be_bytes().to_vec()));
            a.push((dst::TUN_FLAGS, flags.to_ne_bytes().to_vec()));
        }
    }
    a
}

/// Reads a destination from a GET_DEST reply's nested attributes; `service_v6` is the
/// service's family (older kernels omit the destination's own).
pub fn dest_from(get: &dyn Fn(u16) -> Option<Vec<u8>>, service_v6: bool) -> Option<(DestKey, Dest)> {
    let af = get(dst::ADDR_FAMILY).and_then(|b| u16_from(&b)).unwrap_or(if service_v6 { AF_INET6 } else { AF_INET });
    let key = DestKey { addr: addr_from(&get(dst::ADDR)?, af)?, port: be16_from(&get(dst::PORT)?)? };
    let forward = match u32_from(&get(dst::FWD_METHOD)?)? & 0x7 {
        0 => Forward::Masq,
        1 => Forward::Local,
        2 => Forward::Tunnel {
            kind: match get(dst::TUN_TYPE).and_then(|b| b.first().copied()).unwrap_or(0) {
                1 => TunnelType::Gue,
                2 => TunnelType::Gre,
                _ => TunnelType::Ipip,
            },
            port: get(dst::TUN_PORT).and_then(|b| be16_from(&b)).unwrap_or(0),
            flags: get(dst::TUN_FLAGS).and_then(|b| u16_from(&b)).unwrap_or(0),
        },
        3 => Forward::Route,
        _ => Forward::Bypass,
    };
    let d = Dest {
        forward,
        weight: u32_from(&get(dst::WEIGHT)?)?,
        u_threshold: get(dst::U_THRESH).and_then(|b| u32_from(&b)).unwrap_or(0),
        l_threshold: get(dst::L_THRESH).and_then(|b| u32_from(&b)).unwrap_or(0),
    };
    Some((key, d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::proto;
    use std::collections::HashMap;

    fn lookup(attrs: Vec<(u16, Vec<u8>)>) -> impl Fn(u16) -> Option<Vec<u8>> {
        let m: HashMap<u16, Vec<u8>> = attrs.into_iter().collect();
        move |k| m.get(&k).cloned()
    }

    #[test]
    fn services_and_dests_round_trip_through_their_attributes() {
        let key = ServiceKey::Addr {
            protocol: proto::TCP,
            addr: "192.0.2.10".parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            port: 80,
        };
        let s = Service {
            scheduler: "wrr".into(),
            flags: ServiceFlags(ServiceFlags::PERSISTENT),
            timeout: 30,
            netmask: 0xffff_ff00,
            pe_name: None,
        };
        let attrs = service_full(&key, &s);
        // The port and the IPv4 netmask travel in network order.
        assert!(attrs.contains(&(svc::PORT, vec![0, 80])));
        assert!(attrs.contains(&(svc::NETMASK, vec![255, 255, 255, 0])));
        assert_eq!(service_from(&lookup(attrs)), Some((key, s.clone())));

        let dk = DestKey { addr: "10.0.0.2".parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)), port: 8080 };
        let d = Dest {
            forward: Forward::Tunnel { kind: TunnelType::Gue, port: 6080, flags: 1 },
            weight: 2,
            u_threshold: 10,
            l_threshold: 5,
        };
        let attrs = dest_attrs(&dk, Some(&d));
        assert!(attrs.contains(&(dst::TUN_PORT, 6080u16.to_be_bytes().to_vec())));
        assert_eq!(dest_from(&lookup(attrs), false), Some((dk, d)));

        let fw = ServiceKey::Fwmark { v6: true, mark: 7 };
        let s6 = Service { netmask: 64, ..s };
        assert_eq!(service_from(&lookup(service_full(&fw, &s6))), Some((fw, s6)));
    }
}
