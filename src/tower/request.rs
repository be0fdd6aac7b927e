//! Opt-in: the layer watches each request body ([`WatchRequestBody`], switched on with
//! [`InferenceMonitorLayer::watch_request_body`](crate::InferenceMonitorLayer::watch_request_body)),
//! so a request its client aborted (the body failed: a reset stream, a closed connection) or
//! malformed (a gRPC body cut inside a message, with a bad message prefix or with no message)
//! is not counted as the server's failure when the server answers it with one. Without it the
//! request body passes to the inner service untouched ([`PassRequestBody`], the default).

use std::fmt;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::classify::is_grpc;
use crate::model::mark::Mark;
use crate::{InFlight, Outcome};

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::PassRequestBody {}
    impl Sealed for super::WatchRequestBody {}
}

/// What the layer does with a request's body: passes it on ([`PassRequestBody`], the default) or
/// watches it ([`WatchRequestBody`]). Implemented by those two only.
pub trait WatchRequest: sealed::Sealed + Clone {
    /// The body the inner service receives for a request body `B`.
    type Body<B>;

    /// The request the inner service receives for `request`, whose guard is `guard` (`None`:
    /// the request is not monitored).
    fn wrap<B>(
        &self,
        request: http::Request<B>,
        guard: Option<&InFlight>,
    ) -> http::Request<Self::Body<B>>;
}

/// The default: the request body passes to the inner service as it is. Costs nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct PassRequestBody;

impl WatchRequest for PassRequestBody {
    type Body<B> = B;

    #[inline(always)]
    fn wrap<B>(&self, request: http::Request<B>, _guard: Option<&InFlight>) -> http::Request<B> {
        request
    }
}

/// Watches each request body: the inner service receives a [`RequestBody`]. Made by
/// [`InferenceMonitorLayer::watch_request_body`](crate::InferenceMonitorLayer::watch_request_body).
///
/// When the server answers a request with a failure (`server_error`), the request counts as:
///
/// - `cancelled` if its body failed before: the client reset the stream (HTTP/2 `RST_STREAM`),
///   closed the connection mid-request, or the transport failed under it. A gRPC server answers
///   such a call with a status of its own (tonic: `INTERNAL`, "Missing request message", before
///   the server sees the reset), which no client ever reads;
/// - `client_error` if it is a gRPC request (`content-type: application/grpc…`, not gRPC-Web)
///   whose body was malformed: a message prefix with a compression flag other than 0 or 1, a
///   body that ends inside a message, or one that ends with no message at all.
///
/// Any other answer keeps its own outcome, and so does a panic (`server_error`). What the
/// request body cannot show is not seen either: a gRPC message well framed but not valid
/// protobuf is answered `INTERNAL` by tonic's prost codec (count it as the client's by mapping
/// the codec's decode error to `INVALID_ARGUMENT`, as `examples/tonic_loan` does).
///
/// Costs per request one word more in the body and, per data frame of a gRPC request, a walk
/// over its message prefixes; nothing is allocated. The mark is kept in a small table of the
/// model's, read only when a request is about to count as `server_error`.
#[derive(Debug, Clone, Copy, Default)]
pub struct WatchRequestBody;

impl WatchRequest for WatchRequestBody {
    type Body<B> = RequestBody<B>;

    #[inline]
    fn wrap<B>(
        &self,
        request: http::Request<B>,
        guard: Option<&InFlight>,
    ) -> http::Request<RequestBody<B>> {
        let framing = if guard.is_some() && is_grpc(request.headers()) {
            Framing::Prefix {
                read: 0,
                len: 0,
                seen: false,
            }
        } else {
            Framing::Off
        };
        let mark = guard.map(InFlight::mark);
        request.map(|inner| RequestBody {
            inner,
            mark,
            framing,
        })
    }
}

/// Where a gRPC request body is in its length-prefixed messages.
#[derive(Debug, Clone, Copy)]
enum Framing {
    /// Not followed: not gRPC, or a body of a kind that could not be read.
    Off,
    /// `read` bytes of a 5-byte message prefix read (1 flag byte, 4 length bytes), the length
    /// so far in `len`; `seen`: a whole message went by before.
    Prefix { read: u8, len: u32, seen: bool },
    /// Inside a message, `left` bytes of it still to come.
    Message { left: u32 },
}

impl Framing {
    /// Follows the bytes of one chunk; `false` when they break the framing.
    fn feed(&mut self, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            match self {
                Self::Off => return true,
                Self::Message { left } => {
                    let n = bytes.len().min(*left as usize);
                    bytes = &bytes[n..];
                    // `n` is at most `left`, a `u32`.
                    *left -= n as u32;
                    if *left == 0 {
                        *self = Self::Prefix {
                            read: 0,
                            len: 0,
                            seen: true,
                        };
                    }
                }
                Self::Prefix { read, len, .. } => {
                    let byte = bytes[0];
                    bytes = &bytes[1..];
                    if *read == 0 {
                        // The compression flag.
                        if byte > 1 {
                            return false;
                        }
                    } else {
                        *len = (*len << 8) | u32::from(byte);
                    }
                    *read += 1;
                    if *read == 5 {
                        *self = if *len == 0 {
                            Self::Prefix {
                                read: 0,
                                len: 0,
                                seen: true,
                            }
                        } else {
                            Self::Message { left: *len }
                        };
                    }
                }
            }
        }
        true
    }

    /// Follows one data frame, chunk by chunk (a `Bytes` is one chunk).
    fn feed_buf<D: Buf>(&mut self, data: &D) -> bool {
        let chunk = data.chunk();
        if chunk.len() == data.remaining() {
            return self.feed(chunk);
        }
        let mut slices = [IoSlice::new(&[]); 16];
        let n = data.chunks_vectored(&mut slices);
        if slices[..n].iter().map(|s| s.len()).sum::<usize>() != data.remaining() {
            // More chunks than can be seen without copying: stop following this body.
            *self = Self::Off;
            return true;
        }
        slices[..n].iter().all(|s| self.feed(s))
    }

    /// Whether a body ending here is well framed: between messages, after at least one.
    fn ends_well(&self) -> bool {
        match *self {
            Self::Off => true,
            Self::Prefix { read, seen, .. } => read == 0 && seen,
            Self::Message { .. } => false,
        }
    }
}

pin_project! {
    /// Request body of a layer that [watches request bodies](WatchRequestBody): the inner
    /// service's request body, unchanged (its frames, size hint and end pass through), followed
    /// to mark the request when the body fails or is malformed.
    pub struct RequestBody<B> {
        #[pin]
        inner: B,
        // `None`: not monitored, or marked already.
        mark: Option<Mark>,
        framing: Framing,
    }
}

impl<B> RequestBody<B> {
    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// The wrapped body, mutably.
    pub fn get_mut(&mut self) -> &mut B {
        &mut self.inner
    }

    /// Unwraps the body; it is no longer watched.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: fmt::Debug> fmt::Debug for RequestBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBody")
            .field("inner", &self.inner)
            .field("watched", &self.mark.is_some())
            .finish_non_exhaustive()
    }
}

impl<B: Body> Body for RequestBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        if this.mark.is_none() {
            return Poll::Ready(frame);
        }
        let marked = match &frame {
            Some(Err(_)) => Some(Outcome::Cancelled),
            Some(Ok(f)) => {
                let framed = f.data_ref().is_none_or(|data| this.framing.feed_buf(data));
                // The last frame: the consumer may not poll again.
                let ended = f.is_trailers() || this.inner.is_end_stream();
                (!framed || (ended && !this.framing.ends_well())).then_some(Outcome::ClientError)
            }
            None => (!this.framing.ends_well()).then_some(Outcome::ClientError),
        };
        if let Some(outcome) = marked {
            if let Some(mark) = this.mark.take() {
                mark.set(outcome);
            }
        }
        Poll::Ready(frame)
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        let end = self.inner.is_end_stream();
        // Ended here: no frame comes after, and the body may never be polled (tonic drops a
        // request body that has ended before reading it). Marking again is harmless.
        if end && !self.framing.ends_well() {
            if let Some(mark) = self.mark {
                mark.set(Outcome::ClientError);
            }
        }
        end
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::Framing;

    fn framing() -> Framing {
        Framing::Prefix {
            read: 0,
            len: 0,
            seen: false,
        }
    }

    /// Feeds `chunks` and tells whether they are framed and end well.
    fn check(chunks: &[&[u8]]) -> (bool, bool) {
        let mut f = framing();
        let framed = chunks.iter().all(|c| f.feed(c));
        (framed, f.ends_well())
    }

    #[test]
    fn messages_split_anywhere_are_followed() {
        let two = b"\0\0\0\0\x02\x08\x01\x01\0\0\0\x01x";
        assert_eq!(check(&[two]), (true, true));
        for cut in 0..two.len() {
            assert_eq!(
                check(&[&two[..cut], &two[cut..]]),
                (true, true),
                "cut at {cut}"
            );
        }
        assert_eq!(check(&[b"\0\0\0\0\0"]), (true, true), "an empty message");
    }

    #[test]
    fn malformed_bodies() {
        assert!(!check(&[b"\x07\0\0\0\x01x"]).0, "bad flag");
        assert_eq!(
            check(&[b"\0\0\0\0\x10abc"]),
            (true, false),
            "cut inside a message"
        );
        assert_eq!(check(&[b"\0\0\0"]), (true, false), "cut inside a prefix");
        assert_eq!(check(&[]), (true, false), "no message");
        assert!(!check(&[b"\0\0\0\0\x01x\x02"]).0, "second flag bad");
    }
}
