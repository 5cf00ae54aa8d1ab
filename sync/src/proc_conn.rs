//! A parser for /proc/net/ip_vs_conn and /proc/net/ip_vs_conn_sync (per network namespace).
//!
//! Lines as `ip_vs_conn_seq_show` and `ip_vs_conn_sync_seq_show` (ip_vs_conn.c) print them,
//! after a header line starting with `Pro `:
//!
//! ```text
//! Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
//! TCP 0A000102 9C4A 0A000164 0050 0A000202 1F90 ESTABLISHED     897
//! TCP 0A000102 0000 0A000164 0051 0A000202 1F91 NONE             59
//! ```
//!
//! Protocol name (`ip_vs_proto_name`), client, virtual and destination address and port,
//! state name (`ip_vs_state_name`), seconds until the entry expires, then, for entries with
//! persistence-engine data, the engine's name and its rendering of the data.
//! ip_vs_conn_sync has no engine columns and puts the origin (`LOCAL` or `SYNC`, whether the
//! entry came from the sync daemon) before the expiry. IPv4 addresses are 8 hex digits of the
//! address as a big-endian number, IPv6 addresses the uncompressed `%pI6` form
//! (`2001:0db8:0000:...`); the destination has its own family (`daf`), so an IPv6 entry may
//! show an IPv4 destination. Ports are 4 hex digits.
//!
//! Not shown: flags (forwarding method, INACTIVE, TEMPLATE), fwmark, sequence data, the
//! timeout itself. Persistence templates carry client port 0 (`ip_vs_sched_persist`); those
//! of fwmark services have protocol `IP` and the mark in the virtual address field (vport 0).

use crate::state::protocol_from_name;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where an entry came from (ip_vs_conn_sync's origin column, `ip_vs_origin_name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Scheduled on this director.
    Local,
    /// Made by the backup sync daemon from a record ([`crate::flags::SYNC`]).
    Sync,
}

/// One line of /proc/net/ip_vs_conn or ip_vs_conn_sync.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConnEntry {
    /// IP protocol number (from the name; `0` for `IP`, fwmark templates).
    pub protocol: u8,
    /// Client address (a template's is the client network).
    pub client: IpAddr,
    /// Client port (0 for templates).
    pub cport: u16,
    /// Virtual address (the fwmark, as an address, for fwmark templates).
    pub vaddr: IpAddr,
    /// Virtual port.
    pub vport: u16,
    /// Destination address.
    pub daddr: IpAddr,
    /// Destination port.
    pub dport: u16,
    /// State name as printed ([`crate::state::state_from_name`] gives the number).
    pub state: String,
    /// Seconds until the entry expires (the kernel prints an unsigned long; an entry whose
    /// timer is overdue shows a huge number).
    pub expires: u64,
    /// The origin column (ip_vs_conn_sync only).
    pub origin: Option<Origin>,
    /// Persistence-engine name (ip_vs_conn only, entries with engine data).
    pub pe_name: Option<String>,
    /// The engine's rendering of its data (what follows the name; may be empty).
    pub pe_data: Option<String>,
}

impl ConnEntry {
    /// Whether this looks like a persistence template: client port 0. Templates always have
    /// it (`ip_vs_sched_persist`); a connection has it only while its client port is unknown
    /// (`IP_VS_CONN_F_NO_CPORT`, FTP data connections being set up), which /proc cannot tell.
    pub fn looks_like_template(&self) -> bool {
        self.cport == 0
    }

    /// The firewall mark of a fwmark template (protocol `IP`): the first four bytes of the
    /// virtual address, big-endian. `None` for other protocols.
    pub fn fwmark(&self) -> Option<u32> {
        if self.protocol != crate::state::proto::IP {
            return None;
        }
        Some(match self.vaddr {
            IpAddr::V4(a) => u32::from(a),
            IpAddr::V6(a) => crate::bytes::be32(&a.octets(), 0),
        })
    }
}

/// The entries of a /proc table and how many lines were not entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnTable {
    /// Entries in file order.
    pub entries: Vec<ConnEntry>,
    /// Non-empty lines that are neither the header nor an entry (skipped).
    pub malformed: usize,
}

impl ConnTable {
    /// Adds what another read of the same file saw. The kernel serves these files a page at
    /// a time, and each page starts by walking its hash table from the first bucket to the
    /// reader's position (`ip_vs_conn_seq_start` -> `ip_vs_conn_array`): an entry that
    /// expires between two pages, ahead of the position, shifts the rest down by one and the
    /// next page starts one entry late, so one read of a busy table silently misses entries.
    /// Two reads rarely miss the same one. An entry both reads saw is kept as `later` has it
    /// (its state is the newer); `later`'s order comes first, then what only `self` saw.
    /// Lines that were no entry are counted as the read that met more of them did.
    /// Returns how many of `later`'s entries were new.
    pub fn merge(&mut self, later: ConnTable) -> usize {
        let ours: HashSet<EntryKey> = self.entries.iter().map(entry_key).collect();
        let new = later.entries.iter().filter(|e| !ours.contains(&entry_key(e))).count();
        let theirs: HashSet<EntryKey> = later.entries.iter().map(entry_key).collect();
        let only_ours: Vec<ConnEntry> =
            std::mem::take(&mut self.entries).into_iter().filter(|e| !theirs.contains(&entry_key(e))).collect();
        self.entries = later.entries;
        self.entries.extend(only_ours);
        self.malformed = self.malformed.max(later.malformed);
        new
    }
}

/// What tells two entries apart in the kernel's table: protocol, client, virtual and
/// destination address and port, and the persistence engine's name and data (templates of
/// engines differ by them), not the state or the expiry.
type EntryKey<'a> = (u8, IpAddr, u16, IpAddr, u16, IpAddr, u16, Option<&'a str>, Option<&'a str>);

fn entry_key(e: &ConnEntry) -> EntryKey<'_> {
    (e.protocol, e.client, e.cport, e.vaddr, e.vport, e.daddr, e.dport, e.pe_name.as_deref(), e.pe_data.as_deref())
}

/// Parses the whole text of /proc/net/ip_vs_conn or ip_vs_conn_sync (both formats may even be
/// mixed): header lines and blank lines are skipped, other lines that do not parse are
/// counted in [`ConnTable::malformed`]. Never fails.
pub fn parse_conn_table(text: &str) -> ConnTable {
    let mut table = ConnTable::default();
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with("Pro ") {
            continue;
        }
        match parse_conn_line(line) {
            Some(entry) => table.entries.push(entry),
            None => table.malformed += 1,
        }
    }
    table
}

/// Parses one entry line of either file; `None` when it is not one.
pub fn parse_conn_line(line: &str) -> Option<ConnEntry> {
    let fields = tokens(line);
    let field = |i: usize| fields.get(i).map(|(_, f)| *f);
    let protocol = protocol_from_name(field(0)?)?;
    let client = parse_addr(field(1)?)?;
    let cport = parse_port(field(2)?)?;
    let vaddr = parse_addr(field(3)?)?;
    let vport = parse_port(field(4)?)?;
    let daddr = parse_addr(field(5)?)?;
    let dport = parse_port(field(6)?)?;
    let state = field(7)?;
    if state.is_empty() {
        return None;
    }
    let origin = match field(8)? {
        "LOCAL" => Some(Origin::Local),
        "SYNC" => Some(Origin::Sync),
        _ => None,
    };
    let (expires, pe_name, pe_data) = if origin.is_some() {
        if fields.len() != 10 {
            return None;
        }
        (parse_decimal(field(9)?)?, None, None)
    } else {
        let expires = parse_decimal(field(8)?)?;
        match fields.get(9) {
            None => (expires, None, None),
            Some((start, name)) => {
                // The data is the rest of the line after the name and one space.
                let rest = line.get(start + name.len()..).unwrap_or("");
                let data = rest.strip_prefix(' ').unwrap_or(rest);
                (expires, Some(name.to_string()), Some(data.to_string()))
            }
        }
    };
    Some(ConnEntry {
        protocol,
        client,
        cport,
        vaddr,
        vport,
        daddr,
        dport,
        state: state.to_string(),
        expires,
        origin,
        pe_name,
        pe_data,
    })
}

/// Whitespace-separated fields with their byte offsets.
fn tokens(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, line.get(s..i).unwrap_or("")));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, line.get(s..).unwrap_or("")));
    }
    out
}

fn all_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// An address field: 8 hex digits (IPv4, `%08X` of the host-order value) or `%pI6`.
fn parse_addr(s: &str) -> Option<IpAddr> {
    if s.len() == 8 && all_hex(s) {
        return u32::from_str_radix(s, 16).ok().map(|v| IpAddr::V4(Ipv4Addr::from(v)));
    }
    if s.contains(':') {
        return s.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    None
}

/// A port field: 4 hex digits.
fn parse_port(s: &str) -> Option<u16> {
    if s.len() == 4 && all_hex(s) { u16::from_str_radix(s, 16).ok() } else { None }
}

fn parse_decimal(s: &str) -> Option<u64> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) { s.parse().ok() } else { None }
}
