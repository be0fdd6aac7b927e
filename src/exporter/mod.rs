//! Exporters: where the metrics go.
//!
//! The crate records through the [`metrics`] facade only, so any [`metrics::Recorder`] works
//! (install it with `metrics::set_global_recorder`). The ready one is Prometheus, behind the
//! default `prometheus` feature: [`prometheus()`](crate::prometheus) installs it with the
//! crate's latency buckets and returns a [`MetricsHandle`](crate::MetricsHandle) that renders
//! the text format for a `/metrics` endpoint.

#[cfg(any(feature = "prometheus", feature = "otlp"))]
mod http1;
#[cfg(feature = "otlp")]
pub mod otlp;
#[cfg(feature = "prometheus")]
pub mod prometheus;

/// Moved to [`prometheus`]: [`prometheus::MetricsAuth`].
#[cfg(feature = "prometheus")]
#[doc(hidden)]
pub mod access {
    /// Moved: use [`exporter::prometheus::MetricsAuth`](super::prometheus::MetricsAuth).
    #[deprecated(
        since = "0.2.0",
        note = "use `inference_monitor::exporter::prometheus::MetricsAuth`"
    )]
    pub type MetricsAuth = super::prometheus::MetricsAuth;
}

/// Moved to [`prometheus`]: [`prometheus::Pushgateway`] and [`prometheus::PushError`].
#[cfg(feature = "prometheus")]
#[doc(hidden)]
pub mod push {
    /// Moved: use [`exporter::prometheus::Pushgateway`](super::prometheus::Pushgateway).
    #[deprecated(
        since = "0.2.0",
        note = "use `inference_monitor::exporter::prometheus::Pushgateway`"
    )]
    pub type Pushgateway = super::prometheus::Pushgateway;
    /// Moved: use [`exporter::prometheus::PushError`](super::prometheus::PushError).
    #[deprecated(
        since = "0.2.0",
        note = "use `inference_monitor::exporter::prometheus::PushError`"
    )]
    pub type PushError = super::prometheus::PushError;
    /// Moved: use [`exporter::prometheus::DEFAULT_PUSH_TIMEOUT`](super::prometheus::DEFAULT_PUSH_TIMEOUT).
    #[deprecated(
        since = "0.2.0",
        note = "use `inference_monitor::exporter::prometheus::DEFAULT_PUSH_TIMEOUT`"
    )]
    pub const DEFAULT_PUSH_TIMEOUT: std::time::Duration = super::prometheus::DEFAULT_PUSH_TIMEOUT;
}
