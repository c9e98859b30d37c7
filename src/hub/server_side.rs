//! Server-side events: what one server of a cluster says to the others
//! (socket.io's `io.serverSideEmit` and `io.on(event, …)` for them).
//!
//! A server never receives its own, so alone nobody hears them; with a
//! cluster (chapter 17) they cross Redis in the Node adapter's format, to
//! wshub and Node servers alike. A handler runs on the `timers` thread
//! (application code never runs on the hub thread) and may answer once.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;
use serde_json::Value;

/// A handler of a server-side event: its data (one argument as itself,
/// several as an array) and the way to answer.
pub type ServerSideHandler = Arc<dyn Fn(Value, ServerReply) + Send + Sync>;

/// The server-side handlers, by namespace and event.
#[derive(Default)]
pub struct ServerSide {
    handlers: RwLock<HashMap<(String, String), ServerSideHandler>>,
}

impl std::fmt::Debug for ServerSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let handlers = self.handlers.read().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("ServerSide").field("handlers", &handlers.keys().collect::<Vec<_>>()).finish()
    }
}

impl ServerSide {
    pub(crate) fn set(&self, nsp: &str, event: &str, handler: ServerSideHandler) {
        let mut handlers = self.handlers.write().unwrap_or_else(|e| e.into_inner());
        handlers.insert((nsp.to_string(), event.to_string()), handler);
    }

    pub(crate) fn handler(&self, nsp: &str, event: &str) -> Option<ServerSideHandler> {
        let handlers = self.handlers.read().unwrap_or_else(|e| e.into_inner());
        handlers.get(&(nsp.to_string(), event.to_string())).cloned()
    }
}

/// The answer to a server-side event whose sender waits for one
/// (`server_side_emit_with_ack`): call [`send`](Self::send) once. When the
/// sender waits for none, `send` does nothing.
pub struct ServerReply(Option<Box<dyn FnOnce(Value) + Send>>);

impl ServerReply {
    pub(crate) fn new(answer: Option<Box<dyn FnOnce(Value) + Send>>) -> ServerReply {
        ServerReply(answer)
    }

    /// True when the sender waits for an answer.
    pub fn is_requested(&self) -> bool {
        self.0.is_some()
    }

    /// Answers with `data`.
    pub fn send<T: Serialize>(self, data: T) {
        if let Some(answer) = self.0 {
            answer(serde_json::to_value(data).unwrap_or(Value::Null));
        }
    }
}

impl std::fmt::Debug for ServerReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerReply").field("requested", &self.0.is_some()).finish()
    }
}
