//! The host's addresses, followed over rtnetlink, for `ha_suspend`: the checks of such a
//! virtual server run only while its address is on this host, which is to say while this
//! director is VRRP master of it (keepalived/check/check_api.c, `update_checker_activity`,
//! driven by the same netlink address events).

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use tandem_vrrp::linux::addr_monitor::AddressMonitor;
use tokio::sync::watch;
use tracing::warn;

/// The set of addresses on the host now.
pub type Present = Arc<HashSet<IpAddr>>;

/// Starts following the host's addresses: the receiver holds the set now and changes with it.
pub fn follow() -> Result<watch::Receiver<Present>, String> {
    let mut monitor = AddressMonitor::open().map_err(|e| e.to_string())?;
    // (interface, address): the same address on two interfaces is there until both go.
    let mut on: HashSet<(u32, IpAddr)> = monitor
        .dump()
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|e| !e.gone)
        .map(|e| (e.ifindex, e.address))
        .collect();
    let set = |on: &HashSet<(u32, IpAddr)>| Arc::new(on.iter().map(|(_, a)| *a).collect::<HashSet<_>>());
    let (tx, rx) = watch::channel(set(&on));
    std::thread::Builder::new()
        .name("addresses".into())
        .spawn(move || {
            while let Some(ev) = monitor.next_event() {
                match ev {
                    Ok(ev) => {
                        let changed = if ev.gone {
                            on.remove(&(ev.ifindex, ev.address))
                        } else {
                            on.insert((ev.ifindex, ev.address))
                        };
                        if changed && tx.send(set(&on)).is_err() {
                            return;
                        }
                    }
                    Err(e) => warn!(error = %e, "address monitor"),
                }
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(rx)
}
