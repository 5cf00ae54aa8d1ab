//! keepalived 2.2.7 as a peer in a [`Lab`]: the judge tandem is compared with on the wire.

use crate::netns::{Host, Lab};
use std::io;

/// The keepalived binary (Debian's package).
pub const KEEPALIVED: &str = "/usr/sbin/keepalived";

/// A keepalived running the VRRP part of `config` inside `host`; killed with the lab.
pub struct Keepalived {
    /// Its main process.
    pub pid: u32,
    /// Where its log goes (in the lab's folder).
    pub log: std::path::PathBuf,
}

impl Keepalived {
    /// Writes `config` to the lab's folder and starts keepalived on it in `host`, in the
    /// foreground (`-n`), logging to the console (`-l -D`), VRRP only, with pid files of its
    /// own so that several can run at once.
    pub fn start(lab: &mut Lab, host: &Host, name: &str, config: &str) -> io::Result<Keepalived> {
        let dir = lab.dir().to_path_buf();
        let conf = dir.join(format!("{name}.conf"));
        std::fs::write(&conf, config)?;
        let s = |p: std::path::PathBuf| p.to_string_lossy().into_owned();
        let (conf, pid, vpid) = (s(conf), s(dir.join(format!("{name}.pid"))), s(dir.join(format!("{name}.vrrp.pid"))));
        let log = format!("{name}.log");
        let pid = lab.spawn(host, KEEPALIVED, &["-n", "-l", "-D", "-P", "-f", &conf, "-p", &pid, "-r", &vpid], &log)?;
        Ok(Keepalived { pid, log: dir.join(log) })
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
