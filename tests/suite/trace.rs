//! The `tracing` span of each monitored request (feature `tracing`): its fields, filled as they
//! become known, read back by a subscriber that records every span's fields.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use inference_monitor::testing::TestRecorder;
use inference_monitor::{InferenceMonitorLayer, Prediction};
use tower::{service_fn, Layer, ServiceExt};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// One span's name, fields, and whether it closed.
type Captured = (String, HashMap<String, String>, bool);

/// Every span the subscriber saw.
#[derive(Default, Clone)]
struct Spans {
    inner: Arc<Mutex<Vec<Captured>>>,
    next: Arc<AtomicU64>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
}

impl Subscriber for Spans {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let mut fields = HashMap::new();
        attributes.record(&mut Fields(&mut fields));
        let mut spans = self.inner.lock().unwrap();
        spans.push((attributes.metadata().name().to_owned(), fields, false));
        self.next.fetch_add(1, Ordering::Relaxed);
        Id::from_u64(spans.len() as u64)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut spans = self.inner.lock().unwrap();
        let index = usize::try_from(span.into_u64()).unwrap() - 1;
        values.record(&mut Fields(&mut spans[index].1));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
    fn try_close(&self, span: Id) -> bool {
        let mut spans = self.inner.lock().unwrap();
        let index = usize::try_from(span.into_u64()).unwrap() - 1;
        spans[index].2 = true;
        true
    }
}

impl Spans {
    /// The fields of the spans named `inference`, and whether each closed.
    fn inferences(&self) -> Vec<(HashMap<String, String>, bool)> {
        self.inner
            .lock()
            .unwrap()
            .iter()
            .filter(|(name, _, _)| name == "inference")
            .map(|(_, fields, closed)| (fields.clone(), *closed))
            .collect()
    }
}

async fn approved(_: Request<()>) -> Result<Response<Full<bytes::Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(bytes::Bytes::from_static(b"{\"ok\":1}")));
    Prediction::new("approved").insert_into(&mut response);
    Ok(response)
}

#[test]
fn a_request_has_one_span_with_every_field_filled_and_the_callers_trace() {
    let spans = Spans::default();
    let recorder = TestRecorder::new();
    let _local = recorder.local();
    tracing::subscriber::with_default(spans.clone(), || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let service = InferenceMonitorLayer::new("loan").layer(service_fn(approved));
            let request = Request::post("/predict")
                .header(
                    "traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                )
                .body(())
                .unwrap();
            let response = service.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            // Open until the end of the body.
            let open = spans.inferences();
            assert_eq!(open.len(), 1);
            assert!(!open[0].1, "the span closed before the body ended");
            assert_eq!(open[0].0.get("inference.outcome"), None);
            drop(response.into_body().collect().await.unwrap());

            // A malformed traceparent is ignored: no trace id, the request is served.
            let request = Request::get("/predict")
                .header("traceparent", "00-not-a-trace-01")
                .body(())
                .unwrap();
            let response = service.clone().oneshot(request).await.unwrap();
            drop(response.into_body().collect().await.unwrap());

            // A request dropped before its answer closes its span as cancelled.
            let pending = service_fn(|_: Request<()>| {
                std::future::pending::<Result<Response<Full<bytes::Bytes>>, Infallible>>()
            });
            let cut = InferenceMonitorLayer::new("loan").layer(pending);
            let future = cut.oneshot(Request::get("/predict").body(()).unwrap());
            let _ = tokio::time::timeout(std::time::Duration::from_millis(1), future).await;
        });
    });
    let spans = spans.inferences();
    assert_eq!(spans.len(), 3);
    let (first, closed) = &spans[0];
    assert!(*closed);
    for (field, value) in [
        ("gen_ai.request.model", "loan"),
        ("http.request.method", "POST"),
        ("url.path", "/predict"),
        ("http.response.status_code", "200"),
        ("inference.label", "approved"),
        ("inference.outcome", "success"),
        ("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("parent_span_id", "00f067aa0ba902b7"),
    ] {
        assert_eq!(first.get(field).map(String::as_str), Some(value), "{field}");
    }
    assert_eq!(first.get("error.type"), None, "a success has no error type");
    let (second, closed) = &spans[1];
    assert!(*closed);
    assert_eq!(
        second.get("trace_id"),
        None,
        "a malformed traceparent is ignored"
    );
    assert_eq!(
        second.get("inference.outcome").map(String::as_str),
        Some("success")
    );
    let (third, closed) = &spans[2];
    assert!(*closed);
    assert_eq!(
        third.get("inference.outcome").map(String::as_str),
        Some("cancelled")
    );
    assert_eq!(
        third.get("error.type").map(String::as_str),
        Some("cancelled")
    );
    assert_eq!(third.get("http.response.status_code"), None);
    // The metrics are the same as without a span.
    assert_eq!(
        recorder.counter(
            "inference_requests_total",
            &[("model", "loan"), ("outcome", "success")]
        ),
        Some(2)
    );
    assert_eq!(
        recorder.counter(
            "inference_requests_total",
            &[("model", "loan"), ("outcome", "cancelled")]
        ),
        Some(1)
    );
}
