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
        Ok(NotifyFifo { file, path: path.to_path_buf() })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one state change; a full pipe drops the line, as keepalived does.
    pub fn write(&self, kind: &str, name: &str, state: &str, priority: u8) {
        let line = format!("{kind} \"{name}\" {state} {priority}\n");
        match (&self.file).write(line.as_bytes()) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => tracing::warn!(fifo = %self.path.display(), error = %e, "notify FIFO write failed"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed set-up step should fail the test
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
        // A full pipe drops lines instead of blocking.
        for _ in 0..100_000 {
            fifo.write("INSTANCE", "VI_1", "BACKUP", 100);
        }
        // An existing file that is not a FIFO is refused.
        let plain = dir.join("plain");
        std::fs::write(&plain, "").unwrap();
        assert!(NotifyFifo::open(&plain).unwrap_err().contains("is not a FIFO"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
