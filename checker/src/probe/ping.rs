//! PING_CHECK: an ICMP (IPv4) or ICMPv6 echo request is answered
//! (keepalived/check/check_ping.c).
//!
//! keepalived uses a ping socket (`SOCK_DGRAM`, `IPPROTO_ICMP` / `IPPROTO_ICMPV6`): the kernel
//! sets the echo identifier and hands the socket only the replies to it, and keepalived
//! widens `net.ipv4.ping_group_range` so that root may open one. tandem opens a ping socket
//! too, but does not touch the sysctl: when the range refuses it (the kernel's default in a
//! fresh network namespace is "1 0"), it falls back to a raw socket, which CAP_NET_RAW allows,
//! sets a random identifier itself and ignores every packet that is not its reply. Either
//! way the socket is connected to the target, so only its packets arrive, and the reply must
//! be an echo reply with the sequence number sent (and, on a raw socket, the identifier). An
//! ICMP destination unreachable for the request fails the attempt at once.

use super::socket::{bind_as, deadline_from};
use super::{Failure, ProbeResult, Success, Target, describe_io_error, human, random_u16};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::ErrorKind;
use tokio::time::Instant;

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const UNREACHABLE_V4: u8 = 3;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
const UNREACHABLE_V6: u8 = 1;

/// Payload after the 8-byte header.
const PAYLOAD: &[u8] = b"tandem PING_CHECK 0123456789abcdef0123456789abcd";

/// Sends one echo request and waits for its reply.
///
/// `start` is when the attempt began; it ends by `start + connect_timeout`.
pub async fn probe(target: &Target, start: Instant) -> ProbeResult {
    let deadline = deadline_from(start, target);
    let v6 = target.addr.is_ipv6();
    let (socket, raw) = open(target)?;
    socket.connect(&SockAddr::from(target.addr)).map_err(|e| Failure::new(describe_io_error(&e)))?;
    let id = random_u16();
    let seq = random_u16();
    let request = echo_request(v6, raw, id, seq);
    // tokio's UDP socket type only issues send(2) and recv(2), which suit any connected
    // datagram or raw socket: it drives the ICMP socket without unsafe code.
    let socket = tokio::net::UdpSocket::from_std(socket.into()).map_err(|e| Failure::new(describe_io_error(&e)))?;
    let exchange = async {
        socket
            .send(&request)
            .await
            .map_err(|e| Failure::new(format!("cannot send echo request: {}", describe_io_error(&e))))?;
        let mut buf = [0u8; 2048];
        loop {
            let n = socket.recv(&mut buf).await.map_err(|e| Failure::new(describe_io_error(&e)))?;
            let packet = buf.get(..n).unwrap_or_default();
            let icmp = if raw && !v6 { strip_ipv4_header(packet) } else { Some(packet) };
            match icmp.map(|m| judge(v6, raw, id, seq, m)) {
                Some(Verdict::Reply) => return Ok(Success::default()),
                Some(Verdict::Unreachable(code)) => {
                    return Err(Failure::new(format!("destination unreachable (ICMP code {code})")));
                }
                Some(Verdict::Other) | None => continue,
            }
        }
    };
    match tokio::time::timeout_at(deadline, exchange).await {
        Ok(r) => r,
        Err(_) => Err(Failure::new(format!("no echo reply within {}", human(target.timeout)))),
    }
}

/// A ping socket, else a raw one when the ping group range refuses us; true for raw.
fn open(target: &Target) -> Result<(Socket, bool), Failure> {
    let (domain, protocol) = match target.addr {
        std::net::SocketAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
        std::net::SocketAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
    };
    let (socket, raw) = match Socket::new(domain, Type::DGRAM.nonblocking(), Some(protocol)) {
        Ok(s) => (s, false),
        Err(e) if matches!(e.kind(), ErrorKind::PermissionDenied) => {
            let s = Socket::new(domain, Type::RAW.nonblocking(), Some(protocol))
                .map_err(|e| Failure::new(format!("cannot open an ICMP socket: {}", describe_io_error(&e))))?;
            (s, true)
        }
        Err(e) => return Err(Failure::new(format!("cannot open an ICMP socket: {}", describe_io_error(&e)))),
    };
    bind_as(target, &socket, false)?;
    Ok((socket, raw))
}

/// The request: type, code 0, checksum, identifier, sequence, payload. A ping socket
/// overwrites the identifier and sums it; for ICMPv6 the kernel always sums; a raw ICMPv4
/// socket needs the sum from us (RFC 792).
fn echo_request(v6: bool, raw: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 }, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(PAYLOAD);
    if raw && !v6 {
        let sum = checksum(&p).to_be_bytes();
        p[2] = sum[0];
        p[3] = sum[1];
    }
    p
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 =
        data.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The ICMP message inside an IPv4 packet as a raw socket delivers it.
fn strip_ipv4_header(packet: &[u8]) -> Option<&[u8]> {
    let ihl = usize::from(packet.first()? & 0x0f) * 4;
    if ihl < 20 { None } else { packet.get(ihl..) }
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Our echo reply.
    Reply,
    /// Destination unreachable for our request, with its code.
    Unreachable(u8),
    /// Someone else's packet, or not one that decides.
    Other,
}

/// Judges one ICMP message.
fn judge(v6: bool, raw: bool, id: u16, seq: u16, msg: &[u8]) -> Verdict {
    let (Some(&kind), Some(&code)) = (msg.first(), msg.get(1)) else { return Verdict::Other };
    let field = |m: &[u8], at: usize| m.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let (reply, unreachable) = if v6 { (ECHO_REPLY_V6, UNREACHABLE_V6) } else { (ECHO_REPLY_V4, UNREACHABLE_V4) };
    if kind == reply {
        // A ping socket's identifier is the kernel's, and the kernel already matched it.
        let id_ok = !raw || field(msg, 4) == Some(id);
        return if id_ok && field(msg, 6) == Some(seq) { Verdict::Reply } else { Verdict::Other };
    }
    if kind == unreachable {
        // The error quotes our request: its IP header, then the first 8 bytes of the echo.
        let quoted = msg.get(8..).and_then(|q| if v6 { q.get(40..) } else { strip_ipv4_header(q) });
        if let Some(echo) = quoted {
            let id_ok = !raw || field(echo, 4) == Some(id);
            if id_ok && field(echo, 6) == Some(seq) {
                return Verdict::Unreachable(code);
            }
        }
    }
    Verdict::Other
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_id_seq_and_a_valid_checksum() {
        let p = echo_request(false, true, 0x1234, 0x0007);
        assert_eq!(&p[..2], &[8, 0]);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0x00, 0x07]);
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to zero");
        let p6 = echo_request(true, true, 1, 2);
        assert_eq!(&p6[..4], &[128, 0, 0, 0], "the kernel sums ICMPv6");
    }

    #[test]
    fn replies_are_matched_by_id_and_seq() {
        let mut reply = echo_request(false, true, 9, 5);
        reply[0] = ECHO_REPLY_V4;
        assert_eq!(judge(false, true, 9, 5, &reply), Verdict::Reply);
        assert_eq!(judge(false, true, 9, 6, &reply), Verdict::Other, "another sequence");
        assert_eq!(judge(false, true, 8, 5, &reply), Verdict::Other, "another identifier on a raw socket");
        assert_eq!(judge(false, false, 8, 5, &reply), Verdict::Reply, "a ping socket's id is the kernel's");
        assert_eq!(judge(false, true, 9, 5, &reply[..3]), Verdict::Other, "a runt");
        assert_eq!(judge(false, true, 9, 5, &[]), Verdict::Other);
    }

    #[test]
    fn unreachable_quoting_our_request_fails() {
        let request = echo_request(false, true, 9, 5);
        let mut msg = vec![UNREACHABLE_V4, 1, 0, 0, 0, 0, 0, 0];
        let mut ip = vec![0x45u8; 1];
        ip.resize(20, 0);
        msg.extend_from_slice(&ip);
        msg.extend_from_slice(&request[..8]);
        assert_eq!(judge(false, true, 9, 5, &msg), Verdict::Unreachable(1));
        assert_eq!(judge(false, true, 9, 4, &msg), Verdict::Other);
        assert_eq!(strip_ipv4_header(&[0x41, 0, 0]), None);
    }
}
