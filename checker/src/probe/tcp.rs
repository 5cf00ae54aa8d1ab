//! TCP_CHECK: the connection is accepted (keepalived/check/check_tcp.c).

use super::socket::{deadline_of, tcp_connect};
use super::{ProbeResult, Success, Target};

/// Connects to `target` and closes at once; success when the handshake completes.
pub async fn probe(target: &Target) -> ProbeResult {
    let stream = tcp_connect(target, deadline_of(target)).await?;
    drop(stream);
    Ok(Success::default())
}
