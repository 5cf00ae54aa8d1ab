//! What the configuration targets check of a loaded file, shared by `keepalived_conf` and
//! `toml_conf`.

use tandem_conf::{Options, Report, Severity, load_str, to_toml};

/// Every error of `report` names its place in the file; a file it accepts, written out as
/// tandem's TOML and read back, is accepted and reads the same. Panics (the fuzzer's
/// finding) otherwise.
pub fn check_loaded(report: &Report) {
    for d in &report.diagnostics {
        if d.severity == Severity::Error {
            assert!(report.location(d).is_some(), "an error without a place: {}", d.message);
        }
    }
    if report.has_errors() {
        return;
    }
    let toml = to_toml(&report.config).unwrap_or_else(|e| panic!("an accepted file does not write as TOML: {e}"));
    let again = load_str(&toml, "/nonexistent/tandem.toml", &Options::default());
    assert!(!again.has_errors(), "its TOML is refused:\n{}\n{toml}", again.render());
    assert_eq!(again.config, report.config, "its TOML reads differently:\n{toml}");
}
