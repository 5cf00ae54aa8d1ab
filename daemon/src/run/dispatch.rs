//! VRRP sockets shared by the instances that can use them.
//!
//! Receiving: one raw socket per (interface, family, protocol VRRP or AH), joined to every
//! multicast group an instance on it uses, read by one task that finds each packet's VRID
//! ([`vrid_of`]) and hands the packet to the instance(s) registered for that VRID. Every
//! check an instance makes on its adverts (TTL, unicast peer, length, checksum,
//! authentication, AH) stays the instance's, with its own drop counters. keepalived does the
//! same (keepalived/vrrp/vrrp_scheduler.c: vrrp_create_sockpool keys a socket by family,
//! protocol, interface and multicast group or unicast source, and vrrp_read_dispatcher_thread
//! finds the instance by VRID in the socket's tree). Before, each instance had its own
//! socket: the kernel copied every VRRP packet on the interface to all of them and every
//! instance woke for every advert (1,000 instances: 1,000 copies and wakeups per advert).
//!
//! A packet whose VRID no instance on the interface has is counted on the socket
//! (`unknown_vrid`, in `tandem status --json` under `vrrp_sockets` and in the metric
//! `tandem_vrrp_socket_unknown_vrid`): no instance owns it, so no instance's counters carry
//! it. A packet too short to name a VRID (or AH around another protocol) goes to every
//! instance on the socket, which drops and counts it as before.
//!
//! Sending: one raw socket per (interface, family, protocol, source address, unicast TTL):
//! what a sending socket is bound to or set with. With AH each instance writes its own IP
//! header, so AH senders share too.
//!
//! A registration ([`Registration`]) and a sender handle (`Arc<VrrpSender>`) live as long
//! as the instance's run: a reload that removes or restarts a unit drops them, a group no
//! instance uses any more is left, and a socket nobody uses is closed (its task ends).

use super::Event;
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;
use tandem_vrrp::linux::socket::{VrrpReceiver, VrrpSender};
use tandem_vrrp::wire::vrrp::vrid_of;
use tokio::sync::mpsc;
use tracing::{debug, warn};

/// A receiving socket's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PortKey {
    ifindex: u32,
    v6: bool,
    ah: bool,
}

/// A sending socket's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SendKey {
    ifindex: u32,
    v6: bool,
    ah: bool,
    source: Option<IpAddr>,
    unicast_ttl: Option<u8>,
}

/// One instance's place on a receiving socket.
struct Route {
    id: u64,
    member: usize,
    tx: mpsc::Sender<Event>,
}

/// Who a receiving socket serves, and what it counted.
#[derive(Default)]
struct Routes {
    /// Instances by VRID (one, but for an instant during a reload that renames one).
    by_vrid: HashMap<u8, Vec<Route>>,
    /// Multicast groups joined, with the number of instances using each.
    groups: HashMap<IpAddr, usize>,
    /// Packets received.
    received: u64,
    /// Packets for a VRID no instance here has.
    unknown_vrid: u64,
    /// Packets an instance could not take (its queue was full: it is busy).
    queue_full: u64,
}

/// One receiving socket and its reader.
struct Port {
    ifname: String,
    socket: Arc<VrrpReceiver>,
    routes: Arc<Mutex<Routes>>,
    reader: tokio::task::AbortHandle,
}

#[derive(Default)]
struct Inner {
    ports: HashMap<PortKey, Port>,
    senders: HashMap<SendKey, Weak<VrrpSender>>,
    next_id: u64,
}

/// The shared VRRP sockets of this tandem (one per namespace it runs in: every socket is
/// made in the namespace the daemon runs in).
#[derive(Default, Clone)]
pub(crate) struct Dispatch {
    inner: Arc<Mutex<Inner>>,
}

/// What a receiving socket's entry in `tandem status --json` says.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct SocketStatus {
    /// The interface.
    pub interface: String,
    /// `ipv4` or `ipv6`.
    pub family: &'static str,
    /// `vrrp` (112) or `ah` (51).
    pub protocol: &'static str,
    /// The VRIDs of the instances it serves.
    pub vrids: Vec<u8>,
    /// The multicast groups it joined.
    pub groups: Vec<String>,
    /// Packets received.
    pub received: u64,
    /// Packets for a VRID no instance on the interface has (not counted by any instance).
    pub unknown_vrid: u64,
    /// Packets an instance was too busy to take (its queue was full).
    pub queue_full: u64,
}

/// An instance's registration on a receiving socket: its packets come to it while this
/// lives; dropping it leaves the instance's group (when no other uses it) and closes the
/// socket when it was the last.
pub(crate) struct Registration {
    dispatch: Weak<Mutex<Inner>>,
    key: PortKey,
    vrid: u8,
    id: u64,
    group: Option<IpAddr>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What one receiving socket needs to know of an instance.
pub(crate) struct Want<'a> {
    /// The interface its adverts come in on.
    pub ifname: &'a str,
    /// Its index.
    pub ifindex: u32,
    /// IPv6.
    pub v6: bool,
    /// IPsec AH (protocol 51).
    pub ah: bool,
    /// The multicast group (None: unicast).
    pub group: Option<IpAddr>,
    /// The VRID.
    pub vrid: u8,
    /// The member's index in its unit (the unit's events carry it).
    pub member: usize,
}

impl Dispatch {
    /// Registers an instance: its packets go to `tx` as `Event::Packet(member, ..)`. Opens
    /// the interface's socket (and starts its reader) if it is the first, and joins the
    /// group if no instance there uses it yet. Must be called on the runtime.
    pub(crate) fn register(&self, w: &Want<'_>, tx: mpsc::Sender<Event>) -> io::Result<Registration> {
        let key = PortKey { ifindex: w.ifindex, v6: w.v6, ah: w.ah };
        let mut inner = lock(&self.inner);
        inner.next_id += 1;
        let id = inner.next_id;
        if !inner.ports.contains_key(&key) {
            let socket = Arc::new(VrrpReceiver::open(w.ifname, w.ifindex, w.v6, w.ah)?);
            let routes = Arc::new(Mutex::new(Routes::default()));
            let reader = tokio::spawn(read(socket.clone(), routes.clone(), w.ah)).abort_handle();
            debug!(interface = w.ifname, v6 = w.v6, ah = w.ah, "VRRP receive socket opened");
            inner.ports.insert(key.clone(), Port { ifname: w.ifname.to_string(), socket, routes, reader });
        }
        let Some(port) = inner.ports.get(&key) else { return Err(io::Error::other("receive socket vanished")) };
        let mut routes = lock(&port.routes);
        if let Some(g) = w.group {
            if !routes.groups.contains_key(&g) {
                if let Err(e) = port.socket.join(g) {
                    let empty = routes.by_vrid.is_empty();
                    drop(routes);
                    if empty {
                        if let Some(p) = inner.ports.remove(&key) {
                            p.reader.abort();
                        }
                    }
                    return Err(e);
                }
            }
            *routes.groups.entry(g).or_default() += 1;
        }
        routes.by_vrid.entry(w.vrid).or_default().push(Route { id, member: w.member, tx });
        drop(routes);
        Ok(Registration { dispatch: Arc::downgrade(&self.inner), key, vrid: w.vrid, id, group: w.group })
    }

    /// A sending socket for these options, shared with whoever uses the same.
    pub(crate) fn sender(
        &self,
        ifname: &str,
        ifindex: u32,
        v6: bool,
        ah: bool,
        source: Option<IpAddr>,
        unicast_ttl: Option<u8>,
    ) -> io::Result<Arc<VrrpSender>> {
        let key = SendKey { ifindex, v6, ah, source, unicast_ttl };
        let mut inner = lock(&self.inner);
        inner.senders.retain(|_, w| w.strong_count() > 0);
        if let Some(s) = inner.senders.get(&key).and_then(Weak::upgrade) {
            return Ok(s);
        }
        let s = VrrpSender::open(ifname, ifindex, v6, source, ah)?;
        if let Some(ttl) = unicast_ttl {
            s.set_unicast_ttl(ttl)
                .map_err(|e| io::Error::new(e.kind(), format!("cannot set unicast_ttl {ttl}: {e}")))?;
        }
        let s = Arc::new(s);
        inner.senders.insert(key, Arc::downgrade(&s));
        Ok(s)
    }

    /// Every receiving socket, for `tandem status --json` and the metrics.
    pub(crate) fn status(&self) -> Vec<SocketStatus> {
        let inner = lock(&self.inner);
        let mut out: Vec<SocketStatus> = inner
            .ports
            .iter()
            .map(|(k, p)| {
                let r = lock(&p.routes);
                let mut vrids: Vec<u8> = r.by_vrid.keys().copied().collect();
                vrids.sort_unstable();
                let mut groups: Vec<String> = r.groups.keys().map(ToString::to_string).collect();
                groups.sort();
                SocketStatus {
                    interface: p.ifname.clone(),
                    family: if k.v6 { "ipv6" } else { "ipv4" },
                    protocol: if k.ah { "ah" } else { "vrrp" },
                    vrids,
                    groups,
                    received: r.received,
                    unknown_vrid: r.unknown_vrid,
                    queue_full: r.queue_full,
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.interface, a.family, a.protocol).cmp(&(&b.interface, b.family, b.protocol)));
        out
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let Some(inner) = self.dispatch.upgrade() else { return };
        let mut inner = lock(&inner);
        let Some(port) = inner.ports.get(&self.key) else { return };
        let mut routes = lock(&port.routes);
        if let Some(list) = routes.by_vrid.get_mut(&self.vrid) {
            list.retain(|r| r.id != self.id);
            if list.is_empty() {
                routes.by_vrid.remove(&self.vrid);
            }
        }
        if let Some(g) = self.group {
            let left = routes.groups.get_mut(&g).map(|n| {
                *n = n.saturating_sub(1);
                *n
            });
            if left == Some(0) {
                routes.groups.remove(&g);
                if let Err(e) = port.socket.leave(g) {
                    debug!(interface = %port.ifname, group = %g, error = %e, "cannot leave the multicast group");
                }
            }
        }
        let empty = routes.by_vrid.is_empty();
        drop(routes);
        if empty {
            if let Some(p) = inner.ports.remove(&self.key) {
                p.reader.abort();
                debug!(interface = %p.ifname, "VRRP receive socket closed: no instance uses it");
            }
        }
    }
}

/// The reader of one receiving socket: each packet to the instance(s) of its VRID.
async fn read(socket: Arc<VrrpReceiver>, routes: Arc<Mutex<Routes>>, ah: bool) {
    let mut to: Vec<(usize, mpsc::Sender<Event>)> = Vec::new();
    loop {
        let p = match socket.recv().await {
            Ok(p) => Box::new(p),
            Err(e) => {
                warn!(error = %e, "VRRP receive failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        to.clear();
        {
            let mut r = lock(&routes);
            r.received += 1;
            match vrid_of(&p.payload, ah) {
                Some(vrid) => match r.by_vrid.get(&vrid) {
                    Some(list) => to.extend(list.iter().map(|x| (x.member, x.tx.clone()))),
                    None => r.unknown_vrid += 1,
                },
                // No VRID to read: every instance here judges (and counts) it, as before.
                None => to.extend(r.by_vrid.values().flatten().map(|x| (x.member, x.tx.clone()))),
            }
        }
        let mut full = 0;
        if let Some(((last_member, last_tx), rest)) = to.split_last() {
            for (member, tx) in rest {
                full += u64::from(is_full(tx.try_send(Event::Packet(*member, p.clone()))));
            }
            full += u64::from(is_full(last_tx.try_send(Event::Packet(*last_member, p))));
        }
        if full > 0 {
            lock(&routes).queue_full += full;
        }
    }
}

/// A packet an instance's queue had no room for (a closed queue is a unit ending: nothing
/// to count).
fn is_full(r: Result<(), mpsc::error::TrySendError<Event>>) -> bool {
    matches!(r, Err(mpsc::error::TrySendError::Full(_)))
}
