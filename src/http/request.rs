//! Reading an HTTP request head, by hand, under a deadline.
//!
//! tungstenite could do the handshake for us (`accept`), but it returns its
//! errors without writing any HTTP answer, and it cannot serve a plain page on
//! the same port. So the connection thread reads the request head itself, under
//! the handshake deadline, and every refusal gets a status and a reason.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A parsed request head: what the handshake needs to decide.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path without the query string, e.g. `/ws`.
    pub path: String,
    /// The query string without `?`, possibly empty.
    pub query: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// Header names and values in the order they came (values as UTF-8, lossy).
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// True when a comma-separated header contains `token` (case-insensitive),
    /// e.g. `Connection: keep-alive, Upgrade` contains `upgrade`.
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// What the HTTP stage reads from: bytes whose reads can be bounded in
/// time. A `TcpStream`, or a [`Conn`](crate::conn::Conn), plain or TLS.
pub trait Input: Read {
    /// Reads give up after `timeout`.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Input for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
}

/// Why no request head could be read.
#[derive(Debug)]
pub enum HeadError {
    /// The peer closed, reset or sent nothing before the deadline: nobody to answer.
    Gone(io::Error),
    /// The deadline passed in the middle of a request: answer 408.
    Timeout,
    /// The head is longer than the limit or has too many lines: answer 431.
    TooLarge(&'static str),
    /// Not HTTP: answer 400 with the parser's reason.
    Malformed(String),
}

/// Reads one request head from `stream`, giving up at `deadline`.
///
/// Returns the request and the bytes that came after the head (a WebSocket
/// client may send its first frame right behind the request; tungstenite must
/// get those bytes too).
pub fn read_head(
    stream: &mut impl Input,
    deadline: Instant,
    max_len: usize,
    max_headers: usize,
) -> Result<(Request, Vec<u8>), HeadError> {
    let mut buffer = Vec::with_capacity(1024);
    let request = read_next_head(stream, &mut buffer, deadline, max_len, max_headers)?;
    Ok((request, buffer))
}

/// Reads the next request head of a connection, starting with the bytes
/// already in `buffer` (on a kept-alive connection: what came after the
/// previous request and its body), and leaves in `buffer` what follows the
/// head.
pub fn read_next_head(
    stream: &mut impl Input,
    buffer: &mut Vec<u8>,
    deadline: Instant,
    max_len: usize,
    max_headers: usize,
) -> Result<Request, HeadError> {
    let mut chunk = [0u8; 1024];
    loop {
        if let Some((request, len)) = parse_head(buffer, max_headers)? {
            buffer.drain(..len);
            return Ok(request);
        }
        if buffer.len() >= max_len {
            return Err(HeadError::TooLarge("request head too large"));
        }
        // Why a read timeout here and nowhere else: before the upgrade there is
        // no reader thread; the deadline is what stops a slowloris client.
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(if buffer.is_empty() { HeadError::Gone(timed_out()) } else { HeadError::Timeout });
        }
        stream.set_read_timeout(Some(left)).map_err(HeadError::Gone)?;
        match stream.read(&mut chunk) {
            Ok(0) => return Err(HeadError::Gone(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => {
                return Err(if buffer.is_empty() { HeadError::Gone(e) } else { HeadError::Timeout })
            }
            Err(e) => return Err(HeadError::Gone(e)),
        }
    }
}

/// Parses a complete head from `buf`: `Ok(None)` means "not complete yet".
/// Returns the request and the length of the head in bytes.
pub fn parse_head(buf: &[u8], max_headers: usize) -> Result<Option<(Request, usize)>, HeadError> {
    let mut headers = vec![httparse::EMPTY_HEADER; max_headers];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge("too many header lines")),
        Err(e) => return Err(HeadError::Malformed(format!("malformed request: {e}"))),
    };
    let target = req.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let request = Request {
        method: req.method.unwrap_or("").to_string(),
        path: path.to_string(),
        query: query.to_string(),
        version: req.version.unwrap_or(1),
        headers: req
            .headers
            .iter()
            .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned()))
            .collect(),
    };
    Ok(Some((request, len)))
}

fn timed_out() -> io::Error {
    io::ErrorKind::TimedOut.into()
}

/// Read timeouts show up as `WouldBlock` on Unix and `TimedOut` on Windows.
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_complete_head_and_keeps_the_rest() {
        let raw = b"GET /ws?x=1 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n\r\nrest";
        let (req, len) = parse_head(raw, 8).unwrap().unwrap();
        assert_eq!((req.method.as_str(), req.path.as_str(), req.query.as_str()), ("GET", "/ws", "x=1"));
        assert_eq!(&raw[len..], b"rest");
        assert!(req.header_has_token("connection", "upgrade"));
        assert_eq!(req.header("HOST"), Some("a"));
    }

    #[test]
    fn partial_and_malformed_heads() {
        assert!(parse_head(b"GET / HTTP/1.1\r\nHost:", 8).unwrap().is_none());
        assert!(matches!(parse_head(b"\x00\x01 nonsense\r\n\r\n", 8), Err(HeadError::Malformed(_))));
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(9));
        assert!(matches!(parse_head(many.as_bytes(), 8), Err(HeadError::TooLarge(_))));
    }
}
