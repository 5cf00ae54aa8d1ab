//! Protocol numbers and connection states as IPVS numbers and names them.
//!
//! State numbers are the kernel's enums (include/net/ip_vs.h: `IP_VS_TCP_S_*`,
//! `IP_VS_UDP_S_*`, `IP_VS_SCTP_S_*`, `IP_VS_CTPL_S_*`); names are the ones /proc/net/ip_vs_conn
//! prints (`tcp_state_name_table` in ip_vs_proto_tcp.c, `udp_state_name_table`,
//! `sctp_state_name_table`, `ip_vs_ctpl_state_name_table` in ip_vs_proto.c).

/// IP protocol numbers IPVS deals with.
pub mod proto {
    /// `IPPROTO_IP`: the protocol of fwmark persistence templates.
    pub const IP: u8 = 0;
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// IP in IP.
    pub const IPIP: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// GRE.
    pub const GRE: u8 = 47;
    /// ESP.
    pub const ESP: u8 = 50;
    /// AH.
    pub const AH: u8 = 51;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

/// TCP connection states (`IP_VS_TCP_S_*`).
pub mod tcp {
    /// No state yet.
    pub const NONE: u16 = 0;
    /// Established.
    pub const ESTABLISHED: u16 = 1;
    /// SYN sent (by the director towards the client: rare).
    pub const SYN_SENT: u16 = 2;
    /// SYN received from the client.
    pub const SYN_RECV: u16 = 3;
    /// A FIN was seen.
    pub const FIN_WAIT: u16 = 4;
    /// Time wait.
    pub const TIME_WAIT: u16 = 5;
    /// Closed (RST seen).
    pub const CLOSE: u16 = 6;
    /// Close wait.
    pub const CLOSE_WAIT: u16 = 7;
    /// Last ACK.
    pub const LAST_ACK: u16 = 8;
    /// Listen.
    pub const LISTEN: u16 = 9;
    /// SYN-ACK.
    pub const SYNACK: u16 = 10;
    /// The names /proc prints, indexed by state.
    pub const NAMES: [&str; 11] = [
        "NONE",
        "ESTABLISHED",
        "SYN_SENT",
        "SYN_RECV",
        "FIN_WAIT",
        "TIME_WAIT",
        "CLOSE",
        "CLOSE_WAIT",
        "LAST_ACK",
        "LISTEN",
        "SYNACK",
    ];
}

/// UDP has one state (`IP_VS_UDP_S_NORMAL`), which /proc prints as "UDP".
pub mod udp {
    /// The only state.
    pub const NORMAL: u16 = 0;
    /// The names /proc prints, indexed by state.
    pub const NAMES: [&str; 1] = ["UDP"];
}

/// SCTP association states (`IP_VS_SCTP_S_*`).
pub mod sctp {
    /// No state yet.
    pub const NONE: u16 = 0;
    /// INIT seen from the client.
    pub const INIT1: u16 = 1;
    /// INIT.
    pub const INIT: u16 = 2;
    /// COOKIE sent.
    pub const COOKIE_SENT: u16 = 3;
    /// COOKIE replied.
    pub const COOKIE_REPLIED: u16 = 4;
    /// COOKIE wait.
    pub const COOKIE_WAIT: u16 = 5;
    /// COOKIE.
    pub const COOKIE: u16 = 6;
    /// COOKIE echoed.
    pub const COOKIE_ECHOED: u16 = 7;
    /// Established.
    pub const ESTABLISHED: u16 = 8;
    /// SHUTDOWN sent.
    pub const SHUTDOWN_SENT: u16 = 9;
    /// SHUTDOWN received.
    pub const SHUTDOWN_RECEIVED: u16 = 10;
    /// SHUTDOWN ACK sent.
    pub const SHUTDOWN_ACK_SENT: u16 = 11;
    /// Rejected.
    pub const REJECTED: u16 = 12;
    /// Closed.
    pub const CLOSED: u16 = 13;
    /// The names /proc prints, indexed by state.
    pub const NAMES: [&str; 14] = [
        "NONE",
        "INIT1",
        "INIT",
        "C-SENT",
        "C-REPLIED",
        "C-WAIT",
        "COOKIE",
        "C-ECHOED",
        "ESTABLISHED",
        "S-SENT",
        "S-RECEIVED",
        "S-ACK-SENT",
        "REJECTED",
        "CLOSED",
    ];
}

/// Persistence-template states (`IP_VS_CTPL_S_*`), whatever the template's protocol.
pub mod template {
    /// No state.
    pub const NONE: u16 = 0;
    /// Assured.
    pub const ASSURED: u16 = 1;
    /// The names /proc prints, indexed by state.
    pub const NAMES: [&str; 2] = ["NONE", "ASSURED"];
}

/// The protocol's name as /proc/net/ip_vs_conn prints it (`ip_vs_proto_name`): "TCP", "UDP",
/// "SCTP", "IP" (fwmark templates), "ICMP", "ICMPv6", "IPIP", "GRE", else `IP_<number>`.
pub fn protocol_name(protocol: u8) -> String {
    match protocol {
        proto::IP => "IP".into(),
        proto::TCP => "TCP".into(),
        proto::UDP => "UDP".into(),
        proto::SCTP => "SCTP".into(),
        proto::ICMP => "ICMP".into(),
        proto::ICMPV6 => "ICMPv6".into(),
        proto::IPIP => "IPIP".into(),
        proto::GRE => "GRE".into(),
        n => format!("IP_{n}"),
    }
}

/// The protocol number for a name /proc printed ([`protocol_name`]'s inverse).
pub fn protocol_from_name(name: &str) -> Option<u8> {
    Some(match name {
        "IP" => proto::IP,
        "TCP" => proto::TCP,
        "UDP" => proto::UDP,
        "SCTP" => proto::SCTP,
        "ICMP" => proto::ICMP,
        "ICMPv6" => proto::ICMPV6,
        "IPIP" => proto::IPIP,
        "GRE" => proto::GRE,
        other => {
            let digits = other.strip_prefix("IP_")?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok()?
        }
    })
}

/// How many states the kernel's protocol handler has (`num_states`), which bounds what a
/// backup accepts for a connection (not a template) in `ip_vs_proc_sync_conn`; `None` for a
/// protocol IPVS has no handler for (such records are skipped by the backup).
pub fn num_states(protocol: u8) -> Option<u16> {
    match protocol {
        proto::TCP => Some(tcp::NAMES.len() as u16),
        proto::UDP => Some(udp::NAMES.len() as u16),
        proto::SCTP => Some(sctp::NAMES.len() as u16),
        proto::AH | proto::ESP => Some(1),
        _ => None,
    }
}

/// The state's name as /proc prints it (`ip_vs_state_name`): the template table for a
/// template, else the protocol's table; "ERR!" past the end of a table, "NONE" for
/// protocol 0 and "ERR!" for protocols without names (AH, ESP, unknown).
pub fn state_name(protocol: u8, is_template: bool, state: u16) -> &'static str {
    let table: &[&'static str] = if is_template {
        &template::NAMES
    } else {
        match protocol {
            proto::TCP => &tcp::NAMES,
            proto::UDP => &udp::NAMES,
            proto::SCTP => &sctp::NAMES,
            proto::IP => return "NONE",
            _ => return "ERR!",
        }
    };
    table.get(usize::from(state)).copied().unwrap_or("ERR!")
}

/// The state number for a name /proc printed ([`state_name`]'s inverse), `None` when the name
/// is not one of the protocol's (or the template table's).
pub fn state_from_name(protocol: u8, is_template: bool, name: &str) -> Option<u16> {
    let table: &[&str] = if is_template {
        &template::NAMES
    } else {
        match protocol {
            proto::TCP => &tcp::NAMES,
            proto::UDP => &udp::NAMES,
            proto::SCTP => &sctp::NAMES,
            proto::IP if name == "NONE" => return Some(0),
            _ => return None,
        }
    };
    table.iter().position(|n| *n == name).and_then(|i| u16::try_from(i).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in [proto::TCP, proto::UDP, proto::SCTP] {
            for s in 0..num_states(p).unwrap_or(0) {
                assert_eq!(state_from_name(p, false, state_name(p, false, s)), Some(s));
            }
        }
        assert_eq!(state_name(proto::TCP, false, 11), "ERR!");
        assert_eq!(state_name(proto::TCP, true, 0), "NONE");
        assert_eq!(state_name(proto::UDP, false, 0), "UDP");
        assert_eq!(state_name(proto::IP, false, 0), "NONE");
        for p in [0u8, 1, 4, 6, 17, 47, 58, 132, 200] {
            assert_eq!(protocol_from_name(&protocol_name(p)), Some(p));
        }
        assert_eq!(protocol_from_name("IP_"), None);
        assert_eq!(protocol_from_name("IP_+5"), None);
        assert_eq!(protocol_from_name("IP_300"), None);
    }
}
