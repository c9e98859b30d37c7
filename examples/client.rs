//! A terminal WebSocket client, for readers without a browser.
//!
//! ```sh
//! cargo run --example chat                                  # or: cargo run --example seed
//! cargo run --example client -- ws://127.0.0.1:3000/ws      # in a second terminal (this URL is the default)
//! ```
//! Then type:
//! ```text
//! hello                         a line is sent as {"event":"client-message","data":"hello"}
//! /emit chat-message "hi all"   any event, with any JSON data (strings in double quotes)
//! /ack set-nick "ana"           the same, asking for a reply: the server's ack is printed
//! /quit                         close the connection (Ctrl-D too)
//! ```
//! Every frame the server sends is printed as `<- event: data`.
//!
//! Step through it: break on `client::handle_frame` (this file) to see each server push arrive.
//!
//! # Why a read timeout here, when the server avoids them
//! One `WebSocket` must be read and written by the same thread (see `src/reader.rs`). This thread
//! owns it; a second thread only reads stdin and passes lines through a channel. The socket is
//! read with a short timeout, and each time it has nothing to say the thread sends the lines typed
//! meanwhile. For one connection and a human typing, 20 wake-ups a second cost nothing; the
//! server, with thousands of idle clients, uses a reader thread per socket instead.

use std::io::{self, BufRead, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, TryRecvError};
use serde_json::{json, Value};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

/// How long a read waits before the thread looks at stdin again.
const POLL: Duration = Duration::from_millis(50);
/// How long to wait for the server's answer to our Close.
const CLOSE_WAIT: Duration = Duration::from_secs(3);

fn main() {
    let url = std::env::args().nth(1).unwrap_or_else(|| "ws://127.0.0.1:3000/ws".to_string());
    let result = connect(&url).and_then(|ws| {
        eprintln!("connected to {url}; type a line to send a client-message, /help for more");
        session(ws, spawn_stdin_reader(), &mut io::stdout())
    });
    if let Err(e) = result {
        eprintln!("client: {e}");
        std::process::exit(1);
    }
}

/// The client's loop: prints what the server sends to `out`, sends the typed
/// `lines`, and closes when they end. (`tests/client.rs` drives it with a
/// channel and a buffer instead of stdin and stdout.)
pub fn session(mut ws: WebSocket<TcpStream>, lines: Receiver<String>, out: &mut impl Write) -> Result<(), String> {
    let mut next_ack: u64 = 1;
    let mut closing: Option<Instant> = None;

    loop {
        match ws.read() {
            Ok(message) => handle_frame(&mut ws, message, out),
            // The read timed out: nothing has arrived for POLL.
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(tungstenite::Error::ConnectionClosed) => {
                eprintln!("connection closed");
                return Ok(());
            }
            Err(e) => return Err(format!("connection lost: {e}")),
        }
        if let Some(since) = closing {
            if since.elapsed() > CLOSE_WAIT {
                return Err("the server did not answer our Close in time".into());
            }
            continue; // closing: only read, until the server's Close arrives
        }
        // Between two reads: send what was typed meanwhile.
        loop {
            let line = match lines.try_recv() {
                Ok(line) => line,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => "/quit".to_string(), // stdin ended (Ctrl-D)
            };
            match command(&line, &mut next_ack) {
                Command::Send(envelope) => {
                    print(out, format!("-> {envelope}"));
                    ws.send(Message::text(envelope.to_string())).map_err(|e| format!("send failed: {e}"))?;
                }
                Command::Quit => {
                    let _ = ws.close(None);
                    closing = Some(Instant::now());
                    break;
                }
                Command::Nothing => {}
            }
        }
    }
}

/// Opens the TCP connection and performs the WebSocket handshake.
pub fn connect(url: &str) -> Result<WebSocket<TcpStream>, String> {
    let request = url.into_client_request().map_err(|e| format!("{url}: {e}"))?;
    let uri = request.uri();
    if uri.scheme_str() != Some("ws") {
        return Err(format!("{url}: only ws:// addresses are supported (no TLS in this example)"));
    }
    let host = uri.host().unwrap_or("127.0.0.1").trim_start_matches('[').trim_end_matches(']').to_string();
    let port = uri.port_u16().unwrap_or(80);
    let stream =
        TcpStream::connect((host.as_str(), port)).map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (ws, response) = tungstenite::client(request, stream).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response)) => {
            let body = response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            format!("the server refused the upgrade: {} {}", response.status(), body.trim())
        }
        other => format!("handshake failed: {other}"),
    })?;
    eprintln!("handshake done: {}", response.status());
    // From now on reads wait at most POLL (see the module docs).
    ws.get_ref().set_read_timeout(Some(POLL)).map_err(|e| e.to_string())?;
    Ok(ws)
}

/// Prints one frame from the server; answers the server's ack requests.
fn handle_frame(ws: &mut WebSocket<TcpStream>, message: Message, out: &mut impl Write) {
    let text = match message {
        Message::Text(text) => text,
        Message::Binary(bytes) => return print(out, format!("<- (binary, {} bytes)", bytes.len())),
        Message::Close(frame) => return print(out, format!("<- close {frame:?}")),
        // tungstenite answers pings by itself.
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return,
    };
    let Ok(value) = serde_json::from_str::<Value>(text.as_str()) else {
        return print(out, format!("<- (not JSON) {}", text.as_str()));
    };
    match (value.get("event").and_then(Value::as_str), value.get("ack")) {
        (Some(event), None) => print(out, format!("<- {event}: {}", value["data"])),
        (Some(event), Some(ack)) => {
            print(out, format!("<- {event}: {} (the server asks for a reply; answering \"received\")", value["data"]));
            let reply = json!({ "ack": ack, "data": "received" });
            if let Err(e) = ws.send(Message::text(reply.to_string())) {
                eprintln!("could not answer ack {ack}: {e}");
            }
        }
        (None, Some(ack)) => print(out, format!("<- ack {ack}: {}", value["data"])),
        (None, None) => print(out, format!("<- {value}")),
    }
}

/// One line of output (a closed stdout is no reason to stop).
fn print(out: &mut impl Write, line: String) {
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// What a typed line asks for.
enum Command {
    Send(Value),
    Quit,
    Nothing,
}

/// Turns one typed line into a command (printing help or mistakes itself).
fn command(line: &str, next_ack: &mut u64) -> Command {
    let line = line.trim_end_matches(['\r', '\n']);
    let Some(rest) = line.strip_prefix('/') else {
        return Command::Send(json!({ "event": "client-message", "data": line }));
    };
    let (verb, args) = rest.split_once(' ').unwrap_or((rest, ""));
    match verb {
        "quit" | "exit" => Command::Quit,
        "emit" | "ack" => {
            let args = args.trim();
            let (event, data) = args.split_once(' ').unwrap_or((args, ""));
            if event.is_empty() {
                eprintln!("usage: /{verb} <event> <json>, e.g. /{verb} chat-message \"hi\"");
                return Command::Nothing;
            }
            let data = match data.trim() {
                "" => Value::Null,
                json => match serde_json::from_str(json) {
                    Ok(data) => data,
                    Err(e) => {
                        eprintln!("not JSON ({e}); to send text, put it in double quotes: \"like this\"");
                        return Command::Nothing;
                    }
                },
            };
            let mut envelope = json!({ "event": event, "data": data });
            if verb == "ack" {
                envelope["ack"] = json!(*next_ack);
                *next_ack += 1;
            }
            Command::Send(envelope)
        }
        _ => {
            eprintln!("commands: /emit <event> <json>, /ack <event> <json>, /quit; other lines are client-messages");
            Command::Nothing
        }
    }
}

/// Reads stdin on its own thread (a blocking read we cannot interrupt) and
/// passes each line on. The channel disconnects when stdin ends.
fn spawn_stdin_reader() -> Receiver<String> {
    let (tx, rx) = unbounded();
    thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            for line in io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
        .expect("cannot start the stdin thread");
    rx
}
