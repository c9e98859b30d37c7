//! A real browser against the chat example: Debian's Chromium, driven by npm's
//! `playwright-core` from `tests/browser/chat.mjs`, opens the chat page for
//! three people, at a desktop width and at a phone's 375 px.
//!
//! Needs `node`, `/usr/bin/chromium` (or `$CHROMIUM`) and `node_modules`
//! (`npm ci`). Without them each test prints a loud SKIP and passes, unless
//! `WSHUB_NO_SKIP=1` (as `.ci/run` sets), where it fails instead.
//!
//! ```sh
//! npm ci && cargo test --test browser -- --nocapture
//! ```
//! Screenshots of what the pages showed are saved under `target/screenshots/`
//! (`chat-desktop-ana.png`, `chat-375px-history.png`, …); the test prints
//! their paths.
mod common;

// The chat example's server setup (`chat::bind`) is a function of the example
// file itself, so that what the test runs is exactly what `cargo run --example
// chat` runs. Its `main` is unused here.
#[path = "../examples/chat.rs"]
#[allow(dead_code)]
mod chat;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use wshub::ServerHandle;

/// The chat at 1024 × 640. See [`chat_in_chromium`] for what is checked.
#[test]
fn the_chat_in_chromium_at_desktop_width() {
    chat_in_chromium(1024, 640, "desktop");
}

/// The chat at a phone's 375 × 667: the same checks, among them that the
/// online list is on screen, whole, without scrolling.
#[test]
fn the_chat_in_chromium_at_375px() {
    chat_in_chromium(375, 667, "375px");
}

/// Three Chromium windows (ana, bob, cat) on `http://127.0.0.1:<port>/`, each
/// `width` × `height`: they are welcomed; set nicknames (acked) and see each
/// other online; the online list fits the window; a bad nickname is refused;
/// messages cross; "ana is typing…" appears while she types and goes when she
/// sends or clears; switching rooms shows only the new room's lines, and
/// switching back shows the old room's again; cat, arriving late, is shown
/// each room's history; a reload keeps bob's nickname and room; an over-long
/// message is refused; bob's connection breaks while ana says three things
/// and his page comes back recovered (connection state recovery): still bob
/// in `#rust`, with all three shown once; the seed's `/client` page is
/// answered. Then the server
/// is shut down (`ServerHandle::shutdown`, close 1001): every page says
/// "server stopped, reconnecting"; a new server on the same address takes them
/// back, with their nicknames and rooms. The steps and their timings are
/// printed by `chat.mjs`.
fn chat_in_chromium(width: u32, height: u32, label: &str) {
    common::watchdog(300);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let chromium = std::env::var_os("CHROMIUM").map(PathBuf::from).unwrap_or_else(|| "/usr/bin/chromium".into());
    if !common::require("node (Node.js)", common::has_program("node"))
        || !common::require(&format!("chromium at {}", chromium.display()), chromium.exists())
        || !common::require(
            "node_modules/playwright-core (run `npm ci`)",
            root.join("node_modules/playwright-core/package.json").exists(),
        )
    {
        return;
    }
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("target/").join("screenshots");

    let mut server = Some(start_chat(SocketAddr::from(([127, 0, 0, 1], 0))));
    let addr = server.as_ref().map(|s| s.local_addr).expect("the server");
    let mut node = Command::new("node")
        .arg("tests/browser/chat.mjs")
        .arg(format!("http://{addr}/"))
        .args([width.to_string(), height.to_string(), label.to_string()])
        .arg(&screenshots)
        .env("CHROMIUM", &chromium)
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node");
    let mut stderr = node.stderr.take().expect("stderr");
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut stdin = node.stdin.take().expect("stdin");

    // chat.mjs asks for the server to be stopped and started again; every
    // other line is its report. The loop ends when node closes its stdout.
    let mut stdout = String::new();
    for line in BufReader::new(node.stdout.take().expect("stdout")).lines() {
        let line = line.expect("node's output");
        match line.strip_prefix("CONTROL ") {
            Some("stop-server") => {
                // The same shutdown the server's owner calls: every client gets Close 1001.
                server.take().expect("a running server").shutdown().expect("shutdown");
            }
            Some("start-server") => server = Some(start_chat(addr)),
            Some(other) => panic!("chat.mjs asked for {other:?}"),
            None => {
                println!("{line}");
                stdout.push_str(&line);
                stdout.push('\n');
                continue;
            }
        }
        writeln!(stdin, "ok").expect("answer chat.mjs");
    }
    let status = node.wait().expect("node exit");
    let stderr = stderr.join().expect("stderr thread");
    eprintln!("{stderr}");
    assert!(status.success(), "tests/browser/chat.mjs failed ({status}):\n{stdout}\n{stderr}");
    assert!(stdout.contains("checks ok"), "chat.mjs did not report its checks:\n{stdout}");
    let shots: Vec<&str> = stdout.lines().filter_map(|l| l.strip_prefix("screenshot: ")).collect();
    assert!(shots.iter().all(|path| Path::new(path).exists()) && shots.len() >= 5, "screenshots: {shots:?}");
    // Not `println!`: libtest shows a passing test's prints only with --nocapture.
    let _ = writeln!(std::io::stderr(), "screenshots [{label}]:\n  {}", shots.join("\n  "));

    if let Some(server) = server {
        server.shutdown().expect("shutdown");
    }
}

/// The chat example's server, spawned on `addr` (port 0: a free one).
fn start_chat(addr: SocketAddr) -> ServerHandle {
    chat::bind(addr).expect("bind the chat server").spawn().expect("spawn the chat server")
}
