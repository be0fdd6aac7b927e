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
//! The pieces hyper leaves to the application are here in full: request bodies are read through
//! `http_body_util::Limited` (413 past the limit), each connection runs in its own task, and on
//! Ctrl-C or SIGTERM the server stops accepting, asks every connection to close once its
//! current request is answered, and exits when they all have.

#[path = "../loan_model/mod.rs"]
mod loan_model;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use inference_monitor::{
    exporter::prometheus::MetricsService, InferenceMonitorLayer, Monitor, Prediction,
};
use tower::{Layer, Service, ServiceExt};

use loan_model::api::{self, ApiResponse, BodyError};
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

/// Every request to `/predict`, whatever its method: the monitored route.
async fn predict(model: &LoanModel, request: Request<Incoming>) -> Response<Full<Bytes>> {
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
    // Never buffers more than the limit: reading stops with an error past it.
    let collected = Limited::new(body, api::BODY_LIMIT).collect().await;
    let bytes;
    let body = match collected {
        Ok(collected) => {
            bytes = collected.to_bytes();
            Ok(&bytes[..])
        }
        Err(e) if e.is::<LengthLimitError>() => Err(BodyError::TooLarge),
        Err(e) => Err(BodyError::Unreadable(e.to_string())),
    };
    respond(api::predict_body(model, content_type, body), None)
}

/// The whole application as one tower service: a router over `/predict` (monitored),
/// `/metrics` and `/healthz`, answering 404 and 405 in JSON. `metrics` is the `/metrics`
/// service, or `None` when it is served on its own listener (then `/metrics` is a 404 here).
fn app(
    metrics: Option<MetricsService>,
    monitor: &Monitor,
) -> impl Service<Request<Incoming>, Response = Response<Body>, Error = Infallible, Future = impl Send>
       + Clone
       + Send
       + 'static {
    let model = Arc::new(LoanModel::load());
    // The layer wraps this service only, so only `/predict` requests are measured.
    let predict = InferenceMonitorLayer::for_model(monitor.model("loan")).layer(tower::service_fn(
        move |request: Request<Incoming>| {
            let model = Arc::clone(&model);
            async move { Ok::<_, Infallible>(predict(&model, request).await) }
        },
    ));
    let dashboard = metrics.as_ref().map(|_| loan_model::server::dashboard());
    tower::service_fn(move |request: Request<Incoming>| {
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
                    .map(|html| Full::new(Bytes::from(html)).boxed_unsync()),
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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = loan_model::server::addr_from_env()?;
    let (monitor, metrics) = loan_model::server::install_monitoring()?;
    let mut endpoint = loan_model::server::MetricsEndpoint::from_env()?;
    let service = endpoint.service(&metrics);
    let shutdown = loan_model::server::shutdown_signal("requests")
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
    );

    let mut http = http1::Builder::new();
    // Also enables hyper's default 30 s limit for reading a request head.
    http.timer(TokioTimer::new());

    // Flipped once on shutdown; every connection task watches it.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        eprintln!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let app = app.clone();
                // hyper calls a `hyper::service::Service`; drive the tower one per request.
                let service = hyper::service::service_fn(move |request| app.clone().oneshot(request));
                let connection = http.serve_connection(TokioIo::new(stream), service);
                let mut stop = stop_rx.clone();
                connections.spawn(async move {
                    let mut connection = std::pin::pin!(connection);
                    // Connection errors (a client that goes away mid-request, a malformed
                    // request) concern that client only: they end its connection, nothing else.
                    tokio::select! {
                        _ = connection.as_mut() => {}
                        _ = stop.changed() => {
                            // Finish the request in flight, if any, then close.
                            connection.as_mut().graceful_shutdown();
                            let _ = connection.await;
                        }
                    }
                });
            }
            // Reap finished connection tasks so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }

    drop(listener);
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
    // Scrapes are idempotent: the metrics listener stops without waiting for them.
    if let Some(metrics_server) = metrics_server {
        metrics_server.abort();
    }
    Ok(())
}
