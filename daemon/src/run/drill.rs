//! `tandem drill`: a planned failover, run from the master's host and measured from there.
//!
//! The master hands the instance's unit over (priority 0, addresses removed, preemption
//! held: [`tandem_vrrp::instance::Instance::hand_over`]) and watches what comes back: the new
//! master's first advert (the takeover, timed from the hand-over), and with connection sync
//! the new master's table size (its resync port says it every 2 s) against the one this
//! director had. With `back`, the hold ends after a while and the time until this director
//! is master again is measured too.
//!
//! What the master can know beforehand is limited: a VRRP backup sends nothing. A backup
//! tandem with `lvs_sync_daemon` says it is there every 2 s on the resync port (its state,
//! priority and table size); that is what the drill looks for, and without it (no sync, or
//! a keepalived backup) it refuses unless forced. Forced with no backup at all, the hand-over
//! costs one master-down interval: the held instance then takes the addresses back itself.

use super::snapshot::{InstanceSnapshot, SyncSnapshot, now_unix_ms};
use super::units::{Command, Instances, find};
use serde::Serialize;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

pub use super::control_request::DrillRequest;

/// What the drill found, did and measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The drill ran and a backup took over (and, with `back`, the addresses came back).
    pub ok: bool,
    /// Why the drill did not start, if it did not.
    pub refused: Option<String>,
    /// The instance handed over.
    pub instance: String,
    /// Its unit (sync group or the instance itself): a sync group hands over as one.
    pub unit: String,
    /// What this director knows before the hand-over.
    pub knows: Vec<String>,
    /// What it cannot know from here.
    pub cannot_know: Vec<String>,
    /// What happened, in order, with milliseconds since the hand-over.
    pub steps: Vec<Step>,
    /// From the hand-over to the new master's first advert heard here.
    pub takeover_ms: Option<u64>,
    /// The new master's address.
    pub new_master: Option<IpAddr>,
    /// This director's connections and templates before the hand-over (with sync).
    pub table_before: Option<u64>,
    /// The new master's, as it said after the takeover (with sync).
    pub new_master_table: Option<u64>,
    /// From the release to this director being master again (with `back`).
    pub back_ms: Option<u64>,
    /// This director still holds preemption: it stays backup until `tandem drill --release`.
    pub held: bool,
}

/// One thing that happened during a drill.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Milliseconds since the hand-over (0 for what came before).
    pub at_ms: u64,
    /// What.
    pub what: String,
}

/// What the drill watches and whom it tells.
pub struct Drill {
    /// The instance.
    pub instance: String,
    /// Its unit (sync group, or the instance itself).
    pub unit: String,
    /// Where the unit's commands go.
    pub commands: mpsc::UnboundedSender<Command>,
    /// The units' published instances.
    pub instances: Instances,
    /// Connection sync as seen here.
    pub sync: watch::Receiver<SyncSnapshot>,
    /// The instance lvs_sync_daemon follows, if any.
    pub followed: Option<String>,
    /// The instance's advert interval.
    pub advert_interval: Duration,
    /// Whether it preempts (else it cannot take the addresses back).
    pub preempt: bool,
}

/// How long a drill waits for a takeover beyond the master-down interval.
const MARGIN: Duration = Duration::from_secs(2);

/// How long after the takeover the drill waits for the new master to say its table size
/// (it says it every 2 s).
const TABLE_WAIT: Duration = Duration::from_secs(5);

/// Watches instance `name` until `f` says what it waited for (`Some`), or `limit` passes.
async fn watch_instance<T>(
    r: &mut Instances,
    name: &str,
    limit: Duration,
    mut f: impl FnMut(&InstanceSnapshot) -> Option<T>,
) -> Option<T> {
    let wait = async {
        loop {
            if let Some(t) = find(r, name).as_ref().and_then(&mut f) {
                return Some(t);
            }
            if r.changed().await.is_err() {
                return None;
            }
        }
    };
    tokio::time::timeout(limit, wait).await.ok().flatten()
}

impl Drill {
    /// Runs the drill: preflight, hand-over, measurements, and the way back if asked.
    pub async fn run(mut self, req: DrillRequest) -> Report {
        let mut report = Report { instance: self.instance.clone(), unit: self.unit.clone(), ..Report::default() };
        let Some(before) = find(&self.instances, &self.instance) else {
            report.refused = Some(format!("instance {} is not running here", self.instance));
            return report;
        };
        if before.state != "MASTER" {
            report.refused = Some(format!(
                "this director is {} for {}, not master: run the drill on the master's host",
                before.state, self.instance
            ));
            return report;
        }
        let own = before.master;
        report.knows.push(format!(
            "this director is MASTER of {} (priority {}, {} virtual addresses)",
            self.instance,
            before.effective_priority,
            before.virtual_addresses.len()
        ));
        if self.unit != self.instance {
            report.knows.push(format!("{} is in sync group {}: the whole group hands over", self.instance, self.unit));
        }
        let sync = self.sync.borrow().clone();
        report.table_before = sync.table;
        let backups: Vec<_> = sync.backups.iter().filter(|b| b.state == "BACKUP" && b.priority > 0).collect();
        match (&sync.interface, &self.followed) {
            (None, _) => report.cannot_know.push(
                "whether a backup is there: without lvs_sync_daemon a backup sends nothing a master hears".into(),
            ),
            (Some(_), followed) => {
                for b in &sync.backups {
                    report.knows.push(format!(
                        "backup tandem at {}: {} at priority {} with {} connections, heard {} ms ago",
                        b.address,
                        b.state,
                        b.priority,
                        b.connections,
                        now_unix_ms().saturating_sub(b.heard_unix_ms)
                    ));
                }
                if let Some(t) = sync.table {
                    report.knows.push(format!("this director's table: {t} connections and templates"));
                }
                if followed.as_deref() != Some(self.instance.as_str()) {
                    report.cannot_know.push(format!(
                        "the backups' state of {} itself: they report the instance their sync daemon follows ({})",
                        self.instance,
                        followed.as_deref().unwrap_or("none")
                    ));
                }
            }
        }
        report
            .cannot_know
            .push("a keepalived backup, or a tandem backup without lvs_sync_daemon, is invisible from here".into());
        report
            .cannot_know
            .push("whether clients reach the backup: the drill watches VRRP and sync, not traffic".into());
        if backups.is_empty() && !req.force {
            report.refused = Some(
                "no healthy backup heard (a backup tandem with lvs_sync_daemon says it is there every 2 s); \
                 --force hands over anyway: with no backup, this director takes the addresses back after one master-down interval"
                    .into(),
            );
            return report;
        }

        // The hand-over.
        let t0 = Instant::now();
        let ms = |t0: Instant| t0.elapsed().as_millis() as u64;
        info!(instance = %self.instance, unit = %self.unit, "failover drill: handing over");
        if self.commands.send(Command::HandOver).is_err() {
            report.refused = Some("the unit is not running".into());
            return report;
        }
        report.held = true;
        report.steps.push(Step { at_ms: 0, what: "priority 0 sent, virtual addresses removed".into() });
        // RFC 5798: the backup takes over after its skew time (under 1 s) once it hears
        // priority 0; a master-down interval is the most it can take.
        let limit = self.advert_interval * 3 + self.advert_interval + MARGIN;
        // The unit takes the command on its next turn: until it has left MASTER, MASTER
        // means not yet, not back again.
        enum Seen {
            Taken(IpAddr),
            CameBack,
        }
        let mut left = false;
        let seen = watch_instance(&mut self.instances, &self.instance, limit, |i| match i.state.as_str() {
            "BACKUP" if i.master.is_some() && i.master != own => i.master.map(Seen::Taken),
            "MASTER" if left => Some(Seen::CameBack),
            "MASTER" => None,
            _ => {
                left = true;
                None
            }
        })
        .await;
        let at = ms(t0);
        match seen {
            Some(Seen::Taken(master)) => {
                report.takeover_ms = Some(at);
                report.new_master = Some(master);
                report.steps.push(Step { at_ms: at, what: format!("{master} advertises as master") });
            }
            Some(Seen::CameBack) | None => {
                let what = if seen.is_some() {
                    warn!(instance = %self.instance, "failover drill: no backup took over");
                    "no router took over: this director's master-down timer ran out and it took the addresses back"
                        .to_string()
                } else {
                    format!("no new master heard within {} ms", limit.as_millis())
                };
                report.steps.push(Step { at_ms: at, what });
                let _ = self.commands.send(Command::Release);
                report.held = false;
                return report;
            }
        }

        // The connection table, as the new master says it.
        if sync.interface.is_some() {
            let until = Instant::now() + TABLE_WAIT;
            loop {
                let said = self.sync.borrow_and_update().master_table;
                if let Some(n) = said {
                    report.new_master_table = Some(n);
                    report
                        .steps
                        .push(Step { at_ms: ms(t0), what: format!("the new master says it holds {n} connections") });
                    break;
                }
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() || tokio::time::timeout(left, self.sync.changed()).await.is_err() {
                    report.steps.push(Step { at_ms: ms(t0), what: "the new master did not say its table size".into() });
                    break;
                }
            }
        }
        report.ok = true;

        if req.back {
            let hold = Duration::try_from_secs_f64(req.hold_s).unwrap_or_default();
            tokio::time::sleep(hold.saturating_sub(t0.elapsed())).await;
            if !self.preempt {
                report.steps.push(Step {
                    at_ms: ms(t0),
                    what: format!(
                        "{} does not preempt (nopreempt): the addresses stay with the new master",
                        self.instance
                    ),
                });
            }
            let t1 = Instant::now();
            let _ = self.commands.send(Command::Release);
            report.held = false;
            report.steps.push(Step { at_ms: ms(t0), what: "hold released".into() });
            if self.preempt {
                let back =
                    watch_instance(&mut self.instances, &self.instance, limit, |i| (i.state == "MASTER").then_some(()))
                        .await;
                if back.is_some() {
                    let b = ms(t1);
                    report.back_ms = Some(b);
                    report.steps.push(Step { at_ms: ms(t0), what: format!("master again, {b} ms after the release") });
                } else {
                    report.ok = false;
                    report.steps.push(Step {
                        at_ms: ms(t0),
                        what: "not master again in time (its priority may not be the higher one)".into(),
                    });
                }
            }
        }
        info!(instance = %self.instance, takeover_ms = ?report.takeover_ms, back_ms = ?report.back_ms, "failover drill done");
        report
    }
}
