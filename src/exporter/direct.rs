//! The direct path between the crate's monitors and the crate's own Prometheus recorder.
//!
//! Through the `metrics` facade a monitor can only *write* its handles: every request raises
//! and lowers the in-progress gauge (two compare-and-swap loops, two generation updates), and
//! its latency goes in as seconds in an `f64`. When the recorder a model registers with is the
//! crate's own [`PrometheusRecorder`](crate::PrometheusRecorder), two things can be cheaper:
//!
//! - **In progress, read instead of written.** Each request already holds one reference on
//!   its thread's stripe of the model; the number in flight is the sum of those counts. The
//!   exporter asks for it just before it renders ([`Samplers::refresh`]), and the request path
//!   touches no gauge at all.
//! - **Latency in integer nanoseconds** ([`NanosHistogram`]): an integer bucket search and a
//!   `fetch_add` for the sum, instead of a float search and a compare-and-swap loop, in the
//!   lane of the request's stripe so that two cores do not write the same cache line.
//! - **Requests counted by stripe**, summed into the requests counter at the same refresh.
//!
//! The handshake: while a model registers a handle, the recorder it calls *offers* ([`offer`])
//! these through a thread-local slot, naming its own address and size; the model takes the
//! offer only if the recorder in effect has that address and that size ([`register`]). A
//! recorder that wraps the crate's along with another (a fan-out to two exporters) is a
//! different object: at another address, or larger when the crate's recorder is its first
//! field. Its models keep writing their handles, and every exporter behind it sees every
//! value.

// Without the Prometheus exporter nothing makes an offer: models always write their handles.
#![cfg_attr(not(feature = "prometheus"), allow(dead_code))]

use std::cell::RefCell;
use std::sync::{Arc, Mutex, PoisonError};

use metrics::Recorder;

/// A latency histogram that takes whole nanoseconds.
pub(crate) trait NanosHistogram: Send + Sync {
    /// Records one sample of `nanos` nanoseconds, made on stripe `stripe` of its model (so
    /// samples made on different cores land on different cache lines).
    fn record_nanos(&self, stripe: usize, nanos: u64);
}

/// Something whose gauge is computed rather than written: a model's requests in progress.
pub(crate) trait Sample: Send + Sync {
    /// Sets the gauge to its current value.
    fn refresh(&self);
}

/// The sampled gauges of one exporter, refreshed before each render. A model lives as long as
/// the process, so it is kept by a plain reference.
#[derive(Default)]
pub(crate) struct Samplers {
    list: Mutex<Vec<&'static dyn Sample>>,
}

impl Samplers {
    /// Adds one sampled gauge.
    pub(crate) fn attach(&self, sample: &'static dyn Sample) {
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        list.push(sample);
    }

    /// Sets every sampled gauge to its current value.
    pub(crate) fn refresh(&self) {
        // A copy, so a model registering during the refresh does not wait for it.
        let live: Vec<&'static dyn Sample> = self
            .list
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for sample in live {
            sample.refresh();
        }
    }
}

/// What the crate's recorder offers a model registering a handle with it.
pub(crate) struct Offer {
    /// The address and the size of the recorder that made the offer.
    recorder: (*const (), usize),
    /// Where to attach a sampled gauge.
    pub(crate) samplers: Arc<Samplers>,
    /// For a histogram: the series, taking nanoseconds.
    pub(crate) nanos: Option<Arc<dyn NanosHistogram>>,
}

thread_local! {
    static OFFERED: RefCell<Option<Offer>> = const { RefCell::new(None) };
}

/// Called by the crate's recorder from inside a `register_*` call: offers the direct path to
/// the model registering, if the recorder at `recorder` (the recorder's `self`) is the one in
/// effect.
pub(crate) fn offer<R>(
    recorder: &R,
    samplers: &Arc<Samplers>,
    nanos: Option<Arc<dyn NanosHistogram>>,
) {
    let offer = Offer {
        recorder: (std::ptr::from_ref(recorder).cast(), size_of::<R>()),
        samplers: Arc::clone(samplers),
        nanos,
    };
    let _ = OFFERED.try_with(|slot| *slot.borrow_mut() = Some(offer));
}

/// Runs `register` on the recorder in effect and returns its handle, with the recorder's offer
/// when that recorder is the crate's own (not one wrapping it).
pub(crate) fn register<T>(register: impl FnOnce(&dyn Recorder) -> T) -> (T, Option<Offer>) {
    metrics::with_recorder(|recorder| {
        let take = || {
            OFFERED
                .try_with(|slot| slot.borrow_mut().take())
                .ok()
                .flatten()
        };
        drop(take());
        let handle = register(recorder);
        let current: *const () = std::ptr::from_ref(recorder).cast();
        let size = size_of_val(recorder);
        let offer = take().filter(|offer| offer.recorder == (current, size));
        (handle, offer)
    })
}
