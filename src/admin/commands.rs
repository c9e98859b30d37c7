//! The UI's buttons: `emit`, `join`, `leave` and `_disconnect`, each with
//! socket.io's filter semantics: a `filter` names a room (a socket's id is
//! a room, so one socket is a filter too), none means the whole namespace.
//! Each is an [`Io`] selection, so in a cluster it reaches every node.
//!
//! ```text
//! 42/admin,["emit","/","room1","news",1,2]   → io.of("/").to("room1").emit("news", 1, 2)
//! 42/admin,["join","/","vip","<sid>"]        → io.of("/").to("<sid>").sockets_join("vip")
//! 42/admin,["leave","/","vip",null]          → io.of("/").sockets_leave("vip")
//! 42/admin,["_disconnect","/",true,"<sid>"]  → io.of("/").to("<sid>").disconnect_sockets(true)
//! ```

use serde_json::Value;

use crate::{Args, Io, Socket};

/// What the UI may offer (`config.supportedFeatures`): the commands unless
/// read-only, the dashboard's aggregated counts always, and every event in
/// development mode.
pub(super) fn features(readonly: bool, development: bool) -> Vec<&'static str> {
    let mut features = if readonly {
        Vec::new()
    } else {
        vec!["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT"]
    };
    features.push("AGGREGATED_EVENTS");
    if development {
        features.push("ALL_EVENTS");
    }
    features
}

/// The command handlers, on one admin socket.
pub(super) fn register(socket: &Socket, io: &Io) {
    let emit_io = io.clone();
    socket.on("emit", move |socket, data| {
        let mut args = arguments(data);
        if args.len() < 3 {
            return refuse(socket, "emit", "(nsp, filter, event, ...args)");
        }
        let rest = args.split_off(3);
        let (Some(nsp), Some(event)) = (args[0].as_str(), args[2].as_str()) else {
            return refuse(socket, "emit", "(nsp, filter, event, ...args)");
        };
        log::info!("admin UI: emit {event:?} to {nsp:?} {:?}", filter(&args[1]));
        // One argument as itself (a `/ws` client reads it as its `data`),
        // several as socket.io's several.
        let data = match <[Value; 1]>::try_from(rest) {
            Ok([one]) => one,
            Err(rest) => serde_json::to_value(Args(rest)).unwrap_or_default(),
        };
        let nsp_io = emit_io.of(nsp);
        match filter(&args[1]) {
            Some(room) => nsp_io.to(room).emit(event, data),
            None => nsp_io.emit(event, data),
        }
    });
    for (command, joining) in [("join", true), ("leave", false)] {
        let rooms_io = io.clone();
        socket.on(command, move |socket, data| {
            let args = arguments(data);
            let (Some(nsp), Some(room)) = (args.first().and_then(Value::as_str), args.get(1).and_then(Value::as_str))
            else {
                return refuse(socket, command, "(nsp, room, filter)");
            };
            let filter = args.get(2).unwrap_or(&Value::Null);
            log::info!("admin UI: {command} room {room:?} in {nsp:?} {:?}", self::filter(filter));
            let nsp_io = rooms_io.of(nsp);
            match (self::filter(filter), joining) {
                (Some(within), true) => nsp_io.to(within).sockets_join(room),
                (Some(within), false) => nsp_io.to(within).sockets_leave(room),
                (None, true) => nsp_io.sockets_join(room),
                (None, false) => nsp_io.sockets_leave(room),
            }
        });
    }
    let disconnect_io = io.clone();
    socket.on("_disconnect", move |socket, data| {
        let args = arguments(data);
        let Some(nsp) = args.first().and_then(Value::as_str) else {
            return refuse(socket, "_disconnect", "(nsp, close, filter)");
        };
        let close = args.get(1).and_then(Value::as_bool).unwrap_or(false);
        let filter = args.get(2).unwrap_or(&Value::Null);
        log::info!("admin UI: disconnect {nsp:?} {:?} (close: {close})", self::filter(filter));
        let nsp_io = disconnect_io.of(nsp);
        match self::filter(filter) {
            Some(room) => nsp_io.to(room).disconnect_sockets(close),
            None => nsp_io.disconnect_sockets(close),
        }
    });
}

/// A handler's data as the list of arguments the UI sent.
fn arguments(data: Value) -> Vec<Value> {
    match data {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        one => vec![one],
    }
}

/// The filter as a room name: a non-empty string, else none (everyone).
fn filter(value: &Value) -> Option<&str> {
    value.as_str().filter(|room| !room.is_empty())
}

/// A command whose arguments are not what the UI sends: an `error` event.
fn refuse(socket: &Socket, command: &str, shape: &str) {
    log::warn!("admin UI: socket {}: {command} with arguments that are not {shape}", socket.id());
    socket.emit("error", format!("{command} takes {shape}"));
}
