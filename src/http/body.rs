//! Request bodies: how long one is (RFC 9112 §6), and reading it whole.
//!
//! On a kept-alive connection the server reads the next request right where
//! the body of this one ends. If the server and a proxy in front of it
//! disagree on where that is, the rest of a body is read as a request of its
//! own, one the proxy never saw ("request smuggling"). So the length is
//! decided strictly, from the head alone, and every body is either read to
//! its last byte or refused; a refused body closes the connection, because
//! some of its bytes are still unread:
//!
//! ```text
//! no Content-Length, no Transfer-Encoding  → no body
//! Content-Length: 17                       → 17 bytes (digits only, one header)
//! Transfer-Encoding: chunked               → chunks until the 0-size chunk and the trailer
//! both, two Content-Lengths, "+1", "1, 1"  → 400, close
//! chunked not last, TE in HTTP/1.0         → 400, close
//! gzip, chunked (a coding we do not do)    → 501, close
//! over the limit                           → 413, close (before reading it)
//! not complete before the deadline         → 408, close
//! ```

use std::io;
use std::time::Instant;

use super::request::{is_timeout, Input, Request};
use super::Response;

/// Longest chunk-size line (with its extensions), and the most trailer bytes.
const MAX_CHUNK_LINE: usize = 4096;
const MAX_TRAILER: usize = 8192;

/// How the length of a request body is known (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Neither `Content-Length` nor `Transfer-Encoding`: no body.
    None,
    /// `Content-Length`: exactly this many bytes (`u64::MAX` when the number
    /// does not fit, which every limit refuses).
    Length(u64),
    /// `Transfer-Encoding: chunked`: chunks up to a chunk of size 0.
    Chunked,
}

impl Framing {
    /// True when the request has no body, or an empty one by its length.
    pub fn is_empty(self) -> bool {
        matches!(self, Framing::None | Framing::Length(0))
    }
}

/// A body that was not read. Answer with the response and then close the
/// connection: the body's bytes, or some of them, are still unread, and on a
/// kept-alive connection they would be read as the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyRefused(pub Response);

fn refuse<T>(status: u16, reason: impl Into<String>) -> Result<T, BodyRefused> {
    Err(BodyRefused(Response::refusal(status, reason)))
}

/// Decides the framing of `req`'s body from its head alone.
pub fn framing(req: &Request) -> Result<Framing, BodyRefused> {
    let values = |name: &str| -> Vec<&str> {
        req.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    };
    let (te, cl) = (values("Transfer-Encoding"), values("Content-Length"));
    if !te.is_empty() {
        // RFC 9112 §6.1: TE with CL is the classic smuggling request; a
        // server may read it by TE alone, but must close after it anyway.
        // Refusing is simpler and tells the client why.
        if !cl.is_empty() {
            return refuse(400, "Transfer-Encoding and Content-Length together: the body's length is ambiguous");
        }
        if req.version == 0 {
            return refuse(400, "Transfer-Encoding in an HTTP/1.0 request");
        }
        let codings: Vec<String> = te
            .iter()
            .flat_map(|v| v.split(','))
            .map(|c| c.trim().to_ascii_lowercase())
            .filter(|c| !c.is_empty())
            .collect();
        let chunked = codings.iter().filter(|c| *c == "chunked").count();
        return match codings.last().map(String::as_str) {
            Some("chunked") if chunked > 1 => refuse(400, "chunked applied twice: the body's length is ambiguous"),
            Some("chunked") if codings.len() == 1 => Ok(Framing::Chunked),
            Some("chunked") => {
                refuse(501, format!("transfer coding {} is not supported: send chunked alone", codings[0]))
            }
            // The length cannot be known at all (RFC 9112 §6.3, item 4).
            _ => refuse(400, "chunked must be the last transfer coding: the body's length is unknown"),
        };
    }
    match cl.as_slice() {
        [] => Ok(Framing::None),
        // Even two equal values: RFC 9110 §8.6 allows merging them, but a
        // proxy that took the other one would be out of step with us.
        [_, _, ..] => refuse(400, "more than one Content-Length header"),
        [value] => {
            let value = value.trim_matches([' ', '\t']);
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return refuse(400, format!("Content-Length must be digits only, not {value:?}"));
            }
            Ok(Framing::Length(value.parse().unwrap_or(u64::MAX)))
        }
    }
}

/// Reads the whole body of `req`, starting with the bytes already in
/// `buffer` (what came behind the head) and leaving in `buffer` what comes
/// after the body (the next request of a kept-alive connection). A body
/// over `max` bytes is refused with 413 before it is read; one that is not
/// complete at `deadline` gets 408.
pub fn read(
    stream: &mut impl Input,
    req: &Request,
    buffer: &mut Vec<u8>,
    max: usize,
    deadline: Instant,
) -> Result<Vec<u8>, BodyRefused> {
    match framing(req)? {
        Framing::None => Ok(Vec::new()),
        Framing::Length(len) => {
            if len > max as u64 {
                return refuse(413, format!("body of {len} bytes is over the limit of {max} bytes"));
            }
            let len = len as usize;
            while buffer.len() < len {
                read_more(stream, buffer, deadline)?;
            }
            let rest = buffer.split_off(len);
            Ok(std::mem::replace(buffer, rest))
        }
        Framing::Chunked => {
            let mut chunked = Chunked::new(max);
            loop {
                let used = chunked.feed(buffer)?;
                buffer.drain(..used);
                if chunked.is_done() {
                    return Ok(chunked.body);
                }
                read_more(stream, buffer, deadline)?;
            }
        }
    }
}

/// One read from `stream` onto the end of `buffer`, giving up at `deadline`.
fn read_more(stream: &mut impl Input, buffer: &mut Vec<u8>, deadline: Instant) -> Result<(), BodyRefused> {
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return refuse(408, "body not received in time");
        }
        match stream.read(&mut chunk) {
            Ok(0) => return refuse(400, "connection closed in the middle of the body"),
            Ok(n) => {
                buffer.extend_from_slice(&chunk[..n]);
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => return refuse(408, "body not received in time"),
            Err(e) => return refuse(400, format!("connection failed in the middle of the body: {e}")),
        }
    }
}

/// Where a chunked body is (RFC 9112 §7.1):
/// `size[;ext] CRLF data CRLF … 0 CRLF [trailer lines] CRLF`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, with this many bytes still to come.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines up to an empty line.
    Trailer,
    /// The body is complete.
    Done,
}

/// Decodes a chunked body as its bytes arrive, without ever holding more
/// than the decoded body (at most `max` bytes) and one line.
#[derive(Debug)]
struct Chunked {
    state: State,
    body: Vec<u8>,
    max: usize,
    trailer: usize,
}

impl Chunked {
    fn new(max: usize) -> Chunked {
        Chunked { state: State::Size, body: Vec::new(), max, trailer: 0 }
    }

    fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Takes what it can of `input` and returns how many bytes it used; the
    /// rest (an incomplete line, or what follows the body) stays unread.
    fn feed(&mut self, input: &[u8]) -> Result<usize, BodyRefused> {
        let mut at = 0;
        loop {
            let rest = &input[at..];
            match self.state {
                State::Done => return Ok(at),
                State::Size => {
                    let Some(line) = line(rest, MAX_CHUNK_LINE, "chunk size line")? else { return Ok(at) };
                    at += line.len() + 2;
                    let size = chunk_size(line)?;
                    if size == 0 {
                        self.state = State::Trailer;
                    } else if size > (self.max - self.body.len()) as u64 {
                        return refuse(413, format!("chunked body is over the limit of {} bytes", self.max));
                    } else {
                        self.state = State::Data(size);
                    }
                }
                State::Data(left) => {
                    let take = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    if take == 0 {
                        return Ok(at);
                    }
                    self.body.extend_from_slice(&rest[..take]);
                    at += take;
                    let left = left - take as u64;
                    self.state = if left == 0 { State::DataEnd } else { State::Data(left) };
                }
                State::DataEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        at += 2;
                        self.state = State::Size;
                    }
                    [] | [b'\r'] => return Ok(at),
                    _ => return refuse(400, "chunk data must end in CRLF"),
                },
                State::Trailer => {
                    let Some(line) = line(rest, MAX_TRAILER, "trailer line")? else { return Ok(at) };
                    at += line.len() + 2;
                    self.trailer += line.len() + 2;
                    if line.is_empty() {
                        self.state = State::Done;
                    } else if self.trailer > MAX_TRAILER {
                        return refuse(431, "trailer section too large");
                    }
                    // Trailer fields are read and dropped: wshub uses none.
                }
            }
        }
    }
}

/// The next CRLF-terminated line of `input` (without the CRLF), `None` when
/// it is not complete yet. A bare LF or CR is refused: parsers that accept
/// one and parsers that do not would split the body differently.
fn line<'a>(input: &'a [u8], max: usize, what: &str) -> Result<Option<&'a [u8]>, BodyRefused> {
    let Some(lf) = input.iter().position(|&b| b == b'\n') else {
        if input.len() > max {
            return refuse(400, format!("{what} over {max} bytes"));
        }
        return Ok(None);
    };
    if lf == 0 || input[lf - 1] != b'\r' || input[..lf - 1].contains(&b'\r') {
        return refuse(400, format!("a {what} must end in CRLF, not a bare LF or CR"));
    }
    if lf - 1 > max {
        return refuse(400, format!("{what} over {max} bytes"));
    }
    Ok(Some(&input[..lf - 1]))
}

/// `1*HEXDIG [ BWS ";" extensions ]`: the size; extensions are ignored.
fn chunk_size(line: &[u8]) -> Result<u64, BodyRefused> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let rest = &line[digits..];
    let ext = rest.iter().position(|b| !matches!(b, b' ' | b'\t')).map(|i| &rest[i..]).unwrap_or(&[]);
    let well_formed = digits > 0
        && (rest.is_empty() || ext.first() == Some(&b';'))
        && ext.iter().all(|&b| b == b'\t' || (b' '..0x7f).contains(&b) || b >= 0x80);
    if !well_formed {
        let shown = String::from_utf8_lossy(&line[..line.len().min(40)]).into_owned();
        return refuse(400, format!("bad chunk size line {shown:?}"));
    }
    if digits > 16 {
        return refuse(413, "chunk size is over the limit");
    }
    let hex = std::str::from_utf8(&line[..digits]).unwrap_or("0");
    Ok(u64::from_str_radix(hex, 16).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_head;

    fn framing_of(headers: &str) -> Result<Framing, u16> {
        let raw = format!("POST / HTTP/1.1\r\n{headers}\r\n");
        let (req, _) = parse_head(raw.as_bytes(), 16).unwrap().unwrap();
        framing(&req).map_err(|BodyRefused(r)| r.status)
    }

    #[test]
    fn framing_follows_rfc_9112() {
        assert_eq!(framing_of(""), Ok(Framing::None));
        assert_eq!(framing_of("Content-Length: 0\r\n"), Ok(Framing::Length(0)));
        assert_eq!(framing_of("Content-Length:  12 \r\n"), Ok(Framing::Length(12)));
        assert_eq!(framing_of("Content-Length: 99999999999999999999999\r\n"), Ok(Framing::Length(u64::MAX)));
        assert_eq!(framing_of("Transfer-Encoding: Chunked\r\n"), Ok(Framing::Chunked));
        assert_eq!(framing_of("Transfer-Encoding: ,chunked\r\n"), Ok(Framing::Chunked));
        for bad in [
            "Content-Length: +1\r\n",
            "Content-Length: -1\r\n",
            "Content-Length: 1,1\r\n",
            "Content-Length: 0x10\r\n",
            "Content-Length: \r\n",
            "Content-Length: 1\r\nContent-Length: 1\r\n",
            "Transfer-Encoding: chunked\r\nContent-Length: 1\r\n",
            "Transfer-Encoding: chunked, chunked\r\n",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: chunked, gzip\r\n",
            "Transfer-Encoding: identity\r\n",
            "Transfer-Encoding: \r\n",
        ] {
            assert_eq!(framing_of(bad), Err(400), "{bad:?}");
        }
        assert_eq!(framing_of("Transfer-Encoding: gzip, chunked\r\n"), Err(501));
        let (req, _) = parse_head(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 16).unwrap().unwrap();
        assert_eq!(framing(&req).map_err(|BodyRefused(r)| r.status), Err(400));
    }

    /// Feeds `input` in pieces of `step` bytes, as reads would bring it.
    fn decode(input: &[u8], step: usize, max: usize) -> Result<(Vec<u8>, usize), u16> {
        let mut chunked = Chunked::new(max);
        let (mut buffer, mut consumed) = (Vec::new(), 0);
        for piece in input.chunks(step) {
            buffer.extend_from_slice(piece);
            let used = chunked.feed(&buffer).map_err(|BodyRefused(r)| r.status)?;
            buffer.drain(..used);
            consumed += used;
            if chunked.is_done() {
                return Ok((chunked.body, consumed));
            }
        }
        Err(0) // incomplete
    }

    #[test]
    fn chunked_bodies_decode_in_any_pieces() {
        let wire = b"4\r\nWiki\r\n5;a=b ; c=\"d e\"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for step in [1, 2, 3, 7, 100] {
            let (body, used) = decode(wire, step, 100).unwrap();
            assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.");
            assert_eq!(&wire[used..], b"NEXT", "step {step}");
        }
    }

    #[test]
    fn bad_chunked_bodies_are_refused() {
        assert_eq!(decode(b"5\r\nhello\r\n0\r\n\r\n", 1, 4), Err(413));
        assert_eq!(decode(b"ffffffffffffffffff\r\n", 1, 4), Err(413));
        for bad in [
            &b"x\r\n"[..],
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"5 \r\nhello\r\n0\r\n\r\n",
            b"5;a\rb\r\nhello\r\n0\r\n\r\n",
            b"-5\r\n",
            b"0\r\nX-T: 1\n\r\n",
        ] {
            assert_eq!(decode(bad, 1, 100), Err(400), "{:?}", String::from_utf8_lossy(bad));
        }
        let long = format!("1;{}\r\n", "e".repeat(MAX_CHUNK_LINE));
        assert_eq!(decode(long.as_bytes(), 100, 100), Err(400));
        let trailer = format!("0\r\n{}", "X-T: 1\r\n".repeat(2000));
        assert_eq!(decode(trailer.as_bytes(), 100, 100), Err(431));
    }
}
