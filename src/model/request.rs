//! One request: the in-flight guard ([`InFlight`]), which records it exactly once, when
//! finished or when dropped, and a future monitored as one request ([`Observed`]).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::contain::contain;
use super::mark::{self, Mark};
use super::shared::{Handle, ModelShared};
use super::signals::Signals;
use super::stage::Stage;
use crate::fast::Stripe;
use crate::Outcome;

/// No label reported.
pub(crate) const NO_LABEL: u32 = u32::MAX;

/// One request in flight, from [`ModelMonitor::start`](crate::ModelMonitor::start).
///
/// [`finish`](Self::finish) records the request count, its latency and (if one was reported)
/// its predicted label, and lowers the in-progress gauge. If the guard is dropped unfinished —
/// the future or response body holding it was dropped, or a panic unwinds through it — it
/// records the request all the same: as [`Outcome::ServerError`] while panicking, as
/// [`Outcome::Cancelled`] otherwise. So every started request is counted exactly once and the
/// gauge always comes back.
///
/// ```
/// use inference_monitor::{ModelMonitor, Outcome};
/// # let recorder = inference_monitor::testing::TestRecorder::new();
/// # let _local = recorder.local();
/// let loan = ModelMonitor::new("loan");
/// drop(loan.start()); // the caller went away
/// assert_eq!(recorder.counter("inference_requests_total", &[("model", "loan"), ("outcome", "cancelled")]), Some(1));
/// ```
#[must_use = "the request is recorded when the guard is finished or dropped"]
pub struct InFlight {
    model: &'static Handle,
    /// The part of the model this request counts itself in (its thread's when it started).
    stripe: Stripe,
    /// A raw reading of the model's clock.
    start: u64,
    /// The index of the reported label in the model's limiter, or [`NO_LABEL`].
    label: u32,
    done: bool,
}

impl fmt::Debug for InFlight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InFlight")
            .field("model", &self.model_name())
            .field("elapsed", &self.elapsed())
            .field("has_label", &(self.label != NO_LABEL))
            .finish()
    }
}

impl InFlight {
    #[inline]
    pub(crate) fn new(model: &'static Handle, stripe: Stripe, start: u64) -> Self {
        Self {
            model,
            stripe,
            start,
            label: NO_LABEL,
            done: false,
        }
    }

    /// Reports the predicted label (class) of this request. It is counted in the predictions
    /// counter when the request is recorded. The value passes the model's label limiter; a
    /// second call replaces the first.
    #[inline]
    pub fn predicted(&mut self, label: &str) -> &mut Self {
        let model = self.model.shared();
        if let Some(index) = contain(|| model.label_index(label)) {
            self.label = index;
        }
        self
    }

    /// Reports the predicted label and the confidence the model gave it: [`predicted`](Self::predicted)
    /// and [`Signals::confidence`] (a value outside `0..=1` is dropped).
    #[deprecated(
        since = "0.2.0",
        note = "use `request.predicted(label)` and `request.signals().confidence(c)`"
    )]
    #[inline]
    pub fn predicted_with_confidence(&mut self, label: &str, confidence: f64) -> &mut Self {
        self.model.shared().record_confidence(confidence);
        self.predicted(label)
    }

    /// Reports a batched call's predictions; see [`Signals::predicted_batch`].
    #[deprecated(
        since = "0.2.0",
        note = "use `request.signals().predicted_batch(labels)`"
    )]
    #[allow(clippy::must_use_candidate)]
    pub fn predicted_batch<'a>(&mut self, labels: impl IntoIterator<Item = &'a str>) -> usize {
        self.model.shared().predicted_batch(labels)
    }

    /// A handle on this request's model signals, started when the request started (so
    /// [`Signals::queue_wait`] measures from there). Costs nothing: a copy of a pointer.
    #[must_use]
    pub fn signals(&self) -> Signals {
        Signals::new(self.model.shared(), self.start)
    }

    /// Records `took` as one observation of `stage` for this request's model.
    #[deprecated(since = "0.2.0", note = "use `request.signals().record(stage, took)`")]
    #[inline]
    pub fn stage(&self, stage: Stage, took: Duration) {
        self.model.shared().record_stage(stage, took);
    }

    /// Records the confidence of this request's answer; see [`Signals::confidence`].
    #[deprecated(since = "0.2.0", note = "use `request.signals().confidence(c)`")]
    #[inline]
    pub fn confidence(&self, confidence: f64) {
        self.model.shared().record_confidence(confidence);
    }

    /// Whether the tower layer should put [`signals`](Self::signals) in the request's
    /// extensions.
    #[inline]
    pub(crate) fn wants_request_signals(&self) -> bool {
        self.model.request_signals()
    }

    /// Time since the request started.
    #[must_use]
    #[inline]
    pub fn elapsed(&self) -> Duration {
        let clock = self.model.clock();
        clock.between(self.start, clock.now())
    }

    /// The name of the model this request belongs to (its `model` label).
    #[must_use]
    pub fn model_name(&self) -> &str {
        self.model.shared().name()
    }

    /// The model's state and the raw clock reading the request started at.
    pub(crate) fn model_and_start(&self) -> (&ModelShared, u64) {
        (self.model.shared(), self.start)
    }

    /// Records the request with `outcome`.
    #[inline]
    pub fn finish(mut self, outcome: Outcome) {
        self.record(outcome);
    }

    /// Where this request can be marked after the fact, from its request body: the client
    /// aborted it or sent a malformed one (see [`finish_unless_marked`](Self::finish_unless_marked)).
    pub(crate) fn mark(&self) -> Mark {
        Mark::new(self.model.shared().marks(), self.token())
    }

    /// Records the request with `outcome`; a `server_error` gives way to the mark of a request
    /// whose client aborted it (`cancelled`) or sent a malformed one (`client_error`), since the
    /// server's failure then followed from the client's. Returns the outcome recorded.
    #[inline]
    pub(crate) fn finish_unless_marked(self, outcome: Outcome) -> Outcome {
        let outcome = if outcome == Outcome::ServerError {
            self.marked().unwrap_or(outcome)
        } else {
            outcome
        };
        self.finish(outcome);
        outcome
    }

    /// The mark of this request, if it has one (read once).
    #[cold]
    fn marked(&self) -> Option<Outcome> {
        let marks = self.model.shared().marks_if_any()?;
        Mark::new(marks, self.token()).take()
    }

    /// This request's key in its model's marks.
    #[inline]
    fn token(&self) -> u64 {
        mark::token(self.start, self.stripe.place())
    }

    #[inline]
    fn record(&mut self, outcome: Outcome) {
        if self.done {
            return;
        }
        self.done = true;
        let took = self.elapsed();
        let (model, stripe, label) = (self.model, self.stripe, self.label);
        contain(|| model.record(stripe, outcome, took, label));
    }
}

impl Drop for InFlight {
    #[inline]
    fn drop(&mut self) {
        if !self.done {
            let outcome = if std::thread::panicking() {
                Outcome::ServerError
            } else {
                Outcome::Cancelled
            };
            self.record(outcome);
        }
    }
}

/// Put on the stack around a poll of the monitored future or body, and forgotten when the
/// poll returns: its `Drop` runs only while that poll's panic unwinds, and records the request
/// as `server_error` right there. Use [`poll_recording_panics`].
///
/// Without it the guard would record only when the future is dropped. A catch-panic layer
/// between the monitor and the handler (tower-http's `CatchPanic`) keeps the panicked future
/// and drops it after the unwind, when nothing shows a panic any more, and the request would
/// count as `cancelled`.
struct FinishOnUnwind<'a, T>(&'a mut Option<(InFlight, T)>);

impl<T> Drop for FinishOnUnwind<'_, T> {
    #[cold]
    fn drop(&mut self) {
        if let Some((guard, _)) = self.0.take() {
            guard.finish(Outcome::ServerError);
        }
    }
}

/// Runs `poll` (a poll of the inner future or body); if it panics, the request held in `state`
/// is recorded as `server_error` while the panic unwinds. Costs nothing when it returns.
#[inline]
pub(crate) fn poll_recording_panics<T, R>(
    state: &mut Option<(InFlight, T)>,
    poll: impl FnOnce() -> R,
) -> R {
    let bomb = FinishOnUnwind(state);
    let result = poll();
    std::mem::forget(bomb);
    result
}

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
