//! The end-to-end scenarios every loan example server must pass, run against each of them by
//! `tests/suite/axum_loan.rs`, `tests/suite/hyper_loan.rs` and `tests/suite/actix_loan.rs`.

use super::{http, post_json, scrape, start_example};

pub const GOOD: &str = r#"{"applicant_income": 5000, "coapplicant_income": 1500, "loan_amount": 120, "loan_term_months": 360, "credit_history": true, "dependents": 0, "education": "graduate", "self_employed": false, "property_area": "urban"}"#;
pub const RISKY: &str = r#"{"applicant_income": 1200, "coapplicant_income": 0, "loan_amount": 700, "loan_term_months": 120, "credit_history": false, "dependents": 3, "education": "not_graduate", "self_employed": true, "property_area": "rural"}"#;

/// Two valid and one invalid `/predict`: exact answers, and exact `/metrics`.
pub fn serves_predictions_and_exact_metrics(example: &str) {
    let server = start_example(example, &[]);
    let addr = server.addr;
    assert_ne!(addr.port(), 0, "the banner must show the real port");
    assert!(
        server.banner.iter().any(|l| l.contains("curl")),
        "banner: {:?}",
        server.banner
    );
    assert!(
        server
            .banner
            .last()
            .is_some_and(|l| l.starts_with(&format!("{example} listening on http://"))),
        "banner: {:?}",
        server.banner
    );

    let health = http(addr, "GET", "/healthz", &[], b"");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");

    // Two valid requests and one invalid.
    let a = post_json(addr, "/predict", GOOD);
    assert_eq!(a.status, 200, "{}", a.body);
    let a = a.json();
    assert_eq!(a["label"], "approved");
    let p = a["probability"].as_f64().unwrap();
    assert!(p > 0.5 && p < 1.0, "{p}");
    let b = post_json(addr, "/predict", RISKY);
    assert_eq!(b.status, 200, "{}", b.body);
    assert_eq!(b.json()["label"], "rejected");
    let bad = post_json(addr, "/predict", r#"{"applicant_income": 5000}"#);
    assert_eq!(bad.status, 422, "{}", bad.body);
    let err = bad.json();
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("coapplicant_income")
            || err["field"].is_string(),
        "{err}"
    );
    assert!(bad
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));

    let m = scrape(addr);
    let loan = |outcome: &str| {
        m.value(
            "inference_requests_total",
            &[("model", "loan"), ("outcome", outcome)],
        )
    };
    assert_eq!(loan("success"), Some(2.0));
    assert_eq!(loan("client_error"), Some(1.0));
    assert_eq!(loan("server_error"), Some(0.0));
    assert_eq!(loan("cancelled"), Some(0.0));
    assert_eq!(
        m.sum("inference_predictions_total", &[("model", "loan")]),
        2.0
    );
    assert_eq!(
        m.value(
            "inference_predictions_total",
            &[("model", "loan"), ("label", "approved")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.value(
            "inference_predictions_total",
            &[("model", "loan"), ("label", "rejected")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.value("inference_inprogress_requests", &[("model", "loan")]),
        Some(0.0)
    );
    assert_eq!(
        m.sum(
            "inference_request_latency_seconds_count",
            &[("model", "loan")]
        ),
        3.0
    );
    assert_eq!(
        m.value(
            "inference_request_latency_seconds_bucket",
            &[("model", "loan"), ("outcome", "success"), ("le", "+Inf")]
        ),
        Some(2.0)
    );
    for name in [
        "inference_requests_total",
        "inference_request_latency_seconds",
        "inference_predictions_total",
        "inference_inprogress_requests",
    ] {
        assert!(m.help.contains_key(name), "no HELP for {name}");
        assert!(m.types.contains_key(name), "no TYPE for {name}");
    }
}

/// Every rejected request is a JSON 4xx, counted as `client_error` (405 included).
pub fn rejects_with_json_4xx_counted_as_client_error(example: &str) {
    let server = start_example(example, &[]);
    let addr = server.addr;
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16);
    let cases: Vec<Case> = vec![
        (
            "bad syntax",
            vec![("Content-Type", "application/json")],
            b"{\"applicant_income\": ".to_vec(),
            400,
        ),
        (
            "wrong content type",
            vec![("Content-Type", "text/plain")],
            GOOD.as_bytes().to_vec(),
            415,
        ),
        (
            "wrong type",
            vec![("Content-Type", "application/json")],
            GOOD.replace("5000", "\"5000\"").into_bytes(),
            422,
        ),
        (
            "negative amount",
            vec![("Content-Type", "application/json")],
            GOOD.replace("\"loan_amount\": 120", "\"loan_amount\": -5")
                .into_bytes(),
            422,
        ),
        (
            "unknown enum",
            vec![("Content-Type", "application/json")],
            GOOD.replace("urban", "moon").into_bytes(),
            422,
        ),
        (
            "not an object",
            vec![("Content-Type", "application/json")],
            b"[1, 2, 3]".to_vec(),
            422,
        ),
        (
            "too large",
            vec![("Content-Type", "application/json")],
            format!("{{\"pad\": \"{}\"}}", "x".repeat(20 * 1024)).into_bytes(),
            413,
        ),
    ];
    for (what, headers, body, status) in &cases {
        let res = http(addr, "POST", "/predict", headers, body);
        assert_eq!(res.status, *status, "{what}: {}", res.body);
        let json = res.json();
        assert!(
            json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: {json}"
        );
    }
    let wrong_method = http(addr, "GET", "/predict", &[], b"");
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("POST"));
    assert!(wrong_method.json()["error"].is_string());
    let missing = http(addr, "GET", "/nope", &[], b"");
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"].is_string());
    // Outside the monitored route too: not counted.
    let wrong_health = http(addr, "POST", "/healthz", &[], b"");
    assert_eq!(wrong_health.status, 405);
    assert_eq!(wrong_health.header("allow"), Some("GET,HEAD"));
    assert!(wrong_health.json()["error"].is_string());

    let m = scrape(addr);
    // Every rejected /predict request, the 405 included; the 404 and the /healthz 405 are
    // outside the monitored route.
    assert_eq!(
        m.value(
            "inference_requests_total",
            &[("model", "loan"), ("outcome", "client_error")]
        ),
        Some(cases.len() as f64 + 1.0)
    );
    assert_eq!(
        m.value(
            "inference_requests_total",
            &[("model", "loan"), ("outcome", "success")]
        ),
        Some(0.0)
    );
    assert_eq!(
        m.sum("inference_predictions_total", &[("model", "loan")]),
        0.0
    );
    assert_eq!(
        m.value("inference_inprogress_requests", &[("model", "loan")]),
        Some(0.0)
    );
}

/// SIGTERM after a request: the process exits 0.
#[cfg(unix)]
pub fn shuts_down_gracefully_on_sigterm(example: &str) {
    let mut server = start_example(example, &[]);
    assert_eq!(post_json(server.addr, "/predict", GOOD).status, 200);
    let pid = server.child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
}
