//! [`ResponseFuture`]: the future of [`InferenceMonitorService`](crate::tower::InferenceMonitorService).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;

use super::body::ResponseBody;
use super::report::Prediction;
use super::streaming::{NoStreaming, TrackStream};
use super::trace::RequestSpan;
use super::LatencyEnd;
use crate::classify::ClassifyOutcome;
use crate::model::poll_recording_panics;
use crate::InFlight;

pin_project! {
    /// Response future of [`InferenceMonitorService`](crate::tower::InferenceMonitorService).
    ///
    /// It holds the request's guard until the response arrives, then hands it to the
    /// [`ResponseBody`] (or records at once when the body is empty or
    /// [`LatencyEnd::Headers`] is set). Dropped before then, the request counts as `cancelled`.
    pub struct ResponseFuture<F, C, T = NoStreaming> {
        #[pin]
        inner: F,
        state: Option<(InFlight, C)>,
        stream: T,
        latency: LatencyEnd,
        span: RequestSpan,
    }
}

impl<F, C, T> ResponseFuture<F, C, T> {
    #[inline]
    pub(crate) fn new(
        inner: F,
        guard: InFlight,
        classifier: C,
        stream: T,
        latency: LatencyEnd,
        span: RequestSpan,
    ) -> Self {
        Self {
            inner,
            state: Some((guard, classifier)),
            stream,
            latency,
            span,
        }
    }
}

impl<F, C, T> ResponseFuture<F, C, T> {
    /// A request that is not monitored: the response passes through, nothing is recorded.
    #[inline]
    pub(crate) fn untracked(inner: F, stream: T, latency: LatencyEnd) -> Self {
        Self {
            inner,
            state: None,
            stream,
            latency,
            span: RequestSpan::default(),
        }
    }
}

impl<F, C, T> fmt::Debug for ResponseFuture<F, C, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("guard", &self.state.as_ref().map(|(g, _)| g))
            .field("latency", &self.latency)
            .finish_non_exhaustive()
    }
}

impl<F, C, T, B, E> Future for ResponseFuture<F, C, T>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    B: http_body::Body,
    C: ClassifyOutcome,
    T: TrackStream,
{
    type Output = Result<http::Response<ResponseBody<B, C, T::State>>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let inner = this.inner;
            let span = &*this.span;
            ready!(poll_recording_panics(this.state, || span.in_scope(|| inner.poll(cx))))
        };
        let Some((mut guard, classifier)) = this.state.take() else {
            // Polled again after it returned `Ready`: a caller breaking the `Future` contract.
            // The inner future was polled again above (what it does then is its own affair:
            // many panic); whatever it returns passes through, and nothing is recorded twice,
            // since the request was recorded (or handed to the body) the first time.
            return Poll::Ready(
                result.map(|res| res.map(|body| ResponseBody::untracked(body, Default::default()))),
            );
        };
        match result {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                let outcome = classifier.classify_response(parts.status, &parts.headers);
                let prediction = parts.extensions.get::<Prediction>();
                if let Some(prediction) = prediction {
                    guard.predicted(prediction.label());
                }
                this.span
                    .response(parts.status, prediction.map(Prediction::label));
                let stream = this.stream.begin(&guard, &parts);
                let body = if *this.latency == LatencyEnd::Headers || body.is_end_stream() {
                    this.span.end(guard.finish_unless_marked(outcome));
                    ResponseBody::untracked(body, stream)
                } else {
                    ResponseBody::tracked(body, guard, outcome, classifier, stream)
                        .in_span(this.span.take())
                };
                Poll::Ready(Ok(http::Response::from_parts(parts, body)))
            }
            Err(error) => {
                this.span
                    .end(guard.finish_unless_marked(classifier.classify_error()));
                Poll::Ready(Err(error))
            }
        }
    }
}
