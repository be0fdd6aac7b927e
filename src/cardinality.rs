//! The label limiter: keeps the number of distinct values of a label bounded.
//!
//! A value passes through [`Limiter::get`]: it is cut to the maximum length (at a character
//! boundary), looked up among the values known in advance (no lock), then among the values
//! seen so far (a read lock); a new value gets its own entry while there is room, and the
//! shared [`OVERFLOW_VALUE`](crate::names::OVERFLOW_VALUE) entry once the limit is reached.
//! No value ever creates an entry past the limit.

use std::collections::HashMap;
use std::sync::{OnceLock, PoisonError, RwLock};

use crate::names::{OVERFLOW_VALUE, UNKNOWN_VALUE};

/// Default maximum of distinct values per label (per model for `label`, per monitor for `model`).
pub const DEFAULT_MAX_VALUES: usize = 64;
/// Default maximum length of a label value, in bytes; longer values are truncated.
pub const DEFAULT_MAX_VALUE_LEN: usize = 64;

/// Where [`Limiter::slot`] found a value: among the values known in advance (by index), or
/// elsewhere (a clone of its entry).
#[derive(Debug)]
pub(crate) enum Slot<T> {
    Preset(usize),
    Other(T),
}

/// A bounded map from label values to `T` (metric handles).
#[derive(Debug)]
pub(crate) struct Limiter<T> {
    max_values: usize,
    max_len: usize,
    preset: Box<[(Box<str>, T)]>,
    seen: RwLock<HashMap<Box<str>, T>>,
    overflow: OnceLock<T>,
}

impl<T: Clone> Limiter<T> {
    /// A limiter admitting `max_values` distinct values (the preset ones included) of at most
    /// `max_len` bytes each.
    pub(crate) fn new(max_values: usize, max_len: usize, preset: Vec<(Box<str>, T)>) -> Self {
        Self {
            max_values,
            max_len,
            preset: preset.into_boxed_slice(),
            seen: RwLock::new(HashMap::new()),
            overflow: OnceLock::new(),
        }
    }

    /// The entry for `value`, created with `make` (given the bounded value) when it is new and
    /// there is room; the overflow entry otherwise.
    pub(crate) fn get(&self, value: &str, make: impl Fn(&str) -> T) -> T {
        match self.slot(value, make) {
            Slot::Preset(i) => self.preset[i].1.clone(),
            Slot::Other(t) => t,
        }
    }

    /// Like [`get`](Self::get), but a value known in advance comes back as its index (see
    /// [`preset`](Self::preset)): nothing is cloned and no lock is taken.
    pub(crate) fn slot(&self, value: &str, make: impl Fn(&str) -> T) -> Slot<T> {
        let value = self.bound(value);
        if let Some(i) = self.preset.iter().position(|(k, _)| **k == *value) {
            return Slot::Preset(i);
        }
        if let Some(t) = self
            .seen
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(value)
        {
            return Slot::Other(t.clone());
        }
        let mut seen = self.seen.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = seen.get(value) {
            return Slot::Other(t.clone());
        }
        if value == OVERFLOW_VALUE || self.preset.len() + seen.len() >= self.max_values {
            drop(seen);
            return Slot::Other(self.overflow.get_or_init(|| make(OVERFLOW_VALUE)).clone());
        }
        let t = make(value);
        seen.insert(value.into(), t.clone());
        Slot::Other(t)
    }

    /// The entry of the value known in advance at `index` (from [`Slot::Preset`]).
    #[inline]
    pub(crate) fn preset(&self, index: usize) -> Option<&T> {
        self.preset.get(index).map(|(_, t)| t)
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
        if value.is_empty() {
            return UNKNOWN_VALUE;
        }
        truncate(value, self.max_len)
    }
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
        assert!(matches!(l.slot("a", make), Slot::Preset(0)));
        assert_eq!(l.preset(0).map(String::as_str), Some("A"));
        assert!(matches!(l.slot("b", make), Slot::Other(ref v) if v == "B"));
        assert_eq!(l.preset(1), None);
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
    fn a_value_named_other_shares_the_overflow_entry() {
        let l: Limiter<String> = Limiter::new(10, 16, Vec::new());
        assert_eq!(l.get("other", |v| format!("{v}!")), "other!");
        assert_eq!(l.len(), 0);
    }
}
