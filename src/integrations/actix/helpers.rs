//! Helpers for actix handlers: reporting a prediction ([`PredictionExt`]), serving the metrics
//! ([`metrics_response`]) and the dashboard as responders, and the status conversion from
//! actix-web's `http` 0.2.

use actix_web::{HttpResponse, HttpResponseBuilder};

use crate::classify::ClassifyOutcome;
use crate::{Outcome, Prediction};

/// The status of an actix response (`http` 0.2) as an `http` 1.x status.
pub(super) fn status(status: actix_web::http::StatusCode) -> http::StatusCode {
    http::StatusCode::from_u16(status.as_u16()).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR)
}

pub(super) fn classify<C: ClassifyOutcome>(
    classifier: &C,
    code: actix_web::http::StatusCode,
) -> Outcome {
    classifier.classify_response(status(code), &http::HeaderMap::new())
}

/// Reports the predicted label of an actix response, for [`InferenceMonitor`](super::InferenceMonitor) to count.
///
/// Implemented for [`HttpResponse`] and for the builder ([`HttpResponseBuilder`], as
/// `HttpResponse::Ok()` returns it). It puts a [`Prediction`] in the response's extensions.
///
/// ```
/// use actix_web::HttpResponse;
/// use inference_monitor::integrations::actix::PredictionExt;
/// use inference_monitor::Prediction;
///
/// // On the builder, before the body...
/// let response = HttpResponse::Ok().with_prediction("approved").json(0.93);
/// assert_eq!(response.extensions().get::<Prediction>().map(Prediction::label), Some("approved"));
///
/// // ...or on a finished response.
/// let response = HttpResponse::Ok().body("rejected").with_prediction("rejected");
/// assert_eq!(response.extensions().get::<Prediction>().map(Prediction::label), Some("rejected"));
/// ```
///
/// A handler that returns another responder (`web::Json`, a `String`) reports through the
/// request instead: `req.extensions_mut().insert(Prediction::new("approved"))`, with
/// [`HttpMessage`](actix_web::HttpMessage) in scope.
pub trait PredictionExt {
    /// Sets the predicted label; a second call replaces the first.
    fn with_prediction(self, prediction: impl Into<Prediction>) -> Self;
}

impl<B> PredictionExt for HttpResponse<B> {
    fn with_prediction(mut self, prediction: impl Into<Prediction>) -> Self {
        self.extensions_mut().insert(prediction.into());
        self
    }
}

impl PredictionExt for &mut HttpResponseBuilder {
    fn with_prediction(self, prediction: impl Into<Prediction>) -> Self {
        self.extensions_mut().insert(prediction.into());
        self
    }
}

/// The rendered metrics as an actix response: `200`, content type
/// [`CONTENT_TYPE`](crate::exporter::prometheus::CONTENT_TYPE).
///
/// ```
/// use actix_web::{web, App};
/// use inference_monitor::integrations::actix::metrics_response;
///
/// # fn app(metrics: inference_monitor::MetricsHandle) {
/// // `metrics` is the `MetricsHandle` returned by `inference_monitor::prometheus().install()`.
/// let app = App::new().route(
///     "/metrics",
///     web::get().to(move || std::future::ready(metrics_response(&metrics))),
/// );
/// # let _ = app;
/// # }
/// ```
///
/// The handle is also a [`Responder`](actix_web::Responder): a handler may return
/// `metrics.clone()` directly.
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
#[must_use]
pub fn metrics_response(handle: &crate::MetricsHandle) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(crate::exporter::prometheus::CONTENT_TYPE)
        .body(handle.render())
}

#[cfg(feature = "prometheus")]
impl actix_web::Responder for crate::MetricsHandle {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _request: &actix_web::HttpRequest) -> HttpResponse {
        metrics_response(&self)
    }
}

/// actix-web glue (features `dashboard` and `actix`): a [`Dashboard`](crate::Dashboard) is a `Responder`.
///
/// ```
/// use actix_web::{web, App};
/// use inference_monitor::Dashboard;
///
/// let dashboard = Dashboard::new();
/// let app = App::new().route(
///     "/dashboard",
///     web::get().to(move || std::future::ready(dashboard.clone())),
/// );
/// # let _ = app;
/// ```
#[cfg(feature = "dashboard")]
impl actix_web::Responder for crate::Dashboard {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _request: &actix_web::HttpRequest) -> HttpResponse {
        let response = self.response_with(());
        let mut builder = HttpResponse::build(actix_web::http::StatusCode::OK);
        for (name, value) in response.headers() {
            // actix-web uses `http` 0.2: carry the headers over as strings.
            if let Ok(value) = value.to_str() {
                builder.insert_header((name.as_str(), value));
            }
        }
        // The page's shared bytes: no copy per response.
        builder.body(self.page())
    }
}

#[cfg(all(test, feature = "dashboard"))]
mod dashboard_tests {
    use actix_web::body::MessageBody as _;
    use actix_web::Responder as _;

    use crate::Dashboard;

    #[test]
    fn the_response_holds_the_pages_shared_bytes() {
        let dashboard = Dashboard::new();
        let request = actix_web::test::TestRequest::default().to_http_request();
        let response = dashboard.clone().respond_to(&request);
        assert_eq!(response.status(), actix_web::http::StatusCode::OK);
        for (name, value) in dashboard.response().headers() {
            assert_eq!(
                response.headers().get(name.as_str()).unwrap().as_bytes(),
                value.as_bytes(),
                "{name}"
            );
        }
        let Ok(body) = response.into_body().try_into_bytes() else {
            panic!("the body is not one piece of bytes")
        };
        assert_eq!(body, dashboard.html().as_bytes());
        assert_eq!(body.as_ptr(), dashboard.html().as_ptr());
    }
}
