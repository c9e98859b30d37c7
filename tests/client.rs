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
    let session = thread::spawn(move || client::session(ws, lines, &mut Lines { tx: printed, partial: Vec::new() }));

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
    session.join().expect("the session thread").expect("the session ends cleanly");
}
