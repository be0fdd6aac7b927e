//! What ties one inference to its trace and its log line: the caller's W3C `traceparent`
//! ([`TraceParent`]) and the request id ([`RequestId`]), read from the request head.
//!
//! Both are read from bytes any client controls, so both are parsed strictly and fail quietly:
//! a malformed `traceparent` is ignored (the request is served and monitored as if it had
//! none), and a request id that is not visible ASCII of a bounded length is replaced by one the
//! crate makes. Nothing here can be made to split a log line or forge a field: every byte kept
//! is visible ASCII (`!` to `~`).
//!
//! The span, the log event and the exemplars that carry them (feature `tracing`) are built on
//! these; this module only reads and makes the ids.

// Wired into the layer's span and log event in the next step of the logging issue.
#![allow(dead_code, unused_imports)]

mod request_id;
mod traceparent;

pub(crate) use request_id::{RequestId, DEFAULT_MAX_REQUEST_ID_LEN};
pub(crate) use traceparent::TraceParent;

/// Lowercase hexadecimal digits of `bytes`, written into `out` (twice as long as `bytes`).
pub(crate) fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
}
