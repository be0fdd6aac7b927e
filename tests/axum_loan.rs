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

/// The demo's signals, exactly: each stage of `/predict` counted once per request that reached
/// it, the confidence of each answer in its bucket, the model's version and load time.
#[test]
fn reports_stages_confidence_and_model_info() {
    let server = common::start_example("axum_loan", &[]);
    let addr = server.addr;

    // Before any request: the declared series are at zero, the model is identified.
    let m = common::scrape(addr);
    for stage in ["queue", "preprocess", "predict", "postprocess"] {
        assert_eq!(
            m.value(
                "inference_stage_duration_seconds_count",
                &[("model", "loan"), ("stage", stage)]
            ),
            Some(0.0),
            "{stage}"
        );
    }
    assert_eq!(
        m.value(
            "inference_prediction_confidence_count",
            &[("model", "loan")]
        ),
        Some(0.0)
    );
    assert_eq!(
        m.value(
            "inference_model_info",
            &[("model", "loan"), ("version", "logreg-v1")]
        ),
        Some(1.0)
    );
    assert_eq!(m.matching("inference_model_info", &[]).count(), 1);
    let load = m
        .value(
            "inference_model_load_duration_seconds",
            &[("model", "loan")],
        )
        .expect("load time");
    assert!((0.0..10.0).contains(&load), "{load}");

    // Two answers, one 422 (preprocessed, never predicted), one 415 (likewise).
    let mut confidences = Vec::new();
    for body in [loan_api::GOOD, loan_api::RISKY] {
        let res = common::post_json(addr, "/predict", body);
        assert_eq!(res.status, 200, "{}", res.body);
        let json = res.json();
        let p = json["probability"].as_f64().unwrap();
        confidences.push(if json["label"] == "approved" {
            p
        } else {
            1.0 - p
        });
    }
    let invalid = common::post_json(addr, "/predict", r#"{"applicant_income": 5000}"#);
    assert_eq!(invalid.status, 422);
    let text = common::http(
        addr,
        "POST",
        "/predict",
        &[("Content-Type", "text/plain")],
        b"{}",
    );
    assert_eq!(text.status, 415);

    let m = common::scrape(addr);
    let stage_count = |stage: &str| {
        m.value(
            "inference_stage_duration_seconds_count",
            &[("model", "loan"), ("stage", stage)],
        )
    };
    assert_eq!(stage_count("queue"), Some(4.0));
    assert_eq!(stage_count("preprocess"), Some(4.0));
    assert_eq!(stage_count("predict"), Some(2.0));
    assert_eq!(stage_count("postprocess"), Some(2.0));
    assert_eq!(
        m.value(
            "inference_stage_duration_seconds_bucket",
            &[("model", "loan"), ("stage", "predict"), ("le", "+Inf")]
        ),
        Some(2.0)
    );

    let confidence = |le: &str| {
        m.value(
            "inference_prediction_confidence_bucket",
            &[("model", "loan"), ("le", le)],
        )
    };
    assert_eq!(
        m.value(
            "inference_prediction_confidence_count",
            &[("model", "loan")]
        ),
        Some(2.0)
    );
    assert_eq!(confidence("+Inf"), Some(2.0));
    // The model's own answers say which bucket each confidence falls in.
    for le in inference_monitor::names::DEFAULT_CONFIDENCE_BUCKETS {
        #[allow(clippy::cast_precision_loss)]
        let expected = confidences.iter().filter(|c| **c <= *le).count() as f64;
        assert_eq!(confidence(&le.to_string()), Some(expected), "le={le}");
    }
    // Both answers are confident ones (at least 0.5 by construction).
    assert_eq!(confidence("0.4"), Some(0.0));
    let sum = m
        .value("inference_prediction_confidence_sum", &[("model", "loan")])
        .unwrap();
    // The same two additions in either order: exact.
    assert_eq!(sum, confidences[0] + confidences[1]);

    for name in [
        "inference_stage_duration_seconds",
        "inference_prediction_confidence",
        "inference_model_info",
        "inference_model_load_duration_seconds",
    ] {
        assert!(m.help.contains_key(name), "no HELP for {name}");
        assert!(m.types.contains_key(name), "no TYPE for {name}");
    }
    assert_eq!(m.types["inference_stage_duration_seconds"], "histogram");
    assert_eq!(m.types["inference_model_info"], "gauge");
}
