//! The keepalived.conf preprocessor and tokenizer.
//!
//! Follows keepalived's lib/parser.c: `#` and `!` start a comment anywhere outside double
//! quotes (`\#` and `\!` escape them); a trailing `\` continues the line; a line starting
//! `@ID` is kept only when ID is the config id (`@^ID`: only when it is not); `$NAME=VALUE`
//! defines a variable that `$NAME` and `${NAME}` expand to on later lines; `include GLOB`
//! reads files relative to the including file; `{` and `}` are tokens of their own.

use super::tree::{self, Stmt, Text};
use crate::diag::{Diagnostic, FileId, Sources, Span};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Includes nest at most this deep (keepalived allows a handful; loops are caught earlier).
const MAX_INCLUDE_DEPTH: usize = 32;
/// Variable expansion is repeated at most this often on one line.
const MAX_EXPANSIONS: usize = 64;
/// Tokens gathered before the complete top-level statements among them go to the tree.
const CHUNK_TOKENS: usize = 4096;

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
    pub text: Text,
    pub span: Span,
}

/// A logical line: its text and, for each byte, the file offset it came from.
struct Line<'s> {
    /// The file's own text while unchanged (nearly every line), else a copy.
    text: Cow<'s, str>,
    /// Where each byte came from; `None` while the text is the file's bytes from `base` on,
    /// unchanged but for its end (nearly every line: no continuation, escape or variable),
    /// so that a line costs no offset per byte.
    origin: Option<Vec<usize>>,
    base: usize,
}

impl<'s> Line<'s> {
    /// The file's `text`, which starts at offset `base`.
    fn new(text: &'s str, base: usize) -> Line<'s> {
        Line { text: Cow::Borrowed(text), origin: None, base }
    }

    /// The offsets, made explicit before an edit that moves bytes.
    fn origin_mut(&mut self) -> &mut Vec<usize> {
        let (base, len) = (self.base, self.text.len());
        self.origin.get_or_insert_with(|| (base..base + len).collect())
    }

    /// Appends the file's `text`, which starts at offset `start`.
    fn push(&mut self, text: &str, start: usize) {
        self.origin_mut().extend(start..start + text.len());
        self.text.to_mut().push_str(text);
    }

    fn truncate(&mut self, len: usize) {
        match &mut self.text {
            Cow::Borrowed(t) => *t = t.get(..len).unwrap_or(t),
            Cow::Owned(t) => t.truncate(len),
        }
        if let Some(o) = &mut self.origin {
            o.truncate(len);
        }
    }

    /// Drops the first `n` bytes.
    fn drain_front(&mut self, n: usize) {
        match &mut self.text {
            Cow::Borrowed(t) => *t = t.get(n..).unwrap_or_default(),
            Cow::Owned(t) => {
                t.drain(..n);
            }
        }
        match &mut self.origin {
            Some(o) => {
                o.drain(..n.min(o.len()));
            }
            None => self.base += n,
        }
    }

    /// The file offset of byte `i` (past the end: the last byte's; of an empty line, 0).
    fn at(&self, i: usize) -> usize {
        match &self.origin {
            Some(o) => o.get(i).copied().unwrap_or_else(|| o.last().copied().unwrap_or(0)),
            None if i < self.text.len() => self.base + i,
            None if self.text.is_empty() => 0,
            None => self.base + self.text.len() - 1,
        }
    }

    fn span(&self, file: FileId, start: usize, end: usize) -> Span {
        let s = self.at(start);
        let e = if end > start { self.at(end - 1) + 1 } else { s };
        Span { file, start: s, end: e.max(s) }
    }
}

/// What takes the top-level statements, a chunk at a time, with the diagnostics.
pub(crate) type Sink<'a> = dyn FnMut(Vec<Stmt>, &mut Vec<Diagnostic>) + 'a;

/// Turns a keepalived.conf (and everything it includes) into tokens, and those into
/// top-level statements ([`tree`]) handed to a sink a chunk at a time: neither the tokens nor
/// the statements of a large file are ever all held at once (with 10,000 real servers the
/// tokens alone were 27 MB, each page of it faulted in, and the statement tree, freed only
/// at the end, made malloc slow for the whole read).
pub(crate) struct Lexer<'a> {
    pub sources: &'a mut Sources,
    pub diags: &'a mut Vec<Diagnostic>,
    config_id: &'a str,
    vars: HashMap<String, String>,
    stack: Vec<PathBuf>,
    /// Tokens not yet made statements.
    tokens: Vec<Token>,
    /// Braces open at the end of `tokens` (a stray `}` counts none).
    depth: usize,
    /// Where the statements go.
    sink: &'a mut Sink<'a>,
    /// One line's words, kept to reuse the allocation.
    words: Vec<(Kind, Text, usize, usize)>,
    /// The ids of `@ID` lines, each with its first line, and whether one matched.
    ids: Vec<(String, Span)>,
    id_matched: bool,
}

impl<'a> Lexer<'a> {
    pub fn new(
        sources: &'a mut Sources,
        diags: &'a mut Vec<Diagnostic>,
        config_id: &'a str,
        sink: &'a mut Sink<'a>,
    ) -> Self {
        Lexer {
            sources,
            diags,
            config_id,
            vars: HashMap::new(),
            stack: Vec::new(),
            tokens: Vec::new(),
            depth: 0,
            sink,
            words: Vec::new(),
            ids: Vec::new(),
            id_matched: false,
        }
    }

    /// Hands the last statements to the sink.
    pub fn finish(mut self) {
        self.flush();
        // `@ID` lines and none for this host: every line meant for a director is gone, which
        // is what a wrong or defaulted config id does without a word in keepalived.
        if !self.id_matched {
            if let Some((_, span)) = self.ids.first() {
                let names: Vec<String> = self.ids.iter().map(|(id, _)| format!("`{id}`")).collect();
                let id = if self.config_id.is_empty() { "none".to_string() } else { format!("`{}`", self.config_id) };
                self.diags.push(
                    Diagnostic::warning(
                        Some(*span),
                        format!(
                            "no `@ID` line is for config id {id}: the lines for {} are all left out",
                            names.join(", ")
                        ),
                    )
                    .with_label("not for this config id")
                    .with_note(
                        "the config id is the host name's first label unless given with `-i ID` (`--config-id`)",
                    ),
                );
            }
        }
    }

    /// Makes statements of the tokens gathered and hands them to the sink.
    fn flush(&mut self) {
        let stmts = tree::parse(&mut self.tokens, self.diags);
        self.tokens.clear();
        (self.sink)(stmts, self.diags);
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
        // Lent out while its lines are read (includes add files meanwhile), not copied.
        let src = self.sources.take_text(file);
        // Room for a chunk (about one token per 4 bytes) at once, not a doubling series.
        self.tokens.reserve((src.len() / 4).min(CHUNK_TOKENS + 256));
        let mut pending: Option<Line> = None;
        let mut offset = 0;
        for raw in src.split_inclusive('\n') {
            let start = offset;
            offset += raw.len();
            let body = raw.trim_end_matches(['\n', '\r']);
            let mut line = match pending.take() {
                Some(mut line) => {
                    line.push(body, start);
                    line
                }
                None => Line::new(body, start),
            };
            let (cut, continued, open_quote) = decomment(&mut line);
            line.truncate(cut);
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
                line.truncate(q);
            }
            self.line(file, &path, line);
        }
        if let Some(line) = pending {
            self.line(file, &path, line);
        }
        self.sources.put_text(file, src);
    }

    fn line(&mut self, file: FileId, path: &Path, mut line: Line<'_>) {
        trim_start(&mut line);
        let mut expansions = 0;
        loop {
            if line.text.is_empty() {
                return;
            }
            if line.text.starts_with('@') {
                let (negate, id_start) = if line.text.starts_with("@^") { (true, 2) } else { (false, 1) };
                let Some(id_end) = line.text.find([' ', '\t']) else { return };
                let id = &line.text[id_start..id_end];
                let matches = id == self.config_id;
                if !negate {
                    self.id_matched |= matches;
                    if !self.ids.iter().any(|(seen, _)| seen == id) {
                        let span = line.span(file, 0, id_end);
                        self.ids.push((id.to_string(), span));
                    }
                }
                if matches == negate {
                    return;
                }
                line.drain_front(id_end);
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
        let mut words = std::mem::take(&mut self.words);
        words.clear();
        tokenize(&line, &mut words);
        if words.first().is_some_and(|(k, t, _, _)| *k == Kind::Word && t == "include") {
            self.include(file, path, &line, &words);
            self.words = words;
            return;
        }
        // The statements gathered are complete when no brace is open and this line does not
        // open the last one's block (a `{` may stand alone on the line after its keyword).
        if self.depth == 0 && self.tokens.len() >= CHUNK_TOKENS && words.first().is_some_and(|w| w.0 != Kind::Open) {
            self.flush();
        }
        for (kind, text, s, e) in words.drain(..) {
            match kind {
                Kind::Open => self.depth += 1,
                Kind::Close => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
            self.tokens.push(Token { kind, text, span: line.span(file, s, e) });
        }
        self.words = words;
        let end = line.span(file, line.text.len(), line.text.len());
        self.tokens.push(Token { kind: Kind::Newline, text: Text::default(), span: end });
    }

    /// Replaces the first `$NAME` / `${NAME}` that names a variable; false when none does.
    fn expand(&mut self, line: &mut Line<'_>) -> bool {
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
                let value = value.clone();
                let origins = line.origin_mut();
                let origin = origins.get(at).copied().unwrap_or(0);
                origins.splice(at..end, std::iter::repeat_n(origin, value.len()));
                line.text.to_mut().replace_range(at..end, &value);
                return true;
            }
            i = at + 1;
        }
        false
    }

    fn include(&mut self, file: FileId, path: &Path, line: &Line<'_>, words: &[(Kind, Text, usize, usize)]) {
        let site = line.span(file, 0, line.text.len());
        let Some((_, pattern, s, e)) = words.get(1).map(|(k, p, s, e)| (k, p.as_str(), s, e)) else {
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

fn trim_start(line: &mut Line<'_>) {
    let n = line.text.len() - line.text.trim_start_matches([' ', '\t']).len();
    if n > 0 {
        line.drain_front(n);
    }
}

/// Strips a comment; returns where the line ends, whether it continues on the next line, and
/// the position of an unterminated quote.
fn decomment(line: &mut Line<'_>) -> (usize, bool, Option<usize>) {
    let mut quote: Option<usize> = None;
    let mut i = 0;
    while i < line.text.len() {
        let b = line.text.as_bytes()[i];
        match b {
            b'"' => quote = if quote.is_some() { None } else { Some(i) },
            b'\\' if i + 1 == line.text.len() => return (i, true, None),
            b'\\' if quote.is_none() && matches!(line.text.as_bytes()[i + 1], b'#' | b'!') => {
                line.origin_mut().remove(i);
                line.text.to_mut().remove(i);
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

/// Splits a line into words, quoted strings and braces: (kind, text, start, end), into `out`.
fn tokenize(line: &Line<'_>, out: &mut Vec<(Kind, Text, usize, usize)>) {
    let t = line.text.as_bytes();
    let mut i = 0;
    while i < t.len() {
        match t[i] {
            b' ' | b'\t' | b'\r' => i += 1,
            // Braces carry no text (the tree goes by their kind): no allocation for them.
            b'{' => {
                out.push((Kind::Open, Text::default(), i, i + 1));
                i += 1;
            }
            b'}' => {
                out.push((Kind::Close, Text::default(), i, i + 1));
                i += 1;
            }
            _ => {
                let start = i;
                let mut quoted = false;
                let mut in_quote = false;
                while i < t.len() {
                    let b = t[i];
                    if b == b'"' {
                        in_quote = !in_quote;
                        quoted = true;
                    } else if !in_quote && matches!(b, b' ' | b'\t' | b'\r' | b'{' | b'}') {
                        break;
                    }
                    i += 1;
                }
                // The line is UTF-8 and words split only at ASCII bytes, so the slice is
                // text; a quoted word loses its quotes.
                let raw = line.text.get(start..i).unwrap_or_default();
                let word = if quoted { Text::from(raw.replace('"', "")) } else { Text::new(raw) };
                out.push((Kind::Word, word, start, i));
            }
        }
    }
}
