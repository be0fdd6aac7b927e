//! [`Observed`]: a future monitored as one request, from [`ModelMonitor::observe_future`](crate::ModelMonitor::observe_future).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::guard::poll_recording_panics;
use crate::InFlight;

pin_project! {
    /// A future monitored as one request.
    ///
    /// When the inner future completes, the report closure receives its output and the guard
    /// and finishes it. Dropped before completion, the request counts as `cancelled`; a panic
    /// while polling counts as `server_error`.
    ///
    /// ```
    /// use inference_monitor::{ModelMonitor, Outcome};
    /// # let recorder = inference_monitor::testing::TestRecorder::new();
    /// # let _local = recorder.local();
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// let loan = ModelMonitor::new("loan");
    /// let answer: Result<&str, String> = loan
    ///     .observe_future(async { Ok("approved") }, |out, mut request| {
    ///         if let Ok(label) = out {
    ///             request.predicted(label);
    ///         }
    ///         request.finish(Outcome::of_result(out));
    ///     })
    ///     .await;
    /// assert_eq!(answer, Ok("approved"));
    /// # });
    /// # assert_eq!(recorder.counter("inference_requests_total", &[("model", "loan"), ("outcome", "success")]), Some(1));
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Observed<F, R> {
        #[pin]
        future: F,
        state: Option<(InFlight, R)>,
    }
}

impl<F, R> Observed<F, R> {
    pub(crate) fn new(future: F, guard: InFlight, report: R) -> Self {
        Self {
            future,
            state: Some((guard, report)),
        }
    }
}

impl<F, R> fmt::Debug for Observed<F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observed")
            .field("guard", &self.state.as_ref().map(|(g, _)| g))
            .finish_non_exhaustive()
    }
}

impl<F, R> Future for Observed<F, R>
where
    F: Future,
    R: FnOnce(&F::Output, InFlight),
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = {
            let future = this.future;
            std::task::ready!(poll_recording_panics(this.state, || future.poll(cx)))
        };
        if let Some((guard, report)) = this.state.take() {
            report(&output, guard);
        }
        Poll::Ready(output)
    }
}
