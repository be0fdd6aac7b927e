#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod classify;
mod correlation;
#[cfg(feature = "dashboard")]
#[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
pub mod dashboard;
mod deprecated;
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

// The everyday names. The rest has one path each: tower plumbing under `tower`, classifiers
// under `classify`, exporter types under `exporter::prometheus` / `exporter::otlp`.
pub use error::ConfigError;
pub use model::limiter as cardinality;
pub use model::{
    recorder_panics, InFlight, ModelMonitor, Monitor, MonitorBuilder, Observed, Signal, Signals,
    Stage, StageTimer,
};
pub use names::MetricNames;
pub use outcome::Outcome;
pub use tower::{InferenceMonitorLayer, Prediction, TokenUsage};

#[cfg(feature = "dashboard")]
#[cfg_attr(docsrs, doc(cfg(feature = "dashboard")))]
pub use dashboard::Dashboard;
#[cfg(feature = "otlp")]
#[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
pub use exporter::otlp::otlp;
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub use exporter::prometheus::{prometheus, ExporterError, MetricsHandle};

#[doc(hidden)]
pub use macros::__private;

// Old root paths, one release: deprecated aliases (see `deprecated.rs`), and the traits, which
// cannot be aliased, as hidden re-exports.
#[doc(hidden)]
pub use classify::ClassifyOutcome as ClassifyResponse;
#[doc(hidden)]
#[allow(deprecated)]
pub use deprecated::*;
#[doc(hidden)]
pub use tower::{ModelSource, StreamState, TrackStream};

/// The `metrics` facade this crate records through. Use this re-export (or the same version)
/// so your own metrics reach the same recorder: two facade versions in one build silently
/// drop metrics.
pub use metrics;
