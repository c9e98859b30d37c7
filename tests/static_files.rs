//! `static_dir`: a folder served under a URL prefix, with content types,
//! `HEAD`, `index.html`, caching headers and `304`, `301` to the folder's
//! URL, 404 — and nothing outside the folder, however the path is written.
mod common;

use std::fs;
use std::path::PathBuf;

use common::*;
use wshub::Server;

/// A fresh folder under the target dir: `site/` (served) and `secret.txt` beside it.
fn fixture(name: &str) -> PathBuf {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&base);
    let site = base.join("site");
    fs::create_dir_all(site.join("sub")).unwrap();
    fs::write(site.join("index.html"), "<h1>home</h1>").unwrap();
    fs::write(site.join("a.css"), "body{}").unwrap();
    fs::write(site.join("sub/b.js"), "let b = 1;").unwrap();
    fs::write(site.join("café.txt"), "crème").unwrap();
    fs::write(base.join("secret.txt"), "top secret").unwrap();
    std::os::unix::fs::symlink(base.join("secret.txt"), site.join("out-link")).unwrap();
    std::os::unix::fs::symlink(site.join("a.css"), site.join("in-link.css")).unwrap();
    site
}

fn get(addr: std::net::SocketAddr, method: &str, path: &str, headers: &str) -> (u16, String, String) {
    let request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n");
    let response = raw_request(addr, request.as_bytes());
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (status_of(&response), head.to_string(), body.to_string())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| l.split_once(": ").filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

#[test]
fn files_types_index_head_and_caching() {
    let site = fixture("static-basic");
    let server = start(Server::builder().static_dir("/s/", &site), |_| {});
    let addr = server.local_addr;

    let (status, head, body) = get(addr, "GET", "/s/", "");
    assert_eq!((status, body.as_str()), (200, "<h1>home</h1>"));
    assert_eq!(header(&head, "Content-Type"), Some("text/html; charset=utf-8"));
    let (status, head, _) = get(addr, "GET", "/s", "");
    assert_eq!((status, header(&head, "Location")), (301, Some("/s/")));
    let (status, head, _) = get(addr, "GET", "/s/sub", "");
    assert_eq!((status, header(&head, "Location")), (301, Some("/s/sub/")));

    let (status, head, body) = get(addr, "GET", "/s/a.css", "");
    assert_eq!((status, body.as_str()), (200, "body{}"));
    assert_eq!(header(&head, "Content-Type"), Some("text/css; charset=utf-8"));
    assert_eq!(header(&head, "Cache-Control"), Some("no-cache"));
    let etag = header(&head, "ETag").expect("an ETag").to_string();
    let modified = header(&head, "Last-Modified").expect("a Last-Modified").to_string();
    assert_eq!(get(addr, "GET", "/s/a.css", &format!("If-None-Match: {etag}\r\n")).0, 304);
    assert_eq!(get(addr, "GET", "/s/a.css", &format!("If-Modified-Since: {modified}\r\n")).0, 304);

    let (status, head, body) = get(addr, "HEAD", "/s/sub/b.js", "");
    assert_eq!((status, body.as_str(), header(&head, "Content-Length")), (200, "", Some("10")));
    assert_eq!(get(addr, "GET", "/s/caf%C3%A9.txt", "").2, "crème");
    assert_eq!(get(addr, "GET", "/s/in-link.css", "").2, "body{}", "a link inside the folder is served");
    assert_eq!(get(addr, "GET", "/s/missing.txt", "").0, 404);
}

#[test]
fn nothing_outside_the_folder_is_ever_served() {
    let site = fixture("static-hostile");
    let server = start(Server::builder().static_dir("/s/", &site), |_| {});
    let addr = server.local_addr;
    for (path, want) in [
        ("/s/../secret.txt", 400),
        ("/s/sub/../../secret.txt", 400),
        ("/s/%2e%2e/secret.txt", 400),
        ("/s/%2E%2E/secret.txt", 400),
        ("/s/..%2fsecret.txt", 400),
        ("/s/sub%2f..%2f..%2fsecret.txt", 400),
        ("/s/..%5csecret.txt", 400),
        ("/s/..\\secret.txt", 400),
        ("/s//etc/passwd", 400),
        ("/s/%00", 400),
        ("/s/out-link", 403),
    ] {
        let (status, _, body) = get(addr, "GET", path, "");
        assert_eq!(status, want, "{path}: {body}");
        assert!(!body.contains("top secret"), "{path} leaked the file");
    }
}

/// A folder of 10,000 files: each request opens its one file by name (the
/// folder is never listed), and every file comes back as it is.
#[test]
fn a_folder_of_ten_thousand_files() {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("static-many");
    let _ = fs::remove_dir_all(&base);
    fs::create_dir_all(&base).unwrap();
    for n in 0..10_000 {
        fs::write(base.join(format!("f{n}.txt")), format!("file {n}")).unwrap();
    }
    let server = start(Server::builder().static_dir("/many/", &base), |_| {});
    for n in (0..10_000).step_by(97) {
        let (status, _, body) = get(server.local_addr, "GET", &format!("/many/f{n}.txt"), "");
        assert_eq!((status, body), (200, format!("file {n}")));
    }
}

#[test]
fn a_missing_folder_is_an_error_at_bind() {
    let error =
        Server::builder().static_dir("/x/", "/definitely/not/here").bind(("127.0.0.1", 0)).err().expect("bind fails");
    assert!(error.to_string().contains("/definitely/not/here"), "{error}");
}

/// A browser reuses a connection for any path: a file asked for on a
/// connection whose first request was socket.io's (a long-poll) is not the
/// engine's to answer. The connection is closed unanswered, as HTTP lets a
/// server close an idle persistent connection, and the client asks again
/// on a fresh one, where the file is served.
#[test]
fn a_file_after_a_long_poll_on_one_connection() {
    use std::io::{Read, Write};
    let site = fixture("static-after-poll");
    let server = start(Server::builder().static_dir("/site/", &site), |_| {});
    let addr = server.local_addr;
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let open = format!("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    tcp.write_all(open.as_bytes()).unwrap();
    // The handshake's answer, whole (its Content-Length says how long).
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    let complete = |a: &[u8]| {
        let text = String::from_utf8_lossy(a);
        let Some((head, body)) = text.split_once("\r\n\r\n") else { return false };
        header(head, "content-length").and_then(|l| l.parse::<usize>().ok()).is_some_and(|l| body.len() >= l)
    };
    while !complete(&answer) {
        let n = tcp.read(&mut chunk).unwrap();
        assert!(n > 0, "closed before the handshake's answer");
        answer.extend_from_slice(&chunk[..n]);
    }
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    tcp.write_all(format!("GET /site/a.css HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).unwrap();
    let rest = read_until_eof(&mut tcp);
    assert!(rest.is_empty(), "the engine answered a file's request: {}", String::from_utf8_lossy(&rest));
    let (status, _, body) = get(addr, "GET", "/site/a.css", "");
    assert_eq!((status, body.as_str()), (200, "body{}"));
}
