//! [`MetricsHandle`]: renders what the recorder holds, and serves it ([`MetricsService`]).

use std::convert::Infallible;
use std::fmt;
use std::future::{ready, Ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use metrics_exporter_prometheus::PrometheusHandle;
use tower_service::Service;

use super::auth::MetricsAuth;
use super::histograms::Histograms;
use super::text::CONTENT_TYPE;
use crate::fast::Samplers;

/// Renders the installed Prometheus recorder's metrics. Cheap to clone.
///
/// Serve it at `/metrics`: as a tower service ([`service`](Self::service)), with axum directly
/// as a handler's return value (feature `axum`), or by writing [`render`](Self::render)'s text.
#[derive(Clone)]
pub struct MetricsHandle {
    pub(super) inner: PrometheusHandle,
    pub(super) histograms: Arc<Histograms>,
    pub(super) samplers: Arc<Samplers>,
    pub(super) process: Option<ProcessCollector>,
}

/// Collects the process metrics before each render (feature `process`); a no-op type without it.
#[derive(Clone)]
pub(super) struct ProcessCollector {
    #[cfg(feature = "process")]
    inner: Arc<metrics_process::Collector>,
}

impl ProcessCollector {
    pub(super) fn new() -> Self {
        Self {
            #[cfg(feature = "process")]
            inner: Arc::new(metrics_process::Collector::default()),
        }
    }

    pub(super) fn describe(&self) {
        #[cfg(feature = "process")]
        self.inner.describe();
    }

    fn collect(&self) {
        #[cfg(feature = "process")]
        self.inner.collect();
    }
}

impl fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsHandle").finish_non_exhaustive()
    }
}

impl MetricsHandle {
    /// The metrics in the Prometheus text format.
    #[must_use]
    pub fn render(&self) -> String {
        if let Some(process) = &self.process {
            process.collect();
        }
        self.samplers.refresh();
        let mut text = self.inner.render();
        self.histograms.render_into(&mut text);
        text
    }

    /// A tower service answering every request with the rendered metrics (`200`, content type
    /// [`CONTENT_TYPE`]). Works as an axum `route_service` and under hyper. To answer only
    /// scrapers with credentials, add [`MetricsService::with_auth`].
    #[must_use]
    pub fn service(&self) -> MetricsService {
        MetricsService {
            handle: self.clone(),
            auth: None,
        }
    }

    /// The rendered metrics as an HTTP response.
    #[must_use]
    pub fn response(&self) -> http::Response<String> {
        let mut response = http::Response::new(self.render());
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(CONTENT_TYPE),
        );
        response
    }
}

/// A tower service that serves [`MetricsHandle::render`]. Made by [`MetricsHandle::service`].
///
/// It answers any method and path: mount it at `/metrics` (for axum, with `route_service` or
/// `get_service`).
#[derive(Debug, Clone)]
pub struct MetricsService {
    handle: MetricsHandle,
    auth: Option<MetricsAuth>,
}

impl MetricsService {
    /// Serves the metrics only to requests that [`MetricsAuth::allows`]; any other request gets
    /// [`MetricsAuth::unauthorized`] (`401` with `WWW-Authenticate`), and nothing is rendered
    /// for it.
    ///
    /// ```
    /// use inference_monitor::exporter::prometheus::MetricsAuth;
    /// use tower::ServiceExt;
    ///
    /// # let (_recorder, metrics) = inference_monitor::prometheus().build()?;
    /// let token = "s3cret"; // in a real server, read from a file or the environment
    /// let app = axum::Router::new().route_service(
    ///     "/metrics",
    ///     metrics.service().with_auth(MetricsAuth::bearer(token)),
    /// );
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let request = |authorization: &str| {
    ///     http::Request::get("/metrics")
    ///         .header("authorization", authorization)
    ///         .body(axum::body::Body::empty())
    ///         .unwrap()
    /// };
    /// let denied = app.clone().oneshot(request("Bearer guess")).await.unwrap();
    /// assert_eq!(denied.status(), 401);
    /// let allowed = app.oneshot(request("Bearer s3cret")).await.unwrap();
    /// assert_eq!(allowed.status(), 200);
    /// # });
    /// # Ok::<(), inference_monitor::ExporterError>(())
    /// ```
    #[must_use]
    pub fn with_auth(mut self, auth: MetricsAuth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The answer to `request`: the metrics, or a `401` when the service has a
    /// [`MetricsAuth`] that does not allow it.
    fn respond(&self, headers: &http::HeaderMap) -> http::Response<String> {
        match &self.auth {
            Some(auth) if !auth.allows_headers(headers) => auth.unauthorized(),
            _ => self.handle.response(),
        }
    }
}

impl<B> Service<http::Request<B>> for MetricsService {
    type Response = http::Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        ready(Ok(self.respond(request.headers())))
    }
}
