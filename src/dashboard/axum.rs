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
        self.response().map(axum_core::body::Body::from)
    }
}
