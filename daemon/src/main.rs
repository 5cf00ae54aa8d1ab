//! The `tandem` command: `check` and `convert` configuration files, `run` the VRRP part.

mod cli;
mod client;
mod desired;
mod failpoint;
mod health;
mod logging;
mod netns;
mod run;
mod script;
mod script_security;
mod track_files;

use clap::Parser;
use cli::{Cli, Command, FormatArg, Input, LogFormat, LogLevel};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;
use tandem_conf::{Format, Options, Report, Severity};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { input, strict, dump, pair, pair_id } => {
            if pair.is_some() || pair_id.is_some() {
                check_pair(&input, strict, pair, pair_id)
            } else {
                check(&input, strict, dump)
            }
        }
        Command::Convert { input } => convert(&input),
        Command::Plan { input, offline } => plan(&input, offline),
        Command::Run { input, verbose, log_level, log_format, dont_release_ipvs, control_socket, metrics_listen } => {
            let level = if verbose && log_level == LogLevel::Info { LogLevel::Debug } else { log_level };
            let options = run::Options {
                release_ipvs: !dont_release_ipvs,
                control_socket,
                config_file: String::new(),
                metrics_listen,
            };
            run_command(&input, level, log_format, options)
        }
        Command::Status { json, control_socket } => status(&control_socket, json),
        Command::Reload { control_socket } => reload(&control_socket),
        Command::Drill { instance, back, hold, force, release, json, control_socket } => {
            let req = run::drill::DrillRequest { instance, back, hold_s: hold, force, release };
            drill(&control_socket, &req, json)
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "tandem", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Manpages { dir } => match manpages(&dir) {
            Ok(n) => {
                say(&format!("{n} man pages written to {}", dir.display()));
                ExitCode::SUCCESS
            }
            Err(e) => {
                say(&format!("error: {}: {e}", dir.display()));
                ExitCode::from(1)
            }
        },
    }
}

/// tandem.8 and tandem-COMMAND.8 for each visible command, generated from the CLI.
fn manpages(dir: &std::path::Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let cmd = <Cli as clap::CommandFactory>::command();
    let mut written = 0;
    let mut write = |name: String, c: clap::Command| -> std::io::Result<()> {
        let mut out = Vec::new();
        clap_mangen::Man::new(c).section("8").render(&mut out)?;
        std::fs::write(dir.join(format!("{name}.8")), out)?;
        written += 1;
        Ok(())
    };
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("tandem-{}", sub.get_name());
        let page = sub.clone().display_name(name.clone()).bin_name(format!("tandem {}", sub.get_name()));
        write(name, page.version(env!("CARGO_PKG_VERSION")))?;
    }
    write("tandem".to_string(), cmd)?;
    Ok(written)
}

fn status(socket: &std::path::Path, json: bool) -> ExitCode {
    match client::ask(socket, "status") {
        Ok(v) => {
            let text = if json { format!("{v}\n") } else { client::render(&v) };
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            say(&format!("error: {e}"));
            ExitCode::from(1)
        }
    }
}

fn reload(socket: &std::path::Path) -> ExitCode {
    match client::ask(socket, "reload") {
        Ok(v) => {
            let message = v["message"].as_str().unwrap_or("?");
            if v["ok"].as_bool() == Some(true) {
                let _ = writeln!(std::io::stdout().lock(), "{message}");
                ExitCode::SUCCESS
            } else {
                say(&format!("error: {message}"));
                ExitCode::from(1)
            }
        }
        Err(e) => {
            say(&format!("error: {e}"));
            ExitCode::from(1)
        }
    }
}

fn drill(socket: &std::path::Path, req: &run::drill::DrillRequest, json: bool) -> ExitCode {
    let line = match serde_json::to_string(req) {
        Ok(j) => format!("drill {j}"),
        Err(e) => {
            say(&format!("error: {e}"));
            return ExitCode::from(1);
        }
    };
    if !req.release && !json {
        say("drill: asking the running tandem (this takes a few seconds)");
    }
    let wait = Duration::from_secs(60) + Duration::try_from_secs_f64(req.hold_s).unwrap_or_default();
    match client::ask_within(socket, &line, wait) {
        Ok(v) => {
            let text = if json { format!("{v}\n") } else { client::render_drill(&v, req.release) };
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            if v["ok"].as_bool() == Some(true) { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Err(e) => {
            say(&format!("error: {e}"));
            ExitCode::from(1)
        }
    }
}

/// Where tandem looks for its configuration when no -f is given: its own file first, then
/// keepalived's, so that a keepalived host switches without moving anything.
pub const DEFAULT_FILES: [&str; 2] = ["/etc/tandem/tandem.toml", "/etc/keepalived/keepalived.conf"];

/// The file to read: -f, else the first default that exists.
fn config_file(input: &Input) -> Result<std::path::PathBuf, String> {
    if let Some(f) = &input.file {
        return Ok(f.clone());
    }
    DEFAULT_FILES.iter().map(std::path::PathBuf::from).find(|p| p.exists()).ok_or_else(|| {
        format!(
            "error: no configuration file: neither {} nor {} exists (or give one with -f FILE)",
            DEFAULT_FILES[0], DEFAULT_FILES[1]
        )
    })
}

/// Loads the file `input` names (or the default one).
fn load(input: &Input, strict: bool) -> Result<(std::path::PathBuf, Report), ExitCode> {
    match config_file(input) {
        Ok(path) => {
            let r = tandem_conf::load(&path, &options(input, strict));
            Ok((path, r))
        }
        Err(e) => {
            say(&e);
            Err(ExitCode::from(1))
        }
    }
}

fn options(input: &Input, strict: bool) -> Options {
    Options {
        format: input.format.map(|f| match f {
            FormatArg::Toml => Format::Toml,
            FormatArg::Keepalived => Format::Keepalived,
        }),
        config_id: Some(input.config_id.clone().unwrap_or_else(host_config_id)),
        strict,
        no_source_map: false,
    }
}

/// keepalived's default config id: the host name up to its first dot.
fn host_config_id() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| h.split('.').next().unwrap_or_default().to_string())
        .unwrap_or_default()
}

/// Prints the diagnostics and a summary on stderr; true when the file is usable. The summary
/// names the file and, for a keepalived.conf, the config id its `@ID` lines were read for.
/// `1 error`, `2 warnings`, `2 static addresses`.
fn plural(n: usize, what: &str) -> String {
    let ending = match n {
        1 => "",
        _ if what.ends_with('s') => "es",
        _ => "s",
    };
    format!("{n} {what}{ending}")
}

fn report(input: &Input, path: &std::path::Path, r: &Report) -> bool {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(r.render().as_bytes());
    let (errors, warnings) = (r.count(Severity::Error), r.count(Severity::Warning));
    let opts = options(input, false);
    let name = match opts.format.unwrap_or_else(|| Format::from_path(path)) {
        Format::Keepalived => format!("{} (config id {:?})", path.display(), opts.config_id.unwrap_or_default()),
        Format::Toml => path.display().to_string(),
    };
    if errors > 0 {
        let _ =
            writeln!(err, "error: {name} is not valid: {}, {}", plural(errors, "error"), plural(warnings, "warning"));
        false
    } else {
        let c = &r.config;
        // Routes, rules and static addresses, when the file has some.
        let routing: String = [
            (c.vrrp_instances.iter().map(|v| v.virtual_routes.len()).sum::<usize>(), "virtual route"),
            (c.vrrp_instances.iter().map(|v| v.virtual_rules.len()).sum(), "virtual rule"),
            (c.static_ipaddress.len(), "static address"),
            (c.static_routes.len(), "static route"),
            (c.static_rules.len(), "static rule"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, w)| format!("{}, ", plural(n, w)))
        .collect();
        let _ = writeln!(
            err,
            "{name}: ok ({}, {routing}{}, {}, {})",
            plural(c.vrrp_instances.len(), "vrrp instance"),
            plural(c.virtual_servers.len(), "virtual server"),
            plural(c.virtual_servers.iter().map(|v| v.real_servers.len()).sum(), "real server"),
            plural(warnings, "warning"),
        );
        true
    }
}

fn check(input: &Input, strict: bool, dump: bool) -> ExitCode {
    let (path, r) = match load(input, strict) {
        Ok(l) => l,
        Err(code) => return code,
    };
    if !report(input, &path, &r) {
        return ExitCode::from(1);
    }
    if !vmac_names_free(&r) {
        return ExitCode::from(1);
    }
    // The scripts as this host has them (a file may be checked on another host than it runs).
    let mut config = r.config.clone();
    for f in script_security::apply(&mut config) {
        let what =
            if f.disabled { "disabled by enable_script_security" } else { "enable_script_security would disable it" };
        say(&format!("warning: {}: `{}`: {}; {what}", f.what, f.command, f.problem));
    }
    if dump {
        return print_toml(&r);
    }
    ExitCode::SUCCESS
}

/// `tandem check --pair` / `--pair-id`: each director's file on its own, then the two against
/// each other (tandem_conf::pair). Exit 1 when either is invalid or the pair has an error.
fn check_pair(input: &Input, strict: bool, pair: Option<std::path::PathBuf>, pair_id: Option<String>) -> ExitCode {
    let (path_a, a) = match load(input, strict) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let other = Input {
        file: Some(pair.unwrap_or_else(|| path_a.clone())),
        format: input.format,
        config_id: pair_id.or_else(|| input.config_id.clone()),
    };
    let (path_b, b) = match load(&other, strict) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let ok_a = report(input, &path_a, &a);
    let ok_b = report(&other, &path_b, &b);
    if !(ok_a && ok_b) {
        return ExitCode::from(1);
    }
    let findings = tandem_conf::pair::cross_check(&a.config, &b.config);
    let mut err = std::io::stderr().lock();
    for f in &findings {
        let r = match f.side {
            tandem_conf::pair::Side::A => &a,
            tandem_conf::pair::Side::B => &b,
        };
        let mut d = f.diagnostic(r);
        if strict {
            d.severity = Severity::Error;
        }
        let _ = write!(err, "{}\n\n", d.render(&r.sources));
    }
    let errors = findings.iter().filter(|f| f.error || strict).count();
    let warnings = findings.len() - errors;
    let _ = writeln!(
        err,
        "pair {} / {}: {}",
        path_a.display(),
        path_b.display(),
        if findings.is_empty() {
            "they agree".to_string()
        } else {
            format!("{}, {}", plural(errors, "error"), plural(warnings, "warning"))
        }
    );
    if errors > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

fn convert(input: &Input) -> ExitCode {
    let (path, r) = match load(input, false) {
        Ok(l) => l,
        Err(code) => return code,
    };
    if !report(input, &path, &r) {
        return ExitCode::from(1);
    }
    print_toml(&r)
}

fn print_toml(r: &Report) -> ExitCode {
    match tandem_conf::to_toml(&r.config) {
        Ok(text) => {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write the model as TOML: {e}");
            ExitCode::from(1)
        }
    }
}

fn plan(input: &Input, offline: bool) -> ExitCode {
    let (path, r) = match load(input, false) {
        Ok(l) => l,
        Err(code) => return code,
    };
    if !report(input, &path, &r) {
        return ExitCode::from(1);
    }
    let desired = desired::table(&r.config);
    if offline {
        let _ = std::io::stdout().lock().write_all(tandem_ipvs::ipvsadm::save(&desired).as_bytes());
        return ExitCode::SUCCESS;
    }
    // The kernel's table is the namespace's.
    if let Some(ns) = &r.config.net_namespace {
        if let Err(e) = netns::enter(ns) {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    }
    let managed: std::collections::BTreeSet<_> = desired.services.keys().copied().collect();
    let current = match tandem_ipvs::Ipvs::open().and_then(|i| i.dump()) {
        Ok(table) => table,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let scope =
        if r.config.global_defs.lvs_flush { tandem_ipvs::Scope::Whole } else { tandem_ipvs::Scope::Declared(&managed) };
    let changes = tandem_ipvs::diff(&current, &desired, scope);
    let mut out = std::io::stdout().lock();
    for c in &changes {
        let _ = writeln!(out, "ipvsadm {}", tandem_ipvs::ipvsadm::command(c));
    }
    if changes.is_empty() {
        let _ = writeln!(std::io::stderr(), "the kernel's IPVS table already matches the configuration");
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

fn run_command(input: &Input, level: LogLevel, format: LogFormat, run_options: run::Options) -> ExitCode {
    // First of all, while this is the only thread: every thread made later inherits the mask,
    // so no signal's default action can end or stop tandem behind its back.
    if let Err(e) = run::block_signals() {
        say(&format!("error: {e}"));
        return ExitCode::from(1);
    }
    logging::init(level, format);
    // Before the load allocates anything.
    run::prepare_memory();
    let (file, r) = match load(input, false) {
        Ok(l) => l,
        Err(code) => return code,
    };
    if !report(input, &file, &r) || !vmac_names_free(&r) {
        return ExitCode::from(1);
    }
    // Before any socket or thread (the runtime's, neli's): they all live in the namespace.
    if let Some(ns) = &r.config.net_namespace {
        if let Err(e) = netns::enter(ns) {
            say(&format!("error: {e}"));
            return ExitCode::from(1);
        }
        tracing::info!(net_namespace = %ns, "running in network namespace");
    }
    let opts = options(input, false);
    let file_name = file.display().to_string();
    // A reload reads the file without the source map (a path recorded per value read, for
    // diagnostics): two thirds of a large file's read. Only a file that does not validate is
    // read again, with it, to say where it is wrong.
    let quick = Options { no_source_map: true, ..opts.clone() };
    let reload: run::Reloader = Box::new(move || {
        let r = tandem_conf::load(&file, &quick);
        if r.count(Severity::Error) == 0 {
            return Ok(secured(r.config));
        }
        drop(r);
        let r = tandem_conf::load(&file, &opts);
        // Changed in between to a valid file: that one is the reload.
        if r.count(Severity::Error) > 0 { Err(r.render()) } else { Ok(secured(r.config)) }
    });
    // Only the model is kept: the source map (a path per value read) and the file's text are
    // for diagnostics and would stay resident all along (tens of MB for 10,000 real servers).
    let tandem_conf::Report { config, sources, map, diagnostics } = r;
    drop((sources, map, diagnostics));
    let config = secured(config);
    let run_options = run::Options { config_file: file_name, ..run_options };
    match run::run(config, run_options, reload) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            say(&format!("error: {e}"));
            ExitCode::from(1)
        }
    }
}

/// The configuration ready to run: its track files initialised (`init_file`), its scripts
/// judged (enable_script_security): each finding logged, and with the keyword the scripts
/// that fail taken out.
fn secured(mut config: tandem_conf::Config) -> tandem_conf::Config {
    track_files::init(&config);
    for f in script_security::apply(&mut config) {
        if f.disabled {
            tracing::error!(script = %f.command, problem = %f.problem, "{}: disabled by enable_script_security", f.what);
        } else {
            tracing::warn!(
                script = %f.command,
                problem = %f.problem,
                "{}: enable_script_security would disable this script",
                f.what
            );
        }
    }
    config
}

/// The VMAC names the file gives (`use_vmac NAME`) that an interface of this host holds
/// and that is not a macvlan (which tandem would make again): errors at the `use_vmac` line,
/// rendered on stderr. False when there is one. (A `run` that reads a changed file at a
/// reload refuses the instance the same way, without the line.)
fn vmac_names_free(r: &Report) -> bool {
    let Ok(addrs) = tandem_vrrp::linux::addr::Addresses::open() else { return true };
    let mut free = true;
    for (i, v) in r.config.vrrp_instances.iter().enumerate() {
        let Some(name) = v.use_vmac.as_deref().filter(|n| !n.is_empty()) else { continue };
        let Ok(Some(link)) = addrs.link(name) else { continue };
        if link.is_macvlan() {
            continue;
        }
        let kind = link.kind.as_deref().unwrap_or("physical");
        let d = tandem_conf::Diagnostic::error(
            r.map.lookup(&format!("vrrp_instance[{i}].use_vmac")),
            format!(
                "use_vmac {name}: interface {name} exists on this host and is not a macvlan (it is a {kind} interface)"
            ),
        );
        let _ = write!(std::io::stderr().lock(), "{}\n\n", d.render(&r.sources));
        free = false;
    }
    free
}

/// A line on stderr that is lost, not a panic, when stderr is a pipe nobody reads any more.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
