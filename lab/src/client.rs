//! The lab's traffic generator (`tandem-lab client`), run inside the client's network namespace.
//!
//! It makes real HTTP requests to a virtual IP and reports every outcome as one JSON line on
//! stdout (flushed per line), which the orchestrator reads live:
//!
//! - short requests: a new connection each, `GET / HTTP/1.0`, read to the end, at a steady rate;
//! - long-lived connections: HTTP/1.1 keep-alive, opened at start, each sending a request every
//!   `every_ms` (the connections spread evenly over the period); a connection whose request fails
//!   is closed and never used again.
//!
//! The web servers answer with their own name as the body ("rs1\n"), so every success says
//! which real server answered.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, Interval, MissedTickBehavior, timeout};

use crate::events::Event;
use crate::http::*;

/// The client's settings (the `client` subcommand's flags).
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Address to connect to (the VIP, or a public address in front of it).
    #[arg(long)]
    pub addr: IpAddr,
    /// TCP port.
    #[arg(long, default_value_t = 80)]
    pub port: u16,
    /// Short requests per second (each a new connection: HTTP/1.0 GET /).
    #[arg(long, default_value_t = 20)]
    pub rate: u32,
    /// Long-lived connections (HTTP/1.1 keep-alive), opened at start.
    #[arg(long, default_value_t = 20)]
    pub long: u32,
    /// Each long-lived connection sends a request this often (ms), spread evenly over the period.
    #[arg(long, default_value_t = 2000)]
    pub every_ms: u64,
    /// A short request that has not completed in this time (ms) fails.
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
    /// A long-lived connection's request that has not completed in this time (ms) fails (long:
    /// TCP retransmits across a failover take several seconds).
    #[arg(long, default_value_t = 15000)]
    pub long_timeout_ms: u64,
}

/// `(ok, server, error)` of a request's outcome.
fn outcome(r: Result<String, String>) -> (bool, Option<String>, Option<String>) {
    match r {
        Ok(server) => (true, Some(server), None),
        Err(error) => (false, None, Some(error)),
    }
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Hands event lines to the stdout writer thread (`None` ends it).
#[derive(Clone)]
struct Emitter(std::sync::mpsc::Sender<Option<String>>);

impl Emitter {
    fn emit(&self, event: &Event) {
        if let Ok(line) = serde_json::to_string(event) {
            // The writer is gone only if stdout is; the main loop hears of that separately.
            let _ = self.0.send(Some(line));
        }
    }
}

/// Runs the client until its stdin reaches end of file (the orchestrator closes it) or
/// SIGTERM; returns the process exit code (0, or 1 if stdout went away / setup failed).
pub fn run(args: &ClientArgs) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tandem-lab client: runtime: {e}");
            return 1;
        }
    };
    let (stop_tx, stop_rx) = mpsc::unbounded_channel::<()>();
    let (line_tx, line_rx) = std::sync::mpsc::channel();
    let writer = {
        let stop = stop_tx.clone();
        std::thread::Builder::new().name("client-stdout".into()).spawn(move || write_lines(&line_rx, &stop))
    };
    let writer = match writer {
        Ok(w) => w,
        Err(e) => {
            eprintln!("tandem-lab client: thread: {e}");
            return 1;
        }
    };
    let emit = Emitter(line_tx);
    let finish = |emit: Emitter, code: i32| {
        let _ = emit.0.send(None);
        let stdout_ok = writer.join().unwrap_or(false);
        if stdout_ok { code } else { 1 }
    };
    // Left running (blocked in read) if SIGTERM comes first: the process ends anyway.
    let stdin_stop = stop_tx.clone();
    let stdin = std::thread::Builder::new().name("client-stdin".into()).spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut chunk = [0u8; 1024];
        loop {
            match stdin.read(&mut chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = stdin_stop.send(());
    });
    if let Err(e) = stdin {
        eprintln!("tandem-lab client: thread: {e}");
        return finish(emit, 1);
    }
    let setup = rt.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            let _ = stop_tx.send(());
        });
        client(args, &emit, stop_rx).await;
        Ok::<(), std::io::Error>(())
    });
    drop(rt);
    match setup {
        Ok(()) => finish(emit, 0),
        Err(e) => {
            eprintln!("tandem-lab client: signals: {e}");
            finish(emit, 1)
        }
    }
}

/// The stdout writer thread: one line per event, flushed; on a write error, asks the client to
/// stop and returns false.
fn write_lines(lines: &std::sync::mpsc::Receiver<Option<String>>, stop: &mpsc::UnboundedSender<()>) -> bool {
    let stdout = std::io::stdout();
    while let Ok(Some(line)) = lines.recv() {
        let mut out = stdout.lock();
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            let _ = stop.send(());
            return false;
        }
    }
    true
}

/// The client proper: opens the long-lived connections, then runs the traffic until `stop`
/// says so; emits "stopped" last. Requests still in flight then are abandoned, unreported.
async fn client(args: &ClientArgs, emit: &Emitter, mut stop: mpsc::UnboundedReceiver<()>) {
    let target = SocketAddr::new(args.addr, args.port);
    let host = host_header(target);
    let short_req = request("HTTP/1.0", &host);
    let long_req = request("HTTP/1.1", &host);
    let short_timeout = Duration::from_millis(args.timeout_ms);
    let long_timeout = Duration::from_millis(args.long_timeout_ms);

    // The long-lived connections, opened concurrently.
    let mut opening = JoinSet::new();
    for conn in 0..args.long {
        let req = long_req.clone();
        opening.spawn(async move {
            let r =
                timeout(long_timeout, open_long(target, &req)).await.unwrap_or_else(|_| Err("timed out".to_owned()));
            (conn, r)
        });
    }
    let mut conns = Vec::new();
    let mut servers = BTreeMap::<String, u32>::new();
    let mut failed = 0u32;
    let stopped = loop {
        tokio::select! {
            _ = stop.recv() => break true,
            next = opening.join_next() => match next {
                None => break false,
                Some(Ok((conn, Ok((lc, server))))) => {
                    *servers.entry(server).or_default() += 1;
                    conns.push((conn, lc));
                }
                Some(Ok((conn, Err(e)))) => {
                    eprintln!("tandem-lab client: long-lived connection {conn}: {e}");
                    failed += 1;
                }
                Some(Err(_)) => failed += 1,
            },
        }
    };
    opening.shutdown().await;
    if stopped {
        emit.emit(&Event::Stopped { t: now_ms() });
        return;
    }
    conns.sort_by_key(|(conn, _)| *conn);
    emit.emit(&Event::Opened { t: now_ms(), conns: u32::try_from(conns.len()).unwrap_or(u32::MAX), servers, failed });

    // The traffic.
    let start = Instant::now();
    let every = Duration::from_millis(args.every_ms.max(1));
    let mut longs = JoinSet::new();
    for (conn, lc) in conns {
        let first = start + every * conn / args.long.max(1);
        longs.spawn(run_long(conn, lc, first, every, long_timeout, long_req.clone(), emit.clone()));
    }
    let mut ticker = (args.rate > 0).then(|| {
        let period = Duration::from_nanos(1_000_000_000 / u64::from(args.rate)).max(Duration::from_nanos(1));
        let mut i = tokio::time::interval(period);
        i.set_missed_tick_behavior(MissedTickBehavior::Delay);
        i
    });
    let mut shorts = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.recv() => break,
            () = next_tick(&mut ticker) => {
                while shorts.try_join_next().is_some() {}
                shorts.spawn(short_task(target, short_req.clone(), short_timeout, emit.clone()));
            }
        }
    }
    shorts.shutdown().await;
    longs.shutdown().await;
    emit.emit(&Event::Stopped { t: now_ms() });
}

/// The next tick of `ticker`, or never without one.
async fn next_tick(ticker: &mut Option<Interval>) {
    match ticker {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// The Host header's value for `target`.
fn host_header(target: SocketAddr) -> String {
    let ip = match target.ip() {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    if target.port() == 80 { ip } else { format!("{ip}:{}", target.port()) }
}

/// The request bytes (`version` "HTTP/1.0" or "HTTP/1.1").
fn request(version: &str, host: &str) -> Arc<[u8]> {
    format!("GET / {version}\r\nHost: {host}\r\nUser-Agent: tandem-lab\r\n\r\n").into_bytes().into()
}

/// One short request, timed and reported.
async fn short_task(target: SocketAddr, req: Arc<[u8]>, limit: Duration, emit: Emitter) {
    let t = now_ms();
    let r = timeout(limit, short_request(target, &req)).await.unwrap_or_else(|_| Err("timed out".to_owned()));
    let end = now_ms();
    let (ok, server, error) = outcome(r);
    emit.emit(&Event::Short { t, end, ok, server, error });
}

/// A short request: a new connection, the request, the response to the end; the server's name.
async fn short_request(target: SocketAddr, req: &[u8]) -> Result<String, String> {
    let mut stream = TcpStream::connect(target).await.map_err(io_error)?;
    stream.write_all(req).await.map_err(io_error)?;
    let mut buf = Vec::new();
    let resp = read_response(&mut stream, &mut buf, false).await?;
    if resp.status != 200 {
        return Err(format!("HTTP {}", resp.status));
    }
    server_name(&resp.body)
}

/// A long-lived connection: the stream and the bytes read past the last response.
struct LongConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// Opens a long-lived connection and has it answer a first request.
async fn open_long(target: SocketAddr, req: &[u8]) -> Result<(LongConn, String), String> {
    let stream = TcpStream::connect(target).await.map_err(io_error)?;
    let _ = stream.set_nodelay(true);
    let mut lc = LongConn { stream, buf: Vec::new() };
    let server = long_request(&mut lc, req).await?;
    Ok((lc, server))
}

/// A long-lived connection's requests, from `first` on every `every`, until one fails.
async fn run_long(
    conn: u32,
    mut lc: LongConn,
    first: Instant,
    every: Duration,
    limit: Duration,
    req: Arc<[u8]>,
    emit: Emitter,
) {
    let mut ticker = tokio::time::interval_at(first, every);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let t = now_ms();
        let r = timeout(limit, long_request(&mut lc, &req)).await.unwrap_or_else(|_| Err("timed out".to_owned()));
        let end = now_ms();
        let failed = r.is_err();
        let (ok, server, error) = outcome(r);
        emit.emit(&Event::Long { t, end, conn, ok, server, error });
        if failed {
            return; // drops (closes) the connection
        }
    }
}

/// One request on a long-lived connection; the server's name. The connection must stay open.
async fn long_request(lc: &mut LongConn, req: &[u8]) -> Result<String, String> {
    lc.stream.write_all(req).await.map_err(io_error)?;
    let resp = read_response(&mut lc.stream, &mut lc.buf, true).await?;
    if resp.status != 200 {
        return Err(format!("HTTP {}", resp.status));
    }
    let server = server_name(&resp.body)?;
    if resp.close {
        return Err(CLOSED.to_owned());
    }
    Ok(server)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::io::{AsyncRead, ReadBuf};
    use tokio::net::TcpListener;

    /// Hands out its pieces one read at a time, then end of file.
    struct Pieces(VecDeque<Vec<u8>>);

    impl Pieces {
        fn new(pieces: &[&[u8]]) -> Self {
            Self(pieces.iter().map(|p| p.to_vec()).collect())
        }
        /// `data` one byte per read.
        fn bytewise(data: &[u8]) -> Self {
            Self(data.iter().map(|b| vec![*b]).collect())
        }
    }

    impl AsyncRead for Pieces {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            out: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            if let Some(mut piece) = self.0.pop_front() {
                let n = piece.len().min(out.remaining());
                out.put_slice(&piece[..n]);
                if n < piece.len() {
                    self.0.push_front(piece.split_off(n));
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    fn read(mut r: Pieces, keep_alive: bool) -> (Result<Response, String>, Vec<u8>) {
        rt().block_on(async {
            let mut buf = Vec::new();
            let resp = read_response(&mut r, &mut buf, keep_alive).await;
            (resp, buf)
        })
    }

    const PY_200: &[u8] = b"HTTP/1.1 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.12.3\r\n\
        Date: Thu, 01 Jan 2026 00:00:00 GMT\r\nContent-type: text/html\r\n\
        Content-Length: 4\r\nLast-Modified: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\nrs1\n";

    #[test]
    fn parses_heads() {
        let (head, len) = parse_head(PY_200).unwrap().unwrap();
        assert_eq!(head, Head { status: 200, content_length: Some(4), chunked: false, close: false });
        assert_eq!(&PY_200[len..], b"rs1\n");
        assert_eq!(parse_head(&PY_200[..40]).unwrap(), None);
        let (head, _) = parse_head(b"HTTP/1.0 503 Service Unavailable\r\n\r\n").unwrap().unwrap();
        assert_eq!((head.status, head.close), (503, true));
        let (head, _) = parse_head(b"HTTP/1.1 200 OK\r\nconnection: Close\r\n\r\n").unwrap().unwrap();
        assert!(head.close);
        let (head, _) = parse_head(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n").unwrap().unwrap();
        assert!(!head.close);
        for garbage in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        ] {
            assert_eq!(parse_head(garbage), Err(BAD.to_owned()));
        }
    }

    #[test]
    fn reads_responses_split_across_reads() {
        let mut two = PY_200.to_vec();
        two.extend_from_slice(PY_200);
        let (resp, rest) = read(Pieces::bytewise(&two), true);
        let resp = resp.unwrap();
        assert_eq!((resp.status, &resp.body[..], resp.close), (200, &b"rs1\n"[..], false));
        // The next response stays in the buffer (the byte-wise reader stops at the body's end).
        assert!(rest.is_empty() || PY_200.starts_with(&rest));

        let (resp, _) = read(Pieces::new(&[b"HTTP/1.1 200 OK\r\nContent-Le", b"ngth: 4\r", b"\n\r\nrs", b"2\n"]), true);
        assert_eq!(server_name(&resp.unwrap().body).unwrap(), "rs2");

        // A close-delimited body (HTTP/1.0), only when the connection is not kept.
        let close = b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nrs3\n";
        let (resp, _) = read(Pieces::new(&[close]), false);
        assert_eq!(resp.unwrap().body, b"rs3\n");
        let (resp, _) = read(Pieces::new(&[b"HTTP/1.1 200 OK\r\n\r\nrs3\n"]), true);
        assert_eq!(resp, Err(BAD.to_owned()));

        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nrs\r\n2;x=y\r\n4\n\r\n0\r\n\r\n";
        let (resp, rest) = read(Pieces::bytewise(chunked), true);
        assert_eq!(resp.unwrap().body, b"rs4\n");
        assert!(rest.is_empty());

        let (resp, _) =
            read(Pieces::new(&[b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 3\r\n\r\nno\n"]), true);
        assert_eq!(resp.unwrap().status, 503);

        // The server goes away mid-response.
        let (resp, _) = read(Pieces::new(&[&PY_200[..PY_200.len() - 2]]), true);
        assert_eq!(resp, Err(CLOSED.to_owned()));
        let (resp, _) = read(Pieces::new(&[]), true);
        assert_eq!(resp, Err(CLOSED.to_owned()));
    }

    #[test]
    fn server_names() {
        assert_eq!(server_name(b"rs1\n").unwrap(), "rs1");
        assert_eq!(server_name(b"  rs2 \r\n").unwrap(), "rs2");
        assert_eq!(server_name(b"\n"), Err(BAD.to_owned()));
        assert_eq!(server_name(b"<html>\n<body>"), Err(BAD.to_owned()));
    }

    #[test]
    fn events_serialize() {
        let (ok, server, error) = outcome(Err("connection refused".into()));
        let line = serde_json::to_string(&Event::Short { t: 1, end: 2, ok, server, error }).unwrap();
        assert_eq!(line, r#"{"kind":"short","t":1,"end":2,"ok":false,"error":"connection refused"}"#);
        let (ok, server, error) = outcome(Ok("rs2".into()));
        let line = serde_json::to_string(&Event::Long { t: 1, end: 2, conn: 3, ok, server, error }).unwrap();
        assert_eq!(line, r#"{"kind":"long","t":1,"end":2,"conn":3,"ok":true,"server":"rs2"}"#);
        let servers = BTreeMap::from([("rs1".to_owned(), 10), ("rs2".to_owned(), 10)]);
        let line = serde_json::to_string(&Event::Opened { t: 1, conns: 20, servers, failed: 0 }).unwrap();
        assert_eq!(line, r#"{"kind":"opened","t":1,"conns":20,"servers":{"rs1":10,"rs2":10},"failed":0}"#);
        assert_eq!(serde_json::to_string(&Event::Stopped { t: 5 }).unwrap(), r#"{"kind":"stopped","t":5}"#);
    }

    /// A web server like `python3 -m http.server --protocol HTTP/1.1` serving "rs1\n":
    /// HTTP/1.0 requests get an answer and a close; HTTP/1.1 ones keep the connection, which
    /// is closed after `per_conn` requests.
    async fn server(per_conn: usize) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    for _ in 0..per_conn {
                        let end = loop {
                            if let Some(i) = find(&buf, b"\r\n\r\n") {
                                break i + 4;
                            }
                            match read_some(&mut s, &mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(_) => {}
                            }
                        };
                        let req: Vec<u8> = buf.drain(..end).collect();
                        let http10 = req.starts_with(b"GET / HTTP/1.0\r\n");
                        let resp = format!(
                            "{} 200 OK\r\nServer: test\r\nContent-type: text/html\r\n\
                             Content-Length: 4\r\n\r\nrs1\n",
                            if http10 { "HTTP/1.0" } else { "HTTP/1.1" }
                        );
                        if s.write_all(resp.as_bytes()).await.is_err() || http10 {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    fn lines(rx: &std::sync::mpsc::Receiver<Option<String>>) -> Vec<serde_json::Value> {
        rx.try_iter().map(|l| serde_json::from_str(&l.unwrap()).unwrap()).collect()
    }

    #[test]
    fn short_requests() {
        rt().block_on(async {
            let addr = server(100).await;
            let req = request("HTTP/1.0", &host_header(addr));
            assert_eq!(short_request(addr, &req).await.unwrap(), "rs1");

            let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let closed_addr = closed.local_addr().unwrap();
            drop(closed);
            let (tx, rx) = std::sync::mpsc::channel();
            short_task(closed_addr, req, Duration::from_millis(500), Emitter(tx)).await;
            let ev = &lines(&rx)[0];
            assert_eq!(ev["kind"], "short");
            assert_eq!(ev["ok"], false);
            assert_eq!(ev["error"], "connection refused");
        });
    }

    #[test]
    fn long_connection_until_the_server_closes_it() {
        rt().block_on(async {
            let addr = server(4).await;
            let req = request("HTTP/1.1", &host_header(addr));
            let (lc, server) = open_long(addr, &req).await.unwrap();
            assert_eq!(server, "rs1");
            let (tx, rx) = std::sync::mpsc::channel();
            let every = Duration::from_millis(10);
            let limit = Duration::from_millis(500);
            let run = run_long(7, lc, Instant::now(), every, limit, req, Emitter(tx));
            timeout(Duration::from_secs(1), run).await.unwrap();
            let evs = lines(&rx);
            assert_eq!(evs.len(), 4, "{evs:?}");
            for ev in &evs[..3] {
                assert_eq!(ev["kind"], "long");
                assert_eq!(ev["conn"], 7);
                assert_eq!(ev["ok"], true);
                assert_eq!(ev["server"], "rs1");
            }
            assert_eq!(evs[3]["ok"], false);
            let error = evs[3]["error"].as_str().unwrap();
            assert!(["closed by server", "connection reset"].contains(&error), "{error}");
        });
    }

    #[test]
    fn client_runs_until_stopped() {
        rt().block_on(async {
            let addr = server(1000).await;
            let args = ClientArgs {
                addr: addr.ip(),
                port: addr.port(),
                rate: 50,
                long: 3,
                every_ms: 60,
                timeout_ms: 500,
                long_timeout_ms: 500,
            };
            let (tx, rx) = std::sync::mpsc::channel();
            let (stop_tx, stop_rx) = mpsc::unbounded_channel();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                stop_tx.send(()).unwrap();
            });
            client(&args, &Emitter(tx), stop_rx).await;
            let evs = lines(&rx);
            assert_eq!(evs[0]["kind"], "opened", "{evs:?}");
            assert_eq!(evs[0]["conns"], 3);
            assert_eq!(evs[0]["failed"], 0);
            assert_eq!(evs[0]["servers"]["rs1"], 3);
            assert_eq!(evs.last().unwrap()["kind"], "stopped");
            let middle = &evs[1..evs.len() - 1];
            let shorts = middle.iter().filter(|e| e["kind"] == "short").count();
            let longs = middle.iter().filter(|e| e["kind"] == "long").count();
            assert!(shorts >= 8, "{evs:?}");
            assert!(longs >= 6, "{evs:?}");
            assert!(middle.iter().all(|e| e["ok"] == true && e["server"] == "rs1"), "{evs:?}");
            assert!(middle.iter().all(|e| e["t"].as_u64() <= e["end"].as_u64()));
        });
    }
}
