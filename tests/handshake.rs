//! The HTTP side of a connection, before any WebSocket frame: refusals with a
//! real status and reason, pages, the Origin check, the client cap and the
//! handshake timeout. Most requests here are written by hand over raw TCP, so
//! the test sees exactly the bytes the server answers.
mod common;

use std::time::Duration;

use common::*;
use wshub::Server;

/// A valid key (the RFC 6455 example).
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The value of a response header (case-insensitive name), if present.
fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The body of a response (everything after the blank line).
fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map(|(_, body)| body).unwrap_or("")
}

/// An upgrade without `Sec-WebSocket-Key` is refused with 400 and a reason.
#[test]
fn missing_key_is_400() {
    let server = start_default();
    let request = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Version: 13\r\n\r\n";
    let response = raw_request(server.local_addr, request.as_bytes());
    assert_eq!(status_of(&response), 400, "{response}");
    assert!(body(&response).contains("Sec-WebSocket-Key"), "{response}");
}

/// An upgrade asking for protocol version 8 gets 426 Upgrade Required with
/// `Sec-WebSocket-Version: 13`, telling the client which version to use.
#[test]
fn version_8_is_426_with_version_13() {
    let server = start_default();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"
    );
    let response = raw_request(server.local_addr, request.as_bytes());
    assert_eq!(status_of(&response), 426, "{response}");
    assert_eq!(header(&response, "Sec-WebSocket-Version"), Some("13"), "{response}");
}

/// An upgrade must be a GET: a POST upgrade is 405 Method Not Allowed.
#[test]
fn post_upgrade_is_405() {
    let server = start_default();
    let request = upgrade_request(server.local_addr, "").replacen("GET", "POST", 1);
    let response = raw_request(server.local_addr, request.as_bytes());
    assert_eq!(status_of(&response), 405, "{response}");
    assert_eq!(header(&response, "Allow"), Some("GET"), "{response}");
}

/// A plain `GET /ws` (no `Upgrade` header, e.g. a browser tab opened on the
/// WebSocket URL) is 426: that path only speaks WebSocket.
#[test]
fn get_ws_without_upgrade_is_426() {
    let server = start_default();
    let response = raw_request(server.local_addr, b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status_of(&response), 426, "{response}");
    assert_eq!(header(&response, "Upgrade"), Some("websocket"), "{response}");
}

/// `GET /` serves the page given with `ServerBuilder::page`; any other path
/// is 404 with a reason naming it.
#[test]
fn get_root_serves_the_page_and_unknown_paths_are_404() {
    let page = "<!doctype html><h1>wshub</h1>";
    let server = start(Server::builder().page("/", page), |_socket| {});

    let response = raw_request(server.local_addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status_of(&response), 200, "{response}");
    assert_eq!(header(&response, "Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(body(&response), page);

    let response = raw_request(server.local_addr, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status_of(&response), 404, "{response}");
    assert!(body(&response).contains("/nope"), "{response}");
}

/// `HEAD /` answers the page's headers (with its `Content-Length`) and no body.
#[test]
fn head_answers_headers_without_a_body() {
    let page = "<h1>hello</h1>";
    let server = start(Server::builder().page("/", page), |_socket| {});
    let response = raw_request(server.local_addr, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status_of(&response), 200, "{response}");
    assert_eq!(header(&response, "Content-Length"), Some(page.len().to_string().as_str()));
    assert!(response.ends_with("\r\n\r\n"), "no body after the head: {response:?}");
}

/// Origin: no `Origin` header (not a browser) is allowed; so is a page from
/// this very server (Origin's host:port equals `Host`), and an origin given
/// with `allow_origin`.
#[test]
fn origin_none_same_and_listed_are_allowed() {
    let server = start(Server::builder().allow_origin("http://127.0.0.1:5500"), |_socket| {});
    let addr = server.local_addr;
    let same_origin = format!("http://{addr}");

    assert!(connect_with(addr, "/ws", &[]).is_ok(), "no Origin");
    assert!(connect_with(addr, "/ws", &[("Origin", same_origin.as_str())]).is_ok(), "same origin");
    assert!(connect_with(addr, "/ws", &[("Origin", "http://127.0.0.1:5500")]).is_ok(), "listed origin");
}

/// A page from any other origin is refused with 403, and the body names the
/// origin and how to allow it.
#[test]
fn foreign_origin_is_403_naming_the_origin() {
    let server = start(Server::builder().allow_origin("http://127.0.0.1:5500"), |_socket| {});
    let addr = server.local_addr;

    assert_eq!(connect_with(addr, "/ws", &[("Origin", "http://evil.example")]).err(), Some(403));

    let request = upgrade_request(addr, "Origin: http://evil.example\r\n");
    let response = raw_request(addr, request.as_bytes());
    assert_eq!(status_of(&response), 403, "{response}");
    assert!(body(&response).contains("http://evil.example"), "{response}");
    assert!(body(&response).contains("allow_origin"), "{response}");
}

/// With `max_clients(2)` and two clients connected, a third gets
/// 503 Service Unavailable; the two keep working.
#[test]
fn client_cap_answers_503() {
    let server = start(Server::builder().max_clients(2), |socket| {
        socket.emit("server-message", "Welcome to WebSocket");
        socket.on_with_ack("echo", |_socket, data, ack| ack.send(data));
    });
    let addr = server.local_addr;
    let mut first = connect_greeted(addr);
    let mut second = connect_greeted(addr);

    assert_eq!(connect_with(addr, "/ws", &[]).err(), Some(503));

    assert_eq!(first.call("echo", 1.into(), 1), 1);
    assert_eq!(second.call("echo", 2.into(), 1), 2);
}

/// A client that starts a request head and never finishes it is answered
/// `408 Request Timeout` once `handshake_timeout` has passed, and dropped.
#[test]
fn partial_head_times_out_with_408() {
    let server = start(Server::builder().handshake_timeout(Duration::from_millis(300)), |_socket| {});
    let response = raw_request_until_eof(server.local_addr, b"GET /ws HTTP/1.1\r\nHost: x\r\n");
    let response = String::from_utf8_lossy(&response);
    assert_eq!(status_of(&response), 408, "{response}");
}

/// A client that connects and sends nothing is dropped after
/// `handshake_timeout` with a plain close: there is no request to answer.
#[test]
fn silent_connection_is_closed_after_the_handshake_timeout() {
    let server = start(Server::builder().handshake_timeout(Duration::from_millis(300)), |_socket| {});
    let response = raw_request_until_eof(server.local_addr, b"");
    assert!(response.is_empty(), "nothing is sent: {:?}", String::from_utf8_lossy(&response));
}

/// A request head for `path` with `Host: host` and the upgrade headers,
/// plus `extra` header lines.
fn upgrade_to(path: &str, host: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n{extra}\r\n"
    )
}

/// RFC 6455 §4.2.1 and RFC 9112 §3.2: an upgrade with two
/// `Sec-WebSocket-Key` headers, or without `Host`, is a bad request (400
/// with the reason), and so is any request with two `Host` headers.
#[test]
fn duplicate_key_and_missing_or_duplicate_host_are_400() {
    let server = start_default();
    let addr = server.local_addr;
    let other_key = "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n";
    let same_key = format!("Sec-WebSocket-Key: {KEY}\r\n");
    let no_host = upgrade_request(addr, "").replacen(&format!("Host: {addr}\r\n"), "", 1);
    let cases = [
        ("two different keys", upgrade_request(addr, other_key), "more than one Sec-WebSocket-Key"),
        ("the same key twice", upgrade_request(addr, &same_key), "more than one Sec-WebSocket-Key"),
        ("no Host", no_host, "Host"),
        ("two Hosts", upgrade_request(addr, "Host: other.example\r\n"), "more than one Host"),
        ("a page with two Hosts", "GET /ws HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_string(), "more than one Host"),
    ];
    for (name, request, reason) in cases {
        let response = raw_request(addr, request.as_bytes());
        println!("{name:25} -> {}", response.lines().next().unwrap_or(""));
        assert_eq!(status_of(&response), 400, "{name}: {response}");
        assert!(body(&response).contains(reason), "{name}: {response}");
    }
}

/// A request that carries WebSocket headers is never answered with a page:
/// `Sec-WebSocket-Key` without `Upgrade: websocket` on a path that serves a
/// page and the WebSocket is a broken upgrade (400), and an upgrade to a
/// path that only serves a page is refused (400 naming the WebSocket path).
/// A plain GET still gets the page.
#[test]
fn an_upgrade_is_never_answered_with_a_page() {
    let shared = start(Server::builder().ws_path("/").page("/", "<p>page</p>"), |_| {});
    let addr = shared.local_addr;
    let broken =
        format!("GET / HTTP/1.1\r\nHost: {addr}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\r\n");
    let response = raw_request(addr, broken.as_bytes());
    println!("key without Upgrade on a shared path -> {}", response.lines().next().unwrap_or(""));
    assert_eq!(status_of(&response), 400, "{response}");
    assert!(body(&response).contains("Upgrade: websocket"), "{response}");
    assert_eq!(status_of(&raw_request(addr, format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())), 200);
    assert!(connect_with(addr, "/", &[]).is_ok(), "the WebSocket on the shared path");

    let apart = start(Server::builder().page("/", "<p>page</p>"), |_| {});
    let addr = apart.local_addr;
    let response = raw_request(addr, upgrade_to("/", &addr.to_string(), "").as_bytes());
    println!("upgrade to a page-only path -> {}", response.lines().next().unwrap_or(""));
    assert_eq!(status_of(&response), 400, "{response}");
    assert!(body(&response).contains("/ws"), "{response}");
}

/// `allow_host`: when host names are listed, a request whose `Host` names
/// another host (a DNS-rebinding page: its Origin's host equals the Host it
/// sends, so the same-origin check alone lets it in) gets 421 with the
/// reason, on pages, `/ws` and socket.io alike, and so does every later
/// request of a kept-alive socket.io connection. The port does not matter;
/// case and a trailing dot neither.
#[test]
fn allowed_hosts_refuse_other_host_names_with_421() {
    let server =
        start(Server::builder().allow_host("localhost").allow_host("127.0.0.1").page("/", "<p>page</p>"), |_| {});
    let addr = server.local_addr;
    let port = addr.port();
    let rebinding = format!("evil.example:{port}");
    let origin = format!("Origin: http://{rebinding}\r\n");
    let polling = |host: &str| format!("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let page = |host: &str| format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let refused = [
        ("page", page(&rebinding)),
        ("/ws upgrade", upgrade_to("/ws", &rebinding, &origin)),
        ("socket.io polling", polling(&rebinding)),
        ("socket.io WebSocket", upgrade_to("/socket.io/?EIO=4&transport=websocket", &rebinding, &origin)),
        ("no Host (HTTP/1.0)", "GET / HTTP/1.0\r\n\r\n".to_string()),
    ];
    for (name, request) in refused {
        let response = raw_request(addr, request.as_bytes());
        println!("{name:22} -> {}", response.lines().next().unwrap_or(""));
        assert_eq!(status_of(&response), 421, "{name}: {response}");
        assert!(body(&response).contains("allow_host"), "{name}: {response}");
    }
    for host in [format!("localhost:{port}"), format!("LOCALHOST.:{port}"), addr.to_string()] {
        assert_eq!(status_of(&raw_request(addr, page(&host).as_bytes())), 200, "{host}");
    }
    assert!(connect_with(addr, "/ws", &[]).is_ok(), "Host: 127.0.0.1:port");

    // A kept-alive socket.io connection: the second request names another host.
    let two = format!("{}{}", polling("localhost"), polling("evil.example"));
    let response = raw_request(addr, two.as_bytes());
    let statuses: Vec<u16> = response.match_indices("HTTP/1.1 ").map(|(i, _)| status_of(&response[i..])).collect();
    assert_eq!(statuses, [200, 421], "{response}");
}

/// CORS credentials on socket.io's long-polling are a choice: an allowed
/// Origin gets `Access-Control-Allow-Origin`, and
/// `Access-Control-Allow-Credentials: true` only after `allow_credentials()`
/// (with `allow_any_origin()` too).
#[test]
fn cors_credentials_only_when_asked() {
    let polling = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nOrigin: http://any.example\r\n\r\n";
    for (credentials, builder) in [(false, Server::builder()), (true, Server::builder().allow_credentials())] {
        let server = start(builder.allow_any_origin(), |_| {});
        let response =
            raw_request(server.local_addr, polling.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n").as_bytes());
        println!("allow_credentials: {credentials} -> {:?}", header(&response, "Access-Control-Allow-Credentials"));
        assert_eq!(status_of(&response), 200, "{response}");
        assert_eq!(header(&response, "Access-Control-Allow-Origin"), Some("http://any.example"));
        assert_eq!(header(&response, "Access-Control-Allow-Credentials"), credentials.then_some("true"), "{response}");
    }
}
