//! The chat example's event contract (see the top of `examples/chat.rs`),
//! checked with a plain WebSocket client: no browser needed.
mod common;

#[path = "../examples/chat.rs"]
#[allow(dead_code)]
mod chat;

use common::*;
use serde_json::{json, Value};
use wshub::ServerHandle;

/// Most frames a test reads while looking for one; a missing frame fails
/// after this many others (or after `READ_TIMEOUT` of silence).
const LOOK_AHEAD: usize = 100;

fn start_chat() -> ServerHandle {
    watchdog(120);
    chat::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0").spawn().expect("spawn the chat server")
}

/// Connects, checks the greeting, and returns the client with its guest nickname.
fn join(server: &ServerHandle) -> (Client, String) {
    let (client, nick, _) = join_with_session(server);
    (client, nick)
}

/// The same, and the session the first frame names (`{"sid","pid",…}`:
/// the chat keeps sessions for recovery).
fn join_with_session(server: &ServerHandle) -> (Client, String, Value) {
    let mut client = connect(server.local_addr);
    let session = client.recv_json()["session"].clone();
    assert_eq!(session["recovered"], json!(false), "a new client's session is fresh: {session}");
    assert_eq!(client.recv_event(), ("server-message".to_string(), json!("Welcome to WebSocket")));
    let joined = next(&mut client, "room-joined", |_| true);
    assert_eq!(joined["room"], "lobby");
    let nick = joined["nick"].as_str().expect("room-joined carries the nickname").to_string();
    (client, nick, session)
}

/// Reads frames until an event named `event` whose data satisfies `wanted`,
/// skipping the others (notices, online lists…).
fn next(client: &mut Client, event: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..LOOK_AHEAD {
        let frame = client.recv_json();
        if frame["event"] == event && wanted(&frame["data"]) {
            return frame["data"].clone();
        }
    }
    panic!("no {event} event in the next {LOOK_AHEAD} frames");
}

/// Reads frames until the reply to ack `id`, skipping events.
fn ack(client: &mut Client, id: u64) -> Value {
    for _ in 0..LOOK_AHEAD {
        let frame = client.recv_json();
        if frame.get("event").is_none() && frame["ack"] == id {
            return frame["data"].clone();
        }
    }
    panic!("no reply to ack {id} in the next {LOOK_AHEAD} frames");
}

fn set_nick(client: &mut Client, nick: &str, id: u64) -> Value {
    client.send_json(json!({ "event": "set-nick", "data": nick, "ack": id }));
    ack(client, id)
}

/// Three named clients: ana and bob in the lobby, cat in `rust` (moved there
/// with `join-room "Rust"`, which is lowered). Returns once ana has seen the
/// lobby without cat.
fn ana_and_bob_in_the_lobby_cat_in_rust(server: &ServerHandle) -> [Client; 3] {
    let mut clients = ["ana", "bob", "cat"].map(|nick| {
        let (mut client, _) = join(server);
        set_nick(&mut client, nick, 1);
        client
    });
    clients[2].emit("join-room", json!("Rust"));
    assert_eq!(next(&mut clients[2], "room-joined", |_| true), json!({ "room": "rust", "nick": "cat" }));
    online(&mut clients[0], "lobby", &["ana", "bob"]);
    clients
}

/// The next `online` list for `room`, as nicknames.
fn online(client: &mut Client, room: &str, users: &[&str]) {
    next(client, "online", |data| data["room"] == room && data["users"] == json!(users));
}

/// A new client is welcomed, placed in `lobby` as `guest-<id>`, and the lobby's
/// `online` list names it.
#[test]
fn a_newcomer_is_welcomed_into_the_lobby_as_a_guest() {
    let server = start_chat();
    let (mut client, nick) = join(&server);
    assert!(nick.starts_with("guest-"), "{nick}");
    online(&mut client, "lobby", &[&nick]);
}

/// `set-nick` answers its ack with `{ok, nick}`; a taken (any case), reserved,
/// badly spelled or non-string nickname is refused with an `error` event and
/// `{ok: false, error}`, and the name does not change.
#[test]
fn set_nick_acks_good_names_and_refuses_bad_ones() {
    let server = start_chat();
    let (mut ana, _) = join(&server);
    let (mut bob, _) = join(&server);
    assert_eq!(set_nick(&mut ana, "ana", 1), json!({ "ok": true, "nick": "ana" }));

    for (n, bad) in ["ANA", "guest-99", "bob smith", "", "abcdefghijklmnopqrstu", "<script>"].into_iter().enumerate() {
        let reply = set_nick(&mut bob, bad, 10 + n as u64);
        assert_eq!(reply["ok"], false, "{bad:?} was accepted: {reply}");
        assert!(reply["error"].is_string());
    }
    bob.send_json(json!({ "event": "set-nick", "data": 42 }));
    let error = next(&mut bob, "error", |d| d["message"].as_str().unwrap_or("").contains("not a number"));
    assert_eq!(error["event"], "set-nick");

    assert_eq!(set_nick(&mut bob, "  bob ", 20), json!({ "ok": true, "nick": "bob" }), "blanks are trimmed");
    online(&mut ana, "lobby", &["ana", "bob"]);
}

/// `chat-message` reaches everyone in the sender's room (sender included) as
/// `{from, text, room, at}`, and nobody in another room.
#[test]
fn a_message_reaches_its_room_only() {
    let server = start_chat();
    let [mut ana, mut bob, mut cat] = ana_and_bob_in_the_lobby_cat_in_rust(&server);

    ana.emit("chat-message", json!("  lobby only  "));
    let got = next(&mut bob, "chat-message", |_| true);
    assert_eq!((&got["from"], &got["text"], &got["room"]), (&json!("ana"), &json!("lobby only"), &json!("lobby")));
    assert!(got["at"].as_u64().is_some_and(|at| at > 1_600_000_000_000), "at is Unix milliseconds: {got}");
    next(&mut ana, "chat-message", |d| d["text"] == "lobby only");

    // The hub handled ana's message before cat sends hers (ana has received
    // it), and it delivers in order: so cat's first chat-message being her own
    // proves the lobby's never reached her.
    cat.emit("chat-message", json!("in rust"));
    let first = next(&mut cat, "chat-message", |_| true);
    assert_eq!((&first["text"], &first["room"]), (&json!("in rust"), &json!("rust")));
    ana.emit("chat-message", json!("lobby again"));
    assert_eq!(next(&mut bob, "chat-message", |_| true)["text"], "lobby again", "bob got rust's message");
}

/// Bad input (empty, too long, not a string, a bad room name, an unknown
/// shape) is answered with an `error` event naming the event, and the
/// connection keeps working.
#[test]
fn bad_input_is_answered_with_an_error_and_the_connection_stays() {
    let server = start_chat();
    let (mut ana, _) = join(&server);
    let cases = [
        ("chat-message", json!("   ")),
        ("chat-message", json!("x".repeat(501))),
        ("chat-message", json!({ "text": "hi" })),
        ("join-room", json!("no spaces")),
        ("join-room", json!("r".repeat(25))),
        ("join-room", Value::Null),
    ];
    for (event, data) in cases {
        ana.emit(event, data.clone());
        let error = next(&mut ana, "error", |_| true);
        assert_eq!(error["event"], event, "{event} {data}: {error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty() && m.len() < 200), "{error}");
    }
    let longest = "é".repeat(500); // 500 characters, 1000 bytes: the limit counts characters
    ana.emit("chat-message", json!(longest));
    assert_eq!(next(&mut ana, "chat-message", |_| true)["text"], json!(longest));
}

/// When a client leaves, the others in its room get a notice and a new
/// `online` list without it.
#[test]
fn leaving_updates_the_room() {
    let server = start_chat();
    let (mut ana, _) = join(&server);
    let (mut bob, _) = join(&server);
    set_nick(&mut ana, "ana", 1);
    set_nick(&mut bob, "bob", 1);
    online(&mut ana, "lobby", &["ana", "bob"]);

    bob.ws.close(None).expect("close");
    let left = next(&mut ana, "notice", |d| d["text"] == "bob left");
    assert_eq!(left["room"], "lobby");
    online(&mut ana, "lobby", &["ana"]);
}

/// Whoever enters a room gets `room-joined` and then `history`: the room's
/// last 50 messages, oldest first, with their ids and times; a room nobody
/// wrote in has an empty history, and each room keeps its own.
#[test]
fn joining_a_room_brings_its_last_50_messages() {
    let server = start_chat();
    let (mut ana, _) = join(&server);
    set_nick(&mut ana, "ana", 1);
    for n in 1..=60 {
        ana.emit("chat-message", json!(format!("message {n}")));
    }
    // ana has all 60 back: the hub has them, and so has the history.
    next(&mut ana, "chat-message", |d| d["text"] == "message 60");

    let (mut bob, _) = join(&server);
    let history = next(&mut bob, "history", |_| true);
    assert_eq!(history["room"], "lobby");
    let texts: Vec<&str> =
        history["messages"].as_array().expect("messages").iter().map(|m| m["text"].as_str().unwrap()).collect();
    let expected: Vec<String> = (11..=60).map(|n| format!("message {n}")).collect();
    assert_eq!(texts, expected, "the last 50, oldest first");
    let first = &history["messages"][0];
    assert_eq!((&first["from"], &first["room"]), (&json!("ana"), &json!("lobby")));
    let ids: Vec<u64> = history["messages"].as_array().unwrap().iter().map(|m| m["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids count up: {ids:?}");

    bob.emit("join-room", json!("rust"));
    assert_eq!(next(&mut bob, "room-joined", |_| true)["room"], "rust");
    assert_eq!(next(&mut bob, "history", |_| true), json!({ "room": "rust", "messages": [] }));
    bob.emit("chat-message", json!("first in rust"));
    next(&mut bob, "chat-message", |d| d["text"] == "first in rust");
    bob.emit("join-room", json!("lobby"));
    let back = next(&mut bob, "history", |_| true);
    assert_eq!(back["messages"].as_array().map(Vec::len), Some(50), "rust's message is not lobby's");
    assert_eq!(back["messages"][49]["text"], "message 60");
}

/// `typing true` reaches the others in the sender's room as
/// `{room, nick, typing}`, not the sender and not another room; leaving the
/// room tells them the typing stopped; a non-boolean is refused.
#[test]
fn typing_is_told_to_the_others_in_the_room() {
    let server = start_chat();
    let [mut ana, mut bob, mut cat] = ana_and_bob_in_the_lobby_cat_in_rust(&server);

    // (cat leaving the lobby told bob "cat stopped typing": skipped by nick.)
    let by_ana = |d: &Value| d["nick"] == "ana";
    ana.emit("typing", json!(true));
    assert_eq!(next(&mut bob, "typing", by_ana), json!({ "room": "lobby", "nick": "ana", "typing": true }));
    ana.emit("typing", json!(false));
    assert_eq!(next(&mut bob, "typing", by_ana)["typing"], false);

    // The hub keeps order: once cat has her own message back, any typing
    // sent before it would have reached her first. None did.
    cat.emit("chat-message", json!("quiet here"));
    let first = next(&mut cat, "chat-message", |_| true);
    assert_eq!(first["text"], "quiet here");
    // And ana never hears her own typing: her next frame after her message is the message.
    ana.emit("chat-message", json!("done"));
    let frame = ana.recv_json();
    assert!(frame["event"] != "typing", "ana got her own typing: {frame}");

    ana.emit("typing", json!(true));
    next(&mut bob, "typing", |d| d["typing"] == true);
    ana.emit("join-room", json!("rust"));
    assert_eq!(next(&mut bob, "typing", by_ana), json!({ "room": "lobby", "nick": "ana", "typing": false }));

    ana.emit("typing", json!("yes"));
    let error = next(&mut ana, "error", |_| true);
    assert_eq!(error["event"], "typing");
}

/// A taken nickname's reply says so (`"taken": true`), so that a page
/// restoring its name after a reload knows to ask again.
#[test]
fn a_taken_nickname_is_marked_taken() {
    let server = start_chat();
    let (mut ana, _) = join(&server);
    let (mut bob, _) = join(&server);
    set_nick(&mut ana, "ana", 1);
    let reply = set_nick(&mut bob, "Ana", 2);
    assert_eq!((&reply["ok"], &reply["taken"]), (&json!(false), &json!(true)), "{reply}");
    let reply = set_nick(&mut bob, "bad name", 3);
    assert!(reply.get("taken").is_none(), "{reply}");
}

/// A network blip loses nothing: bob's connection breaks (no Close), ana
/// says three things meanwhile, and bob comes back with `?pid=…&offset=…`:
/// recovered, still bob in the lobby, with the three messages replayed in
/// order (and no history sent again); the lobby hears "bob is back".
#[test]
fn a_client_back_from_a_blip_is_still_itself_and_gets_what_it_missed() {
    let server = start_chat();
    let (mut ana, _) = join(&server);
    set_nick(&mut ana, "ana", 1);
    let (mut bob, _, session) = join_with_session(&server);
    set_nick(&mut bob, "bob", 1);
    online(&mut ana, "lobby", &["ana", "bob"]);
    ana.emit("chat-message", json!("before"));
    let last = loop {
        let frame = bob.recv_json();
        if frame["event"] == "chat-message" && frame["data"]["text"] == "before" {
            break frame["offset"].as_str().expect("a logged event carries its offset").to_string();
        }
    };

    bob.ws.get_ref().shutdown(std::net::Shutdown::Both).unwrap();
    drop(bob);
    next(&mut ana, "notice", |data| data["text"] == "bob left");
    for text in ["one", "two", "three"] {
        ana.emit("chat-message", json!(text));
    }
    next(&mut ana, "chat-message", |data| data["text"] == "three");

    let path = format!("/ws?pid={}&offset={last}", session["pid"].as_str().unwrap());
    let mut bob = connect_with(server.local_addr, &path, &[]).expect("upgrade");
    let back = bob.recv_json()["session"].clone();
    assert_eq!((back["recovered"].clone(), back["sid"].clone()), (json!(true), session["sid"].clone()));
    let mut texts = Vec::new();
    while texts.len() < 3 {
        let frame = bob.recv_json();
        assert_ne!(frame["event"], "history", "a recovered client is not sent the history again");
        if frame["event"] == "chat-message" {
            texts.push(frame["data"]["text"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(texts, ["one", "two", "three"]);
    next(&mut ana, "notice", |data| data["text"] == "bob is back");
    online(&mut ana, "lobby", &["ana", "bob"]);
    bob.emit("chat-message", json!("I'm back"));
    let said = next(&mut ana, "chat-message", |data| data["text"] == "I'm back");
    assert_eq!(said["from"], "bob", "still bob");
}
