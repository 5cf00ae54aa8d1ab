//! SMTP_CHECK: the server greets with 220, accepts `HELO` with 250, and answers `QUIT`
//! (keepalived/check/check_smtp.c).

use super::socket::{by_deadline, deadline_from, tcp_connect};
use super::{Failure, ProbeResult, Success, Target, describe_io_error};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::time::Instant;

/// keepalived's SMTP_DEFAULT_HELO.
pub const DEFAULT_HELO: &str = "smtpchecker.keepalived.org";

/// Longest reply line read (keepalived's SMTP_BUFF_MAX).
const MAX_LINE: usize = 512;

/// SMTP_CHECK settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// `helo_name`.
    pub helo_name: String,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        SmtpSettings { helo_name: DEFAULT_HELO.to_string() }
    }
}

/// Runs the conversation.
///
/// `start` is when the attempt began; it ends by `start + connect_timeout`.
pub async fn probe(target: &Target, settings: &SmtpSettings, start: Instant) -> ProbeResult {
    let deadline = deadline_from(start, target);
    let stream = tcp_connect(target, deadline).await?;
    by_deadline(deadline, target, "SMTP", converse(stream, &settings.helo_name)).await?;
    Ok(Success::default())
}

/// Banner, HELO, QUIT: keepalived's `smtp_engine_thread` states.
async fn converse<S: AsyncRead + AsyncWrite + Unpin>(stream: S, helo: &str) -> Result<(), Failure> {
    let mut stream = BufReader::new(stream);
    let banner = read_line(&mut stream, "greeting").await?;
    if status(&banner) != Some(220) {
        return Err(Failure::new(format!("bad greeting `{banner}`")));
    }
    write_line(&mut stream, &format!("HELO {helo}\r\n")).await?;
    let reply = read_line(&mut stream, "HELO reply").await?;
    if status(&reply) != Some(250) {
        return Err(Failure::new(format!("bad HELO reply `{reply}`")));
    }
    write_line(&mut stream, "QUIT\r\n").await?;
    // keepalived waits for one more line, whatever it says.
    read_line(&mut stream, "QUIT reply").await?;
    Ok(())
}

async fn write_line<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut BufReader<S>, line: &str) -> Result<(), Failure> {
    stream
        .get_mut()
        .write_all(line.as_bytes())
        .await
        .map_err(|e| Failure::new(format!("cannot send {}: {}", line.trim_end(), describe_io_error(&e))))
}

/// One line, without its end, lossily decoded; a closed connection is a failure.
async fn read_line<S: AsyncRead + Unpin>(stream: &mut BufReader<S>, what: &str) -> Result<String, Failure> {
    let mut line = Vec::new();
    let n = (&mut *stream)
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| Failure::new(format!("no {what}: {}", describe_io_error(&e))))?;
    if n == 0 {
        return Err(Failure::new(format!("connection closed before the {what}")));
    }
    if line.last() != Some(&b'\n') {
        return Err(Failure::new(format!("{what} line too long or cut short")));
    }
    Ok(String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']).to_string())
}

/// The reply code as keepalived reads it (`smtp_get_status`): exactly three digits, then a
/// space or the end of the line. A multi-line `220-` greeting does not count.
fn status(line: &str) -> Option<u16> {
    let digits = line.get(..3)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(line.as_bytes().get(3), None | Some(b' ')) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn reply_codes_read_like_keepalived() {
        assert_eq!(status("220 mail.example.com ESMTP"), Some(220));
        assert_eq!(status("250"), Some(250));
        assert_eq!(status("220-first line"), None);
        assert_eq!(status("22"), None);
        assert_eq!(status("2200 x"), None);
        assert_eq!(status("é20 x"), None);
    }
}
