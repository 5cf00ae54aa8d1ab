//! keepalived.conf, read as `tandem check` and `tandem run` read it: the preprocessor
//! (line continuations, comments, `$VAR` definitions and expansion, `@ID` conditionals,
//! quoting) and the block reader, then validation. Whatever the file holds, the reader never
//! panics, every error it reports names its place in the file, and a file it accepts says
//! the same thing when written out as tandem's TOML and read back.
//!
//! Inputs that `include` other files are skipped: an include reads the filesystem, which is
//! not what is fuzzed here (the conf crate's tests cover includes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_conf::{Options, Severity, load_str, to_toml};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if text.contains("include") {
        return;
    }
    let options = Options { config_id: Some("fuzz".into()), ..Options::default() };
    let report = load_str(&text, "/nonexistent/keepalived.conf", &options);
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
