//! [`GrpcClassifier`]: the outcome of a gRPC call from its `grpc-status`, in the response
//! headers or in the trailers at the end of the body.

use http::{HeaderMap, StatusCode};

use super::ClassifyOutcome;
use crate::Outcome;

/// The header (or trailer) that carries a gRPC call's status code.
const GRPC_STATUS: &str = "grpc-status";

/// Classifies gRPC responses by their `grpc-status`, so a tonic (or any gRPC) service behind
/// [`InferenceMonitorLayer`](crate::InferenceMonitorLayer) is counted by how the call really
/// ended, not by its HTTP status (which is `200` for almost every gRPC answer).
///
/// ```
/// use inference_monitor::{InferenceMonitorLayer, classify::GrpcClassifier};
///
/// let layer = InferenceMonitorLayer::new("ranker").classify_with(GrpcClassifier);
/// # let _ = layer;
/// ```
///
/// - A *trailers-only* response (an error answered at once) has `grpc-status` in its headers:
///   the outcome is decided there.
/// - Otherwise the status comes in the trailers after the last message: the request is
///   recorded at the trailers frame, with the outcome they give.
/// - A response that is not gRPC (its `content-type` does not start with `application/grpc`,
///   such as a REST route on the same server) is classified by its HTTP status, like
///   [`StatusClassifier`](crate::classify::StatusClassifier) does. So is a gRPC-Web response
///   (`application/grpc-web…`) without `grpc-status` in its headers: gRPC-Web carries its
///   trailers inside the body. Put the layer inside the gRPC-Web translation (tonic-web's
///   layer), where the responses are plain gRPC, to classify them by their trailers.
/// - A gRPC response with an HTTP status other than `200` and no `grpc-status` is classified by
///   the code a gRPC client makes of that status (gRPC's HTTP-to-status mapping: `401` is
///   `UNAUTHENTICATED`, `404` is `UNIMPLEMENTED`, `503` is `UNAVAILABLE`, …).
/// - A gRPC response that ends without any `grpc-status`, or with one that is not a number, is
///   a protocol error the client sees as a failed call: `server_error`.
/// - A body dropped before its trailers (the client cancelled, or went away) is `cancelled`,
///   like any body dropped early.
///
/// The codes map to outcomes with [`GrpcClassifier::outcome_of`]; see `docs/metrics.md` for
/// the table and the reasons.
///
/// Trailers are read only at the end of the body, so use it with the default
/// [`LatencyEnd::EndOfBody`](crate::tower::LatencyEnd::EndOfBody): with
/// [`LatencyEnd::Headers`](crate::tower::LatencyEnd::Headers) a response that is not trailers-only is
/// recorded at its headers, before its status is known (as `server_error`).
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcClassifier;

impl GrpcClassifier {
    /// The outcome of gRPC status `code`: every one of the 17 codes deliberately, by whose
    /// failure it reports. A code a client can make the server answer at will (a wrong
    /// argument, a method that does not exist) is the client's: counted `server_error` it would
    /// let any client raise the error-ratio alert.
    ///
    /// | code | outcome | why |
    /// |---|---|---|
    /// | 0 `OK` | `success` | |
    /// | 1 `CANCELLED` | `cancelled` | the caller cancelled the call (tonic also answers it when the caller's `grpc-timeout` expires) |
    /// | 2 `UNKNOWN` | `server_error` | an error the server could not classify: a handler's error of no known kind |
    /// | 3 `INVALID_ARGUMENT` | `client_error` | the request is invalid whatever the server's state (HTTP 400) |
    /// | 4 `DEADLINE_EXCEEDED` | `server_error` | the service did not answer within the deadline: its latency, which an SLO must see |
    /// | 5 `NOT_FOUND` | `client_error` | the requested entity does not exist (HTTP 404) |
    /// | 6 `ALREADY_EXISTS` | `client_error` | the entity the client tried to create exists (HTTP 409) |
    /// | 7 `PERMISSION_DENIED` | `client_error` | the caller may not do this (HTTP 403) |
    /// | 8 `RESOURCE_EXHAUSTED` | `client_error` | a per-caller quota, or a message larger than the server takes (HTTP 429, 413); a server short of capacity answers `UNAVAILABLE` |
    /// | 9 `FAILED_PRECONDITION` | `client_error` | the system is not in the state the request needs, and the client must change it first (HTTP 400) |
    /// | 10 `ABORTED` | `client_error` | a conflict with a concurrent change (an aborted transaction, a failed sequencer check), for the client to retry (HTTP 409) |
    /// | 11 `OUT_OF_RANGE` | `client_error` | an argument past the valid range (HTTP 400); tonic also answers it for a message over its size limit |
    /// | 12 `UNIMPLEMENTED` | `client_error` | the method does not exist or is not supported here: any client can call any path (HTTP 404, 501) |
    /// | 13 `INTERNAL` | `server_error` | an invariant of the server broke (tonic also answers it for a call the client reset or malformed: see [`watch_request_body`](crate::InferenceMonitorLayer::watch_request_body)) |
    /// | 14 `UNAVAILABLE` | `server_error` | the service cannot answer now: down, overloaded, shutting down (HTTP 503) |
    /// | 15 `DATA_LOSS` | `server_error` | unrecoverable data loss or corruption |
    /// | 16 `UNAUTHENTICATED` | `client_error` | no valid credentials (HTTP 401) |
    /// | any other number | `server_error` | not a gRPC code: a protocol error, which the client sees as `UNKNOWN` |
    ///
    /// ```
    /// use inference_monitor::{Outcome, classify::GrpcClassifier};
    ///
    /// assert_eq!(GrpcClassifier::outcome_of(0), Outcome::Success);
    /// assert_eq!(GrpcClassifier::outcome_of(3), Outcome::ClientError);
    /// assert_eq!(GrpcClassifier::outcome_of(12), Outcome::ClientError);
    /// assert_eq!(GrpcClassifier::outcome_of(4), Outcome::ServerError);
    /// ```
    #[must_use]
    pub const fn outcome_of(code: u32) -> Outcome {
        match code {
            0 => Outcome::Success,
            1 => Outcome::Cancelled,
            3 | 5..=12 | 16 => Outcome::ClientError,
            _ => Outcome::ServerError,
        }
    }
}

/// The outcome given by the `grpc-status` in `map`, if there is one; a value that is not a
/// status code is a protocol error (`server_error`).
fn from_grpc_status(map: &HeaderMap) -> Option<Outcome> {
    let value = map.get(GRPC_STATUS)?;
    Some(
        std::str::from_utf8(value.as_bytes())
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
            .map_or(Outcome::ServerError, GrpcClassifier::outcome_of),
    )
}

/// Whether the request or response is gRPC over HTTP/2 (`application/grpc`,
/// `application/grpc+proto`, ...), whose status comes in HTTP trailers. gRPC-Web
/// (`application/grpc-web…`) sends its trailers inside the body instead, where they cannot be
/// read without decoding it.
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .map(http::HeaderValue::as_bytes)
        .is_some_and(|v| {
            v.starts_with(b"application/grpc") && !v.starts_with(b"application/grpc-web")
        })
}

/// The gRPC code a client derives from an HTTP status when the response has no `grpc-status`
/// (gRPC's "HTTP to gRPC status code mapping").
fn code_of_http_status(status: StatusCode) -> u32 {
    match status.as_u16() {
        400 => 13,             // INTERNAL
        401 => 16,             // UNAUTHENTICATED
        403 => 7,              // PERMISSION_DENIED
        404 => 12,             // UNIMPLEMENTED
        429 | 502..=504 => 14, // UNAVAILABLE
        _ => 2,                // UNKNOWN
    }
}

impl ClassifyOutcome for GrpcClassifier {
    fn classify_response(&self, status: StatusCode, headers: &HeaderMap) -> Outcome {
        if let Some(outcome) = from_grpc_status(headers) {
            return outcome;
        }
        if !is_grpc(headers) {
            return Outcome::from_status(status);
        }
        if status == StatusCode::OK {
            // Until the trailers say otherwise: a call that ends without a status failed.
            Outcome::ServerError
        } else {
            Self::outcome_of(code_of_http_status(status))
        }
    }

    const READS_TRAILERS: bool = true;

    fn classify_trailers(&self, trailers: &HeaderMap) -> Option<Outcome> {
        from_grpc_status(trailers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_static(k),
                    http::HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn every_code_has_its_outcome() {
        let expected = [
            (0, Outcome::Success),
            (1, Outcome::Cancelled),
            (2, Outcome::ServerError),
            (3, Outcome::ClientError),
            (4, Outcome::ServerError),
            (5, Outcome::ClientError),
            (6, Outcome::ClientError),
            (7, Outcome::ClientError),
            (8, Outcome::ClientError),
            (9, Outcome::ClientError),
            (10, Outcome::ClientError),
            (11, Outcome::ClientError),
            (12, Outcome::ClientError),
            (13, Outcome::ServerError),
            (14, Outcome::ServerError),
            (15, Outcome::ServerError),
            (16, Outcome::ClientError),
            (17, Outcome::ServerError),
            (u32::MAX, Outcome::ServerError),
        ];
        for (code, outcome) in expected {
            assert_eq!(GrpcClassifier::outcome_of(code), outcome, "code {code}");
        }
    }

    #[test]
    fn headers_trailers_and_http_statuses() {
        let c = GrpcClassifier;
        let grpc = [("content-type", "application/grpc")];
        // Trailers-only answers carry the status in the headers.
        let h = headers(&[("content-type", "application/grpc"), ("grpc-status", "5")]);
        assert_eq!(
            c.classify_response(StatusCode::OK, &h),
            Outcome::ClientError
        );
        // Status still to come in the trailers: failed until they say otherwise.
        let h = headers(&grpc);
        assert_eq!(
            c.classify_response(StatusCode::OK, &h),
            Outcome::ServerError
        );
        assert_eq!(
            c.classify_trailers(&headers(&[("grpc-status", "0")])),
            Some(Outcome::Success)
        );
        assert_eq!(
            c.classify_trailers(&headers(&[("grpc-message", "x")])),
            None
        );
        assert_eq!(
            c.classify_trailers(&headers(&[("grpc-status", "zero")])),
            Some(Outcome::ServerError)
        );
        assert_eq!(
            c.classify_trailers(&headers(&[("grpc-status", "-1")])),
            Some(Outcome::ServerError)
        );
        // HTTP errors without a gRPC status, as a gRPC client maps them.
        for (status, outcome) in [
            (StatusCode::BAD_REQUEST, Outcome::ServerError),
            (StatusCode::UNAUTHORIZED, Outcome::ClientError),
            (StatusCode::FORBIDDEN, Outcome::ClientError),
            (StatusCode::NOT_FOUND, Outcome::ClientError),
            (StatusCode::TOO_MANY_REQUESTS, Outcome::ServerError),
            (StatusCode::SERVICE_UNAVAILABLE, Outcome::ServerError),
            (StatusCode::IM_A_TEAPOT, Outcome::ServerError),
        ] {
            assert_eq!(c.classify_response(status, &h), outcome, "{status}");
        }
        // Not gRPC: by HTTP status.
        let json = headers(&[("content-type", "application/json")]);
        assert_eq!(c.classify_response(StatusCode::OK, &json), Outcome::Success);
        assert_eq!(
            c.classify_response(StatusCode::NOT_FOUND, &json),
            Outcome::ClientError
        );
        assert_eq!(
            c.classify_response(StatusCode::OK, &HeaderMap::new()),
            Outcome::Success
        );
        // gRPC-Web: its status is inside the body; only a status in the headers counts.
        let web = headers(&[("content-type", "application/grpc-web+proto")]);
        assert_eq!(c.classify_response(StatusCode::OK, &web), Outcome::Success);
        let web = headers(&[
            ("content-type", "application/grpc-web+proto"),
            ("grpc-status", "16"),
        ]);
        assert_eq!(
            c.classify_response(StatusCode::OK, &web),
            Outcome::ClientError
        );
    }
}
