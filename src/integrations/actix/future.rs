//! [`MonitoredResponse`]: the future of the actix middleware, holding the request's guard
//! until the inner service answers.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::HttpMessage;
use pin_project_lite::pin_project;

use super::body::MonitoredBody;
use super::helpers::classify;
use crate::classify::ClassifyOutcome;
use crate::tower::LatencyEnd;
use crate::{InFlight, Prediction};

pin_project! {
    /// The future of [`InferenceMonitorMiddleware`].
    ///
    /// It holds the request's guard until the inner service answers, then hands it to the
    /// [`MonitoredBody`] (or records at once when the body is empty, the inner service failed,
    /// or [`LatencyEnd::Headers`] is set). Dropped before then, the request counts as
    /// `cancelled`; dropped by a panic, as `server_error`.
    pub struct MonitoredResponse<F, C> {
        #[pin]
        pub(super) inner: F,
        pub(super) state: Option<(InFlight, C)>,
        pub(super) latency: LatencyEnd,
    }
}

impl<F, C> fmt::Debug for MonitoredResponse<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MonitoredResponse")
            .field("guard", &self.state.as_ref().map(|(g, _)| g))
            .field("latency", &self.latency)
            .finish_non_exhaustive()
    }
}

impl<F, C, B> Future for MonitoredResponse<F, C>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
    B: MessageBody,
    C: ClassifyOutcome,
{
    type Output = Result<ServiceResponse<MonitoredBody<B>>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let Some((mut guard, classifier)) = this.state.take() else {
            // Polled again after completion: pass through, nothing left to record.
            return Poll::Ready(result.map(|res| res.map_body(|_, b| MonitoredBody::untracked(b))));
        };
        match result {
            Ok(response) => {
                let outcome = classify(&classifier, response.status());
                report_label(&response, &mut guard);
                let ends_now = *this.latency == LatencyEnd::Headers
                    || response.response().body().size().is_eof();
                Poll::Ready(Ok(response.map_body(|_, body| {
                    if ends_now {
                        guard.finish(outcome);
                        MonitoredBody::untracked(body)
                    } else {
                        MonitoredBody::tracked(body, guard, outcome)
                    }
                })))
            }
            Err(error) => {
                guard.finish(classify(
                    &classifier,
                    error.as_response_error().status_code(),
                ));
                Poll::Ready(Err(error))
            }
        }
    }
}

/// Reports the [`Prediction`] of a response to its guard: the one in the response's extensions,
/// or else the one in its request's.
fn report_label<B>(response: &ServiceResponse<B>, guard: &mut InFlight) {
    if let Some(prediction) = response.response().extensions().get::<Prediction>() {
        guard.predicted(prediction.label());
        return;
    }
    if let Some(prediction) = response.request().extensions().get::<Prediction>() {
        guard.predicted(prediction.label());
    }
}
