//! `tandem-lab campaign`: randomized fault rounds against a tandem pair, each followed by a
//! check of what a director pair must always get back to.
//!
//! The set-up is the `nat-rr` scenario's (two directors, VIP and DIP in one sync group,
//! connection sync on the private segment, two real servers with web servers, a client). A
//! client makes short requests all along. Each round opens a few long-lived connections,
//! lets the master sync them, injects one fault drawn from the round's seed, heals it, and
//! checks the invariants:
//!
//! 1. within a bound of the master-down interval after the heal, exactly one director holds
//!    the VIP (and the DIP with it), and then the pair settles with director1 (priority 150,
//!    preempting) as master;
//! 2. the client reaches the VIP: every short request after the settle succeeds;
//! 3. no IPVS drift: both directors' tables (`ipvsadm -Sn`) are the file's virtual server
//!    with exactly the real servers whose web servers are up, at the file's weights;
//! 4. no long-lived connection is lost where connection sync could keep it (every fault but a
//!    partition, which makes two masters; a real server's death loses the connections to it);
//! 5. nothing leaks or crashes: each director's namespace holds exactly its one tandem
//!    process, which is the one the campaign started (none exited on its own), and no
//!    tandem holds more file descriptors than when first seen settled (plus a little slack
//!    for a health check in flight).
//!
//! Round `r` of seed `s` draws from its own generator (seeded with `s` and `r`), so
//! `--seed S --first R --rounds 1` replays that round alone (from a freshly started pair).

use crate::console::Console;
use crate::events::{self, Event};
use crate::net::{self, Net};
use crate::observe::{await_exit, now_ms, secs, signal, sigterm, wait_for};
use crate::scenario::{Scenario, VIP};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The campaign's settings (the `campaign` subcommand's flags).
#[derive(Debug, Clone, clap::Args)]
pub struct CampaignArgs {
    /// The campaign's seed: the same seed draws the same faults.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How many rounds.
    #[arg(long, default_value_t = 20)]
    pub rounds: u32,
    /// The first round's number (with the same seed, replays from that round on).
    #[arg(long, default_value_t = 1)]
    pub first: u32,
    /// Long-lived connections opened in each round.
    #[arg(long, default_value_t = 6)]
    pub long: u32,
}

/// The master-down interval of the lab's backup: 3 x advert_int 1 + skew (256 - 100) / 256
/// (RFC 3768 section 6.1).
pub(crate) const MASTER_DOWN: Duration = Duration::from_millis(3_610);
/// Exactly one holder within this long after a heal: the master-down interval three times
/// over, for a round whose heal restarts a tandem (it starts, then waits one master-down
/// interval as backup) on an emulated machine.
const ONE_HOLDER_WITHIN: Duration = Duration::from_millis(3 * MASTER_DOWN.as_millis() as u64);
/// How long the pair may take to settle with director1 as master: a director that has
/// restarted first gets the master's table (bulk resync), then preempts.
pub(crate) const SETTLE_WITHIN: Duration = Duration::from_secs(60);
/// Where each tandem serves metrics (in its own namespace) when asked to.
pub(crate) const METRICS: &str = "127.0.0.1:9650";
/// File descriptors a tandem may hold above what it held when first seen settled (a health
/// check's socket or two in flight).
const FD_SLACK: usize = 6;

/// One fault.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// SIGKILL the master's tandem; restart it after a while.
    KillMaster(Duration),
    /// SIGKILL the backup's tandem; restart it after a while.
    KillBackup(Duration),
    /// SIGTERM the master's tandem (it says priority 0 and leaves); restart it.
    StopMaster(Duration),
    /// Director `d`'s machine dies (every process killed, links down); it boots again, empty.
    MachineDeath(u8, Duration),
    /// Director `d`'s interface goes down, then up.
    LinkFlap(u8, &'static str, Duration),
    /// The directors stop hearing each other's adverts (both become master); then heal.
    Partition(Duration),
    /// Loss and delay on both directors' links (netem), then removed.
    Degraded { loss_pct: u32, delay_ms: u32, hold: Duration },
    /// Both directors reload a file with the real servers' weights changed.
    ReloadGood([u32; 2]),
    /// Both directors are asked to reload a file with an error: each keeps its running one.
    ReloadBad,
    /// Real server `i`'s web server dies, then comes back.
    RealServerDeath(usize, Duration),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::KillMaster(d) => write!(f, "kill -9 the master's tandem, restart it after {}", secs(*d)),
            Fault::KillBackup(d) => write!(f, "kill -9 the backup's tandem, restart it after {}", secs(*d)),
            Fault::StopMaster(d) => write!(f, "stop the master's tandem (SIGTERM), restart it after {}", secs(*d)),
            Fault::MachineDeath(n, d) => write!(f, "director{n}'s machine dies, boots again after {}", secs(*d)),
            Fault::LinkFlap(n, i, d) => write!(f, "director{n}'s {i} down for {}", secs(*d)),
            Fault::Partition(d) => write!(f, "the directors cannot hear each other for {}", secs(*d)),
            Fault::Degraded { loss_pct, delay_ms, hold } => {
                write!(f, "{loss_pct}% loss and {delay_ms} ms delay on the directors' links for {}", secs(*hold))
            }
            Fault::ReloadGood(w) => write!(f, "reload both with weights {}:{}", w[0], w[1]),
            Fault::ReloadBad => write!(f, "reload both with a broken file"),
            Fault::RealServerDeath(i, d) => write!(f, "rs{}'s web server dies for {}", i + 1, secs(*d)),
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny generator whose sequence for a seed never
/// changes with a crate's version, which a replayable campaign needs.
pub struct Rng(u64);

impl Rng {
    /// The generator of round `round` of campaign `seed`.
    pub fn for_round(seed: u64, round: u32) -> Rng {
        let mut r = Rng(seed ^ (u64::from(round).wrapping_mul(0xA076_1D64_78BD_642F)));
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(self.range(lo, hi))
    }
}

/// The fault of round `round` of campaign `seed`.
pub fn draw(seed: u64, round: u32) -> Fault {
    let mut r = Rng::for_round(seed, round);
    match r.range(0, 9) {
        0 => Fault::KillMaster(r.millis(500, 6_000)),
        1 => Fault::KillBackup(r.millis(500, 6_000)),
        2 => Fault::StopMaster(r.millis(500, 6_000)),
        3 => Fault::MachineDeath(if r.range(0, 1) == 0 { 1 } else { 2 }, r.millis(1_000, 8_000)),
        4 => Fault::LinkFlap(
            if r.range(0, 1) == 0 { 1 } else { 2 },
            if r.range(0, 1) == 0 { "eth0" } else { "eth1" },
            r.millis(200, 6_000),
        ),
        5 => Fault::Partition(r.millis(1_000, 8_000)),
        6 => Fault::Degraded {
            loss_pct: u32::try_from(r.range(1, 20)).unwrap_or(10),
            delay_ms: u32::try_from(r.range(0, 100)).unwrap_or(0),
            hold: r.millis(3_000, 10_000),
        },
        7 => Fault::ReloadGood([u32::try_from(r.range(1, 3)).unwrap_or(1), u32::try_from(r.range(1, 3)).unwrap_or(1)]),
        8 => Fault::ReloadBad,
        _ => Fault::RealServerDeath(usize::from(r.range(0, 1) == 1), r.millis(3_000, 8_000)),
    }
}

/// What the long-lived connections' requests did, for a report: per connection, each
/// request's outcome in order, relative to `fault_at` (ms).
fn long_history(events: &[Event], fault_at: u64) -> String {
    let mut conns: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for e in events {
        if let Event::Long { t, end, conn, ok, server, error } = e {
            let what = if *ok { server.clone().unwrap_or_default() } else { error.clone().unwrap_or_default() };
            let rel = |x: u64| i64::try_from(x).unwrap_or(0) - i64::try_from(fault_at).unwrap_or(0);
            conns.entry(*conn).or_default().push(format!("{}..{} {what}", rel(*t), rel(*end)));
        }
    }
    let opened = events.iter().find_map(|e| match e {
        Event::Opened { t, conns, failed, .. } => Some(format!(
            "opened {conns} ({failed} failed) at {}",
            i64::try_from(*t).unwrap_or(0) - i64::try_from(fault_at).unwrap_or(0)
        )),
        _ => None,
    });
    let per: Vec<String> = conns.iter().map(|(c, v)| format!("#{c}: {}", v.join(", "))).collect();
    format!("{}; {}", opened.unwrap_or_else(|| "never opened".to_string()), per.join("; "))
}

/// A live process's parent (none once it has ended).
fn parent_of(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("PPid:")).and_then(|v| v.trim().parse().ok())
}

/// Which directors hold `addr` on `ifname` (on a link that is up).
fn holders_of(addr: &str, ifname: &str) -> Vec<u8> {
    (1..=2u8)
        .filter(|d| {
            let out = net::output("ip", &["-n", &net::ns(&format!("d{d}")), "-o", "addr", "show", "dev", ifname, "up"]);
            out.contains(&format!(" {addr}/"))
        })
        .collect()
}

/// Who holds the VIP and the DIP: (VIP holders, DIP holders).
pub(crate) fn holders() -> Holders {
    (holders_of(VIP, "eth0"), holders_of(crate::scenario::DIP, "eth1"))
}

/// A director's IPVS table as `ipvsadm -Sn` saves it, one rule per line, sorted.
fn saved_table(d: u8) -> Vec<String> {
    let out = net::output("ip", &["netns", "exec", &net::ns(&format!("d{d}")), "ipvsadm", "-Sn"]);
    let mut lines: Vec<String> = out.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    lines.retain(|l| !l.is_empty());
    lines.sort();
    lines
}

/// The directors holding the VIP, and those holding the DIP.
pub(crate) type Holders = (Vec<u8>, Vec<u8>);

/// Samples who holds the VIP and the DIP every 100 ms while a round runs, for its report.
pub(crate) struct HolderWatch {
    stop: Arc<std::sync::atomic::AtomicBool>,
    origin: Arc<Mutex<u64>>,
    thread: std::thread::JoinHandle<Vec<(u64, Holders)>>,
}

impl HolderWatch {
    pub(crate) fn start() -> HolderWatch {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut seen: Vec<(u64, Holders)> = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                let h = holders();
                if seen.last().is_none_or(|(_, last)| *last != h) {
                    seen.push((now_ms(), h));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            seen
        });
        HolderWatch { stop, origin: Arc::new(Mutex::new(now_ms())), thread }
    }

    /// Where the report's times count from (the fault, once injected).
    fn origin(&self) -> &Arc<Mutex<u64>> {
        &self.origin
    }

    /// The changes, as "at ms: VIP holders / DIP holders", relative to the origin.
    pub(crate) fn stop(self) -> String {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let origin = self.origin.lock().map(|o| *o).unwrap_or(0);
        let seen = self.thread.join().unwrap_or_default();
        let rel = |t: u64| i64::try_from(t).unwrap_or(0) - i64::try_from(origin).unwrap_or(0);
        seen.iter().map(|(t, (v, d))| format!("{} ms {v:?}/{d:?}", rel(*t))).collect::<Vec<_>>().join(", ")
    }
}

/// A running lab client and the events it reported.
pub(crate) struct Client {
    stdin: Option<ChildStdin>,
    child: Child,
    events: Arc<Mutex<Vec<Event>>>,
}

impl Client {
    pub(crate) fn events(&self) -> Vec<Event> {
        self.events.lock().map(|v| v.clone()).unwrap_or_default()
    }

    pub(crate) fn stop(mut self) {
        // End of input stops the client; one still running after 4 s is killed.
        drop(self.stdin.take());
        let _ = await_exit(&mut self.child, Duration::from_secs(4));
    }
}

/// What one round found.
#[derive(Debug, Default)]
pub struct RoundReport {
    /// Invariants that did not hold, each with what was seen.
    pub broken: Vec<String>,
    /// Seconds from the heal to exactly one holder.
    pub one_holder_s: Option<f64>,
    /// Long-lived connections kept / alive at the fault.
    pub kept: (u32, u32),
}

/// The campaign's state.
pub struct Campaign<'a> {
    pub(crate) net: &'a Net,
    pub(crate) sc: &'static Scenario,
    pub(crate) tandem: PathBuf,
    pub(crate) me: PathBuf,
    pub(crate) work: PathBuf,
    pub(crate) console: Arc<Console>,
    pub(crate) web: [Option<Child>; 2],
    pub(crate) tandems: [Option<Child>; 2],
    /// File descriptors of each tandem process when first seen settled, by pid.
    fds: BTreeMap<u32, usize>,
    pub(crate) weights: [u32; 2],
    pub(crate) short: Option<Client>,
    starts: u32,
    /// Each tandem serves metrics on 127.0.0.1:9650 in its namespace.
    pub(crate) metrics: bool,
}

impl<'a> Campaign<'a> {
    /// A campaign on `net` with the binaries and working directory of `setup`.
    pub fn new(net: &'a Net, setup: &crate::lab::Setup, console: Arc<Console>) -> Campaign<'a> {
        let sc = Scenario::named("nat-rr").unwrap_or(&crate::scenario::ALL[0]);
        Campaign {
            net,
            sc,
            tandem: setup.tandem.clone(),
            me: setup.me.clone(),
            work: setup.work.clone(),
            console,
            web: [None, None],
            tandems: [None, None],
            fds: BTreeMap::new(),
            weights: sc.weights,
            short: None,
            starts: 0,
            metrics: false,
        }
    }

    fn conf_path(&self) -> PathBuf {
        self.work.join("campaign.conf")
    }

    fn socket(&self, d: u8) -> String {
        self.work.join(format!("campaign-director{d}.sock")).display().to_string()
    }

    pub(crate) fn write_conf(&self) -> Result<(), String> {
        let sc = Scenario { weights: self.weights, ..self.sc.clone() };
        std::fs::write(self.conf_path(), sc.conf()).map_err(|e| format!("writing the configuration: {e}"))
    }

    /// Runs rounds `args.first ..` and prints one line per round; the exit code (0: every
    /// invariant held in every round).
    pub fn run(mut self, args: &CampaignArgs) -> u8 {
        let started = Instant::now();
        let result = self.rounds(args);
        let stopped = self.stop_all();
        let mut failed = match result {
            Ok(f) => f,
            Err(e) => {
                self.console.say(&format!("FAIL the campaign could not run: {e}"));
                1
            }
        };
        if let Err(e) = stopped {
            self.console.say(&format!("FAIL at the end: {e}"));
            failed += 1;
        }
        self.console.say(&format!(
            "\ncampaign seed {} rounds {}..{}: {} in {:.0} s",
            args.seed,
            args.first,
            args.first + args.rounds.saturating_sub(1),
            if failed == 0 { "every invariant held".to_string() } else { format!("{failed} rounds FAILED") },
            started.elapsed().as_secs_f64()
        ));
        u8::from(failed > 0)
    }

    fn rounds(&mut self, args: &CampaignArgs) -> Result<u32, String> {
        self.console.heading(&format!("fault campaign, seed {} (the nat-rr set-up)", args.seed));
        self.bring_up()?;
        self.short = Some(self.client(5, 0)?);
        let mut failed = 0;
        let mut kept = (0, 0);
        let mut one = Vec::new();
        for round in args.first..args.first + args.rounds {
            let fault = draw(args.seed, round);
            let t0 = Instant::now();
            let report = self.round(&fault, args.long);
            let took = t0.elapsed().as_secs_f64();
            kept = (kept.0 + report.kept.0, kept.1 + report.kept.1);
            one.extend(report.one_holder_s);
            let held = report.broken.is_empty();
            self.console.say(&format!(
                "round {round:4} {} {fault} ({took:.0} s; one holder {}; long-lived kept {}/{})",
                if held { "ok  " } else { "FAIL" },
                report.one_holder_s.map_or("-".to_string(), |s| format!("after {s:.1} s")),
                report.kept.0,
                report.kept.1
            ));
            for b in &report.broken {
                self.console.say(&format!("           {b}"));
            }
            if !held {
                failed += 1;
                self.console.say(&format!(
                    "           replay: tandem-lab campaign --seed {} --first {round} --rounds 1",
                    args.seed
                ));
            }
        }
        one.sort_by(f64::total_cmp);
        let worst = one.last().copied().unwrap_or(0.0);
        let median = one.get(one.len() / 2).copied().unwrap_or(0.0);
        self.console.say(&format!(
            "figures: one holder after a heal: median {median:.1} s, worst {worst:.1} s (bound {}); long-lived connections kept {}/{} where sync could keep them",
            secs(ONE_HOLDER_WITHIN),
            kept.0,
            kept.1
        ));
        Ok(failed)
    }

    /// The network, the web servers and both tandems, settled with director1 master and
    /// both tables as the file says.
    pub(crate) fn bring_up(&mut self) -> Result<(), String> {
        self.write_conf()?;
        self.sc.build(self.net).map_err(|e| e.to_string())?;
        for i in 0..2 {
            self.start_web(i)?;
        }
        self.start_tandem(1)?;
        self.start_tandem(2)?;
        if self.settle(SETTLE_WITHIN).is_none() {
            return Err("the pair did not come up (director1 master) within 60 s".to_string());
        }
        self.expect_tables(Duration::from_secs(20)).map_err(|e| format!("the tables at start: {e}"))
    }

    /// One round: long-lived connections, the fault, the heal, the invariants.
    fn round(&mut self, fault: &Fault, long: u32) -> RoundReport {
        let watch = HolderWatch::start();
        let logs_before = self.log_sizes();
        let mut r = self.round_watched(fault, long, watch.origin());
        let changes = watch.stop();
        if !r.broken.is_empty() {
            r.broken.push(format!("who held the VIP / the DIP: {changes}"));
            r.broken.push(self.logs_since(&logs_before));
        }
        r
    }

    /// The directors' log files and their sizes now.
    fn log_sizes(&self) -> BTreeMap<PathBuf, u64> {
        let Ok(dir) = std::fs::read_dir(&self.work) else { return BTreeMap::new() };
        dir.flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("campaign-director"))
            .filter_map(|e| Some((e.path(), e.metadata().ok()?.len())))
            .collect()
    }

    /// What the directors logged (but debug lines) since `before`, for a failed round.
    fn logs_since(&self, before: &BTreeMap<PathBuf, u64>) -> String {
        let mut out = String::from("the directors' logs during the round:");
        for path in self.log_sizes().into_keys() {
            let Ok(text) = std::fs::read(&path) else { continue };
            let from = usize::try_from(before.get(&path).copied().unwrap_or(0)).unwrap_or(0).min(text.len());
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            for line in String::from_utf8_lossy(&text[from..]).lines().filter(|l| !l.contains(" DEBUG ")) {
                out.push_str(&format!("\n             {name}: {}", line.chars().take(220).collect::<String>()));
            }
        }
        out
    }

    fn round_watched(&mut self, fault: &Fault, long: u32, origin: &Arc<Mutex<u64>>) -> RoundReport {
        let mut r = RoundReport::default();
        let long_client = match self.open_long(long) {
            Ok(c) => Some(c),
            Err(e) => {
                r.broken.push(format!("long-lived connections: {e}"));
                None
            }
        };
        let opened = long_client.as_ref().and_then(|c| {
            c.events().into_iter().find_map(|e| match e {
                Event::Opened { servers, .. } => Some(servers),
                _ => None,
            })
        });
        let fault_at = now_ms();
        if let Ok(mut o) = origin.lock() {
            *o = fault_at;
        }
        if let Err(e) = self.inject(fault) {
            r.broken.push(format!("the fault could not be injected or healed: {e}"));
        }
        let healed = Instant::now();
        // 1. Exactly one holder of the VIP and the DIP, the same director, within the bound.
        // One holder, and its tandem says it is master (not addresses a killed one left).
        let one = wait_for(ONE_HOLDER_WITHIN, || {
            let (v, d) = holders();
            v.len() == 1 && v == d && self.states(v[0]) == ["MASTER"; 2]
        });
        r.one_holder_s = one.map(|d| d.as_secs_f64());
        if one.is_none() {
            let (v, d) = holders();
            r.broken.push(format!(
                "not exactly one holder {} after the heal: VIP on {v:?}, DIP on {d:?}",
                secs(ONE_HOLDER_WITHIN)
            ));
        }
        let settled = self.settle(SETTLE_WITHIN.saturating_sub(healed.elapsed()));
        let settled_at = now_ms();
        match settled {
            None => {
                let (v, d) = holders();
                r.broken.push(format!("the pair did not settle (director1 master): VIP on {v:?}, DIP on {d:?}"));
            }
            Some(_) => {
                // 2. The client reaches the VIP.
                let from = now_ms() + 1_000;
                std::thread::sleep(Duration::from_millis(3_000));
                if let Some(c) = &self.short {
                    let s = events::short_between(&c.events(), from, now_ms());
                    if s.failed > 0 || s.total() == 0 {
                        r.broken.push(format!("the client after the settle: {}", s.describe()));
                    }
                }
            }
        }
        // 3. No drift.
        if let Err(e) = self.expect_tables(Duration::from_secs(15)) {
            r.broken.push(e);
        }
        // 4. Long-lived connections.
        if let Some(c) = long_client {
            let mut fate = events::LongFate::default();
            wait_for(Duration::from_secs(40), || {
                fate = events::long_fate(&c.events(), fault_at, settled_at);
                fate.pending == 0
            });
            let c_events = c.events();
            c.stop();
            let may_lose = match fault {
                Fault::Partition(_) => fate.alive,
                Fault::RealServerDeath(i, _) => {
                    opened.as_ref().and_then(|s| s.get(&format!("rs{}", i + 1)).copied()).unwrap_or(0)
                }
                _ => 0,
            };
            if !matches!(fault, Fault::Partition(_)) {
                r.kept = (fate.kept, fate.alive.saturating_sub(may_lose));
            }
            if fate.alive != long {
                r.broken.push(format!(
                    "long-lived connections: {} of {long} had answered before the fault ({})",
                    fate.alive,
                    long_history(&c_events, fault_at)
                ));
            }
            if fate.lost + fate.pending > may_lose || fate.moved > 0 {
                r.broken.push(format!(
                    "long-lived connections: {} of {} kept, {} lost, {} moved, {} unanswered (may lose {may_lose})",
                    fate.kept, fate.alive, fate.lost, fate.moved, fate.pending
                ));
            }
        }
        // 5. Leaks and crashes.
        r.broken.extend(self.leaks());
        r
    }

    /// Waits until director1 holds the VIP and the DIP and director2 neither.
    ///
    /// The addresses alone do not say it: a tandem killed with `kill -9` leaves its addresses
    /// on the interfaces until the next one starts and removes them, so the daemons are asked
    /// too (`tandem status`): director1's instances MASTER, director2's BACKUP. (Judged by the
    /// addresses only, a round could pass while a restarted director1 was still a backup with
    /// its predecessor's addresses, and the next round's connections then opened on a
    /// director2 that director1 preempted a second later, before sync could carry them.)
    pub(crate) fn settle(&self, within: Duration) -> Option<Duration> {
        wait_for(within, || {
            holders() == (vec![1], vec![1]) && self.states(1) == ["MASTER"; 2] && self.states(2) == ["BACKUP"; 2]
        })
    }

    /// The states of director `d`'s VRRP instances, as its `tandem status --json` says
    /// (empty when it does not answer).
    pub(crate) fn states(&self, d: u8) -> Vec<String> {
        let out = std::process::Command::new(&self.tandem)
            .args(["status", "--json", "--control-socket", &self.socket(d)])
            .stderr(Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        v["vrrp_instances"]
            .as_array()
            .map(|a| a.iter().filter_map(|i| i["state"].as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }

    /// Both directors' tables are the file's virtual server with the live real servers.
    pub(crate) fn expect_tables(&self, within: Duration) -> Result<(), String> {
        let mut want = vec![format!("-A -t {VIP}:80 -s {}", self.sc.scheduler)];
        for i in 0..2 {
            if self.web[i].is_some() {
                want.push(format!(
                    "-a -t {VIP}:80 -r {}:{} -m -w {}",
                    self.sc.rs_addr(i),
                    self.sc.rs_port,
                    self.weights[i]
                ));
            }
        }
        want.sort();
        let mut seen = BTreeMap::new();
        let ok = wait_for(within, || {
            for d in 1..=2u8 {
                seen.insert(d, saved_table(d));
            }
            seen.values().all(|t| *t == want)
        });
        if ok.is_some() {
            return Ok(());
        }
        let got: Vec<String> = seen.iter().map(|(d, t)| format!("director{d}: {t:?}")).collect();
        Err(format!("IPVS drift: want {want:?}, {} after {}", got.join("; "), secs(within)))
    }

    /// Each director's namespace holds exactly the tandem the campaign started, alive, with
    /// no more file descriptors than when first seen (plus slack).
    fn leaks(&mut self) -> Vec<String> {
        let mut broken = Vec::new();
        for d in 1..=2u8 {
            let i = usize::from(d - 1);
            let Some(child) = self.tandems[i].as_mut() else {
                broken.push(format!("director{d} runs no tandem after the heal"));
                continue;
            };
            if let Ok(Some(status)) = child.try_wait() {
                broken.push(format!("director{d}'s tandem exited on its own: {status}"));
                self.tandems[i] = None;
                continue;
            }
            let pid = child.id();
            // `ip netns exec` execs the program: the child's pid is tandem's. The campaign's
            // own `ip -n` calls (the holder watch) pass through the namespace: not counted,
            // nor a process that ended while being listed.
            let me = std::process::id();
            let pids: Vec<u32> = net::output("ip", &["netns", "pids", &net::ns(&format!("d{d}"))])
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .filter(|p| *p == pid || parent_of(*p).is_some_and(|pp| pp != me))
                .collect();
            if pids != [pid] {
                let comms: Vec<String> = pids
                    .iter()
                    .map(|p| {
                        format!("{p} {}", std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default().trim())
                    })
                    .collect();
                broken.push(format!("director{d}'s namespace holds {comms:?}, not only tandem {pid}"));
            }
            let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
            let first = *self.fds.entry(pid).or_insert(fds);
            if fds > first + FD_SLACK {
                broken.push(format!("director{d}'s tandem holds {fds} file descriptors, {first} when first seen"));
            }
        }
        broken
    }

    /// Injects `fault` and heals it (the heal returns once the healing action is done, not
    /// once the pair has converged).
    fn inject(&mut self, fault: &Fault) -> Result<(), String> {
        let master = match holders().0.as_slice() {
            [d] => *d,
            _ => 1,
        };
        let backup = 3 - master;
        match fault {
            Fault::KillMaster(wait) => {
                self.signal(master, nix::sys::signal::Signal::SIGKILL);
                std::thread::sleep(*wait);
                self.start_tandem(master)
            }
            Fault::KillBackup(wait) => {
                self.signal(backup, nix::sys::signal::Signal::SIGKILL);
                std::thread::sleep(*wait);
                self.start_tandem(backup)
            }
            Fault::StopMaster(wait) => {
                self.signal(master, nix::sys::signal::Signal::SIGTERM);
                std::thread::sleep(*wait);
                self.start_tandem(master)
            }
            Fault::MachineDeath(d, wait) => {
                self.net.kill_all(&format!("d{d}"));
                let _ = self.net.ip_in(&format!("d{d}"), &["link", "set", "eth0", "down"]);
                let _ = self.net.ip_in(&format!("d{d}"), &["link", "set", "eth1", "down"]);
                if let Some(mut c) = self.tandems[usize::from(d - 1)].take() {
                    let _ = c.wait();
                }
                std::thread::sleep(*wait);
                self.sc.director(self.net, *d).map_err(|e| e.to_string())?;
                self.start_tandem(*d)
            }
            Fault::LinkFlap(d, ifname, hold) => {
                self.net.ip_in(&format!("d{d}"), &["link", "set", ifname, "down"]).map_err(|e| e.to_string())?;
                std::thread::sleep(*hold);
                self.net.ip_in(&format!("d{d}"), &["link", "set", ifname, "up"]).map_err(|e| e.to_string())
            }
            Fault::Partition(hold) => {
                // Director2 neither receives nor sends VRRP: each side hears no master.
                let rules = "table inet campaign {\n chain in { type filter hook input priority 0; meta l4proto 112 drop; }\n chain out { type filter hook output priority 0; meta l4proto 112 drop; }\n}\n";
                self.nft("d2", rules)?;
                std::thread::sleep(*hold);
                self.nft("d2", "delete table inet campaign\n")
            }
            Fault::Degraded { loss_pct, delay_ms, hold } => {
                let (loss, delay) = (format!("{loss_pct}%"), format!("{delay_ms}ms"));
                for d in ["d1", "d2"] {
                    for i in ["eth0", "eth1"] {
                        let args = ["qdisc", "add", "dev", i, "root", "netem", "loss", &loss, "delay", &delay];
                        net::run(
                            "ip",
                            &["netns", "exec", &net::ns(d), "tc"].iter().copied().chain(args).collect::<Vec<_>>(),
                        )
                        .map_err(|e| e.to_string())?;
                    }
                }
                std::thread::sleep(*hold);
                for d in ["d1", "d2"] {
                    for i in ["eth0", "eth1"] {
                        net::run("ip", &["netns", "exec", &net::ns(d), "tc", "qdisc", "del", "dev", i, "root"])
                            .map_err(|e| e.to_string())?;
                    }
                }
                Ok(())
            }
            Fault::ReloadGood(w) => {
                self.weights = *w;
                self.write_conf()?;
                for d in 1..=2u8 {
                    if !self.reload(d)? {
                        return Err(format!("director{d} refused a good file"));
                    }
                }
                Ok(())
            }
            Fault::ReloadBad => {
                let good = std::fs::read_to_string(self.conf_path()).map_err(|e| e.to_string())?;
                std::fs::write(self.conf_path(), good.replacen("virtual_router_id 51", "virtual_router_id 300", 1))
                    .map_err(|e| e.to_string())?;
                let refused = (1..=2u8).map(|d| self.reload(d)).collect::<Result<Vec<bool>, String>>();
                self.write_conf()?;
                match refused {
                    Ok(v) if v.iter().all(|ok| !ok) => Ok(()),
                    Ok(_) => Err("a director applied a file with an error".to_string()),
                    Err(e) => Err(e),
                }
            }
            Fault::RealServerDeath(i, hold) => {
                if let Some(mut c) = self.web[*i].take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                // The table must lose it while it is dead.
                let rs = format!("-r {}:{} ", self.sc.rs_addr(*i), self.sc.rs_port);
                let out = wait_for((*hold).max(Duration::from_secs(8)), || {
                    (1..=2u8).all(|d| !saved_table(d).iter().any(|l| format!("{l} ").contains(&rs)))
                });
                self.start_web(*i)?;
                if out.is_none() {
                    return Err(format!("rs{} stayed in a table while its web server was dead", i + 1));
                }
                Ok(())
            }
        }
    }

    fn nft(&self, d: &str, rules: &str) -> Result<(), String> {
        let path = self.work.join(format!("campaign-{d}.nft"));
        std::fs::write(&path, rules).map_err(|e| e.to_string())?;
        net::run("ip", &["netns", "exec", &net::ns(d), "nft", "-f", &path.display().to_string()])
            .map_err(|e| e.to_string())
    }

    /// `tandem reload` on director `d`: whether it applied the file.
    pub(crate) fn reload(&self, d: u8) -> Result<bool, String> {
        let out = std::process::Command::new(&self.tandem)
            .args(["reload", "--control-socket", &self.socket(d)])
            .output()
            .map_err(|e| format!("tandem reload: {e}"))?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(format!("tandem reload on director{d}: {}", String::from_utf8_lossy(&out.stderr).trim())),
        }
    }

    pub(crate) fn signal(&mut self, d: u8, sig: nix::sys::signal::Signal) {
        let Some(mut c) = self.tandems[usize::from(d - 1)].take() else { return };
        signal(&c, sig);
        // One still running after 10 s is killed; the drill goes on either way.
        let _ = await_exit(&mut c, Duration::from_secs(10));
    }

    pub(crate) fn start_tandem(&mut self, d: u8) -> Result<(), String> {
        self.starts += 1;
        let conf = self.conf_path().display().to_string();
        let tandem = self.tandem.display().to_string();
        let id = format!("director{d}");
        let socket = self.socket(d);
        let log = self.work.join(format!("campaign-director{d}-{}.log", self.starts));
        let mut args = vec!["run", "-f", &conf, "--config-id", &id, "--control-socket", &socket];
        if self.metrics {
            args.extend(["--metrics-listen", METRICS]);
        }
        let child = self.net.spawn(&format!("d{d}"), &tandem, &args, Some(&log)).map_err(|e| e.to_string())?;
        self.tandems[usize::from(d - 1)] = Some(child);
        Ok(())
    }

    pub(crate) fn start_web(&mut self, i: usize) -> Result<(), String> {
        let root = self.work.join(format!("www{}", i + 1));
        std::fs::create_dir_all(&root).map_err(|e| format!("web root: {e}"))?;
        std::fs::write(root.join("index.html"), format!("rs{}\n", i + 1)).map_err(|e| format!("web root: {e}"))?;
        let port = self.sc.rs_port.to_string();
        let root_s = root.display().to_string();
        let args = ["-m", "http.server", "--protocol", "HTTP/1.1", "--directory", root_s.as_str(), port.as_str()];
        let child = self.net.spawn(&format!("rs{}", i + 1), "python3", &args, None).map_err(|e| e.to_string())?;
        self.web[i] = Some(child);
        let ns = net::ns(&format!("rs{}", i + 1));
        wait_for(Duration::from_secs(20), || {
            net::output("ip", &["netns", "exec", &ns, "ss", "-Hltn"]).contains(&format!(":{port} "))
        })
        .map(|_| ())
        .ok_or_else(|| format!("rs{}'s web server did not start", i + 1))
    }

    /// A lab client in the client's namespace: `rate` short requests a second and `long`
    /// long-lived connections.
    pub(crate) fn client(&self, rate: u32, long: u32) -> Result<Client, String> {
        let mut c = self.net.command("cl", &self.me.display().to_string());
        c.args(["client", "--addr", VIP, "--port", "80", "--rate", &rate.to_string(), "--long", &long.to_string()])
            .args(["--every-ms", "1000"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = c.spawn().map_err(|e| format!("the client: {e}"))?;
        let stdin = child.stdin.take();
        let Some(stdout) = child.stdout.take() else { return Err("the client has no stdout".to_string()) };
        let events = Arc::new(Mutex::new(Vec::new()));
        let feed = Arc::clone(&events);
        let record = std::fs::File::create(self.work.join(format!("campaign-client-{rate}-{long}.events"))).ok();
        std::thread::spawn(move || {
            let mut record = record;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(f) = record.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
                if let Ok(e) = serde_json::from_str::<Event>(&line) {
                    if let Ok(mut v) = feed.lock() {
                        v.push(e);
                    }
                }
            }
        });
        Ok(Client { stdin, child, events })
    }

    /// Opens `n` long-lived connections and gives the master time to sync them.
    pub(crate) fn open_long(&self, n: u32) -> Result<Client, String> {
        let c = self.client(0, n)?;
        let opened = wait_for(Duration::from_secs(30), || {
            c.events().iter().any(|e| matches!(e, Event::Opened { conns, failed, .. } if conns + failed > 0))
        });
        let Some(Event::Opened { conns, failed, .. }) =
            c.events().into_iter().find(|e| matches!(e, Event::Opened { .. }))
        else {
            c.stop();
            return Err(format!("did not open within 30 s (opened: {opened:?})"));
        };
        if failed > 0 || conns != n {
            c.stop();
            return Err(format!("{conns} opened, {failed} failed"));
        }
        // Each connection sends a request a second: the master's sync daemon sends their
        // state to the backup within a few.
        std::thread::sleep(Duration::from_secs(3));
        Ok(c)
    }

    /// Stops everything; an error if a tandem did not stop cleanly on SIGTERM.
    pub(crate) fn stop_all(&mut self) -> Result<(), String> {
        if let Some(c) = self.short.take() {
            c.stop();
        }
        let mut unclean = Vec::new();
        let logs_before = self.log_sizes();
        for d in 1..=2u8 {
            let Some(mut c) = self.tandems[usize::from(d - 1)].take() else { continue };
            sigterm(&c);
            match await_exit(&mut c, Duration::from_secs(10)) {
                Ok(s) if s.success() => {}
                Ok(s) => unclean.push(format!("director{d}: {s}")),
                Err(e) => unclean.push(format!("director{d}: {e}")),
            }
        }
        for c in self.web.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // A tandem that stopped cleanly removed its control socket.
        for d in 1..=2u8 {
            if std::path::Path::new(&self.socket(d)).exists()
                && !unclean.iter().any(|u| u.starts_with(&format!("director{d}")))
            {
                unclean.push(format!("director{d} left its control socket behind"));
            }
        }
        if !unclean.is_empty() {
            unclean.push(self.logs_since(&logs_before));
        }
        self.net.cleanup();
        if unclean.is_empty() { Ok(()) } else { Err(unclean.join("; ")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_draws_the_same_fault_for_the_same_seed_and_others_for_others() {
        for round in 1..50 {
            assert_eq!(draw(7, round), draw(7, round));
        }
        let a: Vec<Fault> = (1..50).map(|r| draw(7, r)).collect();
        let b: Vec<Fault> = (1..50).map(|r| draw(8, r)).collect();
        assert_ne!(a, b);
    }

    /// The seed of the test suite's short campaign (lab/tests/campaign_vm.rs): its first
    /// six rounds draw six kinds of fault, the master's machine death, a partition, a kill -9,
    /// a bad reload and loss among them.
    const SUITE_SEED: u64 = 1964;

    #[test]
    fn the_suites_seed_draws_six_kinds_of_fault_with_the_hard_ones() {
        let f: Vec<Fault> = (1..=6).map(|r| draw(SUITE_SEED, r)).collect();
        let kinds: std::collections::BTreeSet<String> =
            f.iter().map(|x| format!("{:?}", std::mem::discriminant(x))).collect();
        assert_eq!(kinds.len(), 6, "{f:?}");
        assert!(f.iter().any(|x| matches!(x, Fault::MachineDeath(1, _))), "{f:?}");
        assert!(f.iter().any(|x| matches!(x, Fault::Partition(_))), "{f:?}");
        assert!(f.iter().any(|x| matches!(x, Fault::KillMaster(_))), "{f:?}");
        assert!(f.iter().any(|x| matches!(x, Fault::ReloadBad)), "{f:?}");
        assert!(f.iter().any(|x| matches!(x, Fault::Degraded { .. })), "{f:?}");
    }

    #[test]
    fn a_campaign_draws_every_kind_of_fault() {
        let drawn: Vec<Fault> = (1..200).map(|r| draw(1, r)).collect();
        let kinds: std::collections::BTreeSet<_> =
            drawn.iter().map(std::mem::discriminant).map(|d| format!("{d:?}")).collect();
        assert_eq!(kinds.len(), 10, "{drawn:?}");
    }
}
