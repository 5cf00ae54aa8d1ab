//! Raw sockets for IP protocol 112 (VRRP), bound to one interface.
//!
//! As keepalived (keepalived/vrrp/vrrp.c, open_vrrp_send_socket / open_vrrp_read_socket):
//! TTL / hop limit 255 for multicast and unicast (RFC 5798 section 5.1.1.3: receivers drop
//! other values), TOS 0xC0 (network control) for IPv4, multicast loop off, the group joined
//! on the interface only for multicast, and the socket bound to the interface
//! (SO_BINDTODEVICE) so adverts go out and come in there and nowhere else.
//!
//! With `auth_type AH` (IPv4 only) both sockets are for protocol 51 instead, and the sending
//! one has `IP_HDRINCL`: the AH ICV covers the IP header, so tandem writes it (with a
//! non-zero id, which the kernel keeps) and hands the whole packet over, as keepalived does.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use tokio::io::unix::AsyncFd;

/// IANA protocol number of VRRP.
pub const IPPROTO_VRRP: i32 = 112;
/// IANA protocol number of IPsec AH.
pub const IPPROTO_AH: i32 = 51;

/// What one receive returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Sender's address.
    pub src: IpAddr,
    /// Destination address (IPv4: from the header; IPv6: not known here).
    pub dst: Option<IpAddr>,
    /// TTL (IPv4) or hop limit (IPv6) the packet arrived with.
    pub ttl: u8,
    /// IPv4 TOS byte (0 for IPv6).
    pub tos: u8,
    /// The IPv4 header as received, options included (empty for IPv6): what the AH ICV
    /// covers besides the payload.
    pub header: Vec<u8>,
    /// The VRRP message.
    pub payload: Vec<u8>,
}

/// A VRRP socket pair on one interface: one to send (bound to the source address, when one
/// is configured) and one to receive. A raw socket bound to an address only receives packets
/// sent to that address, so one socket cannot do both for multicast; keepalived also keeps
/// them apart (open_vrrp_send_socket / open_vrrp_read_socket). The daemon shares each half
/// between the instances that can use it ([`VrrpSender`], [`VrrpReceiver`]).
pub struct VrrpSocket {
    tx: VrrpSender,
    rx: VrrpReceiver,
}

impl VrrpSocket {
    /// Opens the sockets for one interface and family. `group` is joined for multicast (none
    /// for unicast); `source`, when given, is the address adverts are sent from. `ah`: IPv4
    /// AH-protected adverts (protocol 51; the sender writes the IP header, see
    /// [`VrrpSocket::send_to`]).
    pub fn open(
        ifname: &str,
        ifindex: u32,
        v6: bool,
        group: Option<IpAddr>,
        source: Option<IpAddr>,
        ah: bool,
    ) -> io::Result<Self> {
        let tx = VrrpSender::open(ifname, ifindex, v6, source, ah)?;
        let rx = VrrpReceiver::open(ifname, ifindex, v6, ah)?;
        if let Some(g) = group {
            rx.join(g)?;
        }
        Ok(VrrpSocket { tx, rx })
    }

    /// See [`VrrpSender::set_unicast_ttl`].
    pub fn set_unicast_ttl(&self, ttl: u8) -> io::Result<()> {
        self.tx.set_unicast_ttl(ttl)
    }

    /// See [`VrrpSender::send_to`].
    pub async fn send_to(&self, payload: &[u8], dst: IpAddr) -> io::Result<()> {
        self.tx.send_to(payload, dst).await
    }

    /// See [`VrrpSender::try_send_to`].
    pub fn try_send_to(&self, payload: &[u8], dst: IpAddr) -> io::Result<()> {
        self.tx.try_send_to(payload, dst)
    }

    /// See [`VrrpReceiver::recv`].
    pub async fn recv(&self) -> io::Result<Received> {
        self.rx.recv().await
    }
}

/// The sending half: a raw socket for adverts out of one interface, from one source address
/// (or the kernel's choice), with one unicast TTL. Any number of instances with the same
/// interface, family, protocol, source and unicast TTL can share one: it holds no state of
/// an instance (with AH, each instance writes its own IP header).
pub struct VrrpSender {
    tx: AsyncFd<Socket>,
    v6: bool,
}

impl VrrpSender {
    /// Opens the sending socket for one interface and family; `source`, when given, is the
    /// address adverts are sent from; `ah`: IPv4 AH-protected adverts (protocol 51, with
    /// `IP_HDRINCL`: the sender writes the IP header, see [`VrrpSender::send_to`]).
    pub fn open(ifname: &str, ifindex: u32, v6: bool, source: Option<IpAddr>, ah: bool) -> io::Result<Self> {
        let tx = raw_socket(ifname, ifindex, v6, protocol(v6, ah)?)?;
        if ah {
            tx.set_header_included_v4(true)?;
        }
        if let Some(src) = source {
            tx.bind(&SockAddr::from(SocketAddr::new(src, 0)))?;
        }
        // The sending socket is never read: the smallest queue the kernel allows, so that what
        // it is given (every VRRP packet on the interface) is dropped, not hoarded.
        tx.set_recv_buffer_size(1)?;
        Ok(VrrpSender { tx: register(tx)?, v6 })
    }

    /// The TTL (IPv6: hop limit) of unicast adverts, 255 unless set (keepalived's
    /// `unicast_ttl`); multicast adverts keep 255 (RFC 5798 5.1.1.3).
    pub fn set_unicast_ttl(&self, ttl: u8) -> io::Result<()> {
        let s = self.tx.get_ref();
        if self.v6 { s.set_unicast_hops_v6(u32::from(ttl)) } else { s.set_ttl_v4(u32::from(ttl)) }
    }

    /// Sends one VRRP message to `dst` (the group, or a unicast peer); for AH sockets, the
    /// whole IPv4 packet, header included ([`crate::wire::ah::seal`]).
    pub async fn send_to(&self, payload: &[u8], dst: IpAddr) -> io::Result<()> {
        let to = SockAddr::from(SocketAddr::new(dst, 0));
        loop {
            let mut guard = self.tx.writable().await?;
            match guard.try_io(|s| s.get_ref().send_to(payload, &to)) {
                Ok(r) => return r.map(|_| ()),
                Err(_would_block) => continue,
            }
        }
    }

    /// Sends one VRRP message to `dst` now, without the runtime: for a thread that may run
    /// while the runtime is stuck or gone (the last-resort release when tandem must end at
    /// once). A full send buffer is an error, not a wait.
    pub fn try_send_to(&self, payload: &[u8], dst: IpAddr) -> io::Result<()> {
        let to = SockAddr::from(SocketAddr::new(dst, 0));
        self.tx.get_ref().send_to(payload, &to).map(|_| ())
    }
}

/// The receiving half: a raw socket that receives every VRRP (or, for AH, every IPsec AH)
/// packet that arrives on one interface, for any VRID: the daemon opens one per interface,
/// family and protocol and hands each packet to the instance its VRID names
/// ([`crate::wire::vrrp::vrid_of`]), as keepalived's socket pool does
/// (keepalived/vrrp/vrrp_scheduler.c, vrrp_create_sockpool and vrrp_read_dispatcher_thread).
pub struct VrrpReceiver {
    rx: AsyncFd<Socket>,
    v6: bool,
    ifindex: u32,
}

impl VrrpReceiver {
    /// Opens the receiving socket for one interface and family (`ah`: protocol 51, IPv4
    /// only). It joins no group: see [`VrrpReceiver::join`].
    pub fn open(ifname: &str, ifindex: u32, v6: bool, ah: bool) -> io::Result<Self> {
        let rx = raw_socket(ifname, ifindex, v6, protocol(v6, ah)?)?;
        Ok(VrrpReceiver { rx: register(rx)?, v6, ifindex })
    }

    /// Joins multicast group `group` on the interface.
    pub fn join(&self, group: IpAddr) -> io::Result<()> {
        let s = self.rx.get_ref();
        match group {
            IpAddr::V6(g) => s.join_multicast_v6(&g, self.ifindex),
            IpAddr::V4(g) => s.join_multicast_v4_n(&g, &socket2::InterfaceIndexOrAddress::Index(self.ifindex)),
        }
    }

    /// Leaves multicast group `group` on the interface.
    pub fn leave(&self, group: IpAddr) -> io::Result<()> {
        let s = self.rx.get_ref();
        match group {
            IpAddr::V6(g) => s.leave_multicast_v6(&g, self.ifindex),
            IpAddr::V4(g) => s.leave_multicast_v4_n(&g, &socket2::InterfaceIndexOrAddress::Index(self.ifindex)),
        }
    }

    /// Receives one packet.
    pub async fn recv(&self) -> io::Result<Received> {
        loop {
            let mut guard = self.rx.readable().await?;
            let r = guard.try_io(|s| if self.v6 { recv_v6(s.get_ref()) } else { recv_v4(s.get_ref()) });
            match r {
                Ok(Ok(Some(p))) => return Ok(p),
                Ok(Ok(None)) => continue, // not a packet we can read: skip it
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

/// The IP protocol of the sockets: VRRP, or AH (IPv4 only).
fn protocol(v6: bool, ah: bool) -> io::Result<i32> {
    match (ah, v6) {
        (true, true) => Err(io::Error::new(io::ErrorKind::InvalidInput, "IPsec AH authentication is IPv4 only")),
        (true, false) => Ok(IPPROTO_AH),
        (false, _) => Ok(IPPROTO_VRRP),
    }
}

/// A raw socket for `protocol` (112, or 51 for AH) bound to the interface, with
/// keepalived's options.
fn raw_socket(ifname: &str, ifindex: u32, v6: bool, protocol: i32) -> io::Result<Socket> {
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let s = Socket::new(domain, Type::RAW, Some(Protocol::from(protocol)))?;
    s.set_nonblocking(true)?;
    s.bind_device(Some(ifname.as_bytes()))?;
    if v6 {
        s.set_multicast_hops_v6(255)?;
        s.set_unicast_hops_v6(255)?;
        s.set_multicast_loop_v6(false)?;
        s.set_multicast_if_v6(ifindex)?;
        s.set_recv_hoplimit_v6(true)?;
    } else {
        s.set_multicast_ttl_v4(255)?;
        s.set_ttl_v4(255)?;
        s.set_tos_v4(0xc0)?;
        s.set_multicast_loop_v4(false)?;
    }
    Ok(s)
}

fn register(s: Socket) -> io::Result<AsyncFd<Socket>> {
    // SAFETY: the socket2::Socket owns its file descriptor from creation to drop, and
    // `as_raw_fd` always returns that same descriptor; the AsyncFd owns the Socket, so the
    // descriptor stays open and unchanged for the AsyncFd's whole life (tokio's contract for
    // `register`).
    #[allow(unsafe_code)]
    unsafe { AsyncFd::register(s) }.map_err(|e| io::Error::other(e.to_string()))
}

/// IPv4 raw sockets return the IP header with the payload.
fn recv_v4(s: &Socket) -> io::Result<Option<Received>> {
    use std::io::Read;
    // On the stack: a 2 KiB heap buffer per packet cost a malloc and a free (and glibc's
    // consolidation of freed chunks) for every advert; what is kept is copied out below.
    let mut buf = [0u8; 2048];
    let n = (&*s).read(&mut buf)?;
    let bytes = buf.get(..n).unwrap_or_default();
    // A packet the kernel handed us that does not parse as IPv4 is skipped.
    let Ok(packet) = crate::wire::ipv4::Ipv4Packet::new_checked(bytes) else { return Ok(None) };
    Ok(Some(Received {
        src: packet.src_addr().into(),
        dst: Some(packet.dst_addr().into()),
        ttl: packet.ttl(),
        tos: packet.tos(),
        header: bytes.get(..packet.header_len()).unwrap_or_default().to_vec(),
        payload: packet.payload().to_vec(),
    }))
}

/// IPv6 raw sockets return the payload only; the hop limit comes as ancillary data.
fn recv_v6(s: &Socket) -> io::Result<Option<Received>> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn6, recvmsg};
    let mut buf = [0u8; 2048];
    let mut cmsg = nix::cmsg_space!(nix::libc::c_int);
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let msg =
        recvmsg::<SockaddrIn6>(s.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty()).map_err(io::Error::from)?;
    let mut ttl = None;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::Ipv6HopLimit(h) = c {
            ttl = u8::try_from(h).ok();
        }
    }
    let (Some(from), Some(ttl)) = (msg.address, ttl) else { return Ok(None) };
    let n = msg.bytes;
    let src: Ipv6Addr = from.ip();
    Ok(Some(Received { src: src.into(), dst: None, ttl, tos: 0, header: Vec::new(), payload: buf[..n].to_vec() }))
}
