//! The IPVS generic-netlink attribute readers (the kernel's replies to dumps: services,
//! destinations, stats, timeouts, sync daemons; include/uapi/linux/ip_vs.h). The kernel is
//! trusted, but a reader must still not panic on what it does not expect (a newer kernel's
//! attributes, a short payload); a service or destination it reads writes back into
//! attributes that read the same.
//!
//! Input: byte 0 picks the reader; the rest is a nested-attribute payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_ipvs::attrs::{dest_attrs, dest_from, nested_lookup, service_from, service_full};

fn lookup(pairs: Vec<(u16, Vec<u8>)>) -> impl Fn(u16) -> Option<Vec<u8>> {
    move |t| pairs.iter().find(|(k, _)| *k == t).map(|(_, v)| v.clone())
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let get = nested_lookup(rest);
    match which % 5 {
        0 => {
            let Some((key, service)) = service_from(&get) else { return };
            let back = service_from(&lookup(service_full(&key, &service)));
            assert_eq!(back, Some((key, service)), "service attributes do not read back");
        }
        1 => {
            let v6 = which & 8 != 0;
            let Some((key, dest)) = dest_from(&get, v6) else { return };
            let back = dest_from(&lookup(dest_attrs(&key, Some(&dest))), v6);
            assert_eq!(back, Some((key, dest)), "destination attributes do not read back");
        }
        2 => {
            let _ = tandem_ipvs::stats::Stats::from_nested(rest);
        }
        3 => {
            let _ = tandem_ipvs::timeouts::Timeouts::from_attrs(&get);
        }
        _ => {
            let _ = tandem_ipvs::sync_daemon::SyncDaemon::from_attrs(&get);
        }
    }
});
