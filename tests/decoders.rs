//! Property tests for every decoder wshub wrote: the `/ws` JSON envelope, the
//! HTTP request-head reader, the Engine.IO / Socket.IO packet decoders, and
//! the cluster messages other nodes publish on Redis.
//! Arbitrary input never panics and always gives either a result or an error
//! that says what is wrong.
mod common;
mod raw;

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{json, Value};
use wshub::cluster::{
    Broadcast, BroadcastOpts, ChannelKind, EventPacket, Flags, Message as ClusterMessage, RemoteSocket, Request,
    RequestKind, Response, Selection,
};
use wshub::http::{parse_head, read_head, HeadError};
use wshub::wire::{Inbound, Wire};
use wshub::Message;

/// Any JSON value, nested a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::hash_map("(event|data|ack|.{0,6})", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An error message must say something.
fn is_clear(error: &HeadError) -> bool {
    match error {
        HeadError::Malformed(why) => why.starts_with("malformed request: ") && why.len() > 19,
        HeadError::TooLarge(what) => !what.is_empty(),
        HeadError::Gone(_) | HeadError::Timeout => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any text frame decodes to an event or an ack, or to a reason.
    #[test]
    fn any_text_frame_decodes_or_gives_a_reason(text in ".{0,200}") {
        if let Err(why) = Wire::Json.decode(&Message::text(text)) {
            prop_assert!(!why.is_empty());
        }
    }

    /// Any JSON value in a text frame: an event, an ack or a reason.
    #[test]
    fn any_json_value_decodes_or_gives_a_reason(value in any_json()) {
        match Wire::Json.decode(&Message::text(value.to_string())) {
            Ok(Inbound::Event { name, .. }) => prop_assert_eq!(Some(name.as_str()), value["event"].as_str()),
            Ok(Inbound::Ack { id, .. }) => prop_assert_eq!(Some(id), value["ack"].as_u64()),
            Err(why) => prop_assert!(!why.is_empty()),
        }
    }

    /// A well-formed envelope always decodes to exactly what it says.
    #[test]
    fn a_valid_envelope_decodes_to_what_it_says(name in ".{0,20}", data in any_json(), ack in any::<Option<u64>>()) {
        let frame = json!({ "event": name, "data": data, "ack": ack }).to_string();
        // Compare with what serde_json reads back: its float parsing may round the last digit.
        let data: Value = serde_json::from_str(&data.to_string()).unwrap();
        prop_assert_eq!(Wire::Json.decode(&Message::text(frame)), Ok(Inbound::Event { name, data, ack }));
    }

    /// Binary frames are never events, whatever they hold.
    #[test]
    fn binary_frames_are_refused_with_a_reason(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let why = Wire::Json.decode(&Message::binary(bytes)).unwrap_err();
        prop_assert!(why.starts_with("binary frames"));
    }

    /// Any bytes: a complete head, "not complete yet", or a clear error.
    #[test]
    fn parse_head_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        match parse_head(&bytes, 16) {
            Ok(Some((request, len))) => {
                prop_assert!(len <= bytes.len());
                prop_assert!(bytes[..len].ends_with(b"\n"));
                prop_assert!(!request.method.is_empty());
            }
            Ok(None) => {}
            Err(e) => prop_assert!(is_clear(&e), "{e:?}"),
        }
    }

    /// Bytes that look like HTTP: heads with arbitrary lines behind a valid
    /// request line, so that the parser gets past the first line.
    #[test]
    fn parse_head_on_near_http(lines in prop::collection::vec("[ -~\t]{0,40}", 0..30), tail in ".{0,20}") {
        let head = format!("GET /ws HTTP/1.1\r\n{}\r\n{tail}", lines.join("\r\n"));
        if let Err(e) = parse_head(head.as_bytes(), 16) {
            prop_assert!(is_clear(&e), "{e:?}");
        }
    }
}

proptest! {
    // Each case opens a TCP connection: fewer cases.
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// `read_head` over a real socket, fed arbitrary bytes and then EOF:
    /// it returns the same head `parse_head` finds, or a clear error, never
    /// a panic and never a wait past its deadline.
    #[test]
    fn read_head_over_a_socket(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..12_000),
            ".{0,300}".prop_map(|s| format!("{}{s}", raw::upgrade_head("/ws")).into_bytes()),
        ]
    ) {
        common::watchdog(120);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        // A write bigger than the socket buffers could block: the client writes on its own thread.
        let sent = bytes.clone();
        let writer = std::thread::spawn(move || {
            let _ = client.write_all(&sent);
            let _ = client.shutdown(Shutdown::Write);
            client
        });
        let started = Instant::now();
        let result = read_head(&mut server, started + Duration::from_secs(5), 8 * 1024, 64);
        prop_assert!(started.elapsed() < Duration::from_secs(5));
        match result {
            Ok((request, rest)) => {
                let (expected, len) = parse_head(&bytes, 64).unwrap().expect("a complete head");
                prop_assert_eq!(request.path, expected.path);
                prop_assert!(bytes[len..].starts_with(&rest));
            }
            Err(HeadError::Timeout) => prop_assert!(false, "EOF came, yet it timed out"),
            Err(e) => prop_assert!(is_clear(&e), "{e:?}"),
        }
        drop(server); // unblocks a writer still in write_all
        writer.join().unwrap();
    }
}

/// Text that looks like socket.io traffic: a type digit, maybe a namespace,
/// maybe an ack id, maybe JSON, maybe garbage.
fn near_socketio() -> impl Strategy<Value = String> {
    (
        "[0-9]{0,2}",
        "(-|[0-9]{1,3}-)?",
        "(/[a-z]{0,5},)?",
        "[0-9]{0,25}",
        prop_oneof![".{0,40}", any_json().prop_map(|v| v.to_string())],
    )
        .prop_map(|(kind, att, nsp, id, rest)| format!("{kind}{att}{nsp}{id}{rest}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any text is an Engine.IO packet or a named error, never a panic.
    #[test]
    fn engineio_text_never_panics(text in ".{0,100}") {
        if let Err(e) = wshub::wire::engineio::Packet::decode_text(&text) {
            prop_assert!(!e.0.is_empty());
        }
    }

    /// Any polling body (packets joined by \x1e, `b`-prefixed base64) decodes
    /// or gives a named error.
    #[test]
    fn engineio_payload_never_panics(parts in prop::collection::vec("(b)?[0-9A-Za-z+/=]{0,12}|.{0,12}", 0..6)) {
        let body = parts.join("\u{1e}");
        if let Err(e) = wshub::wire::engineio::decode_payload(&body) {
            prop_assert!(!e.0.is_empty());
        }
    }

    /// Arbitrary and near-valid Socket.IO packets decode or give a named error;
    /// what decodes feeds the attachment assembler without a panic.
    #[test]
    fn socketio_packets_never_panic(text in prop_oneof![near_socketio(), ".{0,80}"], extra in prop::collection::vec(any::<u8>(), 0..20)) {
        match wshub::wire::socketio::decode(&text) {
            Ok(packet) => {
                let mut assembler = wshub::wire::socketio::Assembler::default();
                if let Ok(None) = assembler.text(packet) {
                    let _ = assembler.binary(extra);
                }
            }
            Err(e) => prop_assert!(!e.0.is_empty()),
        }
    }
}

// ---- cluster messages (src/cluster/wire/): what other nodes publish on Redis ----

/// Event data as it crosses the cluster: JSON with bytes as `{"$binary":..}`
/// markers. `floats`: include non-integer numbers (MessagePack carries them
/// exactly; JSON text may round the last digit, and a whole float comes back
/// as an integer, as in JavaScript).
fn cluster_json(floats: bool) -> impl Strategy<Value = Value> {
    let float = any::<f64>().prop_filter("finite, not whole", move |f| floats && f.is_finite() && f.fract() != 0.0);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| wshub::binary(&b)),
    ];
    let leaf = if floats { prop_oneof![leaf, float.prop_map(Value::from)].boxed() } else { leaf.boxed() };
    leaf.prop_recursive(3, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::hash_map(".{0,6}", inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn names(n: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(".{0,8}", 0..n)
}

fn event_packet() -> impl Strategy<Value = EventPacket> {
    ("/[a-z]{0,5}", ".{0,10}", prop::collection::vec(cluster_json(true), 0..4))
        .prop_map(|(nsp, name, args)| EventPacket { nsp, name, args })
}

fn broadcast_opts() -> impl Strategy<Value = BroadcastOpts> {
    (names(3), names(3), any::<bool>(), any::<Option<bool>>(), any::<Option<u64>>(), any::<bool>()).prop_map(
        |(rooms, except, volatile, compress, timeout_ms, expect_single_response)| BroadcastOpts {
            rooms,
            except,
            flags: Flags { volatile, compress, timeout_ms, expect_single_response },
        },
    )
}

fn selection() -> impl Strategy<Value = Selection> {
    (names(3), names(3)).prop_map(|(rooms, except)| Selection { rooms, except })
}

/// Any message of the Node adapter, with the kind of channel it goes on.
fn cluster_message() -> impl Strategy<Value = (ChannelKind, ClusterMessage)> {
    let id = "[A-Za-z0-9_-]{6}";
    let broadcast = (id, event_packet(), broadcast_opts())
        .prop_map(|(uid, packet, opts)| ClusterMessage::Broadcast(Broadcast { uid, packet, opts }));
    let kind =
        prop_oneof![
            id.prop_map(|request_id| RequestKind::AllRooms { request_id }),
            (selection(), names(3)).prop_map(|(select, rooms)| RequestKind::Join { select, rooms }),
            (selection(), names(3)).prop_map(|(select, rooms)| RequestKind::Leave { select, rooms }),
            (selection(), any::<bool>()).prop_map(|(select, close)| RequestKind::Disconnect { select, close }),
            (id, selection()).prop_map(|(request_id, select)| RequestKind::Fetch { request_id, select }),
            (prop::option::of(id), ".{0,10}", prop::collection::vec(cluster_json(false), 0..4))
                .prop_map(|(request_id, name, args)| RequestKind::ServerSideEmit { request_id, name, args }),
            (id, event_packet(), broadcast_opts())
                .prop_map(|(request_id, packet, opts)| RequestKind::BroadcastWithAck { request_id, packet, opts }),
        ];
    let request = (id, kind).prop_map(|(uid, kind)| ClusterMessage::Request(Request { uid, kind }));
    let socket = (".{0,8}", cluster_json(false), names(3), cluster_json(false))
        .prop_map(|(id, handshake, rooms, data)| RemoteSocket { id, handshake, rooms, data });
    let response = prop_oneof![
        (id, names(4)).prop_map(|(request_id, rooms)| Response::AllRooms { request_id, rooms }),
        (id, prop::collection::vec(socket, 0..3))
            .prop_map(|(request_id, sockets)| Response::Fetch { request_id, sockets }),
        (id, cluster_json(false)).prop_map(|(request_id, data)| Response::ServerSideEmitAck { request_id, data }),
        (id, any::<u64>())
            .prop_map(|(request_id, client_count)| Response::BroadcastClientCount { request_id, client_count }),
        (id, cluster_json(true)).prop_map(|(request_id, data)| Response::BroadcastAck { request_id, data }),
    ]
    .prop_map(ClusterMessage::Response);
    prop_oneof![
        broadcast.prop_map(|m| (ChannelKind::Broadcast, m)),
        request.prop_map(|m| (ChannelKind::Request, m)),
        response.prop_map(|m| (ChannelKind::Response, m)),
    ]
}

fn any_channel_kind() -> impl Strategy<Value = ChannelKind> {
    prop_oneof![Just(ChannelKind::Broadcast), Just(ChannelKind::Request), Just(ChannelKind::Response)]
}

/// A cluster decoding error says it is one, and what is wrong.
fn is_clear_cluster_error(e: &wshub::cluster::WireError) -> bool {
    let text = e.to_string();
    text.starts_with("invalid cluster message: ") && text.len() > 25
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Every message decodes from its own bytes to itself.
    #[test]
    fn cluster_messages_round_trip((kind, message) in cluster_message()) {
        prop_assert_eq!(ClusterMessage::decode(kind, &message.encode()), Ok(message));
    }

    /// Random bytes on any kind of channel: a message or a clear error.
    #[test]
    fn cluster_random_bytes_never_panic(kind in any_channel_kind(), bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Err(e) = ClusterMessage::decode(kind, &bytes) {
            prop_assert!(is_clear_cluster_error(&e), "{e}");
        }
    }

    /// A valid message with one byte changed, inserted or removed, or cut
    /// short, on its own or another kind of channel: a message or a clear
    /// error (a changed length prefix must not make it read past the end).
    #[test]
    fn cluster_mutated_messages_never_panic(
        (kind, message) in cluster_message(),
        other_kind in any_channel_kind(),
        mutation in 0..4u8,
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut bytes = message.encode();
        let i = at.index(bytes.len().max(1)).min(bytes.len());
        match mutation {
            0 if i < bytes.len() => bytes[i] = byte,
            1 => bytes.insert(i, byte),
            2 if i < bytes.len() => { bytes.remove(i); }
            _ => bytes.truncate(i),
        }
        for kind in [kind, other_kind] {
            if let Err(e) = ClusterMessage::decode(kind, &bytes) {
                prop_assert!(is_clear_cluster_error(&e), "{e}");
            }
        }
    }
}
