//! One scenario, run and narrated: a tandem pair, two real servers with real web servers, a
//! client; the spread, a web server's death and return, the master's death, its return.

use crate::console::Console;
use crate::events::{self, Event, LongFate};
use crate::net::{self, Net};
use crate::observe::{await_exit, holder, name, now_ms, secs, sigterm, table, wait_for};
use crate::report::{self, Mark};
use crate::scenario::{Kind, Scenario, VIP};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long the phases last.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// The spread window.
    pub spread: Duration,
    /// Short requests per second.
    pub rate: u32,
    /// Long-lived connections.
    pub long: u32,
    /// Settling time after each event.
    pub settle: Duration,
}

impl Pace {
    /// The full lab.
    pub const FULL: Pace = Pace { spread: Duration::from_secs(6), rate: 20, long: 40, settle: Duration::from_secs(3) };
    /// The suite's shorter run.
    pub const QUICK: Pace = Pace { spread: Duration::from_secs(4), rate: 10, long: 10, settle: Duration::from_secs(2) };
}

/// One expectation and whether it held.
#[derive(Debug, Clone)]
pub struct Check {
    /// The scenario.
    pub scenario: &'static str,
    /// What was expected.
    pub what: String,
    /// What was seen.
    pub seen: String,
    /// Held.
    pub ok: bool,
}

/// What a scenario's run gives: its expectations and its figures for the summary table.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every expectation, held or not.
    pub checks: Vec<Check>,
    /// Figures by column of the summary table ([`COLUMNS`]).
    pub figures: std::collections::BTreeMap<&'static str, String>,
}

/// The summary table's columns (besides the scenario's name and its expectations).
pub const COLUMNS: &[&str] =
    &["spread", "failed", "rs out", "rs back", "takeover", "kept", "resync", "back", "kept back"];

/// Where the lab's binaries are and where it writes.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The tandem binary.
    pub tandem: PathBuf,
    /// This binary (the client).
    pub me: PathBuf,
    /// A directory for configurations, web roots and logs.
    pub work: PathBuf,
}

/// The client's events, as they come.
#[derive(Debug, Default, Clone)]
struct Feed(Arc<Mutex<Vec<Event>>>);

impl Feed {
    fn snapshot(&self) -> Vec<Event> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// A running client: its stdin (closed to stop it) and the process.
struct Client {
    stdin: Option<ChildStdin>,
    child: Child,
}

impl Client {
    fn stop(mut self) {
        drop(self.stdin.take());
        for _ in 0..40 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The state of one scenario's run.
pub struct Lab<'a> {
    net: &'a Net,
    sc: &'static Scenario,
    setup: &'a Setup,
    console: Arc<Console>,
    pace: Pace,
    feed: Feed,
    marks: Vec<Mark>,
    /// Which director holds the VIP, sampled by the watcher: (ms, 0 none / 1 / 2).
    holders: Arc<Mutex<Vec<(u64, u8)>>>,
    checks: Vec<Check>,
    figures: std::collections::BTreeMap<&'static str, String>,
    web: [Option<Child>; 2],
    tandems: Vec<(u8, Child)>,
    clients: Vec<Client>,
    watching: Arc<AtomicBool>,
    phase: Arc<Mutex<String>>,
}

impl<'a> Lab<'a> {
    /// A run of `sc` on `net`.
    pub fn new(net: &'a Net, sc: &'static Scenario, setup: &'a Setup, console: Arc<Console>, pace: Pace) -> Lab<'a> {
        Lab {
            net,
            sc,
            setup,
            console,
            pace,
            feed: Feed::default(),
            marks: Vec::new(),
            holders: Arc::new(Mutex::new(Vec::new())),
            checks: Vec::new(),
            figures: std::collections::BTreeMap::new(),
            web: [None, None],
            tandems: Vec::new(),
            clients: Vec::new(),
            watching: Arc::new(AtomicBool::new(true)),
            phase: Arc::new(Mutex::new(String::new())),
        }
    }

    fn check(&mut self, what: impl Into<String>, seen: impl Into<String>, ok: bool) {
        let (what, seen) = (what.into(), seen.into());
        self.console.say(&format!("   {} {what}: {seen}", if ok { "ok  " } else { "FAIL" }));
        self.checks.push(Check { scenario: self.sc.name, what, seen, ok });
    }

    fn figure(&mut self, column: &'static str, value: impl Into<String>) {
        self.figures.insert(column, value.into());
    }

    fn mark(&mut self, what: &str) -> u64 {
        let at = now_ms();
        self.marks.push(Mark { at, what: what.to_string() });
        if let Ok(mut p) = self.phase.lock() {
            *p = what.to_string();
        }
        at
    }

    fn control_socket(&self, d: u8) -> PathBuf {
        self.setup.work.join(format!("{}-director{d}.sock", self.sc.name))
    }

    /// `tandem status` of director `d`, as text and as JSON.
    fn status(&self, d: u8) -> (String, Option<serde_json::Value>) {
        let socket = self.control_socket(d).display().to_string();
        let run = |json: bool| {
            let mut c = std::process::Command::new(&self.setup.tandem);
            c.args(["status", "--control-socket", &socket]);
            if json {
                c.arg("--json");
            }
            c.output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
        };
        (run(false), serde_json::from_str(&run(true)).ok())
    }

    fn conf_path(&self) -> PathBuf {
        self.setup.work.join(format!("{}.conf", self.sc.name))
    }

    fn log(&self, what: &str) -> PathBuf {
        self.setup.work.join(format!("{}-{what}.log", self.sc.name))
    }

    /// Runs the scenario: the expectations, each held or not, and the figures.
    pub fn run(mut self) -> Report {
        if let Err(e) = self.steps() {
            self.check("the lab ran to the end", e, false);
        }
        self.stop_all();
        Report { checks: self.checks, figures: self.figures }
    }

    fn steps(&mut self) -> Result<(), String> {
        let sc = self.sc;
        self.console.heading(&format!("{}: {}", sc.name, sc.title));
        let conf = sc.conf();
        std::fs::write(self.conf_path(), &conf).map_err(|e| format!("writing the configuration: {e}"))?;
        self.console.say(&format!(
            "The configuration, {} (director1 runs `tandem run -f FILE --config-id director1`, director2 the same with director2):\n",
            self.conf_path().display()
        ));
        for line in conf.lines() {
            self.console.say(&format!("    {line}"));
        }
        let checked = std::process::Command::new(&self.setup.tandem)
            .args(["check", "-f"])
            .arg(self.conf_path())
            .args(["--config-id", "director1"])
            .output()
            .map_err(|e| format!("tandem check: {e}"))?;
        if !checked.status.success() {
            return Err(format!("tandem check refused the file: {}", String::from_utf8_lossy(&checked.stderr)));
        }

        self.console.heading("the network");
        sc.build(self.net).map_err(|e| e.to_string())?;
        self.console.say(&match sc.kind {
            Kind::Nat if sc.router => format!(
                "client {} -- 203.0.113.0/24 -- router (DNAT {}:80 to {VIP}:80) -- 172.16.0.0/24 -- director1 .2 / director2 .3 (VIP {VIP}) -- 192.168.250.0/24 (DIP .8) -- rs1 {}, rs2 {}",
                sc.client(),
                crate::scenario::PUBLIC,
                sc.rs_addr(0),
                sc.rs_addr(1)
            ),
            Kind::Nat => format!(
                "client {} -- 172.16.0.0/24 -- director1 .2 / director2 .3 (VIP {VIP}) -- 192.168.250.0/24 (DIP .8) -- rs1 {}, rs2 {}",
                sc.client(),
                sc.rs_addr(0),
                sc.rs_addr(1)
            ),
            Kind::Dr => format!(
                "one segment 172.16.0.0/24: client {}, director1 .2, director2 .3 (VIP {VIP}), rs1 {}, rs2 {} (VIP on lo, arp_ignore 1, arp_announce 2)",
                sc.client(),
                sc.rs_addr(0),
                sc.rs_addr(1)
            ),
        });
        for i in 0..2 {
            self.start_web(i)?;
        }
        self.watch();

        self.console.heading("both directors start");
        self.start_tandem(1, "d1")?;
        self.start_tandem(2, "d2")?;
        self.mark("directors started");
        let up = wait_for(Duration::from_secs(30), || holder() == 1);
        let master =
            up.map_or_else(|| format!("{} holds it after 30 s", name(holder())), |d| format!("after {}", secs(d)));
        self.check("director1 (priority 150) becomes master and holds the VIP", master, up.is_some());
        let rs = [self.rs(0), self.rs(1)];
        let both = wait_for(Duration::from_secs(15), || {
            let t = table(1);
            rs.iter().all(|r| t.contains(r.as_str()))
        });
        self.check(
            "director1's IPVS table holds both real servers (health checks passed)",
            both.map_or("not after 15 s".to_string(), |_| "yes".to_string()),
            both.is_some(),
        );
        if up.is_none() || both.is_none() {
            return Err("the pair did not come up".to_string());
        }
        self.console.say(&format!("director1's table:\n{}", indent(&table(1))));

        // Spread.
        self.console.heading(&format!("the client sends {} requests a second", self.pace.rate));
        self.start_client(self.pace.rate, 0)?;
        std::thread::sleep(Duration::from_millis(500));
        let from = self.mark("spread");
        std::thread::sleep(self.pace.spread);
        let to = now_ms();
        let spread = events::short_between(&self.feed.snapshot(), from, to);
        self.console.say(&format!("in {}: {}", secs(self.pace.spread), spread.describe()));
        self.figure("spread", format!("{}/{}", spread.of("rs1"), spread.of("rs2")));
        self.check(
            "no request fails",
            format!("{} of {}", spread.failed, spread.total()),
            spread.failed == 0 && spread.total() > 0,
        );
        self.check_spread(&spread);
        // The web server that got most requests dies.
        let victim = usize::from(spread.of("rs2") > spread.of("rs1"));
        self.real_server_dies(victim)?;

        // Long-lived connections, then the master dies.
        self.console.heading(&format!(
            "{} long-lived connections (HTTP/1.1 keep-alive, a request every 2 s each)",
            self.pace.long
        ));
        self.start_client(0, self.pace.long)?;
        // The short requests' client said it opened none; this one opens them all.
        let theirs = |e: &Event| matches!(e, Event::Opened { conns, failed, .. } if conns + failed > 0);
        wait_for(Duration::from_secs(60), || self.feed.snapshot().iter().any(theirs));
        let Some(Event::Opened { conns, servers, failed, .. }) = self.feed.snapshot().into_iter().find(theirs) else {
            return Err("the long-lived connections did not open within 60 s".to_string());
        };
        let per: Vec<String> = servers.iter().map(|(k, v)| format!("{k} {v}")).collect();
        self.check(
            "every long-lived connection opens",
            format!("{conns} opened ({}), {failed} failed", per.join(", ")),
            failed == 0 && conns == self.pace.long,
        );
        // Each connection has sent a few packets: the master's kernel has synced it.
        std::thread::sleep(self.pace.settle + Duration::from_secs(1));
        let (text, json) = self.status(1);
        self.console.say(&format!("`tandem status` on director1:\n{}", indent(text.trim_end())));
        let active: u64 = json
            .as_ref()
            .and_then(|v| v["virtual_servers"][0]["real_servers"].as_array().cloned())
            .map_or(0, |rs| rs.iter().filter_map(|r| r["active_connections"].as_u64()).sum());
        self.check(
            "`tandem status` counts the long-lived connections as active in director1's table",
            format!("{active} active"),
            active >= u64::from(conns),
        );
        self.master_dies()?;
        self.master_returns()?;
        Ok(())
    }

    /// "192.168.250.18:80", as ipvsadm lists real server `i`.
    fn rs(&self, i: usize) -> String {
        format!("{}:{}", self.sc.rs_addr(i), self.sc.rs_port)
    }

    fn check_spread(&mut self, s: &events::Spread) {
        let total = f64::from(s.of("rs1") + s.of("rs2"));
        if self.sc.persistence.is_some() {
            let one = s.of("rs1") == 0 || s.of("rs2") == 0;
            self.check(
                "persistence: every request from the client goes to one real server",
                s.describe(),
                one && total > 0.0,
            );
            return;
        }
        let w = self.sc.weights;
        let want = f64::from(w[0]) / f64::from(w[0] + w[1]);
        let got = if total > 0.0 { f64::from(s.of("rs1")) / total } else { 0.0 };
        self.check(
            format!(
                "{} with weights {}:{} gives rs1 {:.0}% of the requests (within 10 points)",
                self.sc.scheduler,
                w[0],
                w[1],
                want * 100.0
            ),
            format!("{:.0}%", got * 100.0),
            (got - want).abs() <= 0.10,
        );
    }

    fn real_server_dies(&mut self, i: usize) -> Result<(), String> {
        let who = format!("rs{}", i + 1);
        let other = format!("rs{}", 2 - i);
        self.console.heading(&format!("{who}'s web server dies"));
        let killed = self.mark(&format!("{who} web server killed"));
        if let Some(mut c) = self.web[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let rs = self.rs(i);
        let out = wait_for(Duration::from_secs(20), || !table(1).contains(rs.as_str()));
        let Some(out) = out else {
            self.check(format!("the health check takes {who} out"), "still in the table after 20 s", false);
            return Ok(());
        };
        let out_at = self.mark(&format!("{who} out of the table"));
        // delay_loop 2 + connect_timeout 1 x (retry 1 + 1) + delay_before_retry 1 = 5 s at most.
        self.check(
            format!("the health check takes {who} out within 5.5 s"),
            secs(out),
            out <= Duration::from_millis(5_500),
        );
        self.figure("rs out", secs(out));
        std::thread::sleep(self.pace.settle);
        let events = self.feed.snapshot();
        let during = events::short_failed_overlapping(&events, killed, out_at);
        self.console.say(&format!("requests that failed while {who} was dead but still in the table: {during}"));
        self.figure("failed", during.to_string());
        let after = events::short_between(&events, out_at + 200, now_ms());
        self.check(
            format!("once {who} is out, every request succeeds (on {other})"),
            after.describe(),
            after.failed == 0 && after.of(&other) > 0,
        );

        self.console.heading(&format!("{who}'s web server comes back"));
        self.start_web(i)?;
        self.mark(&format!("{who} web server back"));
        let back = wait_for(Duration::from_secs(20), || table(1).contains(rs.as_str()));
        self.figure("rs back", back.map_or("-".to_string(), secs));
        self.check(
            format!("the health check puts {who} back within 3.5 s"),
            back.map_or("not after 20 s".to_string(), secs),
            back.is_some_and(|d| d <= Duration::from_millis(3_500)),
        );
        let in_at = self.mark(&format!("{who} back in the table"));
        std::thread::sleep(self.pace.settle);
        let after = events::short_between(&self.feed.snapshot(), in_at + 200, now_ms());
        if self.sc.persistence.is_some() {
            self.check(
                format!("persistence: the client stays on {other}"),
                after.describe(),
                after.failed == 0 && after.of(&who) == 0 && after.of(&other) > 0,
            );
        } else {
            self.check(format!("{who} answers again"), after.describe(), after.failed == 0 && after.of(&who) > 0);
        }
        Ok(())
    }

    fn master_dies(&mut self) -> Result<(), String> {
        self.console.heading("director1's machine dies (every process killed, its links down)");
        let died = self.mark("director1 dies");
        self.net.kill_all("d1");
        let _ = self.net.ip_in("d1", &["link", "set", "eth0", "down"]);
        if self.sc.kind == Kind::Nat {
            let _ = self.net.ip_in("d1", &["link", "set", "eth1", "down"]);
        }
        self.tandems.retain(|(d, _)| *d != 1);
        let took = wait_for(Duration::from_secs(20), || holder() == 2);
        self.figure("takeover", took.map_or("-".to_string(), secs));
        self.check(
            "director2 takes over within 4.5 s (3 adverts + skew, advert_int 1)",
            took.map_or("not after 20 s".to_string(), secs),
            took.is_some_and(|d| d <= Duration::from_millis(4_500)),
        );
        let over = self.mark("director2 holds the VIP");
        let pinned = self.pinned(died);
        let fate = self.long_survive(died, over, "the failover")?;
        self.figure("kept", format!("{}/{}", fate.kept, fate.alive));
        let failed = events::short_failed_overlapping(&self.feed.snapshot(), died, over);
        self.console.say(&format!("short requests failed while nobody held the VIP: {failed}"));
        self.after_move(over, "director2", pinned);
        Ok(())
    }

    /// With persistence, the real server the client's short requests went to before `t`.
    fn pinned(&self, t: u64) -> Option<String> {
        self.sc.persistence?;
        let before = events::short_between(&self.feed.snapshot(), t.saturating_sub(3000), t);
        before.servers.into_iter().max_by_key(|(_, n)| *n).map(|(s, _)| s)
    }

    /// Once `who` holds the VIP (since `over`), every request succeeds, and a pinned client
    /// stays on its real server.
    fn after_move(&mut self, over: u64, who: &str, pinned: Option<String>) {
        let after = events::short_between(&self.feed.snapshot(), over + 1000, now_ms());
        self.check(
            format!("from a second after {who} holds the VIP, every request succeeds"),
            after.describe(),
            after.failed == 0 && after.total() > 0,
        );
        if let Some(p) = pinned {
            let one = after.servers.len() == 1 && after.failed == 0;
            self.check("persistence: the client stays pinned to one real server", after.describe(), one);
            if one && after.of(&p) == 0 {
                // ip_vs_sync.c, ip_vs_proc_conn: a backup updates an existing template's flags
                // and timer from the master's records, never its destination.
                self.console.say(&format!(
                    "   note: pinned to {p} before, to {} now: the client moved when its real server died, and the \
                     backup's kernel never updates the destination of a persistence template it already holds \
                     (see docs/connection-sync.md)",
                    after.servers.keys().next().map_or("?", String::as_str)
                ));
            }
        }
    }

    /// Waits until every long-lived connection alive at `since` has answered after `after`
    /// or failed; checks that none failed.
    fn long_survive(&mut self, since: u64, after: u64, what: &str) -> Result<LongFate, String> {
        let mut fate = LongFate::default();
        wait_for(Duration::from_secs(40), || {
            fate = events::long_fate(&self.feed.snapshot(), since, after);
            fate.pending == 0 && fate.alive > 0
        });
        let servers: Vec<String> = fate.servers.iter().map(|(k, v)| format!("{k} {v}")).collect();
        self.check(
            format!("every long-lived connection survives {what}"),
            format!(
                "{} of {} kept ({}), {} lost, {} moved to another real server",
                fate.kept,
                fate.alive,
                servers.join(", "),
                fate.lost,
                fate.moved
            ),
            fate.alive > 0 && fate.kept == fate.alive && fate.moved == 0,
        );
        Ok(fate)
    }

    fn master_returns(&mut self) -> Result<(), String> {
        self.console.heading("director1 boots again (a fresh machine: an empty connection table) and preempts");
        self.sc.director(self.net, 1).map_err(|e| e.to_string())?;
        let back = self.mark("director1 boots");
        self.start_tandem(1, "d1-return")?;
        let took = wait_for(Duration::from_secs(90), || holder() == 1);
        let log = std::fs::read_to_string(self.log("d1-return")).unwrap_or_default();
        let caught = log.lines().find(|l| l.contains("caught up with the master's table")).map(|l| {
            let field = |k: &str| l.split_whitespace().find_map(|w| w.strip_prefix(k)).unwrap_or("?").to_string();
            format!("{} records in {} ms", field("records="), field("ms="))
        });
        self.console.say(&format!(
            "director1 asked director2 for its table: {}",
            caught.clone().unwrap_or_else(|| "no resync logged".to_string())
        ));
        self.check(
            "director1 gets the master's table (bulk resync) and then preempts (warm preemption)",
            format!(
                "{}; VIP back {}",
                caught.clone().unwrap_or_else(|| "no resync".to_string()),
                took.map_or("never (90 s)".to_string(), |d| format!("after {}", secs(d)))
            ),
            caught.is_some() && took.is_some(),
        );
        let over = self.mark("director1 holds the VIP again");
        self.figure("back", took.map_or("-".to_string(), secs));
        if let Some(c) = &caught {
            self.figure("resync", c.replace(" records in ", " in "));
        }
        let pinned = self.pinned(back);
        let fate = self.long_survive(back, over, "the return")?;
        self.figure("kept back", format!("{}/{}", fate.kept, fate.alive));
        let failed = events::short_failed_overlapping(&self.feed.snapshot(), back, over + 1000);
        self.console.say(&format!("short requests failed around the move back: {failed}"));
        self.after_move(over, "director1", pinned);
        Ok(())
    }

    fn start_web(&mut self, i: usize) -> Result<(), String> {
        let root = self.setup.work.join(format!("www{}", i + 1));
        std::fs::create_dir_all(&root).map_err(|e| format!("web root: {e}"))?;
        std::fs::write(root.join("index.html"), format!("rs{}\n", i + 1)).map_err(|e| format!("web root: {e}"))?;
        let port = self.sc.rs_port.to_string();
        let root_s = root.display().to_string();
        let args = ["-m", "http.server", "--protocol", "HTTP/1.1", "--directory", root_s.as_str(), port.as_str()];
        let log = self.log(&format!("rs{}-web", i + 1));
        let child = self.net.spawn(&format!("rs{}", i + 1), "python3", &args, Some(&log)).map_err(|e| e.to_string())?;
        self.web[i] = Some(child);
        let ns = net::ns(&format!("rs{}", i + 1));
        let listening = wait_for(Duration::from_secs(20), || {
            net::output("ip", &["netns", "exec", &ns, "ss", "-Hltn"]).contains(&format!(":{port} "))
        });
        if listening.is_none() {
            return Err(format!("rs{}'s web server did not start (see {})", i + 1, log.display()));
        }
        Ok(())
    }

    fn start_tandem(&mut self, d: u8, log: &str) -> Result<(), String> {
        let conf = self.conf_path().display().to_string();
        let tandem = self.setup.tandem.display().to_string();
        let id = format!("director{d}");
        // Each director its own control socket (they share this machine's /run).
        let socket = self.control_socket(d).display().to_string();
        let args = ["run", "-f", &conf, "--config-id", &id, "--control-socket", &socket];
        let child =
            self.net.spawn(&format!("d{d}"), &tandem, &args, Some(&self.log(log))).map_err(|e| e.to_string())?;
        self.tandems.push((d, child));
        Ok(())
    }

    fn start_client(&mut self, rate: u32, long: u32) -> Result<(), String> {
        let mut c = self.net.command("cl", &self.setup.me.display().to_string());
        c.args([
            "client",
            "--addr",
            self.sc.target(),
            "--port",
            "80",
            "--rate",
            &rate.to_string(),
            "--long",
            &long.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
        // Its complaints (a connection that failed to open) and every event it reported go
        // to the scenario's logs.
        let n = self.clients.len() + 1;
        let open = |what: &str| std::fs::File::create(self.log(what)).map_err(|e| format!("the client's log: {e}"));
        c.stderr(open(&format!("client{n}"))?);
        let mut record = open(&format!("client{n}-events"))?;
        let mut child = c.spawn().map_err(|e| format!("the client: {e}"))?;
        let stdin = child.stdin.take();
        let Some(stdout) = child.stdout.take() else { return Err("the client has no stdout".to_string()) };
        let feed = self.feed.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(record, "{line}");
                if let Ok(e) = serde_json::from_str::<Event>(&line) {
                    if let Ok(mut v) = feed.0.lock() {
                        v.push(e);
                    }
                }
            }
        });
        self.clients.push(Client { stdin, child });
        Ok(())
    }

    /// Samples the VIP's holder every 100 ms, and on a terminal shows the live line.
    fn watch(&self) {
        let (holders, watching, phase, feed) =
            (Arc::clone(&self.holders), Arc::clone(&self.watching), Arc::clone(&self.phase), self.feed.clone());
        let status = self.console.is_live().then(|| Arc::clone(&self.console));
        std::thread::spawn(move || {
            let start = now_ms();
            while watching.load(Ordering::SeqCst) {
                let h = holder();
                if let Ok(mut v) = holders.lock() {
                    if v.last().is_none_or(|(_, last)| *last != h) {
                        v.push((now_ms(), h));
                    }
                }
                if let Some(c) = &status {
                    let now = now_ms();
                    let last = events::short_between(&feed.snapshot(), now.saturating_sub(1000), now);
                    let p = phase.lock().map(|p| p.clone()).unwrap_or_default();
                    c.status(&format!(
                        "  {:5.1} s  last second: {}  VIP on {}  [{p}]",
                        (now - start) as f64 / 1000.0,
                        last.describe(),
                        name(h)
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
    }

    fn stop_all(&mut self) {
        for c in self.clients.drain(..) {
            c.stop();
        }
        self.watching.store(false, Ordering::SeqCst);
        for (_, c) in &self.tandems {
            sigterm(c);
        }
        let mut stopped = Vec::new();
        let tandems: Vec<(u8, Child)> = self.tandems.drain(..).collect();
        for (d, mut c) in tandems {
            match await_exit(&mut c, Duration::from_secs(10)) {
                Ok(s) => stopped.push(format!("{}: {s}", name(d))),
                Err(e) => stopped.push(format!("{}: {e}", name(d))),
            }
        }
        let clean = stopped.iter().all(|s| s.ends_with("exit status: 0"));
        self.check("tandem stops on SIGTERM, exit status 0", stopped.join(", "), clean);
        for c in self.web.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.print_timeline();
        self.net.cleanup();
    }

    fn print_timeline(&self) {
        let Some(t0) = self.marks.iter().find(|m| m.what == "spread").map(|m| m.at.saturating_sub(500)) else { return };
        let holders = self.holders.lock().map(|v| v.clone()).unwrap_or_default();
        self.console
            .heading("timeline (per second: answers per real server, failures, long-lived requests, VIP holder)");
        for line in report::timeline(&self.feed.snapshot(), &self.marks, &holders, t0, now_ms()) {
            self.console.say(&line);
        }
    }
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}
