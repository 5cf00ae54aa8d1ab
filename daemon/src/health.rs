//! A configuration's health checks in tandem-checker's terms: the core's settings and, per
//! check, what runs it.
//!
//! Defaults and precedence follow keepalived (keepalived/check/check_parser.c,
//! check_data.c): a checker's own `connect_timeout`, `retry`, `delay_before_retry`,
//! `delay_loop` and `warmup` win over the real server's, which win over the virtual server's;
//! then the checker type's default (tandem_checker::health::Timing::keepalived). The probe goes
//! to `connect_ip` / `connect_port`, else the real server's address and port. An HTTP url's
//! `virtualhost` wins over the checker's, the real server's and the virtual server's.

use crate::script::{Credentials, Script};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tandem_checker::health::{
    CheckId, CheckKind, CheckSettings, RealServerSettings, Settings, SorryServerSettings, Timing, VirtualServerSettings,
};
use tandem_checker::probe::{self, Probe, Target, dns, file, http, smtp, tls, udp};
use tandem_conf as conf;

/// keepalived's default `connect_timeout`.
const CONNECT_TIMEOUT: f64 = 5.0;

/// How one check runs.
#[derive(Debug, Clone)]
pub enum Runner {
    /// A network or file probe.
    Probe(Probe),
    /// MISC_CHECK: a script, its timeout, and whether its exit status sets the weight.
    Misc {
        /// The script.
        script: Script,
        /// `misc_timeout` (default: the delay_loop).
        timeout: Duration,
        /// `misc_dynamic`.
        dynamic: bool,
    },
}

impl Runner {
    /// Runs one attempt, begun at `start` (see [`Probe::run_from`]).
    pub async fn run(&self, start: std::time::Instant) -> probe::ProbeResult {
        match self {
            Runner::Probe(p) => p.run_from(start).await,
            // Boxed: a script's future is large, and a probe task's size is its largest variant.
            Runner::Misc { script, timeout, dynamic } => match Box::pin(script.run(*timeout)).await {
                crate::script::Outcome::Exited(status) => probe::misc::result(status, *dynamic),
                other => Err(probe::Failure::new(format!("script {other}"))),
            },
        }
    }
}

/// The checks of a configuration: the core's settings, and runners indexed like them
/// (`runners[vs][rs][check]`).
#[derive(Debug, Clone)]
pub struct Checks {
    /// For tandem_checker::health::Health.
    pub settings: Settings,
    /// What runs each check (shared with the probe tasks it starts, so starting one clones a
    /// pointer, not the probe's settings).
    pub runners: Vec<Vec<Vec<Arc<Runner>>>>,
    /// The checks with `log_all_failures`: each of their failed attempts is logged, not only
    /// the one that takes the real server down (keepalived check_api.c, log_all_failures).
    pub log_all_failures: std::collections::HashSet<CheckId>,
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)
}

fn kind(c: &conf::Check) -> CheckKind {
    match c {
        conf::Check::Tcp(_) => CheckKind::Tcp,
        conf::Check::Http(_) => CheckKind::Http,
        conf::Check::Ssl(_) => CheckKind::Ssl,
        conf::Check::Misc(_) => CheckKind::Misc,
        conf::Check::Dns(_) => CheckKind::Dns,
        conf::Check::Smtp(_) => CheckKind::Smtp,
        conf::Check::Udp(_) => CheckKind::Udp,
        conf::Check::Ping(_) => CheckKind::Ping,
        conf::Check::File(_) => CheckKind::File,
    }
}

/// Hex text (`payload`, `reply`) as bytes.
fn hex(text: &str, what: &str) -> Result<Vec<u8>, String> {
    let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if t.len() % 2 != 0 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{what} `{text}` is not hex bytes"));
    }
    (0..t.len()).step_by(2).map(|i| u8::from_str_radix(&t[i..i + 2], 16).map_err(|e| e.to_string())).collect()
}

/// Empties the real servers' check lists once [`checks`] has made runners of them. The
/// running daemon keeps its configuration for the IPVS table and for reloads, where the
/// checks' definitions would only duplicate the runners (2.4 MB at 10,000 real servers).
pub fn forget_checks(c: &mut conf::Config) {
    for rs in c.virtual_servers.iter_mut().flat_map(|v| v.real_servers.iter_mut()) {
        rs.checks = Vec::new();
    }
}

/// The checks of `c`. An error names the virtual and real server whose check cannot run.
pub fn checks(c: &conf::Config) -> Result<Checks, String> {
    let mut settings = Settings::default();
    let mut runners = Vec::new();
    let mut log_all_failures = std::collections::HashSet::new();
    for vs in &c.virtual_servers {
        let vs_port = vs.port.unwrap_or(0);
        let mut rs_settings = Vec::with_capacity(vs.real_servers.len());
        let mut vs_runners = Vec::with_capacity(vs.real_servers.len());
        for (rs_index, rs) in vs.real_servers.iter().enumerate() {
            // Only for an error: not formatted for each of thousands of servers that are fine.
            let at = || format!("real_server {} {} of virtual_server {}", rs.ip, rs.port.unwrap_or(vs_port), name(vs));
            let mut check_settings = Vec::with_capacity(rs.checks.len());
            let mut rs_runners = Vec::with_capacity(rs.checks.len());
            for (check_index, check) in rs.checks.iter().enumerate() {
                let common = check.common();
                if common.log_all_failures {
                    log_all_failures.insert(CheckId {
                        vs: settings.virtual_servers.len(),
                        rs: rs_index,
                        check: check_index,
                    });
                }
                let delay_loop = secs(common.delay_loop.or(rs.delay_loop).unwrap_or(vs.delay_loop));
                let mut timing = Timing::keepalived(kind(check), delay_loop);
                if let Some(r) = common.retry.or(rs.retry).or(vs.retry) {
                    timing.retry = r;
                }
                if let Some(d) = common.delay_before_retry.or(rs.delay_before_retry).or(vs.delay_before_retry) {
                    timing.delay_before_retry = secs(d);
                }
                if let Some(w) = common.warmup.or(rs.warmup).or(vs.warmup) {
                    timing.warmup = secs(w);
                }
                let alpha = common.alpha.or(rs.alpha).unwrap_or(vs.alpha);
                check_settings.push(CheckSettings { timing, alpha });
                let runner = runner(c, vs, rs, check, &common, delay_loop).map_err(|e| format!("{}: {e}", at()))?;
                rs_runners.push(Arc::new(runner));
            }
            rs_settings.push(RealServerSettings {
                addr: SocketAddr::new(rs.ip, rs.port.unwrap_or(0)),
                weight: rs.weight,
                inhibit_on_failure: rs.inhibit_on_failure || vs.inhibit_on_failure,
                checks: check_settings,
            });
            vs_runners.push(rs_runners);
        }
        let mut v = VirtualServerSettings::new(rs_settings);
        v.quorum = vs.quorum;
        v.hysteresis = vs.hysteresis;
        // Suspension follows the virtual server's address; a fwmark or group service has
        // none, so its checks always run (run warns).
        v.ha_suspend = suspend_address(vs).is_some();
        v.omega = vs.omega;
        v.sorry_server = vs.sorry_server.as_ref().map(|s| SorryServerSettings {
            addr: SocketAddr::new(s.ip, s.port.unwrap_or(0)),
            weight: 1,
            inhibit: vs.sorry_server_inhibit,
        });
        settings.virtual_servers.push(v);
        runners.push(vs_runners);
    }
    Ok(Checks { settings, runners, log_all_failures })
}

/// The address whose presence on this host lets the checks of `vs` run, when it has
/// `ha_suspend` and an address (not a fwmark or group service).
pub fn suspend_address(vs: &conf::VirtualServer) -> Option<std::net::IpAddr> {
    if vs.ha_suspend { vs.ip } else { None }
}

/// A virtual server as its block names it: `IP PORT`, `fwmark N` or `group NAME`.
pub fn name(vs: &conf::VirtualServer) -> String {
    match vs.key() {
        Some(conf::ServiceKey::Addr(a, p)) => format!("{a} {p}"),
        Some(conf::ServiceKey::Fwmark(m)) => format!("fwmark {m}"),
        Some(conf::ServiceKey::Group(g)) => format!("group {g}"),
        None => "?".into(),
    }
}

fn runner(
    c: &conf::Config,
    vs: &conf::VirtualServer,
    rs: &conf::RealServer,
    check: &conf::Check,
    common: &conf::CheckCommon,
    delay_loop: Duration,
) -> Result<Runner, String> {
    let port = common.connect_port.or(rs.port).or(vs.port).unwrap_or(0);
    let target = Target {
        addr: SocketAddr::new(common.connect_ip.unwrap_or(rs.ip), port),
        bind_addr: common.bindto,
        bind_port: common.bind_port,
        bind_if: common.bind_if.clone(),
        fwmark: common.fwmark,
        timeout: secs(common.connect_timeout.or(rs.connect_timeout).or(vs.connect_timeout).unwrap_or(CONNECT_TIMEOUT)),
    };
    let virtualhost = |h: &conf::HttpCheck| h.virtualhost.clone().or(rs.virtualhost.clone()).or(vs.virtualhost.clone());
    Ok(Runner::Probe(match check {
        conf::Check::Tcp(_) => Probe::Tcp(target),
        conf::Check::Ping(_) => Probe::Ping(target),
        conf::Check::Http(h) | conf::Check::Ssl(h) => {
            let mut urls = Vec::new();
            for u in &h.url {
                let digest = u.digest.as_deref().map(http::parse_digest).transpose()?;
                urls.push(http::UrlCheck {
                    path: u.path.clone(),
                    status_codes: u.status_code.iter().map(|r| r.low..=r.high).collect(),
                    digest,
                    virtualhost: u.virtualhost.clone(),
                    regex: u.regex.as_ref().map(|p| url_regex(p, u)).transpose()?,
                });
            }
            let version = match h.http_protocol.as_deref() {
                Some("1.1") => http::HttpVersion::Http11,
                Some("1.0C") | Some("1.0c") => http::HttpVersion::Http10Close,
                _ => http::HttpVersion::Http10,
            };
            let tls = matches!(check, conf::Check::Ssl(_))
                .then(|| tls::TlsSettings { sni: if h.enable_sni { virtualhost(h) } else { None } });
            Probe::Http(target, http::HttpSettings { urls, virtualhost: virtualhost(h), version, tls })
        }
        conf::Check::Dns(d) => {
            let s =
                dns::DnsSettings::query(d.name.as_deref().unwrap_or("."), d.query_type.as_deref().unwrap_or("SOA"))?;
            Probe::Dns(target, s)
        }
        conf::Check::Smtp(s) => {
            let mut settings = smtp::SmtpSettings::default();
            if let Some(h) = &s.helo_name {
                settings.helo_name = h.clone();
            }
            Probe::Smtp(target, settings)
        }
        conf::Check::Udp(u) => {
            let mut s = udp::UdpSettings::default();
            if let Some(p) = &u.payload {
                s.payload = hex(p, "payload")?;
            }
            s.require_reply = u.require_reply;
            if let Some(r) = &u.reply {
                s.reply = Some(udp::ReplyPattern::exact(hex(r, "reply")?));
            }
            if let Some(m) = u.min_reply_length {
                s.min_reply_length = m as usize;
            }
            if let Some(m) = u.max_reply_length {
                s.max_reply_length = m as usize;
            }
            Probe::Udp(target, s)
        }
        conf::Check::File(f) => {
            let t = c
                .track_files
                .iter()
                .find(|t| t.name == f.track_file)
                .ok_or_else(|| format!("FILE_CHECK: no track_file `{}`", f.track_file))?;
            Probe::File(file::FileSettings {
                path: PathBuf::from(&t.file),
                weight: f.weight.unwrap_or(t.weight),
                reverse: f.reverse || t.weight_reverse,
            })
        }
        conf::Check::Misc(m) => {
            let mut script = Script::parse(&m.misc_path).map_err(|e| format!("MISC_CHECK: {e}"))?;
            if let Some(u) = m.user.as_ref().or(c.global_defs.script_user.as_ref()) {
                script.credentials =
                    Some(Credentials::lookup(&u.user, u.group.as_deref()).map_err(|e| format!("MISC_CHECK: {e}"))?);
            }
            let timeout = m.misc_timeout.map(secs).unwrap_or(delay_loop);
            return Ok(Runner::Misc { script, timeout, dynamic: m.misc_dynamic });
        }
    }))
}

/// A url's `regex` with its companions. Offsets past the address space cannot be reached
/// and clamp; a minimum past the maximum drops both, as keepalived does (check_http.c) and
/// as the validator warns.
fn url_regex(pattern: &str, u: &conf::UrlCheck) -> Result<http::UrlRegex, String> {
    let compiled = conf::regex::compile(pattern, &u.regex_options, u.regex_stack.map(|[_, max]| max))
        .map_err(|e| format!("regex `{pattern}`: {e}"))?;
    let clamp = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    let (mut min, mut max) = (u.regex_min_offset.map(clamp), u.regex_max_offset.map(clamp));
    if let (Some(lo), Some(hi)) = (min, max) {
        if lo > hi {
            (min, max) = (None, None);
        }
    }
    Ok(http::UrlRegex {
        firstline: compiled.firstline,
        no_match: u.regex_no_match,
        min_offset: min.unwrap_or(0),
        max_offset: max,
        ..http::UrlRegex::new(pattern, compiled.regex)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed set-up step should fail the test
mod tests {
    use super::*;
    use crate::desired::tests::load;

    #[test]
    fn a_checkers_own_settings_win_over_the_real_servers_and_the_virtual_servers() {
        let c = load(
            "virtual_server 192.0.2.10 80 {\n protocol TCP\n delay_loop 10\n retry 4\n quorum 2\n hysteresis 1\n sorry_server 10.0.0.9 8080\n \
             real_server 10.0.0.11 8080 {\n  connect_timeout 2\n  inhibit_on_failure\n  TCP_CHECK {\n   retry 3\n  }\n  HTTP_GET {\n   connect_ip 10.0.1.11\n   delay_loop 4\n   url {\n    path /health\n    digest 9b3ea9e8e46e2b3c6d1e7ec0d5f0a1b2\n   }\n  }\n }\n}\n",
        );
        let checks = checks(&c).unwrap();
        let vs = &checks.settings.virtual_servers[0];
        assert_eq!((vs.quorum, vs.hysteresis), (2, 1));
        assert_eq!(vs.sorry_server.as_ref().unwrap().addr, "10.0.0.9:8080".parse().unwrap());
        let rs = &vs.real_servers[0];
        assert!(rs.inhibit_on_failure);
        // TCP_CHECK: its own retry, the virtual server's delay_loop (also the warmup).
        let tcp = &rs.checks[0].timing;
        assert_eq!((tcp.retry, tcp.delay_loop, tcp.warmup), (3, Duration::from_secs(10), Duration::from_secs(10)));
        // HTTP_GET: its own delay_loop, the virtual server's retry, HTTP's delay_before_retry.
        let http = &rs.checks[1].timing;
        assert_eq!(
            (http.retry, http.delay_loop, http.delay_before_retry),
            (4, Duration::from_secs(4), Duration::from_secs(3))
        );
        let Runner::Probe(Probe::Tcp(t)) = &*checks.runners[0][0][0] else { panic!("not TCP") };
        assert_eq!((t.addr, t.timeout), ("10.0.0.11:8080".parse().unwrap(), Duration::from_secs(2)));
        let Runner::Probe(Probe::Http(t, h)) = &*checks.runners[0][0][1] else { panic!("not HTTP") };
        assert_eq!(t.addr, "10.0.1.11:8080".parse().unwrap());
        assert_eq!(h.urls[0].path, "/health");
        assert!(h.urls[0].digest.is_some() && h.tls.is_none());
    }

    #[test]
    fn a_url_regex_comes_with_its_options_and_offsets_and_crossed_offsets_drop_as_in_keepalived() {
        let url = |extra: &str| {
            let c = load(&format!(
                "virtual_server 192.0.2.10 80 {{\n protocol TCP\n real_server 10.0.0.11 80 {{\n  HTTP_GET {{\n   url {{\n    path /\n    regex \"^up\\\\s\"\n    regex_options multiline firstline\n    {extra}\n   }}\n  }}\n }}\n}}\n"
            ));
            let checks = checks(&c).unwrap();
            let Runner::Probe(Probe::Http(_, h)) = &*checks.runners[0][0][0] else { panic!("not HTTP") };
            h.urls[0].regex.clone().unwrap()
        };
        let r = url("regex_no_match\n    regex_min_offset 3\n    regex_max_offset 40");
        assert_eq!(r.pattern, "^up\\s");
        assert!(r.no_match && r.firstline);
        assert_eq!((r.min_offset, r.max_offset), (3, Some(40)));
        // multiline: ^ matches after a newline; firstline: not past the first one.
        assert!(r.regex.is_match(b"x\nup ").unwrap());
        assert!(!r.found_in(b"HTTP/1.0 200 OK\r\n\r\nup 3 days").unwrap());
        let r = url("regex_min_offset 50\n    regex_max_offset 40");
        assert_eq!((r.min_offset, r.max_offset, r.no_match), (0, None, false));
    }

    #[test]
    fn a_check_that_cannot_run_names_its_real_server() {
        let c = load(
            "virtual_server 192.0.2.10 80 {\n protocol UDP\n real_server 10.0.0.11 53 {\n  MISC_CHECK {\n   misc_path /bin/true\n   user no-such-user-here\n  }\n }\n}\n",
        );
        let e = checks(&c).unwrap_err();
        assert!(
            e.contains("real_server 10.0.0.11 53 of virtual_server 192.0.2.10 80") && e.contains("no-such-user-here"),
            "{e}"
        );
    }

    #[test]
    fn a_tcp_check_in_flight_costs_a_few_hundred_bytes_not_the_largest_probes_size() {
        // Every probe in flight holds a runner's future (the daemon's TCP_CHECKs go through
        // TcpConnects instead; a TCP runner stands for the small probes here): unboxed, each
        // would be as large as an SSL_GET's, kilobytes.
        let t = Target::new(SocketAddr::from(([127, 0, 0, 1], 1)), Duration::from_secs(1));
        let tcp = Runner::Probe(Probe::Tcp(t));
        let size = std::mem::size_of_val(&tcp.run(std::time::Instant::now()));
        assert!(size <= 512, "a TCP probe's future is {size} bytes");
    }
}
