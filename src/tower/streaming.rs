//! Opt-in signals of streamed (generative) responses: time to first token, time per output
//! token, and tokens in and out. Switched on with
//! [`InferenceMonitorLayer::streaming`](crate::InferenceMonitorLayer::streaming); without it the
//! layer's body does nothing per frame and no series of this module exists.

use std::fmt;
use std::sync::Arc;

use bytes::Buf;

use crate::model::contain::contain;
use crate::model::shared::StreamHandles;
use crate::InFlight;

use super::report::TokenUsage;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::NoStreaming {}
    impl Sealed for super::Streaming {}
}

/// What the layer does with the data frames of a response body: nothing ([`NoStreaming`], the
/// default) or the streaming signals ([`Streaming`]). Implemented by those two only.
pub trait TrackStream: sealed::Sealed + Clone {
    /// What a response body carries to follow its frames.
    type State: StreamState;

    /// The state for the response of `request`, read when the response headers arrive.
    fn begin(&self, request: &InFlight, response: &http::response::Parts) -> Self::State;
}

/// The per-response side of a [`TrackStream`]: sees each data frame and the end of the body.
pub trait StreamState: Default {
    /// A data frame was sent.
    fn on_data<D: Buf>(&mut self, data: &D);

    /// The body ended; also called (once more at most) when the state is dropped.
    fn end(&mut self);
}

/// The default: data frames are not looked at. Costs nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoStreaming;

impl TrackStream for NoStreaming {
    type State = ();

    #[inline(always)]
    fn begin(&self, _request: &InFlight, _response: &http::response::Parts) {}
}

impl StreamState for () {
    #[inline(always)]
    fn on_data<D: Buf>(&mut self, _data: &D) {}

    #[inline(always)]
    fn end(&mut self) {}
}

/// Records the streaming signals of every response: made by
/// [`InferenceMonitorLayer::streaming`](crate::InferenceMonitorLayer::streaming).
///
/// - `inference_time_to_first_token_seconds{model}`: from the request to its first token.
/// - `inference_time_per_output_token_seconds{model}`: `(last token − first token) / (tokens − 1)`,
///   once per response with at least two tokens.
/// - `inference_tokens_total{model, type="input"}`: from the handler's [`TokenUsage`].
/// - `inference_tokens_total{model, type="output"}`: one per data frame of the body (a chunk, or
///   a server-sent event), or [`TokenUsage::with_output`].
///
/// A token is a non-empty data frame; in a `text/event-stream` response, a frame that starts
/// with `:` is an SSE comment (a keep-alive) and not a token. Only responses with a 2xx status
/// are followed: the body of an error is a message, not generated tokens (and its input tokens
/// are not counted either). A body dropped mid-stream still counts the tokens it sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Streaming;

impl TrackStream for Streaming {
    type State = StreamClock;

    fn begin(&self, request: &InFlight, response: &http::response::Parts) -> StreamClock {
        // An error answer's body is an error message, not generated tokens.
        if !response.status.is_success() {
            return StreamClock::default();
        }
        let (model, start) = request.model_and_start();
        let handles = Arc::clone(model.streaming());
        let usage = response.extensions.get::<TokenUsage>();
        if let Some(input) = usage.map(TokenUsage::input_tokens).filter(|n| *n > 0) {
            contain(|| handles.input.increment(input));
        }
        let sse = response
            .headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        StreamClock {
            live: Some(Live {
                handles,
                start,
                first: 0,
                last: 0,
                frames: 0,
                output: usage.and_then(TokenUsage::output_tokens),
                sse,
            }),
        }
    }
}

/// The per-response state of [`Streaming`]: when the first and last tokens went out, and how
/// many. It records the tokens and the time per output token at the end of the body, or when
/// dropped.
#[derive(Default)]
pub struct StreamClock {
    live: Option<Live>,
}

struct Live {
    handles: Arc<StreamHandles>,
    /// Raw clock readings: the request's start, the first and the last token.
    start: u64,
    first: u64,
    last: u64,
    frames: u64,
    /// Output tokens reported by the handler, replacing `frames`.
    output: Option<u64>,
    sse: bool,
}

impl fmt::Debug for StreamClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamClock")
            .field("frames", &self.live.as_ref().map(|l| l.frames))
            .finish_non_exhaustive()
    }
}

impl StreamState for StreamClock {
    fn on_data<D: Buf>(&mut self, data: &D) {
        let Some(live) = &mut self.live else {
            return;
        };
        if !data.has_remaining() || (live.sse && data.chunk().first() == Some(&b':')) {
            return;
        }
        let clock = &live.handles.clock;
        let now = clock.now();
        if live.frames == 0 {
            live.first = now;
            let seconds = clock.between(live.start, now).as_secs_f64();
            let ttft = &live.handles.time_to_first_token;
            contain(|| ttft.record(seconds));
        }
        live.last = now;
        live.frames += 1;
    }

    fn end(&mut self) {
        let Some(live) = self.live.take() else {
            return;
        };
        let h = &live.handles;
        let output = live.output.unwrap_or(live.frames);
        if output > 0 {
            contain(|| h.output.increment(output));
        }
        if live.output.is_none() && live.frames >= 2 {
            let spread = h.clock.between(live.first, live.last).as_secs_f64();
            #[allow(clippy::cast_precision_loss)] // exact below 2^53 tokens
            let per_token = spread / (live.frames - 1) as f64;
            contain(|| h.time_per_output_token.record(per_token));
        }
    }
}

impl Drop for StreamClock {
    fn drop(&mut self) {
        self.end();
    }
}
