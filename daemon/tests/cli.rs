//! The `tandem` command line: exit codes, what goes to stdout and stderr.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tandem(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tandem")).args(args).output().expect("tandem runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn temp(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let p = dir.join(name);
    std::fs::write(&p, contents).expect("write");
    p
}

const GOOD: &str = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress {\n        10.0.0.1/24\n    }\n}\n";

#[test]
fn check_good_file_exits_0_and_prints_nothing_on_stdout() {
    let f = temp("good.conf", GOOD);
    let out = tandem(&["check", "-f", f.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("ok (1 vrrp instance, 0 virtual servers, 0 real servers, 0 warnings)"));
}

#[test]
fn check_bad_file_exits_1_with_located_errors_on_stderr() {
    let f = temp("bad.conf", &GOOD.replace("51", "300"));
    let out = tandem(&["check", "-f", f.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("error: virtual_router_id 300 is out of range 1-255"), "{err}");
    assert!(err.contains(&format!("--> {}:3:23", f.display())), "{err}");
    assert!(err.contains("is not valid: 1 error, 0 warnings"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn warnings_pass_unless_strict() {
    let f = temp("warn.conf", &GOOD.replace("    interface eth0\n", "    interface eth0\n    frob 1\n"));
    let path = f.to_str().expect("utf-8");
    let out = tandem(&["check", "-f", path]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("warning: unknown keyword `frob` in vrrp_instance; ignored"));
    let strict = tandem(&["check", "--strict", "-f", path]);
    assert_eq!(strict.status.code(), Some(1));
    assert!(text(&strict.stderr).contains("error: unknown keyword `frob`"));
}

#[test]
fn dump_and_convert_print_toml_that_checks_clean() {
    let src = examples().join("keepalived.conf");
    let src = src.to_str().expect("utf-8");
    let dump = tandem(&["check", "-f", src, "--config-id", "director1", "--dump"]);
    assert_eq!(dump.status.code(), Some(0), "{}", text(&dump.stderr));
    let conv = tandem(&["convert", "-f", src, "--config-id", "director1"]);
    assert_eq!(conv.status.code(), Some(0));
    assert_eq!(dump.stdout, conv.stdout);
    let toml = text(&conv.stdout);
    assert!(toml.contains("[[vrrp_instance]]\nname = \"VI_EXTERNAL\"\nstate = \"MASTER\""), "{toml}");
    let f = temp("converted.toml", &toml);
    let back = tandem(&["check", "-f", f.to_str().expect("utf-8"), "--dump"]);
    assert_eq!(back.status.code(), Some(0), "{}", text(&back.stderr));
    assert_eq!(back.stdout, conv.stdout);
}

#[test]
fn config_id_selects_conditional_lines() {
    let src = examples().join("keepalived.conf");
    let src = src.to_str().expect("utf-8");
    let two = tandem(&["convert", "-f", src, "-i", "director2"]);
    let toml = text(&two.stdout);
    assert!(toml.contains("name = \"VI_EXTERNAL\"\nstate = \"BACKUP\""), "{toml}");
    assert!(toml.contains("priority = 100"));
    assert!(!toml.contains("priority = 150"));
}

#[test]
fn format_flag_overrides_the_extension() {
    let f = temp("toml-without-extension.cfg", "[global_defs]\nrouter_id = \"x\"\n");
    let path = f.to_str().expect("utf-8");
    assert_eq!(tandem(&["check", "-f", path, "--format", "toml"]).status.code(), Some(0));
    let as_kad = tandem(&["check", "-f", path, "--strict"]);
    assert_eq!(as_kad.status.code(), Some(1));
}

#[test]
fn convert_refuses_a_broken_file() {
    let f = temp("broken.conf", "vrrp_instance VI_1 {\n");
    let out = tandem(&["convert", "-f", f.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("unclosed `{`"));
}

#[test]
fn missing_file_and_bad_usage() {
    let out = tandem(&["check", "-f", "/nonexistent/x.conf"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read `/nonexistent/x.conf`"));
    assert_eq!(tandem(&["check", "--no-such-flag"]).status.code(), Some(2));
}

/// Runs `script` (sh) in a mount namespace of its own whose /etc is an empty tmpfs: the
/// default configuration files are whatever the script puts there.
fn with_empty_etc(script: &str) -> Output {
    let script = format!("mount -t tmpfs none /etc && {script}");
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .env("TANDEM", env!("CARGO_BIN_EXE_tandem"))
        .output()
        .expect("unshare runs")
}

#[test]
fn without_f_the_files_under_etc_are_read_tandems_first() {
    // Neither file: an error naming both.
    let none = with_empty_etc("$TANDEM check");
    assert_eq!(none.status.code(), Some(1), "{}", text(&none.stderr));
    let err = text(&none.stderr);
    assert!(err.contains("/etc/tandem/tandem.toml") && err.contains("/etc/keepalived/keepalived.conf"), "{err}");
    // keepalived's: read as keepalived.conf, and `check` says which file and config id.
    let good = GOOD.replace('\n', "\\n");
    let kad = with_empty_etc(&format!(
        "mkdir /etc/keepalived && printf '{good}' > /etc/keepalived/keepalived.conf && $TANDEM check -i director1"
    ));
    assert_eq!(kad.status.code(), Some(0), "{}", text(&kad.stderr));
    assert!(
        text(&kad.stderr).contains("/etc/keepalived/keepalived.conf (config id \"director1\"): ok (1 vrrp instance"),
        "{}",
        text(&kad.stderr)
    );
    // tandem's own, when both are there.
    let both = with_empty_etc(&format!(
        "mkdir /etc/keepalived /etc/tandem && printf '{good}' > /etc/keepalived/keepalived.conf && \
         $TANDEM convert -f /etc/keepalived/keepalived.conf > /etc/tandem/tandem.toml && $TANDEM check"
    ));
    assert_eq!(both.status.code(), Some(0), "{}", text(&both.stderr));
    assert!(text(&both.stderr).contains("/etc/tandem/tandem.toml: ok (1 vrrp instance"), "{}", text(&both.stderr));
}

#[test]
fn run_refuses_what_it_does_not_implement_instead_of_ignoring_it() {
    // The one thing left refused: a MAC address of one's own for the VMAC.
    let f = temp(
        "vmac-mac.conf",
        "vrrp_instance VI_1 {\n    interface lo\n    virtual_router_id 51\n    use_vmac vrrp.51 00:11:22:33:44:55\n    virtual_ipaddress {\n        10.0.0.1/24\n    }\n}\n",
    );
    // In a network namespace of its own, never the machine's; bounded, so that a tandem that
    // runs the file instead of refusing it fails the test rather than hanging the suite.
    let out = Command::new("timeout")
        .args(["20", "unshare", "-n", env!("CARGO_BIN_EXE_tandem"), "run", "-f", f.to_str().expect("utf-8")])
        .output()
        .expect("timeout runs");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("a MAC address of one's own for use_vmac is not supported by tandem"),
        "{}",
        text(&out.stderr)
    );
}

/// Whether this kernel can have IPVS at all: built in or loaded (/sys/module/ip_vs), or a
/// module it would load on demand (modinfo finds it). Not /proc/net/ip_vs: the kernel loads
/// the module when any program resolves the IPVS netlink family, so whether it is loaded
/// depends on what ran before.
fn kernel_has_ipvs() -> bool {
    Path::new("/sys/module/ip_vs").exists()
        || Command::new("modinfo").arg("ip_vs").output().is_ok_and(|o| o.status.success())
}

/// `plan` reads the kernel's table: without IPVS it says so in words; with it (the module is
/// there to load), it plans the service (exit 2: changes). Either way something is checked.
#[test]
fn plan_without_ipvs_says_so_in_words() {
    let f =
        temp("plan.conf", "virtual_server 192.0.2.1 80 {\n    protocol TCP\n    real_server 10.0.0.2 80 {\n    }\n}\n");
    let out = tandem(&["plan", "-f", f.to_str().expect("utf-8")]);
    if kernel_has_ipvs() {
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("192.0.2.1:80"), "{}", text(&out.stdout));
        return;
    }
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("error: open the IPVS generic netlink family: IPVS is not available in this kernel (is the ip_vs module loaded? `modprobe ip_vs`)"),
        "{err}"
    );
    assert!(!err.contains("Nlmsgerr"), "{err}");
}

#[test]
fn completions_and_man_pages_come_from_the_cli_itself() {
    let bash = tandem(&["completions", "bash"]);
    assert_eq!(bash.status.code(), Some(0));
    let script = text(&bash.stdout);
    assert!(script.contains("_tandem()") && script.contains("--metrics-listen"), "{script}");
    let dir = std::env::temp_dir().join(format!("tandem-man-{}", std::process::id()));
    let out = tandem(&["manpages", dir.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let run = std::fs::read_to_string(dir.join("tandem-run.8")).expect("tandem-run.8");
    assert!(run.contains(".TH tandem-run 8") && run.contains("metrics\\-listen"), "{run}");
    let main = std::fs::read_to_string(dir.join("tandem.8")).expect("tandem.8");
    assert!(main.contains("tandem\\-status(8)") && dir.join("tandem-status.8").exists(), "{main}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The example the Debian package installs as /etc/tandem/tandem.toml.example is valid TOML
/// configuration, warnings included (its name does not end in .toml: the format is given).
#[test]
fn the_packaged_example_is_valid() {
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/package/tandem.toml.example");
    let out = tandem(&["check", "--strict", "--format", "toml", "-f", f.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("ok (1 vrrp instance, 1 virtual server, 2 real servers, 0 warnings)"));
}

/// `tandem check --pair`: the example's two directors (one file, `@director1` lines) agree;
/// two files that disagree on what goes on the wire are refused, each finding at its line.
#[test]
fn check_pair_cross_checks_the_two_directors() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/keepalived.conf");
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["check", "-f", example, "-i", "director1", "--pair-id", "director2"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("they agree"), "{}", text(&out.stderr));

    let a = temp(
        "pair-a.conf",
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    priority 150\n    authentication {\n        auth_type PASS\n        auth_pass one\n    }\n    virtual_ipaddress {\n        10.0.0.1/24\n    }\n}\n",
    );
    let b = temp(
        "pair-b.conf",
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 52\n    priority 150\n    authentication {\n        auth_type PASS\n        auth_pass two\n    }\n    virtual_ipaddress {\n        10.0.0.1/24\n        10.0.0.2/24\n    }\n    virtual_routes {\n        10.9.0.0/16 via 10.0.0.254\n    }\n}\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["check", "-f", a.to_str().expect("utf-8"), "--pair", b.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for (message, at) in [
        ("error: vrrp_instance `VI_1`: virtual_router_id 52 here, 51 on the other director", "pair-b.conf:3:23"),
        ("error: vrrp_instance `VI_1`: the authentication differs", "pair-b.conf:5:5"),
        (
            "error: vrrp_instance `VI_1`: the virtual addresses differ (only on the other director: none; only here: 10.0.0.2)",
            "pair-b.conf:9:5",
        ),
        ("warning: vrrp_instance `VI_1` has priority 150 on both directors", "pair-b.conf:4:14"),
        (
            "warning: vrrp_instance `VI_1`: the virtual_routes differ (only on the other director: none; only here: 10.9.0.0/16 table 254)",
            "pair-b.conf:13:5",
        ),
    ] {
        let i = err.find(message).unwrap_or_else(|| panic!("{message}:\n{err}"));
        assert!(err[i..].lines().nth(1).is_some_and(|l| l.ends_with(at)), "{message} at {at}:\n{err}");
    }
    assert!(err.contains(": 3 errors, 2 warnings"), "{err}");
}
