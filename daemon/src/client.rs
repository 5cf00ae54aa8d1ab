//! `tandem status` and `tandem reload`: ask the running daemon over its control socket
//! (see `run::control`) and print the answer.

use serde_json::Value;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Sends `request` and returns the daemon's JSON answer.
pub fn ask(path: &Path, request: &str) -> Result<Value, String> {
    // A reload with thousands of checks to build, or a status with a large table, takes a
    // while; anything past a minute is a daemon that does not answer.
    ask_within(path, request, Duration::from_secs(60))
}

/// [`ask`], waiting up to `wait` for the answer.
pub fn ask_within(path: &Path, request: &str, wait: Duration) -> Result<Value, String> {
    let mut s = UnixStream::connect(path)
        .map_err(|e| format!("cannot reach tandem on {}: {e} (is it running, and are you root?)", path.display()))?;
    s.set_read_timeout(Some(wait)).map_err(|e| e.to_string())?;
    s.write_all(format!("{request}\n").as_bytes()).map_err(|e| e.to_string())?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).map_err(|e| format!("no answer from tandem on {}: {e}", path.display()))?;
    serde_json::from_str(&answer).map_err(|e| format!("tandem's answer is not JSON ({e}): {answer}"))
}

/// How long ago `at` (ms since the Unix epoch) was, from `now`, in words.
pub(crate) fn ago(at: u64, now: u64) -> String {
    let s = now.saturating_sub(at) / 1000;
    match s {
        0..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        _ if s < 172_800 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or("?")
}

/// A drill report as a person reads it.
pub fn render_drill(v: &Value, release: bool) -> String {
    let mut out = String::new();
    if release {
        let _ = writeln!(out, "drill hold released: this director preempts again as configured");
        return out;
    }
    let _ = writeln!(out, "Failover drill of {} (unit {})", str_of(&v["instance"]), str_of(&v["unit"]));
    let lists = [("Known before the hand-over:", "knows"), ("Not knowable from this director:", "cannot_know")];
    for (title, key) in lists {
        let items = v[key].as_array().map_or(&[][..], Vec::as_slice);
        if !items.is_empty() {
            let _ = writeln!(out, "{title}");
        }
        for k in items {
            let _ = writeln!(out, "  - {}", str_of(k));
        }
    }
    if let Some(why) = v["refused"].as_str() {
        let _ = writeln!(out, "REFUSED: {why}");
        return out;
    }
    let _ = writeln!(out, "Steps:");
    for s in v["steps"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "  {:>6} ms  {}", s["at_ms"].as_u64().unwrap_or(0), str_of(&s["what"]));
    }
    let _ = writeln!(out, "Result:");
    match v["takeover_ms"].as_u64() {
        Some(ms) => {
            let _ = writeln!(out, "  takeover: {ms} ms, new master {}", str_of(&v["new_master"]));
        }
        None => {
            let _ = writeln!(out, "  takeover: none");
        }
    }
    match (v["table_before"].as_u64(), v["new_master_table"].as_u64()) {
        (Some(b), Some(n)) => {
            let _ = writeln!(out, "  connection table: {n} on the new master, {b} here before the hand-over");
        }
        (_, None) => {
            let _ = writeln!(out, "  connection table: not known (no connection sync, or the new master did not say)");
        }
        (None, Some(n)) => {
            let _ = writeln!(out, "  connection table: {n} on the new master");
        }
    }
    if let Some(ms) = v["back_ms"].as_u64() {
        let _ = writeln!(out, "  back: master again {ms} ms after the release");
    }
    if v["held"].as_bool() == Some(true) {
        let _ = writeln!(out, "  this director stays backup (preemption held) until `tandem drill --release`");
    }
    let _ = writeln!(out, "  {}", if v["ok"].as_bool() == Some(true) { "OK" } else { "FAILED" });
    out
}

/// The status document as a person reads it.
pub fn render(v: &Value) -> String {
    let now = v["at_unix_ms"].as_u64().unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "tandem {} on {}, pid {}, started {}, {}",
        str_of(&v["version"]),
        str_of(&v["router_id"]),
        v["pid"],
        ago(v["started_unix_ms"].as_u64().unwrap_or(0), now),
        str_of(&v["config_file"])
    );
    let instances = v["vrrp_instances"].as_array().cloned().unwrap_or_default();
    if !instances.is_empty() {
        out.push_str("\nVRRP\n");
    }
    for i in &instances {
        let master = match (str_of(&i["state"]), i["master"].as_str()) {
            ("MASTER", _) => "this host".to_string(),
            (_, Some(m)) => m.to_string(),
            (_, None) => "unknown".to_string(),
        };
        let _ = writeln!(
            out,
            "  {:<12} {:<7} {} vrid {}  priority {} (effective {})  master: {master}",
            str_of(&i["name"]),
            str_of(&i["state"]),
            str_of(&i["interface"]),
            i["vrid"],
            i["priority"],
            i["effective_priority"],
        );
        if let Some(t) = i["last_transition"].as_object() {
            let _ = writeln!(
                out,
                "               {} -> {} {}: {}",
                t.get("from").map_or("?", str_of),
                t.get("to").map_or("?", str_of),
                ago(t.get("at_unix_ms").and_then(Value::as_u64).unwrap_or(0), now),
                t.get("reason").map_or("?", str_of)
            );
        }
        let c = &i["counters"];
        let dropped: u64 = c["dropped"].as_object().map_or(0, |d| d.values().filter_map(Value::as_u64).sum::<u64>());
        let _ = writeln!(
            out,
            "               adverts sent {}, received {}, dropped {dropped}",
            c["adverts_sent"], c["adverts_received"]
        );
    }
    for g in v["sync_groups"].as_array().into_iter().flatten() {
        let members: Vec<&str> = g["members"].as_array().into_iter().flatten().map(str_of).collect();
        let _ = writeln!(out, "  sync group {} {} ({})", str_of(&g["name"]), str_of(&g["state"]), members.join(", "));
    }
    let servers = v["virtual_servers"].as_array().cloned().unwrap_or_default();
    if !servers.is_empty() {
        out.push_str("\nIPVS\n");
    }
    if let Some(e) = v["ipvs_error"].as_str() {
        let _ = writeln!(out, "  (the kernel's table could not be read: {e})");
    }
    for s in &servers {
        let services: Vec<&str> = s["services"].as_array().into_iter().flatten().map(str_of).collect();
        let _ = writeln!(
            out,
            "  {} {}{}{}",
            services.join(", "),
            str_of(&s["scheduler"]),
            s["persistence_timeout"].as_u64().map_or(String::new(), |p| format!(", persistent {p} s")),
            if s["quorum_up"].as_bool() == Some(false) { ", QUORUM LOST" } else { "" }
        );
        for r in s["real_servers"].as_array().into_iter().flatten() {
            let state = if r["up"].as_bool() == Some(true) { "up" } else { "DOWN" };
            let mut line = format!(
                "    {:<24} {:<3} weight {:<4} {:<4} active {} inactive {}",
                str_of(&r["address"]),
                str_of(&r["forward"]),
                r["weight"],
                state,
                r["active_connections"],
                r["inactive_connections"]
            );
            if r["in_ipvs"].as_bool() != Some(true) {
                line.push_str("  (not in the table)");
            }
            if let Some(since) = r["since_unix_ms"].as_u64() {
                let _ = write!(line, "  since {}", ago(since, now));
            }
            if state == "DOWN" {
                if let Some(why) = r["reason"].as_str() {
                    let _ = write!(line, ": {why}");
                }
            }
            out.push_str(&line);
            out.push('\n');
        }
        if let Some(sorry) = s["sorry_server"].as_object() {
            let _ = writeln!(
                out,
                "    sorry server {}{}",
                sorry.get("address").map_or("?", str_of),
                if sorry.get("in_ipvs").and_then(Value::as_bool) == Some(true) { " (in service)" } else { "" }
            );
        }
    }
    for r in v["ipvs_refused"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  REFUSED by the kernel {} times since {}: {}",
            r["times"],
            ago(r["since_unix_ms"].as_u64().unwrap_or(0), now),
            str_of(&r["error"])
        );
    }
    let sync = &v["sync"];
    if let Some(iface) = sync["interface"].as_str() {
        let daemons: Vec<&str> = sync["daemons"].as_array().into_iter().flatten().map(str_of).collect();
        let _ = writeln!(out, "\nConnection sync on {iface}, sync id {}: {}", sync["sync_id"], daemons.join(" and "));
        let _ = writeln!(
            out,
            "  heard {} records; table {}{}",
            sync["heard"]["records"],
            sync["table"],
            match (sync["master_table"].as_u64(), sync["behind"].as_u64()) {
                (Some(m), Some(b)) => format!(", master's {m}, behind {b}"),
                _ => String::new(),
            }
        );
        if let Some(w) = sync["warm_preemption"].as_str() {
            let _ = writeln!(out, "  warm preemption: {w}");
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_words() {
        assert_eq!(ago(1_000, 61_000), "60 s ago");
        assert_eq!(ago(0, 3_600_000), "60 min ago");
        assert_eq!(ago(0, 3 * 86_400_000), "3 days ago");
        assert_eq!(ago(5_000, 1_000), "0 s ago");
    }

    #[test]
    fn a_down_real_server_shows_why_and_an_empty_document_does_not_panic() {
        let v: Value = serde_json::from_str(
            r#"{"version":"0.1.0","pid":7,"at_unix_ms":10000,"started_unix_ms":0,"config_file":"/etc/x.conf",
                "vrrp_instances":[],"sync_groups":[],"sync":{},
                "virtual_servers":[{"services":["TCP 192.0.2.10:80"],"scheduler":"rr","quorum_up":true,
                  "real_servers":[{"address":"10.0.0.11:80","forward":"NAT","weight":1,"up":false,
                    "reason":"GET /: connection refused","since_unix_ms":4000,"in_ipvs":false,
                    "active_connections":0,"inactive_connections":2}]}]}"#,
        )
        .unwrap();
        let text = render(&v);
        assert!(
            text.contains("10.0.0.11:80")
                && text.contains("DOWN")
                && text.contains("6 s ago: GET /: connection refused"),
            "{text}"
        );
        assert!(text.contains("(not in the table)"), "{text}");
        let _ = render(&Value::Null);
    }

    #[test]
    fn a_change_the_kernel_refuses_is_shown_with_its_count_and_age() {
        let v: Value = serde_json::from_str(
            r#"{"at_unix_ms":70000,"virtual_servers":[],"ipvs_refused":[{"change":"add service TCP 192.0.2.21:1014",
                "error":"add service TCP 192.0.2.21:1014: this kernel has no scheduler `twos`","since_unix_ms":10000,"times":13}]}"#,
        )
        .unwrap();
        let text = render(&v);
        assert!(
            text.contains("REFUSED by the kernel 13 times since 60 s ago: add service TCP 192.0.2.21:1014: this kernel has no scheduler `twos`"),
            "{text}"
        );
    }

    #[test]
    fn a_drill_report_reads_in_sections_and_a_refusal_stops_it() {
        let v: Value = serde_json::from_str(
            r#"{"instance":"VI_1","unit":"VI_1","knows":["d2 is backup"],"cannot_know":[],
                "steps":[{"at_ms":0,"what":"priority held"},{"at_ms":1203,"what":"d2 master"}],
                "takeover_ms":1203,"new_master":"192.0.2.12","table_before":40,"new_master_table":38,
                "held":true,"ok":true}"#,
        )
        .unwrap();
        assert_eq!(
            render_drill(&v, false),
            "Failover drill of VI_1 (unit VI_1)\nKnown before the hand-over:\n  - d2 is backup\nSteps:\n       0 ms  \
             priority held\n    1203 ms  d2 master\nResult:\n  takeover: 1203 ms, new master 192.0.2.12\n  connection \
             table: 38 on the new master, 40 here before the hand-over\n  this director stays backup (preemption held) \
             until `tandem drill --release`\n  OK\n"
        );
        let refused: Value = serde_json::from_str(
            r#"{"instance":"VI_1","unit":"G","knows":[],"cannot_know":["the peer's table"],"refused":"no peer","ok":false}"#,
        )
        .unwrap();
        assert_eq!(
            render_drill(&refused, false),
            "Failover drill of VI_1 (unit G)\nNot knowable from this director:\n  - the peer's table\nREFUSED: no peer\n"
        );
        assert!(render_drill(&Value::Null, true).starts_with("drill hold released"));
        let _ = render_drill(&Value::Null, false);
    }
}
