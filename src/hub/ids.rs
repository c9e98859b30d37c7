//! The ids nobody may guess: an Engine.IO session's id (it authorises
//! polling requests on its own), a socket's public and private ids (unique
//! across a cluster without asking anyone), the admin UI's session tokens.

use std::time::SystemTime;

/// A random, unguessable id: 15 bytes from the OS, as 20 URL-safe characters.
pub(crate) fn random_id() -> String {
    let mut bytes = [0u8; 15];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness (never seen on Linux): fall back to the clock.
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos();
        bytes[..15].copy_from_slice(&nanos.to_le_bytes()[..15]);
    }
    data_encoding::BASE64URL_NOPAD.encode(&bytes)
}
