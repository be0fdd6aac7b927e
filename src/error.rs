//! The crate's error types.

use std::fmt;

/// A monitor configuration that cannot work, found when it is built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A latency bucket list that is empty, not finite or not strictly increasing.
    InvalidBuckets(String),
    /// A metric name outside the Prometheus grammar `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    InvalidMetricName(String),
    /// Two of the monitor's metrics (the four and the opt-in signals, [`MetricNames`](crate::MetricNames)) were
    /// given the same name.
    DuplicateMetricName(String),
    /// A limit of zero: no value could ever be recorded.
    ZeroLimit(&'static str),
    /// A live dashboard configuration that cannot work (feature `dashboard`): a metrics path
    /// off the page's origin, a refresh interval or history out of range.
    InvalidDashboard(String),
    /// An extra label of [`ModelMonitor::info_with`](crate::ModelMonitor::info_with) that
    /// cannot be used.
    InvalidInfoLabel(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::InvalidBuckets(why) => write!(f, "invalid buckets: {why}"),
            ConfigError::InvalidMetricName(name) => write!(
                f,
                "invalid metric name {name:?}: use letters, digits, '_' and ':' only, not starting with a digit"
            ),
            ConfigError::DuplicateMetricName(name) => write!(
                f,
                "metric name {name:?} is used for two different metrics: give each its own name"
            ),
            ConfigError::InvalidInfoLabel(why) => {
                write!(f, "invalid model info label: {why}")
            }
            ConfigError::ZeroLimit(what) => {
                write!(f, "{what} must be at least 1, or nothing could be recorded")
            }
            ConfigError::InvalidDashboard(why) => write!(f, "invalid dashboard: {why}"),
        }
    }
}

impl std::error::Error for ConfigError {}
