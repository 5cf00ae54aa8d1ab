//! keepalived's notify FIFO (`notify_fifo` / `vrrp_notify_fifo`): every state change as a
//! line `INSTANCE "VI_1" MASTER 150` or `GROUP "G" BACKUP 0`
//! (keepalived/vrrp/vrrp_notify.c, notify_fifo).
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

    /// Writes one state change; a full pipe drops the line, as keepalived does. A line is
    /// far shorter than PIPE_BUF, so it goes whole or not at all (pipe(7)).
    pub fn write(&self, kind: &str, name: &str, state: &str, priority: u8) {
        let line = format!("{kind} \"{name}\" {state} {priority}\n");
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
}
