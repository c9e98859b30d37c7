//! A minimal WebSocket client, just enough for the bench, in three flavours:
//!
//! - [`Proto::Ws`]: wshub's `/ws` JSON envelope, `{"event":"name","data":...}`;
//! - [`Proto::SocketIo`]: socket.io v4 over WebSocket (`0{..}` open, `40`
//!   connect, `42["name",data]` events, server ping `2` answered with `3`);
//! - [`Proto::Tcp`]: no WebSocket at all, the raw TCP echo floor.
//!
//! Why our own framing instead of tungstenite: the receivers of the broadcast
//! measure live on non-blocking sockets behind one poller, and a frame parser
//! over a plain byte buffer is thirty lines. Server frames are never masked,
//! ours always are (RFC 6455 §5.3).
//!
//! Setup (TCP connect, upgrade, socket.io connect, the welcome event) is done
//! blocking with timeouts; the socket can then be switched to non-blocking
//! and handed to `mio` ([`Conn::into_nonblocking`]).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long any blocking step of the setup may take.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Which wire protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Ws,
    SocketIo,
    Tcp,
}

impl Proto {
    pub fn parse(s: &str) -> Result<Proto, String> {
        match s {
            "ws" => Ok(Proto::Ws),
            "socketio" => Ok(Proto::SocketIo),
            "tcp" => Ok(Proto::Tcp),
            _ => Err(format!("unknown protocol {s:?}: ws, socketio or tcp")),
        }
    }

    fn path(self) -> &'static str {
        match self {
            Proto::Ws => "/ws",
            Proto::SocketIo => "/socket.io/?EIO=4&transport=websocket",
            Proto::Tcp => "",
        }
    }
}

/// WebSocket opcodes we handle.
pub const OP_TEXT: u8 = 0x1;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// One parsed server frame: its opcode and where its payload is in the buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub opcode: u8,
    pub start: usize,
    pub end: usize,
}

/// Parses one unmasked frame at the start of `buf`; `None` if incomplete.
/// Returns the frame and the number of bytes it occupies.
pub fn parse_frame(buf: &[u8]) -> Option<(Frame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let opcode = buf[0] & 0x0F;
    let len7 = (buf[1] & 0x7F) as usize;
    let (len, header) = match len7 {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().ok()?) as usize, 10),
        126 | 127 => return None,
        n => (n, 2),
    };
    if buf.len() < header + len {
        return None;
    }
    Some((Frame { opcode, start: header, end: header + len }, header + len))
}

/// Appends one masked client frame to `out`.
pub fn encode_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask_seed: &mut u32) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    // xorshift: a different mask per frame, as the RFC asks; servers do not check.
    *mask_seed ^= *mask_seed << 13;
    *mask_seed ^= *mask_seed >> 17;
    *mask_seed ^= *mask_seed << 5;
    let mask = mask_seed.to_be_bytes();
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
}

/// The text payload of an event named `name` carrying `data` (raw JSON).
pub fn event_text(proto: Proto, name: &str, data: &str) -> String {
    match proto {
        Proto::Ws => format!("{{\"event\":\"{name}\",\"data\":{data}}}"),
        Proto::SocketIo => format!("42[\"{name}\",{data}]"),
        Proto::Tcp => data.to_string(),
    }
}

/// Finds `"seq":<digits>` in a message and returns the number.
pub fn find_seq(text: &[u8]) -> Option<u64> {
    let key = b"\"seq\":";
    let at = text.windows(key.len()).position(|w| w == key)? + key.len();
    let digits = text[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&text[at..at + digits]).ok()?.parse().ok()
}

/// True when `text` is an event named `name` in `proto`'s envelope.
pub fn is_event(proto: Proto, text: &[u8], name: &str) -> bool {
    let prefix = match proto {
        Proto::Ws => format!("{{\"event\":\"{name}\""),
        Proto::SocketIo => format!("42[\"{name}\""),
        Proto::Tcp => return true,
    };
    text.starts_with(prefix.as_bytes())
}

/// What a connection saw when its bytes were processed.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// A data message (WebSocket text, or a socket.io `42` event).
    Message(Vec<u8>),
    /// The server pinged (and we answered).
    Ping,
    /// The server closed or the socket ended.
    Closed,
}

/// One client connection, blocking during setup.
pub struct Conn {
    pub stream: TcpStream,
    pub proto: Proto,
    /// Bytes read but not yet parsed into frames.
    pub buf: Vec<u8>,
    mask_seed: u32,
    out: Vec<u8>,
}

impl Conn {
    /// Connects, upgrades and waits for the welcome event (`server-message`).
    pub fn open(addr: SocketAddr, proto: Proto, seed: u32) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, SETUP_TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(SETUP_TIMEOUT))?;
        stream.set_write_timeout(Some(SETUP_TIMEOUT))?;
        let mut conn = Conn { stream, proto, buf: Vec::with_capacity(512), mask_seed: seed | 1, out: Vec::new() };
        if proto == Proto::Tcp {
            return Ok(conn);
        }
        conn.upgrade(addr)?;
        if proto == Proto::SocketIo {
            // Engine.IO open, then connect to the default namespace.
            let open = conn.next_message()?;
            if !open.starts_with(b"0{") {
                return Err(bad(format!("expected the Engine.IO open packet, got {:?}", lossy(&open))));
            }
            conn.send_text(b"40")?;
            let connected = conn.next_message()?;
            if !connected.starts_with(b"40{") {
                return Err(bad(format!("expected the socket.io connect reply, got {:?}", lossy(&connected))));
            }
        }
        let welcome = conn.next_message()?;
        if !is_event(proto, &welcome, "server-message") {
            return Err(bad(format!("expected the welcome event, got {:?}", lossy(&welcome))));
        }
        Ok(conn)
    }

    fn upgrade(&mut self, addr: SocketAddr) -> io::Result<()> {
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            self.proto.path()
        );
        self.stream.write_all(request.as_bytes())?;
        let mut chunk = [0u8; 1024];
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > 16 * 1024 {
                return Err(bad("response head too long".into()));
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(bad("closed during the upgrade".into()));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        };
        if !self.buf.starts_with(b"HTTP/1.1 101") {
            let line = self.buf.split(|b| *b == b'\r').next().unwrap_or_default();
            return Err(bad(format!("upgrade refused: {}", lossy(line))));
        }
        self.buf.drain(..head_end); // frames may follow the head
        Ok(())
    }

    /// Sends one text frame (or, for raw TCP, the bytes themselves).
    pub fn send_text(&mut self, text: &[u8]) -> io::Result<()> {
        self.out.clear();
        if self.proto == Proto::Tcp {
            self.out.extend_from_slice(text);
        } else {
            encode_frame(&mut self.out, OP_TEXT, text, &mut self.mask_seed);
        }
        write_all_retrying(&mut self.stream, &self.out)
    }

    /// Sends an event in this connection's protocol.
    pub fn emit(&mut self, name: &str, data: &str) -> io::Result<()> {
        let text = event_text(self.proto, name, data);
        self.send_text(text.as_bytes())
    }

    /// Blocks for the next data message, answering pings on the way.
    pub fn next_message(&mut self) -> io::Result<Vec<u8>> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(seen) = self.take_one()? {
                match seen {
                    Seen::Message(m) => return Ok(m),
                    Seen::Ping => continue,
                    Seen::Closed => return Err(bad("the server closed the connection".into())),
                }
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(bad("the server closed the connection".into()));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Raw TCP: blocks until exactly `n` bytes have come back.
    pub fn read_exact_tcp(&mut self, n: usize) -> io::Result<()> {
        let mut chunk = [0u8; 4096];
        while self.buf.len() < n {
            let got = self.stream.read(&mut chunk)?;
            if got == 0 {
                return Err(bad("the server closed the connection".into()));
            }
            self.buf.extend_from_slice(&chunk[..got]);
        }
        self.buf.drain(..n);
        Ok(())
    }

    /// Parses one frame from the buffer, if a whole one is there. Answers
    /// WebSocket pings with a pong and socket.io pings (`2`) with `3`.
    pub fn take_one(&mut self) -> io::Result<Option<Seen>> {
        let Some((frame, used)) = parse_frame(&self.buf) else {
            return Ok(None);
        };
        let payload = self.buf[frame.start..frame.end].to_vec();
        self.buf.drain(..used);
        let seen = match frame.opcode {
            OP_PING => {
                self.out.clear();
                encode_frame(&mut self.out, OP_PONG, &payload, &mut self.mask_seed);
                write_all_retrying(&mut self.stream, &self.out)?;
                Seen::Ping
            }
            OP_CLOSE => Seen::Closed,
            OP_PONG => return Ok(Some(Seen::Ping)),
            _ if self.proto == Proto::SocketIo && payload == b"2" => {
                self.send_text(b"3")?;
                Seen::Ping
            }
            _ => Seen::Message(payload),
        };
        Ok(Some(seen))
    }

    /// Switches to non-blocking mode for the poller.
    pub fn into_nonblocking(self) -> io::Result<Conn> {
        self.stream.set_nonblocking(true)?;
        Ok(self)
    }

    /// Non-blocking: reads everything available into the buffer. Returns false
    /// when the socket reached EOF or failed.
    /// `scratch` is shared by all connections of a poller (no zeroing per read).
    pub fn fill(&mut self, scratch: &mut [u8]) -> bool {
        loop {
            match self.stream.read(scratch) {
                Ok(0) => return false,
                Ok(n) => self.buf.extend_from_slice(&scratch[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
    }
}

/// `write_all` that also works on a non-blocking socket: the frames the bench
/// sends are tiny, so a full send buffer is rare; when it happens, wait a
/// moment (bounded: 10 s in total) and retry.
fn write_all_retrying(stream: &mut TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    let deadline = std::time::Instant::now() + SETUP_TIMEOUT;
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_micros(100))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub fn bad(message: String) -> io::Error {
    io::Error::other(message)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_through_unmasking() {
        let mut out = Vec::new();
        let mut seed = 7;
        encode_frame(&mut out, OP_TEXT, b"hello", &mut seed);
        // Unmask by hand, as a server would.
        let mask = [out[2], out[3], out[4], out[5]];
        let payload: Vec<u8> = out[6..].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
        assert_eq!(payload, b"hello");
        assert_eq!(out[1] & 0x7F, 5);
    }

    #[test]
    fn parses_short_and_extended_lengths() {
        let short = [0x81, 2, b'h', b'i', 0x89];
        let (f, used) = parse_frame(&short).unwrap();
        assert_eq!((f.opcode, &short[f.start..f.end], used), (OP_TEXT, &b"hi"[..], 4));
        let mut long = vec![0x81, 126, 1, 0];
        long.extend(std::iter::repeat_n(b'x', 256));
        assert_eq!(parse_frame(&long).unwrap().1, 260);
        assert!(parse_frame(&long[..100]).is_none());
    }

    #[test]
    fn finds_events_and_sequence_numbers() {
        let ws = event_text(Proto::Ws, "broadcast", r#"{"seq":42,"pad":"x"}"#);
        assert!(is_event(Proto::Ws, ws.as_bytes(), "broadcast"));
        assert_eq!(find_seq(ws.as_bytes()), Some(42));
        let sio = event_text(Proto::SocketIo, "broadcast", r#"{"seq":7}"#);
        assert_eq!(sio, r#"42["broadcast",{"seq":7}]"#);
        assert!(is_event(Proto::SocketIo, sio.as_bytes(), "broadcast"));
        assert!(!is_event(Proto::SocketIo, sio.as_bytes(), "client-message"));
    }
}
