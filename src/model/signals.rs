//! The opt-in model signals: stage timing, batch sizes, prediction confidence, model identity
//! and load time.
//!
//! Each is registered with the recorder the first time it is used for a model (or with the
//! model, at zero, when declared with [`MonitorBuilder::signals`](crate::MonitorBuilder::signals)),
//! so a service that never uses one has none of its series and pays nothing for it. Recording
//! after that is one atomic operation per value, without allocation or lock.
//!
//! From a request, the handle is a [`Signals`]: from [`InFlight::signals`](crate::InFlight::signals),
//! from [`ModelMonitor::signals`](crate::ModelMonitor::signals), or — in a handler behind the
//! tower layer of a monitor built with
//! [`request_signals`](crate::MonitorBuilder::request_signals) — from the request's extensions:
//!
//! ```
//! use axum::{routing::post, Extension, Json, Router};
//! use inference_monitor::{InferenceMonitorLayer, Monitor, Prediction, Signals, Stage};
//!
//! async fn predict(Extension(signals): Extension<Signals>) -> (Prediction, Json<f64>) {
//!     signals.queue_wait(); // time since the layer saw the request
//!     let features = {
//!         let _t = signals.time(Stage::Preprocess);
//!         [0.2, 0.7]
//!     };
//!     let p = {
//!         let _t = signals.time(Stage::Predict);
//!         features.iter().sum::<f64>() / 2.0
//!     };
//!     signals.confidence(p.max(1.0 - p));
//!     (Prediction::new(if p >= 0.5 { "approved" } else { "rejected" }), Json(p))
//! }
//!
//! let monitor = Monitor::builder().request_signals(true).build()?;
//! let app: Router = Router::new()
//!     .route("/predict", post(predict))
//!     .layer(InferenceMonitorLayer::for_model(monitor.model("loan")));
//! # Ok::<(), inference_monitor::ConfigError>(())
//! ```

use std::fmt;
use std::time::Duration;

use super::shared::ModelShared;
use super::stage::Stage;

/// One request's (or one model's) handle on the opt-in signals: stage timing, batch sizes,
/// confidence. Cheap to clone (a pointer and a clock reading); `Send` and `Sync`.
///
/// Get it from [`InFlight::signals`](crate::InFlight::signals) (its start is the request's
/// start), [`ModelMonitor::signals`](crate::ModelMonitor::signals) (its start is that call), or
/// from the request's extensions behind the tower layer (see
/// [`MonitorBuilder::request_signals`](crate::MonitorBuilder::request_signals)).
///
/// ```
/// use std::time::Duration;
/// use inference_monitor::{ModelMonitor, Stage};
/// # let recorder = inference_monitor::testing::TestRecorder::new();
/// # let _local = recorder.local();
///
/// let loan = ModelMonitor::new("loan");
/// let signals = loan.signals();
/// signals.record(Stage::Queue, Duration::from_millis(3));
/// {
///     let _timer = signals.time(Stage::Predict); // recorded when dropped
/// }
/// signals.confidence(0.97);
/// signals.predicted_batch(["approved", "rejected", "approved"]);
///
/// let stage = |s| recorder.histogram("inference_stage_duration_seconds", &[("model", "loan"), ("stage", s)]);
/// assert_eq!(stage("queue"), Some(vec![0.003]));
/// assert_eq!(stage("predict").map(|v| v.len()), Some(1));
/// assert_eq!(stage("postprocess"), Some(vec![])); // registered with the others, at zero
/// assert_eq!(recorder.histogram("inference_prediction_confidence", &[("model", "loan")]), Some(vec![0.97]));
/// assert_eq!(recorder.histogram("inference_batch_size", &[("model", "loan")]), Some(vec![3.0]));
/// assert_eq!(recorder.counter("inference_predictions_total", &[("model", "loan"), ("label", "approved")]), Some(2));
/// ```
#[derive(Clone)]
pub struct Signals {
    model: &'static ModelShared,
    start: u64,
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signals")
            .field("model", &self.model_name())
            .field("elapsed", &self.elapsed())
            .finish()
    }
}

impl Signals {
    #[inline]
    pub(crate) fn new(model: &'static ModelShared, start: u64) -> Self {
        Self { model, start }
    }

    fn shared(&self) -> &ModelShared {
        self.model
    }

    /// The name of the model (its `model` label).
    #[must_use]
    pub fn model_name(&self) -> &str {
        self.shared().name()
    }

    /// Time since this handle's start: the request's start for a handle from a request, the
    /// call of [`ModelMonitor::signals`](crate::ModelMonitor::signals) otherwise.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        let clock = self.shared().clock();
        clock.between(self.start, clock.now())
    }

    /// Records `took` as one observation of `stage`.
    #[inline]
    pub fn record(&self, stage: Stage, took: Duration) {
        self.shared().record_stage(stage, took);
    }

    /// Times `stage` from now until the returned guard is dropped (or
    /// [`stop`](StageTimer::stop)ped).
    #[must_use = "the stage is timed until the guard is dropped"]
    #[inline]
    pub fn time(&self, stage: Stage) -> StageTimer<'_> {
        StageTimer {
            signals: self,
            stage,
            start: self.shared().clock().now(),
            done: false,
        }
    }

    /// Records [`Stage::Queue`] as the time since this handle's start: call it first thing in
    /// a handler to record how long the request waited between the layer and the handler.
    /// Returns the recorded time.
    #[allow(clippy::must_use_candidate)]
    #[inline]
    pub fn queue_wait(&self) -> Duration {
        let took = self.elapsed();
        self.record(Stage::Queue, took);
        took
    }

    /// Records the confidence (the probability, `0..=1`) the model gave its answer in
    /// `inference_prediction_confidence{model}`.
    ///
    /// A value outside `0..=1`, NaN included, is not a probability: it is dropped, and the
    /// histogram stays as it was. Clamp it yourself if your model's rounding can step past 1.
    #[inline]
    pub fn confidence(&self, confidence: f64) {
        self.shared().record_confidence(confidence);
    }

    /// Records the size of one batched model call in `inference_batch_size{model}`.
    #[inline]
    pub fn batch_size(&self, size: usize) {
        self.shared().record_batch_size(size);
    }

    /// Counts each label of a batched call in `inference_predictions_total{model,label}` (each
    /// through the label limiter, as [`InFlight::predicted`](crate::InFlight::predicted)), now,
    /// and records the number of labels once in `inference_batch_size{model}`. Returns that
    /// number.
    #[allow(clippy::must_use_candidate)]
    pub fn predicted_batch<'a>(&self, labels: impl IntoIterator<Item = &'a str>) -> usize {
        self.shared().predicted_batch(labels)
    }
}

/// Times one [`Stage`] until dropped. Made by [`Signals::time`].
#[must_use = "the stage is timed until the guard is dropped"]
pub struct StageTimer<'a> {
    signals: &'a Signals,
    stage: Stage,
    start: u64,
    done: bool,
}

impl fmt::Debug for StageTimer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StageTimer")
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

impl StageTimer<'_> {
    /// Records the stage now and returns its duration.
    #[allow(clippy::must_use_candidate)]
    pub fn stop(mut self) -> Duration {
        self.finish()
    }

    fn finish(&mut self) -> Duration {
        let clock = self.signals.shared().clock();
        let took = clock.between(self.start, clock.now());
        if !self.done {
            self.done = true;
            self.signals.record(self.stage, took);
        }
        took
    }
}

impl Drop for StageTimer<'_> {
    fn drop(&mut self) {
        self.finish();
    }
}
