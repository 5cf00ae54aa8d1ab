//! Beyond keepalived: the two directors' configurations checked against each other. Each is
//! valid alone; the pair works only when they agree on what VRRP and the connection sync put
//! on the wire (virtual router ids, versions, intervals, authentication, the address list
//! every advert carries: keepalived and tandem drop adverts whose list is not their own) and
//! on what the load balancer serves, and when each instance has one intended master.
//!
//! A finding is located in the file of the director it concerns (`Side`), at the model path
//! its reader recorded.

use crate::model::{Config, VrrpInstance};
use crate::{Diagnostic, Report};
use std::collections::BTreeSet;

/// Which of the two files a finding points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The first file (or config id).
    A,
    /// The second.
    B,
}

/// One disagreement between the two directors.
#[derive(Debug, Clone)]
pub struct Finding {
    /// Whose file it points into.
    pub side: Side,
    /// The model path there.
    pub path: String,
    /// An error breaks the pair (two masters, no sync); a warning is a likely mistake.
    pub error: bool,
    /// What is wrong.
    pub message: String,
}

impl Finding {
    fn error(side: Side, path: String, message: String) -> Finding {
        Finding { side, path, error: true, message }
    }

    fn warning(side: Side, path: String, message: String) -> Finding {
        Finding { side, path, error: false, message }
    }

    /// As a diagnostic located in `report` (the side's own).
    pub fn diagnostic(&self, report: &Report) -> Diagnostic {
        let span = report.map.lookup(&self.path);
        if self.error {
            Diagnostic::error(span, self.message.clone())
        } else {
            Diagnostic::warning(span, self.message.clone())
        }
    }
}

/// Checks two directors' configurations against each other.
pub fn cross_check(a: &Config, b: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    instances(a, b, &mut out);
    sync_groups(a, b, &mut out);
    sync_daemon(a, b, &mut out);
    virtual_servers(a, b, &mut out);
    out
}

fn instances(a: &Config, b: &Config, out: &mut Vec<Finding>) {
    for (i, x) in a.vrrp_instances.iter().enumerate() {
        let pa = format!("vrrp_instance[{i}]");
        let Some((j, y)) = b.vrrp_instances.iter().enumerate().find(|(_, y)| y.name == x.name) else {
            out.push(Finding::error(
                Side::A,
                pa,
                format!(
                    "vrrp_instance `{}` is on this director only: it would be master here and nowhere else",
                    x.name
                ),
            ));
            continue;
        };
        let pb = format!("vrrp_instance[{j}]");
        let mut differ = |field: &str, what: String| {
            out.push(Finding::error(Side::B, format!("{pb}.{field}"), format!("vrrp_instance `{}`: {what}", x.name)));
        };
        if x.virtual_router_id != y.virtual_router_id {
            differ(
                "virtual_router_id",
                format!(
                    "virtual_router_id {} here, {} on the other director",
                    y.virtual_router_id, x.virtual_router_id
                ),
            );
        }
        let (va, vb) = (x.effective_version(&a.global_defs), y.effective_version(&b.global_defs));
        if va != vb {
            differ("version", format!("VRRP version {vb} here, {va} on the other director"));
        }
        if x.family() != y.family() {
            differ("virtual_ipaddress", "the two directors use different address families".into());
        }
        if (x.advert_int - y.advert_int).abs() > f64::EPSILON {
            differ(
                "advert_int",
                format!(
                    "advert_int {} here, {} on the other director (VRRPv2 drops the other's adverts)",
                    y.advert_int, x.advert_int
                ),
            );
        }
        if va == 2 && auth(x) != auth(y) {
            differ(
                "authentication",
                "the authentication differs from the other director's: each drops the other's adverts".into(),
            );
        }
        let (la, lb) = (vips(x), vips(y));
        if la != lb {
            let only_a: Vec<String> = la.difference(&lb).map(ToString::to_string).collect();
            let only_b: Vec<String> = lb.difference(&la).map(ToString::to_string).collect();
            differ(
                "virtual_ipaddress",
                format!(
                    "the virtual addresses differ (only on the other director: {}; only here: {}): each drops the other's adverts, both become master",
                    list(&only_a),
                    list(&only_b)
                ),
            );
        }
        if x.unicast_peer.is_empty() != y.unicast_peer.is_empty() {
            differ("unicast_peer", "one director advertises by unicast, the other by multicast".into());
        } else if !x.unicast_peer.is_empty() {
            for (side, me, other, path) in [(Side::A, x, y, &pa), (Side::B, y, x, &pb)] {
                if let Some(src) = other.unicast_src_ip {
                    if !me.unicast_peer.iter().any(|p| p.address == src) {
                        out.push(Finding::error(
                            side,
                            format!("{path}.unicast_peer"),
                            format!("vrrp_instance `{}`: the other director sends from {src}, which is not a unicast_peer here", x.name),
                        ));
                    }
                }
            }
        }
        // The routes and rules the master holds: the same destinations on both (devices and
        // gateways may differ between directors).
        let routes = |v: &VrrpInstance| -> BTreeSet<String> {
            v.virtual_routes.iter().map(|r| format!("{} table {}", r.to, r.table.unwrap_or(254))).collect()
        };
        let rules = |v: &VrrpInstance| -> BTreeSet<String> {
            v.virtual_rules
                .iter()
                .map(|r| {
                    let p = |x: Option<crate::model::Prefix>| x.map_or("all".to_string(), |p| p.to_string());
                    format!(
                        "priority {} from {} to {}",
                        r.priority.map_or("-".into(), |n| n.to_string()),
                        p(r.from),
                        p(r.to)
                    )
                })
                .collect()
        };
        for (field, la, lb) in [("virtual_routes", routes(x), routes(y)), ("virtual_rules", rules(x), rules(y))] {
            if la != lb {
                let only_a: Vec<String> = la.difference(&lb).cloned().collect();
                let only_b: Vec<String> = lb.difference(&la).cloned().collect();
                out.push(Finding::warning(
                    Side::B,
                    format!("{pb}.{field}"),
                    format!(
                        "vrrp_instance `{}`: the {field} differ (only on the other director: {}; only here: {}): the routing changes with the master",
                        x.name,
                        list(&only_a),
                        list(&only_b)
                    ),
                ));
            }
        }
        // One intended master: different priorities, or else the higher address wins, which
        // an operator rarely means.
        if x.priority == y.priority {
            out.push(Finding::warning(
                Side::B,
                format!("{pb}.priority"),
                format!(
                    "vrrp_instance `{}` has priority {} on both directors: the one with the higher address wins",
                    x.name, x.priority
                ),
            ));
        }
    }
    for (j, y) in b.vrrp_instances.iter().enumerate() {
        if !a.vrrp_instances.iter().any(|x| x.name == y.name) {
            out.push(Finding::error(
                Side::B,
                format!("vrrp_instance[{j}]"),
                format!(
                    "vrrp_instance `{}` is on this director only: it would be master here and nowhere else",
                    y.name
                ),
            ));
        }
    }
}

/// Which director each instance of a sync group would have as master: all on one side, or
/// the group's addresses would be split between the directors.
fn sync_groups(a: &Config, b: &Config, out: &mut Vec<Finding>) {
    for (i, g) in a.vrrp_sync_groups.iter().enumerate() {
        let mut masters = BTreeSet::new();
        for name in &g.group {
            let (Some(x), Some(y)) =
                (a.vrrp_instances.iter().find(|v| v.name == *name), b.vrrp_instances.iter().find(|v| v.name == *name))
            else {
                continue;
            };
            if x.priority != y.priority {
                masters.insert(x.priority > y.priority);
            }
        }
        if masters.len() > 1 {
            out.push(Finding::warning(
                Side::A,
                format!("vrrp_sync_group[{i}]"),
                format!(
                    "vrrp_sync_group `{}`: its instances' priorities put some masters on one director and some on the other",
                    g.name
                ),
            ));
        }
    }
}

fn sync_daemon(a: &Config, b: &Config, out: &mut Vec<Finding>) {
    match (&a.global_defs.lvs_sync_daemon, &b.global_defs.lvs_sync_daemon) {
        (Some(x), Some(y)) => {
            if x.id.unwrap_or(0) != y.id.unwrap_or(0) {
                out.push(Finding::error(
                    Side::B,
                    "global_defs.lvs_sync_daemon".into(),
                    format!(
                        "lvs_sync_daemon id {} here, {} on the other director: the backup drops the master's connections",
                        y.id.unwrap_or(0),
                        x.id.unwrap_or(0)
                    ),
                ));
            }
            if x.port != y.port || x.group != y.group {
                out.push(Finding::error(
                    Side::B,
                    "global_defs.lvs_sync_daemon".into(),
                    "lvs_sync_daemon port or group differs from the other director's: no connection reaches the backup"
                        .into(),
                ));
            }
            if x.instance != y.instance {
                out.push(Finding::warning(
                    Side::B,
                    "global_defs.lvs_sync_daemon".into(),
                    "lvs_sync_daemon follows another VRRP instance than on the other director".into(),
                ));
            }
        }
        (Some(_), None) => out.push(Finding::warning(
            Side::A,
            "global_defs.lvs_sync_daemon".into(),
            "only this director syncs connections (lvs_sync_daemon): after a failover to the other, none survive"
                .into(),
        )),
        (None, Some(_)) => out.push(Finding::warning(
            Side::B,
            "global_defs.lvs_sync_daemon".into(),
            "only this director syncs connections (lvs_sync_daemon): after a failover to the other, none survive"
                .into(),
        )),
        (None, None) => {}
    }
}

fn virtual_servers(a: &Config, b: &Config, out: &mut Vec<Finding>) {
    for (side, me, other) in [(Side::A, a, b), (Side::B, b, a)] {
        for (i, vs) in me.virtual_servers.iter().enumerate() {
            let key = vs.key();
            let Some(twin) = other.virtual_servers.iter().find(|o| o.key() == key && o.protocol == vs.protocol) else {
                out.push(Finding::error(
                    side,
                    format!("virtual_server[{i}]"),
                    "this virtual server is on this director only: a failover drops its service".into(),
                ));
                continue;
            };
            if side == Side::B {
                continue; // each difference once, at the second director
            }
            let p = format!("virtual_server[{i}]");
            if vs.lb_algo != twin.lb_algo
                || vs.lb_kind != twin.lb_kind
                || vs.persistence_timeout != twin.persistence_timeout
            {
                out.push(Finding::warning(
                    Side::A,
                    p.clone(),
                    "the scheduler, forwarding method or persistence differs from the other director's".into(),
                ));
            }
            let rs = |v: &crate::model::VirtualServer| -> BTreeSet<String> {
                v.real_servers.iter().map(|r| format!("{}:{}", r.ip, r.port.unwrap_or(0))).collect()
            };
            if rs(vs) != rs(twin) {
                out.push(Finding::warning(Side::A, p, "the real servers differ from the other director's".into()));
            }
        }
    }
}

/// The authentication an instance puts in its VRRPv2 adverts (type and the 8 bytes sent).
fn auth(v: &VrrpInstance) -> Option<(crate::model::AuthType, String)> {
    v.authentication.as_ref().map(|a| (a.auth_type, a.auth_pass.chars().take(8).collect()))
}

/// Every address the instance's adverts carry.
fn vips(v: &VrrpInstance) -> BTreeSet<std::net::IpAddr> {
    v.virtual_ipaddress.iter().map(|a| a.address).collect()
}

fn list(v: &[String]) -> String {
    if v.is_empty() { "none".to_string() } else { v.join(", ") }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::{Options, load_str};

    fn conf(auth: &str, pass: &str, priority: u8) -> Config {
        let text = format!(
            "vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n    priority {priority}\n    authentication {{\n        auth_type {auth}\n        auth_pass {pass}\n    }}\n    virtual_ipaddress {{\n        10.0.0.1/24\n    }}\n}}\n"
        );
        load_str(&text, "keepalived.conf", &Options::default()).config
    }

    fn auth_findings(a: &Config, b: &Config) -> usize {
        cross_check(a, b).iter().filter(|f| f.error && f.path.ends_with("authentication")).count()
    }

    /// The auth type is compared as well as the password: AH against PASS, or AH with
    /// another auth_pass, and each drops the other's adverts.
    #[test]
    fn ah_is_compared_with_the_other_director_s_authentication() {
        let ah = conf("AH", "s3cret", 150);
        assert_eq!(auth_findings(&ah, &conf("AH", "s3cret", 100)), 0);
        assert_eq!(auth_findings(&ah, &conf("PASS", "s3cret", 100)), 1);
        assert_eq!(auth_findings(&ah, &conf("AH", "other", 100)), 1);
        // Only the first 8 bytes are the key, for AH as for PASS.
        assert_eq!(auth_findings(&conf("AH", "12345678a", 150), &conf("AH", "12345678b", 100)), 0);
    }
}
