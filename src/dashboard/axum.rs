//! axum glue (features `dashboard` and `axum`): a [`Dashboard`] is a response, so a handler
//! can return it.
//!
//! ```
//! use axum::{routing::get, Router};
//! use inference_monitor::Dashboard;
//!
//! let dashboard = Dashboard::new();
//! let app: Router = Router::new().route("/dashboard", get(move || std::future::ready(dashboard.clone())));
//! ```

use super::Dashboard;

impl axum_core::response::IntoResponse for Dashboard {
    fn into_response(self) -> axum_core::response::Response {
        // The page's shared bytes: no copy per response.
        self.response_with(axum_core::body::Body::from(self.page.clone()))
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use http_body::Body as _;

    use super::Dashboard;

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
