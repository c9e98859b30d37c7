//! HTTP/1.1 by hand: what the front door needs before a connection is a WebSocket.
//!
//! - [`request`]: read a request head under the handshake deadline (the
//!   first of a connection, or the next one of a kept-alive connection);
//! - [`body`]: how long a request body is, and reading it whole or refusing it;
//! - [`host`]: the `Host` allow-list, checked first;
//! - [`response`]: write a page or a refusal with its status and reason;
//! - [`handshake`]: decide what a request is (page, refusal, upgrade) and
//!   compute `Sec-WebSocket-Accept`;
//! - [`origin`]: the `Origin` allow-list, and CORS for long-polling.

pub mod body;
pub mod files;
pub mod handshake;
pub mod host;
pub mod origin;
pub mod request;
pub mod response;

pub use request::{is_timeout, parse_head, read_head, read_next_head, HeadError, Input, Request};
pub use response::{linger, status_text, Response};
