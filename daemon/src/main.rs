//! The `tandem` command: `check` and `convert` configuration files, `run` the VRRP part.

mod cli;
mod desired;
mod failpoint;
mod health;
mod run;
mod script;

use clap::Parser;
use cli::{Cli, Command, FormatArg, Input};
use std::io::Write;
use std::process::ExitCode;
use tandem_conf::{Format, Options, Report, Severity};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { input, strict, dump } => check(&input, strict, dump),
        Command::Convert { input } => convert(&input),
        Command::Plan { input } => plan(&input),
        Command::Run { input, verbose, dont_release_ipvs } => run_command(&input, verbose, !dont_release_ipvs),
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

/// Prints the diagnostics and a summary on stderr; true when the file is usable.
fn report(input: &Input, r: &Report) -> bool {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(r.render().as_bytes());
    let (errors, warnings) = (r.count(Severity::Error), r.count(Severity::Warning));
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    let name = input.file.display();
    if errors > 0 {
        let _ =
            writeln!(err, "error: {name} is not valid: {}, {}", plural(errors, "error"), plural(warnings, "warning"));
        false
    } else {
        let c = &r.config;
        let _ = writeln!(
            err,
            "{name}: ok ({}, {}, {}, {})",
            plural(c.vrrp_instances.len(), "vrrp instance"),
            plural(c.virtual_servers.len(), "virtual server"),
            plural(c.virtual_servers.iter().map(|v| v.real_servers.len()).sum(), "real server"),
            plural(warnings, "warning"),
        );
        true
    }
}

fn check(input: &Input, strict: bool, dump: bool) -> ExitCode {
    let r = tandem_conf::load(&input.file, &options(input, strict));
    if !report(input, &r) {
        return ExitCode::from(1);
    }
    if dump {
        return print_toml(&r);
    }
    ExitCode::SUCCESS
}

fn convert(input: &Input) -> ExitCode {
    let r = tandem_conf::load(&input.file, &options(input, false));
    if !report(input, &r) {
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

fn plan(input: &Input) -> ExitCode {
    let r = tandem_conf::load(&input.file, &options(input, false));
    if !report(input, &r) {
        return ExitCode::from(1);
    }
    let desired = desired::table(&r.config);
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
        let _ = writeln!(out, "{c}");
    }
    if changes.is_empty() {
        let _ = writeln!(std::io::stderr(), "the kernel's IPVS table already matches the configuration");
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

fn run_command(input: &Input, verbose: bool, release_ipvs: bool) -> ExitCode {
    // First of all, while this is the only thread: every thread made later inherits the mask,
    // so no signal's default action can end or stop tandem behind its back.
    if let Err(e) = run::block_signals() {
        say(&format!("error: {e}"));
        return ExitCode::from(1);
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(if verbose { tracing::Level::DEBUG } else { tracing::Level::INFO })
        .with_target(false)
        // Colours only on a terminal: a log file or the journal gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // A log line that cannot be written (the reader of a stderr pipe went away: EPIPE) is
        // dropped; the default would report it with eprintln!, which panics when stderr is
        // what failed, and a daemon must not end because its log reader did.
        .log_internal_errors(false)
        .init();
    // Before the load allocates anything.
    run::prepare_memory();
    let r = tandem_conf::load(&input.file, &options(input, false));
    if !report(input, &r) {
        return ExitCode::from(1);
    }
    let (file, opts) = (input.file.clone(), options(input, false));
    let reload: run::Reloader = Box::new(move || {
        let r = tandem_conf::load(&file, &opts);
        if r.count(Severity::Error) > 0 { Err(r.render()) } else { Ok(r.config) }
    });
    // Only the model is kept: the source map (a path per value read) and the file's text are
    // for diagnostics and would stay resident all along (tens of MB for 10,000 real servers).
    let tandem_conf::Report { config, sources, map, diagnostics } = r;
    drop((sources, map, diagnostics));
    match run::run(config, release_ipvs, reload) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            say(&format!("error: {e}"));
            ExitCode::from(1)
        }
    }
}

/// A line on stderr that is lost, not a panic, when stderr is a pipe nobody reads any more.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
