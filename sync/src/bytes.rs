//! Big-endian reads that never panic: out of range reads give zeros (callers check lengths
//! first, so that never happens on a checked view).

use std::net::{Ipv4Addr, Ipv6Addr};

/// `N` bytes at `at`, or zeros when `bytes` is too short.
pub(crate) fn array<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    at.checked_add(N).and_then(|end| bytes.get(at..end)).and_then(|s| <[u8; N]>::try_from(s).ok()).unwrap_or([0; N])
}

pub(crate) fn be16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(array(bytes, at))
}

pub(crate) fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(array(bytes, at))
}

pub(crate) fn v4(bytes: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::from(array::<4>(bytes, at))
}

pub(crate) fn v6(bytes: &[u8], at: usize) -> Ipv6Addr {
    Ipv6Addr::from(array::<16>(bytes, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_reads_are_zero() {
        assert_eq!(be16(&[1], 0), 0);
        assert_eq!(be32(&[1, 2, 3, 4], 0), 0x0102_0304);
        assert_eq!(be32(&[1, 2, 3, 4], usize::MAX), 0);
    }
}
