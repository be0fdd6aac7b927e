//! Helpers of the load and cancellation tests (`tests/load/exact_under_load.rs`,
//! `tests/load/cancellation_storm.rs`): the process-wide Prometheus recorder, a scraper that
//! checks every scrape against the one before it, the exact final checks, and a seeded
//! generator.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use inference_monitor::MetricsHandle;

use crate::common::Exposition;

pub const REQUESTS: &str = "inference_requests_total";
pub const LATENCY: &str = "inference_request_latency_seconds";
pub const PREDICTIONS: &str = "inference_predictions_total";
pub const INPROGRESS: &str = "inference_inprogress_requests";
pub const OUTCOMES: [&str; 4] = ["success", "client_error", "server_error", "cancelled"];

/// The crate's Prometheus recorder, built with `prometheus().build()` and set as this test
/// binary's global recorder once; every test of the binary shares it (each with its own model
/// name, so their counts do not mix). Layers must be built after this call: they register
/// their metric handles when built.
pub fn global_handle() -> MetricsHandle {
    static HANDLE: OnceLock<MetricsHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let (recorder, handle) = inference_monitor::prometheus()
                .build()
                .expect("build the Prometheus recorder");
            metrics::set_global_recorder(recorder)
                .expect("the only global recorder of this test binary");
            handle
        })
        .clone()
}

/// xorshift64*: a tiny deterministic generator, so a failing plan can be replayed.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        // Never zero; spread nearby seeds apart.
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform enough in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// `name{k="v",...}` of a sample, labels sorted: the identity of a series across scrapes.
fn series_key(name: &str, labels: &BTreeMap<String, String>) -> String {
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", labels.join(","))
}

/// Whether a sample only ever grows: counters, histogram buckets, counts and sums (the
/// latencies are never negative).
fn monotonic(name: &str) -> bool {
    name.ends_with("_total")
        || name.ends_with("_bucket")
        || name.ends_with("_count")
        || name.ends_with("_sum")
}

/// Checks a sequence of scrapes of one exporter.
#[derive(Debug, Default)]
pub struct ScrapeChecker {
    previous: BTreeMap<String, f64>,
    /// The model whose in-progress gauge is bounded, and the bound.
    gauge: Option<(String, f64)>,
    pub scrapes: u64,
    /// Largest in-progress value seen for the model.
    pub max_inprogress: f64,
}

impl ScrapeChecker {
    /// Also checks that `model`'s in-progress gauge stays within `0..=max`.
    pub fn with_gauge_bound(model: &str, max: f64) -> Self {
        Self {
            gauge: Some((model.to_owned(), max)),
            ..Self::default()
        }
    }

    /// Parses one scrape and checks it: no monotonic sample went down since the previous
    /// scrape, no series disappeared, each histogram is cumulative with `+Inf == _count`, and
    /// the gauge is within its bound.
    pub fn check(&mut self, text: &str) -> Exposition {
        let page = Exposition::parse(text);
        let mut now = BTreeMap::new();
        for s in &page.samples {
            if monotonic(&s.name) {
                let key = series_key(&s.name, &s.labels);
                assert!(
                    s.value.is_finite() && s.value >= 0.0,
                    "scrape {}: {key} = {}",
                    self.scrapes,
                    s.value
                );
                if let Some(&before) = self.previous.get(&key) {
                    assert!(
                        s.value >= before,
                        "scrape {}: {key} went down from {before} to {}",
                        self.scrapes,
                        s.value
                    );
                }
                now.insert(key, s.value);
            }
        }
        for key in self.previous.keys() {
            assert!(
                now.contains_key(key),
                "scrape {}: {key} disappeared",
                self.scrapes
            );
        }
        check_histograms(&page);
        if let Some((model, max)) = &self.gauge {
            if let Some(v) = page.value(INPROGRESS, &[("model", model)]) {
                assert!(
                    (0.0..=*max).contains(&v),
                    "scrape {}: {INPROGRESS}{{model={model:?}}} = {v}, outside 0..={max}",
                    self.scrapes
                );
                self.max_inprogress = self.max_inprogress.max(v);
            }
        }
        self.previous = now;
        self.scrapes += 1;
        page
    }
}

/// Within one scrape: every latency series' buckets are cumulative in `le` order and its `+Inf`
/// bucket equals its `_count`.
pub fn check_histograms(page: &Exposition) {
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for s in page.matching(&format!("{LATENCY}_bucket"), &[]) {
        let mut labels = s.labels.clone();
        let le = labels.remove("le").expect("bucket has le");
        let le: f64 = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().expect("numeric le")
        };
        series
            .entry(series_key(LATENCY, &labels))
            .or_default()
            .push((le, s.value));
    }
    for s in page.matching(&format!("{LATENCY}_count"), &[]) {
        let key = series_key(LATENCY, &s.labels);
        let mut buckets = series
            .remove(&key)
            .unwrap_or_else(|| panic!("{key} has a _count and no buckets"));
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        for pair in buckets.windows(2) {
            assert!(
                pair[1].1 >= pair[0].1,
                "{key}: bucket le={} = {} below le={} = {}",
                pair[1].0,
                pair[1].1,
                pair[0].0,
                pair[0].1
            );
        }
        let inf = buckets.last().expect("buckets");
        assert_eq!(inf.0, f64::INFINITY, "{key}: no +Inf bucket");
        assert_eq!(inf.1, s.value, "{key}: +Inf bucket != _count");
    }
    assert!(series.is_empty(), "buckets without _count: {series:?}");
}

/// A thread that scrapes every `every` until stopped, checking each scrape.
pub struct Scraper {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<ScrapeChecker>,
}

impl Scraper {
    /// Renders `metrics` every millisecond, checking each render, with the gauge of `model`
    /// bounded by `concurrency`.
    pub fn every_millisecond(
        metrics: &inference_monitor::MetricsHandle,
        model: &str,
        concurrency: usize,
    ) -> Self {
        let metrics = metrics.clone();
        Self::start(
            ScrapeChecker::with_gauge_bound(model, concurrency as f64),
            Duration::from_millis(1),
            move || metrics.render(),
        )
    }

    /// Scrapes with `scrape` (returning the page's text) every `every`.
    pub fn start(
        mut checker: ScrapeChecker,
        every: Duration,
        scrape: impl Fn() -> String + Send + 'static,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                checker.check(&scrape());
                std::thread::sleep(every);
            }
            checker
        });
        Self { stop, thread }
    }

    /// Stops the thread; its checker, or the panic of a failed check.
    pub fn stop(self) -> ScrapeChecker {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.join() {
            Ok(checker) => checker,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// What one model's metrics must say at the end, exactly.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Expected {
    /// Requests per outcome.
    pub outcomes: BTreeMap<&'static str, u64>,
    /// Predictions per label.
    pub labels: BTreeMap<&'static str, u64>,
}

impl Expected {
    pub fn count(&mut self, outcome: &'static str, label: Option<&'static str>) {
        *self.outcomes.entry(outcome).or_default() += 1;
        if let Some(label) = label {
            *self.labels.entry(label).or_default() += 1;
        }
    }

    pub fn total(&self) -> u64 {
        self.outcomes.values().sum()
    }

    /// Checks `page` for `model`: requests and latency `_count` per outcome, `+Inf == _count`,
    /// predictions per label (and no other label), in-progress 0.
    pub fn assert_exact(&self, page: &Exposition, model: &str) {
        check_histograms(page);
        for outcome in OUTCOMES {
            let want = self.outcomes.get(outcome).copied().unwrap_or(0) as f64;
            let labels = [("model", model), ("outcome", outcome)];
            assert_eq!(
                page.value(REQUESTS, &labels),
                Some(want),
                "{REQUESTS} {labels:?}"
            );
            assert_eq!(
                page.value(&format!("{LATENCY}_count"), &labels),
                Some(want),
                "{LATENCY}_count {labels:?}"
            );
            assert_eq!(
                page.value(
                    &format!("{LATENCY}_bucket"),
                    &[("model", model), ("outcome", outcome), ("le", "+Inf")]
                ),
                Some(want),
                "{LATENCY}_bucket {labels:?} le=+Inf"
            );
        }
        assert_eq!(
            page.sum(REQUESTS, &[("model", model)]),
            self.total() as f64,
            "{REQUESTS} over every outcome"
        );
        for (label, want) in &self.labels {
            assert_eq!(
                page.value(PREDICTIONS, &[("model", model), ("label", label)]),
                Some(*want as f64),
                "{PREDICTIONS} label={label}"
            );
        }
        assert_eq!(
            page.sum(PREDICTIONS, &[("model", model)]),
            self.labels.values().sum::<u64>() as f64,
            "{PREDICTIONS} over every label (no unexpected label)"
        );
        assert_eq!(
            page.value(INPROGRESS, &[("model", model)]),
            Some(0.0),
            "{INPROGRESS} model={model}"
        );
    }
}
