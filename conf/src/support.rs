//! The parts of the model the daemon reads but does not act on yet, and the ones it refuses:
//! each is warned (or, refused, an error) where the file sets it, naming what the operator
//! loses, so that nothing is accepted and silently ignored. Both readers end here (this runs
//! on the model), so a TOML file is told the same as a keepalived.conf.
//!
//! conf/tests/model_use.rs walks every field of the model: each one is either read by the
//! daemon (the test names the file) or listed in [`NOT_IMPLEMENTED`], [`CHECK_GAPS`],
//! [`ALWAYS_ON`] or [`REFUSED`] (a path there covers the fields under it).

use crate::model::{Check, Config};

/// A model field tandem reads and does not act on, by its path (arrays as `[]`, a checker's
/// fields under its type: `virtual_server[].real_server[].check[].HTTP_GET.fast_recovery`).
pub struct Gap {
    /// The model path.
    pub path: &'static str,
    /// The keyword as an operator writes it.
    pub keyword: &'static str,
    /// What the operator loses, for the warning.
    pub loss: &'static str,
}

/// Fields read and not acted on yet: warned where set.
pub const NOT_IMPLEMENTED: &[Gap] = &[Gap {
    path: "global_defs.max_auto_priority",
    keyword: "max_auto_priority",
    loss: "real-time scheduling of the daemon (use the systemd unit's CPUSchedulingPolicy)",
}];

/// Checker fields read and not acted on, for every checker type (`*`) or one.
pub const CHECK_GAPS: &[(&str, Gap)] = &[
    ("HTTP_GET", Gap { path: "enable_sni", keyword: "enable_sni", loss: "nothing: plain HTTP has no SNI" }),
    ("MISC_CHECK", CONNECT_IP),
    ("MISC_CHECK", CONNECT_PORT),
    ("MISC_CHECK", BINDTO),
    ("MISC_CHECK", BIND_PORT),
    ("MISC_CHECK", BIND_IF),
    ("MISC_CHECK", FWMARK),
    ("MISC_CHECK", CONNECT_TIMEOUT),
    ("FILE_CHECK", CONNECT_IP),
    ("FILE_CHECK", CONNECT_PORT),
    ("FILE_CHECK", BINDTO),
    ("FILE_CHECK", BIND_PORT),
    ("FILE_CHECK", BIND_IF),
    ("FILE_CHECK", FWMARK),
    ("FILE_CHECK", CONNECT_TIMEOUT),
    ("PING_CHECK", Gap { path: "connect_port", keyword: "connect_port", loss: "nothing: ICMP has no ports" }),
    ("PING_CHECK", Gap { path: "bind_port", keyword: "bind_port", loss: "nothing: ICMP has no ports" }),
];

/// A checker that opens no connection (MISC_CHECK runs a script, FILE_CHECK reads a file)
/// has no use for these; keepalived does not take them there (only TOML can set them).
const NO_CONNECTION: &str = "nothing: this checker opens no connection";
const CONNECT_IP: Gap = Gap { path: "connect_ip", keyword: "connect_ip", loss: NO_CONNECTION };
const CONNECT_PORT: Gap = Gap { path: "connect_port", keyword: "connect_port", loss: NO_CONNECTION };
const BINDTO: Gap = Gap { path: "bindto", keyword: "bindto", loss: NO_CONNECTION };
const BIND_PORT: Gap = Gap { path: "bind_port", keyword: "bind_port", loss: NO_CONNECTION };
const BIND_IF: Gap = Gap { path: "bind_if", keyword: "bind_if", loss: NO_CONNECTION };
const FWMARK: Gap = Gap { path: "fwmark", keyword: "fwmark", loss: NO_CONNECTION };
const CONNECT_TIMEOUT: Gap = Gap { path: "connect_timeout", keyword: "connect_timeout", loss: NO_CONNECTION };

/// What HTTP_GET / SSL_GET `fast_recovery` asks for.
const EVERY_URL_EACH_ROUND: &str = "nothing: tandem fetches every url of a check in each round, so a recovering real server comes up after one round, not one delay_loop per url";

/// Fields asking for what tandem always does: no warning (docs/keywords.md lists them).
pub const ALWAYS_ON: &[Gap] = &[
    Gap {
        path: "virtual_server[].real_server[].check[].HTTP_GET.fast_recovery",
        keyword: "fast_recovery",
        loss: EVERY_URL_EACH_ROUND,
    },
    Gap {
        path: "virtual_server[].real_server[].check[].SSL_GET.fast_recovery",
        keyword: "fast_recovery",
        loss: EVERY_URL_EACH_ROUND,
    },
    Gap {
        path: "global_defs.vrrp_check_unicast_src",
        keyword: "vrrp_check_unicast_src",
        loss: "nothing: tandem always drops unicast adverts from an address that is not a unicast_peer",
    },
    Gap {
        path: "vrrp_instance[].check_unicast_src",
        keyword: "check_unicast_src",
        loss: "nothing: tandem always drops unicast adverts from an address that is not a unicast_peer",
    },
];

/// Fields `tandem run` refuses (the instance cannot run as written): errors.
pub const REFUSED: &[Gap] = &[];

/// Every place `c` sets one of the fields above: (concrete path, the gap, refused?).
pub(crate) fn findings(c: &Config) -> Vec<(String, &'static Gap, bool)> {
    let mut out = Vec::new();
    let mut of_checks = Vec::new();
    let mut note = |path: String, gap_path: &str, refused: bool| {
        let table = if refused { REFUSED } else { NOT_IMPLEMENTED };
        if let Some(g) = table.iter().find(|g| g.path == gap_path) {
            out.push((path, g, refused));
        }
    };
    let g = &c.global_defs;
    for (set, field) in [(g.max_auto_priority.is_some(), "max_auto_priority")] {
        if set {
            note(format!("global_defs.{field}"), &format!("global_defs.{field}"), false);
        }
    }
    for (i, vs) in c.virtual_servers.iter().enumerate() {
        let p = format!("virtual_server[{i}]");
        for (j, rs) in vs.real_servers.iter().enumerate() {
            let rp = format!("{p}.real_server[{j}]");
            for (k, check) in rs.checks.iter().enumerate() {
                let cp = format!("{rp}.check[{k}]");
                let kind = check.keyword();
                // Most checkers set none of these: build the shared part only when asked.
                let common = std::cell::OnceCell::new();
                let common = || common.get_or_init(|| check.common());
                let set = |field: &str| match (check, field) {
                    (_, "connect_ip") => common().connect_ip.is_some(),
                    (_, "connect_port") => common().connect_port.is_some(),
                    (_, "bindto") => common().bindto.is_some(),
                    (_, "bind_port") => common().bind_port.is_some(),
                    (_, "bind_if") => common().bind_if.is_some(),
                    (_, "fwmark") => common().fwmark.is_some(),
                    (_, "connect_timeout") => common().connect_timeout.is_some(),
                    (Check::Http(h), "enable_sni") => h.enable_sni,
                    _ => false,
                };
                for (only, gap) in CHECK_GAPS {
                    if (*only == "*" || *only == kind) && set(gap.path) {
                        of_checks.push((format!("{cp}.{}", gap.path), gap, false));
                    }
                }
            }
        }
    }
    out.extend(of_checks);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_gap_path_is_one_of_a_kind() {
        let mut paths: Vec<&str> = super::NOT_IMPLEMENTED.iter().chain(super::REFUSED).map(|g| g.path).collect();
        paths.sort_unstable();
        let n = paths.len();
        paths.dedup();
        assert_eq!(paths.len(), n);
    }
}
