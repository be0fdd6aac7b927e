//! The actix-web integration (feature `actix`).
//!
//! End to end: the real `actix_loan` example on a free loopback port, real HTTP, and its
//! `/metrics` parsed and checked to the exact count, like `axum_loan`.
//!
//! Unit level: the `InferenceMonitor` middleware under `actix_web::test`, with a
//! `TestRecorder` kept current for the whole test (`actix_web::test` runs on one thread).

use crate::common;

#[test]
fn serves_predictions_and_exact_metrics_over_real_http() {
    common::loan_api::serves_predictions_and_exact_metrics("actix_loan");
}

#[test]
fn every_rejected_request_gets_a_json_4xx_and_counts_as_client_error() {
    common::loan_api::rejects_with_json_4xx_counted_as_client_error("actix_loan");
}

#[cfg(unix)]
#[test]
fn shuts_down_gracefully_on_sigterm() {
    common::loan_api::shuts_down_gracefully_on_sigterm("actix_loan");
}

use common::{http, post_json, scrape, start_example, Exposition};

use common::loan_api::{GOOD, RISKY};

#[test]
fn the_macro_route_counts_under_its_own_model() {
    let server = start_example("actix_loan", &[]);
    let addr = server.addr;

    let a = post_json(addr, "/predict/macro", GOOD);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["label"], "approved");
    let b = post_json(addr, "/predict/macro", RISKY);
    assert_eq!(b.status, 200, "{}", b.body);
    assert_eq!(b.json()["label"], "rejected");
    let bad = post_json(addr, "/predict/macro", r#"{"applicant_income": 5000}"#);
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert_eq!(bad.json()["field"], "coapplicant_income");
    let too_large = post_json(
        addr,
        "/predict/macro",
        &format!("{{\"pad\": \"{}\"}}", "x".repeat(20 * 1024)),
    );
    assert_eq!(too_large.status, 413, "{}", too_large.body);

    let m = scrape(addr);
    assert_eq!(m.requests("loan_macro", "success"), Some(2.0));
    assert_eq!(m.requests("loan_macro", "client_error"), Some(2.0));
    assert_eq!(m.requests("loan_macro", "server_error"), Some(0.0));
    assert_eq!(m.requests("loan_macro", "cancelled"), Some(0.0));
    for label in ["approved", "rejected"] {
        assert_eq!(
            m.value(
                "inference_predictions_total",
                &[("model", "loan_macro"), ("label", label)]
            ),
            Some(1.0),
            "{label}"
        );
    }
    assert_eq!(
        m.sum(
            "inference_request_latency_seconds_count",
            &[("model", "loan_macro")]
        ),
        4.0
    );
    assert_eq!(
        m.value("inference_inprogress_requests", &[("model", "loan_macro")]),
        Some(0.0)
    );
    // Nothing reached the middleware's model.
    assert_eq!(m.sum("inference_requests_total", &[("model", "loan")]), 0.0);
    assert_eq!(
        m.sum("inference_predictions_total", &[("model", "loan")]),
        0.0
    );
}

#[test]
fn injected_faults_are_server_errors_on_both_routes() {
    let fault = [
        ("Content-Type", "application/json"),
        ("x-inject-fault", "model-error"),
    ];
    // Off by default: the header changes nothing.
    let server = start_example("actix_loan", &[]);
    let res = http(server.addr, "POST", "/predict", &fault, GOOD.as_bytes());
    assert_eq!(res.status, 200, "{}", res.body);
    drop(server);

    let server = start_example("actix_loan", &[("INJECT_FAULTS", "1")]);
    let addr = server.addr;
    for path in ["/predict", "/predict/macro"] {
        let res = http(addr, "POST", path, &fault, GOOD.as_bytes());
        assert_eq!(res.status, 500, "{path}: {}", res.body);
        assert!(res.json()["error"].is_string(), "{path}: {}", res.body);
    }
    assert_eq!(post_json(addr, "/predict", GOOD).status, 200);

    let m = scrape(addr);
    for model in ["loan", "loan_macro"] {
        assert_eq!(m.requests(model, "server_error"), Some(1.0), "{model}");
        assert_eq!(
            m.sum("inference_predictions_total", &[("model", model)]),
            if model == "loan" { 1.0 } else { 0.0 },
            "{model}"
        );
    }
    assert_eq!(m.requests("loan", "success"), Some(1.0));
}

#[cfg(target_os = "linux")]
#[test]
fn memory_stays_bounded_under_a_fragmented_upload() {
    common::loan_api::memory_stays_bounded_under_a_fragmented_upload("actix_loan");
}

#[test]
fn an_over_limit_content_length_is_a_413_at_once() {
    common::loan_api::rejects_an_over_limit_content_length_at_once("actix_loan");
}

#[test]
fn a_body_past_its_read_deadline_is_a_json_408() {
    common::loan_api::answers_408_past_the_body_read_deadline("actix_loan");
}

#[test]
fn slow_heads_and_idle_connections_are_closed_after_the_header_timeout() {
    common::loan_api::closes_slow_heads_and_idle_connections_after_the_header_timeout("actix_loan");
}

#[cfg(unix)]
#[test]
fn idle_sockets_beyond_the_limit_do_not_block_a_real_request() {
    common::loan_api::idle_sockets_do_not_block_a_real_request("actix_loan");
}

#[test]
fn a_half_body_then_reset_is_cancelled() {
    common::loan_api::a_half_body_then_reset_is_cancelled("actix_loan");
}

#[cfg(unix)]
#[test]
fn sigterm_drains_within_the_deadline_with_stuck_clients() {
    common::loan_api::drains_within_the_deadline_with_stuck_clients("actix_loan");
}

#[test]
fn the_main_address_does_not_speak_h2c() {
    common::loan_api::does_not_speak_h2c("actix_loan");
}

/// The middleware itself, under `actix_web::test`.
mod middleware {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Duration;

    use actix_web::body::{BodySize, MessageBody};
    use actix_web::error::{ErrorBadRequest, ErrorInternalServerError};
    use actix_web::web::{self, Bytes};
    use actix_web::{test as actix_test, App, HttpMessage, HttpRequest, HttpResponse};
    use inference_monitor::integrations::actix::{
        metrics_response, InferenceMonitor, PredictionExt,
    };
    use inference_monitor::testing::TestRecorder;
    use inference_monitor::{tower::LatencyEnd, ModelMonitor, Outcome, Prediction};

    use crate::common::recorded;

    /// The four counts of model `loan`, in `Outcome::ALL` order.
    fn counts(recorder: &TestRecorder) -> [Option<u64>; 4] {
        Outcome::ALL.map(|o| recorded::requests(recorder, "loan", o.as_str()))
    }

    /// Exactly one request of model `loan`, ended with `outcome`.
    fn assert_one(recorder: &TestRecorder, outcome: Outcome) {
        let expected = Outcome::ALL.map(|o| Some(u64::from(o == outcome)));
        assert_eq!(counts(recorder), expected, "expected one {outcome}");
        assert_eq!(
            recorded::latency_count(recorder, "loan", outcome.as_str()),
            Some(1)
        );
        assert_eq!(inprogress(recorder), Some(0.0));
    }

    fn inprogress(recorder: &TestRecorder) -> Option<f64> {
        recorded::inprogress(recorder, "loan")
    }

    fn predictions(recorder: &TestRecorder, label: &str) -> Option<u64> {
        recorded::predictions(recorder, "loan", label)
    }

    fn loan() -> InferenceMonitor {
        InferenceMonitor::new(ModelMonitor::new("loan"))
    }

    /// A body that hands out its chunks one per poll, with the size it is told to report.
    struct Chunks {
        chunks: VecDeque<Result<Bytes, std::io::Error>>,
        size: BodySize,
    }

    impl Chunks {
        fn stream(chunks: &[&'static str]) -> Self {
            Self {
                chunks: chunks
                    .iter()
                    .map(|c| Ok(Bytes::from_static(c.as_bytes())))
                    .collect(),
                size: BodySize::Stream,
            }
        }

        fn sized(chunks: &[&'static str]) -> Self {
            let len = chunks.iter().map(|c| c.len() as u64).sum();
            Self {
                size: BodySize::Sized(len),
                ..Self::stream(chunks)
            }
        }

        fn failing() -> Self {
            let mut body = Self::stream(&["partial"]);
            body.chunks
                .push_back(Err(std::io::Error::other("the model crashed mid-stream")));
            body
        }
    }

    impl MessageBody for Chunks {
        type Error = std::io::Error;

        fn size(&self) -> BodySize {
            self.size
        }

        fn poll_next(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Bytes, Self::Error>>> {
            Poll::Ready(self.get_mut().chunks.pop_front())
        }
    }

    /// Polls the next chunk of a response body.
    async fn next_chunk<B: MessageBody + Unpin>(body: &mut B) -> Option<Result<Bytes, B::Error>> {
        std::future::poll_fn(|cx| Pin::new(&mut *body).poll_next(cx)).await
    }

    /// The app of most tests, under `actix_web::test`: `route` at `/predict`, behind `monitor`
    /// (`loan()` unless given).
    macro_rules! predict_app {
        ($route:expr $(,)?) => {
            predict_app!($route, loan())
        };
        ($route:expr, $monitor:expr $(,)?) => {
            actix_test::init_service(
                App::new().service(web::resource("/predict").route($route).wrap($monitor)),
            )
            .await
        };
    }

    /// POSTs to `/predict` and reads the whole answer.
    macro_rules! post {
        ($app:expr) => {
            actix_test::call_and_read_body(
                &$app,
                actix_test::TestRequest::post().uri("/predict").to_request(),
            )
            .await
        };
    }

    /// POSTs to `/predict` and returns the response, its body unread.
    macro_rules! call {
        ($app:expr) => {
            actix_test::call_service(
                &$app,
                actix_test::TestRequest::post().uri("/predict").to_request(),
            )
            .await
        };
    }

    async fn explode() -> HttpResponse {
        panic!("the model blew up")
    }

    /// With `request_signals(true)`, a handler finds its request's `Signals` (`web::ReqData`):
    /// its stages and confidence are recorded for the middleware's model; without, none.
    #[actix_web::test]
    async fn a_handler_gets_its_requests_signals_when_the_monitor_asks() {
        use inference_monitor::{Monitor, Signals, Stage};
        let recorder = TestRecorder::new();
        let _local = recorder.local();
        let handler = |signals: Option<web::ReqData<Signals>>| async move {
            let Some(signals) = signals else {
                return HttpResponse::Ok().body("none");
            };
            signals.queue_wait();
            signals.record(Stage::Predict, Duration::from_millis(8));
            signals.confidence(0.875);
            HttpResponse::Ok().body(signals.model_name().to_owned())
        };
        let with = Monitor::builder().request_signals(true).build().unwrap();
        let without = Monitor::new();
        let app = actix_test::init_service(
            App::new()
                .service(
                    web::resource("/predict")
                        .route(web::post().to(handler))
                        .wrap(InferenceMonitor::new(with.model("loan"))),
                )
                .service(
                    web::resource("/plain")
                        .route(web::post().to(handler))
                        .wrap(InferenceMonitor::new(without.model("plain"))),
                ),
        )
        .await;
        assert_eq!(post!(app), "loan");
        assert_eq!(post!(app), "loan");
        let plain = actix_test::call_and_read_body(
            &app,
            actix_test::TestRequest::post().uri("/plain").to_request(),
        )
        .await;
        assert_eq!(plain, "none");

        let stage = |model: &str, stage: &str| {
            recorder.histogram(
                "inference_stage_duration_seconds",
                &[("model", model), ("stage", stage)],
            )
        };
        assert_eq!(stage("loan", "predict"), Some(vec![0.008, 0.008]));
        assert_eq!(stage("loan", "queue").map(|v| v.len()), Some(2));
        assert_eq!(
            recorder.histogram("inference_prediction_confidence", &[("model", "loan")]),
            Some(vec![0.875, 0.875])
        );
        assert_eq!(stage("plain", "queue"), None);
        assert_eq!(counts(&recorder)[0], Some(2));
    }

    #[actix_web::test]
    async fn ok_with_a_label_counts_one_success_and_its_prediction() {
        let recorder = TestRecorder::new();
        let _local = recorder.local();
        let app = predict_app!(web::post().to(|| async {
            HttpResponse::Ok()
                .with_prediction("approved")
                .json(serde_json::json!({ "label": "approved" }))
        }));

        let body = post!(app);
        assert_eq!(body, r#"{"label":"approved"}"#);
        assert_one(&recorder, Outcome::Success);
        assert_eq!(predictions(&recorder, "approved"), Some(1));

        // A second request adds to the same series.
        post!(app);
        assert_eq!(counts(&recorder)[0], Some(2));
        assert_eq!(predictions(&recorder, "approved"), Some(2));
        assert_eq!(inprogress(&recorder), Some(0.0));
    }

    #[actix_web::test]
    async fn a_label_in_the_request_extensions_is_counted_too() {
        let recorder = TestRecorder::new();
        let _local = recorder.local();
        let app = predict_app!(web::post().to(|req: HttpRequest| async move {
            req.extensions_mut().insert(Prediction::new("rejected"));
            web::Json(0.2)
        }));

        assert_eq!(post!(app), "0.2");
        assert_one(&recorder, Outcome::Success);
        assert_eq!(predictions(&recorder, "rejected"), Some(1));
    }

    #[actix_web::test]
    async fn a_422_is_one_client_error_without_prediction() {
        let recorder = TestRecorder::new();
        let _local = recorder.local();
        let app = predict_app!(web::post().to(|| async {
            HttpResponse::UnprocessableEntity().json(serde_json::json!({ "error": "no" }))
        }));

        post!(app);
        assert_one(&recorder, Outcome::ClientError);
        assert_eq!(
            recorder.counter_sum("inference_predictions_total", &[("model", "loan")]),
            0
        );
    }

    #[actix_web::test]
    async fn a_500_is_one_server_error() {
        let recorder = TestRecorder::new();
        let _local = recorder.local();
        let app = predict_app!(
            web::post().to(|| async { HttpResponse::InternalServerError().finish() }),
        );

        post!(app);
        assert_one(&recorder, Outcome::ServerError);
    }

    #[actix_web::test]
    async fn a_handler_error_is_classified_by_its_status() {
        let recorder = TestRecorder::new();
        let _local = recorder.local();
        let app = actix_test::init_service(
            App::new()
                .service(
                    web::resource("/predict")
                        .route(web::post().to(|| async {
                            Err::<HttpResponse, _>(ErrorBadRequest("missing field"))
                        }))
                        .wrap(loan()),
                )
                .service(
                    web::resource("/crash")
                        .route(web::post().to(|| async {
                            Err::<HttpResponse, _>(ErrorInternalServerError("model crashed"))
                        }))
                        .wrap(loan()),
                ),
        )
        .await;

        let res = call!(app);
        assert_eq!(res.status(), 400);
        assert_eq!(actix_test::read_body(res).await, "missing field");
        assert_one(&recorder, Outcome::ClientError);

        actix_test::call_and_read_body(
            &app,
            actix_test::TestRequest::post().uri("/crash").to_request(),
        )
        .await;
        assert_eq!(counts(&recorder), [Some(0), Some(1), Some(1), Some(0)]);
        assert_eq!(inprogress(&recorder), Some(0.0));
    }

    #[actix_web::test]
    async fn an_error_from_the_inner_service_is_classified_by_its_status() {
        let recorder = TestRecorder::new();
        let _local = recorder.local();
        // An inner middleware that fails every request with a 400 error, never a response.
        let app = actix_test::init_service(
            App::new().service(
                web::resource("/predict")
                    .route(web::post().to(|| async { HttpResponse::Ok().finish() }))
                    .wrap_fn(|_req, _srv| {
                        std::future::ready(Err::<actix_web::dev::ServiceResponse, _>(
                            ErrorBadRequest("rejected before the handler"),
                        ))
                    })
                    .wrap(loan()),
            ),
        )
        .await;

        let result = actix_test::try_call_service(
            &app,
            actix_test::TestRequest::post().uri("/predict").to_request(),
        )
        .await;
        let error = result.expect_err("the inner service fails");
        assert_eq!(error.as_response_error().status_code(), 400);
        assert_one(&recorder, Outcome::ClientError);
    }

    #[actix_web::test]
    async fn a_streamed_body_is_measured_to_its_end() {
        let recorder = TestRecorder::new();
        let _local = recorder.local();
        let app = predict_app!(web::post().to(|| async {
            HttpResponse::Ok()
                .with_prediction("approved")
                .body(Chunks::stream(&["a", "b", "c"]))
        }));

        let res = call!(app);
        // The headers are out; the request is still in flight until the body ends.
        assert_eq!(counts(&recorder), [Some(0); 4]);
        assert_eq!(inprogress(&recorder), Some(1.0));
        let mut body = res.into_body();
        assert_eq!(next_chunk(&mut body).await.unwrap().unwrap(), "a");
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(next_chunk(&mut body).await.unwrap().unwrap(), "b");
        assert_eq!(next_chunk(&mut body).await.unwrap().unwrap(), "c");
        // A stream of unknown size ends at `None`.
        assert_eq!(inprogress(&recorder), Some(1.0));
        assert!(next_chunk(&mut body).await.is_none());
        assert_one(&recorder, Outcome::Success);
        assert_eq!(predictions(&recorder, "approved"), Some(1));
        let latency = recorder
            .histogram(
                "inference_request_latency_seconds",
                &[("model", "loan"), ("outcome", "success")],
            )
            .unwrap();
        assert!(
            latency[0] >= 0.05,
            "the time between chunks counts: {latency:?}"
        );
    }

    #[actix_web::test]
    async fn a_body_of_known_size_ends_with_its_last_chunk() {
        let recorder = TestRecorder::new();
        let _local = recorder.local();
        let app =
            predict_app!(web::post()
                .to(|| async { HttpResponse::Ok().body(Chunks::sized(&["abc", "def"])) }));

        let res = call!(app);
        let mut body = res.into_body();
        assert_eq!(body.size(), BodySize::Sized(6));
        assert_eq!(next_chunk(&mut body).await.unwrap().unwrap(), "abc");
        assert_eq!(inprogress(&recorder), Some(1.0));
        assert_eq!(next_chunk(&mut body).await.unwrap().unwrap(), "def");
        // Recorded without waiting for a `None` the server may never ask for.
        assert_one(&recorder, Outcome::Success);
    }

    #[actix_web::test]
    async fn an_empty_body_is_recorded_at_the_headers() {
        let recorder = TestRecorder::new();
        let _local = recorder.local();
        let app = predict_app!(web::post().to(|| async {
            HttpResponse::NoContent()
                .with_prediction("approved")
                .finish()
        }));

        let res = call!(app);
        assert_eq!(res.status(), 204);
        // Nothing polls an empty body: it is recorded before anyone reads it.
        assert_one(&recorder, Outcome::Success);
        assert_eq!(predictions(&recorder, "approved"), Some(1));
        drop(res);
        assert_one(&recorder, Outcome::Success);
    }

    #[actix_web::test]
    async fn an_answer_to_head_is_recorded_at_the_headers() {
        let recorder = TestRecorder::new();
        let _local = recorder.local();
        let app = predict_app!(web::head()
            .to(|| async { HttpResponse::Ok().body(Chunks::stream(&["never", "sent"])) }));

        let res = actix_test::call_service(
            &app,
            actix_test::TestRequest::default()
                .method(actix_web::http::Method::HEAD)
                .uri("/predict")
                .to_request(),
        )
        .await;
        // The server drops the body of a HEAD answer unread: that is no cancellation.
        drop(res);
        assert_one(&recorder, Outcome::Success);
    }

    #[actix_web::test]
    async fn a_body_dropped_early_is_cancelled_and_its_prediction_still_counted() {
        let recorder = TestRecorder::new();
        let _local = recorder.local();
        let app = predict_app!(web::post().to(|| async {
            HttpResponse::Ok()
                .with_prediction("approved")
                .body(Chunks::stream(&["a", "b"]))
        }));

        let res = call!(app);
        let mut body = res.into_body();
        assert_eq!(next_chunk(&mut body).await.unwrap().unwrap(), "a");
        drop(body); // the client went away
        assert_one(&recorder, Outcome::Cancelled);
        assert_eq!(predictions(&recorder, "approved"), Some(1));
    }

    #[actix_web::test]
    async fn a_body_error_is_a_server_error() {
        let recorder = TestRecorder::new();
        let _local = recorder.local();
        let app =
            predict_app!(web::post().to(|| async { HttpResponse::Ok().body(Chunks::failing()) }));

        let res = call!(app);
        assert!(actix_test::try_read_body(res).await.is_err());
        assert_one(&recorder, Outcome::ServerError);
    }

    #[actix_web::test]
    async fn latency_until_headers_records_before_the_body() {
        let recorder = TestRecorder::new();
        let _local = recorder.local();
        let app = predict_app!(
            web::post().to(|| async { HttpResponse::Ok().body(Chunks::stream(&["a", "b"])) }),
            loan().latency_until(LatencyEnd::Headers)
        );

        let res = call!(app);
        assert_one(&recorder, Outcome::Success);
        drop(res); // dropping the body now changes nothing
        assert_one(&recorder, Outcome::Success);
    }

    #[actix_web::test]
    async fn a_custom_classifier_sees_the_status() {
        let recorder = TestRecorder::new();
        let _local = recorder.local();
        // Our own rate limiter's 429 is our fault, not the client's.
        let classifier = |status: http::StatusCode, headers: &http::HeaderMap| {
            assert!(headers.is_empty());
            if status == http::StatusCode::TOO_MANY_REQUESTS {
                Outcome::ServerError
            } else {
                Outcome::from_status(status)
            }
        };
        let app = predict_app!(
            web::post().to(|| async { HttpResponse::TooManyRequests().finish() }),
            loan().classify_with(classifier)
        );

        post!(app);
        assert_one(&recorder, Outcome::ServerError);
    }

    #[test]
    fn a_panicking_handler_is_a_server_error() {
        let recorder = TestRecorder::new();
        let _local = recorder.local();
        let loan = loan();
        // The guard is checked after the unwind; nothing observed is left half-updated.
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            actix_web::rt::System::new().block_on(async move {
                let app = predict_app!(web::post().to(explode), loan);
                post!(app);
            });
        }));
        assert!(panicked.is_err(), "the panic goes on unwinding");
        assert_one(&recorder, Outcome::ServerError);
    }

    #[actix_web::test]
    async fn routes_outside_the_middleware_are_not_counted() {
        let recorder = TestRecorder::new();
        let _local = recorder.local();
        let app = actix_test::init_service(
            App::new()
                .service(
                    web::resource("/predict")
                        .route(web::post().to(|| async { HttpResponse::Ok().finish() }))
                        .wrap(loan()),
                )
                .route(
                    "/healthz",
                    web::get().to(|| async { HttpResponse::Ok().finish() }),
                ),
        )
        .await;

        actix_test::call_and_read_body(
            &app,
            actix_test::TestRequest::get().uri("/healthz").to_request(),
        )
        .await;
        assert_eq!(counts(&recorder), [Some(0); 4]);
        post!(app);
        assert_one(&recorder, Outcome::Success);
    }

    #[actix_web::test]
    async fn metrics_response_serves_the_text_format() {
        let recorder = TestRecorder::new();
        let _local = recorder.local();
        let (prometheus, handle) = inference_monitor::prometheus().build().unwrap();
        inference_monitor::metrics::with_local_recorder(&prometheus, || {
            ModelMonitor::new("loan").start().finish(Outcome::Success);
        });

        let response = metrics_response(&handle);
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            inference_monitor::exporter::prometheus::CONTENT_TYPE
        );
        let text = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        let m = super::Exposition::parse(std::str::from_utf8(&text).unwrap());
        assert_eq!(
            m.value(
                "inference_requests_total",
                &[("model", "loan"), ("outcome", "success")]
            ),
            Some(1.0)
        );

        // The handle is a responder too.
        let app = actix_test::init_service(App::new().route(
            "/metrics",
            web::get().to(move || std::future::ready(handle.clone())),
        ))
        .await;
        let res = actix_test::call_service(
            &app,
            actix_test::TestRequest::get().uri("/metrics").to_request(),
        )
        .await;
        assert_eq!(res.status(), 200);
        let text = actix_test::read_body(res).await;
        assert!(std::str::from_utf8(&text)
            .unwrap()
            .contains("inference_requests_total"));
    }
}
