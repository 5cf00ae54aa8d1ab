//! Packing records into datagrams a kernel backup accepts.

use crate::error::PackError;
use crate::header::{HEADER_LEN, MAX_RECORDS, write_header};
use crate::message::align4;
use crate::record::Record;

/// Packs `records`, in order, into as few datagrams as greedy filling gives: each at most
/// `maxlen` bytes (clamped to 65535) and 255 records, all with `sync_id`, laid out as
/// [`crate::Message::emit`] lays them out. Every record lands in exactly one datagram.
///
/// This is how a kernel master fills its buffers (`ip_vs_sync_conn`: a record that does not
/// fit with its padding starts a new datagram), with the record limit the kernel does not
/// enforce (its one-byte count would wrap past 255 with a large `sync_maxlen`). Use
/// [`crate::header::DEFAULT_MAXLEN`] unless the backup is known to read more. Fails when a
/// record cannot be emitted or does not fit in `maxlen` even alone.
pub fn pack(sync_id: u8, records: &[Record], maxlen: usize) -> Result<Vec<Vec<u8>>, PackError> {
    let maxlen = maxlen.min(usize::from(u16::MAX));
    let mut datagrams = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut count = 0usize;
    let finish = |current: &mut Vec<u8>, count: usize, datagrams: &mut Vec<Vec<u8>>| {
        if count > 0 {
            let size = (current.len() as u16).to_be_bytes();
            // Header fields filled in now that the size and count are known.
            if let Some(s) = current.get_mut(2..4) {
                s.copy_from_slice(&size);
            }
            if let Some(c) = current.get_mut(4) {
                *c = count as u8;
            }
            datagrams.push(std::mem::take(current));
        }
    };
    for (index, record) in records.iter().enumerate() {
        let len = record.wire_len(index)?;
        if HEADER_LEN + len > maxlen {
            return Err(PackError::DoesNotFit { index, needed: HEADER_LEN + len, maxlen });
        }
        if count == MAX_RECORDS || (count > 0 && align4(current.len()) + len > maxlen) {
            finish(&mut current, count, &mut datagrams);
            count = 0;
        }
        if count == 0 {
            current.clear();
            write_header(&mut current, sync_id, 0, 0);
        } else {
            current.resize(align4(current.len()), 0);
        }
        record.emit(index, &mut current)?;
        count += 1;
    }
    finish(&mut current, count, &mut datagrams);
    Ok(datagrams)
}
