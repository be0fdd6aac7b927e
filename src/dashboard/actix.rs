//! actix-web glue (features `dashboard` and `actix`): a [`Dashboard`] is a `Responder`.
//!
//! ```
//! use actix_web::{web, App};
//! use inference_monitor::Dashboard;
//!
//! let dashboard = Dashboard::new();
//! let app = App::new().route(
//!     "/dashboard",
//!     web::get().to(move || std::future::ready(dashboard.clone())),
//! );
//! # let _ = app;
//! ```

use actix_web::{HttpRequest, HttpResponse, Responder};

use super::Dashboard;

impl Responder for Dashboard {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _request: &HttpRequest) -> HttpResponse {
        let response = self.response();
        let mut builder = HttpResponse::build(actix_web::http::StatusCode::OK);
        for (name, value) in response.headers() {
            // actix-web uses `http` 0.2: carry the headers over as strings.
            if let Ok(value) = value.to_str() {
                builder.insert_header((name.as_str(), value));
            }
        }
        builder.body(response.into_body())
    }
}
