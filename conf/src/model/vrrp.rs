//! `vrrp_script`, `track_file`, `vrrp_instance` and `vrrp_sync_group`.

use super::{Family, RunAs, is_false};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// `vrrp_script NAME { ... }`: a command whose exit status moves an instance's priority.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VrrpScript {
    /// The block's name, referenced by `track_script`.
    pub name: String,
    /// `script`: the command line (quoted in keepalived.conf when it has spaces).
    pub script: String,
    /// `interval`: seconds between runs (1).
    #[serde(default = "one_f64")]
    pub interval: f64,
    /// `timeout`: seconds before a run counts as failed (default: the interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    /// `weight N [reverse]`: priority change while the script succeeds (N > 0) or fails
    /// (N < 0); 0 puts the instance in fault on failure (the default).
    #[serde(default)]
    pub weight: i32,
    /// `weight N reverse`: apply the weight with the opposite sense.
    #[serde(default, skip_serializing_if = "is_false")]
    pub weight_reverse: bool,
    /// `rise`: successes needed to count as up (1).
    #[serde(default = "one_u32")]
    pub rise: u32,
    /// `fall`: failures needed to count as down (1).
    #[serde(default = "one_u32")]
    pub fall: u32,
    /// `user USER [GROUP]`: who the script runs as (default: `script_user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<RunAs>,
    /// `init_fail`: start in the failed state.
    #[serde(default, skip_serializing_if = "is_false")]
    pub init_fail: bool,
}

/// `track_file NAME { file PATH; weight N [reverse]; init_file [VALUE] }`: a file holding a
/// number that moves priorities (tracked instances) or real-server weights (`FILE_CHECK`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackFile {
    /// The block's name, referenced by `track_file` in instances and by `FILE_CHECK`.
    pub name: String,
    /// `file`: path of the file.
    pub file: String,
    /// `weight`: multiplier applied to the file's value (1).
    #[serde(default = "one_i32")]
    pub weight: i32,
    /// `weight N reverse`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub weight_reverse: bool,
    /// `init_file [VALUE] [overwrite]`: create the file holding VALUE (0) when it does not
    /// exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_file: Option<i64>,
    /// `init_file ... overwrite`: write VALUE at start even when the file exists.
    #[serde(default, skip_serializing_if = "is_false")]
    pub init_file_overwrite: bool,
}

/// `vrrp_track_process NAME { process CMD [ARGS...]; ... }`: how many processes match moves
/// priorities (keepalived core/track_process.c).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackProcess {
    /// The block's name, referenced by `track_process` in instances and sync groups.
    pub name: String,
    /// `process`: the name to match (the process's comm, or its argv[0] when matching the
    /// command line), then the parameters to match, if any.
    pub process: Vec<String>,
    /// `param_match`: how parameters match (`exact` when parameters are given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param_match: Option<ParamMatch>,
    /// `weight N [reverse]` (0: a fault while the quorum is not met).
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub weight: i32,
    /// `weight N reverse`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub weight_reverse: bool,
    /// `quorum`: the fewest matching processes that are up (1).
    #[serde(default = "one_u32")]
    pub quorum: u32,
    /// `quorum_max`: the most (no limit when absent; 0: up while none runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum_max: Option<u32>,
    /// `fork_delay` (or `delay`): seconds the quorum must hold before it counts as gained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fork_delay: Option<f64>,
    /// `terminate_delay` (or `delay`): seconds the quorum must stay lost before it counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminate_delay: Option<f64>,
    /// `full_command`: match the command line's first word, not the process name (implied
    /// by parameters or `param_match`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub full_command: bool,
}

/// `param_match`: how a process's parameters must match the configured ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamMatch {
    /// Every parameter, and no more (no parameters configured: none at all).
    Exact,
    /// The configured parameters come first; more may follow.
    Partial,
    /// As partial, the last configured one may be the start of a longer one.
    Initial,
}

fn is_zero_i32(v: &i32) -> bool {
    *v == 0
}

/// `state`: the role an instance announces it wants at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum InitialState {
    /// `BACKUP` (the default).
    #[default]
    Backup,
    /// `MASTER`: keepalived treats it as a hint; only priority 255 takes over at once.
    Master,
}

/// `vrrp_instance NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VrrpInstance {
    /// The block's name.
    pub name: String,
    /// `state MASTER|BACKUP`.
    #[serde(default)]
    pub state: InitialState,
    /// `interface`: where adverts are sent and received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// `virtual_router_id` (1-255).
    pub virtual_router_id: u8,
    /// `priority` (1-255; 255 = address owner; default 100).
    #[serde(default = "default_priority")]
    pub priority: u8,
    /// `advert_int`: seconds between adverts (1); v3 allows centiseconds.
    #[serde(default = "one_f64")]
    pub advert_int: f64,
    /// `version 2|3`: default `global_defs.vrrp_version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u8>,
    /// `native_ipv6`: the instance is IPv6 even before addresses say so.
    #[serde(default, skip_serializing_if = "is_false")]
    pub native_ipv6: bool,
    /// `nopreempt`: a higher priority backup does not take over from a live master.
    #[serde(default, skip_serializing_if = "is_false")]
    pub nopreempt: bool,
    /// `preempt_delay`: seconds after start-up during which preemption waits (0-1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preempt_delay: Option<f64>,
    /// `mcast_src_ip`: source address of multicast adverts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcast_src_ip: Option<IpAddr>,
    /// `mcast_dst_ip`: the multicast group of this instance's adverts, instead of
    /// `vrrp_mcast_group4` / `vrrp_mcast_group6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcast_dst_ip: Option<IpAddr>,
    /// `unicast_src_ip`: source address of unicast adverts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unicast_src_ip: Option<IpAddr>,
    /// `unicast_peer { ... }`: send adverts to these instead of the multicast group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unicast_peer: Vec<UnicastPeer>,
    /// `authentication { auth_type PASS|AH; auth_pass SECRET }` (VRRPv2 only; AH over IPv4
    /// only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Authentication>,
    /// `virtual_ipaddress { ... }`: the addresses this instance floats, and adverts carry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_ipaddress: Vec<VirtualAddress>,
    /// `virtual_ipaddress_excluded { ... }`: floated but not carried in adverts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_ipaddress_excluded: Vec<VirtualAddress>,
    /// `virtual_routes { ... }`: routes added while master.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_routes: Vec<super::Route>,
    /// `virtual_rules { ... }`: policy-routing rules added while master.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_rules: Vec<super::Rule>,
    /// `track_interface { IF [weight N] }`: a link down lowers priority or causes fault.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_interface: Vec<TrackInterface>,
    /// `track_script { NAME [weight N] }`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_script: Vec<TrackRef>,
    /// `track_file { NAME [weight N] }`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_file: Vec<TrackRef>,
    /// `track_process { NAME [weight N [reverse]] }`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_process: Vec<TrackRef>,
    /// `dont_track_primary`: ignore faults on `interface` itself.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dont_track_primary: bool,
    /// `use_vmac [NAME]`: send from a macvlan with the virtual MAC 00:00:5e:00:01:VRID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_vmac: Option<String>,
    /// `vmac_xmit_base`: send adverts from the base interface, not the macvlan.
    #[serde(default, skip_serializing_if = "is_false")]
    pub vmac_xmit_base: bool,
    /// `accept` / `no_accept`: accept packets to the VIPs while master (None: keepalived's
    /// default, which is accept unless `vrrp_strict`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept: Option<bool>,
    /// `strict_mode`: `vrrp_strict` for this instance only.
    #[serde(default, skip_serializing_if = "is_false")]
    pub strict_mode: bool,
    /// `check_unicast_src`: accept unicast adverts only from configured peers.
    #[serde(default, skip_serializing_if = "is_false")]
    pub check_unicast_src: bool,
    /// `unicast_ttl`: TTL of unicast adverts (255).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unicast_ttl: Option<u8>,
    /// `v3_checksum_as_v2`: this instance's VRRPv3 IPv4 checksums leave out the pseudo-header.
    #[serde(default, skip_serializing_if = "is_false")]
    pub v3_checksum_as_v2: bool,
    /// `lower_prio_no_advert [BOOL]`: overrides `vrrp_lower_prio_no_advert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_prio_no_advert: Option<bool>,
    /// `higher_prio_send_advert [BOOL]`: overrides `vrrp_higher_prio_send_advert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub higher_prio_send_advert: Option<bool>,
    /// `notify_master_rx_lower_pri`: run when this master receives an advert of lower
    /// priority (a backup that became master while it could not hear this one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_master_rx_lower_pri: Option<String>,
    /// `skip_check_adv_addr [BOOL]`: overrides `vrrp_skip_check_adv_addr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_check_adv_addr: Option<bool>,
    /// Gratuitous ARP schedule overrides (`garp_master_*`, `garp_lower_prio_*`).
    #[serde(default, skip_serializing_if = "GarpOverrides::is_empty")]
    pub garp: GarpOverrides,
    /// Notify scripts.
    #[serde(default, skip_serializing_if = "Notify::is_empty")]
    pub notify: Notify,
    /// `smtp_alert [BOOL]`: mail on state changes; unset, `smtp_alert_vrrp`, then
    /// `smtp_alert` of global_defs decide (else no mail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_alert: Option<bool>,
}

impl VrrpInstance {
    /// A new instance with keepalived's defaults.
    pub fn new(name: impl Into<String>, virtual_router_id: u8) -> Self {
        VrrpInstance {
            name: name.into(),
            state: InitialState::Backup,
            interface: None,
            virtual_router_id,
            priority: default_priority(),
            advert_int: 1.0,
            version: None,
            native_ipv6: false,
            nopreempt: false,
            preempt_delay: None,
            mcast_src_ip: None,
            mcast_dst_ip: None,
            unicast_src_ip: None,
            unicast_peer: Vec::new(),
            authentication: None,
            virtual_ipaddress: Vec::new(),
            virtual_ipaddress_excluded: Vec::new(),
            virtual_routes: Vec::new(),
            virtual_rules: Vec::new(),
            track_interface: Vec::new(),
            track_script: Vec::new(),
            track_file: Vec::new(),
            track_process: Vec::new(),
            dont_track_primary: false,
            use_vmac: None,
            vmac_xmit_base: false,
            accept: None,
            strict_mode: false,
            check_unicast_src: false,
            unicast_ttl: None,
            v3_checksum_as_v2: false,
            lower_prio_no_advert: None,
            higher_prio_send_advert: None,
            notify_master_rx_lower_pri: None,
            skip_check_adv_addr: None,
            garp: GarpOverrides::default(),
            notify: Notify::default(),
            smtp_alert: None,
        }
    }

    /// The VRRP version in force: the instance's own, else the global default.
    pub fn effective_version(&self, global: &super::GlobalDefs) -> u8 {
        self.version.unwrap_or(global.vrrp_version)
    }

    /// Strict RFC mode: `strict_mode` here or `vrrp_strict` in global_defs.
    pub fn is_strict(&self, global: &super::GlobalDefs) -> bool {
        self.strict_mode || global.vrrp_strict
    }

    /// Whether the master accepts packets addressed to the virtual addresses (RFC 5798 6.1
    /// Accept_Mode), as keepalived decides it (vrrp.c, vrrp_complete_instance): `accept` /
    /// `no_accept` when given, else yes for the address owner (priority 255) and no in
    /// strict mode; strict VRRPv2 never accepts but for the owner (RFC 3768 has no accept
    /// mode). Without it tandem drops such packets while master (see the daemon's firewall).
    pub fn accept_mode(&self, global: &super::GlobalDefs) -> bool {
        let owner = self.priority == 255;
        let strict = self.is_strict(global);
        let accept = self.accept.unwrap_or(owner || !strict);
        accept && (owner || !strict || self.effective_version(global) != 2)
    }

    /// The instance's address family: that of its first virtual address, else of its
    /// unicast source, else IPv6 with `native_ipv6`, else IPv4.
    pub fn family(&self) -> Family {
        self.virtual_ipaddress
            .first()
            .map(|a| Family::of(&a.address))
            .or_else(|| self.unicast_src_ip.as_ref().map(Family::of))
            .unwrap_or(if self.native_ipv6 { Family::Inet6 } else { Family::Inet })
    }
}

/// One `unicast_peer` entry: `IP [min_ttl N] [max_ttl N]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnicastPeer {
    /// The peer's address.
    pub address: IpAddr,
    /// `min_ttl`: drop adverts from this peer with a lower TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ttl: Option<u8>,
    /// `max_ttl`: drop adverts from this peer with a higher TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ttl: Option<u8>,
}

/// `authentication { ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authentication {
    /// `auth_type PASS|AH`.
    pub auth_type: AuthType,
    /// `auth_pass`: the secret; PASS sends its first 8 bytes, AH keys its HMAC-MD5 with them.
    pub auth_pass: String,
}

/// VRRPv2 authentication types (RFC 2338 section 5.3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AuthType {
    /// Simple text password (type 1).
    Pass,
    /// IPsec AH (type 2), which keepalived supports and RFC 3768 removed.
    Ah,
}

/// An address in `virtual_ipaddress`: `ADDR[/PREFIX] [brd ADDR] [dev IF] [scope SCOPE]
/// [label LABEL] [no_track]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualAddress {
    /// The address.
    pub address: IpAddr,
    /// Prefix length (default 32 for IPv4, 128 for IPv6).
    pub prefix: u8,
    /// `brd`: broadcast address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brd: Option<IpAddr>,
    /// `dev`: interface to add it on (default: the instance's interface).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    /// `scope` (global, site, link, host, nowhere, or a number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `label`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `no_track`: a failure of `dev` does not put the instance in fault.
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_track: bool,
}

/// `track_interface` entry: `IF [weight N [reverse]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackInterface {
    /// Interface name.
    pub interface: String,
    /// Priority change while the link is down (negative) or up (positive); absent means
    /// link down puts the instance in fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    /// `reverse`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub reverse: bool,
}

/// `track_script` / `track_file` entry: `NAME [weight N [reverse]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackRef {
    /// The `vrrp_script` / `track_file` referenced.
    pub name: String,
    /// Overrides the referenced block's weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    /// `reverse`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub reverse: bool,
}

/// Per-instance gratuitous ARP overrides; absent values use `global_defs`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GarpOverrides {
    /// `garp_master_delay`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_delay: Option<u32>,
    /// `garp_master_repeat`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_repeat: Option<u32>,
    /// `garp_master_refresh`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_refresh: Option<u32>,
    /// `garp_master_refresh_repeat`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_refresh_repeat: Option<u32>,
    /// `garp_lower_prio_delay`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_prio_delay: Option<u32>,
    /// `garp_lower_prio_repeat`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_prio_repeat: Option<u32>,
    /// `garp_extra_if [all] N` (or the older `vmac_garp_intvl`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_if: Option<GarpExtraIf>,
}

/// `garp_extra_if [all] N`: while master, every N seconds, a gratuitous ARP / NA on each
/// interface of the instance's addresses that is not the one its adverts use: only VMACs
/// unless `all` (keepalived vrrp.c, vrrp_send_vmac_update).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GarpExtraIf {
    /// Seconds between rounds (0 turns it off).
    pub interval: u32,
    /// `all`: every interface, not only VMACs.
    #[serde(default, skip_serializing_if = "crate::model::is_false")]
    pub all: bool,
}

impl GarpOverrides {
    /// True when nothing is overridden.
    pub fn is_empty(&self) -> bool {
        *self == GarpOverrides::default()
    }
}

/// Notify scripts of an instance or sync group.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Notify {
    /// `notify_master`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
    /// `notify_backup`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// `notify_fault`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// `notify_stop`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<String>,
    /// `notify`: called on every change with `GROUP|INSTANCE NAME STATE PRIORITY`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub any: Option<String>,
}

impl Notify {
    /// True when no script is set.
    pub fn is_empty(&self) -> bool {
        *self == Notify::default()
    }
}

/// `vrrp_sync_group NAME { group { ... } ... }`: instances that change state together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncGroup {
    /// The block's name.
    pub name: String,
    /// `group { ... }`: member instance names.
    pub group: Vec<String>,
    /// `track_interface` for the whole group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_interface: Vec<TrackInterface>,
    /// `track_script` for the whole group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_script: Vec<TrackRef>,
    /// `track_file` for the whole group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_file: Vec<TrackRef>,
    /// `track_process` for the whole group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_process: Vec<TrackRef>,
    /// Notify scripts.
    #[serde(default, skip_serializing_if = "Notify::is_empty")]
    pub notify: Notify,
    /// `smtp_alert [BOOL]`: mail on the group's state changes; unset, `smtp_alert_vrrp`, then
    /// `smtp_alert` of global_defs decide (else no mail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_alert: Option<bool>,
    /// `sync_group_tracking_weight` (or the deprecated `global_tracking`): members keep the
    /// weights of their own tracked scripts and interfaces; without it keepalived ignores them.
    #[serde(default, skip_serializing_if = "is_false")]
    pub sync_group_tracking_weight: bool,
}

fn default_priority() -> u8 {
    100
}
pub(crate) fn one_f64() -> f64 {
    1.0
}
pub(crate) fn one_u32() -> u32 {
    1
}
fn one_i32() -> i32 {
    1
}
