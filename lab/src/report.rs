//! What the lab prints at the end of a scenario and of the run: the per-second timeline, the
//! summary table, and the logs of a scenario that failed.

use crate::events::{self, Event};
use crate::lab;
use crate::observe::name;
use std::path::{Path, PathBuf};

/// A named instant of a run, for the timeline.
#[derive(Debug, Clone)]
pub struct Mark {
    /// When (ms since the Unix epoch).
    pub at: u64,
    /// What happened.
    pub what: String,
}

/// The timeline's lines from `t0` to `end` (ms since the Unix epoch): per second, the short
/// answers per real server, the failures, the long-lived requests answered and failed, who
/// held the VIP at the second's end (`holders`: changes as (ms, director)), and the marks.
pub fn timeline(events: &[Event], marks: &[Mark], holders: &[(u64, u8)], t0: u64, end: u64) -> Vec<String> {
    let seconds = (end.saturating_sub(t0) / 1000 + 1) as usize;
    let mut out = vec!["     s   rs1  rs2  fail | long ok  fail | VIP        | what happened".to_string()];
    for (i, r) in events::per_second(events, t0, seconds).iter().enumerate() {
        let (a, b) = (t0 + i as u64 * 1000, t0 + (i as u64 + 1) * 1000);
        let h = holders.iter().rfind(|(t, _)| *t < b).map_or(0, |(_, h)| *h);
        let what: Vec<&str> = marks.iter().filter(|m| m.at >= a && m.at < b).map(|m| m.what.as_str()).collect();
        out.push(format!(
            "  {i:4}  {:4} {:4}  {:4} | {:7} {:5} | {:10} | {}",
            r.servers.get("rs1").copied().unwrap_or(0),
            r.servers.get("rs2").copied().unwrap_or(0),
            r.failed,
            r.long_ok,
            r.long_failed,
            name(h),
            what.join("; ")
        ));
    }
    out
}

/// What the summary table's columns mean.
pub const LEGEND: &str = "  (spread: answers from rs1/rs2; failed: requests lost while the dead web server was still
   in the table; rs out / rs back: the health check taking it out / putting it back; takeover:
   the master's death to director2 holding the VIP; kept: long-lived connections alive after
   it; resync: the table the returning director got; back: its start to holding the VIP again)";

/// The summary: one row per scenario, its figures and how many expectations held.
pub fn summary_table(reports: &[(&str, lab::Report)]) -> Vec<String> {
    let mut head: Vec<String> = vec!["scenario".to_string()];
    head.extend(lab::COLUMNS.iter().map(|c| c.to_string()));
    head.push("expectations".to_string());
    let mut rows = vec![head];
    for (name, r) in reports {
        let mut row = vec![name.to_string()];
        row.extend(lab::COLUMNS.iter().map(|c| r.figures.get(c).cloned().unwrap_or_else(|| "-".to_string())));
        let held = r.checks.iter().filter(|c| c.ok).count();
        row.push(format!("{held}/{}{}", r.checks.len(), if held == r.checks.len() { " ok" } else { " FAIL" }));
        rows.push(row);
    }
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|i| rows.iter().map(|r| r.get(i).map_or(0, String::len)).max().unwrap_or(0)).collect();
    rows.iter()
        .map(|r| {
            let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:w$}")).collect();
            format!("  {}", cells.join("  ").trim_end())
        })
        .collect()
}

/// The logs a failed scenario leaves: their last lines, for the reader.
pub fn tail_logs(work: &Path, scenario: &str, lines: usize) -> String {
    let mut out = String::new();
    let Ok(dir) = std::fs::read_dir(work) else { return out };
    let mut names: Vec<PathBuf> = dir
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&format!("{scenario}-d"))))
        .collect();
    names.sort();
    for p in names {
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        out.push_str(&format!("--- {} (last {lines} lines)\n", p.display()));
        for l in &all[all.len().saturating_sub(lines)..] {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}
