//! Exporters: where the metrics go.
//!
//! The crate records through the [`metrics`] facade only, so any [`metrics::Recorder`] works
//! (install it with `metrics::set_global_recorder`). The ready one is Prometheus, behind the
//! default `prometheus` feature: [`prometheus()`](crate::prometheus) installs it with the
//! crate's latency buckets and returns a [`MetricsHandle`](crate::MetricsHandle) that renders
//! the text format for a `/metrics` endpoint.

#[cfg(feature = "prometheus")]
pub mod access;
#[cfg(feature = "prometheus")]
mod histograms;
#[cfg(any(feature = "prometheus", feature = "otlp"))]
mod http1;
#[cfg(feature = "otlp")]
pub mod otlp;
#[cfg(feature = "prometheus")]
pub mod prometheus;
#[cfg(feature = "prometheus")]
pub mod push;
#[cfg(feature = "prometheus")]
mod recorder;
