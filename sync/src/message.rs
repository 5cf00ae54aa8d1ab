//! A whole version 1 sync message: header and records.

use crate::error::{EmitError, ParseError};
use crate::header::{HEADER_LEN, Header, MAX_RECORDS, write_header};
use crate::record::{Record, RecordView, V4_LEN};

/// A sync message, parsed: the sync id and the records in datagram order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Message {
    /// The sync id (a kernel backup with a non-zero id takes only its own).
    pub sync_id: u8,
    /// The records.
    pub records: Vec<Record>,
}

/// The offset where the record after one at `start` of `size` bytes starts: records are
/// aligned to 4 bytes (`ip_vs_process_message`).
fn next_record(start: usize, size: usize) -> usize {
    start + align4(size)
}

/// `n` rounded up to a multiple of 4.
pub(crate) fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Iterates over the records of a checked datagram as [`RecordView`]s, applying the per-record
/// checks of `ip_vs_process_message`; after an error it yields nothing more.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    datagram: &'a [u8],
    next: usize,
    index: usize,
    count: usize,
    failed: bool,
}

impl<'a> Records<'a> {
    /// The records of the datagram whose header was checked.
    pub fn new(header: Header<'a>) -> Records<'a> {
        Records {
            datagram: header.datagram(),
            next: HEADER_LEN,
            index: 0,
            count: usize::from(header.count()),
            failed: false,
        }
    }

    fn view(&mut self) -> Result<RecordView<'a>, ParseError> {
        let (index, offset, len) = (self.index, self.next, self.datagram.len());
        if offset + V4_LEN > len {
            return Err(ParseError::TruncatedRecord { index, offset });
        }
        let ver_size = crate::bytes::be16(self.datagram, offset + 2);
        let size = ver_size & 0x0fff;
        let end = offset + usize::from(size);
        if end > len {
            return Err(ParseError::RecordOverrun { index, offset, size });
        }
        let version = (ver_size >> 12) as u8;
        if version != 0 {
            return Err(ParseError::RecordVersion { index, version });
        }
        // The type is read even when `size` is below one byte (the first 36 are there).
        let kind = self.datagram.get(offset).copied().unwrap_or(0);
        let min = if kind & crate::record::TYPE_INET6 != 0 {
            crate::record::V6_LEN
        } else if kind == 0 {
            V4_LEN
        } else {
            return Err(ParseError::RecordType { index, kind });
        };
        if usize::from(size) < min {
            return Err(ParseError::RecordTooSmall { index, size, min: min as u16 });
        }
        let bytes = self.datagram.get(offset..end).unwrap_or(&[]);
        self.next = next_record(offset, usize::from(size));
        RecordView::new_checked(bytes, index)
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<RecordView<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.index >= self.count {
            return None;
        }
        let item = self.view();
        self.failed = item.is_err();
        self.index += 1;
        Some(item)
    }
}

impl Message {
    /// Parses a datagram (the UDP payload), accepting exactly the datagrams a kernel backup
    /// processes (`ip_vs_process_message`, `ip_vs_proc_sync_conn`) and failing with the reason
    /// it would drop the others whole.
    ///
    /// As in the kernel: bytes after the last counted record are ignored, padding bytes are
    /// not looked at, and parsing a record's options stops at an unknown mandatory option
    /// (the kernel skips that record; see [`Record::backup_skips`] for the records a backup
    /// ignores while taking the rest).
    pub fn parse(datagram: &[u8]) -> Result<Message, ParseError> {
        let header = Header::new_checked(datagram)?;
        let mut records = Vec::with_capacity(usize::from(header.count()));
        for view in Records::new(header) {
            records.push(Record::parse(&view?)?);
        }
        Ok(Message { sync_id: header.sync_id(), records })
    }

    /// The datagram's length once emitted.
    pub fn wire_len(&self) -> Result<usize, EmitError> {
        let mut len = HEADER_LEN;
        for (index, record) in self.records.iter().enumerate() {
            if index > 0 {
                len = align4(len);
            }
            len += record.wire_len(index)?;
        }
        Ok(len)
    }

    /// Emits the datagram as a kernel master lays it out (`ip_vs_sync_conn`): the header, then
    /// the records, each but the first preceded by the zero padding that aligns it to 4 bytes
    /// (the last record is not padded; the header's size counts exactly the bytes sent).
    pub fn emit(&self) -> Result<Vec<u8>, EmitError> {
        if self.records.len() > MAX_RECORDS {
            return Err(EmitError::TooManyRecords(self.records.len()));
        }
        let len = self.wire_len()?;
        let size = u16::try_from(len).map_err(|_| EmitError::TooLong(len))?;
        let mut out = Vec::with_capacity(len);
        write_header(&mut out, self.sync_id, size, self.records.len() as u8);
        for (index, record) in self.records.iter().enumerate() {
            out.resize(align4(out.len()), 0);
            record.emit(index, &mut out)?;
        }
        Ok(out)
    }
}
