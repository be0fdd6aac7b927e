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

/// axum glue (features `dashboard` and `axum`): a [`Dashboard`](crate::Dashboard) is a response, so a handler
/// can return it.
///
/// ```
/// use axum::{routing::get, Router};
/// use inference_monitor::Dashboard;
///
/// let dashboard = Dashboard::new();
/// let app: Router = Router::new().route("/dashboard", get(move || std::future::ready(dashboard.clone())));
/// ```
#[cfg(feature = "dashboard")]
impl axum_core::response::IntoResponse for crate::Dashboard {
    fn into_response(self) -> axum_core::response::Response {
        // The page's shared bytes: no copy per response.
        self.response_with(axum_core::body::Body::from(self.page()))
    }
}

#[cfg(all(test, feature = "dashboard"))]
mod dashboard_tests {
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use http_body::Body as _;

    use crate::Dashboard;

    #[test]
    fn the_response_holds_the_pages_shared_bytes() {
        let dashboard = Dashboard::new();
        let response = axum_core::response::IntoResponse::into_response(dashboard.clone());
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers(), dashboard.response().headers());
        let mut body = pin!(response.into_body());
        let frame = body
            .as_mut()
            .poll_frame(&mut Context::from_waker(Waker::noop()));
        let Poll::Ready(Some(Ok(frame))) = frame else {
            panic!("{frame:?}")
        };
        let data = frame.into_data().unwrap();
        assert_eq!(data, dashboard.html().as_bytes());
        assert_eq!(data.as_ptr(), dashboard.html().as_ptr());
    }
}
