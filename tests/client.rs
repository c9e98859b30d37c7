//! The terminal client (`examples/client.rs`) against the chat example, with
//! a channel standing in for stdin and a buffer for stdout.
mod common;

#[path = "../examples/chat.rs"]
#[allow(dead_code)]
mod chat;

#[path = "../examples/client.rs"]
#[allow(dead_code)]
mod client;

use std::io::{self, Write};
use std::thread;
use std::time::Duration;

use common::*;
use crossbeam_channel::{unbounded, Receiver, Sender};
use serde_json::json;

/// Stands in for stdout: passes on each complete line.
struct Lines {
    tx: Sender<String>,
    partial: Vec<u8>,
}

impl Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.partial.extend_from_slice(bytes);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let _ = self.tx.send(String::from_utf8_lossy(&line).trim_end().to_string());
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads printed lines until one contains `text` (bounded in lines and time).
fn expect_line(out: &Receiver<String>, text: &str) -> String {
    for _ in 0..100 {
        let line = out.recv_timeout(READ_TIMEOUT).unwrap_or_else(|_| panic!("the client never printed {text:?}"));
        if line.contains(text) {
            return line;
        }
    }
    panic!("the client never printed {text:?}");
}

/// The terminal client prints the welcome push before anything is typed,
/// sends a plain line as `client-message`, prints the reply to `/ack`, sends
/// any event with `/emit`, prints a message pushed by another client while it
/// waits for input, and closes cleanly when its input ends.
#[test]
fn terminal_client_sends_lines_and_prints_every_push() {
    watchdog(120);
    let server = chat::bind(("127.0.0.1", 0)).expect("bind").spawn().expect("spawn");
    let ws = client::connect(&format!("ws://{}/ws", server.local_addr)).expect("connect");
    let (typed, lines) = unbounded();
    let (printed, out) = unbounded();
    let session = thread::spawn(move || client::session(ws, &lines, &mut Lines { tx: printed, partial: Vec::new() }));

    expect_line(&out, r#"<- server-message: "Welcome to WebSocket""#);
    typed.send("hello".to_string()).unwrap();
    expect_line(&out, r#"-> {"data":"hello","event":"client-message"}"#);
    expect_line(&out, r#"<- server-message: "The server got your client-message: \"hello\"""#);

    typed.send(r#"/ack set-nick "ana""#.to_string()).unwrap();
    expect_line(&out, r#"<- ack 1: {"nick":"ana","ok":true}"#);
    typed.send(r#"/emit chat-message "hi""#.to_string()).unwrap();
    let line = expect_line(&out, "<- chat-message: ");
    assert!(line.contains(r#""from":"ana""#) && line.contains(r#""text":"hi""#), "{line}");

    // Someone else talks while nothing is typed: the push is printed anyway.
    let mut other = connect(server.local_addr);
    other.emit("chat-message", json!("are you there?"));
    let line = expect_line(&out, r#""text":"are you there?""#);
    assert!(line.starts_with("<- chat-message: "), "{line}");

    drop(typed); // end of input, like Ctrl-D
    let end = session.join().expect("the session thread");
    assert!(matches!(end, client::End::Quit), "the session ends as asked: {end:?}");
}

/// When the server shuts down (close 1001), the client says the connection
/// is gone and when it will try again, refuses to send what is typed
/// meanwhile, and connects again by itself once a server is back on the same
/// address: the new server's welcome is printed. `/quit` then ends it.
#[test]
fn terminal_client_reconnects_when_the_server_comes_back() {
    watchdog(120);
    let server = chat::bind(("127.0.0.1", 0)).expect("bind").spawn().expect("spawn");
    let addr = server.local_addr;
    let (typed, lines) = unbounded();
    let (printed, out) = unbounded();
    let url = format!("ws://{addr}/ws");
    let backoff = client::Backoff { first: Duration::from_millis(100), max: Duration::from_millis(400) };
    let run = thread::spawn(move || client::run(&url, lines, &mut Lines { tx: printed, partial: Vec::new() }, backoff));

    expect_line(&out, "-- connected to ws://");
    expect_line(&out, r#"<- server-message: "Welcome to WebSocket""#);
    server.shutdown().expect("shutdown");
    expect_line(&out, r#"<- close 1001 "server shutting down""#);
    expect_line(&out, "-- the server closed the connection; reconnecting in 0.1 s");
    // Nothing listens now: the attempts fail and the waits grow, up to the most.
    expect_line(&out, "; reconnecting in 0.2 s");
    expect_line(&out, "; reconnecting in 0.4 s");
    typed.send("hello?".to_string()).unwrap();
    expect_line(&out, r#"-- not connected: "hello?" was not sent"#);

    let server = chat::bind(addr).expect("bind the same address again").spawn().expect("spawn");
    expect_line(&out, "-- connected to ws://");
    expect_line(&out, r#"<- server-message: "Welcome to WebSocket""#);
    typed.send("/quit".to_string()).unwrap();
    expect_line(&out, "-- connection closed");
    run.join().expect("the client thread").expect("the client ends cleanly");
    server.shutdown().expect("shutdown");
}

/// `--help` asks for the usage, a URL is taken as it is, no argument means
/// the default address (`main` makes it from `PORT`), and an unknown option
/// is refused.
#[test]
fn terminal_client_arguments() {
    let args = |list: &[&str]| client::parse_args(list.iter().map(|a| a.to_string()), "ws://127.0.0.1:3000/ws");
    assert_eq!(args(&["--help"]), Ok(None));
    assert_eq!(args(&["-h"]), Ok(None));
    assert_eq!(args(&[]), Ok(Some("ws://127.0.0.1:3000/ws".to_string())));
    assert_eq!(args(&["ws://127.0.0.1:8080/ws"]), Ok(Some("ws://127.0.0.1:8080/ws".to_string())));
    assert!(args(&["--verbose"]).is_err_and(|e| e.contains("--verbose")));
}
