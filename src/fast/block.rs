//! A model's block: what a request reads in its first cache line, the bounds on the second,
//! and the stripes that requests write.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use super::lanes::{bound_in_nanos, record_in_lane, Bounds, Lanes, Line};
use super::publish::Totals;
use super::{Layout, NanosHistogram, LABEL_SLOTS};
use crate::model::clock::Clock;

/// How the requests of a model record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Path {
    /// Every request writes the model's facade handles.
    Facade,
    /// With the crate's own recorder (the direct path): requests record into their stripe
    /// and the model's series are brought up to date at each render.
    Direct,
    /// Registered with the no-op recorder (nothing was installed yet): requests look for a
    /// registration with the recorder in effect.
    Unbound,
}

/// The part of a model's state that a request touches, laid out for the caches: the first
/// line holds the clock, the stripes and the flags, the second the bounds (checked by
/// [`Layout`]'s test). Under load, other work pushes this state out of the caches between two
/// requests, and each line a request touches can cost a trip to memory.
#[repr(C, align(64))]
pub(crate) struct Block {
    pub(crate) clock: Clock,
    /// The stripes, side by side, `stride` lines each (see [`Stripe`]); empty off the direct
    /// path.
    stripes: &'static [Line],
    /// [`Layout::stride`], stored small to fit the first line.
    stride: u32,
    /// [`Layout::lane_lines`], stored small to fit the first line.
    lane_lines: u16,
    /// How requests record.
    pub(crate) path: Path,
    /// The monitor's `request_signals`: whether the tower layer hands each request a
    /// `Signals` handle.
    pub(crate) request_signals: bool,
    /// The direct path's latency bounds in whole nanoseconds, on the second line.
    bounds: Bounds,
}

impl Block {
    /// The block of a model whose four latency histograms (one per outcome) offered their
    /// nanosecond side as `nanos`: on the direct path when they did (and their bounds fit the
    /// layout), with its stripes' lanes attached to them; otherwise on the facade path
    /// (`Unbound` when `unbound`).
    pub(crate) fn new(
        clock: Clock,
        request_signals: bool,
        unbound: bool,
        nanos: Option<Vec<Arc<dyn NanosHistogram>>>,
    ) -> Self {
        let bounds_nanos: Box<[i64]> = nanos
            .as_ref()
            .and_then(|all| all.first())
            .map(|first| first.bounds().iter().map(|b| bound_in_nanos(*b)).collect())
            .unwrap_or_default();
        // (Past 500,000 buckets the sizes would not fit their fields: the model writes its
        // handles then.)
        let layout = Layout::for_bounds(bounds_nanos.len());
        let direct = nanos.zip(layout);
        let lines: &'static [Line] = match &direct {
            Some((_, layout)) => Box::leak(
                (0..layout.lines(*STRIPES))
                    .map(|_| Line::default())
                    .collect(),
            ),
            None => &[],
        };
        if let Some((nanos, layout)) = &direct {
            for (outcome, histogram) in nanos.iter().enumerate() {
                histogram.attach(Lanes {
                    lines,
                    stride: layout.stride(),
                    offset: layout.lane(outcome),
                });
            }
        }
        let layout = direct.as_ref().map_or(Layout::EMPTY, |(_, layout)| *layout);
        Self {
            clock,
            stripes: lines,
            #[allow(clippy::cast_possible_truncation)] // checked by `Layout::for_bounds`
            stride: layout.stride() as u32,
            #[allow(clippy::cast_possible_truncation)] // checked by `Layout::for_bounds`
            lane_lines: layout.lane_lines() as u16,
            path: match (direct.is_some(), unbound) {
                (true, _) => Path::Direct,
                (false, true) => Path::Unbound,
                (false, false) => Path::Facade,
            },
            request_signals,
            bounds: Bounds::new(bounds_nanos),
        }
    }

    /// The offsets of this block's stripes.
    #[inline]
    fn layout(&self) -> Layout {
        Layout::new(usize::from(self.lane_lines), self.stride as usize)
    }

    /// The stripe of the current thread. The number of stripes is a power of two
    /// ([`STRIPES`]), so the thread's number is masked rather than divided.
    #[inline]
    pub(crate) fn stripe(&'static self) -> Stripe {
        let stride = self.stride as usize;
        let count = self.stripes.len().checked_div(stride).unwrap_or(0);
        let start = (stripe_of_this_thread() & count.wrapping_sub(1)) * stride;
        Stripe(self.stripes.get(start..start + stride).unwrap_or(&[]))
    }

    /// Counts a request in on `stripe` (direct path).
    #[inline]
    pub(crate) fn start(stripe: Stripe) {
        stripe.add(0, 0, 1);
    }

    /// Records a request that started on `stripe` (direct path): its latency in the lane of
    /// outcome `outcome`, out of flight, and its label when it has one of the first
    /// [`LABEL_SLOTS`]. Returns whether the label was counted here.
    #[inline]
    pub(crate) fn record(&self, stripe: Stripe, outcome: usize, nanos: u64, label: u32) -> bool {
        if let Some(lane) = stripe.0.get(self.layout().lane(outcome)..) {
            record_in_lane(lane, &self.bounds, nanos);
        }
        stripe.add(0, 0, 1u64.wrapping_neg());
        if (label as usize) < LABEL_SLOTS {
            stripe.add(0, 1 + label as usize, 1);
            return true;
        }
        false
    }

    /// The counts summed over the stripes.
    pub(crate) fn totals(&self) -> Totals {
        let layout = self.layout();
        let mut totals = Totals::default();
        let mut in_flight = 0u64;
        for stripe in self
            .stripes
            .chunks_exact(layout.stride().max(1))
            .map(Stripe)
        {
            in_flight = in_flight.wrapping_add(stripe.slot(0, 0));
            for (i, count) in totals.labels.iter_mut().enumerate() {
                *count = count.wrapping_add(stripe.slot(0, 1 + i));
            }
            // A lane's counts are the requests of its outcome: the histogram's `_count`.
            for (o, count) in totals.requests.iter_mut().enumerate() {
                for i in 1..=self.bounds.len() + 1 {
                    *count = count.wrapping_add(stripe.slot(layout.lane(o), i));
                }
            }
        }
        // Each request counts itself in and out on the same stripe: the sum is never negative.
        #[allow(clippy::cast_possible_wrap)]
        {
            totals.in_flight = in_flight as i64;
        }
        totals
    }
}

/// One thread's part of a model on the direct path: a few cache lines of the model's block
/// that only requests started on that thread write (under load every request counts itself
/// in and out, and with one shared count the cores would fight over its line: measured here,
/// two threads on one count cost 3x one thread). A request keeps the stripe it started on to
/// the end, on whatever thread it ends.
///
/// Line 0 holds the requests in flight (slot 0, summed into the in-progress gauge at each
/// render) and the predictions of the first [`LABEL_SLOTS`] labels; then come the latency
/// lanes of the four outcomes ([`Lanes`]), whose counts are also the requests by outcome.
/// Off the direct path a stripe is empty.
#[derive(Clone, Copy)]
pub(crate) struct Stripe(&'static [Line]);

impl Stripe {
    /// Where the stripe is: tells the stripes of one model apart (the marks' tokens).
    #[inline]
    pub(crate) fn place(self) -> usize {
        self.0.as_ptr() as usize
    }

    /// Adds `value` to slot `slot` of line `line` (wrapping).
    #[inline]
    fn add(self, line: usize, slot: usize, value: u64) {
        if let Some(line) = self.0.get(line) {
            line.0[slot % 8].fetch_add(value, Ordering::Relaxed);
        }
    }

    /// Slot `slot` (counted across lines) from line `line` on.
    fn slot(self, line: usize, slot: usize) -> u64 {
        self.0
            .get(line + slot / 8)
            .map_or(0, |l| l.0[slot % 8].load(Ordering::Relaxed))
    }
}

/// Stripes per model: twice the cores, a power of two, at most 64.
static STRIPES: LazyLock<usize> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    (cores * 2).next_power_of_two().min(64)
});

/// The stripe of the current thread: threads take stripes in turn as they first ask.
///
/// The thread-local is initialised by a constant, so reading it is one load with no lazy
/// state to check first: a cache simulator counted one line per cold request for it, against
/// two for a lazily initialised one.
#[inline]
fn stripe_of_this_thread() -> usize {
    /// Not taken yet.
    const NONE: usize = usize::MAX;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(NONE) };
    }
    STRIPE.with(|stripe| match stripe.get() {
        NONE => {
            let taken = NEXT.fetch_add(1, Ordering::Relaxed) & (NONE >> 1);
            stripe.set(taken);
            taken
        }
        taken => taken,
    })
}

/// Where each field of a block's first line ends, for the layout test.
#[cfg(test)]
pub(super) fn field_ends() -> [usize; 6] {
    use std::mem::{offset_of, size_of};
    [
        offset_of!(Block, clock) + size_of::<Clock>(),
        offset_of!(Block, stripes) + size_of::<&[Line]>(),
        offset_of!(Block, stride) + size_of::<u32>(),
        offset_of!(Block, lane_lines) + size_of::<u16>(),
        offset_of!(Block, path) + 1,
        offset_of!(Block, request_signals) + 1,
    ]
}

/// Where the bounds start, for the layout test.
#[cfg(test)]
pub(super) fn bounds_offset() -> usize {
    std::mem::offset_of!(Block, bounds)
}
