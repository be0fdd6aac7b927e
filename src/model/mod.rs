//! The core: [`Monitor`] (configuration and the bounded set of models), [`ModelMonitor`] (one
//! model's metrics, registered once per recorder), [`InFlight`] (one request) and the opt-in
//! [`Signals`]. Every adapter (the tower layer, the macros, framework glue) records through
//! here and nowhere else.
//!
//! The core imports no exporter, no tower, no `http` and no framework: it speaks to the
//! `metrics` facade ([`handles`]) and, when the recorder in effect is the crate's own, to the
//! fast path through its seam ([`crate::fast`]).
//!
//! This file holds the configuration every model hangs off, [`Monitor`] and its builder. The
//! files below it depend one way, with no circle among them: `clock`, `contain`, `handles`,
//! `limiter`, `mark`, `stage` (leaves) <- `shared` <- `signals`, `request`, `register` <- `model`.
//! (Each may name [`Monitor`], from this file, as Rust children name their parent's types.)

pub(crate) mod clock;
pub(crate) mod contain;
pub(crate) mod handles;
pub mod limiter;
pub(crate) mod mark;
// `model/model.rs` holds `ModelMonitor`, the type the folder is named for.
#[allow(clippy::module_inception)]
mod model;
pub(crate) mod register;
mod request;
pub(crate) mod shared;
mod signals;
mod stage;

pub use contain::recorder_panics;
pub use model::ModelMonitor;
pub use request::{InFlight, Observed};
pub use signals::{Signals, StageTimer};
pub use stage::{Signal, Stage};

pub(crate) use request::poll_recording_panics;

use std::fmt;
use std::sync::Arc;

use metrics::{Counter, Label, SharedString};

use self::handles::counter;
use self::limiter::{truncate, Limiter, DEFAULT_MAX_VALUES, DEFAULT_MAX_VALUE_LEN};
use crate::names::{
    self, MetricNames, DEFAULT_BATCH_SIZE_BUCKETS, DEFAULT_CONFIDENCE_BUCKETS,
    DEFAULT_LATENCY_BUCKETS,
};
use crate::ConfigError;

/// The configuration shared by the models of one metric family, and the bounded set of those
/// models.
///
/// Most services need only [`InferenceMonitorLayer::new`](crate::InferenceMonitorLayer::new) or
/// [`ModelMonitor::new`], which use `Monitor::default()`. Build one yourself to change names,
/// buckets or limits, or to pre-declare the labels a model can predict:
///
/// ```
/// use inference_monitor::Monitor;
///
/// let monitor = Monitor::builder()
///     .prefix("credit")
///     .buckets(&[0.001, 0.01, 0.1, 1.0])?
///     .max_labels(16)
///     .labels(["approved", "rejected"])
///     .build()?;
/// let loan = monitor.model("loan");
/// assert_eq!(loan.name(), "loan");
/// assert_eq!(monitor.names().requests_total, "credit_inference_requests_total");
/// # Ok::<(), inference_monitor::ConfigError>(())
/// ```
///
/// Handles are registered with the recorder that is current when a model (or a new label) is
/// first seen: install the exporter before building models. Cloning is cheap and shares the
/// models.
#[derive(Clone)]
pub struct Monitor {
    shared: Arc<MonitorShared>,
}

struct MonitorShared {
    /// The whole configuration as one string: models of equal configurations share their
    /// registration with a recorder (see `register`).
    key: Arc<str>,
    max_models: usize,
    names: MetricNames,
    buckets: Box<[f64]>,
    max_labels: usize,
    max_label_len: usize,
    labels: Box<[Box<str>]>,
    models: Limiter<ModelMonitor>,
    batch_buckets: Box<[f64]>,
    confidence_buckets: Box<[f64]>,
    declared: Box<[Signal]>,
    request_signals: bool,
}

impl fmt::Debug for Monitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor")
            .field("names", &self.shared.names)
            .field("buckets", &self.shared.buckets)
            .field("max_labels", &self.shared.max_labels)
            .field("max_label_len", &self.shared.max_label_len)
            .field("models", &self.shared.models.len())
            .field("signals", &self.shared.declared)
            .field("request_signals", &self.shared.request_signals)
            .finish()
    }
}

impl Default for Monitor {
    fn default() -> Self {
        MonitorBuilder::default()
            .build()
            .expect("the default configuration is valid")
    }
}

impl Monitor {
    /// A monitor with the default names, buckets and limits.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder to change names, buckets and limits.
    pub fn builder() -> MonitorBuilder {
        MonitorBuilder::default()
    }

    /// The monitor of the model called `name`, registering its metrics on first use.
    ///
    /// Model names are bounded like labels: past [`MonitorBuilder::max_models`] distinct names,
    /// every new name shares the model `other`, and names are cut to
    /// [`MonitorBuilder::max_label_len`] bytes.
    #[must_use]
    pub fn model(&self, name: &str) -> ModelMonitor {
        self.shared.models.get(name, |bounded| {
            ModelMonitor::from_handle(register::model(self, bounded))
        })
    }

    /// Starts a request of the model called `name` (bounded as by [`model`](Self::model)),
    /// borrowing the model instead of taking a reference to it: no shared count is touched.
    #[inline]
    pub(crate) fn start_request(&self, name: &str) -> InFlight {
        let models = &self.shared.models;
        let index = models.index(name, |bounded| {
            ModelMonitor::from_handle(register::model(self, bounded))
        });
        match models.entry(index) {
            Some(model) => model.start(),
            // Not reached: `index` fills the entry it returns.
            None => self.model(name).start(),
        }
    }

    /// The metric names of this monitor.
    #[must_use]
    pub fn names(&self) -> &MetricNames {
        &self.shared.names
    }

    /// The latency bucket boundaries, in seconds, that an exporter should use for this
    /// monitor's latency histogram.
    #[must_use]
    pub fn buckets(&self) -> &[f64] {
        &self.shared.buckets
    }

    /// The bucket boundaries of each histogram of this monitor, by metric name: the latency
    /// and stage duration histograms (both [`buckets`](Self::buckets)), the batch size and the
    /// confidence histograms, and the two streaming histograms (time to first token, time per
    /// output token: always [`DEFAULT_LATENCY_BUCKETS`](crate::names::DEFAULT_LATENCY_BUCKETS)). [`PrometheusExporter::monitor`](crate::exporter::prometheus::PrometheusExporter::monitor)
    /// configures them all; give them to any other exporter the same way.
    ///
    /// ```
    /// let monitor = inference_monitor::Monitor::new();
    /// let [latency, stages, batch, confidence, first_token, per_token] = monitor.histogram_buckets();
    /// assert_eq!(latency.0, "inference_request_latency_seconds");
    /// assert_eq!(stages.1, monitor.buckets());
    /// assert_eq!(batch.1, inference_monitor::names::DEFAULT_BATCH_SIZE_BUCKETS);
    /// assert_eq!(confidence.0, "inference_prediction_confidence");
    /// assert_eq!(first_token.0, "inference_time_to_first_token_seconds");
    /// assert_eq!(per_token.1, inference_monitor::names::DEFAULT_LATENCY_BUCKETS);
    /// ```
    #[must_use]
    pub fn histogram_buckets(&self) -> [(&str, &[f64]); 6] {
        let s = &self.shared;
        [
            (&s.names.request_latency_seconds, &s.buckets),
            (&s.names.stage_duration_seconds, &s.buckets),
            (&s.names.batch_size, &s.batch_buckets),
            (&s.names.prediction_confidence, &s.confidence_buckets),
            (
                &s.names.time_to_first_token_seconds,
                DEFAULT_LATENCY_BUCKETS,
            ),
            (
                &s.names.time_per_output_token_seconds,
                DEFAULT_LATENCY_BUCKETS,
            ),
        ]
    }

    /// Whether the tower layer and the actix-web middleware put a [`Signals`](crate::Signals)
    /// handle in each request's extensions (see [`MonitorBuilder::request_signals`]).
    #[must_use]
    pub fn has_request_signals(&self) -> bool {
        self.shared.request_signals
    }

    /// The labels given in advance ([`MonitorBuilder::labels`]), bounded.
    pub(crate) fn preset_labels(&self) -> &[Box<str>] {
        &self.shared.labels
    }

    /// The signals declared to be registered with each model ([`MonitorBuilder::signals`]).
    pub(crate) fn declared(&self) -> &[Signal] {
        &self.shared.declared
    }

    pub(crate) fn max_labels(&self) -> usize {
        self.shared.max_labels
    }

    pub(crate) fn max_label_len(&self) -> usize {
        self.shared.max_label_len
    }

    /// The configuration as one string, equal for equal configurations.
    pub(crate) fn config_key(&self) -> &Arc<str> {
        &self.shared.key
    }

    /// The monitor's [`MonitorBuilder::max_models`].
    pub(crate) fn max_models(&self) -> usize {
        self.shared.max_models
    }

    /// Number of distinct model names admitted so far (the `other` model not included).
    #[must_use]
    pub fn model_count(&self) -> usize {
        self.shared.models.len()
    }
}

/// Builds a [`Monitor`]. Setters consume the builder; see each for its default.
#[derive(Debug, Clone)]
#[must_use]
pub struct MonitorBuilder {
    names: MetricNames,
    buckets: Vec<f64>,
    max_models: usize,
    max_labels: usize,
    max_label_len: usize,
    labels: Vec<String>,
    batch_buckets: Vec<f64>,
    confidence_buckets: Vec<f64>,
    declared: Vec<Signal>,
    request_signals: bool,
}

impl Default for MonitorBuilder {
    fn default() -> Self {
        Self {
            names: MetricNames::default(),
            buckets: DEFAULT_LATENCY_BUCKETS.to_vec(),
            max_models: DEFAULT_MAX_VALUES,
            max_labels: DEFAULT_MAX_VALUES,
            max_label_len: DEFAULT_MAX_VALUE_LEN,
            labels: Vec::new(),
            batch_buckets: DEFAULT_BATCH_SIZE_BUCKETS.to_vec(),
            confidence_buckets: DEFAULT_CONFIDENCE_BUCKETS.to_vec(),
            declared: Vec::new(),
            request_signals: false,
        }
    }
}

impl MonitorBuilder {
    /// Puts `prefix` and `_` in front of every default name (see [`MetricNames::with_prefix`]).
    ///
    /// Defaults to no prefix.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.names = MetricNames::with_prefix(prefix);
        self
    }

    /// Sets every name at once.
    ///
    /// Defaults to [`MetricNames::default`], the seed's four names.
    pub fn names(mut self, names: MetricNames) -> Self {
        self.names = names;
        self
    }

    /// Sets the latency bucket boundaries, in seconds.
    ///
    /// Defaults to [`DEFAULT_LATENCY_BUCKETS`](crate::names::DEFAULT_LATENCY_BUCKETS).
    ///
    /// ## Errors
    ///
    /// [`ConfigError::InvalidBuckets`] when the list is empty, holds a non-finite value or is
    /// not strictly increasing.
    pub fn buckets(mut self, buckets: &[f64]) -> Result<Self, ConfigError> {
        names::validate_buckets(buckets)?;
        self.buckets = buckets.to_vec();
        Ok(self)
    }

    /// Sets the bucket boundaries of `inference_batch_size`.
    ///
    /// Defaults to [`DEFAULT_BATCH_SIZE_BUCKETS`](crate::names::DEFAULT_BATCH_SIZE_BUCKETS),
    /// the powers of two from 1 to 1024.
    ///
    /// ## Errors
    ///
    /// [`ConfigError::InvalidBuckets`], as for [`buckets`](Self::buckets).
    pub fn batch_size_buckets(mut self, buckets: &[f64]) -> Result<Self, ConfigError> {
        names::validate_buckets(buckets)?;
        self.batch_buckets = buckets.to_vec();
        Ok(self)
    }

    /// Sets the bucket boundaries of `inference_prediction_confidence`, within `0..=1`.
    ///
    /// Defaults to [`DEFAULT_CONFIDENCE_BUCKETS`](crate::names::DEFAULT_CONFIDENCE_BUCKETS).
    ///
    /// ## Errors
    ///
    /// [`ConfigError::InvalidBuckets`], as for [`buckets`](Self::buckets), and when a boundary
    /// is outside `0..=1`.
    pub fn confidence_buckets(mut self, buckets: &[f64]) -> Result<Self, ConfigError> {
        names::validate_buckets(buckets)?;
        if let Some(b) = buckets.iter().find(|b| !(0.0..=1.0).contains(*b)) {
            return Err(ConfigError::InvalidBuckets(format!(
                "{b} is outside 0..=1, where confidences lie"
            )));
        }
        self.confidence_buckets = buckets.to_vec();
        Ok(self)
    }

    /// Declares the opt-in signals the models report: their series are registered with each
    /// model, at zero, so `rate()` and `histogram_quantile()` work from the first scrape (all
    /// four stages for [`Signal::Stages`]). An undeclared signal is registered the first time
    /// a model reports it, and costs nothing until then.
    ///
    /// Defaults to none.
    ///
    /// ```
    /// use inference_monitor::{Monitor, Signal};
    /// # let recorder = inference_monitor::testing::TestRecorder::new();
    /// # let _local = recorder.local();
    /// let monitor = Monitor::builder().signals([Signal::Stages, Signal::Confidence]).build()?;
    /// let _loan = monitor.model("loan");
    /// let stage = [("model", "loan"), ("stage", "predict")];
    /// assert_eq!(recorder.histogram("inference_stage_duration_seconds", &stage), Some(vec![]));
    /// assert_eq!(recorder.histogram("inference_batch_size", &[("model", "loan")]), None);
    /// # Ok::<(), inference_monitor::ConfigError>(())
    /// ```
    pub fn signals(mut self, signals: impl IntoIterator<Item = Signal>) -> Self {
        self.declared = signals.into_iter().collect();
        self
    }

    /// Has the tower layer and the actix-web middleware put a [`Signals`](crate::Signals) handle
    /// in the extensions of each request they monitor, started with the request, so a handler
    /// can time its stages and report confidence and batches for its request's model (axum:
    /// `Extension<Signals>`; actix-web: `web::ReqData<Signals>`).
    ///
    /// Off by default because it costs allocations per request: `http::Extensions` allocates
    /// its map on the first insertion, and boxes the handle (3 allocations per request when the
    /// request had no extension before, measured in `tests/allocations.rs`). Without it, use
    /// [`ModelMonitor::signals`](crate::ModelMonitor::signals), which allocates nothing.
    ///
    /// Defaults to `false`.
    pub fn request_signals(mut self, on: bool) -> Self {
        self.request_signals = on;
        self
    }

    /// Sets the maximum number of distinct model names; more share the model `other`.
    ///
    /// Defaults to 64.
    pub fn max_models(mut self, max: usize) -> Self {
        self.max_models = max;
        self
    }

    /// Sets the maximum number of distinct predicted labels per model; more are counted under
    /// `other`.
    ///
    /// Defaults to 64.
    pub fn max_labels(mut self, max: usize) -> Self {
        self.max_labels = max;
        self
    }

    /// Sets the maximum length, in bytes, of a model name or predicted label; longer values are
    /// cut at a character boundary.
    ///
    /// Defaults to 64.
    pub fn max_label_len(mut self, max: usize) -> Self {
        self.max_label_len = max;
        self
    }

    /// Declares the labels the models can predict. Their series are created at zero with each
    /// model, so `rate()` and share-of-label queries work from the first scrape, and looking
    /// them up takes no lock. They count towards [`max_labels`](Self::max_labels).
    ///
    /// Defaults to none: labels are admitted as they are first reported.
    pub fn labels<I, L>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = L>,
        L: Into<String>,
    {
        self.labels = labels.into_iter().map(Into::into).collect();
        self
    }

    /// Builds the monitor.
    ///
    /// ## Errors
    ///
    /// [`ConfigError`] when a name is invalid or duplicated, or a limit is zero.
    pub fn build(self) -> Result<Monitor, ConfigError> {
        self.names.validate()?;
        if self.max_models == 0 {
            return Err(ConfigError::ZeroLimit("max_models"));
        }
        if self.max_labels == 0 {
            return Err(ConfigError::ZeroLimit("max_labels"));
        }
        if self.max_label_len == 0 {
            return Err(ConfigError::ZeroLimit("max_label_len"));
        }
        let mut labels: Vec<Box<str>> = Vec::new();
        for l in &self.labels {
            let l = truncate(l, self.max_label_len);
            if !l.is_empty() && !labels.iter().any(|k| **k == *l) && labels.len() < self.max_labels
            {
                labels.push(l.into());
            }
        }
        let bits = |b: &[f64]| b.iter().map(|b| b.to_bits()).collect::<Vec<_>>();
        let key = format!(
            "{:?}",
            (
                &self.names,
                bits(&self.buckets),
                self.max_models,
                self.max_labels,
                self.max_label_len,
                &labels,
                bits(&self.batch_buckets),
                bits(&self.confidence_buckets),
                &self.declared,
                self.request_signals,
            )
        );
        Ok(Monitor {
            shared: Arc::new(MonitorShared {
                key: key.into(),
                max_models: self.max_models,
                names: self.names,
                buckets: self.buckets.into_boxed_slice(),
                max_labels: self.max_labels,
                max_label_len: self.max_label_len,
                labels: labels.into_boxed_slice(),
                models: Limiter::new(self.max_models, self.max_label_len, Vec::new()),
                batch_buckets: self.batch_buckets.into_boxed_slice(),
                confidence_buckets: self.confidence_buckets.into_boxed_slice(),
                declared: self.declared.into_boxed_slice(),
                request_signals: self.request_signals,
            }),
        })
    }
}

impl Monitor {
    /// Registers the predictions counter of `label` for `model`.
    pub(crate) fn register_label(&self, model: &SharedString, label: &str) -> Counter {
        counter(
            &self.names().predictions_total,
            vec![
                Label::new(names::LABEL_MODEL, model.clone()),
                Label::new(names::LABEL_PREDICTION, label.to_owned()),
            ],
        )
    }
}
