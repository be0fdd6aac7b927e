//! Heap allocations per monitored request, counted one by one by a counting global allocator.
//!
//! With a no-op recorder, a request whose model and label have been seen before makes no heap
//! allocation at all in this crate: through the tower layer (fixed model, preset label, label
//! admitted at run time, model taken from the request), through `monitor!` (sync and async, with
//! a `ModelMonitor` or a literal model name) and through `ModelMonitor::start` directly. Each
//! test warms up first (the first request of a model or label registers its handles, which
//! allocates), then counts the allocations of `N` more requests and expects exactly the count
//! of the same work without monitoring.
//!
//! The last tests check that the Prometheus recorder adds no allocation either, and print it.
//!
//! Counting is per thread (a thread-local switch and counter), so the test harness and the other
//! tests running at the same time do not disturb the figures. Nothing here is timed.

// Only for the counting `GlobalAlloc` below; the library itself forbids unsafe code.
#![allow(unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::future::ready;
use std::hint::black_box;
use std::task::Waker;

use common::by_hand::{call, drain, noop_waker, now};
use common::handlers::Answer;
use http::{Request, Response, Uri};
use http_body::Body;
use http_body_util::Full;
use inference_monitor::{
    classify::GrpcClassifier, monitor, InferenceMonitorLayer, ModelMonitor, Monitor, Outcome,
    Signal, Stage,
};
use tower::{service_fn, Layer, Service};

type Bytes = axum::body::Bytes;

/// Monitored requests counted per case, after warm-up.
const N: u64 = 1_000;

// ---------------------------------------------------------------------------------------------
// The counting allocator.

/// Forwards to the system allocator; counts allocations (and reallocations, and their bytes)
/// made by the current thread while it has switched counting on.
struct CountingAllocator;

thread_local! {
    // `const` initialisers without destructors: reading them never allocates, so the allocator
    // may touch them at any time, also while a thread is being torn down.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation(size: usize) {
    let counting = COUNTING.try_with(Cell::get).unwrap_or(false);
    if counting {
        let _ = ALLOCATIONS.try_with(|a| a.set(a.get() + 1));
        let _ = BYTES.try_with(|b| b.set(b.get() + size as u64));
    }
}

// SAFETY: every method hands its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the bookkeeping only touches thread-locals that never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        // SAFETY: the caller's contract for `alloc` is the one `System.alloc` needs.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation(new_size);
        // SAFETY: `ptr` and `layout` come from this allocator, that is from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` and `layout` come from this allocator, that is from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// What the current thread allocated while running a closure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Allocated {
    /// Calls to `alloc`, `alloc_zeroed` and `realloc`.
    count: u64,
    /// Bytes those calls asked for.
    bytes: u64,
}

/// Runs `f` with counting switched on for this thread.
fn allocated_by<R>(f: impl FnOnce() -> R) -> (Allocated, R) {
    ALLOCATIONS.with(|a| a.set(0));
    BYTES.with(|b| b.set(0));
    COUNTING.with(|c| c.set(true));
    let value = f();
    COUNTING.with(|c| c.set(false));
    let allocated = Allocated {
        count: ALLOCATIONS.with(Cell::get),
        bytes: BYTES.with(Cell::get),
    };
    (allocated, value)
}

/// Allocations made by `n` runs of `f`.
fn allocations(n: u64, mut f: impl FnMut()) -> u64 {
    allocated_by(|| (0..n).for_each(|_| f())).0.count
}

// ---------------------------------------------------------------------------------------------
// Driving services and futures by hand, without a runtime (a runtime would allocate on its own).

/// One request through `service`: ready, call, response body read to its end.
fn send<S, B>(service: &mut S, request: Request<()>, waker: &Waker)
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
    B: Body + Unpin,
{
    drain(call(service, request, waker).into_body(), waker);
}

/// A request for `path`, built without allocating.
fn request_to(path: &'static str) -> Request<()> {
    let mut request = Request::new(());
    *request.uri_mut() = Uri::from_static(path);
    request
}

/// A handler that answers at once and reports the label `approved`, as an inference handler
/// would. Putting the `Prediction` in the response's extensions allocates, monitored or not.
fn handler() -> Answer {
    Answer::approved()
}

fn trivial(x: u64) -> u64 {
    black_box(x).wrapping_mul(31).wrapping_add(7)
}

fn waker() -> Waker {
    noop_waker()
}

// ---------------------------------------------------------------------------------------------
// The counter itself: it sees this thread's allocations, exactly, and no other thread's.

#[test]
fn the_counter_sees_this_threads_allocations_and_only_those() {
    let (allocated, boxed) = allocated_by(|| Box::new(black_box(7_u64)));
    assert_eq!(allocated, Allocated { count: 1, bytes: 8 });
    drop(boxed);

    let (allocated, v) = allocated_by(|| {
        let mut v: Vec<u8> = Vec::with_capacity(16);
        v.extend_from_slice(&[1; 16]);
        v.reserve_exact(16); // one realloc, to 32 bytes
        v
    });
    assert_eq!(
        allocated,
        Allocated {
            count: 2,
            bytes: 48
        }
    );
    drop(v);

    // Another thread allocates a kilobyte while this one counts: none of it is counted.
    let barrier = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        s.spawn(|| {
            barrier.wait();
            drop(black_box(vec![0_u8; 1024]));
            barrier.wait();
        });
        let (allocated, ()) = allocated_by(|| {
            barrier.wait();
            barrier.wait();
        });
        assert_eq!(allocated, Allocated { count: 0, bytes: 0 });
    });
}

// ---------------------------------------------------------------------------------------------
// The crate's own code, with a no-op recorder: zero allocations per request once seen.
//
// These assertions can fail, so a zero means something: the counter counts every allocation of
// this thread, wherever it happens, exactly (the test above). Tried, then undone: a `Box::new`
// in the macro's label closure counted 1,000 over 1,000 calls; the layer with its run-time label
// not warmed up counted 5 more than the bare service (the label stored, its counter
// registered); eight labels each new to `predicted` counted 34. Each made its test fail.

/// The layer, with a fixed model, costs not one allocation beyond the service it wraps, whether
/// the reported label was declared in advance or admitted at run time.
#[test]
fn the_layer_adds_no_allocation_per_request() {
    let _noop = metrics::set_default_local_recorder(&metrics::NoopRecorder);
    let waker = waker();

    let mut bare = handler();
    send(&mut bare, request_to("/predict"), &waker); // same warm-up as the monitored ones
    let bare_allocations = allocations(N, || {
        send(&mut bare.clone(), request_to("/predict"), &waker);
    });

    // `approved` declared in advance: found without a lock.
    let preset = Monitor::builder()
        .labels(["approved", "rejected"])
        .build()
        .unwrap();
    let mut layered = InferenceMonitorLayer::for_model(preset.model("loan")).layer(handler());
    send(&mut layered, request_to("/predict"), &waker);
    let preset_allocations = allocations(N, || {
        send(&mut layered.clone(), request_to("/predict"), &waker);
    });

    // `approved` admitted when first reported (the warm-up request), found in the map after.
    let dynamic = Monitor::new();
    let mut layered = InferenceMonitorLayer::for_model(dynamic.model("loan")).layer(handler());
    send(&mut layered, request_to("/predict"), &waker);
    let dynamic_allocations = allocations(N, || {
        send(&mut layered.clone(), request_to("/predict"), &waker);
    });

    // The handler's own `Prediction` costs the same in all three.
    assert!(bare_allocations > 0);
    assert_eq!(preset_allocations - bare_allocations, 0);
    assert_eq!(dynamic_allocations - bare_allocations, 0);
}

/// The model named by the request (and the fallback model) costs nothing once the model is seen.
#[test]
fn the_layer_with_models_from_the_request_adds_no_allocation_per_request() {
    let _noop = metrics::set_default_local_recorder(&metrics::NoopRecorder);
    let waker = waker();
    let model_path = "/v2/models/fraud/infer";
    let other_path = "/healthz";

    let mut bare = handler();
    send(&mut bare, request_to(model_path), &waker);
    send(&mut bare, request_to(other_path), &waker);
    let bare_named = allocations(N, || {
        send(&mut bare.clone(), request_to(model_path), &waker);
    });
    let bare_other = allocations(N, || {
        send(&mut bare.clone(), request_to(other_path), &waker);
    });

    let monitor = Monitor::new();
    let layer = InferenceMonitorLayer::from_request(&monitor, "unknown", |head| {
        head.uri()
            .path()
            .strip_prefix("/v2/models/")?
            .split('/')
            .next()
    });
    let mut layered = layer.layer(handler());
    send(&mut layered, request_to(model_path), &waker); // `fraud` and its label, first seen
    send(&mut layered, request_to(other_path), &waker); // the fallback's label, first seen
    let named = allocations(N, || {
        send(&mut layered.clone(), request_to(model_path), &waker);
    });
    let other = allocations(N, || {
        send(&mut layered.clone(), request_to(other_path), &waker);
    });

    assert_eq!(named - bare_named, 0);
    assert_eq!(other - bare_other, 0);
    // `unknown` (the fallback) is built with the layer, `fraud` by the first request.
    assert_eq!(monitor.model_count(), 2);
}

/// The opt-in layers allocate nothing per request either: the Open Inference Protocol path,
/// gRPC classification and the streaming signals (once a model's handles are registered).
#[test]
fn the_opt_in_layers_add_no_allocation_per_request() {
    let _noop = metrics::set_default_local_recorder(&metrics::NoopRecorder);
    let waker = waker();
    let path = "/v2/models/fraud/infer";
    let mut bare = handler();
    send(&mut bare, request_to(path), &waker);
    let bare = allocations(N, || send(&mut bare.clone(), request_to(path), &waker));

    let monitor = Monitor::new();
    // Servers (hyper's and axum's glue) clone the service for each request: so do these two,
    // whose model source holds the most.
    let open = InferenceMonitorLayer::open_inference(&monitor, "unknown").layer(handler());
    send(&mut open.clone(), request_to(path), &waker);
    let open = allocations(N, || send(&mut open.clone(), request_to(path), &waker));

    let only = InferenceMonitorLayer::open_inference(&monitor, "unknown")
        .only_models(["fraud"])
        .layer(handler());
    send(&mut only.clone(), request_to(path), &waker);
    let only = allocations(N, || send(&mut only.clone(), request_to(path), &waker));

    let mut grpc = InferenceMonitorLayer::for_model(monitor.model("fraud"))
        .classify_with(GrpcClassifier)
        .layer(handler());
    send(&mut grpc, request_to(path), &waker);
    let grpc = allocations(N, || send(&mut grpc.clone(), request_to(path), &waker));

    let mut streaming = InferenceMonitorLayer::for_model(monitor.model("fraud"))
        .streaming()
        .layer(handler());
    send(&mut streaming, request_to(path), &waker); // registers the streaming handles
    let streaming = allocations(N, || send(&mut streaming.clone(), request_to(path), &waker));

    assert_eq!(open - bare, 0);
    assert_eq!(only - bare, 0);
    assert_eq!(grpc - bare, 0);
    assert_eq!(streaming - bare, 0);
}

/// A gRPC request body: one chunk, then the end or (`fails`) an error, as hyper's body gives
/// when the client resets the call.
struct Upload {
    chunk: Option<Bytes>,
    fails: bool,
}

impl Body for Upload {
    type Data = Bytes;
    type Error = &'static str;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, &'static str>>> {
        std::task::Poll::Ready(match self.chunk.take() {
            Some(chunk) => Some(Ok(http_body::Frame::data(chunk))),
            None if self.fails => {
                self.fails = false;
                Some(Err("reset"))
            }
            None => None,
        })
    }

    fn is_end_stream(&self) -> bool {
        self.chunk.is_none() && !self.fails
    }
}

/// A call of `/fraud.Fraud/Score`: a whole message, or (`fails`) half of one and a reset.
fn grpc_call(fails: bool) -> Request<Upload> {
    let message: &'static [u8] = if fails {
        b"\0\0\0"
    } else {
        b"\0\0\0\0\x02\x08\x01"
    };
    let mut request = request_to("/fraud.Fraud/Score").map(|()| Upload {
        chunk: Some(Bytes::from_static(message)),
        fails,
    });
    request.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    request
}

/// A gRPC handler that reads its request body to its end, as tonic's unary calls do, and
/// answers trailers-only: `INTERNAL` if the body failed, `OK` otherwise.
fn reads_its_body<B: Body + Unpin>(
    mut request: Request<B>,
) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>> {
    let mut cx = std::task::Context::from_waker(Waker::noop());
    let mut failed = false;
    while let std::task::Poll::Ready(Some(frame)) =
        std::pin::Pin::new(request.body_mut()).poll_frame(&mut cx)
    {
        failed |= frame.is_err();
    }
    let mut response = Response::new(Full::new(Bytes::new()));
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    let code = if failed { "13" } else { "0" };
    headers.insert("grpc-status", http::HeaderValue::from_static(code));
    ready(Ok(response))
}

/// One call of any request body through `service`, its response body read to its end.
fn send_call<S, Q, B>(service: &mut S, request: Request<Q>, waker: &Waker)
where
    S: Service<Request<Q>, Response = Response<B>, Error = Infallible>,
    B: Body + Unpin,
{
    now(std::future::poll_fn(|cx| service.poll_ready(cx)), waker).unwrap();
    drain(
        now(service.call(request), waker).unwrap().into_body(),
        waker,
    );
}

/// Watching the request body allocates nothing per request: neither following a gRPC body's
/// messages nor marking a reset call (and reading the mark when it counts as `cancelled`).
#[test]
fn the_request_body_watch_adds_no_allocation_per_request() {
    let waker = waker();
    let watched_layer = |monitor: &Monitor| {
        InferenceMonitorLayer::for_model(monitor.model("fraud"))
            .classify_with(GrpcClassifier)
            .watch_request_body()
            .layer(service_fn(
                reads_its_body::<inference_monitor::tower::RequestBody<Upload>>,
            ))
    };
    {
        let _noop = metrics::set_default_local_recorder(&metrics::NoopRecorder);
        let mut bare = service_fn(reads_its_body::<Upload>);
        send_call(&mut bare, grpc_call(false), &waker);
        let whole_bare = allocations(N, || send_call(&mut bare, grpc_call(false), &waker));
        let reset_bare = allocations(N, || send_call(&mut bare, grpc_call(true), &waker));

        let mut watched = watched_layer(&Monitor::new());
        // The first watched call makes the model's table of marks.
        send_call(&mut watched, grpc_call(true), &waker);
        send_call(&mut watched, grpc_call(false), &waker);
        let whole = allocations(N, || send_call(&mut watched, grpc_call(false), &waker));
        let reset = allocations(N, || send_call(&mut watched, grpc_call(true), &waker));
        assert_eq!(whole - whole_bare, 0);
        assert_eq!(reset - reset_bare, 0);
    }
    // The same calls, counted: the resets are `cancelled`, not `server_error`.
    let recorder = inference_monitor::testing::TestRecorder::new();
    let _local = recorder.local();
    let mut watched = watched_layer(&Monitor::builder().prefix("watch").build().unwrap());
    for _ in 0..10 {
        send_call(&mut watched, grpc_call(false), &waker);
        send_call(&mut watched, grpc_call(true), &waker);
    }
    let count = |outcome| {
        recorder.counter(
            "watch_inference_requests_total",
            &[("model", "fraud"), ("outcome", outcome)],
        )
    };
    assert_eq!(count("success"), Some(10));
    assert_eq!(count("cancelled"), Some(10));
    assert_eq!(count("server_error"), Some(0));
}

#[test]
fn the_macro_makes_no_allocation_per_call() {
    let _noop = metrics::set_default_local_recorder(&metrics::NoopRecorder);
    let waker = waker();
    let model = ModelMonitor::new("scorer");

    // Each case is one call site, called once to warm up and then `N` times.
    let mut sync = || {
        black_box(monitor!(model, trivial(42), label = |_| "approved"));
    };
    let mut sync_ref = || {
        black_box(monitor!(&model, trivial(42), label = |_| "approved"));
    };
    let mut sync_literal = || {
        black_box(monitor!(
            "scorer_literal",
            trivial(42),
            label = |_| "approved"
        ));
    };
    let mut unlabelled = || {
        black_box(monitor!(model, trivial(42)));
    };
    let mut result = || {
        let out: Result<u64, &str> = monitor!(model, Ok(trivial(42)), label = |_| "approved");
        black_box(out).unwrap();
    };
    let mut asynchronous = || {
        let future = monitor!(model, async { trivial(42) }, label = |_| "approved");
        black_box(now(future, &waker));
    };
    let mut async_move = || {
        let x = black_box(42);
        let future = monitor!(model, async move { trivial(x) }, label = |_| "approved");
        black_box(now(future, &waker));
    };
    let mut async_literal = || {
        let future = monitor!(
            "scorer_literal_async",
            async { trivial(42) },
            label = |_| "approved"
        );
        black_box(now(future, &waker));
    };

    let mut with_confidence = || {
        black_box(monitor!(
            model,
            trivial(42),
            label = |_| "approved",
            confidence = |_| 0.9
        ));
    };
    let cases: [(&str, &mut dyn FnMut()); 9] = [
        ("sync, with confidence", &mut with_confidence),
        ("sync", &mut sync),
        ("sync, by reference", &mut sync_ref),
        ("sync, literal model name", &mut sync_literal),
        ("sync, no label", &mut unlabelled),
        ("sync, Result", &mut result),
        ("async", &mut asynchronous),
        ("async move", &mut async_move),
        ("async, literal model name", &mut async_literal),
    ];
    for (case, call) in cases {
        call();
        assert_eq!(allocations(N, &mut *call), 0, "monitor!: {case}");
    }
}

#[test]
fn start_predicted_finish_makes_no_allocation() {
    let _noop = metrics::set_default_local_recorder(&metrics::NoopRecorder);
    let model = ModelMonitor::new("direct");
    let request = || {
        let mut request = model.start();
        request.predicted("approved");
        request.finish(Outcome::Success);
    };
    request();
    assert_eq!(allocations(N, request), 0);

    // A guard dropped unfinished (the `cancelled` path) costs nothing either.
    drop(model.start());
    assert_eq!(allocations(N, || drop(model.start())), 0);
}

/// The opt-in signals allocate nothing once their series exist: a handle from the model or the
/// request, stage timers, confidence, batch sizes, batched labels, model load time.
#[test]
fn the_signals_make_no_allocation_after_first_use() {
    let _noop = metrics::set_default_local_recorder(&metrics::NoopRecorder);
    let declared = Monitor::builder()
        .labels(["approved", "rejected"])
        .signals([Signal::Stages, Signal::BatchSize, Signal::Confidence])
        .build()
        .unwrap();
    let model = declared.model("signals");
    let lazy = Monitor::new().model("lazy");

    let mut from_model = || {
        let signals = model.signals();
        signals.queue_wait();
        {
            let _t = signals.time(Stage::Preprocess);
        }
        black_box(signals.time(Stage::Predict).stop());
        signals.record(Stage::Postprocess, std::time::Duration::from_micros(7));
        signals.confidence(0.93);
        signals.confidence(f64::NAN);
        signals.batch_size(32);
        black_box(signals.predicted_batch(["approved", "rejected", "approved"]));
    };
    let mut from_request = || {
        let mut request = lazy.start();
        let signals = request.signals();
        signals.queue_wait();
        request
            .signals()
            .record(Stage::Predict, std::time::Duration::from_micros(3));
        request.predicted("approved");
        request.signals().confidence(0.71);
        black_box(request.signals().predicted_batch(["approved", "rejected"]));
        request.finish(Outcome::Success);
    };
    let mut direct = || {
        model.signals().confidence(0.5);
        model.signals().batch_size(1);
        model
            .signals()
            .record(Stage::Queue, std::time::Duration::ZERO);
        model.loaded_in(std::time::Duration::from_millis(3));
    };
    let cases: [(&str, &mut dyn FnMut()); 3] = [
        ("ModelMonitor::signals", &mut from_model),
        ("InFlight::signals", &mut from_request),
        ("ModelMonitor, direct", &mut direct),
    ];
    for (case, call) in cases {
        call(); // the lazily registered series, and `lazy`'s labels, are made here
        assert_eq!(allocations(N, &mut *call), 0, "{case}");
    }
}

/// `MonitorBuilder::request_signals` puts the handle in each request's extensions, which costs
/// what `http::Extensions` costs for a first insertion: its map (boxed), the map's table, and
/// the boxed value. That is why it is off by default; the test above shows the default adds
/// nothing.
#[test]
fn request_signals_cost_the_extension_map_and_nothing_else() {
    let _noop = metrics::set_default_local_recorder(&metrics::NoopRecorder);
    let waker = waker();

    let mut bare = handler();
    send(&mut bare, request_to("/predict"), &waker);
    let bare_allocations = allocations(N, || {
        send(&mut bare.clone(), request_to("/predict"), &waker);
    });

    let monitor = Monitor::builder()
        .labels(["approved"])
        .request_signals(true)
        .build()
        .unwrap();
    let mut layered = InferenceMonitorLayer::for_model(monitor.model("loan")).layer(handler());
    send(&mut layered, request_to("/predict"), &waker);
    let with_signals = allocations(N, || {
        send(&mut layered.clone(), request_to("/predict"), &waker);
    });

    assert_eq!((with_signals - bare_allocations) / N, 3);
    assert_eq!((with_signals - bare_allocations) % N, 0);
}

// ---------------------------------------------------------------------------------------------
// The Prometheus recorder: what it allocates per request, amortized.

/// Requests per Prometheus measurement.
const PROMETHEUS_REQUESTS: u64 = 100_000;

/// The crate's Prometheus recorder keeps counters and gauges as atomics (metrics-exporter-
/// prometheus) and histograms as bucket counters updated in place, so a request allocates
/// nothing there either once its series exist. (metrics-exporter-prometheus's own histograms
/// keep every sample until a drain, in blocks of 64: 0.0156 allocations and 16.4 bytes per
/// request, measured here before the crate kept its own.)
fn assert_amortized(what: &str, allocated: Allocated) {
    let per_request = allocated.count as f64 / PROMETHEUS_REQUESTS as f64;
    let bytes_per_request = allocated.bytes as f64 / PROMETHEUS_REQUESTS as f64;
    eprintln!(
        "{what}, Prometheus recorder: {} allocations, {} bytes over {PROMETHEUS_REQUESTS} requests \
         = {per_request:.5} allocations, {bytes_per_request:.2} bytes per request",
        allocated.count, allocated.bytes,
    );
    assert_eq!(
        allocated.count, 0,
        "{what}: {per_request} allocations per request"
    );
}

#[test]
fn the_prometheus_recorder_allocates_nothing_per_request() {
    let (recorder, metrics) = inference_monitor::prometheus().build().unwrap();
    let _local = metrics::set_default_local_recorder(&recorder);
    let waker = waker();

    let mut bare = handler();
    send(&mut bare, request_to("/predict"), &waker);
    let (bare_allocated, ()) = allocated_by(|| {
        for _ in 0..PROMETHEUS_REQUESTS {
            send(&mut bare, request_to("/predict"), &waker);
        }
    });

    let monitor = Monitor::builder().labels(["approved"]).build().unwrap();
    let mut layered = InferenceMonitorLayer::for_model(monitor.model("loan")).layer(handler());
    send(&mut layered, request_to("/predict"), &waker);
    let (layered_allocated, ()) = allocated_by(|| {
        for _ in 0..PROMETHEUS_REQUESTS {
            send(&mut layered, request_to("/predict"), &waker);
        }
    });
    let added = Allocated {
        count: layered_allocated.count - bare_allocated.count,
        bytes: layered_allocated.bytes - bare_allocated.bytes,
    };
    assert_amortized("layer", added);

    let model = monitor.model("direct");
    let request = || {
        let mut request = model.start();
        request.predicted("approved");
        request.finish(Outcome::Success);
    };
    request();
    let (allocated, ()) = allocated_by(|| (0..PROMETHEUS_REQUESTS).for_each(|_| request()));
    assert_amortized("ModelMonitor::start/finish", allocated);

    // Every request was recorded.
    let text = metrics.render();
    // Valid text format (the shared strict parser panics otherwise).
    common::Exposition::parse(&text);
    let count = PROMETHEUS_REQUESTS + 1;
    for model in ["loan", "direct"] {
        let line =
            format!("inference_requests_total{{model=\"{model}\",outcome=\"success\"}} {count}\n");
        assert!(text.contains(&line), "{line} not in:\n{text}");
        let line = format!(
            "inference_request_latency_seconds_count{{model=\"{model}\",outcome=\"success\"}} {count}\n"
        );
        assert!(text.contains(&line), "{line} not in:\n{text}");
    }
}

/// The signals through the Prometheus recorder: its histograms are bucket counters updated in
/// place and its gauges atomics, so they allocate nothing per call either.
#[test]
fn the_prometheus_recorder_allocates_nothing_per_signal() {
    let (recorder, metrics) = inference_monitor::prometheus().build().unwrap();
    let _local = metrics::set_default_local_recorder(&recorder);
    let model = Monitor::builder()
        .labels(["approved", "rejected"])
        .build()
        .unwrap()
        .model("signals");
    let call = || {
        let mut request = model.start();
        let signals = request.signals();
        signals.queue_wait();
        black_box(signals.time(Stage::Predict).stop());
        request.predicted("approved");
        request.signals().confidence(0.96);
        black_box(request.signals().predicted_batch(["approved", "rejected"]));
        request.finish(Outcome::Success);
        model.loaded_in(std::time::Duration::from_millis(5));
    };
    call();
    let (allocated, ()) = allocated_by(|| (0..PROMETHEUS_REQUESTS).for_each(|_| call()));
    assert_amortized("signals", allocated);

    let text = metrics.render();
    // Valid text format (the shared strict parser panics otherwise).
    common::Exposition::parse(&text);
    let count = PROMETHEUS_REQUESTS + 1;
    for line in [
        format!("inference_prediction_confidence_count{{model=\"signals\"}} {count}\n"),
        format!("inference_batch_size_count{{model=\"signals\"}} {count}\n"),
        format!(
            "inference_stage_duration_seconds_count{{model=\"signals\",stage=\"predict\"}} {count}\n"
        ),
        format!(
            "inference_predictions_total{{model=\"signals\",label=\"approved\"}} {}\n",
            2 * count
        ),
    ] {
        assert!(text.contains(&line), "{line} not in:\n{text}");
    }
}
