//! Checker blocks of a `real_server`: TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, DNS_CHECK,
//! SMTP_CHECK, UDP_CHECK, PING_CHECK, FILE_CHECK.
//!
//! In TOML a checker is a `[[virtual_server.real_server.check]]` table with `type` naming the
//! block; its keys are keepalived's keywords.

use super::{RunAs, is_false};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Keywords every checker accepts; absent ones inherit from the real and virtual server.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CheckCommon {
    /// `connect_ip`: probe this address instead of the real server's.
    pub connect_ip: Option<IpAddr>,
    /// `connect_port`: probe this port instead of the real server's.
    pub connect_port: Option<u16>,
    /// `bindto`: source address of the probe.
    pub bindto: Option<IpAddr>,
    /// `bind_port`: source port of the probe.
    pub bind_port: Option<u16>,
    /// `bind_if`: interface for a link-local `bindto`.
    pub bind_if: Option<String>,
    /// `connect_timeout` seconds (5).
    pub connect_timeout: Option<f64>,
    /// `retry` / `nb_get_retry`: extra attempts before a failure counts (1).
    pub retry: Option<u32>,
    /// `delay_before_retry` seconds (1).
    pub delay_before_retry: Option<f64>,
    /// `delay_loop` seconds between checks (the virtual server's).
    pub delay_loop: Option<f64>,
    /// `warmup`: spread the first check randomly over this many seconds.
    pub warmup: Option<f64>,
    /// `fwmark`: mark probe packets.
    pub fwmark: Option<u32>,
    /// `log_all_failures`.
    pub log_all_failures: bool,
    /// `alpha [BOOL]`: this checker starts failed (overrides the server's `alpha`).
    pub alpha: Option<bool>,
}

/// Declares a checker struct with the common keywords followed by its own.
macro_rules! checker {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct $name {
            /// `connect_ip`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub connect_ip: Option<IpAddr>,
            /// `connect_port`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub connect_port: Option<u16>,
            /// `bindto`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub bindto: Option<IpAddr>,
            /// `bind_port`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub bind_port: Option<u16>,
            /// `bind_if`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub bind_if: Option<String>,
            /// `connect_timeout`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub connect_timeout: Option<f64>,
            /// `retry` / `nb_get_retry`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub retry: Option<u32>,
            /// `delay_before_retry`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub delay_before_retry: Option<f64>,
            /// `delay_loop`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub delay_loop: Option<f64>,
            /// `warmup`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub warmup: Option<f64>,
            /// `fwmark`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub fwmark: Option<u32>,
            /// `log_all_failures`.
            #[serde(skip_serializing_if = "is_false")]
            pub log_all_failures: bool,
            /// `alpha`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub alpha: Option<bool>,
            $($(#[$fm])* pub $f: $t,)*
        }

        impl $name {
            /// The common keywords.
            pub fn common(&self) -> CheckCommon {
                CheckCommon {
                    connect_ip: self.connect_ip,
                    connect_port: self.connect_port,
                    bindto: self.bindto,
                    bind_port: self.bind_port,
                    bind_if: self.bind_if.clone(),
                    connect_timeout: self.connect_timeout,
                    retry: self.retry,
                    delay_before_retry: self.delay_before_retry,
                    delay_loop: self.delay_loop,
                    warmup: self.warmup,
                    fwmark: self.fwmark,
                    log_all_failures: self.log_all_failures,
                    alpha: self.alpha,
                }
            }

            /// Replaces the common keywords.
            pub fn set_common(&mut self, c: CheckCommon) {
                self.connect_ip = c.connect_ip;
                self.connect_port = c.connect_port;
                self.bindto = c.bindto;
                self.bind_port = c.bind_port;
                self.bind_if = c.bind_if;
                self.connect_timeout = c.connect_timeout;
                self.retry = c.retry;
                self.delay_before_retry = c.delay_before_retry;
                self.delay_loop = c.delay_loop;
                self.warmup = c.warmup;
                self.fwmark = c.fwmark;
                self.log_all_failures = c.log_all_failures;
                self.alpha = c.alpha;
            }
        }
    };
}

checker!(
    /// `TCP_CHECK`: a TCP connect succeeds.
    TcpCheck {}
);

checker!(
    /// `HTTP_GET` / `SSL_GET`: a GET of each `url` answers as configured.
    HttpCheck {
        /// `url { ... }` blocks; all must pass.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        url: Vec<UrlCheck>,
        /// `virtualhost`: Host header (and SNI for SSL_GET).
        #[serde(skip_serializing_if = "Option::is_none")]
        virtualhost: Option<String>,
        /// `http_protocol` 1.0, 1.1, 1.0C or 1.0K.
        #[serde(skip_serializing_if = "Option::is_none")]
        http_protocol: Option<String>,
        /// `enable_sni` (SSL_GET).
        #[serde(skip_serializing_if = "is_false")]
        enable_sni: bool,
        /// `fast_recovery`: one success brings the server back.
        #[serde(skip_serializing_if = "is_false")]
        fast_recovery: bool,
    }
);

checker!(
    /// `MISC_CHECK`: a script's exit status decides.
    MiscCheck {
        /// `misc_path`: the command line.
        misc_path: String,
        /// `misc_timeout` seconds (default: the delay_loop).
        #[serde(skip_serializing_if = "Option::is_none")]
        misc_timeout: Option<f64>,
        /// `misc_dynamic`: exit status 2..=255 sets the weight to status - 2.
        #[serde(skip_serializing_if = "is_false")]
        misc_dynamic: bool,
        /// `user USER [GROUP]`.
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<RunAs>,
    }
);

checker!(
    /// `DNS_CHECK`: a query gets an answer.
    DnsCheck {
        /// `type`: query type (SOA when absent).
        #[serde(skip_serializing_if = "Option::is_none")]
        query_type: Option<String>,
        /// `name`: query name ("." when absent).
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    }
);

checker!(
    /// `SMTP_CHECK`: the server greets with 2xx and accepts HELO.
    SmtpCheck {
        /// `helo_name` (default: this host's name).
        #[serde(skip_serializing_if = "Option::is_none")]
        helo_name: Option<String>,
    }
);

checker!(
    /// `UDP_CHECK`: a datagram is sent; optionally a reply is required.
    UdpCheck {
        /// `payload`: hex bytes to send.
        #[serde(skip_serializing_if = "Option::is_none")]
        payload: Option<String>,
        /// `require_reply`: a reply must come back.
        #[serde(skip_serializing_if = "is_false")]
        require_reply: bool,
        /// `require_reply HEX`: the reply must start with these bytes.
        #[serde(skip_serializing_if = "Option::is_none")]
        reply: Option<String>,
        /// `min_reply_length`.
        #[serde(skip_serializing_if = "Option::is_none")]
        min_reply_length: Option<u32>,
        /// `max_reply_length`.
        #[serde(skip_serializing_if = "Option::is_none")]
        max_reply_length: Option<u32>,
    }
);

checker!(
    /// `PING_CHECK`: an ICMP (or ICMPv6) echo is answered.
    PingCheck {}
);

checker!(
    /// `FILE_CHECK`: a tracked file's value sets the weight (0 or below = down).
    FileCheck {
        /// `track_file`: the `track_file` block.
        track_file: String,
        /// `weight N [reverse]`: multiplier (the track_file's when absent).
        #[serde(skip_serializing_if = "Option::is_none")]
        weight: Option<i32>,
        /// `reverse`.
        #[serde(skip_serializing_if = "is_false")]
        reverse: bool,
    }
);

/// `url { path P; digest HEX; status_code N|N-M ...; virtualhost H; regex R ... }` of HTTP_GET / SSL_GET.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UrlCheck {
    /// `path` ("/").
    pub path: String,
    /// `digest`: MD5 of the body, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// `status_code`: accepted codes; empty means 200-299.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub status_code: Vec<StatusRange>,
    /// `virtualhost` for this url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtualhost: Option<String>,
    /// `regex`: a PCRE2 pattern searched for in the response (status line and header
    /// included, as keepalived does); no match fails the check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// `regex_no_match`: a match fails the check instead.
    #[serde(skip_serializing_if = "is_false")]
    pub regex_no_match: bool,
    /// `regex_options`: PCRE2 compile options by keepalived's names (see [`super::regex`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regex_options: Vec<String>,
    /// `regex_min_offset`: the match starts at this offset of the response or later.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex_min_offset: Option<u64>,
    /// `regex_max_offset`: the match starts at this offset of the response or earlier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex_max_offset: Option<u64>,
    /// `regex_stack START MAX`: the JIT stack's sizes in bytes (tandem uses MAX).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex_stack: Option<[u64; 2]>,
}

/// An HTTP status code or range, written `200` or `"200-299"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    /// First accepted code.
    pub low: u16,
    /// Last accepted code.
    pub high: u16,
}

impl StatusRange {
    /// Parses `N` or `N-M` with 100 <= N <= M <= 599.
    pub fn parse(s: &str) -> Result<StatusRange, String> {
        let code = |t: &str| -> Result<u16, String> {
            match t.trim().parse::<u16>() {
                Ok(c) if (100..=599).contains(&c) => Ok(c),
                _ => Err(format!("`{t}` is not an HTTP status code (100-599)")),
            }
        };
        let (low, high) = match s.split_once('-') {
            Some((a, b)) => (code(a)?, code(b)?),
            None => {
                let c = code(s)?;
                (c, c)
            }
        };
        if low > high {
            return Err(format!("status range `{s}` is empty"));
        }
        Ok(StatusRange { low, high })
    }
}

impl std::fmt::Display for StatusRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.low == self.high { write!(f, "{}", self.low) } else { write!(f, "{}-{}", self.low, self.high) }
    }
}

impl Serialize for StatusRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.low == self.high { s.serialize_u16(self.low) } else { s.serialize_str(&self.to_string()) }
    }
}

impl<'de> Deserialize<'de> for StatusRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = StatusRange;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a status code like 200 or a range like \"200-299\"")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<StatusRange, E> {
                StatusRange::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<StatusRange, E> {
                StatusRange::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StatusRange, E> {
                StatusRange::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// One checker block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Check {
    /// `TCP_CHECK`.
    #[serde(rename = "TCP_CHECK")]
    Tcp(TcpCheck),
    /// `HTTP_GET`.
    #[serde(rename = "HTTP_GET")]
    Http(HttpCheck),
    /// `SSL_GET`: HTTP_GET over TLS.
    #[serde(rename = "SSL_GET")]
    Ssl(HttpCheck),
    /// `MISC_CHECK`.
    #[serde(rename = "MISC_CHECK")]
    Misc(MiscCheck),
    /// `DNS_CHECK`.
    #[serde(rename = "DNS_CHECK")]
    Dns(DnsCheck),
    /// `SMTP_CHECK`.
    #[serde(rename = "SMTP_CHECK")]
    Smtp(SmtpCheck),
    /// `UDP_CHECK`.
    #[serde(rename = "UDP_CHECK")]
    Udp(UdpCheck),
    /// `PING_CHECK`.
    #[serde(rename = "PING_CHECK")]
    Ping(PingCheck),
    /// `FILE_CHECK`.
    #[serde(rename = "FILE_CHECK")]
    File(FileCheck),
}

impl Check {
    /// Every checker's keepalived block name, as [`Check::keyword`] gives them.
    pub const KEYWORDS: &'static [&'static str] = &[
        "TCP_CHECK",
        "HTTP_GET",
        "SSL_GET",
        "MISC_CHECK",
        "DNS_CHECK",
        "SMTP_CHECK",
        "UDP_CHECK",
        "PING_CHECK",
        "FILE_CHECK",
    ];

    /// The keepalived block name.
    pub fn keyword(&self) -> &'static str {
        match self {
            Check::Tcp(_) => "TCP_CHECK",
            Check::Http(_) => "HTTP_GET",
            Check::Ssl(_) => "SSL_GET",
            Check::Misc(_) => "MISC_CHECK",
            Check::Dns(_) => "DNS_CHECK",
            Check::Smtp(_) => "SMTP_CHECK",
            Check::Udp(_) => "UDP_CHECK",
            Check::Ping(_) => "PING_CHECK",
            Check::File(_) => "FILE_CHECK",
        }
    }

    /// The common keywords of whichever checker this is.
    pub fn common(&self) -> CheckCommon {
        match self {
            Check::Tcp(c) => c.common(),
            Check::Http(c) | Check::Ssl(c) => c.common(),
            Check::Misc(c) => c.common(),
            Check::Dns(c) => c.common(),
            Check::Smtp(c) => c.common(),
            Check::Udp(c) => c.common(),
            Check::Ping(c) => c.common(),
            Check::File(c) => c.common(),
        }
    }

    /// Replaces the common keywords.
    pub fn set_common(&mut self, common: CheckCommon) {
        match self {
            Check::Tcp(c) => c.set_common(common),
            Check::Http(c) | Check::Ssl(c) => c.set_common(common),
            Check::Misc(c) => c.set_common(common),
            Check::Dns(c) => c.set_common(common),
            Check::Smtp(c) => c.set_common(common),
            Check::Udp(c) => c.set_common(common),
            Check::Ping(c) => c.set_common(common),
            Check::File(c) => c.set_common(common),
        }
    }
}
