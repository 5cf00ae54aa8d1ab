//! The IPVS table a configuration wants, in tandem-ipvs's terms.
//!
//! As keepalived (keepalived/check/ipvswrapper.c, ipvs_set_srule / ipvs_set_drule): a
//! `virtual_server group` becomes one service per member (an `IP-END` range one per
//! address); persistence sets the PERSISTENT flag with its timeout and granularity; `ops` is
//! ONEPACKET; sh-fallback / mh-fallback are SCHED1 and sh-port / mh-port SCHED2; a real
//! server without a port uses the service's. Which real servers are in comes from the health
//! checks ([`table_with`]); [`table`] takes them all.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use tandem_conf as conf;
use tandem_ipvs::model::proto;
use tandem_ipvs::{Dest, DestKey, Forward, Service, ServiceFlags, ServiceKey, Table, TunnelType};

/// Real servers of a virtual server searched in a row rather than through a map.
const SEARCHED: usize = 16;

/// The desired table of a configuration with every real server up.
pub fn table(c: &conf::Config) -> Table {
    table_with(c, None)
}

/// The desired table of a configuration whose health checks put `pools[i]` (address, weight)
/// in virtual server `i`: real servers and the sorry server, port 0 meaning the service's.
pub fn table_with(c: &conf::Config, pools: Option<&[Vec<(SocketAddr, u32)>]>) -> Table {
    let mut t = Table::default();
    for (i, vs) in c.virtual_servers.iter().enumerate() {
        let pool = pools.and_then(|p| p.get(i));
        // Looked up by address: a pool can hold tens of thousands of servers. Built once per
        // virtual server, not per service of a group, and only for a large one (a map per
        // virtual server was a tenth of a reload's work with thousands of small ones).
        let by_addr: Option<HashMap<SocketAddr, &conf::RealServer>> = match pool {
            Some(_) if vs.real_servers.len() > SEARCHED => {
                Some(vs.real_servers.iter().map(|r| (SocketAddr::new(r.ip, r.port.unwrap_or(0)), r)).collect())
            }
            _ => None,
        };
        // The last one listed, as the map keeps it.
        let find = |addr: &SocketAddr| match &by_addr {
            Some(map) => map.get(addr).copied(),
            None => vs.real_servers.iter().rev().find(|r| r.ip == addr.ip() && r.port.unwrap_or(0) == addr.port()),
        };
        let keys = keys(c, vs);
        for key in keys {
            let service = service(vs, &key);
            let vs_port = match key {
                ServiceKey::Addr { port, .. } => port,
                ServiceKey::Fwmark { .. } => 0,
            };
            let mut dests = BTreeMap::new();
            match pool {
                None => {
                    for rs in &vs.real_servers {
                        dests.insert(
                            DestKey { addr: rs.ip, port: dest_port(vs, rs.lb_kind, rs.port, vs_port) },
                            dest(vs, rs),
                        );
                    }
                }
                Some(pool) => {
                    for (addr, weight) in pool {
                        if let Some(rs) = find(addr) {
                            let d = Dest { weight: *weight, ..dest(vs, rs) };
                            dests.insert(DestKey { addr: rs.ip, port: dest_port(vs, rs.lb_kind, rs.port, vs_port) }, d);
                        } else if let Some(s) =
                            vs.sorry_server.as_ref().filter(|s| s.ip == addr.ip() && s.port.unwrap_or(0) == addr.port())
                        {
                            let mut as_rs = conf::RealServer::new(s.ip, s.port);
                            as_rs.lb_kind = s.lb_kind;
                            let d = Dest { weight: *weight, ..dest(vs, &as_rs) };
                            dests.insert(DestKey { addr: s.ip, port: dest_port(vs, s.lb_kind, s.port, vs_port) }, d);
                        }
                    }
                }
            }
            t.services.insert(key, (service, dests));
        }
    }
    t
}

/// The port a real server (or sorry server) has in the kernel's table, in a service whose
/// port is `vs_port` (0 for a firewall mark). As keepalived (keepalived/check/ipvswrapper.c,
/// ipvs_set_drule and ipvs_group_cmd) and ipvsadm: under NAT its own port, the service's when
/// it names none; under DR and TUN, which cannot change a packet's port, the service's
/// whatever port it names (that one is where its health checks go; `tandem check` warns).
pub fn dest_port(
    vs: &conf::VirtualServer,
    method: Option<conf::ForwardMethod>,
    port: Option<u16>,
    vs_port: u16,
) -> u16 {
    match method.unwrap_or(vs.lb_kind) {
        conf::ForwardMethod::Nat => port.unwrap_or(vs_port),
        conf::ForwardMethod::Dr | conf::ForwardMethod::Tun => vs_port,
    }
}

fn protocol(vs: &conf::VirtualServer) -> u16 {
    match vs.effective_protocol() {
        conf::Protocol::Tcp => proto::TCP,
        conf::Protocol::Udp => proto::UDP,
        conf::Protocol::Sctp => proto::SCTP,
    }
}

/// The kernel services one virtual_server stands for.
pub fn keys(c: &conf::Config, vs: &conf::VirtualServer) -> Vec<ServiceKey> {
    let v6_family = || {
        vs.ip_family
            .map(|f| f == conf::Family::Inet6)
            .or_else(|| vs.real_servers.first().map(|r| r.ip.is_ipv6()))
            .unwrap_or(false)
    };
    match vs.key() {
        Some(conf::ServiceKey::Addr(addr, port)) => vec![ServiceKey::Addr { protocol: protocol(vs), addr, port }],
        Some(conf::ServiceKey::Fwmark(mark)) => vec![ServiceKey::Fwmark { v6: v6_family(), mark }],
        Some(conf::ServiceKey::Group(name)) => {
            let Some(g) = c.virtual_server_groups.iter().find(|g| g.name == name) else { return vec![] };
            let mut out = Vec::new();
            for m in &g.members {
                if let Some(mark) = m.fwmark {
                    out.push(ServiceKey::Fwmark { v6: v6_family(), mark });
                    continue;
                }
                let Some(first) = m.ip else { continue };
                let port = m.port.unwrap_or(0);
                for addr in range(first, m.range_end) {
                    out.push(ServiceKey::Addr { protocol: protocol(vs), addr, port });
                }
            }
            out
        }
        None => vec![],
    }
}

/// `IP-END`: the addresses from `first` to the one whose last octet (hextet) is `end`.
fn range(first: IpAddr, end: Option<u16>) -> Vec<IpAddr> {
    let Some(end) = end else { return vec![first] };
    match first {
        IpAddr::V4(a) => {
            let o = a.octets();
            (u16::from(o[3])..=end.min(255)).map(|last| IpAddr::from([o[0], o[1], o[2], last as u8])).collect()
        }
        IpAddr::V6(a) => {
            let mut s = a.segments();
            let start = s[7];
            (start..=end)
                .map(|last| {
                    s[7] = last;
                    IpAddr::from(s)
                })
                .collect()
        }
    }
}

/// IPPROTO_UDP, as an IPVS service key carries it.
const IPPROTO_UDP: u16 = 17;

fn service(vs: &conf::VirtualServer, key: &ServiceKey) -> Service {
    let mut flags = 0;
    if vs.persistence_timeout.is_some() {
        flags |= ServiceFlags::PERSISTENT;
    }
    // One-packet scheduling needs UDP or a firewall mark: keepalived clears it on a TCP or
    // SCTP service (check_data.c, validate_check_config), and so does tandem, so that
    // `ipvsadm -Ln` shows the same table under both.
    let udp_or_mark = match key {
        ServiceKey::Addr { protocol, .. } => *protocol == IPPROTO_UDP,
        _ => true,
    };
    if vs.ops && udp_or_mark {
        flags |= ServiceFlags::ONEPACKET;
    }
    if vs.sh_fallback || vs.mh_fallback {
        flags |= ServiceFlags::SCHED1;
    }
    if vs.sh_port || vs.mh_port {
        flags |= ServiceFlags::SCHED2;
    }
    let v6 = key.is_v6();
    let netmask = match (vs.persistence_granularity, v6) {
        (Some(p), true) => u32::from(p.min(128)),
        (None, true) => 128,
        (Some(p), false) => u32::MAX.checked_shl(32 - u32::from(p.min(32))).unwrap_or(0),
        (None, false) => u32::MAX,
    };
    Service {
        scheduler: vs.lb_algo.clone(),
        flags: ServiceFlags(flags),
        timeout: vs.persistence_timeout.unwrap_or(0),
        netmask,
        pe_name: vs.persistence_engine.clone(),
    }
}

fn dest(vs: &conf::VirtualServer, rs: &conf::RealServer) -> Dest {
    let method = rs.lb_kind.unwrap_or(vs.lb_kind);
    let forward = match method {
        conf::ForwardMethod::Nat => Forward::Masq,
        conf::ForwardMethod::Dr => Forward::Route,
        conf::ForwardMethod::Tun => {
            let t = rs.tunnel.or(vs.tunnel);
            let (kind, port) = match t.map(|t| t.kind) {
                Some(conf::TunnelType::Gue) => (TunnelType::Gue, t.and_then(|t| t.port).unwrap_or(0)),
                Some(conf::TunnelType::Gre) => (TunnelType::Gre, 0),
                _ => (TunnelType::Ipip, 0),
            };
            // IP_VS_TUNNEL_ENCAP_FLAG_CSUM 1, _REMCSUM 2 (include/uapi/linux/ip_vs.h).
            let flags = match t.and_then(|t| t.csum) {
                Some(conf::TunnelCsum::Csum) => 1,
                Some(conf::TunnelCsum::Remcsum) => 2,
                _ => 0,
            };
            Forward::Tunnel { kind, port, flags }
        }
    };
    Dest {
        forward,
        weight: rs.weight,
        u_threshold: rs.uthreshold.unwrap_or(0),
        l_threshold: rs.lthreshold.unwrap_or(0),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed set-up step should fail the test
pub(crate) mod tests {
    use super::*;

    /// A keepalived.conf text that must read without errors (shared by the daemon's tests).
    pub(crate) fn load(text: &str) -> conf::Config {
        let r = conf::load_str(text, "k.conf", &conf::Options::default());
        assert!(!r.has_errors(), "{}", r.render());
        r.config
    }

    #[test]
    fn the_tutorial_nat_service_with_port_mapping_and_persistence() {
        let c = load(
            "virtual_server 192.0.2.10 80 {\n protocol TCP\n lb_algo wrr\n lb_kind NAT\n persistence_timeout 30\n persistence_granularity 255.255.255.0\n real_server 10.0.0.11 8080 {\n  weight 1\n }\n real_server 10.0.0.12 8080 {\n  weight 2\n }\n}\n",
        );
        let t = table(&c);
        let key = ServiceKey::Addr { protocol: proto::TCP, addr: "192.0.2.10".parse().unwrap(), port: 80 };
        let (s, d) = t.services.get(&key).unwrap();
        assert_eq!(
            s,
            &Service {
                scheduler: "wrr".into(),
                flags: ServiceFlags(ServiceFlags::PERSISTENT),
                timeout: 30,
                netmask: 0xffff_ff00,
                pe_name: None
            }
        );
        let rs2 = DestKey { addr: "10.0.0.12".parse().unwrap(), port: 8080 };
        assert_eq!(d.get(&rs2), Some(&Dest { forward: Forward::Masq, weight: 2, u_threshold: 0, l_threshold: 0 }));
    }

    #[test]
    fn groups_ranges_fwmarks_dr_tun_and_scheduler_flags() {
        let c = load(
            "virtual_server_group G {\n 192.0.2.1-3 80\n fwmark 7\n}\n\
             virtual_server group G {\n protocol UDP\n lb_algo sh\n sh-port\n sh-fallback\n ops\n lb_kind DR\n real_server 10.0.0.2 {\n  weight 3\n }\n}\n\
             virtual_server 2001:db8::10 443 {\n protocol TCP\n lb_kind TUN type gue port 6080 csum\n real_server 2001:db8:1::2 443 {\n  weight 1\n }\n}\n",
        );
        let t = table(&c);
        assert_eq!(t.services.len(), 5, "{:?}", t.services.keys().collect::<Vec<_>>());
        let k = ServiceKey::Addr { protocol: proto::UDP, addr: "192.0.2.3".parse().unwrap(), port: 80 };
        let (s, d) = t.services.get(&k).unwrap();
        assert_eq!(s.flags.0, ServiceFlags::ONEPACKET | ServiceFlags::SCHED1 | ServiceFlags::SCHED2);
        // A real server without a port uses the service's.
        assert_eq!(d.keys().next(), Some(&DestKey { addr: "10.0.0.2".parse().unwrap(), port: 80 }));
        assert_eq!(d.values().next().unwrap().forward, Forward::Route);
        let (_, fw) = t.services.get(&ServiceKey::Fwmark { v6: false, mark: 7 }).unwrap();
        assert_eq!(fw.keys().next().unwrap().port, 0);
        let v6 = ServiceKey::Addr { protocol: proto::TCP, addr: "2001:db8::10".parse().unwrap(), port: 443 };
        let (s6, d6) = t.services.get(&v6).unwrap();
        assert_eq!(s6.netmask, 128);
        assert_eq!(
            d6.values().next().unwrap().forward,
            Forward::Tunnel { kind: TunnelType::Gue, port: 6080, flags: 1 }
        );
    }

    /// Under DR and TUN the kernel holds a real server at the service's port (0 in a
    /// firewall-mark service), as keepalived programs it, whatever port it names for its
    /// checks; under NAT, at its own port. A real server with a NAT override in a DR service
    /// keeps its own.
    #[test]
    fn dr_and_tun_real_servers_take_the_services_port() {
        let c = load(
            "virtual_server_group G {\n 192.0.2.50 8080\n fwmark 9\n}\n\
             virtual_server group G {\n protocol TCP\n lb_kind DR\n real_server 10.0.0.11 80 {\n  weight 1\n }\n real_server 10.0.0.12 81 {\n  lb_kind NAT\n  weight 1\n }\n}\n\
             virtual_server 192.0.2.60 443 {\n protocol TCP\n lb_kind TUN\n real_server 10.0.0.13 8443 {\n  weight 1\n }\n sorry_server 10.0.0.14 9443\n}\n",
        );
        let t = table(&c);
        let ports = |k: &ServiceKey| t.services.get(k).unwrap().1.keys().map(|d| d.to_string()).collect::<Vec<_>>();
        let addr = |a: &str, port| ServiceKey::Addr { protocol: proto::TCP, addr: a.parse().unwrap(), port };
        assert_eq!(ports(&addr("192.0.2.50", 8080)), ["10.0.0.11:8080", "10.0.0.12:81"]);
        assert_eq!(ports(&ServiceKey::Fwmark { v6: false, mark: 9 }), ["10.0.0.11:0", "10.0.0.12:81"]);
        assert_eq!(ports(&addr("192.0.2.60", 443)), ["10.0.0.13:443"]);
        // The sorry server too, when the health checks put it in.
        let sorry: SocketAddr = "10.0.0.14:9443".parse().unwrap();
        let pools = [vec![], vec![(sorry, 1)]];
        let t = table_with(&c, Some(&pools));
        let (_, d) = t.services.get(&addr("192.0.2.60", 443)).unwrap();
        assert_eq!(d.keys().map(|d| d.to_string()).collect::<Vec<_>>(), ["10.0.0.14:443"]);
    }
}
