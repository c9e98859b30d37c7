//! The hub: emit to everyone, broadcast to all but the sender, rooms, emitting
//! from another thread, and the slow consumer that must not slow anyone down.
//!
//! A client is registered with the hub before its `on_connection` handler runs,
//! so once a client has read its welcome event, every broadcast sent after
//! that reaches it. Likewise `socket.join` sends its command to the hub before
//! the handler's ack reply is written, so once the client has the reply, the
//! hub knows the room.
mod common;

use std::thread;

use common::*;
use serde_json::{json, Value};
use tungstenite::Message;
use wshub::{Server, ServerHandle};

/// A server whose clients can shout (broadcast to all others), join and
/// leave rooms, and speak to a room (`socket.to(room)`: the others in it).
fn chat_server() -> ServerHandle {
    start(Server::builder(), |socket| {
        socket.emit("server-message", "Welcome to WebSocket");
        socket.on("shout", |socket, data| socket.broadcast("shout", data));
        socket.on_with_ack("join", |socket, room: Value, ack| {
            socket.join(room.as_str().unwrap_or(""));
            ack.send(());
        });
        socket.on_with_ack("leave", |socket, room: Value, ack| {
            socket.leave(room.as_str().unwrap_or(""));
            ack.send(());
        });
        socket.on("say", |socket, data| {
            let room = data["room"].as_str().unwrap_or("").to_string();
            socket.to(room).emit("said", data["text"].clone());
        });
    })
}

/// `io.emit` reaches every one of 50 connected clients.
#[test]
fn io_emit_reaches_all_50_clients() {
    let server = chat_server();
    let mut clients: Vec<Client> = (0..50).map(|_| connect_greeted(server.local_addr)).collect();
    // The count is kept by the hub thread: it may lag the welcome by a moment.
    assert!(wait_until(READ_TIMEOUT, || server.io.client_count() == 50), "{}", server.io.client_count());

    server.io.emit("news", "to everyone");
    for client in &mut clients {
        assert_eq!(client.recv_event(), ("news".to_string(), json!("to everyone")));
    }
}

/// `socket.broadcast` reaches the 49 other clients and not the sender: after
/// it, the sender's next event is a later `io.emit`, not its own shout.
#[test]
fn broadcast_reaches_all_but_the_sender() {
    let server = chat_server();
    let mut clients: Vec<Client> = (0..50).map(|_| connect_greeted(server.local_addr)).collect();

    clients[0].emit("shout", json!("hello all"));
    for client in &mut clients[1..] {
        assert_eq!(client.recv_event(), ("shout".to_string(), json!("hello all")));
    }
    // Every shout has been delivered, so it was fanned out before this marker.
    server.io.emit("marker", 1);
    assert_eq!(clients[0].recv_event().0, "marker", "the sender did not get its own broadcast");
}

/// Rooms with 50 clients: `io.to(room)` reaches exactly the members,
/// `socket.to(room)` the members except the sender, and after `leave` a
/// client no longer gets the room's events.
#[test]
fn rooms_reach_exactly_their_members() {
    let server = chat_server();
    let mut clients: Vec<Client> = (0..50).map(|_| connect_greeted(server.local_addr)).collect();
    let room = |i: usize| if i.is_multiple_of(2) { "even" } else { "odd" };
    for (i, client) in clients.iter_mut().enumerate() {
        client.call("join", json!(room(i)), 1);
    }

    // io.to(room): the members, and nobody else (checked with a marker to all).
    server.io.to("even").emit("news", "for the even ones");
    server.io.emit("marker", 1);
    for (i, client) in clients.iter_mut().enumerate() {
        if room(i) == "even" {
            assert_eq!(client.recv_event(), ("news".to_string(), json!("for the even ones")), "client {i}");
        }
        assert_eq!(client.recv_event().0, "marker", "client {i}");
    }

    // socket.to(room): the other members of the sender's room.
    clients[1].emit("say", json!({ "room": "odd", "text": "odd ones, hi" }));
    for (i, client) in clients.iter_mut().enumerate().filter(|(i, _)| room(*i) == "odd" && *i != 1) {
        assert_eq!(client.recv_event(), ("said".to_string(), json!("odd ones, hi")), "client {i}");
    }
    server.io.emit("marker", 2);
    for (i, client) in clients.iter_mut().enumerate() {
        assert_eq!(client.recv_event(), ("marker".to_string(), json!(2)), "client {i} got a room event it should not");
    }

    // leave: client 2 is out of "even".
    clients[2].call("leave", json!("even"), 2);
    server.io.to("even").emit("news", "evens again");
    server.io.emit("marker", 3);
    assert_eq!(clients[2].recv_event(), ("marker".to_string(), json!(3)));
    assert_eq!(clients[4].recv_event().0, "news");
}

/// `Io` is `Clone + Send`: a plain thread (a ticker, a data feed) emits to
/// every client, in order, and reads the client count.
#[test]
fn io_works_from_another_thread() {
    let server = chat_server();
    let mut clients: Vec<Client> = (0..3).map(|_| connect_greeted(server.local_addr)).collect();

    let io = server.io.clone();
    // The count is kept by the hub thread: it may lag the welcome by a moment.
    assert!(wait_until(READ_TIMEOUT, || io.client_count() == 3));
    let ticker = thread::Builder::new()
        .name("test-ticker".into())
        .spawn(move || {
            for n in 0..10 {
                io.emit("tick", n);
            }
            io.client_count()
        })
        .unwrap();
    assert_eq!(ticker.join().unwrap(), 3);
    for client in &mut clients {
        for n in 0..10 {
            assert_eq!(client.recv_event(), ("tick".to_string(), json!(n)));
        }
    }
}

/// A slow consumer: one client stops reading while 20 others receive every
/// one of 1,000 numbered broadcasts (16 KiB each here), in order, emitted in
/// a tight loop. The stalled client's socket buffers fill, the rest waits in
/// its small backlog (16 frames) until that is full, and the hub closes it
/// (1013) instead of waiting for it. When it finally reads, it finds what was
/// buffered (in order) and then Close 1013.
///
/// The healthy clients' sockets fill now and then during the burst too, but
/// their backlogs move as their readers catch up, so none is closed.
#[test]
fn slow_consumer_is_closed_with_1013_while_20_others_get_all_1000_broadcasts_in_order() {
    const HEALTHY: usize = 20;
    const BROADCASTS: usize = 1000;
    const OUTBOX: usize = 16;

    let builder = Server::builder().backlog_capacity(OUTBOX);
    let server = start(builder, |socket| socket.emit("server-message", "Welcome to WebSocket"));
    let mut stalled = connect_greeted(server.local_addr);

    // Each healthy client gets a reader thread that checks the order.
    let readers: Vec<_> = (0..HEALTHY)
        .map(|i| {
            let mut client = connect_greeted(server.local_addr);
            thread::Builder::new()
                .name(format!("test-reader-{i}"))
                .spawn(move || {
                    for expected in 0..BROADCASTS {
                        let message = client.recv();
                        assert_eq!(
                            message.to_text().ok().and_then(tick_number),
                            Some(expected),
                            "client {i}: missing or out of order"
                        );
                    }
                    client
                })
                .unwrap()
        })
        .collect();

    // Four times what the kernel may buffer for the stalled socket (16 KiB
    // each with Linux's default 4 MiB send-buffer limit), so it surely fills.
    let payload = (4 * send_buffer_limit() / BROADCASTS).max(16 * 1024);
    let pad = "x".repeat(payload);
    for n in 0..BROADCASTS {
        server.io.emit("tick", (n, &pad));
    }
    for reader in readers {
        reader.join().expect("a healthy client got every broadcast, in order").close();
    }

    // Now the stalled client reads: a prefix of the broadcasts, then Close 1013.
    let mut next = 0;
    let code = loop {
        assert!(next <= BROADCASTS, "the stalled client was never dropped");
        match stalled.recv() {
            Message::Close(frame) => break frame.map(|f| u16::from(f.code)),
            message => {
                assert_eq!(
                    message.to_text().ok().and_then(tick_number),
                    Some(next),
                    "the stalled client's backlog is in order"
                );
                next += 1;
            }
        }
    };
    eprintln!("the stalled client got {next} of {BROADCASTS} broadcasts, then Close {code:?}");
    assert_eq!(code, Some(1013), "after {next} broadcasts");
    assert!(next < BROADCASTS, "the stalled client was dropped before the end ({next} delivered)");
    stalled.finish_close();
}

/// A burst: 1,000 small broadcasts emitted in a tight loop, with the default
/// backlog (256 frames), reach all 20 clients, every one, in order: the hub
/// may outrun their readers, but every backlog moves, so nobody is dropped.
#[test]
fn a_burst_larger_than_the_outbox_reaches_every_healthy_client() {
    const CLIENTS: usize = 20;
    const BROADCASTS: usize = 1000;
    let server = start_default();
    let readers: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let mut client = connect_greeted(server.local_addr);
            thread::Builder::new()
                .name(format!("burst-reader-{i}"))
                .spawn(move || {
                    for expected in 0..BROADCASTS {
                        assert_eq!(client.recv_event(), ("n".to_string(), json!(expected)), "client {i}");
                    }
                })
                .unwrap()
        })
        .collect();
    assert!(wait_until(READ_TIMEOUT, || server.io.client_count() == CLIENTS));
    for n in 0..BROADCASTS {
        server.io.emit("n", n);
    }
    for reader in readers {
        reader.join().expect("every broadcast arrived, in order");
    }
}

/// One thread per client, and the hub writes: while a client's handler is
/// busy for a second on that client's own thread, a broadcast emitted from
/// another thread still reaches it during that second. The client reads the
/// broadcast before the event the handler sends when it is done.
#[test]
fn a_busy_handler_does_not_delay_its_clients_broadcasts() {
    let (started_tx, started_rx) = crossbeam_channel::bounded::<()>(1);
    let server = start(Server::builder(), move |socket| {
        socket.emit("server-message", "Welcome to WebSocket");
        let started = started_tx.clone();
        socket.on("work", move |socket, _| {
            let _ = started.send(());
            // Application work that takes a while (not synchronisation: the
            // test waits on `started`, and checks an order, not a time).
            thread::sleep(std::time::Duration::from_secs(1));
            socket.emit("done", ());
        });
    });
    let mut client = connect_greeted(server.local_addr);
    client.emit("work", json!(null));
    started_rx.recv_timeout(READ_TIMEOUT).expect("the handler started");
    server.io.emit("tick", 1);
    assert_eq!(client.recv_event().0, "tick", "the broadcast came while the handler was busy");
    assert_eq!(client.recv_event().0, "done");
}

/// The slow consumer again, with the default backlog: 1,000 unpaced
/// broadcasts of 16 KiB to 20 healthy clients while one stopped reading.
/// The 20 get every message in order; the stalled one leaves the hub (its
/// backlog full or stuck) within `slow_client_timeout` plus a margin of the
/// storm's end, and finds Close 1013 when it reads again.
#[test]
fn a_stalled_client_leaves_within_the_slow_client_timeout() {
    const HEALTHY: usize = 20;
    const BROADCASTS: usize = 1000;
    let slow = std::time::Duration::from_millis(300);
    let server = start(Server::builder().slow_client_timeout(slow), |socket| {
        socket.emit("server-message", "Welcome to WebSocket")
    });
    let mut stalled = connect_greeted(server.local_addr);
    let readers: Vec<_> = (0..HEALTHY)
        .map(|i| {
            let mut client = connect_greeted(server.local_addr);
            thread::spawn(move || {
                for expected in 0..BROADCASTS {
                    let text = client.recv().into_text().expect("a text frame");
                    assert_eq!(tick_number(&text), Some(expected), "client {i}: missing or out of order");
                }
                client // still connected for the count below
            })
        })
        .collect();
    assert!(wait_until(READ_TIMEOUT, || server.io.client_count() == HEALTHY + 1));
    let pad = "x".repeat(16 * 1024);
    for n in 0..BROADCASTS {
        server.io.emit("tick", (n, &pad));
    }
    let _healthy: Vec<Client> =
        readers.into_iter().map(|r| r.join().expect("a healthy client got every broadcast, in order")).collect();
    // A generous margin: this checks that the rule fires, not how fast.
    let margin = std::time::Duration::from_secs(5);
    assert!(
        wait_until(slow + margin, || server.io.client_count() == HEALTHY),
        "the stalled client is still registered: {}",
        server.io.client_count()
    );
    let code = loop {
        match stalled.recv() {
            Message::Close(frame) => break frame.map(|f| u16::from(f.code)),
            _ => continue,
        }
    };
    assert_eq!(code, Some(1013));
}
