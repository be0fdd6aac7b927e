//! A cardinality attack: a million distinct predicted labels, and a million distinct model
//! names, fed in-process through the real Prometheus recorder.
//!
//! Each attack goes through one entry point — `InFlight::predicted`, a handler's `Prediction`
//! behind the tower layer, the model name taken from the request path by
//! `InferenceMonitorLayer::from_request`, and `Monitor::model` — with every value new. The
//! limiter admits the first 64 (the default limit) and counts the rest under `other`, so:
//!
//! * the rendered `/metrics` holds exactly 64 + 1 series of the attacked label, and `other`
//!   holds exactly the overflow;
//! * the render stays small: every sample line is bounded (names are at most 64 bytes), and
//!   the number of lines is fixed by the limit, so the size is bounded by a figure derived
//!   below ([`MAX_LINE`] times the lines), whatever the number of requests;
//! * live heap memory does not grow with the attack: a counting global allocator reads the
//!   bytes live in the process after 100,000 values and after 1,000,000, and the two differ by
//!   less than [`MEMORY_BOUND`].
//!
//! Each test uses its own local recorder (`metrics::set_default_local_recorder`), so their
//! series do not mix, and counts the live bytes of its own thread, so they can run side by side.

// Only for the counting `GlobalAlloc` below; the library itself forbids unsafe code.
#![allow(unsafe_code)]

mod common;

use common::by_hand::{call, noop_waker};
use common::handlers::Answer;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::ready;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use common::Exposition;
use http::{Request, Response, Uri};
use http_body::Body;
use http_body_util::Full;
use inference_monitor::{InferenceMonitorLayer, MetricsHandle, Monitor, Outcome, Prediction};
use tower::{service_fn, Layer, Service};

type Bytes = axum::body::Bytes;

// ---------------------------------------------------------------------------------------------
// Live bytes, per thread: each attack runs on its test's thread (the recorder is a local one,
// requests are polled by hand), so its thread's live bytes are the attack's, and the tests can
// run side by side.

/// Forwards to the system allocator, keeping the bytes the current thread allocated and did not
/// free (negative when it frees what another thread allocated).
struct LiveBytes;

thread_local! {
    // A `const` initialiser without destructor: reading it never allocates, so the allocator
    // may touch it at any time, also while a thread is being torn down.
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    let _ = LIVE.try_with(|live| live.set(live.get() + delta));
}

// SAFETY: every method hands its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the bookkeeping only touches a thread-local that never allocates.
unsafe impl GlobalAlloc for LiveBytes {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is the one `System.alloc` needs.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            note(layout.size() as isize);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            note(layout.size() as isize);
        }
        ptr
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` and `layout` come from this allocator, that is from `System`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            note(new_size as isize - layout.size() as isize);
        }
        new
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` and `layout` come from this allocator, that is from `System`.
        unsafe { System.dealloc(ptr, layout) };
        note(-(layout.size() as isize));
    }
}

#[global_allocator]
static ALLOCATOR: LiveBytes = LiveBytes;

/// Bytes the current thread holds.
fn live_bytes() -> isize {
    LIVE.with(Cell::get)
}

// ---------------------------------------------------------------------------------------------
// The figures.

/// Distinct values fed by each attack.
const VALUES: u64 = 1_000_000;
/// Distinct labels fed through the whole layer, a slower path in a debug build; the labels end
/// in the same limiter as [`VALUES`] labels through `InFlight::predicted` do.
const VALUES_THROUGH_LAYER: u64 = 200_000;
/// The default limit of distinct values of a label (and of model names).
const LIMIT: usize = inference_monitor::cardinality::DEFAULT_MAX_VALUES;
/// Largest difference of live bytes allowed between the reading after a tenth of the values and
/// the one after all of them. Keeping one byte per new value would take 900,000 over a million
/// values, 180,000 over the layer's 200,000.
const MEMORY_BOUND: isize = 16 * 1024;
/// Longest sample line the render can hold here: the longest metric name
/// (`inference_request_latency_seconds_bucket`, 40 bytes), braces, `model="…"` with a name of
/// at most 64 bytes (the default `max_label_len`, and these names need no escaping),
/// `,outcome="server_error"` or `,label="…"` (at most 64 bytes again), `,le="…"` and a value:
/// 40 + 2 + 72 + 73 + 12 + 1 + 24 = 224, rounded up.
const MAX_LINE: usize = 256;
/// Samples per model outside the attacked series: 4 request counters, 4 latency histograms of
/// 19 buckets + `+Inf` + `_sum` + `_count`, and the in-progress gauge.
const SAMPLES_PER_MODEL: usize = 4 + 4 * (19 + 3) + 1;
/// `# HELP`, `# TYPE` and the blank line around each of the four families.
const HEADER_LINES: usize = 4 * 3;

/// The render's byte bound for `samples` sample lines.
fn byte_bound(samples: usize) -> usize {
    (samples + HEADER_LINES) * MAX_LINE
}

// ---------------------------------------------------------------------------------------------
// Driving the layer by hand, on this thread (the local recorder is per thread).

/// One request through `service`: ready, call, response body read to its end.
fn send<S, B>(service: &mut S, path: &str, waker: &Waker) -> u16
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
    B: Body + Unpin,
{
    let mut request = Request::new(());
    *request.uri_mut() = Uri::try_from(path).expect("a valid path");
    let response = call(service, request, waker);
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut cx = Context::from_waker(waker);
    while let Poll::Ready(Some(frame)) = Pin::new(&mut body).poll_frame(&mut cx) {
        assert!(frame.is_ok());
    }
    status
}

type Ready = std::future::Ready<Result<Response<Full<Bytes>>, Infallible>>;

/// A handler that predicts the last segment of the path as the label.
fn label_from_path(
) -> impl Service<Request<()>, Response = Response<Full<Bytes>>, Error = Infallible, Future = Ready>
       + Clone {
    service_fn(|request: Request<()>| {
        let label = request.uri().path().rsplit('/').next().unwrap_or("");
        let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
        Prediction::new(label.to_owned()).insert_into(&mut response);
        ready(Ok(response))
    })
}

/// A handler that answers at once and reports no label.
fn answer() -> Answer {
    Answer::ok(b"{}")
}

// ---------------------------------------------------------------------------------------------
// The attack and its checks.

/// Feeds `feed` the distinct values `{prefix}{i}` for `i` in `0..values`, and returns the live
/// bytes of this thread after a tenth of them and after all of them.
fn attack(prefix: &str, values: u64, mut feed: impl FnMut(&str)) -> (isize, isize) {
    let started = Instant::now();
    let checkpoint = values / 10;
    let mut value = String::with_capacity(64);
    let mut at_checkpoint = 0;
    for i in 0..values {
        value.clear();
        let _ = write!(value, "{prefix}{i}");
        feed(&value);
        if i + 1 == checkpoint {
            at_checkpoint = live_bytes();
        }
    }
    let at_end = live_bytes();
    eprintln!(
        "{values} distinct `{prefix}…` values in {:.2?}; live bytes after {checkpoint}: {at_checkpoint}, after {values}: {at_end} ({:+})",
        started.elapsed(),
        at_end - at_checkpoint
    );
    (at_checkpoint, at_end)
}

fn assert_memory_flat((at_checkpoint, at_end): (isize, isize)) {
    let growth = at_end - at_checkpoint;
    assert!(
        growth.abs() < MEMORY_BOUND,
        "live bytes went from {at_checkpoint} to {at_end} ({growth:+}) over the last nine tenths of the values"
    );
}

/// Renders, checks the size against [`byte_bound`] for `samples` sample lines, and parses.
fn render(metrics: &MetricsHandle, samples: usize) -> Exposition {
    let text = metrics.render();
    let lines = text.lines().filter(|l| !l.is_empty()).count();
    let longest = text.lines().map(str::len).max().unwrap_or(0);
    eprintln!(
        "render: {} bytes, {lines} lines, longest {longest} bytes; bound {} bytes",
        text.len(),
        byte_bound(samples)
    );
    assert!(longest <= MAX_LINE, "a line of {longest} bytes:\n{text}");
    assert!(
        text.len() <= byte_bound(samples),
        "{} bytes rendered, over the bound {}",
        text.len(),
        byte_bound(samples)
    );
    let exposition = Exposition::parse(&text);
    assert_eq!(exposition.samples.len(), samples, "{text}");
    exposition
}

/// The model's `values` predictions: exactly `LIMIT` admitted labels of one prediction each, and
/// `other` with the rest.
fn assert_labels_bounded(m: &Exposition, model: &str, values: u64) {
    let labels = m.label_values("inference_predictions_total", "label");
    assert_eq!(labels.len(), LIMIT + 1, "{labels:?}");
    assert!(labels.contains("other"));
    let overflow = values - LIMIT as u64;
    assert_eq!(
        m.value(
            "inference_predictions_total",
            &[("model", model), ("label", "other")]
        ),
        Some(overflow as f64)
    );
    for s in m.matching("inference_predictions_total", &[("model", model)]) {
        if s.labels["label"] != "other" {
            assert_eq!(s.value, 1.0, "{s:?}");
        }
    }
    assert_eq!(
        m.sum("inference_predictions_total", &[("model", model)]),
        values as f64
    );
    assert_eq!(
        m.value(
            "inference_requests_total",
            &[("model", model), ("outcome", "success")]
        ),
        Some(values as f64)
    );
}

#[test]
fn a_million_labels_through_in_flight_predicted() {
    let (recorder, metrics) = inference_monitor::prometheus().build().unwrap();
    let _local = metrics::set_default_local_recorder(&recorder);
    let loan = Monitor::new().model("loan");

    let live = attack("label-", VALUES, |label| {
        let mut request = loan.start();
        request.predicted(label);
        request.finish(Outcome::Success);
    });

    let m = render(&metrics, SAMPLES_PER_MODEL + LIMIT + 1);
    assert_labels_bounded(&m, "loan", VALUES);
    assert_memory_flat(live);
}

#[test]
fn labels_through_the_layer() {
    let (recorder, metrics) = inference_monitor::prometheus().build().unwrap();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut service = InferenceMonitorLayer::new("loan").layer(label_from_path());
    let waker = noop_waker();
    let mut path = String::with_capacity(64);

    let live = attack("label-", VALUES_THROUGH_LAYER, |label| {
        path.clear();
        let _ = write!(path, "/predict/{label}");
        assert_eq!(send(&mut service, &path, &waker), 200);
    });

    let m = render(&metrics, SAMPLES_PER_MODEL + LIMIT + 1);
    assert_labels_bounded(&m, "loan", VALUES_THROUGH_LAYER);
    assert_memory_flat(live);
}

/// `LIMIT` models (the fallback `unknown` among them when `fallback` is true) and `other`: each
/// admitted model with one request (and one prediction when `fallback` is false; the layer's
/// handler reports none), `other` with the rest.
fn assert_models_bounded(m: &Exposition, fallback: bool) {
    let predicted = !fallback;
    let admitted_by_attack = if fallback { LIMIT - 1 } else { LIMIT } as u64;
    let overflow = VALUES - admitted_by_attack;
    let mut families = vec![
        "inference_requests_total",
        "inference_inprogress_requests",
        "inference_request_latency_seconds_count",
    ];
    if predicted {
        families.push("inference_predictions_total");
    } else {
        assert_eq!(m.matching("inference_predictions_total", &[]).count(), 0);
    }
    for name in families {
        let models = m.label_values(name, "model");
        assert_eq!(models.len(), LIMIT + 1, "{name}: {models:?}");
        assert!(models.contains("other"), "{name}");
        assert_eq!(models.contains("unknown"), fallback, "{name}");
    }
    let success = |model: &str| {
        m.value(
            "inference_requests_total",
            &[("model", model), ("outcome", "success")],
        )
        .unwrap()
    };
    assert_eq!(success("other"), overflow as f64);
    for model in m.label_values("inference_requests_total", "model") {
        let expected = match model.as_str() {
            "other" => overflow,
            "unknown" => 0,
            _ => 1,
        };
        assert_eq!(success(&model), expected as f64, "{model}");
        if predicted {
            assert_eq!(
                m.sum("inference_predictions_total", &[("model", &model)]),
                expected as f64,
                "{model}"
            );
        }
        assert_eq!(
            m.value(
                "inference_request_latency_seconds_count",
                &[("model", &model), ("outcome", "success")]
            ),
            Some(expected as f64),
            "{model}"
        );
    }
    assert_eq!(
        m.sum("inference_requests_total", &[("outcome", "success")]),
        VALUES as f64
    );
}

#[test]
fn a_million_model_names_from_the_request_path() {
    let (recorder, metrics) = inference_monitor::prometheus().build().unwrap();
    let _local = metrics::set_default_local_recorder(&recorder);
    let monitor = Monitor::new();
    // /v2/models/{name}/infer, as in the `from_request` documentation.
    let layer = InferenceMonitorLayer::from_request(&monitor, "unknown", |head| {
        head.uri()
            .path()
            .strip_prefix("/v2/models/")?
            .split('/')
            .next()
    });
    let mut service = layer.layer(answer());
    let waker = noop_waker();
    let mut path = String::with_capacity(64);

    let live = attack("model-", VALUES, |model| {
        path.clear();
        let _ = write!(path, "/v2/models/{model}/infer");
        assert_eq!(send(&mut service, &path, &waker), 200);
    });

    assert_eq!(monitor.model_count(), LIMIT);
    // Per model (the 64 admitted and `other`): its samples, and no prediction.
    let m = render(&metrics, (LIMIT + 1) * SAMPLES_PER_MODEL);
    assert_models_bounded(&m, true);
    assert_memory_flat(live);
}

#[test]
fn a_million_model_names_through_monitor_model() {
    let (recorder, metrics) = inference_monitor::prometheus().build().unwrap();
    let _local = metrics::set_default_local_recorder(&recorder);
    let monitor = Monitor::new();

    let live = attack("model-", VALUES, |model| {
        let mut request = monitor.model(model).start();
        request.predicted("approved");
        request.finish(Outcome::Success);
    });

    assert_eq!(monitor.model_count(), LIMIT);
    // Per model (the 64 admitted and `other`): its samples and its one `approved` series.
    let m = render(&metrics, (LIMIT + 1) * (SAMPLES_PER_MODEL + 1));
    assert_models_bounded(&m, false);
    assert_memory_flat(live);
}
