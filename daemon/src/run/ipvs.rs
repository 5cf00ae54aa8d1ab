//! Keeping the kernel's IPVS table as the configuration wants it.
//!
//! tandem keeps a model of the kernel's table (docs/ARCHITECTURE.md, Invariants, "Where
//! state lives"): filled by a dump at start, updated by every change it applies, and
//! replaced by the dump of each reconcile period, which repairs drift (a hand edit with
//! ipvsadm is undone and logged). A reload diffs the new desired table against the model
//! and applies only the difference, without reading the kernel's table first; nothing is
//! ever flushed. Only the services the configuration declares (now, or earlier in this run)
//! are touched, unless `lvs_flush` gives tandem the whole table. On stop it removes the
//! services it manages, unless told to leave them (`--dont-release-ipvs`, as keepalived's
//! option).

use super::ipvs_refusals::{Refusal, Refusals};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tandem_ipvs::{Change, Ipvs, Scope, ServiceKey, Table, Timeouts, diff};
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

/// How often the kernel's table is compared with the desired one, at most.
pub const RECONCILE_PERIOD: Duration = Duration::from_secs(5);

/// A comparison with a fresh dump comes at least this many times its own duration after the
/// last, so that it takes at most 0.4 % of a CPU (keepalived, which never compares, spends
/// 1.5-4 % of one in user time on 2,000 TCP checks a second in the VM benchmark). Reading
/// 10,000 destinations took 390 ms in the emulated VM, where a dump every 5 s was ~8 % of a
/// CPU; a table of a few services is read in milliseconds and still compared every
/// [`RECONCILE_PERIOD`].
const DUMP_SPACING: u32 = 250;

/// What the configuration wants of IPVS.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The services and destinations.
    pub desired: Table,
    /// `lvs_flush`: tandem owns the whole table.
    pub whole: bool,
    /// `lvs_flush_onstop`: at stop, every service goes, not only tandem's (`ipvsadm -C`).
    pub flush_on_stop: bool,
    /// `lvs_timeouts`, set at start and whenever they change.
    pub timeouts: Option<Timeouts>,
    /// Real servers whose checks pass, and real servers configured (for the status line).
    pub real_servers: (usize, usize),
}

/// Why a round runs, for its log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    Start,
    Drift,
    /// A new desired state: a reload or a health transition.
    Reload,
}

/// The socket, the model of the kernel's table and what tandem manages.
struct Keeper {
    ipvs: Option<Arc<Ipvs>>,
    /// The kernel's table as last read and changed; `None` when unknown (re-read first).
    model: Option<Table>,
    /// Services declared now or earlier in this run: tandem may delete these.
    managed: BTreeSet<ServiceKey>,
    /// The timeouts last set, so that a health transition does not set them again.
    timeouts_set: Option<Timeouts>,
    /// How long the last dump of the kernel's table took.
    last_dump: Duration,
    /// The changes the kernel refused at the last round that tried them.
    refusals: Refusals,
}

impl Keeper {
    fn socket(&mut self) -> Result<Arc<Ipvs>, String> {
        if let Some(s) = &self.ipvs {
            return Ok(s.clone());
        }
        let s = Arc::new(Ipvs::open().map_err(|e| e.to_string())?);
        self.ipvs = Some(s.clone());
        Ok(s)
    }

    /// One round: (re-)read the kernel when asked or when the model is unknown, diff, apply,
    /// update the model. Returns the number of changes applied.
    fn round(&mut self, target: &Target, round: Round) -> Result<usize, String> {
        let started = Instant::now();
        // A configuration without virtual servers (VRRP only, as `keepalived -P`) has nothing
        // for IPVS, which may not even be loaded: no socket, no error every period.
        if target.desired.services.is_empty() && !target.whole && target.timeouts.is_none() && self.managed.is_empty() {
            return Ok(0);
        }
        let ipvs = self.socket()?;
        if round != Round::Reload || self.model.is_none() {
            let dump = Instant::now();
            self.model = Some(ipvs.dump().map_err(|e| e.to_string())?);
            self.last_dump = dump.elapsed();
        }
        if let Some(t) = target.timeouts.filter(|t| self.timeouts_set != Some(*t)) {
            ipvs.set_timeouts(&t).map_err(|e| e.to_string())?;
            self.timeouts_set = Some(t);
        }
        self.managed.extend(target.desired.services.keys().copied());
        let model = self.model.get_or_insert_with(Table::default);
        let scope = if target.whole { Scope::Whole } else { Scope::Declared(&self.managed) };
        let changes = diff(model, &target.desired, scope);
        if changes.is_empty() {
            // What the kernel refused is no longer needed: the configuration dropped it, or the
            // table has it now.
            say_refusals(&self.refusals.round(Vec::new(), super::snapshot::now_unix_ms()), |_| false);
            let (services, dests) = model.size();
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            debug!(services, dests, ms = format_args!("{ms:.1}"), "IPVS in step with the configuration");
            return Ok(0);
        }
        if round == Round::Drift {
            warn!(changes = changes.len(), "IPVS table drifted from the configuration (edited by hand?); repairing");
        }
        let refused = match ipvs.apply_all(&changes) {
            Ok(r) => r,
            Err(e) => {
                // The socket failed mid-way: what the kernel now has is unknown.
                self.model = None;
                self.ipvs = None;
                self.timeouts_set = None;
                return Err(e.to_string());
            }
        };
        let mut refused_at = refused.iter().map(|(i, _)| *i).peekable();
        for (i, c) in changes.iter().enumerate() {
            if refused_at.peek() == Some(&i) {
                refused_at.next();
                continue;
            }
            tandem_ipvs::apply(model, c);
            if changes.len() <= 50 {
                info!(change = %c, "IPVS");
            }
        }
        // A destination of a service the kernel refused to add is refused in turn (ESRCH, no
        // such service): the service's refusal says why, the destination's would only repeat
        // it less clearly.
        let services_refused: BTreeSet<ServiceKey> = refused
            .iter()
            .filter_map(|(i, _)| match changes.get(*i) {
                Some(Change::AddService(k, _)) => Some(*k),
                _ => None,
            })
            .collect();
        let follows = |c: &Change| match c {
            Change::AddDest(k, ..) | Change::EditDest(k, ..) | Change::DelDest(k, ..) => services_refused.contains(k),
            _ => false,
        };
        let tried = self.refusals.round(
            refused
                .iter()
                .filter_map(|(i, e)| changes.get(*i).filter(|c| !follows(c)).map(|c| (c.to_string(), e.to_string())))
                .collect(),
            super::snapshot::now_unix_ms(),
        );
        if !refused.is_empty() && tried.started.is_empty() {
            debug!(refused = refused.len(), "IPVS still refuses what it refused before");
        }
        // The changes applied now, in words, to tell a refusal the kernel ended from one no
        // longer asked for: built only when a refusal ended (a round can hold thousands).
        let applied: HashSet<String> = if tried.ended.is_empty() {
            HashSet::new()
        } else {
            let refused_at: HashSet<usize> = refused.iter().map(|(i, _)| *i).collect();
            changes.iter().enumerate().filter(|(i, _)| !refused_at.contains(i)).map(|(_, c)| c.to_string()).collect()
        };
        say_refusals(&tried, |c| applied.contains(c));
        // A deleted service is no longer tandem's concern once it is gone.
        let desired = &target.desired;
        self.managed.retain(|k| desired.services.contains_key(k) || model.services.contains_key(k));
        let applied = changes.len() - refused.len();
        info!(
            applied,
            refused = refused.len(),
            ms = format_args!("{:.1}", started.elapsed().as_secs_f64() * 1000.0),
            "IPVS {}",
            match round {
                Round::Start => "programmed",
                Round::Drift => "repaired",
                Round::Reload => "updated",
            }
        );
        Ok(applied)
    }

    /// At stop: the services tandem configured, or with `flush` every service the kernel has
    /// (keepalived's lvs_flush_onstop, check/ipwrapper.c clear_services).
    fn remove_managed(&mut self, flush: bool) -> Result<(), String> {
        if self.managed.is_empty() && !flush {
            return Ok(());
        }
        let ipvs = self.socket()?;
        let changes: Vec<Change> = if flush {
            ipvs.dump().map_err(|e| e.to_string())?.services.keys().map(|k| Change::DelService(*k)).collect()
        } else {
            self.managed.iter().map(|k| Change::DelService(*k)).collect()
        };
        for (_, e) in ipvs.apply_all(&changes).map_err(|e| e.to_string())? {
            warn!(error = %e, "IPVS service not removed at stop");
        }
        info!(services = changes.len(), "IPVS services removed at stop");
        Ok(())
    }
}

/// Logs what a round's refusals changed: each new one as an error, each ended one as taken
/// (`applied` says whether its change went in this round) or no longer needed.
fn say_refusals(round: &super::ipvs_refusals::Round, applied: impl Fn(&str) -> bool) {
    for r in &round.started {
        error!(
            error = %r.error,
            "IPVS refused a change; retrying it at every reconcile, quietly until it is taken (status: ipvs_refused)"
        );
    }
    for r in &round.ended {
        if applied(&r.change) {
            info!(change = %r.change, refused = r.times, "IPVS took a change it had refused");
        } else {
            info!(change = %r.change, refused = r.times, "a change IPVS refused is no longer needed");
        }
    }
}

/// Applies the target now, then keeps it applied: every reconcile period against a fresh
/// dump, and at once against the model whenever `targets` changes (a reload). Until `stop`.
/// What the kernel refuses is published on `refused_tx` after every round.
pub async fn keep(
    mut targets: watch::Receiver<Arc<Target>>,
    release: bool,
    mut stop: watch::Receiver<bool>,
    refused_tx: watch::Sender<Vec<Refusal>>,
) -> Result<(), String> {
    let mut keeper = Keeper {
        ipvs: None,
        model: None,
        managed: BTreeSet::new(),
        timeouts_set: None,
        last_dump: Duration::ZERO,
        refusals: Refusals::default(),
    };
    // The error of the last round, when it failed: logged when it starts or changes, and
    // when a round succeeds again; the rounds between retry quietly.
    let mut failing: Option<String> = None;
    let mut round = Round::Start;
    // The next comparison with a fresh dump: a period after the last one, however often the
    // target changes in between (health transitions every few seconds would otherwise put
    // the drift repair off for ever).
    let mut next_dump = tokio::time::Instant::now();
    loop {
        let started = tokio::time::Instant::now();
        let target = targets.borrow_and_update().clone();
        let (k, result) = super::blocking(keeper, move |k| k.round(&target, round)).await?;
        keeper = k;
        if round != Round::Reload {
            // The start's dump carries one-off costs (resolving the netlink family, a cold
            // kernel cache, a machine busy booting): spaced by it, the first drift check could
            // come many periods late (a 70 ms first dump in a loaded VM put it 17 s out). The
            // first check is one period after the start; later ones are spaced by their own
            // dumps.
            let spacing = match round {
                Round::Start => RECONCILE_PERIOD,
                _ => keeper.last_dump.saturating_mul(DUMP_SPACING).max(RECONCILE_PERIOD),
            };
            next_dump = started + spacing;
            // A dump's parsed replies and the model it replaced (megabytes for thousands of
            // destinations) are freed by now. Not after a reload round: health transitions
            // bring those up to ten times a second, and they free little.
            super::heap::give_back_freed();
        }
        match result {
            // As keepalived, whose VRRP goes on when its checker cannot reach IPVS: say so
            // loudly and try again every period (the module may be loaded meanwhile).
            Err(e) if failing.as_ref() != Some(&e) => {
                error!(error = %e, "cannot program IPVS; retrying every {} s", RECONCILE_PERIOD.as_secs());
                failing = Some(e);
            }
            Err(e) => debug!(error = %e, "cannot program IPVS yet"),
            Ok(_) => {
                if failing.take().is_some() {
                    info!("IPVS programmed again");
                }
            }
        }
        super::publish(&refused_tx, &keeper.refusals.list());
        tokio::select! {
            () = tokio::time::sleep_until(next_dump) => round = Round::Drift,
            changed = targets.changed() => {
                if changed.is_err() {
                    break;
                }
                round = Round::Reload;
            }
            _ = stop.changed() => break,
        }
    }
    if release {
        let flush_on_stop = targets.borrow().flush_on_stop;
        let (_, r) = super::blocking(keeper, move |k| k.remove_managed(flush_on_stop)).await?;
        if let Err(e) = r {
            warn!(error = %e, "cannot remove IPVS services at stop");
        }
    }
    Ok(())
}
