//! `vrrp_track_process`: how many running processes match moves priorities, as keepalived's
//! core/track_process.c decides it. A process matches by its name (`/proc/PID/stat`'s comm;
//! zombies do not count) or, with parameters, `param_match` or `full_command`, by its
//! command line (`/proc/PID/cmdline`: argv[0], then the parameters exact, partial or
//! initial). The tracked process is up while the count is within `quorum..=quorum_max`;
//! gaining the quorum counts after `fork_delay`, losing it after `terminate_delay`.
//!
//! keepalived follows processes through the kernel's proc connector, which the kernel serves
//! only in the initial network namespace (drivers/connector/connector.c makes its socket in
//! init_net), so it sees no process events when it runs in another one. tandem reads /proc
//! every [`POLL`] instead, wherever it runs: comm only (one small read per process), and the
//! command line only when some tracked process needs it.

use super::scripts::TrackEvent;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use tandem_conf::ParamMatch;
use tokio::sync::broadcast;
use tracing::info;

/// How often /proc is read.
pub(crate) const POLL: Duration = Duration::from_millis(500);

/// Every value goes out this often, changed or not (a unit that judged just before the
/// tracker's first read cannot stay behind).
const REPEAT: Duration = Duration::from_secs(5);

/// A tracked process's state, as it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProcessState {
    /// The `vrrp_track_process` block's name.
    pub name: String,
    /// The quorum is met.
    pub up: bool,
}

/// A `vrrp_track_process` block, ready to match.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spec {
    /// The name (comm) or argv[0] to match.
    process: String,
    /// The parameters, when matched.
    params: Vec<String>,
    /// How they match; None: parameters are not looked at.
    param_match: Option<ParamMatch>,
    /// Match argv[0] rather than comm.
    full_command: bool,
    quorum: u32,
    quorum_max: u32,
    fork_delay: Duration,
    terminate_delay: Duration,
}

impl Spec {
    /// From the block, as keepalived's parser sets it up: parameters imply an exact match of
    /// the command line; `param_match` implies the command line.
    pub fn of(t: &tandem_conf::TrackProcess) -> Spec {
        let params: Vec<String> = t.process.iter().skip(1).cloned().collect();
        let param_match = t.param_match.or((!params.is_empty()).then_some(ParamMatch::Exact));
        let secs = |s: Option<f64>| s.and_then(|s| Duration::try_from_secs_f64(s).ok()).unwrap_or_default();
        let quorum_max = t.quorum_max.unwrap_or(u32::MAX);
        Spec {
            process: t.process.first().cloned().unwrap_or_default(),
            params,
            param_match,
            full_command: t.full_command || param_match.is_some(),
            // quorum_max 0: up while none runs (keepalived sets quorum 0 then).
            quorum: if quorum_max == 0 { 0 } else { t.quorum },
            quorum_max,
            fork_delay: secs(t.fork_delay),
            terminate_delay: secs(t.terminate_delay),
        }
    }

    /// Whether a process with `comm` and command line `argv` matches.
    fn matches(&self, p: &Proc) -> bool {
        if !self.full_command {
            return p.comm.as_deref() == Some(self.process.as_str());
        }
        let Some((argv0, args)) = p.argv.split_first() else { return false };
        if *argv0 != self.process {
            return false;
        }
        match self.param_match {
            None => true,
            Some(m) => params_match(m, &self.params, args),
        }
    }

    /// Whether `count` matching processes meet the quorum.
    fn quorate(&self, count: u32) -> bool {
        (self.quorum..=self.quorum_max).contains(&count)
    }
}

/// keepalived's check_params: the parameters compared as keepalived lays them out, each
/// followed by a NUL.
fn params_match(m: ParamMatch, want: &[String], have: &[String]) -> bool {
    let join = |v: &[String]| v.iter().flat_map(|s| s.bytes().chain([0])).collect::<Vec<u8>>();
    let (want, have) = (join(want), join(have));
    match m {
        ParamMatch::Exact => want == have,
        ParamMatch::Partial => have.starts_with(&want),
        // The last configured parameter may be the start of a longer one.
        ParamMatch::Initial => have.starts_with(want.strip_suffix(&[0]).unwrap_or(&want)),
    }
}

/// One process as /proc shows it: comm (None for a zombie), and the command line when read.
struct Proc {
    comm: Option<String>,
    argv: Vec<String>,
}

/// Every process now; the command line only with `cmdline`.
fn scan(cmdline: bool) -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else { continue };
        // A process may end between the listing and the read: it is then not counted.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let comm = match (stat.find('('), stat.rfind(')')) {
            (Some(a), Some(b)) if a < b => {
                let zombie = stat.get(b + 2..b + 3) == Some("Z");
                (!zombie).then(|| stat.get(a + 1..b).unwrap_or_default().to_string())
            }
            _ => continue,
        };
        let argv = if cmdline && comm.is_some() {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| {
                    b.split(|c| *c == 0)
                        .filter(|s| !s.is_empty())
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect()
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        out.push(Proc { comm, argv });
    }
    out
}

/// Whether each spec's quorum is met now (no delays: the state at start, as keepalived
/// reads /proc at start).
pub(crate) fn now(specs: &BTreeMap<String, Spec>) -> HashMap<String, bool> {
    let procs = scan(specs.values().any(|s| s.full_command));
    specs.iter().map(|(n, s)| (n.clone(), s.quorate(count(s, &procs)))).collect()
}

fn count(s: &Spec, procs: &[Proc]) -> u32 {
    u32::try_from(procs.iter().filter(|p| s.matches(p)).count()).unwrap_or(u32::MAX)
}

/// The processes some instance or sync group of `c` tracks, by block name.
pub(crate) fn tracked(c: &tandem_conf::Config) -> BTreeMap<String, Spec> {
    let instances = c.vrrp_instances.iter().flat_map(|v| v.track_process.iter());
    let groups = c.vrrp_sync_groups.iter().flat_map(|g| g.track_process.iter());
    instances
        .chain(groups)
        .filter_map(|t| c.vrrp_track_processes.iter().find(|p| p.name == t.name))
        .map(|p| (p.name.clone(), Spec::of(p)))
        .collect()
}

/// The polling task, restarted when the tracked processes change.
pub(crate) struct ProcessTracker {
    specs: BTreeMap<String, Spec>,
    task: Option<tokio::task::AbortHandle>,
    events: broadcast::Sender<TrackEvent>,
}

impl ProcessTracker {
    /// Nothing tracked yet; states will go out on `events`.
    pub fn new(events: broadcast::Sender<TrackEvent>) -> ProcessTracker {
        ProcessTracker { specs: BTreeMap::new(), task: None, events }
    }

    /// Tracks exactly `specs`. Must be called from within the runtime.
    pub fn follow(&mut self, specs: BTreeMap<String, Spec>) {
        if specs == self.specs && (specs.is_empty() || self.task.is_some()) {
            return;
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
        self.specs = specs;
        if self.specs.is_empty() {
            return;
        }
        let (specs, events) = (self.specs.clone(), self.events.clone());
        self.task = Some(tokio::spawn(poll(specs, events)).abort_handle());
    }
}

impl Drop for ProcessTracker {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Reads /proc every [`POLL`]; a change of quorum goes out once it has held for its delay.
async fn poll(specs: BTreeMap<String, Spec>, events: broadcast::Sender<TrackEvent>) {
    let cmdline = specs.values().any(|s| s.full_command);
    // name -> (reported state, (changed state, since when) while a delay runs)
    let mut state: HashMap<String, (bool, Option<(bool, Instant)>)> =
        now(&specs).into_iter().map(|(n, up)| (n, (up, None))).collect();
    let mut last_all = Instant::now();
    let mut tick = tokio::time::interval(POLL);
    loop {
        tick.tick().await;
        let procs = tokio::task::spawn_blocking(move || scan(cmdline)).await.unwrap_or_default();
        let t = Instant::now();
        let all = t.duration_since(last_all) >= REPEAT;
        if all {
            last_all = t;
        }
        for (name, spec) in &specs {
            let n = count(spec, &procs);
            let up = spec.quorate(n);
            let entry = state.entry(name.clone()).or_insert((up, None));
            if up == entry.0 {
                entry.1 = None;
            } else {
                let since = match entry.1 {
                    Some((s, at)) if s == up => at,
                    _ => {
                        entry.1 = Some((up, t));
                        t
                    }
                };
                let delay = if up { spec.fork_delay } else { spec.terminate_delay };
                if t.duration_since(since) >= delay {
                    info!(track_process = %name, count = n, "quorum {} for tracked process", if up { "gained" } else { "lost" });
                    *entry = (up, None);
                    let _ = events.send(TrackEvent::Process(ProcessState { name: name.clone(), up }));
                    continue;
                }
            }
            if all {
                let _ = events.send(TrackEvent::Process(ProcessState { name: name.clone(), up: entry.0 }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parameters_match_as_keepalived_compares_them() {
        let have = s(&["-f", "/etc/haproxy.cfg"]);
        assert!(params_match(ParamMatch::Exact, &s(&["-f", "/etc/haproxy.cfg"]), &have));
        assert!(!params_match(ParamMatch::Exact, &s(&["-f"]), &have));
        assert!(params_match(ParamMatch::Partial, &s(&["-f"]), &have));
        assert!(!params_match(ParamMatch::Partial, &s(&["-f", "/etc/hap"]), &have));
        assert!(params_match(ParamMatch::Initial, &s(&["-f", "/etc/hap"]), &have));
        assert!(!params_match(ParamMatch::Initial, &s(&["-x"]), &have));
        assert!(params_match(ParamMatch::Exact, &[], &[]));
        assert!(!params_match(ParamMatch::Exact, &[], &have));
    }

    #[test]
    fn a_spec_matches_comm_or_the_command_line_and_counts_a_quorum() {
        let mut t = tandem_conf::TrackProcess {
            name: "p".into(),
            process: s(&["haproxy"]),
            param_match: None,
            weight: 0,
            weight_reverse: false,
            quorum: 2,
            quorum_max: Some(3),
            fork_delay: None,
            terminate_delay: None,
            full_command: false,
        };
        let by_name = Spec::of(&t);
        let p = Proc { comm: Some("haproxy".into()), argv: s(&["/usr/sbin/haproxy", "-f", "x"]) };
        let zombie = Proc { comm: None, argv: Vec::new() };
        assert!(by_name.matches(&p) && !by_name.matches(&zombie));
        assert!(!by_name.quorate(1) && by_name.quorate(2) && by_name.quorate(3) && !by_name.quorate(4));
        t.process = s(&["/usr/sbin/haproxy", "-f"]);
        t.param_match = Some(ParamMatch::Partial);
        assert!(Spec::of(&t).matches(&p));
        t.param_match = None; // parameters given: exact
        assert!(!Spec::of(&t).matches(&p));
        t.quorum_max = Some(0);
        assert!(Spec::of(&t).quorate(0) && !Spec::of(&t).quorate(1));
    }
}
