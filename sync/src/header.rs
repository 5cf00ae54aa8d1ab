//! The 8-byte header of a version 1 sync message (`struct ip_vs_sync_mesg` in ip_vs_sync.c),
//! and the protocol's fixed numbers.
//!
//! ```text
//!  0               1               2               3
//! +---------------+---------------+-------------------------------+
//! |  reserved: 0  |    sync id    |  size (be16, whole datagram)  |
//! +---------------+---------------+-------------------------------+
//! | record count  |  version: 1   |        spare: 0               |
//! +---------------+---------------+-------------------------------+
//! ```

use crate::bytes::be16;
use crate::error::ParseError;
use std::net::Ipv4Addr;

/// The length of a version 1 header.
pub const HEADER_LEN: usize = 8;
/// The protocol version in the header (`SYNC_PROTO_VER`).
pub const VERSION: u8 = 1;
/// The default multicast group (`IP_VS_SYNC_GROUP`).
pub const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 81);
/// The default UDP port (`IP_VS_SYNC_PORT`). With `net.ipv4.vs.sync_ports` above 1 the kernel
/// runs that many threads, thread N on port `PORT + N` (`get_mcast_sockaddr`).
pub const PORT: u16 = 8848;
/// The most records one message can count (the header's count is one byte).
pub const MAX_RECORDS: usize = 255;
/// The datagram size a kernel master uses unless told otherwise: 1500 minus the IPv4 and UDP
/// headers, whatever the interface's MTU (`start_sync_thread`). A kernel backup reads at most
/// max(MTU, 1500) - 28 bytes, and drops a datagram it could not read whole (its length then
/// differs from the header's size), so a sender should not exceed this against a backup
/// whose interface has the usual 1500-byte MTU.
pub const DEFAULT_MAXLEN: usize = 1500 - 28;

/// A checked view of a version 1 header over the whole datagram.
///
/// [`Header::new_checked`] applies the checks of `ip_vs_process_message` that concern the
/// header: at least 4 bytes, size equal to the datagram's length, and the version 1 marks
/// (first byte 0, version 1, spare 0). Whether the sync id matches is the receiver's
/// business: a kernel backup with sync id 0 takes every id, else only its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    datagram: &'a [u8],
}

impl<'a> Header<'a> {
    /// Checks the header of `datagram` (the whole UDP payload).
    pub fn new_checked(datagram: &'a [u8]) -> Result<Header<'a>, ParseError> {
        let len = datagram.len();
        if len < 4 {
            return Err(ParseError::TooShort { len });
        }
        let declared = be16(datagram, 2);
        if usize::from(declared) != len {
            return Err(ParseError::SizeMismatch { declared, actual: len });
        }
        let first = datagram.first().copied().unwrap_or(0);
        let version = datagram.get(5).copied();
        let spare = be16(datagram, 6);
        if len < HEADER_LEN || first != 0 || version != Some(VERSION) || spare != 0 {
            return Err(ParseError::Version0 { first, version });
        }
        Ok(Header { datagram })
    }

    /// The sync id.
    pub fn sync_id(&self) -> u8 {
        self.datagram.get(1).copied().unwrap_or(0)
    }

    /// The size the header declares (the datagram's length).
    pub fn size(&self) -> u16 {
        be16(self.datagram, 2)
    }

    /// How many records the header counts.
    pub fn count(&self) -> u8 {
        self.datagram.get(4).copied().unwrap_or(0)
    }

    /// The whole datagram the header starts.
    pub fn datagram(&self) -> &'a [u8] {
        self.datagram
    }
}

/// Writes a version 1 header for `count` records and a datagram of `size` bytes.
pub(crate) fn write_header(out: &mut Vec<u8>, sync_id: u8, size: u16, count: u8) {
    out.push(0);
    out.push(sync_id);
    out.extend_from_slice(&size.to_be_bytes());
    out.push(count);
    out.push(VERSION);
    out.extend_from_slice(&[0, 0]);
}
