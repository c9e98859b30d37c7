//! Writing an HTTP response: a page, a refusal with its reason, a polling body.

use std::io::{self, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use crate::conn::Conn;

/// An HTTP response the server sends and then closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code, e.g. 403.
    pub status: u16,
    /// Extra headers, e.g. `Sec-WebSocket-Version: 13` on a 426.
    pub headers: Vec<(&'static str, String)>,
    /// `Content-Type` of the body.
    pub content_type: &'static str,
    /// The body: a page, or a one-line reason for a refusal.
    pub body: Vec<u8>,
}

impl Response {
    /// A refusal: a status with a plain-text, one-line reason as the body.
    pub fn refusal(status: u16, reason: impl Into<String>) -> Response {
        let mut body = reason.into().into_bytes();
        body.push(b'\n');
        Response { status, headers: Vec::new(), content_type: "text/plain; charset=utf-8", body }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// The reason text of the body, without the newline.
    pub fn reason(&self) -> String {
        String::from_utf8_lossy(&self.body).trim_end().to_string()
    }

    /// Writes the response. `head_only` leaves out the body (for `HEAD`).
    pub fn write_to(&self, out: &mut impl Write, head_only: bool) -> io::Result<()> {
        self.write_with(out, head_only, false)
    }

    /// Writes the response, saying whether the connection stays open for
    /// another request (`keep_alive`, used by socket.io's long-polling).
    pub fn write_with(&self, out: &mut impl Write, head_only: bool, keep_alive: bool) -> io::Result<()> {
        let connection = if keep_alive { "keep-alive" } else { "close" };
        let mut bytes = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {connection}\r\n",
            self.status,
            status_text(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            bytes.push_str(&format!("{name}: {value}\r\n"));
        }
        bytes.push_str("\r\n");
        let mut bytes = bytes.into_bytes();
        if !head_only {
            bytes.extend_from_slice(&self.body);
        }
        out.write_all(&bytes)?;
        out.flush()
    }
}

/// The standard reason phrase of the statuses wshub sends.
pub fn status_text(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        301 => "Moved Permanently",
        304 => "Not Modified",
        204 => "No Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        421 => "Misdirected Request",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// After the last answer on a connection: half-closes and drains what the
/// client still sends (up to a limit), so the kernel sends FIN rather than
/// RST and the client reads the answer. (Closing a socket with unread bytes,
/// such as a refused body, makes the kernel reset the connection, and a
/// reset can destroy the answer before the client reads it.) Bounded in
/// bytes (64 KiB) and time (1 s): a client that keeps sending cannot hold
/// the thread.
pub fn linger(stream: &Conn) {
    stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut sink = [0u8; 1024];
    for _ in 0..64 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut sink) {
            Ok(n) if n > 0 => continue,
            _ => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_a_complete_http_response() {
        let mut out = Vec::new();
        Response::refusal(426, "use version 13")
            .with_header("Sec-WebSocket-Version", "13")
            .write_to(&mut out, false)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
        assert!(text.contains("Sec-WebSocket-Version: 13\r\n"));
        assert!(text.ends_with("\r\n\r\nuse version 13\n"));
    }
}
