//! What is known of a socket.io client, and why its session ends: the
//! words the session and its namespaces share.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use tungstenite::Message;

use crate::hub::Outlet;
use crate::wire::Encoded;

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
    /// The client sent more messages per second than the server allows.
    Flooding(String),
    /// The server closed the connection (with 1000: `disconnect_sockets(true)`,
    /// a recovered client's old connection).
    ServerClosed(String),
    /// The application closed it (`EngineSocket::close`; Node's `socket.close()`).
    Forced,
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
            SessionEnd::Flooding(why) => write!(f, "flooding: {why}"),
            SessionEnd::ServerClosed(why) => write!(f, "server closed the connection ({why})"),
            SessionEnd::Forced => write!(f, "forced close"),
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

    /// True when the client may come back for its session (connection
    /// state recovery): its transport broke, closed or went silent, it was
    /// too slow, or the server stopped (Node's recoverable reasons:
    /// "transport error", "transport close", "ping timeout", "forced
    /// close", "server shutting down").
    pub fn recoverable(&self) -> bool {
        matches!(
            self,
            SessionEnd::TransportClose(_)
                | SessionEnd::TransportError(_)
                | SessionEnd::PingTimeout
                | SessionEnd::TooSlow
                | SessionEnd::ServerShutdown
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
            SessionEnd::Flooding(why) => (1008, why.clone()),
            SessionEnd::ServerClosed(why) => (1000, why.clone()),
            SessionEnd::Forced => (1000, "forced close".into()),
            _ => (1000, String::new()),
        }
    }

    /// The end that a Close we sent stands for (the hub's 1001 or 1013).
    pub fn from_our_close(code: u16, reason: &str) -> SessionEnd {
        match code {
            1001 => SessionEnd::ServerShutdown,
            1013 => SessionEnd::TooSlow,
            1011 => SessionEnd::HandlerPanicked,
            1008 => SessionEnd::Flooding(reason.to_string()),
            code if code != 1000 => SessionEnd::ParseError(code, reason.to_string()),
            _ if reason == "forced close" => SessionEnd::Forced,
            _ => SessionEnd::ServerClosed(reason.to_string()),
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

/// The first characters of a session id: for logs only.
pub(crate) fn short_sid(sid: &str) -> &str {
    sid.get(..6).unwrap_or(sid)
}

/// Queues one Engine.IO message for the client.
pub(crate) fn send(outlet: &Arc<Outlet>, message: Message) {
    outlet.push(&Encoded::new(vec![message]));
}

pub(crate) fn parse_error(why: String) -> SessionEnd {
    SessionEnd::ParseError(1002, why)
}

/// A random, unguessable id (20 characters, URL-safe): see `hub::socket`.
pub(crate) use crate::hub::ids::random_id;
