//! HTTP_GET / SSL_GET `regex`: a url's pattern compiled with its `regex_options`, by PCRE2
//! as keepalived does (keepalived/check/check_http.c, `regex_options[]` and `prepare_regex`).
//!
//! keepalived passes each option as a PCRE2 compile flag. Here the flags the binding takes
//! are set on the builder (caseless, dotall, extended, multiline, ucp, utf); those PCRE2
//! also accepts as settings at the start of the pattern are put there, which PCRE2 defines
//! as the same thing (pcre2pattern(3)): `(?U)` ungreedy, `(?J)` dupnames, `(?n)`
//! no_auto_capture, `(*NO_AUTO_POSSESS)`, `(*NO_DOTSTAR_ANCHOR)`, `(*NO_START_OPT)`.
//! `firstline` (the match starts on the first line) is applied when matching, see
//! [`Compiled::firstline`]. `never_utf`, `never_ucp` and `never_backslash_c` refuse a pattern
//! that uses what they forbid, as PCRE2 would. `auto_callout` and `use_offset_limit` change
//! nothing unless a callout function or an offset limit is set, and keepalived sets neither.
//! The others (allow_empty_class, alt_bsux, alt_circumflex, alt_verbnames, dollar_endonly,
//! match_unset_backref) have no form outside PCRE2's compile flags and are refused, rather
//! than matched differently. keepalived ignores names it does not know; so does
//! [`compile`] (the validator warns about them).

use pcre2::bytes::{Regex, RegexBuilder};

/// What an option does here.
#[derive(Clone, Copy)]
enum Effect {
    Caseless,
    Dotall,
    Extended,
    Multiline,
    Ucp,
    Utf,
    /// A setting written at the start of the pattern.
    Prefix(&'static str),
    Firstline,
    /// The pattern must not use `uses`, nor the options name the option `implies` it.
    Forbid {
        uses: &'static str,
        implies: Option<&'static str>,
    },
    Inert,
    Unsupported,
}

/// keepalived's option names (its `regex_options[]`) and what each does here.
const OPTIONS: &[(&str, Effect)] = &[
    ("allow_empty_class", Effect::Unsupported),
    ("alt_bsux", Effect::Unsupported),
    ("auto_callout", Effect::Inert),
    ("caseless", Effect::Caseless),
    ("dollar_endonly", Effect::Unsupported),
    ("dotall", Effect::Dotall),
    ("dupnames", Effect::Prefix("(?J)")),
    ("extended", Effect::Extended),
    ("firstline", Effect::Firstline),
    ("match_unset_backref", Effect::Unsupported),
    ("multiline", Effect::Multiline),
    ("never_ucp", Effect::Forbid { uses: "(*UCP)", implies: Some("ucp") }),
    ("never_utf", Effect::Forbid { uses: "(*UTF)", implies: Some("utf") }),
    ("no_auto_capture", Effect::Prefix("(?n)")),
    ("no_auto_possess", Effect::Prefix("(*NO_AUTO_POSSESS)")),
    ("no_dotstar_anchor", Effect::Prefix("(*NO_DOTSTAR_ANCHOR)")),
    ("no_start_optimize", Effect::Prefix("(*NO_START_OPT)")),
    ("ucp", Effect::Ucp),
    ("ungreedy", Effect::Prefix("(?U)")),
    ("utf", Effect::Utf),
    ("never_backslash_c", Effect::Forbid { uses: "\\C", implies: None }),
    ("alt_circumflex", Effect::Unsupported),
    ("alt_verbnames", Effect::Unsupported),
    ("use_offset_limit", Effect::Inert),
];

/// Whether keepalived knows `name` as a regex option.
pub fn is_option(name: &str) -> bool {
    OPTIONS.iter().any(|(n, _)| *n == name)
}

/// A compiled url pattern.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The pattern, options applied.
    pub regex: Regex,
    /// `firstline`: a match must start before or at the first newline at or after where the
    /// search starts.
    pub firstline: bool,
}

/// Whether `pattern` contains `needle`; for `\C`, only as an escape (an odd number of
/// backslashes before the C).
fn contains(pattern: &str, needle: &str) -> bool {
    if needle != "\\C" {
        return pattern.contains(needle);
    }
    let b = pattern.as_bytes();
    (1..b.len()).any(|i| b[i] == b'C' && b[..i].iter().rev().take_while(|&&c| c == b'\\').count() % 2 == 1)
}

/// Compiles `pattern` with keepalived's `options`; `jit_stack_max` is `regex_stack`'s
/// largest size in bytes. The error is PCRE2's, or names the option that cannot apply.
pub fn compile(pattern: &str, options: &[String], jit_stack_max: Option<u64>) -> Result<Compiled, String> {
    let mut b = RegexBuilder::new();
    b.jit_if_available(true);
    let (mut verbs, mut settings) = (String::new(), String::new());
    let mut firstline = false;
    for name in options {
        let Some((_, effect)) = OPTIONS.iter().find(|(n, _)| n == name) else { continue };
        match *effect {
            Effect::Caseless => _ = b.caseless(true),
            Effect::Dotall => _ = b.dotall(true),
            Effect::Extended => _ = b.extended(true),
            Effect::Multiline => _ = b.multi_line(true),
            Effect::Ucp => _ = b.ucp(true),
            Effect::Utf => _ = b.utf(true),
            Effect::Prefix(p) if p.starts_with("(*") => verbs.push_str(p),
            Effect::Prefix(p) => settings.push_str(p),
            Effect::Firstline => firstline = true,
            Effect::Forbid { uses, implies } => {
                if contains(pattern, uses) {
                    return Err(format!("the pattern uses {uses}, which regex option {name} forbids"));
                }
                if let Some(other) = implies.filter(|o| options.iter().any(|x| x == o)) {
                    return Err(format!("regex options {name} and {other} contradict each other"));
                }
            }
            Effect::Inert => {}
            Effect::Unsupported => {
                return Err(format!("regex option {name} is not supported by tandem"));
            }
        }
    }
    if let Some(max) = jit_stack_max {
        b.max_jit_stack_size(Some(usize::try_from(max).unwrap_or(usize::MAX)));
    }
    let regex = b.build(&format!("{verbs}{settings}{pattern}")).map_err(|e| e.to_string())?;
    Ok(Compiled { regex, firstline })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn opts(o: &[&str]) -> Vec<String> {
        o.iter().map(|s| s.to_string()).collect()
    }

    fn find(pattern: &str, o: &[&str], subject: &str) -> Option<(usize, usize)> {
        let c = compile(pattern, &opts(o), None).unwrap();
        c.regex.find(subject.as_bytes()).unwrap().map(|m| (m.start(), m.end()))
    }

    #[test]
    fn builder_options_change_the_match() {
        assert_eq!(find("ok", &[], "OK"), None);
        assert_eq!(find("ok", &["caseless"], "OK"), Some((0, 2)));
        assert_eq!(find("a.b", &[], "a\nb"), None);
        assert_eq!(find("a.b", &["dotall"], "a\nb"), Some((0, 3)));
        assert_eq!(find("^b", &[], "a\nb"), None);
        assert_eq!(find("^b", &["multiline"], "a\nb"), Some((2, 3)));
        assert_eq!(find("a b", &["extended"], "ab"), Some((0, 2)));
        // utf: `.` is one character (é is two bytes), not one byte.
        assert_eq!(find("^.$", &[], "é"), None);
        assert_eq!(find("^.$", &["utf"], "é"), Some((0, 2)));
        // ucp: \w is Unicode's word characters, not ASCII's.
        assert_eq!(find("^\\w$", &["utf"], "é"), None);
        assert_eq!(find("^\\w$", &["utf", "ucp"], "é"), Some((0, 2)));
    }

    #[test]
    fn pattern_settings_stand_for_the_flags() {
        assert_eq!(find("a.*b", &[], "aXbXb"), Some((0, 5)));
        assert_eq!(find("a.*b", &["ungreedy"], "aXbXb"), Some((0, 3)));
        // Without dupnames a repeated group name is a compile error.
        assert!(compile("(?<n>a)|(?<n>b)", &[], None).is_err());
        assert!(compile("(?<n>a)|(?<n>b)", &opts(&["dupnames"]), None).is_ok());
        // no_auto_capture: (a) captures nothing, so \1 refers to no group.
        assert!(compile("(a)\\1", &opts(&["no_auto_capture"]), None).is_err());
        // These change how PCRE2 optimises, not what matches: the pattern PCRE2 compiled must
        // carry each one's verb (a dropped option would match the same and pass otherwise).
        for (o, verb) in [
            ("no_auto_possess", "(*NO_AUTO_POSSESS)"),
            ("no_dotstar_anchor", "(*NO_DOTSTAR_ANCHOR)"),
            ("no_start_optimize", "(*NO_START_OPT)"),
        ] {
            let c = compile("a+b", &opts(&[o]), None).unwrap();
            assert_eq!(c.regex.as_str(), format!("{verb}a+b"), "{o}");
            assert_eq!(c.regex.find(b"xaab").unwrap().map(|m| (m.start(), m.end())), Some((1, 4)), "{o}");
        }
        let both = compile("a+b", &opts(&["ungreedy", "no_start_optimize"]), None).unwrap();
        assert_eq!(both.regex.as_str(), "(*NO_START_OPT)(?U)a+b", "verbs first, then settings");
        // Inert without a callout function or an offset limit (keepalived sets neither): the
        // pattern is compiled as it is.
        for o in ["auto_callout", "use_offset_limit"] {
            assert_eq!(compile("a+b", &opts(&[o]), None).unwrap().regex.as_str(), "a+b", "{o}");
        }
    }

    #[test]
    fn firstline_is_reported_for_the_matcher() {
        assert!(compile("x", &opts(&["firstline"]), None).unwrap().firstline);
        assert!(!compile("x", &[], None).unwrap().firstline);
    }

    #[test]
    fn forbidding_options_refuse_what_they_forbid() {
        assert!(compile("(*UTF)é", &opts(&["never_utf"]), None).unwrap_err().contains("never_utf"));
        assert!(compile("(*UCP)\\w", &opts(&["never_ucp"]), None).is_err());
        assert!(compile("a", &opts(&["never_utf", "utf"]), None).unwrap_err().contains("contradict"));
        assert!(compile("a\\Cb", &opts(&["never_backslash_c"]), None).is_err());
        assert!(compile("a\\\\Cb", &opts(&["never_backslash_c"]), None).is_ok());
        assert!(compile("(*UTF)é", &[], None).is_ok());
    }

    #[test]
    fn unsupported_options_are_refused_and_unknown_ones_ignored() {
        assert_eq!(
            compile("a$", &opts(&["dollar_endonly"]), None).unwrap_err(),
            "regex option dollar_endonly is not supported by tandem"
        );
        assert!(compile("a", &opts(&["no_such_option"]), None).is_ok());
        assert!(is_option("caseless") && !is_option("no_such_option"));
    }

    #[test]
    fn syntax_errors_say_where() {
        let e = compile("(a", &[], None).unwrap_err();
        assert!(e.contains("offset 2") && e.contains("missing closing parenthesis"), "{e}");
    }
}
