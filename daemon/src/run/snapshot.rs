//! The running state as tasks publish it, and the dumps the signals ask for.
//!
//! Each VRRP unit publishes its instances' [`InstanceSnapshot`]s on a `watch` channel after
//! every event that changed them; the virtual servers are read from the desired IPVS table
//! the checker publishes. The dumps read those and never reach into a task. One serde schema
//! serves the JSON dump (and is meant for the status command and metrics to come).
//!
//! keepalived writes its dumps to files in /tmp (`/tmp/keepalived.data`, `.stats`, `.json`),
//! which was CVE-2018-19044/19045/19046; tandem writes them to its log only.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};
use tandem_ipvs::{Forward, Table};
use tandem_vrrp::instance::Counters;

/// A state's number as RFC 5798 orders them and the keepalived exporter encodes them (0 init,
/// 1 backup, 2 master, 3 fault): metrics and the backups' announcements use it.
pub fn state_code(state: &str) -> u8 {
    match state {
        "BACKUP" => 1,
        "MASTER" => 2,
        "FAULT" => 3,
        _ => 0,
    }
}

/// The state a [`state_code`] stands for.
pub fn state_name(code: u8) -> &'static str {
    match code {
        1 => "BACKUP",
        2 => "MASTER",
        3 => "FAULT",
        _ => "INIT",
    }
}

/// One VRRP instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceSnapshot {
    /// `vrrp_instance` name.
    pub name: String,
    /// Its `vrrp_sync_group`, if any.
    pub sync_group: Option<String>,
    /// The interface its adverts use.
    pub interface: String,
    /// Virtual router id.
    pub vrid: u8,
    /// "ipv4" or "ipv6".
    pub family: &'static str,
    /// VRRP version (2 or 3).
    pub version: u8,
    /// INIT, BACKUP, MASTER, FAULT or STOP.
    pub state: String,
    /// Configured priority.
    pub priority: u8,
    /// Priority after tracked scripts and interfaces.
    pub effective_priority: u8,
    /// The master as far as this instance knows: its own address while master, else the
    /// sender of the last advert it accepted (none yet: unknown).
    pub master: Option<IpAddr>,
    /// The virtual addresses it floats (`ADDR/PREFIX dev IF`).
    pub virtual_addresses: Vec<String>,
    /// Its `virtual_routes`, in `ip route` words, held while master.
    pub virtual_routes: Vec<String>,
    /// Its `virtual_rules`, in `ip rule` words, held while master.
    pub virtual_rules: Vec<String>,
    /// The last state change.
    pub last_transition: Option<TransitionSnapshot>,
    /// Adverts and drops.
    pub counters: AdvertCounters,
}

/// A state change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransitionSnapshot {
    /// Previous state.
    pub from: String,
    /// New state.
    pub to: String,
    /// Why, as logged.
    pub reason: String,
    /// When, in milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
}

impl TransitionSnapshot {
    /// A change that happens now.
    pub fn now(from: String, to: String, reason: String) -> TransitionSnapshot {
        TransitionSnapshot { from, to, reason, at_unix_ms: unix_ms(SystemTime::now()) }
    }
}

/// Counters of one instance (compare keepalived's `vrrp_stats`, its SIGUSR2 dump).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AdvertCounters {
    /// Adverts that passed the receive checks and reached the state machine.
    pub adverts_received: u64,
    /// Adverts sent (priority 0 included).
    pub adverts_sent: u64,
    /// Transitions to master.
    pub became_master: u64,
    /// Transitions out of master.
    pub released_master: u64,
    /// Priority-0 adverts received.
    pub priority_zero_received: u64,
    /// Priority-0 adverts sent.
    pub priority_zero_sent: u64,
    /// Adverts accepted whose address list differs from ours (keepalived counts them too).
    pub address_list_mismatch: u64,
    /// Adverts dropped, by reason (ttl, bad_checksum, auth, interval_mismatch...).
    pub dropped: BTreeMap<String, u64>,
}

impl AdvertCounters {
    /// The counters of a state machine and of the receive checks before it.
    pub fn of(c: &Counters, drops: &BTreeMap<&'static str, u64>) -> AdvertCounters {
        let mut dropped: BTreeMap<String, u64> = drops.iter().map(|(k, v)| ((*k).to_string(), *v)).collect();
        for (k, v) in machine_drops(c) {
            if v > 0 {
                *dropped.entry(k.to_string()).or_default() += v;
            }
        }
        AdvertCounters {
            adverts_received: c.adverts_received,
            adverts_sent: c.adverts_sent,
            became_master: c.became_master,
            released_master: c.released_master,
            priority_zero_received: c.priority_zero_received,
            priority_zero_sent: c.priority_zero_sent,
            address_list_mismatch: c.address_list_mismatch,
            dropped,
        }
    }

    /// Brings `self` to what [`AdvertCounters::of`] the same inputs gives; true when anything
    /// changed. The numbers are copied; the drops map (strings) is rebuilt only when the
    /// drops' total moved, so an advert received allocates nothing.
    pub fn update(&mut self, c: &Counters, drops: &BTreeMap<&'static str, u64>) -> bool {
        let numbers = [
            (&mut self.adverts_received, c.adverts_received),
            (&mut self.adverts_sent, c.adverts_sent),
            (&mut self.became_master, c.became_master),
            (&mut self.released_master, c.released_master),
            (&mut self.priority_zero_received, c.priority_zero_received),
            (&mut self.priority_zero_sent, c.priority_zero_sent),
            (&mut self.address_list_mismatch, c.address_list_mismatch),
        ];
        let mut changed = false;
        for (field, value) in numbers {
            changed |= *field != value;
            *field = value;
        }
        let total: u64 = drops.values().sum::<u64>() + machine_drops(c).iter().map(|(_, v)| v).sum::<u64>();
        if self.dropped.values().sum::<u64>() != total {
            self.dropped = AdvertCounters::of(c, drops).dropped;
            changed = true;
        }
        changed
    }

    /// What counted since `base` was taken.
    pub fn since(&self, base: &AdvertCounters) -> AdvertCounters {
        let mut dropped = self.dropped.clone();
        for (k, v) in &mut dropped {
            *v = v.saturating_sub(base.dropped.get(k).copied().unwrap_or(0));
        }
        dropped.retain(|_, v| *v > 0);
        AdvertCounters {
            adverts_received: self.adverts_received.saturating_sub(base.adverts_received),
            adverts_sent: self.adverts_sent.saturating_sub(base.adverts_sent),
            became_master: self.became_master.saturating_sub(base.became_master),
            released_master: self.released_master.saturating_sub(base.released_master),
            priority_zero_received: self.priority_zero_received.saturating_sub(base.priority_zero_received),
            priority_zero_sent: self.priority_zero_sent.saturating_sub(base.priority_zero_sent),
            address_list_mismatch: self.address_list_mismatch.saturating_sub(base.address_list_mismatch),
            dropped,
        }
    }
}

/// The state machine's own drops, by reason.
fn machine_drops(c: &Counters) -> [(&'static str, u64); 6] {
    [
        ("wrong_vrid", c.dropped_wrong_vrid),
        ("wrong_version", c.dropped_wrong_version),
        ("wrong_family", c.dropped_wrong_family),
        ("interval_mismatch", c.dropped_interval_mismatch),
        ("zero_interval", c.dropped_invalid_interval),
        ("not_listening", c.dropped_not_listening),
    ]
}

/// One IPVS service as the configuration and its checks want it now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceSnapshot {
    /// `TCP 192.0.2.10:80`, `FWM 7`.
    pub service: String,
    /// Scheduler.
    pub scheduler: String,
    /// Persistence timeout in seconds (0: none).
    pub persistence_timeout: u32,
    /// Real servers in the table (a failed one is absent, or at weight 0 with
    /// `inhibit_on_failure`).
    pub real_servers: Vec<DestSnapshot>,
}

/// One destination.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DestSnapshot {
    /// `10.0.0.11:8080`.
    pub address: String,
    /// NAT, DR, TUN, LOCAL or BYPASS.
    pub forward: &'static str,
    /// Weight.
    pub weight: u32,
}

/// The services of a desired table.
pub fn services(t: &Table) -> Vec<ServiceSnapshot> {
    t.services
        .iter()
        .map(|(k, (s, dests))| ServiceSnapshot {
            service: k.to_string(),
            scheduler: s.scheduler.clone(),
            persistence_timeout: s.timeout,
            real_servers: dests
                .iter()
                .map(|(dk, d)| DestSnapshot {
                    address: dk.to_string(),
                    forward: match d.forward {
                        Forward::Masq => "NAT",
                        Forward::Route => "DR",
                        Forward::Tunnel { .. } => "TUN",
                        Forward::Local => "LOCAL",
                        Forward::Bypass => "BYPASS",
                    },
                    weight: d.weight,
                })
                .collect(),
        })
        .collect()
}

/// The health checks' view of the real servers, as the checker publishes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HealthSnapshot {
    /// Every virtual server of the configuration, in its order.
    pub virtual_servers: Vec<VirtualServerHealth>,
}

/// One virtual server's checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VirtualServerHealth {
    /// As the configuration names it (`192.0.2.10 80`, `fwmark 5`, `group G`).
    pub name: String,
    /// Its alive weight reaches `quorum` (the sorry server is out).
    pub quorum_up: bool,
    /// Its real servers, in the configuration's order.
    pub real_servers: Vec<RealServerHealth>,
}

/// One real server's checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RealServerHealth {
    /// `10.0.0.11:80` (what its checks connect to unless told otherwise; serialised as that
    /// text).
    pub address: std::net::SocketAddr,
    /// Its configured weight.
    pub weight: u32,
    /// Its checks pass (it is in the IPVS table, or at its weight with `inhibit_on_failure`).
    pub up: bool,
    /// Why it went down, the last time it did (the probe's own words).
    pub reason: Option<String>,
    /// When it last went up or down (ms since the Unix epoch); none: not since tandem started.
    pub since_unix_ms: Option<u64>,
}

/// Connection sync on this director (`lvs_sync_daemon`), as the resync task publishes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncSnapshot {
    /// The sync interface (none: no `lvs_sync_daemon`).
    pub interface: Option<String>,
    /// The sync id in use.
    pub sync_id: u8,
    /// The kernel daemons tandem runs: "master", "backup", or both.
    pub daemons: Vec<&'static str>,
    /// The last resync this director sent (as master).
    pub last_sent: Option<ResyncSnapshot>,
    /// The last resync this director received (as a starting backup).
    pub last_received: Option<ResyncSnapshot>,
    /// A catch-up is under way.
    pub catching_up: bool,
    /// Warm preemption: "held", or why it was let go.
    pub warm_preemption: Option<String>,
    /// What tandem heard on the kernel's sync group and port (the master daemon's records and
    /// a resync's), since it started.
    pub heard: Heard,
    /// Records this director's resyncs sent, since it started.
    pub resync_records_sent: u64,
    /// Connections and templates in this director's table, counted every 2 s.
    pub table: Option<u64>,
    /// On a backup: the master's count, as it last said it.
    pub master_table: Option<u64>,
    /// On a backup: how many connections the master holds that this director does not.
    pub behind: Option<u64>,
    /// On a master: the backups that said they are there in the last 6 s (a backup's tandem
    /// says so every 2 s on the resync port), by address.
    pub backups: Vec<BackupSnapshot>,
}

/// A backup director as it last said it is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupSnapshot {
    /// Its address on the sync interface.
    pub address: IpAddr,
    /// The state of the instance its sync daemon follows (INIT, BACKUP, MASTER, FAULT).
    pub state: String,
    /// That instance's effective priority.
    pub priority: u8,
    /// Connections and templates in its table.
    pub connections: u64,
    /// When it last said so (ms since the Unix epoch).
    pub heard_unix_ms: u64,
}

/// Sync traffic heard on the kernel's group and port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Heard {
    /// Datagrams in the kernel's format.
    pub datagrams: u64,
    /// Connection records in them.
    pub records: u64,
    /// Datagrams a kernel backup would drop (malformed, or another sync id than ours).
    pub dropped: u64,
}

/// One resync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResyncSnapshot {
    /// Records the master sent.
    pub records: u32,
    /// Received: the receiving table's size when the master said it was done, and how many
    /// records short of the master's that was (0: caught up).
    pub table: Option<usize>,
    /// See [`ResyncSnapshot::table`].
    pub behind: Option<usize>,
    /// From the request (or the start) to the end, in milliseconds.
    pub ms: u64,
    /// When it ended, in milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
}

impl ResyncSnapshot {
    /// A resync that ends now.
    pub fn now(records: u32, table: Option<usize>, ms: u64) -> ResyncSnapshot {
        let behind = table.map(|t| usize::try_from(records).unwrap_or(usize::MAX).saturating_sub(t));
        ResyncSnapshot { records, table, behind, ms, at_unix_ms: unix_ms(SystemTime::now()) }
    }
}

/// SIGUSR1's line for connection sync, if configured.
pub fn sync_line(s: &SyncSnapshot, now_ms: u64) -> Option<String> {
    let interface = s.interface.as_ref()?;
    let mut line = format!(
        "sync: interface {interface}, sync id {}, kernel daemons: {}",
        s.sync_id,
        if s.daemons.is_empty() { "none".to_string() } else { s.daemons.join(" and ") }
    );
    let ago = |at: u64| now_ms.saturating_sub(at) as f64 / 1000.0;
    if let Some(r) = &s.last_sent {
        let _ = write!(line, "; last resync sent {:.0} s ago: {} records in {} ms", ago(r.at_unix_ms), r.records, r.ms);
    }
    if let Some(r) = &s.last_received {
        let _ = write!(
            line,
            "; last resync received {:.0} s ago: {} records in {} ms, table {}, behind {}",
            ago(r.at_unix_ms),
            r.records,
            r.ms,
            r.table.map_or("?".to_string(), |t| t.to_string()),
            r.behind.map_or("?".to_string(), |b| b.to_string())
        );
    }
    if s.catching_up {
        line.push_str("; catching up with the master's table");
    }
    let _ = write!(
        line,
        "; heard {} records in {} datagrams ({} dropped); resyncs sent {} records",
        s.heard.records, s.heard.datagrams, s.heard.dropped, s.resync_records_sent
    );
    if let Some(t) = s.table {
        let _ = write!(line, "; table {t}");
    }
    if let (Some(m), Some(b)) = (s.master_table, s.behind) {
        let _ = write!(line, ", master's {m}, behind {b}");
    }
    if let Some(w) = &s.warm_preemption {
        let _ = write!(line, "; warm preemption: {w}");
    }
    Some(line)
}

/// The whole state, for the JSON dump.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// tandem's process id.
    pub pid: u32,
    /// When this was taken, in milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    /// Every VRRP instance.
    pub vrrp_instances: Vec<InstanceSnapshot>,
    /// Every IPVS service tandem wants.
    pub virtual_servers: Vec<ServiceSnapshot>,
    /// Connection sync.
    pub sync: SyncSnapshot,
}

impl Snapshot {
    /// The state now.
    pub fn new(
        vrrp_instances: Vec<InstanceSnapshot>,
        virtual_servers: Vec<ServiceSnapshot>,
        sync: SyncSnapshot,
    ) -> Snapshot {
        Snapshot {
            pid: std::process::id(),
            at_unix_ms: unix_ms(SystemTime::now()),
            vrrp_instances,
            virtual_servers,
            sync,
        }
    }
}

/// An instance as tests need one: `name` in `state`, VRID 51 on eth0, nothing else known.
#[cfg(test)]
pub(crate) fn test_instance(name: &str, state: &str) -> InstanceSnapshot {
    InstanceSnapshot {
        name: name.into(),
        sync_group: None,
        interface: "eth0".into(),
        vrid: 51,
        family: "ipv4",
        version: 2,
        state: state.into(),
        priority: 100,
        effective_priority: 100,
        master: None,
        virtual_addresses: Vec::new(),
        virtual_routes: Vec::new(),
        virtual_rules: Vec::new(),
        last_transition: None,
        counters: AdvertCounters::default(),
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_unix_ms() -> u64 {
    unix_ms(SystemTime::now())
}

pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

/// SIGUSR1's line for an instance.
pub fn instance_line(i: &InstanceSnapshot, now_ms: u64) -> String {
    let mut s = format!(
        "vrrp_instance {}: {}, interface {}, vrid {}, {} VRRPv{}, priority {} (effective {})",
        i.name, i.state, i.interface, i.vrid, i.family, i.version, i.priority, i.effective_priority
    );
    if let Some(g) = &i.sync_group {
        let _ = write!(s, ", sync group {g}");
    }
    match (i.state.as_str(), i.master) {
        ("MASTER", _) => s.push_str(", master: this host"),
        (_, Some(m)) => {
            let _ = write!(s, ", master: {m}");
        }
        (_, None) => s.push_str(", master: not heard"),
    }
    let _ = write!(
        s,
        "; virtual addresses: {}",
        if i.virtual_addresses.is_empty() { "none".to_string() } else { i.virtual_addresses.join(", ") }
    );
    if let Some(t) = &i.last_transition {
        let ago = now_ms.saturating_sub(t.at_unix_ms) as f64 / 1000.0;
        let _ = write!(s, "; {} -> {} {ago:.1} s ago: {}", t.from, t.to, t.reason);
    }
    s
}

/// SIGUSR1's line for a service.
pub fn service_line(v: &ServiceSnapshot) -> String {
    let mut s = format!("virtual_server {}: {}", v.service, v.scheduler);
    if v.persistence_timeout > 0 {
        let _ = write!(s, ", persistence {} s", v.persistence_timeout);
    }
    if v.real_servers.is_empty() {
        s.push_str("; no real server in the table");
    } else {
        let rs: Vec<String> =
            v.real_servers.iter().map(|d| format!("{} {} weight {}", d.address, d.forward, d.weight)).collect();
        let _ = write!(s, "; in the table: {}", rs.join(", "));
    }
    s
}

/// SIGUSR2's line for an instance's counters.
pub fn stats_line(name: &str, c: &AdvertCounters) -> String {
    let mut s = format!(
        "vrrp_instance {name}: adverts received {}, sent {}; became master {}, released master {}; priority 0 received {}, sent {}; address list mismatches {}",
        c.adverts_received,
        c.adverts_sent,
        c.became_master,
        c.released_master,
        c.priority_zero_received,
        c.priority_zero_sent,
        c.address_list_mismatch
    );
    let dropped: Vec<String> = c.dropped.iter().filter(|(_, v)| **v > 0).map(|(k, v)| format!("{k} {v}")).collect();
    let _ = write!(s, "; dropped: {}", if dropped.is_empty() { "none".to_string() } else { dropped.join(", ") });
    s
}

/// SIGRTMAX's dump: the process's threads and what each is doing (from /proc).
pub fn threads() -> Vec<String> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return out };
    for t in dir.flatten() {
        let tid = t.file_name().to_string_lossy().into_owned();
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        // /proc/PID/task/TID/stat: "tid (comm) S ..."; the state follows the last ')'.
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()).unwrap_or("?");
        let wchan = std::fs::read_to_string(t.path().join("wchan")).unwrap_or_default();
        out.push(format!(
            "thread {tid} ({}): state {state}, waiting in {}",
            comm.trim(),
            if wchan.is_empty() || wchan == "0" { "-" } else { wchan.trim() }
        ));
    }
    out.sort();
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn counters() -> Counters {
        Counters { adverts_received: 10, adverts_sent: 3, dropped_interval_mismatch: 2, ..Counters::default() }
    }

    #[test]
    fn counters_merge_both_drop_sources_and_count_since_a_base() {
        let drops: BTreeMap<&'static str, u64> = [("ttl", 4), ("auth", 0)].into_iter().collect();
        let c = AdvertCounters::of(&counters(), &drops);
        assert_eq!(c.dropped.get("ttl"), Some(&4));
        assert_eq!(c.dropped.get("interval_mismatch"), Some(&2));
        let mut same = c.clone();
        assert!(!same.update(&counters(), &drops));
        let more: BTreeMap<&'static str, u64> = [("ttl", 5), ("auth", 0)].into_iter().collect();
        assert!(same.update(&counters(), &more), "a new drop must show");
        assert_eq!(same, AdvertCounters::of(&counters(), &more));
        let later = AdvertCounters::of(&Counters { adverts_received: 15, ..counters() }, &more);
        let since = later.since(&c);
        assert_eq!(since.adverts_received, 5);
        assert_eq!(since.dropped, [("ttl".to_string(), 1)].into_iter().collect());
        assert!(
            stats_line("VI_1", &since).contains("adverts received 5") && stats_line("VI_1", &since).contains("ttl 1")
        );
    }

    #[test]
    fn a_masters_line_says_so_and_a_backups_names_its_master() {
        let mut i = InstanceSnapshot {
            master: Some("192.0.2.1".parse().unwrap()),
            virtual_addresses: vec!["192.0.2.100/24 dev eth0".into()],
            last_transition: Some(TransitionSnapshot {
                from: "INIT".into(),
                to: "BACKUP".into(),
                reason: "started".into(),
                at_unix_ms: 1_000,
            }),
            ..test_instance("VI_1", "BACKUP")
        };
        let line = instance_line(&i, 3_500);
        assert!(line.contains("master: 192.0.2.1") && line.contains("INIT -> BACKUP 2.5 s ago: started"), "{line}");
        i.state = "MASTER".into();
        assert!(instance_line(&i, 3_500).contains("master: this host"));
        let json = serde_json::to_string(&Snapshot::new(vec![i], Vec::new(), SyncSnapshot::default())).unwrap();
        assert!(json.contains("\"state\":\"MASTER\"") && json.contains("\"master\":\"192.0.2.1\""), "{json}");
    }
}
