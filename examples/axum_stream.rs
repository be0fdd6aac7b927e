//! A toy text generator that streams its words as server-sent events, monitored with the
//! streaming signals: time to first token, time per output token, tokens in and out.
//!
//! Run it:
//!
//! ```sh
//! cargo run --example axum_stream                    # listens on 127.0.0.1:8000
//! ADDR=127.0.0.1:0 cargo run --example axum_stream   # any free port; the banner shows it
//! FIRST_TOKEN_DELAY_MS=300 TOKEN_DELAY_MS=50 cargo run --example axum_stream  # the "model"'s pace
//! ```
//!
//! Then try:
//!
//! ```sh
//! curl -N localhost:8000/generate -H 'content-type: application/json' -d '{"prompt": "tell me a story", "max_tokens": 8}'
//! curl -s localhost:8000/generate -H 'content-type: application/json' -d '{"prompt": ""}'   # 422
//! curl -s localhost:8000/metrics | grep -E 'inference_(tokens|time_to_first|time_per_output)'
//! ```
//!
//! `/generate` takes `{"prompt": string, "max_tokens": 1..=64 (default 16)}` and answers
//! `text/event-stream`, one `data: <word>` event per token: the first after
//! `FIRST_TOKEN_DELAY_MS` (default 200, the "prefill"), the others `TOKEN_DELAY_MS` apart
//! (default 50). The prompt's words are its input tokens, reported with `TokenUsage`; each event
//! is one output token. A client that hangs up mid-stream is counted as `cancelled`, with the
//! tokens it was sent. Invalid requests get a 4xx with a JSON `{"error": …}` body.
//!
//! It serves and stops like the loan examples (`loan_model/serving.rs`): HTTP/1.1 with header,
//! body and idle timeouts and a connection limit, and on Ctrl-C or SIGTERM a drain of at most
//! `SHUTDOWN_TIMEOUT` seconds; a stream still running at the deadline is cut and counted as
//! `cancelled`, with the tokens it had sent.

#[path = "loan_model/mod.rs"]
mod loan_model;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get_service, post};
use axum::{Extension, Json, Router};
use http_body::Frame;
use inference_monitor::{InferenceMonitorLayer, Monitor, TokenUsage};
use loan_model::api::{self, BodyError};
use loan_model::serving::{self, Limits, Receiving, Shutdown, Stopped};
use serde_json::{json, Value};

/// The largest `/generate` body, in bytes.
const BODY_LIMIT: usize = api::BODY_LIMIT;

/// The words the generator cycles through.
const TEXT: [&str; 9] = [
    "the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog",
];
/// The most tokens one request may ask for.
const MAX_TOKENS: u64 = 64;

/// How fast the "model" writes.
#[derive(Debug, Clone, Copy)]
struct Pace {
    first_token: Duration,
    per_token: Duration,
}

impl Pace {
    fn from_env() -> Result<Self, String> {
        let millis = |name: &str, default: u64| -> Result<Duration, String> {
            match std::env::var(name) {
                Ok(v) => v
                    .parse()
                    .map(Duration::from_millis)
                    .map_err(|e| format!("{name} must be a number of milliseconds: {e}")),
                Err(_) => Ok(Duration::from_millis(default)),
            }
        };
        Ok(Self {
            first_token: millis("FIRST_TOKEN_DELAY_MS", 200)?,
            per_token: millis("TOKEN_DELAY_MS", 50)?,
        })
    }
}

/// The streamed answer: `left` words, one server-sent event each, the first after the pace's
/// first-token delay and the next ones a per-token delay apart.
struct Words {
    next: usize,
    left: u64,
    pace: Pace,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for Words {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        ready!(self.sleep.as_mut().poll(cx));
        let word = TEXT[self.next % TEXT.len()];
        self.next += 1;
        self.left -= 1;
        let next_at = tokio::time::Instant::now() + self.pace.per_token;
        self.sleep.as_mut().reset(next_at);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(format!(
            "data: {word}\n\n"
        ))))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// `POST /generate`.
async fn generate(
    State(pace): State<Pace>,
    refused: Option<Extension<BodyError>>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    // `serving::receive` read the body before the router, or says why it could not.
    if let Some(Extension(error)) = refused {
        let answer = api::refused(&error, BODY_LIMIT);
        let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_REQUEST);
        return (status, Json(answer.body)).into_response();
    }
    let request = match body {
        Ok(Json(request)) => request,
        Err(rejection) => return error(rejection.status(), rejection.body_text()),
    };
    let Some(prompt) = request.get("prompt").and_then(Value::as_str) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`prompt` must be a string",
        );
    };
    let input_tokens = prompt.split_whitespace().count() as u64;
    if input_tokens == 0 {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "`prompt` is empty");
    }
    let max_tokens = match request.get("max_tokens") {
        None => 16,
        Some(n) => match n.as_u64() {
            Some(n) if (1..=MAX_TOKENS).contains(&n) => n,
            _ => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("`max_tokens` must be an integer from 1 to {MAX_TOKENS}"),
                )
            }
        },
    };
    let words = Words {
        next: 0,
        left: max_tokens,
        pace,
        sleep: Box::pin(tokio::time::sleep(pace.first_token)),
    };
    let mut response = Response::new(Body::new(words));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    TokenUsage::input(input_tokens).insert_into(&mut response);
    response
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such route; try POST /generate or GET /metrics",
    )
}

async fn method_not_allowed() -> Response {
    error(StatusCode::METHOD_NOT_ALLOWED, "/generate takes POST")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    serving::run(serve())
}

async fn serve() -> Result<Stopped, Box<dyn std::error::Error>> {
    let addr = loan_model::server::addr_from_env()?;
    let limits = Limits::from_env()?;
    let pace = Pace::from_env()?;
    let monitor = Monitor::new();
    let metrics = inference_monitor::prometheus()
        .monitor(&monitor)
        .install()?;
    let shutdown = Shutdown::listen("streams", &limits)
        .map_err(|e| format!("cannot listen for signals: {e}"))?;
    let generator = monitor.model("tiny-generator");
    let app = Router::new()
        .route("/generate", post(generate).fallback(method_not_allowed))
        .layer(InferenceMonitorLayer::for_model(generator.clone()).streaming())
        .route("/metrics", get_service(metrics.service()))
        .fallback(not_found)
        .with_state(pace);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    println!(
        "axum_stream: a toy generator streaming server-sent events, monitored by inference-monitor"
    );
    println!(
        "  generate: curl -N http://{local}/generate -H 'content-type: application/json' -d '{{\"prompt\": \"tell me a story\", \"max_tokens\": 8}}'"
    );
    println!(
        "  pace:     first token after {} ms, then one every {} ms (FIRST_TOKEN_DELAY_MS, TOKEN_DELAY_MS)",
        pace.first_token.as_millis(),
        pace.per_token.as_millis()
    );
    println!("  metrics:  curl -s http://{local}/metrics");
    println!("  {}", limits.banner_line());
    println!("  {}", limits.stop_line());
    println!("axum_stream listening on http://{local}");
    // Bodies are read before the router and the layer's clock; a `/generate` upload cut short
    // counts as cancelled.
    let receiving = Receiving::new(
        &limits,
        |_| BODY_LIMIT,
        move |request| (request.uri.path() == "/generate").then(|| generator.clone()),
    );
    let drain = serving::serve(
        listener,
        serving::receiving(app, receiving),
        &limits,
        &shutdown,
    )
    .await;
    Ok(Stopped {
        metrics: Some(metrics),
        drain,
    })
}
