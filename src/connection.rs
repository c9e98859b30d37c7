//! A `/ws` client on its own thread `conn-N`, from the 101 to the close.
//!
//! The thread registers the client with the hub, runs the application's
//! `on_connection` handler, and then loops in `Connection::run`:
//!
//! ```text
//! loop {
//!     link.next(deadline)  → a message: decode the JSON envelope, run its handler here
//!                          → the deadline: ping, or give up on a client silent too long
//!                          → the end: close handshake done, reset, broken rule
//! }
//! ```
//!
//! What the hub broadcasts meanwhile never passes through this loop: the hub
//! writes it into the client's outlet itself, while this thread sleeps in
//! `read` or runs a handler. Everything that ends a connection becomes an
//! [`Ending`], logged once; nothing reaches the listener.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tungstenite::Message;

use crate::conn::Conn;
use crate::context::Context;
use crate::hub::socket::Parts;
use crate::hub::{Command, Credits, Outlet, Restored, Socket, SocketInfo};
use crate::websocket::rate::Rate;
use crate::websocket::{Link, LinkEnd};
use crate::wire::{frame, json_session_frame, Wire};
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
    /// The socket failed.
    SocketError(String),
}

impl Ending {
    /// True when the client may come back for its session (connection
    /// state recovery): the connection broke or went silent, the client
    /// closed with anything but a goodbye (1000, 1001, no code), or the
    /// server dropped it as too slow or stopped.
    pub fn recoverable(&self) -> bool {
        match self {
            Ending::Reset | Ending::Silent | Ending::SocketError(_) => true,
            Ending::ClientClosed(Some(code)) => !matches!(code, 1000 | 1001),
            Ending::ClientClosed(None) | Ending::Failed(..) => false,
            Ending::ServerClosed(code, _) => matches!(code, 1001 | 1013),
        }
    }
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
            Ending::SocketError(e) => write!(f, "socket error: {e}"),
        }
    }
}

// ANCHOR: run_websocket
/// After the 101: register with the hub and run the application's
/// `on_connection` handler. Returns the connection, ready for its loop
/// ([`Connection::run`]), which the thread runs from its top frame: setup
/// here is deep, the loop is shallow, and an idle client should keep only
/// the stack its loop uses (`src/stack.rs`). `restored`: the session a
/// recovering client took back (chapter 14).
pub(crate) fn run_websocket(
    socket: Conn,
    rest: Vec<u8>,
    info: SocketInfo,
    ctx: &Arc<Context>,
    restored: Option<Restored>,
) -> Connection {
    let id = info.id;
    let config = &ctx.config;
    let stream = Arc::new(socket);
    let outlet = Outlet::websocket(id, stream.clone(), ctx.limits(), ctx.hub_notices.clone());
    ctx.io.send(Command::Open(outlet.clone()));
    let (held, replaced) = match restored {
        Some(restored) => (Some(restored.held), restored.replaced),
        None => (None, None),
    };
    if let Some(old) = replaced {
        // Its client is here now: the old socket's handlers learn it left.
        let _ = Context::guard(&old, |old| old.finish("connection replaced by the client's new one", false));
    }
    let replay = held.as_ref().map(|held| held.offset);
    // `/ws` clients live in socket.io's default namespace, `/`.
    let parts = Parts {
        info,
        wire: Wire::Json,
        io: ctx.io.for_client(Credits::new()),
        outlet: outlet.clone(),
        auth: Value::Null,
        secure: stream.is_tls(),
        restored: held,
    };
    let socket = Socket::new(parts);
    // Recovery: the client learns its ids before anything else.
    let greeting = socket.pid().map(|pid| json_session_frame(socket.sid(), pid, socket.recovered()));
    socket.register(replay, greeting);
    if ctx.is_stopping() {
        // The hub may have stopped before it read our Open: close ourselves.
        outlet.close(1001, "server shutting down", false);
    }

    // tungstenite keeps `rest`'s allocation (the request head's 1 KiB) as
    // its read buffer. Cheaper than a fresh 512 bytes: a buffer freed here
    // would stay in this thread's malloc cache for the client's whole life.
    let link = Link::new(stream, rest, outlet, config.websocket());
    let connected = link.last_heard; // no ping yet: the upgrade counts as hearing from it
    let mut conn = Connection {
        link,
        socket,
        ctx: ctx.clone(),
        ping_interval: config.ping_interval,
        idle_timeout: config.idle_timeout,
        close_timeout: config.close_timeout,
        pinged_at: connected,
        rate: config.max_message_rate.map(Rate::new),
    };
    if let Some(handler) = ctx.namespace_handler("/", &Value::Null).flatten() {
        conn.guard(|socket| handler(socket));
    }
    conn
}
// ANCHOR_END: run_websocket

/// One `/ws` client, owned by its connection thread.
pub struct Connection {
    /// The client's WebSocket: this thread reads it; writes go through its outlet.
    link: Link,
    /// The handle handlers see.
    socket: Socket,
    /// The server: its hub, for the goodbye.
    ctx: Arc<Context>,
    ping_interval: Duration,
    idle_timeout: Duration,
    close_timeout: Duration,
    /// When we last pinged: the next ping is due a ping interval after this
    /// or after the client's last frame, whichever is later; while it has no
    /// answer, the client has [`pong_wait`](Self::pong_wait) to give one.
    pinged_at: Instant,
    /// The client's message budget, when the server sets one.
    rate: Option<Rate>,
}

impl Connection {
    /// The loop, until the connection ends; then the goodbye: the
    /// handlers learn why, the hub forgets the client, the socket closes.
    /// By reference: the connection stays where the thread's top frame
    /// keeps it, and the loop's frame holds no copy of it (src/stack.rs).
    pub(crate) fn run(&mut self) {
        // The setup's stack pages go back to the kernel: from here on the
        // thread touches only what the loop uses (`src/stack.rs`).
        crate::stack::release_unused();
        let ending = self.serve();
        self.goodbye(ending);
    }

    /// After the loop: the handlers learn why, the hub forgets the client,
    /// the socket closes. Its own frame, never inlined into `run`: what it
    /// needs on the stack (the reason as text, the log line) would otherwise
    /// sit below the loop for the client's whole life, and an idle client
    /// would keep a third page of stack (src/stack.rs).
    #[inline(never)]
    fn goodbye(&mut self, ending: Ending) {
        let id = self.socket.id();
        match &ending {
            // `{:?}` of the text: a reason may quote the client; control
            // characters in it must not start a line of their own in the log.
            Ending::Failed(..) | Ending::SocketError(_) | Ending::Silent => {
                log::warn!("socket {id}: closed: {:?}", ending.to_string())
            }
            _ => log::info!("socket {id}: closed: {:?}", ending.to_string()),
        }
        // Out of the hub first, so no broadcast is written to a socket that is gone.
        let keep = ending.recoverable();
        if Context::guard(&self.socket, |socket| socket.finish(&ending.to_string(), keep)).is_err() {
            log::error!("socket {id}: an on_disconnect handler panicked");
        }
        self.ctx.io.send(Command::Gone(id));
        self.link.finish(matches!(ending, Ending::Failed(..)), self.close_timeout);
    }

    /// The loop. Returns how the connection ended.
    fn serve(&mut self) -> Ending {
        loop {
            // ANCHOR: loop
            let step = match self.link.next(self.deadline()) {
                Ok(Some(message)) => self.on_message(message),
                Ok(None) => self.on_deadline(),
                Err(end) => return self.ended(end),
            };
            if let Err(ending) = step {
                return ending;
            }
            // ANCHOR_END: loop
        }
    }

    // ANCHOR: deadline
    /// When this thread must wake even if the client says nothing: the next
    /// ping, the end of the wait for its answer, or (closing) the end of our
    /// wait for its Close.
    fn deadline(&self) -> Option<Instant> {
        let outlet = self.link.outlet();
        if let Some(since) = outlet.closing_since() {
            // The hub wakes us at the close timeout; this is the fallback.
            return Some(since + self.close_timeout + Duration::from_secs(1));
        }
        if outlet.is_closing() {
            return None; // the client closed: tungstenite's reply ends it
        }
        Some(match self.awaiting_pong() {
            true => self.pinged_at + self.pong_wait(),
            false => self.pinged_at.max(self.link.last_heard) + self.ping_interval,
        })
    }

    /// True while our last ping has had no answer (nor any other frame).
    fn awaiting_pong(&self) -> bool {
        self.pinged_at > self.link.last_heard
    }

    /// How long a pinged client has to answer: what is left of the idle
    /// timeout after a ping interval of silence (20 s of the default 45 s).
    /// Counted from the ping, not from the last frame: a process stopped in
    /// a debugger for a minute pings everyone when it goes on, and drops
    /// only those who do not answer.
    fn pong_wait(&self) -> Duration {
        self.idle_timeout.saturating_sub(self.ping_interval).max(Duration::from_millis(1))
    }
    // ANCHOR_END: deadline

    /// One complete message from the client. Never inlined, nor is
    /// `on_deadline`: their frames then exist only while they run, and the
    /// loop's own frame, under which an idle client waits, stays small
    /// (src/stack.rs).
    #[inline(never)]
    // ANCHOR: on_message
    fn on_message(&mut self, message: Message) -> Result<(), Ending> {
        if self.link.outlet().is_closing() {
            return Ok(()); // after a Close, data is dropped
        }
        if let Some(reason) = Rate::exceeded(&mut self.rate) {
            log::warn!("socket {}: flooding: {reason}; closing with 1008", self.socket.id());
            self.link.outlet().close(1008, &reason, false);
            return Ok(());
        }
        if self.socket.takes_raw_messages() {
            self.guard(|socket| socket.dispatch_raw(message));
            return Ok(());
        }
        match Wire::Json.decode(&message) {
            Ok(inbound) => self.guard(|socket| socket.dispatch(inbound)),
            Err(why) => {
                log::info!("socket {}: bad frame: {why:?}", self.socket.id());
                self.socket.report_error(why);
            }
        }
        Ok(())
    }
    // ANCHOR_END: on_message

    /// Runs handler code; a panic closes only this connection, with 1011.
    fn guard(&mut self, f: impl FnOnce(&Socket)) {
        if Context::guard(&self.socket, f).is_err() {
            log::error!("socket {}: closing this connection with 1011", self.socket.id());
            self.link.outlet().close(1011, "handler panicked", false);
        }
    }

    /// A deadline passed: ping, or give up on a client that did not answer.
    #[inline(never)]
    // ANCHOR: on_deadline
    fn on_deadline(&mut self) -> Result<(), Ending> {
        let now = Instant::now();
        let outlet = self.link.outlet().clone();
        if let Some((code, reason)) = outlet.our_close() {
            return Err(Ending::ServerClosed(code, format!("{reason}; no Close reply in time")));
        }
        if self.awaiting_pong() {
            if now >= self.pinged_at + self.pong_wait() {
                // Best effort: a half-open peer will never read it.
                outlet.close(1001, "heartbeat timeout", false);
                return Err(Ending::Silent);
            }
        } else if now >= self.pinged_at.max(self.link.last_heard) + self.ping_interval {
            outlet.push_frame(frame::ping_frame());
            self.pinged_at = now;
        }
        Ok(())
    }
    // ANCHOR_END: on_deadline

    /// Names how the link ended, from what the outlet knows of our Close.
    fn ended(&self, end: LinkEnd) -> Ending {
        let ours = self.link.outlet().our_close();
        match (end, ours) {
            (LinkEnd::Failed(code, reason), _) => Ending::Failed(code, reason),
            (LinkEnd::Closed(_), Some((code, reason))) => Ending::ServerClosed(code, reason),
            (LinkEnd::Closed(code), None) => Ending::ClientClosed(code),
            // The hub shut the socket down: the client never answered our Close.
            (LinkEnd::Gone(_), Some((code, reason))) => {
                Ending::ServerClosed(code, format!("{reason}; no Close reply in time"))
            }
            (LinkEnd::Gone(why), None) if why.contains("reset") => Ending::Reset,
            (LinkEnd::Gone(why), None) => Ending::SocketError(why),
        }
    }
}
