//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// tandem keeps a pair of Linux Virtual Server directors highly available.
#[derive(Debug, Parser)]
#[command(name = "tandem", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a configuration file: exit 0 when it is good, 1 when it has errors.
    ///
    /// Errors and warnings go to stderr with file:line:column. The file is judged on its own,
    /// not against this host (interfaces that do not exist here are fine).
    Check {
        /// Where the file is and how to read it.
        #[command(flatten)]
        input: Input,
        /// Turn warnings (such as unknown keywords) into errors.
        #[arg(long)]
        strict: bool,
        /// Print the resolved model as TOML on stdout.
        #[arg(long)]
        dump: bool,
        /// Check this file against the other director's (FILE): the same virtual routers,
        /// addresses, intervals, authentication, virtual servers and sync settings, and one
        /// intended master for each instance.
        #[arg(long, value_name = "FILE")]
        pair: Option<PathBuf>,
        /// The other director's config id, for `--pair` or for one file holding both
        /// directors (`@ID` lines): `tandem check -f both.conf -i lb1 --pair-id lb2`.
        #[arg(long, value_name = "ID")]
        pair_id: Option<String>,
    },
    /// Run the VRRP part of a configuration: elect a master, float the virtual addresses.
    ///
    /// Runs until SIGTERM or SIGINT, when every master sends a priority-0 advert and removes
    /// its addresses. Logs transitions on stderr.
    Run {
        /// Where the file is and how to read it.
        #[command(flatten)]
        input: Input,
        /// Log debug detail too (dropped adverts and the like); the same as `--log-level debug`.
        #[arg(short, long)]
        verbose: bool,
        /// The least severe messages logged.
        #[arg(long, value_enum, default_value_t = LogLevel::Info)]
        log_level: LogLevel,
        /// How log lines are written: text, or one JSON object per line. Under systemd's
        /// journal (JOURNAL_STREAM set) text lines carry no timestamp of their own.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
        /// Leave the IPVS services in the kernel at stop (keepalived's --dont-release-ipvs);
        /// by default tandem removes the services its configuration declares.
        #[arg(long)]
        dont_release_ipvs: bool,
        /// Serve Prometheus metrics on http://ADDR:PORT/metrics (off unless given).
        #[arg(long, value_name = "ADDR:PORT")]
        metrics_listen: Option<std::net::SocketAddr>,
        /// Where `tandem status` and `tandem reload` reach this tandem (root only).
        #[arg(long, value_name = "PATH", default_value = crate::run::control::DEFAULT_PATH)]
        control_socket: PathBuf,
    },
    /// Show what the running tandem is doing: every VRRP instance and sync group, every
    /// virtual and real server (checks and connections), connection sync.
    Status {
        /// The whole state as one JSON document (its schema: docs/STATUS.md).
        #[arg(long)]
        json: bool,
        /// The running tandem's control socket.
        #[arg(long, value_name = "PATH", default_value = crate::run::control::DEFAULT_PATH)]
        control_socket: PathBuf,
    },
    /// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell) on stdout.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write the man pages (tandem.8 and one per command, roff) into DIR.
    #[command(hide = true)]
    Manpages {
        /// Where to write them.
        dir: PathBuf,
    },
    /// Reload the running tandem's configuration (as SIGHUP does), wait, and print the
    /// outcome: exit 0 when it was applied, 1 when the file was refused (the running
    /// configuration stays).
    Reload {
        /// The running tandem's control socket.
        #[arg(long, value_name = "PATH", default_value = crate::run::control::DEFAULT_PATH)]
        control_socket: PathBuf,
    },
    /// A planned failover drill, run on the master's host: hand an instance's virtual
    /// addresses over gracefully (priority 0), measure how long until the backup holds
    /// them and whether the connection table went with them, and optionally take them back.
    ///
    /// A backup sends no VRRP adverts: the drill looks for the backup tandem's sync
    /// messages (lvs_sync_daemon) and refuses when it hears none, unless --force. Without
    /// --back this director stays backup (preemption held) until `tandem drill --release`.
    /// Exit 0 when the backup took over (and, with --back, the addresses came back), 1 when
    /// refused or when it did not.
    Drill {
        /// The instance (default: the one lvs_sync_daemon follows, else the only one).
        #[arg(long, value_name = "NAME")]
        instance: Option<String>,
        /// Take the addresses back afterwards.
        #[arg(long)]
        back: bool,
        /// Seconds the backup keeps the addresses before they come back (with --back).
        #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
        hold: f64,
        /// Hand over even when no backup can be seen from here.
        #[arg(long)]
        force: bool,
        /// End a drill's hold: this director preempts again as configured.
        #[arg(long, conflicts_with_all = ["back", "force"])]
        release: bool,
        /// The report as JSON.
        #[arg(long)]
        json: bool,
        /// The running tandem's control socket.
        #[arg(long, value_name = "PATH", default_value = crate::run::control::DEFAULT_PATH)]
        control_socket: PathBuf,
    },
    /// Print the changes a configuration would make to the kernel's IPVS table, without
    /// making them.
    ///
    /// One line per change, as `tandem run` would apply them (services it does not declare
    /// are left alone unless lvs_flush). Exit 0 when there is nothing to change, 2 when
    /// there are changes, 1 on errors.
    Plan {
        /// Where the file is and how to read it.
        #[command(flatten)]
        input: Input,
        /// Read no kernel: print the whole table the file describes, as `ipvsadm -Sn` prints
        /// a table.
        #[arg(long)]
        offline: bool,
    },
    /// Print the TOML equivalent of a configuration file (typically a keepalived.conf).
    Convert {
        /// Where the file is and how to read it.
        #[command(flatten)]
        input: Input,
    },
}

/// The configuration file to read.
#[derive(Debug, Args)]
pub struct Input {
    /// The configuration file (default: /etc/tandem/tandem.toml if it exists, else
    /// /etc/keepalived/keepalived.conf).
    #[arg(short = 'f', long = "config", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Its format; by default `.toml` files are TOML and others keepalived.conf.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// The id that `@ID` lines of a keepalived.conf are kept for (default: the first label of
    /// the host name, as keepalived).
    #[arg(short = 'i', long = "config-id", value_name = "ID")]
    pub config_id: Option<String>,
}

/// `--format` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// tandem's TOML.
    Toml,
    /// keepalived.conf.
    Keepalived,
}

/// `--log-level` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Errors and warnings.
    Warn,
    /// Transitions, changes and the like (the default).
    Info,
    /// Dropped adverts, each check and the like.
    Debug,
    /// Everything.
    Trace,
}

/// `--log-format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (timestamp, level, message, fields).
    Json,
}
