//! What is learned of a request after it started, from its own request body, that changes how a
//! failed answer is counted: the client aborted the request (`cancelled`) or sent a malformed
//! one (`client_error`). A server that fails such a request (tonic answers a call whose client
//! reset it with `INTERNAL`) did not fail on its own.
//!
//! A mark is kept twice, keyed by a token of the request: in the marking thread's last mark (a
//! thread-local word), which the request reads when it ends on the thread that marked it — the
//! usual case, a service reading its request body inside its own future, which then answers in
//! the same poll — and in a small table of the model's ([`Marks`], 256 slots, made on the first
//! request that is watched), for a body read on another thread. A request carries no extra
//! state and allocates nothing; a mark is written only on the rare path (a request body that
//! fails or is malformed) and read only on the rare path (a request about to count as
//! `server_error`). A mark overwritten in both places before it is read is lost, and the request
//! counts as `server_error` as it would without marks; a mark is only ever read by the request
//! of the same token, so it never turns another request's outcome.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Outcome;

/// Slots of one model's table.
const SLOTS: usize = 256;

thread_local! {
    /// The last mark this thread set (a token and its kind), `0` when read or never set.
    static LAST: Cell<u64> = const { Cell::new(0) };
}

/// The low bits of a slot: which outcome the mark is. The token never has them set.
const KIND: u64 = 0b11;
const CANCELLED: u64 = 1;
const CLIENT_ERROR: u64 = 2;

/// One model's marks: a token and its kind per slot, `0` when empty.
pub(crate) struct Marks([AtomicU64; SLOTS]);

impl Marks {
    pub(crate) fn new() -> Self {
        Self(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

/// The token of a request: a mix of the clock reading it started at and the place it counts
/// in, never `0` (an empty slot), its low bits clear.
#[inline]
pub(crate) fn token(start: u64, place: usize) -> u64 {
    // splitmix64's finaliser: neighbouring starts land in different slots.
    let mut z = start ^ (place as u64).rotate_left(29);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z | 0b100) & !KIND
}

/// Where a request marks itself: its model's table and its token. A copy of two words.
#[derive(Clone, Copy)]
pub(crate) struct Mark {
    marks: &'static Marks,
    token: u64,
}

impl Mark {
    #[inline]
    pub(crate) fn new(marks: &'static Marks, token: u64) -> Self {
        Self { marks, token }
    }

    #[inline]
    fn slot(&self) -> &'static AtomicU64 {
        // The top bits: the finaliser mixes them best.
        &self.marks.0[(self.token >> 56) as usize % SLOTS]
    }

    /// Marks the request as `outcome`: [`Outcome::Cancelled`] or [`Outcome::ClientError`]
    /// (any other outcome marks nothing).
    #[cold]
    pub(crate) fn set(self, outcome: Outcome) {
        let kind = match outcome {
            Outcome::Cancelled => CANCELLED,
            Outcome::ClientError => CLIENT_ERROR,
            _ => return,
        };
        let _ = LAST.try_with(|last| last.set(self.token | kind));
        self.slot().store(self.token | kind, Ordering::Relaxed);
    }

    /// The outcome the request was marked with, if it was (and its mark not overwritten since);
    /// the mark is cleared.
    #[inline]
    pub(crate) fn take(self) -> Option<Outcome> {
        let slot = self.slot();
        let last = LAST.try_with(Cell::get).unwrap_or(0);
        let value = if last & !KIND == self.token {
            let _ = LAST.try_with(|l| l.set(0));
            // Cleared in the table too, if it is still there.
            let _ = slot.compare_exchange(last, 0, Ordering::Relaxed, Ordering::Relaxed);
            last
        } else {
            let value = slot.load(Ordering::Relaxed);
            if value & !KIND != self.token {
                return None;
            }
            slot.compare_exchange(value, 0, Ordering::Relaxed, Ordering::Relaxed)
                .ok()?;
            value
        };
        Some(if value & KIND == CANCELLED {
            Outcome::Cancelled
        } else {
            Outcome::ClientError
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> &'static Marks {
        Box::leak(Box::new(Marks::new()))
    }

    #[test]
    fn a_mark_is_read_once_by_its_own_request_only() {
        let marks = table();
        let a = Mark::new(marks, token(1_000, 0x10));
        let b = Mark::new(marks, token(1_001, 0x10));
        assert_eq!(a.take(), None);
        a.set(Outcome::Cancelled);
        assert_eq!(b.take(), None, "another token reads nothing");
        assert_eq!(a.take(), Some(Outcome::Cancelled));
        assert_eq!(a.take(), None, "read once");
        b.set(Outcome::ClientError);
        assert_eq!(b.take(), Some(Outcome::ClientError));
        // Success and server errors are not marks.
        a.set(Outcome::Success);
        a.set(Outcome::ServerError);
        assert_eq!(a.take(), None);
    }

    #[test]
    fn a_mark_set_on_this_thread_survives_its_slot_being_overwritten() {
        let marks = table();
        let a = Mark::new(marks, token(7, 0x20));
        a.set(Outcome::Cancelled);
        // Another request of the same slot, marked on another thread.
        let same_slot = (0..u64::MAX)
            .map(|start| token(start, 0x30))
            .find(|t| (t >> 56) == (a.token >> 56) && *t != a.token)
            .unwrap();
        let b = Mark::new(marks, same_slot);
        std::thread::scope(|s| {
            s.spawn(|| b.set(Outcome::ClientError));
        });
        assert_eq!(
            a.take(),
            Some(Outcome::Cancelled),
            "from this thread's last mark"
        );
        assert_eq!(b.take(), Some(Outcome::ClientError), "from the table");
        assert_eq!((a.take(), b.take()), (None, None));
    }

    #[test]
    fn tokens_are_never_empty_and_spread_over_the_slots() {
        let mut used = [0u32; SLOTS];
        for start in 0..6_400u64 {
            let t = token(start, 0x7f00_1000);
            assert_ne!(t, 0);
            assert_eq!(t & KIND, 0);
            used[(t >> 56) as usize % SLOTS] += 1;
        }
        // 25 a slot on average: no slot is left empty or takes a tenth of them.
        assert!(used.iter().all(|&n| n > 5 && n < 640), "{used:?}");
    }
}
