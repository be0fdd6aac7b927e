//! gRPC outcomes through the tower layer with `GrpcClassifier`: gRPC-shaped responses made by
//! hand (`content-type: application/grpc`, message frames, then a trailers frame), exact counts
//! for a status in the headers, in the trailers, missing, and a body dropped before its trailers.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;

use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use inference_monitor::testing::TestRecorder;
use inference_monitor::{
    classify::GrpcClassifier,
    tower::{FixedModel, ResponseBody},
    InferenceMonitorLayer,
};
use tower::{service_fn, Layer, ServiceExt};

use crate::common::frames;

use frames::{Bytes, Frames};

/// Where a response puts its `grpc-status`.
#[derive(Clone, Copy)]
enum Status {
    /// Trailers-only: in the headers, with an empty body.
    Headers(&'static str),
    /// One message, then trailers with this status.
    Trailers(&'static str),
    /// One message, then trailers without a status.
    TrailersWithout,
    /// One message and no trailers at all.
    NoTrailers,
}

fn grpc_response(status: Status) -> Response<Frames> {
    let message = || Frame::data(Bytes::from_static(b"\0\0\0\0\x02\x08\x01"));
    let trailers = |code: Option<&'static str>| {
        let mut t = HeaderMap::new();
        if let Some(code) = code {
            t.insert("grpc-status", HeaderValue::from_static(code));
        }
        t.insert("grpc-message", HeaderValue::from_static("done"));
        Frame::trailers(t)
    };
    let frames = match status {
        Status::Headers(_) => VecDeque::new(),
        Status::Trailers(code) => VecDeque::from([message(), trailers(Some(code))]),
        Status::TrailersWithout => VecDeque::from([message(), trailers(None)]),
        Status::NoTrailers => VecDeque::from([message()]),
    };
    let mut res = Response::new(Frames(frames));
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    if let Status::Headers(code) = status {
        res.headers_mut()
            .insert("grpc-status", HeaderValue::from_static(code));
    }
    res
}

fn grpc_service(
    status: Status,
) -> impl tower::Service<
    Request<()>,
    Response = Response<Frames>,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<Response<Frames>, Infallible>>,
> + Clone {
    service_fn(move |_req: Request<()>| async move { Ok::<_, Infallible>(grpc_response(status)) })
}

fn request() -> Request<()> {
    Request::post("/ranker.Ranker/Rank")
        .header("content-type", "application/grpc")
        .body(())
        .unwrap()
}

async fn next_frame<B: Body + Unpin>(body: &mut B) -> Option<Result<Frame<B::Data>, B::Error>> {
    std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
}

fn count(rec: &TestRecorder, outcome: &str) -> Option<u64> {
    rec.counter(
        "inference_requests_total",
        &[("model", "ranker"), ("outcome", outcome)],
    )
}

/// The four outcome counters of model `ranker`: `success`, `client_error`, `server_error`, `cancelled`.
fn counts(rec: &TestRecorder) -> [u64; 4] {
    ["success", "client_error", "server_error", "cancelled"].map(|o| count(rec, o).unwrap())
}

fn inprogress(rec: &TestRecorder) -> Option<f64> {
    rec.gauge("inference_inprogress_requests", &[("model", "ranker")])
}

#[tokio::test]
async fn the_status_in_the_trailers_decides_at_the_trailers_frame() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let layer = InferenceMonitorLayer::new("ranker").classify_with(GrpcClassifier);
    let res = call(&layer, Status::Trailers("0")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut body = res.into_body();

    // The message is out, the status is not: still in flight.
    let message = next_frame(&mut body).await.unwrap().unwrap();
    assert!(message.is_data());
    assert_eq!(counts(&rec), [0, 0, 0, 0]);
    assert_eq!(inprogress(&rec), Some(1.0));

    // The trailers frame decides, and records at once.
    let trailers = next_frame(&mut body).await.unwrap().unwrap();
    assert_eq!(
        trailers.trailers_ref().unwrap().get("grpc-status").unwrap(),
        "0"
    );
    assert_eq!(counts(&rec), [1, 0, 0, 0]);
    assert_eq!(inprogress(&rec), Some(0.0));
    assert!(next_frame(&mut body).await.is_none());
    drop(body);
    assert_eq!(counts(&rec), [1, 0, 0, 0]);
    assert_eq!(
        rec.histogram(
            "inference_request_latency_seconds",
            &[("model", "ranker"), ("outcome", "success")]
        )
        .map(|h| h.len()),
        Some(1)
    );
}

/// Sends one call through `layer` and returns the response, its body not read.
async fn call(
    layer: &InferenceMonitorLayer<FixedModel, GrpcClassifier>,
    status: Status,
) -> Response<ResponseBody<Frames, GrpcClassifier>> {
    layer
        .layer(grpc_service(status))
        .oneshot(request())
        .await
        .unwrap()
}

/// Sends one call and reads its body to the end, as a gRPC server would.
async fn send_and_read(layer: &InferenceMonitorLayer<FixedModel, GrpcClassifier>, status: Status) {
    let res = call(layer, status).await;
    let mut body = res.into_body();
    while let Some(frame) = next_frame(&mut body).await {
        frame.unwrap();
    }
}

#[tokio::test]
async fn every_class_of_code_in_the_trailers() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let layer = InferenceMonitorLayer::new("ranker").classify_with(GrpcClassifier);
    // success: 0
    send_and_read(&layer, Status::Trailers("0")).await;
    // client_error: INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED,
    // RESOURCE_EXHAUSTED, FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE, UNIMPLEMENTED,
    // UNAUTHENTICATED
    for code in ["3", "5", "6", "7", "8", "9", "10", "11", "12", "16"] {
        send_and_read(&layer, Status::Trailers(code)).await;
    }
    assert_eq!(counts(&rec), [1, 10, 0, 0]);
    // server_error: UNKNOWN, DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE, DATA_LOSS
    for code in ["2", "4", "13", "14", "15"] {
        send_and_read(&layer, Status::Trailers(code)).await;
    }
    assert_eq!(counts(&rec), [1, 10, 5, 0]);
    // cancelled: CANCELLED
    send_and_read(&layer, Status::Trailers("1")).await;
    assert_eq!(counts(&rec), [1, 10, 5, 1]);
    assert_eq!(inprogress(&rec), Some(0.0));
}

#[tokio::test]
async fn a_trailers_only_response_is_decided_by_its_headers() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let layer = InferenceMonitorLayer::new("ranker").classify_with(GrpcClassifier);
    // The body is empty: recorded as soon as the headers arrive, before any read.
    let res = call(&layer, Status::Headers("5")).await;
    assert_eq!(counts(&rec), [0, 1, 0, 0]);
    drop(res);
    send_and_read(&layer, Status::Headers("0")).await;
    send_and_read(&layer, Status::Headers("14")).await;
    send_and_read(&layer, Status::Headers("1")).await;
    assert_eq!(counts(&rec), [1, 1, 1, 1]);
    assert_eq!(inprogress(&rec), Some(0.0));
}

#[tokio::test]
async fn a_missing_status_is_a_server_error() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let layer = InferenceMonitorLayer::new("ranker").classify_with(GrpcClassifier);
    send_and_read(&layer, Status::TrailersWithout).await;
    assert_eq!(counts(&rec), [0, 0, 1, 0]);
    send_and_read(&layer, Status::NoTrailers).await;
    assert_eq!(counts(&rec), [0, 0, 2, 0]);
    assert_eq!(inprogress(&rec), Some(0.0));
}

#[tokio::test]
async fn a_body_dropped_before_its_trailers_is_cancelled() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let layer = InferenceMonitorLayer::new("ranker").classify_with(GrpcClassifier);
    let res = call(&layer, Status::Trailers("0")).await;
    let mut body = res.into_body();
    next_frame(&mut body).await.unwrap().unwrap();
    assert_eq!(counts(&rec), [0, 0, 0, 0]);
    drop(body);
    assert_eq!(counts(&rec), [0, 0, 0, 1]);
    assert_eq!(inprogress(&rec), Some(0.0));
}

#[tokio::test]
async fn the_default_classifier_does_not_read_trailers() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let layer = InferenceMonitorLayer::new("ranker");
    let res = layer
        .layer(grpc_service(Status::Trailers("13")))
        .oneshot(request())
        .await
        .unwrap();
    let mut body = res.into_body();
    while let Some(frame) = next_frame(&mut body).await {
        frame.unwrap();
    }
    // HTTP 200: a success by status, whatever the trailers say.
    assert_eq!(counts(&rec), [1, 0, 0, 0]);
}

#[tokio::test]
async fn a_rest_route_next_to_grpc_is_classified_by_http_status() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let layer = InferenceMonitorLayer::new("ranker").classify_with(GrpcClassifier);
    for status in [StatusCode::OK, StatusCode::UNPROCESSABLE_ENTITY] {
        let svc = layer.layer(service_fn(move |_req: Request<()>| async move {
            let mut res = Response::new(http_body_util::Full::new(Bytes::from_static(b"{}")));
            *res.status_mut() = status;
            res.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok::<_, Infallible>(res)
        }));
        let res = svc.oneshot(Request::new(())).await.unwrap();
        assert_eq!(res.status(), status);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"{}");
    }
    assert_eq!(counts(&rec), [1, 1, 0, 0]);
}

#[tokio::test]
async fn a_streaming_grpc_call_counts_its_messages_and_is_decided_by_its_trailers() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let layer = InferenceMonitorLayer::new("ranker")
        .classify_with(GrpcClassifier)
        .streaming();
    for status in [Status::Trailers("0"), Status::Trailers("3")] {
        let res = layer
            .layer(grpc_service(status))
            .oneshot(request())
            .await
            .unwrap();
        let mut body = res.into_body();
        while let Some(frame) = next_frame(&mut body).await {
            frame.unwrap();
        }
    }
    assert_eq!(counts(&rec), [1, 1, 0, 0]);
    // One message each; the trailers frame is not a token.
    assert_eq!(
        rec.counter(
            "inference_tokens_total",
            &[("model", "ranker"), ("type", "output")]
        ),
        Some(2)
    );
    assert_eq!(
        rec.histogram(
            "inference_time_to_first_token_seconds",
            &[("model", "ranker")]
        )
        .map(|h| h.len()),
        Some(2)
    );
}
