//! Test your own instrumentation without a global recorder or a port.
//!
//! [`TestRecorder`] is a [`metrics::Recorder`] that keeps every value it is given, so a test
//! can assert exact counts. Make it current for one thread with [`TestRecorder::local`] (or for
//! a closure with `metrics::with_local_recorder`); handles registered while it is current keep
//! recording into it from any thread.
//!
//! ```
//! use inference_monitor::{testing::TestRecorder, ModelMonitor, Outcome};
//!
//! let recorder = TestRecorder::new();
//! let _local = recorder.local();
//! let model = ModelMonitor::new("loan");
//! model.start().finish(Outcome::ClientError);
//!
//! assert_eq!(
//!     recorder.counter("inference_requests_total", &[("model", "loan"), ("outcome", "client_error")]),
//!     Some(1)
//! );
//! assert_eq!(
//!     recorder.histogram("inference_request_latency_seconds", &[("model", "loan"), ("outcome", "client_error")]).map(|h| h.len()),
//!     Some(1)
//! );
//! // Series that were never registered are `None`, not zero.
//! assert_eq!(recorder.counter("inference_requests_total", &[("model", "other")]), None);
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, LocalRecorderGuard, Metadata, Recorder,
    SharedString, Unit,
};

/// A recorder that keeps every value, for exact assertions in tests. Clones share the values.
#[derive(Clone, Default)]
pub struct TestRecorder {
    state: Arc<State>,
}

struct State {
    /// Its number in the registration table: models built for this recorder are shared by
    /// its clones and by no other recorder.
    id: u64,
    counters: Mutex<HashMap<Key, Arc<AtomicU64>>>,
    gauges: Mutex<HashMap<Key, Arc<AtomicU64>>>,
    histograms: Mutex<HashMap<Key, Arc<Samples>>>,
    descriptions: Mutex<HashMap<String, Description>>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            id: crate::model::register::next_recorder_id(),
            counters: Mutex::default(),
            gauges: Mutex::default(),
            histograms: Mutex::default(),
            descriptions: Mutex::default(),
        }
    }
}

/// The description a metric was given: its kind, unit and HELP text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// `"counter"`, `"gauge"` or `"histogram"`.
    pub kind: &'static str,
    /// The unit, if one was given.
    pub unit: Option<Unit>,
    /// The HELP text.
    pub help: String,
}

#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(value);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn matches(key: &Key, name: &str, labels: &[(&str, &str)]) -> bool {
    key.name() == name
        && key.labels().len() == labels.len()
        && labels
            .iter()
            .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
}

impl fmt::Debug for TestRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestRecorder")
            .field("counters", &lock(&self.state.counters).len())
            .field("gauges", &lock(&self.state.gauges).len())
            .field("histograms", &lock(&self.state.histograms).len())
            .finish()
    }
}

impl TestRecorder {
    /// An empty recorder.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes this recorder the current one on this thread until the guard is dropped.
    #[must_use = "the recorder is current only while the guard lives"]
    pub fn local(&self) -> LocalRecorderGuard<'_> {
        metrics::set_default_local_recorder(self)
    }

    /// The value of the counter `name` with exactly these labels (in any order), or `None`
    /// if no such series was registered.
    #[must_use]
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
        lock(&self.state.counters)
            .iter()
            .find(|(k, _)| matches(k, name, labels))
            .map(|(_, v)| v.load(Ordering::Acquire))
    }

    /// The value of the gauge `name` with exactly these labels, or `None`.
    #[must_use]
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        lock(&self.state.gauges)
            .iter()
            .find(|(k, _)| matches(k, name, labels))
            .map(|(_, v)| f64::from_bits(v.load(Ordering::Acquire)))
    }

    /// Every sample recorded in the histogram `name` with exactly these labels, or `None`.
    #[must_use]
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Option<Vec<f64>> {
        lock(&self.state.histograms)
            .iter()
            .find(|(k, _)| matches(k, name, labels))
            .map(|(_, v)| lock(&v.0).clone())
    }

    /// The sum of every series of counter `name` whose labels include `labels`.
    #[must_use]
    pub fn counter_sum(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        lock(&self.state.counters)
            .iter()
            .filter(|(k, _)| {
                k.name() == name
                    && labels
                        .iter()
                        .all(|(lk, lv)| k.labels().any(|l| l.key() == *lk && l.value() == *lv))
            })
            .map(|(_, v)| v.load(Ordering::Acquire))
            .sum()
    }

    /// The label sets of every series of `name` (counters, gauges and histograms), sorted.
    #[must_use]
    pub fn series(&self, name: &str) -> Vec<Vec<(String, String)>> {
        let mut out = Vec::new();
        let mut collect = |keys: Vec<Key>| {
            for k in keys.into_iter().filter(|k| k.name() == name) {
                let mut labels: Vec<_> = k
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                labels.sort();
                out.push(labels);
            }
        };
        collect(lock(&self.state.counters).keys().cloned().collect());
        collect(lock(&self.state.gauges).keys().cloned().collect());
        collect(lock(&self.state.histograms).keys().cloned().collect());
        out.sort();
        out
    }

    /// The description given to metric `name`, if any.
    #[must_use]
    pub fn description(&self, name: &str) -> Option<Description> {
        lock(&self.state.descriptions).get(name).cloned()
    }

    fn describe(&self, kind: &'static str, key: &KeyName, unit: Option<Unit>, help: &str) {
        lock(&self.state.descriptions).insert(
            key.as_str().to_owned(),
            Description {
                kind,
                unit,
                help: help.to_owned(),
            },
        );
    }
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        crate::model::register::offer(self, self.state.id, None);
        self.describe("counter", &key, unit, &description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe("gauge", &key, unit, &description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe("histogram", &key, unit, &description);
    }

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        let cell = lock(&self.state.counters)
            .entry(key.clone())
            .or_default()
            .clone();
        Counter::from_arc(cell)
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        let cell = lock(&self.state.gauges)
            .entry(key.clone())
            .or_default()
            .clone();
        Gauge::from_arc(cell)
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        let cell = lock(&self.state.histograms)
            .entry(key.clone())
            .or_default()
            .clone();
        Histogram::from_arc(cell)
    }
}
