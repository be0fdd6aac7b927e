//! What a `TestRecorder` holds of the four request metrics, by model: the look-ups the tests of
//! the layer, the macro, the actix middleware, gRPC and streaming all make.

use inference_monitor::testing::TestRecorder;

pub const REQUESTS: &str = "inference_requests_total";
pub const LATENCY: &str = "inference_request_latency_seconds";
pub const PREDICTIONS: &str = "inference_predictions_total";
pub const INPROGRESS: &str = "inference_inprogress_requests";

/// `inference_requests_total{model, outcome}`.
pub fn requests(rec: &TestRecorder, model: &str, outcome: &str) -> Option<u64> {
    rec.counter(REQUESTS, &[("model", model), ("outcome", outcome)])
}

/// The number of latency samples of `{model, outcome}`.
pub fn latency_count(rec: &TestRecorder, model: &str, outcome: &str) -> Option<usize> {
    rec.histogram(LATENCY, &[("model", model), ("outcome", outcome)])
        .map(|h| h.len())
}

/// `inference_inprogress_requests{model}`.
pub fn inprogress(rec: &TestRecorder, model: &str) -> Option<f64> {
    rec.gauge(INPROGRESS, &[("model", model)])
}

/// `inference_predictions_total{model, label}`.
pub fn predictions(rec: &TestRecorder, model: &str, label: &str) -> Option<u64> {
    rec.counter(PREDICTIONS, &[("model", model), ("label", label)])
}
