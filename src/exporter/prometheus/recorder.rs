//! [`PrometheusRecorder`]: metrics-exporter-prometheus for counters and gauges, exact
//! fixed-bucket histograms for histograms.

use std::fmt;
use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

use super::histograms::Histograms;
use super::text::escaped_backslashes;
use crate::fast::{self, Samplers};

/// The recorder built by [`PrometheusExporter::build`](crate::exporter::prometheus::PrometheusExporter::build).
///
/// Counters and gauges go to metrics-exporter-prometheus. Histograms are kept as bucket
/// counters updated in place, so a sample is never lost to a concurrent scrape, costs no
/// allocation, and memory does not grow between scrapes. The crate's own models, registered
/// with this recorder while it is the one in effect, record their latency in whole
/// nanoseconds and have their in-progress gauge and request counts read from per-core storage
/// at each render instead of written to shared handles on each request (see
/// `docs/architecture.md`). Render everything with the
/// [`MetricsHandle`](crate::MetricsHandle) returned next to it.
///
/// ```
/// use inference_monitor::metrics::{self, Key};
///
/// let (recorder, handle) = inference_monitor::prometheus().build()?;
/// metrics::with_local_recorder(&recorder, || {
///     metrics::histogram!("batch_seconds").record(0.2);
/// });
/// assert!(handle.render().contains("batch_seconds_count 1"));
/// # Ok::<(), inference_monitor::ExporterError>(())
/// ```
pub struct PrometheusRecorder {
    pub(crate) inner: metrics_exporter_prometheus::PrometheusRecorder,
    pub(crate) histograms: Arc<Histograms>,
    /// The in-progress gauges of the models that record directly (see [`super::direct`]).
    pub(crate) samplers: Arc<Samplers>,
    /// Its number in the registration table (see `register`).
    pub(crate) id: u64,
}

impl fmt::Debug for PrometheusRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusRecorder").finish_non_exhaustive()
    }
}

impl Recorder for PrometheusRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        crate::model::register::offer(self, self.id, Some(Arc::clone(&self.histograms) as _));
        self.inner.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.histograms.describe(&key, &description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        match escaped_backslashes(key) {
            Some(key) => self.inner.register_counter(&key, metadata),
            None => self.inner.register_counter(key, metadata),
        }
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        fast::offer(self, &self.samplers, None);
        match escaped_backslashes(key) {
            Some(key) => self.inner.register_gauge(&key, metadata),
            None => self.inner.register_gauge(key, metadata),
        }
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        let series = self.histograms.register(key);
        fast::offer(self, &self.samplers, Some(Arc::clone(&series) as _));
        Histogram::from_arc(series)
    }
}
