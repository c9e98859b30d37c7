//! [`Link`]: one client's WebSocket, read by its own thread.
//!
//! `/ws` connections ([`crate::connection`]) and socket.io sessions over
//! WebSocket (`engine`) share this plumbing. The connection thread
//! owns the only tungstenite `WebSocket` of its client and calls
//! [`Link::next`] with its next deadline; tungstenite reads the socket
//! directly (see [`stream`]) and writes through the client's outlet. The hub
//! never touches the `WebSocket`: it writes finished frames into the same
//! outlet.
//!
//! Closing: a server-initiated Close (ours, the hub's 1013 or 1001, a
//! handler's `disconnect()`) is written into the outlet by whoever decides
//! it; the connection thread keeps reading until the client answers, and
//! the hub shuts the socket down if it never does. A client-initiated Close
//! is answered by tungstenite itself.

pub mod rate;
pub mod stream;

use std::io;
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tungstenite::error::{Error as WsError, ProtocolError};
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Message, WebSocket};

use crate::conn::Conn;
use crate::hub::Outlet;
pub use stream::Stream;

/// How a link stopped working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEnd {
    /// The close handshake completed: the client's code if it closed
    /// first, or the code we sent (see [`Outlet::our_close`]).
    Closed(Option<u16>),
    /// The client broke a rule; we sent this close code and reason.
    Failed(u16, String),
    /// TCP ended without a close handshake, or the socket failed.
    Gone(String),
}

/// A client's WebSocket and what its thread knows of it.
pub struct Link {
    ws: WebSocket<Stream>,
    /// Any frame from the client counts as a sign of life (pongs included).
    pub last_heard: Instant,
    /// The client's Close code, once its Close arrived.
    peer_close: Option<u16>,
}

impl Link {
    /// A WebSocket on an upgraded `socket`; `rest` are bytes that came
    /// right behind the request head (a client may send its first frame at
    /// once), and `outlet` is where writes go.
    pub fn new(socket: Arc<Conn>, rest: Vec<u8>, outlet: Arc<Outlet>, config: WebSocketConfig) -> Link {
        let stream = Stream::new(socket, outlet);
        let ws = WebSocket::from_partially_read(stream, rest, Role::Server, Some(config));
        Link { ws, last_heard: Instant::now(), peer_close: None }
    }

    /// The outlet this link writes through.
    pub fn outlet(&self) -> &Arc<Outlet> {
        self.ws.get_ref().outlet()
    }

    /// Writes go through `outlet` from now on.
    pub fn set_outlet(&mut self, outlet: Arc<Outlet>) {
        self.ws.get_mut().set_outlet(outlet);
    }

    // ANCHOR: next
    /// Waits for the client's next text or binary message, or until
    /// `deadline` (`Ok(None)`). Pings are answered and Close frames handled
    /// on the way.
    pub fn next(&mut self, deadline: Option<Instant>) -> Result<Option<Message>, LinkEnd> {
        self.ws.get_mut().set_deadline(deadline);
        loop {
            match self.ws.read() {
                Ok(message) => {
                    self.last_heard = Instant::now();
                    match message {
                        Message::Text(_) | Message::Binary(_) => return Ok(Some(message)),
                        Message::Close(frame) => {
                            // tungstenite queued its reply (unless we closed
                            // first): the next read sends it and ends.
                            self.peer_close = frame.map(|f| f.code.into());
                            self.outlet().peer_closed(self.peer_close);
                        }
                        _ => {} // pings: tungstenite queued the pong
                    }
                }
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::TimedOut => return Ok(None),
                Err(e) => return Err(self.read_failed(e)),
            }
        }
    }
    // ANCHOR_END: next

    /// Sorts tungstenite's errors into endings, sending the close code the
    /// RFC asks for when the client broke a rule (tungstenite does not send
    /// it itself, and the stream cannot be read any further).
    fn read_failed(&mut self, error: WsError) -> LinkEnd {
        match error {
            WsError::ConnectionClosed | WsError::AlreadyClosed => {
                LinkEnd::Closed(self.outlet().our_close().map(|(code, _)| code).or(self.peer_close))
            }
            WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
                LinkEnd::Gone("connection reset without a close handshake".into())
            }
            WsError::Io(e) => LinkEnd::Gone(e.to_string()),
            broken => {
                let (code, reason) = failure_close(broken);
                self.outlet().close(code, &reason, false);
                LinkEnd::Failed(code, reason)
            }
        }
    }

    /// The end of the connection. After a broken rule, our Close may still
    /// be on its way while the client keeps sending: closing the socket with
    /// its bytes unread would make the kernel send RST, which can destroy
    /// our Close before the client reads it. So the thread first discards
    /// what still comes until the client closes too, or `linger` passes.
    /// Then the outlet lets go of the socket.
    pub fn finish(&mut self, ending_failed: bool, linger: Duration) {
        let socket = self.ws.get_ref().socket().clone();
        if ending_failed {
            if self.outlet().is_flushed() {
                socket.shutdown(Shutdown::Write); // FIN right behind our Close
            }
            discard_until_closed(&socket, Instant::now() + linger);
        }
        self.outlet().detach(None);
        socket.shutdown(Shutdown::Both);
    }
}

/// Reads and drops bytes until the peer closes or `deadline` passes.
/// Bounded by time only: a client in the middle of a 16 MiB message it may
/// not send (1009) must be able to finish sending it and read our Close;
/// stopping earlier would reset the connection under it.
fn discard_until_closed(socket: &Conn, deadline: Instant) {
    let mut sink = vec![0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || socket.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match socket.read(&mut sink) {
            Ok(n) if n > 0 => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            _ => return,
        }
    }
}

/// The close code RFC 6455 asks for when the client broke a rule (an error
/// that is not the connection ending): 1009 too big, 1007 bad UTF-8, 1002
/// protocol, 1011 anything else. tungstenite does not send it itself.
pub fn failure_close(error: WsError) -> (u16, String) {
    match error {
        WsError::Capacity(e) => (1009, format!("message too big: {e}")),
        WsError::Utf8(_) => (1007, "invalid UTF-8 in a text message".to_string()),
        WsError::Protocol(e) => (1002, e.to_string()),
        other => (1011, other.to_string()),
    }
}
