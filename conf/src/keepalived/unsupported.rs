//! What an operator loses with a keepalived keyword tandem does not support, for the note
//! under its warning. Which keywords those are comes from keepalived's own list
//! ([`super::keywords`]); this only says, by family, what they did in keepalived.

/// Families of keywords by a part of their name, and what keepalived did with them.
const FAMILIES: &[(&str, &str)] = &[
    ("snmp", "keepalived's SNMP agent (tandem serves Prometheus metrics: `tandem run --metrics-listen`)"),
    ("dbus", "keepalived's D-Bus interface (tandem: `tandem status --json` on the control socket)"),
    ("bfd", "BFD sessions and tracking them (use a track_script that probes the peer)"),
    ("nftables", "firewall rules keepalived adds for vrrp_strict (manage them with the host's firewall)"),
    ("iptables", "firewall rules keepalived adds for vrrp_strict (manage them with the host's firewall)"),
    ("ipsets", "firewall rules keepalived adds for vrrp_strict (manage them with the host's firewall)"),
    ("rlimit", "a resource limit on keepalived's own process (use the systemd unit's settings)"),
    ("_priority", "scheduling of keepalived's own processes (use the systemd unit's CPUSchedulingPolicy/Nice)"),
    ("cpu_affinity", "CPU pinning of keepalived's processes (use the systemd unit's CPUAffinity)"),
    ("no_swap", "locking keepalived's memory (use the systemd unit's settings)"),
    ("process_name", "naming keepalived's child processes (tandem is one process)"),
    ("netlink", "a netlink socket buffer size of keepalived's"),
    ("rcv_bufs", "a netlink socket buffer size of keepalived's"),
    ("rx_buf", "a receive buffer size of keepalived's"),
    ("ipvlan", "an ipvlan interface for the instance (the address stays on the interface itself)"),
    ("json", "keepalived's JSON state dump on SIGJSON (tandem: `tandem status --json`)"),
    ("dump_file", "keepalived's state dump files (tandem: `tandem status`)"),
    ("track_process", "tracking processes by name (use a track_script running `pidof`)"),
    ("vrrp_track_process", "tracking processes by name (use a track_script running `pidof`)"),
    ("linkbeat", "polling link state with ethtool/MII (tandem follows the kernel's link state)"),
    ("vrf", "VRF binding of the instance's socket"),
];

/// The note for an unsupported keyword, when its family is known.
pub(crate) fn loss(keyword: &str) -> Option<&'static str> {
    FAMILIES.iter().find(|(part, _)| keyword.contains(part)).map(|(_, loss)| *loss)
}

#[cfg(test)]
mod tests {
    #[test]
    fn families_name_what_is_lost() {
        assert!(super::loss("enable_snmp_vrrp").is_some_and(|l| l.contains("SNMP")));
        assert!(super::loss("vrrp_rlimit_rttime").is_some_and(|l| l.contains("systemd")));
        assert_eq!(super::loss("promote_secondaries"), None);
    }
}
