//! The write floor: the least a server can do to broadcast on this machine.
//!
//! `loadgen write-floor-server --port P` accepts the load generator's
//! receivers (the same clients `loadgen broadcast` opens against wshub and
//! the peer: `/ws` or socket.io over WebSocket), and when one of them sends a
//! `broadcast` event, **one thread** writes that frame to every connected
//! socket with non-blocking sends, one `send` per socket. Nobody is woken,
//! nothing is encoded per client, no JSON is parsed, no lock is taken.
//!
//! It is measured exactly as the servers are (`loadgen broadcast` against
//! it: from just before the sender's write to the moment the last receiver
//! has the message), so the same client → server hop and the same receiving
//! work are in both numbers, and the ratio to it says what a server costs on
//! top of the writes themselves.
//!
//! Two threads: `accept` does each connection's handshake (blocking, with a
//! timeout; the bench connects one client at a time), then hands the socket,
//! now non-blocking, to `writer`, which polls every socket for reading and
//! does all the writing. A socket that cannot take a whole frame keeps the
//! rest in its own backlog, written when it becomes writable (whole frames,
//! in order; never met in the bench's runs, where frames are small).
//!
//! It only answers the bench's own clients: the handshake must carry the
//! RFC 6455 sample key, and the socket.io handshake is the fixed sequence
//! the bench's client speaks. Loopback only.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::client::{
    bad, encode_server_frame, is_event, parse_frame, Proto, OP_CLOSE, OP_TEXT, SAMPLE_ACCEPT, SAMPLE_KEY, SETUP_TIMEOUT,
};

const WAKE: Token = Token(usize::MAX);

pub fn serve(port: u16) -> io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    eprintln!("write-floor listening on {}", listener.local_addr()?);
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
    let (tx, rx) = channel::<Peer>();
    thread::Builder::new().name("writer".into()).spawn(move || {
        if let Err(e) = write_loop(poll, rx) {
            eprintln!("write-floor: writer stopped: {e}");
            std::process::exit(1);
        }
    })?;
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        match handshake(stream) {
            Ok(peer) => {
                if tx.send(peer).is_err() {
                    return Err(bad("the writer thread is gone".into()));
                }
                waker.wake()?;
            }
            Err(e) => eprintln!("write-floor: handshake failed: {e}"),
        }
    }
    Ok(())
}

/// One receiver as the writer thread holds it.
struct Peer {
    stream: TcpStream,
    proto: Proto,
    /// Bytes read, not yet parsed into frames.
    input: Vec<u8>,
    /// Bytes the socket could not take yet, whole frames in order.
    backlog: VecDeque<u8>,
}

/// Reads the upgrade request, answers 101 and, for socket.io, plays the
/// server's side of the open and the connect; then sends the bench's
/// welcome event. Blocking, bounded by timeouts.
fn handshake(mut stream: TcpStream) -> io::Result<Peer> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(SETUP_TIMEOUT))?;
    stream.set_write_timeout(Some(SETUP_TIMEOUT))?;
    let mut input = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(i) = input.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if input.len() > 16 * 1024 {
            return Err(bad("request head too long".into()));
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(bad("closed before the request head".into()));
        }
        input.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&input[..head_end]).into_owned();
    input.drain(..head_end);
    let proto = if head.starts_with("GET /ws ") {
        Proto::Ws
    } else if head.starts_with("GET /socket.io/") && head.contains("transport=websocket") {
        Proto::SocketIo
    } else {
        stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
        return Err(bad("not a /ws or socket.io WebSocket upgrade".into()));
    };
    if !head.lines().any(|l| l.eq_ignore_ascii_case(&format!("sec-websocket-key: {SAMPLE_KEY}"))) {
        stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
        return Err(bad("only the bench's own clients (the RFC 6455 sample key) are answered".into()));
    }
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {SAMPLE_ACCEPT}\r\n\r\n"
    );
    stream.write_all(response.as_bytes())?;
    let mut out = Vec::new();
    if proto == Proto::SocketIo {
        let open =
            r#"0{"sid":"writefloor","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        encode_server_frame(&mut out, OP_TEXT, open.as_bytes());
        stream.write_all(&out)?;
        let connect = read_client_text(&mut stream, &mut input)?;
        if connect != b"40" {
            return Err(bad(format!("expected 40, got {:?}", String::from_utf8_lossy(&connect))));
        }
        out.clear();
        encode_server_frame(&mut out, OP_TEXT, br#"40{"sid":"writefloor"}"#);
    }
    let welcome = crate::client::event_text(proto, "server-message", "\"Welcome to WebSocket\"");
    encode_server_frame(&mut out, OP_TEXT, welcome.as_bytes());
    stream.write_all(&out)?;
    stream.set_nonblocking(true)?;
    Ok(Peer { stream, proto, input, backlog: VecDeque::new() })
}

/// Blocking: the next text frame from the client, unmasked.
fn read_client_text(stream: &mut TcpStream, input: &mut Vec<u8>) -> io::Result<Vec<u8>> {
    let mut chunk = [0u8; 1024];
    loop {
        if let Some((frame, used)) = parse_frame(input) {
            let payload = unmask(&input[frame.start..frame.end], frame.mask);
            input.drain(..used);
            if frame.opcode == OP_TEXT {
                return Ok(payload);
            }
            continue;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(bad("closed during the socket.io handshake".into()));
        }
        input.extend_from_slice(&chunk[..n]);
    }
}

fn unmask(payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    match mask {
        Some(m) => payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]).collect(),
        None => payload.to_vec(),
    }
}

/// The writer thread: reads every socket, and writes each `broadcast`
/// frame to all of them. Runs until the process is killed.
fn write_loop(mut poll: Poll, new_peers: Receiver<Peer>) -> io::Result<()> {
    let mut peers: Vec<Option<Peer>> = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; 64 * 1024];
    let mut frames: Vec<Vec<u8>> = Vec::new();
    loop {
        poll.poll(&mut events, Some(Duration::from_secs(1)))?;
        for event in events.iter() {
            if event.token() == WAKE {
                while let Ok(peer) = new_peers.try_recv() {
                    let token = Token(peers.len());
                    poll.registry().register(&mut SourceFd(&peer.stream.as_raw_fd()), token, Interest::READABLE)?;
                    peers.push(Some(peer));
                }
                continue;
            }
            let i = event.token().0;
            let Some(peer) = peers[i].as_mut() else { continue };
            let mut alive = true;
            if event.is_writable() {
                alive &= flush(peer);
                if alive && peer.backlog.is_empty() {
                    poll.registry().reregister(
                        &mut SourceFd(&peer.stream.as_raw_fd()),
                        event.token(),
                        Interest::READABLE,
                    )?;
                }
            }
            if event.is_readable() {
                alive &= read_frames(peer, &mut scratch, &mut frames);
            }
            if !alive {
                let _ = poll.registry().deregister(&mut SourceFd(&peer.stream.as_raw_fd()));
                peers[i] = None;
            }
            // The writes: each frame, in order, to every socket.
            for frame in frames.drain(..) {
                for (j, slot) in peers.iter_mut().enumerate() {
                    let Some(peer) = slot.as_mut() else { continue };
                    let was_empty = peer.backlog.is_empty();
                    if !send(peer, &frame) {
                        let _ = poll.registry().deregister(&mut SourceFd(&peer.stream.as_raw_fd()));
                        *slot = None;
                    } else if was_empty && !peer.backlog.is_empty() {
                        poll.registry().reregister(
                            &mut SourceFd(&peer.stream.as_raw_fd()),
                            Token(j),
                            Interest::READABLE | Interest::WRITABLE,
                        )?;
                    }
                }
            }
        }
    }
}

/// Reads what the socket has and collects the server frames to broadcast.
/// Returns false when the client left.
fn read_frames(peer: &mut Peer, scratch: &mut [u8], frames: &mut Vec<Vec<u8>>) -> bool {
    let mut alive = true;
    loop {
        match peer.stream.read(scratch) {
            Ok(0) => {
                alive = false;
                break;
            }
            Ok(n) => peer.input.extend_from_slice(&scratch[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                alive = false;
                break;
            }
        }
    }
    let mut at = 0;
    while let Some((frame, used)) = parse_frame(&peer.input[at..]) {
        let payload = unmask(&peer.input[at + frame.start..at + frame.end], frame.mask);
        at += used;
        match frame.opcode {
            OP_TEXT if is_event(peer.proto, &payload, "broadcast") => {
                // Same protocol on every socket in a bench run: the payload
                // goes out as it came, in a server frame, the bytes a server
                // would send for it.
                let mut out = Vec::with_capacity(payload.len() + 4);
                encode_server_frame(&mut out, OP_TEXT, &payload);
                frames.push(out);
            }
            OP_CLOSE => alive = false,
            _ => {} // pongs, echo requests: not the floor's business
        }
    }
    peer.input.drain(..at);
    alive
}

/// One non-blocking send of a whole frame; what the socket does not take
/// waits in the backlog (behind whatever already waits there). Returns false
/// when the socket failed.
fn send(peer: &mut Peer, frame: &[u8]) -> bool {
    if !peer.backlog.is_empty() {
        peer.backlog.extend(frame);
        return flush(peer);
    }
    let mut sent = 0;
    while sent < frame.len() {
        match peer.stream.write(&frame[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    peer.backlog.extend(&frame[sent..]);
    true
}

/// Writes what the backlog holds, as far as the socket takes it.
fn flush(peer: &mut Peer) -> bool {
    while !peer.backlog.is_empty() {
        let (front, _) = peer.backlog.as_slices();
        match peer.stream.write(front) {
            Ok(n) => {
                peer.backlog.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    true
}
