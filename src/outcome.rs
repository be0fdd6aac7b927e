//! How a finished request is classified: [`Outcome`] and the classifiers.

use http::{HeaderMap, StatusCode};

/// How a request ended. It becomes the `outcome` label.
///
/// ```
/// use inference_monitor::Outcome;
///
/// assert_eq!(Outcome::ClientError.as_str(), "client_error");
/// assert_eq!(Outcome::from_status(http::StatusCode::SERVICE_UNAVAILABLE), Outcome::ServerError);
/// let r: Result<u8, ()> = Err(());
/// assert_eq!(Outcome::of_result(&r), Outcome::ServerError);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The request was answered (1xx, 2xx, 3xx; `Ok` for a model call).
    Success,
    /// The caller sent something invalid (4xx).
    ClientError,
    /// The service or model failed (5xx, an `Err`, a panic).
    ServerError,
    /// The caller went away first: the future or the response body was dropped before its end.
    Cancelled,
}

impl Outcome {
    /// Every outcome, in label order. Their series are created at zero when a model is monitored.
    pub const ALL: [Outcome; 4] = [
        Outcome::Success,
        Outcome::ClientError,
        Outcome::ServerError,
        Outcome::Cancelled,
    ];

    /// The label value: `success`, `client_error`, `server_error` or `cancelled`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// 4xx is a client error, 5xx a server error, everything else a success.
    #[must_use]
    pub fn from_status(status: StatusCode) -> Self {
        if status.is_client_error() {
            Outcome::ClientError
        } else if status.is_server_error() {
            Outcome::ServerError
        } else {
            Outcome::Success
        }
    }

    /// `Ok` is a success, `Err` a server error.
    #[must_use]
    pub fn of_result<T, E>(result: &Result<T, E>) -> Self {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::ServerError,
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
pub trait ClassifyResponse {
    /// The outcome of a response with this status and these headers.
    fn classify_response(&self, status: StatusCode, headers: &HeaderMap) -> Outcome;

    /// The outcome when the inner service returns an error instead of a response.
    ///
    /// Defaults to [`Outcome::ServerError`].
    fn classify_error(&self) -> Outcome {
        Outcome::ServerError
    }

    /// Whether the outcome can still change at the end of the body, from its trailers (gRPC
    /// sends its status there; see [`GrpcClassifier`](crate::GrpcClassifier)). When `true`,
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

impl ClassifyResponse for StatusClassifier {
    fn classify_response(&self, status: StatusCode, _headers: &HeaderMap) -> Outcome {
        Outcome::from_status(status)
    }
}

impl<F> ClassifyResponse for F
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

    #[test]
    fn labels_and_indices_line_up() {
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(o.index(), i);
        }
        let names: Vec<_> = Outcome::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            ["success", "client_error", "server_error", "cancelled"]
        );
    }
}
