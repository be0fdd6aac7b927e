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

/// The number of `inference_requests_total` samples for model `loan` whose value is not 0.
fn nonzero_loan_request_samples(addr: std::net::SocketAddr) -> usize {
    common::scrape(addr)
        .matching("inference_requests_total", &[("model", "loan")])
        .filter(|s| s.value != 0.0)
        .count()
}

#[test]
fn inference_monitor_off_serves_the_same_predict_without_the_layer() {
    let off = common::start_example("axum_loan", &[("INFERENCE_MONITOR", "off")]);
    assert!(
        off.banner.iter().any(|l| l.contains("monitor: off")),
        "banner: {:?}",
        off.banner
    );
    let res = common::post_json(off.addr, "/predict", loan_api::GOOD);
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["label"], "approved");
    assert_eq!(nonzero_loan_request_samples(off.addr), 0);

    let on = common::start_example("axum_loan", &[("INFERENCE_MONITOR", "on")]);
    assert!(
        on.banner.iter().any(|l| l.contains("monitor: on")),
        "banner: {:?}",
        on.banner
    );
    let res = common::post_json(on.addr, "/predict", loan_api::GOOD);
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(nonzero_loan_request_samples(on.addr), 1);
    assert_eq!(
        common::scrape(on.addr).value(
            "inference_requests_total",
            &[("model", "loan"), ("outcome", "success")]
        ),
        Some(1.0)
    );
}
