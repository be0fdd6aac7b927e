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
        let response = self.response_with(());
        let mut builder = HttpResponse::build(actix_web::http::StatusCode::OK);
        for (name, value) in response.headers() {
            // actix-web uses `http` 0.2: carry the headers over as strings.
            if let Ok(value) = value.to_str() {
                builder.insert_header((name.as_str(), value));
            }
        }
        // The page's shared bytes: no copy per response.
        builder.body(self.page)
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::MessageBody as _;
    use actix_web::Responder as _;

    use super::Dashboard;

    #[test]
    fn the_response_holds_the_pages_shared_bytes() {
        let dashboard = Dashboard::new();
        let request = actix_web::test::TestRequest::default().to_http_request();
        let response = dashboard.clone().respond_to(&request);
        assert_eq!(response.status(), actix_web::http::StatusCode::OK);
        for (name, value) in dashboard.response().headers() {
            assert_eq!(
                response.headers().get(name.as_str()).unwrap().as_bytes(),
                value.as_bytes(),
                "{name}"
            );
        }
        let Ok(body) = response.into_body().try_into_bytes() else {
            panic!("the body is not one piece of bytes")
        };
        assert_eq!(body, dashboard.html().as_bytes());
        assert_eq!(body.as_ptr(), dashboard.html().as_ptr());
    }
}
