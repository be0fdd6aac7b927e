//! The crate root's old names, kept one release so code that uses them builds, with a message
//! naming the new path (see CHANGELOG.md, "Deprecated").
//!
//! `#[deprecated]` has no effect on a `pub use` (rust-lang/rust#30827), so each old path is a
//! deprecated type alias, plus a deprecated constant of the same name for a unit struct (so
//! `StatusClassifier` still works as a value). A trait cannot be aliased: the four traits keep
//! their old root path as a hidden re-export, without a warning (see the crate root), and go
//! with the rest next release.

#![allow(missing_docs, non_upper_case_globals)]

use crate::{classify, tower};

#[deprecated(since = "0.2.0", note = "use `inference_monitor::tower::FixedModel`")]
pub type FixedModel = tower::FixedModel;

#[deprecated(
    since = "0.2.0",
    note = "use `inference_monitor::tower::InferenceMonitorService`"
)]
pub type InferenceMonitorService<S, M, C, T = tower::NoStreaming> =
    tower::InferenceMonitorService<S, M, C, T>;

#[deprecated(since = "0.2.0", note = "use `inference_monitor::tower::LatencyEnd`")]
pub type LatencyEnd = tower::LatencyEnd;

#[deprecated(
    since = "0.2.0",
    note = "use `inference_monitor::tower::ModelFromRequest`"
)]
pub type ModelFromRequest<F> = tower::ModelFromRequest<F>;

#[deprecated(since = "0.2.0", note = "use `inference_monitor::tower::OnlyPaths`")]
pub type OnlyPaths<M> = tower::OnlyPaths<M>;

#[deprecated(
    since = "0.2.0",
    note = "use `inference_monitor::tower::OpenInference`"
)]
pub type OpenInference = tower::OpenInference;

#[deprecated(since = "0.2.0", note = "use `inference_monitor::tower::RequestHead`")]
pub type RequestHead<'a> = tower::RequestHead<'a>;

#[deprecated(since = "0.2.0", note = "use `inference_monitor::tower::ResponseBody`")]
pub type ResponseBody<B, C = classify::StatusClassifier, S = ()> = tower::ResponseBody<B, C, S>;

#[deprecated(
    since = "0.2.0",
    note = "use `inference_monitor::tower::ResponseFuture`"
)]
pub type ResponseFuture<F, C, T = tower::NoStreaming> = tower::ResponseFuture<F, C, T>;

#[deprecated(since = "0.2.0", note = "use `inference_monitor::tower::StreamClock`")]
pub type StreamClock = tower::StreamClock;

#[deprecated(since = "0.2.0", note = "use `inference_monitor::tower::NoStreaming`")]
pub type NoStreaming = tower::NoStreaming;

#[deprecated(since = "0.2.0", note = "use `inference_monitor::tower::NoStreaming`")]
pub const NoStreaming: tower::NoStreaming = tower::NoStreaming;

#[deprecated(since = "0.2.0", note = "use `inference_monitor::tower::Streaming`")]
pub type Streaming = tower::Streaming;

#[deprecated(since = "0.2.0", note = "use `inference_monitor::tower::Streaming`")]
pub const Streaming: tower::Streaming = tower::Streaming;

#[deprecated(
    since = "0.2.0",
    note = "use `inference_monitor::classify::StatusClassifier`"
)]
pub type StatusClassifier = classify::StatusClassifier;

#[deprecated(
    since = "0.2.0",
    note = "use `inference_monitor::classify::StatusClassifier`"
)]
pub const StatusClassifier: classify::StatusClassifier = classify::StatusClassifier;

#[deprecated(
    since = "0.2.0",
    note = "use `inference_monitor::classify::GrpcClassifier`"
)]
pub type GrpcClassifier = classify::GrpcClassifier;

#[deprecated(
    since = "0.2.0",
    note = "use `inference_monitor::classify::GrpcClassifier`"
)]
pub const GrpcClassifier: classify::GrpcClassifier = classify::GrpcClassifier;

#[cfg(feature = "prometheus")]
#[deprecated(
    since = "0.2.0",
    note = "use `inference_monitor::exporter::prometheus::PrometheusExporter`"
)]
pub type PrometheusExporter = crate::exporter::prometheus::PrometheusExporter;

#[cfg(feature = "prometheus")]
#[deprecated(
    since = "0.2.0",
    note = "use `inference_monitor::exporter::prometheus::PrometheusRecorder`"
)]
pub type PrometheusRecorder = crate::exporter::prometheus::PrometheusRecorder;

#[cfg(feature = "prometheus")]
#[deprecated(
    since = "0.2.0",
    note = "use `inference_monitor::exporter::prometheus::MetricsService`"
)]
pub type MetricsService = crate::exporter::prometheus::MetricsService;

#[cfg(feature = "prometheus")]
#[deprecated(
    since = "0.2.0",
    note = "use `inference_monitor::exporter::prometheus::MetricsAuth`"
)]
pub type MetricsAuth = crate::exporter::prometheus::MetricsAuth;

#[cfg(feature = "prometheus")]
#[deprecated(
    since = "0.2.0",
    note = "use `inference_monitor::exporter::prometheus::Pushgateway`"
)]
pub type Pushgateway = crate::exporter::prometheus::Pushgateway;

#[cfg(feature = "prometheus")]
#[deprecated(
    since = "0.2.0",
    note = "use `inference_monitor::exporter::prometheus::PushError`"
)]
pub type PushError = crate::exporter::prometheus::PushError;

#[cfg(feature = "otlp")]
#[deprecated(
    since = "0.2.0",
    note = "use `inference_monitor::exporter::otlp::OtlpExporter`"
)]
pub type OtlpExporter = crate::exporter::otlp::OtlpExporter;

#[cfg(feature = "otlp")]
#[deprecated(
    since = "0.2.0",
    note = "use `inference_monitor::exporter::otlp::OtlpHandle`"
)]
pub type OtlpHandle = crate::exporter::otlp::OtlpHandle;

#[cfg(feature = "otlp")]
#[deprecated(
    since = "0.2.0",
    note = "use `inference_monitor::exporter::otlp::OtlpError`"
)]
pub type OtlpError = crate::exporter::otlp::OtlpError;

#[cfg(feature = "otlp")]
#[deprecated(
    since = "0.2.0",
    note = "use `inference_monitor::exporter::otlp::OtlpRecorder`"
)]
pub type OtlpRecorder = crate::exporter::otlp::OtlpRecorder;

#[cfg(feature = "dashboard")]
#[deprecated(
    since = "0.2.0",
    note = "use `inference_monitor::dashboard::DashboardBuilder`"
)]
pub type DashboardBuilder = crate::dashboard::DashboardBuilder;

#[cfg(feature = "dashboard")]
#[deprecated(
    since = "0.2.0",
    note = "use `inference_monitor::dashboard::DashboardService`"
)]
pub type DashboardService<B = crate::dashboard::PageBody> = crate::dashboard::DashboardService<B>;

#[deprecated(
    since = "0.2.0",
    note = "use `inference_monitor::ModelMonitor::MAX_INFO_LABELS`"
)]
pub const MAX_INFO_LABELS: usize = crate::ModelMonitor::MAX_INFO_LABELS;
