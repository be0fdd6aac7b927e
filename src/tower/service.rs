//! [`InferenceMonitorService`]: the service made by [`InferenceMonitorLayer`](crate::InferenceMonitorLayer).

use std::fmt;
use std::task::{Context, Poll};

use tower_service::Service;

use super::future::ResponseFuture;
use super::request::{PassRequestBody, WatchRequest};
use super::streaming::{NoStreaming, TrackStream};
use super::trace::RequestSpan;
use super::{LatencyEnd, ModelSource};
use crate::classify::ClassifyOutcome;

/// A service monitored by [`InferenceMonitorLayer`](crate::InferenceMonitorLayer).
///
/// Its error type is the inner service's, unchanged; its response body is
/// [`ResponseBody`](super::ResponseBody), which ends the measurement at the end of the body.
#[derive(Clone)]
pub struct InferenceMonitorService<S, M, C, T = NoStreaming, R = PassRequestBody> {
    pub(crate) inner: S,
    pub(crate) models: M,
    pub(crate) classifier: C,
    pub(crate) stream: T,
    pub(crate) latency: LatencyEnd,
    pub(crate) request: R,
}

impl<S: fmt::Debug, M: fmt::Debug, C, T, R> fmt::Debug for InferenceMonitorService<S, M, C, T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InferenceMonitorService")
            .field("inner", &self.inner)
            .field("models", &self.models)
            .field("latency", &self.latency)
            .finish_non_exhaustive()
    }
}

impl<S, M, C, T, R> InferenceMonitorService<S, M, C, T, R> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, M, C, T, R, ReqBody, ResBody> Service<http::Request<ReqBody>>
    for InferenceMonitorService<S, M, C, T, R>
where
    S: Service<http::Request<R::Body<ReqBody>>, Response = http::Response<ResBody>>,
    M: ModelSource,
    C: ClassifyOutcome + Clone,
    T: TrackStream,
    R: WatchRequest,
    ResBody: http_body::Body,
{
    type Response = http::Response<super::ResponseBody<ResBody, C, T::State>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, C, T>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        if !self.models.monitors(&request) {
            return ResponseFuture::untracked(
                self.inner.call(self.request.wrap(request, None)),
                self.stream.clone(),
                self.latency,
            );
        }
        let guard = self.models.start(&request);
        // Opt-in (MonitorBuilder::request_signals): the handler's handle on its model's signals.
        if guard.wants_request_signals() {
            request.extensions_mut().insert(guard.signals());
        }
        let span = RequestSpan::start(&request, guard.model_name());
        let request = self.request.wrap(request, Some(&guard));
        let inner = span.in_scope(|| self.inner.call(request));
        ResponseFuture::new(
            inner,
            guard,
            self.classifier.clone(),
            self.stream.clone(),
            self.latency,
            span,
        )
    }
}
