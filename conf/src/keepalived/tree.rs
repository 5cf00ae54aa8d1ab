//! Groups keepalived.conf tokens into statements and blocks.
//!
//! A statement is a keyword and its arguments up to the end of the line, a `{` or a `}`. A
//! `{` (on the same line or alone on the next) opens the statement's block, which runs to the
//! matching `}`; so one-line blocks such as `track_script { chk }` work.

use super::lexer::{Kind, Token};
use crate::diag::{Diagnostic, Span};

/// A word with its place.
#[derive(Debug, Clone)]
pub(crate) struct Word {
    pub text: String,
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
