//! `track_file` in a vrrp_instance or vrrp_sync_group: the number in the file moves the
//! instance's priority (or, with weight 0, puts it in FAULT), as keepalived's
//! trackers/track_file.c does.
//!
//! One task watches every file some instance or group tracks. It reads them at start, then
//! again whenever inotify reports a write, a rename or a deletion in their directories
//! (keepalived watches the same events: IN_CLOSE_WRITE, IN_MOVED_TO/FROM, IN_DELETE), and
//! every few seconds besides (a directory created after the start, an event queue
//! overflow). A changed value goes out on the trackers' channel; units read it as they read
//! script results. A missing or empty file reads 0; a number out of keepalived's range is
//! logged and the previous value kept.

use super::scripts::TrackEvent;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use std::collections::{BTreeMap, HashMap};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::sync::broadcast;
use tracing::{info, warn};

/// A tracked file's value, as it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileValue {
    /// The `track_file` block's name.
    pub name: String,
    /// The number the file holds.
    pub value: i64,
}

/// How often the files are read again without an event.
const REREAD: Duration = Duration::from_secs(5);

/// The files some instance or sync group of `c` tracks: block name -> path.
pub(crate) fn tracked(c: &tandem_conf::Config) -> BTreeMap<String, PathBuf> {
    let instances = c.vrrp_instances.iter().flat_map(|v| v.track_file.iter());
    let groups = c.vrrp_sync_groups.iter().flat_map(|g| g.track_file.iter());
    instances
        .chain(groups)
        .filter_map(|t| c.track_files.iter().find(|f| f.name == t.name))
        .map(|f| (f.name.clone(), PathBuf::from(&f.file)))
        .collect()
}

/// The value `path` holds now: 0 when it is missing or empty, `None` when out of range.
pub(crate) fn read(path: &Path) -> Option<i64> {
    let contents = std::fs::read(path).unwrap_or_default();
    tandem_checker::probe::file::value(&contents)
}

/// The watching task, restarted when the set of files changes.
pub(crate) struct FileTracker {
    files: BTreeMap<String, PathBuf>,
    task: Option<tokio::task::AbortHandle>,
    events: broadcast::Sender<TrackEvent>,
}

impl FileTracker {
    /// Nothing watched yet; values will go out on `events`.
    pub fn new(events: broadcast::Sender<TrackEvent>) -> FileTracker {
        FileTracker { files: BTreeMap::new(), task: None, events }
    }

    /// Watches exactly `files`. Must be called from within the runtime.
    pub fn follow(&mut self, files: BTreeMap<String, PathBuf>) {
        if files == self.files && (files.is_empty() || self.task.is_some()) {
            return;
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
        self.files = files;
        if self.files.is_empty() {
            return;
        }
        info!(files = self.files.len(), "watching tracked files");
        let (files, events) = (self.files.clone(), self.events.clone());
        self.task = Some(tokio::spawn(watch(files, events)).abort_handle());
    }
}

impl Drop for FileTracker {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Reads every file on each inotify event in their directories and every [`REREAD`];
/// sends the values that changed.
async fn watch(files: BTreeMap<String, PathBuf>, events: broadcast::Sender<TrackEvent>) {
    let mut last: HashMap<String, i64> = files.iter().filter_map(|(n, p)| Some((n.clone(), read(p)?))).collect();
    let inotify = match watcher(&files) {
        Ok(i) => Some(i),
        Err(e) => {
            warn!(error = %e, "cannot watch tracked files with inotify; reading them every {} s", REREAD.as_secs());
            None
        }
    };
    let mut tick = tokio::time::interval(REREAD);
    loop {
        // On the tick every value goes out, changed or not: a unit that read a file just
        // before this task did cannot miss a change between the two reads for long.
        let mut all = false;
        match &inotify {
            Some(fd) => tokio::select! {
                r = fd.readable() => match r {
                    Ok(mut guard) => {
                        // Drain whatever is queued; which file it names does not matter.
                        while fd.get_ref().0.read_events().is_ok() {}
                        guard.clear_ready();
                    }
                    Err(e) => warn!(error = %e, "inotify"),
                },
                _ = tick.tick() => all = true,
            },
            None => {
                tick.tick().await;
                all = true;
            }
        }
        for (name, path) in &files {
            let Some(value) = read(path) else {
                warn!(track_file = %name, file = %path.display(), "number out of range in tracked file; ignored");
                continue;
            };
            let changed = last.get(name) != Some(&value);
            if changed {
                info!(track_file = %name, file = %path.display(), value, "tracked file changed");
                last.insert(name.clone(), value);
            }
            if changed || all {
                let _ = events.send(TrackEvent::File(FileValue { name: name.clone(), value }));
            }
        }
    }
}

/// An inotify descriptor watching the directory of every file.
fn watcher(files: &BTreeMap<String, PathBuf>) -> Result<AsyncFd<Watch>, String> {
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).map_err(|e| e.to_string())?;
    let mut dirs: Vec<&Path> = files.values().map(|p| p.parent().unwrap_or(Path::new("/"))).collect();
    dirs.sort();
    dirs.dedup();
    let mask = AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_CREATE;
    for d in dirs {
        let d = if d.as_os_str().is_empty() { Path::new(".") } else { d };
        if let Err(e) = inotify.add_watch(d, mask) {
            // The periodic read covers it.
            warn!(dir = %d.display(), error = %e, "cannot watch directory of a tracked file");
        }
    }
    // SAFETY: the Inotify owns its descriptor from init to drop and `as_raw_fd` always
    // returns that descriptor; the AsyncFd owns the Watch, so the descriptor stays open and
    // the same for the AsyncFd's whole life (tokio's contract for `register`).
    #[allow(unsafe_code)]
    unsafe { AsyncFd::register(Watch(inotify)) }.map_err(|e| e.to_string())
}

/// The inotify descriptor as tokio's reactor takes it.
struct Watch(Inotify);

impl AsRawFd for Watch {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// What a tracked file's value does to an instance tracking it with `weight` and
/// `reverse`, as keepalived computes it (track_file.c, update_track_file_status and
/// process_update_vrrp_track_file_status): with weight 0 a non-zero value (zero with
/// `reverse`) is a fault; otherwise value × weight (negated with `reverse`), clamped to
/// -254..=253, moves the priority, and -254 is a fault.
pub(crate) fn effect(value: i64, weight: i32, reverse: bool) -> Option<i32> {
    if weight == 0 {
        return if (value != 0) != reverse { None } else { Some(0) };
    }
    let sign = if reverse { -1 } else { 1 };
    let status = (i128::from(value) * i128::from(weight) * sign).clamp(-254, 253);
    // In range by the clamp.
    let status = i32::try_from(status).unwrap_or(-254);
    (status != -254).then_some(status)
}

#[cfg(test)]
mod tests {
    use super::effect;

    #[test]
    fn a_value_moves_priority_or_faults_as_in_keepalived() {
        // weight 0: a switch.
        assert_eq!(effect(0, 0, false), Some(0));
        assert_eq!(effect(3, 0, false), None);
        assert_eq!(effect(0, 0, true), None);
        assert_eq!(effect(-1, 0, true), Some(0));
        // With a weight: value × weight, negated with reverse, clamped; -254 faults.
        assert_eq!(effect(5, 2, false), Some(10));
        assert_eq!(effect(5, 2, true), Some(-10));
        assert_eq!(effect(-20, 10, false), Some(-200));
        assert_eq!(effect(-26, 10, false), None);
        assert_eq!(effect(26, 10, true), None);
        assert_eq!(effect(1_000, 1, false), Some(253));
        assert_eq!(effect(i64::from(i32::MAX) + 1, -254, false), None);
    }
}
