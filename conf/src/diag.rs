//! Diagnostics with file:line:column, rendered like rustc's.

use std::fmt;
use std::path::{Path, PathBuf};

/// Index of a file in [`Sources`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId(pub(crate) u32);

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    /// The file.
    pub file: FileId,
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span covering both (same file assumed; else `self`).
    pub fn to(self, other: Span) -> Span {
        if self.file != other.file {
            return self;
        }
        Span { file: self.file, start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

/// One source file's text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as given or resolved.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
    line_starts: Vec<usize>,
}

/// Every file read while loading a configuration (the main file and its includes).
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

/// A human position: 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub path: PathBuf,
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

impl Sources {
    /// Adds a file and returns its id.
    pub fn add(&mut self, path: PathBuf, text: String) -> FileId {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        self.files.push(SourceFile { path, text, line_starts });
        FileId(u32::try_from(self.files.len() - 1).unwrap_or(u32::MAX))
    }

    /// Lends a file's text out (the file keeps an empty one until [`Sources::put_text`]).
    pub(crate) fn take_text(&mut self, id: FileId) -> String {
        self.files.get_mut(id.0 as usize).map(|f| std::mem::take(&mut f.text)).unwrap_or_default()
    }

    /// Gives a file's text back.
    pub(crate) fn put_text(&mut self, id: FileId, text: String) {
        if let Some(f) = self.files.get_mut(id.0 as usize) {
            f.text = text;
        }
    }

    /// The file with this id.
    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    /// All files, main file first.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// The id of a file already read, by path.
    pub fn find(&self, path: &Path) -> Option<FileId> {
        self.files.iter().position(|f| f.path == path).and_then(|i| u32::try_from(i).ok()).map(FileId)
    }

    /// Line and column of a span's start.
    pub fn location(&self, span: Span) -> Option<Location> {
        let file = self.get(span.file)?;
        let line = match file.line_starts.binary_search(&span.start) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let line_start = file.line_starts[line];
        let column = file.text.get(line_start..span.start)?.chars().count() + 1;
        Some(Location { path: file.path.clone(), line: line + 1, column })
    }

    /// The text a span covers.
    pub fn text(&self, span: Span) -> Option<&str> {
        self.get(span.file)?.text.get(span.start..span.end)
    }
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The file is still usable; `--strict` makes it an error.
    Warning,
    /// The file is rejected.
    Error,
}

/// One finding about a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in one line.
    pub message: String,
    /// Where, when it is somewhere in a file.
    pub span: Option<Span>,
    /// A short label under the caret.
    pub label: Option<String>,
    /// Further lines (`= note: ...`).
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// An error at a span.
    pub fn error(span: Option<Span>, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Error, message: message.into(), span, label: None, notes: vec![] }
    }

    /// A warning at a span.
    pub fn warning(span: Option<Span>, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, message: message.into(), span, label: None, notes: vec![] }
    }

    /// Adds a label under the caret.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Adds a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Renders it like rustc: message, `--> file:line:col`, the line and a caret.
    pub fn render(&self, sources: &Sources) -> String {
        use annotate_snippets::{Level, Renderer, Snippet};
        let level = match self.severity {
            Severity::Error => Level::Error,
            Severity::Warning => Level::Warning,
        };
        let file = self.span.and_then(|s| sources.get(s.file).map(|f| (s, f)));
        let path_str;
        let mut message = level.title(&self.message);
        if let Some((span, file)) = file {
            path_str = file.path.display().to_string();
            let end = if span.end > span.start { span.end } else { next_char_end(&file.text, span.start) };
            // rustc puts `^` under the primary span of warnings too; annotate-snippets draws
            // `-` for warning-level annotations, so the caret is drawn at error level.
            let mut ann = Level::Error.span(span.start..end);
            if let Some(l) = &self.label {
                ann = ann.label(l);
            }
            message = message.snippet(Snippet::source(&file.text).origin(&path_str).fold(true).annotation(ann));
        }
        for n in &self.notes {
            message = message.footer(Level::Note.title(n));
        }
        Renderer::plain().render(message).to_string()
    }
}

fn next_char_end(text: &str, at: usize) -> usize {
    text.get(at..).and_then(|t| t.chars().next()).map_or(at, |c| at + c.len_utf8())
}

/// Maps a model path (`vrrp_instance[0].priority`) to where it was written.
///
/// Both readers record the places they take values from under the serde names of the model,
/// so validation can point at the offending text whichever format it came from.
///
/// A map made [`SourceMap::off`] records nothing (see [`crate::Options::no_source_map`]).
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    spans: std::collections::HashMap<String, Span>,
    off: bool,
}

impl SourceMap {
    /// A map that records nothing: every lookup finds nothing.
    pub fn off() -> SourceMap {
        SourceMap { spans: Default::default(), off: true }
    }

    /// False for a map that records nothing: the readers skip making the paths.
    pub fn is_on(&self) -> bool {
        !self.off
    }

    /// Records where `path` was written (the first record wins).
    pub fn insert(&mut self, path: impl Into<String>, span: Span) {
        if self.off {
            return;
        }
        self.spans.entry(path.into()).or_insert(span);
    }

    /// Records where `path` was written, replacing an earlier record.
    pub fn set(&mut self, path: impl Into<String>, span: Span) {
        self.set_with(|| path.into(), span);
    }

    /// As [`SourceMap::set`], making the path only when the map records.
    pub(crate) fn set_with(&mut self, path: impl FnOnce() -> String, span: Span) {
        if self.off {
            return;
        }
        self.spans.insert(path(), span);
    }

    /// Where `path` was written; else where its nearest written ancestor was.
    pub fn lookup(&self, path: &str) -> Option<Span> {
        let mut p = path;
        loop {
            if let Some(s) = self.spans.get(p) {
                return Some(*s);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }

    /// Exactly where `path` was written, without falling back.
    pub fn exact(&self, path: &str) -> Option<Span> {
        self.spans.get(path).copied()
    }
}
