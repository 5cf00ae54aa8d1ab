//! Email alerts against a real SMTP server: aiosmtpd (Debian's python3-aiosmtpd) runs in a
//! namespace `mail` of the lab, tandem in `d1`, both on one segment. The sink writes each
//! mail it takes, with the HELO name and the envelope, to a file.
//!
//! tandem must mail, with keepalived's subjects and bodies, from `notification_email_from`
//! to both `notification_email` addresses: its instance entering BACKUP then MASTER
//! (`smtp_alert_vrrp`), its virtual server starting with its quorum and losing it, and its
//! real server going down when the TCP_CHECK's listener stops. A reload that moves
//! `smtp_server` to an IPv6 address and another port sends the next mails (the real server
//! back up) there, and a stop sends "Stopping" there before tandem exits. A reload to a
//! server nobody listens on logs the failure and tandem goes on.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tandem_tests::netns::{Host, Lab, wait_until};
use tandem_tests::pair::Tandem;

/// An aiosmtpd handler that writes every message to DIR, with the HELO name and envelope.
const SINK: &str = r#"import os, time

class Sink:
    def __init__(self, folder):
        self.folder = folder
        os.makedirs(folder, exist_ok=True)

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(*args)

    async def handle_DATA(self, server, session, envelope):
        path = os.path.join(self.folder, "%d.mail" % time.time_ns())
        head = "X-Helo: %s\r\nX-MailFrom: %s\r\nX-RcptTo: %s\r\n" % (
            session.host_name, envelope.mail_from, ", ".join(envelope.rcpt_tos))
        with open(path + ".tmp", "wb") as f:
            f.write(head.encode())
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 OK"
"#;

/// The configuration; `server` is what follows `smtp_server`.
fn conf(server: &str) -> String {
    conf_with(server, true)
}

/// The configuration, with or without its real server.
fn conf_with(server: &str, real_server: bool) -> String {
    let rs = if real_server {
        "    real_server 192.0.2.80 8080 {\n        TCP_CHECK {\n            connect_timeout 1\n            retry 0\n        }\n    }\n"
    } else {
        ""
    };
    format!(
        "global_defs {{
    router_id lb1
    notification_email {{
        ops@example.com
        noc@example.com
    }}
    notification_email_from tandem@lb1.example.com
    smtp_server {server}
    smtp_helo_name lb1.example.com
    smtp_connect_timeout 2
    smtp_alert_vrrp
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    virtual_ipaddress {{
        192.0.2.100/24
    }}
}}
virtual_server 192.0.2.100 80 {{
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    quorum 1
    smtp_alert
{rs}}}
"
    )
}

/// A mail as the sink wrote it: headers (the sink's X-Helo/X-MailFrom/X-RcptTo first) and
/// the body.
#[derive(Debug)]
struct Mail {
    headers: BTreeMap<String, String>,
    body: String,
}

fn mails(dir: &Path) -> Vec<Mail> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "mail")).collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap().replace("\r\n", "\n");
            let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
            let headers =
                head.lines().filter_map(|l| l.split_once(": ")).map(|(k, v)| (k.to_string(), v.to_string())).collect();
            Mail { headers, body: body.trim_end().to_string() }
        })
        .collect()
}

fn subjects(dir: &Path) -> Vec<String> {
    mails(dir).iter().map(|m| m.headers.get("Subject").cloned().unwrap_or_default()).collect()
}

/// Waits up to `secs` for a mail with `subject` in `dir`; the mail.
fn wait_for(dir: &Path, subject: &str, secs: u64) -> Option<Mail> {
    let found = wait_until(Duration::from_secs(secs), || subjects(dir).iter().any(|s| s == subject));
    if !found {
        return None;
    }
    mails(dir).into_iter().find(|m| m.headers.get("Subject").map(String::as_str) == Some(subject))
}

#[test]
fn tandem_mails_vrrp_and_checker_alerts_to_a_real_smtp_server() {
    let mut lab = Lab::new("email").unwrap();
    let seg = lab.segment("lan").unwrap();
    let mail = lab.host("mail").unwrap();
    let d1 = lab.host("d1").unwrap();
    lab.connect(&mail, &seg, "eth0", &["192.0.2.25/24", "192.0.2.80/24", "2001:db8::25/64"]).unwrap();
    lab.connect(&d1, &seg, "eth0", &["192.0.2.1/24", "2001:db8::1/64"]).unwrap();
    let dir = lab.dir().to_path_buf();
    std::fs::write(dir.join("tandem_sink.py"), SINK).unwrap();
    let (inbox4, inbox6) = (dir.join("inbox4"), dir.join("inbox6"));
    let pythonpath = format!("PYTHONPATH={}", dir.display());
    let sink = |lab: &mut Lab, listen: &str, inbox: &Path, log: &str| {
        let inbox = inbox.to_string_lossy().into_owned();
        let args =
            [&pythonpath, "/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", listen, "-c", "tandem_sink.Sink", &inbox];
        lab.spawn(&mail, "env", &args, log).unwrap();
    };
    sink(&mut lab, "192.0.2.25:2525", &inbox4, "smtp4.log");
    // aiosmtpd splits HOST:PORT at the last colon.
    sink(&mut lab, "2001:db8::25:2526", &inbox6, "smtp6.log");
    // The real server: a listener the TCP_CHECK connects to.
    let web_args = ["-m", "http.server", "--bind", "192.0.2.80", "8080"];
    let web = lab.spawn(&mail, "/usr/bin/python3", &web_args, "web.log").unwrap();
    let listening = |lab: &Lab, what: &str| {
        wait_until(Duration::from_secs(10), || {
            lab.run(&mail, "ss", &["-Hltn"]).map(|o| String::from_utf8_lossy(&o.stdout).contains(what)).unwrap_or(false)
        })
    };
    assert!(listening(&lab, "192.0.2.25:2525"), "the IPv4 SMTP sink does not listen");
    assert!(listening(&lab, "[2001:db8::25]:2526"), "the IPv6 SMTP sink does not listen");
    assert!(listening(&lab, "192.0.2.80:8080"), "the real server does not listen");

    let bin = env!("CARGO_BIN_EXE_tandem");
    let t = Tandem::start_controlled(&mut lab, bin, &d1, "d1", &conf("192.0.2.25 2525")).unwrap();
    let fail = |what: &str| -> ! {
        panic!(
            "{what}\nIPv4 inbox: {:?}\nIPv6 inbox: {:?}\ntandem's log:\n{}",
            subjects(&inbox4),
            subjects(&inbox6),
            t.log()
        )
    };

    // The instance: BACKUP at start, MASTER after the master-down time.
    let backup = wait_for(&inbox4, "[lb1] VRRP Instance VI_1 - Entering BACKUP state", 15)
        .unwrap_or_else(|| fail("no BACKUP mail"));
    assert_eq!(backup.body, "=> VRRP Instance is no longer owning VRRP VIPs <=");
    let master = wait_for(&inbox4, "[lb1] VRRP Instance VI_1 - Entering MASTER state", 15)
        .unwrap_or_else(|| fail("no MASTER mail"));
    assert_eq!(master.body, "=> VRRP Instance is now owning VRRP VIPs <=");
    let h = &master.headers;
    assert_eq!(h.get("From").map(String::as_str), Some("tandem@lb1.example.com"));
    assert_eq!(h.get("To").map(String::as_str), Some("ops@example.com, noc@example.com"));
    assert_eq!(h.get("X-Mailer").map(String::as_str), Some("tandem"));
    assert!(h.get("Date").is_some_and(|d| d.ends_with("+0000")), "{h:?}");
    assert_eq!(h.get("X-MailFrom").map(String::as_str), Some("tandem@lb1.example.com"));
    assert_eq!(h.get("X-RcptTo").map(String::as_str), Some("ops@example.com, noc@example.com"));
    assert_eq!(h.get("X-Helo").map(String::as_str), Some("lb1.example.com"));

    // The virtual server starts with its quorum (its one real server answers).
    let quorum = wait_for(&inbox4, "[lb1] Virtualserver [192.0.2.100]:tcp:80 - UP", 10)
        .unwrap_or_else(|| fail("no quorum UP mail"));
    assert_eq!(quorum.body, "=> Starting with quorum up 1+0=1 <= 1 <=");

    // The real server's listener stops: the TCP_CHECK fails, the server and the quorum go.
    lab.signal(web, "KILL").unwrap();
    let down =
        wait_for(&inbox4, "[lb1] Realserver [192.0.2.80]:tcp:8080 of virtual server [192.0.2.100]:tcp:80 - DOWN", 15)
            .unwrap_or_else(|| fail("no real server DOWN mail"));
    assert_eq!(down.body, "=> TCP CHECK failed on service <=");
    let lost = wait_for(&inbox4, "[lb1] Virtualserver [192.0.2.100]:tcp:80 - DOWN", 10)
        .unwrap_or_else(|| fail("no quorum DOWN mail"));
    assert_eq!(lost.body, "=> Lost quorum 1+0=1 <= 0 <=");
    // Each alert once.
    let mut seen = subjects(&inbox4);
    let n = seen.len();
    seen.dedup();
    assert_eq!(seen.len(), n, "a mail came twice: {seen:?}");

    // A reload moves the server to IPv6: the real server coming back is mailed there.
    std::fs::write(dir.join("d1.conf"), conf("2001:db8::25 2526")).unwrap();
    let out = t.ask(bin, &["reload"]).unwrap();
    assert!(out.status.success(), "reload: {}", String::from_utf8_lossy(&out.stderr));
    let before = subjects(&inbox4).len();
    let web2 = lab.spawn(&mail, "/usr/bin/python3", &web_args, "web2.log").unwrap();
    let up =
        wait_for(&inbox6, "[lb1] Realserver [192.0.2.80]:tcp:8080 of virtual server [192.0.2.100]:tcp:80 - UP", 15)
            .unwrap_or_else(|| fail("no real server UP mail on the IPv6 server"));
    assert_eq!(up.body, "=> TCP CHECK succeed on service <=");
    wait_for(&inbox6, "[lb1] Virtualserver [192.0.2.100]:tcp:80 - UP", 10)
        .unwrap_or_else(|| fail("no quorum UP mail on the IPv6 server"));
    assert_eq!(subjects(&inbox4).len(), before, "mail still went to the old server");

    // A reload that removes the real server, alive: keepalived's "Removing" mail, and the
    // quorum lost (not "Starting with": the virtual server was there before).
    std::fs::write(dir.join("d1.conf"), conf_with("2001:db8::25 2526", false)).unwrap();
    assert!(t.ask(bin, &["reload"]).unwrap().status.success());
    let removed =
        wait_for(&inbox6, "[lb1] Realserver [192.0.2.80]:tcp:8080 of virtual server [192.0.2.100]:tcp:80 - DOWN", 10)
            .unwrap_or_else(|| fail("no Removing mail"));
    assert_eq!(removed.body, "=> Removing <=");
    let lost = wait_for(&inbox6, "[lb1] Virtualserver [192.0.2.100]:tcp:80 - DOWN", 10)
        .unwrap_or_else(|| fail("no quorum DOWN mail at the reload"));
    assert_eq!(lost.body, "=> Lost quorum 1+0=1 <= 0 <=");

    // A server nobody listens on: the failure is logged, tandem goes on.
    std::fs::write(dir.join("d1.conf"), conf("192.0.2.25 2999")).unwrap();
    assert!(t.ask(bin, &["reload"]).unwrap().status.success());
    lab.signal(web2, "KILL").unwrap();
    let logged = wait_until(Duration::from_secs(15), || t.log().contains("email alert not sent"));
    if !logged {
        fail("no failed send logged");
    }
    assert!(lab.exit_status(t.pid).unwrap().is_none(), "tandem ended after a failed mail:\n{}", t.log());

    // Back to the IPv6 server; a stop mails "Stopping" before tandem exits.
    std::fs::write(dir.join("d1.conf"), conf("2001:db8::25 2526")).unwrap();
    assert!(t.ask(bin, &["reload"]).unwrap().status.success());
    lab.signal(t.pid, "TERM").unwrap();
    let stop = wait_for(&inbox6, "[lb1] VRRP Instance VI_1 - Stopping", 15).unwrap_or_else(|| fail("no Stopping mail"));
    assert_eq!(stop.body, "=> VRRP Instance stopping <=");
}

/// Two SMTP sinks on `mail`: 192.0.2.25:2525 for keepalived and :2527 for tandem; their
/// inboxes.
fn keepalived_and_tandem_sinks(lab: &mut Lab, mail: &Host) -> (PathBuf, PathBuf) {
    let dir = lab.dir().to_path_buf();
    std::fs::write(dir.join("tandem_sink.py"), SINK).unwrap();
    let (from_k, from_t) = (dir.join("keepalived"), dir.join("tandem"));
    let pythonpath = format!("PYTHONPATH={}", dir.display());
    for (listen, inbox, log) in [("192.0.2.25:2525", &from_k, "smtpk.log"), ("192.0.2.25:2527", &from_t, "smtpt.log")] {
        let inbox = inbox.to_string_lossy().into_owned();
        let args =
            [&pythonpath, "/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", listen, "-c", "tandem_sink.Sink", &inbox];
        lab.spawn(mail, "env", &args, log).unwrap();
    }
    let listening = wait_until(Duration::from_secs(10), || {
        let out = lab.run(mail, "ss", &["-Hltn"]).map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        out.is_ok_and(|o| o.contains("192.0.2.25:2525") && o.contains("192.0.2.25:2527"))
    });
    assert!(listening, "the SMTP sinks do not listen");
    (from_k, from_t)
}

/// keepalived's global_defs and one instance on VRID `vrid`, mailing to `server`.
fn vrrp_only(server: &str, vrid: u8, vip: &str) -> String {
    format!(
        "global_defs {{
    router_id lb1
    notification_email {{
        ops@example.com
        noc@example.com
    }}
    notification_email_from tandem@lb1.example.com
    smtp_server {server}
    smtp_helo_name lb1.example.com
    smtp_connect_timeout 2
    smtp_alert_vrrp
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id {vrid}
    priority 150
    advert_int 1
    virtual_ipaddress {{
        {vip}/24
    }}
}}
"
    )
}

/// What two mails must share: subject, body, sender, recipients, envelope and HELO name.
fn essence(m: &Mail) -> Vec<String> {
    let h = |k: &str| m.headers.get(k).cloned().unwrap_or_default();
    vec![h("Subject"), m.body.clone(), h("From"), h("To"), h("X-MailFrom"), h("X-RcptTo"), h("X-Helo")]
}

#[test]
fn tandem_mails_what_keepalived_mails_for_the_same_instance() {
    tandem_tests::keepalived::judge().unwrap();
    let mut lab = Lab::new("emailk").unwrap();
    let seg = lab.segment("lan").unwrap();
    let mail = lab.host("mail").unwrap();
    let k1 = lab.host("k1").unwrap();
    let d1 = lab.host("d1").unwrap();
    lab.connect(&mail, &seg, "eth0", &["192.0.2.25/24"]).unwrap();
    lab.connect(&k1, &seg, "eth0", &["192.0.2.3/24"]).unwrap();
    lab.connect(&d1, &seg, "eth0", &["192.0.2.1/24"]).unwrap();
    let (from_k, from_t) = keepalived_and_tandem_sinks(&mut lab, &mail);
    // Two independent virtual routers (VRIDs 61 and 62): each becomes master alone.
    let k = tandem_tests::keepalived::Keepalived::start(
        &mut lab,
        &k1,
        "k1",
        &vrrp_only("192.0.2.25 2525", 61, "192.0.2.61"),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_tandem");
    let t = Tandem::start(&mut lab, bin, &d1, "d1", &vrrp_only("192.0.2.25 2527", 62, "192.0.2.62")).unwrap();
    let master = "[lb1] VRRP Instance VI_1 - Entering MASTER state";
    let both = wait_for(&from_k, master, 20).is_some() && wait_for(&from_t, master, 20).is_some();
    let (km, tm) = (mails(&from_k), mails(&from_t));
    assert!(
        both,
        "keepalived mailed {:?}\ntandem mailed {:?}\n{}\n{}",
        subjects(&from_k),
        subjects(&from_t),
        k.log(),
        t.log()
    );
    let (ke, te): (Vec<_>, Vec<_>) = (km.iter().map(essence).collect(), tm.iter().map(essence).collect());
    assert_eq!(te, ke, "tandem's mails differ from keepalived's");
    // A stop: keepalived 2.2.7 composes a "Stopping" mail but exits before it goes out
    // (nothing reaches the server); tandem sends it before it exits (a difference
    // docs/differences.md lists).
    lab.signal(k.pid, "TERM").unwrap();
    lab.signal(t.pid, "TERM").unwrap();
    let stopping = "[lb1] VRRP Instance VI_1 - Stopping";
    let stop =
        wait_for(&from_t, stopping, 10).unwrap_or_else(|| panic!("tandem mailed {:?}\n{}", subjects(&from_t), t.log()));
    assert_eq!(stop.body, "=> VRRP Instance stopping <=");
    let k_gone = wait_until(Duration::from_secs(10), || lab.exit_status(k.pid).ok().flatten().is_some());
    assert!(k_gone, "keepalived did not stop:\n{}", k.log());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(subjects(&from_k).len(), km.len(), "keepalived mailed at stop: {:?}", subjects(&from_k));
    // keepalived names itself as the mailer; tandem does too.
    assert_eq!(km[0].headers.get("X-Mailer").map(String::as_str), Some("Keepalived"));
    assert_eq!(tm[0].headers.get("X-Mailer").map(String::as_str), Some("tandem"));
}

/// A sync group of two instances (VRIDs `vrid` and `vrid` + 1) mailing to `server`.
fn sync_group(server: &str, vrid: u8, net: &str) -> String {
    let instance = |name: &str, id: u8| {
        format!(
            "vrrp_instance {name} {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {id}\n    priority 150\n    advert_int 1\n    virtual_ipaddress {{\n        {net}.{id}/24\n    }}\n}}\n"
        )
    };
    format!(
        "global_defs {{\n    router_id lb1\n    notification_email {{\n        ops@example.com\n    }}\n    notification_email_from tandem@lb1.example.com\n    smtp_server {server}\n    smtp_helo_name lb1.example.com\n    smtp_alert_vrrp\n}}\nvrrp_sync_group G1 {{\n    group {{\n        VI_1\n        VI_2\n    }}\n}}\n{}{}",
        instance("VI_1", vrid),
        instance("VI_2", vrid + 1)
    )
}

#[test]
fn a_sync_group_mails_as_keepalived_s_does() {
    tandem_tests::keepalived::judge().unwrap();
    let mut lab = Lab::new("emailg").unwrap();
    let seg = lab.segment("lan").unwrap();
    let mail = lab.host("mail").unwrap();
    let k1 = lab.host("k1").unwrap();
    let d1 = lab.host("d1").unwrap();
    lab.connect(&mail, &seg, "eth0", &["192.0.2.25/24"]).unwrap();
    lab.connect(&k1, &seg, "eth0", &["192.0.2.3/24"]).unwrap();
    lab.connect(&d1, &seg, "eth0", &["192.0.2.1/24"]).unwrap();
    let (from_k, from_t) = keepalived_and_tandem_sinks(&mut lab, &mail);
    let k =
        tandem_tests::keepalived::Keepalived::start(&mut lab, &k1, "k1", &sync_group("192.0.2.25 2525", 71, "192.0.2"))
            .unwrap();
    let bin = env!("CARGO_BIN_EXE_tandem");
    let t = Tandem::start(&mut lab, bin, &d1, "d1", &sync_group("192.0.2.25 2527", 81, "192.0.2")).unwrap();
    let master = "[lb1] VRRP Group G1 - Entering MASTER state";
    let both = wait_for(&from_k, master, 20).is_some() && wait_for(&from_t, master, 20).is_some();
    // Whatever else either sends comes within a second.
    std::thread::sleep(Duration::from_secs(1));
    let sorted = |dir: &Path| {
        let mut v: Vec<Vec<String>> = mails(dir).iter().map(essence).collect();
        v.sort();
        v
    };
    let (ke, te) = (sorted(&from_k), sorted(&from_t));
    assert!(
        both,
        "keepalived mailed {:?}\ntandem mailed {:?}\n{}\n{}",
        subjects(&from_k),
        subjects(&from_t),
        k.log(),
        t.log()
    );
    assert_eq!(te, ke, "tandem's mails differ from keepalived's");
}

/// A real server with two TCP_CHECKs (ports 8080 and 8081), mailing to the sink.
fn two_checks(no_checker_emails: bool) -> String {
    format!(
        "global_defs {{\n    router_id lb1\n    notification_email {{\n        ops@example.com\n    }}\n    notification_email_from tandem@lb1.example.com\n    smtp_server 192.0.2.25 2525\n{}}}\n\
         virtual_server 192.0.2.100 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n\
         \x20   real_server 192.0.2.80 8080 {{\n        TCP_CHECK {{\n            connect_timeout 1\n            retry 0\n        }}\n\
         \x20       TCP_CHECK {{\n            connect_port 8081\n            connect_timeout 1\n            retry 0\n        }}\n    }}\n}}\n",
        if no_checker_emails { "    no_checker_emails\n" } else { "" }
    )
}

#[test]
fn each_check_mails_unless_no_checker_emails() {
    let mut lab = Lab::new("emailc").unwrap();
    let seg = lab.segment("lan").unwrap();
    let mail = lab.host("mail").unwrap();
    let d1 = lab.host("d1").unwrap();
    lab.connect(&mail, &seg, "eth0", &["192.0.2.25/24", "192.0.2.80/24"]).unwrap();
    lab.connect(&d1, &seg, "eth0", &["192.0.2.1/24", "192.0.2.100/24"]).unwrap();
    let dir = lab.dir().to_path_buf();
    std::fs::write(dir.join("tandem_sink.py"), SINK).unwrap();
    let inbox = dir.join("inbox");
    let (pythonpath, inbox_s) = (format!("PYTHONPATH={}", dir.display()), inbox.to_string_lossy().into_owned());
    let sink = [
        &pythonpath,
        "/usr/bin/python3",
        "-m",
        "aiosmtpd",
        "-n",
        "-l",
        "192.0.2.25:2525",
        "-c",
        "tandem_sink.Sink",
        &inbox_s,
    ];
    lab.spawn(&mail, "env", &sink, "smtp.log").unwrap();
    let web = |lab: &mut Lab, port: &str| {
        lab.spawn(
            &mail,
            "/usr/bin/python3",
            &["-m", "http.server", "--bind", "192.0.2.80", port],
            &format!("web{port}.log"),
        )
        .unwrap()
    };
    let (w80, w81) = (web(&mut lab, "8080"), web(&mut lab, "8081"));
    let listening = wait_until(Duration::from_secs(10), || {
        let out = lab.run(&mail, "ss", &["-Hltn"]).map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        out.is_ok_and(|o| ["192.0.2.25:2525", "192.0.2.80:8080", "192.0.2.80:8081"].iter().all(|l| o.contains(l)))
    });
    assert!(listening, "the SMTP sink or the real server's ports do not listen");
    let bin = env!("CARGO_BIN_EXE_tandem");
    let t = Tandem::start_controlled(&mut lab, bin, &d1, "d1", &two_checks(false)).unwrap();
    let down = "[lb1] Realserver [192.0.2.80]:tcp:8080 of virtual server [192.0.2.100]:tcp:80 - DOWN";
    let up = "[lb1] Realserver [192.0.2.80]:tcp:8080 of virtual server [192.0.2.100]:tcp:80 - UP";
    let count = |s: &str| subjects(&inbox).iter().filter(|x| *x == s).count();
    let fail = |what: &str| -> ! { panic!("{what}\ninbox: {:?}\ntandem's log:\n{}", subjects(&inbox), t.log()) };
    // Both checks pass (no mail: each confirms its starting state). One fails: the server
    // goes down, a mail. The other fails too: the server was down already, and keepalived
    // still mails that check's change.
    assert!(wait_until(Duration::from_secs(10), || t.log().contains("tandem running")), "tandem did not start");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(subjects(&inbox), Vec::<String>::new(), "mail before any change");
    lab.signal(w81, "KILL").unwrap();
    if !wait_until(Duration::from_secs(10), || count(down) == 1) {
        fail("no DOWN mail for the first failed check");
    }
    lab.signal(w80, "KILL").unwrap();
    if !wait_until(Duration::from_secs(10), || count(down) == 2) {
        fail("no second DOWN mail for the second failed check");
    }
    // With no_checker_emails, a check whose change does not move the server mails nothing.
    std::fs::write(dir.join("d1.conf"), two_checks(true)).unwrap();
    assert!(t.ask(bin, &["reload"]).unwrap().status.success());
    let before = subjects(&inbox).len();
    web(&mut lab, "8080");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        subjects(&inbox).len(),
        before,
        "a mail for a check that did not bring the server back: {:?}",
        subjects(&inbox)
    );
    web(&mut lab, "8081");
    if !wait_until(Duration::from_secs(10), || count(up) == 1) {
        fail("no UP mail when the last check recovered");
    }
    let up_mail = mails(&inbox).into_iter().find(|m| m.headers.get("Subject").map(String::as_str) == Some(up)).unwrap();
    assert_eq!(up_mail.body, "=> TCP CHECK succeed on service <=");
}

/// `vrrp_only` with a second instance VI_2 (VRID `vrid` + 1) when `second`.
fn vrrp_two(server: &str, vrid: u8, net: &str, second: bool) -> String {
    let mut s = vrrp_only(server, vrid, &format!("{net}.{vrid}"));
    if second {
        let id = vrid + 1;
        s += &format!(
            "vrrp_instance VI_2 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {id}\n    priority 150\n    advert_int 1\n    virtual_ipaddress {{\n        {net}.{id}/24\n    }}\n}}\n"
        );
    }
    s
}

#[test]
fn a_reload_that_removes_an_instance_mails_as_keepalived_s_does() {
    tandem_tests::keepalived::judge().unwrap();
    let mut lab = Lab::new("emailr").unwrap();
    let seg = lab.segment("lan").unwrap();
    let mail = lab.host("mail").unwrap();
    let k1 = lab.host("k1").unwrap();
    let d1 = lab.host("d1").unwrap();
    lab.connect(&mail, &seg, "eth0", &["192.0.2.25/24"]).unwrap();
    lab.connect(&k1, &seg, "eth0", &["192.0.2.3/24"]).unwrap();
    lab.connect(&d1, &seg, "eth0", &["192.0.2.1/24"]).unwrap();
    let dir = lab.dir().to_path_buf();
    let (from_k, from_t) = keepalived_and_tandem_sinks(&mut lab, &mail);
    let k_conf = |second| vrrp_two("192.0.2.25 2525", 91, "192.0.2", second);
    let t_conf = |second| vrrp_two("192.0.2.25 2527", 95, "192.0.2", second);
    let k = tandem_tests::keepalived::Keepalived::start(&mut lab, &k1, "k1", &k_conf(true)).unwrap();
    let bin = env!("CARGO_BIN_EXE_tandem");
    let t = Tandem::start(&mut lab, bin, &d1, "d1", &t_conf(true)).unwrap();
    let master = "[lb1] VRRP Instance VI_2 - Entering MASTER state";
    let both = wait_for(&from_k, master, 20).is_some() && wait_for(&from_t, master, 20).is_some();
    assert!(both, "keepalived mailed {:?}\ntandem mailed {:?}", subjects(&from_k), subjects(&from_t));
    std::thread::sleep(Duration::from_secs(1));
    let (nk, nt) = (mails(&from_k).len(), mails(&from_t).len());
    // VI_2 goes at a reload.
    std::fs::write(dir.join("k1.conf"), k_conf(false)).unwrap();
    std::fs::write(dir.join("d1.conf"), t_conf(false)).unwrap();
    lab.signal(k.pid, "HUP").unwrap();
    lab.signal(t.pid, "HUP").unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let after = |dir: &Path, n: usize| -> Vec<Vec<String>> { mails(dir).iter().skip(n).map(essence).collect() };
    let (ke, te) = (after(&from_k, nk), after(&from_t, nt));
    assert_eq!(te, ke, "tandem's mails at the reload differ from keepalived's\n{}\n{}", k.log(), t.log());
}

#[test]
fn a_reload_that_removes_a_sync_group_mails_as_keepalived_s_does() {
    tandem_tests::keepalived::judge().unwrap();
    let mut lab = Lab::new("emailq").unwrap();
    let seg = lab.segment("lan").unwrap();
    let mail = lab.host("mail").unwrap();
    let k1 = lab.host("k1").unwrap();
    let d1 = lab.host("d1").unwrap();
    lab.connect(&mail, &seg, "eth0", &["192.0.2.25/24"]).unwrap();
    lab.connect(&k1, &seg, "eth0", &["192.0.2.3/24"]).unwrap();
    lab.connect(&d1, &seg, "eth0", &["192.0.2.1/24"]).unwrap();
    let dir = lab.dir().to_path_buf();
    let (from_k, from_t) = keepalived_and_tandem_sinks(&mut lab, &mail);
    // The group G1 (VI_1, VI_2) and a lone VI_3; the reload keeps only VI_3.
    let conf = |server: &str, vrid: u8, group: bool| {
        let mut s = if group {
            sync_group(server, vrid, "192.0.2")
        } else {
            vrrp_only(server, vrid + 2, &format!("192.0.2.{}", vrid + 2)).replacen("VI_1", "VI_3", 1)
        };
        if group {
            let id = vrid + 2;
            s += &format!(
                "vrrp_instance VI_3 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {id}\n    priority 150\n    advert_int 1\n    virtual_ipaddress {{\n        192.0.2.{id}/24\n    }}\n}}\n"
            );
        }
        s
    };
    let k =
        tandem_tests::keepalived::Keepalived::start(&mut lab, &k1, "k1", &conf("192.0.2.25 2525", 101, true)).unwrap();
    let bin = env!("CARGO_BIN_EXE_tandem");
    let t = Tandem::start(&mut lab, bin, &d1, "d1", &conf("192.0.2.25 2527", 111, true)).unwrap();
    let master = "[lb1] VRRP Group G1 - Entering MASTER state";
    let both = wait_for(&from_k, master, 20).is_some() && wait_for(&from_t, master, 20).is_some();
    assert!(both, "keepalived mailed {:?}\ntandem mailed {:?}", subjects(&from_k), subjects(&from_t));
    std::thread::sleep(Duration::from_secs(2));
    let (nk, nt) = (mails(&from_k).len(), mails(&from_t).len());
    std::fs::write(dir.join("k1.conf"), conf("192.0.2.25 2525", 101, false)).unwrap();
    std::fs::write(dir.join("d1.conf"), conf("192.0.2.25 2527", 111, false)).unwrap();
    lab.signal(k.pid, "HUP").unwrap();
    lab.signal(t.pid, "HUP").unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let after = |dir: &Path, n: usize| -> Vec<Vec<String>> {
        let mut v: Vec<Vec<String>> = mails(dir).iter().skip(n).map(essence).collect();
        v.sort();
        v
    };
    let (ke, te) = (after(&from_k, nk), after(&from_t, nt));
    assert_eq!(te, ke, "tandem's mails at the reload differ from keepalived's\n{}\n{}", k.log(), t.log());
}
