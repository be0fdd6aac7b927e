//! The fast path: every cache-line trick of the crate, behind one seam.
//!
//! Through the `metrics` facade a model can only *write* its handles: every request raises
//! and lowers the in-progress gauge (two compare-and-swap loops, two generation updates), and
//! its latency goes in as seconds in an `f64`. When the recorder a model registers with is the
//! crate's own Prometheus recorder, the model keeps its hot state itself, in one block of
//! cache lines ([`Block`]), and the recorder reads it at render:
//!
//! - **In progress, read instead of written.** Each request counts itself in and out on its
//!   thread's stripe of the model ([`Stripe`]); the number in flight is the sum of those
//!   counts, published just before each render ([`Samplers::refresh`], [`Published`]).
//! - **Latency in integer nanoseconds, kept by the model** ([`Lanes`]): a bucket search over
//!   bounds converted once ([`bound_in_nanos`]) and two `fetch_add`s, instead of a float search
//!   and a compare-and-swap loop, in the lane of the request's stripe so that two cores do not
//!   write the same cache line. The model attaches its lanes to the exporter's series
//!   ([`NanosHistogram::attach`]), which adds them in when it renders.
//! - **Requests and the first labels counted by stripe**, added to their counters at the same
//!   refresh ([`Published`]: by adding what changed, so two monitors of one model add up).
//! - **Few lines per request.** A request reads the block's first line (clock, stripes, flags)
//!   and its second (the first six bounds inline, where inference latencies fall), and writes
//!   two lines of its stripe. Preset labels and `only_paths` lists are packed into one line
//!   each ([`packed`]).
//!
//! Why the lines matter more than the instructions (measured on this project's 2-core VM):
//! under load the server's other work pushes the model out of the caches between two
//! requests. A request through the layer with 16 MiB of other memory touched in between cost
//! +2,014 ns over the bare service with the state spread over about twenty lines, +571 to
//! +850 ns in the block (+80 ns hot). A cache simulator (cachegrind with a 1 MiB last level,
//! 2 MiB touched between requests) counts 12 lines missed per cold request beyond the bare
//! service for the layer before the bounds, presets and path lists each fitted one line, 9
//! after. Two threads on one shared count cost 3x one thread, hence the stripes (2 x cores of
//! them, so two threads rarely share one).
//!
//! # The seam
//!
//! The crate's Prometheus recorder meets this folder only through the items defined in this
//! file: it *offers* ([`offer`]) a sampler list ([`Samplers`]) and, for a histogram, a series
//! taking nanoseconds ([`NanosHistogram`]), and reads the [`Lanes`] attached to it. The core
//! takes the offer ([`register`]) only when the recorder in effect has the address and size of
//! the one offering: a recorder that wraps the crate's with another (a fan-out to two
//! exporters) is a different object, at another address, or larger when the crate's recorder
//! is its first field. Its models keep writing their handles, and every exporter behind it
//! sees every value.
//!
//! Every offset into a block's lines comes from one type, [`Layout`].

// Without the Prometheus exporter nothing makes an offer: models always write their handles.
#![cfg_attr(not(feature = "prometheus"), allow(dead_code))]

mod block;
mod lanes;
pub(crate) mod packed;
mod publish;

use std::cell::RefCell;
use std::sync::{Arc, Mutex, PoisonError};

use metrics::Recorder;

pub(crate) use block::{Block, Path, Stripe};
pub(crate) use lanes::Lanes;
#[cfg(test)]
pub(crate) use lanes::Line;
pub(crate) use publish::Published;

#[cfg(test)]
pub(crate) use lanes::{bound_in_nanos, record_in_lane, Bounds};

/// Predicted labels counted by stripe (the first ones in the model's limiter, where the
/// labels given in advance come first): the rest of a stripe's first line. Requests with
/// other labels write the predictions counter itself.
pub(crate) const LABEL_SLOTS: usize = 7;

/// Where everything sits in a block's stripes: a stripe is `stride` cache lines, its line 0
/// holds the requests in flight and the first labels, then come the four outcomes' latency
/// lanes, `lane_lines` lines each (the sum, a count per bound, `+Inf`, eight per line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    lane_lines: usize,
    stride: usize,
}

impl Layout {
    /// No stripes (off the direct path).
    pub(crate) const EMPTY: Layout = Layout {
        lane_lines: 0,
        stride: 0,
    };

    /// From the two numbers a block stores.
    #[inline]
    pub(crate) fn new(lane_lines: usize, stride: usize) -> Self {
        Self { lane_lines, stride }
    }

    /// The layout of latency histograms of `bounds` bounds, if its sizes fit a block's fields
    /// (`u16` lane lines, `u32` stride: up to about 500,000 buckets).
    pub(crate) fn for_bounds(bounds: usize) -> Option<Self> {
        let lane_lines = (bounds + 2).div_ceil(8);
        let stride = 1 + 4 * lane_lines;
        (u16::try_from(lane_lines).is_ok() && u32::try_from(stride).is_ok())
            .then_some(Self { lane_lines, stride })
    }

    /// Cache lines of one latency lane.
    #[inline]
    pub(crate) fn lane_lines(self) -> usize {
        self.lane_lines
    }

    /// Cache lines of one stripe.
    #[inline]
    pub(crate) fn stride(self) -> usize {
        self.stride
    }

    /// The first line of outcome `outcome`'s lane within a stripe.
    #[inline]
    pub(crate) fn lane(self, outcome: usize) -> usize {
        1 + outcome * self.lane_lines
    }

    /// Lines of `stripes` stripes.
    pub(crate) fn lines(self, stripes: usize) -> usize {
        stripes * self.stride
    }
}

/// A latency histogram whose nanosecond side a model keeps: the model records into its own
/// [`Lanes`], and the histogram adds them in when it renders.
pub(crate) trait NanosHistogram: Send + Sync {
    /// The bucket bounds, in seconds.
    fn bounds(&self) -> &[f64];

    /// Adds one model's lanes to the histogram: rendered with it from now on. Two monitors
    /// that name the same model each attach theirs.
    fn attach(&self, lanes: Lanes);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, size_of};

    #[test]
    fn a_stripe_is_a_line_of_counts_then_four_lanes() {
        // The default latency buckets: 16 bounds, so 18 slots, 3 lines a lane.
        let layout = Layout::for_bounds(16).unwrap();
        assert_eq!(layout.lane_lines(), 3);
        assert_eq!(layout.stride(), 13);
        assert_eq!(
            (0..4).map(|o| layout.lane(o)).collect::<Vec<_>>(),
            [1, 4, 7, 10]
        );
        assert_eq!(layout.lines(4), 52);
        // Six bounds fill exactly one line: the sum, six counts, `+Inf`.
        assert_eq!(Layout::for_bounds(6).unwrap().lane_lines(), 1);
        assert_eq!(Layout::for_bounds(7).unwrap().lane_lines(), 2);
        assert_eq!(Layout::for_bounds(0).unwrap().stride(), 5);
        // Sizes that would not fit a block's fields take the facade path.
        assert!(Layout::for_bounds(8 * usize::from(u16::MAX)).is_none());
    }

    #[test]
    fn a_request_reads_the_first_line_of_its_block_then_the_bounds_on_the_second() {
        assert_eq!(align_of::<Block>(), 64);
        let ends = block::field_ends();
        for end in ends {
            assert!(end <= 64, "a field of the first line ends at byte {end}");
        }
        assert_eq!(block::bounds_offset(), 64);
        assert_eq!(size_of::<Bounds>(), 64);
    }
}
