//! Metric names, help texts, units and default latency buckets: the one place they live.
//!
//! Every other module refers to these; nothing else spells a metric name. The defaults are
//! exactly the four names of the classic Python inference exporter, so dashboards and alert
//! rules written for it work unchanged:
//!
//! | name | type | labels |
//! |---|---|---|
//! | `inference_requests_total` | counter | `model`, `outcome` |
//! | `inference_request_latency_seconds` | histogram | `model`, `outcome` |
//! | `inference_predictions_total` | counter | `model`, `label` |
//! | `inference_inprogress_requests` | gauge | `model` |
//!
//! Opt-in, for streamed (generative) responses (`InferenceMonitorLayer::streaming`):
//!
//! | name | type | labels |
//! |---|---|---|
//! | `inference_time_to_first_token_seconds` | histogram | `model` |
//! | `inference_time_per_output_token_seconds` | histogram | `model` |
//! | `inference_tokens_total` | counter | `model`, `type` (`input`, `output`) |

use std::borrow::Cow;

/// Default name of the finished-requests counter.
pub const REQUESTS_TOTAL: &str = "inference_requests_total";
/// Default name of the request latency histogram (seconds).
pub const REQUEST_LATENCY_SECONDS: &str = "inference_request_latency_seconds";
/// Default name of the predictions-by-label counter.
pub const PREDICTIONS_TOTAL: &str = "inference_predictions_total";
/// Default name of the in-progress requests gauge.
pub const INPROGRESS_REQUESTS: &str = "inference_inprogress_requests";

// Streamed (generative) responses, opt-in with `InferenceMonitorLayer::streaming`.

/// Default name of the time-to-first-token histogram (seconds).
pub const TIME_TO_FIRST_TOKEN_SECONDS: &str = "inference_time_to_first_token_seconds";
/// Default name of the time-per-output-token histogram (seconds).
pub const TIME_PER_OUTPUT_TOKEN_SECONDS: &str = "inference_time_per_output_token_seconds";
/// Default name of the tokens counter (`type` is `input` or `output`).
pub const TOKENS_TOTAL: &str = "inference_tokens_total";
/// Label carrying the kind of token on the tokens counter: `input` or `output`.
pub const LABEL_TOKEN_TYPE: &str = "type";
/// HELP text of the time-to-first-token histogram.
pub const HELP_TIME_TO_FIRST_TOKEN: &str =
    "Time in seconds from the request to the first token (data frame) of its streamed response, by model.";
/// HELP text of the time-per-output-token histogram.
pub const HELP_TIME_PER_OUTPUT_TOKEN: &str =
    "Time in seconds between output tokens of a streamed response after the first, (last - first) / (tokens - 1), by model.";
/// HELP text of the tokens counter.
pub const HELP_TOKENS_TOTAL: &str = "Tokens processed, by model and type (input, output).";

/// Label carrying the model name on every metric.
pub const LABEL_MODEL: &str = "model";
/// Label carrying the [`Outcome`](crate::Outcome) of a request.
pub const LABEL_OUTCOME: &str = "outcome";
/// Label carrying the predicted class on the predictions counter.
pub const LABEL_PREDICTION: &str = "label";

/// The value a bounded label takes once its limit of distinct values is reached.
pub const OVERFLOW_VALUE: &str = "other";
/// The value used when a label is reported empty.
pub const UNKNOWN_VALUE: &str = "unknown";

/// HELP text of the requests counter.
pub const HELP_REQUESTS_TOTAL: &str =
    "Inference requests finished, by model and outcome (success, client_error, server_error, cancelled).";
/// HELP text of the latency histogram.
pub const HELP_REQUEST_LATENCY: &str =
    "Inference request latency in seconds, from the request to the end of the response, by model and outcome.";
/// HELP text of the predictions counter.
pub const HELP_PREDICTIONS_TOTAL: &str = "Predictions made, by model and predicted label.";
/// HELP text of the in-progress gauge.
pub const HELP_INPROGRESS: &str = "Inference requests started and not yet finished, by model.";

/// Default latency histogram boundaries, in seconds.
///
/// They run from 0.5 ms (small CPU models) to 60 s (long generative calls) and contain every
/// boundary of OpenTelemetry's HTTP server duration advice (0.005 … 10 s), so the usual SLO
/// thresholds (50 ms, 100 ms, 250 ms, 500 ms, 1 s, 2.5 s) fall exactly on a bucket boundary.
pub const DEFAULT_LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
    7.5, 10.0, 30.0, 60.0,
];

/// The names of the metrics, as one value: the four of every request, and the opt-in ones.
///
/// The default is the seed's four names (and `inference_…` names for the opt-in metrics). Use [`MetricNames::with_prefix`] to give a second
/// family of metrics its own names (for example for a model that needs other latency buckets),
/// or set each field to match an existing dashboard.
///
/// ```
/// use inference_monitor::MetricNames;
///
/// let names = MetricNames::with_prefix("llm");
/// assert_eq!(names.requests_total, "llm_inference_requests_total");
/// assert_eq!(MetricNames::default().request_latency_seconds, "inference_request_latency_seconds");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricNames {
    /// Finished requests counter. Defaults to `inference_requests_total`.
    pub requests_total: Cow<'static, str>,
    /// Latency histogram. Defaults to `inference_request_latency_seconds`.
    pub request_latency_seconds: Cow<'static, str>,
    /// Predictions counter. Defaults to `inference_predictions_total`.
    pub predictions_total: Cow<'static, str>,
    /// In-progress gauge. Defaults to `inference_inprogress_requests`.
    pub inprogress_requests: Cow<'static, str>,
    /// Time-to-first-token histogram of streamed responses. Defaults to
    /// `inference_time_to_first_token_seconds`.
    pub time_to_first_token_seconds: Cow<'static, str>,
    /// Time-per-output-token histogram of streamed responses. Defaults to
    /// `inference_time_per_output_token_seconds`.
    pub time_per_output_token_seconds: Cow<'static, str>,
    /// Tokens counter. Defaults to `inference_tokens_total`.
    pub tokens_total: Cow<'static, str>,
}

impl Default for MetricNames {
    fn default() -> Self {
        Self {
            requests_total: Cow::Borrowed(REQUESTS_TOTAL),
            request_latency_seconds: Cow::Borrowed(REQUEST_LATENCY_SECONDS),
            predictions_total: Cow::Borrowed(PREDICTIONS_TOTAL),
            inprogress_requests: Cow::Borrowed(INPROGRESS_REQUESTS),
            time_to_first_token_seconds: Cow::Borrowed(TIME_TO_FIRST_TOKEN_SECONDS),
            time_per_output_token_seconds: Cow::Borrowed(TIME_PER_OUTPUT_TOKEN_SECONDS),
            tokens_total: Cow::Borrowed(TOKENS_TOTAL),
        }
    }
}

impl MetricNames {
    /// The default names with `prefix` and an underscore in front of each.
    ///
    /// An empty prefix gives the defaults.
    #[must_use]
    pub fn with_prefix(prefix: &str) -> Self {
        if prefix.is_empty() {
            return Self::default();
        }
        let p = |name: &str| Cow::Owned(format!("{prefix}_{name}"));
        Self {
            requests_total: p(REQUESTS_TOTAL),
            request_latency_seconds: p(REQUEST_LATENCY_SECONDS),
            predictions_total: p(PREDICTIONS_TOTAL),
            inprogress_requests: p(INPROGRESS_REQUESTS),
            time_to_first_token_seconds: p(TIME_TO_FIRST_TOKEN_SECONDS),
            time_per_output_token_seconds: p(TIME_PER_OUTPUT_TOKEN_SECONDS),
            tokens_total: p(TOKENS_TOTAL),
        }
    }

    /// Checks that every name is a valid Prometheus metric name and that all are distinct.
    pub(crate) fn validate(&self) -> Result<(), crate::ConfigError> {
        let all = [
            &self.requests_total,
            &self.request_latency_seconds,
            &self.predictions_total,
            &self.inprogress_requests,
            &self.time_to_first_token_seconds,
            &self.time_per_output_token_seconds,
            &self.tokens_total,
        ];
        for name in all {
            if !is_valid_metric_name(name) {
                return Err(crate::ConfigError::InvalidMetricName(name.to_string()));
            }
        }
        for (i, a) in all.iter().enumerate() {
            if all[i + 1..].contains(a) {
                return Err(crate::ConfigError::DuplicateMetricName(a.to_string()));
            }
        }
        Ok(())
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, the Prometheus metric name grammar.
pub(crate) fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Checks a bucket list: non-empty, finite, strictly increasing.
pub(crate) fn validate_buckets(buckets: &[f64]) -> Result<(), crate::ConfigError> {
    if buckets.is_empty() {
        return Err(crate::ConfigError::InvalidBuckets(
            "the list is empty".into(),
        ));
    }
    if let Some(b) = buckets.iter().find(|b| !b.is_finite()) {
        return Err(crate::ConfigError::InvalidBuckets(format!(
            "{b} is not a finite number"
        )));
    }
    if let Some(w) = buckets.windows(2).find(|w| w[0] >= w[1]) {
        return Err(crate::ConfigError::InvalidBuckets(format!(
            "boundaries must be strictly increasing, but {} is followed by {}",
            w[0], w[1]
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_buckets_are_valid_and_hold_the_otel_http_boundaries() {
        validate_buckets(DEFAULT_LATENCY_BUCKETS).unwrap();
        for b in [
            0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
        ] {
            assert!(DEFAULT_LATENCY_BUCKETS.contains(&b), "missing {b}");
        }
        assert_eq!(DEFAULT_LATENCY_BUCKETS.first(), Some(&0.0005));
        assert_eq!(DEFAULT_LATENCY_BUCKETS.last(), Some(&60.0));
    }

    #[test]
    fn bad_buckets_are_rejected_with_a_reason() {
        let e = validate_buckets(&[0.1, 0.1]).unwrap_err().to_string();
        assert!(e.contains("strictly increasing"), "{e}");
        assert!(validate_buckets(&[]).is_err());
        assert!(validate_buckets(&[f64::NAN]).is_err());
    }

    #[test]
    fn names_are_validated() {
        MetricNames::default().validate().unwrap();
        MetricNames::with_prefix("llm").validate().unwrap();
        assert_eq!(
            MetricNames::with_prefix("llm").tokens_total,
            "llm_inference_tokens_total"
        );
        assert_eq!(
            MetricNames::with_prefix("llm").time_to_first_token_seconds,
            "llm_inference_time_to_first_token_seconds"
        );
        assert!(MetricNames::with_prefix("9bad").validate().is_err());
        let mut n = MetricNames::default();
        n.predictions_total = n.requests_total.clone();
        assert!(n.validate().is_err());
    }
}
