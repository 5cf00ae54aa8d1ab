//! The keepalived.conf preprocessor and tokenizer.
//!
//! Follows keepalived's lib/parser.c: `#` and `!` start a comment anywhere outside double
//! quotes (`\#` and `\!` escape them); a trailing `\` continues the line; a line starting
//! `@ID` is kept only when ID is the config id (`@^ID`: only when it is not); `$NAME=VALUE`
//! defines a variable that `$NAME` and `${NAME}` expand to on later lines; `include GLOB`
//! reads files relative to the including file; `{` and `}` are tokens of their own.

use crate::diag::{Diagnostic, FileId, Sources, Span};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Includes nest at most this deep (keepalived allows a handful; loops are caught earlier).
const MAX_INCLUDE_DEPTH: usize = 32;
/// Variable expansion is repeated at most this often on one line.
const MAX_EXPANSIONS: usize = 64;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A word or a quoted string (quotes removed).
    Word,
    /// `{`.
    Open,
    /// `}`.
    Close,
    /// End of a line.
    Newline,
}

/// One token with the place it came from.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub kind: Kind,
    pub text: String,
    pub span: Span,
}

/// A logical line: its text and, for each byte, the file offset it came from.
struct Line {
    text: String,
    origin: Vec<usize>,
}

impl Line {
    fn span(&self, file: FileId, start: usize, end: usize) -> Span {
        let at = |i: usize| self.origin.get(i).copied().unwrap_or_else(|| self.origin.last().copied().unwrap_or(0));
        let s = at(start);
        let e = if end > start { at(end - 1) + 1 } else { s };
        Span { file, start: s, end: e.max(s) }
    }
}

/// Turns a keepalived.conf (and everything it includes) into tokens.
pub(crate) struct Lexer<'a> {
    pub sources: &'a mut Sources,
    pub diags: &'a mut Vec<Diagnostic>,
    config_id: &'a str,
    vars: HashMap<String, String>,
    stack: Vec<PathBuf>,
    pub tokens: Vec<Token>,
}

impl<'a> Lexer<'a> {
    pub fn new(sources: &'a mut Sources, diags: &'a mut Vec<Diagnostic>, config_id: &'a str) -> Self {
        Lexer { sources, diags, config_id, vars: HashMap::new(), stack: Vec::new(), tokens: Vec::new() }
    }

    /// Reads a file from disk; `site` is the include statement that named it.
    pub fn file(&mut self, path: &Path, site: Option<Span>) {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if self.stack.contains(&canonical) {
            self.diags.push(
                Diagnostic::error(site, format!("`{}` includes itself", path.display())).with_label("include loop"),
            );
            return;
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            self.diags.push(Diagnostic::error(site, format!("includes nest deeper than {MAX_INCLUDE_DEPTH}")));
            return;
        }
        match std::fs::read(path) {
            Ok(bytes) => {
                let text = match String::from_utf8(bytes) {
                    Ok(t) => t,
                    Err(e) => {
                        self.diags.push(Diagnostic::error(
                            site,
                            format!(
                                "`{}` is not UTF-8 text (invalid byte at offset {})",
                                path.display(),
                                e.utf8_error().valid_up_to()
                            ),
                        ));
                        return;
                    }
                };
                self.stack.push(canonical);
                self.text(path.to_path_buf(), text);
                self.stack.pop();
            }
            Err(e) => {
                let what = if site.is_some() { "cannot read included file" } else { "cannot read" };
                self.diags.push(Diagnostic::error(site, format!("{what} `{}`: {e}", path.display())));
            }
        }
    }

    /// Lexes text that was read from `path`.
    pub fn text(&mut self, path: PathBuf, text: String) {
        let file = self.sources.add(path.clone(), text);
        let Some(src) = self.sources.get(file).map(|f| f.text.clone()) else { return };
        let mut pending: Option<Line> = None;
        let mut offset = 0;
        for raw in src.split_inclusive('\n') {
            let start = offset;
            offset += raw.len();
            let body = raw.trim_end_matches(['\n', '\r']);
            let mut line = pending.take().unwrap_or(Line { text: String::new(), origin: Vec::new() });
            line.text.push_str(body);
            line.origin.extend(start..start + body.len());
            let (cut, continued, open_quote) = decomment(&mut line);
            line.text.truncate(cut);
            line.origin.truncate(cut);
            if continued {
                pending = Some(line);
                continue;
            }
            if let Some(q) = open_quote {
                let span = line.span(file, q, line.text.len());
                self.diags.push(
                    Diagnostic::error(Some(span), "unterminated quoted string")
                        .with_label("this quote is never closed"),
                );
                line.text.truncate(q);
                line.origin.truncate(q);
            }
            self.line(file, &path, line);
        }
        if let Some(line) = pending {
            self.line(file, &path, line);
        }
    }

    fn line(&mut self, file: FileId, path: &Path, mut line: Line) {
        trim_start(&mut line);
        let mut expansions = 0;
        loop {
            if line.text.is_empty() {
                return;
            }
            if line.text.starts_with('@') {
                let (negate, id_start) = if line.text.starts_with("@^") { (true, 2) } else { (false, 1) };
                let Some(id_end) = line.text.find([' ', '\t']) else { return };
                let matches = &line.text[id_start..id_end] == self.config_id;
                if matches == negate {
                    return;
                }
                line.text.drain(..id_end);
                line.origin.drain(..id_end);
                trim_start(&mut line);
                continue;
            }
            if let Some((name, value)) = definition(&line.text) {
                self.vars.insert(name, value);
                return;
            }
            if expansions < MAX_EXPANSIONS && line.text.contains('$') && !self.vars.is_empty() {
                if self.expand(&mut line) {
                    expansions += 1;
                    trim_start(&mut line);
                    continue;
                }
            } else if expansions >= MAX_EXPANSIONS {
                let span = line.span(file, 0, line.text.len());
                self.diags.push(Diagnostic::error(
                    Some(span),
                    "variables expand without end (a definition refers to itself?)",
                ));
                return;
            }
            break;
        }
        let words = tokenize(&line);
        if words.first().is_some_and(|(k, t, _, _)| *k == Kind::Word && t == "include") {
            self.include(file, path, &line, &words);
            return;
        }
        for (kind, text, s, e) in words {
            self.tokens.push(Token { kind, text, span: line.span(file, s, e) });
        }
        let end = line.span(file, line.text.len(), line.text.len());
        self.tokens.push(Token { kind: Kind::Newline, text: String::new(), span: end });
    }

    /// Replaces the first `$NAME` / `${NAME}` that names a variable; false when none does.
    fn expand(&mut self, line: &mut Line) -> bool {
        let bytes = line.text.as_bytes();
        let mut i = 0;
        while let Some(rel) = line.text[i..].find('$') {
            let at = i + rel;
            let braced = bytes.get(at + 1) == Some(&b'{');
            let name_start = at + 1 + usize::from(braced);
            let name_len = line.text[name_start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(line.text.len() - name_start);
            let name = &line.text[name_start..name_start + name_len];
            let closed = !braced || bytes.get(name_start + name_len) == Some(&b'}');
            if let (true, Some(value)) = (closed && !name.is_empty(), self.vars.get(name)) {
                let end = name_start + name_len + usize::from(braced);
                let origin = line.origin.get(at).copied().unwrap_or(0);
                line.text.replace_range(at..end, value);
                line.origin.splice(at..end, std::iter::repeat_n(origin, value.len()));
                return true;
            }
            i = at + 1;
        }
        false
    }

    fn include(&mut self, file: FileId, path: &Path, line: &Line, words: &[(Kind, String, usize, usize)]) {
        let site = line.span(file, 0, line.text.len());
        let Some((_, pattern, s, e)) = words.get(1) else {
            self.diags.push(Diagnostic::error(Some(site), "`include` needs a file name or pattern"));
            return;
        };
        let site = line.span(file, *s, *e);
        let base = path.parent().unwrap_or(Path::new("."));
        let full = if Path::new(pattern).is_absolute() { PathBuf::from(pattern) } else { base.join(pattern) };
        let is_glob = pattern.contains(['*', '?', '[']);
        if !is_glob {
            self.file(&full, Some(site));
            return;
        }
        let full_str = full.to_string_lossy().into_owned();
        let paths = match glob::glob(&full_str) {
            Ok(p) => p,
            Err(err) => {
                self.diags.push(Diagnostic::error(Some(site), format!("bad include pattern `{pattern}`: {err}")));
                return;
            }
        };
        let mut found: Vec<PathBuf> = Vec::new();
        for entry in paths {
            match entry {
                Ok(p) => found.push(p),
                Err(err) => self.diags.push(Diagnostic::error(
                    Some(site),
                    format!("cannot read included file `{}`: {}", err.path().display(), err.error()),
                )),
            }
        }
        if found.is_empty() {
            self.diags.push(Diagnostic::warning(Some(site), format!("`include {pattern}` matches no file")));
        }
        found.sort();
        for p in found {
            self.file(&p, Some(site));
        }
    }
}

fn trim_start(line: &mut Line) {
    let n = line.text.len() - line.text.trim_start_matches([' ', '\t']).len();
    line.text.drain(..n);
    line.origin.drain(..n);
}

/// Strips a comment; returns where the line ends, whether it continues on the next line, and
/// the position of an unterminated quote.
fn decomment(line: &mut Line) -> (usize, bool, Option<usize>) {
    let mut quote: Option<usize> = None;
    let mut i = 0;
    while i < line.text.len() {
        let b = line.text.as_bytes()[i];
        match b {
            b'"' => quote = if quote.is_some() { None } else { Some(i) },
            b'\\' if i + 1 == line.text.len() => return (i, true, None),
            b'\\' if quote.is_none() && matches!(line.text.as_bytes()[i + 1], b'#' | b'!') => {
                line.text.remove(i);
                line.origin.remove(i);
            }
            b'\\' => i += 1,
            b'#' | b'!' if quote.is_none() => return (i, false, None),
            _ => {}
        }
        i += 1;
    }
    (line.text.len(), false, quote)
}

/// `$NAME=VALUE` (spaces allowed around `=`).
fn definition(text: &str) -> Option<(String, String)> {
    let rest = text.strip_prefix('$')?;
    let first = rest.chars().next()?;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return None;
    }
    let name_len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
    let after = rest[name_len..].trim_start_matches([' ', '\t']);
    let value = after.strip_prefix('=')?;
    Some((rest[..name_len].to_string(), value.trim_matches([' ', '\t']).to_string()))
}

/// Splits a line into words, quoted strings and braces: (kind, text, start, end).
fn tokenize(line: &Line) -> Vec<(Kind, String, usize, usize)> {
    let t = line.text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        match t[i] {
            b' ' | b'\t' | b'\r' => i += 1,
            b'{' => {
                out.push((Kind::Open, "{".to_string(), i, i + 1));
                i += 1;
            }
            b'}' => {
                out.push((Kind::Close, "}".to_string(), i, i + 1));
                i += 1;
            }
            _ => {
                let start = i;
                let mut word = Vec::new();
                let mut in_quote = false;
                while i < t.len() {
                    let b = t[i];
                    if b == b'"' {
                        in_quote = !in_quote;
                    } else if !in_quote && matches!(b, b' ' | b'\t' | b'\r' | b'{' | b'}') {
                        break;
                    } else {
                        word.push(b);
                    }
                    i += 1;
                }
                // The line is UTF-8 and words split only at ASCII bytes, so this never copies.
                let word =
                    String::from_utf8(word).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                out.push((Kind::Word, word, start, i));
            }
        }
    }
    out
}
