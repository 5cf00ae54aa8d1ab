//! keepalived 2.2.7 as a peer in a [`Lab`]: the judge tandem is compared with on the wire.

use crate::netns::{Host, Lab};
use std::io;

/// The keepalived binary (Debian's package).
pub const KEEPALIVED: &str = "/usr/sbin/keepalived";

/// The version the interop and configuration-judge tests are written against (Debian 12's).
pub const JUDGE_VERSION: &str = "2.2.7";

/// The installed keepalived's version line, if it is [`JUDGE_VERSION`]; otherwise an error
/// that says which one was found: another version behaves differently on the wire and in
/// what it accepts, and the tests' expectations would not mean what they say.
pub fn judge() -> io::Result<String> {
    static SEEN: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    let seen = SEEN.get_or_init(|| {
        let out = std::process::Command::new(KEEPALIVED)
            .arg("--version")
            .output()
            .map_err(|e| format!("{KEEPALIVED}: {e} (scripts/test installs Debian's keepalived)"))?;
        // keepalived prints its version on stderr.
        let text = String::from_utf8_lossy(if out.stderr.is_empty() { &out.stdout } else { &out.stderr }).into_owned();
        let line = text.lines().next().unwrap_or_default().trim().to_string();
        if line.starts_with(&format!("Keepalived v{JUDGE_VERSION} ")) {
            Ok(line)
        } else {
            Err(format!("the tests judge against keepalived {JUDGE_VERSION}; {KEEPALIVED} says {line:?}"))
        }
    });
    seen.clone().map_err(io::Error::other)
}

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
        judge()?;
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_judge_is_keepalived_2_2_7() {
        let line = super::judge().unwrap_or_else(|e| panic!("{e}"));
        assert!(line.contains("v2.2.7"), "{line}");
    }
}
