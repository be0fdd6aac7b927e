//! The tower layer, through a local test recorder: exact counts for every way a request ends.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes_like::Chunks;
use http::{Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::{BodyExt, Full};
use inference_monitor::testing::TestRecorder;
use inference_monitor::{
    tower::LatencyEnd, InferenceMonitorLayer, MetricNames, Monitor, Outcome, Prediction,
};
use tower::{service_fn, Layer, Service, ServiceExt};

use crate::common::frames::next_frame;
use crate::common::handlers::Answer;
use crate::common::recorded::{
    inprogress, latency_count, predictions, requests, INPROGRESS, LATENCY, PREDICTIONS, REQUESTS,
};

type Bytes = axum::body::Bytes;

/// A handler answering `status`, reporting `label` when given.
fn answering(status: StatusCode, label: Option<&'static str>) -> Answer {
    Answer::ok(b"{\"ok\":true}").status(status).label(label)
}

fn request() -> Request<Full<Bytes>> {
    Request::new(Full::new(Bytes::from_static(b"{}")))
}

async fn send<S, B>(svc: S) -> (StatusCode, Bytes)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let res = svc.oneshot(request()).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, body)
}

#[tokio::test]
async fn success_with_a_label_records_all_four_metrics_once() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let layer = InferenceMonitorLayer::new("loan");
    let svc = layer.layer(answering(StatusCode::OK, Some("approved")));

    assert_eq!(inprogress(&rec, "loan"), Some(0.0));
    let (status, body) = send(svc.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&body[..], b"{\"ok\":true}");
    let (status, _) = send(svc).await;
    assert_eq!(status, StatusCode::OK);

    assert_eq!(requests(&rec, "loan", "success"), Some(2));
    assert_eq!(latency_count(&rec, "loan", "success"), Some(2));
    assert_eq!(predictions(&rec, "loan", "approved"), Some(2));
    assert_eq!(inprogress(&rec, "loan"), Some(0.0));
    for outcome in ["client_error", "server_error", "cancelled"] {
        assert_eq!(requests(&rec, "loan", outcome), Some(0), "{outcome}");
        assert_eq!(latency_count(&rec, "loan", outcome), Some(0), "{outcome}");
    }
    let samples = rec
        .histogram(LATENCY, &[("model", "loan"), ("outcome", "success")])
        .unwrap();
    assert!(samples.iter().all(|s| *s >= 0.0 && *s < 5.0), "{samples:?}");
}

#[tokio::test]
async fn outcome_series_exist_at_zero_and_are_described() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let _layer = InferenceMonitorLayer::new("loan");
    for o in Outcome::ALL {
        assert_eq!(requests(&rec, "loan", o.as_str()), Some(0));
        assert_eq!(latency_count(&rec, "loan", o.as_str()), Some(0));
    }
    assert_eq!(inprogress(&rec, "loan"), Some(0.0));
    for (name, kind) in [
        (REQUESTS, "counter"),
        (LATENCY, "histogram"),
        (PREDICTIONS, "counter"),
        (INPROGRESS, "gauge"),
    ] {
        let d = rec
            .description(name)
            .unwrap_or_else(|| panic!("{name} not described"));
        assert_eq!(d.kind, kind);
        assert!(!d.help.is_empty());
    }
    assert_eq!(
        rec.description(LATENCY).unwrap().unit,
        Some(metrics::Unit::Seconds)
    );
}

#[tokio::test]
async fn client_and_server_errors_are_classified_by_status() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let layer = InferenceMonitorLayer::new("loan");
    let (s, _) = send(layer.layer(answering(StatusCode::UNPROCESSABLE_ENTITY, None))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    send(layer.layer(answering(StatusCode::PAYLOAD_TOO_LARGE, None))).await;
    send(layer.layer(answering(StatusCode::INTERNAL_SERVER_ERROR, None))).await;
    assert_eq!(requests(&rec, "loan", "client_error"), Some(2));
    assert_eq!(requests(&rec, "loan", "server_error"), Some(1));
    assert_eq!(requests(&rec, "loan", "success"), Some(0));
    assert_eq!(latency_count(&rec, "loan", "client_error"), Some(2));
    assert_eq!(rec.counter_sum(PREDICTIONS, &[("model", "loan")]), 0);
    assert_eq!(inprogress(&rec, "loan"), Some(0.0));
}

#[derive(Debug, PartialEq)]
struct ModelDown;

#[tokio::test]
async fn an_inner_error_is_a_server_error_and_passes_through_unchanged() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let svc =
        InferenceMonitorLayer::new("loan").layer(service_fn(|_req: Request<Full<Bytes>>| async {
            Err::<Response<Full<Bytes>>, _>(ModelDown)
        }));
    let err = svc.oneshot(request()).await.unwrap_err();
    assert_eq!(err, ModelDown);
    assert_eq!(requests(&rec, "loan", "server_error"), Some(1));
    assert_eq!(latency_count(&rec, "loan", "server_error"), Some(1));
    assert_eq!(inprogress(&rec, "loan"), Some(0.0));
}

#[tokio::test]
async fn a_panicking_handler_counts_as_server_error_and_the_gauge_returns() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let svc =
        InferenceMonitorLayer::new("loan").layer(service_fn(|_req: Request<Full<Bytes>>| async {
            if true {
                panic!("model exploded");
            }
            Ok::<Response<Full<Bytes>>, Infallible>(Response::new(Full::default()))
        }));
    let joined = tokio::spawn(svc.oneshot(request())).await;
    assert!(joined.unwrap_err().is_panic());
    assert_eq!(requests(&rec, "loan", "server_error"), Some(1));
    assert_eq!(requests(&rec, "loan", "cancelled"), Some(0));
    assert_eq!(inprogress(&rec, "loan"), Some(0.0));
}

async fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *f).poll(cx))).await
}

#[tokio::test]
async fn a_future_dropped_mid_flight_counts_as_cancelled() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let mut svc =
        InferenceMonitorLayer::new("loan").layer(service_fn(|_req: Request<Full<Bytes>>| async {
            std::future::pending::<()>().await;
            Ok::<Response<Full<Bytes>>, Infallible>(Response::new(Full::default()))
        }));
    let mut fut = Box::pin(svc.call(request()));
    assert!(poll_once(&mut fut).await.is_pending());
    assert_eq!(inprogress(&rec, "loan"), Some(1.0));
    drop(fut);
    assert_eq!(requests(&rec, "loan", "cancelled"), Some(1));
    assert_eq!(latency_count(&rec, "loan", "cancelled"), Some(1));
    assert_eq!(requests(&rec, "loan", "success"), Some(0));
    assert_eq!(inprogress(&rec, "loan"), Some(0.0));
}

mod bytes_like {
    use super::*;

    /// A body that yields its chunks one poll at a time.
    pub struct Chunks(pub VecDeque<Bytes>);

    impl http_body::Body for Chunks {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.0.pop_front().map(|b| Ok(http_body::Frame::data(b))))
        }

        fn is_end_stream(&self) -> bool {
            self.0.is_empty()
        }
    }
}

fn streaming(
    chunks: usize,
) -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<Chunks>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Chunks>, Infallible>>,
> + Clone {
    service_fn(move |_req: Request<Full<Bytes>>| async move {
        let body = Chunks(
            (0..chunks)
                .map(|i| Bytes::from(format!("token{i} ")))
                .collect(),
        );
        let mut res = Response::new(body);
        Prediction::new("generated").insert_into(&mut res);
        Ok::<_, Infallible>(res)
    })
}

#[tokio::test]
async fn a_streaming_body_is_measured_until_its_last_frame() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let svc = InferenceMonitorLayer::new("llm").layer(streaming(3));
    let res = svc.oneshot(request()).await.unwrap();
    let mut body = res.into_body();

    // Headers are out, the body is not: still in flight.
    assert_eq!(requests(&rec, "llm", "success"), Some(0));
    assert_eq!(inprogress(&rec, "llm"), Some(1.0));
    let first = next_frame(&mut body).await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), Bytes::from("token0 "));
    next_frame(&mut body).await.unwrap().unwrap();
    assert_eq!(requests(&rec, "llm", "success"), Some(0));
    assert_eq!(inprogress(&rec, "llm"), Some(1.0));

    // The last frame ends the stream (is_end_stream turns true): recorded at once, even if the
    // consumer never polls again.
    next_frame(&mut body).await.unwrap().unwrap();
    assert!(body.is_end_stream());
    assert_eq!(requests(&rec, "llm", "success"), Some(1));
    assert_eq!(predictions(&rec, "llm", "generated"), Some(1));
    assert_eq!(inprogress(&rec, "llm"), Some(0.0));
    assert!(next_frame(&mut body).await.is_none());
    drop(body);
    assert_eq!(requests(&rec, "llm", "success"), Some(1));
    assert_eq!(requests(&rec, "llm", "cancelled"), Some(0));
}

#[tokio::test]
async fn a_body_dropped_before_its_end_counts_as_cancelled() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let svc = InferenceMonitorLayer::new("llm").layer(streaming(3));
    let res = svc.oneshot(request()).await.unwrap();
    let mut body = res.into_body();
    next_frame(&mut body).await.unwrap().unwrap();
    drop(body);
    assert_eq!(requests(&rec, "llm", "cancelled"), Some(1));
    assert_eq!(requests(&rec, "llm", "success"), Some(0));
    // The model did predict before the client left.
    assert_eq!(predictions(&rec, "llm", "generated"), Some(1));
    assert_eq!(inprogress(&rec, "llm"), Some(0.0));
}

#[tokio::test]
async fn latency_until_headers_records_when_the_response_arrives() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let svc = InferenceMonitorLayer::new("llm")
        .latency_until(LatencyEnd::Headers)
        .layer(streaming(3));
    let res = svc.oneshot(request()).await.unwrap();
    assert_eq!(requests(&rec, "llm", "success"), Some(1));
    assert_eq!(inprogress(&rec, "llm"), Some(0.0));
    drop(res);
    assert_eq!(requests(&rec, "llm", "cancelled"), Some(0));
}

#[tokio::test]
async fn an_empty_body_records_at_the_headers() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let svc =
        InferenceMonitorLayer::new("loan").layer(service_fn(|_req: Request<Full<Bytes>>| async {
            let mut res = Response::new(http_body_util::Empty::<Bytes>::new());
            *res.status_mut() = StatusCode::NO_CONTENT;
            Ok::<_, Infallible>(res)
        }));
    let res = svc.oneshot(request()).await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(requests(&rec, "loan", "success"), Some(1));
    drop(res);
    assert_eq!(requests(&rec, "loan", "cancelled"), Some(0));
    assert_eq!(inprogress(&rec, "loan"), Some(0.0));
}

#[tokio::test]
async fn a_custom_classifier_replaces_the_status_rules() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let layer = InferenceMonitorLayer::new("loan").classify_with(
        |status: StatusCode, headers: &http::HeaderMap| {
            if headers.contains_key("x-model-fallback") || status == StatusCode::TOO_MANY_REQUESTS {
                Outcome::ServerError
            } else {
                Outcome::from_status(status)
            }
        },
    );
    send(layer.layer(answering(StatusCode::TOO_MANY_REQUESTS, None))).await;
    send(layer.layer(answering(StatusCode::BAD_REQUEST, None))).await;
    assert_eq!(requests(&rec, "loan", "server_error"), Some(1));
    assert_eq!(requests(&rec, "loan", "client_error"), Some(1));
}

#[tokio::test]
async fn predicted_labels_past_the_limit_go_to_other() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let monitor = Monitor::builder()
        .max_labels(3)
        .max_label_len(8)
        .labels(["approved"])
        .build()
        .unwrap();
    let model = monitor.model("loan");
    assert_eq!(predictions(&rec, "loan", "approved"), Some(0));
    let layer = InferenceMonitorLayer::for_model(model);
    for label in [
        "approved", "rejected", "review", "escalate", "fraud", "rejected",
    ] {
        send(layer.layer(answering(StatusCode::OK, Some(label)))).await;
    }
    // A label longer than 8 bytes is cut, and shares the series of its prefix.
    send(layer.layer(answering(StatusCode::OK, Some("rejected-by-rule-17")))).await;
    assert_eq!(predictions(&rec, "loan", "approved"), Some(1));
    assert_eq!(predictions(&rec, "loan", "rejected"), Some(3));
    assert_eq!(predictions(&rec, "loan", "review"), Some(1));
    assert_eq!(predictions(&rec, "loan", "other"), Some(2));
    assert_eq!(predictions(&rec, "loan", "escalate"), None);
    assert_eq!(predictions(&rec, "loan", "fraud"), None);
    // 3 admitted labels + other: never more series.
    assert_eq!(rec.series(PREDICTIONS).len(), 4);
    assert_eq!(requests(&rec, "loan", "success"), Some(7));
}

#[tokio::test]
async fn the_model_can_come_from_the_request_and_stays_bounded() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let monitor = Monitor::builder().max_models(2).build().unwrap();
    let layer = InferenceMonitorLayer::from_request(&monitor, "unknown", |head| {
        head.uri()
            .path()
            .strip_prefix("/v2/models/")?
            .split('/')
            .next()
    });
    let svc = layer.layer(answering(StatusCode::OK, Some("yes")));
    // "unknown" (the fallback) is admitted first and takes one of the two places.
    for path in [
        "/v2/models/resnet/infer",
        "/v2/models/bert/infer",
        "/v2/models/attack-1/infer",
        "/v2/models/attack-2/infer",
        "/v2/models/resnet/infer",
        "/healthz",
    ] {
        let req = Request::get(path).body(Full::new(Bytes::new())).unwrap();
        let res = svc.clone().oneshot(req).await.unwrap();
        res.into_body().collect().await.unwrap();
    }
    assert_eq!(requests(&rec, "resnet", "success"), Some(2));
    assert_eq!(requests(&rec, "unknown", "success"), Some(1));
    assert_eq!(requests(&rec, "other", "success"), Some(3));
    assert_eq!(requests(&rec, "bert", "success"), None);
    assert_eq!(monitor.model_count(), 2);
    let models: std::collections::BTreeSet<_> = rec
        .series(REQUESTS)
        .into_iter()
        .flat_map(|labels| {
            labels
                .into_iter()
                .filter(|(k, _)| k == "model")
                .map(|(_, v)| v)
        })
        .collect();
    assert_eq!(
        models.into_iter().collect::<Vec<_>>(),
        ["other", "resnet", "unknown"]
    );
}

#[tokio::test]
async fn names_can_be_prefixed_or_replaced() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let prefixed = Monitor::builder().prefix("llm").build().unwrap();
    let mut names = MetricNames::default();
    names.requests_total = "model_calls_total".into();
    let renamed = Monitor::builder().names(names).build().unwrap();

    send(
        InferenceMonitorLayer::for_model(prefixed.model("chat"))
            .layer(answering(StatusCode::OK, Some("ok"))),
    )
    .await;
    send(
        InferenceMonitorLayer::for_model(renamed.model("loan"))
            .layer(answering(StatusCode::OK, Some("ok"))),
    )
    .await;

    let chat = [("model", "chat"), ("outcome", "success")];
    assert_eq!(rec.counter("llm_inference_requests_total", &chat), Some(1));
    assert_eq!(
        rec.histogram("llm_inference_request_latency_seconds", &chat)
            .map(|h| h.len()),
        Some(1)
    );
    assert_eq!(
        rec.counter(
            "llm_inference_predictions_total",
            &[("model", "chat"), ("label", "ok")]
        ),
        Some(1)
    );
    assert_eq!(
        rec.gauge("llm_inference_inprogress_requests", &[("model", "chat")]),
        Some(0.0)
    );
    assert_eq!(
        rec.counter(
            "model_calls_total",
            &[("model", "loan"), ("outcome", "success")]
        ),
        Some(1)
    );
    assert_eq!(
        rec.counter(REQUESTS, &[("model", "loan"), ("outcome", "success")]),
        None
    );
    assert_eq!(predictions(&rec, "loan", "ok"), Some(1));
}

#[test]
fn invalid_configuration_is_a_typed_error() {
    let e = Monitor::builder().prefix("9x").build().unwrap_err();
    assert!(
        matches!(e, inference_monitor::ConfigError::InvalidMetricName(_)),
        "{e}"
    );
    let e = Monitor::builder().buckets(&[1.0, 0.5]).unwrap_err();
    assert!(e.to_string().contains("strictly increasing"), "{e}");
    let e = Monitor::builder().max_labels(0).build().unwrap_err();
    assert_eq!(e, inference_monitor::ConfigError::ZeroLimit("max_labels"));
}

#[tokio::test]
async fn only_paths_monitors_those_paths_and_passes_the_rest_through() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let svc = InferenceMonitorLayer::new("loan")
        .only_paths(["/predict", "/predict/batch"])
        .layer(answering(StatusCode::OK, Some("approved")));
    let to = |uri: &'static str| {
        let svc = svc.clone();
        async move {
            let mut request = request();
            *request.uri_mut() = http::Uri::from_static(uri);
            let response = svc.oneshot(request).await.unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, body)
        }
    };
    for uri in ["/predict", "/predict/batch", "/predict?explain=true"] {
        assert_eq!(
            to(uri).await,
            (StatusCode::OK, Bytes::from_static(b"{\"ok\":true}"))
        );
    }
    // Not monitored: answered the same, counted nowhere.
    for uri in ["/healthz", "/metrics", "/predict/", "/predictions", "/"] {
        assert_eq!(
            to(uri).await,
            (StatusCode::OK, Bytes::from_static(b"{\"ok\":true}"))
        );
    }
    assert_eq!(requests(&rec, "loan", "success"), Some(3));
    assert_eq!(latency_count(&rec, "loan", "success"), Some(3));
    assert_eq!(predictions(&rec, "loan", "approved"), Some(3));
    assert_eq!(inprogress(&rec, "loan"), Some(0.0));

    // Dropped before answering: a monitored request counts as cancelled, another not at all.
    for uri in ["/predict", "/healthz"] {
        let mut request = request();
        *request.uri_mut() = http::Uri::from_static(uri);
        let mut svc = svc.clone();
        drop(svc.call(request));
    }
    assert_eq!(requests(&rec, "loan", "cancelled"), Some(1));
    assert_eq!(inprogress(&rec, "loan"), Some(0.0));
}

/// The crate root's old paths still build for one release (deprecated aliases): a layer made
/// with them records as one made with the new paths.
#[tokio::test]
#[allow(deprecated)]
async fn the_old_root_paths_still_build_and_record() {
    use inference_monitor::{GrpcClassifier, LatencyEnd, RequestHead, StatusClassifier};

    let recorder = TestRecorder::new();
    let _local = recorder.local();
    fn by_header(head: RequestHead<'_>) -> Option<&str> {
        head.headers().get("x-model")?.to_str().ok()
    }
    let monitor = inference_monitor::Monitor::new();
    let layer = InferenceMonitorLayer::from_request(&monitor, "fallback", by_header)
        .classify_with(StatusClassifier)
        .latency_until(LatencyEnd::Headers);
    let service = layer.layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Full::new(bytes::Bytes::from_static(b"ok"))))
    }));
    let request = Request::get("/").header("x-model", "old").body(()).unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    drop(response.into_body().collect().await.unwrap());
    assert_eq!(
        recorder.counter(
            "inference_requests_total",
            &[("model", "old"), ("outcome", "success")]
        ),
        Some(1)
    );
    // A unit struct's old path works as a value too.
    let _grpc: inference_monitor::classify::GrpcClassifier = GrpcClassifier;
}
