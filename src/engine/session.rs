//! [`Session`]: one socket.io client's Engine.IO session, as state.
//!
//! A session is not a thread. It is a value that whoever has something for
//! it drives, under its lock:
//!
//! ```text
//! over WebSocket:   the client's conn-N thread   → packets from its frames, timers from its read deadline
//! over polling:     the thread of each POST      → packets from the body
//!                   the engine-timers thread     → the ping, the pong and connect deadlines
//! ```
//!
//! Everything a session sends goes into its client's outlet, which writes it
//! to the WebSocket or keeps it for the next long-poll: a session never
//! knows which transport carries it, and the hub never knows either.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use serde_json::json;
use tungstenite::Message;

use super::namespaces::{parse_error, send, Namespaces};
use crate::config::SocketIoConfig;
use crate::context::Context;
use crate::hub::{Command, ConnId, Outlet};
use crate::wire::engineio::Packet;

/// Why a session ended: socket.io's own disconnect reasons, which is also
/// what `on_disconnect` handlers receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// The client closed the connection (Engine.IO `1`, WebSocket Close, TCP end).
    TransportClose(String),
    /// A write failed or the connection broke.
    TransportError(String),
    /// No pong within pingTimeout of a ping.
    PingTimeout,
    /// No namespace joined within connectTimeout.
    ConnectTimeout,
    /// A packet that is not Engine.IO / Socket.IO (close code, reason).
    ParseError(u16, String),
    /// The client stopped reading: its backlog was full or stuck.
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
            SessionEnd::PingTimeout => write!(f, "ping timeout"),
            SessionEnd::ConnectTimeout => write!(f, "connect timeout"),
            SessionEnd::ParseError(code, why) => write!(f, "parse error, closed with {code} ({why})"),
            SessionEnd::TooSlow => write!(f, "too slow: the client is not reading"),
            SessionEnd::HandlerPanicked => write!(f, "a handler panicked"),
            SessionEnd::ServerShutdown => write!(f, "server shutting down"),
        }
    }
}

impl SessionEnd {
    /// True when the client ended it (or vanished): nothing more can reach it.
    pub fn by_client(&self) -> bool {
        matches!(
            self,
            SessionEnd::TransportClose(_)
                | SessionEnd::TransportError(_)
                | SessionEnd::ParseError(..)
                | SessionEnd::PingTimeout
        )
    }

    /// The WebSocket close code and reason for a session the server ends.
    pub fn close_code(&self) -> (u16, String) {
        match self {
            SessionEnd::ParseError(code, why) => (*code, why.clone()),
            SessionEnd::ServerShutdown => (1001, "server shutting down".into()),
            SessionEnd::TooSlow => (1013, "too slow: the client is not reading".into()),
            SessionEnd::HandlerPanicked => (1011, "handler panicked".into()),
            SessionEnd::PingTimeout => (1000, "ping timeout".into()),
            SessionEnd::ConnectTimeout => (1000, "connect timeout".into()),
            _ => (1000, String::new()),
        }
    }

    /// The end that a Close we sent stands for (the hub's 1001 or 1013).
    pub fn from_our_close(code: u16, reason: &str) -> SessionEnd {
        match code {
            1001 => SessionEnd::ServerShutdown,
            1013 => SessionEnd::TooSlow,
            1011 => SessionEnd::HandlerPanicked,
            code if code != 1000 => SessionEnd::ParseError(code, reason.to_string()),
            _ => SessionEnd::TransportClose(reason.to_string()),
        }
    }
}

/// What is known of the client when its session opens, copied into each of
/// its namespace sockets' `SocketInfo`.
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
    /// The connection id of this client's outlet (for logs and the hub).
    pub conn: ConnId,
    /// Where everything for this client goes.
    pub outlet: Arc<Outlet>,
    ctx: Arc<Context>,
    client: Client,
    namespaces: Namespaces,
    /// When the next ping is due (v4: the server pings).
    ping_at: Option<Instant>,
    /// When the pong to the last ping is overdue.
    pong_by: Option<Instant>,
    /// When a client that has joined no namespace is closed.
    connect_by: Option<Instant>,
}

impl Session {
    /// A new session with id `sid`, writing through `outlet`.
    pub fn new(sid: String, outlet: Arc<Outlet>, ctx: Arc<Context>, client: Client) -> Session {
        let sio = &ctx.config.socketio;
        let now = Instant::now();
        Session {
            sid,
            conn: outlet.id,
            ping_at: Some(now + sio.ping_interval),
            pong_by: None,
            connect_by: Some(now + sio.connect_timeout),
            outlet,
            client,
            namespaces: Namespaces::default(),
            ctx,
        }
    }

    /// The session's id as logs show it: enough to follow it, not enough to
    /// use it (a sid is all a polling request needs to act as the client).
    pub fn short_sid(&self) -> &str {
        short_sid(&self.sid)
    }

    // ANCHOR: on_packet
    /// One Engine.IO packet from the client, over either transport.
    pub fn on_packet(&mut self, packet: Packet) -> Result<(), SessionEnd> {
        match packet {
            Packet::Pong(_) => {
                // The client is alive: next ping after pingInterval.
                self.pong_by = None;
                self.ping_at = Some(Instant::now() + self.ctx.config.socketio.ping_interval);
                Ok(())
            }
            // Clients of Engine.IO 3 pinged the server; answering costs nothing.
            Packet::Ping(data) => {
                send(&self.outlet, Packet::Pong(data).to_message());
                Ok(())
            }
            Packet::Message(text) => {
                let (ctx, outlet, client) = (&self.ctx, &self.outlet, &self.client);
                let result = self.namespaces.on_text(&text, ctx, outlet, client);
                if !self.namespaces.is_empty() {
                    self.connect_by = None;
                }
                result
            }
            Packet::Binary(bytes) => self.namespaces.on_binary(bytes, &self.ctx, &self.outlet, &self.client),
            Packet::Close => Err(SessionEnd::TransportClose("client sent close".into())),
            Packet::Noop | Packet::Upgrade => Ok(()),
            Packet::Open(_) => Err(parse_error("a client may not send open".into())),
        }
    }
    // ANCHOR_END: on_packet

    /// One WebSocket data frame: an Engine.IO packet.
    pub fn on_message(&mut self, message: &Message) -> Result<(), SessionEnd> {
        let packet = Packet::from_message(message).map_err(|e| parse_error(e.to_string()))?;
        self.on_packet(packet)
    }

    // ANCHOR: on_timers
    /// Whatever is due at `now`: ping, and expect a pong within pingTimeout;
    /// no pong in time; no namespace joined in time.
    pub fn on_timers(&mut self, now: Instant) -> Result<(), SessionEnd> {
        if self.pong_by.is_some_and(|at| now >= at) {
            return Err(SessionEnd::PingTimeout);
        }
        if self.connect_by.is_some_and(|at| now >= at) {
            self.connect_by = None;
            if self.namespaces.is_empty() {
                return Err(SessionEnd::ConnectTimeout);
            }
        }
        if self.ping_at.is_some_and(|at| now >= at) {
            send(&self.outlet, Packet::Ping(String::new()).to_message());
            self.ping_at = None;
            self.pong_by = Some(now + self.ctx.config.socketio.ping_timeout);
        }
        Ok(())
    }
    // ANCHOR_END: on_timers

    /// The next time [`on_timers`](Self::on_timers) has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        [self.ping_at, self.pong_by, self.connect_by].into_iter().flatten().min()
    }

    /// The end: every socket leaves with the reason, and the hub forgets the
    /// connection. Closing the transport is the caller's job.
    pub fn finish(&mut self, end: &SessionEnd) {
        match end {
            SessionEnd::ParseError(..) | SessionEnd::TransportError(_) | SessionEnd::PingTimeout => {
                log::warn!("session {}: closed: {end}", self.short_sid())
            }
            _ => log::info!("session {}: closed: {end}", self.short_sid()),
        }
        self.namespaces.leave_all(&end.to_string());
        self.ctx.io.send(Command::Gone(self.conn));
    }
}

/// The first characters of a session id: for logs only.
pub(crate) fn short_sid(sid: &str) -> &str {
    sid.get(..6).unwrap_or(sid)
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
