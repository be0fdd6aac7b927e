//! [`ResponseBody`]: ends the measurement of a request at the end of its response body.

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::guard::FinishOnUnwind;
use crate::outcome::{ClassifyResponse, StatusClassifier};
use crate::{InFlight, Outcome};

pin_project! {
    /// Response body of [`InferenceMonitorService`](crate::InferenceMonitorService).
    ///
    /// The request is recorded when the body ends: on its last frame (when
    /// `is_end_stream()` turns true, since the consumer may not poll again), on `None`, or on a
    /// body error (`server_error`). Dropped before its end — the client went away mid-stream —
    /// the request counts as `cancelled`.
    ///
    /// With a classifier that reads trailers (`C::READS_TRAILERS`, such as
    /// [`GrpcClassifier`](crate::GrpcClassifier)), a trailers frame ends the request too, with
    /// the outcome the trailers give.
    pub struct ResponseBody<B, C = StatusClassifier> {
        #[pin]
        inner: B,
        state: Option<(InFlight, (Outcome, C))>,
    }
}

impl<B, C> ResponseBody<B, C> {
    #[inline]
    pub(crate) fn tracked(inner: B, guard: InFlight, outcome: Outcome, classifier: C) -> Self {
        Self {
            inner,
            state: Some((guard, (outcome, classifier))),
        }
    }

    #[inline]
    pub(crate) fn untracked(inner: B) -> Self {
        Self { inner, state: None }
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

impl<B: fmt::Debug, C> fmt::Debug for ResponseBody<B, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("inner", &self.inner)
            .field("guard", &self.state.as_ref().map(|(g, _)| g))
            .finish()
    }
}

impl<B: Body, C: ClassifyResponse> Body for ResponseBody<B, C> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = {
            let _unwind = FinishOnUnwind(&mut *this.state);
            ready!(this.inner.as_mut().poll_frame(cx))
        };
        let so_far = || this.state.as_ref().map(|(_, (o, _))| *o);
        let outcome = match &frame {
            None => so_far(),
            Some(Err(_)) => Some(Outcome::ServerError),
            // Compiled away unless the classifier reads trailers.
            Some(Ok(f)) if C::READS_TRAILERS && f.is_trailers() => {
                this.state.as_ref().map(|(_, (o, classifier))| {
                    f.trailers_ref()
                        .and_then(|t| classifier.classify_trailers(t))
                        .unwrap_or(*o)
                })
            }
            Some(Ok(_)) if this.inner.is_end_stream() => so_far(),
            Some(Ok(_)) => None,
        };
        if let Some(outcome) = outcome {
            if let Some((guard, _)) = this.state.take() {
                guard.finish(outcome);
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
