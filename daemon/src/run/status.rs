//! `tandem status`: the whole state of a running tandem, as one JSON document whose schema
//! is documented in docs/STATUS.md and versioned by [`SCHEMA`]. Fields are only ever added
//! within a version.
//!
//! The main loop gathers what it knows ([`Parts`]: the instances as the units publish them,
//! the checks' view, the sync state, the configuration); the control connection adds the
//! kernel's own view of the IPVS table (weights and connection counts, one netlink dump) off
//! the loop, and builds the [`Status`].

use super::snapshot::{HealthSnapshot, InstanceSnapshot, SyncSnapshot, unix_ms};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;
use tandem_ipvs::{DestKey, ServiceKey, Table, TableStats};

/// `router_id`, else the host name's first label (keepalived's default, global_data.c).
pub fn router_id(g: &tandem_conf::GlobalDefs) -> String {
    g.router_id.clone().unwrap_or_else(|| {
        let host = nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_default();
        host.split('.').next().unwrap_or_default().to_string()
    })
}

/// The schema's version: it changes only when a field changes meaning or goes.
pub const SCHEMA: u32 = 1;

/// What the main loop knows, handed to a control connection.
#[derive(Debug, Clone)]
pub struct Parts {
    /// The configuration running.
    pub config: Arc<tandem_conf::Config>,
    /// The file it came from.
    pub config_file: String,
    /// When tandem started (ms since the Unix epoch).
    pub started_unix_ms: u64,
    /// Every instance.
    pub instances: Vec<InstanceSnapshot>,
    /// The checks' view.
    pub health: HealthSnapshot,
    /// Connection sync.
    pub sync: SyncSnapshot,
    /// The changes the kernel refused at the IPVS keeper's last round.
    pub ipvs_refused: Vec<super::ipvs_refusals::Refusal>,
    /// The VRRP receiving sockets (one per interface, family and protocol).
    pub vrrp_sockets: Vec<super::dispatch::SocketStatus>,
}

/// The document `tandem status --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// [`SCHEMA`].
    pub schema: u32,
    /// tandem's version.
    pub version: &'static str,
    /// Its process id.
    pub pid: u32,
    /// When this was taken (ms since the Unix epoch).
    pub at_unix_ms: u64,
    /// When tandem started.
    pub started_unix_ms: u64,
    /// The configuration file.
    pub config_file: String,
    /// This director's name: `router_id`, else the host name (keepalived's default).
    pub router_id: String,
    /// Every VRRP instance.
    pub vrrp_instances: Vec<InstanceSnapshot>,
    /// Every sync group.
    pub sync_groups: Vec<SyncGroupStatus>,
    /// Every virtual server of the configuration.
    pub virtual_servers: Vec<VirtualServerStatus>,
    /// Why the kernel's view is missing, when it is (IPVS not available, no permission).
    pub ipvs_error: Option<String>,
    /// Changes to the kernel's table it refuses (retried at every reconcile): a service whose
    /// scheduler this kernel lacks, say.
    pub ipvs_refused: Vec<super::ipvs_refusals::Refusal>,
    /// Connection sync.
    pub sync: SyncSnapshot,
    /// The VRRP receiving sockets: one per interface, family and protocol, shared by the
    /// instances there; packets for a VRID none of them has are counted here.
    pub vrrp_sockets: Vec<super::dispatch::SocketStatus>,
}

/// A sync group.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SyncGroupStatus {
    /// Its name.
    pub name: String,
    /// Its members' state when they agree (they do but for an instant), else "MIXED".
    pub state: String,
    /// Its members.
    pub members: Vec<String>,
}

/// A virtual server.
#[derive(Debug, Clone, Serialize)]
pub struct VirtualServerStatus {
    /// As the configuration names it (`192.0.2.10 80`, `fwmark 5`, `group G`).
    pub name: String,
    /// The IPVS services it makes (`TCP 192.0.2.10:80`; a group makes several).
    pub services: Vec<String>,
    /// Scheduler.
    pub scheduler: String,
    /// Persistence timeout in seconds, if any.
    pub persistence_timeout: Option<u32>,
    /// Its alive weight reaches `quorum`.
    pub quorum_up: bool,
    /// The sorry server, if configured, and whether it is in the table now.
    pub sorry_server: Option<SorryStatus>,
    /// Its real servers.
    pub real_servers: Vec<RealServerStatus>,
}

/// A sorry server.
#[derive(Debug, Clone, Serialize)]
pub struct SorryStatus {
    /// `10.0.0.99:80`.
    pub address: String,
    /// In the kernel's table now (quorum is lost).
    pub in_ipvs: bool,
}

/// A real server.
#[derive(Debug, Clone, Serialize)]
pub struct RealServerStatus {
    /// `10.0.0.11:80`.
    pub address: String,
    /// NAT, DR, TUN.
    pub forward: &'static str,
    /// Configured weight.
    pub weight: u32,
    /// Its checks pass.
    pub up: bool,
    /// Why it last went down (the probe's words).
    pub reason: Option<String>,
    /// When it last went up or down (ms since the Unix epoch).
    pub since_unix_ms: Option<u64>,
    /// In the kernel's table, in every service of its virtual server.
    pub in_ipvs: bool,
    /// Its weight in the kernel's table (the first service's).
    pub ipvs_weight: Option<u32>,
    /// Established connections (ActiveConn), over the virtual server's services.
    pub active_connections: u64,
    /// Other connections (InActConn).
    pub inactive_connections: u64,
    /// Persistence templates pointing at it.
    pub persistent_connections: u64,
}

fn forward(lb_kind: tandem_conf::ForwardMethod) -> &'static str {
    match lb_kind {
        tandem_conf::ForwardMethod::Nat => "NAT",
        tandem_conf::ForwardMethod::Dr => "DR",
        tandem_conf::ForwardMethod::Tun => "TUN",
    }
}

/// The sync groups, from the instances' own view of theirs.
fn sync_groups(instances: &[InstanceSnapshot]) -> Vec<SyncGroupStatus> {
    let mut groups: BTreeMap<&str, Vec<&InstanceSnapshot>> = BTreeMap::new();
    for i in instances {
        if let Some(g) = &i.sync_group {
            groups.entry(g).or_default().push(i);
        }
    }
    groups
        .into_iter()
        .map(|(name, members)| {
            let first = members.first().map_or("", |m| m.state.as_str());
            let state = if members.iter().all(|m| m.state == first) { first.to_string() } else { "MIXED".to_string() };
            SyncGroupStatus { name: name.to_string(), state, members: members.iter().map(|m| m.name.clone()).collect() }
        })
        .collect()
}

/// The status now, with the kernel's table and counters: asks the loop for what it knows
/// (`requests`) and dumps the kernel's table off the loop (one netlink dump). Status and
/// metrics both come from here.
pub async fn gather(
    requests: &tokio::sync::mpsc::Sender<super::control::Request>,
) -> Result<(Status, TableStats), String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    requests.send(super::control::Request::Status(tx)).await.map_err(|_| "stopping")?;
    let parts = rx.await.map_err(|_| "stopping")?;
    let kernel = tokio::task::spawn_blocking(|| {
        tandem_ipvs::Ipvs::open().and_then(|i| i.dump_with_stats()).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?;
    let stats = kernel.as_ref().map(|(_, s)| s.clone()).unwrap_or_default();
    Ok((build(parts, kernel), stats))
}

/// Builds the document from the loop's `parts` and the kernel's table (`kernel`, or why it
/// could not be read).
pub fn build(parts: Parts, kernel: Result<(Table, TableStats), String>) -> Status {
    let c = &parts.config;
    let (table, stats, ipvs_error) = match kernel {
        Ok((t, s)) => (t, s, None),
        Err(e) => (Table::default(), TableStats::default(), Some(e)),
    };
    let mut virtual_servers = Vec::new();
    for (i, vs) in c.virtual_servers.iter().enumerate() {
        let keys = crate::desired::keys(c, vs);
        let health = parts.health.virtual_servers.get(i);
        let port_of = |k: &ServiceKey| match k {
            ServiceKey::Addr { port, .. } => *port,
            ServiceKey::Fwmark { .. } => 0,
        };
        let real_servers = vs
            .real_servers
            .iter()
            .enumerate()
            .map(|(j, rs)| {
                let h = health.and_then(|h| h.real_servers.get(j));
                let dests: Vec<DestKey> = keys
                    .iter()
                    .map(|k| DestKey {
                        addr: rs.ip,
                        port: crate::desired::dest_port(vs, rs.lb_kind, rs.port, port_of(k)),
                    })
                    .collect();
                let in_kernel: Vec<_> =
                    keys.iter().zip(&dests).map(|(k, d)| table.services.get(k).and_then(|(_, ds)| ds.get(d))).collect();
                let counters: Vec<_> = keys
                    .iter()
                    .zip(&dests)
                    .filter_map(|(k, d)| stats.services.get(k).and_then(|(_, ds)| ds.get(d)))
                    .collect();
                RealServerStatus {
                    address: dests.first().map_or_else(|| rs.ip.to_string(), DestKey::to_string),
                    forward: forward(rs.lb_kind.unwrap_or(vs.lb_kind)),
                    weight: rs.weight,
                    up: h.is_some_and(|h| h.up),
                    reason: h.and_then(|h| h.reason.clone()),
                    since_unix_ms: h.and_then(|h| h.since_unix_ms),
                    in_ipvs: !in_kernel.is_empty() && in_kernel.iter().all(Option::is_some),
                    ipvs_weight: in_kernel.first().copied().flatten().map(|d| d.weight),
                    active_connections: counters.iter().map(|c| u64::from(c.active)).sum(),
                    inactive_connections: counters.iter().map(|c| u64::from(c.inactive)).sum(),
                    persistent_connections: counters.iter().map(|c| u64::from(c.persistent)).sum(),
                }
            })
            .collect();
        let sorry_server = vs.sorry_server.as_ref().map(|s| {
            let dests = keys.iter().map(|k| {
                (k, DestKey { addr: s.ip, port: crate::desired::dest_port(vs, s.lb_kind, s.port, port_of(k)) })
            });
            let mut found =
                dests.clone().map(|(k, d)| table.services.get(k).is_some_and(|(_, ds)| ds.contains_key(&d)));
            SorryStatus {
                address: dests.clone().next().map_or_else(|| s.ip.to_string(), |(_, d)| d.to_string()),
                in_ipvs: found.any(|f| f),
            }
        });
        virtual_servers.push(VirtualServerStatus {
            name: crate::health::name(vs),
            services: keys.iter().map(ToString::to_string).collect(),
            scheduler: vs.lb_algo.clone(),
            persistence_timeout: vs.persistence_timeout,
            quorum_up: health.is_none_or(|h| h.quorum_up),
            sorry_server,
            real_servers,
        });
    }
    Status {
        schema: SCHEMA,
        version: env!("CARGO_PKG_VERSION"),
        pid: std::process::id(),
        at_unix_ms: unix_ms(SystemTime::now()),
        started_unix_ms: parts.started_unix_ms,
        router_id: router_id(&parts.config.global_defs),
        config_file: parts.config_file,
        sync_groups: sync_groups(&parts.instances),
        vrrp_instances: parts.instances,
        virtual_servers,
        ipvs_error,
        ipvs_refused: parts.ipvs_refused,
        sync: parts.sync,
        vrrp_sockets: parts.vrrp_sockets,
    }
}
