//! Classifiers: what decides the [`Outcome`] of an HTTP response. The default,
//! [`StatusClassifier`], goes by the status class; [`GrpcClassifier`] reads gRPC's
//! `grpc-status`; any closure of the status and headers is one too.

mod grpc;

use http::{HeaderMap, StatusCode};

use crate::Outcome;

pub(crate) use grpc::is_grpc;
pub use grpc::GrpcClassifier;

/// Decides the [`Outcome`] of an HTTP response.
///
/// The default, [`StatusClassifier`], maps 4xx to `client_error` and 5xx to `server_error`.
/// Any `Fn(StatusCode, &HeaderMap) -> Outcome` closure is a classifier too:
///
/// ```
/// use http::StatusCode;
/// use inference_monitor::{InferenceMonitorLayer, Outcome};
///
/// // A 429 from our own rate limiter is not the client's fault: count it as a server error.
/// let layer = InferenceMonitorLayer::new("loan").classify_with(|status: StatusCode, _: &http::HeaderMap| {
///     if status == StatusCode::TOO_MANY_REQUESTS {
///         Outcome::ServerError
///     } else {
///         Outcome::from_status(status)
///     }
/// });
/// # let _ = layer;
/// ```
pub trait ClassifyOutcome {
    /// The outcome of a response with this status and these headers.
    fn classify_response(&self, status: StatusCode, headers: &HeaderMap) -> Outcome;

    /// The outcome when the inner service returns an error instead of a response.
    ///
    /// Defaults to [`Outcome::ServerError`].
    fn classify_error(&self) -> Outcome {
        Outcome::ServerError
    }

    /// Whether the outcome can still change at the end of the body, from its trailers (gRPC
    /// sends its status there; see [`GrpcClassifier`]). When `true`,
    /// the response body hands a trailers frame to
    /// [`classify_trailers`](Self::classify_trailers) and records the request at that frame.
    ///
    /// Defaults to `false`: the body never looks at trailers, and the check is compiled away.
    const READS_TRAILERS: bool = false;

    /// The outcome the trailers at the end of the body decide, or `None` to keep the outcome
    /// [`classify_response`](Self::classify_response) gave. Called only when
    /// [`READS_TRAILERS`](Self::READS_TRAILERS) is `true`.
    ///
    /// Defaults to `None`.
    fn classify_trailers(&self, _trailers: &HeaderMap) -> Option<Outcome> {
        None
    }
}

/// The default classifier: by HTTP status class (see [`Outcome::from_status`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusClassifier;

impl ClassifyOutcome for StatusClassifier {
    fn classify_response(&self, status: StatusCode, _headers: &HeaderMap) -> Outcome {
        Outcome::from_status(status)
    }
}

impl<F> ClassifyOutcome for F
where
    F: Fn(StatusCode, &HeaderMap) -> Outcome,
{
    fn classify_response(&self, status: StatusCode, headers: &HeaderMap) -> Outcome {
        self(status, headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        let c = StatusClassifier;
        let h = HeaderMap::new();
        assert_eq!(c.classify_response(StatusCode::OK, &h), Outcome::Success);
        assert_eq!(
            c.classify_response(StatusCode::SEE_OTHER, &h),
            Outcome::Success
        );
        assert_eq!(
            c.classify_response(StatusCode::UNPROCESSABLE_ENTITY, &h),
            Outcome::ClientError
        );
        assert_eq!(
            c.classify_response(StatusCode::PAYLOAD_TOO_LARGE, &h),
            Outcome::ClientError
        );
        assert_eq!(
            c.classify_response(StatusCode::INTERNAL_SERVER_ERROR, &h),
            Outcome::ServerError
        );
        assert_eq!(c.classify_error(), Outcome::ServerError);
    }
}
