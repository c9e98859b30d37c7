//! The chat of `examples/chat.rs`, watched and managed by the official
//! socket.io admin UI (chapter 16).
//!
//! ```sh
//! npm ci                                        # installs @socket.io/admin-ui (its ui/dist is the app)
//! cargo run --example admin                     # no auth: a warning in the log
//! ADMIN_PASSWORD=secret cargo run --example admin   # log in as `admin` / `secret`
//! PORT=8080 cargo run --example admin           # another port
//! ```
//! Open http://127.0.0.1:3000/admin/ : in the UI's connection dialog the server URL is
//! `http://127.0.0.1:3000` (the namespace `/admin` is the default). Then open the chat at
//! http://127.0.0.1:3000/ in other windows and watch its sockets, rooms and events come and go;
//! the Sockets page's buttons make a socket join or leave a room, or disconnect it.
//! With `REDIS_URL` set on several servers, the UI of one shows them all.

#[path = "chat.rs"]
#[allow(dead_code)] // its `main` and `bind`: this example binds its own way
mod chat;

use std::path::Path;

use wshub::admin::AdminUi;

/// Where `npm ci` put the admin UI's built app.
const UI: &str = "node_modules/@socket.io/admin-ui/ui/dist";

fn main() -> std::io::Result<()> {
    simple_logger::SimpleLogger::new()
        .with_level(log::LevelFilter::Info)
        .env()
        .with_threads(true)
        .init()
        .expect("logger");
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    let server = bind(("127.0.0.1", port), admin_ui()?)?;
    log::info!("admin: open http://127.0.0.1:{port}/admin/ (server URL http://127.0.0.1:{port}); the chat is at /");
    server.stop_on_signals()?;
    server.run()
}

/// The admin UI's settings: with `ADMIN_PASSWORD`, basic auth as `admin`
/// (the password hashed with bcrypt here, once; only the hash is kept).
pub fn admin_ui() -> std::io::Result<AdminUi> {
    Ok(match std::env::var("ADMIN_PASSWORD") {
        Ok(password) if !password.is_empty() => {
            let hash = bcrypt::hash(password, bcrypt::DEFAULT_COST).map_err(std::io::Error::other)?;
            AdminUi::new().basic_auth("admin", &hash)
        }
        _ => AdminUi::new(), // wshub logs a warning: no auth
    })
}

/// The chat and the admin UI on `addr`: the UI's files at `/admin/`, its
/// namespace `/admin`, the chat's pages and `/ws` as in `examples/chat.rs`.
pub fn bind(addr: impl std::net::ToSocketAddrs, ui: AdminUi) -> std::io::Result<wshub::Server> {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join(UI);
    if !dist.exists() {
        let missing = format!("{} is missing: run `npm ci` first", dist.display());
        return Err(std::io::Error::new(std::io::ErrorKind::NotFound, missing));
    }
    let server = chat::builder()?.static_dir("/admin/", dist).admin_ui(ui).bind(addr)?;
    chat::install(&server);
    Ok(server)
}
