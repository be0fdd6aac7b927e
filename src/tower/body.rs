//! [`ResponseBody`]: ends the measurement of a request at the end of its response body.

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::streaming::StreamState;
use super::trace::RequestSpan;
use crate::classify::{ClassifyOutcome, StatusClassifier};
use crate::model::poll_recording_panics;
use crate::{InFlight, Outcome};

pin_project! {
    /// Response body of [`InferenceMonitorService`](crate::tower::InferenceMonitorService).
    ///
    /// The request is recorded when the body ends: on its last frame (when
    /// `is_end_stream()` turns true, since the consumer may not poll again), on `None`, or on a
    /// body error (`server_error`). Dropped before its end — the client went away mid-stream —
    /// the request counts as `cancelled`.
    ///
    /// With a classifier that reads trailers (`C::READS_TRAILERS`, such as
    /// [`GrpcClassifier`](crate::classify::GrpcClassifier)), a trailers frame ends the request too, with
    /// the outcome the trailers give. `S` follows the data frames for the streaming signals
    /// ([`StreamClock`](crate::tower::StreamClock)); by default it is `()`, which does nothing.
    pub struct ResponseBody<B, C = StatusClassifier, S = ()> {
        #[pin]
        inner: B,
        state: Option<(InFlight, (Outcome, C))>,
        stream: S,
        span: RequestSpan,
    }
}

impl<B, C, S> ResponseBody<B, C, S> {
    #[inline]
    pub(crate) fn tracked(
        inner: B,
        guard: InFlight,
        outcome: Outcome,
        classifier: C,
        stream: S,
    ) -> Self {
        Self {
            inner,
            state: Some((guard, (outcome, classifier))),
            stream,
            span: RequestSpan::default(),
        }
    }

    #[inline]
    pub(crate) fn untracked(inner: B, stream: S) -> Self {
        Self {
            inner,
            state: None,
            stream,
            span: RequestSpan::default(),
        }
    }

    /// The body with the request's span, ended with the request.
    #[inline]
    pub(crate) fn in_span(mut self, span: RequestSpan) -> Self {
        self.span = span;
        self
    }

    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// Unwraps the inner body. A request still being measured is recorded now as `cancelled`
    /// if the body had not ended.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: fmt::Debug, C, S> fmt::Debug for ResponseBody<B, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("inner", &self.inner)
            .field("guard", &self.state.as_ref().map(|(g, _)| g))
            .finish_non_exhaustive()
    }
}

impl<B: Body, C: ClassifyOutcome, S: StreamState> Body for ResponseBody<B, C, S> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = {
            let inner = this.inner.as_mut();
            let span = &*this.span;
            ready!(poll_recording_panics(this.state, || span.in_scope(|| inner.poll_frame(cx))))
        };
        // `None`: the body goes on. `Some(None)`: it ended, with the outcome decided at the
        // headers. `Some(Some(outcome))`: it ended with this outcome.
        let end = match &frame {
            None => Some(None),
            Some(Err(_)) => Some(Some(Outcome::ServerError)),
            Some(Ok(f)) => {
                // Both compiled away by default: `()` ignores data, and the status classifier
                // does not read trailers.
                if let Some(data) = f.data_ref() {
                    this.stream.on_data(data);
                }
                if C::READS_TRAILERS && f.is_trailers() {
                    Some(this.state.as_ref().and_then(|(_, (_, classifier))| {
                        f.trailers_ref()
                            .and_then(|t| classifier.classify_trailers(t))
                    }))
                } else if this.inner.is_end_stream() {
                    Some(None)
                } else {
                    None
                }
            }
        };
        if let Some(decided) = end {
            this.stream.end();
            if let Some((guard, (so_far, _))) = this.state.take() {
                this.span
                    .end(guard.finish_unless_marked(decided.unwrap_or(so_far)));
            }
        }
        Poll::Ready(frame)
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
