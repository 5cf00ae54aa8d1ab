//! tandem's configuration: one typed model ([`Config`]) read from tandem's own TOML or from an
//! unchanged keepalived.conf, validated, with every finding located at file:line:column.
//!
//! ```no_run
//! let report = tandem_conf::load(std::path::Path::new("/etc/keepalived/keepalived.conf"), &Default::default());
//! eprint!("{}", report.render());
//! if !report.has_errors() {
//!     println!("{} instances", report.config.vrrp_instances.len());
//! }
//! ```

pub mod diag;
mod keepalived;
pub mod model;
pub mod pair;
pub mod support;
mod toml_format;
mod validate;

pub use diag::{Diagnostic, Location, Severity, SourceMap, Sources, Span};
pub use model::*;

use std::path::{Path, PathBuf};

/// The two file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// tandem's own TOML.
    Toml,
    /// keepalived.conf.
    Keepalived,
}

impl Format {
    /// The format a file name implies: `.toml` is TOML, anything else keepalived.conf.
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("toml") => Format::Toml,
            _ => Format::Keepalived,
        }
    }
}

/// How to read a file.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Force a format instead of choosing by extension.
    pub format: Option<Format>,
    /// The config id that `@ID` / `@^ID` lines are compared with (keepalived's default is the
    /// first label of the host name); `None` matches no `@ID` line.
    pub config_id: Option<String>,
    /// Turn warnings into errors.
    pub strict: bool,
    /// Record no source map ([`Report::map`] stays empty): a large file reads in a fifth of
    /// the time (conf/examples/load_time), for a caller that only asks whether the file is
    /// valid (a reload). The
    /// readers' findings keep their place; validation's carry none, so load the file again
    /// without this to show them.
    pub no_source_map: bool,
}

/// The outcome of loading a file: the model, and what was found wrong with it.
#[derive(Debug, Clone)]
pub struct Report {
    /// The model (usable only when [`Report::has_errors`] is false).
    pub config: Config,
    /// Every file read.
    pub sources: Sources,
    /// Where each model value was written.
    pub map: SourceMap,
    /// Errors and warnings, in the order of the places they point at.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// True when the file must be rejected.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }

    /// Count of diagnostics of one severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.diagnostics.iter().filter(|d| d.severity == severity).count()
    }

    /// Where a diagnostic points.
    pub fn location(&self, d: &Diagnostic) -> Option<Location> {
        d.span.and_then(|s| self.sources.location(s))
    }

    /// Every diagnostic rendered like rustc's, separated by blank lines.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for d in &self.diagnostics {
            out.push_str(&d.render(&self.sources));
            out.push_str("\n\n");
        }
        out
    }
}

/// Reads, parses and validates a configuration file (and its includes).
pub fn load(path: &Path, options: &Options) -> Report {
    let mut r = empty_report(options);
    let format = options.format.unwrap_or_else(|| Format::from_path(path));
    let config_id = options.config_id.as_deref().unwrap_or("");
    r.config = match format {
        Format::Keepalived => keepalived::read_file(path, config_id, &mut r.sources, &mut r.diagnostics, &mut r.map),
        Format::Toml => match std::fs::read_to_string(path) {
            Ok(text) => toml_format::read(&text, path.to_path_buf(), &mut r.sources, &mut r.diagnostics, &mut r.map),
            Err(e) => {
                r.diagnostics.push(Diagnostic::error(None, format!("cannot read `{}`: {e}", path.display())));
                Config::default()
            }
        },
    };
    finish(r, options)
}

/// Parses and validates configuration text; `path` names it in diagnostics and is where
/// relative includes resolve from. The format defaults to keepalived.conf unless `path` ends
/// in `.toml`.
pub fn load_str(text: &str, path: impl Into<PathBuf>, options: &Options) -> Report {
    let path = path.into();
    let mut r = empty_report(options);
    let format = options.format.unwrap_or_else(|| Format::from_path(&path));
    let config_id = options.config_id.as_deref().unwrap_or("");
    r.config = match format {
        Format::Keepalived => {
            keepalived::read_str(text, path, config_id, &mut r.sources, &mut r.diagnostics, &mut r.map)
        }
        Format::Toml => toml_format::read(text, path, &mut r.sources, &mut r.diagnostics, &mut r.map),
    };
    finish(r, options)
}

/// The model as tandem's TOML.
pub fn to_toml(config: &Config) -> Result<String, toml::ser::Error> {
    toml::to_string(config)
}

fn empty_report(options: &Options) -> Report {
    Report {
        config: Config::default(),
        sources: Sources::default(),
        map: if options.no_source_map { SourceMap::off() } else { SourceMap::default() },
        diagnostics: Vec::new(),
    }
}

fn finish(mut r: Report, options: &Options) -> Report {
    // Validation needs a model the readers could build; a file with syntax errors is
    // validated too, so that one run reports as much as possible.
    validate::run(&r.config, &r.map, &r.sources, &mut r.diagnostics);
    // In the order of the file (files in the order read), as a reader goes through it; what
    // has no place (a file that cannot be read) first. Stable: one place keeps its order.
    r.diagnostics.sort_by_key(|d| d.span.map(|s| (s.file.0, s.start)));
    if options.strict {
        for d in &mut r.diagnostics {
            d.severity = Severity::Error;
        }
    }
    r
}
