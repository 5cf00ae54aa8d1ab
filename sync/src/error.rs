//! Why a datagram does not parse, or a message cannot be emitted.

/// A datagram a kernel backup would drop whole, and why (`ip_vs_process_message`,
/// `ip_vs_proc_sync_conn`; the kernel's own error numbers are given where it has them).
///
/// `index` is the record's position in the datagram (0-based) and `offset` a byte offset
/// from the start of the datagram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Fewer than 4 bytes: not even a version 0 header ("message header too short").
    #[error("datagram of {len} bytes is shorter than a sync header")]
    TooShort {
        /// The datagram's length.
        len: usize,
    },
    /// The header's size is not the datagram's length ("bogus message size").
    #[error("header says {declared} bytes but the datagram has {actual}")]
    SizeMismatch {
        /// The size the header declares.
        declared: u16,
        /// The datagram's length.
        actual: usize,
    },
    /// Not a version 1 header (first byte 0, version byte 1, spare bytes 0), so a kernel reads
    /// it as a version 0 message (`ip_vs_process_message_v0`), which this crate does not
    /// decode. Datagrams of 4 to 7 bytes land here too: too short for a version 1 header.
    #[error("version 0 sync message (first byte {first}, version byte {version:?}); only version 1 is decoded")]
    Version0 {
        /// The first byte (the record count in version 0).
        first: u8,
        /// The version byte, when the datagram has one.
        version: Option<u8>,
    },
    /// Fewer than 36 bytes left where a record starts ("Dropping buffer, too small").
    #[error("record {index} at byte {offset}: fewer than 36 bytes left")]
    TruncatedRecord {
        /// The record.
        index: usize,
        /// Where it starts.
        offset: usize,
    },
    /// The record's size runs past the end of the datagram ("msg > buffer").
    #[error("record {index} at byte {offset}: its size {size} runs past the end")]
    RecordOverrun {
        /// The record.
        index: usize,
        /// Where it starts.
        offset: usize,
        /// Its declared size.
        size: u16,
    },
    /// The record's version (top 4 bits of `ver_size`) is not 0 ("Unknown version").
    #[error("record {index}: unknown record version {version}")]
    RecordVersion {
        /// The record.
        index: usize,
        /// The version found.
        version: u8,
    },
    /// A type byte that is neither 0 (IPv4) nor has the IPv6 bit (kernel error -10).
    #[error("record {index}: unknown record type {kind:#04x}")]
    RecordType {
        /// The record.
        index: usize,
        /// The type byte.
        kind: u8,
    },
    /// The record's size is smaller than its fixed part (36 or 72 bytes; kernel error -20).
    #[error("record {index}: size {size} is below the {min} bytes of its fixed part")]
    RecordTooSmall {
        /// The record.
        index: usize,
        /// Its declared size.
        size: u16,
        /// The size of its fixed part.
        min: u16,
    },
    /// One byte left in the record where an option header needs two (kernel error -30).
    #[error("record {index}: truncated option header")]
    OptionTruncated {
        /// The record.
        index: usize,
    },
    /// An option of length 0, or one running past the end of its record (kernel error -40).
    #[error("record {index}: option {kind} has length {len}, which is 0 or runs past the record")]
    OptionLength {
        /// The record.
        index: usize,
        /// The option's type byte.
        kind: u8,
        /// Its length byte.
        len: u8,
    },
    /// A sequence-data option whose length is not 24 (kernel error -50).
    #[error("record {index}: sequence data of {len} bytes instead of 24")]
    SeqDataLength {
        /// The record.
        index: usize,
        /// Its length byte.
        len: u8,
    },
    /// The same known option twice in a record (kernel errors -50, -60, -70).
    #[error("record {index}: option {kind} appears twice")]
    DuplicateOption {
        /// The record.
        index: usize,
        /// The option type (1, 2 or 3).
        kind: u8,
    },
    /// A persistence-engine name longer than 16 bytes (kernel error -70).
    #[error("record {index}: persistence-engine name of {len} bytes (at most 16)")]
    PeNameTooLong {
        /// The record.
        index: usize,
        /// Its length.
        len: u8,
    },
}

/// A message that cannot be put on the wire in a form a kernel backup accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    /// More than 255 records (the header's count is one byte).
    #[error("{0} records in one message (at most 255)")]
    TooManyRecords(usize),
    /// More than 65535 bytes (the header's size is 16 bits).
    #[error("message of {0} bytes (at most 65535)")]
    TooLong(usize),
    /// The record's three addresses are not all of one family: a record is IPv4 or IPv6.
    #[error("record {index}: addresses of mixed families")]
    MixedFamilies {
        /// The record.
        index: usize,
    },
    /// A persistence-engine name longer than 16 bytes.
    #[error("record {index}: persistence-engine name of {len} bytes (at most 16)")]
    PeNameTooLong {
        /// The record.
        index: usize,
        /// Its length.
        len: usize,
    },
    /// An option with no data (the kernel rejects length 0) or more than 255 bytes.
    #[error("record {index}: option {kind} with {len} bytes of data (1 to 255)")]
    OptionLength {
        /// The record.
        index: usize,
        /// The option type.
        kind: u8,
        /// Its data length.
        len: usize,
    },
    /// An unknown option whose type is one this crate emits itself (1, 2 or 3).
    #[error("record {index}: raw option of known type {kind}")]
    RawOptionKnownType {
        /// The record.
        index: usize,
        /// The option type.
        kind: u8,
    },
    /// A record longer than the 12-bit size field allows (4095 bytes).
    #[error("record {index}: {len} bytes (at most 4095)")]
    RecordTooLong {
        /// The record.
        index: usize,
        /// Its length.
        len: usize,
    },
}

/// Why records cannot be packed into datagrams.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackError {
    /// `maxlen` is too small for the header and the record (or above 65535).
    #[error("record {index} needs a datagram of {needed} bytes; maxlen is {maxlen}")]
    DoesNotFit {
        /// The record (its position in the input).
        index: usize,
        /// The header plus the record.
        needed: usize,
        /// The limit given.
        maxlen: usize,
    },
    /// A record cannot be emitted at all.
    #[error(transparent)]
    Emit(#[from] EmitError),
}
