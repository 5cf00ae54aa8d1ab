//! The receive checks made before a VRRP message is decoded: whose packet it is, then where
//! it came from (TTL, unicast peer). Every socket of an interface hears every virtual
//! router's packets there, so the virtual router id comes first, as in keepalived
//! (vrrp_scheduler.c, vrrp_dispatcher_read looks the VRID up before vrrp_check_packet
//! judges anything): another router's packet, well formed or not, is none of this
//! instance's business and is not counted against it.

use std::net::IpAddr;

/// What an instance expects of the packets it hears.
pub struct Expect<'a> {
    /// Its virtual router id.
    pub vrid: u8,
    /// Multicast (else unicast to and from `peers`).
    pub multicast: bool,
    /// `unicast_peer` addresses.
    pub peers: &'a [IpAddr],
    /// The TTL range each peer's adverts must arrive with (`min_ttl` / `max_ttl`).
    pub peer_ttls: &'a [(IpAddr, u8, u8)],
}

/// What to do with a packet before decoding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Another virtual router's: not judged, not counted.
    Ignore,
    /// Dropped and counted under this reason.
    Drop(&'static str),
    /// Goes on to be decoded and checked.
    Pass,
}

/// Screens a packet from `src` that arrived with `ttl` and names virtual router `vrid` (none
/// when it is too short to name one: it is judged, and dropped as too short, by every
/// instance that hears it).
///
/// In order: another VRID is ignored; a multicast advert whose TTL / hop limit is not 255 is
/// dropped (`ttl`, RFC 3768 section 7.1, RFC 5798 section 7.1); a unicast one from an address
/// that is not a `unicast_peer` is dropped (`not_a_peer`; keepalived only with
/// `check_unicast_src`), and one outside its peer's TTL range (`ttl`).
pub fn screen(e: &Expect<'_>, src: IpAddr, ttl: u8, vrid: Option<u8>) -> Verdict {
    if vrid.is_some_and(|v| v != e.vrid) {
        return Verdict::Ignore;
    }
    if e.multicast {
        return if ttl == 255 { Verdict::Pass } else { Verdict::Drop("ttl") };
    }
    if !e.peers.contains(&src) {
        return Verdict::Drop("not_a_peer");
    }
    match e.peer_ttls.iter().find(|(a, _, _)| *a == src) {
        Some((_, min, max)) if ttl < *min || ttl > *max => Verdict::Drop("ttl"),
        _ => Verdict::Pass,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));
    const STRANGER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 66));

    fn multicast() -> Expect<'static> {
        Expect { vrid: 51, multicast: true, peers: &[], peer_ttls: &[] }
    }

    #[test]
    fn another_vrid_is_ignored_before_anything_is_counted() {
        let e = multicast();
        assert_eq!(screen(&e, STRANGER, 64, Some(52)), Verdict::Ignore, "a wrong TTL on another's packet");
        let u = Expect { vrid: 54, multicast: false, peers: &[PEER], peer_ttls: &[] };
        assert_eq!(screen(&u, STRANGER, 255, Some(51)), Verdict::Ignore, "a multicast router's packet");
        assert_eq!(screen(&e, STRANGER, 255, Some(51)), Verdict::Pass);
    }

    #[test]
    fn multicast_needs_ttl_255_and_a_packet_without_vrid_is_judged() {
        let e = multicast();
        assert_eq!(screen(&e, STRANGER, 64, Some(51)), Verdict::Drop("ttl"));
        assert_eq!(screen(&e, STRANGER, 64, None), Verdict::Drop("ttl"));
        assert_eq!(screen(&e, STRANGER, 255, None), Verdict::Pass);
    }

    #[test]
    fn unicast_needs_a_peer_within_its_ttl_range() {
        let ttls = [(PEER, 100, 200)];
        let u = Expect { vrid: 54, multicast: false, peers: &[PEER], peer_ttls: &ttls };
        assert_eq!(screen(&u, STRANGER, 150, Some(54)), Verdict::Drop("not_a_peer"));
        assert_eq!(screen(&u, PEER, 255, Some(54)), Verdict::Drop("ttl"));
        assert_eq!(screen(&u, PEER, 150, Some(54)), Verdict::Pass);
        let any = Expect { peer_ttls: &[], ..u };
        assert_eq!(screen(&any, PEER, 1, Some(54)), Verdict::Pass, "no range: any TTL (keepalived)");
    }
}
