//! The direct path between the crate's models and the crate's own Prometheus recorder: the
//! in-progress gauge read at render from the requests holding the model, the latency recorded
//! in whole nanoseconds. Every figure is checked on the rendered page, and against the
//! written path a wrapped recorder gets.

use crate::common;

use std::convert::Infallible;
use std::future::ready;
use std::sync::Arc;
use std::time::Duration;

use common::by_hand::{call, drain, noop_waker};
use common::Exposition;
use http::{Request, Response};
use http_body_util::Full;
use inference_monitor::testing::TestRecorder;
use inference_monitor::{
    exporter::prometheus::PrometheusRecorder, InferenceMonitorLayer, MetricsHandle, ModelMonitor,
    Monitor, Outcome, Prediction,
};
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use tower::{service_fn, Layer};

type Body = Full<axum::body::Bytes>;

fn recorder() -> (PrometheusRecorder, MetricsHandle) {
    inference_monitor::prometheus().build().unwrap()
}

fn page(metrics: &MetricsHandle) -> Exposition {
    Exposition::parse(&metrics.render())
}

fn in_progress(metrics: &MetricsHandle, model: &str) -> Option<f64> {
    page(metrics).value("inference_inprogress_requests", &[("model", model)])
}

fn requests(metrics: &MetricsHandle, model: &str, outcome: &str) -> Option<f64> {
    page(metrics).value(
        "inference_requests_total",
        &[("model", model), ("outcome", outcome)],
    )
}

fn directly(model: &ModelMonitor) -> bool {
    let debug = format!("{model:?}");
    assert!(debug.contains("records_directly"), "{debug}");
    debug.contains("records_directly: true")
}

#[test]
fn in_progress_is_the_requests_holding_the_model_at_render() {
    let (recorder, metrics) = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let loan = Monitor::new().model("loan");
    assert!(directly(&loan));
    assert_eq!(in_progress(&metrics, "loan"), Some(0.0));

    let a = loan.start();
    let b = loan.start();
    let c = loan.start();
    // Handles that are not requests do not count.
    let signals = loan.signals();
    let from_request = a.signals();
    let clone = loan.clone();
    assert_eq!(in_progress(&metrics, "loan"), Some(3.0));

    drop(a); // cancelled
    assert_eq!(in_progress(&metrics, "loan"), Some(2.0));
    b.finish(Outcome::Success);
    assert_eq!(in_progress(&metrics, "loan"), Some(1.0));
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _request = loan.start();
        assert_eq!(in_progress(&metrics, "loan"), Some(2.0));
        panic!("the model failed");
    }));
    assert!(panicked.is_err());
    assert_eq!(in_progress(&metrics, "loan"), Some(1.0));
    c.finish(Outcome::ClientError);
    assert_eq!(in_progress(&metrics, "loan"), Some(0.0));
    // Still held, and still not counted.
    assert_eq!(
        [
            signals.model_name(),
            from_request.model_name(),
            clone.name()
        ],
        ["loan"; 3]
    );

    for (outcome, n) in [
        ("success", 1.0),
        ("client_error", 1.0),
        ("server_error", 1.0),
        ("cancelled", 1.0),
    ] {
        assert_eq!(requests(&metrics, "loan", outcome), Some(n), "{outcome}");
    }
}

#[test]
fn requests_moved_between_threads_are_counted_once() {
    let (recorder, metrics) = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let loan = Monitor::new().model("loan");
    // Started on four threads (four stripes), then finished on this one.
    let held: Vec<_> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| s.spawn(|| (0..25).map(|_| loan.start()).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert_eq!(in_progress(&metrics, "loan"), Some(100.0));
    // Started here, finished on other threads.
    let here: Vec<_> = (0..10).map(|_| loan.start()).collect();
    assert_eq!(in_progress(&metrics, "loan"), Some(110.0));
    std::thread::scope(|s| {
        s.spawn(move || here.into_iter().for_each(|r| r.finish(Outcome::Success)));
    });
    assert_eq!(in_progress(&metrics, "loan"), Some(100.0));
    for request in held {
        request.finish(Outcome::Success);
    }
    assert_eq!(in_progress(&metrics, "loan"), Some(0.0));
    assert_eq!(requests(&metrics, "loan", "success"), Some(110.0));
}

fn handler() -> impl tower::Service<
    Request<()>,
    Response = Response<Body>,
    Error = Infallible,
    Future = std::future::Ready<Result<Response<Body>, Infallible>>,
> + Clone {
    service_fn(|_request: Request<()>| {
        // Slower than the 25 ms bucket, whatever the machine.
        std::thread::sleep(Duration::from_millis(30));
        let mut response = Response::new(Full::new(axum::body::Bytes::from_static(b"{}")));
        Prediction::new("approved").insert_into(&mut response);
        ready(Ok(response))
    })
}

#[test]
fn the_layer_holds_the_model_until_the_body_ends_and_times_in_nanoseconds() {
    let (recorder, metrics) = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let monitor = Monitor::new();
    let mut service = InferenceMonitorLayer::for_model(monitor.model("loan")).layer(handler());
    let waker = noop_waker();

    let unread = call(&mut service, Request::new(()), &waker);
    assert_eq!(in_progress(&metrics, "loan"), Some(1.0));
    let read = call(&mut service, Request::new(()), &waker);
    assert_eq!(in_progress(&metrics, "loan"), Some(2.0));
    drain(read.into_body(), &waker);
    assert_eq!(in_progress(&metrics, "loan"), Some(1.0));
    drop(unread); // the client went away before the body
    assert_eq!(in_progress(&metrics, "loan"), Some(0.0));

    let m = page(&metrics);
    let success = [("model", "loan"), ("outcome", "success")];
    assert_eq!(m.value("inference_requests_total", &success), Some(1.0));
    let cancelled = [("model", "loan"), ("outcome", "cancelled")];
    assert_eq!(m.value("inference_requests_total", &cancelled), Some(1.0));
    let bucket = |le: &str| {
        m.value(
            "inference_request_latency_seconds_bucket",
            &[("model", "loan"), ("outcome", "success"), ("le", le)],
        )
    };
    // 30 ms of handler: nothing at or below 25 ms, the sample at or below 5 s.
    assert_eq!(bucket("0.025"), Some(0.0));
    assert_eq!(bucket("5"), Some(1.0));
    assert_eq!(bucket("+Inf"), Some(1.0));
    let sum = m
        .value("inference_request_latency_seconds_sum", &success)
        .unwrap();
    assert!((0.03..5.0).contains(&sum), "{sum}");
}

/// A recorder sending every handle to two recorders, as metrics-util's fan-out does.
struct Fanout<A, B>(A, B);

struct Both<T>(T, T);

impl CounterFn for Both<Counter> {
    fn increment(&self, value: u64) {
        self.0.increment(value);
        self.1.increment(value);
    }
    fn absolute(&self, value: u64) {
        self.0.absolute(value);
        self.1.absolute(value);
    }
}

impl GaugeFn for Both<Gauge> {
    fn increment(&self, value: f64) {
        self.0.increment(value);
        self.1.increment(value);
    }
    fn decrement(&self, value: f64) {
        self.0.decrement(value);
        self.1.decrement(value);
    }
    fn set(&self, value: f64) {
        self.0.set(value);
        self.1.set(value);
    }
}

impl HistogramFn for Both<Histogram> {
    fn record(&self, value: f64) {
        self.0.record(value);
        self.1.record(value);
    }
}

impl<A: Recorder, B: Recorder> Recorder for Fanout<A, B> {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, help: SharedString) {
        self.0.describe_counter(key.clone(), unit, help.clone());
        self.1.describe_counter(key, unit, help);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, help: SharedString) {
        self.0.describe_gauge(key.clone(), unit, help.clone());
        self.1.describe_gauge(key, unit, help);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, help: SharedString) {
        self.0.describe_histogram(key.clone(), unit, help.clone());
        self.1.describe_histogram(key, unit, help);
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        let both = Both(
            self.0.register_counter(key, metadata),
            self.1.register_counter(key, metadata),
        );
        Counter::from_arc(Arc::new(both))
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        let both = Both(
            self.0.register_gauge(key, metadata),
            self.1.register_gauge(key, metadata),
        );
        Gauge::from_arc(Arc::new(both))
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        let both = Both(
            self.0.register_histogram(key, metadata),
            self.1.register_histogram(key, metadata),
        );
        Histogram::from_arc(Arc::new(both))
    }
}

#[test]
fn behind_a_fan_out_every_recorder_gets_every_value() {
    // The crate's recorder first (at the fan-out's own address), then second.
    let (prometheus, metrics) = recorder();
    let test = TestRecorder::new();
    fan_out_gets_every_value(&Fanout(prometheus, test.clone()), &test, &metrics);
    let (prometheus, metrics) = recorder();
    let test = TestRecorder::new();
    fan_out_gets_every_value(&Fanout(test.clone(), prometheus), &test, &metrics);
}

fn fan_out_gets_every_value(fanout: &dyn Recorder, test: &TestRecorder, metrics: &MetricsHandle) {
    let _local = metrics::set_default_local_recorder(fanout);
    let loan = Monitor::new().model("loan");
    // The crate's recorder is called, but it is not the recorder in effect: the model writes
    // its handles, which reach both.
    assert!(!directly(&loan));

    let a = loan.start();
    let b = loan.start();
    let gauge = || test.gauge("inference_inprogress_requests", &[("model", "loan")]);
    assert_eq!(gauge(), Some(2.0));
    assert_eq!(in_progress(metrics, "loan"), Some(2.0));
    a.finish(Outcome::Success);
    drop(b);
    assert_eq!(gauge(), Some(0.0));
    assert_eq!(in_progress(metrics, "loan"), Some(0.0));

    let latency = |outcome| {
        test.histogram(
            "inference_request_latency_seconds",
            &[("model", "loan"), ("outcome", outcome)],
        )
        .map(|samples| samples.len())
    };
    assert_eq!(latency("success"), Some(1));
    assert_eq!(latency("cancelled"), Some(1));
    for outcome in ["success", "cancelled"] {
        let labels = [("model", "loan"), ("outcome", outcome)];
        let m = page(metrics);
        assert_eq!(m.value("inference_requests_total", &labels), Some(1.0));
        assert_eq!(
            m.value("inference_request_latency_seconds_count", &labels),
            Some(1.0)
        );
    }
}

#[test]
fn models_of_a_dropped_exporter_are_left_out_of_the_next_one() {
    // Two exporters, one after the other: each renders only the models registered with it.
    let (first, first_metrics) = recorder();
    let held = {
        let _local = metrics::set_default_local_recorder(&first);
        Monitor::new().model("first").start()
    };
    let (second, second_metrics) = recorder();
    let _local = metrics::set_default_local_recorder(&second);
    let _other = Monitor::new().model("second").start();
    assert_eq!(in_progress(&first_metrics, "first"), Some(1.0));
    assert_eq!(in_progress(&second_metrics, "second"), Some(1.0));
    assert_eq!(in_progress(&second_metrics, "first"), None);
    drop(held);
    assert_eq!(in_progress(&first_metrics, "first"), Some(0.0));
}

#[test]
fn counts_kept_by_stripe_add_up_exactly_across_threads_and_renders() {
    let (recorder, metrics) = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let loan = Monitor::builder()
        .labels(["approved"])
        .build()
        .unwrap()
        .model("loan");
    let labels = [("model", "loan"), ("outcome", "success")];
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        // Renders all along: the counts only ever go up.
        let renderer = s.spawn(|| {
            let (mut last, mut renders) = (0.0, 0);
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let m = page(&metrics);
                let now = m.value("inference_requests_total", &labels).unwrap();
                assert!(now >= last, "{now} after {last}");
                last = now;
                renders += 1;
            }
            renders
        });
        let workers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        let mut request = loan.start();
                        request.predicted("approved");
                        request.finish(Outcome::Success);
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(renderer.join().unwrap() > 0);
    });
    let m = page(&metrics);
    assert_eq!(m.value("inference_requests_total", &labels), Some(40_000.0));
    assert_eq!(
        m.value("inference_request_latency_seconds_count", &labels),
        Some(40_000.0)
    );
    let mut inf = labels.to_vec();
    inf.push(("le", "+Inf"));
    assert_eq!(
        m.value("inference_request_latency_seconds_bucket", &inf),
        Some(40_000.0)
    );
    assert_eq!(
        m.value(
            "inference_predictions_total",
            &[("model", "loan"), ("label", "approved")]
        ),
        Some(40_000.0)
    );
    assert_eq!(in_progress(&metrics, "loan"), Some(0.0));
}

/// Two monitors that name the same model (a layer's monitor and the macros' default one, say)
/// share its series on the page: each adds its own requests, neither overwrites the other's.
#[test]
fn two_monitors_of_one_model_add_up_on_the_page() {
    let (recorder, metrics) = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let first = Monitor::builder().labels(["approved"]).build().unwrap();
    let second = Monitor::builder().labels(["approved"]).build().unwrap();
    let (a, b) = (first.model("loan"), second.model("loan"));
    assert!(directly(&a));

    for _ in 0..3 {
        let mut request = a.start();
        request.predicted("approved");
        request.finish(Outcome::Success);
    }
    let held_by_a = a.start();
    assert_eq!(requests(&metrics, "loan", "success"), Some(3.0));
    assert_eq!(in_progress(&metrics, "loan"), Some(1.0));
    for _ in 0..2 {
        let mut request = b.start();
        request.predicted("approved");
        request.finish(Outcome::Success);
    }
    let held_by_b = [b.start(), b.start()];
    let page = page(&metrics);
    assert_eq!(page.requests("loan", "success"), Some(5.0));
    assert_eq!(page.predictions("loan", "approved"), Some(5.0));
    assert_eq!(
        page.value("inference_inprogress_requests", &[("model", "loan")]),
        Some(3.0)
    );
    assert_eq!(
        page.value(
            "inference_request_latency_seconds_count",
            &[("model", "loan"), ("outcome", "success")]
        ),
        Some(5.0)
    );
    drop(held_by_a);
    drop(held_by_b);
    assert_eq!(in_progress(&metrics, "loan"), Some(0.0));
    assert_eq!(requests(&metrics, "loan", "cancelled"), Some(3.0));
    assert_eq!(requests(&metrics, "loan", "success"), Some(5.0));
}

/// Labels are counted by stripe for the first eight of a model's labels, and on the counter
/// itself past them: both reach the page, exactly.
#[test]
fn every_label_reaches_the_page_past_the_ones_counted_by_stripe() {
    let (recorder, metrics) = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let labels: Vec<String> = (0..12).map(|i| format!("class_{i}")).collect();
    let monitor = Monitor::builder().labels(&labels).build().unwrap();
    let model = monitor.model("digits");
    assert!(directly(&model));
    for (i, label) in labels.iter().enumerate() {
        for _ in 0..=i {
            let mut request = model.start();
            request.predicted(label);
            request.finish(Outcome::Success);
        }
    }
    // A label first seen now, past the preset ones.
    let mut request = model.start();
    request.predicted("class_new");
    request.finish(Outcome::Success);
    for _ in 0..2 {
        let page = page(&metrics);
        for (i, label) in labels.iter().enumerate() {
            #[allow(clippy::cast_precision_loss)]
            let expected = (i + 1) as f64;
            assert_eq!(page.predictions("digits", label), Some(expected), "{label}");
        }
        assert_eq!(page.predictions("digits", "class_new"), Some(1.0));
        assert_eq!(page.requests("digits", "success"), Some(79.0));
    }
}

/// Labels first seen at run time take the first free indices, counted by stripe like the
/// preset ones; a batch's labels go to the counters directly. Both reach the page exactly.
#[test]
fn labels_seen_at_run_time_and_in_batches_reach_the_page() {
    let (recorder, metrics) = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let model = Monitor::new().model("iris");
    assert!(directly(&model));
    for (label, n) in [("setosa", 3), ("versicolor", 1), ("virginica", 2)] {
        for _ in 0..n {
            let mut request = model.start();
            request.predicted(label);
            request.finish(Outcome::Success);
        }
    }
    let batch = model.start();
    assert_eq!(
        batch
            .signals()
            .predicted_batch(["setosa", "virginica", "setosa"]),
        3
    );
    batch.finish(Outcome::Success);
    for _ in 0..2 {
        let page = page(&metrics);
        assert_eq!(page.predictions("iris", "setosa"), Some(5.0));
        assert_eq!(page.predictions("iris", "versicolor"), Some(1.0));
        assert_eq!(page.predictions("iris", "virginica"), Some(3.0));
        assert_eq!(page.requests("iris", "success"), Some(7.0));
    }
}
