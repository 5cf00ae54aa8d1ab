//! keepalived's `vrrp_script`s: each one some unit tracks runs on its own task, every
//! `interval`, and its results go out on a broadcast channel the units read. A reload
//! restarts the scripts whose definition changed, starts new ones and ends those no unit
//! tracks any more; an unchanged script keeps running (and its units keep its up/down state).

use crate::script::{Credentials, Script};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::sync::broadcast;
use tracing::info;

/// One finished run of a vrrp_script.
#[derive(Debug, Clone)]
pub(crate) struct ScriptResult {
    /// The script's name.
    pub name: String,
    /// Exit status 0 within the timeout.
    pub success: bool,
    /// The outcome, for the log.
    pub detail: String,
}

/// What a tracker says, for the units: a vrrp_script's run or a tracked file's new value.
#[derive(Debug, Clone)]
pub(crate) enum TrackEvent {
    /// A vrrp_script finished a run.
    Script(ScriptResult),
    /// A track_file's number changed.
    File(super::file_tracker::FileValue),
    /// A vrrp_track_process gained or lost its quorum.
    Process(super::process_tracker::ProcessState),
}

/// A vrrp_script ready to run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScriptSpec {
    pub script: Script,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    pub init_fail: bool,
}

/// Every vrrp_script of a configuration, ready to run, by name.
pub(crate) type Specs = HashMap<String, ScriptSpec>;

/// The configuration's vrrp_scripts, with their users looked up.
pub(crate) fn specs(c: &tandem_conf::Config) -> Result<Specs, String> {
    let mut out = HashMap::new();
    for s in &c.vrrp_scripts {
        let mut script = Script::parse(&s.script).map_err(|e| format!("vrrp_script {}: {e}", s.name))?;
        let user = s.user.as_ref().or(c.global_defs.script_user.as_ref());
        if let Some(u) = user {
            script.credentials = Some(
                Credentials::lookup(&u.user, u.group.as_deref()).map_err(|e| format!("vrrp_script {}: {e}", s.name))?,
            );
        }
        let interval = Duration::try_from_secs_f64(s.interval).unwrap_or(Duration::from_secs(1));
        let timeout = s.timeout.and_then(|t| Duration::try_from_secs_f64(t).ok()).unwrap_or(interval);
        out.insert(
            s.name.clone(),
            ScriptSpec { script, interval, timeout, rise: s.rise, fall: s.fall, init_fail: s.init_fail },
        );
    }
    Ok(out)
}

/// The scripts some instance or sync group of `c` tracks.
pub(crate) fn tracked(c: &tandem_conf::Config) -> HashSet<String> {
    let instances = c.vrrp_instances.iter().flat_map(|v| v.track_script.iter());
    let groups = c.vrrp_sync_groups.iter().flat_map(|g| g.track_script.iter());
    instances.chain(groups).map(|t| t.name.clone()).collect()
}

/// The running scripts.
pub(crate) struct Runners {
    running: HashMap<String, (ScriptSpec, tokio::task::AbortHandle)>,
    results: broadcast::Sender<TrackEvent>,
}

impl Runners {
    /// No script runs yet; results will go out on `results`.
    pub fn new(results: broadcast::Sender<TrackEvent>) -> Runners {
        Runners { running: HashMap::new(), results }
    }

    /// Runs exactly the tracked scripts of `specs`: unchanged ones go on, changed ones
    /// restart, the others end. Must be called from within the runtime.
    pub fn follow(&mut self, specs: &Specs, tracked: &HashSet<String>) {
        self.running.retain(|name, (spec, task)| {
            let keep = tracked.contains(name) && specs.get(name) == Some(spec);
            if !keep {
                info!(script = %name, "vrrp_script ends (changed or no longer tracked)");
                task.abort();
            }
            keep
        });
        for (name, spec) in specs.iter().filter(|(n, _)| tracked.contains(*n)) {
            if self.running.contains_key(name) {
                continue;
            }
            let (task_name, task_spec, tx) = (name.clone(), spec.clone(), self.results.clone());
            let task = tokio::spawn(async move {
                loop {
                    let outcome = task_spec.script.run(task_spec.timeout).await;
                    let _ = tx.send(TrackEvent::Script(ScriptResult {
                        name: task_name.clone(),
                        success: outcome.success(),
                        detail: outcome.to_string(),
                    }));
                    tokio::time::sleep(task_spec.interval).await;
                }
            });
            self.running.insert(name.clone(), (spec.clone(), task.abort_handle()));
        }
    }
}
