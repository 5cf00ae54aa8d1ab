//! VRRP's virtual MAC (keepalived's `use_vmac`): a macvlan interface on the instance's
//! interface, with the RFC 5798 virtual router MAC (00:00:5e:00:01:VRID for IPv4,
//! 00:00:5e:00:02:VRID for IPv6, section 7.3), that carries the virtual addresses, so that
//! neighbours reach them at the virtual MAC whichever router is master.
//!
//! As keepalived 2.2.7 (keepalived/vrrp/vrrp_vmac.c, netlink_link_add_vmac and
//! netlink_link_del_vmac; keepalived/vrrp/vrrp_if_config.c):
//! - the interface is a macvlan in private mode (MACVLAN_MODE_PRIVATE) on the base
//!   interface, made with RTM_NEWLINK; an interface of that name that is already such a
//!   macvlan on the same base with the right MAC (one a previous run left) is used as it
//!   is; a macvlan that differs is deleted and made again; any other kind of interface is
//!   refused;
//! - IPv6 addresses are not generated on it (IFLA_INET6_ADDR_GEN_MODE none: RFC 5798
//!   section 7.4 wants adverts from the router's own link-local address, not one made from
//!   the virtual MAC), and IPv6 is disabled on an IPv4 instance's interface unless IPv6
//!   addresses go on it;
//! - IPv4: on the macvlan arp_ignore 1, accept_local 1, rp_filter 0, promote_secondaries
//!   1; on the base interface arp_ignore 1 and arp_filter 1 (so that only the macvlan
//!   answers ARP for the virtual addresses, with the virtual MAC); and, because the kernel
//!   applies the higher of `all` and the interface's rp_filter, a non-zero
//!   net.ipv4.conf.all.rp_filter is moved onto `default` and every interface, and `all` set
//!   to 0 (keepalived's clear_rp_filter), so filtering is unchanged everywhere but on the
//!   macvlan;
//! - IPv6 (adverts sent from the macvlan): it gets the base interface's link-local address
//!   (else one made from the base's MAC), without DAD and deprecated (preferred lifetime 0)
//!   so that nothing else picks it as a source;
//! - it is brought up last.
//!
//! When the last macvlan on a base goes, the base's arp_ignore / arp_filter get back the
//! values they had (keepalived 2.2.7 leaves them set), and when the last IPv4 macvlan goes,
//! rp_filter gets back what it had where nobody changed it since.

use super::NetlinkError;
use super::addr::{Addresses, router_error};
use neli::{
    consts::{
        nl::NlmF,
        rtnl::{Ifa, IfaF, Ifla, IflaInfo, RtAddrFamily, RtScope, Rtm},
    },
    nl::NlPayload,
    rtnl::{Ifaddrmsg, IfaddrmsgBuilder, Ifinfomsg, IfinfomsgBuilder, Rtattr, RtattrBuilder},
    types::{Buffer, RtBuffer},
};
use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::sync::Mutex;

/// linux/if_link.h: IFLA_MACVLAN_MODE inside IFLA_INFO_DATA, and MACVLAN_MODE_PRIVATE.
const IFLA_MACVLAN_MODE: u16 = 1;
const MACVLAN_MODE_PRIVATE: u32 = 1;
/// linux/if_link.h: IFLA_INET6_ADDR_GEN_MODE inside IFLA_AF_SPEC / AF_INET6, and
/// IN6_ADDR_GEN_MODE_NONE.
const IFLA_INET6_ADDR_GEN_MODE: u16 = 8;
const IN6_ADDR_GEN_MODE_NONE: u8 = 1;
/// AF_INET6, the nest of IPv6 settings inside IFLA_AF_SPEC.
const AF_INET6: u16 = 10;
/// Linux's IFNAMSIZ: a name has at most 15 bytes.
pub const IFNAMSIZ: usize = 16;

/// The RFC 5798 (section 7.3) virtual router MAC of `vrid`.
pub fn virtual_mac(vrid: u8, v6: bool) -> [u8; 6] {
    [0x00, 0x00, 0x5e, 0x00, if v6 { 0x02 } else { 0x01 }, vrid]
}

/// Why `name` cannot name an interface (the kernel's dev_valid_name, net/core/dev.c), or
/// `None` when it can.
pub fn invalid_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.len() >= IFNAMSIZ {
        Some("interface names have at most 15 bytes")
    } else if name == "." || name == ".." {
        Some("`.` and `..` are not interface names")
    } else if name.chars().any(|c| c == '/' || c == ':' || c.is_whitespace()) {
        Some("interface names cannot hold `/`, `:` or spaces")
    } else {
        None
    }
}

/// One interface as rtnetlink describes it: what tells a VMAC apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// Interface index.
    pub ifindex: u32,
    /// Its kind (`macvlan`, `veth`, ...), when it has one.
    pub kind: Option<String>,
    /// Its macvlan mode, for a macvlan.
    pub macvlan_mode: Option<u32>,
    /// The interface it sits on (IFLA_LINK), if any.
    pub link: Option<u32>,
    /// Its MAC address.
    pub mac: Option<[u8; 6]>,
}

impl LinkInfo {
    /// True for a macvlan (of any mode).
    pub fn is_macvlan(&self) -> bool {
        self.kind.as_deref() == Some("macvlan")
    }
}

/// What a VMAC interface is to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmacSpec {
    /// Its name.
    pub name: String,
    /// The base interface's index.
    pub base: u32,
    /// The base interface's name.
    pub base_name: String,
    /// Its MAC ([`virtual_mac`]).
    pub mac: [u8; 6],
    /// An IPv6 instance's (else IPv4's).
    pub v6: bool,
    /// IPv6 stays enabled on it: an IPv6 instance, or IPv6 addresses to float on it.
    pub ipv6: bool,
    /// The link-local address it gets (an IPv6 instance that sends its adverts from it).
    pub link_local: Option<Ipv6Addr>,
}

/// The IPv6 link-local address made from a MAC (modified EUI-64, RFC 4291 appendix A),
/// as keepalived's make_link_local_address.
pub fn link_local_of(mac: [u8; 6]) -> Ipv6Addr {
    let [a, b, c, d, e, f] = mac;
    Ipv6Addr::from([0xfe, 0x80, 0, 0, 0, 0, 0, 0, a ^ 0x02, b, c, 0xff, 0xfe, d, e, f])
}

/// What [`clear_rp_filter`] changed: `all.rp_filter` before it was cleared,
/// `default.rp_filter` before it was raised, and the interfaces raised with what they had.
type RpFilterSaved = (String, Option<String>, Vec<(String, String)>);

/// The sysctl values tandem changed and will give back.
struct Saved {
    /// By base interface: how many VMACs of this process sit on it, and its arp_ignore and
    /// arp_filter before the first.
    bases: BTreeMap<String, (usize, Option<String>, Option<String>)>,
    /// How many IPv4 VMACs of this process exist.
    ipv4: usize,
    /// What clearing all.rp_filter changed.
    rp_filter: Option<RpFilterSaved>,
}

static SAVED: Mutex<Saved> = Mutex::new(Saved { bases: BTreeMap::new(), ipv4: 0, rp_filter: None });

fn saved() -> std::sync::MutexGuard<'static, Saved> {
    SAVED.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn sysctl_path(v6: bool, ifname: &str, key: &str) -> String {
    format!("/proc/sys/net/{}/conf/{ifname}/{key}", if v6 { "ipv6" } else { "ipv4" })
}

/// Reads one per-interface sysctl (the calling thread's network namespace).
pub fn read_sysctl(v6: bool, ifname: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(sysctl_path(v6, ifname, key)).ok().map(|s| s.trim().to_string())
}

/// Writes one per-interface sysctl.
pub fn write_sysctl(v6: bool, ifname: &str, key: &str, value: &str) -> Result<(), NetlinkError> {
    let path = sysctl_path(v6, ifname, key);
    std::fs::write(&path, value)
        .map_err(|e| NetlinkError::new(format!("set {path} to {value}"), e.raw_os_error(), e.to_string()))
}

fn number(s: &Option<String>) -> u32 {
    s.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// keepalived's clear_rp_filter: a non-zero all.rp_filter moves onto default and every
/// interface that has less, then all becomes 0. Returns what to give back.
fn clear_rp_filter() -> Result<Option<RpFilterSaved>, NetlinkError> {
    let all = read_sysctl(false, "all", "rp_filter");
    let level = number(&all);
    let Some(all) = all.filter(|_| level != 0) else { return Ok(None) };
    let default = read_sysctl(false, "default", "rp_filter");
    let default = if number(&default) < level {
        write_sysctl(false, "default", "rp_filter", &all)?;
        default
    } else {
        None
    };
    let mut raised = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc/sys/net/ipv4/conf") {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == "all" || name == "default" {
                continue;
            }
            let had = read_sysctl(false, &name, "rp_filter");
            if let Some(had) = had.filter(|h| h.parse::<u32>().is_ok_and(|h| h < level)) {
                write_sysctl(false, &name, "rp_filter", &all)?;
                raised.push((name, had));
            }
        }
    }
    write_sysctl(false, "all", "rp_filter", "0")?;
    Ok(Some((all, default, raised)))
}

/// keepalived's restore_rp_filter: gives back what [`clear_rp_filter`] changed, where it is
/// still what tandem left.
fn restore_rp_filter((all, default, raised): RpFilterSaved) {
    if read_sysctl(false, "all", "rp_filter").as_deref() == Some("0") {
        let _ = write_sysctl(false, "all", "rp_filter", &all);
    }
    if let Some(d) = default {
        if read_sysctl(false, "default", "rp_filter").as_deref() == Some(all.as_str()) {
            let _ = write_sysctl(false, "default", "rp_filter", &d);
        }
    }
    for (name, had) in raised {
        if read_sysctl(false, &name, "rp_filter").as_deref() == Some(all.as_str()) {
            let _ = write_sysctl(false, &name, "rp_filter", &had);
        }
    }
}

impl Addresses {
    /// Interface `name`, if it exists.
    pub fn link(&self, name: &str) -> Result<Option<LinkInfo>, NetlinkError> {
        let op = format!("look up interface {name}");
        let req = IfinfomsgBuilder::default()
            .ifi_family(RtAddrFamily::Unspecified)
            .build()
            .map_err(|e| NetlinkError::new(&op, None, e.to_string()))?;
        let recv = self
            .rtnl
            .send::<_, _, Rtm, Ifinfomsg>(Rtm::Getlink, NlmF::DUMP, NlPayload::Payload(req))
            .map_err(|e| router_error(&op, e))?;
        let mut found = None;
        for msg in recv {
            let msg = msg.map_err(|e| router_error(&op, e))?;
            let NlPayload::Payload(p) = msg.nl_payload() else { continue };
            let attrs = p.rtattrs().get_attr_handle();
            let this = attrs
                .get_attr_payload_as_with_len::<String>(Ifla::Ifname)
                .map(|n| n.trim_end_matches('\0').to_string())
                .unwrap_or_default();
            if this != name || found.is_some() {
                continue;
            }
            let mac = attrs
                .get_attr_payload_as_with_len_borrowed::<&[u8]>(Ifla::Address)
                .ok()
                .and_then(|b| <[u8; 6]>::try_from(b).ok());
            let link = attrs.get_attr_payload_as::<u32>(Ifla::Link).ok();
            let (mut kind, mut macvlan_mode) = (None, None);
            if let Ok(info) = attrs.get_nested_attributes::<IflaInfo>(Ifla::Linkinfo) {
                kind = info
                    .get_attr_payload_as_with_len::<String>(IflaInfo::Kind)
                    .ok()
                    .map(|k| k.trim_end_matches('\0').to_string());
                if let Ok(data) = info.get_nested_attributes::<u16>(IflaInfo::Data) {
                    macvlan_mode = data.get_attr_payload_as::<u32>(IFLA_MACVLAN_MODE).ok();
                }
            }
            found =
                Some(LinkInfo { ifindex: u32::try_from(*p.ifi_index()).unwrap_or(0), kind, macvlan_mode, link, mac });
        }
        Ok(found)
    }

    /// Makes the VMAC interface `spec` asks for (or takes the one a previous run left, when
    /// it is the same), sets it and its base up as keepalived does (see the module), and
    /// brings it up. Returns its index. Each success is to be paired with one
    /// [`Addresses::remove_vmac`].
    pub fn ensure_vmac(&self, spec: &VmacSpec) -> Result<u32, NetlinkError> {
        let op = format!("make VMAC interface {} on {}", spec.name, spec.base_name);
        let existing = self.link(&spec.name)?;
        let reuse = match &existing {
            Some(l) if !l.is_macvlan() => {
                return Err(NetlinkError::new(
                    &op,
                    None,
                    format!("interface {} exists and is not a macvlan", spec.name),
                ));
            }
            Some(l) => {
                let same = l.link == Some(spec.base)
                    && l.mac == Some(spec.mac)
                    && l.macvlan_mode == Some(MACVLAN_MODE_PRIVATE);
                if !same {
                    self.delete_link(l.ifindex, &spec.name)?;
                }
                same
            }
            None => false,
        };
        if !reuse {
            self.create_macvlan(spec, &op)?;
        }
        let Some(l) = self.link(&spec.name)? else {
            return Err(NetlinkError::new(&op, None, "the interface is not there after it was made"));
        };
        let ifindex = l.ifindex;
        // The kernel takes no IFLA_AF_SPEC when it makes a link: a second message.
        self.set_addr_gen_mode_none(ifindex, &spec.name)?;
        write_sysctl(true, &spec.name, "disable_ipv6", if spec.ipv6 { "0" } else { "1" })?;
        if !spec.v6 {
            self.prepare_ipv4(spec)?;
        }
        self.set_up(ifindex, &spec.name)?;
        if let Some(ll) = spec.link_local {
            self.add_link_local(ifindex, &spec.name, ll)?;
        }
        Ok(ifindex)
    }

    /// Deletes the VMAC interface [`Addresses::ensure_vmac`] made (an interface already gone is
    /// no error) and gives back the sysctls changed for it.
    pub fn remove_vmac(&self, spec: &VmacSpec, ifindex: u32) -> Result<(), NetlinkError> {
        // Only the interface of that name and index: once it is gone (deleted with its base,
        // say) the index may name another interface.
        let deleted = match self.link(&spec.name) {
            Ok(Some(l)) if l.ifindex == ifindex => self.delete_link(ifindex, &spec.name),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        if !spec.v6 {
            let mut s = saved();
            if let Some(entry) = s.bases.get_mut(&spec.base_name) {
                entry.0 = entry.0.saturating_sub(1);
                if entry.0 == 0 {
                    let (_, ignore, filter) = entry.clone();
                    s.bases.remove(&spec.base_name);
                    if let Some(v) = ignore {
                        let _ = write_sysctl(false, &spec.base_name, "arp_ignore", &v);
                    }
                    if let Some(v) = filter {
                        let _ = write_sysctl(false, &spec.base_name, "arp_filter", &v);
                    }
                }
            }
            s.ipv4 = s.ipv4.saturating_sub(1);
            if s.ipv4 == 0 {
                if let Some(r) = s.rp_filter.take() {
                    restore_rp_filter(r);
                }
            }
        }
        deleted
    }

    fn prepare_ipv4(&self, spec: &VmacSpec) -> Result<(), NetlinkError> {
        let mut s = saved();
        if s.ipv4 == 0 && s.rp_filter.is_none() {
            s.rp_filter = clear_rp_filter()?;
        }
        for (key, value) in
            [("arp_ignore", "1"), ("accept_local", "1"), ("rp_filter", "0"), ("promote_secondaries", "1")]
        {
            write_sysctl(false, &spec.name, key, value)?;
        }
        let base = &spec.base_name;
        if let Some(entry) = s.bases.get_mut(base) {
            entry.0 += 1;
        } else {
            let (ignore, filter) = (read_sysctl(false, base, "arp_ignore"), read_sysctl(false, base, "arp_filter"));
            write_sysctl(false, base, "arp_ignore", "1")?;
            write_sysctl(false, base, "arp_filter", "1")?;
            s.bases.insert(base.clone(), (1, ignore, filter));
        }
        s.ipv4 += 1;
        Ok(())
    }

    fn create_macvlan(&self, spec: &VmacSpec, op: &str) -> Result<(), NetlinkError> {
        let e = |e: String| NetlinkError::new(op, None, e);
        let mode = RtattrBuilder::default()
            .rta_type(IFLA_MACVLAN_MODE)
            .rta_payload(MACVLAN_MODE_PRIVATE)
            .build()
            .map_err(|x| e(x.to_string()))?;
        let data = empty_attr(IflaInfo::Data).map_err(e)?.nest(&mode).map_err(|x| e(x.to_string()))?;
        let kind = RtattrBuilder::default()
            .rta_type(IflaInfo::Kind)
            .rta_payload(Buffer::from(b"macvlan".to_vec()))
            .build()
            .map_err(|x| e(x.to_string()))?;
        let info = empty_attr(Ifla::Linkinfo)
            .map_err(e)?
            .nest(&kind)
            .map_err(|x| e(x.to_string()))?
            .nest(&data)
            .map_err(|x| e(x.to_string()))?;
        let mut attrs = RtBuffer::<Ifla, Buffer>::new();
        attrs.push(info);
        attrs.push(attr(Ifla::Link, spec.base.to_ne_bytes().to_vec()).map_err(e)?);
        attrs.push(attr(Ifla::Ifname, spec.name.as_bytes().to_vec()).map_err(e)?);
        attrs.push(attr(Ifla::Address, spec.mac.to_vec()).map_err(e)?);
        let msg = IfinfomsgBuilder::default()
            .ifi_family(RtAddrFamily::Unspecified)
            .rtattrs(attrs)
            .build()
            .map_err(|x| e(x.to_string()))?;
        self.link_request(Rtm::Newlink, NlmF::CREATE | NlmF::EXCL | NlmF::ACK, msg, op)
    }

    fn set_addr_gen_mode_none(&self, ifindex: u32, name: &str) -> Result<(), NetlinkError> {
        let op = format!("stop IPv6 address generation on {name}");
        let e = |e: String| NetlinkError::new(&op, None, e);
        let mode = RtattrBuilder::default()
            .rta_type(IFLA_INET6_ADDR_GEN_MODE)
            .rta_payload(IN6_ADDR_GEN_MODE_NONE)
            .build()
            .map_err(|x| e(x.to_string()))?;
        let inet6 = empty_attr(AF_INET6).map_err(e)?.nest(&mode).map_err(|x| e(x.to_string()))?;
        let spec = empty_attr(Ifla::AfSpec).map_err(e)?.nest(&inet6).map_err(|x| e(x.to_string()))?;
        let mut attrs = RtBuffer::<Ifla, Buffer>::new();
        attrs.push(spec);
        let msg = IfinfomsgBuilder::default()
            .ifi_family(RtAddrFamily::Unspecified)
            .ifi_index(index(ifindex))
            .rtattrs(attrs)
            .build()
            .map_err(|x| e(x.to_string()))?;
        self.link_request(Rtm::Newlink, NlmF::ACK, msg, &op)
    }

    fn set_up(&self, ifindex: u32, name: &str) -> Result<(), NetlinkError> {
        let op = format!("bring {name} up");
        let msg = IfinfomsgBuilder::default()
            .ifi_family(RtAddrFamily::Unspecified)
            .ifi_index(index(ifindex))
            .up()
            .build()
            .map_err(|e| NetlinkError::new(&op, None, e.to_string()))?;
        self.link_request(Rtm::Newlink, NlmF::ACK, msg, &op)
    }

    fn delete_link(&self, ifindex: u32, name: &str) -> Result<(), NetlinkError> {
        let op = format!("delete interface {name}");
        let msg = IfinfomsgBuilder::default()
            .ifi_family(RtAddrFamily::Unspecified)
            .ifi_index(index(ifindex))
            .build()
            .map_err(|e| NetlinkError::new(&op, None, e.to_string()))?;
        match self.link_request(Rtm::Dellink, NlmF::ACK, msg, &op) {
            // ENODEV: already gone.
            Err(e) if e.errno == Some(19) => Ok(()),
            other => other,
        }
    }

    /// The link-local address of a VMAC that sends IPv6 adverts: no DAD, preferred lifetime 0
    /// (keepalived's add_link_local_address). Already there is no error.
    fn add_link_local(&self, ifindex: u32, name: &str, ll: Ipv6Addr) -> Result<(), NetlinkError> {
        let op = format!("add {ll}/64 on {name}");
        let e = |e: String| NetlinkError::new(&op, None, e);
        let mut attrs = RtBuffer::<Ifa, Buffer>::new();
        let a = |kind: Ifa, bytes: Vec<u8>| {
            RtattrBuilder::default().rta_type(kind).rta_payload(Buffer::from(bytes)).build().map_err(|x| x.to_string())
        };
        attrs.push(a(Ifa::Local, ll.octets().to_vec()).map_err(e)?);
        attrs.push(a(Ifa::Address, ll.octets().to_vec()).map_err(e)?);
        // struct ifa_cacheinfo: preferred 0, valid forever, then two timestamps.
        let mut cache = Vec::with_capacity(16);
        for v in [0u32, u32::MAX, 0, 0] {
            cache.extend_from_slice(&v.to_ne_bytes());
        }
        attrs.push(a(Ifa::Cacheinfo, cache).map_err(e)?);
        let msg: Ifaddrmsg = IfaddrmsgBuilder::default()
            .ifa_family(RtAddrFamily::Inet6)
            .ifa_prefixlen(64)
            .ifa_flags(IfaF::NODAD)
            .ifa_scope(RtScope::Link)
            .ifa_index(ifindex)
            .rtattrs(attrs)
            .build()
            .map_err(|x| e(x.to_string()))?;
        match self.addr_request(Rtm::Newaddr, NlmF::CREATE | NlmF::REPLACE | NlmF::ACK, msg, &op) {
            Err(x) if x.errno == Some(17) => Ok(()),
            other => other,
        }
    }

    fn link_request(&self, kind: Rtm, flags: NlmF, msg: Ifinfomsg, op: &str) -> Result<(), NetlinkError> {
        let recv = self
            .rtnl
            .send::<_, _, Rtm, Ifinfomsg>(kind, flags, NlPayload::Payload(msg))
            .map_err(|e| router_error(op, e))?;
        for r in recv {
            r.map_err(|e| router_error(op, e))?;
        }
        Ok(())
    }
}

fn index(ifindex: u32) -> i32 {
    i32::try_from(ifindex).unwrap_or(0)
}

fn attr(kind: Ifla, bytes: Vec<u8>) -> Result<Rtattr<Ifla, Buffer>, String> {
    RtattrBuilder::default().rta_type(kind).rta_payload(Buffer::from(bytes)).build().map_err(|e| e.to_string())
}

/// An attribute to nest others in.
fn empty_attr<T: neli::consts::rtnl::RtaType>(kind: T) -> Result<Rtattr<T, Buffer>, String> {
    RtattrBuilder::default().rta_type(kind).rta_payload(Buffer::new()).build().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_virtual_macs_are_rfc_5798s() {
        assert_eq!(virtual_mac(51, false), [0, 0, 0x5e, 0, 1, 0x33]);
        assert_eq!(virtual_mac(51, true), [0, 0, 0x5e, 0, 2, 0x33]);
    }

    #[test]
    fn interface_names_follow_the_kernel() {
        assert_eq!(invalid_name("vrrp.51"), None);
        assert_eq!(invalid_name("a23456789012345"), None);
        assert!(invalid_name("a234567890123456").is_some());
        assert!(invalid_name("").is_some());
        assert!(invalid_name("..").is_some());
        assert!(invalid_name("a/b").is_some());
        assert!(invalid_name("a:b").is_some());
        assert!(invalid_name("a b").is_some());
    }

    #[test]
    fn link_local_addresses_are_modified_eui_64() {
        assert_eq!(
            link_local_of([0x86, 0xca, 0x39, 0x4f, 0x6f, 0xb7]),
            Ipv6Addr::new(0xfe80, 0, 0, 0, 0x84ca, 0x39ff, 0xfe4f, 0x6fb7)
        );
    }
}
