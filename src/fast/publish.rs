//! Publishing a model's stripe totals to its series on the page, by adding what changed.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use metrics::{Counter, Gauge};

use super::LABEL_SLOTS;
use crate::model::contain::contain;

/// A model's counts summed over its stripes, as of one read ([`Block::totals`](super::Block::totals)).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Totals {
    /// Requests in flight.
    pub(crate) in_flight: i64,
    /// Finished requests by outcome index (also the latency histograms' counts).
    pub(crate) requests: [u64; 4],
    /// Predictions of the first [`LABEL_SLOTS`] labels, by label index.
    pub(crate) labels: [u64; LABEL_SLOTS],
}

/// The values a model's stripes have added to its series on the page. Each refresh adds the
/// difference between the current totals and these, never sets a series outright: two
/// monitors that name the same model (a layer's and the macros' default one, say) share its
/// series, and each adds its own requests to them.
#[derive(Default)]
pub(crate) struct Published {
    in_flight: AtomicI64,
    requests: [AtomicU64; 4],
    labels: [AtomicU64; LABEL_SLOTS],
}

impl Published {
    /// Brings the series up to date with `totals`: the gauge moved by the change of requests
    /// in flight, each counter grown by what its total grew. `label` gives the counter of a
    /// label index, if the label is registered.
    pub(crate) fn publish<'a>(
        &self,
        totals: &Totals,
        in_flight: &Gauge,
        requests: &[Counter; 4],
        label: impl Fn(u32) -> Option<&'a Counter>,
    ) {
        self.move_gauge(totals.in_flight, in_flight);
        for ((counter, published), total) in
            requests.iter().zip(&self.requests).zip(totals.requests)
        {
            Self::grow(published, total, counter);
        }
        for (i, (published, total)) in self.labels.iter().zip(totals.labels).enumerate() {
            #[allow(clippy::cast_possible_truncation)] // below LABEL_SLOTS
            if let Some(counter) = label(i as u32).filter(|_| total > 0) {
                Self::grow(published, total, counter);
            }
        }
    }

    /// Adds to `counter` what `total` has grown since the last call for it: `fetch_max` keeps
    /// two renders at once from adding the same requests twice.
    fn grow(published: &AtomicU64, total: u64, counter: &Counter) {
        let before = published.fetch_max(total, Ordering::Relaxed);
        if total > before {
            contain(|| counter.increment(total - before));
        }
    }

    /// Moves `gauge` by the change of `in_flight` since the last call: with `swap`, the moves
    /// add up to the latest value even when two renders run at once.
    fn move_gauge(&self, in_flight: i64, gauge: &Gauge) {
        let before = self.in_flight.swap(in_flight, Ordering::Relaxed);
        #[allow(clippy::cast_precision_loss)] // exact below 2^53 requests
        let change = in_flight.wrapping_sub(before) as f64;
        if change > 0.0 {
            contain(|| gauge.increment(change));
        } else if change < 0.0 {
            contain(|| gauge.decrement(-change));
        }
    }
}
