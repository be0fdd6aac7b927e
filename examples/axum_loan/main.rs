//! The main demo: a loan-approval model served by axum and monitored by inference-monitor.
//!
//! Run it:
//!
//! ```sh
//! cargo run --example axum_loan                      # listens on 127.0.0.1:8000
//! ADDR=127.0.0.1:0 cargo run --example axum_loan     # any free port; the banner shows it
//! INFERENCE_MONITOR=off cargo run --example axum_loan # same server, /predict without the layer
//! INFERENCE_MONITOR=app cargo run --example axum_loan   # the layer, without the opt-in signals
//! INFERENCE_MONITOR=layer cargo run --example axum_loan # the same, the layer on the two routes
//! METRICS_TOKEN=s3cret cargo run --example axum_loan  # /metrics wants "authorization: Bearer s3cret"
//! METRICS_ADDR=127.0.0.1:9464 cargo run --example axum_loan # /metrics on its own listener only
//! ```
//!
//! `docs/security.md` describes both, and what each protects against.
//!
//! Then try:
//!
//! ```sh
//! curl -s localhost:8000/predict -H 'content-type: application/json' -d '{"applicant_income": 5000, "coapplicant_income": 1500, "loan_amount": 120, "loan_term_months": 360, "credit_history": true, "dependents": 0, "education": "graduate", "self_employed": false, "property_area": "urban"}'
//! curl -s localhost:8000/predict -H 'content-type: application/json' -d '{"applicant_income": 5000}'   # 422, names the missing field
//! curl -s localhost:8000/predict/batch -H 'content-type: application/json' -d '{"applications": [{"applicant_income": 5000, "coapplicant_income": 1500, "loan_amount": 120, "loan_term_months": 360, "credit_history": true, "dependents": 0, "education": "graduate", "self_employed": false, "property_area": "urban"}, {"applicant_income": 1200, "coapplicant_income": 0, "loan_amount": 700, "loan_term_months": 120, "credit_history": false, "dependents": 3, "education": "not_graduate", "self_employed": true, "property_area": "rural"}]}'
//! curl -s localhost:8000/metrics
//! ```
//!
//! and open <http://localhost:8000/dashboard> for live charts of `/metrics` (the crate's
//! `dashboard` feature; `docs/live-dashboard.md`).
//!
//! `/predict` answers `{"label": "approved"|"rejected", "probability": …, "model_version": …}`;
//! `/predict/batch` takes `{"applications": [...]}` (1 to 64 applications, scored in one model
//! call) and answers `{"predictions": [{"label", "probability"}, …], "model_version": …}` in
//! the same order. Besides the four request metrics, `/metrics` shows the time of each stage
//! (`inference_stage_duration_seconds`), the confidence of each answer
//! (`inference_prediction_confidence`), the size of each batch (`inference_batch_size`; each of
//! its labels is counted in `inference_predictions_total`), the model's version
//! (`inference_model_info`) and load time (`inference_model_load_duration_seconds`);
//! every rejected request gets a 4xx with a JSON `{"error": …}` body and is counted as
//! `client_error`. The status codes and bodies come from `loan_model::api`, shared with the
//! other example servers (`hyper_loan`), so they all answer alike. The model is described in
//! `docs/model.md`.
//!
//! It is served like `hyper_loan`, by `loan_model/serving.rs`: HTTP/1.1 only, a head (and idle
//! keep-alive) timeout, a body read deadline and a connection limit (`HEADER_READ_TIMEOUT`,
//! `BODY_READ_TIMEOUT`, `MAX_CONNECTIONS`), each body read before the router and the layer's
//! clock (a `Content-Length` over the limit is a JSON 413 at once), and on Ctrl-C or SIGTERM a
//! drain of at most `SHUTDOWN_TIMEOUT` seconds whose cut requests count as `cancelled`
//! (`docs/operations.md`).

#[path = "../loan_model/mod.rs"]
mod loan_model;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, get_service, post};
use axum::{Extension, Json, Router};
use inference_monitor::{
    exporter::prometheus::MetricsService, InferenceMonitorLayer, Monitor, Prediction, Signal,
    Signals, Stage,
};

use loan_model::api::{self, ApiResponse, BodyError};
use loan_model::serving::{self, Limits, Receiving, Shutdown, Stopped};
use loan_model::LoanModel;
use tower::{Layer as _, ServiceExt};

/// The request bodies, read in full by `serving::receive` before the router sees them.
type RequestBody = http_body_util::Full<Bytes>;

/// Turns a framework-independent answer into an axum response: its status, its JSON body, the
/// `Allow` header of a 405, and the predicted label for the metrics layer.
fn respond(answer: ApiResponse, allow: Option<&'static str>) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Json(answer.body)).into_response();
    if let Some(allow) = allow {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    if let Some(label) = answer.label {
        Prediction::new(label).insert_into(&mut response);
    }
    response
}

/// The body as the framework-independent API takes it. `serving::receive` read it before the
/// router (within the limit of the route and the body read deadline), or left why not in the
/// request's extensions; the extractor enforces `DefaultBodyLimit` too.
fn body_of<'a>(
    refused: Option<&'a Extension<BodyError>>,
    body: &'a Result<Bytes, BytesRejection>,
) -> Result<&'a [u8], BodyError> {
    if let Some(Extension(error)) = refused {
        return Err(error.clone());
    }
    match body {
        Ok(bytes) => Ok(&bytes[..]),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(BodyError::TooLarge)
        }
        Err(rejection) => Err(BodyError::Unreadable(rejection.body_text())),
    }
}

/// What `/predict` and `/predict/batch` share: the stages timed through the request's
/// [`Signals`] when the layer hands them over — the queue (from the layer to here),
/// preprocessing (every request that gets that far), the model call and the answer (valid input
/// only) — the injected fault, and the JSON refusal of invalid input. `report` gives the
/// signals what the model said (confidences, a batch's labels).
///
/// `signals` is `None` without the layer (`INFERENCE_MONITOR=off`) or without the opt-in
/// signals (`INFERENCE_MONITOR=app` or `layer`): nothing is timed then.
#[allow(clippy::too_many_arguments)]
fn score<Input, Output>(
    signals: Option<Extension<Signals>>,
    headers: &HeaderMap,
    refused: Option<Extension<BodyError>>,
    body: &Result<Bytes, BytesRejection>,
    parse: impl FnOnce(Option<&str>, Result<&[u8], BodyError>) -> Result<Input, ApiResponse>,
    run: impl FnOnce(&Input) -> Output,
    report: impl FnOnce(&Signals, &Output),
    answer: impl FnOnce(&Output) -> ApiResponse,
) -> Response {
    let signals = signals.map(|Extension(signals)| signals);
    let time = |stage| signals.as_ref().map(|s| s.time(stage));
    if let Some(signals) = &signals {
        signals.queue_wait();
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let fault = headers.get(api::FAULT_HEADER).and_then(|v| v.to_str().ok());
    if let Some(answer) = api::injected_fault(fault) {
        return respond(answer, None);
    }
    let input = {
        let _preprocess = time(Stage::Preprocess);
        parse(content_type, body_of(refused.as_ref(), body))
    };
    let input = match input {
        Ok(input) => input,
        Err(refusal) => return respond(refusal, None),
    };
    let output = {
        let _predict = time(Stage::Predict);
        run(&input)
    };
    if let Some(signals) = &signals {
        report(signals, &output);
    }
    let _postprocess = time(Stage::Postprocess);
    respond(answer(&output), None)
}

/// `/predict`: one application; the confidence of the answer goes to
/// `inference_prediction_confidence`.
async fn predict(
    State(model): State<Arc<LoanModel>>,
    signals: Option<Extension<Signals>>,
    refused: Option<Extension<BodyError>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    score(
        signals,
        &headers,
        refused,
        &body,
        api::parse_application,
        |application| model.predict(application),
        |signals, decision| signals.confidence(decision.confidence()),
        |decision| api::answer(&model, *decision),
    )
}

/// `/predict/batch`: `{"applications": [...]}`, 1 to `api::MAX_BATCH` of them, scored in one
/// model call. The stages are timed as for `/predict` (once for the batch), each answer's
/// confidence goes to `inference_prediction_confidence`, and the batch is reported with
/// [`Signals::predicted_batch`]: each label counted in `inference_predictions_total`, the size
/// recorded once in `inference_batch_size`. A refused batch records no size and no label.
async fn predict_batch(
    State(model): State<Arc<LoanModel>>,
    signals: Option<Extension<Signals>>,
    refused: Option<Extension<BodyError>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    score(
        signals,
        &headers,
        refused,
        &body,
        api::parse_batch,
        |applications| {
            applications
                .iter()
                .map(|a| model.predict(a))
                .collect::<Vec<_>>()
        },
        |signals, decisions| {
            for decision in decisions {
                signals.confidence(decision.confidence());
            }
            signals.predicted_batch(decisions.iter().map(|d| d.label));
        },
        |decisions| api::batch_answer(&model, decisions),
    )
}

async fn predict_method_not_allowed() -> Response {
    respond(
        api::method_not_allowed(api::PREDICT_METHODS),
        Some(api::PREDICT_METHODS),
    )
}

async fn read_method_not_allowed() -> Response {
    respond(
        api::method_not_allowed(api::READ_METHODS),
        Some(api::READ_METHODS),
    )
}

async fn healthz() -> Response {
    respond(api::healthz(), None)
}

async fn not_found() -> Response {
    respond(api::not_found(), None)
}

/// How much monitoring the server does, from `INFERENCE_MONITOR`, for load tests that measure
/// one part alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MonitorMode {
    /// The default: one layer around the whole router, monitoring only the two inference
    /// paths (`only_paths`), with the opt-in signals (stages, confidence, batch sizes).
    On,
    /// `INFERENCE_MONITOR=app`: the same layer and its four metrics, no opt-in signals.
    App,
    /// `INFERENCE_MONITOR=layer`: as `app`, but the layer on the two inference routes instead
    /// of around the router (axum then boxes those routes per request; `docs/performance.md`).
    Layer,
    /// `INFERENCE_MONITOR=off`: `/predict` without the layer (`/metrics` still answers).
    Off,
}

impl MonitorMode {
    fn from_env() -> Self {
        match std::env::var("INFERENCE_MONITOR").as_deref() {
            Ok("off") => Self::Off,
            Ok("layer") => Self::Layer,
            Ok("app") => Self::App,
            _ => Self::On,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::On => "on",
            Self::Layer => "layer",
            Self::App => "app",
            Self::Off => "off",
        }
    }
}

/// The routes; with `monitored` (`INFERENCE_MONITOR=layer`) the two inference routes are each
/// wrapped in the layer. Otherwise they are bare: `main` wraps the whole router in one layer,
/// or, with `INFERENCE_MONITOR=off`, nothing (`/metrics` still answers), so a load test can
/// measure the layer alone.
/// `metrics` is the `/metrics` service, or `None` when it is served on its own listener (the
/// live `/dashboard` goes with it).
fn app(metrics: Option<MetricsService>, monitor: &Monitor, monitored: bool) -> Router {
    let loading = std::time::Instant::now();
    let model = Arc::new(LoanModel::load());
    // Which model is served, and how long it took to load: `inference_model_info` and
    // `inference_model_load_duration_seconds`.
    let loan = monitor.model("loan");
    loan.loaded_in(loading.elapsed());
    loan.info(model.version());
    let router = Router::new()
        .route(
            "/predict",
            post(predict)
                .fallback(predict_method_not_allowed)
                .layer(DefaultBodyLimit::max(api::BODY_LIMIT)),
        )
        .route(
            "/predict/batch",
            post(predict_batch)
                .fallback(predict_method_not_allowed)
                .layer(DefaultBodyLimit::max(api::BATCH_BODY_LIMIT)),
        );
    // The layer changes the response body type, so `tower::util::option_layer` does not fit here.
    let router = if monitored {
        router.layer(InferenceMonitorLayer::for_model(loan))
    } else {
        router
    };
    let router = match metrics {
        Some(metrics) => router
            .route(
                "/metrics",
                get_service(metrics).fallback(read_method_not_allowed),
            )
            .route(
                "/dashboard",
                get_service(loan_model::server::dashboard()).fallback(read_method_not_allowed),
            ),
        None => router,
    };
    router
        .route("/healthz", get(healthz).fallback(read_method_not_allowed))
        .fallback(not_found)
        .with_state(model)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    serving::run(serve())
}

async fn serve() -> Result<Stopped, Box<dyn std::error::Error>> {
    let addr = loan_model::server::addr_from_env()?;
    let limits = Limits::from_env()?;
    // The model's two classes, and the stage, confidence and batch-size series, start at zero;
    // the layer hands each request its `Signals` (see `predict` and `predict_batch`).
    let mode = MonitorMode::from_env();
    let signals = mode == MonitorMode::On;
    let mut monitor = Monitor::builder().labels(loan_model::LABELS);
    if signals {
        monitor = monitor
            .signals([Signal::Stages, Signal::Confidence, Signal::BatchSize])
            .request_signals(true);
    }
    let monitor = monitor.build()?;
    let (monitor, metrics) = loan_model::server::install_monitoring_for(monitor)?;
    let mut endpoint = loan_model::server::MetricsEndpoint::from_env()?;
    let service = endpoint.service(&metrics);

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    // With METRICS_ADDR, /metrics has its own listener and the main router has no /metrics.
    let (main_metrics, metrics_server) = match endpoint.bind().await? {
        Some(metrics_listener) => (
            None,
            Some(tokio::spawn(loan_model::server::serve_metrics(
                metrics_listener,
                service,
                loan_model::server::dashboard(),
            ))),
        ),
        None => (Some(service), None),
    };
    // By default (and with `app`) the layer goes around the whole router below; only
    // `layer` puts it on the two inference routes.
    let monitored = mode == MonitorMode::Layer;
    let batch_line = format!(
        "batch:   curl -s http://{local}/predict/batch -H 'content-type: application/json' -d '{{\"applications\": [{sample}, {sample}]}}' (1 to {max} applications; inference_batch_size)",
        sample = loan_model::server::SAMPLE,
        max = api::MAX_BATCH,
    );
    let layer_line = format!(
        "monitor: {} (INFERENCE_MONITOR=app: the layer without the opt-in signals; layer: the same on the two routes instead of around the router; off: /predict without the layer; for load tests)",
        mode.as_str()
    );
    loan_model::server::print_banner(
        "axum_loan",
        "loan-approval model on axum",
        local,
        &endpoint,
        &[batch_line, layer_line],
        &limits,
    );

    let shutdown = Shutdown::listen("requests", &limits)
        .map_err(|e| format!("cannot listen for signals: {e}"))?;
    // Bodies are read before the router and the layer's clock (`serving::receive`), within
    // the limit of their route; an inference upload cut short counts as cancelled under
    // `loan`, unless the layer is off.
    let loan = (mode != MonitorMode::Off).then(|| monitor.model("loan"));
    let receiving = Receiving::new(
        &limits,
        |request| match request.uri.path() {
            "/predict/batch" => api::BATCH_BODY_LIMIT,
            _ => api::BODY_LIMIT,
        },
        move |request| {
            matches!(request.uri.path(), "/predict" | "/predict/batch")
                .then(|| loan.clone())
                .flatten()
        },
    );
    let router = app(main_metrics, &monitor, monitored);
    let drain = if matches!(mode, MonitorMode::On | MonitorMode::App) {
        // One layer around the whole application, counting only the inference paths: axum
        // boxes every route a layer wraps, so this saves that per request.
        let app = InferenceMonitorLayer::for_model(monitor.model("loan"))
            .only_paths(["/predict", "/predict/batch"])
            .layer(router);
        let app =
            ServiceExt::<Request<RequestBody>>::map_response(app, IntoResponse::into_response);
        serving::serve(
            listener,
            serving::receiving(app, receiving),
            &limits,
            &shutdown,
        )
        .await
    } else {
        serving::serve(
            listener,
            serving::receiving(router, receiving),
            &limits,
            &shutdown,
        )
        .await
    };
    // Scrapes are idempotent: the metrics listener stops without waiting for them.
    if let Some(metrics_server) = metrics_server {
        metrics_server.abort();
    }
    Ok(Stopped {
        metrics: Some(metrics),
        drain,
    })
}
