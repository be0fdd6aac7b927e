//! The Prometheus exporter, laid out like metrics-exporter-prometheus: this file configures
//! and installs it ([`prometheus()`], [`PrometheusExporter`]); the [`PrometheusRecorder`] it
//! installs (`recorder`) keeps counters and gauges in metrics-exporter-prometheus and
//! histograms in exact buckets of its own (`histograms`); [`MetricsHandle`] renders and serves
//! them (`handle`) in the text format (`text`), behind optional credentials (`auth`), or pushes
//! them to a Pushgateway (`push`).

mod auth;
mod handle;
mod histograms;
mod push;
mod recorder;
mod text;

use std::fmt;
use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusBuilder;

use self::handle::ProcessCollector;
use self::histograms::Histograms;
use crate::fast::Samplers;
use crate::names::DEFAULT_LATENCY_BUCKETS;
use crate::Monitor;

pub use auth::MetricsAuth;
pub use handle::{MetricsHandle, MetricsService};
pub use push::{PushError, Pushgateway, DEFAULT_PUSH_TIMEOUT};
pub use recorder::PrometheusRecorder;
pub use text::CONTENT_TYPE;

/// Starts configuring the Prometheus exporter. See [`PrometheusExporter`].
///
/// ```no_run
/// let metrics = inference_monitor::prometheus().install()?;
/// println!("{}", metrics.render());
/// # Ok::<(), inference_monitor::ExporterError>(())
/// ```
pub fn prometheus() -> PrometheusExporter {
    PrometheusExporter::new()
}

/// Configures and installs a Prometheus recorder made for the inference metrics.
///
/// It always renders the latency metrics as real histograms (`_bucket` series) with the
/// buckets of each [`Monitor`] it is told about (the default buckets for the default names
/// otherwise) and binds no port: serve [`MetricsHandle`] wherever you choose.
///
/// Counters and gauges are kept by metrics-exporter-prometheus. Histograms are kept as exact
/// bucket counters ([`PrometheusRecorder`]): a sample is never lost to a concurrent scrape,
/// costs no allocation, and memory does not grow between scrapes, so no background thread is
/// needed.
#[derive(Debug, Clone)]
#[must_use]
pub struct PrometheusExporter {
    families: Vec<Family>,
    global_labels: Vec<(String, String)>,
    process: bool,
}

#[derive(Debug, Clone)]
struct Family {
    metric: String,
    buckets: Vec<f64>,
    explicit: bool,
}

impl Default for PrometheusExporter {
    fn default() -> Self {
        Self {
            // The default monitor's histograms: latency, stages, batch size, confidence.
            families: Monitor::default()
                .histogram_buckets()
                .iter()
                .map(|(metric, buckets)| Family {
                    metric: (*metric).to_owned(),
                    buckets: buckets.to_vec(),
                    explicit: false,
                })
                .collect(),
            global_labels: Vec::new(),
            process: false,
        }
    }
}

impl PrometheusExporter {
    /// The default configuration: default buckets for the default latency metric.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `monitor`'s buckets for its histograms ([`Monitor::histogram_buckets`]: latency,
    /// stage duration, batch size, confidence). Call it for every [`Monitor`] with non-default
    /// names or buckets, before building its models.
    ///
    /// Defaults to the default buckets for the default names of the four histograms.
    pub fn monitor(mut self, monitor: &Monitor) -> Self {
        for (metric, buckets) in monitor.histogram_buckets() {
            self.families.retain(|f| f.explicit || f.metric != metric);
            self.families.push(Family {
                metric: metric.to_owned(),
                buckets: buckets.to_vec(),
                explicit: true,
            });
        }
        self
    }

    /// Adds a label to every series, such as `instance` or `region`.
    ///
    /// Defaults to none.
    pub fn global_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.global_labels.push((key.into(), value.into()));
        self
    }

    /// Adds the process metrics — `process_cpu_seconds_total`, `process_resident_memory_bytes`,
    /// `process_open_fds`, `process_max_fds`, `process_start_time_seconds`, and more — collected
    /// afresh at each [`MetricsHandle::render`], so the dashboard's resource panels have data.
    ///
    /// They are recorded into the global recorder: use them with [`install`](Self::install).
    ///
    /// Defaults to off.
    #[cfg(feature = "process")]
    #[cfg_attr(docsrs, doc(cfg(feature = "process")))]
    pub fn with_process_metrics(mut self) -> Self {
        self.process = true;
        self
    }

    /// The recorder for counters and gauges, and the store of histograms.
    fn parts(&self) -> Result<(PrometheusBuilder, Histograms), ExporterError> {
        for (i, family) in self.families.iter().enumerate() {
            if let Some(other) = self.families[..i]
                .iter()
                .find(|f| f.metric == family.metric && f.buckets != family.buckets)
            {
                return Err(ExporterError::ConflictingBuckets {
                    metric: other.metric.clone(),
                });
            }
            crate::names::validate_buckets(&family.buckets)
                .map_err(|e| ExporterError::Build(e.to_string()))?;
        }
        let mut builder = PrometheusBuilder::new();
        for (k, v) in &self.global_labels {
            builder = builder.add_global_label(k, text::double_backslashes(v));
        }
        let histograms = Histograms::new(
            DEFAULT_LATENCY_BUCKETS,
            self.families
                .iter()
                .map(|f| (f.metric.clone(), f.buckets.clone(), f.explicit)),
            &self.global_labels,
        );
        Ok((builder, histograms))
    }

    /// Builds the recorder without installing it, for composing recorders or for tests with a
    /// local recorder (`metrics::with_local_recorder`).
    ///
    /// ## Errors
    ///
    /// [`ExporterError::ConflictingBuckets`] when two monitors give one metric different buckets.
    pub fn build(self) -> Result<(PrometheusRecorder, MetricsHandle), ExporterError> {
        let (builder, histograms) = self.parts()?;
        let histograms = Arc::new(histograms);
        let inner = builder.build_recorder();
        let samplers = Arc::new(Samplers::default());
        let handle = MetricsHandle {
            inner: inner.handle(),
            histograms: Arc::clone(&histograms),
            samplers: Arc::clone(&samplers),
            process: self.process.then(ProcessCollector::new),
        };
        let recorder = PrometheusRecorder {
            inner,
            histograms,
            samplers,
            id: crate::model::register::next_recorder_id(),
        };
        Ok((recorder, handle))
    }

    /// Installs the recorder as the process's global recorder.
    ///
    /// ## Errors
    ///
    /// [`ExporterError::AlreadyInstalled`] when a global recorder is already installed (the
    /// facade allows one per process: install once, at start-up, and clone the handle);
    /// [`ExporterError::ConflictingBuckets`]. Nothing is installed when an error is returned.
    pub fn install(self) -> Result<MetricsHandle, ExporterError> {
        let (recorder, handle) = self.build()?;
        let id = recorder.id;
        if metrics::set_global_recorder(recorder).is_err() {
            return Err(ExporterError::AlreadyInstalled);
        }
        crate::model::register::installed(id);
        if let Some(process) = &handle.process {
            process.describe();
        }
        Ok(handle)
    }
}

/// Why the exporter could not be built or installed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExporterError {
    /// A global recorder is already installed; there can be one per process.
    AlreadyInstalled,
    /// Two monitors gave the same histogram metric different buckets.
    ConflictingBuckets {
        /// The metric name.
        metric: String,
    },
    /// `metrics-exporter-prometheus` refused the configuration.
    Build(String),
}

impl fmt::Display for ExporterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExporterError::AlreadyInstalled => f.write_str(
                "a global metrics recorder is already installed: install the exporter once at start-up and clone its MetricsHandle",
            ),
            ExporterError::ConflictingBuckets { metric } => write!(
                f,
                "two monitors give {metric} different buckets: give one of them its own names (MonitorBuilder::prefix)"
            ),
            ExporterError::Build(e) => write!(f, "invalid Prometheus exporter configuration: {e}"),
        }
    }
}

impl std::error::Error for ExporterError {}
