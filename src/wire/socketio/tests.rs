use super::*;
use crate::wire::args::{binary, Args};
use crate::wire::payload;
use serde_json::json;

fn p(kind: Kind, nsp: &str, id: Option<u64>, data: Option<Value>) -> Packet {
    Packet { kind, nsp: nsp.into(), id, attachments: 0, data }
}

#[test]
fn decodes_the_documented_examples() {
    assert_eq!(decode("0").unwrap(), p(Kind::Connect, "/", None, None));
    assert_eq!(decode("0/admin,").unwrap(), p(Kind::Connect, "/admin", None, None));
    assert_eq!(decode("0/admin").unwrap(), p(Kind::Connect, "/admin", None, None));
    assert_eq!(
        decode(r#"0/admin,{"token":"123"}"#).unwrap(),
        p(Kind::Connect, "/admin", None, Some(json!({"token":"123"})))
    );
    assert_eq!(decode("1/admin,").unwrap(), p(Kind::Disconnect, "/admin", None, None));
    assert_eq!(decode(r#"2["foo"]"#).unwrap(), p(Kind::Event, "/", None, Some(json!(["foo"]))));
    assert_eq!(decode(r#"2/admin,13["foo"]"#).unwrap(), p(Kind::Event, "/admin", Some(13), Some(json!(["foo"]))));
    assert_eq!(decode("312[]").unwrap(), p(Kind::Ack, "/", Some(12), Some(json!([]))));
    let bin = decode(r#"52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#).unwrap();
    assert_eq!((bin.kind, bin.attachments, bin.nsp.as_str()), (Kind::BinaryEvent, 2, "/admin"));
    assert_eq!(decode(r#"61-15["bar",{"_placeholder":true,"num":0}]"#).unwrap().id, Some(15));
}

#[test]
fn refuses_malformed_packets() {
    for text in [
        "",
        "abc",
        "7",
        "42",
        "2{}",
        "2[]",
        "2[1]",
        r#"2abc["x"]"#,
        r#"2["connect"]"#,
        r#"2["disconnect"]"#,
        r#"2["newListener"]"#,
        "3[1]",
        "31",
        r#"0"str""#,
        "1[1]",
        r#"5["x"]"#,
        r#"5x-["x"]"#,
        r#"51-["x"#,
        r#"5+1-["x"]"#,
        r#"599999999999999999999999-["x"]"#,
        r#"299999999999999999999999["x"]"#,
    ] {
        assert!(decode(text).is_err(), "{text:?} should be refused");
    }
}

#[test]
fn encode_is_the_inverse_of_decode() {
    for text in [
        "0",
        "0/admin,",
        r#"0/admin,{"sid":"x"}"#,
        "1",
        r#"2["a",1,{"b":[true]}]"#,
        r#"2/x,7["a"]"#,
        "37[]",
        r#"4{"message":"Invalid namespace"}"#,
        r#"4/random,{"message":"Invalid namespace"}"#,
        r#"51-["b",{"_placeholder":true,"num":0}]"#,
    ] {
        assert_eq!(decode(text).unwrap().encode(), text);
    }
}

#[test]
fn attachments_are_put_back_where_their_placeholders_are() {
    let mut asm = Assembler::default();
    let first = decode(r#"52-789["m",{"_placeholder":true,"num":1},[{"_placeholder":true,"num":0}]]"#).unwrap();
    assert_eq!(asm.text(first).unwrap(), None);
    assert_eq!(asm.binary(vec![1]).unwrap(), None);
    let done = asm.binary(vec![2, 3]).unwrap().unwrap();
    assert_eq!(done.kind, Kind::Event);
    assert_eq!(done.id, Some(789));
    assert_eq!(done.data, Some(json!(["m", binary(&[2, 3]), [binary(&[1])]])));
    // an unannounced binary message, and a placeholder naming nothing
    assert!(asm.binary(vec![9]).is_err());
    let bad = decode(r#"51-["m",{"_placeholder":true,"num":3}]"#).unwrap();
    asm.text(bad).unwrap();
    assert_eq!(asm.binary(vec![1]).unwrap_err().close_code(), 1002);
}

#[test]
fn attachments_are_bounded_in_number_and_bytes() {
    let announce = |n: usize| decode(&format!(r#"5{n}-["m",{{"_placeholder":true,"num":0}}]"#)).unwrap();
    let mut asm = Assembler::new(2, 10);
    let too_many = asm.text(announce(3)).unwrap_err();
    assert_eq!((too_many.close_code(), too_many.to_string().contains("3 attachments")), (1009, true));
    assert_eq!(asm.text(announce(2)).unwrap(), None);
    assert_eq!(asm.binary(vec![0; 6]).unwrap(), None);
    let too_big = asm.binary(vec![0; 5]).unwrap_err();
    assert_eq!((too_big.close_code(), too_big.to_string().contains("maxPayload")), (1009, true));
    // Nothing is held after the refusal; exactly the limit fits.
    assert_eq!(asm.text(announce(2)).unwrap(), None);
    assert_eq!(asm.binary(vec![0; 5]).unwrap(), None);
    assert!(asm.binary(vec![0; 5]).unwrap().is_some());
    assert_eq!(Assembler::default().text(announce(11)).unwrap_err().close_code(), 1009);
}

#[test]
fn maps_arguments_to_one_value() {
    let inbound = |t: &str| to_inbound(decode(t).unwrap()).unwrap();
    assert_eq!(inbound(r#"2["a"]"#), Inbound::Event { name: "a".into(), data: Value::Null, ack: None });
    assert_eq!(inbound(r#"24["a",1]"#), Inbound::Event { name: "a".into(), data: json!(1), ack: Some(4) });
    assert_eq!(inbound(r#"2["a",1,"2"]"#), Inbound::Event { name: "a".into(), data: json!([1, "2"]), ack: None });
    assert_eq!(inbound(r#"30["x"]"#), Inbound::Ack { id: 0, data: json!("x") });
}

fn texts(frames: Vec<Message>) -> Vec<String> {
    frames
        .into_iter()
        .map(|m| match m {
            Message::Text(t) => t.to_string(),
            Message::Binary(b) => format!("<{b:?}>"),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn encodes_outgoing_events_acks_args_and_binary() {
    let ev = |data: Value, ack| Outgoing::Event { name: "hi".into(), data: payload(&data).unwrap(), ack };
    assert_eq!(texts(encode_outgoing("/", &ev(json!("there"), None))), [r#"42["hi","there"]"#]);
    assert_eq!(texts(encode_outgoing("/admin", &ev(json!(1), Some(3)))), [r#"42/admin,3["hi",1]"#]);
    let args =
        Outgoing::Event { name: "hi".into(), data: payload(&Args(vec![json!(1), json!("2")])).unwrap(), ack: None };
    assert_eq!(texts(encode_outgoing("/", &args)), [r#"42["hi",1,"2"]"#]);
    let none = Outgoing::Event { name: "hi".into(), data: payload(&Args(vec![])).unwrap(), ack: None };
    assert_eq!(texts(encode_outgoing("/", &none)), [r#"42["hi"]"#]);
    let ack = Outgoing::Ack { id: 456, data: payload(&Args(vec![json!(1), json!("2")])).unwrap() };
    assert_eq!(texts(encode_outgoing("/", &ack)), [r#"43456[1,"2"]"#]);
    let ack = Outgoing::Ack { id: 1, data: payload(&json!(null)).unwrap() };
    assert_eq!(texts(encode_outgoing("/", &ack)), ["431[null]"]);
    let logged = Outgoing::Event { name: "hi".into(), data: payload(&Args(vec![])).unwrap(), ack: None };
    assert_eq!(texts(encode_outgoing_at("/", &logged, Some("7"))), [r#"42["hi","7"]"#]);
    assert_eq!(texts(encode_outgoing_at("/a", &ev(json!(1), None), Some("8"))), [r#"42/a,["hi",1,"8"]"#]);
    let bin = ev(json!({"file": binary(&[1, 2])}), None);
    assert_eq!(
        texts(encode_outgoing("/", &bin)),
        [r#"451-["hi",{"file":{"_placeholder":true,"num":0}}]"#.to_string(), format!("<{:?}>", bytes(&[1, 2]))]
    );
}

fn bytes(b: &[u8]) -> tungstenite::Bytes {
    tungstenite::Bytes::copy_from_slice(b)
}

/// Property-ish: generated events survive encode → decode → inbound,
/// with binary markers turned into attachments and back.
#[test]
fn generated_events_round_trip() {
    let mut seed = 0x2545_f491_u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    for round in 0..200 {
        let mut args = Vec::new();
        for _ in 0..1 + next() % 3 {
            args.push(match next() % 4 {
                0 => json!(next()),
                1 => json!(format!("s{}", next() % 100)),
                2 => binary(&(0..next() % 5).map(|_| next() as u8).collect::<Vec<_>>()),
                _ => json!({"k": [next() % 7, binary(&[next() as u8])]}),
            });
        }
        let nsp = if round % 2 == 0 { "/" } else { "/admin" };
        let ack = (round % 3 == 0).then_some(round as u64);
        let out = Outgoing::Event { name: "e".into(), data: payload(&Args(args.clone())).unwrap(), ack };
        let mut asm = Assembler::default();
        let mut result = None;
        for frame in encode_outgoing(nsp, &out) {
            result = match frame {
                Message::Text(t) => asm.text(decode(&t.as_str()[1..]).unwrap()).unwrap(),
                Message::Binary(b) => asm.binary(b.to_vec()).unwrap(),
                _ => unreachable!(),
            };
        }
        let packet = result.expect("complete after the last frame");
        assert_eq!(packet.nsp, nsp);
        let expected = if args.len() == 1 { args[0].clone() } else { Value::Array(args) };
        assert_eq!(to_inbound(packet), Some(Inbound::Event { name: "e".into(), data: expected, ack }));
    }
}
