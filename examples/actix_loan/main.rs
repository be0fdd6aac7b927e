//! The loan-approval model served by actix-web 4 and monitored by inference-monitor's native
//! actix middleware (`inference_monitor::integrations::actix`, feature `actix`).
//!
//! Run it (actix-web needs a recent Rust; see the `actix` feature):
//!
//! ```sh
//! cargo run --example actix_loan                      # listens on 127.0.0.1:8000
//! ADDR=127.0.0.1:0 cargo run --example actix_loan     # any free port; the banner shows it
//! METRICS_TOKEN=s3cret cargo run --example actix_loan # /metrics wants "authorization: Bearer s3cret"
//! METRICS_ADDR=127.0.0.1:9464 cargo run --example actix_loan # /metrics on its own listener only
//! ```
//!
//! Then try:
//!
//! ```sh
//! curl -s localhost:8000/predict -H 'content-type: application/json' -d '{"applicant_income": 5000, "coapplicant_income": 1500, "loan_amount": 120, "loan_term_months": 360, "credit_history": true, "dependents": 0, "education": "graduate", "self_employed": false, "property_area": "urban"}'
//! curl -s localhost:8000/predict -H 'content-type: application/json' -d '{"applicant_income": 5000}'   # 422, names the missing field
//! curl -s localhost:8000/predict/macro -H 'content-type: application/json' -d '{"applicant_income": 5000}'
//! curl -s localhost:8000/metrics | grep -E '^inference_(requests|predictions)_total'
//! ```
//!
//! and open <http://localhost:8000/dashboard> for live charts of `/metrics` (served wherever
//! `/metrics` is: on the `METRICS_ADDR` listener when it is set).
//!
//! It answers exactly like `axum_loan` and `hyper_loan` (all take their status codes and JSON
//! bodies from `loan_model::api`), so the same traffic gives the same metrics. `/predict`
//! answers `{"label": "approved"|"rejected", "probability": …, "model_version": …}`; every
//! rejected request gets a 4xx with a JSON `{"error": …}` body and is counted as
//! `client_error`. The `/predict` resource is wrapped in the `InferenceMonitor` middleware and
//! counted under `model="loan"`.
//!
//! `POST /predict/macro` answers the same way, but is not wrapped in the middleware: its handler
//! measures the model call itself with `inference_monitor::monitor!`, under
//! `model="loan_macro"`. Compare the two in `/metrics`: the middleware times the whole request
//! until its response body is sent, the macro only the call it wraps.
//!
//! Started with `INJECT_FAULTS=1`, both routes answer a request carrying the header
//! `x-inject-fault: model-error` with a 500 (counted as `server_error`), for alert drills:
//!
//! ```sh
//! INJECT_FAULTS=1 cargo run --example actix_loan
//! curl -s localhost:8000/predict -H 'x-inject-fault: model-error' -H 'content-type: application/json' -d '{}'
//! ```
//!
//! Ctrl-C or SIGTERM stops the server gracefully, as every example does (`loan_model/serving.rs`):
//! it stops accepting, lets the requests in flight finish for up to `SHUTDOWN_TIMEOUT` seconds
//! (default 10), counts those still running then as `cancelled`, prints the final counts and
//! exits with status 0. The head must arrive within `HEADER_READ_TIMEOUT` (also the keep-alive
//! idle time), the body within `BODY_READ_TIMEOUT`, and at most `MAX_CONNECTIONS` are served.

#[path = "../loan_model/mod.rs"]
mod loan_model;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use inference_monitor::integrations::actix::{metrics_response, InferenceMonitor, PredictionExt};
use inference_monitor::{exporter::prometheus::MetricsAuth, MetricsHandle, ModelMonitor, Outcome};

use loan_model::api::{self, ApiResponse, BodyError};
use loan_model::serving::{self, Limits, Shutdown};
use loan_model::LoanModel;

/// What every worker's handlers share.
struct AppState {
    model: LoanModel,
    /// The model monitor the `/predict/macro` handler records into with `monitor!`.
    macro_monitor: ModelMonitor,
    metrics: MetricsHandle,
    /// The bearer token check of `/metrics`, when `METRICS_TOKEN` is set.
    metrics_auth: Option<MetricsAuth>,
    /// `BODY_READ_TIMEOUT`: the time a client has to send a whole request body.
    body_read: std::time::Duration,
}

/// Turns a framework-independent answer into an actix response: its status, its JSON body, the
/// `Allow` header of a 405, and the predicted label for the middleware.
fn respond(answer: ApiResponse, allow: Option<&'static str>) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    builder.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static(api::CONTENT_TYPE),
    ));
    if let Some(allow) = allow {
        builder.insert_header((header::ALLOW, HeaderValue::from_static(allow)));
    }
    if let Some(label) = answer.label {
        builder.with_prediction(label);
    }
    builder.body(answer.body_bytes())
}

/// The request's `Content-Type`, when it is present and text.
fn content_type(request: &HttpRequest) -> Option<&str> {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// The request's fault-injection header (`api::FAULT_HEADER`), when present and text.
fn fault(request: &HttpRequest) -> Option<&str> {
    request
        .headers()
        .get(api::FAULT_HEADER)
        .and_then(|v| v.to_str().ok())
}

/// Answers `POST /predict`: an injected fault (only with `INJECT_FAULTS=1`) or the model's
/// answer to the body.
fn answer(
    model: &LoanModel,
    request: &HttpRequest,
    bytes: &Result<web::Bytes, BodyError>,
) -> ApiResponse {
    api::injected_fault(fault(request)).unwrap_or_else(|| {
        let body = match bytes {
            Ok(bytes) => Ok(&bytes[..]),
            Err(error) => Err(error.clone()),
        };
        api::predict_body(model, content_type(request), body)
    })
}

/// Reads the request body: at most `api::BODY_LIMIT` bytes (a `Content-Length` over it is
/// refused before reading, a longer body when it gets there), all of it within `deadline`
/// (`BODY_READ_TIMEOUT`), or why not, for `api` to answer in JSON like every other server.
/// A client gone mid-body never gets here: actix drops the handler, and the middleware counts
/// the request as `cancelled`.
async fn read_body(
    request: &HttpRequest,
    payload: web::Payload,
    deadline: std::time::Duration,
) -> Result<web::Bytes, BodyError> {
    let length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|length| length > api::BODY_LIMIT as u64) {
        return Err(BodyError::TooLarge);
    }
    match tokio::time::timeout(deadline, payload.to_bytes_limited(api::BODY_LIMIT)).await {
        Err(_) => Err(BodyError::TimedOut(deadline)),
        Ok(Err(_over_limit)) => Err(BodyError::TooLarge),
        Ok(Ok(Err(e))) => Err(BodyError::Unreadable(e.to_string())),
        Ok(Ok(Ok(bytes))) => Ok(bytes),
    }
}

/// `POST /predict`, measured by the `InferenceMonitor` middleware around it (the body is read
/// inside it: on actix the latency includes the upload).
async fn predict(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let bytes = read_body(&request, payload, state.body_read).await;
    respond(answer(&state.model, &request, &bytes), None)
}

/// `POST /predict/macro`: no middleware; the handler measures the model call with `monitor!`.
async fn predict_macro(
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let bytes = read_body(&request, payload, state.body_read).await;
    let answer = inference_monitor::monitor!(
        &state.macro_monitor,
        answer(&state.model, &request, &bytes),
        label = |answer: &ApiResponse| answer.label,
        outcome = |answer: &ApiResponse| outcome(answer.status)
    );
    respond(answer, None)
}

/// The outcome of an answer with this status, as the middleware would classify it.
fn outcome(status: u16) -> Outcome {
    http::StatusCode::from_u16(status).map_or(Outcome::ServerError, Outcome::from_status)
}

async fn predict_method_not_allowed() -> HttpResponse {
    respond(
        api::method_not_allowed(api::PREDICT_METHODS),
        Some(api::PREDICT_METHODS),
    )
}

async fn read_method_not_allowed() -> HttpResponse {
    respond(
        api::method_not_allowed(api::READ_METHODS),
        Some(api::READ_METHODS),
    )
}

/// `/metrics`: the metrics, or `401` without the right token when `METRICS_TOKEN` is set.
async fn metrics(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(auth) = &state.metrics_auth {
        // Two `Authorization` headers are ambiguous: refused, as `MetricsService` does.
        let mut values = request.headers().get_all(header::AUTHORIZATION);
        let authorization = match (values.next(), values.next()) {
            (Some(value), None) => Some(value.as_bytes()),
            _ => None,
        };
        if !auth.allows(authorization) {
            let mut builder = HttpResponse::Unauthorized();
            for challenge in auth.challenges() {
                builder.append_header((header::WWW_AUTHENTICATE, challenge));
            }
            // `Connection: close`: a client without the token cannot keep a connection of the
            // metrics listener by asking again and again (docs/security.md).
            return builder
                .force_close()
                .content_type("text/plain; charset=utf-8")
                .body("401 Unauthorized: metrics\n");
        }
    }
    metrics_response(&state.metrics)
}

/// The live dashboard's resource, served wherever `/metrics` is: the page reads `/metrics` from
/// its own origin.
fn dashboard_resource() -> actix_web::Resource {
    let dashboard = inference_monitor::Dashboard::new();
    let head = dashboard.clone();
    web::resource("/dashboard")
        .route(web::get().to(move || std::future::ready(dashboard.clone())))
        .route(web::head().to(move || std::future::ready(head.clone())))
        .default_service(web::to(read_method_not_allowed))
}

/// The `/metrics` resource.
fn metrics_resource() -> actix_web::Resource {
    web::resource("/metrics")
        .route(web::get().to(metrics))
        .route(web::head().to(metrics))
        .default_service(web::to(read_method_not_allowed))
}

async fn healthz() -> HttpResponse {
    respond(api::healthz(), None)
}

async fn not_found() -> HttpResponse {
    respond(api::not_found(), None)
}

/// The routes of one worker. `loan` is the middleware, cloned into each worker. `/metrics` is
/// among them unless `metrics_here` is false (it is then on its own listener).
fn configure(config: &mut web::ServiceConfig, loan: InferenceMonitor, metrics_here: bool) {
    config
        .service(
            web::resource("/predict")
                .route(web::post().to(predict))
                .default_service(web::to(predict_method_not_allowed))
                // Wraps this resource only (its 405 included): `/predict/macro`, `/metrics`
                // and `/healthz` are not inferences.
                .wrap(loan),
        )
        .service(
            web::resource("/predict/macro")
                .route(web::post().to(predict_macro))
                .default_service(web::to(predict_method_not_allowed)),
        )
        .service(
            web::resource("/healthz")
                .route(web::get().to(healthz))
                .route(web::head().to(healthz))
                .default_service(web::to(read_method_not_allowed)),
        )
        .default_service(web::to(not_found));
    if metrics_here {
        config.service(metrics_resource());
        config.service(dashboard_resource());
    }
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = loan_model::server::addr_from_env()?;
    let limits = Limits::from_env()?;
    let (monitor, metrics) = loan_model::server::install_monitoring()?;
    let mut endpoint = loan_model::server::MetricsEndpoint::from_env()?;
    // Built after the exporter is installed, so their metrics register with it.
    let loan = InferenceMonitor::new(monitor.model("loan"));
    let state = web::Data::new(AppState {
        model: LoanModel::load(),
        macro_monitor: monitor.model("loan_macro"),
        metrics: metrics.clone(),
        metrics_auth: endpoint.auth.clone(),
        body_read: limits.body_read,
    });
    let metrics_here = endpoint.on_main_address();

    // With METRICS_ADDR, /metrics has a server of its own (one worker; actix's default 5 s
    // limit for reading a request head applies), and the main one has no /metrics.
    let metrics_server = match endpoint.addr {
        Some(metrics_addr) => {
            let state = state.clone();
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(state.clone())
                    .service(metrics_resource())
                    .service(dashboard_resource())
                    .default_service(web::to(not_found))
            })
            .workers(1)
            .disable_signals()
            .shutdown_timeout(0)
            .bind(metrics_addr)
            .map_err(|e| format!("cannot listen on METRICS_ADDR {metrics_addr}: {e}"))?;
            endpoint.local = server.addrs().first().copied();
            Some(server.run())
        }
        None => None,
    };

    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let shutdown = Shutdown::listen("requests", &limits)
        .map_err(|e| format!("cannot listen for signals: {e}"))?;
    // actix calls this factory once per worker thread.
    let server = HttpServer::new(move || {
        let loan = loan.clone();
        App::new()
            .app_data(state.clone())
            .configure(|config| configure(config, loan, metrics_here))
    })
    // The same limits as the other examples, with actix's own settings: the head (and, for a
    // keep-alive connection, the idle time) within HEADER_READ_TIMEOUT, MAX_CONNECTIONS in
    // all (actix counts per worker), and the drain after the signal (ours, not actix's: the
    // same Ctrl-C and SIGTERM handling as every example) within SHUTDOWN_TIMEOUT.
    .client_request_timeout(limits.header_read)
    .keep_alive(limits.header_read)
    .max_connections(limits.max_connections.div_ceil(workers).max(1))
    .workers(workers)
    .disable_signals()
    .shutdown_timeout(limits.shutdown.as_secs_f64().ceil() as u64)
    .bind(addr)
    .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = *server
        .addrs()
        .first()
        .ok_or("the server is bound to no address")?;

    loan_model::server::print_banner("actix_loan", "loan-approval model on actix-web", local, &endpoint, &[format!(
            "macro:   curl -s http://{local}/predict/macro -H 'content-type: application/json' -d '{}'",
            loan_model::server::SAMPLE
        )], &limits);

    let server = server.run();
    let metrics_server = metrics_server.map(|server| {
        let handle = server.handle();
        actix_web::rt::spawn(server);
        handle
    });
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        shutdown.requested().await;
        // Stops accepting, and drops what is still running after `shutdown_timeout`: the
        // middleware's guard counts those requests as cancelled.
        handle.stop(true).await;
        if let Some(metrics_server) = metrics_server {
            metrics_server.stop(false).await;
        }
    });
    server.await?;
    // The workers drop the requests cut at the deadline on their own threads, just after.
    serving::settled(&metrics, std::time::Duration::from_secs(1)).await;
    serving::print_final(&metrics);
    Ok(())
}
