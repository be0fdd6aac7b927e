//! Two models behind one Open Inference Protocol route (the v2 inference protocol of Triton and
//! others), each counted under its own `model` label by `InferenceMonitorLayer::open_inference`.
//!
//! Run it:
//!
//! ```sh
//! cargo run --example axum_multi_model                   # listens on 127.0.0.1:8000
//! ADDR=127.0.0.1:0 cargo run --example axum_multi_model  # any free port; the banner shows it
//! ```
//!
//! Then try:
//!
//! ```sh
//! curl -s localhost:8000/v2/models/iris/infer -H 'content-type: application/json' \
//!   -d '{"inputs":[{"name":"measurements","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}'
//! curl -s localhost:8000/v2/models/loan/versions/logreg-v1/infer -H 'content-type: application/json' \
//!   -d '{"inputs":[{"name":"applicant_income","shape":[1],"datatype":"FP32","data":[5000]},{"name":"coapplicant_income","shape":[1],"datatype":"FP32","data":[1500]},{"name":"loan_amount","shape":[1],"datatype":"FP32","data":[120]},{"name":"loan_term_months","shape":[1],"datatype":"INT32","data":[360]},{"name":"credit_history","shape":[1],"datatype":"BOOL","data":[true]},{"name":"dependents","shape":[1],"datatype":"INT32","data":[0]},{"name":"education","shape":[1],"datatype":"BYTES","data":["graduate"]},{"name":"self_employed","shape":[1],"datatype":"BOOL","data":[false]},{"name":"property_area","shape":[1],"datatype":"BYTES","data":["urban"]}]}'
//! curl -s localhost:8000/v2/models/nope/infer -H 'content-type: application/json' -d '{"inputs":[]}'  # 404
//! curl -s localhost:8000/metrics | grep inference_requests_total
//! ```
//!
//! - `iris` is a nearest-centroid classifier over the four measurements of an iris flower
//!   (sepal length, sepal width, petal length, petal width, in cm), with the class means of
//!   Fisher's iris data; it answers `setosa`, `versicolor` or `virginica`.
//! - `loan` is the loan-approval model of the other examples (`docs/model.md`), its fields sent
//!   as one tensor each.
//!
//! Answers are `{"model_name": …, "model_version": …, "outputs": [{"name", "shape", "datatype",
//! "data"}]}`; errors are a 4xx with `{"error": …}`, the protocol's error body. The layer counts
//! `/v2/models/{name}/infer` under `{name}` for the two served models only: a request naming
//! any other model gets a 404 and is counted under the model `unknown` (as `client_error`), so a
//! client naming models at random creates no series.

#[path = "loan_model/mod.rs"]
mod loan_model;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get_service, post};
use axum::{Extension, Json, Router};
use inference_monitor::{InferenceMonitorLayer, MetricsHandle, Monitor, Prediction};
use loan_model::api::{self, BodyError};
use loan_model::serving::{self, Limits, Receiving, Shutdown, Stopped};
use loan_model::{LoanApplication, LoanModel};
use serde_json::{json, Map, Value};

/// The models this server serves, by name.
const MODELS: [&str; 2] = ["iris", "loan"];
/// The model name requests for any other model are counted under.
const FALLBACK: &str = "unknown";

/// A nearest-centroid iris classifier.
mod iris {
    /// The model's version, reported in its answers.
    pub const VERSION: &str = "centroid-v1";

    /// Mean sepal length, sepal width, petal length and petal width (cm) of each species in
    /// Fisher's iris data (50 flowers each).
    const CENTROIDS: [(&str, [f64; 4]); 3] = [
        ("setosa", [5.006, 3.428, 1.462, 0.246]),
        ("versicolor", [5.936, 2.770, 4.260, 1.326]),
        ("virginica", [6.588, 2.974, 5.552, 2.026]),
    ];

    /// The species whose mean is closest (Euclidean distance) to `x`.
    pub fn predict(x: [f64; 4]) -> &'static str {
        let distance =
            |c: &[f64; 4]| -> f64 { c.iter().zip(x).map(|(c, x)| (c - x).powi(2)).sum() };
        CENTROIDS
            .iter()
            .min_by(|a, b| distance(&a.1).total_cmp(&distance(&b.1)))
            .map_or("setosa", |(name, _)| name)
    }
}

/// A client mistake: its status and message.
struct Rejection(StatusCode, String);

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad_request(message: impl Into<String>) -> Rejection {
    Rejection(StatusCode::BAD_REQUEST, message.into())
}

/// The `inputs` of an inference request, checked against the protocol's tensor shape.
fn inputs(body: &Value) -> Result<&[Value], Rejection> {
    let inputs = body
        .get("inputs")
        .and_then(Value::as_array)
        .ok_or_else(|| bad_request("the request must have an `inputs` array"))?;
    for input in inputs {
        for field in ["name", "shape", "datatype", "data"] {
            if input.get(field).is_none() {
                return Err(bad_request(format!("every input needs a `{field}`")));
            }
        }
    }
    Ok(inputs)
}

/// One output tensor holding one value.
fn output(name: &str, datatype: &str, value: Value) -> Value {
    json!({ "name": name, "shape": [1], "datatype": datatype, "data": [value] })
}

fn infer_iris(inputs: &[Value]) -> Result<(Value, &'static str), Rejection> {
    let [input] = inputs else {
        return Err(bad_request("iris takes one input tensor, `measurements`"));
    };
    let shape: Option<Vec<u64>> = input["shape"]
        .as_array()
        .and_then(|s| s.iter().map(Value::as_u64).collect());
    if !matches!(shape.as_deref(), Some([1, 4] | [4])) {
        return Err(bad_request(
            "`measurements` must have shape [1, 4]: one flower, four measurements",
        ));
    }
    let data = input["data"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let mut x = [0.0; 4];
    if data.len() != 4 {
        return Err(bad_request("`measurements` must hold 4 numbers"));
    }
    for (slot, value) in x.iter_mut().zip(data) {
        match value.as_f64() {
            Some(v) if v.is_finite() && (0.0..=100.0).contains(&v) => *slot = v,
            _ => {
                return Err(Rejection(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "measurements are lengths in cm, numbers from 0 to 100".to_owned(),
                ))
            }
        }
    }
    let species = iris::predict(x);
    Ok((
        json!({
            "model_name": "iris",
            "model_version": iris::VERSION,
            "outputs": [output("species", "BYTES", json!(species))],
        }),
        species,
    ))
}

fn infer_loan(model: &LoanModel, inputs: &[Value]) -> Result<(Value, &'static str), Rejection> {
    // One tensor of shape [1] per field: gather them into the JSON object the model reads.
    let mut fields = Map::new();
    for input in inputs {
        let name = input["name"]
            .as_str()
            .ok_or_else(|| bad_request("an input `name` must be a string"))?;
        let [value] = input["data"].as_array().map(Vec::as_slice).unwrap_or(&[]) else {
            return Err(bad_request(format!(
                "input `{}` must hold exactly one value (shape [1])",
                name.escape_default()
            )));
        };
        fields.insert(name.to_owned(), value.clone());
    }
    let application = LoanApplication::from_json(&Value::Object(fields))
        .map_err(|e| Rejection(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let decision = model.predict(&application);
    Ok((
        json!({
            "model_name": "loan",
            "model_version": model.version(),
            "outputs": [
                output("label", "BYTES", json!(decision.label)),
                output("probability", "FP64", json!(decision.probability)),
            ],
        }),
        decision.label,
    ))
}

/// `POST /v2/models/{name}[/versions/{version}]/infer`.
async fn infer(
    State(loan): State<Arc<LoanModel>>,
    Path(params): Path<HashMap<String, String>>,
    refused: Option<Extension<BodyError>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // `serving::receive` read the body before the router, or says why it could not.
    if let Some(Extension(error)) = refused {
        let answer = api::refused(&error, api::BODY_LIMIT);
        let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_REQUEST);
        return (status, Json(answer.body)).into_response();
    }
    match answer(&loan, &params, &headers, body) {
        Ok((json, label)) => (Prediction::new(label), Json(json)).into_response(),
        Err(rejection) => rejection.into_response(),
    }
}

fn answer(
    loan: &LoanModel,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Value, &'static str), Rejection> {
    let name = params.get("name").map_or("", String::as_str);
    let version = match name {
        "iris" => iris::VERSION,
        "loan" => loan.version(),
        _ => {
            return Err(Rejection(
                StatusCode::NOT_FOUND,
                format!(
                    "no model `{}` here; this server serves {}",
                    name.escape_default(),
                    MODELS.join(" and ")
                ),
            ))
        }
    };
    if let Some(asked) = params.get("version") {
        if asked != version {
            return Err(Rejection(
                StatusCode::NOT_FOUND,
                format!(
                    "model `{name}` has no version `{}`; it is {version}",
                    asked.escape_default()
                ),
            ));
        }
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !api::is_json_content_type(content_type) {
        return Err(Rejection(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected a request with `Content-Type: application/json`".to_owned(),
        ));
    }
    let body = body.map_err(|rejection| Rejection(rejection.status(), rejection.body_text()))?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| bad_request(format!("the request body is not valid JSON: {e}")))?;
    let inputs = inputs(&body)?;
    match name {
        "iris" => infer_iris(inputs),
        _ => infer_loan(loan, inputs),
    }
}

async fn method_not_allowed() -> Rejection {
    Rejection(
        StatusCode::METHOD_NOT_ALLOWED,
        "this route takes POST".to_owned(),
    )
}

async fn not_found() -> Rejection {
    Rejection(
        StatusCode::NOT_FOUND,
        "no such route; try POST /v2/models/{name}/infer or GET /metrics".to_owned(),
    )
}

/// The routes: inference monitored per model, `/metrics`, and JSON 404/405 answers.
fn app(monitor: &Monitor, metrics: MetricsHandle) -> Router {
    let layer = InferenceMonitorLayer::open_inference(monitor, FALLBACK).only_models(MODELS);
    Router::new()
        .route(
            "/v2/models/{name}/infer",
            post(infer).fallback(method_not_allowed),
        )
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(infer).fallback(method_not_allowed),
        )
        .layer(DefaultBodyLimit::max(api::BODY_LIMIT))
        .layer(layer)
        .route("/metrics", get_service(metrics.service()))
        .fallback(not_found)
        .with_state(Arc::new(LoanModel::load()))
}

/// The model an inference path counts under, as the layer picks it: the served models by
/// name, any other name under [`FALLBACK`]; `None` for a path that is not an inference.
fn model_of_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v2/models/")?;
    let (name, tail) = rest.split_once('/')?;
    let inference = tail == "infer"
        || tail
            .strip_prefix("versions/")
            .and_then(|t| t.split_once('/'))
            .is_some_and(|(version, infer)| !version.is_empty() && infer == "infer");
    if !inference || name.is_empty() {
        return None;
    }
    Some(MODELS.into_iter().find(|m| *m == name).unwrap_or(FALLBACK))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    serving::run(serve())
}

async fn serve() -> Result<Stopped, Box<dyn std::error::Error>> {
    let addr = loan_model::server::addr_from_env()?;
    let limits = Limits::from_env()?;
    let monitor = Monitor::new();
    let metrics = inference_monitor::prometheus()
        .monitor(&monitor)
        .install()?;
    let shutdown = Shutdown::listen("requests", &limits)
        .map_err(|e| format!("cannot listen for signals: {e}"))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    println!("axum_multi_model: iris and loan models behind the Open Inference Protocol, monitored by inference-monitor");
    println!(
        "  infer:   curl -s http://{local}/v2/models/iris/infer -H 'content-type: application/json' -d '{{\"inputs\":[{{\"name\":\"measurements\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[5.1,3.5,1.4,0.2]}}]}}'"
    );
    println!("  metrics: curl -s http://{local}/metrics");
    println!("  {}", limits.banner_line());
    println!("  {}", limits.stop_line());
    println!("axum_multi_model listening on http://{local}");
    // Bodies are read before the router and the layer's clock; an inference upload cut short
    // counts as cancelled under the model of its path.
    let models = monitor.clone();
    let receiving = Receiving::new(
        &limits,
        |_| api::BODY_LIMIT,
        move |request| model_of_path(request.uri.path()).map(|name| models.model(name)),
    );
    let app = app(&monitor, metrics.clone());
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
