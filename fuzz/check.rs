//! The check shared by the fuzz target (`fuzz_targets/predict_body.rs`) and its corpus replay
//! on stable (`tests/suite/fuzz_corpus.rs`). Both include it with `#[path]`, next to
//! `examples/loan_model` included as the crate-level module `loan_model`.

use crate::loan_model::api::{self, ApiResponse};
use crate::loan_model::LoanModel;

/// Sends `body` through `/predict`'s validation as a JSON request and checks the answer.
pub fn check_body(model: &LoanModel, body: &[u8]) -> Result<ApiResponse, String> {
    let answer = api::predict(model, Some("application/json"), body);
    check_answer(&answer, body)?;
    Ok(answer)
}

/// A 200 carries a label, a probability in `0..=1` and the model version, and comes only from
/// a body that is a JSON object; anything else is a 4xx (413 exactly when the body is over the
/// limit) with a non-empty JSON `{"error"}` and no label.
pub fn check_answer(answer: &ApiResponse, body: &[u8]) -> Result<(), String> {
    let fail = |why: &str| {
        Err(format!(
            "{why}: status {}, answer {}, body {:?}",
            answer.status,
            answer.body,
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ))
    };
    // The body must serialise: it is sent as is.
    if serde_json::from_slice::<serde_json::Value>(&answer.body_bytes()).is_err() {
        return fail("the answer does not serialise to JSON");
    }
    if body.len() > api::BODY_LIMIT && answer.status != 413 {
        return fail("a body over the limit must be 413");
    }
    match answer.status {
        200 => {
            let probability = answer.body["probability"].as_f64().unwrap_or(f64::NAN);
            if answer.label.is_none()
                || answer.body["label"].as_str() != answer.label
                || !(0.0..=1.0).contains(&probability)
                || !answer.body["model_version"].is_string()
            {
                return fail("a 200 must carry its label, a probability and the version");
            }
            let parsed: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            if !parsed.is_object() {
                return fail("a 200 for a body that is not a JSON object");
            }
        }
        400..=499 => {
            if answer.label.is_some() {
                return fail("a rejected request must not report a label");
            }
            if answer.body["error"].as_str().is_none_or(str::is_empty) {
                return fail("a 4xx must carry a JSON error message");
            }
            if answer.status == 422 && !answer.body["field"].is_string() {
                return fail("a 422 must name the field");
            }
        }
        _ => return fail("neither a 200 nor a 4xx"),
    }
    Ok(())
}
