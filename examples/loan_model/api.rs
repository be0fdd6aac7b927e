//! The HTTP API of the example servers, independent of any web framework.
//!
//! Every example server (axum, plain hyper, …) routes requests and reads
//! bodies its own way, then hands the pieces to these functions, so that all
//! of them answer the same requests with the same status codes and the same
//! JSON bodies, and therefore produce the same metrics:
//!
//! | request                                   | status | body                                              |
//! |-------------------------------------------|--------|---------------------------------------------------|
//! | `POST /predict`, valid application        | 200    | `{"label", "probability", "model_version"}`       |
//! | content type is not JSON                  | 415    | `{"error"}`                                       |
//! | body larger than [`BODY_LIMIT`]           | 413    | `{"error"}`                                       |
//! | body not received within the read deadline| 408    | `{"error"}`                                       |
//! | body not UTF-8, or not JSON               | 400    | `{"error"}`                                       |
//! | JSON that is not a valid application      | 422    | `{"error", "field"}`                              |
//! | `GET /healthz`                            | 200    | `{"status": "ok"}`                                |
//! | unknown path                              | 404    | `{"error"}`                                       |
//! | known path, wrong method                  | 405    | `{"error"}` (plus an `Allow` header)              |
//!
//! The checks run in that order: the content type first, then the size, the
//! syntax, and the fields. Every answer is `application/json`
//! ([`CONTENT_TYPE`]). A successful prediction carries its label in
//! [`ApiResponse::label`], which the server reports to the metrics layer.
//!
//! A server may also offer `POST /predict/batch` (`axum_loan` does):
//! `{"applications": [application, ...]}`, 1 to [`MAX_BATCH`] of them, answered
//! `{"predictions": [{"label", "probability"}, ...], "model_version"}` in order
//! ([`parse_batch`], [`batch_answer`]). The same checks apply, with a body limit
//! of [`BATCH_BODY_LIMIT`]; an empty batch or an invalid application is 422
//! (the whole batch is refused, the `index` of the first invalid application
//! given), more than [`MAX_BATCH`] applications is 413.

use serde_json::{json, Value};

use super::{Decision, LoanApplication, LoanModel};

/// Largest accepted request body, in bytes; larger ones get 413.
pub const BODY_LIMIT: usize = 16 * 1024;

/// The content type of every answer.
pub const CONTENT_TYPE: &str = "application/json";

/// Methods accepted by `/predict`, as an `Allow` header value.
pub const PREDICT_METHODS: &str = "POST";

/// Methods accepted by `/metrics` and `/healthz`, as an `Allow` header value
/// (the spelling axum uses for a `get` route).
pub const READ_METHODS: &str = "GET,HEAD";

/// The routes named in 404 and 405 messages: those every example server has, so that they all
/// answer alike (`axum_loan`'s `/predict/batch` and `actix_loan`'s `/predict/macro` are extras).
const ROUTES: &str = "POST /predict, GET /metrics and GET /healthz";

/// One answer: a status code, a JSON body and, for a prediction, its label.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The JSON body, sent as `application/json`.
    pub body: Value,
    /// The predicted label of a successful prediction, `None` otherwise.
    pub label: Option<&'static str>,
}

impl ApiResponse {
    /// An error answer: `status` with the body `{"error": message}`.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        ApiResponse {
            status,
            body: json!({ "error": message.into() }),
            label: None,
        }
    }

    /// The body serialised as JSON text.
    pub fn body_bytes(&self) -> Vec<u8> {
        // Serialising a `Value` cannot fail: its map keys are strings.
        serde_json::to_vec(&self.body).unwrap_or_else(|_| b"{}".to_vec())
    }

    /// Whether the status is a client error (4xx).
    pub fn is_client_error(&self) -> bool {
        (400..500).contains(&self.status)
    }
}

/// Why a server could not hand over a complete request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The body is longer than [`BODY_LIMIT`] (or its `Content-Length` says it will be):
    /// answered with 413.
    TooLarge,
    /// The whole body did not arrive within the server's body read deadline: answered with
    /// 408, naming the deadline.
    TimedOut(std::time::Duration),
    /// The body could not be read (the client broke off, bad chunked
    /// encoding, …): answered with 400 and this description.
    Unreadable(String),
}

/// Whether `content_type` (the request's `Content-Type` header, `None` when
/// it is missing or not text) announces JSON.
///
/// Accepts `application/json` and the `application/<anything>+json` family,
/// in any letter case, optionally followed by parameters such as
/// `; charset=utf-8` (the same set axum's `Json` extractor accepts).
pub fn is_json_content_type(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else {
        return false;
    };
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    if kind != "application" || !token(subtype) {
        return false;
    }
    let json_suffix = subtype.len() > "+json".len() && subtype.ends_with("+json");
    if subtype != "json" && !json_suffix {
        return false;
    }
    // Parameters, if any, must look like `name=value`.
    parts.all(|p| {
        let p = p.trim();
        p.is_empty()
            || p.split_once('=')
                .is_some_and(|(k, v)| token(k.trim()) && !v.is_empty())
    })
}

/// Answers `POST /predict` whose whole body was read: see [`predict_body`].
pub fn predict(model: &LoanModel, content_type: Option<&str>, body: &[u8]) -> ApiResponse {
    predict_body(model, content_type, Ok(body))
}

/// Answers `POST /predict`, given the `Content-Type` header and either the
/// whole body or why it could not be read.
///
/// In order: a content type other than JSON is 415 (whatever the body); a
/// body error is 413 ([`BodyError::TooLarge`]), 408 ([`BodyError::TimedOut`]) or 400; a body longer than
/// [`BODY_LIMIT`] is 413; a body that is not UTF-8 or not JSON is 400; JSON
/// that [`LoanApplication::from_json`] rejects is 422 with the offending
/// `field`; anything else is scored by `model`: 200 with
/// `{"label", "probability", "model_version"}` and the label set.
pub fn predict_body(
    model: &LoanModel,
    content_type: Option<&str>,
    body: Result<&[u8], BodyError>,
) -> ApiResponse {
    match parse_application(content_type, body) {
        Ok(application) => answer(model, model.predict(&application)),
        Err(refusal) => refusal,
    }
}

/// The preprocessing stage of [`predict_body`]: the checks in order, then the application; or
/// the 4xx answer of the first check that fails.
pub fn parse_application(
    content_type: Option<&str>,
    body: Result<&[u8], BodyError>,
) -> Result<LoanApplication, ApiResponse> {
    let value = parse_json(content_type, body, BODY_LIMIT)?;
    LoanApplication::from_json(&value).map_err(|e| ApiResponse {
        status: 422,
        body: json!({ "error": e.to_string(), "field": e.field }),
        label: None,
    })
}

/// The checks every JSON body goes through, in order: the content type (415), the size against
/// `limit` (413), the reading (408 past the deadline, 400), UTF-8 and JSON syntax (400).
fn parse_json(
    content_type: Option<&str>,
    body: Result<&[u8], BodyError>,
    limit: usize,
) -> Result<Value, ApiResponse> {
    if !is_json_content_type(content_type) {
        let got = match content_type {
            Some(ct) => format!("got `{}`", ct.escape_default()),
            None => "none was given".to_owned(),
        };
        return Err(ApiResponse::error(
            415,
            format!("expected request with `Content-Type: application/json`; {got}"),
        ));
    }
    let body = match body {
        Ok(body) if body.len() <= limit => body,
        Ok(_) => return Err(body_too_large(limit)),
        Err(error) => return Err(refused(&error, limit)),
    };
    let text = std::str::from_utf8(body).map_err(|e| {
        ApiResponse::error(400, format!("the request body is not valid UTF-8: {e}"))
    })?;
    serde_json::from_str(text)
        .map_err(|e| ApiResponse::error(400, format!("the request body is not valid JSON: {e}")))
}

/// The postprocessing stage of [`predict_body`]: the 200 answer of `decision`.
pub fn answer(model: &LoanModel, decision: Decision) -> ApiResponse {
    ApiResponse {
        status: 200,
        body: json!({
            "label": decision.label,
            "probability": decision.probability,
            "model_version": model.version(),
        }),
        label: Some(decision.label),
    }
}

/// The most applications one `POST /predict/batch` may hold; more get 413.
pub const MAX_BATCH: usize = 64;

/// Largest accepted `/predict/batch` body, in bytes: room for [`MAX_BATCH`] applications of
/// 1 KiB each (a typical one is about 220 bytes).
pub const BATCH_BODY_LIMIT: usize = MAX_BATCH * 1024;

/// A 422 naming the offending `field`.
fn unprocessable(field: &str, message: String) -> ApiResponse {
    ApiResponse {
        status: 422,
        body: json!({ "error": message, "field": field }),
        label: None,
    }
}

/// The preprocessing stage of `POST /predict/batch`: the body must be
/// `{"applications": [application, ...]}` with 1 to [`MAX_BATCH`] valid applications, which
/// come back in order.
///
/// The content type, size ([`BATCH_BODY_LIMIT`]) and syntax are checked as for `/predict`
/// (415, 413, 400). Then, all 422 with a `field`: a body that is not an object, a key other
/// than `applications` (`field` is `body`), `applications` missing, not an array or empty.
/// More than [`MAX_BATCH`] applications is 413 (`field` is `applications`). An invalid
/// application rejects the whole batch: 422 with the application's `index` and the offending
/// `field`, the message starting `applications[index]: `. Nothing is scored unless every
/// application is valid.
pub fn parse_batch(
    content_type: Option<&str>,
    body: Result<&[u8], BodyError>,
) -> Result<Vec<LoanApplication>, ApiResponse> {
    const SHAPE: &str = "the request body must be an object `{\"applications\": [...]}`";
    let value = parse_json(content_type, body, BATCH_BODY_LIMIT)?;
    let Value::Object(batch) = &value else {
        return Err(unprocessable("body", SHAPE.to_owned()));
    };
    if let Some(key) = batch.keys().find(|k| *k != "applications") {
        return Err(unprocessable(
            "body",
            format!("unknown key `{}`: {SHAPE}", key.escape_default()),
        ));
    }
    let applications = match batch.get("applications") {
        None => {
            return Err(unprocessable(
                "applications",
                format!("`applications` is missing: {SHAPE}"),
            ))
        }
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(unprocessable(
                "applications",
                "`applications` must be an array of applications".to_owned(),
            ))
        }
    };
    if applications.is_empty() {
        return Err(unprocessable(
            "applications",
            format!("`applications` is empty: send 1 to {MAX_BATCH} applications"),
        ));
    }
    if applications.len() > MAX_BATCH {
        return Err(ApiResponse {
            status: 413,
            body: json!({
                "error": format!(
                    "`applications` holds {} applications; a batch holds at most {MAX_BATCH}",
                    applications.len()
                ),
                "field": "applications",
            }),
            label: None,
        });
    }
    applications
        .iter()
        .enumerate()
        .map(|(index, application)| {
            LoanApplication::from_json(application).map_err(|e| ApiResponse {
                status: 422,
                body: json!({
                    "error": format!("applications[{index}]: {e}"),
                    "field": e.field,
                    "index": index,
                }),
                label: None,
            })
        })
        .collect()
}

/// The postprocessing stage of `POST /predict/batch`: 200 with
/// `{"predictions": [{"label", "probability"}, ...], "model_version"}`, one prediction per
/// decision, in order.
///
/// [`ApiResponse::label`] stays `None`: a batch has many labels, which the server counts with
/// the batch (`Signals::predicted_batch`), not as the label of one prediction.
pub fn batch_answer(model: &LoanModel, decisions: &[Decision]) -> ApiResponse {
    let predictions: Vec<Value> = decisions
        .iter()
        .map(|d| json!({ "label": d.label, "probability": d.probability }))
        .collect();
    ApiResponse {
        status: 200,
        body: json!({ "predictions": predictions, "model_version": model.version() }),
        label: None,
    }
}

/// 413: the request body is larger than [`BODY_LIMIT`].
pub fn payload_too_large() -> ApiResponse {
    body_too_large(BODY_LIMIT)
}

/// 413: the request body is larger than `limit` bytes.
/// The answer to a body that could not be read: 413 ([`BodyError::TooLarge`], naming `limit`),
/// 408 ([`BodyError::TimedOut`], naming the deadline) or 400 ([`BodyError::Unreadable`]).
pub fn refused(error: &BodyError, limit: usize) -> ApiResponse {
    match error {
        BodyError::TooLarge => body_too_large(limit),
        BodyError::TimedOut(deadline) => ApiResponse::error(
            408,
            format!(
                "the request body did not arrive within {} s",
                deadline.as_secs_f64()
            ),
        ),
        BodyError::Unreadable(why) => {
            ApiResponse::error(400, format!("could not read the request body: {why}"))
        }
    }
}

fn body_too_large(limit: usize) -> ApiResponse {
    ApiResponse::error(
        413,
        format!("the request body is larger than the limit of {limit} bytes"),
    )
}

/// The header that asks for an injected model error, honoured only when the server was started
/// with `INJECT_FAULTS=1` (for alert drills and end-to-end tests).
pub const FAULT_HEADER: &str = "x-inject-fault";

/// Whether this process honours [`FAULT_HEADER`]: `INJECT_FAULTS=1` in its environment.
pub fn faults_enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var("INJECT_FAULTS").is_ok_and(|v| v == "1"))
}

/// A `500 {"error": "injected model error"}` when faults are enabled and the request's
/// [`FAULT_HEADER`] says `model-error`; `None` otherwise (the request goes on as usual).
pub fn injected_fault(header: Option<&str>) -> Option<ApiResponse> {
    (faults_enabled() && header == Some("model-error"))
        .then(|| ApiResponse::error(500, "injected model error (INJECT_FAULTS=1)"))
}

/// `GET /healthz`: 200 `{"status": "ok"}`.
pub fn healthz() -> ApiResponse {
    ApiResponse {
        status: 200,
        body: json!({ "status": "ok" }),
        label: None,
    }
}

/// 404 for a path that is not a route.
pub fn not_found() -> ApiResponse {
    ApiResponse::error(404, format!("not found: the routes are {ROUTES}"))
}

/// 405 for a route asked with a method it does not accept; `allowed` is the
/// `Allow` header value the server sends with it ([`PREDICT_METHODS`] or
/// [`READ_METHODS`]).
pub fn method_not_allowed(allowed: &str) -> ApiResponse {
    ApiResponse::error(
        405,
        format!("method not allowed: this route accepts {allowed}; the routes are {ROUTES}"),
    )
}

// Compiled into the test binary that includes `loan_model` (`tests/suite/main.rs`).
#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"applicant_income": 5000, "coapplicant_income": 1500, "loan_amount": 120, "loan_term_months": 360, "credit_history": true, "dependents": 0, "education": "graduate", "self_employed": false, "property_area": "urban"}"#;
    const JSON: Option<&str> = Some("application/json");

    /// What, content type, body (or why it is missing), expected status.
    type Case<'a> = (&'a str, Option<&'a str>, Result<&'a [u8], BodyError>, u16);

    fn error_text(answer: &ApiResponse) -> &str {
        answer.body["error"].as_str().unwrap_or("")
    }

    #[test]
    fn json_content_types_are_recognised() {
        for ct in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=UTF-8",
            "application/problem+json",
        ] {
            assert!(is_json_content_type(Some(ct)), "{ct}");
        }
        for ct in [
            "",
            "text/plain",
            "text/json",
            "application/jsonx",
            "application/+json",
            "application/json; charset",
            "json",
        ] {
            assert!(!is_json_content_type(Some(ct)), "{ct}");
        }
        assert!(!is_json_content_type(None));
    }

    #[test]
    fn a_valid_application_is_scored_with_its_label() {
        let model = LoanModel::load();
        let answer = predict(&model, JSON, GOOD.as_bytes());
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.label, Some("approved"));
        assert_eq!(answer.body["label"], "approved");
        assert_eq!(answer.body["model_version"], model.version());
        let p = answer.body["probability"].as_f64().unwrap();
        assert!(p > 0.5 && p <= 1.0, "{p}");
        let keys: Vec<_> = answer.body.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.len(), 3, "{keys:?}");
    }

    #[test]
    fn every_rejection_is_a_json_error_with_the_right_status() {
        let model = LoanModel::load();
        let too_long = format!("{{\"pad\": \"{}\"}}", "x".repeat(BODY_LIMIT));
        let cases: [Case; 10] = [
            ("no content type", None, Ok(GOOD.as_bytes()), 415),
            ("text", Some("text/plain"), Ok(GOOD.as_bytes()), 415),
            // The content type is checked before the size, as axum's `Json` does.
            (
                "text, too large",
                Some("text/plain"),
                Err(BodyError::TooLarge),
                415,
            ),
            ("too large", JSON, Err(BodyError::TooLarge), 413),
            ("too long", JSON, Ok(too_long.as_bytes()), 413),
            (
                "too slow",
                JSON,
                Err(BodyError::TimedOut(std::time::Duration::from_millis(1500))),
                408,
            ),
            (
                "unreadable",
                JSON,
                Err(BodyError::Unreadable("connection reset".into())),
                400,
            ),
            ("not UTF-8", JSON, Ok(b"{\"a\": \"\xff\"}"), 400),
            ("bad syntax", JSON, Ok(b"{\"applicant_income\": "), 400),
            ("not an object", JSON, Ok(b"[1, 2]"), 422),
        ];
        for (what, ct, body, status) in cases {
            let answer = predict_body(&model, ct, body);
            assert_eq!(answer.status, status, "{what}: {}", answer.body);
            assert!(answer.is_client_error(), "{what}");
            assert!(!error_text(&answer).is_empty(), "{what}: {}", answer.body);
            assert_eq!(answer.label, None, "{what}");
        }
        let missing = predict(&model, JSON, br#"{"applicant_income": 5000}"#);
        assert_eq!(missing.status, 422);
        assert_eq!(missing.body["field"], "coapplicant_income");
        assert!(error_text(&missing).contains("coapplicant_income"));
        let slow = predict_body(
            &model,
            JSON,
            Err(BodyError::TimedOut(std::time::Duration::from_millis(1500))),
        );
        assert_eq!(
            slow.body["error"],
            "the request body did not arrive within 1.5 s"
        );
    }

    #[test]
    fn a_batch_is_scored_in_order() {
        let model = LoanModel::load();
        let risky = r#"{"applicant_income": 1200, "coapplicant_income": 0, "loan_amount": 700, "loan_term_months": 120, "credit_history": false, "dependents": 3, "education": "not_graduate", "self_employed": true, "property_area": "rural"}"#;
        let body = format!(r#"{{"applications": [{GOOD}, {risky}, {GOOD}]}}"#);
        let applications = parse_batch(JSON, Ok(body.as_bytes())).unwrap();
        assert_eq!(applications.len(), 3);
        let decisions: Vec<Decision> = applications.iter().map(|a| model.predict(a)).collect();
        let one =
            |text: &str| model.predict(&parse_application(JSON, Ok(text.as_bytes())).unwrap());
        assert_eq!(decisions, [one(GOOD), one(risky), one(GOOD)]);
        assert_eq!(decisions[1].label, "rejected");
        let answer = batch_answer(&model, &decisions);
        assert_eq!(answer.status, 200);
        assert_eq!(answer.label, None);
        assert_eq!(answer.body["model_version"], model.version());
        let predictions = answer.body["predictions"].as_array().unwrap();
        assert_eq!(predictions.len(), 3);
        for (p, d) in predictions.iter().zip(&decisions) {
            assert_eq!(p["label"], d.label);
            assert_eq!(p["probability"].as_f64(), Some(d.probability));
        }
        let full = vec![GOOD; MAX_BATCH].join(",");
        let full = format!(r#"{{"applications": [{full}]}}"#);
        assert!(full.len() <= BATCH_BODY_LIMIT, "{}", full.len());
        assert_eq!(
            parse_batch(JSON, Ok(full.as_bytes())).unwrap().len(),
            MAX_BATCH
        );
    }

    #[test]
    fn every_refused_batch_is_a_json_error_with_the_right_status() {
        let invalid = GOOD.replace("urban", "moon");
        let too_many = vec![GOOD; MAX_BATCH + 1].join(",");
        let too_long = format!(
            r#"{{"applications": ["{}"]}}"#,
            "x".repeat(BATCH_BODY_LIMIT)
        );
        // What, content type, body, expected status and `field`.
        type BatchCase<'a> = (&'a str, Option<&'a str>, String, u16, Option<&'a str>);
        let cases: [BatchCase; 11] = [
            ("text", Some("text/plain"), "{}".into(), 415, None),
            (
                "bad syntax",
                JSON,
                r#"{"applications": ["#.into(),
                400,
                None,
            ),
            ("too long", JSON, too_long, 413, None),
            ("bare array", JSON, format!("[{GOOD}]"), 422, Some("body")),
            (
                "unknown key",
                JSON,
                r#"{"applications": [], "x": 1}"#.into(),
                422,
                Some("body"),
            ),
            ("missing", JSON, "{}".into(), 422, Some("applications")),
            (
                "not an array",
                JSON,
                format!(r#"{{"applications": {GOOD}}}"#),
                422,
                Some("applications"),
            ),
            (
                "empty",
                JSON,
                r#"{"applications": []}"#.into(),
                422,
                Some("applications"),
            ),
            (
                "too many",
                JSON,
                format!(r#"{{"applications": [{too_many}]}}"#),
                413,
                Some("applications"),
            ),
            (
                "invalid second",
                JSON,
                format!(r#"{{"applications": [{GOOD}, {invalid}]}}"#),
                422,
                Some("property_area"),
            ),
            (
                "not an object inside",
                JSON,
                format!(r#"{{"applications": [{GOOD}, 7]}}"#),
                422,
                Some("body"),
            ),
        ];
        for (what, ct, body, status, field) in cases {
            let answer = match parse_batch(ct, Ok(body.as_bytes())) {
                Ok(apps) => panic!("{what}: accepted {} applications", apps.len()),
                Err(answer) => answer,
            };
            assert_eq!(answer.status, status, "{what}: {}", answer.body);
            assert!(!error_text(&answer).is_empty(), "{what}");
            assert_eq!(answer.label, None, "{what}");
            if let Some(field) = field {
                assert_eq!(answer.body["field"], field, "{what}: {}", answer.body);
            }
        }
        let second = parse_batch(
            JSON,
            Ok(format!(r#"{{"applications": [{GOOD}, {invalid}]}}"#).as_bytes()),
        )
        .unwrap_err();
        assert_eq!(second.body["index"], 1);
        assert!(
            error_text(&second).starts_with("applications[1]: "),
            "{}",
            second.body
        );
        assert_eq!(
            parse_batch(JSON, Err(BodyError::TooLarge))
                .unwrap_err()
                .status,
            413
        );
    }

    #[test]
    fn route_helpers() {
        assert_eq!(healthz().status, 200);
        assert_eq!(healthz().body, json!({ "status": "ok" }));
        assert_eq!(not_found().status, 404);
        assert!(!error_text(&not_found()).is_empty());
        let wrong = method_not_allowed(PREDICT_METHODS);
        assert_eq!(wrong.status, 405);
        assert!(error_text(&wrong).contains("POST"));
        assert_eq!(payload_too_large().status, 413);
        let bytes = not_found().body_bytes();
        let parsed: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed, not_found().body);
    }
}
