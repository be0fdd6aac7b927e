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
//! Ctrl-C or SIGTERM stops the server gracefully (actix's default): it stops accepting, lets the
//! requests in flight finish (up to 30 s) and exits with status 0.

#[path = "../loan_model/mod.rs"]
mod loan_model;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use inference_monitor::integrations::actix::{metrics_response, InferenceMonitor, PredictionExt};
use inference_monitor::{exporter::prometheus::MetricsAuth, MetricsHandle, ModelMonitor, Outcome};

use loan_model::api::{self, ApiResponse, BodyError};
use loan_model::LoanModel;

/// What every worker's handlers share.
struct AppState {
    model: LoanModel,
    /// The model monitor the `/predict/macro` handler records into with `monitor!`.
    macro_monitor: ModelMonitor,
    metrics: MetricsHandle,
    /// The bearer token check of `/metrics`, when `METRICS_TOKEN` is set.
    metrics_auth: Option<MetricsAuth>,
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
    bytes: &Result<web::Bytes, actix_web::Error>,
) -> ApiResponse {
    api::injected_fault(fault(request))
        .unwrap_or_else(|| api::predict_body(model, content_type(request), body(bytes)))
}

/// The request body, or why it could not be read. The `web::Bytes` extractor stops reading past
/// its `PayloadConfig` limit (set to `api::BODY_LIMIT`) with a 413 error, which becomes
/// `BodyError::TooLarge` so that `api` answers it, in JSON, like every other server.
fn body(bytes: &Result<web::Bytes, actix_web::Error>) -> Result<&[u8], BodyError> {
    match bytes {
        Ok(bytes) => Ok(&bytes[..]),
        Err(e) if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(BodyError::TooLarge)
        }
        Err(e) => Err(BodyError::Unreadable(e.to_string())),
    }
}

/// `POST /predict`, measured by the `InferenceMonitor` middleware around it.
async fn predict(
    state: web::Data<AppState>,
    request: HttpRequest,
    bytes: Result<web::Bytes, actix_web::Error>,
) -> HttpResponse {
    respond(answer(&state.model, &request, &bytes), None)
}

/// `POST /predict/macro`: no middleware; the handler measures the model call with `monitor!`.
async fn predict_macro(
    state: web::Data<AppState>,
    request: HttpRequest,
    bytes: Result<web::Bytes, actix_web::Error>,
) -> HttpResponse {
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
            return builder
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
        .app_data(web::PayloadConfig::new(api::BODY_LIMIT))
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
    let (monitor, metrics) = loan_model::server::install_monitoring()?;
    let mut endpoint = loan_model::server::MetricsEndpoint::from_env()?;
    // Built after the exporter is installed, so their metrics register with it.
    let loan = InferenceMonitor::new(monitor.model("loan"));
    let state = web::Data::new(AppState {
        model: LoanModel::load(),
        macro_monitor: monitor.model("loan_macro"),
        metrics,
        metrics_auth: endpoint.auth.clone(),
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
            .bind(metrics_addr)
            .map_err(|e| format!("cannot listen on METRICS_ADDR {metrics_addr}: {e}"))?;
            endpoint.local = server.addrs().first().copied();
            Some(server.run())
        }
        None => None,
    };

    // actix calls this factory once per worker thread.
    let server = HttpServer::new(move || {
        let loan = loan.clone();
        App::new()
            .app_data(state.clone())
            .configure(|config| configure(config, loan, metrics_here))
    })
    .bind(addr)
    .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = *server
        .addrs()
        .first()
        .ok_or("the server is bound to no address")?;

    loan_model::server::print_banner("actix_loan", "loan-approval model on actix-web", local, &endpoint, &[format!(
            "macro:   curl -s http://{local}/predict/macro -H 'content-type: application/json' -d '{}'",
            loan_model::server::SAMPLE
        )]);

    match metrics_server {
        Some(metrics_server) => {
            tokio::try_join!(server.run(), metrics_server)?;
        }
        None => server.run().await?,
    }
    println!("actix_loan stopped");
    Ok(())
}
