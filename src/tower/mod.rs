//! The tower adapter, in the shape of a tower-http middleware: [`InferenceMonitorLayer`]
//! (`layer`) makes an [`InferenceMonitorService`] (`service`), whose [`ResponseFuture`]
//! (`future`) hands the response out with a [`ResponseBody`] (`body`) that records the
//! request when the body ends. Which model a request belongs to comes from a [`ModelSource`]
//! (`source`); what the handler reports rides in the response's extensions (`report`); the
//! streaming signals follow the body's frames (`streaming`); an opt-in watch of the request body
//! tells a client's abort or malformed request from the server's failure (`request`).
//!
//! This file holds the vocabulary the pieces share: when the measurement ends
//! ([`LatencyEnd`]), what picks the model ([`ModelSource`]) and what a selector sees of a
//! request ([`RequestHead`]).

mod body;
mod future;
mod layer;
mod report;
mod request;
mod service;
pub(crate) mod source;
mod streaming;
mod trace;

use crate::InFlight;

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use layer::InferenceMonitorLayer;
pub use report::{Prediction, TokenUsage};
pub use request::{PassRequestBody, RequestBody, WatchRequest, WatchRequestBody};
pub use service::InferenceMonitorService;
pub use source::{FixedModel, ModelFromRequest, OnlyPaths, OpenInference};
pub use streaming::{NoStreaming, StreamClock, StreamState, Streaming, TrackStream};

/// When the latency measurement of a request ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LatencyEnd {
    /// When the response body has been sent to its end (or fails, or is dropped). Streamed
    /// answers are timed in full.
    #[default]
    EndOfBody,
    /// When the inner service returns the response headers.
    Headers,
}

/// Picks the model of a request and starts its measurement.
///
/// The request is only looked at, never moved: a source that ignores it costs nothing.
pub trait ModelSource {
    /// Starts the request's [`InFlight`] guard.
    fn start<B>(&self, request: &http::Request<B>) -> InFlight;

    /// Whether `request` is monitored at all; one that is not passes through untouched and
    /// counts nowhere. Defaults to every request.
    #[inline]
    fn monitors<B>(&self, _request: &http::Request<B>) -> bool {
        true
    }
}

/// What a model selector sees of a request: its head, borrowed. Given to the closure of
/// [`InferenceMonitorLayer::from_request`].
///
/// ```
/// use inference_monitor::tower::RequestHead;
///
/// let request = http::Request::get("/v2/models/loan/infer").body(()).unwrap();
/// let head = RequestHead::of(&request);
/// assert_eq!(head.uri().path(), "/v2/models/loan/infer");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    method: &'a http::Method,
    uri: &'a http::Uri,
    headers: &'a http::HeaderMap,
    extensions: &'a http::Extensions,
}

impl<'a> RequestHead<'a> {
    /// The head of `request`.
    #[must_use]
    pub fn of<B>(request: &'a http::Request<B>) -> Self {
        Self {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
            extensions: request.extensions(),
        }
    }

    /// The request method.
    #[must_use]
    pub fn method(&self) -> &'a http::Method {
        self.method
    }

    /// The request URI.
    #[must_use]
    pub fn uri(&self) -> &'a http::Uri {
        self.uri
    }

    /// The request headers.
    #[must_use]
    pub fn headers(&self) -> &'a http::HeaderMap {
        self.headers
    }

    /// The request extensions (axum's `MatchedPath` lives here).
    #[must_use]
    pub fn extensions(&self) -> &'a http::Extensions {
        self.extensions
    }
}
