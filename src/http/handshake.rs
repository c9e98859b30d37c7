//! What a request head asks for, and the answer it gets.
//!
//! [`route`] looks at a parsed [`Request`] and decides: serve a page, refuse
//! with an HTTP status and a one-line reason, or accept a WebSocket upgrade.
//! Only after this decision does tungstenite get the socket.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use super::body::{self, BodyRefused};
use super::origin::{OriginPolicy, Verdict};
use super::{Request, Response};
use crate::config::Config;
use crate::conn::Conn;
use crate::wire::Wire;

/// What the connection thread does with a request.
#[derive(Debug)]
pub enum Route {
    /// Answer with this response (a page or a refusal) and close.
    Respond(Response),
    /// Switch to WebSocket: send [`accept_response`] and speak `wire`.
    Upgrade {
        /// The client's `Sec-WebSocket-Key`.
        key: String,
        /// Which wire format this path speaks.
        wire: Wire,
        /// Why the Origin was let in.
        origin: Verdict,
    },
}

/// The pages a server was given: path → response.
pub type Pages = HashMap<String, Response>;

/// Decides what to do with `req`. Checks are made in the order a reader would
/// ask them: is the body framed unambiguously, which path, which method, is
/// it an upgrade, which version, is the key well formed, may this Origin
/// connect.
pub fn route(req: &Request, config: &Config, pages: &Pages) -> Route {
    // RFC 9112 §6.3: invalid framing is a 400 on any path. A well-framed
    // body on a page request is left unread: every answer here closes the
    // connection, so its bytes can never be read as a request.
    if let Err(BodyRefused(response)) = body::framing(req) {
        return Route::Respond(response);
    }
    // A page and the WebSocket endpoint may share a path (e.g. both on `/`):
    // a request with WebSocket headers gets the WebSocket (or the reason its
    // upgrade is broken), any other the page. Such a request never gets a
    // page: its client expects a 101.
    let is_ws_path = req.path == config.ws_path;
    if let Some(page) = pages.get(&req.path) {
        if !wants_websocket(req) {
            return match req.method.as_str() {
                "GET" | "HEAD" => Route::Respond(page.clone()),
                _ => Route::Respond(
                    refuse(405, format!("{} only answers GET", req.path)).with_header("Allow", "GET, HEAD"),
                ),
            };
        }
        if !is_ws_path {
            return Route::Respond(refuse(
                400,
                format!("{} serves a page, not a WebSocket: the WebSocket endpoint is {}", req.path, config.ws_path),
            ));
        }
    } else if !is_ws_path {
        if req.path.starts_with("/socket.io/") && config.socketio.path != "/socket.io/" {
            // Only reached when socket.io was moved to another path.
            return Route::Respond(refuse(404, format!("socket.io is served under {}", config.socketio.path)));
        }
        return Route::Respond(refuse(404, format!("no page or WebSocket endpoint at {}", req.path)));
    }

    match check_upgrade(req, config) {
        Ok((key, origin)) => Route::Upgrade { key, wire: Wire::Json, origin },
        Err(response) => Route::Respond(response),
    }
}

/// True when a request carries the headers of a WebSocket upgrade, complete
/// or not: `Upgrade: websocket` or a `Sec-WebSocket-Key`.
fn wants_websocket(req: &Request) -> bool {
    req.header_has_token("Upgrade", "websocket") || req.header("Sec-WebSocket-Key").is_some()
}

/// The checks every WebSocket upgrade must pass, on any path (`/ws` and
/// `/socket.io/`): returns the client's key and why its Origin was let in,
/// or the refusal to send.
pub fn check_upgrade(req: &Request, config: &Config) -> Result<(String, Verdict), Response> {
    if req.method != "GET" {
        return Err(
            refuse(405, format!("a WebSocket upgrade must be a GET, not {}", req.method)).with_header("Allow", "GET")
        );
    }
    if req.version < 1 {
        return Err(refuse(400, "a WebSocket upgrade needs HTTP/1.1"));
    }
    if !req.header_has_token("Upgrade", "websocket") {
        if req.header("Sec-WebSocket-Key").is_some() {
            // Half an upgrade: the client meant a WebSocket (RFC 6455 §4.2.1: 400).
            return Err(refuse(400, "a WebSocket upgrade needs 'Upgrade: websocket' beside its Sec-WebSocket-Key"));
        }
        return Err(refuse(426, format!("{} only speaks WebSocket: send 'Upgrade: websocket'", req.path))
            .with_header("Upgrade", "websocket")
            .with_header("Sec-WebSocket-Version", "13"));
    }
    if !req.header_has_token("Connection", "upgrade") {
        return Err(refuse(400, "missing 'Connection: Upgrade' header"));
    }
    if req.header("Host").is_none() {
        return Err(refuse(400, "a WebSocket upgrade needs a Host header"));
    }
    if req.header("Sec-WebSocket-Version").map(str::trim) != Some("13") {
        let got = req.header("Sec-WebSocket-Version").unwrap_or("none");
        return Err(refuse(426, format!("unsupported Sec-WebSocket-Version {got}: this server speaks 13"))
            .with_header("Sec-WebSocket-Version", "13"));
    }
    let mut keys = req.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("Sec-WebSocket-Key"));
    let key = match (keys.next().map(|(_, key)| key.trim()), keys.next()) {
        (_, Some(_)) => return Err(refuse(400, "more than one Sec-WebSocket-Key header")),
        (None, _) => return Err(refuse(400, "missing Sec-WebSocket-Key header")),
        (Some(key), _) if !is_valid_key(key) => {
            return Err(refuse(400, "Sec-WebSocket-Key must be 16 bytes in base64"))
        }
        (Some(key), _) => key.to_string(),
    };
    // A body behind an upgrade request would be read as WebSocket frames.
    match body::framing(req) {
        Ok(framing) if framing.is_empty() => {}
        Ok(_) => return Err(refuse(400, "a WebSocket upgrade request takes no body")),
        Err(BodyRefused(response)) => return Err(response),
    }
    match config.origins.check(req.header("Origin"), req.header("Host")) {
        Ok(origin) => Ok((key, origin)),
        Err(origin) => Err(OriginPolicy::refusal(&origin)),
    }
}

fn refuse(status: u16, reason: impl Into<String>) -> Response {
    Response::refusal(status, reason)
}

/// The `101 Switching Protocols` answer to a valid upgrade request.
///
/// `Sec-WebSocket-Accept` is base64(SHA-1(key + the RFC 6455 GUID)): proof to the
/// client that this server understood the WebSocket request (tungstenite's
/// `derive_accept_key` computes it). No `Sec-WebSocket-Extensions` header: we
/// decline permessage-deflate, which tungstenite does not implement.
// ANCHOR: accept_response
pub fn accept_response(key: &str) -> String {
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    )
}
// ANCHOR_END: accept_response

/// Writes the 101 and sets the socket up for the WebSocket: no Nagle delay
/// (every frame is a whole message), and from now on reads wait on the
/// connection's own deadlines.
pub fn switch_protocols(stream: &mut Conn, key: &str, write_timeout: Duration) -> std::io::Result<()> {
    stream.set_write_timeout(Some(write_timeout))?;
    stream.set_nodelay(true)?;
    stream.write_all(accept_response(key).as_bytes())
}

/// A key is 16 random bytes in base64: 22 characters of the alphabet and `==`.
pub fn is_valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    b.len() == 24 && &b[22..] == b"==" && b[..22].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_head;

    fn route_raw(raw: &str) -> Route {
        let (req, _) = parse_head(raw.as_bytes(), 64).unwrap().unwrap();
        let mut pages = Pages::new();
        pages.insert("/".into(), Response::refusal(200, "page"));
        route(&req, &Config::default(), &pages)
    }

    fn status(route: Route) -> u16 {
        match route {
            Route::Respond(r) => r.status,
            Route::Upgrade { .. } => 101,
        }
    }

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    #[test]
    fn the_rfc_example_key_gives_the_rfc_accept_value() {
        assert!(accept_response(KEY).contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    }

    #[test]
    fn a_page_and_the_websocket_can_share_a_path() {
        let (req, _) = parse_head(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 64).unwrap().unwrap();
        let mut pages = Pages::new();
        pages.insert("/".into(), Response::refusal(200, "page"));
        let config = Config { ws_path: "/".into(), ..Config::default() };
        assert_eq!(status(route(&req, &config, &pages)), 200);
        let raw = format!(
            "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"
        );
        let (req, _) = parse_head(raw.as_bytes(), 64).unwrap().unwrap();
        assert_eq!(status(route(&req, &config, &pages)), 101);
        // Half an upgrade on the shared path is a broken upgrade, not a page request.
        let broken = raw.replace("Upgrade: websocket\r\n", "");
        let (req, _) = parse_head(broken.as_bytes(), 64).unwrap().unwrap();
        assert_eq!(status(route(&req, &config, &pages)), 400);
    }

    #[test]
    fn statuses_for_each_kind_of_request() {
        let up = |extra: &str| {
            format!("GET /ws HTTP/1.1\r\nHost: h:1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{extra}\r\n")
        };
        let good = format!("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n");
        assert_eq!(status(route_raw(&up(&good))), 101);
        assert_eq!(status(route_raw("GET / HTTP/1.1\r\n\r\n")), 200);
        assert_eq!(status(route_raw("POST / HTTP/1.1\r\n\r\n")), 405);
        assert_eq!(status(route_raw("GET /nope HTTP/1.1\r\n\r\n")), 404);
        assert_eq!(status(route_raw("GET /socket.io/?EIO=4 HTTP/1.1\r\n\r\n")), 404);
        assert_eq!(status(route_raw("GET /ws HTTP/1.1\r\n\r\n")), 426);
        assert_eq!(status(route_raw(&up(&good).replacen("GET", "POST", 1))), 405);
        assert_eq!(status(route_raw(&up(&good).replacen("HTTP/1.1", "HTTP/1.0", 1))), 400);
        assert_eq!(status(route_raw(&up(&format!("Sec-WebSocket-Key: {KEY}\r\n")))), 426);
        assert_eq!(status(route_raw(&up(&good.replace("13", "8")))), 426);
        assert_eq!(status(route_raw(&up("Sec-WebSocket-Version: 13\r\n"))), 400);
        assert_eq!(status(route_raw(&up("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=\r\n"))), 400);
        assert_eq!(status(route_raw(&up(&format!("{good}Origin: http://evil.example\r\n")))), 403);
        assert_eq!(status(route_raw(&up(&format!("{good}Origin: http://h:1\r\n")))), 101);
        assert_eq!(status(route_raw(&up(&format!("{good}Sec-WebSocket-Key: {KEY}\r\n")))), 400);
        assert_eq!(status(route_raw(&up(&good).replacen("Host: h:1\r\n", "", 1))), 400);
        assert_eq!(status(route_raw(&up(&format!("{good}Content-Length: 1\r\n")))), 400);
        assert_eq!(status(route_raw(&up(&format!("{good}Content-Length: 0\r\n")))), 101);
        assert_eq!(status(route_raw(&up(&good).replacen("/ws", "/", 1))), 400);
        assert_eq!(status(route_raw("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n")), 400);
    }
}
