//! keepalived's `vrrp_sync_group`: instances that change state together. Not in the RFCs.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

use super::machine::{Action, Instance, Reason, State};
use super::settings::{Settings, SettingsError};
use crate::advert::Advert;

/// An action of one member of a [`SyncGroup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupAction {
    /// Index of the member in [`SyncGroup::members`].
    pub member: usize,
    /// What to do for it.
    pub action: Action,
}

/// A sync group: it owns its member instances and is driven like one of them
/// (`handle_*(now, ...)`, `poll_action`, `poll_timeout`), routing adverts by vrid.
///
/// The rules follow keepalived (keepalived/vrrp/vrrp_sync.c and the transition table in
/// keepalived/vrrp/vrrp_scheduler.c):
/// - fault: while any member reports a fault of its own, every member is in fault (a master
///   member sends priority 0 and removes its addresses); when the last fault clears, all go to
///   backup together (`vrrp_sync_fault`, `try_up_instance`).
/// - master: a member whose master-down timer expires only *wants* master; the group goes
///   master, all members at once, when every member wants it (or one already is master).
///   Until then the wanting member re-arms its master-down timer (`vrrp_sync_can_goto_master`,
///   which prefers backup to avoid thrashing; `vrrp_sync_master`).
/// - backup: when a master member yields to a higher priority, the other masters become backup
///   too, without priority-0 adverts (`vrrp_sync_backup`).
/// - a master member that receives a lower-priority advert also sends the lower-priority GARP
///   bursts of the other master members (`vrrp_state_master_rx`).
#[derive(Debug, Clone)]
pub struct SyncGroup {
    name: String,
    members: Vec<Instance>,
    actions: VecDeque<GroupAction>,
    unrouted: u64,
    /// The member whose own fault changed last: named in the reason of the others' moves.
    fault_origin: Option<usize>,
}

impl SyncGroup {
    /// A group of `members` (instances in [`State::Init`]).
    pub fn new(name: impl Into<String>, members: Vec<Instance>) -> Self {
        let mut members = members;
        // Held for the group's life: no spare room (a vector collected from an iterator of
        // unknown length keeps room for at least four instances).
        members.shrink_to_fit();
        for m in &mut members {
            m.set_gated(true);
        }
        Self { name: name.into(), members, actions: VecDeque::new(), unrouted: 0, fault_origin: None }
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The members, in the order given to [`new`](Self::new).
    pub fn members(&self) -> &[Instance] {
        &self.members
    }

    /// One member.
    pub fn member(&self, member: usize) -> Option<&Instance> {
        self.members.get(member)
    }

    /// The member an advert from `src` with this vrid belongs to (vrid and address family).
    pub fn route(&self, vrid: u8, src: IpAddr) -> Option<usize> {
        self.members.iter().position(|m| m.vrid() == vrid && m.settings().primary_address.is_ipv4() == src.is_ipv4())
    }

    /// Adverts [`handle_advert`](Self::handle_advert) could not route to a member.
    pub fn unrouted_adverts(&self) -> u64 {
        self.unrouted
    }

    /// The group's state: [`State::Fault`] if any member is in fault, [`State::Master`] if all
    /// are master, [`State::Init`] while any has not started, [`State::Stopped`] once all have
    /// stopped, otherwise [`State::Backup`].
    pub fn state(&self) -> State {
        if !self.members.is_empty() && self.members.iter().all(|m| m.state() == State::Stopped) {
            State::Stopped
        } else if self.members.iter().any(|m| m.state() == State::Init) {
            State::Init
        } else if self.members.iter().any(|m| m.state() == State::Fault) {
            State::Fault
        } else if !self.members.is_empty() && self.members.iter().all(|m| m.state() == State::Master) {
            State::Master
        } else {
            State::Backup
        }
    }

    /// Starts every member (see [`Instance::start`]).
    pub fn start(&mut self, now: Instant) {
        // Faults reported before start apply to the whole group.
        self.sync_faults(now);
        for m in &mut self.members {
            m.start(now);
        }
        self.reconcile(now);
    }

    /// Routes an advert to its member by vrid and family (see [`Instance::handle_advert`]);
    /// returns the member, or `None` (counted) when no member has that vrid.
    pub fn handle_advert(&mut self, now: Instant, src: IpAddr, advert: &Advert) -> Option<usize> {
        let Some(i) = self.route(advert.vrid, src) else {
            self.unrouted += 1;
            return None;
        };
        self.handle_advert_for(i, now, src, advert);
        Some(i)
    }

    /// Hands an advert to a given member (when the daemon routes by interface itself).
    pub fn handle_advert_for(&mut self, member: usize, now: Instant, src: IpAddr, advert: &Advert) {
        if let Some(m) = self.members.get_mut(member) {
            m.handle_advert(now, src, advert);
            self.collect_actions();
            self.reconcile(now);
        }
    }

    /// Handles every member's due timers (see [`Instance::handle_timeout`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        for i in 0..self.members.len() {
            if let Some(m) = self.members.get_mut(i) {
                m.handle_timeout(now);
            }
            self.collect_actions();
        }
        self.reconcile(now);
    }

    /// Sets a member's priority adjustment (see [`Instance::set_priority_adjustment`]).
    pub fn set_priority_adjustment(&mut self, member: usize, now: Instant, delta: i32) {
        if let Some(m) = self.members.get_mut(member) {
            m.set_priority_adjustment(now, delta);
            self.collect_actions();
            self.reconcile(now);
        }
    }

    /// Gives a member new settings, keeping its state (see [`Instance::reconfigure`]).
    pub fn reconfigure(&mut self, member: usize, now: Instant, settings: Settings) -> Result<(), SettingsError> {
        let Some(m) = self.members.get_mut(member) else { return Ok(()) };
        m.reconfigure(now, settings)?;
        self.collect_actions();
        self.reconcile(now);
        Ok(())
    }

    /// Holds (or lets go) preemption in every member: the group preempts as one
    /// ([`Instance::hold_preemption`]).
    pub fn hold_preemption(&mut self, hold: bool) {
        for m in &mut self.members {
            m.hold_preemption(hold);
        }
    }

    /// Sets or clears a member's own fault; the whole group follows (see the type's docs).
    pub fn set_fault(&mut self, member: usize, now: Instant, fault: bool) {
        if member >= self.members.len() {
            return;
        }
        self.fault_origin = Some(member);
        // The group fault of the others first, so that a member whose own fault clears while
        // another still has one goes straight from fault to fault (no backup blip).
        if !fault {
            let other = self.members_faulted_except(member);
            let reason = self.group_reason(other.unwrap_or(member));
            if let Some(m) = self.members.get_mut(member) {
                m.set_group_fault(now, other.is_some(), reason);
            }
        }
        if let Some(m) = self.members.get_mut(member) {
            m.set_fault(now, fault);
        }
        self.collect_actions();
        self.reconcile(now);
    }

    /// Hands every master member over (see [`Instance::hand_over`]); preemption stays held
    /// in every member until [`hold_preemption`](Self::hold_preemption)`(false)`.
    pub fn hand_over(&mut self, now: Instant) {
        for m in &mut self.members {
            m.hold_preemption(true);
            m.hand_over(now);
        }
        self.collect_actions();
        self.reconcile(now);
    }

    /// Stops every member (see [`Instance::stop`]).
    pub fn stop(&mut self, now: Instant) {
        for m in &mut self.members {
            m.stop(now);
        }
        self.collect();
    }

    /// The next action of some member, in order.
    pub fn poll_action(&mut self) -> Option<GroupAction> {
        self.actions.pop_front()
    }

    /// The earliest member deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.members.iter().filter_map(Instance::poll_timeout).min()
    }

    fn members_faulted_except(&self, member: usize) -> Option<usize> {
        self.members.iter().enumerate().find(|(j, m)| *j != member && m.has_own_fault()).map(|(j, _)| j)
    }

    fn group_reason(&self, member: usize) -> Reason {
        Reason::SyncGroup {
            group: self.name.clone(),
            member: self.members.get(member).map(|m| m.name().to_owned()).unwrap_or_default(),
        }
    }

    /// Every member is in group fault while another member has a fault of its own.
    fn sync_faults(&mut self, now: Instant) {
        for i in 0..self.members.len() {
            let other = self.members_faulted_except(i);
            let reason = self.group_reason(other.or(self.fault_origin).unwrap_or(i));
            if let Some(m) = self.members.get_mut(i) {
                m.set_group_fault(now, other.is_some(), reason);
            }
        }
    }

    fn reconcile(&mut self, now: Instant) {
        // Each pass can only move members towards a common state; a few passes settle it.
        for _ in 0..4 {
            let mut changed = false;
            self.sync_faults(now);
            self.collect_actions();

            let mut yielded = Vec::new();
            let mut lower = Vec::new();
            for (i, m) in self.members.iter_mut().enumerate() {
                for (from, to) in m.take_transitions() {
                    changed = true;
                    if from == State::Master && to == State::Backup {
                        yielded.push(i);
                    }
                }
                if m.take_lower_prio_seen() {
                    lower.push(i);
                }
            }
            for i in yielded {
                let reason = self.group_reason(i);
                for (j, m) in self.members.iter_mut().enumerate() {
                    if j != i && m.state() == State::Master {
                        m.force_backup(now, reason.clone());
                    }
                }
            }
            for i in lower {
                for (j, m) in self.members.iter_mut().enumerate() {
                    if j != i {
                        m.lower_priority_garps(now);
                    }
                }
            }

            if self.members.iter().all(|m| !m.is_faulted()) {
                let wanting = self.members.iter().position(|m| m.state() == State::Backup && m.wants_master());
                if let Some(i) = wanting {
                    let any_master = self.members.iter().any(|m| m.state() == State::Master);
                    let all_ready = self
                        .members
                        .iter()
                        .all(|m| m.state() == State::Master || (m.state() == State::Backup && m.wants_master()));
                    if any_master || all_ready {
                        let follow = self.group_reason(i);
                        for m in &mut self.members {
                            if m.state() == State::Backup {
                                let reason = m.pending_master_reason().cloned().unwrap_or_else(|| follow.clone());
                                m.grant_master(now, reason);
                                changed = true;
                            }
                        }
                    }
                }
            }
            self.collect_actions();
            if !changed {
                break;
            }
        }
        self.collect();
    }

    /// Moves the members' actions into the group's queue, keeping transitions for
    /// `reconcile`. Called after every step so that the queue keeps causal order.
    fn collect_actions(&mut self) {
        for (i, m) in self.members.iter_mut().enumerate() {
            while let Some(action) = m.poll_action() {
                self.actions.push_back(GroupAction { member: i, action });
            }
        }
    }

    fn collect(&mut self) {
        self.collect_actions();
        for m in &mut self.members {
            m.take_transitions();
        }
    }
}
