//! The typed configuration model every other crate consumes.
//!
//! Both readers (TOML and keepalived.conf) produce a [`Config`]; defaults are keepalived's.
//! Serialized with serde, the model *is* tandem's TOML format: field names are the TOML keys.

mod check;
mod global;
mod lvs;
pub mod regex;
mod route;
mod vrrp;

pub use check::*;
pub use global::*;
pub use lvs::*;
pub use route::*;
pub use vrrp::*;

use serde::{Deserialize, Serialize};

/// A whole configuration file, resolved: includes read, conditionals and variables applied.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `net_namespace NAME`: run in the network namespace `ip netns add NAME` made
    /// (/run/netns/NAME), as keepalived does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_namespace: Option<String>,
    /// `global_defs`.
    #[serde(default)]
    pub global_defs: GlobalDefs,
    /// `static_ipaddress { ... }`: addresses added at start whatever the VRRP state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_ipaddress: Vec<VirtualAddress>,
    /// `static_routes { ... }`: routes added at start whatever the VRRP state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_routes: Vec<Route>,
    /// `static_rules { ... }`: policy-routing rules added at start whatever the VRRP state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_rules: Vec<Rule>,
    /// `vrrp_script NAME { ... }` blocks.
    #[serde(default, rename = "vrrp_script", skip_serializing_if = "Vec::is_empty")]
    pub vrrp_scripts: Vec<VrrpScript>,
    /// `track_file NAME { ... }` blocks (keepalived also accepts `vrrp_track_file`).
    #[serde(default, rename = "track_file", skip_serializing_if = "Vec::is_empty")]
    pub track_files: Vec<TrackFile>,
    /// `vrrp_track_process NAME { ... }` blocks.
    #[serde(default, rename = "vrrp_track_process", skip_serializing_if = "Vec::is_empty")]
    pub vrrp_track_processes: Vec<TrackProcess>,
    /// `vrrp_sync_group NAME { ... }` blocks.
    #[serde(default, rename = "vrrp_sync_group", skip_serializing_if = "Vec::is_empty")]
    pub vrrp_sync_groups: Vec<SyncGroup>,
    /// `vrrp_instance NAME { ... }` blocks.
    #[serde(default, rename = "vrrp_instance", skip_serializing_if = "Vec::is_empty")]
    pub vrrp_instances: Vec<VrrpInstance>,
    /// `virtual_server_group NAME { ... }` blocks.
    #[serde(default, rename = "virtual_server_group", skip_serializing_if = "Vec::is_empty")]
    pub virtual_server_groups: Vec<VirtualServerGroup>,
    /// `virtual_server ... { ... }` blocks.
    #[serde(default, rename = "virtual_server", skip_serializing_if = "Vec::is_empty")]
    pub virtual_servers: Vec<VirtualServer>,
}

/// A user and optional group that a script runs as (`user USER [GROUP]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunAs {
    /// User name.
    pub user: String,
    /// Group name; the user's primary group when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// IP address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// IPv4 (`inet`).
    Inet,
    /// IPv6 (`inet6`).
    Inet6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: &std::net::IpAddr) -> Family {
        match addr {
            std::net::IpAddr::V4(_) => Family::Inet,
            std::net::IpAddr::V6(_) => Family::Inet6,
        }
    }

    /// `IPv4` or `IPv6`, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Family::Inet => "IPv4",
            Family::Inet6 => "IPv6",
        }
    }
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}
