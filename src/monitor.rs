//! The core: [`Monitor`] (configuration and the bounded set of models) and [`ModelMonitor`]
//! (one model's metric handles, registered once). Every adapter — the tower layer, the macros,
//! framework glue — records through here and nowhere else.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, SharedString};

use crate::cardinality::{Limiter, DEFAULT_MAX_VALUES, DEFAULT_MAX_VALUE_LEN};
use crate::clock::Clock;
use crate::exporter::direct::{self, Lanes, Line, Sample};
use crate::guard::InFlight;
use crate::names::{
    self, MetricNames, DEFAULT_BATCH_SIZE_BUCKETS, DEFAULT_CONFIDENCE_BUCKETS,
    DEFAULT_LATENCY_BUCKETS,
};
use crate::signals::{ModelSignals, Signal};
use crate::streaming::StreamHandles;
use crate::{ConfigError, Outcome};

static METADATA: Metadata<'static> =
    Metadata::new(env!("CARGO_PKG_NAME"), Level::INFO, Some(module_path!()));

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
        self.shared
            .models
            .get(name, |bounded| crate::register::model(self, bounded))
    }

    /// Starts a request of the model called `name` (bounded as by [`model`](Self::model)),
    /// borrowing the model instead of taking a reference to it: no shared count is touched.
    #[inline]
    pub(crate) fn start_request(&self, name: &str) -> InFlight {
        let models = &self.shared.models;
        let index = models.index(name, |bounded| crate::register::model(self, bounded));
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
    /// output token: always [`DEFAULT_LATENCY_BUCKETS`](crate::names::DEFAULT_LATENCY_BUCKETS)). [`PrometheusExporter::monitor`](crate::PrometheusExporter::monitor)
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
            let l = crate::cardinality::truncate(l, self.max_label_len);
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

/// One model's metrics: handles registered once, reused by every request.
///
/// [`start`](Self::start) hands out an [`InFlight`] guard that records the request exactly
/// once. Cloning copies a pointer: a model lives as long as the process.
///
/// ```
/// use inference_monitor::{ModelMonitor, Outcome};
/// use inference_monitor::testing::TestRecorder;
///
/// let recorder = TestRecorder::new();
/// let _local = recorder.local();
/// let loan = ModelMonitor::new("loan");
///
/// let mut request = loan.start();
/// request.predicted("approved");
/// request.finish(Outcome::Success);
///
/// assert_eq!(recorder.counter("inference_requests_total", &[("model", "loan"), ("outcome", "success")]), Some(1));
/// assert_eq!(recorder.counter("inference_predictions_total", &[("model", "loan"), ("label", "approved")]), Some(1));
/// assert_eq!(recorder.gauge("inference_inprogress_requests", &[("model", "loan")]), Some(0.0));
/// ```
#[derive(Clone)]
pub struct ModelMonitor {
    /// A model is registered for the life of the process (its monitor keeps it, as the
    /// `metrics` registries keep every series), so its state is never freed: holding it by a
    /// plain reference makes a clone of a `ModelMonitor` (a layer's service, cloned for each
    /// request by axum and hyper) a pointer copy, with no shared count for two cores to fight
    /// over.
    handle: &'static Handle,
}

/// What a [`ModelMonitor`] points to. What a request reads comes first: the first cache
/// line holds the clock, the stripes and the flags, the second the bounds. Under load, other work pushes this state out of the caches between two requests,
/// and each line a request touches can cost a trip to memory.
#[repr(C, align(64))]
pub(crate) struct Handle {
    clock: Clock,
    /// The stripes, side by side, `stride` lines each (see [`Stripe`]); empty off the direct
    /// path.
    stripes: &'static [Line],
    stride: u32,
    /// Cache lines of one outcome's latency lane ([`direct::lane_lines`]).
    lane_lines: u16,
    /// How requests record (see [`Path`]).
    path: Path,
    /// The monitor's [`MonitorBuilder::request_signals`].
    request_signals: bool,
    /// The direct path's latency bounds in whole nanoseconds, on the second line.
    bounds: direct::Bounds,
    shared: ModelShared,
    published: Published,
    /// For an unbound model: its registration with the installed recorder, once one is.
    rebound: OnceLock<&'static Handle>,
}

/// How the requests of a model record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Path {
    /// Every request writes the handles in `shared`.
    Facade,
    /// With the crate's own recorder (the direct path): requests record into their stripe
    /// and the model's series are brought up to date at each render (see [`Sample for Handle`]
    /// (Handle)).
    Direct,
    /// Registered with the no-op recorder (nothing was installed yet): requests look for a
    /// registration with the recorder in effect ([`Handle::bound`]).
    Unbound,
}

/// The values a model's stripes have added to its series on the page. Each refresh adds the
/// difference between the current totals and these, never sets a series outright: two
/// monitors that name the same model (a layer's and the macros' default one, say) share its
/// series, and each adds its own requests to them.
#[derive(Default)]
struct Published {
    in_flight: AtomicI64,
    requests: [AtomicU64; 4],
    labels: [AtomicU64; LABEL_SLOTS],
}

impl Published {
    /// Adds to `counter` what `total` has grown since the last call for it: `fetch_max` keeps
    /// two renders at once from adding the same requests twice.
    fn grow(published: &AtomicU64, total: u64, counter: &Counter) {
        let before = published.fetch_max(total, Ordering::Relaxed);
        if total > before {
            crate::containment::contain(|| counter.increment(total - before));
        }
    }

    /// Moves `gauge` by the change of `in_flight` since the last call: with `swap`, the moves
    /// add up to the latest value even when two renders run at once.
    fn move_gauge(&self, in_flight: i64, gauge: &Gauge) {
        let before = self.in_flight.swap(in_flight, Ordering::Relaxed);
        #[allow(clippy::cast_precision_loss)] // exact below 2^53 requests
        let change = in_flight.wrapping_sub(before) as f64;
        if change > 0.0 {
            crate::containment::contain(|| gauge.increment(change));
        } else if change < 0.0 {
            crate::containment::contain(|| gauge.decrement(-change));
        }
    }
}

impl Sample for Handle {
    /// Brings the model's series up to date: the in-progress gauge to the requests in flight,
    /// the requests and the predicted labels to their sums over the stripes.
    fn refresh(&self) {
        let shared = &self.shared;
        let published = &self.published;
        let lane_lines = usize::from(self.lane_lines);
        let stripes = self
            .stripes
            .chunks_exact(self.stride.max(1) as usize)
            .map(Stripe);
        let mut in_flight = 0u64;
        let mut requests = [0u64; 4];
        let mut labels = [0u64; LABEL_SLOTS];
        for stripe in stripes {
            in_flight = in_flight.wrapping_add(stripe.slot(0, 0));
            for (i, count) in labels.iter_mut().enumerate() {
                *count = count.wrapping_add(stripe.slot(0, 1 + i));
            }
            // A lane's counts are the requests of its outcome: the histogram's `_count`.
            for (o, count) in requests.iter_mut().enumerate() {
                let lane = 1 + o * lane_lines;
                for i in 1..=self.bounds.len() + 1 {
                    *count = count.wrapping_add(stripe.slot(lane, i));
                }
            }
        }
        // Each request counts itself in and out on the same stripe: the sum is never negative.
        #[allow(clippy::cast_possible_wrap)]
        published.move_gauge(in_flight as i64, &shared.inprogress);
        for ((counter, published), total) in shared
            .requests
            .iter()
            .zip(&published.requests)
            .zip(requests)
        {
            Published::grow(published, total, counter);
        }
        for (i, (published, total)) in published.labels.iter().zip(labels).enumerate() {
            #[allow(clippy::cast_possible_truncation)] // below LABEL_SLOTS
            if let Some(counter) = shared.labels.entry(i as u32).filter(|_| total > 0) {
                Published::grow(published, total, counter);
            }
        }
    }
}

impl Handle {
    /// The registration requests of this model record into: this one, unless it was made
    /// before any recorder was installed. Such a model binds to the first recorder its
    /// requests meet, so a layer built before `prometheus().install()` still records.
    #[inline]
    pub(crate) fn bound(&'static self) -> &'static Handle {
        if self.path == Path::Unbound {
            self.rebind()
        } else {
            self
        }
    }

    #[cold]
    #[inline(never)]
    fn rebind(&'static self) -> &'static Handle {
        if let Some(handle) = self.rebound.get() {
            return handle;
        }
        match crate::register::describe(&self.shared.monitor) {
            crate::register::RecorderId::Stateless => self,
            recorder => {
                let model = crate::register::model(&self.shared.monitor, &self.shared.name);
                // Kept for good only with a recorder that cannot go away: the installed one,
                // or another crate's (bound at first use). A local test recorder is looked up
                // at each request instead.
                if crate::register::is_lasting(recorder) {
                    self.rebound.get_or_init(|| model.handle())
                } else {
                    model.handle()
                }
            }
        }
    }

    /// The stripe of the current thread. `stripes.len()` is a power of two ([`STRIPES`]), so
    /// the thread's number is masked rather than divided (a division costs tens of cycles).
    #[inline]
    fn stripe(&'static self) -> Stripe {
        let stride = self.stride as usize;
        let count = self.stripes.len().checked_div(stride).unwrap_or(0);
        let start = (stripe_of_this_thread() & count.wrapping_sub(1)) * stride;
        Stripe(self.stripes.get(start..start + stride).unwrap_or(&[]))
    }

    /// The model's state.
    #[inline]
    pub(crate) fn shared(&'static self) -> &'static ModelShared {
        &self.shared
    }

    /// The clock the model's requests are timed with.
    #[inline]
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Whether the tower layer should hand each request a [`Signals`](crate::Signals) handle.
    #[inline]
    pub(crate) fn request_signals(&self) -> bool {
        self.request_signals
    }

    /// Records a request that started on `stripe`. Called by [`InFlight`] exactly once.
    #[inline]
    pub(crate) fn record(&self, stripe: Stripe, outcome: Outcome, took: Duration, label: u32) {
        let s = &self.shared;
        let i = outcome.index();
        if self.path == Path::Direct {
            let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
            if let Some(lane) = stripe.0.get(1 + i * usize::from(self.lane_lines)..) {
                direct::record_in_lane(lane, &self.bounds, nanos);
            }
            stripe.add(0, 0, 1u64.wrapping_neg());
            if (label as usize) < LABEL_SLOTS {
                stripe.add(0, 1 + label as usize, 1);
                return;
            }
        } else {
            s.requests[i].increment(1);
            s.latency[i].record(took.as_secs_f64());
            s.inprogress.decrement(1.0);
        }
        if let Some(counter) = s.labels.entry(label) {
            counter.increment(1);
        }
    }
}

/// One thread's part of a model on the direct path: a few cache lines of the model's block
/// that only requests started on that thread write (under load every request counts itself
/// in and out, and with one shared count the cores would fight over its line: measured here,
/// two threads on one count cost 3x one thread). A request keeps the stripe it started on to
/// the end, on whatever thread it ends.
///
/// Line 0 holds the requests in flight (slot 0, summed into the in-progress gauge at each
/// render) and the predictions of the first [`LABEL_SLOTS`] labels; then come the latency
/// lanes of the four outcomes ([`Lanes`]), whose counts are also the requests by outcome.
/// Off the direct path a stripe is empty.
#[derive(Clone, Copy)]
pub(crate) struct Stripe(&'static [Line]);

impl Stripe {
    /// Adds `value` to slot `slot` of line `line` (wrapping).
    #[inline]
    fn add(self, line: usize, slot: usize, value: u64) {
        if let Some(line) = self.0.get(line) {
            line.0[slot % 8].fetch_add(value, Ordering::Relaxed);
        }
    }

    /// Slot `slot` (counted across lines) from line `line` on.
    fn slot(self, line: usize, slot: usize) -> u64 {
        self.0
            .get(line + slot / 8)
            .map_or(0, |l| l.0[slot % 8].load(Ordering::Relaxed))
    }
}

/// Predicted labels counted by stripe (the first ones in the model's limiter, where the
/// labels given in advance come first): the rest of a stripe's first line. Requests with
/// other labels write the predictions counter itself.
const LABEL_SLOTS: usize = 7;

/// Stripes per model: twice the cores, a power of two, at most 64.
static STRIPES: LazyLock<usize> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    (cores * 2).next_power_of_two().min(64)
});

/// The stripe of the current thread: threads take stripes in turn as they first ask.
///
/// The thread-local is initialised by a constant, so reading it is one load with no lazy
/// state to check first: a cache simulator counted one line per cold request for it, against
/// two for a lazily initialised one.
#[inline]
fn stripe_of_this_thread() -> usize {
    /// Not taken yet.
    const NONE: usize = usize::MAX;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(NONE) };
    }
    STRIPE.with(|stripe| match stripe.get() {
        NONE => {
            let taken = NEXT.fetch_add(1, Ordering::Relaxed) & (NONE >> 1);
            stripe.set(taken);
            taken
        }
        taken => taken,
    })
}

pub(crate) struct ModelShared {
    name: SharedString,
    monitor: Monitor,
    requests: [Counter; 4],
    latency: [Histogram; 4],
    inprogress: Gauge,
    labels: Limiter<Counter>,
    clock: Clock,
    pub(crate) signals: ModelSignals,
    /// Opt-in: the streaming handles, registered on the first streamed response.
    streaming: OnceLock<Arc<StreamHandles>>,
}

impl fmt::Debug for ModelMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.handle.shared;
        f.debug_struct("ModelMonitor")
            .field("name", &shared.name)
            .field("labels", &shared.labels.len())
            .field("records_directly", &(self.handle.path == Path::Direct))
            .finish_non_exhaustive()
    }
}

impl ModelMonitor {
    /// Whether `self` and `other` are the same registered model (not merely the same name:
    /// two monitors may each have a model of that name).
    pub(crate) fn same_as(&self, other: &ModelMonitor) -> bool {
        std::ptr::eq(self.handle, other.handle)
    }

    /// The monitor of model `name` with the default configuration ([`Monitor::default`]).
    #[must_use]
    pub fn new(name: &str) -> Self {
        Monitor::default().model(name)
    }

    /// The model name as it appears in the `model` label (bounded and truncated).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.handle.shared.name
    }

    /// The [`Monitor`] this model belongs to.
    #[must_use]
    pub fn monitor(&self) -> &Monitor {
        &self.handle.shared.monitor
    }

    /// Starts one request: the in-progress gauge goes up and the clock starts. The returned
    /// guard records the request when it is finished or dropped.
    #[must_use = "the request is recorded when the guard is finished or dropped"]
    #[inline]
    pub fn start(&self) -> InFlight {
        let handle = self.handle.bound();
        let stripe = handle.stripe();
        if handle.path == Path::Direct {
            stripe.add(0, 0, 1);
        } else {
            crate::containment::contain(|| handle.shared.inprogress.increment(1.0));
        }
        InFlight::new(handle, stripe, handle.clock.now())
    }

    /// Runs `call` as one monitored request and returns its value.
    ///
    /// `report` receives the value and the guard, and finishes the guard (if it does not, the
    /// request counts as `cancelled`). A panic in `call` counts as `server_error` and goes on
    /// unwinding.
    ///
    /// ```
    /// use inference_monitor::{ModelMonitor, Outcome};
    /// # let recorder = inference_monitor::testing::TestRecorder::new();
    /// # let _local = recorder.local();
    /// let loan = ModelMonitor::new("loan");
    /// let score = loan.observe(|| 0.93_f64, |score, mut request| {
    ///     request.predicted(if *score >= 0.5 { "approved" } else { "rejected" });
    ///     request.finish(Outcome::Success);
    /// });
    /// assert_eq!(score, 0.93);
    /// # assert_eq!(recorder.counter("inference_predictions_total", &[("model", "loan"), ("label", "approved")]), Some(1));
    /// ```
    pub fn observe<T>(&self, call: impl FnOnce() -> T, report: impl FnOnce(&T, InFlight)) -> T {
        let request = self.start();
        let value = call();
        report(&value, request);
        value
    }

    /// Wraps `future` as one monitored request, started now. See [`Observed`](crate::Observed).
    pub fn observe_future<F, R>(&self, future: F, report: R) -> crate::Observed<F, R>
    where
        F: std::future::Future,
        R: FnOnce(&F::Output, InFlight),
    {
        crate::Observed::new(future, self.start(), report)
    }

    pub(crate) fn shared(&self) -> &'static ModelShared {
        &self.handle.bound().shared
    }

    /// The model registered at `handle`.
    pub(crate) fn from_handle(handle: &'static Handle) -> Self {
        Self { handle }
    }

    /// The model's registration.
    pub(crate) fn handle(&self) -> &'static Handle {
        self.handle
    }

    /// Registers model `name` of `monitor` with the recorder in effect, which was told the
    /// metrics' descriptions already (`register::model`, the one caller).
    pub(crate) fn register(monitor: &Monitor, name: &str, unbound: bool) -> ModelMonitor {
        let names = monitor.names();
        let model: SharedString = SharedString::from(name.to_owned());
        let model_label = || Label::new(names::LABEL_MODEL, model.clone());
        let with_outcome =
            |o: Outcome| vec![model_label(), Label::new(names::LABEL_OUTCOME, o.as_str())];
        let requests = Outcome::ALL.map(|o| counter(&names.requests_total, with_outcome(o)));
        // With the crate's own recorder in effect, its offers: the histograms in nanoseconds
        // and the in-progress gauge read at render (see `exporter::direct`).
        let latency = Outcome::ALL.map(|o| {
            let key = Key::from_parts(key_name(&names.request_latency_seconds), with_outcome(o));
            direct::register(|r| r.register_histogram(&key, &METADATA))
        });
        let key = Key::from_parts(key_name(&names.inprogress_requests), vec![model_label()]);
        let (inprogress, samplers) = direct::register(|r| r.register_gauge(&key, &METADATA));
        let samplers = samplers.map(|offer| offer.samplers);
        // The direct path needs both: the histograms' nanosecond side (all four, with the same
        // bounds) and a render to sample at.
        let nanos = latency
            .iter()
            .map(|(_, offer)| offer.as_ref().and_then(|o| o.nanos.clone()))
            .collect::<Option<Vec<_>>>()
            .filter(|all| all.windows(2).all(|w| w[0].bounds() == w[1].bounds()));
        let samplers = samplers.filter(|_| nanos.is_some());
        let nanos = nanos.filter(|_| samplers.is_some());
        let latency = latency.map(|(histogram, _)| histogram);
        let s = &monitor.shared;
        let preset = s
            .labels
            .iter()
            .map(|l| (l.clone(), monitor.register_label(&model, l)))
            .collect();
        let shared = ModelShared {
            name: model.clone(),
            monitor: monitor.clone(),
            requests,
            latency,
            inprogress,
            labels: Limiter::new(s.max_labels, s.max_label_len, preset),
            clock: Clock::get(),
            signals: ModelSignals::default(),
            streaming: OnceLock::new(),
        };
        for signal in &s.declared {
            shared.declare(*signal);
        }
        let bounds_nanos: Box<[i64]> = nanos
            .as_ref()
            .and_then(|all| all.first())
            .map(|first| {
                first
                    .bounds()
                    .iter()
                    .map(|b| direct::bound_in_nanos(*b))
                    .collect()
            })
            .unwrap_or_default();
        let lane_lines = direct::lane_lines(bounds_nanos.len());
        // Every stripe in one block: a line of counts, then the four outcomes' latency lanes.
        let stride = 1 + Outcome::ALL.len() * lane_lines;
        // (Past 500,000 buckets the sizes would not fit their fields: the model writes its
        // handles then.)
        let sizes = u16::try_from(lane_lines)
            .ok()
            .zip(u32::try_from(stride).ok());
        let nanos = nanos.filter(|_| sizes.is_some());
        let samplers = samplers.filter(|_| nanos.is_some());
        let lines: &'static [Line] = if nanos.is_some() {
            Box::leak((0..*STRIPES * stride).map(|_| Line::default()).collect())
        } else {
            &[]
        };
        if let Some(nanos) = &nanos {
            for (outcome, histogram) in nanos.iter().enumerate() {
                histogram.attach(Lanes {
                    lines,
                    stride,
                    offset: 1 + outcome * lane_lines,
                });
            }
        }
        let handle: &'static Handle = Box::leak(Box::new(Handle {
            clock: shared.clock.clone(),
            stripes: lines,
            stride: sizes.map_or(0, |(_, stride)| stride),
            lane_lines: sizes.map_or(0, |(lines, _)| lines),
            path: match (nanos.is_some(), unbound) {
                (true, _) => Path::Direct,
                (false, true) => Path::Unbound,
                (false, false) => Path::Facade,
            },
            request_signals: s.request_signals,
            bounds: direct::Bounds::new(bounds_nanos),
            shared,
            published: Published::default(),
            rebound: OnceLock::new(),
        }));
        if let Some(samplers) = samplers {
            samplers.attach(handle);
        }
        ModelMonitor { handle }
    }
}

impl ModelShared {
    /// The model name as it appears in the `model` label.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The index of the predictions counter of `label` (bounded) in the model's limiter.
    #[inline]
    pub(crate) fn label_index(&self, label: &str) -> u32 {
        let s = self;
        s.labels
            .index(label, |bounded| s.monitor.register_label(&s.name, bounded))
    }

    /// The monitor the model belongs to.
    pub(crate) fn monitor(&self) -> &Monitor {
        &self.monitor
    }

    /// The model's predictions counters, by label index.
    pub(crate) fn labels(&self) -> &Limiter<Counter> {
        &self.labels
    }

    /// The clock the model's requests are timed with.
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The model's streaming handles, registered on first use.
    pub(crate) fn streaming(&self) -> &Arc<StreamHandles> {
        self.streaming
            .get_or_init(|| Arc::new(StreamHandles::register(self.monitor.names(), &self.name)))
    }
}

impl Monitor {
    fn register_label(&self, model: &SharedString, label: &str) -> Counter {
        counter(
            &self.names().predictions_total,
            vec![
                Label::new(names::LABEL_MODEL, model.clone()),
                Label::new(names::LABEL_PREDICTION, label.to_owned()),
            ],
        )
    }
}

#[allow(clippy::ptr_arg)] // cloned: a static name stays a borrow
pub(crate) fn key_name(name: &std::borrow::Cow<'static, str>) -> KeyName {
    KeyName::from(SharedString::from(name.clone()))
}

#[allow(clippy::ptr_arg)] // cloned: a static name stays a borrow
pub(crate) fn counter(name: &std::borrow::Cow<'static, str>, labels: Vec<Label>) -> Counter {
    let key = Key::from_parts(key_name(name), labels);
    metrics::with_recorder(|r| r.register_counter(&key, &METADATA))
}

#[allow(clippy::ptr_arg)] // cloned: a static name stays a borrow
pub(crate) fn histogram(name: &std::borrow::Cow<'static, str>, labels: Vec<Label>) -> Histogram {
    let key = Key::from_parts(key_name(name), labels);
    metrics::with_recorder(|r| r.register_histogram(&key, &METADATA))
}

#[allow(clippy::ptr_arg)] // cloned: a static name stays a borrow
pub(crate) fn gauge(name: &std::borrow::Cow<'static, str>, labels: Vec<Label>) -> Gauge {
    let key = Key::from_parts(key_name(name), labels);
    metrics::with_recorder(|r| r.register_gauge(&key, &METADATA))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, offset_of, size_of};

    #[test]
    fn a_request_reads_the_first_line_of_its_model_then_the_bounds_on_the_second() {
        assert_eq!(align_of::<Handle>(), 64);
        // The clock, the stripes and the flags: all that starting a request reads.
        for end in [
            offset_of!(Handle, clock) + size_of::<Clock>(),
            offset_of!(Handle, stripes) + size_of::<&[Line]>(),
            offset_of!(Handle, stride) + size_of::<u32>(),
            offset_of!(Handle, lane_lines) + size_of::<u16>(),
            offset_of!(Handle, path) + 1,
            offset_of!(Handle, request_signals) + 1,
        ] {
            assert!(end <= 64, "a field of the first line ends at byte {end}");
        }
        assert_eq!(offset_of!(Handle, bounds), 64);
        assert_eq!(size_of::<direct::Bounds>(), 64);
    }
}
