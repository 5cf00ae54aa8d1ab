//! The control socket's request line, parsed: the grammar of what a client may ask
//! (`status`, `reload`, `drill [JSON]`), apart from the socket so that it can be tested and
//! fuzzed on its own (the fuzz target `control_request` includes this file).
//!
//! This file uses nothing of the daemon's but serde: keep it that way.

use serde::{Deserialize, Serialize};

/// What `tandem drill` asks.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DrillRequest {
    /// The instance to hand over (default: the one `lvs_sync_daemon` follows, else the only
    /// one).
    pub instance: Option<String>,
    /// Take the addresses back after `hold_s`.
    pub back: bool,
    /// Seconds the backup keeps the addresses before they come back (with `back`).
    pub hold_s: f64,
    /// Hand over even when no backup can be seen.
    pub force: bool,
    /// End a drill's hold (no hand-over).
    pub release: bool,
}

/// One request, as read from the control socket.
#[derive(Debug, Clone, PartialEq)]
pub enum Ask {
    /// `status`: what the daemon knows.
    Status,
    /// `reload`: read the configuration again.
    Reload,
    /// `drill` and its request (the defaults when no JSON follows).
    Drill(DrillRequest),
}

/// Reads one request line (its line end and surrounding blanks ignored).
///
/// # Errors
/// An unknown request, or a drill request whose JSON does not read as one; the message says
/// which, for the log.
pub fn parse(line: &str) -> Result<Ask, String> {
    match line.trim() {
        "status" => Ok(Ask::Status),
        "reload" => Ok(Ask::Reload),
        drill if drill.starts_with("drill") => match drill.trim_start_matches("drill").trim() {
            "" => Ok(Ask::Drill(DrillRequest::default())),
            json => serde_json::from_str(json).map(Ask::Drill).map_err(|e| format!("drill request: {e}")),
        },
        other => Err(format!("unknown request {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_read_as_the_client_sends_them() {
        assert_eq!(parse("status\n"), Ok(Ask::Status));
        assert_eq!(parse(" reload "), Ok(Ask::Reload));
        assert_eq!(parse("drill"), Ok(Ask::Drill(DrillRequest::default())));
        let want = DrillRequest { instance: Some("VI_1".into()), back: true, hold_s: 2.5, ..Default::default() };
        assert_eq!(parse(r#"drill {"instance":"VI_1","back":true,"hold_s":2.5}"#), Ok(Ask::Drill(want)));
    }

    #[test]
    fn anything_else_is_refused_with_what_was_wrong() {
        assert!(parse("stat").is_err_and(|e| e.contains("unknown request")));
        assert!(parse("drill {\"typo\":1}").is_err_and(|e| e.contains("unknown field")));
        assert!(parse("drill {").is_err_and(|e| e.starts_with("drill request:")));
        assert!(parse("").is_err());
    }
}
