//! End to end: the real `axum_multi_model` example on a free loopback port, two models behind
//! the Open Inference Protocol route, and its `/metrics` checked to the exact count per model.

use crate::common;

use std::collections::BTreeSet;

use common::loan_api;

const IRIS_SETOSA: &str = r#"{"inputs":[{"name":"measurements","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}"#;
const IRIS_VIRGINICA: &str = r#"{"inputs":[{"name":"measurements","shape":[4],"datatype":"FP32","data":[6.7,3.0,5.6,2.1]}]}"#;
const IRIS_BAD_SHAPE: &str = r#"{"inputs":[{"name":"measurements","shape":[2,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}"#;

/// The loan sample of the other examples, one OIP tensor per field.
fn loan_request(application: &str) -> String {
    let fields: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(application).unwrap();
    let inputs: Vec<_> = fields
        .into_iter()
        .map(|(name, value)| {
            let datatype = match &value {
                serde_json::Value::Bool(_) => "BOOL",
                serde_json::Value::String(_) => "BYTES",
                _ => "FP32",
            };
            serde_json::json!({ "name": name, "shape": [1], "datatype": datatype, "data": [value] })
        })
        .collect();
    serde_json::json!({ "inputs": inputs }).to_string()
}

#[test]
fn each_model_is_counted_under_its_own_name_and_unknown_ones_under_the_fallback() {
    let server = common::start_example("axum_multi_model", &[]);
    let addr = server.addr;

    let res = common::post_json(addr, "/v2/models/iris/infer", IRIS_SETOSA);
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        res.json(),
        serde_json::json!({
            "model_name": "iris",
            "model_version": "centroid-v1",
            "outputs": [{"name": "species", "shape": [1], "datatype": "BYTES", "data": ["setosa"]}],
        })
    );
    let res = common::post_json(
        addr,
        "/v2/models/iris/versions/centroid-v1/infer",
        IRIS_VIRGINICA,
    );
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.json()["outputs"][0]["data"][0], "virginica");
    let res = common::post_json(addr, "/v2/models/iris/infer", IRIS_BAD_SHAPE);
    assert_eq!(res.status, 400, "{}", res.body);
    assert!(res.json()["error"]
        .as_str()
        .unwrap()
        .contains("shape [1, 4]"));

    let res = common::post_json(addr, "/v2/models/loan/infer", &loan_request(loan_api::GOOD));
    assert_eq!(res.status, 200, "{}", res.body);
    let answer = res.json();
    assert_eq!(answer["model_name"], "loan");
    assert_eq!(answer["model_version"], "logreg-v1");
    assert_eq!(answer["outputs"][0]["data"][0], "approved");
    let res = common::post_json(addr, "/v2/models/loan/infer", r#"{"inputs":[]}"#);
    assert_eq!(res.status, 422, "{}", res.body);
    assert!(res.json()["error"].is_string());
    // A version the model does not have is a 404, counted under the model.
    let res = common::post_json(addr, "/v2/models/loan/versions/9/infer", IRIS_SETOSA);
    assert_eq!(res.status, 404, "{}", res.body);

    // A model this server does not serve: 404 with a JSON error, counted under `unknown`.
    let res = common::post_json(addr, "/v2/models/nope/infer", IRIS_SETOSA);
    assert_eq!(res.status, 404, "{}", res.body);
    assert!(res.json()["error"]
        .as_str()
        .unwrap()
        .contains("iris and loan"));

    let m = common::scrape(addr);
    assert_eq!(m.requests("iris", "success"), Some(2.0));
    assert_eq!(m.requests("iris", "client_error"), Some(1.0));
    assert_eq!(m.requests("loan", "success"), Some(1.0));
    assert_eq!(m.requests("loan", "client_error"), Some(2.0));
    assert_eq!(m.requests("unknown", "client_error"), Some(1.0));
    for model in ["iris", "loan", "unknown"] {
        assert_eq!(m.requests(model, "server_error"), Some(0.0), "{model}");
        assert_eq!(m.requests(model, "cancelled"), Some(0.0), "{model}");
        assert_eq!(
            m.value("inference_inprogress_requests", &[("model", model)]),
            Some(0.0)
        );
    }
    assert_eq!(
        m.value(
            "inference_request_latency_seconds_count",
            &[("model", "iris"), ("outcome", "success")]
        ),
        Some(2.0)
    );
    let predictions = |model: &str, label: &str| {
        m.value(
            "inference_predictions_total",
            &[("model", model), ("label", label)],
        )
    };
    assert_eq!(predictions("iris", "setosa"), Some(1.0));
    assert_eq!(predictions("iris", "virginica"), Some(1.0));
    assert_eq!(predictions("loan", "approved"), Some(1.0));
    assert_eq!(m.sum("inference_predictions_total", &[]), 3.0);
    // /metrics itself is not an inference request.
    assert_eq!(m.sum("inference_requests_total", &[]), 7.0);
}

#[test]
fn a_flood_of_model_names_stays_three_series() {
    let server = common::start_example("axum_multi_model", &[]);
    let addr = server.addr;
    for i in 0..300 {
        let res = common::post_json(addr, &format!("/v2/models/m{i}/infer"), IRIS_SETOSA);
        assert_eq!(res.status, 404, "{}", res.body);
    }
    let res = common::post_json(addr, "/v2/models/iris/infer", IRIS_SETOSA);
    assert_eq!(res.status, 200, "{}", res.body);
    // Not an inference path of the protocol: not behind the layer at all.
    let res = common::post_json(addr, "/v2/models/iris/ready", "{}");
    assert_eq!(res.status, 404, "{}", res.body);
    assert!(res.json()["error"].is_string());

    let m = common::scrape(addr);
    assert_eq!(m.requests("unknown", "client_error"), Some(300.0));
    assert_eq!(m.requests("iris", "success"), Some(1.0));
    assert_eq!(
        m.label_values("inference_requests_total", "model"),
        BTreeSet::from(["iris".to_owned(), "loan".to_owned(), "unknown".to_owned()])
    );
    assert_eq!(
        m.label_values("inference_request_latency_seconds_bucket", "model"),
        BTreeSet::from(["iris".to_owned(), "loan".to_owned(), "unknown".to_owned()])
    );
    assert_eq!(m.sum("inference_requests_total", &[]), 301.0);
}

/// With `SHUTDOWN_TIMEOUT=1`, SIGTERM while a client is stuck halfway through an iris body: the
/// process exits 0 within 2.5 s, and its final counts show that request as `cancelled` under
/// `iris`. A `Content-Length` over the limit was a JSON 413 at once, counted under `loan`.
#[cfg(unix)]
#[test]
fn sigterm_drains_within_the_deadline_and_counts_the_stuck_upload_cancelled() {
    use std::io::{Read, Write};
    use std::time::Duration;

    let mut server = common::start_example("axum_multi_model", &[("SHUTDOWN_TIMEOUT", "1")]);
    let mut too_large = std::net::TcpStream::connect(server.addr).unwrap();
    too_large
        .write_all(b"POST /v2/models/loan/infer HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\nConnection: close\r\n\r\n")
        .unwrap();
    too_large
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut answer = String::new();
    too_large.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(
        answer.ends_with(r#"{"error":"the request body is larger than the limit of 16384 bytes"}"#),
        "{answer}"
    );

    let mut stuck = std::net::TcpStream::connect(server.addr).unwrap();
    let head = format!(
        "POST /v2/models/iris/infer HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        IRIS_SETOSA.len()
    );
    stuck.write_all(head.as_bytes()).unwrap();
    stuck.write_all(&IRIS_SETOSA.as_bytes()[..20]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let (took, status, output) = server.terminate_within(Duration::from_secs(5));
    assert!(status.success(), "exit status: {status}; {output:?}");
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_millis(2500),
        "exited {took:?} after SIGTERM; {output:?}"
    );
    let requests = |model: &str, outcome: &str| {
        let prefix =
            format!("final: inference_requests_total{{model=\"{model}\",outcome=\"{outcome}\"}} ");
        output
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {output:?}"))
            .parse::<f64>()
            .unwrap()
    };
    assert_eq!(requests("iris", "cancelled"), 1.0, "{output:?}");
    assert_eq!(requests("loan", "client_error"), 1.0, "{output:?}");
    assert_eq!(requests("loan", "cancelled"), 0.0, "{output:?}");
}
