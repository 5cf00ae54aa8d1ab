//! keepalived 2.2.7 as a peer in a [`Lab`]: the judge tandem is compared with on the wire.

use crate::netns::{Host, Lab, wait_until};
use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Its `TMPDIR`, where it writes its dumps, when started with one of its own
    /// ([`Keepalived::start_with_tmpdir`]).
    pub tmpdir: Option<PathBuf>,
}

/// keepalived's counters as its SIGUSR2 dump (`keepalived.stats`) gives them: instance ->
/// `Section.Counter` (`Advertisements.Received`, `Packet Errors.Length`, `Authentication
/// Errors.Type Mismatch`, `Became master`...) -> value.
pub type Stats = BTreeMap<String, BTreeMap<String, u64>>;

/// Reads a `keepalived.stats` file (keepalived/vrrp/vrrp_print.c, vrrp_print_stats): a
/// `VRRP Instance: NAME` line, then two-space lines that are counters (`  Became master: 1`)
/// or section heads (`  Packet Errors:`), and four-space counters of the last section.
pub fn parse_stats(text: &str) -> Stats {
    let mut out = Stats::new();
    let (mut instance, mut section) = (None::<String>, String::new());
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("VRRP Instance: ") {
            instance = Some(name.trim().to_string());
            out.entry(name.trim().to_string()).or_default();
            continue;
        }
        let Some(i) = &instance else { continue };
        let deep = line.starts_with("    ");
        let Some((key, value)) = line.trim().split_once(':') else { continue };
        let value = value.trim();
        if value.is_empty() {
            section = key.to_string();
            continue;
        }
        let Ok(n) = value.parse::<u64>() else { continue };
        let key = if deep { format!("{section}.{key}") } else { key.to_string() };
        out.entry(i.clone()).or_default().insert(key, n);
    }
    out
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
        Ok(Keepalived { pid, log: dir.join(log), tmpdir: None })
    }

    /// As [`Keepalived::start`], with a `TMPDIR` of its own (`NAME.tmp` in the lab's folder):
    /// keepalived 2.2.7 writes its dumps to `$TMPDIR/keepalived.stats` (`.data`, `.json`),
    /// `/tmp` without it, whatever the namespace (lib/utils.c, make_tmp_filename), so two
    /// keepalived in one test would overwrite each other's there.
    pub fn start_with_tmpdir(lab: &mut Lab, host: &Host, name: &str, config: &str) -> io::Result<Keepalived> {
        judge()?;
        let dir = lab.dir().to_path_buf();
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::create_dir_all(&tmp)?;
        let conf = dir.join(format!("{name}.conf"));
        std::fs::write(&conf, config)?;
        let s = |p: &std::path::Path| p.to_string_lossy().into_owned();
        let (conf, pid, vpid) =
            (s(&conf), s(&dir.join(format!("{name}.pid"))), s(&dir.join(format!("{name}.vrrp.pid"))));
        let env = format!("TMPDIR={}", s(&tmp));
        let log = format!("{name}.log");
        let args = [&env, KEEPALIVED, "-n", "-l", "-D", "-P", "-f", &conf, "-p", &pid, "-r", &vpid];
        let pid = lab.spawn(host, "env", &args, &log)?;
        Ok(Keepalived { pid, log: dir.join(log), tmpdir: Some(tmp) })
    }

    /// Its counters now: SIGUSR2 (keepalived's STATS signal, passed by its parent process to
    /// the VRRP process) makes it write `$TMPDIR/keepalived.stats`, which is read once every
    /// instance in it is whole. Needs [`Keepalived::start_with_tmpdir`].
    pub fn stats(&self, lab: &Lab, instances: usize) -> io::Result<Stats> {
        let Some(tmp) = &self.tmpdir else { return Err(io::Error::other("started without a TMPDIR of its own")) };
        let file = tmp.join("keepalived.stats");
        let _ = std::fs::remove_file(&file);
        lab.signal(self.pid, "USR2")?;
        let mut got = Stats::new();
        let whole = wait_until(Duration::from_secs(5), || {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            got = parse_stats(&text);
            got.len() == instances && got.values().all(|c| c.contains_key("Priority Zero.Sent"))
        });
        if whole { Ok(got) } else { Err(io::Error::other(format!("{}: no whole stats file: {got:?}", file.display()))) }
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_stats_dump_reads_as_sections_and_counters() {
        let text = "VRRP Instance: VI_1\n  Advertisements:\n    Received: 7\n    Sent: 0\n  Became master: 1\n  Released master: 0\n  Packet Errors:\n    Length: 2\n    TTL: 3\n  Authentication Errors:\n    Invalid Type: 4\n  Priority Zero:\n    Received: 0\n    Sent: 5\nVRRP Instance: VI_2\n  Advertisements:\n    Received: 1\n";
        let s = super::parse_stats(text);
        let one = &s["VI_1"];
        assert_eq!(one["Advertisements.Received"], 7);
        assert_eq!(one["Became master"], 1);
        assert_eq!(one["Packet Errors.TTL"], 3);
        assert_eq!(one["Authentication Errors.Invalid Type"], 4);
        assert_eq!(one["Priority Zero.Sent"], 5);
        assert_eq!(s["VI_2"]["Advertisements.Received"], 1);
    }

    #[test]
    fn the_judge_is_keepalived_2_2_7() {
        let line = super::judge().unwrap_or_else(|e| panic!("{e}"));
        assert!(line.contains("v2.2.7"), "{line}");
    }
}
