//! The metrics page: tandem in a network namespace of its own with `--metrics-listen`, one
//! VRRP instance and a virtual server whose first real server answers and whose second
//! refuses. The page is fetched from inside that namespace (nsenter), parsed, and its values
//! checked against what `tandem status --json` says at the same time.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CONF: &str = "vrrp_instance VI_1 {\n    interface v0\n    virtual_router_id 51\n    priority 150\n    advert_int 1\n    virtual_ipaddress {\n        192.0.2.10/24\n    }\n}\n\
virtual_server 192.0.2.10 80 {\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n\
    real_server 192.0.2.11 80 {\n        TCP_CHECK {\n            connect_timeout 1\n        }\n    }\n\
    real_server 192.0.2.12 80 {\n        TCP_CHECK {\n            connect_timeout 1\n        }\n    }\n}\n";

fn start(dir: &Path) -> Child {
    let script = format!(
        "ip link set lo up && ip link add v0 type veth peer name v1 && ip addr add 192.0.2.2/24 dev v0 && \
         ip addr add 192.0.2.11/24 dev v0 && ip addr add 192.0.2.12/24 dev v0 && ip link set v0 up && ip link set v1 up && \
         {{ python3 -m http.server --bind 192.0.2.11 80 >/dev/null 2>&1 & echo $! > {}; }} && \
         exec {} run -f {} --control-socket {} --metrics-listen 127.0.0.1:9650",
        dir.join("web.pid").display(),
        env!("CARGO_BIN_EXE_tandem"),
        dir.join("tandem.conf").display(),
        dir.join("control.sock").display()
    );
    Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("tandem.log")).unwrap())
        .spawn()
        .unwrap()
}

/// GET `path` on the metrics port, from inside tandem's namespace: (status line, body).
fn get(pid: u32, path: &str) -> (String, String) {
    let out = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-n", "curl", "-s", "-i", "--max-time", "10"])
        .arg(format!("http://127.0.0.1:9650{path}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.lines().next().unwrap_or_default().to_string(), body.to_string())
}

/// The samples of a page: `name{labels}` -> value.
fn samples(page: &str) -> HashMap<String, f64> {
    page.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {l}"));
            (k.to_string(), v.parse::<f64>().unwrap_or_else(|e| panic!("{e}: {l}")))
        })
        .collect()
}

#[test]
fn the_metrics_page_parses_and_agrees_with_the_status() {
    let dir = std::env::temp_dir().join(format!("tandem-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tandem.conf"), CONF).unwrap();
    let mut child = start(&dir);
    let pid = child.id();
    let log = || std::fs::read_to_string(dir.join("tandem.log")).unwrap_or_default();
    let status = || {
        let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["status", "--json", "--control-socket", dir.join("control.sock").to_str().unwrap()])
            .output()
            .unwrap();
        serde_json::from_slice::<Value>(&out.stdout).ok()
    };
    // Wait for master and the second real server's verdict.
    let start_wait = Instant::now();
    let mut page = String::new();
    while start_wait.elapsed() < Duration::from_secs(20) {
        let (line, body) = get(pid, "/metrics");
        if line.contains("200")
            && body.contains(r#"tandem_vrrp_state{iname="VI_1",intf="v0",vrid="51",ip_address="192.0.2.10"} 2"#)
            && body.contains(r#"tandem_real_server_up{virtual_server="192.0.2.10 80",real_server="192.0.2.12:80"} 0"#)
        {
            page = body;
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let v = status();
    let (not_found, _) = get(pid, "/nope");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let _ = child.wait();
    if let Some(web) = std::fs::read_to_string(dir.join("web.pid")).ok().and_then(|p| p.trim().parse::<i32>().ok()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(web), nix::sys::signal::Signal::SIGKILL);
    }
    assert!(!page.is_empty(), "no page with VI_1 master and 192.0.2.12 down:\n{}", log());
    let m = samples(&page);
    let v = v.unwrap();
    let i = r#"{iname="VI_1",intf="v0",vrid="51"}"#;
    assert_eq!(m["tandem_up"], 1.0);
    assert_eq!(m[&format!("tandem_vrrp_effective_priority{i}")], 150.0);
    // Counters end in _total, as keepalived's exporter's do; the status, taken just after the
    // page, has at least as many.
    let sent = m[&format!("tandem_advert_sent_total{i}")];
    let status_sent = v["vrrp_instances"][0]["counters"]["adverts_sent"].as_f64().unwrap();
    assert!(sent >= 1.0 && sent <= status_sent && status_sent - sent <= 2.0, "page {sent}, status {status_sent}");
    assert_eq!(m[&format!("tandem_become_master_total{i}")], 1.0);
    assert_eq!(m[&format!("tandem_advert_rcvd_total{i}")], 0.0);
    assert_eq!(m[r#"tandem_real_server_up{virtual_server="192.0.2.10 80",real_server="192.0.2.11:80"}"#], 1.0);
    assert_eq!(m[r#"tandem_virtual_server_quorum_up{service="192.0.2.10 80"}"#], 1.0);
    // Check durations, by kind: both real servers' TCP checks ran (one connects, one is
    // refused at once): every one well inside its 1 s connect_timeout.
    let count = m[r#"tandem_check_duration_seconds_count{check="tcp"}"#];
    assert!(count >= 2.0, "{count} TCP checks timed");
    assert_eq!(m[r#"tandem_check_duration_seconds_bucket{le="0.25",check="tcp"}"#], count, "{page}");
    assert!(m[r#"tandem_check_duration_seconds_sum{check="tcp"}"#] < 0.25 * count);
    // Every family has its HELP and TYPE.
    for family in ["tandem_vrrp_state", "tandem_advert_sent", "tandem_real_server_up", "tandem_check_duration_seconds"]
    {
        assert!(page.contains(&format!("# HELP {family} ")) && page.contains(&format!("# TYPE {family} ")), "{family}");
    }
    assert!(not_found.contains("404"), "{not_found}");
    let _ = std::fs::remove_dir_all(&dir);
}
