//! Every sample configuration Debian's keepalived package ships passes `tandem check`, but
//! the two that are broken for keepalived too, whose errors are located: nothing refused
//! (use_vmac in the conditional sample and IPsec AH in the SSL_GET one run). scripts/test
//! installs the package (keepalived 2.2.7); the samples are in
//! /usr/share/doc/keepalived/samples.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::path::Path;
use tandem_conf::{Options, load};

const SAMPLES: &str = "/usr/share/doc/keepalived/samples";

#[test]
fn debian_keepalived_samples_pass_check() {
    let dir = Path::new(SAMPLES);
    assert!(dir.is_dir(), "{SAMPLES} is missing: install Debian's keepalived package (scripts/test does)");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("keepalived.conf.")))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "{files:?}");
    let mut failures = Vec::new();
    for f in &files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        // The conditional sample is one file for two directors, `@high` and `@low`.
        let ids: &[&str] = if name.ends_with("conditional_conf") { &["high", "low"] } else { &["director1"] };
        for id in ids {
            let r = load(f, &Options { config_id: Some((*id).to_string()), ..Default::default() });
            let errors: Vec<_> = r
                .diagnostics
                .iter()
                .filter(|d| d.severity == tandem_conf::Severity::Error)
                .map(|d| (d.message.clone(), r.location(d).map(|l| (l.line, l.column))))
                .collect();
            if name.ends_with("vrrp.lvs_syncd") {
                // VG1 lists its instances without `group { }`: keepalived refuses it too.
                let expected =
                    vec![("vrrp_sync_group `VG1` has no `group { ... }` of instances".to_string(), Some((3, 1)))];
                if errors != expected {
                    failures.push(format!("{name}: expected {expected:?}, got {errors:?}"));
                }
            } else if name.ends_with("vrrp.rules") {
                // `to 192.168.100./24` is no prefix: keepalived refuses those rules too
                // ("Invalid rule to address").
                let expected = vec![
                    (
                        "rule destination: `192.168.100./24` is not an address or ADDR/LEN prefix".to_string(),
                        Some((11, 8)),
                    ),
                    (
                        "rule destination: `192.168.200./24` is not an address or ADDR/LEN prefix".to_string(),
                        Some((26, 12)),
                    ),
                ];
                if errors != expected {
                    failures.push(format!("{name}: expected {expected:?}, got {errors:?}"));
                }
            } else if !errors.is_empty() {
                failures.push(format!("{name} (config id {id}):\n{}", r.render()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
