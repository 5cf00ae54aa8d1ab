//! The state machine of one VRRP instance (RFC 5798 section 6.4, RFC 3768 section 6.4), with
//! keepalived's behaviour where it differs.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::garp::GarpSchedule;
use super::settings::{InitialState, Settings, SettingsError};
use super::timers;
use crate::advert::{Advert, Auth, Version};

/// The state of an instance (RFC 5798 section 6.4 plus keepalived's fault and stop).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Created, not started yet, or waiting out the startup delay (RFC 5798 section 6.4.1).
    Init,
    /// Monitoring the master (RFC 5798 section 6.4.2).
    Backup,
    /// Forwarding for the virtual addresses (RFC 5798 section 6.4.3).
    Master,
    /// keepalived's FAULT: a tracked interface or script failed; no adverts are sent or
    /// listened to, and the addresses are not held.
    Fault,
    /// Stopped by [`Instance::stop`]; no further input is processed.
    Stopped,
}

impl State {
    /// keepalived's name of the state (INIT, BACKUP, MASTER, FAULT, STOP).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Init => "INIT",
            Self::Backup => "BACKUP",
            Self::Master => "MASTER",
            Self::Fault => "FAULT",
            Self::Stopped => "STOP",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a state changed, carried by [`Action::StateChanged`]; its `Display` is the human text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// `start`: a non-owner enters backup (RFC 5798 section 6.4.1).
    Startup,
    /// `start` (or leaving fault) with priority 255: the address owner becomes master at once
    /// (RFC 5798 section 6.4.1).
    AddressOwner,
    /// The master-down timer expired (RFC 5798 section 6.4.2); `last_master` is the source of
    /// the last accepted advert, if any.
    MasterDown {
        /// The master we last heard from.
        last_master: Option<IpAddr>,
    },
    /// The master-down timer, shortened to `Skew_Time` by a priority-0 advert, expired
    /// (RFC 5798 section 6.4.2).
    MasterStopped {
        /// Who sent priority 0.
        from: IpAddr,
    },
    /// The master-down timer expired while a lower-priority master's adverts were being
    /// ignored (preemption, RFC 5798 section 6.4.2).
    Preempt {
        /// The preempted master's priority.
        priority: u8,
        /// The preempted master.
        from: IpAddr,
    },
    /// A master received a higher-priority advert (RFC 5798 section 6.4.3).
    HigherPriority {
        /// The sender's priority.
        priority: u8,
        /// The sender.
        from: IpAddr,
    },
    /// A master received an equal-priority advert from a greater primary address
    /// (RFC 5798 section 6.4.3).
    EqualPriorityHigherAddress {
        /// The (shared) priority.
        priority: u8,
        /// The sender.
        from: IpAddr,
    },
    /// [`Instance::set_fault`] reported a fault (link down, weight-0 script failed).
    FaultRaised,
    /// The fault cleared.
    FaultCleared,
    /// [`Instance::stop`].
    Stopping,
    /// [`Instance::hand_over`]: the master gave way on purpose (a failover drill).
    HandedOver,
    /// A [`SyncGroup`](super::SyncGroup) moved this member to follow another one.
    SyncGroup {
        /// The group's name.
        group: String,
        /// The member that moved first.
        member: String,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Startup => f.write_str("started"),
            Self::AddressOwner => f.write_str("address owner (priority 255)"),
            Self::MasterDown { last_master: None } => f.write_str("master down timer expired"),
            Self::MasterDown { last_master: Some(m) } => write!(f, "master down timer expired (last master {m})"),
            Self::MasterStopped { from } => {
                write!(f, "master down timer expired after priority 0 from {from}")
            }
            Self::Preempt { priority, from } => {
                write!(f, "preempted lower priority {priority} master {from}")
            }
            Self::HigherPriority { priority, from } => {
                write!(f, "higher priority {priority} from {from}")
            }
            Self::EqualPriorityHigherAddress { priority, from } => {
                write!(f, "equal priority {priority} from higher address {from}")
            }
            Self::FaultRaised => f.write_str("fault: tracked interface or script down"),
            Self::FaultCleared => f.write_str("fault cleared"),
            Self::Stopping => f.write_str("stopping"),
            Self::HandedOver => f.write_str("handed over (failover drill)"),
            Self::SyncGroup { group, member } => {
                write!(f, "sync group {group} follows member {member}")
            }
        }
    }
}

/// Something the caller must do, drained with [`Instance::poll_action`], in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this advert (to the multicast group or the unicast peers) from the primary
    /// address. Priority 0 means "stopping" (RFC 5798 section 6.4.3, `Shutdown` event).
    SendAdvert(Advert),
    /// Add these virtual addresses to the interface.
    AddAddresses(Vec<IpAddr>),
    /// Remove these virtual addresses from the interface.
    RemoveAddresses(Vec<IpAddr>),
    /// Announce the addresses: for each address, `repeat` gratuitous ARPs (IPv4) or
    /// unsolicited neighbour advertisements (IPv6), back to back. One action is one burst; when
    /// [`GarpSettings::interval`](super::GarpSettings::interval) is non-zero the instance paces
    /// the burst itself and emits one action with `repeat` 1 per interval.
    SendGarp {
        /// The addresses to announce.
        addresses: Vec<IpAddr>,
        /// How many messages per address.
        repeat: u32,
    },
    /// `garp_extra_if`: one gratuitous ARP / NA on each interface of the instance's
    /// addresses other than the one its adverts use (the I/O side knows which).
    SendExtraGarp,
    /// As master, an advert from a router of lower priority (a backup that became master
    /// while it could not hear this one): keepalived's `notify_master_rx_lower_pri` event
    /// (keepalived/vrrp/vrrp.c, vrrp_state_master_rx).
    LowerPriorityAdvert {
        /// Who sent it.
        from: IpAddr,
        /// Its priority.
        priority: u8,
    },
    /// The state changed; the daemon runs notify scripts and updates metrics.
    StateChanged {
        /// Previous state.
        from: State,
        /// New state.
        to: State,
        /// Why.
        reason: Reason,
    },
}

/// Plain counters for metrics (compare keepalived's `vrrp_stats`, keepalived/include/vrrp.h).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Adverts handed to [`Instance::handle_advert`].
    pub adverts_received: u64,
    /// Adverts queued for sending (priority 0 included).
    pub adverts_sent: u64,
    /// Priority-0 adverts received.
    pub priority_zero_received: u64,
    /// Priority-0 adverts sent.
    pub priority_zero_sent: u64,
    /// Dropped: another virtual router id.
    pub dropped_wrong_vrid: u64,
    /// Dropped: another protocol version.
    pub dropped_wrong_version: u64,
    /// Dropped: the source is not of our address family.
    pub dropped_wrong_family: u64,
    /// Dropped: VRRPv2 advert interval differs from ours (RFC 3768 section 7.1).
    pub dropped_interval_mismatch: u64,
    /// Dropped: VRRPv3 advert with interval 0.
    pub dropped_invalid_interval: u64,
    /// Dropped: received while in init, fault or stopped.
    pub dropped_not_listening: u64,
    /// VRRPv3 adverts whose interval differs from ours (accepted; RFC 5798 section 7.1 says
    /// "MAY" log).
    pub interval_mismatch: u64,
    /// Times a VRRPv3 backup adopted the master's interval (RFC 5798 section 6.4.2).
    pub interval_adopted: u64,
    /// Adverts whose address list differs from ours (accepted, as keepalived does).
    pub address_list_mismatch: u64,
    /// Lower-priority adverts a preempting backup ignored.
    pub lower_priority_ignored: u64,
    /// Lower-priority adverts received as master.
    pub lower_priority_received: u64,
    /// Equal-priority adverts from our own primary address received as master.
    pub own_address_received: u64,
    /// Transitions to master.
    pub became_master: u64,
    /// Transitions out of master.
    pub released_master: u64,
    /// `SendGarp` actions emitted.
    pub garp_actions: u64,
}

/// One VRRP instance, sans I/O: fed with `start`, `handle_*`, `set_*` and `stop`, drained with
/// [`poll_action`](Self::poll_action) and [`poll_timeout`](Self::poll_timeout).
///
/// It reads no clock: every input carries `now`, and the caller calls
/// [`handle_timeout`](Self::handle_timeout) once `now` reaches the deadline from
/// `poll_timeout`.
#[derive(Debug, Clone)]
pub struct Instance {
    settings: Settings,
    state: State,
    effective_priority: u8,
    adjustment: i32,
    own_fault: bool,
    group_fault: bool,
    started: bool,
    start_at: Option<Instant>,
    master_adver_int_cs: u16,
    master_down_at: Option<Instant>,
    advert_at: Option<Instant>,
    preempt_time: Option<Instant>,
    garp: GarpSchedule,
    master: Option<(IpAddr, u8)>,
    next_master_reason: Reason,
    actions: VecDeque<Action>,
    counters: Counters,
    gated: bool,
    want_master: bool,
    pending_master_reason: Option<Reason>,
    transitions: Vec<(State, State)>,
    lower_prio_seen: bool,
    preempt_hold: bool,
}

impl Instance {
    /// A new instance in [`State::Init`]; nothing happens before [`start`](Self::start).
    pub fn new(settings: Settings) -> Result<Self, SettingsError> {
        let settings = settings.validated()?;
        Ok(Self {
            effective_priority: settings.priority,
            master_adver_int_cs: settings.advert_interval_cs,
            settings,
            state: State::Init,
            adjustment: 0,
            own_fault: false,
            group_fault: false,
            started: false,
            start_at: None,
            master_down_at: None,
            advert_at: None,
            preempt_time: None,
            garp: GarpSchedule::default(),
            master: None,
            next_master_reason: Reason::MasterDown { last_master: None },
            actions: VecDeque::new(),
            counters: Counters::default(),
            gated: false,
            want_master: false,
            pending_master_reason: None,
            transitions: Vec::new(),
            lower_prio_seen: false,
            preempt_hold: false,
        })
    }

    /// Starts the instance (RFC 5798 section 6.4.1, `Startup` event).
    ///
    /// Priority 255 becomes master at once (advert, addresses, GARPs); any other priority
    /// enters backup with `Master_Down_Timer = 3 * MAI + Skew_Time`, or `MAI + MAI/256` with
    /// [`InitialState::Master`] (keepalived/vrrp/vrrp_scheduler.c, `vrrp_init_state`). A
    /// fault reported before start leads to [`State::Fault`] instead. With a startup delay,
    /// all of this happens at `now + startup_delay`. Calling it twice does nothing.
    pub fn start(&mut self, now: Instant) {
        if self.started || self.state != State::Init {
            return;
        }
        self.started = true;
        if self.settings.startup_delay.is_zero() {
            self.do_start(now);
        } else {
            self.start_at = Some(now + self.settings.startup_delay);
        }
    }

    /// Handles a received advert from `src`, already decoded and checked (checksum, TTL,
    /// authentication) by the caller.
    ///
    /// The instance applies the remaining receive checks (RFC 5798 section 7.1, RFC 3768
    /// section 7.1): the vrid and version must match; a VRRPv2 interval mismatch drops the
    /// advert (counted); a VRRPv3 mismatch is only counted, and a backup adopts the master's
    /// interval (RFC 5798 section 6.4.2); an advert whose address list is not ours is dropped
    /// (counted), as in keepalived (keepalived/vrrp/vrrp.c, `vrrp_check_packet`), unless a
    /// backup with `skip_check_adv_addr` hears the master it follows.
    ///
    /// Backup (RFC 5798 section 6.4.2): priority 0 sets the master-down timer to `Skew_Time`;
    /// a priority at least ours, or preemption off, resets it; a lower priority with preemption
    /// on is ignored, so the timer runs out and this router preempts. keepalived's
    /// `preempt_delay` (keepalived/vrrp/vrrp.c, `vrrp_state_backup`): the first lower-priority
    /// advert starts the delay and such adverts are accepted until it has passed.
    ///
    /// Master (RFC 5798 section 6.4.3): priority 0 triggers an advert at once; a higher
    /// priority, or an equal one from a greater primary address, makes this router backup
    /// (addresses removed). keepalived also answers a lower priority (or equal from a smaller
    /// address) with an advert at once unless `lower_prio_no_advert`, and with GARP bursts
    /// (`garp_lower_prio_repeat` now and after `garp_lower_prio_delay`), and sends one more
    /// advert before yielding when `higher_prio_send_advert` (keepalived/vrrp/vrrp.c,
    /// `vrrp_state_master_rx`).
    pub fn handle_advert(&mut self, now: Instant, src: IpAddr, advert: &Advert) {
        self.counters.adverts_received += 1;
        if advert.vrid != self.settings.vrid {
            self.counters.dropped_wrong_vrid += 1;
            return;
        }
        if advert.version != self.settings.version {
            self.counters.dropped_wrong_version += 1;
            return;
        }
        if src.is_ipv4() != self.settings.primary_address.is_ipv4() {
            self.counters.dropped_wrong_family += 1;
            return;
        }
        if !matches!(self.state, State::Backup | State::Master) {
            self.counters.dropped_not_listening += 1;
            return;
        }
        if advert.interval_cs != self.settings.advert_interval_cs {
            match self.settings.version {
                Version::V2 => {
                    self.counters.dropped_interval_mismatch += 1;
                    return;
                }
                Version::V3 if advert.interval_cs == 0 => {
                    self.counters.dropped_invalid_interval += 1;
                    return;
                }
                Version::V3 => self.counters.interval_mismatch += 1,
            }
        }
        // An address list that is not ours: dropped, as keepalived does (vrrp.c,
        // vrrp_check_packet: "received an unexpected ip number count", "ip address associated
        // with VRID not present in MASTER advert") and RFC 3768 section 7.1 asks; with
        // skip_check_adv_addr a backup does not look at the list of the master it follows.
        let following = self.state == State::Backup && self.master.is_some_and(|(m, _)| m == src);
        let skipped = self.settings.skip_check_adv_addr && following;
        if !skipped && !same_set(&advert.addresses, &self.settings.addresses) {
            self.counters.address_list_mismatch += 1;
            return;
        }
        if advert.priority == 0 {
            self.counters.priority_zero_received += 1;
        }
        match self.state {
            State::Backup => self.backup_rx(now, src, advert),
            State::Master => self.master_rx(now, src, advert),
            _ => {}
        }
    }

    /// Handles every timer due at `now`: the startup delay, the master-down timer (backup ->
    /// master, RFC 5798 section 6.4.2), the advert timer (RFC 5798 section 6.4.3) and the GARP
    /// schedule. Calling it early does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Init {
            if let Some(at) = self.start_at {
                if at <= now {
                    self.do_start(now);
                }
            }
        }
        match self.state {
            State::Backup => {
                if let Some(at) = self.master_down_at {
                    if at <= now {
                        self.master_down_at = None;
                        let reason = self.next_master_reason.clone();
                        self.claim_master(now, reason);
                    }
                }
            }
            State::Master => {
                if let Some(at) = self.advert_at {
                    if at <= now {
                        self.send_advert(now, self.effective_priority);
                    }
                }
            }
            _ => {}
        }
        if self.state == State::Master {
            self.fire_garps(now);
        }
    }

    /// Sets the sum of the weights of the failed (negative) or healthy (positive) tracked
    /// scripts and interfaces. The effective priority is `base + delta` clamped to 1..=254,
    /// except that an address owner stays at 255 (keepalived/vrrp/vrrp_track.c,
    /// `vrrp_set_effective_priority`). A backup's running master-down timer moves by the
    /// change in its skew; a master's next advert carries the new priority.
    pub fn set_priority_adjustment(&mut self, _now: Instant, delta: i32) {
        self.adjustment = delta;
        let new = self.adjusted_priority(delta);
        if new == self.effective_priority {
            return;
        }
        let old_down = self.master_down_interval();
        self.effective_priority = new;
        let new_down = self.master_down_interval();
        if self.state == State::Backup {
            if let Some(at) = self.master_down_at {
                self.master_down_at = Some(if new_down >= old_down {
                    at + (new_down - old_down)
                } else {
                    at.checked_sub(old_down - new_down).unwrap_or(at)
                });
            }
        }
    }

    /// Applies new settings to a running instance (a reload), keeping its state: no
    /// transition, no advert, no address change happens here. `settings` must keep the
    /// instance's identity (vrid, version, primary address); a changed identity is a
    /// different virtual router, and the error says so (the caller restarts it instead).
    ///
    /// keepalived's reload keeps an existing instance's state the same way
    /// (keepalived/vrrp/vrrp_data.c and vrrp.c, `clear_diff_vrrp` / `restore_vrrp_state`): a
    /// master whose priority drops keeps advertising, now with the lower priority, and a
    /// preempting backup that now has the higher one ignores those adverts until its
    /// master-down timer runs out (RFC 5798 section 6.4.2), so the mastership moves by the
    /// protocol, as after any priority change. Here a backup's running master-down timer moves
    /// by the change in its interval and skew; a master's next advert comes no later than
    /// one new interval from `now`; the VRRPv3 interval a backup adopted from its master
    /// stays until the master says otherwise.
    pub fn reconfigure(&mut self, now: Instant, settings: Settings) -> Result<(), SettingsError> {
        let settings = settings.validated()?;
        if settings.vrid != self.settings.vrid
            || settings.version != self.settings.version
            || settings.primary_address != self.settings.primary_address
        {
            return Err(SettingsError::Identity);
        }
        let old_down = self.master_down_interval();
        let adopted = self.settings.version == Version::V3
            && self.state == State::Backup
            && self.master_adver_int_cs != self.settings.advert_interval_cs;
        self.settings = settings;
        if !adopted {
            self.master_adver_int_cs = self.settings.advert_interval_cs;
        }
        self.effective_priority = self.adjusted_priority(self.adjustment);
        match self.state {
            State::Backup => {
                let new_down = self.master_down_interval();
                if let Some(at) = self.master_down_at {
                    self.master_down_at = Some(if new_down >= old_down {
                        at + (new_down - old_down)
                    } else {
                        at.checked_sub(old_down - new_down).unwrap_or(at)
                    });
                }
            }
            State::Master => {
                let next = now + timers::centis(self.settings.advert_interval_cs);
                self.advert_at = Some(self.advert_at.map_or(next, |at| at.min(next)));
            }
            _ => {}
        }
        if self.settings.preempt_delay.is_zero() {
            self.preempt_time = None;
        }
        Ok(())
    }

    /// Reports whether a fault holds (link down, a weight-0 tracked script failed).
    ///
    /// Entering fault (keepalived/vrrp/vrrp.c, `vrrp_state_leave_master`): a master sends a
    /// priority-0 advert and removes its addresses. Leaving fault: backup with a fresh
    /// master-down timer and the configured interval (`vrrp_state_leave_fault`); an address
    /// owner waits one interval plus skew before claiming mastership
    /// (keepalived/vrrp/vrrp_scheduler.c, `try_up_instance`).
    pub fn set_fault(&mut self, now: Instant, fault: bool) {
        self.own_fault = fault;
        let reason = if fault { Reason::FaultRaised } else { Reason::FaultCleared };
        self.update_fault(now, reason);
    }

    /// Holds preemption (or lets it go): while held, a backup accepts a lower-priority
    /// master's adverts as with preemption off, so it does not take over from a live master;
    /// a master that dies is still replaced after the master-down interval. Not in the RFCs
    /// or keepalived: tandem holds a director that would preempt until its connection table
    /// has caught up with the master's (warm preemption). Once let go, the next lower-priority
    /// advert is ignored again, and the backup preempts when its master-down timer runs out.
    pub fn hold_preemption(&mut self, hold: bool) {
        self.preempt_hold = hold;
    }

    /// Whether preemption is held ([`hold_preemption`](Self::hold_preemption)).
    pub fn preemption_held(&self) -> bool {
        self.preempt_hold
    }

    /// Hands the mastership over on purpose (a planned failover): a master sends one
    /// priority-0 advert, removes its addresses and becomes backup with preemption held, so
    /// that it does not take the addresses back from the backup that answers the priority 0
    /// (after its `Skew_Time`, RFC 5798 section 6.4.2). If no router takes over, the
    /// master-down timer runs out and this one becomes master again: a drill with no backup
    /// costs one master-down interval, never the address. Not in the RFCs or keepalived
    /// (whose nearest is stopping the daemon). Release with
    /// [`hold_preemption`](Self::hold_preemption)`(false)`. Does nothing unless master.
    pub fn hand_over(&mut self, now: Instant) {
        if self.state != State::Master {
            return;
        }
        self.preempt_hold = true;
        self.leave_master(now, true);
        self.master = None;
        self.next_master_reason = Reason::MasterDown { last_master: None };
        self.enter_backup(now, State::Master, Reason::HandedOver, self.master_down_interval());
    }

    /// Stops the instance gracefully (RFC 5798 section 6.4.3, `Shutdown` event): a master
    /// sends one priority-0 advert, then removes its addresses. Any state ends in
    /// [`State::Stopped`].
    pub fn stop(&mut self, now: Instant) {
        let from = self.state;
        match from {
            State::Stopped => return,
            State::Master => self.leave_master(now, true),
            _ => {}
        }
        self.clear_timers();
        self.start_at = None;
        self.want_master = false;
        self.state = State::Stopped;
        self.transition(from, State::Stopped, Reason::Stopping);
    }

    /// The next action to perform, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next deadline at which [`handle_timeout`](Self::handle_timeout) must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Init => self.start_at,
            State::Backup => self.master_down_at,
            State::Master => match (self.advert_at, self.garp.next_deadline()) {
                (Some(a), Some(g)) => Some(a.min(g)),
                (a, g) => a.or(g),
            },
            State::Fault | State::Stopped => None,
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The effective priority (base plus tracking adjustment).
    pub fn priority(&self) -> u8 {
        self.effective_priority
    }

    /// The last adjustment given to [`set_priority_adjustment`](Self::set_priority_adjustment).
    pub fn priority_adjustment(&self) -> i32 {
        self.adjustment
    }

    /// The (validated) settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The instance name.
    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// The virtual router id.
    pub fn vrid(&self) -> u8 {
        self.settings.vrid
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The master this backup last heard from and its priority.
    pub fn master(&self) -> Option<(IpAddr, u8)> {
        self.master
    }

    /// `Master_Adver_Interval` in centiseconds: ours, or the one a VRRPv3 backup adopted.
    pub fn master_advert_interval_cs(&self) -> u16 {
        self.master_adver_int_cs
    }

    /// Whether a fault (own, or imposed by a sync group) holds.
    pub fn is_faulted(&self) -> bool {
        self.own_fault || self.group_fault
    }

    /// Whether this instance reported a fault of its own.
    pub fn has_own_fault(&self) -> bool {
        self.own_fault
    }

    /// Whether a backup's master-down timer expired while a sync group held it back.
    pub fn wants_master(&self) -> bool {
        self.want_master
    }

    // ----- sync-group plumbing -----

    pub(crate) fn set_gated(&mut self, gated: bool) {
        self.gated = gated;
    }

    pub(crate) fn take_transitions(&mut self) -> Vec<(State, State)> {
        std::mem::take(&mut self.transitions)
    }

    pub(crate) fn take_lower_prio_seen(&mut self) -> bool {
        std::mem::take(&mut self.lower_prio_seen)
    }

    pub(crate) fn pending_master_reason(&self) -> Option<&Reason> {
        self.pending_master_reason.as_ref()
    }

    /// The group lets a backup become master.
    pub(crate) fn grant_master(&mut self, now: Instant, reason: Reason) {
        if self.state == State::Backup && !self.is_faulted() {
            self.enter_master(now, reason);
        }
    }

    /// The group moves a master to backup (keepalived/vrrp/vrrp_sync.c, `vrrp_sync_backup`:
    /// no priority-0 advert).
    pub(crate) fn force_backup(&mut self, now: Instant, reason: Reason) {
        self.want_master = false;
        self.pending_master_reason = None;
        if self.state == State::Master {
            self.leave_master(now, false);
            self.enter_backup(now, State::Master, reason, self.master_down_interval());
        }
    }

    /// The group sets or clears the fault it imposes.
    pub(crate) fn set_group_fault(&mut self, now: Instant, fault: bool, reason: Reason) {
        if self.group_fault == fault {
            return;
        }
        self.group_fault = fault;
        self.update_fault(now, reason);
    }

    /// The group sends the lower-priority GARP bursts for this member too
    /// (keepalived/vrrp/vrrp.c, `vrrp_state_master_rx`).
    pub(crate) fn lower_priority_garps(&mut self, now: Instant) {
        if self.state == State::Master {
            self.garp.lower_priority_seen(now, &self.settings.garp);
            self.fire_garps(now);
        }
    }

    // ----- internals -----

    fn do_start(&mut self, now: Instant) {
        self.start_at = None;
        if self.is_faulted() {
            self.state = State::Fault;
            self.transition(State::Init, State::Fault, Reason::FaultRaised);
        } else if self.settings.priority == 255 {
            self.claim_master(now, Reason::AddressOwner);
        } else {
            let down = match self.settings.initial_state {
                InitialState::Backup => self.master_down_interval(),
                InitialState::Master => {
                    timers::centis(self.master_adver_int_cs)
                        + timers::skew_min(self.settings.version, self.master_adver_int_cs)
                }
            };
            self.enter_backup(now, State::Init, Reason::Startup, down);
        }
    }

    fn backup_rx(&mut self, now: Instant, src: IpAddr, advert: &Advert) {
        if advert.priority == 0 {
            self.master_down_at = Some(now + self.skew());
            self.next_master_reason = Reason::MasterStopped { from: src };
            return;
        }
        let delaying = !self.settings.preempt_delay.is_zero() && self.preempt_time.is_none_or(|t| t > now);
        if !self.settings.preempt || advert.priority >= self.effective_priority || delaying || self.preempt_hold {
            self.adopt_interval(advert);
            self.master_down_at = Some(now + self.master_down_interval());
            self.master = Some((src, advert.priority));
            self.next_master_reason = Reason::MasterDown { last_master: Some(src) };
            self.want_master = false;
            self.pending_master_reason = None;
            if !self.settings.preempt_delay.is_zero() {
                if advert.priority >= self.effective_priority {
                    self.preempt_time = None;
                } else if self.preempt_time.is_none() {
                    self.preempt_time = Some(now + self.settings.preempt_delay);
                }
            }
        } else {
            self.counters.lower_priority_ignored += 1;
            self.master = Some((src, advert.priority));
            self.next_master_reason = Reason::Preempt { priority: advert.priority, from: src };
        }
    }

    fn master_rx(&mut self, now: Instant, src: IpAddr, advert: &Advert) {
        let ours = self.effective_priority;
        let cmp = compare_addresses(src, self.settings.primary_address);
        let higher = advert.priority > ours || (advert.priority == ours && cmp == Ordering::Greater);
        if advert.priority == 0 || (self.settings.higher_prio_send_advert && higher) {
            self.send_advert(now, ours);
            if advert.priority == 0 {
                return;
            }
        }
        if advert.priority == ours && cmp == Ordering::Equal {
            self.counters.own_address_received += 1;
            return;
        }
        if !higher {
            self.counters.lower_priority_received += 1;
            self.actions.push_back(Action::LowerPriorityAdvert { from: src, priority: advert.priority });
            if !self.settings.lower_prio_no_advert {
                self.send_advert(now, ours);
            }
            self.garp.lower_priority_seen(now, &self.settings.garp);
            self.fire_garps(now);
            self.lower_prio_seen = true;
            return;
        }
        self.adopt_interval(advert);
        self.master = Some((src, advert.priority));
        self.next_master_reason = Reason::MasterDown { last_master: Some(src) };
        let reason = if advert.priority > ours {
            Reason::HigherPriority { priority: advert.priority, from: src }
        } else {
            Reason::EqualPriorityHigherAddress { priority: advert.priority, from: src }
        };
        self.leave_master(now, false);
        self.enter_backup(now, State::Master, reason, self.master_down_interval());
    }

    /// RFC 5798 section 6.4.2 / 6.4.3: a VRRPv3 router follows the master's interval.
    fn adopt_interval(&mut self, advert: &Advert) {
        if self.settings.version == Version::V3
            && advert.interval_cs != 0
            && advert.interval_cs != self.master_adver_int_cs
        {
            self.master_adver_int_cs = advert.interval_cs;
            self.counters.interval_adopted += 1;
        }
    }

    /// Becoming master, unless a sync group must agree first (then only "want" it, and re-arm
    /// the master-down timer as keepalived/vrrp/vrrp_sync.c `vrrp_sync_can_goto_master` does).
    fn claim_master(&mut self, now: Instant, reason: Reason) {
        if !self.gated {
            self.enter_master(now, reason);
            return;
        }
        self.want_master = true;
        self.pending_master_reason = Some(reason);
        if self.state == State::Init {
            self.state = State::Backup;
            self.transition(State::Init, State::Backup, Reason::Startup);
        }
        self.master_down_at = Some(now + self.master_down_interval());
    }

    fn enter_master(&mut self, now: Instant, reason: Reason) {
        let from = self.state;
        self.state = State::Master;
        self.want_master = false;
        self.pending_master_reason = None;
        self.master_down_at = None;
        self.preempt_time = None;
        self.master = None;
        // keepalived/vrrp/vrrp.c `vrrp_state_become_master`: back to our own interval.
        self.master_adver_int_cs = self.settings.advert_interval_cs;
        self.counters.became_master += 1;
        // keepalived/vrrp/vrrp.c `vrrp_state_master_tx`: the advert goes first, so that the
        // old master drops the addresses before our GARPs.
        self.send_advert(now, self.effective_priority);
        self.actions.push_back(Action::AddAddresses(self.settings.addresses.clone()));
        self.garp.become_master(now, &self.settings.garp);
        self.fire_garps(now);
        self.transition(from, State::Master, reason);
    }

    /// Leaves master: optionally a priority-0 advert, then the addresses go.
    fn leave_master(&mut self, now: Instant, priority_zero: bool) {
        if priority_zero {
            self.send_advert(now, 0);
        }
        self.actions.push_back(Action::RemoveAddresses(self.settings.addresses.clone()));
        self.garp.clear();
        self.advert_at = None;
        self.counters.released_master += 1;
    }

    fn enter_backup(&mut self, now: Instant, from: State, reason: Reason, down: Duration) {
        self.state = State::Backup;
        self.preempt_time = None;
        self.master_down_at = Some(now + down);
        self.transition(from, State::Backup, reason);
    }

    fn update_fault(&mut self, now: Instant, reason: Reason) {
        let fault = self.is_faulted();
        match self.state {
            State::Backup | State::Master if fault => {
                let from = self.state;
                if from == State::Master {
                    self.leave_master(now, true);
                }
                self.clear_timers();
                self.want_master = false;
                self.pending_master_reason = None;
                self.state = State::Fault;
                self.transition(from, State::Fault, reason);
            }
            State::Fault if !fault => {
                self.master_adver_int_cs = self.settings.advert_interval_cs;
                self.master = None;
                self.next_master_reason = Reason::MasterDown { last_master: None };
                let down = if self.settings.priority == 255 {
                    self.next_master_reason = Reason::AddressOwner;
                    timers::centis(self.master_adver_int_cs) + self.skew()
                } else {
                    self.master_down_interval()
                };
                self.enter_backup(now, State::Fault, reason, down);
            }
            _ => {}
        }
    }

    fn clear_timers(&mut self) {
        self.master_down_at = None;
        self.advert_at = None;
        self.preempt_time = None;
        self.garp.clear();
    }

    fn send_advert(&mut self, now: Instant, priority: u8) {
        let auth = match self.settings.version {
            Version::V2 => self.settings.auth,
            Version::V3 => Auth::None,
        };
        self.actions.push_back(Action::SendAdvert(Advert {
            version: self.settings.version,
            vrid: self.settings.vrid,
            priority,
            interval_cs: self.settings.advert_interval_cs,
            auth,
            addresses: self.settings.addresses.clone(),
        }));
        self.counters.adverts_sent += 1;
        if priority == 0 {
            self.counters.priority_zero_sent += 1;
        } else if matches!(self.state, State::Master) {
            self.advert_at = Some(now + timers::centis(self.settings.advert_interval_cs));
            if self.garp.extra_due(now, &self.settings.garp) {
                self.actions.push_back(Action::SendExtraGarp);
            }
        }
    }

    fn fire_garps(&mut self, now: Instant) {
        for repeat in self.garp.fire(now, &self.settings.garp) {
            if self.settings.addresses.is_empty() {
                continue;
            }
            self.counters.garp_actions += 1;
            self.actions.push_back(Action::SendGarp { addresses: self.settings.addresses.clone(), repeat });
        }
    }

    fn transition(&mut self, from: State, to: State, reason: Reason) {
        self.transitions.push((from, to));
        self.actions.push_back(Action::StateChanged { from, to, reason });
    }

    /// The priority used for `Skew_Time`: an address owner always uses 255
    /// (keepalived/include/vrrp.h, `VRRP_TIMER_SKEW`).
    /// The configured priority moved by `delta`, clamped to 1..=254; an address owner stays
    /// at 255.
    fn adjusted_priority(&self, delta: i32) -> u8 {
        if self.settings.priority == 255 {
            255
        } else {
            let total = i64::from(self.settings.priority) + i64::from(delta);
            u8::try_from(total.clamp(1, 254)).unwrap_or(1)
        }
    }

    fn skew_priority(&self) -> u8 {
        if self.settings.priority == 255 { 255 } else { self.effective_priority }
    }

    fn skew(&self) -> Duration {
        timers::skew(self.settings.version, self.master_adver_int_cs, self.skew_priority())
    }

    fn master_down_interval(&self) -> Duration {
        timers::master_down(self.settings.version, self.master_adver_int_cs, self.skew_priority())
    }
}

/// Compares two addresses of the same family as unsigned integers (RFC 5798 section 6.4.3:
/// "the primary IPv4 address of the sender is greater than the local primary IPv4 address").
fn compare_addresses(a: IpAddr, b: IpAddr) -> Ordering {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a.octets().cmp(&b.octets()),
        (IpAddr::V6(a), IpAddr::V6(b)) => a.octets().cmp(&b.octets()),
        (IpAddr::V4(_), IpAddr::V6(_)) => Ordering::Less,
        (IpAddr::V6(_), IpAddr::V4(_)) => Ordering::Greater,
    }
}

fn same_set(a: &[IpAddr], b: &[IpAddr]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}
