//! A recorder that panics never takes the service down: requests are served, the panics are
//! counted in `recorder_panics()`, and a handler's own panic unwinding through the guard while the
//! recorder panics too does not abort the process (a second panic during unwinding would).
//!
//! One recorder per test (a local default recorder, so tests run in parallel); the panic
//! counter is process-wide, so each test checks how much it grew by its own requests, and the
//! tests that count run in one test function, in order.

use std::convert::Infallible;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use inference_monitor::metrics::{
    self, Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata,
    Recorder, SharedString, Unit,
};
use inference_monitor::{monitor, recorder_panics, InferenceMonitorLayer, Monitor, Prediction};
use tower::{service_fn, Layer, ServiceExt};

type Body = Full<&'static [u8]>;
type Answer = std::future::Ready<Result<Response<Body>, Infallible>>;

/// Every handle it gives out panics when used.
struct Panicking;

struct Boom;

impl CounterFn for Boom {
    fn increment(&self, _: u64) {
        panic!("counter exploded");
    }
    fn absolute(&self, _: u64) {
        panic!("counter exploded");
    }
}

impl GaugeFn for Boom {
    fn increment(&self, _: f64) {
        panic!("gauge exploded");
    }
    fn decrement(&self, _: f64) {
        panic!("gauge exploded");
    }
    fn set(&self, _: f64) {
        panic!("gauge exploded");
    }
}

impl HistogramFn for Boom {
    fn record(&self, _: f64) {
        panic!("histogram exploded");
    }
}

impl Recorder for Panicking {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(Boom))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(Arc::new(Boom))
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(Boom))
    }
}

fn handler(
    panics: bool,
) -> impl tower::Service<Request<()>, Response = Response<Body>, Error = Infallible, Future = Answer>
       + Clone {
    service_fn(move |_req: Request<()>| {
        assert!(!panics, "the handler failed");
        let mut response = Response::new(Full::new(&b"{\"label\":\"approved\"}"[..]));
        Prediction::new("approved").insert_into(&mut response);
        std::future::ready(Ok(response))
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

#[test]
fn a_panicking_recorder_is_contained_and_counted() {
    let recorder = Panicking;
    let _local = metrics::set_default_local_recorder(&recorder);
    let monitor = Monitor::builder().labels(["approved"]).build().unwrap();
    let rt = runtime();

    // Through the layer: every request is served with its body, whatever the recorder does.
    // Per request the recorder panics twice: at the gauge (start) and in the first update of
    // the record (the rest of that record is skipped).
    let before = recorder_panics();
    let service = InferenceMonitorLayer::for_model(monitor.model("loan")).layer(handler(false));
    for _ in 0..10 {
        let response = rt
            .block_on(service.clone().oneshot(Request::new(())))
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = rt.block_on(response.into_body().collect()).unwrap();
        assert_eq!(&body.to_bytes()[..], b"{\"label\":\"approved\"}");
    }
    assert_eq!(recorder_panics() - before, 20);

    // Through the macro, sync and async: the value comes back.
    let before = recorder_panics();
    let model = monitor.model("fn");
    assert_eq!(monitor!(model, 6 * 7, label = |_| "approved"), 42);
    assert_eq!(rt.block_on(monitor!(model, async { 7 * 6 })), 42);
    assert_eq!(recorder_panics() - before, 4);

    // A handler that panics while the recorder panics too: the handler's panic reaches the
    // caller (as it would without monitoring) and the process does not abort.
    let before = recorder_panics();
    let failing = InferenceMonitorLayer::for_model(monitor.model("loan")).layer(handler(true));
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(failing.oneshot(Request::new(())))
    }));
    let message = outcome.err().and_then(|p| p.downcast::<&str>().ok());
    assert_eq!(message.as_deref(), Some(&"the handler failed"));
    // The gauge at start, then the record of the guard dropped while unwinding.
    assert_eq!(recorder_panics() - before, 2);
}
