//! Memory stays bounded under sustained load when nothing scrapes for a long stretch.
//!
//! metrics-exporter-prometheus keeps each histogram sample (16 bytes, in blocks of 64) until a
//! scrape or an upkeep thread drains it, so millions of requests with no scrape would hold tens
//! of MiB. This crate's Prometheus recorder keeps histograms as bucket counters instead, so
//! there is nothing to drain and no upkeep thread. Here a counting global allocator follows the
//! bytes live in the whole process while millions of requests go through, in phases, with no
//! render at all; growth from the first phase to the last must stay under a fixed bound, far
//! below what the samples alone would take.
//!
//! It can fail: with metrics-exporter-prometheus's histograms and no upkeep (the recorder before
//! this crate kept its own) live bytes grew by 16.4 bytes a request, 34.4 million bytes over the
//! seven later phases, and the assertion failed.
//!
//! Finally one render must count every request, exactly: the counters, the gauge, and the
//! latency histogram's `_count` and `+Inf` bucket.
//!
//! Then the same process builds the same model's monitor, layer, actix middleware and
//! custom-bucket monitor 10,000 times each: after the first construction of each, live bytes
//! must not grow at all, the page must stay the same, and it must count the requests of every
//! construction on the one series. Before registrations were shared, each construction leaked
//! a new block of the model's state (with this recorder, a few cache lines per stripe) and
//! attached one more sampler and more latency lanes to the page.
//!
//! One test in this binary: it installs the process's global recorder, and the byte counts
//! must not see another test's allocations.

// Only for the counting `GlobalAlloc` below; the library itself forbids unsafe code.
#![allow(unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use inference_monitor::{InferenceMonitorLayer, ModelMonitor, Monitor, Outcome};

/// Forwards to the system allocator, keeping the number of bytes currently allocated.
struct LiveBytes;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method hands its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the bookkeeping is one atomic add.
unsafe impl GlobalAlloc for LiveBytes {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is the one `System.alloc` needs.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` and `layout` come from this allocator, that is from `System`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        new
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` and `layout` come from this allocator, that is from `System`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: LiveBytes = LiveBytes;

fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Phases of load; live bytes are read after each.
const PHASES: u64 = 8;
/// Requests per phase (2.4 million in all: about 8 s in a debug build).
const REQUESTS_PER_PHASE: u64 = 300_000;
/// Largest growth of live bytes allowed from the end of the first phase to the end of the last.
/// The samples of the seven later phases alone, kept, would take 2,100,000 × 16 bytes ≈ 32 MiB.
const BOUND: isize = 1 << 20;

#[test]
fn live_memory_stays_bounded() {
    let metrics = inference_monitor::prometheus()
        .install()
        .expect("install the Prometheus recorder");
    without_scrapes(&metrics);
    under_repeated_construction(&metrics);
}

/// Constructions of each kind after the first.
const CONSTRUCTIONS: usize = 10_000;

fn under_repeated_construction(metrics: &inference_monitor::MetricsHandle) {
    let custom = || {
        Monitor::builder()
            .buckets(&[0.001, 0.01, 0.1, 1.0])
            .unwrap()
            .prefix("custom")
            .build()
            .unwrap()
    };
    type Construct = Box<dyn Fn()>;
    let kinds: [(&str, Construct); 4] = [
        (
            "ModelMonitor::new",
            Box::new(|| record_one(&ModelMonitor::new("tenant"))),
        ),
        (
            "InferenceMonitorLayer::new, one request through it",
            Box::new(|| through_a_new_layer("tenant")),
        ),
        (
            "actix InferenceMonitor::from_name",
            Box::new(|| {
                record_one(
                    inference_monitor::integrations::actix::InferenceMonitor::from_name("tenant")
                        .model(),
                );
            }),
        ),
        (
            "a custom monitor per construction",
            Box::new(move || record_one(&custom().model("tenant"))),
        ),
    ];
    for (kind, build) in &kinds {
        // The first construction registers the model; a request of it sets up its label.
        build();
        let _ = metrics.render();
        let page = metrics.render();
        let before = live_bytes();
        for _ in 0..CONSTRUCTIONS {
            build();
        }
        let growth = live_bytes() - before;
        eprintln!("{kind}: {CONSTRUCTIONS} more constructions, live bytes {growth:+}");
        assert!(
            growth <= 0,
            "{kind}: live bytes grew by {growth} over {CONSTRUCTIONS} constructions of one model"
        );
        // The page has the same lines (only the counts moved), and counts every request.
        let after = metrics.render();
        // (metrics-exporter-prometheus renders a family's series in no fixed order.)
        let shape = |text: &str| -> std::collections::BTreeSet<String> {
            text.lines()
                .map(|l| {
                    l.rsplit_once(' ')
                        .map_or(l, |(series, _)| series)
                        .to_owned()
                })
                .collect()
        };
        let (page, after) = (shape(&page), shape(&after));
        assert_eq!(
            page.symmetric_difference(&after).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "{kind}: the page changed shape"
        );
    }
    let text = metrics.render();
    assert_eq!(
        value(
            &text,
            "inference_requests_total{model=\"tenant\",outcome=\"success\"}"
        ),
        // The first three kinds share one model: the default monitor's.
        3 * (CONSTRUCTIONS as u64 + 1),
    );
    assert_eq!(
        value(
            &text,
            "custom_inference_request_latency_seconds_count{model=\"tenant\",outcome=\"success\"}"
        ),
        CONSTRUCTIONS as u64 + 1,
    );
    // The custom monitor's buckets were learned without `prometheus().monitor(..)`.
    assert!(
        text.contains(
            "custom_inference_request_latency_seconds_bucket{model=\"tenant\",outcome=\"success\",le=\"0.01\"}"
        ),
        "{text}"
    );
}

/// Builds a layer for `model` and sends one request through it, reading the body to its end.
fn through_a_new_layer(model: &str) {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    use tower::{Layer, Service};

    let mut service = InferenceMonitorLayer::new(model).layer(tower::service_fn(
        |_request: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(
                http::Response::builder()
                    .extension(inference_monitor::Prediction::new("approved"))
                    .body(String::from("approved"))
                    .unwrap(),
            )
        },
    ));
    let mut cx = Context::from_waker(Waker::noop());
    let mut future = std::pin::pin!(service.call(http::Request::new(())));
    let Poll::Ready(Ok(response)) = future.as_mut().poll(&mut cx) else {
        panic!("the service answers at once");
    };
    let mut body = std::pin::pin!(response.into_body());
    while let Poll::Ready(Some(frame)) = http_body::Body::poll_frame(body.as_mut(), &mut cx) {
        frame.unwrap();
    }
}

/// One successful request of `model`, predicting `approved`.
fn record_one(model: &ModelMonitor) {
    let mut request = model.start();
    request.predicted("approved");
    request.finish(Outcome::Success);
}

fn without_scrapes(metrics: &inference_monitor::MetricsHandle) {
    let monitor = Monitor::builder()
        .labels(["approved", "rejected"])
        .build()
        .unwrap();
    let loan = monitor.model("loan");

    let mut after_phase = Vec::new();
    for phase in 0..PHASES {
        send(&loan, REQUESTS_PER_PHASE, phase);
        after_phase.push(live_bytes());
    }

    let first = after_phase[0];
    for (phase, live) in after_phase.iter().enumerate() {
        eprintln!(
            "after phase {} ({} requests): {live} bytes live, {:+} since phase 1",
            phase + 1,
            (phase as u64 + 1) * REQUESTS_PER_PHASE,
            live - first
        );
    }
    let growth = after_phase[after_phase.len() - 1] - first;
    assert!(
        growth < BOUND,
        "live bytes grew by {growth} over {} requests with no scrape: {after_phase:?}",
        (PHASES - 1) * REQUESTS_PER_PHASE
    );

    // One render: every request is counted.
    let total = PHASES * REQUESTS_PER_PHASE;
    let half = total / 2;
    let text = metrics.render();
    for line in [
        format!("inference_requests_total{{model=\"loan\",outcome=\"success\"}} {total}"),
        format!("inference_predictions_total{{model=\"loan\",label=\"approved\"}} {half}"),
        format!("inference_predictions_total{{model=\"loan\",label=\"rejected\"}} {half}"),
        "inference_inprogress_requests{model=\"loan\"} 0".to_owned(),
        "inference_requests_total{model=\"loan\",outcome=\"server_error\"} 0".to_owned(),
        "inference_requests_total{model=\"loan\",outcome=\"cancelled\"} 0".to_owned(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "`{line}` not in the render:\n{text}"
        );
    }

    // The histogram: every sample, in `_count` and in the `+Inf` bucket.
    let series = "{model=\"loan\",outcome=\"success\"}";
    let count = value(
        &text,
        &format!("inference_request_latency_seconds_count{series}"),
    );
    let infinite = value(
        &text,
        "inference_request_latency_seconds_bucket{model=\"loan\",outcome=\"success\",le=\"+Inf\"}",
    );
    assert_eq!(count, total);
    assert_eq!(infinite, total);
}

/// The value of the series written exactly `series` (name and labels) in a render, strictly
/// parsed; a whole number.
fn value(text: &str, series: &str) -> u64 {
    let value = common::Exposition::parse(text)
        .exact(series)
        .unwrap_or_else(|| panic!("`{series}` not in the render:\n{text}"));
    assert!(value.fract() == 0.0 && value >= 0.0, "{series} {value}");
    value as u64
}

/// `n` requests of `loan`, half of them predicting `approved`, half `rejected`.
fn send(loan: &ModelMonitor, n: u64, phase: u64) {
    for i in 0..n {
        let mut request = loan.start();
        request.predicted(if (phase + i) % 2 == 0 {
            "approved"
        } else {
            "rejected"
        });
        request.finish(Outcome::Success);
    }
}
