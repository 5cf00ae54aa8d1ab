//! The control socket: `tandem status` (JSON and text) and `tandem reload` against a tandem
//! running in a network namespace of its own, with one VRRP instance and a virtual server
//! whose first real server answers HTTP and whose second refuses. This machine's kernel has no
//! IPVS: the status says so and shows everything else (the VM tests see the kernel's side).

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn conf(weight: u32, broken: bool) -> String {
    format!(
        "vrrp_instance VI_1 {{\n    interface v0\n    virtual_router_id 51\n    priority 150\n    advert_int 1\n    virtual_ipaddress {{\n        192.0.2.10/24\n    }}\n}}\n\
         virtual_server 192.0.2.10 80 {{\n    delay_loop 1\n    lb_algo wrr\n    lb_kind NAT\n    protocol TCP\n\
         {}\n    real_server 192.0.2.11 80 {{\n        weight {weight}\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n\
         real_server 192.0.2.12 80 {{\n        weight 1\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n}}\n",
        if broken { "    persistence_timeout soon" } else { "" }
    )
}

/// docs/STATUS.md's fields, by section heading: the first column of each table row.
fn documented_fields() -> std::collections::HashMap<String, Vec<String>> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/STATUS.md")).unwrap();
    let mut out = std::collections::HashMap::new();
    let mut section = String::new();
    for line in doc.lines() {
        if let Some(h) = line.strip_prefix("## ").or_else(|| line.strip_prefix("### ")) {
            section = h.trim().to_string();
        } else if let Some(rest) = line.strip_prefix("| `") {
            if let Some(end) = rest.find('`') {
                out.entry(section.clone()).or_insert_with(Vec::new).push(rest[..end].to_string());
            }
        }
    }
    out
}

fn tandem(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tandem")).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// tandem in a namespace of its own: v0 holds the director's and both real servers'
/// addresses; a web server answers on 192.0.2.11:80 only.
fn start(dir: &Path, socket: &Path, log: &str) -> Running {
    let script = format!(
        "ip link set lo up && ip link add v0 type veth peer name v1 && ip addr add 192.0.2.2/24 dev v0 && \
         ip addr add 192.0.2.11/24 dev v0 && ip addr add 192.0.2.12/24 dev v0 && ip link set v0 up && ip link set v1 up && \
         {{ python3 -m http.server --bind 192.0.2.11 80 >/dev/null 2>&1 & echo $! > {}; }} && \
         exec {} run -f {} --control-socket {}",
        dir.join("web.pid").display(),
        env!("CARGO_BIN_EXE_tandem"),
        dir.join("tandem.conf").display(),
        socket.display()
    );
    let child = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(log)).unwrap())
        .spawn()
        .unwrap();
    Running { child, dir: dir.to_path_buf(), stopped: false }
}

fn status(socket: &Path) -> Option<Value> {
    let out = tandem(&["status", "--json", "--control-socket", socket.to_str().unwrap()]);
    out.status.success().then(|| serde_json::from_slice(&out.stdout).unwrap())
}

fn wait_status(socket: &Path, limit: Duration, ok: impl Fn(&Value) -> bool) -> Option<Value> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(v) = status(socket).filter(&ok) {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

/// A tandem started by [`start`]: stopped (SIGTERM: it execs in place of the shell), with the
/// web server beside it, by [`Running::stop`] or when dropped, so that a failed assertion
/// leaves nothing running.
struct Running {
    child: Child,
    dir: PathBuf,
    stopped: bool,
}

impl Running {
    fn id(&self) -> u32 {
        self.child.id()
    }

    fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
        let web = std::fs::read_to_string(self.dir.join("web.pid")).ok().and_then(|p| p.trim().parse::<i32>().ok());
        if let Some(pid) = web {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn status_and_reload_over_the_control_socket() {
    let dir = std::env::temp_dir().join(format!("tandem-control-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tandem.conf"), conf(2, false)).unwrap();
    let socket: PathBuf = dir.join("run/control.sock");
    let mut child = start(&dir, &socket, "tandem.log");
    let log = || std::fs::read_to_string(dir.join("tandem.log")).unwrap_or_default();

    // Master, one real server up and one down, as the checks found them.
    let ready = |v: &Value| {
        v["vrrp_instances"][0]["state"] == "MASTER"
            && v["virtual_servers"][0]["real_servers"][1]["up"] == false
            && v["virtual_servers"][0]["real_servers"][1]["reason"].is_string()
    };
    let v = wait_status(&socket, Duration::from_secs(20), ready).unwrap_or_else(|| {
        child.stop();
        panic!("no status with VI_1 MASTER and 192.0.2.12 down:\n{}", log())
    });
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the socket is root's only");
    assert_eq!(std::fs::metadata(socket.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(v["schema"], 1);
    assert_eq!(v["pid"].as_u64().unwrap(), u64::from(child.id()), "{v}");
    assert!(v["config_file"].as_str().unwrap().ends_with("tandem.conf"));
    assert!(v["started_unix_ms"].as_u64().unwrap() <= v["at_unix_ms"].as_u64().unwrap());
    let i = &v["vrrp_instances"][0];
    assert_eq!((i["name"].as_str(), i["vrid"].as_u64(), i["priority"].as_u64()), (Some("VI_1"), Some(51), Some(150)));
    assert_eq!(i["effective_priority"], 150);
    assert_eq!(i["interface"], "v0");
    assert_eq!(i["master"], "192.0.2.2", "{i}");
    assert_eq!(i["last_transition"]["to"], "MASTER");
    assert!(i["last_transition"]["reason"].is_string() && i["last_transition"]["at_unix_ms"].is_u64(), "{i}");
    assert!(i["counters"]["adverts_sent"].as_u64().unwrap() >= 1, "{i}");
    assert_eq!(v["sync_groups"], Value::Array(Vec::new()));
    let vs = &v["virtual_servers"][0];
    assert_eq!(vs["name"], "192.0.2.10 80");
    assert_eq!(vs["services"][0], "TCP 192.0.2.10:80");
    assert_eq!((vs["scheduler"].as_str(), vs["quorum_up"].as_bool()), (Some("wrr"), Some(true)));
    let (up, down) = (&vs["real_servers"][0], &vs["real_servers"][1]);
    assert_eq!(
        (up["address"].as_str(), up["up"].as_bool(), up["weight"].as_u64()),
        (Some("192.0.2.11:80"), Some(true), Some(2))
    );
    assert_eq!(up["forward"], "NAT");
    assert_eq!(down["address"], "192.0.2.12:80");
    assert!(down["reason"].as_str().unwrap().contains("refused"), "{down}");
    assert!(down["since_unix_ms"].is_u64(), "{down}");
    // No IPVS in this kernel: said, not hidden.
    assert!(v["ipvs_error"].is_string(), "{v}");
    assert_eq!(up["in_ipvs"], false);

    // Every field the document has is in docs/STATUS.md, and every field documented there is
    // in the document (the objects this configuration has: no sync group here).
    let documented = documented_fields();
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    for (section, object) in [
        ("Top level", &v),
        ("`vrrp_instances`", i),
        ("`virtual_servers`", vs),
        ("`real_servers`", up),
        ("`sync`", &v["sync"]),
    ] {
        let mut want = documented.get(section).cloned().unwrap_or_else(|| panic!("STATUS.md has no section {section}"));
        want.sort();
        assert_eq!(keys(object), want, "{section}: the status document and docs/STATUS.md differ");
    }

    // The same, for a person.
    let human = tandem(&["status", "--control-socket", socket.to_str().unwrap()]);
    let h = text(&human.stdout);
    assert!(h.contains("VI_1") && h.contains("MASTER") && h.contains("master: this host"), "{h}");
    assert!(h.contains("192.0.2.12:80") && h.contains("DOWN") && h.contains("refused"), "{h}");

    // A second tandem on the same socket runs without one, and says so.
    let other_dir = dir.join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    std::fs::write(other_dir.join("tandem.conf"), conf(1, false)).unwrap();
    let mut other = start(&other_dir, &socket, "tandem.log");
    let other_log = || std::fs::read_to_string(other_dir.join("tandem.log")).unwrap_or_default();
    let start_wait = Instant::now();
    while !other_log().contains("another tandem answers on this control socket")
        && start_wait.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    other.stop();
    assert!(other_log().contains("another tandem answers on this control socket"), "{}", other_log());
    assert_eq!(status(&socket).unwrap()["pid"].as_u64().unwrap(), u64::from(child.id()), "the first still answers");

    // reload: a broken file is refused with its position, and nothing changes.
    std::fs::write(dir.join("tandem.conf"), conf(5, true)).unwrap();
    let refused = tandem(&["reload", "--control-socket", socket.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    let err = text(&refused.stderr);
    assert!(
        err.contains("does not validate") && err.contains("tandem.conf:") && err.contains("persistence_timeout"),
        "{err}"
    );
    assert_eq!(status(&socket).unwrap()["virtual_servers"][0]["real_servers"][0]["weight"], 2);
    // A good one is applied: the new weight shows.
    std::fs::write(dir.join("tandem.conf"), conf(5, false)).unwrap();
    let applied = tandem(&["reload", "--control-socket", socket.to_str().unwrap()]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied.stderr));
    assert!(text(&applied.stdout).contains("configuration reloaded"), "{}", text(&applied.stdout));
    assert_eq!(status(&socket).unwrap()["virtual_servers"][0]["real_servers"][0]["weight"], 5);
    // A global_defs change a reload does not apply is named, not ignored.
    std::fs::write(
        dir.join("tandem.conf"),
        format!("global_defs {{\n    vrrp_startup_delay 5\n}}\n{}", conf(5, false)),
    )
    .unwrap();
    let named = tandem(&["reload", "--control-socket", socket.to_str().unwrap()]);
    assert_eq!(named.status.code(), Some(0), "{}", text(&named.stderr));
    assert!(
        text(&named.stdout).contains("global_defs changes that take effect at the next restart: vrrp_startup_delay"),
        "{}",
        text(&named.stdout)
    );

    // At stop the socket goes; then status says there is nothing to reach.
    child.stop();
    assert!(!socket.exists(), "the socket outlived tandem");
    let gone = tandem(&["status", "--control-socket", socket.to_str().unwrap()]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(text(&gone.stderr).contains("cannot reach tandem"), "{}", text(&gone.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}
