//! Request bodies and request smuggling (RFC 9112 §6): on a kept-alive
//! `/socket.io/` connection, the bytes of a body are never read as the next
//! request. A body is read whole by its framing (`Content-Length` or
//! chunked), or refused with a status and a reason, and then the connection
//! is closed. Everything here is raw TCP on loopback: a client library would
//! not send these bytes.
mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;
use wshub::{Server, ServerHandle};

/// A socket.io server with a short handshake timeout (it also bounds the
/// reading of a body and the wait for a kept-alive connection's next
/// request) and a small maxPayload, plus a page at `/`.
fn server() -> ServerHandle {
    let builder = Server::builder()
        .handshake_timeout(Duration::from_millis(500))
        .socketio_max_payload(1000)
        .allow_origin("http://allowed.example")
        .page("/", "<p>page</p>");
    start(builder, |_| {})
}

/// The request a test sends after an attack, on the same connection: a
/// polling handshake, whose answer (`200 0{"sid":..}`) shows that the
/// connection was still open and in step.
const FOLLOW_UP: &str = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// A request hidden in a body: were it read as a request, it would get its
/// own answer (`400 Session ID unknown`).
const SMUGGLED: &str = "GET /socket.io/?EIO=4&transport=polling&sid=smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

/// Reads one HTTP response (head and `Content-Length` body); `None` when the
/// connection ended (FIN or RST) before a response began.
fn read_response(reader: &mut impl BufRead) -> Option<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) if head.is_empty() => return None,
            Ok(0) => panic!("the connection ended inside a response head: {head:?}"),
            Ok(_) => {}
            Err(e) => panic!("reading a response head: {e} after {head:?}"),
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let length = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("the response body");
    Some(head + &String::from_utf8_lossy(&body))
}

/// Every response until the server closes.
fn read_all(reader: &mut impl BufRead) -> Vec<String> {
    std::iter::from_fn(|| read_response(reader)).take(10).collect()
}

/// Sends `attack` on a new connection and reads its answer; then sends
/// [`FOLLOW_UP`] on the same connection and returns the first answer and
/// every answer that came after it (none when the server closed the
/// connection after the first).
fn attack(addr: SocketAddr, attack: &[u8]) -> (String, Vec<String>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream.write_all(attack).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let first = read_response(&mut reader).expect("an answer to the attack");
    // Fails when the server has closed (RST): then nothing more comes anyway.
    let _ = stream.write_all(FOLLOW_UP.as_bytes());
    (first, read_all(&mut reader))
}

/// True for the answer to [`FOLLOW_UP`]: 200 with an Engine.IO open packet.
fn is_open_packet(response: &str) -> bool {
    status_of(response) == 200 && response.contains("\r\n\r\n0{") && response.contains("\"sid\":")
}

/// A polling POST to `sid` with the given extra header lines and body bytes.
fn post(sid: &str, headers: &str, body: &str) -> String {
    format!("POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n{headers}\r\n{body}")
}

/// A new polling session's id (on its own connection).
fn open_session(addr: SocketAddr) -> String {
    let response = raw_request(addr, FOLLOW_UP.as_bytes());
    assert_eq!(status_of(&response), 200, "{response}");
    let body = response.split_once("\r\n\r\n").unwrap().1;
    let open: serde_json::Value = serde_json::from_str(body.strip_prefix('0').unwrap()).unwrap();
    open["sid"].as_str().unwrap().to_string()
}

/// Each ambiguous or refused body gets its status and a reason, and the
/// connection is closed after it: nothing else is answered on it, neither a
/// request hidden in the body nor the next request the client sends.
#[test]
fn a_refused_body_closes_the_connection() {
    let server = server();
    let addr = server.local_addr;
    let sid = open_session(addr);
    let chunked = "Transfer-Encoding: chunked\r\n";
    let over = "x".repeat(1001);
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("chunked body that is a request", post(&sid, chunked, SMUGGLED), 400, "chunk size"),
        (
            "Transfer-Encoding with Content-Length",
            post(&sid, &format!("{chunked}Content-Length: 5\r\n"), &format!("0\r\n\r\n{SMUGGLED}")),
            400,
            "Transfer-Encoding and Content-Length",
        ),
        (
            "two equal Content-Lengths",
            post(&sid, "Content-Length: 2\r\nContent-Length: 2\r\n", &format!("40{SMUGGLED}")),
            400,
            "more than one Content-Length",
        ),
        (
            "two different Content-Lengths",
            post(&sid, "Content-Length: 2\r\nContent-Length: 80\r\n", &format!("40{SMUGGLED}")),
            400,
            "more than one Content-Length",
        ),
        ("Content-Length: +2", post(&sid, "Content-Length: +2\r\n", &format!("40{SMUGGLED}")), 400, "digits"),
        ("Content-Length: 2, 2", post(&sid, "Content-Length: 2, 2\r\n", &format!("40{SMUGGLED}")), 400, "digits"),
        ("Content-Length: -1", post(&sid, "Content-Length: -1\r\n", SMUGGLED), 400, "digits"),
        ("gzip, chunked", post(&sid, "Transfer-Encoding: gzip, chunked\r\n", "2\r\n40\r\n0\r\n\r\n"), 501, "gzip"),
        ("chunked, then gzip", post(&sid, "Transfer-Encoding: chunked, gzip\r\n", "2\r\n40\r\n0\r\n\r\n"), 400, "last"),
        (
            "chunked twice",
            post(&sid, "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "2\r\n40\r\n0\r\n\r\n"),
            400,
            "twice",
        ),
        (
            "Transfer-Encoding in HTTP/1.0",
            post(&sid, chunked, "2\r\n40\r\n0\r\n\r\n").replacen("HTTP/1.1", "HTTP/1.0", 1),
            400,
            "HTTP/1.0",
        ),
        ("chunk data without its CRLF", post(&sid, chunked, &format!("2\r\n40xx0\r\n\r\n{SMUGGLED}")), 400, "CRLF"),
        ("bare LF after a chunk size", post(&sid, chunked, &format!("2\n40\r\n0\r\n\r\n{SMUGGLED}")), 400, "CRLF"),
        ("chunk size over 64 bits", post(&sid, chunked, &format!("{}\r\n", "f".repeat(17))), 413, "over"),
        (
            "Content-Length over maxPayload",
            post(&sid, "Content-Length: 1001\r\n", &format!("{over}{SMUGGLED}")),
            413,
            "1001 bytes",
        ),
        (
            "chunked body over maxPayload",
            post(&sid, chunked, &format!("3e9\r\n{over}\r\n0\r\n\r\n{SMUGGLED}")),
            413,
            "over",
        ),
        ("a body that stops halfway", post(&sid, "Content-Length: 5\r\n", "4"), 408, "in time"),
    ];
    let mut failures = Vec::new();
    for (name, request, status, reason) in &cases {
        let (first, after) = attack(addr, request.as_bytes());
        let statuses: Vec<u16> = after.iter().map(|r| status_of(r)).collect();
        println!("{name:40} -> {:35} then {statuses:?}", first.lines().next().unwrap_or(""));
        if status_of(&first) != *status || !first.contains(reason) {
            failures.push(format!("{name}: expected {status} '{reason}', got:\n{first}"));
        }
        if !first.contains("Connection: close\r\n") {
            failures.push(format!("{name}: the refusal must say Connection: close"));
        }
        if !after.is_empty() {
            failures.push(format!("{name}: the connection stayed open and answered {statuses:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A chunked POST (chunk extensions and a trailer included) is read as its
/// body, and the kept-alive connection goes on in step: the next request on
/// it gets its own answer.
#[test]
fn a_chunked_post_is_read_and_the_connection_stays_in_step() {
    let server = server();
    let addr = server.local_addr;
    let sid = open_session(addr);
    let body = "1;ext=\"a b\"\r\n4\r\n1\r\n0\r\n0\r\nX-Trailer: t\r\n\r\n";
    let (first, after) = attack(addr, post(&sid, "Transfer-Encoding: chunked\r\n", body).as_bytes());
    assert_eq!(status_of(&first), 200, "{first}");
    assert!(first.ends_with("\r\n\r\nok"), "{first}");
    assert!(first.contains("Connection: keep-alive\r\n"), "{first}");
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(is_open_packet(&after[0]), "{after:?}");
    // The body was "40": the session joined namespace `/`.
    let (status, body) = {
        let response = raw_request(
            addr,
            format!("GET /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        (status_of(&response), response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
    };
    assert_eq!(status, 200);
    assert!(body.starts_with("40{\"sid\":"), "{body}");
}

/// A body on a request that takes none (a polling GET, an OPTIONS, a GET
/// refused for its Origin) is read and dropped, so a request hidden in it
/// is never answered, and the connection stays in step.
#[test]
fn a_body_on_a_request_that_takes_none_is_read_and_dropped() {
    let server = server();
    let addr = server.local_addr;
    let cl = format!("Content-Length: {}\r\n", SMUGGLED.len());
    let handshake = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n";
    let cases = [
        ("polling GET", format!("{handshake}{cl}\r\n{SMUGGLED}"), 200),
        ("GET with a foreign Origin", format!("{handshake}Origin: http://evil.example\r\n{cl}\r\n{SMUGGLED}"), 403),
        (
            "OPTIONS preflight",
            format!(
                "OPTIONS /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\
                 Origin: http://allowed.example\r\n{cl}\r\n{SMUGGLED}"
            ),
            204,
        ),
        (
            "chunked polling GET",
            format!("{handshake}Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{SMUGGLED}\r\n0\r\n\r\n", SMUGGLED.len()),
            200,
        ),
    ];
    for (name, request, status) in cases {
        let (first, after) = attack(addr, request.as_bytes());
        let statuses: Vec<u16> = after.iter().map(|r| status_of(r)).collect();
        println!("{name:30} -> {:30} then {statuses:?}", first.lines().next().unwrap_or(""));
        assert_eq!(status_of(&first), status, "{name}: {first}");
        assert_eq!(statuses, [200], "{name}: only the follow-up is answered: {after:?}");
        assert!(is_open_packet(&after[0]), "{name}: {after:?}");
    }
}

/// Outside `/socket.io/` every answer closes the connection, so a body can
/// never become a request there; still, framing that RFC 9112 calls invalid
/// gets 400, and a WebSocket upgrade with a body is refused (its bytes would
/// be read as WebSocket frames). A page asked with a well-framed body is
/// served as without one.
#[test]
fn framing_outside_socketio() {
    let server = server();
    let addr = server.local_addr;
    let page = |headers: &str, body: &str| format!("GET / HTTP/1.1\r\nHost: x\r\n{headers}\r\n{body}");
    let upgrade = |extra: &str| upgrade_request(addr, extra);
    let cases = [
        ("page, two Content-Lengths", page("Content-Length: 1\r\nContent-Length: 2\r\n", "ab"), 400),
        ("page, TE and CL", page("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n"), 400),
        ("page, Content-Length: +1", page("Content-Length: +1\r\n", "a"), 400),
        ("page, well-framed body", page("Content-Length: 2\r\n", "ab"), 200),
        ("/ws upgrade with a body", upgrade("Content-Length: 2\r\n") + "ab", 400),
        ("/ws upgrade, chunked", upgrade("Transfer-Encoding: chunked\r\n") + "0\r\n\r\n", 400),
        ("/ws upgrade, Content-Length: 0", upgrade("Content-Length: 0\r\n"), 101),
    ];
    for (name, request, status) in cases {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let response = read_response(&mut BufReader::new(stream)).unwrap_or_default();
        println!("{name:30} -> {}", response.lines().next().unwrap_or(""));
        assert_eq!(status_of(&response), status, "{name}: {response}");
    }
}
