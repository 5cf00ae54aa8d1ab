//! The lab's output: narration lines, and on a terminal a live status line kept below them.

use std::io::Write;
use std::sync::Mutex;

/// Where the lab writes.
#[derive(Debug, Default)]
pub struct Console {
    /// A terminal: keep a live line under the narration.
    live: bool,
    /// The live line shown now, if any.
    shown: Mutex<bool>,
}

impl Console {
    /// A console; `live` when a person watches a terminal.
    pub fn new(live: bool) -> Console {
        Console { live, shown: Mutex::new(false) }
    }

    /// Whether the live line is on.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// A narration line (the live line, if shown, is cleared first and redrawn by the next
    /// [`Console::status`]).
    pub fn say(&self, line: &str) {
        let mut out = std::io::stdout().lock();
        if let Ok(mut shown) = self.shown.lock() {
            if *shown {
                let _ = write!(out, "\r\x1b[K");
                *shown = false;
            }
        }
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    /// A heading.
    pub fn heading(&self, line: &str) {
        if self.live {
            self.say(&format!("\n\x1b[1m== {line}\x1b[0m"));
        } else {
            self.say(&format!("\n== {line}"));
        }
    }

    /// Replaces the live line (terminals only).
    pub fn status(&self, line: &str) {
        if !self.live {
            return;
        }
        let mut out = std::io::stdout().lock();
        if let Ok(mut shown) = self.shown.lock() {
            let _ = write!(out, "\r\x1b[K{line}");
            *shown = true;
        }
        let _ = out.flush();
    }
}
