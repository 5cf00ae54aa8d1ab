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
use tandem_conf::{Options, load_str};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if text.contains("include") {
        return;
    }
    let options = Options { config_id: Some("fuzz".into()), ..Options::default() };
    let report = load_str(&text, "/nonexistent/keepalived.conf", &options);
    tandem_fuzz::check_loaded(&report);
});
