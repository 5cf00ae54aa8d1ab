//! The gratuitous ARP / unsolicited NA schedule of a master (keepalived's `garp_*` knobs).

use std::time::{Duration, Instant};

use super::settings::GarpSettings;

/// A burst waiting to be sent: `remaining` GARPs per address, the next at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Burst {
    at: Instant,
    remaining: u32,
}

/// The pending bursts and the refresh timer of one instance.
///
/// Each due burst becomes one `SendGarp { repeat }` action: with a zero `interval` the whole
/// burst at once (`repeat` = the burst's count), otherwise one GARP per address per action
/// (`repeat` = 1), spaced by `interval`.
#[derive(Debug, Clone, Default)]
pub struct GarpSchedule {
    bursts: Vec<Burst>,
    refresh_at: Option<Instant>,
    /// When the next `garp_extra_if` round is due (checked as adverts go out).
    extra_at: Option<Instant>,
}

impl GarpSchedule {
    /// Becoming master: a burst now, another after `master_delay` (if non-zero), then refresh
    /// bursts every `master_refresh` from `master_delay + master_refresh` on
    /// (keepalived/vrrp/vrrp.c, `vrrp_state_become_master`).
    pub fn become_master(&mut self, now: Instant, garp: &GarpSettings) {
        self.clear();
        self.push(now, garp.master_repeat);
        if !garp.master_delay.is_zero() {
            self.push(now + garp.master_delay, garp.master_repeat);
        }
        if let Some(refresh) = garp.master_refresh {
            self.refresh_at = Some(now + garp.master_delay + refresh);
        }
        self.extra_at = garp.extra_if.filter(|d| !d.is_zero()).map(|d| now + d);
    }

    /// Whether a `garp_extra_if` round is due at `now`, an advert going out (keepalived
    /// checks it as it sends an advert, vrrp.c vrrp_state_master_tx); the next is then due
    /// `extra_if` later.
    pub fn extra_due(&mut self, now: Instant, garp: &GarpSettings) -> bool {
        match (self.extra_at, garp.extra_if.filter(|d| !d.is_zero())) {
            (Some(at), Some(every)) if at <= now => {
                self.extra_at = Some(now + every);
                true
            }
            _ => false,
        }
    }

    /// A master received a lower-priority advert: a burst of `lower_prio_repeat` now and
    /// another after `lower_prio_delay` (keepalived/vrrp/vrrp.c, `vrrp_state_master_rx`).
    pub fn lower_priority_seen(&mut self, now: Instant, garp: &GarpSettings) {
        if garp.lower_prio_repeat == 0 {
            return;
        }
        self.push(now, garp.lower_prio_repeat);
        if !garp.lower_prio_delay.is_zero() {
            self.push(now + garp.lower_prio_delay, garp.lower_prio_repeat);
        }
    }

    /// Leaving master: forget everything pending.
    pub fn clear(&mut self) {
        self.bursts.clear();
        self.refresh_at = None;
        self.extra_at = None;
    }

    /// The next deadline, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.bursts.iter().map(|b| b.at).chain(self.refresh_at).min()
    }

    /// Fires everything due at `now`; returns the `repeat` of each GARP action to emit, in
    /// order.
    pub fn fire(&mut self, now: Instant, garp: &GarpSettings) -> Vec<u32> {
        if let (Some(at), Some(refresh)) = (self.refresh_at, garp.master_refresh) {
            if at <= now {
                self.push(at, garp.master_refresh_repeat);
                self.refresh_at = Some(at + refresh);
            }
        }
        let mut out = Vec::new();
        let interval = garp.interval;
        let mut i = 0;
        // Bursts are kept in push order, which is deadline order for those pushed at once.
        while i < self.bursts.len() {
            let burst = self.bursts[i];
            if burst.at > now {
                i += 1;
                continue;
            }
            if interval.is_zero() {
                out.push(burst.remaining);
                self.bursts.remove(i);
            } else {
                out.push(1);
                let remaining = burst.remaining.saturating_sub(1);
                if remaining == 0 {
                    self.bursts.remove(i);
                } else {
                    self.bursts[i] = Burst { at: later(burst.at, interval, now), remaining };
                    i += 1;
                }
            }
        }
        out
    }

    fn push(&mut self, at: Instant, repeat: u32) {
        if repeat > 0 {
            self.bursts.push(Burst { at, remaining: repeat });
        }
    }
}

/// The next paced send: `interval` after the previous one, but never in the past.
fn later(prev: Instant, interval: Duration, now: Instant) -> Instant {
    let next = prev + interval;
    if next <= now { now + interval } else { next }
}
