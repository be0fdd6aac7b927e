//! The inner service most tests put behind the layer: it answers at once (a ready future, no
//! runtime needed, nothing allocated beyond the response) with a status, a fixed body and,
//! when given, the label of its `Prediction`, whatever the request's body type.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::task::{Context, Poll};

use http::{Request, Response, StatusCode};
use http_body_util::Full;
use inference_monitor::Prediction;
use tower::Service;

pub type Bytes = axum::body::Bytes;

/// A handler answering `status` with `body`, reporting `label` when given.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    pub status: StatusCode,
    pub label: Option<&'static str>,
    pub body: &'static [u8],
}

impl Answer {
    /// 200 with `body`, no label.
    pub const fn ok(body: &'static [u8]) -> Self {
        Self {
            status: StatusCode::OK,
            label: None,
            body,
        }
    }

    /// 200 `{"label":"approved"}`, reporting `approved`, as an inference handler would.
    pub const fn approved() -> Self {
        Self::ok(b"{\"label\":\"approved\"}").label(Some("approved"))
    }

    /// The same answer with `status`.
    pub const fn status(self, status: StatusCode) -> Self {
        Self { status, ..self }
    }

    /// The same answer reporting `label` (none for `None`).
    pub const fn label(self, label: Option<&'static str>) -> Self {
        Self { label, ..self }
    }
}

impl<B> Service<Request<B>> for Answer {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Full<Bytes>>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<B>) -> Self::Future {
        let mut response = Response::new(Full::new(Bytes::from_static(self.body)));
        *response.status_mut() = self.status;
        if let Some(label) = self.label {
            Prediction::new(label).insert_into(&mut response);
        }
        ready(Ok(response))
    }
}
