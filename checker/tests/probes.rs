//! Every probe against real servers in throwaway network namespaces: a client namespace
//! (192.0.2.1, 2001:db8::1) probes a server namespace (192.0.2.2, 2001:db8::2) across a
//! bridge. Servers are independent programs: `python3 -m http.server`, `openssl s_server`,
//! and the small stdlib servers of tests/servers.py. Each failing case is a real failure on
//! the wire (refused, silence, ICMP unreachable, wrong answers). Needs root; nothing runs in
//! the machine's own namespace.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use md5::{Digest, Md5};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tandem_checker::connects::{self, TcpConnects};
use tandem_checker::probe::dns::DnsSettings;
use tandem_checker::probe::http::{HttpSettings, HttpVersion, UrlCheck, UrlRegex};
use tandem_checker::probe::smtp::SmtpSettings;
use tandem_checker::probe::tls::TlsSettings;
use tandem_checker::probe::udp::{ReplyPattern, UdpSettings};
use tandem_checker::probe::{Probe, ProbeResult, Target};
use tandem_tests::netns::{Host, Lab, wait_until};

const CLIENT: &str = "192.0.2.1";
const SERVER: &str = "192.0.2.2";
const SERVER6: &str = "2001:db8::2";
/// On the segment, answered by nobody.
const NOBODY: &str = "192.0.2.77";
/// Timeout of the failing cases: short, to keep the suite fast.
const SHORT: Duration = Duration::from_millis(500);

struct Net {
    lab: Lab,
    client: Host,
    server: Host,
}

fn net(tag: &str) -> Net {
    let mut lab = Lab::new(tag).unwrap();
    let seg = lab.segment("lan").unwrap();
    let client = lab.host("cli").unwrap();
    let server = lab.host("srv").unwrap();
    lab.connect(&client, &seg, "eth0", &["192.0.2.1/24", "192.0.2.11/24", "2001:db8::1/64"]).unwrap();
    lab.connect(&server, &seg, "eth0", &["192.0.2.2/24", "2001:db8::2/64"]).unwrap();
    Net { lab, client, server }
}

impl Net {
    /// Runs one probe from the client namespace on a tokio runtime of its own.
    fn probe(&self, probe: Probe) -> ProbeResult {
        Lab::within(&self.client, move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(probe.run())
        })
        .unwrap()
    }

    /// Starts a server in the server namespace and waits until `port` listens (`proto` "t" or "u").
    fn serve(&mut self, program: &str, args: &[&str], proto: &str, port: u16) {
        let log = format!("{program}-{port}.log").replace('/', "_");
        self.lab.spawn(&self.server, program, args, &log).unwrap();
        let listening = wait_until(Duration::from_secs(10), || {
            let out = self.lab.run(&self.server, "ss", &[&format!("-Hln{proto}")]).unwrap();
            String::from_utf8_lossy(&out.stdout).split_whitespace().any(|w| w.ends_with(&format!(":{port}")))
        });
        let log_text = std::fs::read_to_string(self.lab.dir().join(&log)).unwrap_or_default();
        assert!(listening, "{program} {args:?} does not listen on {port}: {log_text}");
    }

    fn python(&mut self, args: &[&str], proto: &str, port: u16) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/servers.py");
        let mut all = vec!["-u", script];
        all.extend_from_slice(args);
        self.serve("python3", &all, proto, port);
    }
}

fn target(addr: &str, port: u16, timeout: Duration) -> Target {
    Target::new(SocketAddr::new(addr.parse().unwrap(), port), timeout)
}

fn reason(r: ProbeResult) -> String {
    r.expect_err("the probe should fail").reason().to_string()
}

/// A url regex with no offsets, passing on a match.
fn rx(pattern: &str) -> UrlRegex {
    UrlRegex::new(pattern, pcre2::bytes::Regex::new(pattern).unwrap())
}

fn md5_of(bytes: &[u8]) -> [u8; 16] {
    Md5::digest(bytes).into()
}

/// A web root with /index.html and /other.txt.
fn web_root(lab: &Lab) -> PathBuf {
    let root = lab.dir().join("www");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("index.html"), b"<h1>tandem</h1>\n").unwrap();
    std::fs::write(root.join("other.txt"), b"other\n").unwrap();
    root
}

#[test]
fn tcp_check_passes_on_accept_and_fails_on_refusal_and_silence() {
    let mut n = net("ctcp");
    let root = web_root(&n.lab);
    n.serve(
        "python3",
        &["-m", "http.server", "--bind", SERVER, "--directory", root.to_str().unwrap(), "8080"],
        "t",
        8080,
    );
    n.probe(Probe::Tcp(target(SERVER, 8080, SHORT))).unwrap();
    assert_eq!(reason(n.probe(Probe::Tcp(target(SERVER, 8081, SHORT)))), "connection refused");
    assert_eq!(reason(n.probe(Probe::Tcp(target(NOBODY, 8080, SHORT)))), "connect timeout after 500 ms");
    // bindto an address the client does not have fails before any packet leaves.
    let mut t = target(SERVER, 8080, SHORT);
    t.bind_addr = Some("192.0.2.200".parse().unwrap());
    assert!(reason(n.probe(Probe::Tcp(t))).starts_with("cannot bind to 192.0.2.200:0"));
}

/// Runs `targets` through one [`TcpConnects`] in the client namespace, as the daemon does:
/// every connect starts at once, the set's descriptor is watched by tokio, deadlines are
/// expired as they come. Gives each key's result.
fn connect_all(n: &Net, targets: Vec<(usize, Target)>) -> Vec<(usize, ProbeResult)> {
    connect_rounds(n, vec![targets]).pop().unwrap().0
}

/// Runs rounds of [`connect_all`] one after the other through the same set (its pooled
/// sockets serve the later rounds); gives each round's results and the set's idle sockets
/// after it.
fn connect_rounds(n: &Net, rounds: Vec<Vec<(usize, Target)>>) -> Vec<(Vec<(usize, ProbeResult)>, usize)> {
    Lab::within(&n.client, move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let mut set = connects::watched(TcpConnects::new().unwrap()).unwrap();
            let mut done = Vec::new();
            for targets in rounds {
                let mut out = Vec::new();
                let start = Instant::now();
                for (key, t) in &targets {
                    if let Some(r) = set.get_mut().start(*key, t, start) {
                        out.push((*key, r));
                    }
                }
                while set.get_ref().in_flight() > 0 {
                    let deadline = set.get_ref().next_deadline().unwrap();
                    tokio::select! {
                        guard = set.readable_mut() => {
                            let mut guard = guard.unwrap();
                            guard.get_inner_mut().collect(&mut out).unwrap();
                            guard.clear_ready();
                        }
                        () = tokio::time::sleep_until(deadline.into()) => set.get_mut().expire(Instant::now(), &mut out),
                    }
                }
                out.sort_by_key(|(k, _)| *k);
                done.push((out, set.get_ref().idle()));
            }
            done
        })
    })
    .unwrap()
}

#[test]
fn many_tcp_checks_at_once_pass_fail_and_time_out_like_the_single_probe() {
    let mut n = net("cset");
    n.python(&["tcp-accept", SERVER, "8080"], "t", 8080);
    let mut bad_bind = target(SERVER, 8080, SHORT);
    bad_bind.bind_addr = Some("192.0.2.200".parse().unwrap());
    // 100 passing checks of one server, interleaved with the three ways to fail.
    let mut targets: Vec<(usize, Target)> = (0..100).map(|k| (k, target(SERVER, 8080, SHORT))).collect();
    targets.push((100, target(SERVER, 8081, SHORT)));
    targets.push((101, target(NOBODY, 8080, SHORT)));
    targets.push((102, target(NOBODY, 8080, Duration::from_millis(900))));
    targets.push((103, bad_bind));
    let started = Instant::now();
    let results = connect_all(&n, targets);
    let took = started.elapsed();
    assert_eq!(results.len(), 104);
    for (k, r) in &results[..100] {
        assert!(r.is_ok(), "check {k}: {r:?}");
    }
    assert_eq!(reason(results[100].1.clone()), "connection refused");
    assert_eq!(reason(results[101].1.clone()), "connect timeout after 500 ms");
    assert_eq!(reason(results[102].1.clone()), "connect timeout after 900 ms");
    assert!(reason(results[103].1.clone()).starts_with("cannot bind to 192.0.2.200:0"));
    // The silent ones end at their own deadlines, not sooner, not much later.
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(3), "{took:?}");
    // The connections made were aborted, not closed in order: an orderly close leaves one
    // side of each of the 100 in TIME_WAIT (whichever closed first), an abort neither.
    let time_wait = |h: &Host| Lab::within(h, time_wait_sockets).unwrap();
    assert_eq!((time_wait(&n.client), time_wait(&n.server)), (0, 0));
}

#[test]
fn tcp_check_sockets_are_reused_and_judge_each_connect_afresh() {
    let mut n = net("creuse");
    n.python(&["tcp-accept", SERVER, "8080"], "t", 8080);
    let pass = |k| (k, target(SERVER, 8080, SHORT));
    let mut bound = target(SERVER, 8080, SHORT);
    bound.bind_addr = Some("192.0.2.11".parse().unwrap());
    let rounds = vec![
        // 20 connections made: their sockets wait in the pool, the bound one is closed.
        (0..20).map(pass).chain([(20, bound.clone())]).collect(),
        // The pool serves the next 20 (no new socket: still 20 idle afterwards).
        (0..20).map(pass).collect(),
        // Refused, silent and made, on pooled sockets: a failed connect closes its socket.
        vec![(0, target(SERVER, 8081, SHORT)), (1, target(NOBODY, 8080, SHORT)), pass(2), pass(3)],
        // After the failures, the remaining pooled sockets still judge right.
        (0..20).map(pass).chain([(20, target(SERVER, 8081, SHORT))]).collect(),
    ];
    let results = connect_rounds(&n, rounds);
    let reasons = |round: usize| -> Vec<String> {
        results[round]
            .0
            .iter()
            .map(|(_, r)| r.clone().err().map(|f| f.reason().to_string()).unwrap_or_default())
            .collect()
    };
    assert_eq!(reasons(0), vec![String::new(); 21]);
    assert_eq!(results[0].1, 20);
    assert_eq!(reasons(1), vec![String::new(); 20]);
    assert_eq!(results[1].1, 20);
    assert_eq!(reasons(2), ["connection refused", "connect timeout after 500 ms", "", ""]);
    assert_eq!(results[2].1, 18);
    let mut last = vec![String::new(); 20];
    last.push("connection refused".into());
    assert_eq!(reasons(3), last);
    assert_eq!(results[3].1, 20);
    // Each reuse ended its connection with a reset: nothing left in TIME_WAIT.
    let time_wait = |h: &Host| Lab::within(h, time_wait_sockets).unwrap();
    assert_eq!((time_wait(&n.client), time_wait(&n.server)), (0, 0));
}

/// TCP sockets in TIME_WAIT (state 06 of /proc/net/tcp) in the calling thread's namespace.
fn time_wait_sockets() -> usize {
    let table = std::fs::read_to_string("/proc/thread-self/net/tcp").unwrap();
    table.lines().skip(1).filter(|l| l.split_whitespace().nth(3) == Some("06")).count()
}

#[test]
fn http_get_checks_status_digest_and_every_url() {
    let mut n = net("chttp");
    let root = web_root(&n.lab);
    n.serve(
        "python3",
        &["-m", "http.server", "--bind", SERVER, "--directory", root.to_str().unwrap(), "8080"],
        "t",
        8080,
    );
    n.python(&["silent-tcp", SERVER, "8090"], "t", 8090);
    let index = UrlCheck { digest: Some(md5_of(b"<h1>tandem</h1>\n")), ..UrlCheck::new("/index.html") };
    let http = |urls: Vec<UrlCheck>| HttpSettings { urls, ..HttpSettings::default() };

    n.probe(Probe::Http(target(SERVER, 8080, SHORT), http(vec![index.clone()]))).unwrap();
    // HTTP/1.1 with Connection: close works too.
    let v11 = HttpSettings { version: HttpVersion::Http11, ..http(vec![index.clone()]) };
    n.probe(Probe::Http(target(SERVER, 8080, SHORT), v11)).unwrap();

    let missing = UrlCheck::new("/missing");
    assert_eq!(
        reason(n.probe(Probe::Http(target(SERVER, 8080, SHORT), http(vec![missing.clone()])))),
        "GET /missing: HTTP status 404"
    );
    // A status_code range that accepts 404.
    let accept_404 = UrlCheck { status_codes: vec![400..=404], ..missing };
    n.probe(Probe::Http(target(SERVER, 8080, SHORT), http(vec![accept_404]))).unwrap();

    let wrong = UrlCheck { digest: Some([0u8; 16]), ..UrlCheck::new("/index.html") };
    let r = reason(n.probe(Probe::Http(target(SERVER, 8080, SHORT), http(vec![wrong]))));
    assert!(r.starts_with("GET /index.html: digest mismatch"), "{r}");

    // regex: searched in the whole response, header included; regex_no_match inverts it.
    let body = UrlCheck { regex: Some(rx(r"<h1>tandem</h1>\n")), ..UrlCheck::new("/index.html") };
    n.probe(Probe::Http(target(SERVER, 8080, SHORT), http(vec![body]))).unwrap();
    let header = UrlCheck { regex: Some(rx(r"(?m)^Server: SimpleHTTP/\S+")), ..UrlCheck::new("/index.html") };
    n.probe(Probe::Http(target(SERVER, 8080, SHORT), http(vec![header]))).unwrap();
    let absent = UrlCheck { regex: Some(rx("maintenance")), ..UrlCheck::new("/index.html") };
    assert_eq!(
        reason(n.probe(Probe::Http(target(SERVER, 8080, SHORT), http(vec![absent.clone()])))),
        "GET /index.html: regex `maintenance` not found in the response"
    );
    let mut not_in_maintenance = absent;
    if let Some(r) = &mut not_in_maintenance.regex {
        r.no_match = true;
    }
    n.probe(Probe::Http(target(SERVER, 8080, SHORT), http(vec![not_in_maintenance]))).unwrap();
    let mut present_but_forbidden = UrlCheck { regex: Some(rx("tandem")), ..UrlCheck::new("/index.html") };
    if let Some(r) = &mut present_but_forbidden.regex {
        r.no_match = true;
    }
    assert_eq!(
        reason(n.probe(Probe::Http(target(SERVER, 8080, SHORT), http(vec![present_but_forbidden])))),
        "GET /index.html: regex `tandem` found in the response (regex_no_match)"
    );
    // The body starts after the header: a max_offset of 10 leaves it out.
    let early =
        UrlCheck { regex: Some(UrlRegex { max_offset: Some(10), ..rx("tandem") }), ..UrlCheck::new("/index.html") };
    assert_eq!(
        reason(n.probe(Probe::Http(target(SERVER, 8080, SHORT), http(vec![early])))),
        "GET /index.html: regex `tandem` not found in the response"
    );

    // All urls must pass: the second one fails the attempt.
    let two = http(vec![index.clone(), UrlCheck::new("/nope")]);
    assert_eq!(reason(n.probe(Probe::Http(target(SERVER, 8080, SHORT), two))), "GET /nope: HTTP status 404");

    assert_eq!(
        reason(n.probe(Probe::Http(target(SERVER, 8081, SHORT), http(vec![index.clone()])))),
        "GET /index.html: connection refused"
    );
    let r = reason(n.probe(Probe::Http(target(SERVER, 8090, SHORT), http(vec![index]))));
    assert_eq!(r, "GET /index.html: HTTP timeout after 500 ms");
}

#[test]
fn ssl_get_speaks_tls_without_verifying_and_sends_sni() {
    let mut n = net("cssl");
    let root = web_root(&n.lab);
    let cert = rcgen::generate_simple_self_signed(vec!["good.test".to_string()]).unwrap();
    std::fs::write(root.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(root.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let (c, k) = (root.join("cert.pem"), root.join("key.pem"));
    let (c, k) = (c.to_str().unwrap(), k.to_str().unwrap());
    // -WWW serves files relative to its working directory: run it from the web root.
    let accept = format!("{SERVER}:8443");
    let sni_accept = format!("{SERVER}:9443");
    let cd = format!("cd {} && exec openssl s_server -quiet -accept {accept} -cert {c} -key {k} -WWW", root.display());
    n.serve("sh", &["-c", &cd], "t", 8443);
    // A second server that refuses any other server name than good.test.
    let cd = format!(
        "cd {} && exec openssl s_server -quiet -accept {sni_accept} -cert {c} -key {k} -cert2 {c} -key2 {k} -servername good.test -servername_fatal -WWW",
        root.display()
    );
    n.serve("sh", &["-c", &cd], "t", 9443);
    n.serve(
        "python3",
        &["-m", "http.server", "--bind", SERVER, "--directory", root.to_str().unwrap(), "8080"],
        "t",
        8080,
    );

    let index = UrlCheck { digest: Some(md5_of(b"<h1>tandem</h1>\n")), ..UrlCheck::new("/index.html") };
    let ssl = |sni: Option<&str>| HttpSettings {
        urls: vec![index.clone()],
        tls: Some(TlsSettings { sni: sni.map(str::to_string) }),
        ..HttpSettings::default()
    };
    let long = Duration::from_secs(3);
    n.probe(Probe::Http(target(SERVER, 8443, long), ssl(None))).unwrap();
    n.probe(Probe::Http(target(SERVER, 9443, long), ssl(Some("good.test")))).unwrap();
    let r = reason(n.probe(Probe::Http(target(SERVER, 9443, long), ssl(Some("bad.test")))));
    assert!(r.starts_with("GET /index.html: TLS handshake failed"), "{r}");

    let wrong =
        HttpSettings { urls: vec![UrlCheck { digest: Some([1u8; 16]), ..UrlCheck::new("/index.html") }], ..ssl(None) };
    assert!(reason(n.probe(Probe::Http(target(SERVER, 8443, long), wrong))).contains("digest mismatch"));
    // A regex over TLS sees the decrypted response.
    let found = |pattern: &str| HttpSettings {
        urls: vec![UrlCheck { regex: Some(rx(pattern)), ..UrlCheck::new("/index.html") }],
        ..ssl(None)
    };
    n.probe(Probe::Http(target(SERVER, 8443, long), found("<h1>tandem"))).unwrap();
    let r = reason(n.probe(Probe::Http(target(SERVER, 8443, long), found("<h1>other"))));
    assert_eq!(r, "GET /index.html: regex `<h1>other` not found in the response");
    // TLS against a plain HTTP server.
    let r = reason(n.probe(Probe::Http(target(SERVER, 8080, SHORT), ssl(None))));
    assert!(r.starts_with("GET /index.html: TLS handshake failed"), "{r}");
}

#[test]
fn dns_check_needs_a_matching_noerror_answer() {
    let mut n = net("cdns");
    n.python(&["dns", SERVER, "53"], "u", 53);
    let q = |name: &str, ty: &str| DnsSettings::query(name, ty).unwrap();
    n.probe(Probe::Dns(target(SERVER, 53, SHORT), q("example.test", "A"))).unwrap();
    // keepalived's default query: SOA of the root.
    n.probe(Probe::Dns(target(SERVER, 53, SHORT), DnsSettings::new())).unwrap();
    assert_eq!(
        reason(n.probe(Probe::Dns(target(SERVER, 53, SHORT), q("empty.example.test", "A")))),
        "no answer for A empty.example.test."
    );
    let mut lenient = q("empty.example.test", "A");
    lenient.require_answer = false;
    n.probe(Probe::Dns(target(SERVER, 53, SHORT), lenient)).unwrap();
    assert_eq!(
        reason(n.probe(Probe::Dns(target(SERVER, 53, SHORT), q("nx.example.test", "A")))),
        "Non-Existent Domain for A nx.example.test."
    );
    assert_eq!(
        reason(n.probe(Probe::Dns(target(SERVER, 53, SHORT), q("other.test", "MX")))),
        "Query Refused for MX other.test."
    );
    // A reply with another id is ignored: the query times out.
    assert_eq!(
        reason(n.probe(Probe::Dns(target(SERVER, 53, SHORT), q("wrongid.example.test", "A")))),
        "no reply for A wrongid.example.test.: timeout after 500 ms"
    );
    assert_eq!(
        reason(n.probe(Probe::Dns(target(SERVER, 53, SHORT), q("garbage.example.test", "A")))),
        "malformed reply for A garbage.example.test."
    );
    // No server: ICMP port unreachable.
    assert_eq!(reason(n.probe(Probe::Dns(target(SERVER, 5353, SHORT), q("example.test", "A")))), "connection refused");

    // Over IPv6: the same verdicts, the refusal from ICMPv6.
    // (Port 54: the wait for a listener goes by port, and 53 is the IPv4 server's.)
    n.python(&["dns", SERVER6, "54"], "u", 54);
    n.probe(Probe::Dns(target(SERVER6, 54, SHORT), q("example.test", "AAAA"))).unwrap();
    assert_eq!(
        reason(n.probe(Probe::Dns(target(SERVER6, 54, SHORT), q("nx.example.test", "AAAA")))),
        "Non-Existent Domain for AAAA nx.example.test."
    );
    assert_eq!(reason(n.probe(Probe::Dns(target(SERVER6, 5353, SHORT), q("example.test", "A")))), "connection refused");
}

#[test]
fn smtp_check_reads_the_banner_sends_helo_and_quits() {
    let mut n = net("csmtp");
    n.python(&["smtp", SERVER, "25", "220 mail.test ESMTP", "probe.tandem.test"], "t", 25);
    n.python(&["smtp", SERVER, "26", "554 go away", "probe.tandem.test"], "t", 26);
    n.python(&["silent-tcp", SERVER, "27"], "t", 27);
    let helo = SmtpSettings { helo_name: "probe.tandem.test".into() };
    n.probe(Probe::Smtp(target(SERVER, 25, SHORT), helo.clone())).unwrap();
    // The server answers 501 to another HELO name (keepalived's default one here).
    assert_eq!(
        reason(n.probe(Probe::Smtp(target(SERVER, 25, SHORT), SmtpSettings::default()))),
        "bad HELO reply `501 who are you`"
    );
    assert_eq!(reason(n.probe(Probe::Smtp(target(SERVER, 26, SHORT), helo.clone()))), "bad greeting `554 go away`");
    assert_eq!(reason(n.probe(Probe::Smtp(target(SERVER, 27, SHORT), helo.clone()))), "SMTP timeout after 500 ms");
    assert_eq!(reason(n.probe(Probe::Smtp(target(SERVER, 28, SHORT), helo))), "connection refused");
}

#[test]
fn udp_check_uses_replies_and_icmp_unreachable() {
    let mut n = net("cudp");
    n.python(&["udp-reply", SERVER, "7000", "504f4e47"], "u", 7000);
    n.python(&["udp-silent", SERVER, "7001"], "u", 7001);
    n.python(&["udp-whoami", SERVER, "7002"], "u", 7002);
    let udp = |require_reply: bool, reply: Option<&[u8]>| UdpSettings {
        payload: b"PING".to_vec(),
        require_reply,
        reply: reply.map(|r| ReplyPattern::exact(r.to_vec())),
        ..UdpSettings::default()
    };
    n.probe(Probe::Udp(target(SERVER, 7000, SHORT), udp(true, Some(b"PONG")))).unwrap();
    assert_eq!(
        reason(n.probe(Probe::Udp(target(SERVER, 7000, SHORT), udp(true, Some(b"PANG"))))),
        "reply data mismatch"
    );
    let short = UdpSettings { min_reply_length: 5, ..udp(true, None) };
    assert_eq!(reason(n.probe(Probe::Udp(target(SERVER, 7000, SHORT), short))), "reply of 4 bytes, outside 5..=255");
    assert_eq!(reason(n.probe(Probe::Udp(target(SERVER, 7001, SHORT), udp(true, None)))), "no reply within 500 ms");
    // Without require_reply, silence passes (keepalived) but ICMP port unreachable fails.
    n.probe(Probe::Udp(target(SERVER, 7001, SHORT), udp(false, None))).unwrap();
    assert_eq!(reason(n.probe(Probe::Udp(target(SERVER, 7009, SHORT), udp(false, None)))), "port unreachable (ICMP)");
    assert_eq!(reason(n.probe(Probe::Udp(target(SERVER, 7009, SHORT), udp(true, None)))), "port unreachable (ICMP)");
    // bindto and bind_port choose the source the server sees.
    let mut t = target(SERVER, 7002, SHORT);
    t.bind_addr = Some("192.0.2.11".parse().unwrap());
    t.bind_port = Some(40000);
    n.probe(Probe::Udp(t, udp(true, Some(b"192.0.2.11:40000")))).unwrap();
    n.probe(Probe::Udp(target(SERVER, 7002, SHORT), udp(true, Some(format!("{CLIENT}:").as_bytes())))).unwrap();
}

#[test]
fn ping_check_over_ipv4_and_ipv6_with_raw_and_ping_sockets() {
    let n = net("cping");
    // A fresh namespace's ping_group_range ("1 0") refuses ping sockets: the raw fallback.
    n.probe(Probe::Ping(target(SERVER, 0, SHORT))).unwrap();
    n.probe(Probe::Ping(target(SERVER6, 0, SHORT))).unwrap();
    assert_eq!(reason(n.probe(Probe::Ping(target(NOBODY, 0, SHORT)))), "no echo reply within 500 ms");
    assert_eq!(reason(n.probe(Probe::Ping(target("2001:db8::77", 0, SHORT)))), "no echo reply within 500 ms");
    // The server stops answering echoes: silence.
    let quiet = n.lab.run(&n.server, "sysctl", &["-qw", "net.ipv4.icmp_echo_ignore_all=1"]).unwrap();
    assert!(quiet.status.success());
    assert_eq!(reason(n.probe(Probe::Ping(target(SERVER, 0, SHORT)))), "no echo reply within 500 ms");
    let _ = n.lab.run(&n.server, "sysctl", &["-qw", "net.ipv4.icmp_echo_ignore_all=0"]).unwrap();
    // Ping sockets, as keepalived uses, once the range admits root.
    let open = n.lab.run(&n.client, "sysctl", &["-qw", "net.ipv4.ping_group_range=0 2147483647"]).unwrap();
    assert!(open.status.success());
    n.probe(Probe::Ping(target(SERVER, 0, SHORT))).unwrap();
    n.probe(Probe::Ping(target(SERVER6, 0, SHORT))).unwrap();
    assert_eq!(reason(n.probe(Probe::Ping(target(NOBODY, 0, SHORT)))), "no echo reply within 500 ms");
    // No route at all: the send fails at once.
    let route = n.lab.run(&n.client, "ip", &["route", "add", "unreachable", "198.51.100.0/24"]).unwrap();
    assert!(route.status.success());
    let r = reason(n.probe(Probe::Ping(target("198.51.100.1", 0, SHORT))));
    assert!(r.contains("unreachable"), "{r}");
}

#[test]
fn file_check_reads_the_tracked_file() {
    use tandem_checker::probe::file::FileSettings;
    use tandem_checker::probe::{Success, WeightChange};
    let dir = std::env::temp_dir().join(format!("tandem-file-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("weight");
    let probe = |weight: i32| {
        let settings = FileSettings { path: path.clone(), weight, reverse: false };
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(Probe::File(settings).run())
    };
    std::fs::write(&path, "0\n").unwrap();
    assert!(probe(0).is_ok());
    std::fs::write(&path, "1\n").unwrap();
    assert_eq!(reason(probe(0)), "tracked file reads 1");
    std::fs::write(&path, "7\n").unwrap();
    assert_eq!(probe(2), Ok(Success { weight: Some(WeightChange::Offset(14)) }));
    std::fs::remove_dir_all(&dir).unwrap();
}
