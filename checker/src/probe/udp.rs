//! UDP_CHECK: a datagram is sent; a reply may be required (keepalived/check/check_udp.c,
//! keepalived/core/layer4.c `udp_bind_connect`, `udp_socket_state`).
//!
//! The socket is connected, so the kernel reports an ICMP destination unreachable (port,
//! host or network) for it as an error on the next receive (ECONNREFUSED, EHOSTUNREACH,
//! ENETUNREACH), which fails the attempt. Without `require_reply`, silence until the timeout
//! passes, as in keepalived: the server got the datagram and nobody said otherwise. With it,
//! a reply must come, its length must lie within `min_reply_length..=max_reply_length`, and
//! it must match the expected bytes up to the shorter of the two. keepalived checks the
//! lengths only when expected bytes are given; tandem checks them whenever a reply is
//! required, as keepalived's manual describes.

use super::socket::{bound_socket, deadline_from};
use super::{Failure, ProbeResult, Success, Target, describe_io_error, human};
use socket2::{Protocol, SockAddr, Type};
use tokio::time::Instant;

/// keepalived's payload when none is configured is 32 bytes (UDP_BUFSIZE).
const DEFAULT_PAYLOAD_LEN: usize = 32;

/// The expected start of a reply: bytes, with nibbles to ignore (keepalived's `X` digits).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplyPattern {
    /// Expected bytes.
    pub bytes: Vec<u8>,
    /// Per byte, the bits to ignore (0x0f for `aX`, 0xf0 for `Xa`); shorter than `bytes`
    /// means the rest is exact.
    pub ignore: Vec<u8>,
}

impl ReplyPattern {
    /// Exact bytes.
    pub fn exact(bytes: Vec<u8>) -> ReplyPattern {
        ReplyPattern { bytes, ignore: Vec::new() }
    }

    /// Whether `reply` matches up to the shorter length (keepalived's `check_udp_reply`).
    pub fn matches(&self, reply: &[u8]) -> bool {
        self.bytes.iter().zip(reply).enumerate().all(|(i, (want, got))| {
            let ignore = self.ignore.get(i).copied().unwrap_or(0);
            (want ^ got) & !ignore == 0
        })
    }
}

/// UDP_CHECK settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpSettings {
    /// `payload`; empty sends 32 bytes of a fixed pattern.
    pub payload: Vec<u8>,
    /// `require_reply`.
    pub require_reply: bool,
    /// `require_reply HEX`: the reply's expected start.
    pub reply: Option<ReplyPattern>,
    /// `min_reply_length` (0).
    pub min_reply_length: usize,
    /// `max_reply_length` (255).
    pub max_reply_length: usize,
}

impl Default for UdpSettings {
    fn default() -> Self {
        UdpSettings {
            payload: Vec::new(),
            require_reply: false,
            reply: None,
            min_reply_length: 0,
            max_reply_length: 255,
        }
    }
}

impl UdpSettings {
    /// Judges a reply of a check that requires one.
    fn judge(&self, reply: &[u8]) -> ProbeResult {
        let len = reply.len();
        if len < self.min_reply_length || len > self.max_reply_length {
            return Err(Failure::new(format!(
                "reply of {len} bytes, outside {}..={}",
                self.min_reply_length, self.max_reply_length
            )));
        }
        if let Some(p) = &self.reply {
            if !p.matches(reply) {
                return Err(Failure::new("reply data mismatch"));
            }
        }
        Ok(Success::default())
    }
}

/// Sends the datagram and waits as the settings ask.
///
/// `start` is when the attempt began; it ends by `start + connect_timeout`.
pub async fn probe(target: &Target, settings: &UdpSettings, start: Instant) -> ProbeResult {
    let deadline = deadline_from(start, target);
    let socket = bound_socket(target, Type::DGRAM, Protocol::UDP)?;
    socket.connect(&SockAddr::from(target.addr)).map_err(|e| Failure::new(describe_io_error(&e)))?;
    let socket = tokio::net::UdpSocket::from_std(socket.into()).map_err(|e| Failure::new(describe_io_error(&e)))?;
    let default_payload: Vec<u8> = (0..DEFAULT_PAYLOAD_LEN as u8).map(|i| b'A' + i % 26).collect();
    let payload = if settings.payload.is_empty() { &default_payload } else { &settings.payload };
    socket.send(payload).await.map_err(|e| Failure::new(format!("cannot send: {}", describe_io_error(&e))))?;
    // One byte more than the longest accepted reply, to see a longer one.
    let mut buf = vec![0u8; settings.max_reply_length.saturating_add(1).max(1)];
    match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
        Ok(Ok(n)) if settings.require_reply => settings.judge(buf.get(..n).unwrap_or_default()),
        Ok(Ok(_)) => Ok(Success::default()),
        Ok(Err(e)) => Err(Failure::new(match e.kind() {
            std::io::ErrorKind::ConnectionRefused => "port unreachable (ICMP)".to_string(),
            _ => describe_io_error(&e),
        })),
        Err(_) if settings.require_reply => Err(Failure::new(format!("no reply within {}", human(target.timeout)))),
        Err(_) => Ok(Success::default()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_up_to_the_shorter_length_with_wildcards() {
        let p = ReplyPattern { bytes: vec![0xab, 0x12, 0x0f], ignore: vec![0, 0x0f] };
        assert!(p.matches(&[0xab, 0x1f, 0x0f, 0x99]));
        assert!(p.matches(&[0xab]));
        assert!(!p.matches(&[0xab, 0x22]));
        assert!(!p.matches(&[0xab, 0x12, 0x0e]));
        assert!(ReplyPattern::exact(vec![]).matches(b"anything"));
    }

    #[test]
    fn reply_lengths_and_data_are_judged() {
        let s = UdpSettings {
            require_reply: true,
            reply: Some(ReplyPattern::exact(b"PONG".to_vec())),
            min_reply_length: 2,
            max_reply_length: 6,
            ..UdpSettings::default()
        };
        assert!(s.judge(b"PONG").is_ok());
        assert_eq!(s.judge(b"P").unwrap_err().reason(), "reply of 1 bytes, outside 2..=6");
        assert!(s.judge(b"PONG!!!").is_err());
        assert_eq!(s.judge(b"PING").unwrap_err().reason(), "reply data mismatch");
    }
}
