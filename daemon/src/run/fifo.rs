//! keepalived's notify FIFOs: VRRP's state changes as lines `INSTANCE "VI_1" MASTER 150` or
//! `GROUP "G" BACKUP 0` (keepalived/vrrp/vrrp_notify.c, notify_fifo), and the checkers' as
//! `RS [10.0.0.11]:tcp:80 [192.0.2.10]:tcp:80 DOWN` and `VS [192.0.2.10]:tcp:80 UP`
//! (keepalived/check/ipwrapper.c, notify_fifo_rs / notify_fifo_vs). `notify_fifo` gets both,
//! `vrrp_notify_fifo` VRRP's only, `lvs_notify_fifo` the checkers' only; each may have a
//! script that reads it, started with the FIFO's path as its argument.
//!
//! As keepalived (keepalived/core/notify.c, fifo_open): the FIFO is made when missing, and
//! opened read-write and non-blocking, so that tandem neither waits for a reader nor blocks
//! on a full pipe (a line that does not fit is dropped).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// An open notify FIFO.
#[derive(Debug)]
pub struct NotifyFifo {
    file: std::fs::File,
    path: PathBuf,
    /// Lines dropped because the pipe was full.
    dropped: std::sync::atomic::AtomicU64,
}

impl NotifyFifo {
    /// Makes the FIFO if it does not exist (mode 0644) and opens it.
    pub fn open(path: &Path) -> Result<NotifyFifo, String> {
        if !path.exists() {
            let mode = nix::sys::stat::Mode::from_bits_truncate(0o644);
            nix::unistd::mkfifo(path, mode).map_err(|e| format!("cannot make notify FIFO {}: {e}", path.display()))?;
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| format!("cannot open notify FIFO {}: {e}", path.display()))?;
        let is_fifo = file.metadata().map(|m| std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type())).unwrap_or(false);
        if !is_fifo {
            return Err(format!("notify FIFO {} exists and is not a FIFO", path.display()));
        }
        Ok(NotifyFifo { file, path: path.to_path_buf(), dropped: std::sync::atomic::AtomicU64::new(0) })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lines dropped so far because the pipe was full (nobody reads it, or too slowly).
    #[cfg(test)]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Writes one VRRP state change.
    pub fn write(&self, kind: &str, name: &str, state: &str, priority: u8) {
        self.write_line(&format!("{kind} \"{name}\" {state} {priority}\n"));
    }

    /// Writes one line; a full pipe drops it, as keepalived does. A line is far shorter than
    /// PIPE_BUF, so it goes whole or not at all (pipe(7)).
    pub fn write_line(&self, line: &str) {
        match (&self.file).write(line.as_bytes()) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if self.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
                    tracing::warn!(fifo = %self.path.display(), "notify FIFO full (is its reader running?): lines are dropped");
                }
            }
            Err(e) => tracing::warn!(fifo = %self.path.display(), error = %e, "notify FIFO write failed"),
        }
    }
}

/// A script that reads a FIFO: the keyword that asked for it, its command line, the FIFO.
pub type FifoScript = (&'static str, String, PathBuf);

/// The FIFOs a configuration asks for.
#[derive(Debug, Default)]
pub struct Fifos {
    /// `notify_fifo`: everything.
    all: Option<NotifyFifo>,
    /// `vrrp_notify_fifo`.
    vrrp: Option<NotifyFifo>,
    /// `lvs_notify_fifo`.
    lvs: Option<NotifyFifo>,
}

impl Fifos {
    /// Opens (making them when missing) the FIFOs `g` names; returns them and the scripts to
    /// start, each with its FIFO's path appended, and the keyword that asked for it.
    pub fn open(g: &tandem_conf::GlobalDefs) -> Result<(Fifos, Vec<FifoScript>), String> {
        let mut scripts = Vec::new();
        let mut one = |path: &Option<String>, script: &Option<String>, key: &'static str| {
            let Some(p) = path else { return Ok(None) };
            let f = NotifyFifo::open(Path::new(p))?;
            if let Some(cmd) = script {
                scripts.push((key, cmd.clone(), f.path().to_path_buf()));
            }
            Ok::<_, String>(Some(f))
        };
        let all = one(&g.notify_fifo, &g.notify_fifo_script, "notify_fifo_script")?;
        let vrrp = one(&g.vrrp_notify_fifo, &g.vrrp_notify_fifo_script, "vrrp_notify_fifo_script")?;
        let lvs = one(&g.lvs_notify_fifo, &g.lvs_notify_fifo_script, "lvs_notify_fifo_script")?;
        Ok((Fifos { all, vrrp, lvs }, scripts))
    }

    /// A VRRP state change, to `notify_fifo` and `vrrp_notify_fifo`.
    pub fn vrrp(&self, kind: &str, name: &str, state: &str, priority: u8) {
        for f in self.all.iter().chain(&self.vrrp) {
            f.write(kind, name, state, priority);
        }
    }

    /// A checker's line (`RS ...` / `VS ...`, without the newline), to `notify_fifo` and
    /// `lvs_notify_fifo`.
    pub fn lvs(&self, line: &str) {
        if self.all.is_none() && self.lvs.is_none() {
            return;
        }
        let line = format!("{line}\n");
        for f in self.all.iter().chain(&self.lvs) {
            f.write_line(&line);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // a failed set-up step should fail the test
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn lines_as_keepalived_writes_them_without_a_reader_and_without_blocking() {
        let dir = std::env::temp_dir().join(format!("tandem-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let fifo = NotifyFifo::open(&path).unwrap();
        // No reader yet: the lines wait in the pipe.
        fifo.write("INSTANCE", "VI_1", "MASTER", 150);
        fifo.write("GROUP", "LVS", "BACKUP", 0);
        let mut reader =
            std::fs::OpenOptions::new().read(true).custom_flags(nix::libc::O_NONBLOCK).open(&path).unwrap();
        let mut got = String::new();
        let _ = reader.read_to_string(&mut got);
        assert_eq!(got, "INSTANCE \"VI_1\" MASTER 150\nGROUP \"LVS\" BACKUP 0\n");
        // A full pipe drops lines instead of blocking: the writes end (a blocking write would
        // not, and the bound fails the test instead of hanging it), and every line is either
        // in the pipe, whole, or counted as dropped.
        const N: u64 = 100_000;
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for _ in 0..N {
                fifo.write("INSTANCE", "VI_1", "BACKUP", 100);
            }
            let _ = done_tx.send(fifo);
        });
        let fifo = done_rx.recv_timeout(std::time::Duration::from_secs(20)).expect("the writes blocked on a full pipe");
        let mut piped = String::new();
        let _ = reader.read_to_string(&mut piped);
        let line = "INSTANCE \"VI_1\" BACKUP 100\n";
        assert!(piped.len() % line.len() == 0 && piped.lines().all(|l| format!("{l}\n") == line), "a partial line");
        let in_pipe = (piped.len() / line.len()) as u64;
        assert!(fifo.dropped() > 0, "a 64 KiB pipe cannot hold {N} lines");
        assert_eq!(in_pipe + fifo.dropped(), N, "{in_pipe} in the pipe, {} dropped", fifo.dropped());
        // An existing file that is not a FIFO is refused.
        let plain = dir.join("plain");
        std::fs::write(&plain, "").unwrap();
        assert!(NotifyFifo::open(&plain).unwrap_err().contains("is not a FIFO"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn each_fifo_gets_the_lines_keepalived_sends_it() {
        let dir = std::env::temp_dir().join(format!("tandem-fifos-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = |n: &str| dir.join(n).display().to_string();
        for n in ["all", "vrrp", "lvs"] {
            let _ = std::fs::remove_file(dir.join(n));
        }
        let g = tandem_conf::GlobalDefs {
            notify_fifo: Some(path("all")),
            vrrp_notify_fifo: Some(path("vrrp")),
            lvs_notify_fifo: Some(path("lvs")),
            lvs_notify_fifo_script: Some("/bin/true".into()),
            ..Default::default()
        };
        let (fifos, scripts) = Fifos::open(&g).unwrap();
        assert_eq!(scripts, [("lvs_notify_fifo_script", "/bin/true".to_string(), dir.join("lvs"))]);
        fifos.vrrp("INSTANCE", "VI_1", "MASTER", 150);
        fifos.lvs("RS [10.0.0.11]:tcp:80 [192.0.2.10]:tcp:80 DOWN");
        let read = |n: &str| {
            let mut r =
                std::fs::OpenOptions::new().read(true).custom_flags(nix::libc::O_NONBLOCK).open(dir.join(n)).unwrap();
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        };
        let (v, l) = ("INSTANCE \"VI_1\" MASTER 150\n", "RS [10.0.0.11]:tcp:80 [192.0.2.10]:tcp:80 DOWN\n");
        assert_eq!((read("all"), read("vrrp"), read("lvs")), (format!("{v}{l}"), v.to_string(), l.to_string()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
