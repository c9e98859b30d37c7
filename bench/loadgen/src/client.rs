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
use std::os::fd::AsRawFd;
use std::time::Duration;

/// The key of RFC 6455's example handshake (§1.3) and its accept value. The
/// bench always sends this key; the write floor answers with this value.
pub const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

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

/// One parsed frame: its opcode, where its payload is in the buffer, and its
/// mask (client frames are masked, server frames are not).
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub opcode: u8,
    pub start: usize,
    pub end: usize,
    pub mask: Option<[u8; 4]>,
}

/// Parses one frame at the start of `buf`; `None` if incomplete. Returns the
/// frame and the number of bytes it occupies.
pub fn parse_frame(buf: &[u8]) -> Option<(Frame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let opcode = buf[0] & 0x0F;
    let masked = buf[1] & 0x80 != 0;
    let len7 = (buf[1] & 0x7F) as usize;
    let (len, mut header) = match len7 {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().ok()?) as usize, 10),
        126 | 127 => return None,
        n => (n, 2),
    };
    let mask = if masked {
        let m: [u8; 4] = buf.get(header..header + 4)?.try_into().ok()?;
        header += 4;
        Some(m)
    } else {
        None
    };
    if buf.len() < header + len {
        return None;
    }
    Some((Frame { opcode, start: header, end: header + len, mask }, header + len))
}

/// Appends one unmasked server frame to `out` (the write floor's frames).
pub fn encode_server_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(len as u8);
    } else if len <= u16::MAX as usize {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
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
pub enum Seen<'a> {
    /// A data message (WebSocket text, or a socket.io `42` event), borrowed
    /// from the connection's buffer.
    Message(&'a [u8]),
    /// The server pinged (and we answered), or a pong came.
    Ping,
    /// The server closed (with the Close frame's code, if it sent one) or
    /// the socket ended (`None`).
    Closed(Option<u16>),
}

/// One client connection, blocking during setup.
pub struct Conn {
    pub stream: Stream,
    pub proto: Proto,
    /// Bytes read but not yet parsed into frames.
    pub buf: Vec<u8>,
    mask_seed: u32,
    out: Vec<u8>,
}

impl Conn {
    /// Connects, upgrades and waits for the welcome event (`server-message`).
    pub fn open(addr: SocketAddr, proto: Proto, seed: u32) -> io::Result<Conn> {
        let tcp = TcpStream::connect_timeout(&addr, SETUP_TIMEOUT)?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(SETUP_TIMEOUT))?;
        tcp.set_write_timeout(Some(SETUP_TIMEOUT))?;
        let stream = Stream::new(tcp)?;
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
             Sec-WebSocket-Key: {SAMPLE_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n",
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

    /// Appends one masked text frame to `out`, to be written later in one go
    /// (a flood writes many frames per `write`).
    pub fn frame_into(&mut self, out: &mut Vec<u8>, text: &[u8]) {
        encode_frame(out, OP_TEXT, text, &mut self.mask_seed);
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
            let mut message = None;
            let mut closed = false;
            self.take_frames(|seen| match seen {
                Seen::Message(m) => {
                    message = Some(m.to_vec());
                    false // leave the rest for later
                }
                Seen::Ping => true,
                Seen::Closed(_) => {
                    closed = true;
                    false
                }
            })?;
            if let Some(m) = message {
                return Ok(m);
            }
            if closed {
                return Err(bad("the server closed the connection".into()));
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

    /// Parses the whole frames in the buffer, in one pass, and calls `on` for
    /// each; `on` returns false to stop after that one (the rest stays in the
    /// buffer). Answers WebSocket pings with a pong and socket.io pings (`2`)
    /// with `3`. The buffer is shifted once at the end, not once per frame: a
    /// read of 64 KiB may hold a thousand broadcasts.
    pub fn take_frames(&mut self, mut on: impl FnMut(Seen<'_>) -> bool) -> io::Result<()> {
        let Conn { buf, out, mask_seed, proto, .. } = self;
        out.clear();
        let mut at = 0;
        while let Some((frame, used)) = parse_frame(&buf[at..]) {
            let payload = &buf[at + frame.start..at + frame.end];
            at += used;
            let go_on = match frame.opcode {
                OP_PING => {
                    encode_frame(out, OP_PONG, payload, mask_seed);
                    on(Seen::Ping)
                }
                OP_PONG => on(Seen::Ping),
                OP_CLOSE => {
                    let code = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                    on(Seen::Closed(code))
                }
                _ if *proto == Proto::SocketIo && payload == b"2" => {
                    encode_frame(out, OP_TEXT, b"3", mask_seed);
                    on(Seen::Ping)
                }
                _ => on(Seen::Message(payload)),
            };
            if !go_on {
                break;
            }
        }
        buf.drain(..at);
        if !self.out.is_empty() {
            write_all_retrying(&mut self.stream, &self.out)?;
        }
        Ok(())
    }

    /// Switches to non-blocking mode for the poller.
    pub fn into_nonblocking(self) -> io::Result<Conn> {
        self.stream.tcp().set_nonblocking(true)?;
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

    /// Blocking: one read that waits at most `timeout`. Returns false when the
    /// socket reached EOF or failed.
    pub fn read_within(&mut self, scratch: &mut [u8], timeout: Duration) -> io::Result<bool> {
        self.stream.tcp().set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        match self.stream.read(scratch) {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.buf.extend_from_slice(&scratch[..n]);
                Ok(true)
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(_) => Ok(false),
        }
    }

    /// Shrinks the socket's receive buffer (`SO_RCVBUF`) and with it the
    /// window the server may fill: a client that stops reading then has a
    /// full socket after a few KiB, not after the kernel's autotuned MiBs.
    pub fn set_receive_buffer(&self, bytes: usize) -> io::Result<()> {
        let value = bytes as libc::c_int;
        // SAFETY: a valid socket descriptor and a pointer to a c_int of the given size.
        let rc = unsafe {
            libc::setsockopt(
                self.stream.tcp().as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

/// `write_all` that also works on a non-blocking socket: the frames the bench
/// sends are tiny, so a full send buffer is rare; when it happens, wait a
/// moment (bounded: 10 s in total) and retry.
fn write_all_retrying(stream: &mut Stream, mut bytes: &[u8]) -> io::Result<()> {
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
    fn parses_masked_client_frames_and_writes_server_frames() {
        let mut out = Vec::new();
        let mut seed = 11;
        encode_frame(&mut out, OP_TEXT, b"42[\"broadcast\",{}]", &mut seed);
        let (f, used) = parse_frame(&out).unwrap();
        assert_eq!(used, out.len());
        let mask = f.mask.expect("client frames are masked");
        let payload: Vec<u8> = out[f.start..f.end].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
        assert_eq!(payload, b"42[\"broadcast\",{}]");
        let mut server = Vec::new();
        encode_server_frame(&mut server, OP_TEXT, &[b'x'; 300]);
        let (f, used) = parse_frame(&server).unwrap();
        assert_eq!((f.mask, f.end - f.start, used), (None, 300, 304));
    }

    #[test]
    fn takes_all_frames_in_one_pass_and_answers_pings() {
        // A socket pair on loopback: the Conn's pong must reach the other end.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let mut conn = Conn { stream, proto: Proto::SocketIo, buf: Vec::new(), mask_seed: 3, out: Vec::new() };
        for text in [&b"42[\"a\",1]"[..], b"2", b"42[\"b\",2]"] {
            encode_server_frame(&mut conn.buf, OP_TEXT, text);
        }
        encode_server_frame(&mut conn.buf, OP_CLOSE, &1013u16.to_be_bytes());
        let mut seen = Vec::new();
        conn.take_frames(|s| {
            seen.push(match s {
                Seen::Message(m) => String::from_utf8_lossy(m).into_owned(),
                Seen::Ping => "ping".into(),
                Seen::Closed(code) => format!("closed {code:?}"),
            });
            true
        })
        .unwrap();
        assert_eq!(seen, ["42[\"a\",1]", "ping", "42[\"b\",2]", "closed Some(1013)"]);
        assert!(conn.buf.is_empty());
        let mut pong = [0u8; 7];
        server.read_exact(&mut pong).unwrap();
        let (f, _) = parse_frame(&pong).unwrap();
        let mask = f.mask.unwrap();
        assert_eq!(pong[f.start] ^ mask[0], b'3', "the socket.io ping got its pong");
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

/// The client's TLS settings once `--tls CA.pem` was given: every
/// connection then speaks wss (TLS over the same TCP connection), trusting
/// that certificate (the bench's self-signed one).
static TLS: std::sync::OnceLock<std::sync::Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();

/// `--tls CA.pem`: connections from now on are TLS, trusting `ca`.
pub fn use_tls(ca: &str) -> io::Result<()> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(ca).map_err(|e| bad(format!("{ca}: {e}")))? {
        roots.add(cert.map_err(|e| bad(format!("{ca}: {e}")))?).map_err(|e| bad(format!("{ca}: {e}")))?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let _ = TLS.set(std::sync::Arc::new(config));
    Ok(())
}

/// A connection's bytes: plain TCP, or TLS over it (`--tls`).
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn new(tcp: TcpStream) -> io::Result<Stream> {
        let Some(config) = TLS.get() else { return Ok(Stream::Plain(tcp)) };
        let name = rustls_pki_types::ServerName::try_from("localhost").expect("a valid name");
        let session = rustls::ClientConnection::new(config.clone(), name).map_err(|e| bad(e.to_string()))?;
        Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(session, tcp))))
    }

    /// The TCP socket under it (timeouts, non-blocking mode, the poller).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            Stream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}
