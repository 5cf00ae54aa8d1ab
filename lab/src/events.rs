//! What the client reported (one JSON line per request, see [`crate::client`]), and the
//! figures the lab reads from it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One line of the client's output: the client writes it, the lab reads it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The long-lived connections are open.
    Opened {
        /// When (ms since the Unix epoch).
        t: u64,
        /// How many opened and answered.
        conns: u32,
        /// Per real server.
        #[serde(default)]
        servers: BTreeMap<String, u32>,
        /// How many did not.
        #[serde(default)]
        failed: u32,
    },
    /// A short request (a new connection each).
    Short {
        /// Started.
        t: u64,
        /// Ended.
        end: u64,
        /// Answered 200.
        ok: bool,
        /// Who answered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server: Option<String>,
        /// Why it failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A request on long-lived connection `conn`.
    Long {
        /// Started.
        t: u64,
        /// Ended.
        end: u64,
        /// The connection.
        conn: u32,
        /// Answered 200.
        ok: bool,
        /// Who answered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server: Option<String>,
        /// Why it failed (the connection is then closed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The client stopped.
    Stopped {
        /// When.
        t: u64,
    },
}

/// Short requests' outcomes in a window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spread {
    /// Answers per real server.
    pub servers: BTreeMap<String, u32>,
    /// Failed requests.
    pub failed: u32,
    /// Why, by reason.
    pub errors: BTreeMap<String, u32>,
}

impl Spread {
    /// All requests.
    pub fn total(&self) -> u32 {
        self.servers.values().sum::<u32>() + self.failed
    }

    /// Answers by `server`.
    pub fn of(&self, server: &str) -> u32 {
        self.servers.get(server).copied().unwrap_or(0)
    }

    /// "rs1 40, rs2 41, failed 0 (...)".
    pub fn describe(&self) -> String {
        let mut s: Vec<String> = self.servers.iter().map(|(k, v)| format!("{k} {v}")).collect();
        if s.is_empty() {
            s.push("no answers".to_string());
        }
        let mut out = format!("{}, failed {}", s.join(", "), self.failed);
        if !self.errors.is_empty() {
            let why: Vec<String> = self.errors.iter().map(|(k, v)| format!("{v} {k}")).collect();
            out.push_str(&format!(" ({})", why.join(", ")));
        }
        out
    }
}

/// Short requests that started at `from` or later and ended before `to` (ms since the Unix
/// epoch): only whole requests, so a request that began before an event does not count after
/// it.
pub fn short_between(events: &[Event], from: u64, to: u64) -> Spread {
    let mut s = Spread::default();
    for e in events {
        if let Event::Short { t, end, ok, server, error } = e {
            if *t >= from && *end < to {
                if *ok {
                    *s.servers.entry(server.clone().unwrap_or_default()).or_default() += 1;
                } else {
                    s.failed += 1;
                    *s.errors.entry(error.clone().unwrap_or_else(|| "failed".to_string())).or_default() += 1;
                }
            }
        }
    }
    s
}

/// Short requests that were under way at some point in `[from, to)` and failed.
pub fn short_failed_overlapping(events: &[Event], from: u64, to: u64) -> u32 {
    events.iter().filter(|e| matches!(e, Event::Short { t, end, ok: false, .. } if *t < to && *end >= from)).count()
        as u32
}

/// The long-lived connections' fate from `since` on: those alive then (no failure before),
/// and among them those whose every request started at `since` or later succeeded and that
/// answered at least once after `after`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LongFate {
    /// Connections alive at `since`.
    pub alive: u32,
    /// Still answering after `after`.
    pub kept: u32,
    /// Failed since.
    pub lost: u32,
    /// Neither yet: no answer after `after` so far.
    pub pending: u32,
    /// The real server each kept connection answered from last, by server.
    pub servers: BTreeMap<String, u32>,
    /// Kept connections that answered from another real server than before `since`.
    pub moved: u32,
}

/// See [`LongFate`].
pub fn long_fate(events: &[Event], since: u64, after: u64) -> LongFate {
    #[derive(Default)]
    struct Conn {
        dead_before: bool,
        failed_since: bool,
        answered_after: bool,
        server_before: Option<String>,
        server_after: Option<String>,
    }
    let mut conns: BTreeMap<u32, Conn> = BTreeMap::new();
    for e in events {
        if let Event::Long { t, conn, ok, server, .. } = e {
            let c = conns.entry(*conn).or_default();
            if *t < since {
                if *ok {
                    c.server_before.clone_from(server);
                } else {
                    c.dead_before = true;
                }
            } else if !*ok {
                c.failed_since = true;
            } else if *t >= after {
                c.answered_after = true;
                c.server_after.clone_from(server);
            }
        }
    }
    let mut f = LongFate::default();
    for c in conns.values().filter(|c| !c.dead_before && c.server_before.is_some()) {
        f.alive += 1;
        if c.failed_since {
            f.lost += 1;
        } else if c.answered_after {
            f.kept += 1;
            *f.servers.entry(c.server_after.clone().unwrap_or_default()).or_default() += 1;
            if c.server_after != c.server_before {
                f.moved += 1;
            }
        } else {
            f.pending += 1;
        }
    }
    f
}

/// One second of the timeline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Second {
    /// Short answers per real server.
    pub servers: BTreeMap<String, u32>,
    /// Short requests failed.
    pub failed: u32,
    /// Long-lived requests answered.
    pub long_ok: u32,
    /// Long-lived requests failed.
    pub long_failed: u32,
}

/// The client's outcomes per second from `t0`, by the second each request ended in.
pub fn per_second(events: &[Event], t0: u64, seconds: usize) -> Vec<Second> {
    let mut out = vec![Second::default(); seconds];
    for e in events {
        let (end, ok, server, long) = match e {
            Event::Short { end, ok, server, .. } => (*end, *ok, server, false),
            Event::Long { end, ok, server, .. } => (*end, *ok, server, true),
            _ => continue,
        };
        let Some(s) = end.checked_sub(t0).and_then(|d| out.get_mut((d / 1000) as usize)) else { continue };
        match (long, ok) {
            (false, true) => *s.servers.entry(server.clone().unwrap_or_default()).or_default() += 1,
            (false, false) => s.failed += 1,
            (true, true) => s.long_ok += 1,
            (true, false) => s.long_failed += 1,
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn short(t: u64, end: u64, server: Option<&str>) -> Event {
        Event::Short {
            t,
            end,
            ok: server.is_some(),
            server: server.map(String::from),
            error: server.is_none().then(|| "connection refused".to_string()),
        }
    }

    fn long(t: u64, conn: u32, server: Option<&str>) -> Event {
        Event::Long {
            t,
            end: t + 5,
            conn,
            ok: server.is_some(),
            server: server.map(String::from),
            error: server.is_none().then(|| "connection reset".to_string()),
        }
    }

    #[test]
    fn the_client_lines_parse() {
        let e: Event = serde_json::from_str(r#"{"kind":"short","t":5,"end":9,"ok":true,"server":"rs1"}"#).unwrap();
        assert_eq!(e, short(5, 9, Some("rs1")));
        let e: Event =
            serde_json::from_str(r#"{"kind":"opened","t":1,"conns":2,"servers":{"rs1":1,"rs2":1},"failed":0}"#)
                .unwrap();
        assert!(matches!(e, Event::Opened { conns: 2, .. }));
        assert!(serde_json::from_str::<Event>(r#"{"kind":"stopped","t":1}"#).is_ok());
    }

    #[test]
    fn a_window_counts_only_whole_requests() {
        let ev = [
            short(100, 150, Some("rs1")),
            short(190, 210, Some("rs2")),
            short(200, 260, None),
            short(300, 350, Some("rs1")),
        ];
        let s = short_between(&ev, 100, 300);
        assert_eq!((s.of("rs1"), s.of("rs2"), s.failed, s.total()), (1, 1, 1, 3));
        assert_eq!(s.describe(), "rs1 1, rs2 1, failed 1 (1 connection refused)");
        assert_eq!(short_failed_overlapping(&ev, 255, 400), 1);
        assert_eq!(short_failed_overlapping(&ev, 261, 400), 0);
    }

    #[test]
    fn long_lived_connections_are_kept_lost_or_pending() {
        let ev = [
            long(0, 0, Some("rs1")),
            long(0, 1, Some("rs2")),
            long(0, 2, Some("rs1")),
            long(0, 3, None), // dead before: not counted
            long(1000, 0, Some("rs1")),
            long(1100, 1, None),
            long(2000, 0, Some("rs1")),
        ];
        let f = long_fate(&ev, 500, 1500);
        assert_eq!((f.alive, f.kept, f.lost, f.pending, f.moved), (3, 1, 1, 1, 0));
        assert_eq!(f.servers.get("rs1"), Some(&1));
    }

    #[test]
    fn seconds_bucket_by_the_end() {
        let ev = [
            short(0, 999, Some("rs1")),
            short(500, 1000, Some("rs2")),
            short(900, 1500, None),
            long(1900, 0, Some("rs1")),
        ];
        let s = per_second(&ev, 0, 2);
        assert_eq!(s[0].servers.get("rs1"), Some(&1));
        assert_eq!((s[1].servers.get("rs2"), s[1].failed, s[1].long_ok), (Some(&1), 1, 1));
    }
}
