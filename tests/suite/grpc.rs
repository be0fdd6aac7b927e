//! gRPC outcomes through the tower layer with `GrpcClassifier`: gRPC-shaped responses made by
//! hand (`content-type: application/grpc`, message frames, then a trailers frame), exact counts
//! for a status in the headers, in the trailers, missing, and a body dropped before its trailers;
//! `watch_request_body` with request bodies that fail or are malformed; and each of the 17 codes
//! through a real tonic server and client (`real_tonic`).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;

use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use inference_monitor::testing::TestRecorder;
use inference_monitor::{
    classify::GrpcClassifier,
    tower::{FixedModel, RequestBody, ResponseBody},
    InferenceMonitorLayer,
};
use tower::{service_fn, Layer, ServiceExt};

use crate::common::frames::{next_frame, Bytes, Frames};
use crate::common::recorded::{inprogress, requests};

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

/// The four outcome counters of model `ranker`: `success`, `client_error`, `server_error`, `cancelled`.
fn counts(rec: &TestRecorder) -> [u64; 4] {
    ["success", "client_error", "server_error", "cancelled"]
        .map(|o| requests(rec, "ranker", o).unwrap())
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
    assert_eq!(inprogress(&rec, "ranker"), Some(1.0));

    // The trailers frame decides, and records at once.
    let trailers = next_frame(&mut body).await.unwrap().unwrap();
    assert_eq!(
        trailers.trailers_ref().unwrap().get("grpc-status").unwrap(),
        "0"
    );
    assert_eq!(counts(&rec), [1, 0, 0, 0]);
    assert_eq!(inprogress(&rec, "ranker"), Some(0.0));
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
    assert_eq!(inprogress(&rec, "ranker"), Some(0.0));
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
    assert_eq!(inprogress(&rec, "ranker"), Some(0.0));
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
    assert_eq!(inprogress(&rec, "ranker"), Some(0.0));
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
    assert_eq!(inprogress(&rec, "ranker"), Some(0.0));
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

/// Each of the 17 codes through a real tonic server (`tonic::transport::Server` with the layer)
/// and tonic's client: once answered at once (a unary call's trailers-only response, the status
/// in the headers) and once after a message (a server-streaming call, the status in the
/// trailers).
mod real_tonic {
    use std::convert::Infallible;
    use std::future::{ready, Future, Ready};
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use http::uri::PathAndQuery;
    use inference_monitor::testing::TestRecorder;
    use inference_monitor::{classify::GrpcClassifier, InferenceMonitorLayer, Outcome};
    use tonic::transport::server::TcpIncoming;
    use tonic::transport::{Endpoint, Server};
    use tonic::{Code, Request, Response, Status};
    use tonic_prost::ProstCodec;

    use super::{counts, inprogress};

    /// Asks the server to answer with status `code`.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Ask {
        #[prost(uint32, tag = "1")]
        code: u32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct Answer {
        #[prost(string, tag = "1")]
        text: String,
    }

    const UNARY: &str = "/codes.Codes/Unary";
    const STREAM: &str = "/codes.Codes/Stream";

    /// `codes.Codes`: `Unary` answers the code asked for (trailers-only when it is not `OK`),
    /// `Stream` one message and then the code, in the trailers.
    #[derive(Clone)]
    struct Codes;

    type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

    impl<B> tower::Service<http::Request<B>> for Codes
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
    {
        type Response = http::Response<tonic::body::Body>;
        type Error = Infallible;
        type Future = BoxFuture<Result<Self::Response, Infallible>>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: http::Request<B>) -> Self::Future {
            let codec = ProstCodec::<Answer, Ask>::default();
            if request.uri().path() == UNARY {
                Box::pin(
                    async move { Ok(tonic::server::Grpc::new(codec).unary(Unary, request).await) },
                )
            } else {
                Box::pin(async move {
                    Ok(tonic::server::Grpc::new(codec)
                        .server_streaming(Streamed, request)
                        .await)
                })
            }
        }
    }

    fn status(code: u32) -> Status {
        Status::new(Code::from(i32::try_from(code).unwrap()), "as asked")
    }

    struct Unary;

    impl tonic::server::UnaryService<Ask> for Unary {
        type Response = Answer;
        type Future = Ready<Result<Response<Answer>, Status>>;

        fn call(&mut self, request: Request<Ask>) -> Self::Future {
            let code = request.get_ref().code;
            ready(if code == 0 {
                Ok(Response::new(Answer { text: "ok".into() }))
            } else {
                Err(status(code))
            })
        }
    }

    struct Streamed;

    impl tonic::server::ServerStreamingService<Ask> for Streamed {
        type Response = Answer;
        type ResponseStream = tokio_stream::Iter<std::vec::IntoIter<Result<Answer, Status>>>;
        type Future = Ready<Result<Response<Self::ResponseStream>, Status>>;

        fn call(&mut self, request: Request<Ask>) -> Self::Future {
            let code = request.get_ref().code;
            let mut items = vec![Ok(Answer {
                text: "first".into(),
            })];
            if code != 0 {
                items.push(Err(status(code)));
            }
            ready(Ok(Response::new(tokio_stream::iter(items))))
        }
    }

    /// The outcome of each code, 0 to 16 (docs/metrics.md).
    const OUTCOMES: [Outcome; 17] = [
        Outcome::Success,     // OK
        Outcome::Cancelled,   // CANCELLED
        Outcome::ServerError, // UNKNOWN
        Outcome::ClientError, // INVALID_ARGUMENT
        Outcome::ServerError, // DEADLINE_EXCEEDED
        Outcome::ClientError, // NOT_FOUND
        Outcome::ClientError, // ALREADY_EXISTS
        Outcome::ClientError, // PERMISSION_DENIED
        Outcome::ClientError, // RESOURCE_EXHAUSTED
        Outcome::ClientError, // FAILED_PRECONDITION
        Outcome::ClientError, // ABORTED
        Outcome::ClientError, // OUT_OF_RANGE
        Outcome::ClientError, // UNIMPLEMENTED
        Outcome::ServerError, // INTERNAL
        Outcome::ServerError, // UNAVAILABLE
        Outcome::ServerError, // DATA_LOSS
        Outcome::ClientError, // UNAUTHENTICATED
    ];

    #[test]
    fn every_code_through_a_real_tonic_server_and_client() {
        let rec = TestRecorder::new();
        let _local = rec.local();
        // One thread: the server's tasks record where the local recorder is.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(
                Server::builder()
                    .layer(
                        InferenceMonitorLayer::new("ranker")
                            .classify_with(GrpcClassifier)
                            .watch_request_body(),
                    )
                    .serve_with_incoming_shutdown(Codes, TcpIncoming::from(listener), async {
                        let _ = stopped.await;
                    }),
            );
            let channel = Endpoint::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
                .unwrap();
            let mut expected = [0u64; 4];
            for code in 0..=16u32 {
                let mut grpc = tonic::client::Grpc::new(channel.clone());
                grpc.ready().await.unwrap();
                let unary = grpc
                    .unary(
                        Request::new(Ask { code }),
                        PathAndQuery::from_static(UNARY),
                        ProstCodec::<Ask, Answer>::default(),
                    )
                    .await;
                match unary {
                    Ok(answer) => {
                        assert_eq!(code, 0);
                        assert_eq!(answer.into_inner().text, "ok");
                    }
                    Err(s) => assert_eq!(s.code() as u32, code, "unary {code}: {s:?}"),
                }
                grpc.ready().await.unwrap();
                let mut stream = grpc
                    .server_streaming(
                        Request::new(Ask { code }),
                        PathAndQuery::from_static(STREAM),
                        ProstCodec::<Ask, Answer>::default(),
                    )
                    .await
                    .unwrap()
                    .into_inner();
                assert_eq!(stream.message().await.unwrap().unwrap().text, "first");
                match stream.message().await {
                    Ok(None) => assert_eq!(code, 0),
                    Ok(Some(m)) => panic!("one message only, not {m:?}"),
                    Err(s) => assert_eq!(s.code() as u32, code, "stream {code}: {s:?}"),
                }
                let index = match OUTCOMES[code as usize] {
                    Outcome::Success => 0,
                    Outcome::ClientError => 1,
                    Outcome::ServerError => 2,
                    _ => 3,
                };
                expected[index] += 2;
                assert_eq!(counts(&rec), expected, "after code {code}");
            }
            // OK; CANCELLED; 10 of the client's; UNKNOWN, DEADLINE_EXCEEDED, INTERNAL,
            // UNAVAILABLE, DATA_LOSS: each twice.
            assert_eq!(expected, [2, 20, 10, 2]);
            assert_eq!(inprogress(&rec, "ranker"), Some(0.0));
            let latencies: usize = ["success", "client_error", "server_error", "cancelled"]
                .iter()
                .map(|o| {
                    rec.histogram(
                        "inference_request_latency_seconds",
                        &[("model", "ranker"), ("outcome", o)],
                    )
                    .map_or(0, |h| h.len())
                })
                .sum();
            assert_eq!(latencies, 34);
            stop.send(()).unwrap();
            server.await.unwrap().unwrap();
        });
    }
}

/// A request body: these data chunks, then (if `fails`) an error, as hyper's body gives when
/// the client resets the stream or closes the connection.
struct Upload {
    chunks: VecDeque<Bytes>,
    fails: bool,
}

impl Body for Upload {
    type Data = Bytes;
    type Error = &'static str;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, &'static str>>> {
        std::task::Poll::Ready(match self.chunks.pop_front() {
            Some(chunk) => Some(Ok(Frame::data(chunk))),
            None if self.fails => {
                self.fails = false;
                Some(Err("stream reset by the client"))
            }
            None => None,
        })
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty() && !self.fails
    }
}

fn upload(chunks: &[&'static [u8]], fails: bool) -> Request<Upload> {
    Request::post("/ranker.Ranker/Rank")
        .header("content-type", "application/grpc")
        .body(Upload {
            chunks: chunks.iter().map(|c| Bytes::from_static(c)).collect(),
            fails,
        })
        .unwrap()
}

/// A gRPC service that reads its request body to its end (or error), as tonic's unary calls
/// do, then answers trailers-only with `code`.
fn reads_then_answers<B>(
    code: &'static str,
) -> impl tower::Service<Request<B>, Response = Response<Frames>, Error = Infallible> + Clone
where
    B: Body + Send + Unpin + 'static,
{
    service_fn(move |mut req: Request<B>| async move {
        while let Some(Ok(_)) = next_frame(req.body_mut()).await {}
        Ok::<_, Infallible>(grpc_response(Status::Headers(code)))
    })
}

#[tokio::test]
async fn a_watched_request_body_turns_a_server_error_into_the_clients_outcome() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let watched = InferenceMonitorLayer::new("ranker")
        .classify_with(GrpcClassifier)
        .watch_request_body();
    let message: &[u8] = b"\0\0\0\0\x02\x08\x01";
    let send = |code, req| {
        let svc = watched.layer(reads_then_answers(code));
        async move {
            svc.oneshot(req).await.unwrap();
        }
    };
    // The body failed (the client reset the call), then the server answered INTERNAL.
    send("13", upload(&[], true)).await;
    send("13", upload(&[&message[..3]], true)).await;
    assert_eq!(counts(&rec), [0, 0, 0, 2]);
    // Malformed: a bad compression flag, a body cut inside a message, no message at all.
    send("13", upload(&[b"\x07\0\0\0\x01x"], false)).await;
    send("13", upload(&[&message[..4]], false)).await;
    send("13", upload(&[], false)).await;
    assert_eq!(counts(&rec), [0, 3, 0, 2]);
    // A well-formed body: INTERNAL and UNAVAILABLE are the server's.
    send("13", upload(&[message], false)).await;
    send("14", upload(&[&message[..2], &message[2..]], false)).await;
    assert_eq!(counts(&rec), [0, 3, 2, 2]);
    // Any other answer keeps its own outcome, mark or not.
    send("0", upload(&[], true)).await;
    send("5", upload(&[b"\x07"], false)).await;
    assert_eq!(counts(&rec), [1, 4, 2, 2]);
    // Without the watch, a reset call answered INTERNAL is a server error, as before.
    let plain = InferenceMonitorLayer::new("ranker").classify_with(GrpcClassifier);
    plain
        .layer(reads_then_answers("13"))
        .oneshot(upload(&[], true))
        .await
        .unwrap();
    assert_eq!(counts(&rec), [1, 4, 3, 2]);
    assert_eq!(inprogress(&rec, "ranker"), Some(0.0));
}

#[tokio::test]
async fn a_watched_http_upload_the_client_aborted_is_cancelled_not_a_5xx() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let layer = InferenceMonitorLayer::new("ranker").watch_request_body();
    let answer = |status: StatusCode| {
        service_fn(move |mut req: Request<RequestBody<Upload>>| async move {
            while let Some(Ok(_)) = next_frame(req.body_mut()).await {}
            let mut res = Response::new(http_body_util::Full::new(Bytes::from_static(b"{}")));
            *res.status_mut() = status;
            Ok::<_, Infallible>(res)
        })
    };
    let json = |fails| {
        Request::post("/predict")
            .header("content-type", "application/json")
            .body(Upload {
                chunks: VecDeque::from([Bytes::from_static(b"{\"x\":")]),
                fails,
            })
            .unwrap()
    };
    for (status, fails) in [
        (StatusCode::INTERNAL_SERVER_ERROR, true),
        (StatusCode::INTERNAL_SERVER_ERROR, false),
        (StatusCode::BAD_REQUEST, true),
        (StatusCode::OK, false),
    ] {
        let res = layer
            .layer(answer(status))
            .oneshot(json(fails))
            .await
            .unwrap();
        res.into_body().collect().await.unwrap();
    }
    // Not gRPC: no framing is checked, a cut JSON body is the handler's to judge (500 here).
    assert_eq!(counts(&rec), [1, 1, 1, 1]);
}
