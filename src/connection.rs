//! The connection thread `conn-N`: one client, from request head to close.
//!
//! `serve` reads the request head, answers it (a page or a refusal) or
//! upgrades it, and then runs the [`Connection`] loop, which owns the only
//! `WebSocket` of this client and waits on four channels at once:
//!
//! ```text
//! select! {
//!     inbound bytes (from conn-N-rx)  → feed tungstenite, dispatch each message to its handler
//!     outbox (from the hub)           → write the frame; disconnected = the hub let go: Close
//!     heartbeat tick                  → ping, or close a client not heard from for too long
//!     close deadline                  → the client never answered our Close: give up
//! }
//! ```
//!
//! No read timeouts, no polling: an idle connection costs no CPU at all.
//! Everything that ends a connection becomes an [`Ending`], logged once at
//! the end of `serve`; nothing reaches the listener.

use std::fmt;
use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{after, bounded, never, select, tick, Receiver};
use tungstenite::error::{Error as WsError, ProtocolError};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role};
use tungstenite::{Message, WebSocket};

use crate::config::Config;
use crate::http::handshake::{self, Route};
use crate::http::{self, HeadError, Response};
use crate::hub::{Command, Member, OutboxState};
use crate::reader::{self, Chunk, Inbox};
use crate::server::Shared;
use crate::socket::{Socket, SocketId, SocketInfo};
use crate::wire::{Outgoing, Wire};
use crate::Value;

/// Why a connection ended. Logged once, and passed to `on_disconnect` handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The client sent Close (with this code, if any) and we answered.
    ClientClosed(Option<u16>),
    /// We sent Close with this code and reason, and the close is complete
    /// (or the client did not answer in time).
    ServerClosed(u16, String),
    /// The client broke the protocol: we sent this close code and dropped it.
    Failed(u16, String),
    /// The TCP connection ended without a close handshake (FIN or RST).
    Reset,
    /// Nothing heard from the client for longer than the idle timeout.
    Silent,
    /// A write failed or timed out: the client stopped reading or vanished.
    WriteFailed(String),
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ending::ClientClosed(Some(code)) => write!(f, "client closed with {code}"),
            Ending::ClientClosed(None) => write!(f, "client closed"),
            Ending::ServerClosed(code, reason) => write!(f, "server closed with {code} ({reason})"),
            Ending::Failed(code, reason) => write!(f, "protocol error, closed with {code} ({reason})"),
            Ending::Reset => write!(f, "connection reset without a close handshake"),
            Ending::Silent => write!(f, "heartbeat timeout: client silent"),
            Ending::WriteFailed(e) => write!(f, "write failed: {e}"),
        }
    }
}

/// The body of thread `conn-N`: handshake, then the WebSocket loop.
pub(crate) fn serve(mut stream: TcpStream, id: SocketId, shared: Arc<Shared>) {
    let config = &shared.config;
    let peer = match stream.peer_addr() {
        Ok(peer) => peer,
        Err(_) => {
            shared.handshake_done(id);
            return; // already gone
        }
    };
    log::info!("socket {id}: accepted from {peer}");

    // Step 1: read the request head, under the handshake deadline.
    let deadline = Instant::now() + config.handshake_timeout;
    let head = http::read_head(&mut stream, deadline, config.max_request_head, config.max_headers);
    shared.handshake_done(id);
    let (request, rest) = match head {
        Ok(head) => head,
        Err(HeadError::Gone(e)) => return log::info!("socket {id}: gone before sending a request ({e})"),
        Err(HeadError::Timeout) => {
            return respond(stream, id, Response::refusal(408, "request head not received in time"), false)
        }
        Err(HeadError::TooLarge(what)) => return respond(stream, id, Response::refusal(431, what), false),
        Err(HeadError::Malformed(why)) => return respond(stream, id, Response::refusal(400, why), false),
    };
    if shared.is_stopping() {
        return respond(stream, id, Response::refusal(503, "server is shutting down"), false);
    }
    // The host name first, for every path: pages, `/ws` and socket.io.
    if let Err(response) = config.allowed_hosts.check(&request) {
        return respond(stream, id, response, false);
    }

    // socket.io has its own endpoint: HTTP long-polling and its own upgrades.
    if request.path.starts_with(config.socketio.path.as_str()) {
        return crate::engine::serve(stream, request, rest, id, peer, shared.clone());
    }

    // Step 2: decide. A page or a refusal ends here; an upgrade goes on.
    let head_only = request.method == "HEAD";
    match handshake::route(&request, config, &shared.pages) {
        Route::Respond(response) => respond(stream, id, response, head_only),
        Route::Upgrade { key, wire, origin } => {
            let info = SocketInfo {
                id,
                peer,
                path: request.path.clone(),
                query: request.query.clone(),
                origin: request.header("Origin").map(str::to_string),
                headers: request.headers.clone(),
                protocol: wire.name(),
                connected_at: SystemTime::now(),
            };
            // The application's connect check for `/`, where `/ws` clients
            // live. Why before the 101 and not an error event after it: a
            // refused client then costs no reader thread and no hub member,
            // and gets a real HTTP answer with the reason, like a refused
            // Origin. (A browser page sees only a failed connection; the
            // reason is in its console and in our log.)
            if let Err(message) = shared.check_connect("/", &Value::Null, &info) {
                return respond(stream, id, Response::refusal(403, message), false);
            }
            // Prepared before the 101, so that a failure can still be
            // answered with a status.
            if let Err(e) = prepare(&stream, config) {
                log::warn!("socket {id}: cannot prepare the socket: {e}");
                return respond(stream, id, Response::refusal(503, "server cannot take more clients now"), false);
            }
            if let Err(e) = stream.write_all(handshake::accept_response(&key).as_bytes()) {
                return log::info!("socket {id}: gone during the handshake ({e})");
            }
            log::info!("socket {id}: upgraded on {} ({}, origin: {origin:?})", request.path, wire.name());
            run_websocket(stream, rest, info, wire, &shared);
        }
    }
}

/// Sends an HTTP response and closes the connection gracefully.
fn respond(mut stream: TcpStream, id: SocketId, response: Response, head_only: bool) {
    match response.status {
        200 => log::info!("socket {id}: served a page"),
        403 => log::warn!("socket {id}: refused 403: {}", response.reason()),
        status => log::info!("socket {id}: refused {status}: {}", response.reason()),
    }
    if response.write_to(&mut stream, head_only).is_ok() {
        http::linger(&mut stream);
    }
}

/// Sets the socket up for the WebSocket loop. From here on nothing blocks on
/// a read timeout: the reader thread waits, and writes give up after the
/// write timeout.
fn prepare(stream: &TcpStream, config: &Config) -> io::Result<()> {
    stream.set_read_timeout(None)?;
    stream.set_write_timeout(Some(config.write_timeout))?;
    stream.set_nodelay(true)
}

/// After the 101: start the reader thread, register with the hub, greet the
/// handler, and run the loop until the connection ends.
fn run_websocket(stream: TcpStream, rest: Vec<u8>, info: SocketInfo, wire: Wire, shared: &Shared) {
    let id = info.id;
    let config = &shared.config;
    // Both threads use the same socket through an `Arc` (`&TcpStream` reads
    // and writes) rather than a `try_clone`d second descriptor: one file
    // descriptor per client, so 10,000 clients fit in a 20,000 fd limit.
    let stream = Arc::new(stream);
    let (reader, inbound_rx) = match reader::spawn(stream.clone(), id, config.read_buffer_size) {
        Ok(started) => started,
        Err(e) => {
            log::error!("socket {id}: cannot start its reader thread: {e}");
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    };

    // `Arc`s, not `Message`s: see `Member::outbox` in hub.rs.
    let (outbox_tx, outbox_rx) = bounded::<Arc<Message>>(config.outbox_capacity);
    let outbox_state = Arc::new(OutboxState::new());
    let nsp = "/".to_string(); // `/ws` clients live in socket.io's default namespace
    shared.io.send(Command::Register(Member { id, wire, nsp, outbox: outbox_tx, state: outbox_state.clone() }));
    // Why look now: a Register queued behind the hub's Shutdown is never read,
    // so the hub would never close this client and `shutdown()` would wait for
    // it forever. The server is marked stopping before Shutdown is sent, so a
    // Register that came too late sees the mark here (if the hub did take it,
    // it closes us too; the second close is a no-op).
    let stopping = shared.is_stopping();

    let ws = WebSocket::from_partially_read(Inbox::new(stream), rest, Role::Server, Some(config.websocket()));
    let socket = Socket::new(info, shared.io.clone());
    let mut conn = Connection {
        ws,
        socket,
        wire,
        idle_timeout: config.idle_timeout,
        close_timeout: config.close_timeout,
        last_heard: Instant::now(),
        outbox: outbox_rx,
        outbox_state,
        close_deadline: never(),
        closing: None,
        peer_close: None,
    };

    let handler = shared.connection_handler();
    let ending = conn.run(handler.as_deref(), &inbound_rx, tick(config.ping_interval), stopping);
    match &ending {
        Ending::Failed(..) | Ending::WriteFailed(_) | Ending::Silent => log::warn!("socket {id}: closed: {ending}"),
        _ => log::info!("socket {id}: closed: {ending}"),
    }

    // Leave the hub first, so no broadcast waits for a socket that is gone.
    shared.io.send(Command::Unregister(id));
    let socket = &conn.socket;
    if panic::catch_unwind(AssertUnwindSafe(|| socket.disconnected(&ending.to_string()))).is_err() {
        log::error!("socket {id}: an on_disconnect handler panicked");
    }
    let stream = conn.ws.get_ref().stream();
    if let Ending::Failed(..) = ending {
        // We sent a Close with the reason (1002, 1007, 1009) but the client
        // may still be sending. Closing the socket now, with its bytes
        // unread, would make the kernel send RST, which can destroy our Close
        // before the client reads it. So: FIN, then discard what still comes
        // until the client closes too (or the close timeout passes).
        let _ = stream.shutdown(Shutdown::Write);
        let give_up = after(config.close_timeout);
        loop {
            select! {
                recv(inbound_rx) -> chunk => if chunk.map_or(true, |c| c.is_empty()) { break },
                recv(give_up) -> _ => break,
            }
        }
    }
    // Wakes the reader thread out of its blocking read, then waits for it.
    // The channel goes first: a reader blocked on a full channel must see it
    // disconnected, or the join would wait forever.
    let _ = stream.shutdown(Shutdown::Both);
    drop(inbound_rx);
    let _ = reader.join();
}

/// One client's WebSocket, owned by its connection thread.
pub struct Connection {
    /// The only `WebSocket` for this client: reads come from the reader
    /// thread's bytes, writes go straight to the socket.
    ws: WebSocket<Inbox>,
    /// The handle handlers see; it queues what they emit to this client.
    socket: Socket,
    /// How events are turned into frames and back.
    wire: Wire,
    idle_timeout: Duration,
    close_timeout: Duration,
    /// Any byte from the client counts as a sign of life (pongs included).
    last_heard: Instant,
    /// Frames from the hub. Replaced by `never()` once the hub lets go: a
    /// disconnected receiver is always ready and would make `select!` spin.
    outbox: Receiver<Arc<Message>>,
    /// Shared with the hub: why it let go of the outbox, and whether this
    /// thread is stuck in a write or handler (see `hub::wait_for_room`).
    outbox_state: Arc<OutboxState>,
    /// Fires when the client has taken too long to answer our Close.
    close_deadline: Receiver<Instant>,
    /// The close code and reason we sent, once we started closing.
    closing: Option<(u16, String)>,
    /// The code of the client's Close frame, once it arrived.
    peer_close: Option<u16>,
}

impl Connection {
    /// The loop. Returns how the connection ended. `stopping`: the server began
    /// shutting down as this client registered; close it at once with 1001.
    fn run(
        &mut self,
        on_connection: Option<&(dyn Fn(&Socket) + Send + Sync)>,
        inbound: &Receiver<Chunk>,
        heartbeat: Receiver<Instant>,
        stopping: bool,
    ) -> Ending {
        if stopping {
            if let Err(end) = self.start_close(1001, "server shutting down") {
                return end;
            }
        }
        if let Some(handler) = on_connection {
            if let Err(end) = self.guard(|socket| handler(socket)) {
                return end;
            }
        }
        // Frames the client sent right behind its request head are already in
        // tungstenite's buffer (`from_partially_read`); no chunk from the reader
        // will announce them, so handle them now, with the handlers registered.
        if let Err(end) = self.read_messages() {
            return end;
        }
        loop {
            // ANCHOR: select
            let step = select! {
                recv(inbound) -> chunk => self.on_bytes(chunk.unwrap_or_default()),
                recv(self.outbox) -> frame => match frame {
                    Ok(frame) => self.send(Arc::unwrap_or_clone(frame)),
                    Err(_) => self.hub_let_go(self.outbox_state.kicked.load(Ordering::Relaxed)),
                },
                recv(heartbeat) -> _ => self.on_heartbeat(),
                recv(self.close_deadline) -> _ => Err(self.close_timed_out()),
            };
            if let Err(ending) = step {
                return ending;
            }
            // ANCHOR_END: select
        }
    }

    /// New bytes from the reader thread: feed them to tungstenite and handle
    /// every complete message they finish (one chunk may hold none or many).
    // ANCHOR: on_bytes
    fn on_bytes(&mut self, chunk: Chunk) -> Result<(), Ending> {
        self.last_heard = Instant::now();
        self.ws.get_mut().push(chunk);
        self.read_messages()
    }

    /// Handles every complete message in the bytes tungstenite has, until it
    /// needs more (`WouldBlock`).
    fn read_messages(&mut self) -> Result<(), Ending> {
        loop {
            match self.ws.read() {
                Ok(message) => self.on_message(message)?,
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(self.read_failed(e)),
            }
        }
    }
    // ANCHOR_END: on_bytes

    /// One complete message from the client.
    fn on_message(&mut self, message: Message) -> Result<(), Ending> {
        match message {
            Message::Text(_) | Message::Binary(_) if self.closing.is_none() => {
                if self.socket.takes_raw_messages() {
                    return self.guard(|socket| socket.dispatch_raw(message));
                }
                let inbound = self.wire.decode(&message);
                match inbound {
                    Ok(inbound) => self.guard(|socket| socket.dispatch(inbound))?,
                    Err(why) => {
                        log::info!("socket {}: bad frame: {why}", self.socket.id());
                        self.socket.report_error(why);
                        self.flush_queued()?;
                    }
                }
                Ok(())
            }
            Message::Close(frame) => {
                // tungstenite queued our reply; the next read sends it and
                // then reports ConnectionClosed.
                self.peer_close = frame.map(|f| f.code.into());
                Ok(())
            }
            // Pings: tungstenite queued the pong; the next read sends it.
            _ => Ok(()),
        }
    }

    /// Runs handler code; a panic closes only this connection, with 1011.
    /// Afterwards writes what the handler emitted and honours `disconnect()`.
    fn guard(&mut self, f: impl FnOnce(&Socket)) -> Result<(), Ending> {
        let socket = &self.socket;
        self.outbox_state.busy();
        let result = panic::catch_unwind(AssertUnwindSafe(|| f(socket)));
        self.outbox_state.idle();
        self.flush_queued()?;
        if result.is_err() {
            log::error!("socket {}: a handler panicked; closing this connection with 1011", self.socket.id());
            return self.start_close(1011, "handler panicked");
        }
        if self.socket.disconnect_requested() && self.closing.is_none() {
            return self.start_close(1000, "server disconnect");
        }
        Ok(())
    }

    /// Writes everything handlers queued for this client, in order.
    fn flush_queued(&mut self) -> Result<(), Ending> {
        for item in self.socket.take_queued() {
            let frame = self.wire.encode(&item);
            if let Outgoing::Error { message } = &item {
                log::debug!("socket {}: sent error event: {message}", self.socket.id());
            }
            self.send(frame)?;
        }
        Ok(())
    }

    /// Writes one frame (and flushes it).
    fn send(&mut self, frame: Message) -> Result<(), Ending> {
        if self.closing.is_some() {
            return Ok(()); // after our Close, nothing more may be sent
        }
        // Marked so the hub can tell a client that stopped reading (this write
        // blocks) from a burst that merely outran this thread.
        self.outbox_state.busy();
        let sent = self.ws.send(frame);
        self.outbox_state.idle();
        sent.map_err(|e| self.write_failed(e))
    }

    /// The hub dropped our outbox: we were too slow, or the server is stopping.
    // ANCHOR: hub_let_go
    fn hub_let_go(&mut self, code: u16) -> Result<(), Ending> {
        self.outbox = never();
        match code {
            1013 => self.start_close(1013, "too slow: outbox full"),
            _ => self.start_close(1001, "server shutting down"),
        }
    }
    // ANCHOR_END: hub_let_go

    /// Pings the client, or gives up on it if it has been silent too long.
    // ANCHOR: on_heartbeat
    fn on_heartbeat(&mut self) -> Result<(), Ending> {
        if self.last_heard.elapsed() > self.idle_timeout {
            // Best effort: a half-open peer will never read it.
            let _ = self.ws.close(Some(close_frame(1001, "heartbeat timeout")));
            return Err(Ending::Silent);
        }
        if self.closing.is_none() {
            if let Err(e) = self.ws.send(Message::Ping(Default::default())) {
                return Err(self.write_failed(e));
            }
        }
        Ok(())
    }
    // ANCHOR_END: on_heartbeat

    /// Sends our Close and starts the deadline for the client's answer.
    fn start_close(&mut self, code: u16, reason: &str) -> Result<(), Ending> {
        if self.closing.is_some() {
            return Ok(());
        }
        self.closing = Some((code, reason.to_string()));
        self.outbox = never();
        self.close_deadline = after(self.close_timeout);
        match self.ws.close(Some(close_frame(code, reason))) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.write_failed(e)),
        }
    }

    fn close_timed_out(&mut self) -> Ending {
        let (code, reason) = self.closing.clone().unwrap_or((1001, String::new()));
        Ending::ServerClosed(code, format!("{reason}; no Close reply in time"))
    }

    /// Sorts tungstenite's read errors into endings, sending the close code
    /// the RFC asks for when the client broke the protocol. tungstenite does
    /// not send these itself, and the stream cannot be read any further.
    fn read_failed(&mut self, error: WsError) -> Ending {
        match error {
            WsError::ConnectionClosed | WsError::AlreadyClosed => match self.closing.take() {
                Some((code, reason)) => Ending::ServerClosed(code, reason),
                None => Ending::ClientClosed(self.peer_close),
            },
            WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => Ending::Reset,
            WsError::Io(e) => Ending::WriteFailed(e.to_string()),
            broken => {
                let (code, reason) = failure_close(broken);
                let _ = self.ws.close(Some(close_frame(code, &reason)));
                Ending::Failed(code, reason)
            }
        }
    }

    fn write_failed(&mut self, error: WsError) -> Ending {
        match error {
            WsError::ConnectionClosed | WsError::AlreadyClosed => self.read_failed(error),
            other => Ending::WriteFailed(other.to_string()),
        }
    }
}

/// The close code RFC 6455 asks for when the client broke a rule (an error
/// that is not the connection ending): 1009 too big, 1007 bad UTF-8, 1002
/// protocol, 1011 anything else. tungstenite does not send it itself.
pub(crate) fn failure_close(error: WsError) -> (u16, String) {
    match error {
        WsError::Capacity(e) => (1009, format!("message too big: {e}")),
        WsError::Utf8(_) => (1007, "invalid UTF-8 in a text message".to_string()),
        WsError::Protocol(e) => (1002, e.to_string()),
        other => (1011, other.to_string()),
    }
}

pub(crate) fn close_frame(code: u16, reason: &str) -> CloseFrame {
    CloseFrame { code: CloseCode::from(code), reason: reason.to_string().into() }
}
