//! `tandem-lab`: tandem's main job on the tutorials' own set-ups. Two directors run tandem
//! from one keepalived.conf in front of two real servers with real web servers; a client
//! makes real requests and holds long-lived connections; then a web server dies and comes
//! back, the master dies, and it boots again and takes the VIP back. Narrated with timings,
//! a per-second timeline and a summary; the exit status says whether every expectation held.
//!
//! Where the running kernel has IPVS the lab runs in network namespaces on this machine;
//! where it has none it boots the VM rig (Debian's kernel under QEMU) and runs there,
//! printing as it goes. Everything it makes is removed on exit, Ctrl-C included.

mod campaign;
mod client;
mod console;
mod events;
mod http;
mod lab;
mod load;
mod net;
mod observe;
mod report;
mod scenario;

use clap::{Parser, Subcommand, ValueEnum};
use nix::sys::signal::{SigSet, Signal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "tandem-lab",
    about = "tandem's lab: a director pair, real servers, a client, and a failover you can watch"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The scenario: nat-rr, nat-wrr, nat-persist, dr, nat-dnat, or all.
    #[arg(long, default_value = scenario::DEFAULT)]
    scenario: String,
    /// Shorter phases and fewer connections (the test suite's run).
    #[arg(long)]
    quick: bool,
    /// Where to run: on this machine (its kernel needs IPVS), in the VM rig, or whichever
    /// works.
    #[arg(long = "where", value_enum, default_value_t = Where::Auto)]
    place: Where,
    /// The tandem binary (default: next to this one).
    #[arg(long)]
    tandem: Option<PathBuf>,
    /// Show a live status line (default: when stdout is a terminal).
    #[arg(long)]
    live: bool,
    /// Keep every log here (both directors' tandem logs, the web servers', the client's
    /// events, the configurations); otherwise they are removed with the rest.
    #[arg(long, value_name = "DIR")]
    logs: Option<PathBuf>,
}

#[derive(Debug, Clone, Subcommand)]
enum Command {
    /// The lab's client (run inside the client's namespace by the lab).
    #[command(hide = true)]
    Client(client::ClientArgs),
    /// A fault campaign: randomized, seeded rounds of faults (kills, machine deaths, link
    /// flaps, partitions, loss, reloads, real-server deaths), the pair's invariants checked
    /// after each.
    Campaign(campaign::CampaignArgs),
    /// The pair under load: a reload every second under traffic, then takeovers timed quiet
    /// and with the control socket and metrics hammered.
    Load(load::LoadArgs),
    /// The load's hammer (run inside a director's namespace by the lab).
    #[command(hide = true)]
    Hammer(load::HammerArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Where {
    Auto,
    Host,
    Vm,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Client(args)) = &cli.command {
        return ExitCode::from(u8::try_from(client::run(args)).unwrap_or(1));
    }
    if let Some(Command::Hammer(args)) = &cli.command {
        return ExitCode::from(u8::try_from(load::hammer_main(args)).unwrap_or(1));
    }
    let scenarios: Vec<&'static scenario::Scenario> = if cli.scenario == "all" {
        scenario::ALL.iter().collect()
    } else {
        match scenario::Scenario::named(&cli.scenario) {
            Some(s) => vec![s],
            None => {
                let names: Vec<&str> = scenario::ALL.iter().map(|s| s.name).collect();
                eprintln!("tandem-lab: no scenario {:?}; there are {} and all", cli.scenario, names.join(", "));
                return ExitCode::from(2);
            }
        }
    };
    if !nix::unistd::geteuid().is_root() {
        eprintln!("tandem-lab: needs root (network namespaces)");
        return ExitCode::from(2);
    }
    let Ok(me) = std::env::current_exe() else {
        eprintln!("tandem-lab: cannot find its own binary");
        return ExitCode::from(2);
    };
    let tandem = cli.tandem.clone().unwrap_or_else(|| me.with_file_name("tandem"));
    if !tandem.exists() {
        eprintln!("tandem-lab: no tandem binary at {} (build it, or pass --tandem)", tandem.display());
        return ExitCode::from(2);
    }
    let live = cli.live || std::io::IsTerminal::is_terminal(&std::io::stdout());
    let here = match cli.place {
        Where::Host => true,
        Where::Vm => false,
        Where::Auto => has_ipvs(),
    };
    // Ctrl-C, SIGTERM and SIGHUP are taken by the main thread (blocked everywhere else, so
    // the work's threads and children are never interrupted half-way): it cleans up, then
    // exits. SIGUSR1 says the work is done.
    let mut set = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGUSR1] {
        set.add(s);
    }
    if let Err(e) = set.thread_block() {
        eprintln!("tandem-lab: cannot block signals: {e}");
        return ExitCode::from(2);
    }
    let result = Arc::new(std::sync::Mutex::new(None::<u8>));
    let cancel = Arc::new(AtomicBool::new(false));
    let net = Arc::new(net::Net::default());
    let dir = std::env::temp_dir().join(format!("tandem-lab-{}", std::process::id()));
    let work = {
        let dir = dir.clone();
        let (result, cancel, net) = (Arc::clone(&result), Arc::clone(&cancel), Arc::clone(&net));
        let quick = cli.quick;
        let logs = cli.logs.clone();
        let command = cli.command.clone();
        // What the VM runs after `tandem-lab --where host --tandem ...`, and how long it may.
        let (vm_args, vm_limit) = match &command {
            Some(Command::Campaign(a)) => (
                format!("campaign --seed {} --rounds {} --first {} --long {}", a.seed, a.rounds, a.first, a.long),
                Duration::from_secs(600 + 120 * u64::from(a.rounds)),
            ),
            Some(Command::Load(a)) => (
                format!("load --reload-secs {} --takeovers {}", a.reload_secs, a.takeovers),
                Duration::from_secs(600 + a.reload_secs + 120 * u64::from(a.takeovers)),
            ),
            _ => (
                format!(
                    "--scenario {}{}",
                    tandem_tests::vm::shell_quote(&cli.scenario),
                    if quick { " --quick" } else { "" }
                ),
                Duration::from_secs(1500),
            ),
        };
        std::thread::spawn(move || {
            let code = if here {
                let code = match &command {
                    Some(Command::Campaign(a)) => run_campaign_here(&net, Job::Campaign(a), &tandem, &me, &dir, live),
                    Some(Command::Load(a)) => run_campaign_here(&net, Job::Load(a), &tandem, &me, &dir, live),
                    _ => run_here(&net, &scenarios, &tandem, &me, &dir, live, quick),
                };
                if let Some(to) = &logs {
                    copy_files(&dir, to);
                }
                let _ = std::fs::remove_dir_all(&dir);
                code
            } else {
                run_in_vm(&vm_args, vm_limit, &tandem, &me, live, logs.as_deref(), &cancel)
            };
            if let Ok(mut r) = result.lock() {
                *r = Some(code);
            }
            let _ = nix::sys::signal::kill(nix::unistd::getpid(), Signal::SIGUSR1);
        })
    };
    loop {
        match set.wait() {
            Ok(Signal::SIGUSR1) => {
                if let Some(code) = result.lock().ok().and_then(|r| *r) {
                    let _ = work.join();
                    return ExitCode::from(code);
                }
            }
            Ok(sig) => {
                eprintln!("\ntandem-lab: {sig}: cleaning up");
                cancel.store(true, Ordering::SeqCst);
                net.cleanup();
                let _ = std::fs::remove_dir_all(&dir);
                if !here {
                    // The VM run notices the cancel within 25 ms and kills QEMU.
                    let _ = work.join();
                }
                return ExitCode::from(130);
            }
            Err(e) => {
                eprintln!("tandem-lab: waiting for signals: {e}");
                net.cleanup();
                return ExitCode::from(2);
            }
        }
    }
}

/// Copies the files of `from` into `to` (`--logs`), and says so.
fn copy_files(from: &std::path::Path, to: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(from) else { return };
    if let Err(e) = std::fs::create_dir_all(to) {
        eprintln!("tandem-lab: {}: {e}", to.display());
        return;
    }
    let copied =
        entries.flatten().filter(|e| e.path().is_file() && std::fs::copy(e.path(), to.join(e.file_name())).is_ok());
    println!("tandem-lab: {} logs kept in {}", copied.count(), to.display());
}

/// Whether this machine's kernel has IPVS (loading the module if it is there to load).
fn has_ipvs() -> bool {
    if std::path::Path::new("/proc/net/ip_vs").exists() {
        return true;
    }
    let _ = std::process::Command::new("modprobe").args(["-q", "ip_vs"]).status();
    std::path::Path::new("/proc/net/ip_vs").exists()
}

/// Runs the scenarios on this machine; the exit code.
fn run_here(
    net: &net::Net,
    scenarios: &[&'static scenario::Scenario],
    tandem: &std::path::Path,
    me: &std::path::Path,
    work: &std::path::Path,
    live: bool,
    quick: bool,
) -> u8 {
    let work = work.to_path_buf();
    if let Err(e) = std::fs::create_dir_all(&work) {
        eprintln!("tandem-lab: {}: {e}", work.display());
        return 2;
    }
    let setup = lab::Setup { tandem: tandem.to_path_buf(), me: me.to_path_buf(), work: work.clone() };
    let console = Arc::new(console::Console::new(live));
    let pace = if quick { lab::Pace::QUICK } else { lab::Pace::FULL };
    let started = std::time::Instant::now();
    let mut reports = Vec::new();
    for sc in scenarios {
        let got = lab::Lab::new(net, sc, &setup, Arc::clone(&console), pace).run();
        if got.checks.iter().any(|c| !c.ok) {
            console.say(&report::tail_logs(&work, sc.name, 30));
        }
        reports.push((sc.name, got));
    }
    console.heading("summary");
    for line in report::summary_table(&reports) {
        console.say(&line);
    }
    console.say(report::LEGEND);
    let checks: Vec<&lab::Check> = reports.iter().flat_map(|(_, r)| &r.checks).collect();
    for c in checks.iter().filter(|c| !c.ok) {
        console.say(&format!("  FAIL {}: {}: {}", c.scenario, c.what, c.seen));
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    console.say(&format!(
        "\n{} of {} expectations held in {:.0} s{}",
        checks.len() - failed,
        checks.len(),
        started.elapsed().as_secs_f64(),
        if failed == 0 { "." } else { ": the lab FAILED." }
    ));
    u8::from(failed > 0)
}

/// What runs on the campaign's set-up.
enum Job<'a> {
    Campaign(&'a campaign::CampaignArgs),
    Load(&'a load::LoadArgs),
}

/// Runs a fault campaign or the load on this machine; the exit code.
fn run_campaign_here(
    net: &net::Net,
    job: Job<'_>,
    tandem: &std::path::Path,
    me: &std::path::Path,
    work: &std::path::Path,
    live: bool,
) -> u8 {
    if let Err(e) = std::fs::create_dir_all(work) {
        eprintln!("tandem-lab: {}: {e}", work.display());
        return 2;
    }
    let setup = lab::Setup { tandem: tandem.to_path_buf(), me: me.to_path_buf(), work: work.to_path_buf() };
    let console = Arc::new(console::Console::new(live));
    let c = campaign::Campaign::new(net, &setup, console);
    match job {
        Job::Campaign(args) => c.run(args),
        Job::Load(args) => load::run(c, args),
    }
}

/// Runs the lab inside the VM rig, printing as it goes; the exit code.
fn run_in_vm(
    args: &str,
    limit: Duration,
    tandem: &std::path::Path,
    me: &std::path::Path,
    live: bool,
    logs: Option<&std::path::Path>,
    cancel: &Arc<AtomicBool>,
) -> u8 {
    println!("This kernel has no IPVS: the lab runs in a VM (Debian's kernel under QEMU); booting...");
    // nft_chain_nat and nft_nat: the router of nat-dnat; sch_netem: the campaign's loss.
    let builder = tandem_tests::vm::Vm::builder().timeout(limit).memory(1536).cpus(2);
    let vm = match builder.module("nft_chain_nat").module("nft_nat").module("sch_netem").build() {
        Ok(vm) => vm,
        Err(e) => {
            eprintln!("tandem-lab: {e}");
            return 2;
        }
    };
    let q = tandem_tests::vm::shell_quote;
    let script = format!(
        "exec {} --where host --tandem {}{}{} {args}\n",
        q(&me.display().to_string()),
        q(&tandem.display().to_string()),
        if live { " --live" } else { "" },
        if logs.is_some() { " --logs \"$TANDEM_VM_OUT/logs\"" } else { "" },
    );
    let job = tandem_tests::vm::Job::new(script).stream().cancel_on(Arc::clone(cancel));
    match vm.run_job(&job) {
        Ok(run) => {
            if let Some(to) = logs {
                copy_files(&run.out_dir().join("logs"), to);
            }
            u8::try_from(run.status()).unwrap_or(1)
        }
        Err(tandem_tests::vm::VmError::Cancelled) => 130,
        // A Ctrl-C on a terminal reaches QEMU too, which ends at once.
        Err(_) if cancel.load(Ordering::SeqCst) => 130,
        Err(e) => {
            eprintln!("tandem-lab: {e}");
            2
        }
    }
}
