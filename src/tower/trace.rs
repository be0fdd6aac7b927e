//! [`RequestSpan`]: one `tracing` span per monitored request (feature `tracing`), from the
//! layer's call to the end of the response body, with its fields filled as they become known:
//! the model, the method and path, the status, the predicted label, the outcome, and the
//! caller's trace id from a valid W3C `traceparent`.
//!
//! Field names follow the OpenTelemetry semantic conventions where one exists
//! (`http.request.method`, `url.path`, `http.response.status_code`, `error.type`,
//! `gen_ai.request.model`); the outcome is `inference.outcome`, the label `inference.label`.
//! With no subscriber interested in the span (or without the feature) it is `Span::none()`:
//! nothing is formatted or allocated, and every method below is a check of that.

use crate::Outcome;

/// The span of one request; a zero-sized stand-in without the `tracing` feature.
#[derive(Debug)]
pub(crate) struct RequestSpan {
    #[cfg(feature = "tracing")]
    span: tracing::Span,
    /// Whether the outcome was recorded (else the span closes as `cancelled`).
    #[cfg(feature = "tracing")]
    ended: bool,
}

impl Default for RequestSpan {
    /// A disabled span: what an unmonitored request, or a span handed on, leaves behind.
    #[inline]
    fn default() -> Self {
        Self {
            #[cfg(feature = "tracing")]
            span: tracing::Span::none(),
            #[cfg(feature = "tracing")]
            ended: false,
        }
    }
}

impl RequestSpan {
    /// The span of `request`, for model `model`.
    #[inline]
    pub(crate) fn start<B>(request: &http::Request<B>, model: &str) -> Self {
        #[cfg(feature = "tracing")]
        {
            use tracing::field::Empty;
            let span = tracing::info_span!(
                "inference",
                gen_ai.request.model = model,
                http.request.method = request.method().as_str(),
                url.path = request.uri().path(),
                http.response.status_code = Empty,
                inference.label = Empty,
                inference.outcome = Empty,
                error.type = Empty,
                trace_id = Empty,
                parent_span_id = Empty,
            );
            if !span.is_disabled() {
                let parent = request
                    .headers()
                    .get("traceparent")
                    .and_then(|v| crate::correlation::TraceParent::parse(v.as_bytes()));
                if let Some(parent) = parent {
                    let trace = parent.trace_id_hex();
                    let mut span_id = [0u8; 16];
                    crate::correlation::hex_into(&parent.parent_id(), &mut span_id);
                    // Hexadecimal digits: always UTF-8.
                    span.record("trace_id", std::str::from_utf8(&trace).unwrap_or(""));
                    span.record(
                        "parent_span_id",
                        std::str::from_utf8(&span_id).unwrap_or(""),
                    );
                }
            }
            Self { span, ended: false }
        }
        #[cfg(not(feature = "tracing"))]
        {
            let _ = (request, model);
            Self {}
        }
    }

    /// Runs `f` inside the span (the inner service's call, a poll of its future or body).
    #[inline]
    pub(crate) fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        #[cfg(feature = "tracing")]
        {
            let _entered = self.span.enter();
            f()
        }
        #[cfg(not(feature = "tracing"))]
        f()
    }

    /// The response's status and predicted label, when the headers arrive.
    #[inline]
    pub(crate) fn response(&self, status: http::StatusCode, label: Option<&str>) {
        #[cfg(feature = "tracing")]
        if !self.span.is_disabled() {
            self.span
                .record("http.response.status_code", status.as_u16());
            if let Some(label) = label {
                self.span.record("inference.label", label);
            }
        }
        #[cfg(not(feature = "tracing"))]
        let _ = (status, label);
    }

    /// The outcome the request was recorded with.
    #[inline]
    pub(crate) fn end(&mut self, outcome: Outcome) {
        #[cfg(feature = "tracing")]
        {
            self.ended = true;
            if !self.span.is_disabled() {
                self.span.record("inference.outcome", outcome.as_str());
                if outcome != Outcome::Success {
                    self.span.record("error.type", outcome.as_str());
                }
            }
        }
        #[cfg(not(feature = "tracing"))]
        let _ = outcome;
    }

    /// Hands the span on (from the future to the body), leaving a disabled one behind.
    #[inline]
    pub(crate) fn take(&mut self) -> Self {
        std::mem::take(self)
    }
}

#[cfg(feature = "tracing")]
impl Drop for RequestSpan {
    fn drop(&mut self) {
        if !self.ended && !self.span.is_disabled() {
            // Dropped before its end: as the request's guard records it.
            let outcome = if std::thread::panicking() {
                Outcome::ServerError
            } else {
                Outcome::Cancelled
            };
            self.end(outcome);
        }
    }
}
