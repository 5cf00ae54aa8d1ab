//! Every keyword keepalived 2.2.7 takes, in the block it takes it in, is either read by
//! tandem or warned as not supported: never reported as unknown, never taken for a typo.
//! The keywords tandem warns about are the ones docs/keywords.md lists (the test names the
//! difference both ways; `TANDEM_BLESS=1` rewrites the list).

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::collections::BTreeSet;
use std::path::Path;
use tandem_conf::{Options, Severity, load_str};

/// keepalived's keywords by block, as the reader uses them.
const KEEPALIVED: &str = include_str!("../src/keepalived/keepalived-keywords.txt");

fn pairs() -> Vec<(&'static str, &'static str)> {
    KEEPALIVED.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split_once(' ')).collect()
}

/// The opening line of a block on the way to a keyword.
fn open(segment: &str) -> String {
    match segment {
        "virtual_server" => "virtual_server 10.0.0.1 80 {".into(),
        "real_server" => "real_server 10.0.0.2 80 {".into(),
        "global_defs" | "authentication" | "url" | "host" | "SSL" => format!("{segment} {{"),
        s if s.ends_with("_CHECK") || s.ends_with("_GET") => format!("{s} {{"),
        s => format!("{s} NAME {{"),
    }
}

/// A file holding `keyword` alone in `block`, and the line it is on (1-based).
fn file_with(block: &str, keyword: &str) -> (String, usize) {
    let segments: Vec<&str> = if block == "-" { Vec::new() } else { block.split('/').collect() };
    let mut text = String::new();
    for s in &segments {
        text.push_str(&open(s));
        text.push('\n');
    }
    text.push_str(keyword);
    text.push('\n');
    for _ in &segments {
        text.push_str("}\n");
    }
    (text, segments.len() + 1)
}

/// How tandem takes `keyword` in `block`: None when it reads it (or the block around it is
/// itself not supported), Some(message) for what it says about the keyword instead.
fn verdict(block: &str, keyword: &str) -> Option<(Severity, String)> {
    let (text, line) = file_with(block, keyword);
    let r = load_str(&text, "keepalived.conf", &Options::default());
    let on_line = |l: usize| -> Vec<&tandem_conf::Diagnostic> {
        r.diagnostics.iter().filter(|d| r.location(d).is_some_and(|x| x.line == l && x.column == 1)).collect()
    };
    let about = |d: &&tandem_conf::Diagnostic| {
        ["not supported", "unknown keyword", "is a keyword of"].iter().any(|m| d.message.contains(m))
    };
    // An enclosing block tandem does not support covers what is in it.
    if (1..line).any(|l| on_line(l).iter().any(|d| d.message.contains("not supported"))) {
        return None;
    }
    on_line(line).into_iter().find(about).map(|d| (d.severity, d.message.clone()))
}

#[test]
fn every_keepalived_keyword_is_read_or_warned_as_not_supported() {
    let mut wrong = Vec::new();
    let mut unsupported = BTreeSet::new();
    for (block, keyword) in pairs() {
        match verdict(block, keyword) {
            // Read, and refused by `tandem run` (conf/tests/model_use.rs covers these).
            None => {}
            Some((Severity::Error, m)) if m.contains("is not supported by tandem run") => {}
            Some((Severity::Warning, m)) if m.contains("not supported") => {
                unsupported.insert(format!("{block} {keyword}"));
            }
            Some((_, m)) => wrong.push(format!("{block} {keyword}: {m}")),
        }
    }
    assert!(wrong.is_empty(), "keepalived keywords tandem neither reads nor calls unsupported:\n{}", wrong.join("\n"));
    // The list the operators read.
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/keywords.md");
    let text = std::fs::read_to_string(&doc).unwrap_or_default();
    let start = "<!-- unsupported keywords: conf/tests/keywords.rs keeps this list -->";
    let end = "<!-- end of the unsupported keywords -->";
    let listed: BTreeSet<String> = text
        .split_once(start)
        .and_then(|(_, rest)| rest.split_once(end))
        .map(|(list, _)| list.lines().filter_map(|l| l.strip_prefix("- ")).map(|l| l.replace('`', "")).collect())
        .unwrap_or_default();
    if std::env::var_os("TANDEM_BLESS").is_some() {
        let list: String = unsupported
            .iter()
            .map(|p| {
                let (b, k) = p.split_once(' ').unwrap();
                format!("- `{b}` `{k}`\n")
            })
            .collect();
        let (before, rest) = text.split_once(start).expect("docs/keywords.md has the start marker");
        let (_, after) = rest.split_once(end).expect("docs/keywords.md has the end marker");
        std::fs::write(&doc, format!("{before}{start}\n{list}{end}{after}")).unwrap();
        return;
    }
    let missing: Vec<_> = unsupported.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&unsupported).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/keywords.md's list of unsupported keywords is not what tandem warns about \
         (TANDEM_BLESS=1 rewrites it):\nwarned, not listed: {missing:?}\nlisted, not warned: {stale:?}"
    );
}

/// One typo per block kind, each an error at the keyword with the keyword it is close to.
#[test]
fn a_typo_of_a_keyword_is_an_error_with_a_suggestion() {
    let cases = [
        ("-", "virtual_sever", "virtual_server"),
        ("-", "vrrp_instace", "vrrp_instance"),
        ("global_defs", "router_di", "router_id"),
        ("vrrp_instance", "priorty", "priority"),
        ("vrrp_instance", "virtual_ipadress", "virtual_ipaddress"),
        ("vrrp_instance/authentication", "auth_pas", "auth_pass"),
        ("vrrp_script", "intervall", "interval"),
        ("vrrp_sync_group", "gruop", "group"),
        ("virtual_server", "lb_alog", "lb_algo"),
        ("virtual_server", "persistance_timeout", "persistence_timeout"),
        ("virtual_server/real_server", "wieght", "weight"),
        ("virtual_server/real_server/TCP_CHECK", "conect_timeout", "connect_timeout"),
        ("virtual_server/real_server/HTTP_GET/url", "status_cod", "status_code"),
    ];
    for (block, typo, meant) in cases {
        let (text, line) = file_with(block, typo);
        let r = load_str(&text, "keepalived.conf", &Options::default());
        let d = r
            .diagnostics
            .iter()
            .find(|d| d.message.starts_with(&format!("unknown keyword `{typo}`")))
            .unwrap_or_else(|| panic!("{block} {typo}:\n{}", r.render()));
        assert_eq!(d.severity, Severity::Error, "{}", r.render());
        let loc = r.location(d).unwrap();
        assert_eq!((loc.line, loc.column), (line, 1), "{}", r.render());
        assert!(d.notes.iter().any(|n| n == &format!("did you mean `{meant}`?")), "{}", r.render());
        assert!(r.has_errors());
    }
}

/// A keyword of another block is a warning that says where it belongs; a word keepalived
/// knows nowhere stays a warning, as keepalived has it.
#[test]
fn a_misplaced_keyword_says_where_it_belongs_and_nonsense_is_a_warning() {
    let (text, _) = file_with("global_defs", "lb_algo rr");
    let r = load_str(&text, "keepalived.conf", &Options::default());
    assert!(!r.has_errors(), "{}", r.render());
    assert!(
        r.diagnostics
            .iter()
            .any(|d| d.message == "`lb_algo` is a keyword of `virtual_server`, not of global_defs; ignored"),
        "{}",
        r.render()
    );
    let (text, _) = file_with("global_defs", "frobnicate_everything");
    let r = load_str(&text, "keepalived.conf", &Options::default());
    assert!(!r.has_errors(), "{}", r.render());
    assert!(
        r.diagnostics.iter().any(|d| d.message == "unknown keyword `frobnicate_everything` in global_defs; ignored"),
        "{}",
        r.render()
    );
    // keepalived's MISC_CHECK takes no connection keywords: tandem does not read one there to
    // no effect either.
    let (text, _) = file_with("virtual_server/real_server/MISC_CHECK", "connect_ip 10.0.0.9");
    let r = load_str(&text, "keepalived.conf", &Options::default());
    let c = &r.config.virtual_servers[0].real_servers[0].checks[0];
    assert_eq!(c.common().connect_ip, None, "{}", r.render());
    assert!(r.diagnostics.iter().any(|d| d.message.starts_with("`connect_ip` is a keyword of")), "{}", r.render());
}
