//! A terminal WebSocket client, for readers without a browser.
//!
//! ```sh
//! cargo run --example chat                                  # or: cargo run --example seed
//! cargo run --example client -- ws://127.0.0.1:3000/ws      # in a second terminal (this URL is the default)
//! PORT=8080 cargo run --example client                      # ws://127.0.0.1:8080/ws, like every example's PORT
//! cargo run --example client -- --help                      # what it takes and what it understands
//! ```
//! Then type:
//! ```text
//! hello                         a line is sent as {"event":"client-message","data":"hello"}
//! /emit chat-message "hi all"   any event, with any JSON data (strings in double quotes)
//! /ack set-nick "ana"           the same, asking for a reply: the server's ack is printed
//! /quit                         close the connection (Ctrl-D too)
//! ```
//! Every frame the server sends is printed as `<- event: data`; what the client
//! itself has to say starts with `--`.
//!
//! When the server goes away (stopped, restarted, the network gone), the client
//! says why and connects again after 1 s, then 2 s, 4 s … at most 30 s between
//! attempts, until it is back or you type `/quit`. A server that refuses the
//! upgrade for good (a `4xx` such as `403`) ends it: asking again would get the
//! same answer.
//!
//! Step through it: break on `client::handle_frame` (this file) to see each server push arrive.
//!
//! # Why a read timeout here, when the server avoids them
//! One `WebSocket` must be read and written by the same thread (docs/04-threads.md). This thread
//! owns it; a second thread only reads stdin and passes lines through a channel. The socket is
//! read with a short timeout, and each time it has nothing to say the thread sends the lines typed
//! meanwhile. For one connection and a human typing, 20 wake-ups a second cost nothing; the
//! server, with thousands of idle clients, reads each socket up to that client's next deadline
//! and lets every other thread write through the client's outlet instead. A debugger stopping
//! this process interrupts that read (`EINTR`); the loop treats it like a timeout.

use std::io::{self, BufRead, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, TryRecvError};
use serde_json::{json, Value};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

/// How long a read waits before the thread looks at stdin again.
const POLL: Duration = Duration::from_millis(50);
/// How long to wait for the server's answer to our Close.
const CLOSE_WAIT: Duration = Duration::from_secs(3);

const USAGE: &str = "\
usage: cargo run --example client -- [URL]

A terminal client for wshub's JSON protocol on /ws. URL defaults to
ws://127.0.0.1:3000/ws, or ws://127.0.0.1:$PORT/ws when PORT is set.

Type a line to send it as a client-message, or:
  /emit <event> <json>   send any event, e.g. /emit chat-message \"hi\"
  /ack <event> <json>    the same, asking for a reply, e.g. /ack set-nick \"ana\"
  /quit                  close the connection and exit (Ctrl-D too)

Every frame from the server is printed as `<- event: data`. When the connection
is lost, the client connects again after 1 s, 2 s, 4 s ... at most 30 s.";

fn main() {
    let port = std::env::var("PORT").ok().and_then(|p| p.parse::<u16>().ok()).unwrap_or(3000);
    let url = match parse_args(std::env::args().skip(1), &format!("ws://127.0.0.1:{port}/ws")) {
        Ok(Some(url)) => url,
        Ok(None) => return println!("{USAGE}"),
        Err(e) => {
            eprintln!("client: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let backoff = Backoff { first: Duration::from_secs(1), max: Duration::from_secs(30) };
    if let Err(e) = run(&url, spawn_stdin_reader(), &mut io::stdout(), backoff) {
        eprintln!("client: {e}");
        std::process::exit(1);
    }
}

/// The URL to connect to (`default` without one), or `None` for `--help`.
pub fn parse_args(args: impl IntoIterator<Item = String>, default: &str) -> Result<Option<String>, String> {
    let mut url = None;
    for arg in args {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            _ if url.is_some() => return Err(format!("one URL only (got {arg} too)")),
            _ => url = Some(arg),
        }
    }
    Ok(Some(url.unwrap_or_else(|| default.to_string())))
}

/// How long to wait between connection attempts: `first`, then twice as long
/// each time, at most `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

/// Connects to `url` and runs [`session`]s until the typed `lines` say
/// `/quit` (or end). A lost connection is reconnected after the back-off;
/// lines typed while disconnected are not sent (and the client says so).
/// `Err`: the server refused us for good, or the URL is wrong.
pub fn run(url: &str, lines: Receiver<String>, out: &mut impl Write, backoff: Backoff) -> Result<(), String> {
    let mut delay = backoff.first;
    loop {
        let why = match connect(url) {
            Ok(ws) => {
                print(out, format!("-- connected to {url}; type a line to send a client-message, /help for more"));
                delay = backoff.first;
                match session(ws, &lines, out) {
                    End::Quit => return Ok(()),
                    End::Lost(why) => why,
                }
            }
            Err(Refused::ForGood(why)) => return Err(why),
            Err(Refused::ForNow(why)) => why,
        };
        print(out, format!("-- {why}; reconnecting in {} (/quit to stop)", seconds(delay)));
        if !wait_or_quit(&lines, delay, out) {
            return Ok(());
        }
        delay = (delay * 2).min(backoff.max);
    }
}

/// Waits `delay` while watching the typed lines. False: the user quit.
fn wait_or_quit(lines: &Receiver<String>, delay: Duration, out: &mut impl Write) -> bool {
    let until = Instant::now() + delay;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if matches!(line.trim(), "/quit" | "/exit") => return false,
            Ok(line) => print(out, format!("-- not connected: {line:?} was not sent")),
            Err(RecvTimeoutError::Timeout) => return true,
            Err(RecvTimeoutError::Disconnected) => return false, // stdin ended (Ctrl-D)
        }
    }
}

fn seconds(delay: Duration) -> String {
    format!("{} s", delay.as_secs_f64())
}

/// How a session ended.
#[derive(Debug)]
pub enum End {
    /// The user asked (`/quit`, end of input): the close handshake is done.
    Quit,
    /// The connection ended without being asked: worth connecting again.
    Lost(String),
}

/// The client's loop: prints what the server sends to `out`, sends the typed
/// `lines`, and closes when they end. (`tests/client.rs` drives it with a
/// channel and a buffer instead of stdin and stdout.)
pub fn session(mut ws: WebSocket<TcpStream>, lines: &Receiver<String>, out: &mut impl Write) -> End {
    let mut next_ack: u64 = 1;
    let mut closing: Option<Instant> = None;

    loop {
        match ws.read() {
            Ok(message) => handle_frame(&mut ws, message, out),
            // The read timed out: nothing has arrived for POLL. (Interrupted:
            // a debugger stopped the process in the middle of the read.)
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                ) => {}
            Err(tungstenite::Error::ConnectionClosed) if closing.is_some() => {
                print(out, "-- connection closed".to_string());
                return End::Quit;
            }
            Err(tungstenite::Error::ConnectionClosed) => return End::Lost("the server closed the connection".into()),
            Err(e) if closing.is_some() => {
                print(out, format!("-- connection closed ({e})"));
                return End::Quit;
            }
            Err(e) => return End::Lost(format!("connection lost: {e}")),
        }
        if let Some(since) = closing {
            if since.elapsed() > CLOSE_WAIT {
                print(out, "-- the server did not answer our Close in time; leaving anyway".to_string());
                return End::Quit;
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
                    if let Err(e) = ws.send(Message::text(envelope.to_string())) {
                        return End::Lost(format!("send failed: {e}"));
                    }
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

/// Why [`connect`] failed: worth trying again later, or not.
#[derive(Debug)]
pub enum Refused {
    /// Nobody listening, a reset, a server too busy (`503`) or too slow (`408`).
    ForNow(String),
    /// A bad URL, or the server said no (`4xx`): asking again changes nothing.
    ForGood(String),
}

/// Opens the TCP connection and performs the WebSocket handshake.
pub fn connect(url: &str) -> Result<WebSocket<TcpStream>, Refused> {
    let request = url.into_client_request().map_err(|e| Refused::ForGood(format!("{url}: {e}")))?;
    let uri = request.uri();
    if uri.scheme_str() != Some("ws") {
        return Err(Refused::ForGood(format!("{url}: only ws:// addresses are supported (no TLS in this example)")));
    }
    let host = uri.host().unwrap_or("127.0.0.1").trim_start_matches('[').trim_end_matches(']').to_string();
    let port = uri.port_u16().unwrap_or(80);
    let stream = TcpStream::connect((host.as_str(), port))
        .map_err(|e| Refused::ForNow(format!("cannot connect to {host}:{port}: {e}")))?;
    let _ = stream.set_nodelay(true);
    let (ws, _response) = tungstenite::client(request, stream).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response)) => {
            let body = response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            let why = format!("the server refused the upgrade: {} {}", response.status(), body.trim());
            let status = response.status().as_u16();
            if (400..500).contains(&status) && status != 408 && status != 429 {
                Refused::ForGood(why)
            } else {
                Refused::ForNow(why)
            }
        }
        other => Refused::ForNow(format!("handshake failed: {other}")),
    })?;
    // From now on reads wait at most POLL (see the module docs).
    ws.get_ref().set_read_timeout(Some(POLL)).map_err(|e| Refused::ForNow(e.to_string()))?;
    Ok(ws)
}

/// Prints one frame from the server; answers the server's ack requests.
fn handle_frame(ws: &mut WebSocket<TcpStream>, message: Message, out: &mut impl Write) {
    let text = match message {
        Message::Text(text) => text,
        Message::Binary(bytes) => return print(out, format!("<- (binary, {} bytes)", bytes.len())),
        Message::Close(Some(frame)) => {
            return print(out, format!("<- close {} {:?}", u16::from(frame.code), frame.reason.as_str()))
        }
        Message::Close(None) => return print(out, "<- close (no code)".to_string()),
        // tungstenite answers pings by itself.
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return,
    };
    let Ok(value) = serde_json::from_str::<Value>(text.as_str()) else {
        return print(out, format!("<- (not JSON) {}", text.as_str()));
    };
    match (value.get("event").and_then(Value::as_str), value.get("ack")) {
        // A server that keeps sessions (chapter 14) numbers its events: the offset to come back with.
        (Some(event), None) => match value["offset"].as_str() {
            Some(offset) => print(out, format!("<- {event}: {} (offset {offset})", value["data"])),
            None => print(out, format!("<- {event}: {}", value["data"])),
        },
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
            eprintln!("{USAGE}");
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
