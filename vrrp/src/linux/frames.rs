//! Sending whole Ethernet frames (gratuitous ARP, unsolicited neighbour advertisements) on
//! one interface through an AF_PACKET socket.
//!
//! The socket is opened with protocol 0, so it receives nothing; it is bound to the
//! interface, so `send` needs no address.

use nix::libc;
use socket2::{Domain, SockAddr, Socket, Type};
use std::io;

/// A packet socket that sends frames out of one interface.
pub struct FrameSender {
    socket: Socket,
}

impl FrameSender {
    /// Opens a sender on interface `ifindex`.
    pub fn open(ifindex: u32) -> io::Result<FrameSender> {
        let socket = Socket::new(Domain::PACKET, Type::RAW, None)?;
        socket.set_nonblocking(true)?;
        socket.bind(&link_address(ifindex)?)?;
        Ok(FrameSender { socket })
    }

    /// Sends one complete frame (destination MAC first). A full send queue is reported as
    /// `WouldBlock`, never waited for.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        let n = self.socket.send(frame)?;
        if n == frame.len() { Ok(()) } else { Err(io::Error::other(format!("sent {n} of {} bytes", frame.len()))) }
    }
}

/// A `sockaddr_ll` naming interface `ifindex` (protocol 0: receive nothing).
fn link_address(ifindex: u32) -> io::Result<SockAddr> {
    let index = i32::try_from(ifindex).map_err(|_| io::Error::other("interface index out of range"))?;
    // SAFETY: `try_init` hands us a zeroed sockaddr_storage, which is larger than and aligned
    // for sockaddr_ll; we write only sockaddr_ll fields through a pointer to it and report
    // exactly sockaddr_ll's length. There is no safe constructor for a link-layer address in
    // socket2 or nix.
    #[allow(unsafe_code)]
    let ((), addr) = unsafe {
        SockAddr::try_init(|storage, len| {
            let ll = storage.cast::<libc::sockaddr_ll>();
            (*ll).sll_family = libc::AF_PACKET as libc::sa_family_t;
            (*ll).sll_protocol = 0;
            (*ll).sll_ifindex = index;
            *len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            Ok(())
        })
    }?;
    Ok(addr)
}
