//! [`MonitoredBody`]: the response body of the actix middleware, which ends the measurement
//! of a request at the end of its body.

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::web::Bytes;
use pin_project_lite::pin_project;

use crate::{InFlight, Outcome};

pin_project! {
    /// The response body of [`InferenceMonitorMiddleware`]: ends the measurement of a request
    /// at the end of its body.
    ///
    /// The request is recorded on `None`, on the chunk that completes a body whose
    /// [`size`](MessageBody::size) is known (a consumer may stop at the announced length), or
    /// when the whole body is taken at once ([`try_into_bytes`](MessageBody::try_into_bytes)); a
    /// body error records `server_error`. Dropped before its end — the client went away
    /// mid-stream — the request counts as `cancelled`.
    pub struct MonitoredBody<B> {
        #[pin]
        inner: B,
        state: Option<(InFlight, Outcome)>,
        // Bytes still to come of a body of known size.
        remaining: Option<u64>,
    }
}

impl<B: MessageBody> MonitoredBody<B> {
    pub(super) fn tracked(inner: B, guard: InFlight, outcome: Outcome) -> Self {
        let remaining = match inner.size() {
            BodySize::Sized(n) => Some(n),
            BodySize::None | BodySize::Stream => None,
        };
        Self {
            inner,
            state: Some((guard, outcome)),
            remaining,
        }
    }

    pub(super) fn untracked(inner: B) -> Self {
        Self {
            inner,
            state: None,
            remaining: None,
        }
    }
}

impl<B> MonitoredBody<B> {
    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// Unwraps the inner body. A request still being measured is recorded now as `cancelled`.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: fmt::Debug> fmt::Debug for MonitoredBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MonitoredBody")
            .field("inner", &self.inner)
            .field("guard", &self.state.as_ref().map(|(g, _)| g))
            .finish_non_exhaustive()
    }
}

impl<B: MessageBody> MessageBody for MonitoredBody<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.inner.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let mut this = self.project();
        let chunk = ready!(this.inner.as_mut().poll_next(cx));
        let outcome = match &chunk {
            None => this.state.as_ref().map(|(_, o)| *o),
            Some(Err(_)) => Some(Outcome::ServerError),
            Some(Ok(bytes)) => {
                if let Some(remaining) = this.remaining.as_mut() {
                    *remaining = remaining.saturating_sub(bytes.len() as u64);
                }
                let complete = *this.remaining == Some(0) || this.inner.size().is_eof();
                if complete {
                    this.state.as_ref().map(|(_, o)| *o)
                } else {
                    None
                }
            }
        };
        if let Some(outcome) = outcome {
            if let Some((guard, _)) = this.state.take() {
                guard.finish(outcome);
            }
        }
        Poll::Ready(chunk)
    }

    fn try_into_bytes(self) -> Result<Bytes, Self> {
        let Self {
            inner,
            state,
            remaining,
        } = self;
        match inner.try_into_bytes() {
            Ok(bytes) => {
                // The whole body is handed over at once: this is its end.
                if let Some((guard, outcome)) = state {
                    guard.finish(outcome);
                }
                Ok(bytes)
            }
            Err(inner) => Err(Self {
                inner,
                state,
                remaining,
            }),
        }
    }
}
