//! actix-web glue (feature `actix`): a native actix-web middleware on the same core as the tower
//! layer, and helpers for actix handlers.
//!
//! actix-web does not use tower, so [`InferenceMonitorLayer`](crate::InferenceMonitorLayer) cannot
//! wrap an actix service. [`InferenceMonitor`] is the same thing as an actix
//! [`Transform`]: it starts an [`InFlight`](crate::InFlight) guard with
//! [`ModelMonitor::start`] for each request, reads the handler's [`Prediction`](crate::Prediction), and lets the
//! guard record the request when the response body ends. It records nothing itself, so the
//! metrics are exactly those of the tower layer and the macros.
//!
//! ```
//! use actix_web::{web, App, HttpResponse};
//! use inference_monitor::integrations::actix::{InferenceMonitor, PredictionExt};
//!
//! async fn predict() -> HttpResponse {
//!     HttpResponse::Ok().with_prediction("approved").json(0.93)
//! }
//!
//! # let recorder = inference_monitor::testing::TestRecorder::new();
//! # let _local = recorder.local();
//! let app = App::new().service(
//!     web::resource("/predict")
//!         .route(web::post().to(predict))
//!         .wrap(InferenceMonitor::from_name("loan")),
//! );
//!
//! // The same app under actix's test utilities: one request, counted once.
//! actix_web::rt::System::new().block_on(async {
//!     let app = actix_web::test::init_service(app).await;
//!     let request = actix_web::test::TestRequest::post().uri("/predict").to_request();
//!     let body = actix_web::test::call_and_read_body(&app, request).await;
//!     assert_eq!(body, "0.93");
//! });
//! assert_eq!(recorder.counter("inference_requests_total", &[("model", "loan"), ("outcome", "success")]), Some(1));
//! assert_eq!(recorder.counter("inference_predictions_total", &[("model", "loan"), ("label", "approved")]), Some(1));
//! assert_eq!(recorder.gauge("inference_inprogress_requests", &[("model", "loan")]), Some(0.0));
//! ```
//!
//! Per request, as with the tower layer:
//!
//! * the guard starts when the middleware is called (in-progress gauge +1);
//! * the outcome comes from the response status, through a [`ClassifyOutcome`]
//!   ([`StatusClassifier`] unless [`InferenceMonitor::classify_with`] sets another). actix
//!   uses the `http` 0.2 types, so the classifier gets the status converted to `http` 1.x and an
//!   **empty** header map;
//! * the label is the [`Prediction`](crate::Prediction) in the response's extensions (put there with
//!   [`PredictionExt::with_prediction`]), or else in the request's extensions, for a handler
//!   that returns a responder such as `web::Json` and so cannot reach the response:
//!   `req.extensions_mut().insert(Prediction::new("approved"))`;
//! * the latency ends at the end of the response body ([`MonitoredBody`]), or at the headers
//!   with [`LatencyEnd::Headers`] (and always for `HEAD` requests, whose body is never sent); a
//!   body dropped before its end (the client went away) counts as `cancelled`, a body error as
//!   `server_error`;
//! * an error returned by the inner service (`Err(actix_web::Error)`, for example from another
//!   middleware) is classified by the status of the response actix will make of it
//!   (`error.as_response_error().status_code()`): a 4xx error is `client_error`. A handler's
//!   own `Err` is already that response when it reaches the middleware, and is classified the
//!   same way;
//! * a panic unwinding through the request's future counts as `server_error` (the guard's drop).
//!
#![cfg_attr(
    feature = "prometheus",
    doc = "Serve the metrics with [`metrics_response`], or return the \
           [`MetricsHandle`](crate::MetricsHandle) itself from a handler (it is a \
           [`Responder`](actix_web::Responder))."
)]
//!
//! ## Rust version
//!
//! The crate builds with Rust 1.85, but the `actix` feature needs the Rust version actix-web
//! itself needs (1.89 for actix-web 4.18).

mod body;
mod future;
mod helpers;

use std::fmt;
use std::future::{ready, Ready};

use actix_web::body::MessageBody;
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::HttpMessage;

use crate::classify::{ClassifyOutcome, StatusClassifier};
use crate::tower::LatencyEnd;
use crate::ModelMonitor;

pub use body::MonitoredBody;
pub use future::MonitoredResponse;
#[cfg(feature = "prometheus")]
pub use helpers::metrics_response;
pub use helpers::PredictionExt;

/// An actix-web middleware that monitors every request to the service it wraps with the four
/// inference metrics. See the [module documentation](self) for what it records and when.
///
/// Wrap the resources that run the model (wrapping the whole `App` would count `/metrics` and
/// `/healthz` as inferences too):
///
/// ```
/// use actix_web::{web, App, HttpResponse};
/// use inference_monitor::integrations::actix::{InferenceMonitor, PredictionExt};
/// use inference_monitor::Monitor;
///
/// async fn predict() -> HttpResponse {
///     HttpResponse::Ok().with_prediction("approved").body("approved")
/// }
///
/// let monitor = Monitor::builder().labels(["approved", "rejected"]).build()?;
/// let loan = InferenceMonitor::new(monitor.model("loan"));
/// // `HttpServer::new` calls its factory once per worker: clone the middleware into it.
/// let app = move || {
///     App::new().service(
///         web::resource("/predict")
///             .route(web::post().to(predict))
///             .wrap(loan.clone()),
///     )
/// };
/// # let _ = app;
/// # Ok::<(), inference_monitor::ConfigError>(())
/// ```
///
/// Build it after installing the exporter: the metric handles are registered with the recorder
/// current when the [`ModelMonitor`] is made.
#[derive(Clone)]
#[must_use]
pub struct InferenceMonitor<C = StatusClassifier> {
    model: ModelMonitor,
    classifier: C,
    latency: LatencyEnd,
}

impl<C> fmt::Debug for InferenceMonitor<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InferenceMonitor")
            .field("model", &self.model)
            .field("classifier", &std::any::type_name::<C>())
            .field("latency", &self.latency)
            .finish()
    }
}

impl InferenceMonitor {
    /// Monitors requests as the given model.
    pub fn new(model: ModelMonitor) -> Self {
        Self {
            model,
            classifier: StatusClassifier,
            latency: LatencyEnd::default(),
        }
    }

    /// Monitors requests as model `name`, with the default [`Monitor`](crate::Monitor)
    /// (shorthand for `InferenceMonitor::new(ModelMonitor::new(name))`).
    ///
    /// ```
    /// use inference_monitor::integrations::actix::InferenceMonitor;
    ///
    /// let loan = InferenceMonitor::from_name("loan");
    /// assert_eq!(loan.model().name(), "loan");
    /// ```
    pub fn from_name(name: &str) -> Self {
        Self::new(ModelMonitor::new(name))
    }
}

impl<C> InferenceMonitor<C> {
    /// Replaces the outcome classifier (a [`ClassifyOutcome`], or a closure
    /// `Fn(http::StatusCode, &http::HeaderMap) -> Outcome`). It receives the response status
    /// and an empty header map (see the [module documentation](self)).
    ///
    /// Defaults to [`StatusClassifier`]: 4xx is `client_error`, 5xx `server_error`.
    ///
    /// ```
    /// use inference_monitor::integrations::actix::InferenceMonitor;
    /// use inference_monitor::Outcome;
    ///
    /// // Our own rate limiter's 429 is not the client's fault.
    /// let rate_limit_is_ours = |status: http::StatusCode, _: &http::HeaderMap| {
    ///     if status == http::StatusCode::TOO_MANY_REQUESTS {
    ///         Outcome::ServerError
    ///     } else {
    ///         Outcome::from_status(status)
    ///     }
    /// };
    /// let loan = InferenceMonitor::from_name("loan").classify_with(rate_limit_is_ours);
    /// # let _ = loan;
    /// ```
    pub fn classify_with<C2: ClassifyOutcome>(self, classifier: C2) -> InferenceMonitor<C2> {
        InferenceMonitor {
            model: self.model,
            classifier,
            latency: self.latency,
        }
    }

    /// Sets when the latency measurement ends.
    ///
    /// Defaults to [`LatencyEnd::EndOfBody`].
    pub fn latency_until(mut self, end: LatencyEnd) -> Self {
        self.latency = end;
        self
    }

    /// The model the requests are counted under.
    #[must_use]
    pub fn model(&self) -> &ModelMonitor {
        &self.model
    }
}

impl<S, B, C> Transform<S, ServiceRequest> for InferenceMonitor<C>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
    C: ClassifyOutcome + Clone,
{
    type Response = ServiceResponse<MonitoredBody<B>>;
    type Error = actix_web::Error;
    type Transform = InferenceMonitorMiddleware<S, C>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(InferenceMonitorMiddleware {
            service,
            model: self.model.clone(),
            classifier: self.classifier.clone(),
            latency: self.latency,
        }))
    }
}

/// The service [`InferenceMonitor`] wraps around an actix service (one per worker).
pub struct InferenceMonitorMiddleware<S, C = StatusClassifier> {
    service: S,
    model: ModelMonitor,
    classifier: C,
    latency: LatencyEnd,
}

impl<S, C> fmt::Debug for InferenceMonitorMiddleware<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InferenceMonitorMiddleware")
            .field("model", &self.model)
            .field("classifier", &std::any::type_name::<C>())
            .field("latency", &self.latency)
            .finish_non_exhaustive()
    }
}

impl<S, B, C> Service<ServiceRequest> for InferenceMonitorMiddleware<S, C>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
    C: ClassifyOutcome + Clone,
{
    type Response = ServiceResponse<MonitoredBody<B>>;
    type Error = actix_web::Error;
    type Future = MonitoredResponse<S::Future, C>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        // The body of an answer to HEAD is never sent (actix's HTTP/2 dispatcher drops it
        // unpolled): such a request ends with its headers.
        let latency = if request.method() == actix_web::http::Method::HEAD {
            LatencyEnd::Headers
        } else {
            self.latency
        };
        // Started before the inner call, so a panic in it is recorded too (by the guard's drop).
        let guard = self.model.start();
        // Opt-in (MonitorBuilder::request_signals): the handler's handle on its model's signals,
        // `web::ReqData<Signals>` in a handler.
        if guard.wants_request_signals() {
            request.extensions_mut().insert(guard.signals());
        }
        MonitoredResponse {
            inner: self.service.call(request),
            state: Some((guard, self.classifier.clone())),
            latency,
        }
    }
}
