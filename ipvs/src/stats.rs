//! Traffic counters the kernel keeps per service and per destination (`ipvsadm -Ln --stats`
//! and `--rate`), read from the STATS64 attribute of GET_SERVICE / GET_DEST replies
//! (ip_vs_ctl.c, ip_vs_genl_fill_stats64).

use crate::attrs::{self, stats};
use crate::model::{DestKey, ServiceKey};
use std::collections::BTreeMap;

/// One STATS64 block: totals since the service or destination was added, and rates
/// (per second). The kernel folds its per-CPU counters into these on its estimator's
/// 2-second tick, so they lag traffic by up to 2 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets in.
    pub inpkts: u64,
    /// Packets out.
    pub outpkts: u64,
    /// Bytes in.
    pub inbytes: u64,
    /// Bytes out.
    pub outbytes: u64,
    /// Connections per second.
    pub cps: u64,
    /// Packets in per second.
    pub inpps: u64,
    /// Packets out per second.
    pub outpps: u64,
    /// Bytes in per second.
    pub inbps: u64,
    /// Bytes out per second.
    pub outbps: u64,
}

impl Stats {
    /// Reads a STATS64 payload (nested u64 attributes); absent counters read as 0.
    pub fn from_nested(payload: &[u8]) -> Stats {
        let get = attrs::nested_lookup(payload);
        let n = |t: u16| get(t).and_then(|b| attrs::u64_from(&b)).unwrap_or(0);
        Stats {
            conns: n(stats::CONNS),
            inpkts: n(stats::INPKTS),
            outpkts: n(stats::OUTPKTS),
            inbytes: n(stats::INBYTES),
            outbytes: n(stats::OUTBYTES),
            cps: n(stats::CPS),
            inpps: n(stats::INPPS),
            outpps: n(stats::OUTPPS),
            inbps: n(stats::INBPS),
            outbps: n(stats::OUTBPS),
        }
    }
}

/// A destination's connection counts (`ipvsadm -Ln`'s ActiveConn / InActConn) and traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DestCounters {
    /// Established connections.
    pub active: u32,
    /// Other connections (e.g. TIME_WAIT, UDP).
    pub inactive: u32,
    /// Persistence templates pointing at it.
    pub persistent: u32,
    /// Traffic.
    pub stats: Stats,
}

/// Counters of a whole table, keyed as [`crate::Table`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableStats {
    /// Per service: its own counters and its destinations'.
    pub services: BTreeMap<ServiceKey, (Stats, BTreeMap<DestKey, DestCounters>)>,
}
