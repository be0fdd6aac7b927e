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

#[cfg(target_os = "linux")]
#[test]
fn memory_stays_bounded_under_a_fragmented_upload() {
    loan_api::memory_stays_bounded_under_a_fragmented_upload("hyper_loan");
}

#[test]
fn an_over_limit_content_length_is_a_413_at_once() {
    loan_api::rejects_an_over_limit_content_length_at_once("hyper_loan");
}

#[test]
fn a_body_past_its_read_deadline_is_a_json_408() {
    loan_api::answers_408_past_the_body_read_deadline("hyper_loan");
}

#[test]
fn slow_heads_and_idle_connections_are_closed_after_the_header_timeout() {
    loan_api::closes_slow_heads_and_idle_connections_after_the_header_timeout("hyper_loan");
}

#[cfg(unix)]
#[test]
fn idle_sockets_beyond_the_limit_do_not_block_a_real_request() {
    loan_api::idle_sockets_do_not_block_a_real_request("hyper_loan");
}

#[test]
fn a_half_body_then_reset_is_cancelled() {
    loan_api::a_half_body_then_reset_is_cancelled("hyper_loan");
}

#[cfg(unix)]
#[test]
fn sigterm_drains_within_the_deadline_with_stuck_clients() {
    loan_api::drains_within_the_deadline_with_stuck_clients("hyper_loan");
}

#[test]
fn upload_time_is_not_inference_latency() {
    loan_api::upload_time_is_not_inference_latency("hyper_loan");
}

#[test]
fn the_main_address_does_not_speak_h2c() {
    loan_api::does_not_speak_h2c("hyper_loan");
}
