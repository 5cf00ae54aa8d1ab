//! Email alerts: a mail needs `smtp_server` and at least one `notification_email` address
//! (keepalived's smtp_alert sends nothing without them, and says nothing); tandem says so
//! where the file asks for mail.

use super::V;
use crate::model::Config;

pub(super) fn check(v: &mut V, c: &Config) {
    let g = &c.global_defs;
    let vrrp_on = |own: Option<bool>| own.or(g.smtp_alert_vrrp).or(g.smtp_alert).unwrap_or(false);
    let checker_on =
        |own: Option<bool>, default: bool| own.or(g.smtp_alert_checker).or(g.smtp_alert).unwrap_or(default);
    // Where the file turns alerts on, and whether anything mails at all.
    let mut asked: Vec<String> = Vec::new();
    for (set, key) in [
        (g.smtp_alert, "smtp_alert"),
        (g.smtp_alert_vrrp, "smtp_alert_vrrp"),
        (g.smtp_alert_checker, "smtp_alert_checker"),
    ] {
        if set == Some(true) {
            asked.push(format!("global_defs.{key}"));
        }
    }
    let mut any = false;
    for (i, s) in c.vrrp_sync_groups.iter().enumerate() {
        any |= vrrp_on(s.smtp_alert);
        if s.smtp_alert == Some(true) {
            asked.push(format!("vrrp_sync_group[{i}].smtp_alert"));
        }
    }
    for (i, s) in c.vrrp_instances.iter().enumerate() {
        any |= vrrp_on(s.smtp_alert);
        if s.smtp_alert == Some(true) {
            asked.push(format!("vrrp_instance[{i}].smtp_alert"));
        }
    }
    for (i, vs) in c.virtual_servers.iter().enumerate() {
        any |= checker_on(vs.smtp_alert, false);
        if vs.smtp_alert == Some(true) {
            asked.push(format!("virtual_server[{i}].smtp_alert"));
        }
        for (j, rs) in vs.real_servers.iter().enumerate() {
            any |= checker_on(rs.smtp_alert, true);
            if rs.smtp_alert == Some(true) {
                asked.push(format!("virtual_server[{i}].real_server[{j}].smtp_alert"));
            }
        }
    }
    let has_to = !g.notification_email.is_empty();
    match (&g.smtp_server, has_to) {
        (None, false) => {
            for path in &asked {
                v.warn(path, "`smtp_alert` is on, but no email alert can be sent")
                    .notes
                    .push("global_defs sets neither smtp_server nor notification_email".to_string());
            }
        }
        (None, true) => {
            v.warn("global_defs.notification_email", "no email alert is sent: global_defs has no smtp_server");
        }
        (Some(_), false) => {
            v.warn("global_defs.smtp_server", "no email alert is sent: notification_email lists no address");
        }
        (Some(_), true) => {
            for a in g.notification_email.iter().chain(&g.notification_email_from).filter(|a| !is_address(a)) {
                let path = if Some(a) == g.notification_email_from.as_ref() {
                    "global_defs.notification_email_from"
                } else {
                    "global_defs.notification_email"
                };
                v.warn(path, format!("`{a}` is not a mail address (user@domain); mails will not be sent"));
            }
            if !any {
                v.warn("global_defs.smtp_server", "no email alert is sent: nothing has smtp_alert on")
                    .notes
                    .push("VRRP instances and sync groups mail only with smtp_alert (in them, or smtp_alert / smtp_alert_vrrp in global_defs), as in keepalived".to_string());
            }
        }
    }
}

/// `local@domain`, roughly: what an SMTP envelope takes.
fn is_address(a: &str) -> bool {
    match a.rsplit_once('@') {
        Some((local, domain)) => !local.is_empty() && !domain.is_empty() && !a.contains(char::is_whitespace),
        None => false,
    }
}
