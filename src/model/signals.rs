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
use crate::names;
use crate::ConfigError;

/// A stage of one inference request, the `stage` label of `inference_stage_duration_seconds`.
///
/// The set is fixed, so the label is bounded: four series per model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Waiting before the work starts: in a queue, for a batch to fill, for a worker.
    Queue,
    /// Turning the request into model input: parsing, validation, feature engineering,
    /// tokenization.
    Preprocess,
    /// The model call itself.
    Predict,
    /// Turning the model output into the answer: decoding, thresholds, serialization.
    Postprocess,
}

impl Stage {
    /// Every stage, in the order a request goes through them.
    pub const ALL: [Stage; 4] = [
        Stage::Queue,
        Stage::Preprocess,
        Stage::Predict,
        Stage::Postprocess,
    ];

    /// The value of the `stage` label: `queue`, `preprocess`, `predict` or `postprocess`.
    ///
    /// ```
    /// assert_eq!(inference_monitor::Stage::Preprocess.as_str(), "preprocess");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Queue => "queue",
            Stage::Preprocess => "preprocess",
            Stage::Predict => "predict",
            Stage::Postprocess => "postprocess",
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An opt-in signal whose series can be created at zero with each model, so `rate()` and
/// `histogram_quantile()` work from the first scrape. See
/// [`MonitorBuilder::signals`](crate::MonitorBuilder::signals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// `inference_stage_duration_seconds{model,stage}`, the four stages.
    Stages,
    /// `inference_batch_size{model}`.
    BatchSize,
    /// `inference_prediction_confidence{model}`.
    Confidence,
}

/// The most extra labels [`ModelMonitor::info_with`](crate::ModelMonitor::info_with) accepts.
pub const MAX_INFO_LABELS: usize = 8;

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

/// Checks the extra labels of [`ModelMonitor::info_with`](super::ModelMonitor::info_with).
pub(crate) fn validate_info_labels(extra: &[(&str, &str)]) -> Result<(), ConfigError> {
    if extra.len() > MAX_INFO_LABELS {
        return Err(ConfigError::InvalidInfoLabel(format!(
            "{} extra labels, at most {MAX_INFO_LABELS} are allowed",
            extra.len()
        )));
    }
    for (i, (name, _)) in extra.iter().enumerate() {
        let valid = {
            let mut chars = name.chars();
            matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        let why = if !valid {
            "is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)"
        } else if name.starts_with("__") {
            "starts with `__`, which Prometheus keeps for itself"
        } else if *name == names::LABEL_MODEL || *name == names::LABEL_VERSION {
            "is already set by the crate"
        } else if extra[..i].iter().any(|(n, _)| n == name) {
            "is given twice"
        } else {
            continue;
        };
        return Err(ConfigError::InvalidInfoLabel(format!("{name:?} {why}")));
    }
    Ok(())
}
