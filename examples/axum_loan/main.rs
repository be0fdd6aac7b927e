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
//! `client_error`. The model is described in `docs/model.md`.

#[path = "../loan_model/mod.rs"]
mod loan_model;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use inference_monitor::{InferenceMonitorLayer, Monitor, Prediction};
use serde_json::{json, Value};

use loan_model::{LoanApplication, LoanModel, LABELS};

/// Largest accepted request body; larger ones get 413.
const BODY_LIMIT: usize = 16 * 1024;

/// An error answer: its status and a JSON `{"error": …}` body (plus the field, when one is at fault).
struct ApiError {
    status: StatusCode,
    error: String,
    field: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.error });
        if let Some(field) = self.field {
            body["field"] = Value::String(field);
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError {
            status: rejection.status(),
            error: rejection.body_text(),
            field: None,
        }
    }
}

async fn predict(
    State(model): State<Arc<LoanModel>>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(Prediction, Json<Value>), ApiError> {
    let Json(body) = body?;
    let application = LoanApplication::from_json(&body).map_err(|e| ApiError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        error: e.to_string(),
        field: Some(e.field.to_string()),
    })?;
    let decision = model.predict(&application);
    Ok((
        Prediction::new(decision.label),
        Json(json!({
            "label": decision.label,
            "probability": decision.probability,
            "model_version": model.version(),
        })),
    ))
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        error: "not found: the routes are POST /predict, GET /metrics and GET /healthz".into(),
        field: None,
    }
}

fn app(metrics: inference_monitor::MetricsHandle, monitor: &Monitor) -> Router {
    let model = Arc::new(LoanModel::load());
    Router::new()
        .route("/predict", post(predict))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(InferenceMonitorLayer::for_model(monitor.model("loan")))
        .route("/metrics", get(move || std::future::ready(metrics.clone())))
        .route("/healthz", get(healthz))
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
    println!("  stop:    Ctrl-C (in-flight requests finish first)");
    // Printed last: scripts and tests wait for this line.
    println!("axum_loan listening on http://{local}");

    axum::serve(listener, app(metrics, &monitor))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}
