//! [`ResponseBody`]: ends the measurement of a request at the end of its response body.

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::guard::FinishOnUnwind;
use crate::{InFlight, Outcome};

pin_project! {
    /// Response body of [`InferenceMonitorService`](crate::InferenceMonitorService).
    ///
    /// The request is recorded when the body ends: on its last frame (when
    /// `is_end_stream()` turns true, since the consumer may not poll again), on `None`, or on a
    /// body error (`server_error`). Dropped before its end — the client went away mid-stream —
    /// the request counts as `cancelled`.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        state: Option<(InFlight, Outcome)>,
    }
}

impl<B> ResponseBody<B> {
    #[inline]
    pub(crate) fn tracked(inner: B, guard: InFlight, outcome: Outcome) -> Self {
        Self {
            inner,
            state: Some((guard, outcome)),
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

impl<B: fmt::Debug> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("inner", &self.inner)
            .field("guard", &self.state.as_ref().map(|(g, _)| g))
            .finish()
    }
}

impl<B: Body> Body for ResponseBody<B> {
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
        let outcome = match &frame {
            None => this.state.as_ref().map(|(_, o)| *o),
            Some(Err(_)) => Some(Outcome::ServerError),
            Some(Ok(_)) if this.inner.is_end_stream() => this.state.as_ref().map(|(_, o)| *o),
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
