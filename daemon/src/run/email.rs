//! keepalived's email alerts (keepalived/core/smtp.c, vrrp/vrrp_notify.c, check/ipwrapper.c
//! and the checkers' epilogues): a mail to every `notification_email` address, from
//! `notification_email_from`, through `smtp_server`, when a VRRP instance or sync group
//! changes state, a real server goes up or down, or a virtual server gains or loses its
//! quorum, for the objects whose `smtp_alert` resolves to on ([`vrrp_alert`],
//! [`virtual_server_alert`], [`real_server_alert`]).
//!
//! One task owns the sending: the VRRP units and the checks hand it an [`Alert`] through a
//! bounded channel and go on at once (a full queue drops the alert, logged and counted).
//! The task writes keepalived's message (headers `Date`, `From`, `Subject`, `X-Mailer`, `To`,
//! then the body line) and sends it with lettre, one connection per mail, within
//! `smtp_connect_timeout` for the connection and each reply. A failed mail is logged with the
//! server and the subject, counted, and not retried (keepalived does not retry either).

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use tandem_conf::{GlobalDefs, Protocol, VirtualServer};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

/// Alerts waiting to be sent; more are dropped (and counted) until the queue drains.
const QUEUE: usize = 256;

/// Mails sent, failed, and alerts dropped because the queue was full, since start.
static SENT: AtomicU64 = AtomicU64::new(0);
/// See [`SENT`].
static FAILED: AtomicU64 = AtomicU64::new(0);
/// See [`SENT`].
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// The counters by outcome, for the metrics: `sent`, `failed`, `dropped`.
pub(crate) fn counts() -> [(&'static str, u64); 3] {
    [
        ("sent", SENT.load(Ordering::Relaxed)),
        ("failed", FAILED.load(Ordering::Relaxed)),
        ("dropped", DROPPED.load(Ordering::Relaxed)),
    ]
}

/// keepalived's precedence for a VRRP instance or sync group (vrrp.c, vrrp_complete_instance
/// and vrrp_complete_init): its own `smtp_alert`, else `smtp_alert_vrrp`, else the global
/// `smtp_alert`, else off.
pub(crate) fn vrrp_alert(own: Option<bool>, g: &GlobalDefs) -> bool {
    own.or(g.smtp_alert_vrrp).or(g.smtp_alert).unwrap_or(false)
}

/// keepalived's precedence for a virtual server (check_data.c, validate_check_config): its
/// own `smtp_alert`, else `smtp_alert_checker`, else the global `smtp_alert`, else off.
pub(crate) fn virtual_server_alert(own: Option<bool>, g: &GlobalDefs) -> bool {
    own.or(g.smtp_alert_checker).or(g.smtp_alert).unwrap_or(false)
}

/// keepalived's precedence for a real server (check_data.c, validate_check_config): as a
/// virtual server's, except that it is on when nothing is set ("inconsistent with the
/// defaults for other smtp_alerts in order to maintain backwards compatibility").
pub(crate) fn real_server_alert(own: Option<bool>, g: &GlobalDefs) -> bool {
    own.or(g.smtp_alert_checker).or(g.smtp_alert).unwrap_or(true)
}

/// A VRRP state, as the mails name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VrrpState {
    /// MASTER.
    Master,
    /// BACKUP.
    Backup,
    /// FAULT.
    Fault,
    /// Stopping.
    Stop,
}

impl VrrpState {
    /// The mail's state for a state machine's state (none for INIT).
    pub fn of(s: tandem_vrrp::instance::State) -> Option<VrrpState> {
        use tandem_vrrp::instance::State;
        match s {
            State::Master => Some(VrrpState::Master),
            State::Backup => Some(VrrpState::Backup),
            State::Fault => Some(VrrpState::Fault),
            State::Stopped => Some(VrrpState::Stop),
            State::Init => None,
        }
    }
}

/// Something to mail about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Alert {
    /// A VRRP instance entered a state.
    Instance {
        /// Its name.
        name: String,
        /// The state.
        state: VrrpState,
    },
    /// A sync group entered a state (all its instances did).
    Group {
        /// Its name.
        name: String,
        /// The state.
        state: VrrpState,
    },
    /// A real server went up or down.
    RealServer {
        /// keepalived's `[IP]:PROTO:PORT`.
        real_server: String,
        /// keepalived's name of the virtual server.
        virtual_server: String,
        /// Up or down.
        up: bool,
        /// The body line (which check, what happened).
        body: String,
    },
    /// A virtual server gained or lost its quorum.
    Quorum {
        /// keepalived's name of the virtual server.
        virtual_server: String,
        /// Gained or lost.
        up: bool,
        /// The body line.
        body: String,
    },
}

impl Alert {
    /// keepalived's subject (smtp.c, smtp_alert), without the `[router_id] ` it begins with.
    fn subject(&self) -> String {
        let updown = |up: bool| if up { "UP" } else { "DOWN" };
        match self {
            Alert::Instance { name, state } => format!("VRRP Instance {name} - {}", entering(*state)),
            Alert::Group { name, state } => format!("VRRP Group {name} - {}", entering(*state)),
            Alert::RealServer { real_server, virtual_server, up, .. } => {
                format!("Realserver {real_server} of virtual server {virtual_server} - {}", updown(*up))
            }
            Alert::Quorum { virtual_server, up, .. } => format!("Virtualserver {virtual_server} - {}", updown(*up)),
        }
    }

    /// keepalived's body line (vrrp_notify.c, vrrp_smtp_notifier and vrrp_sync_smtp_notifier;
    /// the checkers and ipwrapper.c for the others).
    fn body(&self) -> String {
        match self {
            Alert::Instance { state, .. } => match state {
                VrrpState::Master => "=> VRRP Instance is now owning VRRP VIPs <=",
                VrrpState::Backup | VrrpState::Fault => "=> VRRP Instance is no longer owning VRRP VIPs <=",
                VrrpState::Stop => "=> VRRP Instance stopping <=",
            }
            .to_string(),
            Alert::Group { state, .. } => match state {
                VrrpState::Master => "=> All VRRP group instances are now in MASTER state <=",
                VrrpState::Backup => "=> All VRRP group instances are now in BACKUP state <=",
                VrrpState::Fault => "=> All VRRP group instances are now in FAULT state <=",
                VrrpState::Stop => "=> All VRRP group instances are now stopping <=",
            }
            .to_string(),
            Alert::RealServer { body, .. } | Alert::Quorum { body, .. } => body.clone(),
        }
    }

    fn is_fault(&self) -> bool {
        matches!(self, Alert::Instance { state: VrrpState::Fault, .. } | Alert::Group { state: VrrpState::Fault, .. })
    }
}

fn entering(s: VrrpState) -> &'static str {
    match s {
        VrrpState::Master => "Entering MASTER state",
        VrrpState::Backup => "Entering BACKUP state",
        VrrpState::Fault => "Entering FAULT state",
        VrrpState::Stop => "Stopping",
    }
}

/// keepalived's name of a virtual server (check_data.c, format_vs): `[IP]:PROTO:PORT`,
/// `FWM N`, or `[GROUP]:PORT`.
pub(crate) fn virtual_server_name(vs: &VirtualServer) -> String {
    if let Some(g) = &vs.group {
        format!("[{g}]:{}", vs.port.unwrap_or(0))
    } else if let Some(m) = vs.fwmark {
        format!("FWM {m}")
    } else {
        match vs.ip {
            Some(ip) => trio(ip, vs.effective_protocol(), vs.port.unwrap_or(0)),
            None => "?".to_string(),
        }
    }
}

/// keepalived's `[IP]:PROTO:PORT` (lib/utils.c, inet_sockaddrtotrio_r).
pub(crate) fn trio(ip: IpAddr, protocol: Protocol, port: u16) -> String {
    let p = match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    };
    format!("[{ip}]:{p}:{port}")
}

/// A checker's kind, for the body of a real server's mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckWord {
    /// TCP_CHECK.
    Tcp,
    /// HTTP_GET, SSL_GET.
    Http,
    /// DNS_CHECK.
    Dns,
    /// UDP_CHECK.
    Udp,
    /// PING_CHECK.
    Ping,
    /// MISC_CHECK.
    Misc,
    /// SMTP_CHECK.
    Other,
}

/// The body of a real server's mail, as the checker that moved it words it (check_tcp.c,
/// check_http.c, check_dns.c, check_udp.c, check_ping.c, check_misc.c, check_smtp.c), or
/// keepalived's "=> Shutting down <=" when tandem stops with `omega` (ipwrapper.c).
pub(crate) fn real_server_body(kind: CheckWord, up: bool, stopping: bool) -> String {
    if stopping {
        return "=> Shutting down <=".to_string();
    }
    match (kind, up) {
        (CheckWord::Tcp, true) => "=> TCP CHECK succeed on service <=",
        (CheckWord::Tcp, false) => "=> TCP CHECK failed on service <=",
        (CheckWord::Http, true) => "=> CHECK succeed on service <=",
        (CheckWord::Http, false) => "=> CHECK failed on service : HTTP request failed <=",
        (CheckWord::Dns, true) => "=> DNS_CHECK: succeed on service <=",
        (CheckWord::Dns, false) => "=> DNS_CHECK: failed on service <=",
        (CheckWord::Udp, true) => "=> UDP CHECK succeed on service <=",
        (CheckWord::Udp, false) => "=> UDP CHECK failed on service <=",
        (CheckWord::Ping, true) => "=> ICMP CHECK succeed on service <=",
        (CheckWord::Ping, false) => "=> ICMP CHECK failed on service <=",
        (CheckWord::Misc, true) => "=> MISC CHECK succeeded on service <=",
        (CheckWord::Misc, false) => "=> MISC CHECK failed on service <=",
        (CheckWord::Other, true) => "=> CHECK succeed on service <=",
        (CheckWord::Other, false) => "=> CHECK failed on service <=",
    }
    .to_string()
}

/// The body of a quorum mail (ipwrapper.c, do_vs_notifies): `=> Gained quorum 2+1=3 <= 4 <=`,
/// the threshold crossed being quorum - hysteresis when it is lost and quorum + hysteresis
/// otherwise (update_quorum_state), then the live weight.
pub(crate) fn quorum_body(up: bool, init: bool, stopping: bool, quorum: u32, hysteresis: u32, weight: u64) -> String {
    if stopping {
        return "=> Shutting down <=".to_string();
    }
    // Lost from up: below quorum - hysteresis; otherwise (gained, or down from the start)
    // the state before was down: quorum + hysteresis.
    let threshold =
        if up || init { i64::from(quorum) + i64::from(hysteresis) } else { i64::from(quorum) - i64::from(hysteresis) };
    let what = match (up, init) {
        (true, true) => "Starting with quorum up",
        (true, false) => "Gained quorum",
        (false, true) => "Starting with quorum down",
        (false, false) => "Lost quorum",
    };
    format!("=> {what} {quorum}+{hysteresis}={threshold} <= {weight} <=")
}

/// What the mails need from `global_defs`, resolved with keepalived's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    /// `smtp_server`'s host.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// `smtp_helo_name`, else the host name.
    pub helo: String,
    /// `notification_email_from`, else `USER@HOSTNAME`.
    pub from: String,
    /// `notification_email`.
    pub to: Vec<String>,
    /// `router_id`, else the host name.
    pub router_id: String,
    /// `smtp_connect_timeout`.
    pub timeout: Duration,
    /// `no_email_faults`.
    pub no_faults: bool,
}

/// The host name (keepalived's `get_local_name`: the node name).
fn host_name() -> String {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "localhost".to_string())
}

/// The user tandem runs as, for the default sender.
fn user_name() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| "root".to_string())
}

impl Settings {
    /// The mail settings of `g`; none when no mail can be sent (keepalived's smtp_alert
    /// returns at once without `smtp_server` or `notification_email`).
    pub fn of(g: &GlobalDefs) -> Option<Settings> {
        let server = g.smtp_server.as_ref()?;
        if g.notification_email.is_empty() {
            return None;
        }
        let host = host_name();
        Some(Settings {
            host: server.host.clone(),
            port: server.port,
            helo: g.smtp_helo_name.clone().unwrap_or_else(|| host.clone()),
            from: g.notification_email_from.clone().unwrap_or_else(|| format!("{}@{host}", user_name())),
            to: g.notification_email.clone(),
            router_id: g.router_id.clone().unwrap_or(host),
            // keepalived uses at least 1 s.
            timeout: Duration::try_from_secs_f64(g.smtp_connect_timeout.max(1.0)).unwrap_or(Duration::from_secs(30)),
            no_faults: g.no_email_faults,
        })
    }

    /// The whole message, as keepalived writes it (smtp.h, SMTP_HEADERS_CMD and
    /// SMTP_BODY_CMD): the date, sender, subject, mailer and recipients, a blank line and the
    /// body line. Lines end in CRLF.
    /// Line breaks in the configuration's values (a TOML string may hold them) become
    /// spaces: no value starts a header or line of its own.
    pub fn message(&self, alert: &Alert, date: SystemTime) -> String {
        format!(
            "Date: {}\r\nFrom: {}\r\nSubject: [{}] {}\r\nX-Mailer: tandem\r\nTo: {}\r\n\r\n{}\r\n",
            rfc5322_date(date),
            one_line(&self.from),
            one_line(&self.router_id),
            one_line(&alert.subject()),
            one_line(&self.to.join(", ")),
            one_line(&alert.body())
        )
    }
}

/// `s` with CR and LF made spaces.
fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

/// `Thu, 26 Nov 2026 12:46:24 +0000` (RFC 5322 section 3.3), in UTC.
pub(crate) fn rfc5322_date(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // 1970-01-01 was a Thursday.
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let name = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        [usize::try_from(month - 1).unwrap_or(0)];
    format!("{weekday}, {day:02} {name} {year} {h:02}:{m:02}:{s:02} +0000")
}

enum Job {
    Send(Alert),
    /// Answered once every alert queued before it has been dealt with.
    Flush(oneshot::Sender<()>),
}

/// The handle the units and the checks send alerts with; a reload gives it the new
/// settings. Cloning it is cheap.
#[derive(Clone)]
pub(crate) struct Mailer {
    tx: mpsc::Sender<Job>,
    settings: Arc<watch::Sender<Option<Arc<Settings>>>>,
}

impl Mailer {
    /// Starts the sending task (within the runtime) with the settings of `g`.
    pub fn start(g: &GlobalDefs) -> Mailer {
        let (tx, rx) = mpsc::channel(QUEUE);
        let settings = Settings::of(g).map(Arc::new);
        log_settings(settings.as_deref());
        let (settings_tx, settings_rx) = watch::channel(settings);
        tokio::spawn(send_all(rx, settings_rx));
        Mailer { tx, settings: Arc::new(settings_tx) }
    }

    /// Takes the settings of a reloaded configuration.
    pub fn configure(&self, g: &GlobalDefs) {
        let new = Settings::of(g);
        let changed = self.settings.borrow().as_deref() != new.as_ref();
        if changed {
            log_settings(new.as_ref());
            self.settings.send_replace(new.map(Arc::new));
        }
    }

    /// keepalived's `vrrp_smtp_notifier` / `vrrp_sync_smtp_notifier`: a mail for an instance
    /// or group entering `state`, unless `last` (what it last mailed about, keepalived's
    /// `last_email_state`) is that state already. A FAULT that `no_email_faults` keeps
    /// unmailed is not recorded: the return to the state before it is no new mail.
    pub fn state_changed(
        &self,
        last: &mut Option<VrrpState>,
        state: tandem_vrrp::instance::State,
        alert: impl FnOnce(VrrpState) -> Alert,
    ) {
        let Some(state) = VrrpState::of(state) else { return };
        let no_faults = self.settings.borrow().as_ref().is_some_and(|s| s.no_faults);
        if *last == Some(state) || (state == VrrpState::Fault && no_faults) {
            return;
        }
        *last = Some(state);
        self.send(alert(state));
    }

    /// Queues `alert` (nothing without `smtp_server` and `notification_email`, and nothing
    /// for FAULT with `no_email_faults`); never waits.
    pub fn send(&self, alert: Alert) {
        match self.settings.borrow().as_deref() {
            None => return,
            Some(s) if s.no_faults && alert.is_fault() => return,
            Some(_) => {}
        }
        if let Err(e) = self.tx.try_send(Job::Send(alert)) {
            let alert = match e {
                mpsc::error::TrySendError::Full(Job::Send(a)) | mpsc::error::TrySendError::Closed(Job::Send(a)) => a,
                _ => return,
            };
            let dropped = DROPPED.fetch_add(1, Ordering::Relaxed) + 1;
            // One line per 100 drops: a burst of thousands must not flood the log.
            if dropped % 100 == 1 {
                warn!(subject = %alert.subject(), dropped_so_far = dropped, "email alert dropped: the queue of alerts to send is full");
            }
        }
    }

    /// Waits, at most `bound`, until the alerts queued so far are sent or have failed (at
    /// stop, so that the last ones go out).
    pub async fn flush(&self, bound: Duration) {
        if self.settings.borrow().is_none() {
            return;
        }
        let (done, wait) = oneshot::channel();
        if self.tx.try_send(Job::Flush(done)).is_ok() && tokio::time::timeout(bound, wait).await.is_err() {
            warn!(waited = ?bound, "stopping with email alerts still unsent");
        }
    }
}

impl Settings {
    /// `HOST:PORT`, or `[V6]:PORT`, for the log.
    fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn log_settings(s: Option<&Settings>) {
    match s {
        Some(s) => {
            info!(server = %s.server(), to = %s.to.join(", "), from = %s.from, "email alerts on")
        }
        None => debug!("email alerts off (no smtp_server or no notification_email)"),
    }
}

/// The sending task: one alert at a time, in order.
async fn send_all(mut rx: mpsc::Receiver<Job>, settings: watch::Receiver<Option<Arc<Settings>>>) {
    while let Some(job) = rx.recv().await {
        let alert = match job {
            Job::Send(a) => a,
            Job::Flush(done) => {
                let _ = done.send(());
                continue;
            }
        };
        let Some(s) = settings.borrow().clone() else { continue };
        let subject = alert.subject();
        let message = s.message(&alert, SystemTime::now());
        // lettre bounds the connection and each reply by the timeout; the whole exchange
        // (a handful of replies) is bounded too, so that a server that trickles cannot hold
        // the queue.
        let whole = s.timeout.saturating_mul(8);
        match tokio::time::timeout(whole, deliver(&s, message.as_bytes())).await {
            Ok(Ok(())) => {
                SENT.fetch_add(1, Ordering::Relaxed);
                info!(server = %s.server(), %subject, "email alert sent");
            }
            Ok(Err(e)) => {
                FAILED.fetch_add(1, Ordering::Relaxed);
                warn!(server = %s.server(), %subject, error = %e, "email alert not sent");
            }
            Err(_) => {
                FAILED.fetch_add(1, Ordering::Relaxed);
                warn!(server = %s.server(), %subject, waited = ?whole, "email alert not sent: the SMTP exchange took too long");
            }
        }
    }
}

/// One SMTP exchange: the envelope is the sender and every recipient.
async fn deliver(s: &Settings, message: &[u8]) -> Result<(), String> {
    use lettre::address::{Address, Envelope};
    use lettre::transport::smtp::extension::ClientId;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    let from: Address = s.from.parse().map_err(|e| format!("notification_email_from `{}`: {e}", s.from))?;
    let to = (s.to.iter())
        .map(|a| a.parse::<Address>().map_err(|e| format!("notification_email `{a}`: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let envelope = Envelope::new(Some(from), to).map_err(|e| e.to_string())?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.as_str())
        .port(s.port)
        .timeout(Some(s.timeout))
        .hello_name(ClientId::Domain(s.helo.clone()))
        .build();
    transport.send_raw(&envelope, message).await.map(|_| ()).map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::expect_used)] // a failed set-up step should fail the test
mod tests {
    use super::*;
    use tandem_conf::SmtpServer;

    fn global() -> GlobalDefs {
        GlobalDefs {
            router_id: Some("lb1".into()),
            notification_email: vec!["ops@example.com".into(), "noc@example.com".into()],
            notification_email_from: Some("tandem@lb1.example.com".into()),
            smtp_server: Some(SmtpServer { host: "192.0.2.25".into(), port: 2525 }),
            smtp_helo_name: Some("lb1.example.com".into()),
            ..GlobalDefs::default()
        }
    }

    #[test]
    fn own_smtp_alert_wins_then_the_kind_then_the_global_one() {
        let mut g = GlobalDefs::default();
        // Nothing set: off for VRRP and virtual servers, on for real servers.
        assert!(!vrrp_alert(None, &g));
        assert!(!virtual_server_alert(None, &g));
        assert!(real_server_alert(None, &g));
        g.smtp_alert = Some(true);
        assert!(vrrp_alert(None, &g) && virtual_server_alert(None, &g) && real_server_alert(None, &g));
        assert!(
            !vrrp_alert(Some(false), &g)
                && !virtual_server_alert(Some(false), &g)
                && !real_server_alert(Some(false), &g)
        );
        g.smtp_alert_vrrp = Some(false);
        assert!(!vrrp_alert(None, &g));
        assert!(vrrp_alert(Some(true), &g));
        assert!(virtual_server_alert(None, &g), "smtp_alert_vrrp does not touch the checker's");
        g.smtp_alert = Some(false);
        g.smtp_alert_checker = Some(true);
        assert!(virtual_server_alert(None, &g) && real_server_alert(None, &g));
        assert!(!vrrp_alert(None, &g));
        g.smtp_alert_checker = None;
        assert!(!real_server_alert(None, &g), "global smtp_alert off turns the real servers' default off");
    }

    #[test]
    fn the_message_is_keepalived_s() {
        let s = Settings::of(&global()).expect("settings");
        let date = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_697_184);
        let m = s.message(&Alert::Instance { name: "VI_1".into(), state: VrrpState::Master }, date);
        assert_eq!(
            m,
            "Date: Thu, 26 Nov 2026 12:46:24 +0000\r\nFrom: tandem@lb1.example.com\r\n\
             Subject: [lb1] VRRP Instance VI_1 - Entering MASTER state\r\nX-Mailer: tandem\r\n\
             To: ops@example.com, noc@example.com\r\n\r\n=> VRRP Instance is now owning VRRP VIPs <=\r\n"
        );
        let subject_body = |a: Alert| (a.subject(), a.body());
        assert_eq!(
            subject_body(Alert::Group { name: "G".into(), state: VrrpState::Fault }),
            (
                "VRRP Group G - Entering FAULT state".into(),
                "=> All VRRP group instances are now in FAULT state <=".into()
            )
        );
        assert_eq!(
            subject_body(Alert::Instance { name: "VI_1".into(), state: VrrpState::Stop }),
            ("VRRP Instance VI_1 - Stopping".into(), "=> VRRP Instance stopping <=".into())
        );
        let vs = VirtualServer {
            ip: Some("192.0.2.10".parse().expect("ip")),
            port: Some(80),
            protocol: Some(Protocol::Tcp),
            ..VirtualServer::new()
        };
        let rs = Alert::RealServer {
            real_server: trio("10.0.0.2".parse().expect("ip"), Protocol::Tcp, 8080),
            virtual_server: virtual_server_name(&vs),
            up: false,
            body: real_server_body(CheckWord::Tcp, false, false),
        };
        assert_eq!(
            subject_body(rs),
            (
                "Realserver [10.0.0.2]:tcp:8080 of virtual server [192.0.2.10]:tcp:80 - DOWN".into(),
                "=> TCP CHECK failed on service <=".into()
            )
        );
        let q = Alert::Quorum {
            virtual_server: virtual_server_name(&VirtualServer { fwmark: Some(7), ..VirtualServer::new() }),
            up: true,
            body: quorum_body(true, false, false, 2, 1, 4),
        };
        assert_eq!(subject_body(q), ("Virtualserver FWM 7 - UP".into(), "=> Gained quorum 2+1=3 <= 4 <=".into()));
        assert_eq!(quorum_body(false, false, false, 2, 1, 0), "=> Lost quorum 2+1=1 <= 0 <=");
        assert_eq!(quorum_body(false, true, false, 2, 1, 0), "=> Starting with quorum down 2+1=3 <= 0 <=");
        assert_eq!(quorum_body(false, false, true, 2, 1, 0), "=> Shutting down <=");
        let v6 = trio("2001:db8::1".parse().expect("ip"), Protocol::Udp, 53);
        assert_eq!(v6, "[2001:db8::1]:udp:53");
    }

    #[test]
    fn no_mail_without_a_server_or_recipients_and_keepalived_s_defaults() {
        let mut g = global();
        g.smtp_server = None;
        assert_eq!(Settings::of(&g), None);
        let mut g = global();
        g.notification_email.clear();
        assert_eq!(Settings::of(&g), None);
        let g = GlobalDefs {
            notification_email: vec!["ops@example.com".into()],
            smtp_server: Some(SmtpServer { host: "mail".into(), port: 25 }),
            ..GlobalDefs::default()
        };
        let s = Settings::of(&g).expect("settings");
        let host = host_name();
        assert_eq!(s.helo, host);
        assert_eq!(s.router_id, host);
        assert!(s.from.ends_with(&format!("@{host}")), "{}", s.from);
        assert_eq!(s.timeout, Duration::from_secs(30));
    }

    #[test]
    fn a_value_cannot_add_a_header() {
        let mut g = global();
        g.router_id = Some("lb1\r\nBcc: someone@example.net".into());
        let s = Settings::of(&g).expect("settings");
        let m = s.message(&Alert::Group { name: "G\nX".into(), state: VrrpState::Backup }, SystemTime::UNIX_EPOCH);
        assert!(
            m.contains("Subject: [lb1  Bcc: someone@example.net] VRRP Group G X - Entering BACKUP state\r\n"),
            "{m}"
        );
        assert_eq!(m.matches("\r\n").count(), 7, "{m}");
    }

    #[test]
    fn dates_are_rfc5322() {
        assert_eq!(rfc5322_date(SystemTime::UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 +0000");
        // 2024-02-29 (a leap day), a Thursday.
        assert_eq!(
            rfc5322_date(SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_210_096)),
            "Thu, 29 Feb 2024 12:34:56 +0000"
        );
    }

    #[tokio::test]
    async fn faults_are_not_queued_with_no_email_faults_and_a_full_queue_drops() {
        let mut g = global();
        g.no_email_faults = true;
        let (tx, mut rx) = mpsc::channel(1);
        let (settings, _) = watch::channel(Settings::of(&g).map(Arc::new));
        let m = Mailer { tx, settings: Arc::new(settings) };
        m.send(Alert::Instance { name: "VI_1".into(), state: VrrpState::Fault });
        assert!(rx.try_recv().is_err());
        m.send(Alert::Instance { name: "VI_1".into(), state: VrrpState::Backup });
        let before = DROPPED.load(Ordering::Relaxed);
        m.send(Alert::Instance { name: "VI_1".into(), state: VrrpState::Master });
        assert_eq!(DROPPED.load(Ordering::Relaxed), before + 1);
        assert!(matches!(rx.try_recv(), Ok(Job::Send(Alert::Instance { state: VrrpState::Backup, .. }))));
    }

    #[tokio::test]
    async fn a_state_is_mailed_once_and_an_unmailed_fault_does_not_count() {
        use tandem_vrrp::instance::State;
        let mut g = global();
        g.no_email_faults = true;
        let (tx, mut rx) = mpsc::channel(16);
        let (settings, _) = watch::channel(Settings::of(&g).map(Arc::new));
        let m = Mailer { tx, settings: Arc::new(settings) };
        let mut last = None;
        let alert = |state| Alert::Instance { name: "VI_1".into(), state };
        for s in [State::Init, State::Backup, State::Fault, State::Backup, State::Master, State::Master, State::Stopped]
        {
            m.state_changed(&mut last, s, alert);
        }
        let mut mailed = Vec::new();
        while let Ok(Job::Send(Alert::Instance { state, .. })) = rx.try_recv() {
            mailed.push(state);
        }
        assert_eq!(mailed, [VrrpState::Backup, VrrpState::Master, VrrpState::Stop]);
        // Without no_email_faults the FAULT is mailed, and so is the BACKUP after it.
        g.no_email_faults = false;
        m.settings.send_replace(Settings::of(&g).map(Arc::new));
        let mut last = Some(VrrpState::Backup);
        m.state_changed(&mut last, State::Fault, alert);
        m.state_changed(&mut last, State::Backup, alert);
        assert!(matches!(rx.try_recv(), Ok(Job::Send(Alert::Instance { state: VrrpState::Fault, .. }))));
        assert!(matches!(rx.try_recv(), Ok(Job::Send(Alert::Instance { state: VrrpState::Backup, .. }))));
    }
}
