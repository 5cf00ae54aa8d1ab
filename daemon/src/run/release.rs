//! The last resort: what tandem lets go of when it cannot stop the normal way.
//!
//! A graceful stop (SIGTERM, SIGINT, SIGQUIT) has every master send a priority-0 advert and
//! remove its virtual addresses, then removes the IPVS services tandem manages (unless
//! `--dont-release-ipvs`). Two things end tandem without that:
//! - a panic, which is a bug: tandem does not carry on with a task gone and its state lost
//!   (a half-dead daemon could hold a VIP that nothing defends). The panic hook releases and
//!   then aborts the process; systemd's `Restart=on-failure` brings it back, and a new start
//!   rejoins as backup and reconciles IPVS like any start.
//! - the signals that must end it at once whatever its loop is doing: SIGABRT (systemd's
//!   watchdog sends it to a daemon that stopped answering), SIGTRAP, SIGSYS.
//!
//! Before either ends the process, [`release_all`] removes every virtual address tandem holds
//! and sends one priority-0 advert for every instance that is master (RFC 5798 section
//! 6.4.3, as at a graceful stop), so the backup takes over after its skew time rather than
//! the master-down interval, and no host keeps a VIP that its daemon no longer defends. It
//! runs on the thread that is ending the process, with its own route-netlink socket opened at
//! start, and needs neither the runtime nor any task (the runtime may be what hung). The IPVS
//! table is left as it is: without the VIP no new traffic reaches it, and the restarted tandem
//! reconciles it with the configuration.
//!
//! What is held is recorded here: an address is added (or removed) and recorded under one
//! lock, and nothing is added once a release has begun, so a release never misses an address
//! added at the same moment. SIGKILL, SIGSTOP and the kernel's fault signals (a real SIGSEGV
//! or SIGBUS) cannot be handled: the VIP stays until the backup takes over after its
//! master-down interval, as with keepalived.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, TryLockError};
use std::time::{Duration, Instant};
use tandem_vrrp::linux::addr::{AddressSpec, Addresses, Outcome};
use tandem_vrrp::linux::socket::VrrpSender;
use tracing::{error, info, warn};

/// The priority-0 adverts a master sends when it goes.
pub struct Goodbye {
    /// The instance's sending socket.
    pub socket: Arc<VrrpSender>,
    /// Each destination (the group, or every unicast peer) with the encoded advert.
    pub packets: Vec<(IpAddr, Vec<u8>)>,
}

/// What tandem holds on the host.
struct Held {
    /// A release has begun: nothing more is added.
    releasing: bool,
    /// Virtual addresses added, by (interface, address, prefix).
    addresses: BTreeMap<(u32, IpAddr, u8), AddressSpec>,
    /// Masters' goodbyes, by instance name.
    goodbyes: BTreeMap<String, Goodbye>,
}

static HELD: Mutex<Held> = Mutex::new(Held { releasing: false, addresses: BTreeMap::new(), goodbyes: BTreeMap::new() });

/// The release's own route-netlink socket, opened at start: at the end there may be no
/// descriptor left to open one, and the runtime's socket may be in use by a stuck task.
static SOCKET: OnceLock<Addresses> = OnceLock::new();

/// Set by the first [`release_all`].
static RELEASED: AtomicBool = AtomicBool::new(false);

/// How long a release waits for the lock that an add or remove holds (each takes a few
/// milliseconds); past this it gives up on that part rather than hang the end.
const LOCK_WAIT: Duration = Duration::from_millis(500);

fn held() -> MutexGuard<'static, Held> {
    // A panic while the lock is held leaves the data as it was: the maps are only inserted
    // into or removed from.
    HELD.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Opens the release's socket and installs the panic hook (after the default one, which
/// prints the panic). Call once, after capabilities are dropped.
pub fn prepare() -> Result<(), String> {
    let socket = Addresses::open().map_err(|e| format!("cannot open the route-netlink socket for releases: {e}"))?;
    let _ = SOCKET.set(socket);
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // The default hook prints the panic (and a backtrace if asked) and ignores a stderr
        // that cannot be written; so does the log.
        default(info);
        error!("tandem hit a bug (the panic above) and ends now; releasing what it holds first");
        release_all("panic");
        std::process::abort();
    }));
    Ok(())
}

/// Adds a virtual address and records it, unless a release has begun.
pub fn add(addrs: &Addresses, spec: &AddressSpec) -> Result<Outcome, String> {
    let mut held = held();
    if held.releasing {
        return Err(format!("{}/{} not added: tandem is ending", spec.address, spec.prefix));
    }
    let outcome = addrs.add(spec).map_err(|e| e.to_string())?;
    held.addresses.insert((spec.ifindex, spec.address, spec.prefix), spec.clone());
    Ok(outcome)
}

/// Removes a virtual address; it stays recorded if the kernel refused (a release tries again).
pub fn remove(addrs: &Addresses, spec: &AddressSpec) -> Result<Outcome, String> {
    let mut held = held();
    let outcome = addrs.remove(spec).map_err(|e| e.to_string())?;
    held.addresses.remove(&(spec.ifindex, spec.address, spec.prefix));
    Ok(outcome)
}

/// Records (or, with `None`, forgets) the goodbye of instance `name` while it is master.
pub fn goodbye(name: &str, goodbye: Option<Goodbye>) {
    let mut held = held();
    match goodbye {
        Some(g) => {
            held.goodbyes.insert(name.to_string(), g);
        }
        None => {
            held.goodbyes.remove(name);
        }
    }
}

/// Waits up to [`LOCK_WAIT`] for the lock.
fn held_within(wait: Duration) -> Option<MutexGuard<'static, Held>> {
    let end = Instant::now() + wait;
    loop {
        match HELD.try_lock() {
            Ok(g) => return Some(g),
            Err(TryLockError::Poisoned(p)) => return Some(p.into_inner()),
            Err(TryLockError::WouldBlock) if Instant::now() < end => std::thread::sleep(Duration::from_millis(5)),
            Err(TryLockError::WouldBlock) => return None,
        }
    }
}

/// Removes every address tandem holds and sends every master's goodbye; logs what it did.
/// Runs once (later calls return at once); `why` names the cause for the log.
pub fn release_all(why: &str) {
    if RELEASED.swap(true, Ordering::SeqCst) {
        return;
    }
    let Some(mut held) = held_within(LOCK_WAIT) else {
        error!(cause = why, "cannot release the virtual addresses: the thread holding their record is stuck");
        return;
    };
    held.releasing = true;
    // Set by `prepare`, which installs the panic hook and runs before the signal thread
    // starts: whoever calls this finds it.
    match SOCKET.get() {
        Some(socket) => {
            for spec in held.addresses.values() {
                match socket.remove(spec) {
                    Ok(_) => info!(cause = why, address = %spec.address, interface = %spec.ifname, "VIP released"),
                    Err(e) => error!(cause = why, error = %e, "cannot release VIP"),
                }
            }
        }
        None => error!(cause = why, "cannot release the virtual addresses: no route-netlink socket"),
    }
    held.addresses.clear();
    for (name, g) in &held.goodbyes {
        for (dst, bytes) in &g.packets {
            match g.socket.try_send_to(bytes, *dst) {
                Ok(()) => info!(cause = why, instance = %name, %dst, "priority 0 sent"),
                Err(e) => warn!(cause = why, instance = %name, %dst, error = %e, "cannot send priority 0"),
            }
        }
    }
    held.goodbyes.clear();
}
