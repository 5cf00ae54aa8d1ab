//! Which keywords keepalived 2.2.7 takes in which block, for what the reader says about a
//! keyword it does not take: not supported by tandem (keepalived knows it there), a typo of
//! one that is (an error with a suggestion), a keyword of another block, or unknown.
//!
//! The list (keepalived-keywords.txt) is made by scripts/keepalived-keywords from keepalived's
//! own registration of its keywords (lib/parser.c `install_keyword*` calls), so it follows
//! keepalived's nesting exactly: `virtual_server/real_server/HTTP_GET/url path`.

use std::collections::HashSet;
use std::sync::OnceLock;

/// `BLOCK KEYWORD` lines; BLOCK is `-` at the top level.
static KEEPALIVED: &str = include_str!("keepalived-keywords.txt");

/// Keywords of keepalived releases after 2.2.7, known to no block of the list: warned as
/// unsupported wherever they appear, rather than as unknown.
const LATER: &[&str] = &[
    "active_key",
    "anti_replay",
    "auth_hmac",
    "dbus_no_interface_name",
    "iproute_etc_dir",
    "iproute_usr_dir",
    "json_dump_file",
    "json_version",
    "mode",
    "no_virtual_ipaddress",
    "owner_ignore_adverts",
    "set_supplementary_groups",
    "sni_name",
    "snmp_rs_stats_update_interval",
    "snmp_vs_stats_update_interval",
    "state_dump_file",
    "stats_dump_file",
    "thread_timer_expired",
    "time_window",
    "timer_expired_backup",
    "tls_compliant",
    "use_symlink_paths",
    "vrrp_delay_after_boot",
    "vrrp_owner_ignore_adverts",
];

/// Every `(block, keyword)` pair of keepalived 2.2.7.
pub(crate) fn keepalived() -> impl Iterator<Item = (&'static str, &'static str)> {
    KEEPALIVED.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split_once(' '))
}

/// True when keepalived takes `keyword` in `block`. The reader asks this for every checker
/// keyword of a file, so the pairs are hashed once rather than scanned each time.
pub(crate) fn takes(block: &str, keyword: &str) -> bool {
    static PAIRS: OnceLock<HashSet<(&'static str, &'static str)>> = OnceLock::new();
    PAIRS.get_or_init(|| keepalived().collect()).contains(&(block, keyword))
}

/// What a keyword the reader did not take is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// keepalived takes it in this block (or a later keepalived anywhere); tandem does not.
    Unsupported,
    /// Close to a keyword of this block: probably a typo of it.
    Typo(&'static str),
    /// A keyword of other blocks (paths), not of this one.
    Elsewhere(Vec<&'static str>),
    /// Nothing keepalived knows.
    Unknown,
}

/// Judges `keyword`, which the reader of `block` (a path as in the list) did not take.
pub(crate) fn judge(block: &str, keyword: &str) -> Verdict {
    if takes(block, keyword) || LATER.contains(&keyword) {
        return Verdict::Unsupported;
    }
    if let Some(near) = nearest(keepalived().filter(|(b, _)| *b == block).map(|(_, k)| k), keyword) {
        return Verdict::Typo(near);
    }
    let mut elsewhere: Vec<&str> = keepalived().filter(|(_, k)| *k == keyword).map(|(b, _)| b).collect();
    elsewhere.dedup();
    if elsewhere.is_empty() { Verdict::Unknown } else { Verdict::Elsewhere(elsewhere) }
}

/// The candidate closest to `word` within a typo's reach: the same word in another case, or
/// an optimal string alignment distance (edits and adjacent swaps) of 1 for short words and
/// 2 from 6 characters on.
fn nearest<'a>(candidates: impl Iterator<Item = &'a str>, word: &str) -> Option<&'a str> {
    let reach = if word.chars().count() < 6 { 1 } else { 2 };
    let lower = word.to_ascii_lowercase();
    candidates
        .map(|c| (strsim::osa_distance(&c.to_ascii_lowercase(), &lower), c))
        .filter(|(d, _)| *d <= reach)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// How a block path reads in a message: its last keyword, or "the top level".
pub(crate) fn block_name(block: &str) -> &str {
    if block == "-" { "the top level" } else { block.rsplit('/').next().unwrap_or(block) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_nests_as_keepalived_does() {
        assert!(keepalived().count() > 450);
        assert!(keepalived().any(|p| p == ("virtual_server/real_server/HTTP_GET/url", "regex")));
        assert!(keepalived().any(|p| p == ("vrrp_instance/authentication", "auth_pass")));
        assert!(keepalived().any(|p| p == ("-", "virtual_server")));
        assert!(!keepalived().any(|p| p == ("-", "priority")));
    }

    #[test]
    fn judges_typos_other_blocks_and_unsupported_keywords() {
        assert_eq!(judge("-", "virtual_sever"), Verdict::Typo("virtual_server"));
        assert_eq!(judge("virtual_server", "lb_alog"), Verdict::Typo("lb_algo"));
        assert_eq!(judge("vrrp_instance", "Priority"), Verdict::Typo("priority"));
        assert_eq!(judge("-", "static_routes"), Verdict::Unsupported); // (judged only when not read)
        assert_eq!(judge("vrrp_instance", "tls_compliant"), Verdict::Unsupported);
        assert_eq!(judge("vrrp_instance", "lb_algo"), Verdict::Elsewhere(vec!["virtual_server"]));
        assert_eq!(judge("global_defs", "zzzzzzzz"), Verdict::Unknown);
        assert_eq!(block_name("virtual_server/real_server"), "real_server");
        assert_eq!(block_name("-"), "the top level");
    }
}
