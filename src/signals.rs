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

use std::borrow::Cow;
use std::fmt;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use metrics::{Gauge, Histogram, Label, Unit};

use crate::cardinality::truncate;
use crate::monitor::{gauge, histogram, key_name, ModelShared};
use crate::names;
use crate::{ConfigError, ModelMonitor};

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

    const fn index(self) -> usize {
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

/// The most extra labels [`ModelMonitor::info_with`] accepts.
pub const MAX_INFO_LABELS: usize = 8;

/// One model's opt-in handles, each registered on first use.
#[derive(Default)]
pub(crate) struct ModelSignals {
    stages: OnceLock<[Histogram; 4]>,
    batch: OnceLock<Histogram>,
    confidence: OnceLock<Histogram>,
    load: OnceLock<Gauge>,
    /// The info series registered so far (their label pairs), and which one is current.
    info: Mutex<InfoSeries>,
}

#[derive(Default)]
struct InfoSeries {
    series: Vec<(Vec<(String, String)>, Gauge)>,
    current: Option<usize>,
}

impl ModelShared {
    fn stages(&self) -> &[Histogram; 4] {
        self.signals.stages.get_or_init(|| {
            let names = self.monitor().names();
            describe_histogram(
                &names.stage_duration_seconds,
                Some(Unit::Seconds),
                names::HELP_STAGE_DURATION,
            );
            Stage::ALL.map(|stage| {
                histogram(
                    &names.stage_duration_seconds,
                    vec![
                        self.model_label(),
                        Label::new(names::LABEL_STAGE, stage.as_str()),
                    ],
                )
            })
        })
    }

    fn batch(&self) -> &Histogram {
        self.signals.batch.get_or_init(|| {
            let names = self.monitor().names();
            describe_histogram(&names.batch_size, Some(Unit::Count), names::HELP_BATCH_SIZE);
            histogram(&names.batch_size, vec![self.model_label()])
        })
    }

    fn confidence(&self) -> &Histogram {
        self.signals.confidence.get_or_init(|| {
            let names = self.monitor().names();
            describe_histogram(
                &names.prediction_confidence,
                None,
                names::HELP_PREDICTION_CONFIDENCE,
            );
            histogram(&names.prediction_confidence, vec![self.model_label()])
        })
    }

    fn model_label(&self) -> Label {
        Label::new(names::LABEL_MODEL, self.name().to_owned())
    }

    /// Registers the declared signals at zero.
    pub(crate) fn declare(&self, signal: Signal) {
        crate::containment::contain(|| match signal {
            Signal::Stages => drop(self.stages()),
            Signal::BatchSize => drop(self.batch()),
            Signal::Confidence => drop(self.confidence()),
        });
    }

    #[inline]
    pub(crate) fn record_stage(&self, stage: Stage, took: Duration) {
        let seconds = took.as_secs_f64();
        crate::containment::contain(|| self.stages()[stage.index()].record(seconds));
    }

    #[inline]
    pub(crate) fn record_batch_size(&self, size: usize) {
        #[allow(clippy::cast_precision_loss)] // exact up to 2^53 predictions
        let size = size as f64;
        crate::containment::contain(|| self.batch().record(size));
    }

    #[inline]
    pub(crate) fn record_confidence(&self, confidence: f64) {
        if (0.0..=1.0).contains(&confidence) {
            crate::containment::contain(|| self.confidence().record(confidence));
        }
    }

    /// Counts one prediction of `label` now (through the label limiter).
    #[inline]
    pub(crate) fn count_prediction(&self, label: &str) {
        crate::containment::contain(|| {
            if let Some(counter) = self.labels().entry(self.label_index(label)) {
                counter.increment(1);
            }
        });
    }

    /// Counts every label of a batch and records its size.
    pub(crate) fn predicted_batch<'a>(&self, labels: impl IntoIterator<Item = &'a str>) -> usize {
        let mut size = 0;
        for label in labels {
            self.count_prediction(label);
            size += 1;
        }
        self.record_batch_size(size);
        size
    }
}

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

impl ModelMonitor {
    /// A handle on this model's opt-in signals, started now (see [`Signals`]).
    #[must_use]
    pub fn signals(&self) -> Signals {
        let shared = self.shared();
        Signals::new(shared, shared.clock().now())
    }

    /// Records the confidence of one prediction; see [`Signals::confidence`].
    pub fn confidence(&self, confidence: f64) {
        self.shared().record_confidence(confidence);
    }

    /// Records the size of one batched call; see [`Signals::batch_size`].
    pub fn batch_size(&self, size: usize) {
        self.shared().record_batch_size(size);
    }

    /// Records `stage` directly; see [`Signals::record`].
    pub fn stage(&self, stage: Stage, took: Duration) {
        self.shared().record_stage(stage, took);
    }

    /// Sets `inference_model_info{model, version} 1`: which version of the model is served.
    ///
    /// Calling it again with another version sets the previous series to 0 and the new one to
    /// 1, so `inference_model_info == 1` always names the current version and a version change
    /// shows as a step. The version is cut to the monitor's
    /// [`max_label_len`](crate::MonitorBuilder::max_label_len); past
    /// [`max_labels`](crate::MonitorBuilder::max_labels) distinct label sets per model, the
    /// version is recorded as `other`.
    ///
    /// ```
    /// use inference_monitor::ModelMonitor;
    /// # let recorder = inference_monitor::testing::TestRecorder::new();
    /// # let _local = recorder.local();
    /// let loan = ModelMonitor::new("loan");
    /// loan.info("logreg-v1");
    /// assert_eq!(recorder.gauge("inference_model_info", &[("model", "loan"), ("version", "logreg-v1")]), Some(1.0));
    /// ```
    pub fn info(&self, version: &str) {
        // No extra labels: nothing to validate.
        let _ = self.info_with(version, &[]);
    }

    /// [`info`](Self::info) with extra labels such as the framework, the training run or the
    /// quantization: `inference_model_info{model, version, extra...} 1`.
    ///
    /// ## Errors
    ///
    /// [`ConfigError::InvalidInfoLabel`] when there are more than [`MAX_INFO_LABELS`] extras,
    /// a name is not a Prometheus label name, starts with `__`, is `model` or `version`, or
    /// appears twice. Nothing is recorded then.
    ///
    /// ```
    /// use inference_monitor::ModelMonitor;
    /// # let recorder = inference_monitor::testing::TestRecorder::new();
    /// # let _local = recorder.local();
    /// let loan = ModelMonitor::new("loan");
    /// loan.info_with("v2", &[("framework", "onnx")])?;
    /// assert_eq!(
    ///     recorder.gauge("inference_model_info", &[("model", "loan"), ("version", "v2"), ("framework", "onnx")]),
    ///     Some(1.0)
    /// );
    /// assert!(loan.info_with("v2", &[("model", "x")]).is_err());
    /// # Ok::<(), inference_monitor::ConfigError>(())
    /// ```
    pub fn info_with(&self, version: &str, extra: &[(&str, &str)]) -> Result<(), ConfigError> {
        validate_info_labels(extra)?;
        let shared = self.shared();
        let monitor = shared.monitor();
        let max_len = monitor.max_label_len();
        let mut pairs = vec![(
            names::LABEL_VERSION.to_owned(),
            truncate(version, max_len).to_owned(),
        )];
        pairs.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), truncate(v, max_len).to_owned())),
        );
        let mut info = shared
            .signals
            .info
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let found = info.series.iter().position(|(p, _)| *p == pairs);
        let index = match found {
            Some(i) => i,
            None => {
                if info.series.len() >= monitor.max_labels() {
                    pairs = vec![(
                        names::LABEL_VERSION.to_owned(),
                        names::OVERFLOW_VALUE.to_owned(),
                    )];
                }
                match info.series.iter().position(|(p, _)| *p == pairs) {
                    Some(i) => i,
                    None => {
                        let names = monitor.names();
                        let mut labels = vec![shared.model_label()];
                        labels.extend(pairs.iter().map(|(k, v)| Label::new(k.clone(), v.clone())));
                        let g = crate::containment::contain(|| {
                            metrics::with_recorder(|r| {
                                r.describe_gauge(
                                    key_name(&names.model_info),
                                    None,
                                    names::HELP_MODEL_INFO.into(),
                                );
                            });
                            gauge(&names.model_info, labels)
                        });
                        let Some(g) = g else { return Ok(()) };
                        info.series.push((pairs, g));
                        info.series.len() - 1
                    }
                }
            }
        };
        if let Some(previous) = info.current.filter(|p| *p != index) {
            let g = &info.series[previous].1;
            crate::containment::contain(|| g.set(0.0));
        }
        let g = &info.series[index].1;
        crate::containment::contain(|| g.set(1.0));
        info.current = Some(index);
        Ok(())
    }

    /// Sets `inference_model_load_duration_seconds{model}` to how long loading the model took.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use inference_monitor::ModelMonitor;
    /// # let recorder = inference_monitor::testing::TestRecorder::new();
    /// # let _local = recorder.local();
    /// let loan = ModelMonitor::new("loan");
    /// let started = Instant::now();
    /// // ... load the weights ...
    /// loan.loaded_in(started.elapsed());
    /// loan.loaded_in(Duration::from_millis(1500));
    /// assert_eq!(recorder.gauge("inference_model_load_duration_seconds", &[("model", "loan")]), Some(1.5));
    /// ```
    pub fn loaded_in(&self, took: Duration) {
        let shared = self.shared();
        let g = shared.signals.load.get_or_init(|| {
            let names = shared.monitor().names();
            crate::containment::contain(|| {
                metrics::with_recorder(|r| {
                    r.describe_gauge(
                        key_name(&names.model_load_duration_seconds),
                        Some(Unit::Seconds),
                        names::HELP_MODEL_LOAD_DURATION.into(),
                    );
                });
            });
            gauge(
                &names.model_load_duration_seconds,
                vec![shared.model_label()],
            )
        });
        let seconds = took.as_secs_f64();
        crate::containment::contain(|| g.set(seconds));
    }
}

/// Gives the current recorder the HELP text and unit of histogram `name`.
#[allow(clippy::ptr_arg)] // cloned: a static name stays a borrow
fn describe_histogram(name: &Cow<'static, str>, unit: Option<Unit>, help: &'static str) {
    crate::containment::contain(|| {
        metrics::with_recorder(|r| r.describe_histogram(key_name(name), unit, help.into()));
    });
}

fn validate_info_labels(extra: &[(&str, &str)]) -> Result<(), ConfigError> {
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
