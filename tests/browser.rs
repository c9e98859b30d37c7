//! A real browser against the chat example: Debian's Chromium, driven by npm's
//! `playwright-core` from `tests/browser/chat.mjs`, opens the chat page in two
//! tabs that set nicknames and talk to each other.
//!
//! Needs `node`, `/usr/bin/chromium` (or `$CHROMIUM`) and `node_modules`
//! (`npm ci`). Without them the test prints a loud SKIP and passes, unless
//! `WSHUB_NO_SKIP=1` (as `.ci/run` sets), where it fails instead.
//!
//! ```sh
//! npm ci && cargo test --test browser -- --nocapture
//! WSHUB_SCREENSHOT=/tmp/chat.png cargo test --test browser   # also saves what the first tab shows
//! ```
mod common;

// The chat example's server setup (`chat::bind`) is a function of the example
// file itself, so that what the test runs is exactly what `cargo run --example
// chat` runs. Its `main` is unused here.
#[path = "../examples/chat.rs"]
#[allow(dead_code)]
mod chat;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Two Chromium tabs on `http://127.0.0.1:<port>/`: both get the welcome
/// `server-message`, set nicknames (acked) and see each other online; a message
/// typed in one appears in the other; a bad nickname and an over-long message
/// are refused with a reason; switching rooms moves the online lists; and the
/// seed's client page at `/client` is welcomed and gets its `client-message`
/// answered. The steps and their timings are printed by `chat.mjs`.
#[test]
fn two_browser_tabs_chat_through_the_chat_example() {
    common::watchdog(150);
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

    let server = chat::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0").spawn().expect("spawn the chat server");
    let url = format!("http://{}/", server.local_addr);

    let output = Command::new("node")
        .arg("tests/browser/chat.mjs")
        .arg(&url)
        .env("CHROMIUM", &chromium)
        .current_dir(root)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(output.status.success(), "tests/browser/chat.mjs failed ({}):\n{stdout}\n{stderr}", output.status);
    assert!(stdout.contains("checks ok"), "chat.mjs did not report its checks:\n{stdout}");

    server.shutdown().expect("shutdown");
}
