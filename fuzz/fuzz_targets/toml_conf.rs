//! tandem's own TOML configuration, read as `tandem check` reads it: never a panic, every
//! error placed in the file, and an accepted file written back out reads the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_conf::{Options, load_str};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let report = load_str(text, "/nonexistent/tandem.toml", &Options::default());
    tandem_fuzz::check_loaded(&report);
});
