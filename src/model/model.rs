//! [`ModelMonitor`]: one model's metrics, and every public method on it.

use std::fmt;
use std::sync::PoisonError;
use std::time::Duration;

use metrics::{Label, Unit};

use super::contain::contain;
use super::handles::{describe_gauge, gauge};
use super::limiter::truncate;
use super::register;
use super::request::{InFlight, Observed};
use super::shared::{Handle, ModelShared};
use super::signals::Signals;
use super::stage::Stage;
use super::Monitor;
use crate::fast::Path;
use crate::names;
use crate::ConfigError;

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

impl fmt::Debug for ModelMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.handle.shared;
        f.debug_struct("ModelMonitor")
            .field("name", &shared.name())
            .field("labels", &shared.labels().len())
            .field(
                "records_directly",
                &(self.handle.block.path == Path::Direct),
            )
            .finish_non_exhaustive()
    }
}

impl ModelMonitor {
    /// The most extra labels [`info_with`](Self::info_with) accepts.
    pub const MAX_INFO_LABELS: usize = 8;

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
        self.handle.shared.name()
    }

    /// The [`Monitor`] this model belongs to.
    #[must_use]
    pub fn monitor(&self) -> &Monitor {
        self.handle.shared.monitor()
    }

    /// Starts one request: the in-progress gauge goes up and the clock starts. The returned
    /// guard records the request when it is finished or dropped.
    #[must_use = "the request is recorded when the guard is finished or dropped"]
    #[inline]
    pub fn start(&self) -> InFlight {
        let handle = register::bound(self.handle);
        let stripe = handle.start();
        InFlight::new(handle, stripe, handle.block.clock.now())
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
    pub fn observe_future<F, R>(&self, future: F, report: R) -> Observed<F, R>
    where
        F: std::future::Future,
        R: FnOnce(&F::Output, InFlight),
    {
        Observed::new(future, self.start(), report)
    }

    pub(crate) fn shared(&self) -> &'static ModelShared {
        &register::bound(self.handle).shared
    }

    /// The model registered at `handle`.
    pub(crate) fn from_handle(handle: &'static Handle) -> Self {
        Self { handle }
    }

    /// A handle on this model's opt-in signals, started now (see [`Signals`]).
    #[must_use]
    pub fn signals(&self) -> Signals {
        let shared = self.shared();
        Signals::new(shared, shared.clock().now())
    }

    /// Records the confidence of one prediction; see [`Signals::confidence`].
    #[deprecated(since = "0.2.0", note = "use `model.signals().confidence(c)`")]
    pub fn confidence(&self, confidence: f64) {
        self.shared().record_confidence(confidence);
    }

    /// Records the size of one batched call; see [`Signals::batch_size`].
    #[deprecated(since = "0.2.0", note = "use `model.signals().batch_size(n)`")]
    pub fn batch_size(&self, size: usize) {
        self.shared().record_batch_size(size);
    }

    /// Records `stage` directly; see [`Signals::record`].
    #[deprecated(since = "0.2.0", note = "use `model.signals().record(stage, took)`")]
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
    /// [`ConfigError::InvalidInfoLabel`] when there are more than [`MAX_INFO_LABELS`](Self::MAX_INFO_LABELS) extras,
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
                        let g = contain(|| {
                            describe_gauge(&names.model_info, None, names::help::MODEL_INFO);
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
            contain(|| g.set(0.0));
        }
        let g = &info.series[index].1;
        contain(|| g.set(1.0));
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
            describe_gauge(
                &names.model_load_duration_seconds,
                Some(Unit::Seconds),
                names::help::MODEL_LOAD_DURATION,
            );
            gauge(
                &names.model_load_duration_seconds,
                vec![shared.model_label()],
            )
        });
        let seconds = took.as_secs_f64();
        contain(|| g.set(seconds));
    }
}

/// Checks the extra labels of [`ModelMonitor::info_with`].
fn validate_info_labels(extra: &[(&str, &str)]) -> Result<(), ConfigError> {
    if extra.len() > ModelMonitor::MAX_INFO_LABELS {
        return Err(ConfigError::InvalidInfoLabel(format!(
            "{} extra labels, at most {} are allowed",
            extra.len(),
            ModelMonitor::MAX_INFO_LABELS
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
