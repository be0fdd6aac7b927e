//! The dashboard as a tower service.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::task::{Context, Poll};

use tower_service::Service;

use super::Dashboard;

/// A tower service that answers every request with the [`Dashboard`] page. Made by
/// [`Dashboard::service`].
///
/// It answers any method and path: mount it at `/dashboard` (for axum, with `route_service`
/// or `get_service`).
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
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct DashboardService {
    dashboard: Dashboard,
}

impl DashboardService {
    pub(super) fn new(dashboard: Dashboard) -> Self {
        Self { dashboard }
    }
}

impl<B> Service<http::Request<B>> for DashboardService {
    type Response = http::Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: http::Request<B>) -> Self::Future {
        ready(Ok(self.dashboard.response()))
    }
}
