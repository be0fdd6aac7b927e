//! How the cost of monitoring grows with concurrent threads and with the number of series.
//! Run: `cargo bench --bench scaling -- --warm-up-time 1 --measurement-time 3`.
//!
//! `threads/<case>/<n>`: `n` threads (1, 2, 4) send requests at the same time, each through its
//! own clone of one service, so all of them write the same metric handles.
//!
//! - `bare`: a ready service alone (`ready` + `call`, response body read to its end);
//! - `floor`: bare plus what any such layer must do (two clock reads, a counter, a histogram,
//!   a gauge up and down, on handles registered once and copied into each thread);
//! - `floor_label`, `floor_refcounts` (diagnostics): the floor plus a predictions counter, then
//!   also the reference-count traffic of the layer's guard (the model's `Arc` and the label's
//!   counter handle cloned and dropped per request), to tell where the layer's extra cost is;
//! - `layer`: bare wrapped in `InferenceMonitorLayer::for_model`, reporting a label
//!   the monitor declares in advance (`MonitorBuilder::labels`);
//! - `layer_unlisted`: the same with a monitor that does not declare its labels (the default,
//!   as with `InferenceMonitorLayer::new`), so each request looks its label up under a read lock.
//!
//! The figure is the time from the first of the `n` threads starting its `iters` requests to
//! the last one finishing them (the threads, released together, time themselves), divided by
//! `iters`: the time one request takes a thread while `n` threads run (ns per request per
//! thread). Without contention and with a core per thread it would stay at the 1-thread
//! figure; with more threads than cores it grows at least in proportion, contention or not.
//! The throughput criterion prints is the total over the `n` threads. The threads live for the
//! whole benchmark and wait on barriers between samples; histograms are bucket counters, so
//! nothing needs draining between samples.
//!
//! `render/<n>`: one `MetricsHandle::render` with `n` series present, made of models of 100
//! series each (4 request counters, 4 latency histograms, 1 in-progress gauge and 91 predicted
//! label counters). The lines and bytes of each case are printed once, before it runs.
//!
//! `render_after/<n>_constructions`: one render after the same model was built `n` times (1,
//! 10,000): the same page in the same time, since a construction reuses the registration.
//!
//! Each group records into its own Prometheus recorder, built without a global install.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use inference_monitor::{InferenceMonitorLayer, Monitor, Outcome};
use metrics::{Counter, Gauge, Histogram};
use tower::Layer;

mod support;

use support::{inner, request};

const THREADS: [usize; 3] = [1, 2, 4];
const SERIES: [usize; 3] = [100, 1_000, 10_000];
/// Predicted labels per model in the render cases: with the 9 series every model has, 100.
const LABELS_PER_MODEL: usize = 91;
const SERIES_PER_MODEL: usize = LABELS_PER_MODEL + 9;

/// Work one thread does in a sample: `iters` requests.
type Job = Box<dyn FnMut(u64) + Send>;

/// Threads started once, released together for each sample.
struct Pool {
    iters: Arc<AtomicU64>,
    /// When the first thread started its requests in the current sample, and when the last
    /// one finished, in nanoseconds since `base`.
    first: Arc<AtomicU64>,
    last: Arc<AtomicU64>,
    start: Arc<Barrier>,
    end: Arc<Barrier>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Tells the threads to leave instead of running a sample.
    const STOP: u64 = u64::MAX;

    fn new(jobs: Vec<Job>) -> Self {
        let base = Instant::now();
        let since = move || u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let iters = Arc::new(AtomicU64::new(0));
        let first = Arc::new(AtomicU64::new(u64::MAX));
        let last = Arc::new(AtomicU64::new(0));
        // The thread that hands out the samples takes part in both barriers.
        let start = Arc::new(Barrier::new(jobs.len() + 1));
        let end = Arc::new(Barrier::new(jobs.len() + 1));
        let threads = jobs
            .into_iter()
            .map(|mut job| {
                let (iters, first, last) = (iters.clone(), first.clone(), last.clone());
                let (start, end) = (start.clone(), end.clone());
                std::thread::spawn(move || loop {
                    start.wait();
                    let n = iters.load(Ordering::Acquire);
                    if n == Self::STOP {
                        return;
                    }
                    first.fetch_min(since(), Ordering::AcqRel);
                    job(n);
                    last.fetch_max(since(), Ordering::AcqRel);
                    end.wait();
                })
            })
            .collect();
        Self {
            iters,
            first,
            last,
            start,
            end,
            threads,
        }
    }

    /// Runs `iters` requests on every thread at once; the time from the first thread's start
    /// to the last one's end.
    ///
    /// The threads time themselves, so the time the sampling thread takes to wake up at the
    /// barriers (tens of microseconds, and variable) is not counted.
    fn run(&self, iters: u64) -> Duration {
        self.iters.store(iters, Ordering::Release);
        self.first.store(u64::MAX, Ordering::Release);
        self.last.store(0, Ordering::Release);
        self.start.wait();
        self.end.wait();
        let first = self.first.load(Ordering::Acquire);
        let last = self.last.load(Ordering::Acquire);
        Duration::from_nanos(last.saturating_sub(first))
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.iters.store(Self::STOP, Ordering::Release);
        self.start.wait();
        for t in self.threads.drain(..) {
            t.join().expect("a benchmark thread panicked");
        }
    }
}

/// Benchmarks `threads/<name>/<n>` for each thread count; `job` makes one thread's work.
fn bench_threads(c: &mut Criterion, name: &str, mut job: impl FnMut() -> Job) {
    let mut group = c.benchmark_group("threads");
    for n in THREADS {
        let pool = Pool::new((0..n).map(|_| job()).collect());
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new(name, n), |b| {
            b.iter_custom(|iters| pool.run(iters));
        });
    }
    group.finish();
}

/// The handles of the floor, shared by every request as one model's handles are.
struct Handles {
    counter: Counter,
    histogram: Histogram,
    gauge: Gauge,
    label: Counter,
}

fn threads(c: &mut Criterion) {
    let (recorder, _metrics) = inference_monitor::prometheus()
        .build()
        .expect("build the Prometheus recorder");
    let listed = Monitor::builder()
        .labels(["approved", "rejected"])
        .build()
        .unwrap();
    let unlisted = Monitor::new();
    let (handles, layered, layered_unlisted) = metrics::with_local_recorder(&recorder, || {
        let handles = Arc::new(Handles {
            counter: metrics::counter!(
                "floor_requests_total", "model" => "loan", "outcome" => "success"
            ),
            histogram: metrics::histogram!(
                "floor_latency_seconds", "model" => "loan", "outcome" => "success"
            ),
            gauge: metrics::gauge!("floor_inprogress", "model" => "loan"),
            label: metrics::counter!(
                "floor_predictions_total", "model" => "loan", "label" => "approved"
            ),
        });
        let layered = InferenceMonitorLayer::for_model(listed.model("loan")).layer(inner());
        let layered_unlisted =
            InferenceMonitorLayer::for_model(unlisted.model("loan_unlisted")).layer(inner());
        (handles, layered, layered_unlisted)
    });

    bench_threads(c, "bare", || {
        let mut svc = inner();
        Box::new(move |iters| (0..iters).for_each(|_| request(&mut svc)))
    });
    bench_threads(c, "floor", || {
        // Each thread holds its own copies of the handles: only the metric values are shared.
        let (counter, histogram, gauge) = (
            handles.counter.clone(),
            handles.histogram.clone(),
            handles.gauge.clone(),
        );
        let mut svc = inner();
        Box::new(move |iters| {
            for _ in 0..iters {
                gauge.increment(1.0);
                let start = Instant::now();
                request(&mut svc);
                let elapsed = Instant::now().duration_since(start);
                counter.increment(1);
                histogram.record(elapsed.as_secs_f64());
                gauge.decrement(1.0);
            }
        })
    });
    // Diagnostics: the floor plus, step by step, the other shared writes the layer makes.
    bench_threads(c, "floor_label", || {
        // + the predictions counter the layer also increments.
        let (counter, histogram, gauge, label) = (
            handles.counter.clone(),
            handles.histogram.clone(),
            handles.gauge.clone(),
            handles.label.clone(),
        );
        let mut svc = inner();
        Box::new(move |iters| {
            for _ in 0..iters {
                gauge.increment(1.0);
                let start = Instant::now();
                request(&mut svc);
                let elapsed = Instant::now().duration_since(start);
                counter.increment(1);
                histogram.record(elapsed.as_secs_f64());
                label.increment(1);
                gauge.decrement(1.0);
            }
        })
    });
    bench_threads(c, "floor_refcounts", || {
        // + what the layer's guard does with reference counts: it clones the model (one `Arc`
        // shared by all requests, handles read through it) and the label's counter handle,
        // and drops both when the request is recorded.
        let shared = Arc::clone(&handles);
        let mut svc = inner();
        Box::new(move |iters| {
            for _ in 0..iters {
                let model = black_box(Arc::clone(&shared));
                model.gauge.increment(1.0);
                let start = Instant::now();
                request(&mut svc);
                let label = black_box(model.label.clone());
                let elapsed = Instant::now().duration_since(start);
                model.counter.increment(1);
                model.histogram.record(elapsed.as_secs_f64());
                label.increment(1);
                model.gauge.decrement(1.0);
                drop(label);
                drop(model);
            }
        })
    });
    bench_threads(c, "layer", || {
        let mut svc = layered.clone();
        Box::new(move |iters| (0..iters).for_each(|_| request(&mut svc)))
    });
    bench_threads(c, "layer_unlisted", || {
        let mut svc = layered_unlisted.clone();
        Box::new(move |iters| (0..iters).for_each(|_| request(&mut svc)))
    });
}

/// What one render produced: exposition lines (samples), comment lines, bytes.
fn describe_render(text: &str) -> (usize, usize, usize) {
    let comments = text.lines().filter(|l| l.starts_with('#')).count();
    let samples = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count();
    (samples, comments, text.len())
}

fn render(c: &mut Criterion) {
    let mut group = c.benchmark_group("render");
    // A render of 10,000 series takes milliseconds: flat sampling keeps the run short.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(30);
    for n in SERIES {
        let models = n / SERIES_PER_MODEL;
        let (recorder, metrics) = inference_monitor::prometheus()
            .build()
            .expect("build the Prometheus recorder");
        let monitor = Monitor::builder()
            .max_models(models)
            .max_labels(LABELS_PER_MODEL)
            .labels((0..LABELS_PER_MODEL).map(|i| format!("class_{i:02}")))
            .build()
            .unwrap();
        metrics::with_local_recorder(&recorder, || {
            for m in 0..models {
                let model = monitor.model(&format!("model_{m:04}"));
                // One request per outcome, so every series has a value.
                for (i, outcome) in Outcome::ALL.into_iter().enumerate() {
                    let mut request = model.start();
                    request.predicted(&format!("class_{i:02}"));
                    request.finish(outcome);
                }
            }
        });
        assert_eq!(monitor.model_count(), models);
        let (samples, comments, bytes) = describe_render(&metrics.render());
        eprintln!(
            "render/{n}: {n} series ({models} models x {SERIES_PER_MODEL}: {} counters, \
             {} histograms, {} gauges) -> {samples} sample lines + {comments} HELP/TYPE lines, \
             {bytes} bytes",
            models * (4 + LABELS_PER_MODEL),
            models * 4,
            models,
        );
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| black_box(metrics.render()));
        });
    }
    group.finish();
}

/// `render_after/<n>_constructions`: one render after the same model's monitor and layer were
/// built `n` times (1 and 10,000), each construction sending one request. Building a model
/// again reuses its registration, so the two must render the same page in the same time
/// (before, each construction attached one more sampler and more lanes to walk).
fn render_after_constructions(c: &mut Criterion) {
    let mut group = c.benchmark_group("render_after");
    for n in [1usize, 10_000] {
        let (recorder, metrics) = inference_monitor::prometheus()
            .build()
            .expect("build the Prometheus recorder");
        metrics::with_local_recorder(&recorder, || {
            for i in 0..n {
                let model = if i % 2 == 0 {
                    inference_monitor::ModelMonitor::new("loan")
                } else {
                    Monitor::new().model("loan")
                };
                let mut request = model.start();
                request.predicted("approved");
                request.finish(Outcome::Success);
            }
        });
        let (samples, comments, bytes) = describe_render(&metrics.render());
        eprintln!(
            "render_after/{n}_constructions: {samples} sample lines + {comments} HELP/TYPE \
             lines, {bytes} bytes"
        );
        group.bench_function(format!("{n}_constructions"), |b| {
            b.iter(|| black_box(metrics.render()));
        });
    }
    group.finish();
}

criterion_group!(benches, threads, render, render_after_constructions);
criterion_main!(benches);
