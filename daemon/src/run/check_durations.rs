//! How long health checks take, by kind of check: a Prometheus histogram family the checks
//! task observes and the metrics page shows (`tandem_check_duration_seconds{check}`). By kind,
//! not by real server: 10,000 real servers would make 10,000 histograms.

use crate::health::Runner;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use std::time::Duration;
use tandem_checker::probe::Probe;

/// The histogram's label: the kind of check (keepalived's keyword, lower case: `tcp`, `http`,
/// `ssl`, `dns`, `smtp`, `udp`, `ping`, `file`, `misc`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckKind {
    check: &'static str,
}

/// Upper bounds of the buckets, in seconds: a LAN connect takes well under a millisecond, a
/// check that times out takes its timeout (seconds).
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5, 10.0];

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The durations, shared (clones observe into and show the same histograms).
#[derive(Clone)]
pub struct CheckDurations(Family<CheckKind, Histogram, fn() -> Histogram>);

impl Default for CheckDurations {
    fn default() -> Self {
        CheckDurations(Family::new_with_constructor(histogram))
    }
}

impl CheckDurations {
    /// The family, to register on a metrics page.
    pub fn family(&self) -> Family<CheckKind, Histogram, fn() -> Histogram> {
        self.0.clone()
    }

    /// An attempt of a check run by `runner` took `took`.
    pub fn observe(&self, runner: &Runner, took: Duration) {
        self.0.get_or_create(&CheckKind { check: kind(runner) }).observe(took.as_secs_f64());
    }
}

/// The kind of check a runner runs.
fn kind(r: &Runner) -> &'static str {
    match r {
        Runner::Misc { .. } => "misc",
        Runner::Probe(p) => match p {
            Probe::Tcp(_) => "tcp",
            Probe::Http(_, s) if s.tls.is_some() => "ssl",
            Probe::Http(..) => "http",
            Probe::Dns(..) => "dns",
            Probe::Smtp(..) => "smtp",
            Probe::Udp(..) => "udp",
            Probe::Ping(_) => "ping",
            Probe::File(_) => "file",
        },
    }
}
