//! [`DynamicNamespace`]: namespaces made on demand (socket.io's parent
//! namespaces, `io.of(/^\/room-\d+$/)`).
//!
//! A client asking for a namespace nobody registered is refused ("Invalid
//! namespace") unless a dynamic namespace's matcher accepts the name. Then
//! the name becomes a namespace of its own, a **child**: its sockets, rooms
//! and broadcasts are its own, as for any namespace, and it runs the
//! dynamic namespace's connection handler and checks. The dynamic
//! namespace itself reaches every child at once.

use std::sync::{Arc, RwLock};

use serde::Serialize;

use crate::context::{Context, Matcher, Parent};
use crate::hub::{Io, Socket, SocketInfo};
use crate::Value;

/// A dynamic namespace (from [`Server::of_matching`](crate::Server::of_matching)
/// or [`Server::of_pattern`](crate::Server::of_pattern)).
///
/// ```no_run
/// # let server = wshub::Server::builder().bind(("127.0.0.1", 0)).unwrap();
/// let rooms = server.of_pattern("/room-*");
/// rooms.on_connection(|socket| socket.emit("welcome", socket.namespace()));
/// rooms.emit("notice", "to every /room-… namespace");
/// ```
///
/// It is a cheap handle (`Clone`, `Send`): keep one in a handler to reach
/// every child from there.
#[derive(Clone)]
pub struct DynamicNamespace {
    ctx: Arc<Context>,
    parent: Arc<Parent>,
}

impl DynamicNamespace {
    pub(super) fn new(ctx: &Arc<Context>, matcher: Matcher) -> DynamicNamespace {
        let parent = Arc::new(Parent {
            matcher,
            handler: RwLock::new(None),
            checks: RwLock::default(),
            children: Default::default(),
        });
        ctx.add_parent(parent.clone());
        DynamicNamespace { ctx: ctx.clone(), parent }
    }

    /// Calls `handler` for each socket joining any of its namespaces
    /// (`socket.namespace()` says which).
    pub fn on_connection<F>(&self, handler: F)
    where
        F: Fn(&Socket) + Send + Sync + 'static,
    {
        *self.parent.handler.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(handler));
    }

    /// Adds a connect check for all of its namespaces, as
    /// [`Namespace::check_connect`](crate::Namespace::check_connect).
    pub fn check_connect<F>(&self, check: F)
    where
        F: Fn(&Value, &SocketInfo) -> std::result::Result<(), String> + Send + Sync + 'static,
    {
        self.parent.checks.write().unwrap_or_else(|e| e.into_inner()).push(Arc::new(check));
    }

    /// The namespaces made so far.
    pub fn children(&self) -> Vec<String> {
        self.parent.children.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }

    /// Sends `event` to every socket of every namespace made so far.
    pub fn emit<T: Serialize>(&self, event: &str, data: T) {
        let Ok(data) = serde_json::to_value(data) else { return };
        for child in self.children() {
            self.ctx.io.of(&child).emit(event, &data);
        }
    }

    /// A handle to one of its namespaces (made or not yet).
    pub fn io_of(&self, child: &str) -> Io {
        self.ctx.io.of(child)
    }
}

/// `*` matches any run of characters (none included); everything else
/// matches itself.
pub(super) fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn stars_match_any_run() {
        assert!(glob_match("/room-*", "/room-1"));
        assert!(glob_match("/room-*", "/room-"));
        assert!(!glob_match("/room-*", "/rooms"));
        assert!(glob_match("/*-x-*", "/a-x-b"));
        assert!(!glob_match("/*-x-*", "/a-y-b"));
        assert!(glob_match("/exact", "/exact"));
        assert!(!glob_match("/a*a", "/a"));
    }
}
