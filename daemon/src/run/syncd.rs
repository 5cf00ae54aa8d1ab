//! The kernel's IPVS connection-sync daemons, driven by the VRRP role (`lvs_sync_daemon`).
//!
//! As keepalived (keepalived/vrrp/vrrp.c, vrrp_state_become_master / vrrp_state_leave_master;
//! check/ipvswrapper.c, ipvs_syncd_master / ipvs_syncd_backup): with an instance named, the
//! backup daemon runs from start; when the instance (with its sync group) becomes master, the
//! backup daemon stops and the master daemon starts; when it leaves master, the reverse. The
//! sync id defaults to the instance's VRID. Without an instance, both daemons run all the
//! time with sync id 0 (a backup with id 0 takes every sync id). At a graceful stop tandem
//! stops the daemons it runs; a reload applies a changed `lvs_sync_daemon` by restarting them.
//!
//! The kernel is the judge: the daemons it reports (GET_DAEMON) are compared with the ones
//! wanted at every role change, reload and reconcile period; a daemon with other settings (a
//! leftover of an earlier run, a hand-made `ipvsadm --start-daemon`) is replaced, a missing
//! one started, and each start and stop is logged with its reason. The role comes from the
//! unit's published snapshot, so a switch follows the unit's actions: the master daemon starts
//! once the virtual addresses are up, and the backup daemon after they are gone (keepalived
//! switches to backup just before removing them).

use super::snapshot::InstanceSnapshot;
use std::sync::Arc;
use std::time::Duration;
use tandem_ipvs::{Ipvs, SyncDaemon, SyncState};
use tokio::sync::watch;
use tracing::{error, info, warn};

/// How often the kernel's daemons are compared with the wanted ones between role changes.
const RECONCILE_PERIOD: Duration = Duration::from_secs(5);

/// `lvs_sync_daemon` as the daemon runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The configuration's block.
    pub conf: tandem_conf::LvsSyncDaemon,
}

impl Plan {
    /// The plan of a configuration, if it has `lvs_sync_daemon`.
    pub fn of(c: &tandem_conf::Config) -> Option<Plan> {
        c.global_defs.lvs_sync_daemon.clone().map(|conf| Plan { conf })
    }

    /// The daemons wanted while the followed instance is `role` (its snapshot; `None` when
    /// no instance is followed): the sync id is `id`, else the instance's VRID, else 0.
    pub fn wanted(&self, role: Option<&InstanceSnapshot>) -> Vec<SyncDaemon> {
        let c = &self.conf;
        let sync_id = u32::from(c.id.or(role.map(|r| r.vrid)).unwrap_or(0));
        let daemon = |state| SyncDaemon {
            state,
            interface: c.interface.clone(),
            sync_id,
            maxlen: c.maxlen,
            group: c.group,
            port: c.port,
            ttl: c.ttl,
        };
        match (c.instance.as_ref(), role) {
            (None, _) => vec![daemon(SyncState::Master), daemon(SyncState::Backup)],
            (Some(_), Some(r)) if r.state == "MASTER" => vec![daemon(SyncState::Master)],
            (Some(_), _) => vec![daemon(SyncState::Backup)],
        }
    }
}

/// True when the kernel's `running` daemon is `wanted`: same state, interface and sync id, and
/// the same value for every setting the configuration gives (the kernel reports its defaults
/// for the others).
pub fn matches(running: &SyncDaemon, wanted: &SyncDaemon) -> bool {
    let same = |w: Option<u32>, r: Option<u32>| w.is_none() || w == r;
    running.state == wanted.state
        && running.interface == wanted.interface
        && running.sync_id == wanted.sync_id
        && same(wanted.maxlen.map(u32::from), running.maxlen.map(u32::from))
        && same(wanted.port.map(u32::from), running.port.map(u32::from))
        && same(wanted.ttl.map(u32::from), running.ttl.map(u32::from))
        && (wanted.group.is_none() || wanted.group == running.group)
}

/// What to do to get from the kernel's daemons to the wanted ones: the states to stop, then
/// the daemons to start (stops first: keepalived stops the backup before it starts the master).
/// With `lvs_sync_daemon` configured, both of the kernel's daemon slots are tandem's.
pub fn changes(running: &[SyncDaemon], wanted: &[SyncDaemon]) -> (Vec<SyncState>, Vec<SyncDaemon>) {
    let mut stop = Vec::new();
    let mut start = Vec::new();
    for r in running {
        if !wanted.iter().any(|w| matches(r, w)) {
            stop.push(r.state);
        }
    }
    for w in wanted {
        if !running.iter().any(|r| matches(r, w)) {
            start.push(w.clone());
        }
    }
    (stop, start)
}

/// What the daemons run now, for the resync ([`super::resync`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStatus {
    /// The configuration's block (none: no sync).
    pub plan: Option<tandem_conf::LvsSyncDaemon>,
    /// The sync id in use.
    pub sync_id: u8,
    /// This director runs the master daemon (it answers resync requests).
    pub master: bool,
    /// This run's first backup daemon has started: such a start may find the table empty, and
    /// asks the master for its own. A later one (a role switch) keeps the table (a master holds
    /// every connection it scheduled) and asks nothing.
    pub backup_started: bool,
}

/// Why a round runs, for the log.
#[derive(Debug, Clone)]
enum Why {
    Start,
    Role(String),
    Reload,
    Period,
    Stop,
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Start => f.write_str("tandem started"),
            Why::Role(r) => f.write_str(r),
            Why::Reload => f.write_str("lvs_sync_daemon changed by a reload"),
            Why::Period => f.write_str("the kernel's daemons differed from the configuration"),
            Why::Stop => f.write_str("tandem stopping"),
        }
    }
}

/// The driver's state: its socket and what it last applied.
struct Driver {
    ipvs: Option<Arc<Ipvs>>,
    /// A backup daemon has started in this run.
    backup_started: bool,
    /// The daemons tandem started and has not stopped: what a stop or a removed block stops.
    ours: Vec<SyncState>,
    /// Whether the last round failed (logged once, then at recovery).
    failing: bool,
}

impl Driver {
    /// Brings the kernel's daemons to `wanted` and logs each step; blocking (netlink).
    fn apply(&mut self, wanted: &[SyncDaemon], why: &Why) -> Result<(), String> {
        let ipvs = match &self.ipvs {
            Some(s) => s.clone(),
            None => {
                let s = Arc::new(Ipvs::open().map_err(|e| e.to_string())?);
                self.ipvs = Some(s.clone());
                s
            }
        };
        let running = ipvs.sync_daemons().map_err(|e| e.to_string())?;
        let (stop, start) = changes(&running, wanted);
        for state in stop {
            ipvs.stop_sync_daemon(state).map_err(|e| e.to_string())?;
            self.ours.retain(|s| *s != state);
            info!(daemon = ?state, reason = %why, "IPVS sync daemon stopped");
        }
        for d in start {
            ipvs.start_sync_daemon(&d).map_err(|e| e.to_string())?;
            self.ours.push(d.state);
            // Only the run's first backup daemon may find the table empty (a machine that
            // booted, a tandem that was stopped); a role switch keeps what the table had.
            if d.state == SyncState::Backup {
                self.backup_started = true;
            }
            info!(
                daemon = ?d.state,
                interface = %d.interface,
                sync_id = d.sync_id,
                reason = %why,
                "IPVS sync daemon started"
            );
        }
        Ok(())
    }

    /// Stops the daemons tandem started.
    fn stop_ours(&mut self, why: &Why) -> Result<(), String> {
        if self.ours.is_empty() {
            return Ok(());
        }
        let ipvs = self.ipvs.clone().ok_or("no IPVS socket")?;
        for state in std::mem::take(&mut self.ours) {
            match ipvs.stop_sync_daemon(state) {
                Ok(()) => info!(daemon = ?state, reason = %why, "IPVS sync daemon stopped"),
                Err(e) => warn!(daemon = ?state, error = %e, "cannot stop the IPVS sync daemon"),
            }
        }
        Ok(())
    }
}

/// Drives the sync daemons until `stop`: `plans` carries the configuration's `lvs_sync_daemon`
/// (a reload sends the new one), `units` the VRRP units' published instances; what runs goes
/// out on `status`.
pub async fn drive(
    mut plans: watch::Receiver<Option<Plan>>,
    mut units: super::units::Instances,
    mut stop: watch::Receiver<bool>,
    status: watch::Sender<SyncStatus>,
) -> Result<(), String> {
    let mut driver = Driver { ipvs: None, ours: Vec::new(), failing: false, backup_started: false };
    let mut why = Why::Start;
    let mut plan = plans.borrow_and_update().clone();
    // The followed instance, and its state last acted on.
    let followed = |plan: &Option<Plan>| plan.as_ref()?.conf.instance.clone();
    let mut follow = followed(&plan);
    loop {
        let role = follow.as_ref().and_then(|name| super::units::find(&units, name));
        let last_state = role.as_ref().map(|r| r.state.clone());
        let wanted = match &plan {
            Some(p) if p.conf.instance.is_none() => Some(p.wanted(None)),
            Some(p) => role.as_ref().map(|r| p.wanted(Some(r))),
            None => None,
        };
        match wanted {
            Some(w) => {
                let round_why = why.clone();
                let now = SyncStatus {
                    plan: plan.as_ref().map(|p| p.conf.clone()),
                    sync_id: w.first().map_or(0, |d| u8::try_from(d.sync_id).unwrap_or(0)),
                    master: w.iter().any(|d| d.state == SyncState::Master),
                    backup_started: false,
                };
                let (d, r) = super::blocking(driver, move |d| d.apply(&w, &round_why)).await?;
                driver = d;
                if r.is_ok() {
                    super::publish(&status, &SyncStatus { backup_started: driver.backup_started, ..now });
                }
                match r {
                    Err(e) if !driver.failing => {
                        error!(error = %e, "cannot drive the IPVS sync daemons; retrying every {} s", RECONCILE_PERIOD.as_secs());
                        driver.failing = true;
                    }
                    Ok(()) if driver.failing => {
                        info!("IPVS sync daemons in step again");
                        driver.failing = false;
                    }
                    _ => {}
                }
            }
            // No block (any more): what tandem started goes; the kernel's own are left alone.
            None if plan.is_none() => {
                let round_why = why.clone();
                let (d, _) = super::blocking(driver, move |d| d.stop_ours(&round_why)).await?;
                driver = d;
                super::publish(&status, &SyncStatus { backup_started: driver.backup_started, ..SyncStatus::default() });
            }
            None => {}
        }
        // Wait for the next round: the followed instance changing state, a reload, the
        // period, or the end. Other changes of the unit's snapshot (counters) do not count.
        let period = tokio::time::sleep(RECONCILE_PERIOD);
        tokio::pin!(period);
        loop {
            tokio::select! {
                ok = units.changed() => {
                    if ok.is_err() {
                        return Ok(());
                    }
                    let Some(name) = &follow else { continue };
                    let state = super::units::find(&units, name).map(|i| i.state);
                    if state != last_state {
                        why = Why::Role(format!("{name} is {}", state.as_deref().unwrap_or("gone")));
                        break;
                    }
                }
                changed = plans.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    let new = plans.borrow_and_update().clone();
                    if new != plan {
                        plan = new;
                        follow = followed(&plan);
                        why = Why::Reload;
                        break;
                    }
                }
                () = &mut period => {
                    why = Why::Period;
                    break;
                }
                _ = stop.changed() => {
                    // Failing to stop (no IPVS socket) leaves nothing of ours running anyway.
                    let (_, _not_running) = super::blocking(driver, |d| {
                        if crate::failpoint::armed("sync-stop-hang") {
                            loop {
                                std::thread::park();
                            }
                        }
                        d.stop_ours(&Why::Stop)
                    })
                    .await?;
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn plan(instance: Option<&str>, id: Option<u8>) -> Plan {
        Plan {
            conf: tandem_conf::LvsSyncDaemon {
                interface: "eth1".into(),
                instance: instance.map(String::from),
                id,
                maxlen: None,
                port: Some(8849),
                ttl: None,
                group: None,
            },
        }
    }

    fn instance(state: &str) -> InstanceSnapshot {
        crate::run::snapshot::test_instance("VI_1", state)
    }

    #[test]
    fn the_role_picks_the_daemon_and_the_vrid_is_the_default_sync_id() {
        let p = plan(Some("VI_1"), None);
        let w = p.wanted(Some(&instance("BACKUP")));
        assert_eq!((w.len(), w[0].state, w[0].sync_id, w[0].port), (1, SyncState::Backup, 51, Some(8849)));
        assert_eq!(p.wanted(Some(&instance("MASTER")))[0].state, SyncState::Master);
        assert_eq!(p.wanted(Some(&instance("FAULT")))[0].state, SyncState::Backup);
        assert_eq!(plan(Some("VI_1"), Some(7)).wanted(Some(&instance("MASTER")))[0].sync_id, 7);
        let both = plan(None, None).wanted(None);
        assert_eq!(
            both.iter().map(|d| (d.state, d.sync_id)).collect::<Vec<_>>(),
            [(SyncState::Master, 0), (SyncState::Backup, 0)]
        );
    }

    #[test]
    fn becoming_master_stops_the_backup_then_starts_the_master_and_kernel_defaults_match() {
        let p = plan(Some("VI_1"), None);
        // As GET_DAEMON reports a backup started with our settings: every field filled in.
        let mut running = p.wanted(Some(&instance("BACKUP")));
        running[0].maxlen = Some(1472);
        running[0].ttl = Some(1);
        running[0].group = Some("224.0.0.81".parse().unwrap());
        assert_eq!(changes(&running, &p.wanted(Some(&instance("BACKUP")))), (vec![], vec![]));
        let (stop, start) = changes(&running, &p.wanted(Some(&instance("MASTER"))));
        assert_eq!(stop, [SyncState::Backup]);
        assert_eq!(start.iter().map(|d| d.state).collect::<Vec<_>>(), [SyncState::Master]);
        // Another sync id (a leftover): replaced.
        running[0].sync_id = 9;
        let (stop, start) = changes(&running, &p.wanted(Some(&instance("BACKUP"))));
        assert_eq!((stop.len(), start.len()), (1, 1));
    }
}
