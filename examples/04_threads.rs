//! Chapter 04: a thread per connection. Lists this process's threads (Linux:
//! `/proc/self/task/*/comm`) as clients come and go, and asks the server which
//! thread runs a handler.
//!
//! ```sh
//! cargo run --example 04_threads
//! ```
//! While it pauses between steps, in a second terminal you can look from outside:
//! ```sh
//! ps -L -o tid,comm -p "$(pgrep -n 04_threads)"
//! ```
//! Step through it: break on `wshub::front::serve` (src/front.rs): every hit
//! is a new `conn-N` thread at its first line; `info threads` in gdb lists
//! them all (docs/04-threads.md shows the session).

use std::thread;
use std::time::Duration;

use tungstenite::Message;
use wshub::Server;

fn main() -> std::io::Result<()> {
    let pause = Duration::from_millis(std::env::var("PAUSE_MS").ok().and_then(|p| p.parse().ok()).unwrap_or(1500));
    let server = Server::builder().bind(("127.0.0.1", 0))?;
    server.on_connection(|socket| {
        // Handlers run on the client's own thread: ask it for its name.
        socket.on("which-thread", |socket, _| socket.emit("thread", thread::current().name()));
    });
    show_threads("before the server starts (only main)");

    let handle = server.spawn()?;
    wait_for_threads(4);
    show_threads("server started: listener, hub, engine-timers");

    let url = format!("ws://{}/ws", handle.local_addr);
    let mut clients = Vec::new();
    for _ in 0..2 {
        let (ws, _) = tungstenite::connect(&url).map_err(std::io::Error::other)?;
        clients.push(ws);
    }
    wait_for_threads(6);
    show_threads("two clients connected: one conn-N for each");

    for ws in &mut clients {
        ws.send(Message::text(r#"{"event":"which-thread"}"#)).map_err(std::io::Error::other)?;
        let answer = ws.read().map_err(std::io::Error::other)?;
        println!("a handler answered from thread: {answer}");
    }
    thread::sleep(pause);

    let mut first = clients.remove(0);
    first.close(None).map_err(std::io::Error::other)?;
    while first.read().is_ok() {} // until the close handshake completes
    wait_for_threads(5);
    show_threads("the first client closed: its thread is gone");
    thread::sleep(pause);

    handle.shutdown()?;
    show_threads("after shutdown: every server thread joined");
    Ok(())
}

/// Prints the name of every thread of this process.
fn show_threads(moment: &str) {
    let names = thread_names();
    println!("\n{moment}\n    {} threads: {}", names.len(), names.join(", "));
}

/// Threads start and stop asynchronously: wait (200 tries, 10 ms apart) until
/// there are `count` of them, each with its own name. A new thread starts
/// with the name of the thread that spawned it (`conn-2` is `listener` for a
/// moment) and names itself as it begins to run, so a count alone would
/// sometimes show a name twice. The tries are counted, not timed: a debugger
/// holding the process costs none of them.
fn wait_for_threads(count: usize) {
    for _ in 0..200 {
        let mut names = thread_names();
        names.dedup();
        if names.len() == count && thread_count() == count {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    println!("(still not {count} threads with names of their own after 200 tries: {:?})", thread_names());
}

/// The names of this process's threads, sorted.
fn thread_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .flatten()
                .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
                .map(|name| name.trim().to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}
