//! [`WsLink`]: one WebSocket under a socket.io session.
//!
//! The `/ws` connection loop ([`crate::connection`]) owns its WebSocket and
//! its events together. A socket.io session is different: it starts over
//! HTTP long-polling and may *later* be handed a WebSocket by another
//! connection thread (the upgrade). So the WebSocket plumbing is a value the
//! session can receive: the same design as `/ws` (a `conn-N-rx` reader
//! thread moving raw bytes into a channel, tungstenite over an
//! [`Inbox`]), packaged so that it can move between threads.

use std::io;
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Receiver;
use tungstenite::error::{Error as WsError, ProtocolError};
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Message, WebSocket};

use crate::connection::{close_frame, failure_close};
use crate::reader::{self, Chunk, Inbox};
use crate::socket::SocketId;

/// How a link stopped working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEnd {
    /// The peer sent Close (or the close handshake we started completed).
    Closed(Option<u16>),
    /// The peer broke a rule; we sent this close code.
    Failed(u16, String),
    /// TCP ended without a close handshake, or a write failed.
    Gone(String),
}

/// A WebSocket, its reader thread, and the channel of raw bytes between them.
pub struct WsLink {
    /// The connection id this WebSocket arrived on (for logs).
    pub id: SocketId,
    ws: WebSocket<Inbox>,
    /// Raw bytes from the reader thread; select on it to wait for the peer.
    pub inbound: Receiver<Chunk>,
    reader: Option<JoinHandle<()>>,
    /// We sent our Close: nothing more may be sent.
    closing: bool,
    peer_close: Option<u16>,
}

impl WsLink {
    /// Starts the reader thread `conn-N-rx` for an upgraded `stream`; `rest`
    /// are bytes that arrived behind the request head.
    pub fn start(
        stream: TcpStream,
        rest: Vec<u8>,
        id: SocketId,
        config: WebSocketConfig,
        write_timeout: Duration,
        buffer_size: usize,
    ) -> io::Result<WsLink> {
        stream.set_read_timeout(None)?;
        stream.set_write_timeout(Some(write_timeout))?;
        stream.set_nodelay(true)?;
        // One descriptor shared by both threads, as in connection.rs.
        let stream = Arc::new(stream);
        let (reader, inbound) = match reader::spawn(stream.clone(), id, buffer_size) {
            Ok(started) => started,
            Err(e) => {
                let _ = stream.shutdown(Shutdown::Both);
                return Err(e);
            }
        };
        let ws = WebSocket::from_partially_read(Inbox::new(stream), rest, Role::Server, Some(config));
        Ok(WsLink { id, ws, inbound, reader: Some(reader), closing: false, peer_close: None })
    }

    /// Feeds a chunk from the reader thread to tungstenite and returns the
    /// data messages it completes (none or many).
    pub fn feed(&mut self, chunk: Chunk) -> Result<Vec<Message>, LinkEnd> {
        self.ws.get_mut().push(chunk);
        let mut messages = Vec::new();
        loop {
            match self.ws.read() {
                Ok(Message::Close(frame)) => self.peer_close = frame.map(|f| f.code.into()),
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => messages.push(message),
                Ok(_) => {} // pings: tungstenite queued the pong
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return Ok(messages),
                Err(e) => return Err(self.read_failed(e)),
            }
        }
    }

    /// Writes one frame.
    pub fn send(&mut self, message: Message) -> Result<(), LinkEnd> {
        if self.closing {
            return Ok(());
        }
        self.ws.send(message).map_err(|e| self.read_failed(e))
    }

    /// Sends our Close and waits (up to `timeout`) for the peer's, so the
    /// client sees a clean close with our code. Then stops the reader.
    pub fn close(mut self, code: u16, reason: &str, timeout: Duration) {
        if !self.closing {
            self.closing = true;
            let _ = self.ws.close(Some(close_frame(code, reason)));
        }
        let deadline = crossbeam_channel::after(timeout);
        loop {
            crossbeam_channel::select! {
                recv(self.inbound) -> chunk => {
                    let chunk = chunk.unwrap_or_default();
                    let eof = chunk.is_empty();
                    if self.feed(chunk).is_err() || eof {
                        break;
                    }
                }
                recv(deadline) -> _ => break,
            }
        }
    }

    /// Drops the connection without a close handshake (same as dropping it).
    pub fn stop(self) {}

    /// Sorts tungstenite's errors, sending the close code a broken rule asks
    /// for (tungstenite does not send it itself).
    fn read_failed(&mut self, error: WsError) -> LinkEnd {
        let (code, reason) = match error {
            WsError::ConnectionClosed | WsError::AlreadyClosed => return LinkEnd::Closed(self.peer_close),
            WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
                return LinkEnd::Gone("connection reset without a close handshake".into())
            }
            WsError::Io(e) => return LinkEnd::Gone(e.to_string()),
            broken => failure_close(broken),
        };
        self.closing = true;
        let _ = self.ws.close(Some(close_frame(code, &reason)));
        LinkEnd::Failed(code, reason)
    }
}

impl Drop for WsLink {
    /// Wakes the reader thread out of its blocking read, then waits for it:
    /// no thread outlives its link.
    fn drop(&mut self) {
        // Let go of the channel first: a reader blocked on a full channel
        // then fails its send instead of waiting forever.
        self.inbound = crossbeam_channel::never();
        let _ = self.ws.get_ref().stream().shutdown(Shutdown::Both);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}
