//! The control socket: a Unix stream socket (`/run/tandem/control.sock` unless
//! `--control-socket` says otherwise), root's only (the directory 0700, the socket 0600),
//! where `tandem status` and `tandem reload` talk to the running daemon.
//!
//! The protocol is one request line (`status`, `reload`, or `drill` followed by the drill's
//! request as JSON), answered by one JSON document,
//! after which the daemon closes the connection. A connection that sends nothing within
//! 5 s, or more than a line, is closed without an answer.

use super::control_request::{self, Ask};
use super::status::{self, Parts};
use serde::Serialize;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

/// Where the socket is unless `--control-socket` says otherwise.
pub const DEFAULT_PATH: &str = "/run/tandem/control.sock";

/// How long a client may take to send its request.
const REQUEST_WITHIN: Duration = Duration::from_secs(5);

/// A request for the main loop.
pub enum Request {
    /// What the loop knows, for a status.
    Status(oneshot::Sender<Parts>),
    /// Reload the configuration; the outcome.
    Reload(oneshot::Sender<Result<String, String>>),
    /// A failover drill; its report.
    Drill(super::drill::DrillRequest, oneshot::Sender<super::drill::Report>),
}

/// The answer to `reload`.
#[derive(Debug, Serialize)]
struct Reloaded {
    ok: bool,
    message: String,
}

/// The socket, bound: `None` when another tandem already answers on `path` (logged; this one
/// runs without).
pub fn bind(path: &Path) -> Result<Option<UnixListener>, String> {
    let what = |e: std::io::Error| format!("control socket {}: {e}", path.display());
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(what)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(what)?;
        }
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            warn!(
                path = %path.display(),
                "another tandem answers on this control socket; this one runs without (give it its own with --control-socket)"
            );
            return Ok(None);
        }
        // Left by a tandem that did not stop cleanly.
        std::fs::remove_file(path).map_err(what)?;
    }
    let listener = UnixListener::bind(path).map_err(what)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(what)?;
    Ok(Some(listener))
}

/// Removes the socket at stop (if it is still this process's).
pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// Answers connections until the listener fails or the loop goes away.
pub async fn serve(listener: UnixListener, requests: mpsc::Sender<Request>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let requests = requests.clone();
                tokio::spawn(async move {
                    if let Err(e) = answer(stream, requests).await {
                        debug!(error = %e, "control connection");
                    }
                });
            }
            Err(e) => {
                warn!(error = %e, "control socket: accept failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        if requests.is_closed() {
            return;
        }
    }
}

async fn answer(stream: UnixStream, requests: mpsc::Sender<Request>) -> Result<(), String> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(1024));
    tokio::time::timeout(REQUEST_WITHIN, reader.read_line(&mut line))
        .await
        .map_err(|_| "no request within 5 s".to_string())?
        .map_err(|e| e.to_string())?;
    let body = match control_request::parse(&line)? {
        Ask::Status => {
            let (status, _) = status::gather(&requests).await?;
            serde_json::to_string(&status).map_err(|e| e.to_string())?
        }
        Ask::Reload => {
            let (tx, rx) = oneshot::channel();
            requests.send(Request::Reload(tx)).await.map_err(|_| "stopping")?;
            let outcome = rx.await.map_err(|_| "stopping")?;
            let r = match outcome {
                Ok(message) => Reloaded { ok: true, message },
                Err(message) => Reloaded { ok: false, message },
            };
            serde_json::to_string(&r).map_err(|e| e.to_string())?
        }
        Ask::Drill(req) => {
            let (tx, rx) = oneshot::channel();
            requests.send(Request::Drill(req, tx)).await.map_err(|_| "stopping")?;
            let report = rx.await.map_err(|_| "stopping")?;
            serde_json::to_string(&report).map_err(|e| e.to_string())?
        }
    };
    write.write_all(body.as_bytes()).await.map_err(|e| e.to_string())?;
    write.write_all(b"\n").await.map_err(|e| e.to_string())?;
    write.shutdown().await.map_err(|e| e.to_string())
}
