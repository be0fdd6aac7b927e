//! A live dashboard without Grafana (feature `dashboard`): one HTML page, served by your own
//! application at `/dashboard`, that reads the same-origin Prometheus endpoint (`/metrics`)
//! every second and draws, per model, the request rate by outcome, the error ratio, latency
//! p50/p95/p99 from the histogram buckets, the requests in progress and the share of each
//! predicted label over the last minutes.
//!
//! The page is self-contained: its script, its styles and the charting library (uPlot,
//! MIT, vendored under `assets/dashboard/vendor/uplot/`) are embedded in the crate and inline
//! in the page, so it works offline, behind a firewall, with no CDN. It holds no data itself:
//! everything it shows comes from the metrics endpoint, read by the browser.
//!
//! ```
//! use axum::{routing::get, Router};
//! use inference_monitor::Dashboard;
//!
//! # let (_recorder, metrics) = inference_monitor::prometheus().build()?;
//! let app: Router = Router::new()
//!     .route("/metrics", get(move || std::future::ready(metrics.clone())))
//!     // Each response holds a handle to the one copy of the page.
//!     .route_service("/dashboard", Dashboard::new().service().with_body::<axum::body::Body>());
//! # Ok::<(), inference_monitor::ExporterError>(())
//! ```
//!
//! With actix-web, a [`Dashboard`] is a `Responder`:
//! `web::get().to(move || std::future::ready(dashboard.clone()))`.
//!
//! # Same origin, and a protected `/metrics`
//!
//! The page reads the metrics path on the origin it was served from, so serve it where
//! `/metrics` is served: on a separate metrics listener, serve it there too. When `/metrics`
//! wants a bearer token ([`MetricsAuth`](crate::exporter::prometheus::MetricsAuth)), the page asks for the token on
//! the first `401` and sends it as `Authorization: Bearer`; it keeps it for the browser tab
//! only (`sessionStorage`). A token can also be given in the address's fragment,
//! `/dashboard#token=…`, which browsers never send to the server; the page removes it from the
//! address bar at once. The page itself is static and carries no metric, so it is served
//! without the token.
//!
//! # What it shows
//!
//! * the model's totals since the process started, exactly as `/metrics` has them (requests,
//!   per outcome, error ratio, in progress), and p50/p95/p99 computed from the cumulative
//!   buckets the way Prometheus' `histogram_quantile` does;
//! * charts over the last minutes (5 by default), each point computed from the increases over
//!   the 10 seconds before it: rates by outcome, error ratio (client and server errors over
//!   all requests), latency quantiles, in progress, and the share of each predicted label;
//! * a model selector when the endpoint has several models.
//!
//! A metrics endpoint that is down or answers an error shows a "no data" state and a gap in
//! the charts, and the page recovers by itself. Counters that go down (a restarted process)
//! are counted as restarting from zero, as Prometheus' `rate` does: rates never go negative,
//! and the totals follow the new process.

mod csp;
mod page;
mod service;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bytes::Bytes;

pub use service::{DashboardService, PageBody};

use crate::{ConfigError, MetricNames};

/// The default refresh interval: one second.
const DEFAULT_REFRESH: Duration = Duration::from_secs(1);
/// The default history shown in the charts: five minutes.
const DEFAULT_HISTORY: Duration = Duration::from_secs(300);
/// The window each chart point is computed over, at the least.
const RATE_WINDOW: Duration = Duration::from_secs(10);

/// The live dashboard page, ready to serve. Cheap to clone: the page (about 85 KB) is built
/// once, and every clone and every response of the service, axum or actix holds a handle to
/// that one copy.
///
/// [`Dashboard::new`] reads `/metrics` with the default metric names every second; use
/// [`Dashboard::builder`] for another path, other names, interval or history. Serve it with
/// [`service`](Self::service) (tower, axum's `route_service`, hyper), as an axum response or
/// actix `Responder` (features `axum`, `actix`), or with [`response`](Self::response).
///
/// ```
/// use inference_monitor::Dashboard;
///
/// let dashboard = Dashboard::new();
/// let response = dashboard.response();
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
/// assert!(response.body().contains("data-metrics-path=\"/metrics\""));
/// ```
#[derive(Clone)]
pub struct Dashboard {
    html: Arc<str>,
    /// The bytes of `html`, the same allocation: what responses hold, so none copies the page.
    page: Bytes,
    metrics_path: Arc<str>,
}

/// The page's text as the owner of [`Dashboard::page`]'s bytes.
struct Page(Arc<str>);

impl AsRef<[u8]> for Page {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard")
            .field("metrics_path", &self.metrics_path)
            .finish_non_exhaustive()
    }
}

impl Default for Dashboard {
    fn default() -> Self {
        Self::new()
    }
}

impl Dashboard {
    /// The dashboard of `/metrics`, with the default metric names, refreshed every second,
    /// showing the last 5 minutes.
    #[must_use]
    pub fn new() -> Self {
        DashboardBuilder::default().render()
    }

    /// A builder for another metrics path, other metric names, refresh interval or history.
    pub fn builder() -> DashboardBuilder {
        DashboardBuilder::default()
    }

    /// The path the page reads the metrics from.
    #[must_use]
    pub fn metrics_path(&self) -> &str {
        &self.metrics_path
    }

    /// The page's HTML.
    #[must_use]
    pub fn html(&self) -> &str {
        &self.html
    }

    /// The page as an HTTP response: `200`, `text/html`, with headers that keep it from being
    /// cached, sniffed, framed, from running any script but its own or from loading anything
    /// but the same-origin metrics (a `Content-Security-Policy` with the hashes of its
    /// scripts and `connect-src 'self'`).
    ///
    /// The body is a copy of the page (handy in a test); to serve it, use
    /// [`service`](Self::service) or the axum and actix glue, which answer with the page's
    /// shared bytes.
    #[must_use]
    pub fn response(&self) -> http::Response<String> {
        self.response_with(self.html.to_string())
    }

    /// The page's bytes, shared: a clone is a reference count, not a copy.
    #[cfg_attr(not(any(feature = "axum", feature = "actix")), allow(dead_code))]
    pub(crate) fn page(&self) -> Bytes {
        self.page.clone()
    }

    /// The page's headers around `body`.
    pub(crate) fn response_with<B>(&self, body: B) -> http::Response<B> {
        use http::header::{self, HeaderValue};
        let mut response = http::Response::new(body);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY.clone(),
        );
        response
    }

    /// A tower service answering every request with [`response`](Self::response). Mount it
    /// at `/dashboard`.
    #[must_use]
    pub fn service(&self) -> DashboardService {
        DashboardService::new(self.clone())
    }
}

/// What the page may load and run: its own three inline scripts (by their SHA-256 hashes) and
/// inline styles, requests to its own origin (the metrics), nothing else; no framing, no base
/// URL, no form target. Computed once per process.
static CONTENT_SECURITY_POLICY: LazyLock<http::HeaderValue> = LazyLock::new(|| {
    http::HeaderValue::from_str(&page::content_security_policy())
        // Hashes are base64: the policy is always a valid header value.
        .unwrap_or_else(|_| http::HeaderValue::from_static("default-src 'none'"))
});

/// Builds a [`Dashboard`]. Made by [`Dashboard::builder`].
///
/// ```
/// use std::time::Duration;
/// use inference_monitor::{Dashboard, MetricNames};
///
/// let dashboard = Dashboard::builder()
///     .metrics_path("/internal/metrics")
///     .names(MetricNames::with_prefix("llm"))
///     .refresh(Duration::from_secs(2))
///     .history(Duration::from_secs(600))
///     .build()?;
/// assert_eq!(dashboard.metrics_path(), "/internal/metrics");
/// assert!(dashboard.html().contains("data-requests=\"llm_inference_requests_total\""));
/// # Ok::<(), inference_monitor::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct DashboardBuilder {
    metrics_path: String,
    names: MetricNames,
    refresh: Duration,
    history: Duration,
}

impl Default for DashboardBuilder {
    fn default() -> Self {
        Self {
            metrics_path: "/metrics".to_owned(),
            names: MetricNames::default(),
            refresh: DEFAULT_REFRESH,
            history: DEFAULT_HISTORY,
        }
    }
}

impl DashboardBuilder {
    /// The path of the metrics endpoint on the page's own origin. Defaults to `/metrics`.
    pub fn metrics_path(mut self, path: impl Into<String>) -> Self {
        self.metrics_path = path.into();
        self
    }

    /// The metric names to read, as given to the monitor
    /// ([`MonitorBuilder::names`](crate::MonitorBuilder::names)). Defaults to
    /// [`MetricNames::default`].
    pub fn names(mut self, names: MetricNames) -> Self {
        self.names = names;
        self
    }

    /// How often the page reads the metrics, from 100 ms to 1 minute. Defaults to 1 second.
    pub fn refresh(mut self, every: Duration) -> Self {
        self.refresh = every;
        self
    }

    /// How much time the charts show, from 1 minute to 1 hour. Defaults to 5 minutes.
    pub fn history(mut self, history: Duration) -> Self {
        self.history = history;
        self
    }

    /// The dashboard.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidDashboard`] when the metrics path is not an absolute path on the
    /// same origin (it must start with exactly one `/` and hold no `\`, white space or
    /// control character), or the refresh interval or the history is out of range;
    /// [`ConfigError::InvalidMetricName`] or [`ConfigError::DuplicateMetricName`] for the
    /// names.
    pub fn build(self) -> Result<Dashboard, ConfigError> {
        validate_path(&self.metrics_path)?;
        self.names.validate()?;
        if self.refresh < Duration::from_millis(100) || self.refresh > Duration::from_secs(60) {
            return Err(ConfigError::InvalidDashboard(format!(
                "refresh interval {:?} is outside 100ms..=60s",
                self.refresh
            )));
        }
        if self.history < Duration::from_secs(60) || self.history > Duration::from_secs(3600) {
            return Err(ConfigError::InvalidDashboard(format!(
                "history {:?} is outside 1min..=1h",
                self.history
            )));
        }
        Ok(self.render())
    }

    /// The dashboard of this configuration, checked or the default.
    fn render(self) -> Dashboard {
        let window = RATE_WINDOW.max(self.refresh * 3);
        let page = page::render(&page::PageConfig {
            metrics_path: &self.metrics_path,
            refresh_ms: self.refresh.as_millis(),
            history_ms: self.history.as_millis(),
            window_ms: window.as_millis(),
            names: &self.names,
        });
        let html: Arc<str> = page.into();
        Dashboard {
            page: Bytes::from_owner(Page(Arc::clone(&html))),
            html,
            metrics_path: self.metrics_path.into(),
        }
    }
}

/// Checks that `path` is an absolute path on the page's own origin: `/` and then no second
/// `/` (`//host` is another origin), no `\` (browsers read it as `/`), no white space or
/// control character.
fn validate_path(path: &str) -> Result<(), ConfigError> {
    let invalid = |why: &str| {
        Err(ConfigError::InvalidDashboard(format!(
            "metrics path {path:?} {why}"
        )))
    };
    if !path.starts_with('/') {
        return invalid("must start with '/'");
    }
    if path.starts_with("//") || path.contains('\\') {
        return invalid("must stay on the page's origin (no leading '//', no '\\')");
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid("must not hold white space or control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_off_the_origin_are_refused() {
        for bad in [
            "metrics",
            "//evil.example/metrics",
            "/\\evil",
            "/m etrics",
            "/m\n",
            "",
        ] {
            let error = Dashboard::builder().metrics_path(bad).build().unwrap_err();
            assert!(
                matches!(error, ConfigError::InvalidDashboard(_)),
                "{bad:?}: {error:?}"
            );
        }
        for good in ["/metrics", "/internal/metrics", "/metrics?format=text"] {
            let dashboard = Dashboard::builder().metrics_path(good).build().unwrap();
            assert_eq!(dashboard.metrics_path(), good);
        }
    }

    #[test]
    fn intervals_out_of_range_are_refused() {
        for (refresh, history) in [(50, 300), (61_000, 300), (1000, 59), (1000, 3601)] {
            let result = Dashboard::builder()
                .refresh(Duration::from_millis(refresh))
                .history(Duration::from_secs(history))
                .build();
            assert!(
                matches!(result, Err(ConfigError::InvalidDashboard(_))),
                "{refresh} ms, {history} s"
            );
        }
    }

    #[test]
    fn invalid_names_are_refused() {
        let names = MetricNames {
            requests_total: "not a name".into(),
            ..MetricNames::default()
        };
        assert_eq!(
            Dashboard::builder().names(names).build().unwrap_err(),
            ConfigError::InvalidMetricName("not a name".to_owned())
        );
    }

    #[test]
    fn the_default_configuration_passes_its_own_checks() {
        let built = Dashboard::builder().build().unwrap();
        assert_eq!(built.html(), Dashboard::new().html());
        assert_eq!(built.metrics_path(), "/metrics");
    }

    #[test]
    fn the_window_is_at_least_three_refreshes() {
        let dashboard = Dashboard::builder()
            .refresh(Duration::from_secs(5))
            .build()
            .unwrap();
        assert!(dashboard.html().contains(" data-window-ms=\"15000\""));
        assert!(Dashboard::new()
            .html()
            .contains(" data-window-ms=\"10000\""));
        assert!(Dashboard::new()
            .html()
            .contains(" data-refresh-ms=\"1000\""));
        assert!(Dashboard::new()
            .html()
            .contains(" data-history-ms=\"300000\""));
    }

    #[test]
    fn the_response_has_the_protective_headers() {
        let response = Dashboard::new().response();
        let headers = response.headers();
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        assert_eq!(headers["cache-control"], "no-cache");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert_eq!(csp, page::content_security_policy());
        let script_src = csp
            .split("; ")
            .find(|d| d.starts_with("script-src "))
            .unwrap();
        assert_eq!(script_src.matches(" 'sha256-").count(), 3, "{script_src}");
        assert!(!script_src.contains("unsafe"), "{script_src}");
        assert!(csp.starts_with("default-src 'none'; "));
        assert!(csp.contains("; connect-src 'self'; "));
    }

    #[test]
    fn responses_share_the_one_copy_of_the_page() {
        use tower_service::Service as _;
        let dashboard = Dashboard::new();
        let mut service = dashboard.service().with_body::<Bytes>();
        let first = service.call(http::Request::new(())).into_inner().unwrap();
        let second = service
            .clone()
            .call(http::Request::new(()))
            .into_inner()
            .unwrap();
        assert_eq!(first.body(), dashboard.html().as_bytes());
        // The same allocation, the one `html()` reads: no response copied the page.
        assert_eq!(first.body().as_ptr(), second.body().as_ptr());
        assert_eq!(first.body().as_ptr(), dashboard.html().as_ptr());
        assert_eq!(first.body().as_ptr(), dashboard.clone().page.as_ptr());
        // The same headers as `response()`, whose body is a copy.
        let copied = dashboard.response();
        assert_eq!(first.headers(), copied.headers());
        assert_eq!(first.status(), copied.status());
        assert_eq!(copied.body(), dashboard.html());
        assert_ne!(copied.body().as_ptr(), dashboard.html().as_ptr());
    }
}
