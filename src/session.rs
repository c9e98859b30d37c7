//! One socket.io client: its Engine.IO session and its namespace sockets.
//!
//! A [`Session`] runs on one thread from open to close: `conn-N` for a
//! client that came straight over WebSocket, or its own `session-N` thread
//! for a client that started with HTTP long-polling (whose HTTP requests come
//! and go on short-lived threads). Either way the loop waits on everything
//! that can happen to the session at once:
//!
//! ```text
//! select! {
//!     WebSocket bytes (conn-N-rx)   → Engine.IO packets → Socket.IO packets → handlers
//!     a probing WebSocket's bytes   → 2probe/3probe, then 5: the upgrade
//!     HTTP requests (ToSession)     → a long-poll waiting for packets, a POST delivering some
//!     outbox (from the hub)         → queue for the client; disconnected = the hub let go: close
//!     ping timer                    → send `2`, start the pong deadline
//!     pong deadline                 → no `3` in time: "ping timeout"
//!     connect deadline              → no namespace joined in time
//! }
//! ```
//!
//! **Namespaces.** Each namespace the client joins (`40/admin,`) gets its own
//! [`Socket`] with its own id, registered with the hub as its own member, so
//! rooms and broadcasts are scoped per namespace exactly as for `/ws`
//! clients (who live in `/`). All of a session's members share one outbox:
//! one connection carries them all, in order. Only the hub holds that
//! outbox's senders, so when it drops the client (too slow, shutdown) the
//! outbox disconnects and the session closes at once, as a `/ws` connection
//! does.
//!
//! **Transports.** Everything the session sends is queued as the
//! [`Message`]s a WebSocket would carry; `flush` hands them to the current
//! transport: written to the WebSocket, or joined into the body of the
//! waiting long-poll. The hub never knows which transport a client uses.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crossbeam_channel::{after, bounded, never, select, Receiver, Sender};
use serde_json::{json, Value};
use tungstenite::Message;

use crate::config::SocketIoConfig;
use crate::hub::{Command, Member, OutboxState};
use crate::reader::Chunk;
use crate::server::Shared;
use crate::socket::{Socket, SocketId, SocketInfo};
use crate::wire::engineio::{self, Packet};
use crate::wire::socketio::{self, Kind};
use crate::wire::Wire;
use crate::wslink::{LinkEnd, WsLink};

/// What an HTTP request thread (or the registry) asks of a session.
pub(crate) enum ToSession {
    /// A long-poll GET: answer with a body of packets when there are some.
    Poll(Sender<Reply>),
    /// A POST with a body of packets from the client.
    Post(String, Sender<Reply>),
    /// Another connection thread upgraded to WebSocket for this session.
    Upgrade(Box<WsLink>),
    /// The server is stopping.
    Shutdown,
}

/// A session's answer to an HTTP request: the body, or why it is refused (400).
pub(crate) type Reply = Result<String, String>;

/// Why a session ended: socket.io's own disconnect reasons, which is also
/// what `on_disconnect` handlers receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// The client closed the connection (Engine.IO `1`, WebSocket Close, TCP end).
    TransportClose(String),
    /// A write failed or the connection broke.
    TransportError(String),
    /// The client left its last namespace (`41`).
    ClientDisconnect,
    /// A handler called `disconnect()` on the last namespace socket.
    ServerDisconnect,
    /// No pong within pingTimeout of a ping.
    PingTimeout,
    /// No namespace joined within connectTimeout.
    ConnectTimeout,
    /// A packet that is not Engine.IO / Socket.IO (close code, reason).
    ParseError(u16, String),
    /// The hub dropped the client: its outbox was full.
    TooSlow,
    /// A handler panicked.
    HandlerPanicked,
    /// The server is shutting down.
    ServerShutdown,
}

impl fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionEnd::TransportClose(why) => write!(f, "transport close ({why})"),
            SessionEnd::TransportError(why) => write!(f, "transport error ({why})"),
            SessionEnd::ClientDisconnect => write!(f, "client namespace disconnect"),
            SessionEnd::ServerDisconnect => write!(f, "server namespace disconnect"),
            SessionEnd::PingTimeout => write!(f, "ping timeout"),
            SessionEnd::ConnectTimeout => write!(f, "connect timeout"),
            SessionEnd::ParseError(code, why) => write!(f, "parse error, closed with {code} ({why})"),
            SessionEnd::TooSlow => write!(f, "too slow: outbox full"),
            SessionEnd::HandlerPanicked => write!(f, "a handler panicked"),
            SessionEnd::ServerShutdown => write!(f, "server shutting down"),
        }
    }
}

/// How packets reach the client now.
enum Transport {
    /// HTTP long-polling: packets wait in the queue for the next poll.
    Polling {
        /// A GET blocked until there is something to send.
        waiting: Option<Sender<Reply>>,
    },
    /// A WebSocket: packets are written as they come.
    WebSocket(Box<WsLink>),
}

/// What is known of the client when its session opens, copied into each of
/// its namespace sockets' [`SocketInfo`].
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub peer: SocketAddr,
    pub path: String,
    pub query: String,
    pub origin: Option<String>,
    pub headers: Vec<(String, String)>,
}

/// One socket.io client. See the [module docs](self).
pub(crate) struct Session {
    /// The Engine.IO session id (the `sid` of every polling request).
    pub sid: String,
    /// The id of the connection that opened it (for logs).
    id: SocketId,
    shared: Arc<Shared>,
    client: Client,
    /// Namespace → the socket joined there. `BTreeMap`: stable order in logs.
    sockets: BTreeMap<String, Socket>,
    /// Binary attachments still to come for the last packet.
    assembler: socketio::Assembler,
    /// The outbox's sender, held only until the first namespace socket
    /// registers and then handed to the hub with it. From then on only the
    /// hub holds senders of this outbox (later namespaces share it through
    /// `Command::RegisterSibling`), so the outbox disconnects the moment the
    /// hub lets go of this client (1013 too slow, 1001 shutdown) and the loop
    /// wakes at once, as a `/ws` connection's does. Were it kept here, the
    /// outbox would never disconnect and the session would only notice at
    /// its next wake-up, up to a ping interval later.
    outbox_tx: Option<Sender<Arc<Message>>>,
    /// Frames from the hub. Replaced by `never()` once disconnected: a
    /// disconnected receiver is always ready and would make `select!` spin.
    outbox: Receiver<Arc<Message>>,
    /// Shared with the hub: `kicked` says why it let go of the outbox (1013
    /// too slow, 1001 shutdown); `busy`/`idle` tell it when this thread is
    /// stuck in a write or a handler, as for `/ws` connections.
    state: Arc<OutboxState>,
    transport: Transport,
    /// A WebSocket being tested with `2probe` before the upgrade.
    probing: Option<Box<WsLink>>,
    /// Packets for the client that the transport has not taken yet.
    queue: Vec<Message>,
    /// A probe succeeded: the next long-poll gets a noop at once so that the
    /// client can stop polling and send `5` on the WebSocket.
    noop_due: bool,
    /// Fires when it is time to ping (v4: the server pings).
    ping_at: Receiver<Instant>,
    /// Fires when the pong is overdue.
    pong_deadline: Receiver<Instant>,
    /// Fires when the client has not joined any namespace in time.
    connect_deadline: Receiver<Instant>,
}

impl Session {
    /// A new session with id `sid`. `link` is the WebSocket of a
    /// WebSocket-only client, `None` after a polling handshake.
    pub fn new(sid: String, id: SocketId, shared: Arc<Shared>, client: Client, link: Option<WsLink>) -> Session {
        let config = &shared.config;
        let (outbox_tx, outbox) = bounded(config.outbox_capacity);
        let transport = match link {
            Some(link) => Transport::WebSocket(Box::new(link)),
            None => Transport::Polling { waiting: None },
        };
        let sio = &config.socketio;
        Session {
            sid,
            id,
            client,
            sockets: BTreeMap::new(),
            assembler: socketio::Assembler::new(sio.max_attachments, sio.max_payload),
            outbox_tx: Some(outbox_tx),
            outbox,
            state: Arc::new(OutboxState::new()),
            transport,
            probing: None,
            queue: Vec::new(),
            noop_due: false,
            ping_at: after(sio.ping_interval),
            pong_deadline: never(),
            connect_deadline: after(sio.connect_timeout),
            shared,
        }
    }

    /// The loop. Runs until the session ends, then cleans up.
    pub fn run(mut self, requests: Receiver<ToSession>) {
        if let Transport::WebSocket(_) = self.transport {
            // WebSocket-only: the open packet is the first frame.
            self.queue.push(open_packet(&self.shared.config.socketio, &self.sid, false).to_message());
        }
        // Written now, not after the loop's first event: a WebSocket-only
        // client says nothing until it has the open packet, so the first
        // event would be the first ping, a whole `pingInterval` (25 s) later.
        let mut ended = self.flush().err();
        let end = loop {
            if let Some(end) = ended.take() {
                break end;
            }
            // Receivers are cheap handles; cloning lets `select!` borrow
            // them while the arms borrow `self` mutably.
            let ws_in = match &self.transport {
                Transport::WebSocket(link) => link.inbound.clone(),
                Transport::Polling { .. } => never(),
            };
            let probe_in = self.probing.as_ref().map(|l| l.inbound.clone()).unwrap_or_else(never);
            let (outbox, ping_at, pong, connect) =
                (self.outbox.clone(), self.ping_at.clone(), self.pong_deadline.clone(), self.connect_deadline.clone());
            let step = select! {
                recv(ws_in) -> chunk => self.on_ws_chunk(chunk.unwrap_or_default()),
                recv(probe_in) -> chunk => self.on_probe_chunk(chunk.unwrap_or_default()),
                recv(requests) -> request => match request {
                    Ok(request) => self.on_request(request),
                    Err(_) => Err(SessionEnd::ServerShutdown),
                },
                recv(outbox) -> frame => match frame {
                    Ok(frame) => self.enqueue(Arc::unwrap_or_clone(frame)),
                    // Frames already queued came first: the hub let go after them.
                    Err(_) => Err(self.hub_let_go()),
                },
                recv(ping_at) -> _ => self.ping(),
                recv(pong) -> _ => Err(SessionEnd::PingTimeout),
                recv(connect) -> _ => self.check_connected(),
            };
            let step = step.and_then(|()| self.flush());
            if let Err(end) = step {
                break end;
            }
        };
        self.finish(end, &requests);
    }

    // ---- Engine.IO ----

    /// Bytes on the session's WebSocket.
    fn on_ws_chunk(&mut self, chunk: Chunk) -> Result<(), SessionEnd> {
        let Transport::WebSocket(link) = &mut self.transport else { return Ok(()) };
        let eof = chunk.is_empty();
        let messages = link.feed(chunk).map_err(link_end)?;
        for message in messages {
            let packet = Packet::from_message(&message).map_err(|e| parse_error(e.to_string()))?;
            self.on_packet(packet)?;
        }
        if eof {
            return Err(SessionEnd::TransportClose("connection ended".into()));
        }
        Ok(())
    }

    /// One Engine.IO packet from the client, over either transport.
    fn on_packet(&mut self, packet: Packet) -> Result<(), SessionEnd> {
        match packet {
            Packet::Pong(_) => {
                // The client is alive: next ping after pingInterval.
                self.pong_deadline = never();
                self.ping_at = after(self.shared.config.socketio.ping_interval);
                Ok(())
            }
            // Clients of Engine.IO 3 pinged the server; answering costs nothing.
            Packet::Ping(data) => {
                self.queue.push(Packet::Pong(data).to_message());
                Ok(())
            }
            Packet::Message(text) => {
                let packet = socketio::decode(&text).map_err(|e| parse_error(e.to_string()))?;
                match self.assembler.text(packet).map_err(assembly_error)? {
                    Some(packet) => self.on_socketio(packet),
                    None => Ok(()), // attachments follow
                }
            }
            Packet::Binary(bytes) => match self.assembler.binary(bytes).map_err(assembly_error)? {
                Some(packet) => self.on_socketio(packet),
                None => Ok(()),
            },
            Packet::Close => Err(SessionEnd::TransportClose("client sent close".into())),
            Packet::Noop | Packet::Upgrade => Ok(()),
            Packet::Open(_) => Err(parse_error("a client may not send open".into())),
        }
    }

    /// A frame from the hub. Over polling it waits here for the next poll:
    /// a client that stops polling may not make this queue grow without end,
    /// so past the outbox's capacity it is dropped, like a slow `/ws` client.
    fn enqueue(&mut self, frame: Message) -> Result<(), SessionEnd> {
        self.queue.push(frame);
        if self.queue.len() > self.shared.config.outbox_capacity {
            return Err(SessionEnd::TooSlow);
        }
        Ok(())
    }

    /// The outbox disconnected: the hub dropped every socket of this client,
    /// and `kicked` says why.
    fn hub_let_go(&mut self) -> SessionEnd {
        self.outbox = never();
        match self.state.kicked.load(Ordering::Relaxed) {
            1013 => SessionEnd::TooSlow,
            // 1001, or 0: the hub stopped before it read our Register.
            _ => SessionEnd::ServerShutdown,
        }
    }

    /// The ping timer fired: ping, and expect a pong within pingTimeout.
    fn ping(&mut self) -> Result<(), SessionEnd> {
        self.queue.push(Packet::Ping(String::new()).to_message());
        self.ping_at = never();
        self.pong_deadline = after(self.shared.config.socketio.ping_timeout);
        Ok(())
    }

    fn check_connected(&mut self) -> Result<(), SessionEnd> {
        self.connect_deadline = never();
        if self.sockets.is_empty() {
            return Err(SessionEnd::ConnectTimeout);
        }
        Ok(())
    }

    // ---- HTTP long-polling and the upgrade ----

    fn on_request(&mut self, request: ToSession) -> Result<(), SessionEnd> {
        match request {
            ToSession::Poll(reply) => self.on_poll(reply),
            ToSession::Post(body, reply) => self.on_post(body, reply),
            ToSession::Upgrade(link) => {
                if self.probing.is_some() || matches!(self.transport, Transport::WebSocket(_)) {
                    log::info!("session {}: refusing a second WebSocket (conn {})", self.sid, link.id);
                    // No waiting for its Close reply: the session must not stall.
                    link.close(1008, "session already upgraded", std::time::Duration::ZERO);
                } else {
                    log::info!("session {}: probing a WebSocket (conn {})", self.sid, link.id);
                    self.probing = Some(link);
                }
                Ok(())
            }
            ToSession::Shutdown => Err(SessionEnd::ServerShutdown),
        }
    }

    fn on_poll(&mut self, reply: Sender<Reply>) -> Result<(), SessionEnd> {
        let Transport::Polling { waiting } = &mut self.transport else {
            let _ = reply.send(Err("this session was upgraded to WebSocket".into()));
            return Ok(());
        };
        if let Some(first) = waiting.take() {
            // Two long-polls at once: the protocol says the session is broken.
            let _ = first.send(Ok(Packet::Close.text()));
            let _ = reply.send(Err("overlapping long-poll requests".into()));
            return Err(SessionEnd::TransportError("overlapping long-poll requests".into()));
        }
        *waiting = Some(reply);
        Ok(())
    }

    fn on_post(&mut self, body: String, reply: Sender<Reply>) -> Result<(), SessionEnd> {
        if let Transport::WebSocket(_) = self.transport {
            let _ = reply.send(Err("this session was upgraded to WebSocket".into()));
            return Ok(());
        }
        let packets = match engineio::decode_payload(&body) {
            Ok(packets) => packets,
            Err(e) => {
                let _ = reply.send(Err(e.to_string()));
                return Err(parse_error(e.to_string()));
            }
        };
        for packet in packets {
            if let Err(end) = self.on_packet(packet) {
                let answer = match &end {
                    SessionEnd::ParseError(_, why) => Err(why.clone()),
                    _ => Ok("ok".to_string()),
                };
                let _ = reply.send(answer);
                return Err(end);
            }
        }
        let _ = reply.send(Ok("ok".into()));
        Ok(())
    }

    /// Bytes on the WebSocket being probed.
    fn on_probe_chunk(&mut self, chunk: Chunk) -> Result<(), SessionEnd> {
        let Some(link) = self.probing.as_mut() else { return Ok(()) };
        let eof = chunk.is_empty();
        let messages = match link.feed(chunk) {
            Ok(messages) => messages,
            Err(end) => {
                log::info!("session {}: the probing WebSocket ended: {end:?}", self.sid);
                self.probing = None;
                return Ok(());
            }
        };
        let mut messages = messages.into_iter();
        while let Some(message) = messages.next() {
            match Packet::from_message(&message) {
                Ok(Packet::Ping(data)) if data == "probe" => {
                    if link.send(Packet::Pong(data).to_message()).is_err() {
                        self.probing = None;
                        return Ok(());
                    }
                    // Release the waiting long-poll so the client can send `5`.
                    self.noop_due = true;
                }
                Ok(Packet::Upgrade) => {
                    let link = self.probing.take().expect("probing");
                    log::info!("session {}: upgraded to WebSocket (conn {})", self.sid, link.id);
                    if let Transport::Polling { waiting: Some(poll) } = &mut self.transport {
                        let _ = poll.send(Ok(Packet::Noop.text()));
                    }
                    self.noop_due = false;
                    self.transport = Transport::WebSocket(link);
                    // Packets right behind `5` (same chunk) belong to the session now.
                    for message in messages {
                        let packet = Packet::from_message(&message).map_err(|e| parse_error(e.to_string()))?;
                        self.on_packet(packet)?;
                    }
                    return Ok(());
                }
                _ => {
                    log::info!("session {}: unexpected packet while probing; dropping the WebSocket", self.sid);
                    self.probing = None;
                    return Ok(());
                }
            }
        }
        if eof {
            self.probing = None;
        }
        Ok(())
    }

    /// Hands queued packets to the transport.
    fn flush(&mut self) -> Result<(), SessionEnd> {
        match &mut self.transport {
            Transport::WebSocket(link) => {
                self.state.busy();
                let written = self.queue.drain(..).try_for_each(|message| link.send(message));
                self.state.idle();
                written.map_err(link_end)?;
            }
            Transport::Polling { waiting } => {
                if waiting.is_none() {
                    return Ok(());
                }
                let body = if self.noop_due {
                    self.noop_due = false;
                    Packet::Noop.text()
                } else if !self.queue.is_empty() {
                    engineio::encode_payload(&std::mem::take(&mut self.queue))
                } else {
                    return Ok(());
                };
                if let Some(poll) = waiting.take() {
                    let _ = poll.send(Ok(body));
                }
            }
        }
        Ok(())
    }

    // ---- Socket.IO ----

    /// One complete Socket.IO packet.
    fn on_socketio(&mut self, packet: socketio::Packet) -> Result<(), SessionEnd> {
        match packet.kind {
            Kind::Connect => self.connect(packet.nsp, packet.data.unwrap_or_else(|| json!({}))),
            Kind::Disconnect => {
                if let Some(socket) = self.sockets.remove(&packet.nsp) {
                    self.leave(socket, "client namespace disconnect");
                }
                if self.sockets.is_empty() {
                    return Err(SessionEnd::ClientDisconnect);
                }
                Ok(())
            }
            Kind::Event | Kind::Ack => {
                let nsp = packet.nsp.clone();
                let Some(inbound) = socketio::to_inbound(packet) else { return Ok(()) };
                if !self.sockets.contains_key(&nsp) {
                    // In flight after a disconnect, or never joined: nobody listens.
                    log::debug!("session {}: packet for namespace {nsp} it has not joined", self.sid);
                    return Ok(());
                }
                self.run_handler(&nsp, |socket| socket.dispatch(inbound))
            }
            _ => Err(parse_error(format!("a client may not send {:?}", packet.kind))),
        }
    }

    /// CONNECT: join a namespace, or refuse an unknown one or one whose
    /// connect check says no. A refusal is a CONNECT_ERROR for that namespace
    /// only: the session stays open for others.
    fn connect(&mut self, nsp: String, auth: Value) -> Result<(), SessionEnd> {
        let Some(handler) = self.shared.namespace_handler(&nsp) else {
            log::info!("session {}: refused unknown namespace {nsp}", self.sid);
            self.queue.push(connect_error(nsp, "Invalid namespace"));
            return Ok(());
        };
        if self.sockets.contains_key(&nsp) {
            log::debug!("session {}: already in namespace {nsp}", self.sid);
            return Ok(());
        }
        let id = self.shared.next_socket_id();
        let info = SocketInfo {
            id,
            peer: self.client.peer,
            path: self.client.path.clone(),
            query: self.client.query.clone(),
            origin: self.client.origin.clone(),
            headers: self.client.headers.clone(),
            protocol: Wire::SocketIo.name(),
            connected_at: SystemTime::now(),
        };
        // Application code, like a handler: the hub may see this thread busy.
        self.state.busy();
        let checked = self.shared.check_connect(&nsp, &auth, &info);
        self.state.idle();
        if let Err(message) = checked {
            log::info!("socket {id}: refused by the connect check of {nsp}: {message} (session {})", self.sid);
            self.queue.push(connect_error(nsp, &message));
            return Ok(());
        }
        let socket = Socket::new(info, self.shared.io.of(&nsp)).with_auth(auth);
        // The first socket takes the outbox's sender to the hub; later ones
        // join it there (see `outbox_tx`).
        let register = match (self.outbox_tx.take(), self.sockets.values().next()) {
            (Some(outbox), _) => Command::Register(Member {
                id,
                wire: Wire::SocketIo,
                nsp: nsp.clone(),
                outbox,
                state: self.state.clone(),
            }),
            (None, Some(sibling)) => Command::RegisterSibling { id, nsp: nsp.clone(), sibling: sibling.id() },
            (None, None) => {
                // Never: the session ends as soon as its last socket leaves.
                log::error!("session {}: no socket to share the outbox with", self.sid);
                return Err(SessionEnd::ServerDisconnect);
            }
        };
        self.shared.io.send(register);
        log::info!("socket {id}: joined namespace {nsp} (session {}, conn {})", self.sid, self.id);
        // The CONNECT answer goes first: the client must know its socket
        // before the handler's first emit arrives.
        let accepted = socketio::Packet {
            kind: Kind::Connect,
            nsp: nsp.clone(),
            id: None,
            attachments: 0,
            data: Some(json!({ "sid": random_id() })),
        };
        self.queue.push(Packet::Message(accepted.encode()).to_message());
        self.sockets.insert(nsp.clone(), socket);
        self.connect_deadline = never();
        match handler {
            Some(handler) => self.run_handler(&nsp, |socket| handler(socket)),
            None => Ok(()),
        }
    }

    /// Runs handler code for the socket of `nsp`, then sends what it queued
    /// and honours `disconnect()`.
    fn run_handler(&mut self, nsp: &str, f: impl FnOnce(&Socket)) -> Result<(), SessionEnd> {
        let Some(socket) = self.sockets.get(nsp) else { return Ok(()) };
        self.state.busy();
        let panicked = panic::catch_unwind(AssertUnwindSafe(|| f(socket))).is_err();
        self.state.idle();
        for item in socket.take_queued() {
            self.queue.extend(socketio::encode_outgoing(nsp, &item));
        }
        if panicked {
            log::error!("socket {}: a handler panicked; closing the session", socket.id());
            return Err(SessionEnd::HandlerPanicked);
        }
        if socket.disconnect_requested() {
            let leave =
                socketio::Packet { kind: Kind::Disconnect, nsp: nsp.into(), id: None, attachments: 0, data: None };
            self.queue.push(Packet::Message(leave.encode()).to_message());
            if let Some(socket) = self.sockets.remove(nsp) {
                self.leave(socket, "server namespace disconnect");
            }
            if self.sockets.is_empty() {
                return Err(SessionEnd::ServerDisconnect);
            }
        }
        Ok(())
    }

    /// A namespace socket is gone: out of the hub first, then its handlers.
    fn leave(&self, socket: Socket, reason: &str) {
        self.shared.io.send(Command::Unregister(socket.id()));
        log::info!("socket {}: left namespace {} ({reason})", socket.id(), socket.namespace());
        if panic::catch_unwind(AssertUnwindSafe(|| socket.disconnected(reason))).is_err() {
            log::error!("socket {}: an on_disconnect handler panicked", socket.id());
        }
    }

    /// The end: every socket leaves, the transport is closed as the reason
    /// asks, and the session leaves the registry.
    fn finish(mut self, end: SessionEnd, requests: &Receiver<ToSession>) {
        match &end {
            SessionEnd::ParseError(..) | SessionEnd::TransportError(_) | SessionEnd::PingTimeout => {
                log::warn!("session {}: closed: {end}", self.sid)
            }
            _ => log::info!("session {}: closed: {end}", self.sid),
        }
        let reason = end.to_string();
        for (_, socket) in std::mem::take(&mut self.sockets) {
            self.leave(socket, &reason);
        }
        if let Some(link) = self.probing.take() {
            link.stop();
        }
        let close_timeout = self.shared.config.close_timeout;
        match std::mem::replace(&mut self.transport, Transport::Polling { waiting: None }) {
            Transport::WebSocket(mut link) => {
                // Deliver what is queued (e.g. a server `41`), then close.
                let delivered = self.queue.drain(..).try_for_each(|m| link.send(m));
                match (&end, delivered) {
                    (_, Err(_)) | (SessionEnd::TransportClose(_) | SessionEnd::TransportError(_), _) => link.stop(),
                    (SessionEnd::ParseError(code, why), _) => link.close(*code, why, close_timeout),
                    (SessionEnd::ServerShutdown, _) => link.close(1001, "server shutting down", close_timeout),
                    (SessionEnd::TooSlow, _) => link.close(1013, "too slow: outbox full", close_timeout),
                    (SessionEnd::HandlerPanicked, _) => link.close(1011, "handler panicked", close_timeout),
                    (SessionEnd::PingTimeout, _) => link.close(1000, "ping timeout", close_timeout),
                    _ => link.close(1000, "", close_timeout),
                }
            }
            Transport::Polling { waiting } => {
                let client_side = matches!(
                    end,
                    SessionEnd::TransportClose(_)
                        | SessionEnd::TransportError(_)
                        | SessionEnd::ParseError(..)
                        | SessionEnd::PingTimeout
                );
                if end == SessionEnd::ServerShutdown {
                    // No waiting for polls while the server stops: a waiting
                    // one gets what is queued and the close, others get 400.
                    if let Some(poll) = waiting {
                        self.queue.push(Packet::Close.to_message());
                        let _ = poll.send(Ok(engineio::encode_payload(&self.queue)));
                    }
                } else if client_side {
                    // The client closed or broke the session: a waiting poll gets a noop.
                    if let Some(poll) = waiting {
                        let _ = poll.send(Ok(Packet::Noop.text()));
                    }
                } else {
                    // We close: the last packets (a `41`) go in one poll and
                    // the close packet in the next (the client acts on a close
                    // at once, before the packets beside it). Wait for those
                    // polls a little when none is waiting.
                    let mut waiting = waiting;
                    if !self.queue.is_empty() {
                        if let Some(poll) = waiting.take().or_else(|| next_poll(requests, close_timeout)) {
                            let _ = poll.send(Ok(engineio::encode_payload(&self.queue)));
                        }
                    }
                    if let Some(poll) = waiting.or_else(|| next_poll(requests, close_timeout)) {
                        let _ = poll.send(Ok(Packet::Close.text()));
                    }
                }
            }
        }
        self.shared.sessions.remove(&self.sid);
    }
}

/// The Engine.IO open packet: the session id, whether it may upgrade, and
/// the heartbeat the client must expect.
pub(crate) fn open_packet(sio: &SocketIoConfig, sid: &str, polling: bool) -> Packet {
    let upgrades: &[&str] = if polling { &["websocket"] } else { &[] };
    Packet::Open(
        json!({
            "sid": sid,
            "upgrades": upgrades,
            "pingInterval": sio.ping_interval.as_millis() as u64,
            "pingTimeout": sio.ping_timeout.as_millis() as u64,
            "maxPayload": sio.max_payload,
        })
        .to_string(),
    )
}

/// Waits (at most `timeout`) for the client's next long-poll, refusing
/// anything else: the session is closing.
fn next_poll(requests: &Receiver<ToSession>, timeout: std::time::Duration) -> Option<Sender<Reply>> {
    let deadline = after(timeout);
    loop {
        select! {
            recv(requests) -> request => match request {
                Ok(ToSession::Poll(reply)) => return Some(reply),
                Ok(ToSession::Post(_, reply)) => {
                    let _ = reply.send(Err("the session is closing".into()));
                }
                Ok(ToSession::Upgrade(link)) => link.stop(),
                Ok(ToSession::Shutdown) | Err(_) => return None,
            },
            recv(deadline) -> _ => return None,
        }
    }
}

/// A CONNECT_ERROR: the client's `connect_error` event for `nsp`, with `message`.
fn connect_error(nsp: String, message: &str) -> Message {
    let refusal = socketio::Packet {
        kind: Kind::ConnectError,
        nsp,
        id: None,
        attachments: 0,
        data: Some(json!({ "message": message })),
    };
    Packet::Message(refusal.encode()).to_message()
}

fn parse_error(why: String) -> SessionEnd {
    SessionEnd::ParseError(1002, why)
}

/// Too many attachments or bytes in them: 1009; a broken packet: 1002.
fn assembly_error(e: socketio::AssemblyError) -> SessionEnd {
    SessionEnd::ParseError(e.close_code(), e.to_string())
}

fn link_end(end: LinkEnd) -> SessionEnd {
    match end {
        LinkEnd::Closed(Some(code)) => SessionEnd::TransportClose(format!("client closed with {code}")),
        LinkEnd::Closed(None) => SessionEnd::TransportClose("client closed".into()),
        LinkEnd::Failed(code, why) => SessionEnd::TransportError(format!("closed with {code}: {why}")),
        LinkEnd::Gone(why) => SessionEnd::TransportError(why),
    }
}

/// A random, unguessable id (20 characters, URL-safe). Engine.IO session
/// ids authorise polling requests on their own, so they must not be
/// predictable.
pub(crate) fn random_id() -> String {
    let mut bytes = [0u8; 15];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness (never seen on Linux): fall back to the clock.
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos();
        bytes[..15].copy_from_slice(&nanos.to_le_bytes()[..15]);
    }
    data_encoding::BASE64URL_NOPAD.encode(&bytes)
}
