//! actix-web glue (feature `actix`): a native actix-web middleware on the same core as the tower
//! layer, and helpers for actix handlers.
//!
//! actix-web does not use tower, so [`InferenceMonitorLayer`](crate::InferenceMonitorLayer) cannot
//! wrap an actix service. [`InferenceMonitor`] is the same thing as an actix
//! [`Transform`]: it starts an [`InFlight`] guard with
//! [`ModelMonitor::start`] for each request, reads the handler's [`Prediction`], and lets the
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
//! * the outcome comes from the response status, through a [`ClassifyResponse`]
//!   ([`StatusClassifier`] unless [`InferenceMonitor::classify_with`] sets another). actix
//!   uses the `http` 0.2 types, so the classifier gets the status converted to `http` 1.x and an
//!   **empty** header map;
//! * the label is the [`Prediction`] in the response's extensions (put there with
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

use std::fmt;
use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpResponse, HttpResponseBuilder};
use pin_project_lite::pin_project;

use crate::classify::{ClassifyResponse, StatusClassifier};
use crate::{InFlight, LatencyEnd, ModelMonitor, Outcome, Prediction};

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
    /// Replaces the outcome classifier (a [`ClassifyResponse`], or a closure
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
    pub fn classify_with<C2: ClassifyResponse>(self, classifier: C2) -> InferenceMonitor<C2> {
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
    C: ClassifyResponse + Clone,
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
    C: ClassifyResponse + Clone,
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

/// The status of an actix response (`http` 0.2) as an `http` 1.x status.
fn status(status: actix_web::http::StatusCode) -> http::StatusCode {
    http::StatusCode::from_u16(status.as_u16()).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR)
}

fn classify<C: ClassifyResponse>(classifier: &C, code: actix_web::http::StatusCode) -> Outcome {
    classifier.classify_response(status(code), &http::HeaderMap::new())
}

pin_project! {
    /// The future of [`InferenceMonitorMiddleware`].
    ///
    /// It holds the request's guard until the inner service answers, then hands it to the
    /// [`MonitoredBody`] (or records at once when the body is empty, the inner service failed,
    /// or [`LatencyEnd::Headers`] is set). Dropped before then, the request counts as
    /// `cancelled`; dropped by a panic, as `server_error`.
    pub struct MonitoredResponse<F, C> {
        #[pin]
        inner: F,
        state: Option<(InFlight, C)>,
        latency: LatencyEnd,
    }
}

impl<F, C> fmt::Debug for MonitoredResponse<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MonitoredResponse")
            .field("guard", &self.state.as_ref().map(|(g, _)| g))
            .field("latency", &self.latency)
            .finish_non_exhaustive()
    }
}

impl<F, C, B> Future for MonitoredResponse<F, C>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
    B: MessageBody,
    C: ClassifyResponse,
{
    type Output = Result<ServiceResponse<MonitoredBody<B>>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let Some((mut guard, classifier)) = this.state.take() else {
            // Polled again after completion: pass through, nothing left to record.
            return Poll::Ready(result.map(|res| res.map_body(|_, b| MonitoredBody::untracked(b))));
        };
        match result {
            Ok(response) => {
                let outcome = classify(&classifier, response.status());
                report_label(&response, &mut guard);
                let ends_now = *this.latency == LatencyEnd::Headers
                    || response.response().body().size().is_eof();
                Poll::Ready(Ok(response.map_body(|_, body| {
                    if ends_now {
                        guard.finish(outcome);
                        MonitoredBody::untracked(body)
                    } else {
                        MonitoredBody::tracked(body, guard, outcome)
                    }
                })))
            }
            Err(error) => {
                guard.finish(classify(
                    &classifier,
                    error.as_response_error().status_code(),
                ));
                Poll::Ready(Err(error))
            }
        }
    }
}

/// Reports the [`Prediction`] of a response to its guard: the one in the response's extensions,
/// or else the one in its request's.
fn report_label<B>(response: &ServiceResponse<B>, guard: &mut InFlight) {
    if let Some(prediction) = response.response().extensions().get::<Prediction>() {
        guard.predicted(prediction.label());
        return;
    }
    if let Some(prediction) = response.request().extensions().get::<Prediction>() {
        guard.predicted(prediction.label());
    }
}

pin_project! {
    /// The response body of [`InferenceMonitorMiddleware`]: ends the measurement of a request
    /// at the end of its body.
    ///
    /// The request is recorded on `None`, on the chunk that completes a body whose
    /// [`size`](MessageBody::size) is known (a consumer may stop at the announced length), or
    /// when the whole body is taken at once ([`try_into_bytes`](MessageBody::try_into_bytes)); a
    /// body error records `server_error`. Dropped before its end — the client went away
    /// mid-stream — the request counts as `cancelled`.
    pub struct MonitoredBody<B> {
        #[pin]
        inner: B,
        state: Option<(InFlight, Outcome)>,
        // Bytes still to come of a body of known size.
        remaining: Option<u64>,
    }
}

impl<B: MessageBody> MonitoredBody<B> {
    fn tracked(inner: B, guard: InFlight, outcome: Outcome) -> Self {
        let remaining = match inner.size() {
            BodySize::Sized(n) => Some(n),
            BodySize::None | BodySize::Stream => None,
        };
        Self {
            inner,
            state: Some((guard, outcome)),
            remaining,
        }
    }

    fn untracked(inner: B) -> Self {
        Self {
            inner,
            state: None,
            remaining: None,
        }
    }
}

impl<B> MonitoredBody<B> {
    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// Unwraps the inner body. A request still being measured is recorded now as `cancelled`.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: fmt::Debug> fmt::Debug for MonitoredBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MonitoredBody")
            .field("inner", &self.inner)
            .field("guard", &self.state.as_ref().map(|(g, _)| g))
            .finish_non_exhaustive()
    }
}

impl<B: MessageBody> MessageBody for MonitoredBody<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.inner.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let mut this = self.project();
        let chunk = ready!(this.inner.as_mut().poll_next(cx));
        let outcome = match &chunk {
            None => this.state.as_ref().map(|(_, o)| *o),
            Some(Err(_)) => Some(Outcome::ServerError),
            Some(Ok(bytes)) => {
                if let Some(remaining) = this.remaining.as_mut() {
                    *remaining = remaining.saturating_sub(bytes.len() as u64);
                }
                let complete = *this.remaining == Some(0) || this.inner.size().is_eof();
                if complete {
                    this.state.as_ref().map(|(_, o)| *o)
                } else {
                    None
                }
            }
        };
        if let Some(outcome) = outcome {
            if let Some((guard, _)) = this.state.take() {
                guard.finish(outcome);
            }
        }
        Poll::Ready(chunk)
    }

    fn try_into_bytes(self) -> Result<Bytes, Self> {
        let Self {
            inner,
            state,
            remaining,
        } = self;
        match inner.try_into_bytes() {
            Ok(bytes) => {
                // The whole body is handed over at once: this is its end.
                if let Some((guard, outcome)) = state {
                    guard.finish(outcome);
                }
                Ok(bytes)
            }
            Err(inner) => Err(Self {
                inner,
                state,
                remaining,
            }),
        }
    }
}

/// Reports the predicted label of an actix response, for [`InferenceMonitor`] to count.
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
/// [`HttpMessage`] in scope.
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
