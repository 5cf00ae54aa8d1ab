//! Sockets bound as a [`Target`] asks (socket2 before connect), and the time bound.

use super::{Failure, Target, human};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use tokio::time::Instant;

/// A non-blocking socket of `ty` / `protocol` for `target`'s family, with `bind_if`, `fwmark`
/// and the source address / port applied, as keepalived's `socket_bind_connect` does
/// (keepalived/core/layer4.c).
pub(crate) fn bound_socket(target: &Target, ty: Type, protocol: Protocol) -> Result<Socket, Failure> {
    let domain = Domain::for_address(target.addr);
    let socket = Socket::new(domain, ty.nonblocking(), Some(protocol))
        .map_err(|e| Failure::new(format!("cannot create socket: {}", describe_io_error(&e))))?;
    bind_as(target, &socket, ty != Type::RAW)?;
    Ok(socket)
}

/// Applies `target`'s `bind_if`, `fwmark` and source address to `socket`; `reuse` lets a
/// fixed source port serve one attempt after another.
pub(crate) fn bind_as(target: &Target, socket: &Socket, reuse: bool) -> Result<(), Failure> {
    if let Some(dev) = &target.bind_if {
        socket
            .bind_device(Some(dev.as_bytes()))
            .map_err(|e| Failure::new(format!("cannot bind to interface {dev}: {}", describe_io_error(&e))))?;
    }
    if let Some(mark) = target.fwmark {
        socket
            .set_mark(mark)
            .map_err(|e| Failure::new(format!("cannot set fwmark {mark}: {}", describe_io_error(&e))))?;
    }
    if let Some(source) = source_addr(target) {
        if reuse {
            let _ = socket.set_reuse_address(true);
        }
        socket
            .bind(&SockAddr::from(source))
            .map_err(|e| Failure::new(format!("cannot bind to {source}: {}", describe_io_error(&e))))?;
    }
    Ok(())
}

/// The source address `target` asks for, if any.
fn source_addr(target: &Target) -> Option<SocketAddr> {
    if target.bind_addr.is_none() && target.bind_port.is_none() {
        return None;
    }
    let ip = target.bind_addr.unwrap_or(match target.addr {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    });
    Some(SocketAddr::new(ip, target.bind_port.unwrap_or(0)))
}

/// Connects a TCP stream to `target` by the deadline.
pub(crate) async fn tcp_connect(target: &Target, deadline: Instant) -> Result<tokio::net::TcpStream, Failure> {
    let socket = bound_socket(target, Type::STREAM, Protocol::TCP)?;
    let socket = tokio::net::TcpSocket::from_std_stream(std::net::TcpStream::from(socket));
    match tokio::time::timeout_at(deadline, socket.connect(target.addr)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(Failure::new(describe_io_error(&e))),
        Err(_) => Err(Failure::new(format!("connect timeout after {}", human(target.timeout)))),
    }
}

/// Runs `fut` until the deadline; past it, fails with "`what` timeout after N s".
pub(crate) async fn by_deadline<T>(
    deadline: Instant,
    target: &Target,
    what: &str,
    fut: impl Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    match tokio::time::timeout_at(deadline, fut).await {
        Ok(r) => r,
        Err(_) => Err(Failure::new(format!("{what} timeout after {}", human(target.timeout)))),
    }
}

/// The deadline of an attempt that started at `start`.
pub(crate) fn deadline_from(start: Instant, target: &Target) -> Instant {
    start + target.timeout
}

/// A socket error in the words of a log line ("connection refused", "host unreachable").
pub fn describe_io_error(e: &io::Error) -> String {
    use io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => "connection refused".into(),
        K::HostUnreachable => "host unreachable".into(),
        K::NetworkUnreachable => "network unreachable".into(),
        K::ConnectionReset => "connection reset".into(),
        K::AddrNotAvailable => "address not available".into(),
        K::PermissionDenied => "permission denied".into(),
        K::UnexpectedEof | K::BrokenPipe => "connection closed".into(),
        _ => e.to_string(),
    }
}
