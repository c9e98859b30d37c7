//! The admin UI's basic auth: the password is checked against a bcrypt
//! hash, and a login hands out a session id that the UI keeps and sends
//! instead of the password when it reconnects (`auth: {sessionId}`), as
//! Node's admin UI does with its in-memory store.
//!
//! ```text
//! 40/admin,{"username":"admin","password":"…"}   → bcrypt: right → 40/admin,{"sid":…}, 42/admin,["session","<id>"]
//!                                                            wrong → 44/admin,{"message":"invalid credentials"}
//! 40/admin,{"sessionId":"<id>"}                    → a session handed out before: in, without the password
//! ```
//!
//! bcrypt is slow on purpose (tens of milliseconds at cost 10): the check
//! runs on the connecting client's own thread, so nobody else waits.

use std::collections::{HashSet, VecDeque};
use std::str::FromStr;
use std::sync::Mutex;

use serde_json::Value;

use crate::{Result, Socket};

/// Sessions kept; past this the oldest is forgotten (its UI logs in again).
const SESSIONS: usize = 1024;

/// The refusal, word for word as Node's (the UI shows it).
const INVALID: &str = "invalid credentials";

/// One user, its password's hash, and the sessions handed out.
pub(super) struct Basic {
    user: String,
    hash: String,
    /// Session ids, oldest first, and the same as a set to look up.
    sessions: Mutex<(VecDeque<String>, HashSet<String>)>,
}

impl Basic {
    /// `hash` must be a bcrypt hash (`$2a$`, `$2b$`, `$2y$`): else an
    /// `InvalidInput` error, at `bind`.
    pub fn new(user: &str, hash: &str) -> Result<Basic> {
        bcrypt::HashParts::from_str(hash).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("admin UI: the password must be a bcrypt hash: {e}"),
            )
        })?;
        Ok(Basic { user: user.to_string(), hash: hash.to_string(), sessions: Mutex::default() })
    }

    /// The connect check: a session id handed out before, or the right user
    /// name and password.
    pub fn check(&self, auth: &Value) -> std::result::Result<(), String> {
        if auth["sessionId"].as_str().is_some_and(|id| self.knows(id)) {
            return Ok(());
        }
        let (user, password) = (auth["username"].as_str(), auth["password"].as_str());
        match (user, password) {
            (Some(user), Some(password))
                if user == self.user && bcrypt::verify(password, &self.hash).unwrap_or(false) =>
            {
                Ok(())
            }
            _ => {
                log::warn!("admin UI: refused a login (user {user:?}): invalid credentials");
                Err(INVALID.to_string())
            }
        }
    }

    /// A socket that passed [`check`](Self::check): one that logged in with
    /// its password gets a new session id (the `session` event).
    pub fn welcome(&self, socket: &Socket) {
        if socket.auth()["sessionId"].as_str().is_some_and(|id| self.knows(id)) {
            return;
        }
        let id = new_session_id();
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if sessions.0.len() >= SESSIONS {
            if let Some(oldest) = sessions.0.pop_front() {
                sessions.1.remove(&oldest);
            }
        }
        sessions.0.push_back(id.clone());
        sessions.1.insert(id.clone());
        drop(sessions);
        log::info!("admin UI: socket {} logged in", socket.id());
        socket.emit("session", id);
    }

    fn knows(&self, id: &str) -> bool {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).1.contains(id)
    }
}

/// 16 hex digits of OS randomness, as Node's (`randomBytes(8)`).
fn new_session_id() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness (never seen on Linux): a socket id's randomness instead.
        return crate::hub::ids::random_id();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
