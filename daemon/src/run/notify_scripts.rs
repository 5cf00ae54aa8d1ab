//! Notify scripts (a VRRP instance's or sync group's `notify*`, a real server's `notify_up` /
//! `notify_down`) run in the background, started at once: the process exists before the
//! caller goes on, so that the scripts of the stop (`notify_stop`, STOP) run even though tandem
//! ends right after (a task that had not started its script yet was dropped with the runtime).
//! The stop waits for the scripts still running, a bounded while ([`wait`]); a script that
//! outlasts it runs on, as keepalived's do.

use crate::script::{Outcome, Script};
use std::sync::Mutex;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long one notify script may run before it is killed (its process group).
const TIMEOUT: Duration = Duration::from_secs(60);

/// The tasks waiting for notify scripts (finished ones are dropped as new ones come).
static RUNNING: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

/// Starts `script` now and waits for it in the background; `failed` is called with its
/// outcome when it does not succeed.
pub fn spawn(script: &Script, failed: impl FnOnce(&Outcome) + Send + 'static) {
    let running = match script.start(false) {
        Ok(r) => r,
        Err(outcome) => {
            failed(&outcome);
            return;
        }
    };
    let task = tokio::spawn(async move {
        let outcome = running.finish(TIMEOUT).await;
        if !outcome.success() {
            failed(&outcome);
        }
    });
    if let Ok(mut tasks) = RUNNING.lock() {
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }
}

/// Waits up to `bound` for the notify scripts still running.
pub async fn wait(bound: Duration) {
    let tasks = match RUNNING.lock() {
        Ok(mut tasks) => std::mem::take(&mut *tasks),
        Err(_) => return,
    };
    let deadline = tokio::time::Instant::now() + bound;
    for t in tasks {
        if tokio::time::timeout_at(deadline, t).await.is_err() {
            tracing::warn!("notify scripts still running at the stop: left to finish on their own");
            return;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed set-up step should fail the test
mod tests {
    use super::*;

    /// A script is started before `spawn` returns: it runs even if the runtime (and its task)
    /// is gone at once, as at a stop; `wait` waits for one still running.
    #[test]
    fn a_script_runs_though_the_runtime_ends_at_once_and_the_stop_waits_for_it() {
        let dir = std::env::temp_dir().join(format!("tandem-notify-scripts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mark = dir.join("ran");
        let script = Script::parse(&format!("/bin/sh -c 'sleep 0.3; touch {}'", mark.display())).unwrap();
        {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async { spawn(&script, |_| {}) });
        }
        // The runtime is gone; the script was started and finishes on its own.
        assert!(tandem_tests::netns::wait_until(Duration::from_secs(5), || mark.exists()), "the script never ran");
        // With a runtime that waits: the stop waits for the script to end.
        let _ = std::fs::remove_file(&mark);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            spawn(&script, |_| {});
            wait(Duration::from_secs(5)).await;
        });
        assert!(mark.exists(), "wait returned before the script ended");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
