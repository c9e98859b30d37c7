//! A client that floods: 20,000 events, each of which its handler
//! broadcasts, while 100 healthy readers (50 on `/ws`, 50 socket.io clients
//! on WebSocket) receive. The flooder slows itself down: its handlers may
//! have only a few commands waiting for the hub, so its thread stops
//! reading and TCP holds it back. No reader loses a message or is dropped.
//! With a message rate set, the flooder is closed with 1008 instead, and
//! the readers get what it sent before, in order.
mod common;

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use common::*;
use serde_json::json;
use tungstenite::Message;
use wshub::{Server, ServerBuilder, ServerHandle};

const READERS: usize = 100;
/// A reader that hears nothing for this long takes the flood to be over.
const QUIET: Duration = Duration::from_secs(5);

/// Each `say` is broadcast to everyone else as `said`.
fn flood_server(builder: ServerBuilder) -> ServerHandle {
    start(builder.heartbeat(Duration::from_secs(600), Duration::from_secs(1200)), |socket| {
        socket.emit("server-message", "Welcome to WebSocket");
        socket.on("say", |socket, data| socket.broadcast("said", data));
    })
}

/// A socket.io client on WebSocket, joined to `/`.
fn sio_reader(addr: std::net::SocketAddr) -> Client {
    let mut client = connect_with(addr, "/socket.io/?EIO=4&transport=websocket", &[]).expect("upgrade");
    assert!(client.recv().into_text().unwrap().starts_with("0{"));
    client.ws.send(Message::text("40")).unwrap();
    assert!(client.recv().into_text().unwrap().starts_with("40{"));
    assert!(client.recv().into_text().unwrap().contains("Welcome"));
    client
}

/// The number in a `said` frame of either protocol (`{"n":7}` in its data).
fn said_number(text: &str) -> Option<u64> {
    let start = text.find("\"n\":")? + 4;
    text[start..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// Starts the readers; each checks that it gets `said` 0, 1, 2… up to
/// `expect(n)` and returns how many it got before `stop` says the flood is over.
fn readers(server: &ServerHandle) -> Vec<thread::JoinHandle<(usize, Client)>> {
    let addr = server.local_addr;
    let readers: Vec<_> = (0..READERS)
        .map(|i| {
            let mut client = if i % 2 == 0 { connect_greeted(addr) } else { sio_reader(addr) };
            thread::spawn(move || {
                client.ws.get_ref().set_read_timeout(Some(QUIET)).unwrap();
                let mut next = 0u64;
                loop {
                    match client.ws.read() {
                        Ok(Message::Text(text)) if text.as_str() == "2" => {
                            let _ = client.ws.send(Message::text("3"));
                        }
                        Ok(Message::Text(text)) => {
                            assert_eq!(said_number(text.as_str()), Some(next), "reader {i}: lost or out of order");
                            next += 1;
                        }
                        Ok(Message::Close(frame)) => panic!("reader {i} was closed: {frame:?}"),
                        Ok(_) => {}
                        // Quiet for a while: the flood is over.
                        Err(_) => return (next as usize, client),
                    }
                }
            })
        })
        .collect();
    assert!(wait_until(READ_TIMEOUT, || server.io.client_count() == READERS));
    readers
}

/// Writes `count` masked `say` frames as fast as the socket takes them.
fn flood(addr: std::net::SocketAddr, count: usize) -> (Client, std::io::Result<()>) {
    let client = connect_greeted(addr);
    let mut raw: TcpStream = client.ws.get_ref().try_clone().unwrap();
    raw.set_write_timeout(Some(Duration::from_secs(300))).unwrap();
    let mask = [1u8, 2, 3, 4];
    let mut written = Ok(());
    for n in 0..count {
        let payload = json!({ "event": "say", "data": { "n": n } }).to_string();
        let mut frame = vec![0x81, 0x80 | payload.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(payload.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        written = raw.write_all(&frame);
        if written.is_err() {
            break; // closed for flooding
        }
    }
    (client, written)
}

#[test]
fn a_flood_slows_itself_down_and_costs_no_reader_a_message() {
    const EVENTS: usize = 20_000;
    let server = flood_server(Server::builder());
    let readers = readers(&server);
    let started = std::time::Instant::now();
    let (_flooder, written) = flood(server.local_addr, EVENTS);
    println!("{EVENTS} events written in {:?}", started.elapsed());
    written.expect("the flood was written (slowed down, not refused)");
    let mut clients = Vec::new();
    for reader in readers {
        let (got, client) = reader.join().expect("a reader lost nothing and was not dropped");
        assert_eq!(got, EVENTS, "a reader got {got} of {EVENTS}");
        clients.push(client);
    }
    assert_eq!(server.io.client_count(), READERS + 1, "nobody was dropped");
}

#[test]
fn over_the_message_rate_a_flooder_is_closed_with_1008() {
    let server = flood_server(Server::builder().max_message_rate(50));
    let readers = readers(&server);
    let (mut flooder, _) = flood(server.local_addr, 2_000);
    let code = loop {
        match flooder.ws.read() {
            Ok(Message::Close(frame)) => break frame.map(|f| u16::from(f.code)),
            Ok(_) => continue,
            Err(e) => panic!("no Close for the flooder: {e}"),
        }
    };
    assert_eq!(code, Some(1008));
    for reader in readers {
        let (got, _client) = reader.join().expect("a reader lost nothing and was not dropped");
        assert!((50..2_000).contains(&got), "a reader got {got}: a prefix, cut at the rate");
    }
}
