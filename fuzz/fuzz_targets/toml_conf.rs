//! tandem's own TOML configuration, read as `tandem check` reads it: never a panic, every
//! error placed in the file, and an accepted file written back out reads the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_conf::{Options, Severity, load_str, to_toml};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let report = load_str(text, "/nonexistent/tandem.toml", &Options::default());
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
});
