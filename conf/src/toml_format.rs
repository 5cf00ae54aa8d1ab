//! The TOML reader: serde for the model, and a walk over the spanned document for the source
//! map, so validation points into TOML files as precisely as into keepalived.conf.
//!
//! serde stops at the first error; the reader reports it, blanks the line it is on (spaces,
//! so every other place keeps its offset) and reads again, so that one run reports every
//! line that is wrong, as the keepalived.conf reader does. Errors are worded as that
//! reader's: `priority 300 is out of range 0-255`, `unknown key ... did you mean`.

use crate::diag::{Diagnostic, FileId, SourceMap, Sources, Span};
use crate::model::Config;
use std::path::PathBuf;

/// At most this many errors from one file: past it, the rest is noise.
const MAX_ERRORS: usize = 50;

pub(crate) fn read(
    text: &str,
    path: PathBuf,
    sources: &mut Sources,
    diags: &mut Vec<Diagnostic>,
    map: &mut SourceMap,
) -> Config {
    let file = sources.add(path, text.to_string());
    let mut work = text.to_string();
    let mut blanked: Vec<usize> = Vec::new();
    loop {
        match toml::from_str::<Config>(&work) {
            Ok(config) => {
                if let Ok(doc) = toml::de::DeTable::parse(&work) {
                    walk_table(doc.get_ref(), "", file, map);
                }
                // With errors the file is refused; the model read without the wrong lines
                // is still validated, so that one run says as much as it can.
                return config;
            }
            Err(e) => {
                let span = e.span().map(|r| Span { file, start: r.start, end: r.end });
                diags.push(worded(&work, e.message().trim(), e.span()).map_or_else(
                    || Diagnostic::error(span, e.message().trim().to_string()),
                    |(msg, label, note)| {
                        let d = Diagnostic::error(span, msg).with_label(label);
                        match note {
                            Some(n) => d.with_note(n),
                            None => d,
                        }
                    },
                ));
                // Blank the line and read again, unless that line was blanked already (the
                // error is about a table or a value over several lines) or enough is said.
                // A table's header is not blanked: what it holds would land in the table
                // above and make errors of its own.
                let line = e.span().map(|r| line_start(&work, r.start));
                let header = line.is_some_and(|l| work[l..].trim_start().starts_with('['));
                match line {
                    Some(start) if !header && !blanked.contains(&start) && diags.len() < MAX_ERRORS => {
                        blank_line(&mut work, start);
                        blanked.push(start);
                    }
                    _ => return Config::default(),
                }
            }
        }
    }
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].rfind('\n').map_or(0, |i| i + 1)
}

/// Replaces the line starting at `start` with spaces (its newline stays).
fn blank_line(text: &mut String, start: usize) {
    let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    text.replace_range(start..end, &" ".repeat(end - start));
}

/// The key whose value sits at `span`: the word before the `=` on that line.
fn key_at(text: &str, at: usize) -> Option<&str> {
    let line = &text[line_start(text, at)..at.min(text.len())];
    let key = line.split_once('=')?.0.trim().trim_matches('"');
    (!key.is_empty()).then_some(key)
}

/// serde's words for the two commonest mistakes, in the keepalived reader's: a number out
/// of its type's range, and an unknown key (with the nearest the table has).
fn worded(text: &str, message: &str, span: Option<std::ops::Range<usize>>) -> Option<(String, String, Option<String>)> {
    let span = span?;
    if let Some(rest) = message.strip_prefix("invalid value: integer `") {
        let (value, ty) = rest.split_once("`, expected ")?;
        let (min, max): (i64, i64) = match ty {
            "u8" => (0, u8::MAX.into()),
            "u16" => (0, u16::MAX.into()),
            "u32" => (0, u32::MAX.into()),
            "i32" => (i32::MIN.into(), i32::MAX.into()),
            _ => return None,
        };
        let key = key_at(text, span.start)?;
        return Some((format!("{key} {value} is out of range {min}-{max}"), format!("must be {min}-{max}"), None));
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`')?;
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let near = known
            .iter()
            .map(|k| (strsim::osa_distance(k, field), *k))
            .filter(|(d, _)| *d <= if field.len() < 6 { 1 } else { 2 })
            .min_by_key(|(d, _)| *d)
            .map(|(_, k)| format!("did you mean `{k}`?"));
        return Some((format!("unknown key `{field}`"), "not a key here".to_string(), near));
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanking_keeps_every_other_offset() {
        let mut t = "a = 1\nb = x\nc = 3\n".to_string();
        let start = line_start(&t, 8);
        blank_line(&mut t, start);
        assert_eq!(t, "a = 1\n     \nc = 3\n");
        assert_eq!(key_at("x = 1\n  priority = 300\n", 19), Some("priority"));
    }
}
