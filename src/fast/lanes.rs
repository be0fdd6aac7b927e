//! Latency lanes: a histogram's nanosecond side, kept by the model in its own cache lines.

use std::sync::atomic::{AtomicU64, Ordering};

/// Eight counters on one cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct Line(pub(crate) [AtomicU64; 8]);

/// The slots of a lane (see [`Lanes`]), as a model records into them: the sum of the samples in
/// nanoseconds first, then the count of each bucket (each bound, then `+Inf`).
#[inline]
pub(crate) fn lane_add(lane: &[Line], slot: usize, value: u64) {
    if let Some(line) = lane.get(slot / 8) {
        line.0[slot % 8].fetch_add(value, Ordering::Relaxed);
    }
}

/// Records a sample of `nanos` nanoseconds in `lane` (see [`Lanes`]), whose histogram has the
/// bounds `bounds` (from [`bound_in_nanos`]): the same bucket as `nanos / 1e9` seconds gets.
#[inline]
pub(crate) fn record_in_lane(lane: &[Line], bounds: &Bounds, nanos: u64) {
    lane_add(lane, 0, nanos);
    lane_add(lane, 1 + bounds.bucket(nanos), 1);
}

/// Where a model keeps the nanosecond side of one of its latency histograms: one lane per
/// stripe, [`Layout::lane_lines`](super::Layout::lane_lines) cache lines each, `stride` lines
/// apart in `lines` from the first at line `offset`. A lane holds the sum of its samples in
/// nanoseconds, then a count per bucket.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lanes {
    pub(crate) lines: &'static [Line],
    pub(crate) stride: usize,
    pub(crate) offset: usize,
}

impl Lanes {
    /// The counts of the `buckets` buckets and the sum in nanoseconds, added over the lanes.
    pub(crate) fn totals(&self, buckets: usize) -> (Vec<u64>, u64) {
        let mut counts = vec![0u64; buckets];
        let mut sum = 0u64;
        let stripes = self.lines.len().checked_div(self.stride).unwrap_or(0);
        for stripe in 0..stripes {
            let start = stripe * self.stride + self.offset;
            let Some(lane) = self.lines.get(start..) else {
                break;
            };
            let slot = |i: usize| {
                lane.get(i / 8)
                    .map_or(0, |line| line.0[i % 8].load(Ordering::Relaxed))
            };
            sum = sum.wrapping_add(slot(0));
            for (i, count) in counts.iter_mut().enumerate() {
                *count = count.wrapping_add(slot(i + 1));
            }
        }
        (counts, sum)
    }
}

/// Bounds kept inline in [`Bounds`].
const HEAD: usize = 6;

/// A latency histogram's bounds in whole nanoseconds (from [`bound_in_nanos`]), the first
/// [`HEAD`] of them also inline: inference latencies sit in the first buckets, so finding the
/// bucket of a sample usually reads this one cache line and nothing else (under load, other
/// work evicts it between two requests, and each line can cost a trip to memory).
#[derive(Debug)]
#[repr(C, align(64))]
pub(crate) struct Bounds {
    /// The first bounds, then `i64::MAX` past the last one.
    head: [i64; HEAD],
    all: Box<[i64]>,
}

impl Bounds {
    /// The bounds `all`, in increasing order.
    pub(crate) fn new(all: Box<[i64]>) -> Self {
        let mut head = [i64::MAX; HEAD];
        for (h, bound) in head.iter_mut().zip(all.iter()) {
            *h = *bound;
        }
        Self { head, all }
    }

    /// Number of bounds (the buckets are one more: `+Inf`).
    pub(crate) fn len(&self) -> usize {
        self.all.len()
    }

    /// The bucket of a sample of `nanos` nanoseconds: the first bound it does not exceed, or
    /// [`len`](Self::len) for `+Inf`. A linear search that stops there, in the inline head
    /// first.
    #[inline]
    pub(crate) fn bucket(&self, nanos: u64) -> usize {
        let value = i64::try_from(nanos).unwrap_or(i64::MAX);
        let len = self.all.len();
        if let Some(i) = self.head.iter().position(|bound| value <= *bound) {
            // Past the last bound the head holds `i64::MAX`: that is `+Inf`.
            return i.min(len);
        }
        self.all
            .iter()
            .skip(HEAD)
            .position(|bound| value <= *bound)
            .map_or(len, |i| i + HEAD)
    }
}

/// The largest whole number of nanoseconds `n` with `n / 1e9 <= bound`: a sample of `n`
/// nanoseconds then lands in the bucket a sample of `n / 1e9` seconds lands in. `bound * 1e9`
/// alone can round up across a whole number (0.0119 gives 11,900,000.0, and 11,900,000 ns is
/// above 0.011899999999999999 s), so the floor is corrected by a step when it does.
#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
pub(crate) fn bound_in_nanos(bound: f64) -> i64 {
    // `as` saturates: bounds past the range of i64 nanoseconds (292 years) stay in order.
    let mut n = (bound * 1e9).floor() as i64;
    // Beyond 2^53 ns (104 days) not every whole number is a float: leave the floor as it is.
    if n.unsigned_abs() < 1 << 53 {
        while n as f64 / 1e9 > bound {
            n -= 1;
        }
        while (n + 1) as f64 / 1e9 <= bound {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_is_the_first_bound_not_exceeded_with_or_without_a_full_head() {
        for len in 0..=10 {
            let mut all: Vec<i64> = (1..=len).map(|i| i * 100).collect();
            if len == 10 {
                // The largest bound there is, in the tail.
                all[9] = i64::MAX;
            }
            let bounds = Bounds::new(all.clone().into_boxed_slice());
            assert_eq!(bounds.len(), all.len());
            let samples = (0..=1_100u64).chain([u64::MAX / 2, i64::MAX as u64, u64::MAX]);
            for nanos in samples {
                let value = i64::try_from(nanos).unwrap_or(i64::MAX);
                let expected = all.iter().position(|b| value <= *b).unwrap_or(all.len());
                assert_eq!(bounds.bucket(nanos), expected, "{len} bounds, {nanos} ns");
            }
        }
    }
}
