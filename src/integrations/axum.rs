//! axum glue (feature `axum`): [`Prediction`] and [`TokenUsage`](crate::TokenUsage) are
//! response parts and [`MetricsHandle`](crate::MetricsHandle) a response, so handlers can
//! return them directly.
//!
//! ```
//! use axum::{routing::{get, post}, Json, Router};
//! use inference_monitor::{InferenceMonitorLayer, Prediction};
//!
//! async fn predict() -> (Prediction, Json<&'static str>) {
//!     (Prediction::new("approved"), Json("approved"))
//! }
//!
//! # fn app(metrics: inference_monitor::MetricsHandle) -> Router {
//! Router::new()
//!     .route("/predict", post(predict))
//!     .layer(InferenceMonitorLayer::new("loan"))
//!     .route("/metrics", get(move || std::future::ready(metrics.clone())))
//! # }
//! ```

use std::convert::Infallible;

use axum_core::response::{IntoResponseParts, ResponseParts};

use crate::Prediction;

impl IntoResponseParts for Prediction {
    type Error = Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.extensions_mut().insert(self);
        Ok(res)
    }
}

impl IntoResponseParts for crate::TokenUsage {
    type Error = Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.extensions_mut().insert(self);
        Ok(res)
    }
}

#[cfg(feature = "prometheus")]
impl axum_core::response::IntoResponse for crate::MetricsHandle {
    fn into_response(self) -> axum_core::response::Response {
        self.response().map(axum_core::body::Body::from)
    }
}
