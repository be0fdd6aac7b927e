//! End to end: the real `axum_loan` example on a free loopback port, real HTTP, and its
//! `/metrics` parsed and checked to the exact count.

mod common;

use common::loan_api;

#[test]
fn serves_predictions_and_exact_metrics_over_real_http() {
    loan_api::serves_predictions_and_exact_metrics("axum_loan");
}

#[test]
fn every_rejected_request_gets_a_json_4xx_and_counts_as_client_error() {
    loan_api::rejects_with_json_4xx_counted_as_client_error("axum_loan");
}

#[cfg(unix)]
#[test]
fn shuts_down_gracefully_on_sigterm() {
    loan_api::shuts_down_gracefully_on_sigterm("axum_loan");
}
