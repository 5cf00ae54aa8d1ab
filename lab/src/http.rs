//! Just enough HTTP/1.x for the lab's client: a response's head and body (Content-Length or
//! chunked), read from any async reader, and the short reasons a request failed.

use tokio::io::{AsyncRead, AsyncReadExt};

pub(crate) const BAD: &str = "bad response";
pub(crate) const CLOSED: &str = "closed by server";
/// Limits on what a response may be (the lab's are a few hundred bytes).
pub(crate) const MAX_HEAD: usize = 16 * 1024;
pub(crate) const MAX_BODY: usize = 1024 * 1024;

pub(crate) fn bad() -> String {
    BAD.to_owned()
}

/// A short human string for a socket error.
pub(crate) fn io_error(e: std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => "connection refused",
        K::ConnectionReset => "connection reset",
        K::ConnectionAborted => "connection aborted",
        K::TimedOut => "timed out",
        K::BrokenPipe => "broken pipe",
        K::HostUnreachable => "host unreachable",
        K::NetworkUnreachable => "network unreachable",
        K::UnexpectedEof => CLOSED,
        _ => return e.to_string(),
    }
    .to_owned()
}

/// A response's status line and the headers that matter.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) status: u16,
    pub(crate) content_length: Option<usize>,
    pub(crate) chunked: bool,
    /// The server closes the connection after this response.
    pub(crate) close: bool,
}

/// A whole response.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    pub(crate) close: bool,
}

/// Where `needle` starts in `hay`.
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses a response head at the start of `buf`: `None` if it is not all there yet, else the
/// head and its length (blank line included).
pub(crate) fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, String> {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| bad())?;
    let mut lines = text.split("\r\n");
    let mut status_line = lines.next().unwrap_or("").splitn(3, ' ');
    let http11 = match status_line.next() {
        Some("HTTP/1.1") => true,
        Some("HTTP/1.0") => false,
        _ => return Err(bad()),
    };
    let status = status_line.next().filter(|s| s.len() == 3).and_then(|s| s.parse::<u16>().ok()).ok_or_else(bad)?;
    let (mut content_length, mut chunked, mut close, mut keep_alive) = (None, false, false, false);
    for line in lines {
        let (name, value) = line.split_once(':').ok_or_else(bad)?;
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            let n = value.parse::<usize>().map_err(|_| bad())?;
            if content_length.is_some_and(|c| c != n) {
                return Err(bad());
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked |= value.split(',').any(|v| v.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                close |= token.eq_ignore_ascii_case("close");
                keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        }
    }
    let head = Head { status, content_length, chunked, close: close || (!http11 && !keep_alive) };
    Ok(Some((head, end + 4)))
}

/// Reads more into `buf`; 0 at end of file.
pub(crate) async fn read_some<R: AsyncRead + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> Result<usize, String> {
    let mut chunk = [0u8; 4096];
    let n = r.read(&mut chunk).await.map_err(io_error)?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

/// Reads more into `buf`; end of file is an error.
pub(crate) async fn fill<R: AsyncRead + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> Result<(), String> {
    match read_some(r, buf).await? {
        0 => Err(CLOSED.to_owned()),
        _ => Ok(()),
    }
}

/// Takes a CRLF-terminated line off the front of `buf`, reading as needed.
pub(crate) async fn take_line<R: AsyncRead + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> Result<Vec<u8>, String> {
    loop {
        if let Some(i) = find(buf, b"\r\n") {
            let line = buf[..i].to_vec();
            buf.drain(..i + 2);
            return Ok(line);
        }
        if buf.len() > MAX_HEAD {
            return Err(bad());
        }
        fill(r, buf).await?;
    }
}

/// Reads one response; `buf` holds bytes already read and keeps those past the response.
/// `keep_alive`: the connection is to stay open, so the body must be delimited (a body that
/// runs to the connection's end is read only when the connection is not kept).
pub(crate) async fn read_response<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    keep_alive: bool,
) -> Result<Response, String> {
    let head = loop {
        if let Some((head, len)) = parse_head(buf)? {
            buf.drain(..len);
            break head;
        }
        if buf.len() > MAX_HEAD {
            return Err(bad());
        }
        fill(r, buf).await?;
    };
    let body = if head.chunked {
        read_chunked(r, buf).await?
    } else if let Some(len) = head.content_length {
        if len > MAX_BODY {
            return Err(bad());
        }
        while buf.len() < len {
            fill(r, buf).await?;
        }
        buf.drain(..len).collect()
    } else if keep_alive && !head.close {
        return Err(match head.status {
            200 => bad(),
            status => format!("HTTP {status}"),
        });
    } else {
        while read_some(r, buf).await? > 0 {
            if buf.len() > MAX_BODY {
                return Err(bad());
            }
        }
        std::mem::take(buf)
    };
    Ok(Response { status: head.status, body, close: head.close })
}

/// A chunked body (its head already read).
pub(crate) async fn read_chunked<R: AsyncRead + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line = take_line(r, buf).await?;
        let line = std::str::from_utf8(&line).map_err(|_| bad())?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| bad())?;
        if size == 0 {
            // Trailers, up to the blank line.
            while !take_line(r, buf).await?.is_empty() {}
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(bad());
        }
        while buf.len() < size + 2 {
            fill(r, buf).await?;
        }
        if &buf[size..size + 2] != b"\r\n" {
            return Err(bad());
        }
        body.extend_from_slice(&buf[..size]);
        buf.drain(..size + 2);
    }
}

/// The server's name: the body, trimmed; one word.
pub(crate) fn server_name(body: &[u8]) -> Result<String, String> {
    let name = std::str::from_utf8(body).map_err(|_| bad())?.trim();
    if name.is_empty() || name.len() > 64 || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    Ok(name.to_owned())
}
