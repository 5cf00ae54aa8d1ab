//! Groups keepalived.conf tokens into statements and blocks.
//!
//! A statement is a keyword and its arguments up to the end of the line, a `{` or a `}`. A
//! `{` (on the same line or alone on the next) opens the statement's block, which runs to the
//! matching `}`; so one-line blocks such as `track_script { chk }` work.

use super::lexer::{Kind, Token};
use crate::diag::{Diagnostic, Span};

/// Bytes a [`Text`] holds without an allocation.
const INLINE: usize = 22;

/// A word's text. Short ones (nearly every word of a file: keywords, addresses, numbers) are
/// held inline: a large file's words were one allocation each, and their allocation and
/// freeing a good part of reading it.
#[derive(Clone)]
pub(crate) enum Text {
    /// Up to [`INLINE`] bytes of UTF-8.
    Inline { len: u8, bytes: [u8; INLINE] },
    /// A longer one.
    Heap(String),
}

impl Text {
    pub fn new(s: &str) -> Text {
        match u8::try_from(s.len()) {
            Ok(len) if s.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..s.len()].copy_from_slice(s.as_bytes());
                Text::Inline { len, bytes }
            }
            _ => Text::Heap(s.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            // Always UTF-8: made from a `str`, cut at its end.
            Text::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default(),
            Text::Heap(s) => s,
        }
    }
}

impl Default for Text {
    fn default() -> Text {
        Text::Inline { len: 0, bytes: [0; INLINE] }
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        if s.len() <= INLINE { Text::new(&s) } else { Text::Heap(s) }
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A word with its place.
#[derive(Debug, Clone)]
pub(crate) struct Word {
    pub text: Text,
    pub span: Span,
}

/// `keyword args... [{ block }]`.
#[derive(Debug, Clone)]
pub(crate) struct Stmt {
    pub keyword: Word,
    pub args: Vec<Word>,
    pub block: Option<Vec<Stmt>>,
}

impl Stmt {
    /// The keyword and its arguments.
    pub fn span(&self) -> Span {
        self.args.last().map_or(self.keyword.span, |a| self.keyword.span.to(a.span))
    }
}

/// Builds the statement tree, taking the tokens' text; unbalanced braces are reported.
pub(crate) fn parse(tokens: &mut [Token], diags: &mut Vec<Diagnostic>) -> Vec<Stmt> {
    let mut p = Parser { tokens, pos: 0 };
    p.block(None, diags)
}

struct Parser<'t> {
    tokens: &'t mut [Token],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<(Kind, Span)> {
        self.tokens.get(self.pos).map(|t| (t.kind, t.span))
    }

    /// The current token's text, taken out of it.
    fn take_word(&mut self) -> Word {
        let t = &mut self.tokens[self.pos];
        self.pos += 1;
        Word { text: std::mem::take(&mut t.text), span: t.span }
    }

    /// Statements until the `}` that closes `open` (or the end, at top level).
    fn block(&mut self, open: Option<Span>, diags: &mut Vec<Diagnostic>) -> Vec<Stmt> {
        let mut out = Vec::new();
        while let Some((kind, span)) = self.peek() {
            match kind {
                Kind::Newline => self.pos += 1,
                Kind::Close => {
                    self.pos += 1;
                    if open.is_some() {
                        return out;
                    }
                    diags.push(Diagnostic::error(Some(span), "unexpected `}`").with_label("no block is open here"));
                }
                Kind::Open => {
                    self.pos += 1;
                    diags.push(
                        Diagnostic::error(Some(span), "`{` without a keyword before it")
                            .with_label("block has no keyword"),
                    );
                    let _ = self.block(Some(span), diags);
                }
                Kind::Word => out.push(self.stmt(diags)),
            }
        }
        if let Some(span) = open {
            diags.push(Diagnostic::error(Some(span), "unclosed `{`").with_label("this block is never closed"));
        }
        out
    }

    fn stmt(&mut self, diags: &mut Vec<Diagnostic>) -> Stmt {
        let keyword = self.take_word();
        let mut args = Vec::new();
        while let Some((Kind::Word, _)) = self.peek() {
            args.push(self.take_word());
        }
        // A block may open on this line, or alone on the next one.
        let mut look = self.pos;
        if self.tokens.get(look).is_some_and(|t| t.kind == Kind::Newline) {
            look += 1;
        }
        let block = match self.tokens.get(look) {
            Some(t) if t.kind == Kind::Open => {
                let open = t.span;
                self.pos = look + 1;
                Some(self.block(Some(open), diags))
            }
            _ => None,
        };
        Stmt { keyword, args, block }
    }
}
