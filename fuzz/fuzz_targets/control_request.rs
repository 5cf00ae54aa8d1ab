//! The control socket's request line (`status`, `reload`, `drill JSON`): the only input the
//! daemon takes from a local client. The grammar lives in the daemon's
//! src/run/control_request.rs, included here as a module (the daemon is a binary crate). It
//! must refuse what it does not know with a message, never panic, and a drill request it
//! accepts must serialize back to one that reads the same.
#![no_main]

#[path = "../../daemon/src/run/control_request.rs"]
#[allow(dead_code)]
mod control_request;

use control_request::{Ask, DrillRequest, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else { return };
    if let Ok(Ask::Drill(req)) = parse(line) {
        let json = serde_json::to_string(&req).unwrap_or_else(|e| panic!("a drill request does not serialize: {e}"));
        let Ok(Ask::Drill(back)) = parse(&format!("drill {json}")) else {
            panic!("a drill request does not read back: {json}")
        };
        // serde_json reads decimals by its fast path unless built with `float_roundtrip`:
        // the hold may come back one unit in the last place off, which is no matter here.
        let close = back.hold_s == req.hold_s || (back.hold_s - req.hold_s).abs() <= req.hold_s.abs() * 1e-15;
        assert!(close, "the hold does not read back: {} -> {}", req.hold_s, back.hold_s);
        assert_eq!(DrillRequest { hold_s: req.hold_s, ..back }, req, "a drill request does not read back");
    }
});
