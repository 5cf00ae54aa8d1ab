//! The master's connection table as sync records: what a bulk resync sends.
//!
//! /proc/net/ip_vs_conn shows each connection's addresses, ports, state and time left, but not
//! its flags, fwmark or sequence data (see [`crate::proc_conn`]). The forwarding method (and,
//! for fwmark services, the mark) come from the caller, who knows its services
//! ([`DestInfo`]); the rest follows what the kernel's master sends for such an entry
//! (ip_vs_sync.c, ip_vs_sync_conn_v1; the flags as captured from a 6.1 kernel): a template
//! (client port 0) carries TEMPLATE | INACTIVE, a connection that is not established
//! (TCP, SCTP) or any UDP one carries INACTIVE. The timeout is the time the entry has left on
//! the master, so the backup's copy expires when the master's would (the kernel's own records
//! carry the state's full timeout, renewed with traffic; a quiet entry's time left is what
//! matters to the backup). Entries with persistence-engine data (SIP) are skipped: /proc
//! shows the engine's rendering of its data, not the data.

use crate::flags;
use crate::proc_conn::ConnEntry;
use crate::record::Record;
use crate::state::{proto, sctp, state_from_name, tcp};

/// What tandem's own model says of a connection's destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestInfo {
    /// Forwarding method ([`flags::MASQ`], [`flags::DROUTE`], [`flags::TUNNEL`]...).
    pub forward: u32,
    /// The fwmark of the service, for fwmark services (0 otherwise).
    pub fwmark: u32,
}

/// Entries that did not become records, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    /// No service of the model holds the entry's destination.
    pub unknown_service: usize,
    /// A state name the protocol does not have, or a protocol sync cannot carry.
    pub unknown_state: usize,
    /// Persistence-engine data, which /proc does not show as sent.
    pub engine_data: usize,
    /// The entry's timer is overdue (it is about to go).
    pub expired: usize,
}

impl Skipped {
    /// All of them.
    pub fn total(&self) -> usize {
        self.unknown_service + self.unknown_state + self.engine_data + self.expired
    }
}

/// No entry lives longer than this (the longest IPVS timeouts are days); above it an
/// `expires` is an overdue timer shown as a huge unsigned number.
const MAX_EXPIRES: u64 = 30 * 24 * 3600;

/// Why an entry is not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// See [`Skipped::unknown_state`].
    UnknownState,
    /// See [`Skipped::engine_data`].
    EngineData,
    /// See [`Skipped::expired`].
    Expired,
}

/// The record a master sends for `e`, whose destination the model describes as `d`.
pub fn record(e: &ConnEntry, d: DestInfo) -> Result<Record, Skip> {
    if e.pe_name.is_some() {
        return Err(Skip::EngineData);
    }
    if e.expires > MAX_EXPIRES {
        return Err(Skip::Expired);
    }
    let template = e.looks_like_template();
    let state = state_from_name(e.protocol, template, &e.state).ok_or(Skip::UnknownState)?;
    let established = match e.protocol {
        proto::TCP => state == tcp::ESTABLISHED,
        proto::SCTP => state == sctp::ESTABLISHED,
        _ => false,
    };
    let mut f = d.forward & flags::FWD_MASK;
    if template {
        f |= flags::TEMPLATE | flags::INACTIVE;
    } else if !established {
        f |= flags::INACTIVE;
    }
    let fwmark = match e.fwmark() {
        Some(mark) => mark,
        None => d.fwmark,
    };
    Ok(Record {
        protocol: e.protocol,
        flags: f,
        state,
        client: e.client,
        cport: e.cport,
        vaddr: e.vaddr,
        vport: e.vport,
        daddr: e.daddr,
        dport: e.dport,
        fwmark,
        // 0 would make the backup take its own default for the state: at least 1 s.
        timeout: u32::try_from(e.expires.max(1)).unwrap_or(u32::MAX),
        seq: None,
        pe_data: None,
        pe_name: None,
        unknown_options: Vec::new(),
    })
}

/// The records of a table; `lookup` gives what the model knows of an entry's destination.
pub fn records(entries: &[ConnEntry], lookup: impl Fn(&ConnEntry) -> Option<DestInfo>) -> (Vec<Record>, Skipped) {
    let mut out = Vec::with_capacity(entries.len());
    let mut skipped = Skipped::default();
    for e in entries {
        let Some(d) = lookup(e) else {
            skipped.unknown_service += 1;
            continue;
        };
        match record(e, d) {
            Ok(r) => out.push(r),
            Err(Skip::UnknownState) => skipped.unknown_state += 1,
            Err(Skip::EngineData) => skipped.engine_data += 1,
            Err(Skip::Expired) => skipped.expired += 1,
        }
    }
    (out, skipped)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::proc_conn::parse_conn_line;

    const NAT: DestInfo = DestInfo { forward: flags::MASQ, fwmark: 0 };

    #[test]
    fn flags_and_timeouts_as_the_master_sends_them() {
        let est = parse_conn_line("TCP 0A000102 9FE2 0A000164 0050 0A000202 1F90 ESTABLISHED     612").unwrap();
        let r = record(&est, NAT).unwrap();
        assert_eq!((r.flags, r.state, r.timeout, r.cport, r.dport), (0, tcp::ESTABLISHED, 612, 0x9fe2, 0x1f90));
        let tpl = parse_conn_line("TCP 0A000102 0000 0A000164 0051 0A000202 1F91 ASSURED          59").unwrap();
        let r = record(&tpl, DestInfo { forward: flags::DROUTE, fwmark: 0 }).unwrap();
        assert_eq!(r.flags, flags::DROUTE | flags::TEMPLATE | flags::INACTIVE);
        assert!(r.is_template());
        let udp = parse_conn_line("UDP 0A000102 855A 0A000164 0035 0A000202 14E9 UDP             299").unwrap();
        assert_eq!(record(&udp, NAT).unwrap().flags, flags::INACTIVE);
        let fin = parse_conn_line("TCP 0A000102 9FE4 0A000164 0050 0A000202 1F90 FIN_WAIT          0").unwrap();
        let r = record(&fin, NAT).unwrap();
        assert_eq!((r.flags, r.timeout), (flags::INACTIVE, 1));
    }

    #[test]
    fn fwmark_templates_carry_their_mark_and_odd_entries_are_counted() {
        let fwm = parse_conn_line("IP  0A000102 0000 00000007 0000 0A000202 0000 NONE            300").unwrap();
        let r = record(&fwm, NAT).unwrap();
        assert_eq!((r.protocol, r.fwmark, r.flags & flags::TEMPLATE), (0, 7, flags::TEMPLATE));
        let overdue =
            parse_conn_line("TCP 0A000102 9FE2 0A000164 0050 0A000202 1F90 ESTABLISHED 18446744073709551615").unwrap();
        let odd = parse_conn_line("TCP 0A000102 9FE2 0A000164 0050 0A000202 1F90 NOSUCH      5").unwrap();
        let (recs, skipped) = records(&[fwm.clone(), overdue, odd, fwm], |e| (e.vport != 0x50).then_some(NAT));
        assert_eq!(recs.len(), 2);
        assert_eq!(skipped, Skipped { unknown_service: 2, ..Skipped::default() });
        let (_, skipped) = records(
            &[parse_conn_line("TCP 0A000102 9FE2 0A000164 0050 0A000202 1F90 ESTABLISHED 18446744073709551615")
                .unwrap()],
            |_| Some(NAT),
        );
        assert_eq!(skipped.expired, 1);
    }
}
