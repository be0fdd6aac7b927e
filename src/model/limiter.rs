//! The label limiter: keeps the number of distinct values of a label bounded.
//!
//! A value passes through the limiter: it is cut to the maximum length (at a character
//! boundary), looked up among the values known in advance (no lock), then among the values
//! seen so far (a read lock); a new value gets its own entry while there is room, and the
//! shared [`OVERFLOW_VALUE`] entry once the limit is reached.
//! No value ever creates an entry past the limit.

use std::collections::HashMap;
use std::sync::{OnceLock, PoisonError, RwLock};

use crate::fast::packed::PackedStrs;
use crate::names::{OVERFLOW_VALUE, UNKNOWN_VALUE};

/// Default maximum of distinct values per label (per model for `label`, per monitor for `model`).
pub const DEFAULT_MAX_VALUES: usize = 64;
/// Default maximum length of a label value, in bytes; longer values are truncated.
pub const DEFAULT_MAX_VALUE_LEN: usize = 64;

/// Entries per lazily allocated segment of a limiter.
const SEGMENT: usize = 64;

/// A bounded map from label values to `T` (metric handles), with a stable index per value.
///
/// Entries live in segments of 64 allocated as values arrive, so a generous limit costs
/// nothing until it is used. Reading an entry by index ([`entry`](Self::entry)) takes no lock
/// and touches no reference count: a guard can keep a 4-byte index instead of a handle.
#[derive(Debug)]
pub(crate) struct Limiter<T> {
    max_values: usize,
    max_len: usize,
    /// The values known in advance, in their order (index `i` is the `i`-th of them).
    preset: PackedStrs,
    seen: RwLock<HashMap<Box<str>, u32>>,
    /// Index `i` lives in `segments[i / SEGMENT][i % SEGMENT]`; the preset values come first,
    /// the overflow entry is index `max_values`.
    segments: Box<[OnceLock<Segment<T>>]>,
}

/// [`SEGMENT`] cells, each filled once.
type Segment<T> = Box<[OnceLock<T>]>;

impl<T: Clone> Limiter<T> {
    /// A limiter admitting `max_values` distinct values (the preset ones included) of at most
    /// `max_len` bytes each.
    pub(crate) fn new(max_values: usize, max_len: usize, preset: Vec<(Box<str>, T)>) -> Self {
        // Indices are `u32` with one value kept for "none": no real limit comes near that.
        let max_values = max_values.clamp(preset.len(), u32::MAX as usize - 1);
        let segments = (0..=max_values / SEGMENT)
            .map(|_| OnceLock::new())
            .collect();
        let limiter = Self {
            max_values,
            max_len,
            preset: PackedStrs::new(preset.iter().map(|(k, _)| bound(k, max_len))),
            seen: RwLock::new(HashMap::new()),
            segments,
        };
        for (i, (_, t)) in preset.into_iter().enumerate() {
            limiter.slot(i).map(|slot| slot.set(t));
        }
        limiter
    }

    /// The entry for `value`, created with `make` (given the bounded value) when it is new and
    /// there is room; the overflow entry otherwise.
    pub(crate) fn get(&self, value: &str, make: impl Fn(&str) -> T) -> T {
        let index = self.index(value, &make);
        match self.entry(index) {
            Some(t) => t.clone(),
            // Not reached: `index` always fills the entry it returns.
            None => make(self.bound(value)),
        }
    }

    /// The index of the entry for `value` (see [`get`](Self::get)); a value known in advance
    /// is found without a lock.
    pub(crate) fn index(&self, value: &str, make: impl Fn(&str) -> T) -> u32 {
        // The presets are stored bounded: a value equal to one is its own bound, and is found
        // without reading anything but the presets' line.
        if let Some(i) = self.preset.position(value) {
            return to_u32(i);
        }
        let bounded = self.bound(value);
        if bounded.len() != value.len() {
            if let Some(i) = self.preset.position(bounded) {
                return to_u32(i);
            }
        }
        let value = bounded;
        {
            let seen = self.seen.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(&i) = seen.get(value) {
                return i;
            }
            // Full: a new value goes to the overflow entry without the write lock, so a flood
            // of new values does not queue on it and block the lookups of admitted ones.
            if self.preset.len() + seen.len() >= self.max_values {
                drop(seen);
                return self.overflow_index(&make);
            }
        }
        let mut seen = self.seen.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(&i) = seen.get(value) {
            return i;
        }
        let next = self.preset.len() + seen.len();
        if value == OVERFLOW_VALUE || next >= self.max_values {
            drop(seen);
            return self.overflow_index(&make);
        }
        if let Some(slot) = self.slot(next) {
            slot.get_or_init(|| make(value));
        }
        seen.insert(value.into(), to_u32(next));
        to_u32(next)
    }

    /// The index of the overflow entry, created with `make` on first use.
    fn overflow_index(&self, make: &impl Fn(&str) -> T) -> u32 {
        if let Some(slot) = self.slot(self.max_values) {
            slot.get_or_init(|| make(OVERFLOW_VALUE));
        }
        to_u32(self.max_values)
    }

    /// The entry at `index` (from [`index`](Self::index)): no lock, no reference count.
    #[inline]
    pub(crate) fn entry(&self, index: u32) -> Option<&T> {
        let index = index as usize;
        self.segments
            .get(index / SEGMENT)?
            .get()?
            .get(index % SEGMENT)?
            .get()
    }

    /// The cell of `index`, its segment allocated on first use.
    fn slot(&self, index: usize) -> Option<&OnceLock<T>> {
        self.segments
            .get(index / SEGMENT)?
            .get_or_init(|| (0..SEGMENT).map(|_| OnceLock::new()).collect())
            .get(index % SEGMENT)
    }

    /// Number of distinct values admitted so far (the overflow entry not included).
    pub(crate) fn len(&self) -> usize {
        self.preset.len()
            + self
                .seen
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .len()
    }

    /// `value` cut to the maximum length at a character boundary; empty becomes `unknown`.
    fn bound<'a>(&self, value: &'a str) -> &'a str {
        bound(value, self.max_len)
    }
}

/// `value` cut to `max_len` bytes at a character boundary; empty becomes `unknown`.
fn bound(value: &str, max_len: usize) -> &str {
    if value.is_empty() {
        return UNKNOWN_VALUE;
    }
    truncate(value, max_len)
}

/// An index below the limiter's clamp fits in `u32`.
fn to_u32(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX - 1)
}

/// The longest prefix of `value` of at most `max_len` bytes that ends at a character boundary.
pub(crate) fn truncate(value: &str, max_len: usize) -> &str {
    if value.len() <= max_len {
        return value;
    }
    let mut end = max_len;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_value_truncated_to_a_preset_finds_it() {
        let l: Limiter<String> = Limiter::new(
            4,
            5,
            vec![
                ("alpha".into(), "A".into()),
                ("betagamma".into(), "B".into()),
            ],
        );
        // The second preset is stored cut to five bytes.
        assert_eq!(l.index("alphabet", str::to_string), 0);
        assert_eq!(l.index("betag", str::to_string), 1);
        assert_eq!(l.index("betagamma", str::to_string), 1);
        assert_eq!(l.index("", str::to_string), 2);
        assert_eq!(l.entry(2).map(String::as_str), Some("unknown"));
        assert_eq!(l.len(), 3);
    }

    #[test]
    fn admits_up_to_the_limit_then_overflows() {
        let made = AtomicUsize::new(0);
        let l: Limiter<String> = Limiter::new(3, 8, vec![("a".into(), "A".to_string())]);
        let make = |v: &str| {
            made.fetch_add(1, Ordering::Relaxed);
            v.to_uppercase()
        };
        assert_eq!(l.get("a", make), "A");
        assert_eq!(l.get("b", make), "B");
        assert_eq!(l.get("c", make), "C");
        assert_eq!(l.get("d", make), "OTHER");
        assert_eq!(l.get("e", make), "OTHER");
        assert_eq!(l.get("b", make), "B");
        assert_eq!(l.len(), 3);
        assert_eq!(l.index("a", make), 0);
        assert_eq!(l.index("b", make), 1);
        assert_eq!(l.index("zzz", make), 3);
        assert_eq!(l.entry(1).map(String::as_str), Some("B"));
        assert_eq!(l.entry(3).map(String::as_str), Some("OTHER"));
        assert_eq!(l.entry(4), None);
        // b, c and the overflow entry: each made once.
        assert_eq!(made.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn truncates_at_char_boundaries_and_names_empty_values() {
        assert_eq!(truncate("abcdef", 4), "abcd");
        assert_eq!(truncate("ééé", 3), "é");
        assert_eq!(truncate("ab", 4), "ab");
        let l: Limiter<String> = Limiter::new(10, 4, Vec::new());
        assert_eq!(l.get("abcdefgh", str::to_string), "abcd");
        assert_eq!(l.get("abcdXYZ", str::to_string), "abcd");
        assert_eq!(l.get("", str::to_string), "unknown");
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn segments_are_allocated_as_values_arrive() {
        let l: Limiter<usize> = Limiter::new(1_000_000, 16, vec![("p".into(), 7)]);
        assert_eq!(l.segments.iter().filter(|s| s.get().is_some()).count(), 1);
        for i in 0..200 {
            assert_eq!(l.index(&format!("v{i}"), str::len), i + 1);
        }
        assert_eq!(l.entry(0), Some(&7));
        assert_eq!(l.entry(200), Some(&4));
        assert_eq!(l.segments.iter().filter(|s| s.get().is_some()).count(), 4);
        assert_eq!(l.len(), 201);
    }

    #[test]
    fn a_value_named_other_shares_the_overflow_entry() {
        let l: Limiter<String> = Limiter::new(10, 16, Vec::new());
        assert_eq!(l.get("other", |v| format!("{v}!")), "other!");
        assert_eq!(l.len(), 0);
    }
}
