//! End to end: the real `axum_loan` example on a free loopback port, real HTTP, and its
//! `/metrics` parsed and checked to the exact count.

use crate::common;
use crate::loan_model;

use common::loan_api;
use loan_model::{LoanApplication, LoanModel};
use serde_json::{json, Value};

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

/// `axum_loan` with `INFERENCE_MONITOR=mode`, its banner checked to name the mode.
fn start_in_mode(mode: &str) -> common::Server {
    let server = common::start_example("axum_loan", &[("INFERENCE_MONITOR", mode)]);
    let line = format!("monitor: {mode}");
    assert!(
        server.banner.iter().any(|l| l.contains(&line)),
        "banner: {:?}",
        server.banner
    );
    server
}

#[test]
fn inference_monitor_off_serves_the_same_predict_without_the_layer() {
    let off = start_in_mode("off");
    let res = common::post_json(off.addr, "/predict", loan_api::GOOD);
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["label"], "approved");
    assert_eq!(nonzero_loan_request_samples(off.addr), 0);

    let on = start_in_mode("on");
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

    // `layer`: the four metrics, none of the opt-in signals, the layer on the two routes
    // (`ON_MODE=layer` of benches/load.sh).
    let layer = start_in_mode("layer");
    let res = common::post_json(layer.addr, "/predict", loan_api::GOOD);
    assert_eq!(res.status, 200, "{}", res.body);
    let m = common::scrape(layer.addr);
    assert_eq!(
        m.value(
            "inference_requests_total",
            &[("model", "loan"), ("outcome", "success")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.value(
            "inference_predictions_total",
            &[("model", "loan"), ("label", "approved")]
        ),
        Some(1.0)
    );
    for absent in [
        "inference_stage_duration_seconds_count",
        "inference_prediction_confidence_count",
        "inference_batch_size_count",
    ] {
        assert_eq!(m.matching(absent, &[]).count(), 0, "{absent}");
    }

    // `app` (the default's placement): one layer around the whole router, counting only the
    // two inference paths.
    let app = start_in_mode("app");
    let res = common::post_json(app.addr, "/predict", loan_api::GOOD);
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["label"], "approved");
    let res = common::post_json(app.addr, "/predict", loan_api::RISKY);
    assert_eq!(res.json()["label"], "rejected");
    let batch = format!(
        "{{\"applications\": [{}, {}]}}",
        loan_api::GOOD,
        loan_api::GOOD
    );
    let res = common::post_json(app.addr, "/predict/batch", &batch);
    assert_eq!(res.status, 200, "{}", res.body);
    let res = common::post_json(app.addr, "/predict", "{not json");
    assert_eq!(res.status, 400, "{}", res.body);
    // Not inference paths: answered as before, counted nowhere.
    assert_eq!(
        common::http(app.addr, "GET", "/healthz", &[], b"").status,
        200
    );
    assert_eq!(
        common::http(app.addr, "GET", "/nowhere", &[], b"").status,
        404
    );
    let _ = common::scrape(app.addr);
    let m = common::scrape(app.addr);
    let requests = |outcome| m.requests("loan", outcome);
    assert_eq!(requests("success"), Some(3.0));
    assert_eq!(requests("client_error"), Some(1.0));
    assert_eq!(requests("server_error"), Some(0.0));
    assert_eq!(requests("cancelled"), Some(0.0));
    let predictions = |label| m.predictions("loan", label);
    // The batch reports no single label (`Prediction` is per answer), its requests count.
    assert_eq!(predictions("approved"), Some(1.0));
    assert_eq!(predictions("rejected"), Some(1.0));
    assert_eq!(
        m.value("inference_inprogress_requests", &[("model", "loan")]),
        Some(0.0)
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

/// `n` valid applications, varied so that the model approves some and rejects others: incomes
/// from 600 to 9,600, loans from 50 to 700, with and without a credit history.
fn applications(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let mut app: Value = serde_json::from_str(loan_api::GOOD).unwrap();
            app["applicant_income"] = json!(600 + (i * 1_500) % 9_001);
            app["loan_amount"] = json!(50 + (i * 130) % 651);
            app["credit_history"] = json!(i % 3 != 2);
            app
        })
        .collect()
}

/// The labels the shipped model gives `apps`, computed here, not by the server.
fn expected_labels(apps: &[Value]) -> Vec<&'static str> {
    let model = LoanModel::load();
    apps.iter()
        .map(|a| model.predict(&LoanApplication::from_json(a).unwrap()).label)
        .collect()
}

fn batch_body(apps: &[Value]) -> String {
    json!({ "applications": apps }).to_string()
}

/// `/predict/batch`: one request, one model call for the whole batch. Its size recorded once in
/// `inference_batch_size`, each of its labels counted in `inference_predictions_total`, a
/// confidence per application, each stage timed once; a refused batch is a JSON 4xx counted as
/// `client_error`, with no size, label or confidence recorded.
#[test]
fn scores_a_batch_and_reports_its_size_labels_and_confidences() {
    let server = common::start_example("axum_loan", &[]);
    let addr = server.addr;
    assert!(
        server
            .banner
            .iter()
            .any(|l| l.contains("/predict/batch") && l.contains("1 to 64 applications")),
        "banner: {:?}",
        server.banner
    );

    // Declared at start-up: the histogram is there at zero before any batch.
    let m = common::scrape(addr);
    assert_eq!(
        m.value("inference_batch_size_count", &[("model", "loan")]),
        Some(0.0)
    );
    assert_eq!(
        m.value("inference_batch_size_sum", &[("model", "loan")]),
        Some(0.0)
    );

    // Three batches: 5 applications, 1, and the largest allowed, 64.
    let sizes = [5usize, 1, 64];
    let mut labels = Vec::new();
    for size in sizes {
        let apps = applications(size);
        let expected = expected_labels(&apps);
        let res = common::post_json(addr, "/predict/batch", &batch_body(&apps));
        assert_eq!(res.status, 200, "{}", res.body);
        let json = res.json();
        assert_eq!(json["model_version"], "logreg-v1");
        let got: Vec<&str> = json["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["label"].as_str().unwrap())
            .collect();
        assert_eq!(got, expected, "batch of {size}");
        labels.extend(expected);
    }
    let approved = labels.iter().filter(|l| **l == "approved").count();
    let rejected = labels.iter().filter(|l| **l == "rejected").count();
    // The applications are varied enough for the model to give both answers.
    assert!(approved > 0 && rejected > 0, "{approved} / {rejected}");
    assert_eq!(approved + rejected, 70);

    // Refused batches: each a JSON 4xx, nothing scored.
    let invalid_second = {
        let mut apps = applications(3);
        apps[1]["property_area"] = json!("moon");
        batch_body(&apps)
    };
    let refused: [(&str, &str, String, u16); 6] = [
        ("empty", "application/json", batch_body(&[]), 422),
        (
            "too many",
            "application/json",
            batch_body(&applications(65)),
            413,
        ),
        (
            "malformed",
            "application/json",
            "{\"applications\": [".into(),
            400,
        ),
        (
            "invalid application",
            "application/json",
            invalid_second,
            422,
        ),
        ("bare array", "application/json", "[]".into(), 422),
        ("not JSON", "text/plain", batch_body(&applications(2)), 415),
    ];
    for (what, content_type, body, status) in &refused {
        let res = common::http(
            addr,
            "POST",
            "/predict/batch",
            &[("Content-Type", content_type)],
            body.as_bytes(),
        );
        assert_eq!(res.status, *status, "{what}: {}", res.body);
        assert!(
            res.header("content-type")
                .is_some_and(|ct| ct.starts_with("application/json")),
            "{what}"
        );
        assert!(
            res.json()["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: {}",
            res.body
        );
    }
    let wrong_method = common::http(addr, "GET", "/predict/batch", &[], b"");
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("POST"));
    assert!(wrong_method.json()["error"].is_string());

    let m = common::scrape(addr);
    let requests = |outcome: &str| m.requests("loan", outcome);
    assert_eq!(requests("success"), Some(3.0));
    assert_eq!(requests("client_error"), Some(7.0));
    assert_eq!(requests("server_error"), Some(0.0));
    let label = |l: &str| m.predictions("loan", l);
    #[allow(clippy::cast_precision_loss)]
    {
        assert_eq!(label("approved"), Some(approved as f64));
        assert_eq!(label("rejected"), Some(rejected as f64));
    }

    // One observation per accepted batch, none for the refused ones.
    assert_eq!(
        m.value("inference_batch_size_count", &[("model", "loan")]),
        Some(3.0)
    );
    assert_eq!(
        m.value("inference_batch_size_sum", &[("model", "loan")]),
        Some(70.0)
    );
    let bucket = |le: &str| {
        m.value(
            "inference_batch_size_bucket",
            &[("model", "loan"), ("le", le)],
        )
    };
    for (le, count) in [
        ("1", 1.0),
        ("2", 1.0),
        ("4", 1.0),
        ("8", 2.0),
        ("16", 2.0),
        ("32", 2.0),
        ("64", 3.0),
        ("128", 3.0),
        ("1024", 3.0),
        ("+Inf", 3.0),
    ] {
        assert_eq!(bucket(le), Some(count), "le={le}");
    }

    // A confidence per scored application; each stage once per batch that reached it (the
    // refused ones were preprocessed, except the 405, which never reached the handler).
    assert_eq!(
        m.value(
            "inference_prediction_confidence_count",
            &[("model", "loan")]
        ),
        Some(70.0)
    );
    let stage = |s: &str| {
        m.value(
            "inference_stage_duration_seconds_count",
            &[("model", "loan"), ("stage", s)],
        )
    };
    assert_eq!(stage("queue"), Some(9.0));
    assert_eq!(stage("preprocess"), Some(9.0));
    assert_eq!(stage("predict"), Some(3.0));
    assert_eq!(stage("postprocess"), Some(3.0));
    assert_eq!(
        m.value("inference_inprogress_requests", &[("model", "loan")]),
        Some(0.0)
    );
}

#[cfg(target_os = "linux")]
#[test]
fn memory_stays_bounded_under_a_fragmented_upload() {
    common::loan_api::memory_stays_bounded_under_a_fragmented_upload("axum_loan");
}

#[test]
fn an_over_limit_content_length_is_a_413_at_once() {
    common::loan_api::rejects_an_over_limit_content_length_at_once("axum_loan");
}

#[test]
fn a_body_past_its_read_deadline_is_a_json_408() {
    common::loan_api::answers_408_past_the_body_read_deadline("axum_loan");
}

#[test]
fn slow_heads_and_idle_connections_are_closed_after_the_header_timeout() {
    common::loan_api::closes_slow_heads_and_idle_connections_after_the_header_timeout("axum_loan");
}

#[cfg(unix)]
#[test]
fn idle_sockets_beyond_the_limit_do_not_block_a_real_request() {
    common::loan_api::idle_sockets_do_not_block_a_real_request("axum_loan");
}

#[test]
fn a_half_body_then_reset_is_cancelled() {
    common::loan_api::a_half_body_then_reset_is_cancelled("axum_loan");
}

#[cfg(unix)]
#[test]
fn sigterm_drains_within_the_deadline_with_stuck_clients() {
    common::loan_api::drains_within_the_deadline_with_stuck_clients("axum_loan");
}

#[test]
fn upload_time_is_not_inference_latency() {
    common::loan_api::upload_time_is_not_inference_latency("axum_loan");
}

#[test]
fn the_main_address_does_not_speak_h2c() {
    common::loan_api::does_not_speak_h2c("axum_loan");
}
