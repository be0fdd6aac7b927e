//! The loan-approval model served by plain hyper (no web framework) and monitored by
//! inference-monitor: a tower `service_fn` routes the requests, and `InferenceMonitorLayer`
//! wraps the `/predict` service only.
//!
//! Run it:
//!
//! ```sh
//! cargo run --example hyper_loan                      # listens on 127.0.0.1:8000
//! ADDR=127.0.0.1:0 cargo run --example hyper_loan     # any free port; the banner shows it
//! METRICS_TOKEN=s3cret cargo run --example hyper_loan # /metrics wants "authorization: Bearer s3cret"
//! METRICS_ADDR=127.0.0.1:9464 cargo run --example hyper_loan # /metrics on its own listener only
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
//! and open <http://localhost:8000/dashboard> for live charts of `/metrics` (served wherever
//! `/metrics` is: on the `METRICS_ADDR` listener when it is set).
//!
//! It answers exactly like `axum_loan` (both take their status codes and JSON bodies from
//! `loan_model::api`), so the same traffic gives the same metrics. `/predict` answers
//! `{"label": "approved"|"rejected", "probability": …, "model_version": …}`; every rejected
//! request gets a 4xx with a JSON `{"error": …}` body and is counted as `client_error`.
//!
//! The pieces hyper leaves to the application are in `loan_model/serving.rs`, shared with the
//! axum examples: HTTP/1.1 with a header read (and idle) timeout and a connection limit, each
//! body read into one bounded buffer within a deadline *before* the monitored service is called
//! (a `Content-Length` over the limit is a 413 at once), and on Ctrl-C or SIGTERM a drain of at
//! most `SHUTDOWN_TIMEOUT` seconds, the requests it cuts counted as `cancelled`.

#[path = "../loan_model/mod.rs"]
mod loan_model;

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use inference_monitor::exporter::prometheus::MetricsService;
use inference_monitor::{InferenceMonitorLayer, Monitor, Prediction};
use tower::{Layer, Service, ServiceExt};

use loan_model::api::{self, ApiResponse, BodyError};
use loan_model::serving::{self, Limits, Receiving, Shutdown, Stopped};
use loan_model::LoanModel;

/// The response body of every route: the monitored `/predict` body and the plain ones, boxed.
type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Turns a framework-independent answer into an HTTP response: its status, its JSON body, the
/// `Allow` header of a 405, and the predicted label for the metrics layer.
fn respond(answer: ApiResponse, allow: Option<&'static str>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(answer.body_bytes())));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(api::CONTENT_TYPE),
    );
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

/// The request bodies, read in full by `serving::receive` before the routes see them.
type RequestBody = Full<Bytes>;

/// Every request to `/predict`, whatever its method: the monitored route.
async fn predict(model: &LoanModel, request: Request<RequestBody>) -> Response<Full<Bytes>> {
    if request.method() != Method::POST {
        return respond(
            api::method_not_allowed(api::PREDICT_METHODS),
            Some(api::PREDICT_METHODS),
        );
    }
    let fault = request
        .headers()
        .get(api::FAULT_HEADER)
        .and_then(|v| v.to_str().ok());
    if let Some(answer) = api::injected_fault(fault) {
        return respond(answer, None);
    }
    let (parts, body) = request.into_parts();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    // `serving::receive` read the body (at most `api::BODY_LIMIT` bytes), or says why not.
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    let body = match parts.extensions.get::<BodyError>() {
        Some(error) => Err(error.clone()),
        None => Ok(&bytes[..]),
    };
    respond(api::predict_body(model, content_type, body), None)
}

/// The whole application as one tower service: a router over `/predict` (monitored),
/// `/metrics` and `/healthz`, answering 404 and 405 in JSON. `metrics` is the `/metrics`
/// service, or `None` when it is served on its own listener (then `/metrics` is a 404 here).
fn app(
    metrics: Option<MetricsService>,
    monitor: &Monitor,
) -> impl Service<
    Request<RequestBody>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send
       + 'static {
    let model = Arc::new(LoanModel::load());
    // The layer wraps this service only, so only `/predict` requests are measured.
    let predict = InferenceMonitorLayer::for_model(monitor.model("loan")).layer(tower::service_fn(
        move |request: Request<RequestBody>| {
            let model = Arc::clone(&model);
            async move { Ok::<_, Infallible>(predict(&model, request).await) }
        },
    ));
    let dashboard = metrics.as_ref().map(|_| loan_model::server::dashboard());
    tower::service_fn(move |request: Request<RequestBody>| {
        let predict = predict.clone();
        let metrics = metrics.clone();
        let dashboard = dashboard.clone();
        async move {
            let read = matches!(*request.method(), Method::GET | Method::HEAD);
            let response = match request.uri().path() {
                "/predict" => predict.oneshot(request).await?.map(BodyExt::boxed_unsync),
                "/metrics" if read && metrics.is_some() => metrics
                    .expect("checked by the guard")
                    .oneshot(request)
                    .await?
                    .map(|text| Full::new(Bytes::from(text)).boxed_unsync()),
                "/dashboard" if read && dashboard.is_some() => dashboard
                    .expect("checked by the guard")
                    .oneshot(request)
                    .await?
                    .map(BodyExt::boxed_unsync),
                "/healthz" if read => respond(api::healthz(), None).map(BodyExt::boxed_unsync),
                "/metrics" if metrics.is_some() => respond(
                    api::method_not_allowed(api::READ_METHODS),
                    Some(api::READ_METHODS),
                )
                .map(BodyExt::boxed_unsync),
                "/dashboard" if dashboard.is_some() => respond(
                    api::method_not_allowed(api::READ_METHODS),
                    Some(api::READ_METHODS),
                )
                .map(BodyExt::boxed_unsync),
                "/healthz" => respond(
                    api::method_not_allowed(api::READ_METHODS),
                    Some(api::READ_METHODS),
                )
                .map(BodyExt::boxed_unsync),
                _ => respond(api::not_found(), None).map(BodyExt::boxed_unsync),
            };
            Ok::<_, Infallible>(response)
        }
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    serving::run(serve())
}

async fn serve() -> Result<Stopped, Box<dyn std::error::Error>> {
    let addr = loan_model::server::addr_from_env()?;
    let limits = Limits::from_env()?;
    let (monitor, metrics) = loan_model::server::install_monitoring()?;
    let mut endpoint = loan_model::server::MetricsEndpoint::from_env()?;
    let service = endpoint.service(&metrics);
    let shutdown = Shutdown::listen("requests", &limits)
        .map_err(|e| format!("cannot listen for signals: {e}"))?;

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    // With METRICS_ADDR, /metrics has its own listener and the main service has no /metrics.
    let (app, metrics_server) = match endpoint.bind().await? {
        Some(metrics_listener) => (
            app(None, &monitor),
            Some(tokio::spawn(loan_model::server::serve_metrics(
                metrics_listener,
                service,
                loan_model::server::dashboard(),
            ))),
        ),
        None => (app(Some(service), &monitor), None),
    };
    loan_model::server::print_banner(
        "hyper_loan",
        "loan-approval model on plain hyper",
        local,
        &endpoint,
        &[],
        &limits,
    );

    // Bodies are read before the layer's clock starts; a /predict upload cut short counts as
    // cancelled under `loan`.
    let loan = monitor.model("loan");
    let receiving = Receiving::new(
        &limits,
        |_| api::BODY_LIMIT,
        move |request| (request.uri.path() == "/predict").then(|| loan.clone()),
    );
    let drain = serving::serve(
        listener,
        serving::receiving(app, receiving),
        &limits,
        &shutdown,
    )
    .await;
    // Scrapes are idempotent: the metrics listener stops without waiting for them.
    if let Some(metrics_server) = metrics_server {
        metrics_server.abort();
    }
    Ok(Stopped {
        metrics: Some(metrics),
        drain,
    })
}
