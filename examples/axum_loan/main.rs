//! The main demo: a loan-approval model served by axum and monitored by inference-monitor.
//!
//! Run it:
//!
//! ```sh
//! cargo run --example axum_loan                      # listens on 127.0.0.1:8000
//! ADDR=127.0.0.1:0 cargo run --example axum_loan     # any free port; the banner shows it
//! ```
//!
//! Then try:
//!
//! ```sh
//! curl -s localhost:8000/predict -H 'content-type: application/json' -d '{"applicant_income": 5000, "coapplicant_income": 1500, "loan_amount": 120, "loan_term_months": 360, "credit_history": true, "dependents": 0, "education": "graduate", "self_employed": false, "property_area": "urban"}'
//! curl -s localhost:8000/predict -H 'content-type: application/json' -d '{"applicant_income": 5000}'   # 422, names the missing field
//! curl -s localhost:8000/metrics
//! ```
//!
//! `/predict` answers `{"label": "approved"|"rejected", "probability": …, "model_version": …}`;
//! every rejected request gets a 4xx with a JSON `{"error": …}` body and is counted as
//! `client_error`. The status codes and bodies come from `loan_model::api`, shared with the
//! other example servers (`hyper_loan`), so they all answer alike. The model is described in
//! `docs/model.md`.

#[path = "../loan_model/mod.rs"]
mod loan_model;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use inference_monitor::{InferenceMonitorLayer, Monitor, Prediction};

use loan_model::api::{self, ApiResponse, BodyError};
use loan_model::{LoanModel, LABELS};

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

async fn predict(
    State(model): State<Arc<LoanModel>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let fault = headers.get(api::FAULT_HEADER).and_then(|v| v.to_str().ok());
    if let Some(answer) = api::injected_fault(fault) {
        return respond(answer, None);
    }
    // The extractor enforces `DefaultBodyLimit`: an over-limit body is a 413 rejection.
    let body = match &body {
        Ok(bytes) => Ok(&bytes[..]),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(BodyError::TooLarge)
        }
        Err(rejection) => Err(BodyError::Unreadable(rejection.body_text())),
    };
    respond(api::predict_body(&model, content_type, body), None)
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

fn app(metrics: inference_monitor::MetricsHandle, monitor: &Monitor) -> Router {
    let model = Arc::new(LoanModel::load());
    Router::new()
        .route(
            "/predict",
            post(predict).fallback(predict_method_not_allowed),
        )
        .layer(DefaultBodyLimit::max(api::BODY_LIMIT))
        .layer(InferenceMonitorLayer::for_model(monitor.model("loan")))
        .route(
            "/metrics",
            get(move || std::future::ready(metrics.clone())).fallback(read_method_not_allowed),
        )
        .route("/healthz", get(healthz).fallback(read_method_not_allowed))
        .fallback(not_found)
        .with_state(model)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    println!("shutting down: finishing in-flight requests");
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:8000".to_owned())
        .parse()
        .map_err(|e| format!("ADDR must be an address like 127.0.0.1:8000: {e}"))?;

    // The two predicted classes are known in advance: declare them so their series start at 0.
    let monitor = Monitor::builder().labels(LABELS).build()?;
    let metrics = inference_monitor::prometheus()
        .monitor(&monitor)
        .with_process_metrics()
        .install()?;

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    let sample = r#"{"applicant_income": 5000, "coapplicant_income": 1500, "loan_amount": 120, "loan_term_months": 360, "credit_history": true, "dependents": 0, "education": "graduate", "self_employed": false, "property_area": "urban"}"#;
    println!("axum_loan: loan-approval model, monitored by inference-monitor");
    println!("  predict: curl -s http://{local}/predict -H 'content-type: application/json' -d '{sample}'");
    println!("  metrics: curl -s http://{local}/metrics");
    println!("  health:  curl -s http://{local}/healthz");
    println!(
        "  faults:  {} (INJECT_FAULTS=1 makes requests with header '{}: model-error' fail with 500)",
        if api::faults_enabled() { "on" } else { "off" },
        api::FAULT_HEADER
    );
    println!("  stop:    Ctrl-C (in-flight requests finish first)");
    // Printed last: scripts and tests wait for this line.
    println!("axum_loan listening on http://{local}");

    axum::serve(listener, app(metrics, &monitor))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}
