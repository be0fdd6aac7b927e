//! The dashboard as a tower service.

use std::convert::Infallible;
use std::fmt;
use std::future::{ready, Ready};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tower_service::Service;

use super::Dashboard;

/// A tower service that answers every request with the [`Dashboard`] page. Made by
/// [`Dashboard::service`].
///
/// It answers any method and path: mount it at `/dashboard` (for axum, with `route_service`
/// or `get_service`). Its responses' body is a [`PageBody`]: a handle to the one copy of the
/// page (~85 KB), never a copy of it. [`with_body`](Self::with_body) picks another body type
/// made from the same bytes (`axum::body::Body`, `http_body_util::Full<Bytes>`).
///
/// ```
/// use inference_monitor::Dashboard;
/// use tower::ServiceExt;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let request = http::Request::get("/dashboard").body(()).unwrap();
/// let dashboard = Dashboard::new();
/// let response = dashboard.service().oneshot(request).await.unwrap();
/// assert_eq!(response.status(), 200);
/// // No copy of the page per request: the body is a handle to the page's bytes.
/// assert_eq!(response.body().as_bytes().as_ptr(), dashboard.html().as_ptr());
///
/// let service = Dashboard::new().service().with_body::<bytes::Bytes>();
/// let request = http::Request::get("/dashboard").body(()).unwrap();
/// let response = service.oneshot(request).await.unwrap();
/// assert!(response.body().starts_with(b"<!doctype html>"));
/// # });
/// ```
pub struct DashboardService<B = PageBody> {
    dashboard: Dashboard,
    /// The body of each response, made from the dashboard.
    body: fn(&Dashboard) -> B,
}

impl DashboardService {
    pub(super) fn new(dashboard: Dashboard) -> Self {
        Self {
            dashboard,
            body: |dashboard| PageBody(Some(dashboard.page.clone())),
        }
    }
}

impl<B> DashboardService<B> {
    /// Answers with bodies of type `T` made from the page's shared bytes: each response holds a
    /// handle to the one copy of the page, none copies it. `T` is any body that converts from
    /// [`Bytes`]: `axum::body::Body`, `http_body_util::Full<Bytes>`, or `Bytes` itself.
    ///
    /// Defaults to [`PageBody`].
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

/// The dashboard page as a response body: one data frame holding the page's shared bytes (a
/// clone of a [`Bytes`] handle per response, not a copy of the page).
#[derive(Debug, Clone)]
pub struct PageBody(Option<Bytes>);

impl PageBody {
    /// The bytes not yet sent: the whole page until the body is read.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_deref().unwrap_or_default()
    }
}

impl From<Bytes> for PageBody {
    fn from(page: Bytes) -> Self {
        Self(Some(page))
    }
}

impl Body for PageBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.get_mut().0.take().map(|page| Ok(Frame::data(page))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.as_bytes().len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::task::Waker;

    use super::*;
    use crate::Dashboard;

    #[test]
    fn the_default_body_is_the_pages_bytes_in_one_frame() {
        let dashboard = Dashboard::new();
        let mut service = dashboard.service();
        let response =
            match Service::<http::Request<()>>::call(&mut service, http::Request::new(()))
                .into_inner()
            {
                Ok(response) => response,
                Err(never) => match never {},
            };
        let mut body = pin!(response.into_body());
        assert_eq!(
            body.size_hint().exact(),
            Some(dashboard.html().len() as u64)
        );
        let Poll::Ready(Some(Ok(frame))) = body
            .as_mut()
            .poll_frame(&mut Context::from_waker(Waker::noop()))
        else {
            panic!("no frame")
        };
        let data = frame.into_data().unwrap();
        assert_eq!(
            data.as_ptr(),
            dashboard.html().as_ptr(),
            "a copy of the page"
        );
        assert_eq!(data.len(), dashboard.html().len());
        assert!(body.is_end_stream());
        assert!(matches!(
            body.as_mut()
                .poll_frame(&mut Context::from_waker(Waker::noop())),
            Poll::Ready(None)
        ));
    }
}
