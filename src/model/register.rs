//! Registration: one model of one configuration is registered once per recorder, and every
//! later construction of it reuses that registration.
//!
//! A model's state is never freed (a response body may outlive everything that made it, and
//! holding the state by a plain `&'static` makes cloning a service a pointer copy), so building
//! the same model again must not build its state again: `ModelMonitor::new("loan")`,
//! `InferenceMonitorLayer::new("loan")`, a `monitor!` call site, a router built per test or per
//! configuration reload all end here, and all get the one registration of `loan` with the
//! recorder in effect. Without this table each construction leaked a new block (with the crate's
//! recorder, a few cache lines per stripe: about 26 KiB per model on 16 cores) and attached one
//! more sampler and more latency lanes that every later render walked.
//!
//! The table is keyed by the recorder, the monitor's whole configuration (names, buckets,
//! limits, preset labels, declared signals) and the model name. Per recorder and
//! configuration it admits at most `max_models` names; further names share the model `other`,
//! as within one [`Monitor`](crate::Monitor). So the memory and the render work it can hold are
//! bounded by the recorders and configurations a program uses, not by how often it builds.
//!
//! # Which recorder
//!
//! A recorder is known by identity only when a reused registration could never point at a
//! recorder that has gone away:
//!
//! - the crate's own recorders ([`PrometheusRecorder`](crate::exporter::prometheus::PrometheusRecorder),
//!   [`TestRecorder`](crate::testing::TestRecorder)) say who they are: each has a number of its
//!   own, offered through a thread-local slot while a model describes its metrics ([`offer`]),
//!   and taken only when the recorder in effect has the address and size of the one offering
//!   (the rule of the direct path: a recorder wrapping the crate's is another one);
//! - a recorder of size zero (the `metrics` no-op recorder when none is installed) has no state
//!   to lose: its registrations are shared, and they re-bind to the first real recorder a
//!   request of theirs meets (`register::bound`), so a model built before the exporter is
//!   installed still records;
//! - any other recorder (another crate's, or a wrapper) is registered with anew at each
//!   construction, as the `metrics` facade does: an address could be reused by a later
//!   recorder once a local one is dropped, and a registration reused then would record into
//!   the dead one. Build the layer once per recorder with those (a few hundred bytes each; the
//!   recorder keeps one series per key itself, so there is no extra render work).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock, PoisonError};

use metrics::{Recorder, SharedString, Unit};

use metrics::{Key, Label};

use super::clock::Clock;
use super::handles::{counter, key_name, METADATA};
use super::shared::{Handle, ModelShared};
use super::Monitor;
use crate::fast::{self, Block, Path};
use crate::names::{self, MetricNames, OVERFLOW_VALUE};
use crate::Outcome;

/// A new number for one of the crate's recorders: its identity in the registration table.
pub(crate) fn next_recorder_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// What a recorder of the crate can be told about a model's configuration when it registers:
/// the buckets of its histograms, so an exporter that was not given the monitor learns them.
pub(crate) trait LearnBuckets: Send + Sync {
    /// Uses `buckets` for histogram `metric` unless it was configured already.
    fn learn(&self, metric: &str, buckets: &[f64]);
}

/// What one of the crate's recorders offers while a model describes its metrics.
struct Identity {
    /// The address and the size of the recorder that made the offer.
    recorder: (*const (), usize),
    id: u64,
    learn: Option<Arc<dyn LearnBuckets>>,
}

thread_local! {
    static OFFERED: RefCell<Option<Identity>> = const { RefCell::new(None) };
}

/// Called by the crate's recorders from `describe_counter`: names the recorder at `recorder`
/// (its `self`) by `id`, with what it can learn.
pub(crate) fn offer<R>(recorder: &R, id: u64, learn: Option<Arc<dyn LearnBuckets>>) {
    let identity = Identity {
        recorder: (std::ptr::from_ref(recorder).cast(), size_of::<R>()),
        id,
        learn,
    };
    let _ = OFFERED.try_with(|slot| *slot.borrow_mut() = Some(identity));
}

fn take_offer() -> Option<Identity> {
    OFFERED
        .try_with(|slot| slot.borrow_mut().take())
        .ok()
        .flatten()
}

/// The recorder a model registers with, as far as the table can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RecorderId {
    /// One of the crate's recorders, by its number.
    Own(u64),
    /// A recorder of size zero: the no-op recorder (nothing installed), or one whose state is
    /// all static.
    Stateless,
    /// Any other recorder: not shared (see the module doc).
    Foreign,
}

/// Describes the four metrics of `monitor` to the recorder in effect (HELP texts and units)
/// and tells which recorder that is; one of the crate's learns the monitor's buckets.
pub(crate) fn describe(monitor: &Monitor) -> RecorderId {
    metrics::with_recorder(|recorder| {
        drop(take_offer());
        describe_to(recorder, monitor.names());
        let current: *const () = std::ptr::from_ref(recorder).cast();
        let size = size_of_val(recorder);
        match take_offer().filter(|offer| offer.recorder == (current, size)) {
            Some(offer) => {
                if let Some(learn) = &offer.learn {
                    for (metric, buckets) in monitor.histogram_buckets() {
                        learn.learn(metric, buckets);
                    }
                }
                RecorderId::Own(offer.id)
            }
            None if size == 0 => RecorderId::Stateless,
            None => match INSTALLED_AT.get() {
                // Another crate's recorder that the crate installed (the OTLP one): never
                // dropped, so its address names it.
                Some(&(at, id)) if at == (current as usize, size) => RecorderId::Own(id),
                _ => RecorderId::Foreign,
            },
        }
    })
}

/// The number of the crate's recorder installed as the process's global one (0: none).
static INSTALLED: AtomicU64 = AtomicU64::new(0);

/// Called when one of the crate's recorders, numbered `id`, becomes the global recorder.
pub(crate) fn installed(id: u64) {
    INSTALLED.store(id, Ordering::Relaxed);
}

/// The address and size of a recorder of another crate that the crate installed as the
/// global one, and the number it goes by.
static INSTALLED_AT: OnceLock<((usize, usize), u64)> = OnceLock::new();

/// Called right after the crate installed another crate's recorder as the global one (the
/// OTLP exporter): from now on that recorder is known by its address, which a global recorder
/// keeps for the life of the process.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn installed_foreign() {
    metrics::with_recorder(|recorder| {
        let at = (
            std::ptr::from_ref(recorder).cast::<()>() as usize,
            size_of_val(recorder),
        );
        let id = next_recorder_id();
        if INSTALLED_AT.set((at, id)).is_ok() {
            installed(id);
        }
    });
}

/// Whether a registration with `recorder` may be kept by a model built before any recorder
/// was installed: the crate's installed recorder (it is never dropped), or another crate's
/// (bound at first use: such a recorder is usually the global one).
pub(crate) fn is_lasting(recorder: RecorderId) -> bool {
    match recorder {
        RecorderId::Own(id) => id == INSTALLED.load(Ordering::Relaxed),
        RecorderId::Foreign => true,
        RecorderId::Stateless => false,
    }
}

fn describe_to(recorder: &dyn Recorder, names: &MetricNames) {
    let text = |s: &'static str| SharedString::const_str(s);
    recorder.describe_counter(
        key_name(&names.requests_total),
        Some(Unit::Count),
        text(names::help::REQUESTS_TOTAL),
    );
    recorder.describe_histogram(
        key_name(&names.request_latency_seconds),
        Some(Unit::Seconds),
        text(names::help::REQUEST_LATENCY),
    );
    recorder.describe_counter(
        key_name(&names.predictions_total),
        Some(Unit::Count),
        text(names::help::PREDICTIONS_TOTAL),
    );
    recorder.describe_gauge(
        key_name(&names.inprogress_requests),
        Some(Unit::Count),
        text(names::help::INPROGRESS),
    );
}

/// The models of one configuration registered with one recorder.
#[derive(Default)]
struct Family {
    models: HashMap<Box<str>, &'static Handle>,
}

type Table = HashMap<(RecorderId, Arc<str>), Family>;

static TABLE: LazyLock<Mutex<Table>> = LazyLock::new(Mutex::default);

/// The model `name` (already bounded by `monitor`'s limiter) of `monitor`, registered with the
/// recorder in effect, or the registration made before for the same recorder, configuration
/// and name.
pub(crate) fn model(monitor: &Monitor, name: &str) -> &'static Handle {
    let recorder = describe(monitor);
    if recorder == RecorderId::Foreign {
        return build(monitor, name, false);
    }
    let unbound = recorder == RecorderId::Stateless;
    let mut table = TABLE.lock().unwrap_or_else(PoisonError::into_inner);
    let family = table
        .entry((recorder, Arc::clone(monitor.config_key())))
        .or_default();
    if let Some(handle) = family.models.get(name) {
        return handle;
    }
    // Full: a new name shares `other`, as in one monitor's own limiter.
    let name = if family.models.len() >= monitor.max_models() {
        OVERFLOW_VALUE
    } else {
        name
    };
    if let Some(handle) = family.models.get(name) {
        return handle;
    }
    // Registered under the lock, so two threads building the same model make one.
    let handle = build(monitor, name, unbound);
    family.models.insert(name.into(), handle);
    handle
}

/// The registration requests of `handle` record into: `handle` itself, unless it was made
/// before any recorder was installed. Such a model binds to the first recorder its requests
/// meet, so a layer built before `prometheus().install()` still records.
#[inline]
pub(crate) fn bound(handle: &'static Handle) -> &'static Handle {
    if handle.block.path == Path::Unbound {
        rebind(handle)
    } else {
        handle
    }
}

#[cold]
#[inline(never)]
fn rebind(handle: &'static Handle) -> &'static Handle {
    if let Some(bound) = handle.rebound.get() {
        return bound;
    }
    let shared = &handle.shared;
    match describe(shared.monitor()) {
        RecorderId::Stateless => handle,
        recorder => {
            let model = model(shared.monitor(), shared.name());
            // Kept for good only with a recorder that cannot go away: the installed one, or
            // another crate's (bound at first use). A local test recorder is looked up at each
            // request instead.
            if is_lasting(recorder) {
                handle.rebound.get_or_init(|| model)
            } else {
                model
            }
        }
    }
}

/// Registers model `name` of `monitor` with the recorder in effect, which was told the
/// metrics' descriptions already ([`model`], the one caller). With the crate's own recorder
/// in effect, its offers are taken: the histograms in nanoseconds and the in-progress gauge
/// read at render (see [`fast`]).
fn build(monitor: &Monitor, name: &str, unbound: bool) -> &'static Handle {
    let names = monitor.names();
    let model = metrics::SharedString::from(name.to_owned());
    let model_label = || Label::new(names::LABEL_MODEL, model.clone());
    let with_outcome =
        |o: Outcome| vec![model_label(), Label::new(names::LABEL_OUTCOME, o.as_str())];
    let requests = Outcome::ALL.map(|o| counter(&names.requests_total, with_outcome(o)));
    let latency = Outcome::ALL.map(|o| {
        let key = Key::from_parts(key_name(&names.request_latency_seconds), with_outcome(o));
        fast::register(|r| r.register_histogram(&key, &METADATA))
    });
    let key = Key::from_parts(key_name(&names.inprogress_requests), vec![model_label()]);
    let (inprogress, samplers) = fast::register(|r| r.register_gauge(&key, &METADATA));
    let samplers = samplers.map(|offer| offer.samplers);
    // The direct path needs both: the histograms' nanosecond side (all four, with the same
    // bounds) and a render to sample at.
    let nanos = latency
        .iter()
        .map(|(_, offer)| offer.as_ref().and_then(|o| o.nanos.clone()))
        .collect::<Option<Vec<_>>>()
        .filter(|all| all.windows(2).all(|w| w[0].bounds() == w[1].bounds()))
        .filter(|_| samplers.is_some());
    let latency = latency.map(|(histogram, _)| histogram);
    let shared = ModelShared::new(model, monitor, requests, latency, inprogress);
    let block = Block::new(Clock::get(), monitor.has_request_signals(), unbound, nanos);
    let direct = block.path == Path::Direct;
    let handle: &'static Handle = Box::leak(Box::new(Handle::new(block, shared)));
    if let Some(samplers) = samplers.filter(|_| direct) {
        samplers.attach(handle);
    }
    handle
}

/// Which recorder is in effect, as [`describe`] tells it for the default monitor.
#[cfg(test)]
fn describe_default() -> RecorderId {
    describe(&Monitor::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelMonitor;
    use crate::testing::TestRecorder;

    #[test]
    fn one_recorder_one_configuration_one_model_is_one_registration() {
        let recorder = TestRecorder::new();
        let _local = recorder.local();
        let first = ModelMonitor::new("shared");
        for _ in 0..1_000 {
            assert!(ModelMonitor::new("shared").same_as(&first));
            assert!(Monitor::new().model("shared").same_as(&first));
        }
        // Another configuration is another registration; so is another recorder.
        let prefixed = Monitor::builder().prefix("p").build().unwrap();
        assert!(!prefixed.model("shared").same_as(&first));
        let other = TestRecorder::new();
        let theirs = metrics::with_local_recorder(&other, || ModelMonitor::new("shared"));
        assert!(!theirs.same_as(&first));
        // A clone of the recorder shares its values, and so its registrations.
        let clone = recorder.clone();
        let again = metrics::with_local_recorder(&clone, || ModelMonitor::new("shared"));
        assert!(again.same_as(&first));
    }

    #[test]
    fn past_max_models_of_one_configuration_new_names_share_other() {
        let recorder = TestRecorder::new();
        let _local = recorder.local();
        let build = || Monitor::builder().max_models(2).build().unwrap();
        // Each monitor admits two names, but the recorder keeps two models of the
        // configuration, whatever the number of monitors.
        let a = build().model("a");
        let b = build().model("b");
        let c = build().model("c");
        assert_eq!((a.name(), b.name(), c.name()), ("a", "b", "other"));
        assert!(build().model("d").same_as(&c));
        assert!(build().model("a").same_as(&a));
    }

    /// A recorder of another crate: a stateful struct the table cannot name, holding one of
    /// the crate's recorders after a field of its own (so at another address).
    #[derive(Default)]
    #[repr(C)]
    struct Foreign(u64, TestRecorder);

    impl Recorder for Foreign {
        fn describe_counter(&self, k: metrics::KeyName, u: Option<Unit>, d: SharedString) {
            // Forwarded: the crate's recorder inside offers its identity, at another address.
            self.1.describe_counter(k, u, d);
        }
        fn describe_gauge(&self, _: metrics::KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: metrics::KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(
            &self,
            k: &metrics::Key,
            m: &metrics::Metadata<'_>,
        ) -> metrics::Counter {
            self.1.register_counter(k, m)
        }
        fn register_gauge(&self, k: &metrics::Key, m: &metrics::Metadata<'_>) -> metrics::Gauge {
            self.1.register_gauge(k, m)
        }
        fn register_histogram(
            &self,
            k: &metrics::Key,
            m: &metrics::Metadata<'_>,
        ) -> metrics::Histogram {
            self.1.register_histogram(k, m)
        }
    }

    #[test]
    fn another_crates_recorder_is_registered_with_anew() {
        let foreign = Foreign::default();
        let (first, second) = metrics::with_local_recorder(&foreign, || {
            (ModelMonitor::new("foreign"), ModelMonitor::new("foreign"))
        });
        assert!(!first.same_as(&second));
        assert_eq!(
            metrics::with_local_recorder(&foreign, super::describe_default),
            RecorderId::Foreign
        );
    }

    #[test]
    fn the_no_op_recorder_is_stateless_and_the_crates_are_their_own() {
        assert_eq!(describe_default(), RecorderId::Stateless);
        let recorder = TestRecorder::new();
        let id = metrics::with_local_recorder(&recorder, describe_default);
        assert!(matches!(id, RecorderId::Own(_)), "{id:?}");
        assert_eq!(
            metrics::with_local_recorder(&recorder.clone(), describe_default),
            id
        );
    }
}
