//! The streaming signals of the tower layer (`.streaming()`), through a local test recorder:
//! exact token counts, one time-to-first-token and one time-per-output-token sample per
//! response, their lower bounds set by known delays, and a client leaving mid-stream.

use std::convert::Infallible;
use std::time::Duration;

use http::{HeaderValue, Request, Response};
use inference_monitor::testing::TestRecorder;
use inference_monitor::{tower::LatencyEnd, InferenceMonitorLayer, Monitor, TokenUsage};
use tower::{service_fn, Layer, Service, ServiceExt};

use crate::common::frames::{next_frame, Frames};
use crate::common::recorded::requests;

const TTFT: &str = "inference_time_to_first_token_seconds";
const TPOT: &str = "inference_time_per_output_token_seconds";
const TOKENS: &str = "inference_tokens_total";

/// A generator answering `chunks`, with `usage` as its response extension and `content_type`.
fn generator(
    chunks: &'static [&'static str],
    usage: Option<TokenUsage>,
    content_type: &'static str,
) -> impl Service<
    Request<()>,
    Response = Response<Frames>,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<Response<Frames>, Infallible>>,
> + Clone {
    service_fn(move |_req: Request<()>| async move {
        let body = Frames::data(chunks.iter().map(|c| c.as_bytes()));
        let mut res = Response::new(body);
        res.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
        if let Some(usage) = usage {
            usage.insert_into(&mut res);
        }
        Ok::<_, Infallible>(res)
    })
}

const WORDS: &[&str] = &["Once ", "upon ", "a ", "time ", "there"];

fn tokens(rec: &TestRecorder, model: &str, kind: &str) -> Option<u64> {
    rec.counter(TOKENS, &[("model", model), ("type", kind)])
}

fn samples(rec: &TestRecorder, name: &str, model: &str) -> Vec<f64> {
    rec.histogram(name, &[("model", model)]).unwrap_or_default()
}

#[tokio::test]
async fn a_stream_read_to_its_end_records_every_signal_once() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let svc = InferenceMonitorLayer::new("llm")
        .streaming()
        .layer(generator(WORDS, Some(TokenUsage::input(7)), "text/plain"));
    let res = svc.oneshot(Request::new(())).await.unwrap();
    // Input tokens count as soon as the response starts.
    assert_eq!(tokens(&rec, "llm", "input"), Some(7));
    assert_eq!(tokens(&rec, "llm", "output"), Some(0));
    let mut body = res.into_body();

    tokio::time::sleep(Duration::from_millis(40)).await;
    let first = next_frame(&mut body).await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "Once ");
    // The first token is timed at once.
    let ttft = samples(&rec, TTFT, "llm");
    assert_eq!(ttft.len(), 1);
    assert!(ttft[0] >= 0.040 && ttft[0] < 10.0, "{ttft:?}");
    assert!(samples(&rec, TPOT, "llm").is_empty());

    for _ in 1..WORDS.len() {
        tokio::time::sleep(Duration::from_millis(20)).await;
        next_frame(&mut body).await.unwrap().unwrap();
    }
    // The last frame ends the body: everything is recorded without another poll.
    assert_eq!(tokens(&rec, "llm", "output"), Some(5));
    let tpot = samples(&rec, TPOT, "llm");
    assert_eq!(tpot.len(), 1);
    // Four gaps of at least 20 ms between five tokens.
    assert!(tpot[0] >= 0.020 && tpot[0] < 10.0, "{tpot:?}");
    assert_eq!(requests(&rec, "llm", "success"), Some(1));
    assert!(next_frame(&mut body).await.is_none());
    drop(body);
    assert_eq!(tokens(&rec, "llm", "output"), Some(5));
    assert_eq!(tokens(&rec, "llm", "input"), Some(7));
    assert_eq!(samples(&rec, TTFT, "llm").len(), 1);
    assert_eq!(samples(&rec, TPOT, "llm").len(), 1);
    for (name, kind) in [
        (TTFT, "histogram"),
        (TPOT, "histogram"),
        (TOKENS, "counter"),
    ] {
        let d = rec.description(name).unwrap();
        assert_eq!(d.kind, kind);
        assert!(!d.help.is_empty());
    }
    assert_eq!(
        rec.description(TTFT).unwrap().unit,
        Some(metrics::Unit::Seconds)
    );
}

#[tokio::test]
async fn a_client_leaving_mid_stream_is_cancelled_with_the_tokens_it_got() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let svc = InferenceMonitorLayer::new("llm")
        .streaming()
        .layer(generator(WORDS, Some(TokenUsage::input(3)), "text/plain"));
    let mut body = svc.oneshot(Request::new(())).await.unwrap().into_body();
    next_frame(&mut body).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    next_frame(&mut body).await.unwrap().unwrap();
    assert_eq!(tokens(&rec, "llm", "output"), Some(0));
    drop(body);

    assert_eq!(requests(&rec, "llm", "cancelled"), Some(1));
    assert_eq!(requests(&rec, "llm", "success"), Some(0));
    assert_eq!(tokens(&rec, "llm", "output"), Some(2));
    assert_eq!(tokens(&rec, "llm", "input"), Some(3));
    assert_eq!(samples(&rec, TTFT, "llm").len(), 1);
    let tpot = samples(&rec, TPOT, "llm");
    assert_eq!(tpot.len(), 1);
    assert!(tpot[0] >= 0.020, "{tpot:?}");
    assert_eq!(
        rec.gauge("inference_inprogress_requests", &[("model", "llm")]),
        Some(0.0)
    );
}

#[tokio::test]
async fn sse_keep_alive_comments_and_empty_frames_are_not_tokens() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let svc = InferenceMonitorLayer::new("llm").streaming();
    let sse = svc.layer(generator(
        &[
            "data: Hello\n\n",
            ":\n\n",
            "",
            "data: world\n\n",
            ": keep-alive\n\n",
        ],
        None,
        "text/event-stream",
    ));
    let mut body = sse.oneshot(Request::new(())).await.unwrap().into_body();
    while next_frame(&mut body).await.is_some() {}
    assert_eq!(tokens(&rec, "llm", "output"), Some(2));
    assert_eq!(tokens(&rec, "llm", "input"), Some(0));
    assert_eq!(samples(&rec, TTFT, "llm").len(), 1);
    assert_eq!(samples(&rec, TPOT, "llm").len(), 1);

    // Outside server-sent events a leading `:` is text like any other.
    let plain = svc.layer(generator(&[":)", " ok"], None, "text/plain"));
    let mut body = plain.oneshot(Request::new(())).await.unwrap().into_body();
    while next_frame(&mut body).await.is_some() {}
    assert_eq!(tokens(&rec, "llm", "output"), Some(4));
    assert_eq!(samples(&rec, TTFT, "llm").len(), 2);
}

#[tokio::test]
async fn an_answer_sent_whole_reports_its_output_tokens() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let svc = InferenceMonitorLayer::new("llm")
        .streaming()
        .layer(generator(
            &["{\"text\":\"Once upon a time\"}"],
            Some(TokenUsage::input(4).with_output(9)),
            "application/json",
        ));
    let mut body = svc.oneshot(Request::new(())).await.unwrap().into_body();
    while next_frame(&mut body).await.is_some() {}
    assert_eq!(tokens(&rec, "llm", "input"), Some(4));
    assert_eq!(tokens(&rec, "llm", "output"), Some(9));
    assert_eq!(samples(&rec, TTFT, "llm").len(), 1);
    // One frame times no gap between tokens.
    assert_eq!(samples(&rec, TPOT, "llm").len(), 0);
}

#[tokio::test]
async fn an_empty_body_and_latency_until_headers() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let layer = InferenceMonitorLayer::new("llm").streaming();
    // No frame, no token, no first token.
    let res = layer
        .layer(generator(&[], Some(TokenUsage::input(2)), "text/plain"))
        .oneshot(Request::new(()))
        .await
        .unwrap();
    assert_eq!(requests(&rec, "llm", "success"), Some(1));
    drop(res);
    assert_eq!(tokens(&rec, "llm", "input"), Some(2));
    assert_eq!(tokens(&rec, "llm", "output"), Some(0));
    assert_eq!(samples(&rec, TTFT, "llm").len(), 0);

    // The request is recorded at the headers; the tokens are still followed to the end.
    let svc = layer
        .latency_until(LatencyEnd::Headers)
        .layer(generator(WORDS, None, "text/plain"));
    let mut body = svc.oneshot(Request::new(())).await.unwrap().into_body();
    assert_eq!(requests(&rec, "llm", "success"), Some(2));
    while next_frame(&mut body).await.is_some() {}
    assert_eq!(tokens(&rec, "llm", "output"), Some(5));
    assert_eq!(samples(&rec, TTFT, "llm").len(), 1);
    assert_eq!(samples(&rec, TPOT, "llm").len(), 1);
}

#[tokio::test]
async fn an_error_answer_is_not_a_stream_of_tokens() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let svc = InferenceMonitorLayer::new("llm")
        .streaming()
        .layer(service_fn(|_req: Request<()>| async {
            let body = Frames::data([&b"{\"error\":\"empty\"}"[..]]);
            let mut res = Response::new(body);
            *res.status_mut() = http::StatusCode::UNPROCESSABLE_ENTITY;
            TokenUsage::input(5).insert_into(&mut res);
            Ok::<_, Infallible>(res)
        }));
    let mut body = svc.oneshot(Request::new(())).await.unwrap().into_body();
    while next_frame(&mut body).await.is_some() {}
    assert_eq!(requests(&rec, "llm", "client_error"), Some(1));
    assert!(rec.series(TOKENS).is_empty());
    assert!(rec.series(TTFT).is_empty());
}

#[tokio::test]
async fn without_streaming_no_token_series_exist() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let svc = InferenceMonitorLayer::new("llm").layer(generator(
        WORDS,
        Some(TokenUsage::input(7)),
        "text/plain",
    ));
    let mut body = svc.oneshot(Request::new(())).await.unwrap().into_body();
    while next_frame(&mut body).await.is_some() {}
    assert_eq!(requests(&rec, "llm", "success"), Some(1));
    assert!(rec.series(TOKENS).is_empty());
    assert!(rec.series(TTFT).is_empty());
    assert!(rec.series(TPOT).is_empty());
}

#[tokio::test]
async fn prefixed_names_and_models_from_the_request() {
    let rec = TestRecorder::new();
    let _local = rec.local();
    let monitor = Monitor::builder().prefix("gen").build().unwrap();
    let mut svc = InferenceMonitorLayer::open_inference(&monitor, "unknown")
        .streaming()
        .layer(generator(WORDS, Some(TokenUsage::input(1)), "text/plain"));
    for model in ["a", "b", "a"] {
        let request = Request::post(format!("/v2/models/{model}/infer"))
            .body(())
            .unwrap();
        let res = svc.ready().await.unwrap().call(request).await.unwrap();
        let mut body = res.into_body();
        while next_frame(&mut body).await.is_some() {}
    }
    let t = |model: &str, kind: &str| {
        rec.counter(
            "gen_inference_tokens_total",
            &[("model", model), ("type", kind)],
        )
    };
    assert_eq!(t("a", "output"), Some(10));
    assert_eq!(t("a", "input"), Some(2));
    assert_eq!(t("b", "output"), Some(5));
    assert_eq!(t("b", "input"), Some(1));
    assert_eq!(
        rec.histogram(
            "gen_inference_time_to_first_token_seconds",
            &[("model", "a")]
        )
        .map(|h| h.len()),
        Some(2)
    );
    assert!(rec.series(TOKENS).is_empty());
}
