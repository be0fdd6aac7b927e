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
//! One test in this binary: it installs the process's global recorder.

// Only for the counting `GlobalAlloc` below; the library itself forbids unsafe code.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use inference_monitor::{ModelMonitor, Monitor, Outcome};

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
fn live_memory_stays_bounded_without_scrapes() {
    let metrics = inference_monitor::prometheus()
        .install()
        .expect("install the Prometheus recorder");
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

/// The value of the series named exactly `series` (name and labels) in a render.
fn value(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("`{series}` not in the render:\n{text}"))
        .parse()
        .unwrap()
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
