//! Where `tandem run` logs and how: stderr, as text or JSON lines, at the level asked for.
//!
//! Under systemd's journal (it sets JOURNAL_STREAM for the service's stderr, systemd.exec(5))
//! text lines carry no timestamp of their own: the journal stamps every line already, and
//! `journalctl` would show two.

use crate::cli::{LogFormat, LogLevel};
use tracing::level_filters::LevelFilter;

impl From<LogLevel> for LevelFilter {
    fn from(l: LogLevel) -> LevelFilter {
        match l {
            LogLevel::Error => LevelFilter::ERROR,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Trace => LevelFilter::TRACE,
        }
    }
}

/// True when stderr is the journal's stream: JOURNAL_STREAM names its device and inode.
fn stderr_is_journal() -> bool {
    let Some(v) = std::env::var_os("JOURNAL_STREAM") else { return false };
    let Some((dev, ino)) = v.to_str().and_then(|s| s.split_once(':')) else { return false };
    let Ok(st) = nix::sys::stat::fstat(std::io::stderr()) else { return false };
    dev.parse::<u64>().is_ok_and(|d| d == st.st_dev) && ino.parse::<u64>().is_ok_and(|i| i == st.st_ino)
}

/// Installs the log subscriber for `tandem run`.
pub fn init(level: LogLevel, format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(LevelFilter::from(level))
        .with_target(false)
        // A log line that cannot be written (the reader of a stderr pipe went away: EPIPE) is
        // dropped; the default would report it with eprintln!, which panics when stderr is
        // what failed, and a daemon must not end because its log reader did.
        .log_internal_errors(false);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text if stderr_is_journal() => builder.with_ansi(false).without_time().init(),
        // Colours only on a terminal: a log file gets plain text.
        LogFormat::Text => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
    }
}
