//! One connection record of a version 1 message (`struct ip_vs_sync_v4` / `ip_vs_sync_v6` in
//! ip_vs_sync.c) and its options.
//!
//! ```text
//!  0               1               2               3
//! +---------------+---------------+-------+-----------------------+
//! |     type      |   protocol    |ver (0)|  size (12 bits)       |
//! +---------------+---------------+-------+-----------------------+
//! |                         flags (be32)                          |
//! +-------------------------------+-------------------------------+
//! |          state (be16)         |          cport                |
//! +-------------------------------+-------------------------------+
//! |          vport                |          dport                |
//! +-------------------------------+-------------------------------+
//! |                         fwmark (be32)                         |
//! |                   timeout (be32, seconds)                     |
//! |          caddr, vaddr, daddr (4 bytes each, or 16)            |
//! +---------------------------------------------------------------+
//! | options: type byte, length byte, data; repeated               |
//! +---------------------------------------------------------------+
//! ```
//!
//! Type is 0 for IPv4 (36 bytes before options) or has bit 0 set for IPv6 (72 bytes). Size
//! counts the fixed part and the options, not the padding that aligns the next record.

use crate::bytes::{array, be16, be32, v4, v6};
use crate::error::{EmitError, ParseError};
use crate::state::num_states;
use std::net::IpAddr;

/// The fixed part of an IPv4 record.
pub const V4_LEN: usize = 36;
/// The fixed part of an IPv6 record.
pub const V6_LEN: usize = 72;
/// The IPv6 bit of the type byte (`STYPE_F_INET6`).
pub const TYPE_INET6: u8 = 1;
/// Option type: sequence data (`IPVS_OPT_SEQ_DATA`), 24 bytes.
pub const OPT_SEQ_DATA: u8 = 1;
/// Option type: persistence-engine data (`IPVS_OPT_PE_DATA`), 1 to 255 bytes.
pub const OPT_PE_DATA: u8 = 2;
/// Option type: persistence-engine name (`IPVS_OPT_PE_NAME`), 1 to 16 bytes.
pub const OPT_PE_NAME: u8 = 3;
/// Option type bit marking an option a receiver may ignore (`IPVS_OPT_F_PARAM`). The kernel
/// looks options up with this bit cleared, so 0x41 is sequence data too.
pub const OPT_F_OPTIONAL: u8 = 0x40;
/// The longest persistence-engine name (`IP_VS_PENAME_MAXLEN`).
pub const PE_NAME_MAX: usize = 16;
/// The longest persistence-engine data (`IP_VS_PEDATA_MAXLEN`).
pub const PE_DATA_MAX: usize = 255;
/// The largest record the 12-bit size field can describe.
pub const RECORD_MAX: usize = 0x0fff;
/// Length of the sequence-data option's data.
pub const SEQ_DATA_LEN: usize = 24;

/// A checked view of one record: exactly its `size` bytes, without padding.
///
/// [`RecordView::new_checked`] applies the type and length checks of `ip_vs_proc_sync_conn`;
/// option checks happen in [`Record::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    bytes: &'a [u8],
    index: usize,
}

impl<'a> RecordView<'a> {
    /// Checks a record's bytes (`index` is its position in the message, for errors).
    pub fn new_checked(bytes: &'a [u8], index: usize) -> Result<RecordView<'a>, ParseError> {
        let kind = bytes.first().copied().unwrap_or(0);
        let min = fixed_len(kind).ok_or(ParseError::RecordType { index, kind })?;
        let size = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
        if bytes.len() < min {
            return Err(ParseError::RecordTooSmall { index, size, min: min as u16 });
        }
        Ok(RecordView { bytes, index })
    }

    /// The record's bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The type byte.
    pub fn kind(&self) -> u8 {
        array::<1>(self.bytes, 0)[0]
    }

    /// Whether the record carries IPv6 addresses.
    pub fn is_ipv6(&self) -> bool {
        self.kind() & TYPE_INET6 != 0
    }

    /// The IP protocol.
    pub fn protocol(&self) -> u8 {
        array::<1>(self.bytes, 1)[0]
    }

    /// The version (top 4 bits of `ver_size`; 0 in every record a kernel accepts).
    pub fn version(&self) -> u8 {
        (be16(self.bytes, 2) >> 12) as u8
    }

    /// The size field (low 12 bits of `ver_size`).
    pub fn size(&self) -> u16 {
        be16(self.bytes, 2) & 0x0fff
    }

    /// The connection flags ([`crate::flags`]).
    pub fn flags(&self) -> u32 {
        be32(self.bytes, 4)
    }

    /// The connection state ([`crate::state`]).
    pub fn state(&self) -> u16 {
        be16(self.bytes, 8)
    }

    /// The client port.
    pub fn cport(&self) -> u16 {
        be16(self.bytes, 10)
    }

    /// The virtual port.
    pub fn vport(&self) -> u16 {
        be16(self.bytes, 12)
    }

    /// The destination (real server) port.
    pub fn dport(&self) -> u16 {
        be16(self.bytes, 14)
    }

    /// The firewall mark.
    pub fn fwmark(&self) -> u32 {
        be32(self.bytes, 16)
    }

    /// The timeout in seconds (the connection's whole timeout in its state, not the time left).
    pub fn timeout(&self) -> u32 {
        be32(self.bytes, 20)
    }

    /// Client, virtual and destination addresses.
    pub fn addresses(&self) -> [IpAddr; 3] {
        if self.is_ipv6() {
            [v6(self.bytes, 24).into(), v6(self.bytes, 40).into(), v6(self.bytes, 56).into()]
        } else {
            [v4(self.bytes, 24).into(), v4(self.bytes, 28).into(), v4(self.bytes, 32).into()]
        }
    }

    /// The option bytes after the fixed part.
    pub fn options(&self) -> &'a [u8] {
        let fixed = if self.is_ipv6() { V6_LEN } else { V4_LEN };
        self.bytes.get(fixed..).unwrap_or(&[])
    }
}

/// The fixed length for a type byte, `None` for a type the kernel refuses.
fn fixed_len(kind: u8) -> Option<usize> {
    if kind & TYPE_INET6 != 0 {
        Some(V6_LEN)
    } else if kind == 0 {
        Some(V4_LEN)
    } else {
        None
    }
}

/// One direction's TCP sequence adjustment (`struct ip_vs_seq`), used by NAT with
/// application helpers that resize payloads (FTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Seq {
    /// Apply `delta` from this sequence number on.
    pub init_seq: u32,
    /// The current delta.
    pub delta: u32,
    /// The delta before the last resized packet.
    pub previous_delta: u32,
}

/// The sequence-data option (type 1): incoming then outgoing adjustment, each as three
/// big-endian u32 (`struct ip_vs_sync_conn_options`, written by `hton_seq`). The kernel master
/// sends it when the connection has [`crate::flags::IN_SEQ`] or [`crate::flags::OUT_SEQ`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct SeqData {
    /// Incoming direction.
    pub in_seq: Seq,
    /// Outgoing direction.
    pub out_seq: Seq,
}

/// An option this crate does not decode, kept as found.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawOption {
    /// The type byte. With [`OPT_F_OPTIONAL`] a kernel skips the option; without it, a
    /// kernel skips the whole record.
    pub kind: u8,
    /// The data (1 to 255 bytes).
    pub data: Vec<u8>,
}

impl RawOption {
    /// Whether a kernel backup skips the record for this option (`Unknown mandatory param`).
    pub fn is_mandatory(&self) -> bool {
        self.kind & OPT_F_OPTIONAL == 0
    }
}

/// A connection record, parsed: what a kernel master knows of one connection or persistence
/// template.
///
/// The three addresses are all IPv4 or all IPv6 (the record's type says which).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    /// IP protocol ([`crate::state::proto`]); `0` for fwmark persistence templates.
    pub protocol: u8,
    /// Connection flags ([`crate::flags`]) as sent; a backup keeps only
    /// [`crate::flags::BACKUP_MASK`].
    pub flags: u32,
    /// Connection state ([`crate::state`]); a template's state is a template state.
    pub state: u16,
    /// Client address (for a template, the client's network under the persistence netmask).
    pub client: IpAddr,
    /// Client port (0 for templates).
    pub cport: u16,
    /// Virtual address (for a fwmark template, the mark in its first four bytes, big-endian).
    pub vaddr: IpAddr,
    /// Virtual port (0 for fwmark and port-zero templates).
    pub vport: u16,
    /// Destination (real server) address.
    pub daddr: IpAddr,
    /// Destination port.
    pub dport: u16,
    /// Firewall mark of the packet that made the connection (0 without one).
    pub fwmark: u32,
    /// Timeout in seconds: the connection's whole timeout in its current state (900 for an
    /// established TCP connection by default, the persistence timeout for a template), not
    /// the time left. A backup gives the entry this timeout; 0 makes it use its own default
    /// for the state (`ip_vs_proc_conn`).
    pub timeout: u32,
    /// Sequence adjustments (option 1).
    pub seq: Option<SeqData>,
    /// Persistence-engine data (option 2; the SIP engine's Call-ID). A kernel master sends
    /// it only with the engine's name.
    pub pe_data: Option<Vec<u8>>,
    /// Persistence-engine name (option 3, e.g. `sip`).
    pub pe_name: Option<Vec<u8>>,
    /// Options of other types, in the order found; a mandatory one ends the record's options
    /// for a kernel (it skips the record there), so parsing stops at it too.
    pub unknown_options: Vec<RawOption>,
}

/// Why a kernel backup ignores one record of a datagram it otherwise takes (the positive
/// error codes of `ip_vs_proc_sync_conn`); see [`Record::backup_skips`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupSkip {
    /// An unknown option without the optional bit (kernel code 20).
    MandatoryOption(u8),
    /// A connection (not a template) of a protocol IPVS has no handler for (code 30).
    UnsupportedProtocol(u8),
    /// A connection state beyond the protocol's states (code 40).
    InvalidState {
        /// The protocol.
        protocol: u8,
        /// The state.
        state: u16,
    },
    /// Persistence-engine data without an engine name (code 50). A name the backup has no
    /// engine loaded for is skipped too, which this crate cannot know.
    PeDataWithoutName,
}

impl Record {
    /// Whether the record is a persistence template ([`crate::flags::TEMPLATE`]).
    pub fn is_template(&self) -> bool {
        self.flags & crate::flags::TEMPLATE != 0
    }

    /// Whether the addresses are IPv6 (decided by the client address).
    pub fn is_ipv6(&self) -> bool {
        self.client.is_ipv6()
    }

    /// Decodes a checked record and its options, applying the option checks of
    /// `ip_vs_proc_sync_conn`, `ip_vs_proc_seqopt` and `ip_vs_proc_str`.
    pub fn parse(view: &RecordView<'_>) -> Result<Record, ParseError> {
        let index = view.index;
        let [client, vaddr, daddr] = view.addresses();
        let mut record = Record {
            protocol: view.protocol(),
            flags: view.flags(),
            state: view.state(),
            client,
            cport: view.cport(),
            vaddr,
            vport: view.vport(),
            daddr,
            dport: view.dport(),
            fwmark: view.fwmark(),
            timeout: view.timeout(),
            seq: None,
            pe_data: None,
            pe_name: None,
            unknown_options: Vec::new(),
        };
        let mut rest = view.options();
        while !rest.is_empty() {
            let (kind, len) = match rest {
                [kind, len, ..] => (*kind, *len),
                _ => return Err(ParseError::OptionTruncated { index }),
            };
            let data = match rest.get(2..2 + usize::from(len)) {
                Some(data) if len != 0 => data,
                _ => return Err(ParseError::OptionLength { index, kind, len }),
            };
            rest = rest.get(2 + usize::from(len)..).unwrap_or(&[]);
            match kind & !OPT_F_OPTIONAL {
                OPT_SEQ_DATA => {
                    if usize::from(len) != SEQ_DATA_LEN {
                        return Err(ParseError::SeqDataLength { index, len });
                    }
                    if record.seq.is_some() {
                        return Err(ParseError::DuplicateOption { index, kind: OPT_SEQ_DATA });
                    }
                    let seq = |at: usize| Seq {
                        init_seq: be32(data, at),
                        delta: be32(data, at + 4),
                        previous_delta: be32(data, at + 8),
                    };
                    record.seq = Some(SeqData { in_seq: seq(0), out_seq: seq(12) });
                }
                OPT_PE_DATA => {
                    if record.pe_data.is_some() {
                        return Err(ParseError::DuplicateOption { index, kind: OPT_PE_DATA });
                    }
                    record.pe_data = Some(data.to_vec());
                }
                OPT_PE_NAME => {
                    if usize::from(len) > PE_NAME_MAX {
                        return Err(ParseError::PeNameTooLong { index, len });
                    }
                    if record.pe_name.is_some() {
                        return Err(ParseError::DuplicateOption { index, kind: OPT_PE_NAME });
                    }
                    record.pe_name = Some(data.to_vec());
                }
                _ => {
                    let raw = RawOption { kind, data: data.to_vec() };
                    let mandatory = raw.is_mandatory();
                    record.unknown_options.push(raw);
                    if mandatory {
                        break;
                    }
                }
            }
        }
        Ok(record)
    }

    /// Whether a kernel backup would ignore this record (and why) while taking the rest of
    /// the datagram, in the order `ip_vs_proc_sync_conn` checks.
    pub fn backup_skips(&self) -> Option<BackupSkip> {
        if let Some(o) = self.unknown_options.iter().find(|o| o.is_mandatory()) {
            return Some(BackupSkip::MandatoryOption(o.kind));
        }
        if !self.is_template() {
            match num_states(self.protocol) {
                None => return Some(BackupSkip::UnsupportedProtocol(self.protocol)),
                Some(n) if self.state >= n => {
                    return Some(BackupSkip::InvalidState { protocol: self.protocol, state: self.state });
                }
                Some(_) => {}
            }
        }
        if self.pe_data.is_some() && self.pe_name.is_none() {
            return Some(BackupSkip::PeDataWithoutName);
        }
        None
    }

    /// The record's length on the wire (its size field), without padding, or why it cannot
    /// be emitted (`index` is used in the error).
    pub fn wire_len(&self, index: usize) -> Result<usize, EmitError> {
        let same = |a: &IpAddr| a.is_ipv6() == self.client.is_ipv6();
        if !same(&self.vaddr) || !same(&self.daddr) {
            return Err(EmitError::MixedFamilies { index });
        }
        let mut len = if self.is_ipv6() { V6_LEN } else { V4_LEN };
        if self.seq.is_some() {
            len += 2 + SEQ_DATA_LEN;
        }
        let option = |kind: u8, data: &[u8]| -> Result<usize, EmitError> {
            if data.is_empty() || data.len() > PE_DATA_MAX {
                return Err(EmitError::OptionLength { index, kind, len: data.len() });
            }
            Ok(2 + data.len())
        };
        if let Some(data) = &self.pe_data {
            len += option(OPT_PE_DATA, data)?;
        }
        if let Some(name) = &self.pe_name {
            if name.len() > PE_NAME_MAX {
                return Err(EmitError::PeNameTooLong { index, len: name.len() });
            }
            len += option(OPT_PE_NAME, name)?;
        }
        for raw in &self.unknown_options {
            let base = raw.kind & !OPT_F_OPTIONAL;
            if matches!(base, OPT_SEQ_DATA | OPT_PE_DATA | OPT_PE_NAME) {
                return Err(EmitError::RawOptionKnownType { index, kind: raw.kind });
            }
            len += option(raw.kind, &raw.data)?;
        }
        if len > RECORD_MAX {
            return Err(EmitError::RecordTooLong { index, len });
        }
        Ok(len)
    }

    /// Appends the record (without padding) to `out`, as `ip_vs_sync_conn` lays it out:
    /// fixed part, then sequence data, persistence-engine data and name, then the raw options.
    pub fn emit(&self, index: usize, out: &mut Vec<u8>) -> Result<(), EmitError> {
        let len = self.wire_len(index)?;
        out.push(if self.is_ipv6() { TYPE_INET6 } else { 0 });
        out.push(self.protocol);
        out.extend_from_slice(&((len & RECORD_MAX) as u16).to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        out.extend_from_slice(&self.state.to_be_bytes());
        for port in [self.cport, self.vport, self.dport] {
            out.extend_from_slice(&port.to_be_bytes());
        }
        out.extend_from_slice(&self.fwmark.to_be_bytes());
        out.extend_from_slice(&self.timeout.to_be_bytes());
        for addr in [self.client, self.vaddr, self.daddr] {
            match addr {
                IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
                IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
            }
        }
        if let Some(seq) = &self.seq {
            out.extend_from_slice(&[OPT_SEQ_DATA, SEQ_DATA_LEN as u8]);
            for s in [seq.in_seq, seq.out_seq] {
                for v in [s.init_seq, s.delta, s.previous_delta] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
        }
        let mut option = |kind: u8, data: &[u8]| {
            out.push(kind);
            out.push(data.len() as u8);
            out.extend_from_slice(data);
        };
        if let Some(data) = &self.pe_data {
            option(OPT_PE_DATA, data);
        }
        if let Some(name) = &self.pe_name {
            option(OPT_PE_NAME, name);
        }
        for raw in &self.unknown_options {
            option(raw.kind, &raw.data);
        }
        Ok(())
    }
}
