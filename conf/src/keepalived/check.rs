//! Checker blocks inside `real_server`.

use super::lvs::canonical;
use super::tree::Stmt;
use super::values::{Ctx, unescape};
use crate::model::{
    Check, CheckCommon, DnsCheck, FileCheck, HttpCheck, MiscCheck, PingCheck, SmtpCheck, StatusRange, TcpCheck,
    UdpCheck, UrlCheck, regex,
};

/// DNS query types keepalived's DNS_CHECK accepts.
const DNS_TYPES: &[&str] = &["A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"];

pub(super) fn read(cx: &mut Ctx, st: &Stmt, kind: &str, path: &str) -> Option<Check> {
    cx.extra(st, 0);
    let mut common = CheckCommon::default();
    let mut check = match kind {
        "TCP_CHECK" => Check::Tcp(TcpCheck::default()),
        "HTTP_GET" => Check::Http(HttpCheck::default()),
        "SSL_GET" => Check::Ssl(HttpCheck::default()),
        "MISC_CHECK" => Check::Misc(MiscCheck::default()),
        "DNS_CHECK" => Check::Dns(DnsCheck::default()),
        "SMTP_CHECK" => Check::Smtp(SmtpCheck::default()),
        "UDP_CHECK" => Check::Udp(UdpCheck::default()),
        "PING_CHECK" => Check::Ping(PingCheck::default()),
        _ => Check::File(FileCheck::default()),
    };
    let block: &[Stmt] = st.block.as_deref().unwrap_or(&[]);
    let block_path = format!("virtual_server/real_server/{kind}");
    for b in block {
        let key = canonical(b.keyword.text.as_str());
        // DNS_CHECK's `type` is `query_type` in the model (`type` names the checker in TOML).
        let field = if key == "type" { "query_type" } else { key };
        let here = cx.path(|| format!("{path}.{field}"));
        cx.at(&here, b);
        // The keywords every checker shares are not all keepalived's in every checker
        // (MISC_CHECK takes no connection keywords, FILE_CHECK none of them): where keepalived
        // would not take one, neither does tandem, rather than read it to no effect.
        let shared = super::keywords::takes(&block_path, &b.keyword.text) && read_common(cx, b, key, &mut common);
        let known = shared
            || match &mut check {
                Check::Http(h) | Check::Ssl(h) => http(cx, b, key, h, &here, kind == "SSL_GET"),
                Check::Misc(m) => misc(cx, b, key, m),
                Check::Dns(d) => dns(cx, b, key, d),
                Check::Smtp(s) => smtp(cx, b, key, s),
                Check::Udp(u) => udp(cx, b, key, u),
                Check::File(f) => file(cx, b, key, f),
                Check::Tcp(_) | Check::Ping(_) => false,
            };
        if !known {
            cx.unknown(b, &block_path);
        } else if !(key == "url" || key == "host") {
            cx.no_block(b);
        }
    }
    match &check {
        Check::Misc(m) if m.misc_path.is_empty() => cx.error(st.keyword.span, "MISC_CHECK has no `misc_path`"),
        Check::File(f) if f.track_file.is_empty() => cx.error(st.keyword.span, "FILE_CHECK has no `track_file`"),
        Check::Http(h) | Check::Ssl(h) if h.url.is_empty() => {
            cx.error(st.keyword.span, format!("{kind} has no `url {{ ... }}` block"));
        }
        _ => {}
    }
    check.set_common(common);
    Some(check)
}

/// Keywords every checker takes; true when `b` was one.
fn read_common(cx: &mut Ctx, b: &Stmt, key: &str, c: &mut CheckCommon) -> bool {
    match key {
        "connect_ip" => c.connect_ip = cx.ip(b, 0),
        "connect_port" => c.connect_port = cx.int(b, 0, 1, 65535),
        "bindto" => c.bindto = cx.ip(b, 0),
        "bind_port" => c.bind_port = cx.int(b, 0, 1, 65535),
        "bind_if" => c.bind_if = cx.word(b, "an interface name"),
        "connect_timeout" => c.connect_timeout = cx.secs(b, 0, 0.001, 86400.0),
        "retry" => c.retry = cx.int(b, 0, 0, 1_000_000),
        "delay_before_retry" => c.delay_before_retry = cx.secs(b, 0, 0.0, 86400.0),
        "delay_loop" => c.delay_loop = cx.secs(b, 0, 0.001, 86400.0),
        "warmup" => c.warmup = cx.secs(b, 0, 0.0, 86400.0),
        "fwmark" => c.fwmark = cx.int(b, 0, 0, i64::from(u32::MAX)),
        "log_all_failures" => c.log_all_failures = cx.flag(b),
        "alpha" => c.alpha = Some(cx.bool_opt(b)),
        _ => return false,
    }
    true
}

fn http(cx: &mut Ctx, b: &Stmt, key: &str, h: &mut HttpCheck, here: &str, ssl: bool) -> bool {
    match key {
        "url" => {
            let upath = format!("{}[{}]", here, h.url.len());
            cx.map.set(&upath, b.keyword.span);
            h.url.push(url(cx, b, &upath));
        }
        "virtualhost" => h.virtualhost = cx.word(b, "a host name"),
        "http_protocol" => match cx.word(b, "1.0, 1.1, 1.0C or 1.0K") {
            Some(p) if matches!(p.as_str(), "1.0" | "1.1" | "1.0C" | "1.0K") => h.http_protocol = Some(p),
            Some(p) => cx.error(b.args[0].span, format!("http_protocol must be 1.0, 1.1, 1.0C or 1.0K, not `{p}`")),
            None => {}
        },
        "enable_sni" if ssl => h.enable_sni = cx.flag(b),
        "fast_recovery" => h.fast_recovery = cx.flag(b),
        _ => return false,
    }
    true
}

fn url(cx: &mut Ctx, st: &Stmt, path: &str) -> UrlCheck {
    let mut u = UrlCheck { path: "/".to_string(), ..UrlCheck::default() };
    for e in cx.block(st) {
        let key = e.keyword.text.as_str();
        cx.at(&format!("{path}.{key}"), e);
        match key {
            "path" => {
                if let Some(p) = cx.word(e, "a URL path") {
                    u.path = p;
                }
            }
            "digest" => match cx.word(e, "an MD5 digest in hex") {
                Some(d) if d.len() == 32 && d.bytes().all(|c| c.is_ascii_hexdigit()) => {
                    u.digest = Some(d.to_ascii_lowercase())
                }
                Some(d) => cx.error(e.args[0].span, format!("digest `{d}` is not 32 hex digits (an MD5 sum)")),
                None => {}
            },
            "status_code" => {
                cx.arg(e, 0, "a status code or range");
                for w in &e.args {
                    match StatusRange::parse(&w.text) {
                        Ok(r) => u.status_code.push(r),
                        Err(msg) => cx.error(w.span, msg),
                    }
                }
            }
            "virtualhost" => u.virtualhost = cx.word(e, "a host name"),
            // keepalived reads the pattern with its escapes translated (lib/parser.c,
            // alloc_strvec_quoted_escaped): `\\d` in the file is `\d` to PCRE2.
            "regex" => {
                if let Some(w) = cx.arg(e, 0, "a regular expression") {
                    match unescape(&w.text) {
                        Ok(p) => {
                            if let Some(old) = u.regex.replace(p) {
                                cx.warn(e.span(), format!("a second regex replaces `{old}`"));
                            }
                        }
                        Err(msg) => cx.error(w.span, msg),
                    }
                }
                cx.extra(e, 1);
            }
            "regex_no_match" => u.regex_no_match = cx.flag(e),
            "regex_options" => {
                cx.arg(e, 0, "regex options");
                for w in &e.args {
                    if regex::is_option(&w.text) {
                        u.regex_options.push(w.text.to_string());
                    } else {
                        cx.warn(w.span, format!("unknown regex option `{}`; ignored", w.text));
                    }
                }
            }
            "regex_min_offset" => u.regex_min_offset = cx.int(e, 0, 0, i64::MAX),
            "regex_max_offset" => u.regex_max_offset = cx.int(e, 0, 0, i64::MAX),
            "regex_stack" => {
                let start = cx.int::<u64>(e, 0, 0, i64::MAX);
                let max = cx.int::<u64>(e, 1, 0, i64::MAX);
                cx.extra(e, 2);
                match (start, max) {
                    (Some(s), Some(m)) if s <= m => u.regex_stack = Some([s, m]),
                    (Some(_), Some(_)) => cx.error(e.span(), "regex_stack's start size is above its maximum"),
                    _ => {}
                }
            }
            _ => {
                cx.unknown(e, "virtual_server/real_server/HTTP_GET/url");
                continue;
            }
        }
        cx.no_block(e);
    }
    u
}

fn misc(cx: &mut Ctx, b: &Stmt, key: &str, m: &mut MiscCheck) -> bool {
    match key {
        "misc_path" => m.misc_path = cx.command(b).unwrap_or_default(),
        "misc_timeout" => m.misc_timeout = cx.secs(b, 0, 0.001, 86400.0),
        "misc_dynamic" => m.misc_dynamic = cx.flag(b),
        "user" => m.user = cx.run_as(b),
        _ => return false,
    }
    true
}

fn dns(cx: &mut Ctx, b: &Stmt, key: &str, d: &mut DnsCheck) -> bool {
    match key {
        "type" => match cx.word(b, "a query type").map(|t| t.to_ascii_uppercase()) {
            Some(t) if DNS_TYPES.contains(&t.as_str()) => d.query_type = Some(t),
            Some(t) => cx.error(b.args[0].span, format!("DNS_CHECK type `{t}` is not one of {}", DNS_TYPES.join(", "))),
            None => {}
        },
        "name" => d.name = cx.word(b, "a domain name"),
        _ => return false,
    }
    true
}

fn smtp(cx: &mut Ctx, b: &Stmt, key: &str, s: &mut SmtpCheck) -> bool {
    match key {
        "helo_name" => s.helo_name = cx.word(b, "a host name"),
        "host" => {
            cx.warn(b.keyword.span, "SMTP_CHECK `host { ... }` sub-blocks are obsolete; use connect_ip / connect_port")
        }
        _ => return false,
    }
    true
}

fn udp(cx: &mut Ctx, b: &Stmt, key: &str, u: &mut UdpCheck) -> bool {
    match key {
        "payload" => u.payload = hex(cx, b),
        "require_reply" => {
            u.require_reply = true;
            if !b.args.is_empty() {
                u.reply = hex(cx, b);
            }
        }
        "min_reply_length" => u.min_reply_length = cx.int(b, 0, 0, 65535),
        "max_reply_length" => u.max_reply_length = cx.int(b, 0, 0, 65535),
        _ => return false,
    }
    true
}

/// Hex bytes, optionally split into several words.
fn hex(cx: &mut Ctx, b: &Stmt) -> Option<String> {
    cx.arg(b, 0, "hex bytes")?;
    let joined: String = b.args.iter().map(|w| w.text.as_str()).collect();
    if joined.len() % 2 == 0 && joined.bytes().all(|c| c.is_ascii_hexdigit()) {
        Some(joined.to_ascii_lowercase())
    } else {
        cx.error(super::values::args_span(b), format!("`{joined}` is not an even number of hex digits"));
        None
    }
}

fn file(cx: &mut Ctx, b: &Stmt, key: &str, f: &mut FileCheck) -> bool {
    match key {
        "track_file" => f.track_file = cx.word(b, "a track_file name").unwrap_or_default(),
        "weight" => {
            if let Some((w, r)) = cx.weight(b, -254, 254) {
                f.weight = Some(w);
                f.reverse = r;
            }
        }
        _ => return false,
    }
    true
}
