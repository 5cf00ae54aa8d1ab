//! The VRRP timer arithmetic (RFC 5798 section 6.1, RFC 3768 section 6.1).

use std::time::Duration;

use crate::advert::Version;

/// One centisecond count as a [`Duration`].
pub fn centis(cs: u16) -> Duration {
    Duration::from_millis(u64::from(cs) * 10)
}

/// `Skew_Time` for `priority` with a master advertisement interval of `mai_cs`.
///
/// - VRRPv3 (RFC 5798 section 6.1): `((256 - Priority) * Master_Adver_Interval) / 256`.
/// - VRRPv2 (RFC 3768 section 6.1): `(256 - Priority) / 256` seconds, independent of the
///   advert interval (keepalived/include/vrrp.h, `VRRP_TIMER_SKEW_CALC`, agrees).
pub fn skew(version: Version, mai_cs: u16, priority: u8) -> Duration {
    let factor = 256 - u64::from(priority);
    let base_us = match version {
        Version::V3 => u64::from(mai_cs) * 10_000,
        Version::V2 => 1_000_000,
    };
    Duration::from_micros(factor * base_us / 256)
}

/// The smallest skew (`priority` 255), keepalived's `VRRP_TIMER_SKEW_MIN`.
pub fn skew_min(version: Version, mai_cs: u16) -> Duration {
    skew(version, mai_cs, 255)
}

/// `Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time` (RFC 5798 section 6.1;
/// RFC 3768 section 6.1 with `Advertisement_Interval`).
pub fn master_down(version: Version, mai_cs: u16, priority: u8) -> Duration {
    centis(mai_cs) * 3 + skew(version, mai_cs, priority)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_examples() {
        // Priority 100, 1 s: skew = 156/256 s = 609.375 ms.
        assert_eq!(skew(Version::V3, 100, 100), Duration::from_micros(609_375));
        assert_eq!(skew(Version::V2, 100, 100), Duration::from_micros(609_375));
        // v2 skew ignores the interval.
        assert_eq!(skew(Version::V2, 300, 100), Duration::from_micros(609_375));
        // v3 skew scales with it.
        assert_eq!(skew(Version::V3, 50, 100), Duration::from_micros(304_687));
        assert_eq!(master_down(Version::V3, 100, 200), Duration::from_millis(3000) + Duration::from_micros(218_750));
        assert_eq!(skew_min(Version::V3, 100), Duration::from_micros(3_906));
    }
}
