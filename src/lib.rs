#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod classify;
#[cfg(feature = "dashboard")]
#[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
pub mod dashboard;
mod error;
pub mod exporter;
mod fast;
pub mod integrations;
#[doc(hidden)]
pub mod macros;
mod model;
pub mod names;
mod outcome;
pub mod testing;
pub mod tower;

pub use classify::{ClassifyResponse, GrpcClassifier, StatusClassifier};
pub use error::ConfigError;
pub use model::limiter as cardinality;
pub use model::{
    recorder_panics, InFlight, ModelMonitor, Monitor, MonitorBuilder, Observed, Signal, Signals,
    Stage, StageTimer, MAX_INFO_LABELS,
};
pub use names::MetricNames;
pub use outcome::Outcome;
pub use tower::{
    FixedModel, InferenceMonitorLayer, InferenceMonitorService, LatencyEnd, ModelFromRequest,
    ModelSource, NoStreaming, OnlyPaths, OpenInference, Prediction, RequestHead, ResponseBody,
    ResponseFuture, StreamClock, StreamState, Streaming, TokenUsage, TrackStream,
};

#[doc(hidden)]
pub use macros::__private;

#[cfg(feature = "dashboard")]
#[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
pub use dashboard::{Dashboard, DashboardBuilder, DashboardService};

#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub use exporter::prometheus::MetricsAuth;
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub use exporter::prometheus::{
    prometheus, ExporterError, MetricsHandle, MetricsService, PrometheusExporter,
    PrometheusRecorder,
};
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub use exporter::prometheus::{PushError, Pushgateway};

#[cfg(feature = "otlp")]
#[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
pub use exporter::otlp::{otlp, OtlpError, OtlpExporter, OtlpHandle, OtlpRecorder};

/// The `metrics` facade this crate records through. Use this re-export (or the same version)
/// so your own metrics reach the same recorder: two facade versions in one build silently
/// drop metrics.
pub use metrics;

/// The Prometheus exporter crate, re-exported for advanced configuration.
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub use metrics_exporter_prometheus;
