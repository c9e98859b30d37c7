//! WebSocket frames as bytes on the wire, written by the server.
//!
//! Reading frames is tungstenite's job. Writing is partly ours: the hub
//! writes the *same bytes* of a broadcast into thousands of sockets, so a
//! frame is encoded once, here, and never touches a `WebSocket` value. A
//! server frame is a small header and the payload as it is (only clients
//! mask), so these bytes are what tungstenite would have written.
//!
//! ```text
//! 0x81 0x05 "hello"          FIN + text, length 5
//! 0x82 0x7e 0x01 0x00 …      FIN + binary, length 256 in the next two bytes
//! 0x88 0x02 0x03 0xe9        FIN + close, code 1001
//! ```

use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Bytes, Message};

/// The longest Close reason that fits a control frame: 125 bytes of payload,
/// two of which are the code (RFC 6455 §5.5).
pub const MAX_CLOSE_REASON: usize = 123;

// ANCHOR: data_frames
/// The frames of `messages` (text and binary), one after another in one
/// buffer: written as one unit, so nothing can come between them.
pub fn data_frames(messages: &[Message]) -> Bytes {
    let mut out = Vec::with_capacity(messages.iter().map(|m| m.len() + 10).sum());
    for message in messages {
        let frame = match message {
            Message::Text(text) => Frame::message(Bytes::from(text.clone()), OpCode::Data(Data::Text), true),
            Message::Binary(bytes) => Frame::message(bytes.clone(), OpCode::Data(Data::Binary), true),
            // Control frames are the connection's business, never an event's.
            _ => continue,
        };
        format_into(frame, &mut out);
    }
    Bytes::from(out)
}
// ANCHOR_END: data_frames

/// A Ping frame with an empty payload.
pub fn ping_frame() -> Bytes {
    let mut out = Vec::with_capacity(2);
    format_into(Frame::ping(Bytes::new()), &mut out);
    Bytes::from(out)
}

/// A Close frame with `code` and `reason`, the reason cut to
/// [`MAX_CLOSE_REASON`] bytes at a character boundary: a reason may quote
/// what a client sent, and a control frame over 125 bytes is a protocol
/// error that strict clients answer by dropping the connection.
pub fn close_frame(code: u16, reason: &str) -> Bytes {
    let reason = close_reason(reason);
    let mut out = Vec::with_capacity(4 + reason.len());
    let frame = Frame::close(Some(CloseFrame { code: CloseCode::from(code), reason: reason.into() }));
    format_into(frame, &mut out);
    Bytes::from(out)
}

/// `reason`, or its longest prefix of at most [`MAX_CLOSE_REASON`] bytes that
/// ends on a character boundary.
pub fn close_reason(reason: &str) -> &str {
    if reason.len() <= MAX_CLOSE_REASON {
        return reason;
    }
    let mut end = MAX_CLOSE_REASON;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

fn format_into(frame: Frame, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    frame.format(out).expect("formatting a frame into memory");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_the_rfc_headers() {
        assert_eq!(&data_frames(&[Message::text("hello")])[..], b"\x81\x05hello");
        let long = data_frames(&[Message::binary(vec![7u8; 256])]);
        assert_eq!(&long[..4], b"\x82\x7e\x01\x00");
        assert_eq!(long.len(), 4 + 256);
        assert_eq!(&ping_frame()[..], b"\x89\x00");
        assert_eq!(&close_frame(1001, "")[..], b"\x88\x02\x03\xe9");
        let two = data_frames(&[Message::text("a"), Message::binary(vec![1u8])]);
        assert_eq!(&two[..], b"\x81\x01a\x82\x01\x01");
    }

    #[test]
    fn a_close_frame_never_exceeds_125_bytes_of_payload() {
        for reason in ["x".repeat(200), "é".repeat(100), format!("a{}", "€".repeat(60))] {
            let frame = close_frame(1002, &reason);
            let payload = frame[1] as usize;
            assert!(payload <= 125, "{payload}");
            assert_eq!(frame.len(), 2 + payload);
            assert!(std::str::from_utf8(&frame[4..]).is_ok(), "the cut is at a character boundary");
        }
        assert_eq!(close_reason("short"), "short");
    }
}
