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
///
/// Boxed, and `None` while no subscriber is interested: a `tracing::Span` is five words, and
/// carried in the response future and body it cost the layer +57 to +70 ns per request
/// (measured: moves and drop glue, with no subscriber at all); one pointer costs nothing
/// measurable. The box is made only for a span some subscriber records.
#[derive(Debug, Default)]
pub(crate) struct RequestSpan {
    #[cfg(feature = "tracing")]
    span: Option<Box<Live>>,
}

/// An enabled span and whether its outcome was recorded (else it closes as `cancelled`).
#[cfg(feature = "tracing")]
#[derive(Debug)]
struct Live {
    span: tracing::Span,
    ended: bool,
}

impl RequestSpan {
    /// The span of `request`, for model `model`.
    #[inline]
    pub(crate) fn start<B>(request: &http::Request<B>, model: &str) -> Self {
        #[cfg(feature = "tracing")]
        {
            use tracing::field::Empty;
            // No subscriber was ever set (globally or for a scope): no span can be enabled.
            if !tracing::dispatcher::has_been_set() {
                return Self::default();
            }
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
            if span.is_disabled() {
                return Self::default();
            }
            {
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
            Self {
                span: Some(Box::new(Live { span, ended: false })),
            }
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
            let _entered = self.span.as_ref().map(|live| live.span.enter());
            f()
        }
        #[cfg(not(feature = "tracing"))]
        f()
    }

    /// The response's status and predicted label, when the headers arrive.
    #[inline]
    pub(crate) fn response(&self, status: http::StatusCode, label: Option<&str>) {
        #[cfg(feature = "tracing")]
        if let Some(live) = &self.span {
            live.span
                .record("http.response.status_code", status.as_u16());
            if let Some(label) = label {
                live.span.record("inference.label", label);
            }
        }
        #[cfg(not(feature = "tracing"))]
        let _ = (status, label);
    }

    /// The outcome the request was recorded with.
    #[inline]
    pub(crate) fn end(&mut self, outcome: Outcome) {
        #[cfg(feature = "tracing")]
        if let Some(live) = &mut self.span {
            live.end(outcome);
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
impl Live {
    fn end(&mut self, outcome: Outcome) {
        self.ended = true;
        self.span.record("inference.outcome", outcome.as_str());
        if outcome != Outcome::Success {
            self.span.record("error.type", outcome.as_str());
        }
    }
}

#[cfg(feature = "tracing")]
impl Drop for Live {
    fn drop(&mut self) {
        if !self.ended {
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
