//! End to end: the real `hyper_loan` example (plain hyper, no framework) on a free loopback
//! port, real HTTP, and its `/metrics` parsed and checked to the exact count. The same checks as
//! `tests/suite/axum_loan.rs`, plus the JSON 405 and the `Allow` header.

use crate::common;

use common::loan_api;

#[test]
fn serves_predictions_and_exact_metrics_over_real_http() {
    loan_api::serves_predictions_and_exact_metrics("hyper_loan");
}

#[test]
fn every_rejected_request_gets_a_json_4xx_and_counts_as_client_error() {
    loan_api::rejects_with_json_4xx_counted_as_client_error("hyper_loan");
}

#[cfg(unix)]
#[test]
fn shuts_down_gracefully_on_sigterm() {
    loan_api::shuts_down_gracefully_on_sigterm("hyper_loan");
}
