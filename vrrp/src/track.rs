//! Tracking: what scripts, interfaces and files do to an instance's priority, sans-I/O.
//!
//! Follows keepalived (keepalived/vrrp/vrrp_scheduler.c, vrrp_script_child_thread; and
//! keepalived/vrrp/vrrp_track.c, process_script_update_priority):
//! - a script's result counter runs over `0..=rise+fall-1` and the script is up while it is at
//!   least `rise`; it starts at `rise-1` (one result decides) or at 0 with `init_fail`; a
//!   success while up jumps back to the top, so `fall` failures in a row take it down and
//!   `rise` successes in a row bring it up;
//! - a tracked object with weight 0 puts the instance in fault while it is down (while it is
//!   up, with `reverse`); weight `w > 0` adds `w` while up; `w < 0` adds `w` while down;
//!   `reverse` negates the adjustment;
//! - the effective priority is base + adjustments, kept within 1..=254; an address owner
//!   (255) ignores weights (vrrp.c, vrrp_set_effective_priority).

/// The up/down state of a `vrrp_script`, with keepalived's rise/fall counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptState {
    rise: u32,
    fall: u32,
    result: u32,
    decided: bool,
}

impl ScriptState {
    /// A script that has not run yet; `init_fail` starts it down.
    pub fn new(rise: u32, fall: u32, init_fail: bool) -> Self {
        let (rise, fall) = (rise.max(1), fall.max(1));
        ScriptState { rise, fall, result: if init_fail { 0 } else { rise - 1 }, decided: init_fail }
    }

    /// Up, down, or not known yet (no run has finished and `init_fail` is off).
    pub fn status(&self) -> Option<bool> {
        self.decided.then_some(self.result >= self.rise)
    }

    /// Records one run's result; returns the new status when it changed (or was first
    /// decided).
    pub fn record(&mut self, success: bool) -> Option<bool> {
        let before = self.status();
        let top = self.rise + self.fall - 1;
        if success {
            if self.result < self.rise - 1 {
                self.result += 1;
            } else {
                self.result = top;
            }
        } else if self.result > self.rise {
            self.result -= 1;
        } else {
            self.result = 0;
        }
        // The first finished run decides, even when it leaves the counter where it was.
        self.decided = self.decided || success || self.result == 0;
        let after = self.status();
        (after != before).then_some(after).flatten()
    }
}

/// What one tracked object currently does to its instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing.
    None,
    /// The instance must be in fault.
    Fault,
    /// Add this to the priority.
    Adjust(i32),
}

/// The effect of an object with `weight` (and `reverse`) that is `up` or not.
pub fn effect(weight: i32, reverse: bool, up: bool) -> Effect {
    let multiplier = if reverse { -1 } else { 1 };
    match weight {
        0 if up == reverse => Effect::Fault,
        0 => Effect::None,
        w if w > 0 && up => Effect::Adjust(w * multiplier),
        w if w < 0 && !up => Effect::Adjust(w * multiplier),
        _ => Effect::None,
    }
}

/// The priority an instance runs at: `base` plus the adjustments, within 1..=254; 255 stays.
/// `None` when any effect is a fault.
pub fn effective_priority(base: u8, effects: impl IntoIterator<Item = Effect>) -> Option<u8> {
    let mut total = i64::from(base);
    for e in effects {
        match e {
            Effect::Fault => return None,
            Effect::Adjust(a) => total += i64::from(a),
            Effect::None => {}
        }
    }
    if base == 255 {
        return Some(255);
    }
    Some(u8::try_from(total.clamp(1, 254)).unwrap_or(254))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &mut ScriptState, results: &[bool]) -> Vec<Option<bool>> {
        results.iter().map(|r| s.record(*r)).collect()
    }

    #[test]
    fn first_result_decides_then_rise_and_fall_count() {
        let mut s = ScriptState::new(3, 2, false);
        assert_eq!(s.status(), None);
        assert_eq!(run(&mut s, &[true]), [Some(true)]);
        // fall 2: two failures in a row take it down, a success in between resets.
        assert_eq!(run(&mut s, &[false, true, false, false]), [None, None, None, Some(false)]);
        // rise 3: three successes in a row bring it up, a failure in between resets.
        assert_eq!(run(&mut s, &[true, true, false, true, true, true]), [None, None, None, None, None, Some(true)]);
    }

    #[test]
    fn a_first_failure_decides_down() {
        let mut s = ScriptState::new(2, 2, false);
        assert_eq!(s.record(false), Some(false));
        assert_eq!(s.status(), Some(false));
    }

    #[test]
    fn init_fail_starts_down_and_needs_rise_successes() {
        let mut s = ScriptState::new(2, 1, true);
        assert_eq!(s.status(), Some(false));
        assert_eq!(run(&mut s, &[true, true]), [None, Some(true)]);
        assert_eq!(s.record(false), Some(false));
    }

    #[test]
    fn weights_as_keepalived() {
        assert_eq!(effect(0, false, false), Effect::Fault);
        assert_eq!(effect(0, false, true), Effect::None);
        assert_eq!(effect(0, true, true), Effect::Fault);
        assert_eq!(effect(10, false, true), Effect::Adjust(10));
        assert_eq!(effect(10, false, false), Effect::None);
        assert_eq!(effect(-20, false, false), Effect::Adjust(-20));
        assert_eq!(effect(-20, false, true), Effect::None);
        assert_eq!(effect(10, true, true), Effect::Adjust(-10));
        assert_eq!(effect(-20, true, false), Effect::Adjust(20));
    }

    #[test]
    fn effective_priority_clamps_and_owner_ignores_weights() {
        assert_eq!(effective_priority(100, [Effect::Adjust(-20), Effect::None]), Some(80));
        assert_eq!(effective_priority(100, [Effect::Adjust(-200)]), Some(1));
        assert_eq!(effective_priority(250, [Effect::Adjust(50)]), Some(254));
        assert_eq!(effective_priority(255, [Effect::Adjust(-50)]), Some(255));
        assert_eq!(effective_priority(100, [Effect::Adjust(5), Effect::Fault]), None);
    }
}
