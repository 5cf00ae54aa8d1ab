//! Reading values out of keepalived.conf statements, with a diagnostic for each bad one.

use super::tree::{Stmt, Word};
use crate::diag::{Diagnostic, SourceMap, Span};
use crate::model::RunAs;
use std::net::IpAddr;

/// What the mapping from statements to the model writes to.
pub(crate) struct Ctx<'a> {
    pub diags: &'a mut Vec<Diagnostic>,
    pub map: &'a mut SourceMap,
    /// The priorities given to rules written without one (see [`super::route::RulePriorities`]).
    pub rule_priorities: &'a mut super::route::RulePriorities,
}

impl Ctx<'_> {
    pub fn error(&mut self, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(Some(span), msg));
    }

    pub fn warn(&mut self, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::warning(Some(span), msg));
    }

    /// A keyword the reader of `block` (a path of keywords as keepalived nests them, `-` for
    /// the top level: see [`super::keywords`]) does not take. keepalived warns about a keyword
    /// it does not know and goes on; so does tandem, except for a typo of a keyword of this
    /// block, which is an error with the suggestion (a misspelt `virtual_server` would
    /// otherwise leave the load balancer out without a word). A keyword keepalived takes
    /// here and tandem does not is warned as not supported.
    pub fn unknown(&mut self, st: &Stmt, block: &str) {
        use super::keywords::{Verdict, block_name, judge};
        let kw = &st.keyword.text;
        let span = Some(st.keyword.span);
        let here = block_name(block);
        let d = match judge(block, kw) {
            Verdict::Unsupported => {
                let d = Diagnostic::warning(span, format!("keepalived's `{kw}` is not supported by tandem; ignored"))
                    .with_label("not supported");
                match super::unsupported::loss(kw) {
                    Some(loss) => d.with_note(format!("without it: {loss}")),
                    None => d,
                }
            }
            Verdict::Typo(near) => Diagnostic::error(span, format!("unknown keyword `{kw}` in {here}"))
                .with_label("not a keyword here")
                .with_note(format!("did you mean `{near}`?")),
            Verdict::Elsewhere(blocks) => {
                let names: Vec<String> = blocks.iter().map(|b| format!("`{}`", block_name(b))).collect();
                Diagnostic::warning(
                    span,
                    format!("`{kw}` is a keyword of {}, not of {here}; ignored", names.join(" and ")),
                )
                .with_label("not a keyword here")
                .with_note("a misplaced closing brace puts keywords in the wrong block")
            }
            Verdict::Unknown => Diagnostic::warning(span, format!("unknown keyword `{kw}` in {here}; ignored"))
                .with_label("not a keyword here"),
        };
        self.diags.push(d);
    }

    /// Records where `path` (a model path) was written: the statement's arguments.
    pub fn at(&mut self, path: &str, st: &Stmt) {
        self.map.set(path, args_span(st));
    }

    /// As [`Ctx::at`], making the path only when the source map records (not for a reload:
    /// formatting a path per statement was a good part of reading a large file).
    pub fn at_with(&mut self, path: impl FnOnce() -> String, st: &Stmt) {
        self.map.set_with(path, args_span(st));
    }

    /// `path` when the source map records, else an empty one (the paths a reader hands down
    /// are only for the map).
    pub fn path(&self, path: impl FnOnce() -> String) -> String {
        if self.map.is_on() { path() } else { String::new() }
    }

    /// Warns about arguments past `n` that nothing reads.
    pub fn extra(&mut self, st: &Stmt, n: usize) {
        if let Some(w) = st.args.get(n) {
            let span = Span { end: st.span().end, ..w.span };
            self.warn(
                span,
                format!(
                    "extra argument{} to `{}` ignored",
                    if st.args.len() > n + 1 { "s" } else { "" },
                    st.keyword.text
                ),
            );
        }
    }

    /// The `i`th argument, or an error naming what is missing.
    pub fn arg<'s>(&mut self, st: &'s Stmt, i: usize, what: &str) -> Option<&'s Word> {
        let w = st.args.get(i);
        if w.is_none() {
            self.error(st.span(), format!("`{}` needs {what}", st.keyword.text));
        }
        w
    }

    /// An integer argument within `min..=max`.
    pub fn int<T: TryFrom<i64>>(&mut self, st: &Stmt, i: usize, min: i64, max: i64) -> Option<T> {
        let w = self.arg(st, i, "a number")?;
        self.int_word(&st.keyword.text, w, min, max)
    }

    /// An integer word within `min..=max`.
    pub fn int_word<T: TryFrom<i64>>(&mut self, key: &str, w: &Word, min: i64, max: i64) -> Option<T> {
        match w.text.parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => T::try_from(v).ok(),
            Ok(v) => {
                self.diags.push(
                    Diagnostic::error(Some(w.span), format!("{key} {v} is out of range {min}-{max}"))
                        .with_label(format!("must be {min}-{max}")),
                );
                None
            }
            Err(_) => {
                self.diags.push(
                    Diagnostic::error(Some(w.span), format!("{key}: `{}` is not a whole number", w.text))
                        .with_label("expected a number"),
                );
                None
            }
        }
    }

    /// A number of seconds (fractions allowed) within `min..=max`.
    pub fn secs(&mut self, st: &Stmt, i: usize, min: f64, max: f64) -> Option<f64> {
        let w = self.arg(st, i, "a number of seconds")?;
        match w.text.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= min && v <= max => Some(v),
            Ok(v) => {
                self.diags.push(
                    Diagnostic::error(Some(w.span), format!("{} {v} is out of range {min}-{max}", st.keyword.text))
                        .with_label(format!("must be {min}-{max} seconds")),
                );
                None
            }
            Err(_) => {
                self.diags.push(
                    Diagnostic::error(
                        Some(w.span),
                        format!("{}: `{}` is not a number of seconds", st.keyword.text, w.text),
                    )
                    .with_label("expected a number"),
                );
                None
            }
        }
    }

    /// An IP address argument.
    pub fn ip(&mut self, st: &Stmt, i: usize) -> Option<IpAddr> {
        let w = self.arg(st, i, "an IP address")?;
        self.ip_word(&st.keyword.text, w)
    }

    /// An IP address word.
    pub fn ip_word(&mut self, key: &str, w: &Word) -> Option<IpAddr> {
        match w.text.parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.diags.push(
                    Diagnostic::error(Some(w.span), format!("{key}: `{}` is not an IP address", w.text))
                        .with_label("expected an IPv4 or IPv6 address"),
                );
                None
            }
        }
    }

    /// The single word argument.
    pub fn word(&mut self, st: &Stmt, what: &str) -> Option<String> {
        let w = self.arg(st, 0, what)?.text.to_string();
        self.extra(st, 1);
        Some(w)
    }

    /// A command line: all arguments joined (keepalived takes the rest of the line).
    pub fn command(&mut self, st: &Stmt) -> Option<String> {
        self.arg(st, 0, "a command")?;
        Some(st.args.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" "))
    }

    /// A flag: true, warning about arguments.
    pub fn flag(&mut self, st: &Stmt) -> bool {
        self.extra(st, 0);
        true
    }

    /// `KEYWORD [true|false|on|off|yes|no]`: keepalived's optional boolean (lib/parser.c
    /// check_true_false).
    pub fn bool_opt(&mut self, st: &Stmt) -> bool {
        let value = match st.args.first().map(|w| w.text.to_ascii_lowercase()) {
            None => true,
            Some(v) if matches!(v.as_str(), "true" | "on" | "yes") => true,
            Some(v) if matches!(v.as_str(), "false" | "off" | "no") => false,
            Some(_) => {
                self.error(st.args[0].span, format!("`{}` takes true or false", st.keyword.text));
                false
            }
        };
        self.extra(st, 1);
        value
    }

    /// `user USER [GROUP]`.
    pub fn run_as(&mut self, st: &Stmt) -> Option<RunAs> {
        let user = self.arg(st, 0, "a user name")?.text.to_string();
        let group = st.args.get(1).map(|w| w.text.to_string());
        self.extra(st, 2);
        Some(RunAs { user, group })
    }

    /// `weight N [reverse]`, `N` within `min..=max`.
    pub fn weight(&mut self, st: &Stmt, min: i64, max: i64) -> Option<(i32, bool)> {
        let w = self.int::<i32>(st, 0, min, max)?;
        let reverse = match st.args.get(1) {
            Some(r) if r.text == "reverse" => true,
            Some(r) => {
                self.error(r.span, format!("expected `reverse` after the weight, found `{}`", r.text));
                false
            }
            None => false,
        };
        self.extra(st, 2);
        Some((w, reverse))
    }

    /// The block of a statement that must have one; an error when it has none.
    pub fn block<'s>(&mut self, st: &'s Stmt) -> &'s [Stmt] {
        match &st.block {
            Some(b) => b,
            None => {
                self.error(st.span(), format!("`{}` needs a `{{ ... }}` block", st.keyword.text));
                &[]
            }
        }
    }

    /// Complains when a statement that takes no block has one.
    pub fn no_block(&mut self, st: &Stmt) {
        if st.block.is_some() {
            self.error(st.keyword.span, format!("`{}` does not take a block", st.keyword.text));
        }
    }
}

/// The arguments of a statement (its keyword when it has none).
pub(crate) fn args_span(st: &Stmt) -> Span {
    match st.args.first() {
        Some(first) => Span { end: st.span().end, ..first.span },
        None => st.keyword.span,
    }
}

/// A word with keepalived's escapes translated, as it reads `regex` (lib/parser.c,
/// `alloc_strvec_quoted_escaped`): `\xHH...`, `\cX` (control character), `\NNN` (octal, up to
/// three digits), `\a \b \E \f \n \r \t \v`, and any other escaped character as itself.
pub(crate) fn unescape(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = b.get(i) else { return Err(format!("`{s}` ends in a lone backslash")) };
        i += 1;
        let byte = match e {
            b'x' if b.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                let mut v: u8 = 0;
                while let Some(d) = b.get(i).and_then(|&d| (d as char).to_digit(16)) {
                    v = (v << 4) | d as u8; // keepalived keeps the low byte of a long run
                    i += 1;
                }
                v
            }
            b'c' if i < b.len() => {
                i += 1;
                b[i - 1] & 0x1f
            }
            b'0'..=b'7' => {
                let mut v = e - b'0';
                for _ in 0..2 {
                    match b.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v.wrapping_shl(3).wrapping_add(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                v
            }
            b'a' => 0x07,
            b'b' => 0x08,
            b'E' => 0x1b,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'v' => 0x0b,
            other => other,
        };
        out.push(byte);
    }
    String::from_utf8(out).map_err(|_| format!("`{s}` is not UTF-8 once its escapes are translated"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::unescape;

    #[test]
    fn escapes_translate_as_keepalived_reads_them() {
        assert_eq!(unescape(r"a\\d+\.x").unwrap(), r"a\d+.x");
        assert_eq!(unescape(r"\x41\x4aZ\101\cA\t\n\E\q").unwrap(), "AJZA\u{1}\t\n\u{1b}q");
        // Every hex digit after \x is taken, as keepalived does: 0x4a2 keeps its low byte, 0xa2,
        // which alone is no UTF-8.
        assert!(unescape(r"\x4a2").is_err());
        assert_eq!(unescape(r"\x20").unwrap(), " ");
        assert!(unescape(r"ends\").is_err());
        assert!(unescape(r"\xff").is_err()); // a lone 0xff byte is not UTF-8
    }
}
