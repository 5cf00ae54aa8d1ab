//! IPVS connection-sync messages (protocol v1, what the kernel's sync daemons multicast:
//! net/netfilter/ipvs/ip_vs_sync.c) and tandem's resync control datagrams: whatever arrives
//! on the sync port, `parse` never panics, and what it accepts emits back into a datagram
//! that parses the same. The resync code also reads /proc/net/ip_vs_conn, fed here as text.
//!
//! Input: byte 0 picks the decoder; the rest is the datagram or text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_sync::Message;
use tandem_sync::resync::Control;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    match which % 3 {
        0 => {
            let Ok(m) = Message::parse(rest) else { return };
            let again = m.emit().unwrap_or_else(|e| panic!("an accepted message does not emit: {e:?}"));
            let back = Message::parse(&again).unwrap_or_else(|e| panic!("an emitted message does not parse: {e:?}"));
            assert_eq!(back, m, "emit and parse disagree");
        }
        1 => {
            let Ok(c) = Control::parse(rest) else { return };
            assert_eq!(Control::parse(&c.emit()), Ok(c), "emit and parse disagree");
        }
        _ => {
            if let Ok(text) = std::str::from_utf8(rest) {
                let _ = tandem_sync::parse_conn_table(text);
            }
        }
    }
});
