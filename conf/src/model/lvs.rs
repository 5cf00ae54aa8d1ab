//! `virtual_server_group`, `virtual_server` and `real_server`.

use super::{Check, Family, is_false};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Schedulers the Linux kernel ships (net/netfilter/ipvs/ip_vs_*.c). Others may exist as
/// out-of-tree modules, so an unknown name is only a warning.
pub const KNOWN_SCHEDULERS: &[&str] =
    &["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"];

/// Transport protocol of a virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

/// IPVS forwarding method (`lb_kind` / `lvs_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ForwardMethod {
    /// Masquerading (LVS-NAT), the default.
    #[default]
    Nat,
    /// Direct routing (LVS-DR): only the MAC is rewritten.
    Dr,
    /// Tunnelling (LVS-TUN).
    Tun,
}

impl std::fmt::Display for ForwardMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ForwardMethod::Nat => "NAT",
            ForwardMethod::Dr => "DR",
            ForwardMethod::Tun => "TUN",
        })
    }
}

/// Tunnel encapsulation for `TUN` (`lvs_method TUN type ipip|gue port N|gre [csum]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tunnel {
    /// Encapsulation.
    #[serde(rename = "type")]
    pub kind: TunnelType,
    /// UDP port for GUE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Checksum mode for GUE and GRE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csum: Option<TunnelCsum>,
}

/// Tunnel encapsulations IPVS knows (IP_VS_CONN_F_TUNNEL_TYPE_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelType {
    /// IP in IP.
    Ipip,
    /// Generic UDP Encapsulation.
    Gue,
    /// GRE.
    Gre,
}

/// Tunnel checksum modes (IP_VS_TUNNEL_ENCAP_FLAG_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelCsum {
    /// No checksum.
    Nocsum,
    /// Checksum.
    Csum,
    /// Remote checksum offload.
    Remcsum,
}

/// `virtual_server_group NAME { ... }`: services that share one set of real servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualServerGroup {
    /// The block's name, referenced by `virtual_server group NAME`.
    pub name: String,
    /// Members.
    #[serde(default)]
    pub members: Vec<VsgMember>,
}

/// A member of a virtual server group: `IP[-END] PORT` or `fwmark N`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VsgMember {
    /// First address (absent for fwmark members).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// `IP-END`: the range runs up to this value of the last octet (IPv4) or hextet (IPv6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_end: Option<u16>,
    /// Port (absent for fwmark members).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `fwmark N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
}

/// How a virtual server is identified.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServiceKey {
    /// `virtual_server IP PORT`.
    Addr(IpAddr, u16),
    /// `virtual_server fwmark N`.
    Fwmark(u32),
    /// `virtual_server group NAME`.
    Group(String),
}

impl std::fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceKey::Addr(IpAddr::V6(a), p) => write!(f, "[{a}]:{p}"),
            ServiceKey::Addr(a, p) => write!(f, "{a}:{p}"),
            ServiceKey::Fwmark(m) => write!(f, "fwmark {m}"),
            ServiceKey::Group(g) => write!(f, "group {g}"),
        }
    }
}

/// `virtual_server IP PORT | fwmark N | group NAME { ... }`.
///
/// Exactly one of `ip` + `port`, `fwmark` or `group` identifies it (see [`Self::key`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualServer {
    /// Virtual IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// Virtual port (0 with persistence means all ports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Firewall mark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    /// A `virtual_server_group` name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `ip_family inet|inet6`: family of a fwmark service (default: its real servers').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_family: Option<Family>,
    /// `protocol TCP|UDP|SCTP`; absent, keepalived uses UDP (see [`Self::effective_protocol`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// `lb_algo` / `lvs_sched`: the IPVS scheduler (wlc).
    #[serde(default = "default_scheduler")]
    pub lb_algo: String,
    /// `lb_kind` / `lvs_method`: forwarding method for real servers (NAT).
    #[serde(default)]
    pub lb_kind: ForwardMethod,
    /// Tunnel settings when `lb_kind` is TUN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<Tunnel>,
    /// `persistence_timeout` seconds (keepalived's default when given without value: 360).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence_timeout: Option<u32>,
    /// `persistence_granularity`: prefix length that groups clients (given as a netmask for
    /// IPv4 in keepalived.conf).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence_granularity: Option<u8>,
    /// `persistence_engine` (e.g. sip).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence_engine: Option<String>,
    /// `ops`: one-packet scheduling (UDP).
    #[serde(default, skip_serializing_if = "is_false")]
    pub ops: bool,
    /// `sh-port`: the sh scheduler hashes the source port too.
    #[serde(default, skip_serializing_if = "is_false")]
    pub sh_port: bool,
    /// `sh-fallback`: the sh scheduler skips unavailable servers.
    #[serde(default, skip_serializing_if = "is_false")]
    pub sh_fallback: bool,
    /// `mh-port`: the mh scheduler hashes the source port too.
    #[serde(default, skip_serializing_if = "is_false")]
    pub mh_port: bool,
    /// `mh-fallback`: the mh scheduler skips unavailable servers.
    #[serde(default, skip_serializing_if = "is_false")]
    pub mh_fallback: bool,
    /// `delay_loop`: seconds between checks (60).
    #[serde(default = "default_delay_loop")]
    pub delay_loop: f64,
    /// `sorry_server IP PORT`: installed when quorum is lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sorry_server: Option<SorryServer>,
    /// `sorry_server_inhibit`: keep the sorry server at weight 0 instead of removing it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub sorry_server_inhibit: bool,
    /// `quorum`: minimum total weight of live real servers (1).
    #[serde(default = "default_quorum")]
    pub quorum: u32,
    /// `hysteresis`: quorum slack before changing state (0).
    #[serde(default)]
    pub hysteresis: u32,
    /// `quorum_up`: script run when quorum is gained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum_up: Option<String>,
    /// `quorum_down`: script run when quorum is lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum_down: Option<String>,
    /// `alpha`: real servers start down and join after their first successful check.
    #[serde(default, skip_serializing_if = "is_false")]
    pub alpha: bool,
    /// `omega`: run quorum_down and remove everything on stop.
    #[serde(default, skip_serializing_if = "is_false")]
    pub omega: bool,
    /// `inhibit_on_failure`: failed real servers get weight 0 instead of being removed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub inhibit_on_failure: bool,
    /// `ha_suspend`: check only while this director is VRRP master of the address.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ha_suspend: bool,
    /// `virtualhost`: default Host header for HTTP checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualhost: Option<String>,
    /// `connect_timeout`: default for checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<f64>,
    /// `retry`: default for checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<u32>,
    /// `delay_before_retry`: default for checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_before_retry: Option<f64>,
    /// `warmup`: default for checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<f64>,
    /// `smtp_alert [BOOL]`: mail on quorum changes; unset, `smtp_alert_checker`, then
    /// `smtp_alert` of global_defs decide (else no mail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_alert: Option<bool>,
    /// `real_server` blocks.
    #[serde(default, rename = "real_server", skip_serializing_if = "Vec::is_empty")]
    pub real_servers: Vec<RealServer>,
}

impl VirtualServer {
    /// A new virtual server with keepalived's defaults; set one of ip+port, fwmark or group.
    pub fn new() -> Self {
        VirtualServer {
            ip: None,
            port: None,
            fwmark: None,
            group: None,
            ip_family: None,
            protocol: None,
            lb_algo: default_scheduler(),
            lb_kind: ForwardMethod::Nat,
            tunnel: None,
            persistence_timeout: None,
            persistence_granularity: None,
            persistence_engine: None,
            ops: false,
            sh_port: false,
            sh_fallback: false,
            mh_port: false,
            mh_fallback: false,
            delay_loop: default_delay_loop(),
            sorry_server: None,
            sorry_server_inhibit: false,
            quorum: default_quorum(),
            hysteresis: 0,
            quorum_up: None,
            quorum_down: None,
            alpha: false,
            omega: false,
            inhibit_on_failure: false,
            ha_suspend: false,
            virtualhost: None,
            connect_timeout: None,
            retry: None,
            delay_before_retry: None,
            warmup: None,
            smtp_alert: None,
            real_servers: Vec::new(),
        }
    }

    /// The identity of the service, when exactly one form is given (validation ensures it).
    pub fn key(&self) -> Option<ServiceKey> {
        match (self.ip, self.port, self.fwmark, &self.group) {
            (Some(ip), Some(port), None, None) => Some(ServiceKey::Addr(ip, port)),
            (None, None, Some(mark), None) => Some(ServiceKey::Fwmark(mark)),
            (None, None, None, Some(g)) => Some(ServiceKey::Group(g.clone())),
            _ => None,
        }
    }

    /// The protocol in force: keepalived makes a service without `protocol` UDP.
    pub fn effective_protocol(&self) -> Protocol {
        self.protocol.unwrap_or(Protocol::Udp)
    }
}

impl Default for VirtualServer {
    fn default() -> Self {
        Self::new()
    }
}

/// `sorry_server IP [PORT]` and `sorry_server_lvs_method`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SorryServer {
    /// Address.
    pub ip: IpAddr,
    /// Port (default: the service's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `sorry_server_lvs_method`: forwarding method (default: the service's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lb_kind: Option<ForwardMethod>,
}

/// `real_server IP [PORT] { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealServer {
    /// Address.
    pub ip: IpAddr,
    /// Port (default: the service's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `weight` (1).
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// `lb_kind` / `lvs_method` for this server only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lb_kind: Option<ForwardMethod>,
    /// Tunnel settings for this server only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<Tunnel>,
    /// `inhibit_on_failure`: weight 0 instead of removal when checks fail.
    #[serde(default, skip_serializing_if = "is_false")]
    pub inhibit_on_failure: bool,
    /// `alpha [BOOL]`: overrides the virtual server's `alpha` for this server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<bool>,
    /// `virtualhost`: default Host header for this server's HTTP checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualhost: Option<String>,
    /// `uthreshold`: upper connection threshold (0 = none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uthreshold: Option<u32>,
    /// `lthreshold`: lower connection threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lthreshold: Option<u32>,
    /// `notify_up`: script run when the server comes up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_up: Option<String>,
    /// `notify_down`: script run when it goes down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_down: Option<String>,
    /// `delay_loop` for this server's checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_loop: Option<f64>,
    /// `connect_timeout` default for this server's checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<f64>,
    /// `retry` default for this server's checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<u32>,
    /// `delay_before_retry` default for this server's checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_before_retry: Option<f64>,
    /// `warmup` default for this server's checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<f64>,
    /// `smtp_alert [BOOL]`: mail when the server goes up or down; unset,
    /// `smtp_alert_checker`, then `smtp_alert` of global_defs decide (else a mail: keepalived's
    /// one default that is on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_alert: Option<bool>,
    /// Checker blocks.
    #[serde(default, rename = "check", skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
}

impl RealServer {
    /// A new real server with keepalived's defaults.
    pub fn new(ip: IpAddr, port: Option<u16>) -> Self {
        RealServer {
            ip,
            port,
            weight: default_weight(),
            lb_kind: None,
            tunnel: None,
            inhibit_on_failure: false,
            alpha: None,
            virtualhost: None,
            uthreshold: None,
            lthreshold: None,
            notify_up: None,
            notify_down: None,
            delay_loop: None,
            connect_timeout: None,
            retry: None,
            delay_before_retry: None,
            warmup: None,
            smtp_alert: None,
            checks: Vec::new(),
        }
    }
}

fn default_scheduler() -> String {
    "wlc".to_string()
}
fn default_delay_loop() -> f64 {
    60.0
}
fn default_quorum() -> u32 {
    1
}
fn default_weight() -> u32 {
    1
}
