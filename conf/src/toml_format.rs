//! The TOML reader: serde for the model, and a walk over the spanned document for the source
//! map, so validation points into TOML files as precisely as into keepalived.conf.

use crate::diag::{Diagnostic, FileId, SourceMap, Sources, Span};
use crate::model::Config;
use std::path::PathBuf;

pub(crate) fn read(
    text: &str,
    path: PathBuf,
    sources: &mut Sources,
    diags: &mut Vec<Diagnostic>,
    map: &mut SourceMap,
) -> Config {
    let file = sources.add(path, text.to_string());
    match toml::from_str::<Config>(text) {
        Ok(config) => {
            if let Ok(doc) = toml::de::DeTable::parse(text) {
                walk_table(doc.get_ref(), "", file, map);
            }
            config
        }
        Err(e) => {
            let span = e.span().map(|r| Span { file, start: r.start, end: r.end });
            diags.push(Diagnostic::error(span, e.message().trim().to_string()));
            Config::default()
        }
    }
}

fn walk_table(t: &toml::de::DeTable<'_>, prefix: &str, file: FileId, map: &mut SourceMap) {
    for (k, v) in t {
        let path = if prefix.is_empty() { k.get_ref().to_string() } else { format!("{prefix}.{}", k.get_ref()) };
        walk_value(v, &path, file, map);
    }
}

fn walk_value(v: &toml::Spanned<toml::de::DeValue<'_>>, path: &str, file: FileId, map: &mut SourceMap) {
    let r = v.span();
    map.set(path, Span { file, start: r.start, end: r.end });
    match v.get_ref() {
        toml::de::DeValue::Table(t) => walk_table(t, path, file, map),
        toml::de::DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                walk_value(item, &format!("{path}[{i}]"), file, map);
            }
        }
        _ => {}
    }
}
