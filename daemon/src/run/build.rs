//! From the configuration model to what the VRRP loop runs: one unit per sync group (a lone
//! instance is a group of one), with each member's settings for the state machine and the
//! I/O it needs, resolved against this host (interface indexes, source addresses).

use std::net::IpAddr;
use std::time::Duration;
use tandem_conf as conf;
use tandem_vrrp::instance::{GarpSettings, InitialState, Settings};
use tandem_vrrp::linux::addr::{self, AddressSpec, Addresses, parse_scope};
use tandem_vrrp::linux::vmac::{self, VmacSpec};
use tandem_vrrp::wire::vrrp::simple_password;
use tandem_vrrp::{Auth, Version};

/// A tracked object and how it moves priority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    /// Script, interface or file name.
    pub name: String,
    /// keepalived's weight (0: fault while down).
    pub weight: i32,
    /// `reverse`.
    pub reverse: bool,
}

/// One VRRP instance ready to run.
#[derive(Debug, Clone)]
pub struct Member {
    /// State-machine settings.
    pub settings: Settings,
    /// The interface adverts use.
    pub ifname: String,
    /// Its index.
    pub ifindex: u32,
    /// IPv6 instance.
    pub v6: bool,
    /// Multicast group (None in unicast mode).
    pub group: Option<IpAddr>,
    /// Unicast peers.
    pub peers: Vec<IpAddr>,
    /// The TTL range each peer's adverts must arrive with (unicast_peer `min_ttl` /
    /// `max_ttl`; keepalived vrrp.c, vrrp_check_packet): 0-255 when not given.
    pub peer_ttls: Vec<(IpAddr, u8, u8)>,
    /// `unicast_ttl`: the TTL (hop limit) unicast adverts are sent with (255 when not given).
    pub unicast_ttl: Option<u8>,
    /// Address adverts are sent from, when configured (bound).
    pub source: Option<IpAddr>,
    /// Every address the instance floats (virtual_ipaddress and _excluded).
    pub vips: Vec<AddressSpec>,
    /// `virtual_routes`, added while master.
    pub routes: Vec<tandem_vrrp::linux::route::RouteSpec>,
    /// `virtual_rules`, added while master.
    pub rules: Vec<tandem_vrrp::linux::rule::RuleSpec>,
    /// Which routes are tracked (put back when deleted while master): not `no_track`, and
    /// with a `dev` (keepalived tracks no route without one).
    pub route_track: Vec<bool>,
    /// Which rules are tracked (not `no_track`).
    pub rule_track: Vec<bool>,
    /// `v3_checksum_as_v2`.
    pub checksum_as_v2: bool,
    /// `auth_type AH`: the key (the `auth_pass` cut or padded to 8 bytes); adverts go out
    /// and come in inside IPsec AH (protocol 51).
    pub ah_key: Option<tandem_vrrp::wire::ah::Key>,
    /// Tracked scripts (instance's and its group's).
    pub scripts: Vec<Tracked>,
    /// Tracked interfaces: the instance's own interface and VIP devices (weight 0) plus
    /// `track_interface` entries.
    pub interfaces: Vec<Tracked>,
    /// Tracked files (instance's and its group's), with their paths.
    pub files: Vec<(Tracked, std::path::PathBuf)>,
    /// Tracked processes (instance's and its group's), with what they match.
    pub processes: Vec<(Tracked, super::process_tracker::Spec)>,
    /// `garp_extra_if all`: its rounds cover every other interface, not only VMACs.
    pub garp_extra_all: bool,
    /// Accept mode (RFC 5798 6.1): without it, packets to and from the VIPs are dropped
    /// while master (and not the address owner).
    pub accept: bool,
    /// Notify scripts.
    pub notify: conf::Notify,
    /// `notify_master_rx_lower_pri`.
    pub notify_rx_lower: Option<String>,
    /// Mail its transitions (`smtp_alert`, resolved with keepalived's precedence).
    pub smtp_alert: bool,
    /// `use_vmac`: the macvlan interface the instance's addresses live on.
    pub vmac: Option<Vmac>,
}

/// keepalived's `use_vmac` of one instance, resolved against this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vmac {
    /// The interface to make.
    pub spec: VmacSpec,
    /// `vmac_xmit_base` (or unicast, which keepalived sends from the base interface
    /// always): adverts go and come on the base interface; the addresses stay on the VMAC.
    pub xmit_base: bool,
    /// Its index: 0 until it exists (it is made when the unit starts).
    pub ifindex: u32,
}

impl Member {
    /// The interface (name, index) the member's adverts go out of and come in on: its
    /// VMAC's, unless it sends from the base interface.
    pub fn advert_interface(&self) -> (&str, u32) {
        match &self.vmac {
            Some(v) if !v.xmit_base => (v.spec.name.as_str(), v.ifindex),
            _ => (self.ifname.as_str(), self.ifindex),
        }
    }
}

/// A sync group (or a lone instance) ready to run.
#[derive(Debug, Clone)]
pub struct Unit {
    /// The group's name (the instance's for a lone instance).
    pub name: String,
    /// True for a configured vrrp_sync_group.
    pub is_group: bool,
    /// Members, in configuration order.
    pub members: Vec<Member>,
    /// The group's notify scripts.
    pub notify: conf::Notify,
    /// Mail the group's transitions (`smtp_alert`, resolved with keepalived's precedence).
    pub smtp_alert: bool,
}

/// Why a unit cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// The configuration asks for something tandem cannot run: refused at start and at
    /// reload.
    Invalid(String),
    /// This host lacks something the unit needs now (an interface, an address to send
    /// from): the unit waits in FAULT until it appears, as keepalived does.
    Missing(String),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Invalid(e) | BuildError::Missing(e) => f.write_str(e),
        }
    }
}

/// A unit as the configuration names it, before it is resolved against this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The group's name (the instance's for a lone instance).
    pub name: String,
    /// True for a configured vrrp_sync_group.
    pub is_group: bool,
    /// Its instances' names, in configuration order.
    pub instances: Vec<String>,
}

/// The units a configuration asks for: every sync group, then every instance in none.
pub fn plans(c: &conf::Config) -> Result<Vec<Plan>, String> {
    let mut grouped = std::collections::HashSet::new();
    let mut plans = Vec::new();
    for g in &c.vrrp_sync_groups {
        for name in &g.group {
            if !c.vrrp_instances.iter().any(|v| v.name == *name) {
                return Err(format!("vrrp_sync_group {}: no vrrp_instance {name}", g.name));
            }
            grouped.insert(name.as_str());
        }
        plans.push(Plan { name: g.name.clone(), is_group: true, instances: g.group.clone() });
    }
    for inst in c.vrrp_instances.iter().filter(|v| !grouped.contains(v.name.as_str())) {
        plans.push(Plan { name: inst.name.clone(), is_group: false, instances: vec![inst.name.clone()] });
    }
    Ok(plans)
}

/// Resolves a planned unit against this host.
pub fn resolve(c: &conf::Config, plan: &Plan, addrs: &Addresses, startup_delay: Duration) -> Result<Unit, BuildError> {
    let group = if plan.is_group { c.vrrp_sync_groups.iter().find(|g| g.name == plan.name) } else { None };
    // Sized up front: pushed into an empty vector, the first member reserved room for four
    // (Vec's least capacity), and a unit of one instance, the common case, paid ~2.4 KiB for
    // three it never had.
    let mut members = Vec::with_capacity(plan.instances.len());
    let mut missing = Vec::new();
    for name in &plan.instances {
        let Some(inst) = c.vrrp_instances.iter().find(|v| v.name == *name) else {
            return Err(BuildError::Invalid(format!("{}: no vrrp_instance {name}", plan.name)));
        };
        match member(c, inst, addrs, startup_delay) {
            Ok(mut m) => {
                if let Some(g) = group {
                    m.scripts.extend(tracked_scripts(c, &g.track_script));
                    m.interfaces.extend(tracked_interfaces(&g.track_interface));
                    m.files.extend(tracked_files(c, &g.track_file));
                    m.processes.extend(tracked_processes(c, &g.track_process));
                    // keepalived ignores the weights of what a sync group's members track
                    // unless the group sets sync_group_tracking_weight: a failure then puts
                    // the member, and with it the group, in FAULT (keepalived vrrp_sync.c).
                    if !g.sync_group_tracking_weight {
                        let files = m.files.iter_mut().map(|(t, _)| t);
                        let processes = m.processes.iter_mut().map(|(t, _)| t);
                        for t in m.scripts.iter_mut().chain(m.interfaces.iter_mut()).chain(files).chain(processes) {
                            t.weight = 0;
                        }
                    }
                }
                members.push(m);
            }
            Err(BuildError::Missing(e)) => missing.push(e),
            Err(e) => return Err(e),
        }
    }
    if !missing.is_empty() {
        return Err(BuildError::Missing(missing.join("; ")));
    }
    Ok(Unit {
        name: plan.name.clone(),
        is_group: plan.is_group,
        members,
        notify: group.map(|g| g.notify.clone()).unwrap_or_default(),
        smtp_alert: group.is_some_and(|g| super::email::vrrp_alert(g.smtp_alert, &c.global_defs)),
    })
}

/// A unit of the configuration and what resolving it against this host gave: the unit, or
/// what the host lacks.
pub type Resolved = (Plan, Result<Unit, BuildError>);

/// Every unit of `c`, resolved against this host once: the unit, or what the host lacks
/// (the unit then waits in FAULT). An error for what tandem refuses.
pub fn validate(c: &conf::Config, addrs: &Addresses, startup_delay: Duration) -> Result<Vec<Resolved>, String> {
    let mut out = Vec::new();
    for p in plans(c)? {
        match resolve(c, &p, addrs, startup_delay) {
            Err(BuildError::Invalid(e)) => return Err(e),
            unit => out.push((p, unit)),
        }
    }
    Ok(out)
}

/// The interfaces a unit's instances name (their own, their addresses' devices): what a
/// unit waiting in FAULT watches for.
pub fn interfaces_named(c: &conf::Config, plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for inst in c.vrrp_instances.iter().filter(|v| plan.instances.contains(&v.name)) {
        let own = own_interface(c, inst);
        for a in inst.virtual_ipaddress.iter().chain(&inst.virtual_ipaddress_excluded) {
            let dev = a.dev.clone().unwrap_or_else(|| own.clone());
            if !out.contains(&dev) {
                out.push(dev);
            }
        }
        if !out.contains(&own) {
            out.insert(0, own);
        }
    }
    out
}

/// The interface an instance's adverts use: its own, else `default_interface`, else eth0.
pub fn own_interface(c: &conf::Config, v: &conf::VrrpInstance) -> String {
    v.interface.clone().or_else(|| c.global_defs.default_interface.clone()).unwrap_or_else(|| "eth0".to_string())
}

/// True when `b` is the same virtual routers as `a` on the same sockets, so that `b`'s
/// settings can be applied to `a`'s running instances without a restart.
pub fn same_routers(a: &Unit, b: &Unit) -> bool {
    a.is_group == b.is_group
        && a.members.len() == b.members.len()
        && a.members.iter().zip(&b.members).all(|(x, y)| {
            x.settings.name == y.settings.name
                && x.settings.vrid == y.settings.vrid
                && x.settings.version == y.settings.version
                && x.settings.primary_address == y.settings.primary_address
                && x.ifname == y.ifname
                && x.ifindex == y.ifindex
                && x.v6 == y.v6
                && x.group == y.group
                && x.source == y.source
                && x.unicast_ttl == y.unicast_ttl
                && x.vmac == y.vmac
                && x.ah_key.is_some() == y.ah_key.is_some()
        })
}

fn tracked_scripts(c: &conf::Config, refs: &[conf::TrackRef]) -> Vec<Tracked> {
    refs.iter()
        .map(|t| {
            let script = c.vrrp_scripts.iter().find(|s| s.name == t.name);
            Tracked {
                name: t.name.clone(),
                weight: t.weight.or(script.map(|s| s.weight)).unwrap_or(0),
                reverse: t.reverse || script.is_some_and(|s| s.weight_reverse),
            }
        })
        .collect()
}

/// The track_file blocks `refs` name, with the weight each reference gives (else the
/// block's; keepalived track_file.c, vrrp_alloc_track_file).
fn tracked_files(c: &conf::Config, refs: &[conf::TrackRef]) -> Vec<(Tracked, std::path::PathBuf)> {
    refs.iter()
        .filter_map(|t| {
            let file = c.track_files.iter().find(|f| f.name == t.name)?;
            let tracked = Tracked {
                name: t.name.clone(),
                weight: t.weight.unwrap_or(file.weight),
                reverse: t.reverse || file.weight_reverse,
            };
            Some((tracked, std::path::PathBuf::from(&file.file)))
        })
        .collect()
}

/// The vrrp_track_process blocks `refs` name, with the weight each reference gives (else
/// the block's).
fn tracked_processes(c: &conf::Config, refs: &[conf::TrackRef]) -> Vec<(Tracked, super::process_tracker::Spec)> {
    refs.iter()
        .filter_map(|t| {
            let p = c.vrrp_track_processes.iter().find(|p| p.name == t.name)?;
            let tracked = Tracked {
                name: t.name.clone(),
                weight: t.weight.unwrap_or(p.weight),
                reverse: t.reverse || p.weight_reverse,
            };
            Some((tracked, super::process_tracker::Spec::of(p)))
        })
        .collect()
}

fn tracked_interfaces(refs: &[conf::TrackInterface]) -> Vec<Tracked> {
    refs.iter()
        .map(|t| Tracked { name: t.interface.clone(), weight: t.weight.unwrap_or(0), reverse: t.reverse })
        .collect()
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)
}

/// One instance resolved against this host. What the host lacks is collected and reported
/// as [`BuildError::Missing`] only after every check of the configuration itself has run, so
/// that an invalid instance is refused even while its interface is absent.
fn member(
    c: &conf::Config,
    v: &conf::VrrpInstance,
    addrs: &Addresses,
    startup_delay: Duration,
) -> Result<Member, BuildError> {
    let g = &c.global_defs;
    let ctx = |what: String| format!("vrrp_instance {}: {what}", v.name);
    let invalid = |what: String| BuildError::Invalid(ctx(what));
    let mut missing: Vec<String> = Vec::new();
    let ifname = own_interface(c, v);
    let ifindex = addr::ifindex(&ifname).unwrap_or_else(|_| {
        missing.push(format!("interface {ifname} does not exist"));
        0
    });
    let v6 = v.family() == conf::Family::Inet6;
    let version = if v.effective_version(g) == 3 { Version::V3 } else { Version::V2 };
    let unicast = !v.unicast_peer.is_empty();

    // The address adverts come from: configured, else the interface's first IPv4 address, or
    // its link-local IPv6 address (RFC 5798 5.1.2.1). An interface that just came up may not
    // have its link-local address yet (IPv6 address configuration runs after the link is
    // up): the instance waits in FAULT until it has one.
    let configured = if unicast { v.unicast_src_ip } else { v.mcast_src_ip };
    let wanted =
        |a: &IpAddr| if v6 { matches!(a, IpAddr::V6(x) if x.segments()[0] & 0xffc0 == 0xfe80) } else { a.is_ipv4() };
    let mut primary = configured;
    if primary.is_none() && ifindex != 0 {
        let own = addrs.list(ifindex).map_err(|e| BuildError::Missing(ctx(e.to_string())))?;
        primary = own.iter().map(|(a, _)| *a).find(wanted);
        if primary.is_none() {
            missing.push(format!(
                "{ifname} has no {} address to send adverts from",
                if v6 { "link-local IPv6" } else { "IPv4" }
            ));
        }
    }
    // A stand-in while the interface is missing: the checks below only need the family.
    let primary = primary.unwrap_or(if v6 {
        IpAddr::from(std::net::Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::from(std::net::Ipv4Addr::UNSPECIFIED)
    });

    let vmac = match &v.use_vmac {
        Some(name) if ifindex != 0 => Some(
            vmac_of(c, v, name, (&ifname, ifindex), Some(primary).filter(|a| !a.is_unspecified()), addrs)
                .map_err(invalid)?,
        ),
        _ => None,
    };

    let mut vips = Vec::new();
    for a in v.virtual_ipaddress.iter().chain(&v.virtual_ipaddress_excluded) {
        let dev = a.dev.clone().unwrap_or_else(|| ifname.clone());
        // keepalived puts the instance's addresses of its own family that name no other
        // interface on the VMAC (vrrp.c, vrrp_complete_instance).
        let on_vmac = vmac.as_ref().filter(|_| dev == ifname && a.address.is_ipv6() == v6);
        let (dev, index) = match on_vmac {
            Some(m) => (m.spec.name.clone(), m.ifindex),
            None => match addr::ifindex(&dev) {
                Ok(i) => (dev, i),
                Err(_) => {
                    if dev != ifname {
                        missing.push(format!("interface {dev} (of {}) does not exist", a.address));
                    }
                    (dev, 0)
                }
            },
        };
        let scope = match &a.scope {
            Some(s) => parse_scope(s).ok_or_else(|| invalid(format!("unknown scope {s}")))?,
            None => 0,
        };
        let broadcast = match a.brd {
            Some(IpAddr::V4(b)) => Some(b),
            _ => None,
        };
        vips.push(AddressSpec {
            ifindex: index,
            ifname: dev,
            address: a.address,
            prefix: a.prefix,
            broadcast,
            scope,
            label: a.label.clone(),
        });
    }

    let mut routes = Vec::new();
    for r in &v.virtual_routes {
        match super::routes::route_spec(r) {
            Ok(s) => routes.push(s),
            Err(e) => missing.push(format!("{e} (route {})", r.to)),
        }
    }
    let rules = v.virtual_rules.iter().map(super::routes::rule_spec).collect();

    let advertised: Vec<IpAddr> = v.virtual_ipaddress.iter().map(|a| a.address).collect();
    let mut s = Settings::new(v.name.clone(), v.virtual_router_id, version, primary, advertised);
    s.priority = v.priority;
    s.advert_interval_cs = (v.advert_int * 100.0).round().clamp(1.0, 4095.0 * 100.0) as u16;
    s.preempt = !v.nopreempt;
    s.preempt_delay = v.preempt_delay.map(secs).unwrap_or_default();
    s.initial_state = if v.state == conf::InitialState::Master { InitialState::Master } else { InitialState::Backup };
    s.auth = match (&v.authentication, version) {
        (Some(a), Version::V2) if a.auth_type == conf::AuthType::Pass => {
            Auth::Simple(simple_password(a.auth_pass.as_bytes()))
        }
        // keepalived: "Cannot use AH authentication with IPv6. ignoring" (check warns).
        (Some(_), Version::V2) if !v6 => Auth::Ah,
        _ => Auth::None,
    };
    s.lower_prio_no_advert = v.lower_prio_no_advert.unwrap_or(g.vrrp_lower_prio_no_advert);
    // tandem's default differs from keepalived's here: see GlobalDefs::vrrp_higher_prio_send_advert.
    s.higher_prio_send_advert = v.higher_prio_send_advert.or(g.vrrp_higher_prio_send_advert).unwrap_or(true);
    s.skip_check_adv_addr = v.skip_check_adv_addr.unwrap_or(g.vrrp_skip_check_adv_addr);
    let o = &v.garp;
    s.garp = GarpSettings {
        master_delay: Duration::from_secs(u64::from(o.master_delay.unwrap_or(g.vrrp_garp_master_delay))),
        master_repeat: o.master_repeat.unwrap_or(g.vrrp_garp_master_repeat),
        master_refresh: Some(Duration::from_secs(u64::from(o.master_refresh.unwrap_or(g.vrrp_garp_master_refresh))))
            .filter(|d| !d.is_zero()),
        master_refresh_repeat: o.master_refresh_repeat.unwrap_or(g.vrrp_garp_master_refresh_repeat),
        lower_prio_delay: Duration::from_secs(u64::from(
            o.lower_prio_delay
                .or(g.vrrp_garp_lower_prio_delay)
                .unwrap_or(o.master_delay.unwrap_or(g.vrrp_garp_master_delay)),
        )),
        lower_prio_repeat: o
            .lower_prio_repeat
            .or(g.vrrp_garp_lower_prio_repeat)
            .unwrap_or(o.master_repeat.unwrap_or(g.vrrp_garp_master_repeat)),
        interval: secs(if v6 { g.vrrp_gna_interval } else { g.vrrp_garp_interval }),
        extra_if: o
            .extra_if
            .or(g.vrrp_garp_extra_if)
            .filter(|e| e.interval > 0)
            .map(|e| Duration::from_secs(u64::from(e.interval))),
    };
    s.startup_delay = startup_delay;
    if v.is_strict(g) {
        // keepalived's strict mode resets what RFC 5798 does not allow (vrrp.c,
        // vrrp_complete_instance); `tandem check` warns at each.
        s.initial_state = if v.priority == 255 { InitialState::Master } else { InitialState::Backup };
        s.auth = Auth::None;
        s.preempt_delay = Duration::ZERO;
        s.garp.lower_prio_repeat = 0;
        s.garp.lower_prio_delay = Duration::ZERO;
        s.lower_prio_no_advert = true;
        s.higher_prio_send_advert = false;
    }
    let settings = s.validated().map_err(|e| invalid(e.to_string()))?;
    if !missing.is_empty() {
        return Err(BuildError::Missing(ctx(missing.join("; "))));
    }

    let mut interfaces = Vec::new();
    if !v.dont_track_primary {
        interfaces.push(Tracked { name: ifname.clone(), weight: 0, reverse: false });
    }
    // The VMAC is tracked as the instance's own interface is (keepalived vrrp.c,
    // add_vrrp_to_interface of the VMAC).
    let vmac_name = vmac.as_ref().map(|m| m.spec.name.as_str());
    if let (Some(name), false) = (vmac_name, v.dont_track_primary) {
        interfaces.push(Tracked { name: name.to_string(), weight: 0, reverse: false });
    }
    for (a, spec) in v.virtual_ipaddress.iter().chain(&v.virtual_ipaddress_excluded).zip(&vips) {
        let skip = spec.ifname == ifname || Some(spec.ifname.as_str()) == vmac_name;
        if !a.no_track && !skip && !interfaces.iter().any(|t| t.name == spec.ifname) {
            interfaces.push(Tracked { name: spec.ifname.clone(), weight: 0, reverse: false });
        }
    }
    for dev in super::routes::tracked_devices(&v.virtual_routes, &v.virtual_rules) {
        if dev != ifname && !interfaces.iter().any(|t| t.name == dev) {
            interfaces.push(Tracked { name: dev, weight: 0, reverse: false });
        }
    }
    interfaces.extend(tracked_interfaces(&v.track_interface));

    let group =
        (!unicast).then_some(v.mcast_dst_ip.unwrap_or(if v6 { g.vrrp_mcast_group6 } else { g.vrrp_mcast_group4 }));
    let source = configured.or(if v6 { None } else { Some(primary) });
    let ah_key = match (&settings.auth, &v.authentication) {
        (Auth::Ah, Some(a)) if !v6 => Some(tandem_vrrp::wire::ah::key(a.auth_pass.as_bytes())),
        _ => None,
    };
    Ok(Member {
        settings,
        ifname,
        ifindex,
        v6,
        group,
        peers: v.unicast_peer.iter().map(|p| p.address).collect(),
        peer_ttls: v
            .unicast_peer
            .iter()
            .map(|p| (p.address, p.min_ttl.unwrap_or(0), p.max_ttl.unwrap_or(u8::MAX)))
            .collect(),
        unicast_ttl: if unicast { v.unicast_ttl } else { None },
        source,
        vips,
        routes,
        rules,
        route_track: v.virtual_routes.iter().map(|r| !r.no_track && r.dev.is_some()).collect(),
        rule_track: v.virtual_rules.iter().map(|r| !r.no_track).collect(),
        checksum_as_v2: v.v3_checksum_as_v2 || g.v3_checksum_as_v2,
        ah_key,
        scripts: tracked_scripts(c, &v.track_script),
        interfaces,
        files: tracked_files(c, &v.track_file),
        processes: tracked_processes(c, &v.track_process),
        accept: v.accept_mode(g),
        garp_extra_all: v.garp.extra_if.or(g.vrrp_garp_extra_if).is_some_and(|e| e.all),
        notify: v.notify.clone(),
        notify_rx_lower: v.notify_master_rx_lower_pri.clone(),
        smtp_alert: super::email::vrrp_alert(v.smtp_alert, g),
        vmac,
    })
}

/// The VMAC interface names of the instances of `c` that ask for one, in configuration
/// order: the name given, else keepalived's `vrrp.VRID` (vrrp.c, create_vmac_name: the
/// first of vrrp.VRID, then for IPv6 vrrp6.VRID, then vrrp1.VRID, vrrp2.VRID... that no other
/// instance names and that `taken` does not hold).
fn vmac_names(c: &conf::Config, taken: impl Fn(&str, &conf::VrrpInstance) -> bool) -> Vec<(String, String)> {
    let explicit: Vec<&str> =
        c.vrrp_instances.iter().filter_map(|v| v.use_vmac.as_deref()).filter(|n| !n.is_empty()).collect();
    let mut out: Vec<(String, String)> = Vec::new();
    for v in &c.vrrp_instances {
        let Some(name) = &v.use_vmac else { continue };
        if !name.is_empty() {
            out.push((v.name.clone(), name.clone()));
            continue;
        }
        let v6 = v.family() == conf::Family::Inet6;
        let vrid = v.virtual_router_id;
        let mut n: u32 = 0;
        let chosen = loop {
            let candidate = if n == 0 { format!("vrrp.{vrid}") } else { format!("vrrp{n}.{vrid}") };
            let used = explicit.contains(&candidate.as_str()) || out.iter().any(|(_, o)| *o == candidate);
            if !used && !taken(&candidate, v) {
                break candidate;
            }
            // IPv6 tries vrrp6 second (keepalived).
            n = match (v6, n) {
                (true, 0) => 6,
                (true, 6) => 1,
                (true, 5) => 7,
                (_, n) if n > 1000 => break candidate,
                (_, n) => n + 1,
            };
        };
        out.push((v.name.clone(), chosen));
    }
    out
}

/// Resolves `use_vmac` (`name`: the one given, or empty) of instance `v`, whose interface is
/// `base`, against this host: the name, the virtual MAC, and whether the interface exists
/// already (a previous run's, to be used again).
fn vmac_of(
    c: &conf::Config,
    v: &conf::VrrpInstance,
    name: &str,
    (base_name, base): (&str, u32),
    primary: Option<IpAddr>,
    addrs: &Addresses,
) -> Result<Vmac, String> {
    let v6 = v.family() == conf::Family::Inet6;
    let mac = vmac::virtual_mac(v.virtual_router_id, v6);
    if !name.is_empty() {
        if let Some(why) = vmac::invalid_name(name) {
            return Err(format!("use_vmac {name}: {why}"));
        }
    }
    // A name is taken by an interface of this host that is not this instance's VMAC (a
    // macvlan with its MAC on its interface), when the name was not given.
    let link = |n: &str| addrs.link(n).ok().flatten();
    let ours = |l: &vmac::LinkInfo| l.is_macvlan() && l.link == Some(base) && l.mac == Some(mac);
    let names = vmac_names(c, |n, inst| inst.name == v.name && link(n).is_some_and(|l| !ours(&l)));
    let chosen = names.into_iter().find(|(i, _)| *i == v.name).map(|(_, n)| n).unwrap_or_default();
    let existing = link(&chosen);
    if let Some(l) = existing.as_ref().filter(|l| !l.is_macvlan()) {
        let kind = l.kind.as_deref().unwrap_or("physical");
        return Err(format!(
            "use_vmac {chosen}: interface {chosen} exists and is not a macvlan (it is a {kind} interface)"
        ));
    }
    let unicast = !v.unicast_peer.is_empty();
    // keepalived sends unicast adverts from the base interface whatever the file says
    // (vrrp_parser.c, vrrp_end_handler).
    let xmit_base = v.vmac_xmit_base || unicast;
    // IPv6 stays on for IPv6 instances, and for IPv4 ones with IPv6 addresses to float
    // (keepalived: VRRP_FLAG_EVIP_OTHER_FAMILY).
    let other_family = v.virtual_ipaddress_excluded.iter().any(|a| a.address.is_ipv6() != v6);
    let link_local = match (v6, xmit_base, primary) {
        (true, false, Some(IpAddr::V6(a))) => Some(a),
        (true, false, _) => link(base_name).and_then(|l| l.mac).map(vmac::link_local_of),
        _ => None,
    };
    Ok(Vmac {
        spec: VmacSpec {
            name: chosen,
            base,
            base_name: base_name.to_string(),
            mac,
            v6,
            ipv6: v6 || other_family,
            link_local,
        },
        xmit_base,
        ifindex: existing.map_or(0, |l| l.ifindex),
    })
}
