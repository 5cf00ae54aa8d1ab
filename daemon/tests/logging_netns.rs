//! How `tandem run` logs: under the journal (JOURNAL_STREAM names its stderr) text lines carry
//! no timestamp of their own; `--log-format json` writes one JSON object per line;
//! `--log-level warn` keeps the info lines out. Each run is a short one in a network
//! namespace of its own.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::Duration;

const CONF: &str = "vrrp_instance VI_1 {\n    interface v0\n    virtual_router_id 51\n    advert_int 1\n    virtual_ipaddress {\n        192.0.2.10/24\n    }\n}\n";

/// Runs tandem with `args` for a second, then SIGTERM; its stderr, written to a file whose
/// device and inode `journal` puts in JOURNAL_STREAM.
fn run(name: &str, args: &[&str], journal: bool) -> String {
    let dir = std::env::temp_dir().join(format!("tandem-logging-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("tandem.conf");
    std::fs::write(&conf, CONF).unwrap();
    let log = dir.join("stderr");
    let file = std::fs::File::create(&log).unwrap();
    let meta = file.metadata().unwrap();
    let script = format!(
        "ip link set lo up && ip link add v0 type veth peer name v1 && ip addr add 192.0.2.2/24 dev v0 && ip link set v0 up && ip link set v1 up && exec {} run -f {} {}",
        env!("CARGO_BIN_EXE_tandem"),
        conf.display(),
        args.join(" ")
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["-n", "sh", "-c", &script]).stdout(Stdio::null()).stderr(file).env_remove("JOURNAL_STREAM");
    if journal {
        cmd.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
    }
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    text
}

/// The log lines (after `check`'s summary line, which is not a log line).
fn log_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.contains(": ok (")).collect()
}

#[test]
fn under_the_journal_text_lines_have_no_timestamp_and_elsewhere_they_do() {
    let journal = run("journal", &[], true);
    let lines = log_lines(&journal);
    assert!(lines.len() >= 3, "{journal}");
    assert!(
        lines.iter().all(|l| l.trim_start().starts_with("INFO") || l.trim_start().starts_with("WARN")),
        "{journal}"
    );
    let plain = run("plain", &[], false);
    let lines = log_lines(&plain);
    assert!(lines.iter().all(|l| l.starts_with("20") && l.contains('T') && l.contains('Z')), "{plain}");
}

#[test]
fn json_lines_parse_and_the_level_filter_holds() {
    let json = run("json", &["--log-format", "json"], false);
    let lines = log_lines(&json);
    assert!(lines.len() >= 3, "{json}");
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v["timestamp"].is_string() && v["level"].is_string() && v["message"].is_string(), "{l}");
    }
    assert!(
        lines.iter().any(|l| l.contains("\"message\":\"VRRP transition\"") && l.contains("\"instance\":\"VI_1\"")),
        "{json}"
    );
    let quiet = run("quiet", &["--log-level", "warn"], false);
    // The same run logs its transition at info: not at warn.
    assert!(!quiet.contains("VRRP transition") && !quiet.contains("INFO"), "{quiet}");
}
