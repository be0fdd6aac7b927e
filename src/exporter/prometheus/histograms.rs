//! Exact fixed-bucket histograms for the Prometheus exporter.
//!
//! metrics-exporter-prometheus keeps every histogram sample in a lock-free list of blocks and
//! turns them into bucket counts when a scrape or upkeep drains the list. That costs an
//! allocation per 64 samples, memory that grows until the next drain, and — measured here — a
//! few samples lost when a drain overlaps a recording thread (the `_count` came out short by up
//! to 0.3 % under load). Prometheus only ever asks for bucket counts, so this module keeps
//! exactly those: one atomic counter per bucket and the sum, updated in place. A sample costs a
//! binary search over the bounds and two atomic operations, allocates nothing, is never lost,
//! and memory does not grow with traffic.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use metrics::{HistogramFn, Key, KeyName, SharedString};
// Names and label keys go through the exporter's own sanitizers, so a histogram's name comes
// out exactly as metrics-exporter-prometheus writes the counters and gauges next to it.
use metrics_exporter_prometheus::formatting::{sanitize_label_key, sanitize_metric_name};

use super::text::{escape_help, escape_label_value, Number};
use crate::fast::{Lanes, NanosHistogram};
use crate::model::register::LearnBuckets;

/// One histogram series: counts per bucket (`counts[i]` holds the samples `<= bounds[i]` and
/// `> bounds[i - 1]`; the last holds those above every bound) and the sum of the samples.
#[derive(Debug)]
pub(crate) struct Series {
    bounds: Arc<[f64]>,
    counts: Box<[AtomicU64]>,
    /// The sum of the samples given in seconds, as `f64` bits.
    sum: AtomicU64,
    /// The samples the models on the direct path keep in nanoseconds, in lanes of their own
    /// (see [`Lanes`]): added in at each render.
    lanes: RwLock<Vec<Lanes>>,
}

impl Series {
    fn new(bounds: Arc<[f64]>) -> Self {
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self {
            bounds,
            counts,
            sum: AtomicU64::new(0f64.to_bits()),
            lanes: RwLock::new(Vec::new()),
        }
    }

    /// The cumulative count of each bound (then `+Inf`, the total) and the sum.
    fn snapshot(&self) -> (Vec<u64>, f64) {
        let buckets = self.bounds.len() + 1;
        let mut counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let mut sum_nanos = 0u64;
        for lanes in self
            .lanes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let (kept, sum) = lanes.totals(buckets);
            for (count, n) in counts.iter_mut().zip(kept) {
                *count = count.wrapping_add(n);
            }
            sum_nanos = sum_nanos.wrapping_add(sum);
        }
        #[allow(clippy::cast_precision_loss)] // exact below 2^53 ns (104 days of latency)
        let nanos = sum_nanos as f64 / 1e9;
        let sum = f64::from_bits(self.sum.load(Ordering::Relaxed)) + nanos;
        let mut total = 0u64;
        let cumulative = counts
            .into_iter()
            .map(|c| {
                total = total.wrapping_add(c);
                total
            })
            .collect();
        (cumulative, sum)
    }
}

impl HistogramFn for Series {
    /// Counts `value` in its bucket (a bound is inclusive, as Prometheus' `le` says) and adds it
    /// to the sum. NaN is not a measurement and is ignored.
    #[inline]
    fn record(&self, value: f64) {
        if value.is_nan() {
            return;
        }
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        if let Some(count) = self.counts.get(bucket) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
    }
}

impl NanosHistogram for Series {
    fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    fn attach(&self, lanes: Lanes) {
        self.lanes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(lanes);
    }
}

/// Every histogram registered with the exporter, by key, with the buckets of its metric.
#[derive(Debug)]
pub(crate) struct Histograms {
    default_bounds: Arc<[f64]>,
    /// The buckets configured per metric: `(bounds, explicit)`, where an explicit one came from
    /// `PrometheusExporter::monitor` and a learned one cannot replace it.
    bounds_by_name: HashMap<String, (Arc<[f64]>, bool)>,
    /// The buckets learned from the monitors whose models registered (see
    /// [`LearnBuckets`]): used unless the metric's buckets were given explicitly. The first
    /// monitor to register a metric decides; its series all share them.
    learned: RwLock<HashMap<String, Arc<[f64]>>>,
    /// Global labels, sanitized and escaped, in order.
    global_labels: Vec<(String, String)>,
    series: RwLock<HashMap<Key, Registered>>,
    help: RwLock<HashMap<String, String>>,
}

#[derive(Debug, Clone)]
struct Registered {
    /// The sanitized metric name.
    name: String,
    /// The rendered label pairs, `k="v",...` (global labels included), without braces.
    labels: String,
    series: Arc<Series>,
}

impl Histograms {
    pub(crate) fn new(
        default_bounds: &[f64],
        bounds_by_name: impl IntoIterator<Item = (String, Vec<f64>, bool)>,
        global_labels: &[(String, String)],
    ) -> Self {
        Self {
            default_bounds: default_bounds.into(),
            bounds_by_name: bounds_by_name
                .into_iter()
                .map(|(name, bounds, explicit)| (name, (bounds.into(), explicit)))
                .collect(),
            learned: RwLock::new(HashMap::new()),
            global_labels: global_labels
                .iter()
                .map(|(k, v)| (sanitize_label_key(k), escape_label_value(v)))
                .collect(),
            series: RwLock::new(HashMap::new()),
            help: RwLock::new(HashMap::new()),
        }
    }

    /// The series of `key`, created (all buckets at zero) on first sight.
    pub(crate) fn register(&self, key: &Key) -> Arc<Series> {
        if let Some(found) = self
            .series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
        {
            return Arc::clone(&found.series);
        }
        let bounds = self.bounds(key.name());
        let mut series = self.series.write().unwrap_or_else(PoisonError::into_inner);
        let entry = series.entry(key.clone()).or_insert_with(|| Registered {
            name: sanitize_metric_name(key.name()),
            labels: self.label_pairs(key),
            series: Arc::new(Series::new(bounds)),
        });
        Arc::clone(&entry.series)
    }

    /// The bounds of metric `name`: given explicitly, else learned from a monitor, else
    /// configured by default, else the default buckets.
    fn bounds(&self, name: &str) -> Arc<[f64]> {
        let configured = self.bounds_by_name.get(name);
        if let Some((bounds, true)) = configured {
            return Arc::clone(bounds);
        }
        let learned = self.learned.read().unwrap_or_else(PoisonError::into_inner);
        learned
            .get(name)
            .or(configured.map(|(bounds, _)| bounds))
            .map_or_else(|| Arc::clone(&self.default_bounds), Arc::clone)
    }

    /// Keeps the HELP text of histogram `name`.
    pub(crate) fn describe(&self, name: &KeyName, help: &SharedString) {
        self.help
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(sanitize_metric_name(name.as_str()), escape_help(help));
    }

    /// Global labels first, then the key's own; a key label replaces a global one of the same
    /// name in place.
    fn label_pairs(&self, key: &Key) -> String {
        let mut pairs = self.global_labels.clone();
        for label in key.labels() {
            let name = sanitize_label_key(label.key());
            let value = escape_label_value(label.value());
            match pairs.iter_mut().find(|(k, _)| *k == name) {
                Some(pair) => pair.1 = value,
                None => pairs.push((name, value)),
            }
        }
        let mut out = String::new();
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{v}\"");
        }
        out
    }

    /// Appends every histogram in the Prometheus text format (version 0.0.4), families sorted
    /// by name and series by labels.
    pub(crate) fn render_into(&self, out: &mut String) {
        let mut all: Vec<Registered> = self
            .series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
        let help = self.help.read().unwrap_or_else(PoisonError::into_inner);
        let mut family: Option<&str> = None;
        for registered in &all {
            let name = registered.name.as_str();
            if family != Some(name) {
                if family.is_some() {
                    out.push('\n');
                }
                if let Some(text) = help.get(name) {
                    let _ = writeln!(out, "# HELP {name} {text}");
                }
                let _ = writeln!(out, "# TYPE {name} histogram");
                family = Some(name);
            }
            let labels = registered.labels.as_str();
            let sep = if labels.is_empty() { "" } else { "," };
            let (cumulative, sum) = registered.series.snapshot();
            let bounds = &registered.series.bounds;
            for (bound, count) in bounds.iter().zip(&cumulative) {
                let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {count}");
            }
            let total = cumulative.last().copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {total}");
            let braces = |out: &mut String| {
                if !labels.is_empty() {
                    let _ = write!(out, "{{{labels}}}");
                }
            };
            let _ = write!(out, "{name}_sum");
            braces(out);
            let _ = writeln!(out, " {}", Number(sum));
            let _ = write!(out, "{name}_count");
            braces(out);
            let _ = writeln!(out, " {total}");
        }
        if family.is_some() {
            out.push('\n');
        }
    }
}

impl LearnBuckets for Histograms {
    fn learn(&self, metric: &str, buckets: &[f64]) {
        if matches!(self.bounds_by_name.get(metric), Some((_, true))) {
            return;
        }
        let mut learned = self.learned.write().unwrap_or_else(PoisonError::into_inner);
        learned
            .entry(metric.to_owned())
            .or_insert_with(|| buckets.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::{bound_in_nanos, record_in_lane, Bounds, Layout, Line};
    use metrics::Label;

    fn histograms() -> Histograms {
        Histograms::new(
            &[0.1, 1.0],
            [("custom".to_owned(), vec![5.0], true)],
            &[("region".to_owned(), "eu".to_owned())],
        )
    }

    #[test]
    fn bounds_are_inclusive_and_counts_cumulative() {
        let h = histograms();
        let s = h.register(&Key::from_name("latency"));
        for v in [0.05, 0.1, 0.5, 1.0, 7.0, f64::NAN] {
            s.record(v);
        }
        let (cumulative, sum) = s.snapshot();
        assert_eq!(cumulative, vec![2, 4, 5]);
        assert!((sum - 8.65).abs() < 1e-9, "{sum}");
    }

    /// Lanes of `stripes` stripes attached to `series`, and its bounds in nanoseconds.
    fn lanes_of(series: &Series, stripes: usize) -> (Lanes, Bounds) {
        let stride = Layout::for_bounds(series.bounds.len())
            .unwrap()
            .lane_lines();
        let lines: &'static [Line] =
            Box::leak((0..stripes * stride).map(|_| Line::default()).collect());
        let lanes = Lanes {
            lines,
            stride,
            offset: 0,
        };
        series.attach(lanes);
        let bounds = series.bounds.iter().map(|b| bound_in_nanos(*b)).collect();
        (lanes, Bounds::new(bounds))
    }

    /// Records `nanos` in the lane of stripe `stripe`.
    fn record_nanos(lanes: &Lanes, bounds: &Bounds, stripe: usize, nanos: u64) {
        let lane = &lanes.lines[stripe * lanes.stride + lanes.offset..];
        record_in_lane(lane, bounds, nanos);
    }

    /// The bucket of each value given both ways, in seconds and in nanoseconds (spread over
    /// four stripes).
    fn buckets_both_ways(bounds: &[f64], nanos: &[u64]) -> (Vec<u64>, Vec<u64>) {
        let seconds = Series::new(bounds.into());
        let whole = Series::new(bounds.into());
        let (lanes, bounds_nanos) = lanes_of(&whole, 4);
        for n in nanos {
            #[allow(clippy::cast_precision_loss)]
            seconds.record(*n as f64 / 1e9);
            record_nanos(&lanes, &bounds_nanos, (*n % 4) as usize, *n);
        }
        (seconds.snapshot().0, whole.snapshot().0)
    }

    #[test]
    fn nanoseconds_fall_in_the_bucket_their_seconds_fall_in() {
        let awkward = [-1.0, 1e-10, 1.5e-9, 0.0003, 0.005, 0.1, 0.3, 2.5, 1e12];
        let mut long: Vec<f64> = (1..=40).map(|i| f64::from(i) * 0.0007).collect();
        long.push(1e30);
        for bounds in [
            crate::names::DEFAULT_LATENCY_BUCKETS,
            &awkward[..],
            &long[..],
        ] {
            // Each bound's floor in nanoseconds, one below and one above, and a spread.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let mut nanos: Vec<u64> = bounds
                .iter()
                .filter(|b| **b >= 0.0 && **b < 1e9)
                .flat_map(|b| {
                    let n = (b * 1e9).floor() as u64;
                    [n.saturating_sub(1), n, n + 1]
                })
                .collect();
            nanos.extend((0..2000u64).map(|i| i * i * 997));
            nanos.extend([0, u64::MAX / 4]);
            let (seconds, whole) = buckets_both_ways(bounds, &nanos);
            assert_eq!(seconds, whole, "bounds {bounds:?}");
            assert_eq!(whole.last().copied(), Some(nanos.len() as u64));
        }
    }

    #[test]
    fn the_sum_adds_both_kinds_of_sample() {
        let s = Series::new(vec![1.0].into());
        let (lanes, bounds) = lanes_of(&s, 2);
        record_nanos(&lanes, &bounds, 0, 1_500_000_000);
        record_nanos(&lanes, &bounds, 1, 250);
        s.record(0.25);
        let (cumulative, sum) = s.snapshot();
        assert_eq!(cumulative, vec![2, 3]);
        assert!((sum - 1.750_000_25).abs() < 1e-12, "{sum}");
    }

    #[test]
    fn one_series_per_key_with_the_buckets_of_its_metric() {
        let h = histograms();
        let key = Key::from_parts("custom", vec![Label::new("model", "a")]);
        assert!(Arc::ptr_eq(&h.register(&key), &h.register(&key.clone())));
        assert_eq!(&*h.register(&key).bounds, &[5.0]);
        assert_eq!(&*h.register(&Key::from_name("other")).bounds, &[0.1, 1.0]);
    }

    #[test]
    fn renders_the_text_format_with_help_global_labels_and_escaping() {
        let h = histograms();
        h.describe(
            &KeyName::from("custom"),
            &SharedString::from("Line one\nline \\ two"),
        );
        let key = Key::from_parts(
            "custom",
            vec![
                Label::new("model", "a\"b\\c\nd"),
                Label::new("region", "us"),
            ],
        );
        h.register(&key).record(2.5);
        h.register(&Key::from_name("bare-name")).record(0.5);
        let mut out = String::new();
        h.render_into(&mut out);
        let expected = "\
# TYPE bare_name histogram
bare_name_bucket{region=\"eu\",le=\"0.1\"} 0
bare_name_bucket{region=\"eu\",le=\"1\"} 1
bare_name_bucket{region=\"eu\",le=\"+Inf\"} 1
bare_name_sum{region=\"eu\"} 0.5
bare_name_count{region=\"eu\"} 1

# HELP custom Line one\\nline \\\\ two
# TYPE custom histogram
custom_bucket{region=\"us\",model=\"a\\\"b\\\\c\\nd\",le=\"5\"} 1
custom_bucket{region=\"us\",model=\"a\\\"b\\\\c\\nd\",le=\"+Inf\"} 1
custom_sum{region=\"us\",model=\"a\\\"b\\\\c\\nd\"} 2.5
custom_count{region=\"us\",model=\"a\\\"b\\\\c\\nd\"} 1

";
        assert_eq!(out, expected);
    }

    #[test]
    fn odd_names_render_as_the_exporter_renders_its_counters() {
        let (recorder, handle) = crate::prometheus().build().unwrap();
        // One name with characters the text format does not allow (a leading digit, a space, a
        // dash, a non-ASCII letter), and the empty name, which the exporter leaves empty.
        for name in ["1st model-latency:\u{b5}s", ""] {
            metrics::with_local_recorder(&recorder, || {
                let labels = [("9model-id", "a")];
                metrics::counter!(name, &labels).increment(1);
                metrics::histogram!(name, &labels).record(0.5);
            });
        }
        let out = handle.render();
        for (counter, histogram) in [
            (
                "_st_model_latency:_s{_model_id=\"a\"} 1\n",
                "_st_model_latency:_s_count{_model_id=\"a\"} 1\n",
            ),
            ("\n{_model_id=\"a\"} 1\n", "\n_count{_model_id=\"a\"} 1\n"),
        ] {
            assert!(out.contains(counter), "{counter:?} in\n{out}");
            assert!(out.contains(histogram), "{histogram:?} in\n{out}");
        }
        assert!(
            out.contains("# TYPE _st_model_latency:_s counter\n"),
            "{out}"
        );
        assert!(
            out.contains("# TYPE _st_model_latency:_s histogram\n"),
            "{out}"
        );
        assert!(out.contains("# TYPE  counter\n"), "{out}");
        assert!(out.contains("# TYPE  histogram\n"), "{out}");
    }

    #[test]
    fn no_sample_is_lost_while_rendering_concurrently() {
        let h = Arc::new(Histograms::new(&[0.5], [], &[]));
        let series = h.register(&Key::from_name("x"));
        let per_thread = 50_000u64;
        let writers: Vec<_> = (0..3)
            .map(|_| {
                let series = Arc::clone(&series);
                std::thread::spawn(move || {
                    for i in 0..per_thread {
                        series.record(if i % 2 == 0 { 0.25 } else { 0.75 });
                    }
                })
            })
            .collect();
        let mut last = 0;
        while !writers.iter().all(std::thread::JoinHandle::is_finished) {
            let (cumulative, _) = series.snapshot();
            let total = *cumulative.last().unwrap();
            assert!(total >= last, "the count went down: {last} -> {total}");
            last = total;
            let mut out = String::new();
            h.render_into(&mut out);
        }
        for w in writers {
            w.join().unwrap();
        }
        let (cumulative, sum) = series.snapshot();
        assert_eq!(cumulative, vec![3 * per_thread / 2, 3 * per_thread]);
        assert!((sum - 3.0 * per_thread as f64 * 0.5).abs() < 1e-6, "{sum}");
    }
}
