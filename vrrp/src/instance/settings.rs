//! The settings of one VRRP instance: the crate's own type, which the daemon fills from
//! tandem-conf's model.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::advert::{Auth, Version};

/// The role an instance asks for at start-up (keepalived's `state MASTER|BACKUP`).
///
/// RFC 5798 section 6.4.1 only knows "priority 255 -> master, otherwise backup". keepalived
/// treats `state MASTER` below priority 255 as a hint: the instance starts as backup but waits
/// only one advert interval plus the minimum skew (`MAI + MAI/256`) instead of the whole
/// `Master_Down_Interval` before claiming mastership (keepalived/vrrp/vrrp_scheduler.c,
/// `vrrp_init_state`). tandem does the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InitialState {
    /// Start as backup with the full master-down timer (the default).
    #[default]
    Backup,
    /// Start as backup with a master-down timer of one interval plus the minimum skew.
    Master,
}

/// The gratuitous ARP / unsolicited neighbour advertisement schedule of one instance.
///
/// RFC 5798 section 6.4.1 asks a new master to "broadcast a gratuitous ARP request" (IPv4) or
/// send "an unsolicited ND Neighbor Advertisement" (IPv6) for each address; the repetition is
/// keepalived's (keepalived/vrrp/vrrp.c, `vrrp_state_become_master` and `vrrp_state_master_rx`;
/// defaults in keepalived/include/vrrp.h and keepalived/vrrp/vrrp.c).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GarpSettings {
    /// `garp_master_delay`: time after becoming master before the second burst (5 s;
    /// zero disables the second burst).
    pub master_delay: Duration,
    /// `garp_master_repeat`: GARPs per address in each burst when becoming master (5).
    pub master_repeat: u32,
    /// `garp_master_refresh`: interval of the refresh bursts while master (off by default).
    /// The first refresh comes `master_delay + refresh` after becoming master.
    pub master_refresh: Option<Duration>,
    /// `garp_master_refresh_repeat`: GARPs per address in each refresh burst (1).
    pub master_refresh_repeat: u32,
    /// `garp_lower_prio_delay`: time after a lower-priority advert before the second burst
    /// (keepalived's default: the master delay).
    pub lower_prio_delay: Duration,
    /// `garp_lower_prio_repeat`: GARPs per address in each burst sent after a lower-priority
    /// advert reached the master (keepalived's default: the master repeat; 0 = none).
    pub lower_prio_repeat: u32,
    /// `vrrp_garp_interval`: pause between the GARPs of one burst (0 = back to back).
    pub interval: Duration,
    /// `garp_extra_if N`: while master, every N, one GARP / NA on each interface of the
    /// instance's addresses other than its own (keepalived vrrp.c, vrrp_send_vmac_update);
    /// None: off. Sent with the first advert after N has passed, as keepalived does.
    pub extra_if: Option<Duration>,
}

impl Default for GarpSettings {
    fn default() -> Self {
        Self {
            master_delay: Duration::from_secs(5),
            master_repeat: 5,
            master_refresh: None,
            master_refresh_repeat: 1,
            lower_prio_delay: Duration::from_secs(5),
            lower_prio_repeat: 5,
            interval: Duration::ZERO,
            extra_if: None,
        }
    }
}

/// The settings of one VRRP instance.
///
/// Build with [`Settings::new`] (keepalived's defaults) and adjust the public fields;
/// [`Instance::new`](super::Instance::new) validates them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Instance name, used in reasons and logs.
    pub name: String,
    /// Virtual router id, 1-255 (RFC 5798 section 5.2.3).
    pub vrid: u8,
    /// Protocol version: v2 (RFC 3768) or v3 (RFC 5798).
    pub version: Version,
    /// Base priority, 1-255; 255 means "address owner" (RFC 5798 section 5.2.4).
    pub priority: u8,
    /// Advertisement interval in centiseconds (RFC 5798 section 5.2.7; default 100). VRRPv2
    /// carries whole seconds, so it must be a multiple of 100 there (RFC 3768 section 5.3.7).
    pub advert_interval_cs: u16,
    /// Preempt mode (RFC 5798 section 6.1, `Preempt_Mode`); `false` is keepalived's
    /// `nopreempt`. Always on for an address owner (keepalived/vrrp/vrrp.c resets it).
    pub preempt: bool,
    /// keepalived's `preempt_delay`: after seeing a lower-priority master, a backup keeps
    /// accepting its adverts for this long before it preempts it (zero = off). Not in the RFCs.
    pub preempt_delay: Duration,
    /// `state MASTER|BACKUP`: see [`InitialState`].
    pub initial_state: InitialState,
    /// The router's own primary address on the interface: the advert source and the
    /// tie-breaker between equal priorities (RFC 5798 section 6.4.3).
    pub primary_address: IpAddr,
    /// The virtual addresses carried in adverts, added when master and announced by GARPs.
    pub addresses: Vec<IpAddr>,
    /// VRRPv2 authentication put in our adverts ([`Auth::None`] for v3). Received adverts
    /// are checked by the caller.
    pub auth: Auth,
    /// keepalived's `lower_prio_no_advert`: a master that receives a lower-priority advert
    /// does not answer with an advert of its own.
    pub lower_prio_no_advert: bool,
    /// keepalived's `higher_prio_send_advert`: a master that receives a higher-priority
    /// advert sends one more advert of its own before becoming backup.
    pub higher_prio_send_advert: bool,
    /// keepalived's `skip_check_adv_addr`: a backup does not check the address list of
    /// adverts from the master it already follows (every other advert whose list is not
    /// ours is dropped).
    pub skip_check_adv_addr: bool,
    /// The GARP / unsolicited NA schedule.
    pub garp: GarpSettings,
    /// keepalived's `vrrp_startup_delay`: [`Instance::start`](super::Instance::start) defers
    /// everything (adverts received meanwhile are dropped) for this long.
    pub startup_delay: Duration,
}

impl Settings {
    /// Settings with keepalived's defaults (priority 100, interval 1 s, preemption on, no
    /// delays, default GARP schedule) for the given name, vrid, version, own address and
    /// virtual addresses.
    pub fn new(
        name: impl Into<String>,
        vrid: u8,
        version: Version,
        primary_address: IpAddr,
        addresses: Vec<IpAddr>,
    ) -> Self {
        Self {
            name: name.into(),
            vrid,
            version,
            priority: 100,
            advert_interval_cs: 100,
            preempt: true,
            preempt_delay: Duration::ZERO,
            initial_state: InitialState::Backup,
            primary_address,
            addresses,
            auth: Auth::None,
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            skip_check_adv_addr: false,
            garp: GarpSettings::default(),
            startup_delay: Duration::ZERO,
        }
    }

    /// Checks the settings and resolves the combinations keepalived also resolves
    /// (keepalived/vrrp/vrrp.c, `vrrp_complete_instance`): an address owner or an instance
    /// with `state MASTER` always preempts and has no preempt delay; `nopreempt` drops
    /// `preempt_delay`.
    pub fn validated(mut self) -> Result<Self, SettingsError> {
        if self.vrid == 0 {
            return Err(SettingsError::Vrid);
        }
        if self.priority == 0 {
            return Err(SettingsError::Priority);
        }
        match self.version {
            Version::V2 => {
                if self.advert_interval_cs == 0
                    || self.advert_interval_cs % 100 != 0
                    || self.advert_interval_cs > 255 * 100
                {
                    return Err(SettingsError::Interval(self.advert_interval_cs));
                }
                if !self.primary_address.is_ipv4() {
                    return Err(SettingsError::V2NeedsIpv4);
                }
                if matches!(self.auth, Auth::Ah) && self.initial_state == InitialState::Master && self.priority != 255 {
                    // keepalived (vrrp_complete_instance): "Initial state master is incompatible
                    // with AH authentication - clearing": it must hear the master's sequence
                    // number before it takes over.
                    self.initial_state = InitialState::Backup;
                }
            }
            Version::V3 => {
                if self.advert_interval_cs == 0 || self.advert_interval_cs > 4095 {
                    return Err(SettingsError::Interval(self.advert_interval_cs));
                }
                if self.auth != Auth::None {
                    return Err(SettingsError::V3Auth);
                }
            }
        }
        if let Some(bad) = self.addresses.iter().find(|a| a.is_ipv4() != self.primary_address.is_ipv4()) {
            return Err(SettingsError::MixedFamilies(*bad));
        }
        if self.addresses.len() > 255 {
            return Err(SettingsError::TooManyAddresses(self.addresses.len()));
        }
        if self.garp.master_refresh == Some(Duration::ZERO) {
            self.garp.master_refresh = None;
        }
        if self.priority == 255 || self.initial_state == InitialState::Master {
            self.preempt = true;
            self.preempt_delay = Duration::ZERO;
        }
        if !self.preempt {
            self.preempt_delay = Duration::ZERO;
        }
        Ok(self)
    }
}

/// Settings that [`Settings::validated`] refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsError {
    /// The vrid is 0 (RFC 5798 section 5.2.3: 1-255).
    Vrid,
    /// The priority is 0, which only a stopping router sends (RFC 5798 section 5.2.4).
    Priority,
    /// The interval is out of range: v3 1-4095 centiseconds (RFC 5798 section 5.2.7), v2
    /// whole seconds 1-255 (RFC 3768 section 5.3.7).
    Interval(u16),
    /// VRRPv2 is IPv4 only (RFC 3768 section 1).
    V2NeedsIpv4,
    /// VRRPv3 has no authentication (RFC 5798 section 9).
    V3Auth,
    /// A virtual address is not of the primary address's family.
    MixedFamilies(IpAddr),
    /// More addresses than the 8-bit count field carries.
    TooManyAddresses(usize),
    /// A reconfiguration changes the vrid, version or primary address: another virtual
    /// router, not new settings for this one.
    Identity,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Vrid => f.write_str("virtual router id must be 1-255"),
            Self::Priority => f.write_str("priority must be 1-255"),
            Self::Interval(cs) => {
                write!(f, "advert interval {cs} cs is out of range (v3: 1-4095 cs; v2: 1-255 whole seconds)")
            }
            Self::V2NeedsIpv4 => f.write_str("VRRPv2 supports IPv4 only"),
            Self::V3Auth => f.write_str("VRRPv3 has no authentication"),
            Self::Identity => {
                f.write_str("the vrid, version or primary address changed: this is another virtual router")
            }
            Self::MixedFamilies(a) => {
                write!(f, "virtual address {a} is not of the primary address's family")
            }
            Self::TooManyAddresses(n) => write!(f, "{n} virtual addresses; at most 255 fit"),
        }
    }
}

impl std::error::Error for SettingsError {}
