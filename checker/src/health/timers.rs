//! The checks' next runs, earliest first, at O(1) per check in the steady state.
//!
//! Almost every time the core schedules is "now + a delay" for one of a few delays
//! (`delay_loop`, `delay_before_retry`), and the core's `now` never goes back, so the entries
//! added for one delay arrive already in order: a FIFO queue per delay keeps them sorted
//! without any comparison, and the earliest entry is the earliest of the queues' fronts. The
//! rest (first runs spread by `warmup`, a clock that went back, more distinct delays than
//! [`MAX_QUEUES`]) go to a binary heap. With 10,000 checks a second a heap alone was a
//! quarter of the checker's user time (a pop is two dozen comparisons with cache misses).

use super::CheckId;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

/// Distinct delays given a queue of their own; more go to the heap.
const MAX_QUEUES: usize = 16;

/// An empty heap with room for more entries than this gives the room back.
const SHRINK_FROM: usize = 1024;

/// Timer entries: (when, which check). An entry may be stale (its check was rescheduled or
/// started since); the core recognises those by comparing the time with the check's own.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    queues: Vec<(Duration, VecDeque<(Instant, CheckId)>)>,
    heap: BinaryHeap<Reverse<(Instant, CheckId)>>,
}

/// Where the earliest entry is.
#[derive(Clone, Copy)]
enum Source {
    Queue(usize),
    Heap,
}

impl Timers {
    /// Adds `id` at `now + delay`.
    pub fn push_after(&mut self, now: Instant, delay: Duration, id: CheckId) {
        let at = now + delay;
        let queue = match self.queues.iter().position(|(d, _)| *d == delay) {
            Some(i) => Some(i),
            None if self.queues.len() < MAX_QUEUES => {
                self.queues.push((delay, VecDeque::new()));
                Some(self.queues.len() - 1)
            }
            None => None,
        };
        if let Some(q) = queue.and_then(|i| self.queues.get_mut(i)) {
            if q.1.back().is_none_or(|(last, _)| *last <= at) {
                q.1.push_back((at, id));
                return;
            }
        }
        self.heap.push(Reverse((at, id)));
    }

    /// Adds `id` at `at`.
    pub fn push_at(&mut self, at: Instant, id: CheckId) {
        self.heap.push(Reverse((at, id)));
    }

    fn earliest(&self) -> Option<(Instant, CheckId, Source)> {
        let mut best = self.heap.peek().map(|Reverse((t, id))| (*t, *id, Source::Heap));
        for (i, (_, q)) in self.queues.iter().enumerate() {
            if let Some(&(t, id)) = q.front() {
                if best.is_none_or(|(bt, bid, _)| (t, id) < (bt, bid)) {
                    best = Some((t, id, Source::Queue(i)));
                }
            }
        }
        best
    }

    /// The earliest entry.
    pub fn peek(&self) -> Option<(Instant, CheckId)> {
        self.earliest().map(|(t, id, _)| (t, id))
    }

    /// Removes and returns the earliest entry.
    #[cfg(test)]
    pub fn pop(&mut self) -> Option<(Instant, CheckId)> {
        let (t, id, source) = self.earliest()?;
        self.remove(source);
        Some((t, id))
    }

    /// Removes and returns the earliest entry if it is at `now` or earlier (one scan of the
    /// queue fronts, where a peek then a pop made two).
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, CheckId)> {
        let (t, id, source) = self.earliest().filter(|(t, _, _)| *t <= now)?;
        self.remove(source);
        Some((t, id))
    }

    fn remove(&mut self, source: Source) {
        match source {
            Source::Heap => {
                self.heap.pop();
                // The heap holds the first runs (all checks at once, spread by warmup) and
                // little after: its room for thousands goes once they have run.
                if self.heap.is_empty() && self.heap.capacity() > SHRINK_FROM {
                    self.heap.shrink_to_fit();
                }
            }
            Source::Queue(i) => {
                if let Some((_, q)) = self.queues.get_mut(i) {
                    q.pop_front();
                }
            }
        }
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.queues.clear();
        self.heap.clear();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn id(n: usize) -> CheckId {
        CheckId { vs: 0, rs: n, check: 0 }
    }

    #[test]
    fn entries_come_out_in_time_order_whatever_mix_of_queues_and_heap_holds_them() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut timers = Timers::default();
        let mut expected = Vec::new();
        // Interleaved: two delays, first runs at random-looking times, a clock that goes back,
        // and more distinct delays than there are queues.
        let mut x: u64 = 12345;
        for step in 0..2000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let now = t0 + ms(step / 3) - if step % 97 == 0 { ms(5) } else { ms(0) };
            let n = step as usize;
            match x >> 61 {
                0..=2 => {
                    timers.push_after(now, ms(1000), id(n));
                    expected.push((now + ms(1000), id(n)));
                }
                3..=4 => {
                    timers.push_after(now, ms(200), id(n));
                    expected.push((now + ms(200), id(n)));
                }
                5 => {
                    let at = t0 + ms((x >> 20) % 3000);
                    timers.push_at(at, id(n));
                    expected.push((at, id(n)));
                }
                _ => {
                    let d = ms(300 + (x >> 40) % 40);
                    timers.push_after(now, d, id(n));
                    expected.push((now + d, id(n)));
                }
            }
        }
        expected.sort();
        let mut got = Vec::new();
        while let Some(e) = timers.pop() {
            got.push(e);
        }
        assert_eq!(got, expected);
        assert!(timers.queues.len() <= MAX_QUEUES);
        assert!(timers.peek().is_none());
    }

    #[test]
    fn pop_due_takes_only_what_is_due() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut timers = Timers::default();
        timers.push_after(t0, ms(10), id(1));
        timers.push_at(t0 + ms(5), id(2));
        assert_eq!(timers.pop_due(t0 + ms(4)), None);
        assert_eq!(timers.pop_due(t0 + ms(10)), Some((t0 + ms(5), id(2))));
        assert_eq!(timers.pop_due(t0 + ms(10)), Some((t0 + ms(10), id(1))));
        assert_eq!(timers.pop_due(t0 + ms(99)), None);
    }

    #[test]
    fn the_steady_state_uses_the_queues_not_the_heap() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        for n in 0..1000 {
            timers.push_after(t0 + Duration::from_micros(n as u64), Duration::from_secs(1), id(n));
        }
        assert!(timers.heap.is_empty());
        assert_eq!(timers.peek(), Some((t0 + Duration::from_secs(1), id(0))));
    }
}
