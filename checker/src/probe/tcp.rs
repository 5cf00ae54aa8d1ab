//! TCP_CHECK: the connection is accepted (keepalived/check/check_tcp.c).

use super::socket::{deadline_from, tcp_connect};
use super::{ProbeResult, Success, Target};
use tokio::time::Instant;

/// Connects to `target` and closes at once; success when the handshake completes.
///
/// `start` is when the attempt began; it ends by `start + connect_timeout`.
pub async fn probe(target: &Target, start: Instant) -> ProbeResult {
    let stream = tcp_connect(target, deadline_from(start, target)).await?;
    // Closed as the TCP_CHECKs of [`crate::connects`] are: aborted.
    crate::connects::abort_on_close(&socket2::SockRef::from(&stream));
    drop(stream);
    Ok(Success::default())
}
