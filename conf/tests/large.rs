//! Large files: the reader hands statements on a chunk at a time (a statement's `{` may stand
//! alone on the next line, across a chunk's end), and a reload reads without the source map
//! (`Options::no_source_map`) and must reach the same model and the same verdict.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use tandem_conf::{Options, Severity, load_str};

/// `n` virtual servers of 4 real servers each, after a global_defs of `pad` notification
/// addresses (two tokens each: they move where the reader's chunks end); `brace_below` puts
/// every `{` of a virtual_server alone on the line after it.
fn big(n: usize, pad: usize, brace_below: bool) -> String {
    let mut s = String::from("global_defs {\n router_id lb1\n notification_email {\n");
    for k in 0..pad {
        s.push_str(&format!("  ops{k}@example.com\n"));
    }
    s.push_str(" }\n}\n");
    for i in 0..n {
        let open = if brace_below { "\n{" } else { " {" };
        s.push_str(&format!(
            "virtual_server 10.100.{}.{} 80{open}\n lb_algo wrr\n lb_kind NAT\n protocol TCP\n",
            i / 250,
            i % 250 + 1
        ));
        for r in 1..=4 {
            s.push_str(&format!(" real_server 10.2.{}.{} 8080 {{ weight {r} }}\n", i / 60, i % 60 * 4 + r));
        }
        s.push_str("}\n");
    }
    s
}

#[test]
fn a_large_file_reads_alike_wherever_its_braces_stand() {
    // A virtual server is 49 tokens with its brace below: 49 paddings of two tokens put a
    // chunk's end at each place within one, the line of a lone `{` among them.
    for pad in 0..49 {
        let same_line = load_str(&big(120, pad, false), "keepalived.conf", &Options::default());
        let below = load_str(&big(120, pad, true), "keepalived.conf", &Options::default());
        // The padding is notification_email lines: warned once (no smtp_server: no mail is
        // sent), nothing else.
        let others = below.diagnostics.iter().filter(|d| !d.message.contains("no email alert is sent")).count();
        assert_eq!(others, 0, "padding {pad}:\n{}", below.render());
        assert_eq!(same_line.config, below.config, "padding {pad}");
        let c = &below.config;
        assert_eq!(c.global_defs.notification_email.len(), pad);
        assert_eq!(c.virtual_servers.len(), 120);
        assert!(c.virtual_servers.iter().all(|v| v.real_servers.len() == 4 && v.lb_algo == "wrr"), "padding {pad}");
    }
    let n = 3000; // about 150,000 tokens: dozens of chunks
    let r = load_str(&big(n, 0, true), "keepalived.conf", &Options::default());
    assert!(r.diagnostics.is_empty(), "{}", r.render());
    let last = &r.config.virtual_servers[n - 1];
    assert_eq!(last.ip.unwrap().to_string(), "10.100.11.250");
    assert_eq!(last.real_servers[3].weight, 4);
    // Places stay right to the end of the file: a finding in the last block.
    let mut text = big(n, 0, true);
    text.push_str("virtual_server 10.200.0.1 80\n{\n protocol TCP\n no_such_keyword\n}\n");
    let r = load_str(&text, "keepalived.conf", &Options::default());
    assert_eq!(r.diagnostics.len(), 1, "{}", r.render());
    assert_eq!(r.location(&r.diagnostics[0]).unwrap().line, text.lines().count() - 1);
}

#[test]
fn without_the_source_map_the_model_and_the_verdict_are_the_same() {
    let quick = Options { no_source_map: true, ..Options::default() };
    let text = big(300, 0, false);
    let (full, fast) = (load_str(&text, "k.conf", &Options::default()), load_str(&text, "k.conf", &quick));
    assert!(fast.diagnostics.is_empty(), "{}", fast.render());
    assert_eq!(full.config, fast.config);
    assert!(full.map.exact("virtual_server[299].real_server[3].weight").is_some());
    assert!(fast.map.exact("virtual_server[299].real_server[3].weight").is_none());

    // A validation finding (port 0 without persistence) and a reader's (a bad weight): the
    // same errors either way; the reader's keeps its place, validation's has none without
    // the map.
    let bad =
        format!("{text}virtual_server 10.200.0.1 0 {{\n protocol TCP\n real_server 10.2.0.1 80 {{ weight x }}\n}}\n");
    let (full, fast) = (load_str(&bad, "k.conf", &Options::default()), load_str(&bad, "k.conf", &quick));
    let errors = |r: &tandem_conf::Report| {
        r.diagnostics.iter().filter(|d| d.severity == Severity::Error).map(|d| d.message.clone()).collect::<Vec<_>>()
    };
    assert_eq!(errors(&full), errors(&fast));
    assert_eq!(errors(&full).len(), 2, "{}", full.render());
    assert!(full.diagnostics.iter().all(|d| d.span.is_some()), "{}", full.render());
    let unplaced: Vec<_> = fast.diagnostics.iter().filter(|d| d.span.is_none()).map(|d| &d.message).collect();
    assert_eq!(unplaced.len(), 1, "{unplaced:?}");
    assert!(unplaced[0].contains("persistence_timeout"), "{unplaced:?}");
}
