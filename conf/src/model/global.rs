//! `global_defs`.

use super::{RunAs, is_false};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// `global_defs { ... }`: settings for the whole daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GlobalDefs {
    /// `router_id`: names this director in notifications and logs; the host name when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
    /// `notification_email { ... }`: addresses that get the alert mails (each one a
    /// recipient of every mail).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notification_email: Vec<String>,
    /// `notification_email_from`: the mails' sender (default: `USER@HOSTNAME`, the user
    /// tandem runs as).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_email_from: Option<String>,
    /// `smtp_server HOST [PORT]`: where alert mails go; none, no mail is sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_server: Option<SmtpServer>,
    /// `smtp_helo_name`: the name tandem greets the SMTP server with (default: the host name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_helo_name: Option<String>,
    /// `smtp_connect_timeout` in seconds (keepalived: 30): for the connection and each reply.
    pub smtp_connect_timeout: f64,
    /// `smtp_alert [BOOL]`: the default of every instance's, sync group's, virtual and real
    /// server's `smtp_alert` (after `smtp_alert_vrrp` / `smtp_alert_checker`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_alert: Option<bool>,
    /// `smtp_alert_vrrp [BOOL]`: the default of VRRP instances' and sync groups' `smtp_alert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_alert_vrrp: Option<bool>,
    /// `smtp_alert_checker [BOOL]`: the default of virtual and real servers' `smtp_alert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_alert_checker: Option<bool>,
    /// `no_email_faults`: no mail when an instance or sync group enters FAULT.
    #[serde(skip_serializing_if = "is_false")]
    pub no_email_faults: bool,
    /// `no_checker_emails [BOOL]`: a check that changes state mails only when that takes its
    /// real server up or down (not when another of its checks already had).
    #[serde(skip_serializing_if = "is_false")]
    pub no_checker_emails: bool,
    /// `script_user USER [GROUP]`: who scripts run as by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script_user: Option<RunAs>,
    /// `enable_script_security`: refuse scripts writable by non-root users.
    #[serde(skip_serializing_if = "is_false")]
    pub enable_script_security: bool,
    /// `lvs_sync_warm_preempt SECONDS` (tandem's own): with `lvs_sync_daemon` following an
    /// instance, how long a director that starts waits for the master's connection table
    /// before it preempts (unset: 60; 0: it preempts at once, as keepalived).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lvs_sync_warm_preempt: Option<f64>,
    /// `lvs_sync_daemon IFNAME [[inst] VRRP_INSTANCE] [id N] [maxlen N] [port N] [ttl N] [group IP]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lvs_sync_daemon: Option<LvsSyncDaemon>,
    /// `lvs_flush`: flush the whole IPVS table at start-up (tandem owns the whole table).
    #[serde(skip_serializing_if = "is_false")]
    pub lvs_flush: bool,
    /// `lvs_flush_onstop`: flush the whole IPVS table at stop.
    #[serde(skip_serializing_if = "is_false")]
    pub lvs_flush_onstop: bool,
    /// `lvs_timeouts tcp N tcpfin N udp N` (seconds; absent ones are left as the kernel has them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lvs_timeouts: Option<LvsTimeouts>,
    /// `default_interface`: the interface of instances that name none (keepalived: eth0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_interface: Option<String>,
    /// `v3_checksum_as_v2`: VRRPv3 IPv4 checksums leave out the pseudo-header, for peers that
    /// compute them so.
    #[serde(skip_serializing_if = "is_false")]
    pub v3_checksum_as_v2: bool,
    /// `vrrp_version` 2 or 3 (default 2): the default for instances without `version`.
    pub vrrp_version: u8,
    /// `vrrp_mcast_group4` (default 224.0.0.18).
    pub vrrp_mcast_group4: IpAddr,
    /// `vrrp_mcast_group6` (default ff02::12).
    pub vrrp_mcast_group6: IpAddr,
    /// `vrrp_garp_master_delay`: seconds after becoming master before the second burst (5).
    pub vrrp_garp_master_delay: u32,
    /// `vrrp_garp_master_repeat`: gratuitous ARPs per burst (5).
    pub vrrp_garp_master_repeat: u32,
    /// `vrrp_garp_master_refresh`: seconds between refresh bursts while master (0 = off).
    pub vrrp_garp_master_refresh: u32,
    /// `vrrp_garp_master_refresh_repeat`: gratuitous ARPs per refresh burst (1).
    pub vrrp_garp_master_refresh_repeat: u32,
    /// `vrrp_garp_interval`: seconds between gratuitous ARPs of a burst (0).
    pub vrrp_garp_interval: f64,
    /// `vrrp_gna_interval`: seconds between unsolicited NAs of a burst (0).
    pub vrrp_gna_interval: f64,
    /// `vrrp_garp_extra_if [all] N`: every instance's `garp_extra_if` unless it has its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrrp_garp_extra_if: Option<super::GarpExtraIf>,
    /// `vrrp_garp_lower_prio_delay`: seconds before re-sending GARPs when a lower priority
    /// advert is heard while master (default: the master delay).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrrp_garp_lower_prio_delay: Option<u32>,
    /// `vrrp_garp_lower_prio_repeat`: GARPs sent then (default: the master repeat).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrrp_garp_lower_prio_repeat: Option<u32>,
    /// `vrrp_lower_prio_no_advert`: do not answer a lower-priority advert with one of ours.
    #[serde(skip_serializing_if = "is_false")]
    pub vrrp_lower_prio_no_advert: bool,
    /// `vrrp_higher_prio_send_advert`: send an advert before yielding to a higher priority.
    /// Unset, tandem does (keepalived does not): after a partition heals, the winner then
    /// hears a lower priority and re-sends gratuitous ARPs, so no client keeps the loser's MAC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrrp_higher_prio_send_advert: Option<bool>,
    /// `vrrp_check_unicast_src`: accept unicast adverts only from configured peers.
    #[serde(skip_serializing_if = "is_false")]
    pub vrrp_check_unicast_src: bool,
    /// `vrrp_skip_check_adv_addr`: do not compare the advert's address list with ours.
    #[serde(skip_serializing_if = "is_false")]
    pub vrrp_skip_check_adv_addr: bool,
    /// `vrrp_strict`: strict RFC compliance (no unicast, no auth with v3, ...).
    #[serde(skip_serializing_if = "is_false")]
    pub vrrp_strict: bool,
    /// `vrrp_startup_delay`: seconds to wait before starting VRRP (0).
    pub vrrp_startup_delay: f64,
    /// `notify_fifo`: FIFO that receives every state change, VRRP's and LVS's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_fifo: Option<String>,
    /// `notify_fifo_script`: script fed from the notify FIFO.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_fifo_script: Option<String>,
    /// `vrrp_notify_fifo`: FIFO that receives VRRP's state changes only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrrp_notify_fifo: Option<String>,
    /// `vrrp_notify_fifo_script`: script fed from the VRRP notify FIFO.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrrp_notify_fifo_script: Option<String>,
    /// `lvs_notify_fifo`: FIFO that receives real servers' and virtual servers' changes only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lvs_notify_fifo: Option<String>,
    /// `lvs_notify_fifo_script`: script fed from the LVS notify FIFO.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lvs_notify_fifo_script: Option<String>,
    /// `max_auto_priority [N]`: real-time scheduling priority for the daemon.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_auto_priority: Option<i32>,
}

impl Default for GlobalDefs {
    fn default() -> Self {
        GlobalDefs {
            router_id: None,
            notification_email: Vec::new(),
            notification_email_from: None,
            smtp_server: None,
            smtp_helo_name: None,
            smtp_connect_timeout: 30.0,
            smtp_alert: None,
            smtp_alert_vrrp: None,
            smtp_alert_checker: None,
            no_email_faults: false,
            no_checker_emails: false,
            script_user: None,
            enable_script_security: false,
            lvs_sync_daemon: None,
            lvs_sync_warm_preempt: None,
            lvs_flush: false,
            lvs_flush_onstop: false,
            lvs_timeouts: None,
            default_interface: None,
            v3_checksum_as_v2: false,
            vrrp_version: 2,
            vrrp_mcast_group4: IpAddr::V4(std::net::Ipv4Addr::new(224, 0, 0, 18)),
            vrrp_mcast_group6: IpAddr::V6(std::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
            vrrp_garp_master_delay: 5,
            vrrp_garp_master_repeat: 5,
            vrrp_garp_master_refresh: 0,
            vrrp_garp_master_refresh_repeat: 1,
            vrrp_garp_interval: 0.0,
            vrrp_gna_interval: 0.0,
            vrrp_garp_extra_if: None,
            vrrp_garp_lower_prio_delay: None,
            vrrp_garp_lower_prio_repeat: None,
            vrrp_lower_prio_no_advert: false,
            vrrp_higher_prio_send_advert: None,
            vrrp_check_unicast_src: false,
            vrrp_skip_check_adv_addr: false,
            vrrp_strict: false,
            vrrp_startup_delay: 0.0,
            notify_fifo: None,
            notify_fifo_script: None,
            vrrp_notify_fifo: None,
            vrrp_notify_fifo_script: None,
            lvs_notify_fifo: None,
            lvs_notify_fifo_script: None,
            max_auto_priority: None,
        }
    }
}

/// `smtp_server HOST [PORT]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpServer {
    /// Host name or address.
    pub host: String,
    /// TCP port (25).
    #[serde(default = "default_smtp_port")]
    pub port: u16,
}

fn default_smtp_port() -> u16 {
    25
}

/// `lvs_sync_daemon`: which interface and VRRP instance drive the kernel's sync daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LvsSyncDaemon {
    /// Interface the sync multicast goes out on.
    pub interface: String,
    /// The VRRP instance whose role the sync daemon follows; none: the master and the backup
    /// daemons both run all the time (as keepalived).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// `id N`: sync id (default: the instance's VRID; 0 without an instance, which a backup
    /// takes as "accept every sync id").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u8>,
    /// `maxlen N`: maximum sync message length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxlen: Option<u16>,
    /// `port N`: UDP port (8848).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `ttl N`: multicast TTL (1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
    /// `group IP`: multicast group (224.0.0.81).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<IpAddr>,
}

/// `lvs_timeouts`: the IPVS connection timeouts (seconds).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LvsTimeouts {
    /// Established TCP connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<u32>,
    /// TCP connections after FIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcpfin: Option<u32>,
    /// UDP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp: Option<u32>,
}
