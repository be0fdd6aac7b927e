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
//! and the opt-in signals, registered only when used or declared
//! ([`MonitorBuilder::signals`](crate::MonitorBuilder::signals)):
//!
//! | name | type | labels |
//! |---|---|---|
//! | `inference_stage_duration_seconds` | histogram | `model`, `stage` |
//! | `inference_batch_size` | histogram | `model` |
//! | `inference_prediction_confidence` | histogram | `model` |
//! | `inference_model_info` | gauge (always 1) | `model`, `version`, declared extras |
//! | `inference_model_load_duration_seconds` | gauge | `model` |
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
/// Default name of the per-stage duration histogram (seconds).
pub const STAGE_DURATION_SECONDS: &str = "inference_stage_duration_seconds";
/// Default name of the batch size histogram (predictions per batched call).
pub const BATCH_SIZE: &str = "inference_batch_size";
/// Default name of the prediction confidence histogram (0 to 1).
pub const PREDICTION_CONFIDENCE: &str = "inference_prediction_confidence";
/// Default name of the model identity gauge (always 1).
pub const MODEL_INFO: &str = "inference_model_info";
/// Default name of the model load time gauge (seconds).
pub const MODEL_LOAD_DURATION_SECONDS: &str = "inference_model_load_duration_seconds";

// Streamed (generative) responses, opt-in with `InferenceMonitorLayer::streaming`.

/// Default name of the time-to-first-token histogram (seconds).
pub const TIME_TO_FIRST_TOKEN_SECONDS: &str = "inference_time_to_first_token_seconds";
/// Default name of the time-per-output-token histogram (seconds).
pub const TIME_PER_OUTPUT_TOKEN_SECONDS: &str = "inference_time_per_output_token_seconds";
/// Default name of the tokens counter (`type` is `input` or `output`).
pub const TOKENS_TOTAL: &str = "inference_tokens_total";
/// Label carrying the kind of token on the tokens counter: `input` or `output`.
pub const LABEL_TOKEN_TYPE: &str = "type";

/// Label carrying the model name on every metric.
pub const LABEL_MODEL: &str = "model";
/// Label carrying the [`Outcome`](crate::Outcome) of a request.
pub const LABEL_OUTCOME: &str = "outcome";
/// Label carrying the predicted class on the predictions counter.
pub const LABEL_PREDICTION: &str = "label";
/// Label carrying the [`Stage`](crate::Stage) on the stage duration histogram.
pub const LABEL_STAGE: &str = "stage";
/// Label carrying the model version on the model identity gauge.
pub const LABEL_VERSION: &str = "version";

/// The value a bounded label takes once its limit of distinct values is reached.
pub const OVERFLOW_VALUE: &str = "other";
/// The value used when a label is reported empty.
pub const UNKNOWN_VALUE: &str = "unknown";

/// The HELP texts the crate gives its metrics: not part of the API (they may be reworded in any
/// release); docs/metrics.md lists them.
pub(crate) mod help {
    /// Of the time-to-first-token histogram.
    pub(crate) const TIME_TO_FIRST_TOKEN: &str =
        "Time in seconds from the request to the first token (data frame) of its streamed response, by model.";
    /// Of the time-per-output-token histogram.
    pub(crate) const TIME_PER_OUTPUT_TOKEN: &str =
        "Time in seconds between output tokens of a streamed response after the first, (last - first) / (tokens - 1), by model.";
    /// Of the tokens counter.
    pub(crate) const TOKENS_TOTAL: &str = "Tokens processed, by model and type (input, output).";
    /// Of the requests counter.
    pub(crate) const REQUESTS_TOTAL: &str =
        "Inference requests finished, by model and outcome (success, client_error, server_error, cancelled).";
    /// Of the latency histogram.
    pub(crate) const REQUEST_LATENCY: &str =
        "Inference request latency in seconds, from the request to the end of the response, by model and outcome.";
    /// Of the predictions counter.
    pub(crate) const PREDICTIONS_TOTAL: &str = "Predictions made, by model and predicted label.";
    /// Of the in-progress gauge.
    pub(crate) const INPROGRESS: &str =
        "Inference requests started and not yet finished, by model.";
    /// Of the stage duration histogram.
    pub(crate) const STAGE_DURATION: &str =
        "Time spent in one stage of an inference request (queue, preprocess, predict, postprocess), in seconds, by model and stage.";
    /// Of the batch size histogram.
    pub(crate) const BATCH_SIZE: &str = "Predictions made by one batched model call, by model.";
    /// Of the confidence histogram.
    pub(crate) const PREDICTION_CONFIDENCE: &str =
        "Confidence (probability, 0 to 1) the model gave its predicted label, by model.";
    /// Of the model identity gauge.
    pub(crate) const MODEL_INFO: &str =
        "Always 1: the version (and declared details) of the model being served, by model.";
    /// Of the model load time gauge.
    pub(crate) const MODEL_LOAD_DURATION: &str =
        "Time it took to load the model being served, in seconds, by model.";
}

#[doc(hidden)]
#[deprecated(
    since = "0.2.0",
    note = "HELP texts are not part of the API: docs/metrics.md lists them"
)]
pub const HELP_TIME_TO_FIRST_TOKEN: &str = help::TIME_TO_FIRST_TOKEN;

#[doc(hidden)]
#[deprecated(
    since = "0.2.0",
    note = "HELP texts are not part of the API: docs/metrics.md lists them"
)]
pub const HELP_TIME_PER_OUTPUT_TOKEN: &str = help::TIME_PER_OUTPUT_TOKEN;

#[doc(hidden)]
#[deprecated(
    since = "0.2.0",
    note = "HELP texts are not part of the API: docs/metrics.md lists them"
)]
pub const HELP_TOKENS_TOTAL: &str = help::TOKENS_TOTAL;

#[doc(hidden)]
#[deprecated(
    since = "0.2.0",
    note = "HELP texts are not part of the API: docs/metrics.md lists them"
)]
pub const HELP_REQUESTS_TOTAL: &str = help::REQUESTS_TOTAL;

#[doc(hidden)]
#[deprecated(
    since = "0.2.0",
    note = "HELP texts are not part of the API: docs/metrics.md lists them"
)]
pub const HELP_REQUEST_LATENCY: &str = help::REQUEST_LATENCY;

#[doc(hidden)]
#[deprecated(
    since = "0.2.0",
    note = "HELP texts are not part of the API: docs/metrics.md lists them"
)]
pub const HELP_PREDICTIONS_TOTAL: &str = help::PREDICTIONS_TOTAL;

#[doc(hidden)]
#[deprecated(
    since = "0.2.0",
    note = "HELP texts are not part of the API: docs/metrics.md lists them"
)]
pub const HELP_INPROGRESS: &str = help::INPROGRESS;

#[doc(hidden)]
#[deprecated(
    since = "0.2.0",
    note = "HELP texts are not part of the API: docs/metrics.md lists them"
)]
pub const HELP_STAGE_DURATION: &str = help::STAGE_DURATION;

#[doc(hidden)]
#[deprecated(
    since = "0.2.0",
    note = "HELP texts are not part of the API: docs/metrics.md lists them"
)]
pub const HELP_BATCH_SIZE: &str = help::BATCH_SIZE;

#[doc(hidden)]
#[deprecated(
    since = "0.2.0",
    note = "HELP texts are not part of the API: docs/metrics.md lists them"
)]
pub const HELP_PREDICTION_CONFIDENCE: &str = help::PREDICTION_CONFIDENCE;

#[doc(hidden)]
#[deprecated(
    since = "0.2.0",
    note = "HELP texts are not part of the API: docs/metrics.md lists them"
)]
pub const HELP_MODEL_INFO: &str = help::MODEL_INFO;

#[doc(hidden)]
#[deprecated(
    since = "0.2.0",
    note = "HELP texts are not part of the API: docs/metrics.md lists them"
)]
pub const HELP_MODEL_LOAD_DURATION: &str = help::MODEL_LOAD_DURATION;

/// Default latency histogram boundaries, in seconds.
///
/// They run from 0.5 ms (small CPU models) to 60 s (long generative calls) and contain every
/// boundary of OpenTelemetry's HTTP server duration advice (0.005 … 10 s), so the usual SLO
/// thresholds (50 ms, 100 ms, 250 ms, 500 ms, 1 s, 2.5 s) fall exactly on a bucket boundary.
pub const DEFAULT_LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
    7.5, 10.0, 30.0, 60.0,
];

/// Default batch size boundaries: the powers of two from 1 to 1024.
///
/// Batchers usually cap a batch at a power of two, so a full batch lands exactly on a boundary;
/// `le="1"` counts the calls that batched nothing.
pub const DEFAULT_BATCH_SIZE_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// Default confidence boundaries, on 0 to 1.
///
/// Tenths up to 0.9 (so 0.5, the decision point of a binary classifier, is a boundary and
/// low-confidence multi-class answers are resolved), then 0.95, 0.99 and 0.999: a calibrated
/// model puts most of its answers near 1, and a drift shows first as mass leaving that region.
/// No boundary at 1.0: only values in `0..=1` are recorded, so `le="1"` would always equal
/// `+Inf`.
pub const DEFAULT_CONFIDENCE_BUCKETS: &[f64] = &[
    0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999,
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
    /// Stage duration histogram. Defaults to `inference_stage_duration_seconds`.
    pub stage_duration_seconds: Cow<'static, str>,
    /// Batch size histogram. Defaults to `inference_batch_size`.
    pub batch_size: Cow<'static, str>,
    /// Confidence histogram. Defaults to `inference_prediction_confidence`.
    pub prediction_confidence: Cow<'static, str>,
    /// Model identity gauge. Defaults to `inference_model_info`.
    pub model_info: Cow<'static, str>,
    /// Model load time gauge. Defaults to `inference_model_load_duration_seconds`.
    pub model_load_duration_seconds: Cow<'static, str>,
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
            stage_duration_seconds: Cow::Borrowed(STAGE_DURATION_SECONDS),
            batch_size: Cow::Borrowed(BATCH_SIZE),
            prediction_confidence: Cow::Borrowed(PREDICTION_CONFIDENCE),
            model_info: Cow::Borrowed(MODEL_INFO),
            model_load_duration_seconds: Cow::Borrowed(MODEL_LOAD_DURATION_SECONDS),
            time_to_first_token_seconds: Cow::Borrowed(TIME_TO_FIRST_TOKEN_SECONDS),
            time_per_output_token_seconds: Cow::Borrowed(TIME_PER_OUTPUT_TOKEN_SECONDS),
            tokens_total: Cow::Borrowed(TOKENS_TOTAL),
        }
    }
}

impl MetricNames {
    /// The default names with `prefix` and an underscore in front of each.
    ///
    /// ```
    /// use inference_monitor::MetricNames;
    ///
    /// let names = MetricNames::with_prefix("llm");
    /// assert_eq!(names.stage_duration_seconds, "llm_inference_stage_duration_seconds");
    /// assert_eq!(names.model_info, "llm_inference_model_info");
    /// ```
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
            stage_duration_seconds: p(STAGE_DURATION_SECONDS),
            batch_size: p(BATCH_SIZE),
            prediction_confidence: p(PREDICTION_CONFIDENCE),
            model_info: p(MODEL_INFO),
            model_load_duration_seconds: p(MODEL_LOAD_DURATION_SECONDS),
            time_to_first_token_seconds: p(TIME_TO_FIRST_TOKEN_SECONDS),
            time_per_output_token_seconds: p(TIME_PER_OUTPUT_TOKEN_SECONDS),
            tokens_total: p(TOKENS_TOTAL),
        }
    }

    /// Every name, in the order of the fields.
    fn all(&self) -> [&Cow<'static, str>; 12] {
        [
            &self.requests_total,
            &self.request_latency_seconds,
            &self.predictions_total,
            &self.inprogress_requests,
            &self.stage_duration_seconds,
            &self.batch_size,
            &self.prediction_confidence,
            &self.model_info,
            &self.model_load_duration_seconds,
            &self.time_to_first_token_seconds,
            &self.time_per_output_token_seconds,
            &self.tokens_total,
        ]
    }

    /// Checks that every name is a valid Prometheus metric name and that they are distinct.
    pub(crate) fn validate(&self) -> Result<(), crate::ConfigError> {
        let all = self.all();
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
        let mut n = MetricNames::default();
        n.batch_size = n.request_latency_seconds.clone();
        assert!(n.validate().is_err());
        let n = MetricNames {
            model_info: "bad name".into(),
            ..MetricNames::default()
        };
        assert!(n.validate().is_err());
    }

    #[test]
    fn a_prefix_reaches_every_name() {
        let names = MetricNames::with_prefix("p");
        let defaults = MetricNames::default();
        for (prefixed, default) in names.all().iter().zip(defaults.all()) {
            assert_eq!(**prefixed, format!("p_{default}"));
        }
        assert_eq!(MetricNames::with_prefix(""), defaults);
    }

    #[test]
    fn signal_buckets_are_valid_and_exactly_the_documented_ones() {
        validate_buckets(DEFAULT_BATCH_SIZE_BUCKETS).unwrap();
        let powers: Vec<f64> = (0..=10).map(|i| f64::from(1u32 << i)).collect();
        assert_eq!(DEFAULT_BATCH_SIZE_BUCKETS, &powers[..]);
        validate_buckets(DEFAULT_CONFIDENCE_BUCKETS).unwrap();
        assert!(DEFAULT_CONFIDENCE_BUCKETS.contains(&0.5));
        assert_eq!(DEFAULT_CONFIDENCE_BUCKETS.len(), 12);
        assert_eq!(DEFAULT_CONFIDENCE_BUCKETS.last(), Some(&0.999));
    }
}
