//! Keeping the kernel's IPVS table as the configuration wants it.
//!
//! At start tandem dumps the table and applies the difference; then, every reconcile period,
//! it dumps again and repairs drift (a hand edit with ipvsadm is undone and logged). Only
//! the services the configuration declares are touched, unless `lvs_flush` gives tandem the
//! whole table. On stop it removes the services it manages, unless told to leave them
//! (`--dont-release-ipvs`, as keepalived's option).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tandem_ipvs::{Change, Ipvs, Scope, ServiceKey, Table, diff};
use tokio::sync::watch;
use tracing::{error, info, warn};

/// How often the kernel's table is compared with the desired one.
pub const RECONCILE_PERIOD: Duration = Duration::from_secs(5);

/// What one reconcile round reads: the desired table and the services tandem manages.
struct Want {
    desired: Table,
    managed: BTreeSet<ServiceKey>,
    whole: bool,
}

/// Applies `desired` now and keeps it applied until `stop`.
pub async fn keep(desired: Table, whole: bool, release: bool, mut stop: watch::Receiver<bool>) -> Result<(), String> {
    let managed: BTreeSet<ServiceKey> = desired.services.keys().copied().collect();
    let want = Arc::new(Want { desired, managed, whole });
    // One socket for the daemon's life (neli runs a thread per socket); reopened only after
    // a failure, e.g. while the ip_vs module is not loaded yet.
    let mut ipvs: Option<Arc<Ipvs>> = None;
    let mut first = true;
    loop {
        let (w, socket, first_round) = (want.clone(), ipvs.clone(), first);
        let result =
            tokio::task::spawn_blocking(move || reconcile(&w, socket, first_round)).await.map_err(|e| e.to_string())?;
        match result {
            Ok(socket) => ipvs = Some(socket),
            Err(e) => {
                ipvs = None;
                // As keepalived, whose VRRP goes on when its checker cannot reach IPVS: say
                // so loudly and try again next period (the module may be loaded meanwhile).
                error!(error = %e, "cannot program IPVS; retrying every {} s", RECONCILE_PERIOD.as_secs());
            }
        }
        first = false;
        tokio::select! {
            () = tokio::time::sleep(RECONCILE_PERIOD) => {}
            _ = stop.changed() => break,
        }
    }
    if release {
        let w = want.clone();
        let r = tokio::task::spawn_blocking(move || remove(&w.managed, ipvs)).await.map_err(|e| e.to_string())?;
        if let Err(e) = r {
            warn!(error = %e, "cannot remove IPVS services at stop");
        }
    }
    Ok(())
}

fn open(socket: Option<Arc<Ipvs>>) -> Result<Arc<Ipvs>, String> {
    match socket {
        Some(s) => Ok(s),
        None => Ipvs::open().map(Arc::new).map_err(|e| format!("{e} (is the ip_vs module loaded?)")),
    }
}

/// One round: dump, diff, apply. Returns the socket for the next round.
fn reconcile(w: &Want, socket: Option<Arc<Ipvs>>, first: bool) -> Result<Arc<Ipvs>, String> {
    let ipvs = open(socket)?;
    let current = ipvs.dump().map_err(|e| e.to_string())?;
    let scope = if w.whole { Scope::Whole } else { Scope::Declared(&w.managed) };
    let changes = diff(&current, &w.desired, scope);
    if !first && !changes.is_empty() {
        warn!(changes = changes.len(), "IPVS table drifted from the configuration (edited by hand?); repairing");
    }
    for c in &changes {
        ipvs.apply(c).map_err(|e| e.to_string())?;
        info!(change = %c, "IPVS");
    }
    Ok(ipvs)
}

fn remove(managed: &BTreeSet<ServiceKey>, socket: Option<Arc<Ipvs>>) -> Result<(), String> {
    let ipvs = open(socket)?;
    for k in managed {
        ipvs.apply(&Change::DelService(*k)).map_err(|e| e.to_string())?;
        info!(service = %k, "IPVS service removed at stop");
    }
    Ok(())
}
