//! The Prometheus exporter: real `_bucket` series with the configured buckets, HELP/TYPE lines,
//! zero-initialised outcome series, a `/metrics` service, and typed errors.

use crate::common;

use common::handlers::Answer;
use common::Exposition;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use inference_monitor::{prometheus, ExporterError, InferenceMonitorLayer, Monitor, Prediction};
use tower::{service_fn, Layer, ServiceExt};

type Bytes = axum::body::Bytes;

/// A handler answering 200 `ok`, reporting `label`.
fn ok_with(label: &'static str) -> Answer {
    Answer::ok(b"ok").label(Some(label))
}

async fn drive<S>(svc: S)
where
    S: tower::Service<
        Request<Full<Bytes>>,
        Response = Response<inference_monitor::tower::ResponseBody<Full<Bytes>>>,
    >,
    S::Error: std::fmt::Debug,
{
    let res = svc
        .oneshot(Request::new(Full::new(Bytes::new())))
        .await
        .unwrap();
    res.into_body().collect().await.unwrap();
}

#[tokio::test]
async fn renders_histograms_with_default_buckets_help_and_type() {
    let (recorder, handle) = prometheus().build().unwrap();
    // Labels first seen at request time register with the recorder current then: keep the
    // local recorder current for the whole test (the runtime is single-threaded).
    let _local = metrics::set_default_local_recorder(&recorder);
    let layer = InferenceMonitorLayer::new("loan");

    // Before any traffic: every outcome series exists at zero.
    let before = Exposition::parse(&handle.render());
    for outcome in ["success", "client_error", "server_error", "cancelled"] {
        let labels = [("model", "loan"), ("outcome", outcome)];
        assert_eq!(
            before.value("inference_requests_total", &labels),
            Some(0.0),
            "{outcome}"
        );
        assert_eq!(
            before.value("inference_request_latency_seconds_count", &labels),
            Some(0.0),
            "{outcome}"
        );
    }
    assert_eq!(
        before.value("inference_inprogress_requests", &[("model", "loan")]),
        Some(0.0)
    );

    for label in ["approved", "approved", "rejected"] {
        drive(layer.layer(ok_with(label))).await;
    }
    let text = handle.render();
    let m = Exposition::parse(&text);
    let success = [("model", "loan"), ("outcome", "success")];
    assert_eq!(m.value("inference_requests_total", &success), Some(3.0));
    assert_eq!(
        m.value("inference_request_latency_seconds_count", &success),
        Some(3.0)
    );
    assert_eq!(
        m.value(
            "inference_predictions_total",
            &[("model", "loan"), ("label", "approved")]
        ),
        Some(2.0)
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

    // Real buckets, exactly the default boundaries plus +Inf, cumulative up to the count.
    let les: Vec<String> = m
        .matching("inference_request_latency_seconds_bucket", &success)
        .map(|s| s.labels["le"].clone())
        .collect();
    let mut expected: Vec<String> = inference_monitor::names::DEFAULT_LATENCY_BUCKETS
        .iter()
        .map(ToString::to_string)
        .collect();
    expected.push("+Inf".into());
    assert_eq!(les, expected);
    assert_eq!(
        m.value(
            "inference_request_latency_seconds_bucket",
            &[("model", "loan"), ("outcome", "success"), ("le", "+Inf")]
        ),
        Some(3.0)
    );
    assert_eq!(
        m.value(
            "inference_request_latency_seconds_bucket",
            &[("model", "loan"), ("outcome", "success"), ("le", "60")]
        ),
        Some(3.0)
    );

    for (name, ty) in [
        ("inference_requests_total", "counter"),
        ("inference_request_latency_seconds", "histogram"),
        ("inference_predictions_total", "counter"),
        ("inference_inprogress_requests", "gauge"),
    ] {
        assert_eq!(
            m.types.get(name).map(String::as_str),
            Some(ty),
            "TYPE of {name}\n{text}"
        );
        assert!(
            m.help.get(name).is_some_and(|h| !h.is_empty()),
            "HELP of {name}"
        );
    }
    assert!(
        !text.contains("quantile="),
        "histograms must not render as summaries:\n{text}"
    );
}

#[tokio::test]
async fn configured_buckets_appear_in_the_output() {
    let fast = Monitor::builder()
        .prefix("fast")
        .buckets(&[0.0001, 0.0002, 0.0004])
        .unwrap()
        .build()
        .unwrap();
    let (recorder, handle) = prometheus().monitor(&fast).build().unwrap();
    let (layer_fast, layer_default) = metrics::with_local_recorder(&recorder, || {
        (
            InferenceMonitorLayer::for_model(fast.model("tiny")),
            InferenceMonitorLayer::new("loan"),
        )
    });
    drive(layer_fast.layer(ok_with("yes"))).await;
    drive(layer_default.layer(ok_with("yes"))).await;

    let m = Exposition::parse(&handle.render());
    let les = |name: &str, model: &str| -> Vec<String> {
        m.matching(name, &[("model", model), ("outcome", "success")])
            .map(|s| s.labels["le"].clone())
            .collect()
    };
    assert_eq!(
        les("fast_inference_request_latency_seconds_bucket", "tiny"),
        ["0.0001", "0.0002", "0.0004", "+Inf"]
    );
    assert_eq!(
        les("inference_request_latency_seconds_bucket", "loan").len(),
        20
    );
    assert_eq!(
        m.value(
            "fast_inference_request_latency_seconds_count",
            &[("model", "tiny"), ("outcome", "success")]
        ),
        Some(1.0)
    );
}

#[test]
fn two_monitors_giving_one_metric_different_buckets_is_an_error() {
    let a = Monitor::builder()
        .buckets(&[0.1, 1.0])
        .unwrap()
        .build()
        .unwrap();
    let b = Monitor::builder()
        .buckets(&[0.2, 2.0])
        .unwrap()
        .build()
        .unwrap();
    let err = prometheus().monitor(&a).monitor(&b).build().unwrap_err();
    assert!(
        matches!(err, ExporterError::ConflictingBuckets { ref metric } if metric == "inference_request_latency_seconds"),
        "{err}"
    );
    assert!(err.to_string().contains("prefix"), "{err}");
    // The same buckets twice are fine, and one explicit monitor replaces the implicit default.
    assert!(prometheus().monitor(&a).monitor(&a).build().is_ok());
}

#[tokio::test]
async fn the_metrics_service_answers_with_the_text_format() {
    let (recorder, handle) = prometheus().build().unwrap();
    let _layer = metrics::with_local_recorder(&recorder, || InferenceMonitorLayer::new("loan"));
    let res = handle
        .service()
        .oneshot(Request::get("/metrics").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let m = Exposition::parse(res.body());
    assert_eq!(
        m.value(
            "inference_requests_total",
            &[("model", "loan"), ("outcome", "success")]
        ),
        Some(0.0)
    );
}

#[tokio::test]
async fn hostile_label_values_keep_the_exposition_parseable() {
    let (recorder, handle) = prometheus().build().unwrap();
    // Labels first seen at request time register with the recorder current then: keep the
    // local recorder current for the whole test (the runtime is single-threaded).
    let _local = metrics::set_default_local_recorder(&recorder);
    let layer = InferenceMonitorLayer::new("loan");
    let svc = layer.layer(service_fn(|_req: Request<Full<Bytes>>| async {
        let mut res = Response::new(Full::new(Bytes::from_static(b"ok")));
        Prediction::new("a \"quoted\"\nlabel\\ with ünïcode").insert_into(&mut res);
        Ok::<_, std::convert::Infallible>(res)
    }));
    drive(svc).await;
    let m = Exposition::parse(&handle.render());
    assert_eq!(
        m.value(
            "inference_predictions_total",
            &[
                ("model", "loan"),
                ("label", "a \"quoted\"\nlabel\\ with ünïcode")
            ]
        ),
        Some(1.0)
    );
}
