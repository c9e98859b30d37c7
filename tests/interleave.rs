//! One socket, several writers: the hub writes broadcasts into it while the
//! client's own thread writes replies, acks and pongs. Whatever the mix and
//! the sizes, and whether the client reads at once or only after everything
//! was sent (so that its socket fills and frames wait in the backlog, some
//! written in part), every frame arrives whole, each writer's frames arrive
//! in the order they were sent, and a handler's reply comes before its ack,
//! as the handler decided.
mod common;

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use common::*;
use proptest::prelude::*;
use serde_json::{json, Value};
use tungstenite::Message;
use wshub::Server;

/// A client frame (masked, as RFC 6455 requires of clients), written by
/// hand so that this thread can send while another reads with tungstenite.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0x13, 0xc4, 0x7e];
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n < 65536 => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// One run: `asks` events that each get a reply (`own`) and an ack from the
/// handler, `broadcasts` hub events from another thread, `pings` client
/// pings, with payload sizes taken in turn from `sizes`.
fn run(asks: usize, broadcasts: usize, pings: usize, sizes: &[usize], read_late: bool) {
    let builder = Server::builder()
        .backlog_capacity(100_000)
        .backlog_bytes(256 << 20)
        .slow_client_timeout(Duration::from_secs(60))
        .heartbeat(Duration::from_secs(600), Duration::from_secs(1200));
    let server = start(builder, |socket| {
        socket.emit("server-message", "Welcome to WebSocket");
        socket.on_with_ack("ask", |socket, data: Value, ack| {
            let n = data["n"].as_u64().unwrap_or(0) as usize;
            socket.emit("own", json!({ "i": data["i"], "pad": "o".repeat(n) }));
            ack.send(data["i"].clone());
        });
    });
    let mut client = connect_greeted(server.local_addr);
    assert!(wait_until(READ_TIMEOUT, || server.io.client_count() == 1));
    let mut raw: TcpStream = client.ws.get_ref().try_clone().expect("a second handle on the socket");

    let sizes_ask = sizes.to_vec();
    let size = move |k: usize| sizes_ask[k % sizes_ask.len()];
    let sizes_hub = sizes.to_vec();
    let io = server.io.clone();
    let hub = thread::spawn(move || {
        for j in 0..broadcasts {
            io.emit("hub", json!({ "j": j, "pad": "h".repeat(sizes_hub[(j + 1) % sizes_hub.len()]) }));
        }
    });
    let writer = thread::spawn(move || {
        for i in 0..asks.max(pings) {
            if i < asks {
                let event = json!({ "event": "ask", "data": { "i": i, "n": size(i) }, "ack": i });
                raw.write_all(&client_frame(0x1, event.to_string().as_bytes())).expect("send an ask");
            }
            if i < pings {
                raw.write_all(&client_frame(0x9, format!("p{i}").as_bytes())).expect("send a ping");
            }
        }
        raw
    });
    let mut hub = Some(hub);
    if read_late {
        // Read nothing until everything was sent: the socket fills up and
        // the rest waits in the backlog.
        hub.take().unwrap().join().unwrap();
    }

    let (mut own, mut acks, mut hubs, mut pongs) = (0usize, 0usize, 0usize, 0usize);
    while own < asks || acks < asks || hubs < broadcasts || pongs < pings {
        let message = client.ws.read().expect("a whole frame");
        match message {
            Message::Pong(payload) => {
                assert_eq!(&payload[..], format!("p{pongs}").as_bytes(), "pongs in order");
                pongs += 1;
            }
            Message::Text(text) => {
                let v: Value = serde_json::from_str(text.as_str()).expect("a whole JSON frame");
                match v["event"].as_str() {
                    Some("own") => {
                        assert_eq!(v["data"]["i"], json!(own), "replies in order");
                        own += 1;
                    }
                    Some("hub") => {
                        assert_eq!(v["data"]["j"], json!(hubs), "broadcasts in order");
                        hubs += 1;
                    }
                    Some(other) => panic!("unexpected event {other}"),
                    None => {
                        assert_eq!(v["data"], json!(acks), "acks in order");
                        assert!(acks < own, "the reply to ask {acks} came before its ack");
                        acks += 1;
                    }
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let _raw = writer.join().unwrap();
    if let Some(hub) = hub {
        hub.join().unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn hub_and_own_frames_arrive_whole_and_in_order(
        asks in 0usize..120,
        broadcasts in 0usize..120,
        pings in 0usize..40,
        sizes in prop::collection::vec(prop_oneof![0usize..200, 1_000usize..70_000, 100_000usize..300_000], 1..6),
        read_late in any::<bool>(),
    ) {
        run(asks, broadcasts, pings, &sizes, read_late);
    }
}
