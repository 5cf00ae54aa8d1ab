//! The table as `ipvsadm` writes it: each change as the `ipvsadm` command that makes it, and a
//! whole table in `ipvsadm -Sn` form (ipvsadm.c, print_service_entry / print_dest_entry in
//! FMT_RULE mode), so that what tandem plans reads as an operator's own commands and can be
//! compared line for line with what the kernel shows.

use crate::diff::Change;
use crate::model::{Dest, DestKey, Forward, Service, ServiceFlags, ServiceKey, Table, TunnelType, proto};
use std::fmt::Write;
use std::net::IpAddr;

/// The service options of `-A`/`-t`: `-t ADDR:PORT`, `-u`, `--sctp-service`, `-f MARK [-6]`.
pub fn key_args(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr { protocol, addr, port } => {
            let opt = match *protocol {
                proto::TCP => "-t",
                proto::UDP => "-u",
                proto::SCTP => "--sctp-service",
                _ => "-t",
            };
            format!("{opt} {}", addr_port(*addr, *port))
        }
        ServiceKey::Fwmark { v6, mark } => format!("-f {mark}{}", if *v6 { " -6" } else { "" }),
    }
}

fn addr_port(addr: IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(addr, port).to_string()
}

/// A service's settings as `ipvsadm` options: `-s SCHED [-p TIMEOUT [-M MASK]] [--pe NAME]
/// [-o] [-b FLAGS]`.
pub fn service_args(key: &ServiceKey, s: &Service) -> String {
    let mut out = format!("-s {}", s.scheduler);
    let flags = s.flags.significant();
    if flags & ServiceFlags::PERSISTENT != 0 {
        let _ = write!(out, " -p {}", s.timeout);
        if key.is_v6() {
            if s.netmask != 128 {
                let _ = write!(out, " -M {}", s.netmask);
            }
        } else if s.netmask != u32::MAX {
            let _ = write!(out, " -M {}", std::net::Ipv4Addr::from(s.netmask));
        }
    }
    if let Some(pe) = &s.pe_name {
        let _ = write!(out, " --pe {pe}");
    }
    if flags & ServiceFlags::ONEPACKET != 0 {
        out.push_str(" -o");
    }
    // The scheduler flags, named as the scheduler reads them (ipvsadm.c, print_sched_flags).
    let names: [&str; 3] = match s.scheduler.as_str() {
        "sh" => ["sh-fallback", "sh-port", "flag-3"],
        "mh" => ["mh-fallback", "mh-port", "flag-3"],
        _ => ["flag-1", "flag-2", "flag-3"],
    };
    let set: Vec<&str> = [ServiceFlags::SCHED1, ServiceFlags::SCHED2, ServiceFlags::SCHED3]
        .iter()
        .zip(names)
        .filter(|(f, _)| flags & **f != 0)
        .map(|(_, n)| n)
        .collect();
    if !set.is_empty() {
        let _ = write!(out, " -b {}", set.join(","));
    }
    out
}

/// A destination as `ipvsadm` options: `-r ADDR:PORT -m|-g|-i -w WEIGHT [-x U] [-y L]
/// [--tun-type ...]`.
pub fn dest_args(d: &DestKey, x: &Dest, thresholds: bool) -> String {
    let method = match x.forward {
        Forward::Masq => "-m",
        Forward::Route => "-g",
        Forward::Tunnel { .. } => "-i",
        Forward::Local | Forward::Bypass => "-g",
    };
    let mut out = format!("-r {d} {method} -w {}", x.weight);
    if thresholds {
        if x.u_threshold != 0 {
            let _ = write!(out, " -x {}", x.u_threshold);
        }
        if x.l_threshold != 0 {
            let _ = write!(out, " -y {}", x.l_threshold);
        }
    }
    if let Forward::Tunnel { kind, port, flags } = x.forward {
        match kind {
            TunnelType::Ipip => out.push_str(" --tun-type ipip"),
            TunnelType::Gue => {
                let _ = write!(out, " --tun-type gue --tun-port {port}");
            }
            TunnelType::Gre => out.push_str(" --tun-type gre"),
        }
        // IP_VS_TUNNEL_ENCAP_FLAG_CSUM (1) and _REMCSUM (2); none is --tun-nocsum, which
        // ipvsadm -S leaves out.
        if kind != TunnelType::Ipip {
            if flags & 1 != 0 {
                out.push_str(" --tun-csum");
            } else if flags & 2 != 0 {
                out.push_str(" --tun-remcsum");
            }
        }
    }
    out
}

/// The `ipvsadm` command that makes `change` (without the program name).
pub fn command(change: &Change) -> String {
    match change {
        Change::AddService(k, s) => format!("-A {} {}", key_args(k), service_args(k, s)),
        Change::EditService(k, s) => format!("-E {} {}", key_args(k), service_args(k, s)),
        Change::DelService(k) => format!("-D {}", key_args(k)),
        Change::AddDest(k, d, x) => format!("-a {} {}", key_args(k), dest_args(d, x, true)),
        Change::EditDest(k, d, x) => format!("-e {} {}", key_args(k), dest_args(d, x, true)),
        Change::DelDest(k, d) => format!("-d {} -r {d}", key_args(k)),
    }
}

/// A whole table as `ipvsadm -Sn` prints it (services in tandem's order: by protocol,
/// address and port, then marks).
pub fn save(table: &Table) -> String {
    let mut out = String::new();
    for (k, (s, dests)) in &table.services {
        let _ = writeln!(out, "-A {} {}", key_args(k), service_args(k, s));
        for (d, x) in dests {
            let _ = writeln!(out, "-a {} {}", key_args(k), dest_args(d, x, false));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ServiceKey {
        ServiceKey::Addr {
            protocol: proto::TCP,
            addr: "192.0.2.10".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            port: 80,
        }
    }

    #[test]
    fn each_change_reads_as_the_ipvsadm_command_that_makes_it() {
        let s = Service {
            scheduler: "wrr".into(),
            flags: ServiceFlags(ServiceFlags::PERSISTENT),
            timeout: 30,
            netmask: 0xffff_ff00,
            pe_name: None,
        };
        assert_eq!(command(&Change::EditService(key(), s)), "-E -t 192.0.2.10:80 -s wrr -p 30 -M 255.255.255.0");
        let d = DestKey { addr: IpAddr::from([10, 0, 0, 11]), port: 8080 };
        let tun = Dest {
            forward: Forward::Tunnel { kind: TunnelType::Gue, port: 6080, flags: 1 },
            weight: 2,
            u_threshold: 100,
            l_threshold: 10,
        };
        assert_eq!(
            command(&Change::AddDest(key(), d, tun)),
            "-a -t 192.0.2.10:80 -r 10.0.0.11:8080 -i -w 2 -x 100 -y 10 --tun-type gue --tun-port 6080 --tun-csum"
        );
        assert_eq!(command(&Change::DelDest(key(), d)), "-d -t 192.0.2.10:80 -r 10.0.0.11:8080");
        let mark = ServiceKey::Fwmark { v6: true, mark: 8 };
        assert_eq!(command(&Change::DelService(mark)), "-D -f 8 -6");
    }
}
