//! Changes the kernel refused, remembered from one reconcile round to the next.
//!
//! A change the kernel refuses (a scheduler whose module this kernel lacks, a persistence
//! engine it cannot load) is tried again at every round: the module may be installed or
//! loaded meanwhile. Logged every round, a lasting refusal would fill the journal with one
//! error every 5 s; logged once, it would be forgotten. So each refusal is logged when it
//! starts (or when the kernel's reason changes), retried quietly, logged again when it ends,
//! and shown meanwhile by `tandem status` (`ipvs_refused`) and the metrics
//! (`tandem_ipvs_refused_changes`).

use serde::Serialize;
use std::collections::BTreeMap;

/// A change the kernel refuses, as status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The change, in the words of the log (`add service TCP 192.0.2.21:1014 ...`).
    pub change: String,
    /// The kernel's answer, as tandem reads it.
    pub error: String,
    /// When the kernel first refused it for this reason (ms since the Unix epoch).
    pub since_unix_ms: u64,
    /// Rounds that tried it and were refused.
    pub times: u64,
}

impl Refusal {
    /// SIGUSR1's line for this refusal, at `now_unix_ms`, its age in the words of
    /// `tandem status`.
    pub fn dump_line(&self, now_unix_ms: u64) -> String {
        format!(
            "ipvs refused {} times since {}: {}",
            self.times,
            crate::client::ago(self.since_unix_ms, now_unix_ms),
            self.error
        )
    }
}

/// How a round's refusals compare with the last round's.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Refused for the first time, or for another reason than last round: to log.
    pub started: Vec<Refusal>,
    /// Refused last round and not this one: taken by the kernel, or no longer asked for.
    pub ended: Vec<Refusal>,
}

/// The changes refused at the last round, by change.
#[derive(Debug, Default)]
pub struct Refusals {
    by_change: BTreeMap<String, Refusal>,
}

impl Refusals {
    /// Records the refusals of a round that tried every change it had (`refused`: change and
    /// error), at `now_unix_ms`: what started and what ended since the last round.
    pub fn round(&mut self, refused: Vec<(String, String)>, now_unix_ms: u64) -> Round {
        let mut before = std::mem::take(&mut self.by_change);
        let mut started = Vec::new();
        for (change, error) in refused {
            let refusal = match before.remove(&change) {
                Some(r) if r.error == error => Refusal { times: r.times + 1, ..r },
                _ => {
                    let r = Refusal { change: change.clone(), error, since_unix_ms: now_unix_ms, times: 1 };
                    started.push(r.clone());
                    r
                }
            };
            self.by_change.insert(change, refusal);
        }
        Round { started, ended: before.into_values().collect() }
    }

    /// Those refused at the last round, in the order of their changes' words.
    pub fn list(&self) -> Vec<Refusal> {
        self.by_change.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(c, e)| ((*c).to_string(), (*e).to_string())).collect()
    }

    #[test]
    fn a_refusal_starts_once_counts_its_rounds_and_ends_when_not_refused() {
        let mut r = Refusals::default();
        let first = r.round(refused(&[("add twos", "no scheduler")]), 1000);
        assert_eq!(first.started.len(), 1, "{first:?}");
        assert_eq!((first.started[0].times, first.started[0].since_unix_ms), (1, 1000));
        assert!(first.ended.is_empty());
        for _ in 0..3 {
            let again = r.round(refused(&[("add twos", "no scheduler")]), 6000);
            assert_eq!(again, Round::default(), "a lasting refusal is not news");
        }
        assert_eq!(r.list()[0].times, 4);
        assert_eq!(r.list()[0].since_unix_ms, 1000, "since the first refusal");
        let end = r.round(Vec::new(), 9000);
        assert_eq!(end.ended.len(), 1, "{end:?}");
        assert_eq!((end.ended[0].change.as_str(), end.ended[0].times), ("add twos", 4));
        assert!(r.list().is_empty());
    }

    #[test]
    fn another_reason_is_news_and_each_change_is_its_own() {
        let mut r = Refusals::default();
        r.round(refused(&[("a", "ENOENT"), ("b", "EINVAL")]), 1);
        let next = r.round(refused(&[("a", "ENOMEM"), ("b", "EINVAL"), ("c", "EEXIST")]), 2);
        let started: Vec<_> = next.started.iter().map(|s| (s.change.as_str(), s.error.as_str(), s.times)).collect();
        assert_eq!(started, [("a", "ENOMEM", 1), ("c", "EEXIST", 1)]);
        assert!(next.ended.is_empty());
        let kept: Vec<_> = r.list().iter().map(|s| (s.change.clone(), s.times)).collect();
        assert_eq!(kept, [("a".to_string(), 1), ("b".to_string(), 2), ("c".to_string(), 1)]);
    }

    #[test]
    fn the_dump_line_gives_the_count_the_age_and_the_kernels_words() {
        let r = Refusal {
            change: "add service TCP 192.0.2.41:80".into(),
            error: "add service TCP 192.0.2.41:80: this kernel has no scheduler `mh`".into(),
            since_unix_ms: 1_000,
            times: 3,
        };
        assert_eq!(
            r.dump_line(13_400),
            "ipvs refused 3 times since 12 s ago: add service TCP 192.0.2.41:80: this kernel has no scheduler `mh`"
        );
    }
}
