//! Checks on the model after reading, the same for both formats. Each finding points at the
//! place the reader recorded for the model path concerned.

mod addresses;
mod email;
mod lvs;
mod routes;
mod vrrp;

use crate::diag::{Diagnostic, Severity, SourceMap, Sources, Span};
use crate::model::Config;
use std::collections::HashMap;

pub(crate) fn run(c: &Config, map: &SourceMap, sources: &Sources, diags: &mut Vec<Diagnostic>) {
    let from_reader = diags.len();
    let mut v = V { map, sources, diags };
    if let Some(ns) = &c.net_namespace {
        if ns.is_empty() || ns.contains('/') || ns == "." || ns == ".." || ns.len() > 255 {
            v.error("net_namespace", format!("`{ns}` is not a network namespace name (a file name in /run/netns)"));
        }
    }
    v.unique("vrrp_script", c.vrrp_scripts.iter().map(|s| s.name.as_str()));
    v.unique("track_file", c.track_files.iter().map(|s| s.name.as_str()));
    v.unique("vrrp_track_process", c.vrrp_track_processes.iter().map(|s| s.name.as_str()));
    v.unique("vrrp_sync_group", c.vrrp_sync_groups.iter().map(|s| s.name.as_str()));
    v.unique("vrrp_instance", c.vrrp_instances.iter().map(|s| s.name.as_str()));
    v.unique("virtual_server_group", c.virtual_server_groups.iter().map(|s| s.name.as_str()));
    vrrp::check(&mut v, c);
    lvs::check(&mut v, c);
    addresses::check(&mut v, c);
    email::check(&mut v, c);
    routes::check(&mut v, c);
    for (path, gap, refused) in crate::support::findings(c) {
        if refused {
            v.error(&path, format!("`{}` is not supported by tandem run", gap.keyword))
                .notes
                .push(gap.loss.to_string());
        } else {
            v.warn(&path, format!("`{}` is not implemented by tandem yet; ignored", gap.keyword))
                .notes
                .push(format!("without it: {}", gap.loss));
        }
    }
    // A value the reader already rejected was left at its default; don't report that default
    // a second time at the same place.
    let (read, found) = diags.split_at(from_reader);
    let keep: Vec<bool> =
        found.iter().map(|d| !read.iter().any(|r| r.severity == Severity::Error && overlaps(r.span, d.span))).collect();
    let mut i = 0;
    diags.retain(|_| {
        let k = i < from_reader || keep[i - from_reader];
        i += 1;
        k
    });
}

fn overlaps(a: Option<Span>, b: Option<Span>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.file == b.file && a.start < b.end.max(b.start + 1) && b.start < a.end.max(a.start + 1),
        _ => false,
    }
}

/// The validator's context.
pub(crate) struct V<'a> {
    map: &'a SourceMap,
    sources: &'a Sources,
    diags: &'a mut Vec<Diagnostic>,
}

impl V<'_> {
    fn error(&mut self, path: &str, msg: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::error(self.map.lookup(path), msg));
        self.last()
    }

    fn warn(&mut self, path: &str, msg: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::warning(self.map.lookup(path), msg));
        self.last()
    }

    fn last(&mut self) -> &mut Diagnostic {
        let n = self.diags.len() - 1;
        &mut self.diags[n]
    }

    /// "first ... at file:line:col" for a note.
    fn where_is(&self, path: &str) -> String {
        self.map.lookup(path).and_then(|s| self.sources.location(s)).map_or_else(String::new, |l| format!(" at {l}"))
    }

    /// An integer outside `min..=max` is an error at `path`.
    fn range(&mut self, path: &str, key: &str, value: i64, min: i64, max: i64) {
        if !(min..=max).contains(&value) {
            self.error(path, format!("{key} {value} is out of range {min}-{max}")).label =
                Some(format!("must be {min}-{max}"));
        }
    }

    /// Names of one kind of block must be unique.
    fn unique<'n>(&mut self, kind: &str, names: impl Iterator<Item = &'n str>) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, name) in names.enumerate() {
            if let Some(first) = seen.get(name) {
                let note = format!("first defined{}", self.where_is(&format!("{kind}[{first}]")));
                self.error(&format!("{kind}[{i}].name"), format!("{kind} `{name}` is defined twice")).notes.push(note);
            } else {
                seen.insert(name, i);
            }
        }
    }
}
