//! The dashboard as a tower service.

use std::convert::Infallible;
use std::fmt;
use std::future::{ready, Ready};
use std::task::{Context, Poll};

use bytes::Bytes;
use tower_service::Service;

use super::Dashboard;

/// A tower service that answers every request with the [`Dashboard`] page. Made by
/// [`Dashboard::service`].
///
/// It answers any method and path: mount it at `/dashboard` (for axum, with `route_service`
/// or `get_service`). Its responses have a `String` body, a copy of the page each; with
/// [`with_body`](Self::with_body) they hold a handle to the one copy of the page instead.
///
/// ```
/// use inference_monitor::Dashboard;
/// use tower::ServiceExt;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let request = http::Request::get("/dashboard").body(()).unwrap();
/// let response = Dashboard::new().service().oneshot(request).await.unwrap();
/// assert_eq!(response.status(), 200);
/// assert!(response.body().starts_with("<!doctype html>"));
///
/// // No copy of the page per request: the body is a handle to the page's bytes.
/// let service = Dashboard::new().service().with_body::<bytes::Bytes>();
/// let request = http::Request::get("/dashboard").body(()).unwrap();
/// let response = service.oneshot(request).await.unwrap();
/// assert!(response.body().starts_with(b"<!doctype html>"));
/// # });
/// ```
pub struct DashboardService<B = String> {
    dashboard: Dashboard,
    /// The body of each response, made from the dashboard.
    body: fn(&Dashboard) -> B,
}

impl DashboardService {
    pub(super) fn new(dashboard: Dashboard) -> Self {
        Self {
            dashboard,
            body: |dashboard| dashboard.html.to_string(),
        }
    }
}

impl<B> DashboardService<B> {
    /// Answers with bodies of type `T` made from the page's shared bytes: each response holds a
    /// handle to the one copy of the page, none copies it. `T` is any body that converts from
    /// [`Bytes`]: `axum::body::Body`, `http_body_util::Full<Bytes>`, or `Bytes` itself.
    ///
    /// Defaults to `String`, a copy of the page per response.
    pub fn with_body<T: From<Bytes>>(self) -> DashboardService<T> {
        DashboardService {
            dashboard: self.dashboard,
            body: |dashboard| T::from(dashboard.page.clone()),
        }
    }
}

impl<B> Clone for DashboardService<B> {
    fn clone(&self) -> Self {
        Self {
            dashboard: self.dashboard.clone(),
            body: self.body,
        }
    }
}

impl<B> fmt::Debug for DashboardService<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DashboardService")
            .field("dashboard", &self.dashboard)
            .finish_non_exhaustive()
    }
}

impl<R, B> Service<http::Request<R>> for DashboardService<B> {
    type Response = http::Response<B>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: http::Request<R>) -> Self::Future {
        ready(Ok(self
            .dashboard
            .response_with((self.body)(&self.dashboard))))
    }
}
