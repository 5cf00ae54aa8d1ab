//! DNS_CHECK: a query over UDP gets a reply (keepalived/check/check_dns.c).
//!
//! keepalived sends one query (recursion desired, random id) on a connected UDP socket and
//! waits: replies that are too short, carry another id or are not responses are ignored; a
//! response with a non-zero RCODE fails; any other passes. tandem does the same, with the
//! query built and the reply parsed by hickory-proto, and by default also requires at least
//! one answer record ([`DnsSettings::require_answer`]): keepalived passes a NOERROR reply
//! with an empty answer section, tandem's issue asks for an answer.

use super::socket::{bound_socket, by_deadline, deadline_from};
use super::{Failure, ProbeResult, Success, Target, describe_io_error, random_u16};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use socket2::{Protocol, SockAddr, Type};
use std::str::FromStr;
use tokio::time::Instant;

/// DNS_CHECK settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSettings {
    name: Name,
    query_type: RecordType,
    /// Fail a NOERROR reply without answer records (default true; keepalived: false).
    pub require_answer: bool,
}

impl DnsSettings {
    /// keepalived's defaults: `SOA` for `.`, and an answer required.
    pub fn new() -> DnsSettings {
        DnsSettings { name: Name::root(), query_type: RecordType::SOA, require_answer: true }
    }

    /// A query for `name` (keepalived's `name`; "." or "" is the root) of `query_type`
    /// (keepalived's `type`: A, NS, CNAME, SOA, MX, TXT, AAAA; any other type hickory knows is
    /// accepted too).
    pub fn query(name: &str, query_type: &str) -> Result<DnsSettings, String> {
        let name =
            if name.is_empty() { Name::root() } else { Name::from_str(name).map_err(|e| format!("{name}: {e}"))? };
        let query_type = RecordType::from_str(&query_type.to_ascii_uppercase())
            .map_err(|_| format!("`{query_type}` is not a DNS query type"))?;
        Ok(DnsSettings { name: name.into_fqdn_if_relative(), query_type, require_answer: true })
    }

    /// The query as a log would name it: "A example.com.".
    pub fn describe(&self) -> String {
        format!("{} {}", self.query_type, self.name)
    }

    /// The query message with `id`.
    pub(crate) fn message(&self, id: u16) -> Result<Vec<u8>, Failure> {
        let mut m = Message::new();
        m.set_id(id).set_message_type(MessageType::Query).set_op_code(OpCode::Query).set_recursion_desired(true);
        m.add_query(Query::query(self.name.clone(), self.query_type));
        m.to_vec().map_err(|e| Failure::new(format!("cannot build the query: {e}")))
    }

    /// Judges one datagram: `None` to ignore it and keep waiting (keepalived's rules), else
    /// the attempt's result.
    pub(crate) fn judge(&self, id: u16, datagram: &[u8]) -> Option<ProbeResult> {
        // Shorter than a header, another id, or not a response: ignored, as keepalived does.
        if datagram.len() < 12 || datagram.get(..2) != Some(&id.to_be_bytes()[..]) {
            return None;
        }
        let Ok(reply) = Message::from_vec(datagram) else {
            return Some(Err(Failure::new(format!("malformed reply for {}", self.describe()))));
        };
        if reply.message_type() != MessageType::Response {
            return None;
        }
        if reply.response_code() != ResponseCode::NoError {
            return Some(Err(Failure::new(format!("{} for {}", reply.response_code(), self.describe()))));
        }
        if self.require_answer && reply.answers().is_empty() {
            return Some(Err(Failure::new(format!("no answer for {}", self.describe()))));
        }
        Some(Ok(Success::default()))
    }
}

impl Default for DnsSettings {
    fn default() -> Self {
        Self::new()
    }
}

trait Fqdn {
    fn into_fqdn_if_relative(self) -> Self;
}

impl Fqdn for Name {
    fn into_fqdn_if_relative(mut self) -> Name {
        self.set_fqdn(true);
        self
    }
}

/// Sends the query and waits for a reply that decides.
///
/// `start` is when the attempt began; it ends by `start + connect_timeout`.
pub async fn probe(target: &Target, settings: &DnsSettings, start: Instant) -> ProbeResult {
    let deadline = deadline_from(start, target);
    let id = random_u16();
    let query = settings.message(id)?;
    let socket = bound_socket(target, Type::DGRAM, Protocol::UDP)?;
    socket.connect(&SockAddr::from(target.addr)).map_err(|e| Failure::new(describe_io_error(&e)))?;
    let socket = tokio::net::UdpSocket::from_std(socket.into()).map_err(|e| Failure::new(describe_io_error(&e)))?;
    let what = format!("no reply for {}:", settings.describe());
    by_deadline(deadline, target, &what, async {
        socket.send(&query).await.map_err(|e| Failure::new(format!("cannot send query: {}", describe_io_error(&e))))?;
        let mut buf = vec![0u8; 4096];
        loop {
            let n = socket.recv(&mut buf).await.map_err(|e| Failure::new(describe_io_error(&e)))?;
            if let Some(result) = settings.judge(id, buf.get(..n).unwrap_or_default()) {
                return result;
            }
        }
    })
    .await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use hickory_proto::rr::{RData, Record, rdata::A};

    fn reply(id: u16, code: ResponseCode, answers: usize) -> Vec<u8> {
        let mut m = Message::new();
        m.set_id(id).set_message_type(MessageType::Response).set_response_code(code);
        let name = Name::from_str("example.com.").unwrap();
        m.add_query(Query::query(name.clone(), RecordType::A));
        for i in 0..answers {
            m.add_answer(Record::from_rdata(name.clone(), 60, RData::A(A::new(192, 0, 2, i as u8))));
        }
        m.to_vec().unwrap()
    }

    #[test]
    fn query_defaults_to_soa_of_the_root() {
        let s = DnsSettings::new();
        let q = Message::from_vec(&s.message(0x1234).unwrap()).unwrap();
        assert_eq!(q.id(), 0x1234);
        assert!(q.recursion_desired());
        assert_eq!(q.queries()[0].query_type(), RecordType::SOA);
        assert!(q.queries()[0].name().is_root());
        assert_eq!(s.describe(), "SOA .");
    }

    #[test]
    fn types_and_names_parse() {
        let s = DnsSettings::query("example.com", "aaaa").unwrap();
        assert_eq!(s.describe(), "AAAA example.com.");
        assert!(DnsSettings::query("example.com", "BOGUS").is_err());
        assert_eq!(DnsSettings::query("", "A").unwrap().describe(), "A .");
    }

    #[test]
    fn replies_are_judged_like_keepalived() {
        let s = DnsSettings::query("example.com", "A").unwrap();
        assert_eq!(s.judge(7, &reply(7, ResponseCode::NoError, 1)), Some(Ok(Success::default())));
        assert_eq!(s.judge(7, &reply(8, ResponseCode::NoError, 1)), None, "another id is ignored");
        assert_eq!(s.judge(7, &[0, 7, 0x80]), None, "a runt is ignored");
        let nx = s.judge(7, &reply(7, ResponseCode::NXDomain, 0)).unwrap().unwrap_err();
        assert_eq!(nx.reason(), "Non-Existent Domain for A example.com.");
        let empty = s.judge(7, &reply(7, ResponseCode::NoError, 0)).unwrap().unwrap_err();
        assert_eq!(empty.reason(), "no answer for A example.com.");
        let lenient = DnsSettings { require_answer: false, ..s.clone() };
        assert_eq!(lenient.judge(7, &reply(7, ResponseCode::NoError, 0)), Some(Ok(Success::default())));
        // Our own query echoed back is not a response.
        assert_eq!(s.judge(7, &s.message(7).unwrap()), None);
        // Garbage with the right id is a failure, not a panic.
        assert!(s.judge(7, &[0, 7, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xff]).unwrap().is_err());
    }
}
