//! HTTP_GET and SSL_GET: a GET of each url must answer with an accepted status code and, when
//! asked, a body of the given MD5 digest (keepalived/check/check_http.c, lib/html.c).
//!
//! A url's `regex` is searched for in the response as received, status line and header
//! included, offsets counted from its first byte, as keepalived does (check_http.c,
//! `check_regex`, which matches buffer by buffer with PCRE2's partial matching); tandem keeps
//! the first [`MAX_REGEX_SUBJECT`] bytes of the response for it and searches them once.
//!
//! The request is keepalived's: `GET PATH HTTP/1.0` (or 1.1), `User-Agent: KeepAliveClient`,
//! `Connection: close` for 1.0C and 1.1, and `Host:` the virtual host, else the connect
//! address and port (`[v6]:port`). The response is read to the end of the stream. Its status
//! code is taken from the status line; the digest is the MD5 of the bytes after the header,
//! no more than `Content-Length` when the header gives one (no de-chunking: keepalived and its
//! `genhash` hash the bytes as sent).
//!
//! keepalived checks one url per `delay_loop` tick and, after a failure, keeps re-checking
//! only the failed url; tandem checks every url in one attempt, in order, stopping at the
//! first failure, so an attempt passes only when all urls pass.

use super::socket::{by_deadline, deadline_from, tcp_connect};
use super::tls::{self, TlsSettings};
use super::{Failure, ProbeResult, Success, Target, describe_io_error};
use md5::{Digest, Md5};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// Longest response header read before giving up.
const MAX_HEADER: usize = 64 * 1024;

/// How much of a response a url's `regex` searches.
pub const MAX_REGEX_SUBJECT: usize = 1024 * 1024;

/// `http_protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVersion {
    /// `1.0` (keepalived's default): HTTP/1.0, no Connection header.
    #[default]
    Http10,
    /// `1.0C`: HTTP/1.0 with `Connection: close`.
    Http10Close,
    /// `1.1`: HTTP/1.1 with `Connection: close`.
    Http11,
}

/// One `url { ... }` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlCheck {
    /// `path`, sent as is.
    pub path: String,
    /// `status_code` ranges; empty means 200-299 (keepalived's HTTP_DEFAULT_STATUS_CODE_*).
    pub status_codes: Vec<RangeInclusive<u16>>,
    /// `digest`: expected MD5 of the body.
    pub digest: Option<[u8; 16]>,
    /// `virtualhost` of this url (overrides [`HttpSettings::virtualhost`]).
    pub virtualhost: Option<String>,
    /// `regex` and its companions.
    pub regex: Option<UrlRegex>,
}

/// A url's `regex`: where a match may start and whether one passes or fails the check.
#[derive(Debug, Clone)]
pub struct UrlRegex {
    /// The pattern as configured (for messages).
    pub pattern: String,
    /// The compiled pattern.
    pub regex: pcre2::bytes::Regex,
    /// `regex_options firstline`: the match starts on the first line after `min_offset`.
    pub firstline: bool,
    /// `regex_no_match`: a match fails the check.
    pub no_match: bool,
    /// `regex_min_offset`: a match starts here or later.
    pub min_offset: usize,
    /// `regex_max_offset`: a match starts here or earlier.
    pub max_offset: Option<usize>,
}

impl PartialEq for UrlRegex {
    fn eq(&self, o: &Self) -> bool {
        // The compiled form follows from the pattern as compiled (options included).
        (self.regex.as_str(), &self.pattern, self.firstline, self.no_match, self.min_offset, self.max_offset)
            == (o.regex.as_str(), &o.pattern, o.firstline, o.no_match, o.min_offset, o.max_offset)
    }
}

impl Eq for UrlRegex {}

impl UrlRegex {
    /// `regex` (compiled from `pattern`) passing on a match anywhere in the response.
    pub fn new(pattern: impl Into<String>, regex: pcre2::bytes::Regex) -> UrlRegex {
        UrlRegex { pattern: pattern.into(), regex, firstline: false, no_match: false, min_offset: 0, max_offset: None }
    }

    /// Whether `response` has a match starting within the offsets (keepalived: the leftmost
    /// match at or after `min_offset` counts only if it starts by `max_offset`).
    pub fn found_in(&self, response: &[u8]) -> Result<bool, Failure> {
        if self.min_offset > response.len() {
            return Ok(false);
        }
        let found = (self.regex.find_at(response, self.min_offset))
            .map_err(|e| Failure::new(format!("regex `{}`: {e}", self.pattern)))?;
        let Some(m) = found else { return Ok(false) };
        let mut last_start = self.max_offset;
        if self.firstline {
            let newline = response.get(self.min_offset..).and_then(|r| r.iter().position(|&b| b == b'\n'));
            if let Some(n) = newline.map(|n| self.min_offset + n) {
                last_start = Some(last_start.map_or(n, |l| l.min(n)));
            }
        }
        Ok(last_start.is_none_or(|l| m.start() <= l))
    }

    /// The check's verdict on `response`.
    fn judge(&self, response: &[u8]) -> Result<(), Failure> {
        match (self.found_in(response)?, self.no_match) {
            (true, false) | (false, true) => Ok(()),
            (false, false) => Err(Failure::new(format!("regex `{}` not found in the response", self.pattern))),
            (true, true) => {
                Err(Failure::new(format!("regex `{}` found in the response (regex_no_match)", self.pattern)))
            }
        }
    }
}

impl UrlCheck {
    /// A url expecting any 2xx status and no particular body.
    pub fn new(path: impl Into<String>) -> UrlCheck {
        UrlCheck { path: path.into(), status_codes: Vec::new(), digest: None, virtualhost: None, regex: None }
    }

    /// Whether `code` is accepted.
    pub fn accepts(&self, code: u16) -> bool {
        if self.status_codes.is_empty() {
            (200..=299).contains(&code)
        } else {
            self.status_codes.iter().any(|r| r.contains(&code))
        }
    }
}

/// Parses a 32-digit hex MD5 digest (as `genhash` prints it).
pub fn parse_digest(hex: &str) -> Result<[u8; 16], String> {
    let hex = hex.trim();
    if hex.len() != 32 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("`{hex}` is not an MD5 digest (32 hex digits)"));
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// HTTP_GET / SSL_GET settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpSettings {
    /// The urls; all must pass.
    pub urls: Vec<UrlCheck>,
    /// Default Host header (keepalived: the checker's, else the real server's, else the
    /// virtual server's `virtualhost`).
    pub virtualhost: Option<String>,
    /// `http_protocol`.
    pub version: HttpVersion,
    /// TLS (SSL_GET) when set.
    pub tls: Option<TlsSettings>,
}

/// Runs one attempt: every url in order.
///
/// `start` is when the attempt began; it ends by `start + connect_timeout`.
pub async fn probe(target: &Target, settings: &HttpSettings, start: Instant) -> ProbeResult {
    if settings.urls.is_empty() {
        return Err(Failure::new("no url to check"));
    }
    for (i, url) in settings.urls.iter().enumerate() {
        // Each url has its own connection and its own connect_timeout.
        let deadline = if i == 0 { deadline_from(start, target) } else { deadline_from(Instant::now(), target) };
        fetch(target, settings, url, deadline).await.map_err(|f| Failure::new(format!("GET {}: {f}", url.path)))?;
    }
    Ok(Success::default())
}

/// One url over its own connection, bounded by the target's timeout.
async fn fetch(target: &Target, settings: &HttpSettings, url: &UrlCheck, deadline: Instant) -> Result<(), Failure> {
    let stream = tcp_connect(target, deadline).await?;
    let request = request(target.addr, settings, url);
    let keep = url.regex.is_some();
    let response = match &settings.tls {
        None => exchange(stream, &request, keep, deadline, target).await?,
        Some(t) => exchange(tls::connect(stream, target, t, deadline).await?, &request, keep, deadline, target).await?,
    };
    response.judge(url)
}

/// keepalived's request (check_http.c, `request_template`).
pub(crate) fn request(addr: SocketAddr, settings: &HttpSettings, url: &UrlCheck) -> String {
    let host = match url.virtualhost.as_ref().or(settings.virtualhost.as_ref()) {
        Some(vhost) => vhost.clone(),
        None => match addr {
            SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        },
    };
    let (minor, close) = match settings.version {
        HttpVersion::Http10 => (0, ""),
        HttpVersion::Http10Close => (0, "Connection: close\r\n"),
        HttpVersion::Http11 => (1, "Connection: close\r\n"),
    };
    format!("GET {} HTTP/1.{minor}\r\nUser-Agent: KeepAliveClient\r\n{close}Host: {host}\r\n\r\n", url.path)
}

/// Sends the request and reads the response to its end; with `keep`, the response's first
/// bytes are kept for a regex.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &str,
    keep: bool,
    deadline: Instant,
    target: &Target,
) -> Result<Response, Failure> {
    by_deadline(deadline, target, "HTTP", async {
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| Failure::new(format!("cannot send request: {}", describe_io_error(&e))))?;
        let _ = stream.flush().await;
        let mut parser = ResponseParser::new(keep);
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => parser.feed(buf.get(..n).unwrap_or_default())?,
                // A TLS peer closing without close_notify: the response has ended all the same.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(Failure::new(format!("read error: {}", describe_io_error(&e)))),
            }
        }
        parser.finish()
    })
    .await
}

/// A response as far as the check cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    status: u16,
    digest: [u8; 16],
    /// The response's first bytes, when a regex needs them.
    kept: Vec<u8>,
}

impl Response {
    /// keepalived's order: status code, digest, regex (check_http.c, `http_handle_response`).
    fn judge(&self, url: &UrlCheck) -> Result<(), Failure> {
        if !url.accepts(self.status) {
            return Err(Failure::new(format!("HTTP status {}", self.status)));
        }
        if let Some(want) = url.digest {
            if want != self.digest {
                return Err(Failure::new(format!(
                    "digest mismatch: body MD5 is {}, expected {}",
                    to_hex(&self.digest),
                    to_hex(&want)
                )));
            }
        }
        match &url.regex {
            Some(r) => r.judge(&self.kept),
            None => Ok(()),
        }
    }
}

/// Incremental response reader: the header up to the blank line, then the body into MD5.
#[derive(Default)]
pub(crate) struct ResponseParser {
    head: Vec<u8>,
    status: Option<u16>,
    content_length: Option<u64>,
    body_seen: u64,
    md5: Md5,
    /// The response's first bytes, kept for a regex.
    kept: Option<Vec<u8>>,
}

impl ResponseParser {
    /// A parser; with `keep`, it keeps the first [`MAX_REGEX_SUBJECT`] bytes of the response.
    pub(crate) fn new(keep: bool) -> ResponseParser {
        ResponseParser { kept: keep.then(Vec::new), ..ResponseParser::default() }
    }

    /// Takes the next bytes of the stream.
    pub(crate) fn feed(&mut self, data: &[u8]) -> Result<(), Failure> {
        if let Some(kept) = &mut self.kept {
            let room = MAX_REGEX_SUBJECT.saturating_sub(kept.len());
            kept.extend_from_slice(data.get(..room.min(data.len())).unwrap_or_default());
        }
        if self.status.is_some() {
            self.body(data);
            return Ok(());
        }
        let from = self.head.len().saturating_sub(3);
        self.head.extend_from_slice(data);
        let Some(end) = self.head.get(from..).and_then(|t| t.windows(4).position(|w| w == b"\r\n\r\n")) else {
            if self.head.len() > MAX_HEADER {
                return Err(Failure::new("HTTP header too long"));
            }
            return Ok(());
        };
        let end = from + end;
        let head = std::mem::take(&mut self.head);
        let header = head.get(..end).unwrap_or_default();
        self.status = Some(status_code(header)?);
        self.content_length = content_length(header);
        self.body(head.get(end + 4..).unwrap_or_default());
        Ok(())
    }

    fn body(&mut self, data: &[u8]) {
        let take = match self.content_length {
            Some(len) => usize::try_from(len.saturating_sub(self.body_seen)).unwrap_or(usize::MAX).min(data.len()),
            None => data.len(),
        };
        self.md5.update(data.get(..take).unwrap_or_default());
        self.body_seen += data.len() as u64;
    }

    /// The stream has ended.
    pub(crate) fn finish(self) -> Result<Response, Failure> {
        match self.status {
            Some(status) => {
                Ok(Response { status, digest: self.md5.finalize().into(), kept: self.kept.unwrap_or_default() })
            }
            None if self.head.is_empty() => Err(Failure::new("no data received")),
            None => Err(Failure::new("incomplete HTTP header")),
        }
    }
}

/// The status code of the status line, as keepalived reads it (lib/html.c,
/// `extract_status_code`): after the first space, three digits followed by a space (or, more
/// leniently, the end of the line).
fn status_code(header: &[u8]) -> Result<u16, Failure> {
    let line = header.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let bad = || Failure::new(format!("malformed status line `{}`", String::from_utf8_lossy(line)));
    let space = line.iter().position(|&b| b == b' ').ok_or_else(bad)?;
    let rest = line.get(space + 1..).unwrap_or_default();
    let digits = rest.get(..3).ok_or_else(bad)?;
    if !digits.iter().all(u8::is_ascii_digit) || !matches!(rest.get(3), None | Some(b' ')) {
        return Err(bad());
    }
    let code = digits.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    if !(100..=599).contains(&code) {
        return Err(bad());
    }
    Ok(code)
}

/// `Content-Length`, when present and a number.
fn content_length(header: &[u8]) -> Option<u64> {
    header.split(|&b| b == b'\n').skip(1).find_map(|line| {
        let text = std::str::from_utf8(line).ok()?;
        let (name, value) = text.split_once(':')?;
        if name.trim().eq_ignore_ascii_case("content-length") { value.trim().parse().ok() } else { None }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn parse(chunks: &[&[u8]]) -> Result<Response, Failure> {
        let mut p = ResponseParser::new(false);
        for c in chunks {
            p.feed(c)?;
        }
        p.finish()
    }

    fn md5_of(b: &[u8]) -> [u8; 16] {
        Md5::digest(b).into()
    }

    #[test]
    fn status_and_digest_across_chunk_boundaries() {
        let r = parse(&[b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r", b"\n\r", b"\nhello ", b"world"]).unwrap();
        assert_eq!(r, Response { status: 200, digest: md5_of(b"hello world"), kept: Vec::new() });
    }

    #[test]
    fn digest_stops_at_content_length() {
        let r = parse(&[b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhelloEXTRA"]).unwrap();
        assert_eq!(r.digest, md5_of(b"hello"));
    }

    #[test]
    fn malformed_or_missing_responses_fail_with_a_reason() {
        assert_eq!(parse(&[]).unwrap_err().reason(), "no data received");
        assert_eq!(parse(&[b"HTTP/1.0 200 OK\r\n"]).unwrap_err().reason(), "incomplete HTTP header");
        assert!(parse(&[b"HTTP/1.0 2x0 OK\r\n\r\n"]).unwrap_err().reason().starts_with("malformed status line"));
        assert!(parse(&[b"garbage\r\n\r\n"]).is_err());
        assert!(parse(&[b"HTTP/1.0 99 x\r\n\r\n"]).is_err());
        assert_eq!(parse(&[b"HTTP/1.0 204\r\n\r\n"]).unwrap().status, 204);
    }

    #[test]
    fn default_status_codes_are_2xx() {
        let u = UrlCheck::new("/");
        assert!(u.accepts(200) && u.accepts(299) && !u.accepts(301) && !u.accepts(503));
        let u = UrlCheck { status_codes: vec![301..=302, 503..=503], ..UrlCheck::new("/") };
        assert!(u.accepts(302) && u.accepts(503) && !u.accepts(200));
    }

    #[test]
    fn requests_follow_keepalived_template() {
        let s = HttpSettings::default();
        let u = UrlCheck::new("/health");
        let addr: SocketAddr = "[2001:db8::5]:8080".parse().unwrap();
        assert_eq!(
            request(addr, &s, &u),
            "GET /health HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: [2001:db8::5]:8080\r\n\r\n"
        );
        let s = HttpSettings { version: HttpVersion::Http11, virtualhost: Some("www.example.com".into()), ..s };
        assert_eq!(
            request("192.0.2.1:80".parse().unwrap(), &s, &u),
            "GET /health HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example.com\r\n\r\n"
        );
        let u = UrlCheck { virtualhost: Some("other.example".into()), ..u };
        assert!(request("192.0.2.1:80".parse().unwrap(), &s, &u).contains("Host: other.example\r\n"));
    }

    fn rx(pattern: &str) -> UrlRegex {
        UrlRegex::new(pattern, pcre2::bytes::Regex::new(pattern).unwrap())
    }

    fn kept(chunks: &[&[u8]]) -> Vec<u8> {
        let mut p = ResponseParser::new(true);
        for c in chunks {
            p.feed(c).unwrap();
        }
        p.finish().unwrap().kept
    }

    #[test]
    fn a_regex_searches_the_whole_response_across_chunks_header_included() {
        let response = kept(&[b"HTTP/1.0 200 OK\r\nX-State: re", b"ady\r\n\r\nuptime 42 s\n", b"load 0.1\n"]);
        assert_eq!(response.len(), 56);
        assert!(rx("X-State: ready").found_in(&response).unwrap());
        assert!(rx("uptime \\d+ s\\nload").found_in(&response).unwrap());
        assert!(!rx("down").found_in(&response).unwrap());
        assert_eq!(rx("down").judge(&response).unwrap_err().reason(), "regex `down` not found in the response");
        let inverted = UrlRegex { no_match: true, ..rx("uptime") };
        assert_eq!(
            inverted.judge(&response).unwrap_err().reason(),
            "regex `uptime` found in the response (regex_no_match)"
        );
        assert!(UrlRegex { no_match: true, ..rx("down") }.judge(&response).is_ok());
    }

    #[test]
    fn regex_offsets_bound_where_a_match_starts() {
        let r = b"0123456789abc";
        // "5" starts at 5: inside [5, 5], outside [6, ..] and [.., 4].
        assert!(UrlRegex { min_offset: 5, max_offset: Some(5), ..rx("5") }.found_in(r).unwrap());
        assert!(!UrlRegex { min_offset: 6, ..rx("5") }.found_in(r).unwrap());
        assert!(!UrlRegex { max_offset: Some(4), ..rx("5") }.found_in(r).unwrap());
        // A match may end past max_offset; only its start counts.
        assert!(UrlRegex { max_offset: Some(5), ..rx("56789abc") }.found_in(r).unwrap());
        // Lookbehind sees before min_offset.
        assert!(UrlRegex { min_offset: 5, ..rx("(?<=4)5") }.found_in(r).unwrap());
        assert!(!UrlRegex { min_offset: 99, ..rx("0") }.found_in(r).unwrap());
    }

    #[test]
    fn firstline_keeps_the_match_on_the_first_line_after_min_offset() {
        let r = b"ab\ncd\nef";
        assert!(UrlRegex { firstline: true, ..rx("b") }.found_in(r).unwrap());
        assert!(!UrlRegex { firstline: true, ..rx("c") }.found_in(r).unwrap());
        assert!(UrlRegex { firstline: true, min_offset: 3, ..rx("d") }.found_in(r).unwrap());
        assert!(!UrlRegex { firstline: true, min_offset: 3, ..rx("e") }.found_in(r).unwrap());
    }

    #[test]
    fn a_regex_keeps_at_most_max_regex_subject_bytes() {
        let big = vec![b'x'; MAX_REGEX_SUBJECT];
        let response = kept(&[b"HTTP/1.0 200 OK\r\n\r\n", &big, b"TAIL"]);
        assert_eq!(response.len(), MAX_REGEX_SUBJECT);
        assert!(!rx("TAIL").found_in(&response).unwrap());
    }

    #[test]
    fn digests_parse_from_hex() {
        assert_eq!(parse_digest("9b3a0c85a887a256d6939da88aabd8cd").unwrap()[0], 0x9b);
        assert!(parse_digest("9b3a").is_err());
        assert!(parse_digest("zz3a0c85a887a256d6939da88aabd8cd").is_err());
    }
}
