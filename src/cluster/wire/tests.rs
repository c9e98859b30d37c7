use super::*;
use crate::wire::args::binary;
use serde_json::json;

fn packet(name: &str, args: Vec<Value>) -> EventPacket {
    EventPacket { nsp: "/".into(), name: name.into(), args }
}

#[test]
fn a_broadcast_is_the_documented_array() {
    let b = Broadcast {
        uid: "Ab3x_9".into(),
        packet: packet("chat", vec![json!("hi"), binary(&[1, 2])]),
        opts: BroadcastOpts { rooms: vec!["r1".into()], ..BroadcastOpts::default() },
    };
    let bytes = b.encode();
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0x93,                                           // array of 3
        0xa6, b'A', b'b', b'3', b'x', b'_', b'9',       // uid
        0x83,                                           // packet: map of 3
        0xa4, b't', b'y', b'p', b'e', 0x02,             //   type: 2
        0xa4, b'd', b'a', b't', b'a', 0x93,             //   data: array of 3
        0xa4, b'c', b'h', b'a', b't',                   //     "chat"
        0xa2, b'h', b'i',                               //     "hi"
        0xc4, 0x02, 0x01, 0x02,                         //     bin 01 02
        0xa3, b'n', b's', b'p', 0xa1, b'/',             //   nsp: "/"
        0x83,                                           // opts: map of 3
        0xa5, b'r', b'o', b'o', b'm', b's', 0x91, 0xa2, b'r', b'1',
        0xa6, b'e', b'x', b'c', b'e', b'p', b't', 0x90,
        0xa5, b'f', b'l', b'a', b'g', b's', 0x80,
    ];
    assert_eq!(bytes, expected);
    assert_eq!(Broadcast::decode(&bytes).unwrap(), b);
}

#[test]
fn every_request_and_response_round_trips() {
    let select = Selection { rooms: vec!["a".into()], except: vec!["b".into()] };
    let requests = [
        RequestKind::AllRooms { request_id: "q1".into() },
        RequestKind::Join { select: select.clone(), rooms: vec!["c".into()] },
        RequestKind::Leave { select: select.clone(), rooms: vec!["c".into()] },
        RequestKind::Disconnect { select: select.clone(), close: true },
        RequestKind::Fetch { request_id: "q2".into(), select },
        RequestKind::ServerSideEmit { request_id: None, name: "hello".into(), args: vec![json!(1)] },
        RequestKind::ServerSideEmit { request_id: Some("q3".into()), name: "ping".into(), args: vec![] },
        RequestKind::BroadcastWithAck {
            request_id: "q4".into(),
            packet: packet("ask", vec![binary(&[7])]),
            opts: BroadcastOpts {
                flags: Flags { timeout_ms: Some(1500), ..Flags::default() },
                ..BroadcastOpts::default()
            },
        },
    ];
    for kind in requests {
        let request = Request { uid: "node01".into(), kind };
        assert_eq!(Request::decode(&request.encode()).unwrap(), request);
    }
    let responses = [
        Response::AllRooms { request_id: "q1".into(), rooms: vec!["r".into()] },
        Response::Fetch {
            request_id: "q2".into(),
            sockets: vec![RemoteSocket {
                id: "s1".into(),
                handshake: json!({"address": "127.0.0.1"}),
                rooms: vec!["s1".into()],
                data: json!({"user": 1}),
            }],
        },
        Response::Fetch { request_id: "q2".into(), sockets: vec![] },
        Response::ServerSideEmitAck { request_id: "q3".into(), data: json!("pong") },
        Response::BroadcastClientCount { request_id: "q4".into(), client_count: 2 },
        Response::BroadcastAck { request_id: "q4".into(), data: binary(&[8]) },
    ];
    for response in responses {
        assert_eq!(Response::decode(&response.encode()).unwrap(), response);
    }
}

#[test]
fn json_requests_are_what_node_writes() {
    let node = br#"{"uid":"xY1_-z","type":2,"opts":{"rooms":["r1"],"except":[]},"rooms":["r2"]}"#;
    let request = Request::decode(node).unwrap();
    assert_eq!(request.uid, "xY1_-z");
    assert_eq!(
        request.kind,
        RequestKind::Join { select: Selection { rooms: vec!["r1".into()], except: vec![] }, rooms: vec!["r2".into()] }
    );
    assert_eq!(Request::decode(&request.encode()).unwrap(), request);
}

#[test]
fn events_map_to_wshub_outgoing_and_back() {
    let one = EventPacket::from_event("/", "e", &payload(&json!({"a": 1})).unwrap());
    assert_eq!(one.args, vec![json!({"a": 1})]);
    let many = EventPacket::from_event("/x", "e", &payload(&Args(vec![json!(1), json!(2)])).unwrap());
    assert_eq!((many.nsp.as_str(), many.args.clone()), ("/x", vec![json!(1), json!(2)]));
    let Outgoing::Event { name, data, ack } = many.to_outgoing() else { panic!("an event") };
    assert_eq!((name.as_str(), data.get(), ack), ("e", r#"{"$args":[1,2]}"#, None));
    let Outgoing::Event { data, .. } = one.to_outgoing() else { panic!("an event") };
    assert_eq!(data.get(), r#"{"a":1}"#);
}

#[test]
fn refuses_foreign_shapes_with_a_reason() {
    let bad_broadcasts: [Vec<u8>; 5] = [
        msgpack::encode(&json!({"not": "an array"})),
        msgpack::encode(&json!(["uid", {"type": 2, "data": ["e"], "nsp": "/"}])),
        msgpack::encode(&json!([1, {"type": 2, "data": ["e"]}, {}])),
        msgpack::encode(&json!(["u", {"type": 3, "data": ["e"]}, {}])),
        msgpack::encode(&json!(["u", {"type": 2, "data": [1]}, {"rooms": "r"}])),
    ];
    for bytes in bad_broadcasts {
        let e = Broadcast::decode(&bytes).unwrap_err();
        assert!(e.to_string().starts_with("invalid cluster message: "), "{e}");
    }
    for text in [
        r#"{"uid":"u","type":0,"requestId":"x","rooms":[]}"#,
        r#"{"uid":"u","type":2,"sid":"s","room":"r","requestId":"x"}"#,
        r#"{"uid":"u","type":42}"#,
        r#"{"type":1,"requestId":"x"}"#,
        r#"{"uid":"u","type":6,"data":[]}"#,
        r#"{"uid":"u","type":5,"requestId":"x","opts":{"rooms":[null]}}"#,
        "{oops",
    ] {
        assert!(Request::decode(text.as_bytes()).is_err(), "{text}");
    }
    for text in [r#"{"requestId":"x"}"#, r#"{"requestId":"x","sockets":["s1"]}"#, r#"{"requestId":"x","type":8}"#] {
        assert!(Response::decode(text.as_bytes()).is_err(), "{text}");
    }
}
